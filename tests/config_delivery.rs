//! Delivering a configuration to agents over both transports, and the states it goes
//! through, seen from the registry's snapshot and events.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::delivery::{ApplyState, ConfigRef};
use fleetdeck::fleet::events::EventKind;
use fleetdeck::opamp::offer::collector_offer;
use fleetdeck::opamp::proto;

const YAML: &str = "receivers:\n  otlp:\n    protocols:\n      http: {}\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [debug]\n";

fn cref(version: u64) -> ConfigRef {
    ConfigRef {
        name: "edge".into(),
        version,
    }
}

fn status(hash: &[u8], state: proto::RemoteConfigStatuses, err: &str) -> proto::RemoteConfigStatus {
    proto::RemoteConfigStatus {
        last_remote_config_hash: hash.to_vec(),
        status: state as i32,
        error_message: err.into(),
    }
}

fn effective(body: &[u8]) -> proto::EffectiveConfig {
    proto::EffectiveConfig {
        config_map: Some(proto::AgentConfigMap {
            config_map: [(
                "collector.yaml".to_string(),
                proto::AgentConfigFile {
                    body: body.to_vec(),
                    content_type: "text/yaml".into(),
                },
            )]
            .into(),
        }),
    }
}

#[tokio::test]
async fn websocket_agent_gets_config_pushed_and_reports_applied() {
    let server = TestServer::start().await;
    let mut events = server.rt.registry.subscribe();
    let uid = AgentId::new_v7();
    let mut ws = ws_agent(&server).await;
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("otelcol-contrib", "edge-1"));
    ws_exchange(&mut ws, &hello).await;

    let offer = Arc::new(collector_offer(YAML));
    let outcome = server
        .rt
        .registry
        .assign(vec![uid], cref(1), offer.clone())
        .await
        .unwrap();
    assert_eq!(outcome.assigned, vec![uid]);

    // Pushed without waiting for the agent to speak.
    let push = ws_recv(&mut ws).await;
    let rc = push.remote_config.expect("remote config pushed");
    assert_eq!(rc.config_hash, offer.hash.to_vec());
    let file = &rc.config.unwrap().config_map["collector.yaml"];
    assert_eq!(file.content_type, "text/yaml");
    assert_eq!(file.body, YAML.as_bytes());
    server
        .wait_for("sent", |s| {
            s.get(&uid)
                .and_then(|a| a.config.as_ref())
                .is_some_and(|c| c.state == ApplyState::Sent)
        })
        .await;

    let mut applying = message(uid, 1);
    applying.remote_config_status = Some(status(
        &rc.config_hash,
        proto::RemoteConfigStatuses::Applying,
        "",
    ));
    let r = ws_exchange(&mut ws, &applying).await;
    assert!(
        r.remote_config.is_none(),
        "not resent while the agent works on it"
    );
    let mut applied = message(uid, 2);
    applied.remote_config_status = Some(status(
        &rc.config_hash,
        proto::RemoteConfigStatuses::Applied,
        "",
    ));
    applied.effective_config = Some(effective(YAML.as_bytes()));
    ws_exchange(&mut ws, &applied).await;

    let snap = server
        .wait_for("applied", |s| {
            s.get(&uid)
                .and_then(|a| a.config.as_ref())
                .is_some_and(|c| c.state == ApplyState::Applied)
        })
        .await;
    let c = snap.get(&uid).unwrap().config.clone().unwrap();
    assert_eq!(c.config, cref(1));
    assert_eq!(
        c.effective_matches,
        Some(true),
        "effective config cross-checked"
    );
    let mut saw_applied = false;
    while let Ok(ev) = events.try_recv() {
        if let EventKind::ConfigStatus {
            id, state, config, ..
        } = ev.kind
        {
            saw_applied |= id == uid && state == ApplyState::Applied && config == cref(1);
        }
    }
    assert!(saw_applied, "an applied event");

    // Reconnecting with the same hash: nothing is resent.
    drop(ws);
    server.wait_for("gone", |s| s.totals.connected == 0).await;
    let mut ws = ws_agent(&server).await;
    let mut back = message(uid, 3);
    back.agent_description = Some(description("otelcol-contrib", "edge-1"));
    back.remote_config_status = Some(status(
        &rc.config_hash,
        proto::RemoteConfigStatuses::Applied,
        "",
    ));
    let r = ws_exchange(&mut ws, &back).await;
    assert!(
        r.remote_config.is_none(),
        "an agent that runs it does not get it again"
    );
    server.rt.stop().await;
}

#[tokio::test]
async fn failed_config_is_recorded_with_its_message_and_not_resent_in_a_loop() {
    let server = TestServer::start().await;
    let uid = AgentId::new_v7();
    let url = server.http_url();
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("otelcol-contrib", "db-1"));
    http_exchange(&url, &hello).await;

    let offer = Arc::new(collector_offer("receivers: {}\n"));
    server
        .rt
        .registry
        .assign(vec![uid], cref(2), offer.clone())
        .await
        .unwrap();
    // An HTTP agent gets it with its next poll.
    let poll = http_exchange(&url, &message(uid, 1)).await;
    let rc = poll.remote_config.expect("delivered on the poll");
    let mut failed = message(uid, 2);
    failed.remote_config_status = Some(status(
        &rc.config_hash,
        proto::RemoteConfigStatuses::Failed,
        "service.pipelines: no pipelines defined",
    ));
    let r = http_exchange(&url, &failed).await;
    assert!(r.remote_config.is_none());
    let snap = server
        .wait_for("failed", |s| {
            s.get(&uid)
                .and_then(|a| a.config.as_ref())
                .is_some_and(|c| c.state == ApplyState::Failed)
        })
        .await;
    assert_eq!(
        snap.get(&uid).unwrap().config.as_ref().unwrap().error,
        "service.pipelines: no pipelines defined"
    );
    // Polls and even a reconnect after the failure do not bring the same config back.
    for seq in 3..6 {
        let r = http_exchange(&url, &message(uid, seq)).await;
        assert!(r.remote_config.is_none(), "poll {seq}");
    }
    // A new version does go out.
    let fixed = Arc::new(collector_offer(YAML));
    server
        .rt
        .registry
        .assign(vec![uid], cref(3), fixed.clone())
        .await
        .unwrap();
    let r = http_exchange(&url, &message(uid, 6)).await;
    assert_eq!(r.remote_config.unwrap().config_hash, fixed.hash.to_vec());
    server.rt.stop().await;
}

#[tokio::test]
async fn offline_agents_get_their_config_when_they_come_back_and_refusals_are_named() {
    let server = TestServer::start_with(|s| s.http_agent_timeout = Duration::from_secs(60)).await;
    let uid = AgentId::new_v7();
    let mut ws = ws_agent(&server).await;
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("otelcol-contrib", "late"));
    ws_exchange(&mut ws, &hello).await;
    drop(ws);
    server
        .wait_for("offline", |s| s.totals.connected == 0)
        .await;

    // An agent that cannot take remote configuration, and one we never saw.
    let readonly = AgentId::new_v7();
    let mut ro = message(readonly, 0);
    ro.capabilities = 0x1 | 0x2000;
    ro.agent_description = Some(description("watcher", "ro"));
    http_exchange(&server.http_url(), &ro).await;
    let stranger = AgentId::new_v7();

    let offer = Arc::new(collector_offer(YAML));
    let out = server
        .rt
        .registry
        .assign(vec![uid, readonly, stranger], cref(1), offer.clone())
        .await
        .unwrap();
    assert_eq!(out.assigned, vec![uid]);
    let reasons: Vec<String> = out.refused.iter().map(|(_, e)| e.to_string()).collect();
    assert!(reasons[0].contains("AcceptsRemoteConfig"), "{reasons:?}");
    assert!(reasons[1].contains("no agent"), "{reasons:?}");
    server
        .wait_for("pending while offline", |s| {
            s.get(&uid)
                .and_then(|a| a.config.as_ref())
                .is_some_and(|c| c.state == ApplyState::Pending)
        })
        .await;

    let mut ws = ws_agent(&server).await;
    let mut back = message(uid, 1);
    back.agent_description = Some(description("otelcol-contrib", "late"));
    let r = ws_exchange(&mut ws, &back).await;
    assert_eq!(
        r.remote_config.expect("sent on reconnect").config_hash,
        offer.hash.to_vec()
    );
    server.rt.stop().await;
}

#[tokio::test]
async fn silence_after_a_push_is_marked_stalled() {
    // The stall timeout is a registry setting (60 s by default): drive a registry of our
    // own with a short one.
    let cancel = tokio_util::sync::CancellationToken::new();
    let registry = fleetdeck::fleet::registry::spawn(
        fleetdeck::fleet::registry::RegistryConfig {
            stall_timeout: Duration::from_millis(200),
            capabilities: 0x3,
            ..Default::default()
        },
        cancel.clone(),
    );
    let uid = AgentId::new_v7();
    let mut hello = fleetdeck::fleet::AgentReport {
        instance_uid: uid,
        capabilities: fleetdeck::fleet::Capabilities(CAPS),
        ..Default::default()
    };
    hello.description = Some(fleetdeck::fleet::agent::AgentDescription::default());
    let via = fleetdeck::fleet::registry::Via::Http {
        remote_addr: "127.0.0.1:1".parse().unwrap(),
        endpoint: "http://x/v1/opamp".into(),
    };
    registry.report(via.clone(), hello).await.unwrap();
    registry
        .assign(vec![uid], cref(1), Arc::new(collector_offer(YAML)))
        .await
        .unwrap();
    let poll = fleetdeck::fleet::AgentReport {
        instance_uid: uid,
        sequence_num: 1,
        capabilities: fleetdeck::fleet::Capabilities(CAPS),
        ..Default::default()
    };
    let reply = registry.report(via, poll).await.unwrap();
    assert!(reply.remote_config.is_some());
    let mut rx = registry.snapshot();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let stalled = rx
            .borrow_and_update()
            .get(&uid)
            .and_then(|a| a.config.as_ref())
            .is_some_and(|c| c.state == ApplyState::Stalled);
        if stalled {
            break;
        }
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .expect("stalled within the deadline")
            .unwrap();
    }
    cancel.cancel();
}
