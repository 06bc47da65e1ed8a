//! Configurations pushed by our real server to simulated agents: checked, reported
//! FAILED with the bad component named, or APPLIED with a matching effective config.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::delivery::{ApplyState, ConfigRef};
use fleetdeck::fleet::snapshot::FleetSnapshot;
use fleetdeck::opamp::offer::collector_offer;
use fleetdeck::sim::{self, SimConfig};

const GOOD: &str = "receivers:\n  otlp:\n    protocols:\n      http: {}\nprocessors:\n  batch: {}\nexporters:\n  otlphttp:\n    endpoint: https://collector.example.net:4318\nservice:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlphttp]\n";

fn quick(url: String, agents: usize, transport: SimTransport) -> SimConfig {
    let mut cfg = SimConfig::new(url, agents);
    cfg.transport = transport;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 11;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    cfg.backoff_initial = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_millis(400);
    cfg
}

fn cref(name: &str, version: u64) -> ConfigRef {
    ConfigRef {
        name: name.into(),
        version,
    }
}

fn all_in(s: &FleetSnapshot, ids: &[AgentId], version: u64, state: ApplyState) -> bool {
    ids.iter().all(|id| {
        s.get(id)
            .and_then(|a| a.config.as_ref())
            .is_some_and(|c| c.config.version == version && c.state == state)
    })
}

async fn push_bad_then_good(transport: SimTransport, url: impl Fn(&TestServer) -> String) {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let fleet = sim::start(quick(url(&server), 3, transport))
        .await
        .expect("fleet starts");
    let ids = fleet.agent_ids().to_vec();
    server
        .wait_for("agents listed", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;

    // A pipeline that exports to a component nobody defined.
    let bad = GOOD.replace(
        "exporters: [otlphttp]",
        "exporters: [otlphttp, kafka/audit]",
    );
    let outcome = server
        .rt
        .registry
        .assign(ids.clone(), cref("web", 1), Arc::new(collector_offer(&bad)))
        .await
        .expect("registry");
    assert_eq!(outcome.assigned.len(), 3);
    let snap = server
        .wait_for("FAILED on every agent", |s| {
            all_in(s, &ids, 1, ApplyState::Failed)
        })
        .await;
    let status = snap
        .get(&ids[0])
        .and_then(|a| a.config.clone())
        .expect("status");
    assert!(
        status.error.contains("\"kafka/audit\"") && status.error.contains("service.pipelines.logs"),
        "{}",
        status.error
    );

    // A valid one: APPLIED, and what the agents now run is what we sent.
    server
        .rt
        .registry
        .assign(ids.clone(), cref("web", 2), Arc::new(collector_offer(GOOD)))
        .await
        .expect("registry");
    let snap = server
        .wait_for("APPLIED on every agent", |s| {
            all_in(s, &ids, 2, ApplyState::Applied)
        })
        .await;
    for id in &ids {
        let agent = snap.get(id).expect("listed");
        let health = agent.health.as_ref().expect("health").tree();
        assert!(
            health.components.contains_key("pipeline:logs"),
            "{:?}",
            health.components.keys()
        );
        assert!(!health.components.contains_key("pipeline:traces"));
    }
    server
        .wait_for("effective configs match", |s| {
            ids.iter().all(|id| {
                s.get(id)
                    .and_then(|a| a.config.as_ref())
                    .is_some_and(|c| c.effective_matches == Some(true))
            })
        })
        .await;
    let stats = fleet.shutdown().await;
    assert_eq!((stats.configs_failed, stats.configs_applied), (3, 3));
    assert!(stats.apply_p99.is_some());
    server.rt.stop().await;
}

#[tokio::test]
async fn websocket_agents_fail_an_undefined_component_then_apply_a_valid_config() {
    push_bad_then_good(SimTransport::Ws, |s| s.ws_url()).await;
}

#[tokio::test]
async fn http_agents_fail_an_undefined_component_then_apply_a_valid_config() {
    push_bad_then_good(SimTransport::Http, |s| s.http_url()).await;
}

#[tokio::test]
async fn fail_rate_one_rejects_even_a_valid_config() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let mut cfg = quick(server.ws_url(), 2, SimTransport::Ws);
    cfg.fail_rate = 1.0;
    let fleet = sim::start(cfg).await.expect("fleet starts");
    let ids = fleet.agent_ids().to_vec();
    server
        .wait_for("agents listed", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    server
        .rt
        .registry
        .assign(ids.clone(), cref("web", 1), Arc::new(collector_offer(GOOD)))
        .await
        .expect("registry");
    let snap = server
        .wait_for("FAILED on every agent", |s| {
            all_in(s, &ids, 1, ApplyState::Failed)
        })
        .await;
    let error = snap
        .get(&ids[1])
        .and_then(|a| a.config.clone())
        .map(|c| c.error)
        .unwrap_or_default();
    assert!(error.contains("--fail-rate"), "{error}");
    fleet.shutdown().await;
    server.rt.stop().await;
}
