//! Interoperability with an OpAMP client we did not write: `opentelemetry-opamp-client`
//! (PyPI), driven by `../shared/peers/py_agent.py`. `.ci/run` installs it; elsewhere the
//! tests look for it and say clearly when it is missing (and fail under CI).

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use fleetdeck::fleet::events::{DisconnectReason, EventKind};
use tokio::io::{AsyncBufReadExt, BufReader};

fn peer() -> Option<(PathBuf, PathBuf)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/py_agent.py");
    assert!(script.exists(), "{} is missing", script.display());
    Some((peer_python()?, script))
}

/// Runs the peer to completion and returns its JSON event lines and exit status.
async fn run_peer(args: &[&str]) -> Option<(Vec<serde_json::Value>, bool)> {
    let child = spawn_peer(args)?;
    Some(finish_peer(child).await)
}

fn spawn_peer(args: &[&str]) -> Option<tokio::process::Child> {
    let (_, script) = peer()?;
    spawn_script(&script, args)
}

/// Runs one of our own test agents built on the same library (`tests/peers/`).
fn spawn_our_agent(name: &str, args: &[&str]) -> Option<tokio::process::Child> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name);
    spawn_script(&script, args)
}

fn spawn_script(script: &std::path::Path, args: &[&str]) -> Option<tokio::process::Child> {
    let (python, _) = peer()?;
    let child = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("peer starts");
    Some(child)
}

async fn finish_peer(mut child: tokio::process::Child) -> (Vec<serde_json::Value>, bool) {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut events = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            events.push(v);
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("peer exits")
        .expect("exit status");
    (events, status.success())
}

fn exit_line(events: &[serde_json::Value]) -> &serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == "exit")
        .expect("an exit line")
}

#[tokio::test]
async fn third_party_client_connects_is_listed_heartbeats_and_leaves() {
    let server = TestServer::start().await;
    let mut fleet_events = server.rt.registry.subscribe();
    let url = server.http_url();
    let auth = format!("Authorization: Secret-Key {SECRET}");
    let args = [
        "--endpoint",
        &url,
        "--name",
        "py-peer-1",
        "--header",
        &auth,
        "--seconds",
        "3",
        "--heartbeat",
        "0.3",
        "--host-name",
        "peer-host",
    ];
    let Some((events, ok)) = run_peer(&args).await else {
        return;
    };
    assert!(ok, "peer exits 0 when it connected: {events:?}");
    let exit = exit_line(&events);
    assert_eq!(exit["connected"], true);
    assert_eq!(exit["errors"], 0, "{events:?}");
    assert!(
        exit["requests_ok"].as_u64().unwrap_or(0) >= 4,
        "heartbeats: {exit}"
    );

    // This client sends its description only when asked for full state, so seeing its
    // service.name proves the server asked (ReportFullState for an unknown agent).
    let snap = server
        .wait_for("peer listed and gone", |s| {
            s.agents.iter().any(|a| {
                a.description.service_name() == Some("py-peer-1")
                    && a.host == "peer-host"
                    && !a.is_connected()
            })
        })
        .await;
    let agent = snap
        .agents
        .iter()
        .find(|a| a.description.service_name() == Some("py-peer-1"))
        .unwrap();
    assert!(
        agent.messages >= 4,
        "heartbeats counted: {}",
        agent.messages
    );
    assert_eq!(agent.description.get_str("opamp.peer"), Some("py_agent"));

    let mut disconnect = None;
    while let Ok(ev) = fleet_events.try_recv() {
        if let EventKind::AgentDisconnected { id, reason, .. } = ev.kind
            && id == agent.id
        {
            disconnect = Some(reason);
        }
    }
    assert_eq!(
        disconnect,
        Some(DisconnectReason::AgentDisconnect),
        "clean goodbye"
    );
    server.rt.stop().await;
}

#[tokio::test]
async fn third_party_client_with_a_wrong_secret_is_refused() {
    let server = TestServer::start().await;
    let url = server.http_url();
    let args = [
        "--endpoint",
        &url,
        "--name",
        "py-intruder",
        "--header",
        "Authorization: Secret-Key wrong",
        "--seconds",
        "2",
        "--heartbeat",
        "0.3",
    ];
    let Some((events, ok)) = run_peer(&args).await else {
        return;
    };
    assert!(!ok, "peer exits non-zero when refused");
    assert_eq!(exit_line(&events)["connected"], false);
    assert!(
        events.iter().any(|e| e["event"] == "error"),
        "the refusal is reported: {events:?}"
    );
    assert!(server.rt.registry.snapshot().borrow().agents.is_empty());
    server.rt.stop().await;
}

async fn push_to_peer(
    fail: bool,
) -> Option<(
    fleetdeck::fleet::delivery::AgentConfigStatus,
    Vec<serde_json::Value>,
)> {
    use fleetdeck::fleet::delivery::ConfigRef;
    use fleetdeck::opamp::offer::collector_offer;
    let server = TestServer::start().await;
    let url = server.http_url();
    let auth = format!("Authorization: Secret-Key {SECRET}");
    let name = if fail { "py-refuser" } else { "py-taker" };
    let out =
        std::env::temp_dir().join(format!("fleetdeck-peer-{name}-{}.yaml", std::process::id()));
    let out_s = out.to_string_lossy().to_string();
    let mut args = vec![
        "--endpoint",
        &url,
        "--name",
        name,
        "--header",
        &auth,
        "--seconds",
        "4",
        "--heartbeat",
        "0.2",
        "--config-out",
        &out_s,
    ];
    if fail {
        args.push("--fail-config");
    }
    let child = spawn_peer(&args)?;
    let snap = server
        .wait_for("peer listed", |s| {
            s.agents
                .iter()
                .any(|a| a.description.service_name() == Some(name))
        })
        .await;
    let id = snap
        .agents
        .iter()
        .find(|a| a.description.service_name() == Some(name))
        .unwrap()
        .id;
    let yaml = "receivers:\n  otlp:\n    protocols:\n      http: {}\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [debug]\n";
    let offer = std::sync::Arc::new(collector_offer(yaml));
    let cref = ConfigRef {
        name: "peer-config".into(),
        version: 1,
    };
    let outcome = server
        .rt
        .registry
        .assign(vec![id], cref, offer.clone())
        .await
        .unwrap();
    assert_eq!(outcome.assigned, vec![id]);
    let snap = server
        .wait_for("peer answered the config", |s| {
            s.get(&id)
                .and_then(|a| a.config.as_ref())
                .is_some_and(|c| c.state.done())
        })
        .await;
    let status = snap.get(&id).unwrap().config.clone().unwrap();
    let (events, ok) = finish_peer(child).await;
    assert!(ok);
    let received = events
        .iter()
        .find(|e| e["event"] == "remote_config_received")
        .expect("received");
    assert_eq!(received["hash"], hex::encode(offer.hash));
    assert_eq!(
        received["files"]["collector.yaml"]["content_type"],
        "text/yaml"
    );
    if !fail {
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            yaml,
            "the body arrives byte for byte"
        );
    }
    let _ = std::fs::remove_file(&out);
    server.rt.stop().await;
    Some((status, events))
}

#[tokio::test]
async fn third_party_client_applies_a_pushed_config_and_we_record_it() {
    let Some((status, _)) = push_to_peer(false).await else {
        return;
    };
    assert_eq!(
        status.state,
        fleetdeck::fleet::delivery::ApplyState::Applied
    );
    assert_eq!(
        status.effective_matches,
        Some(true),
        "its effective config matches"
    );
}

#[tokio::test]
async fn third_party_client_refusing_a_config_is_recorded_as_failed_with_its_reason() {
    let Some((status, _)) = push_to_peer(true).await else {
        return;
    };
    assert_eq!(status.state, fleetdeck::fleet::delivery::ApplyState::Failed);
    assert_eq!(status.error, "rejected by --fail-config");
}

/// Item 1 of "configuration state that stays true": an agent whose process restarted
/// without its state (same uid, no remote-config status) does not run what it was sent.
/// It is sent it again, shown as `sent` while it says nothing, and `stalled` when it stays
/// silent; a process that applies it again is `applied` again.
#[tokio::test]
async fn a_reconnect_without_the_config_shows_sent_then_stalled_not_applied() {
    use fleetdeck::fleet::delivery::{ApplyState, ConfigRef};
    use fleetdeck::opamp::offer::collector_offer;
    if peer().is_none() {
        return;
    }
    let server = TestServer::start_with(|s| s.stall_timeout = Duration::from_secs(3)).await;
    let mut fleet_events = server.rt.registry.subscribe();
    let url = server.http_url();
    let auth = format!("Authorization: Secret-Key {SECRET}");
    let uid = "0193f0c2a1b27c3d8e4f5a6b7c8d9e0f";
    let common = |seconds: &'static str| {
        vec![
            "--endpoint".to_string(),
            url.clone(),
            "--name".to_string(),
            "py-reborn".to_string(),
            "--header".to_string(),
            auth.clone(),
            "--instance-uid".to_string(),
            uid.to_string(),
            "--seconds".to_string(),
            seconds.to_string(),
            "--heartbeat".to_string(),
            "0.3".to_string(),
        ]
    };

    // First life: it applies what it is sent.
    let first = common("3");
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let child = spawn_peer(&first).expect("peer present");
    let id: fleetdeck::fleet::AgentId = uid.parse().expect("uid");
    server
        .wait_for("first life connected", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
    let offer = std::sync::Arc::new(collector_offer("receivers: {}\n# reborn\n"));
    let cref = ConfigRef {
        name: "reborn".into(),
        version: 1,
    };
    let out = server
        .rt
        .registry
        .assign(vec![id], cref, offer.clone())
        .await
        .unwrap();
    assert_eq!(out.assigned, vec![id]);
    let state = |s: &fleetdeck::fleet::FleetSnapshot| {
        s.get(&id).and_then(|a| a.config.as_ref().map(|c| c.state))
    };
    server
        .wait_for("applied by the first life", |s| {
            state(s) == Some(ApplyState::Applied)
        })
        .await;
    let (events, ok) = finish_peer(child).await;
    assert!(ok, "{events:?}");
    server
        .wait_for("first life gone", |s| {
            s.get(&id).is_some_and(|a| !a.is_connected())
        })
        .await;
    while fleet_events.try_recv().is_ok() {}

    // Second life: same uid, nothing kept, and it never answers.
    let mut second = common("6");
    second.push("--hold".to_string());
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    let child = spawn_our_agent("test_agent.py", &second).expect("peer present");
    let snap = server
        .wait_for("second life shown as sent", |s| {
            s.get(&id).is_some_and(|a| a.is_connected()) && state(s) == Some(ApplyState::Sent)
        })
        .await;
    assert_eq!(
        snap.get(&id).and_then(|a| a.remote_config_status.clone()),
        None,
        "the status of the first life is not shown as the second's"
    );
    server
        .wait_for("stalled while it says nothing", |s| {
            state(s) == Some(ApplyState::Stalled)
        })
        .await;
    let (events, _) = finish_peer(child).await;
    let received: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "remote_config_received")
        .collect();
    assert_eq!(received.len(), 1, "sent once on its connection: {events:?}");
    assert_eq!(received[0]["hash"], hex::encode(offer.hash));
    let mut notice = None;
    let mut applied_events = 0;
    while let Ok(ev) = fleet_events.try_recv() {
        match ev.kind {
            EventKind::Notice { agent, message } if agent == Some(id) => notice = Some(message),
            EventKind::ConfigStatus {
                state: ApplyState::Applied,
                ..
            } => applied_events += 1,
            _ => {}
        }
    }
    assert_eq!(
        applied_events, 0,
        "no `applied` event for a process that lost it"
    );
    let notice = notice.expect("a notice says why it is sent again");
    assert!(notice.contains("reconnected without reborn:1"), "{notice}");

    // Third life: it applies it again.
    let third = common("3");
    let third: Vec<&str> = third.iter().map(String::as_str).collect();
    let child = spawn_peer(&third).expect("peer present");
    server
        .wait_for("applied again", |s| {
            s.get(&id).is_some_and(|a| a.is_connected()) && state(s) == Some(ApplyState::Applied)
        })
        .await;
    let (events, _) = finish_peer(child).await;
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "remote_config_received" && e["hash"] == hex::encode(offer.hash)),
        "{events:?}"
    );
    server.rt.stop().await;
}

/// Two agents of one client on one host (as a multi-agent supervisor runs them) are told
/// apart by name: their service name first, then the host.
#[tokio::test]
async fn two_agents_on_one_host_have_different_names() {
    if peer().is_none() {
        return;
    }
    let server = TestServer::start().await;
    let url = server.http_url();
    let auth = format!("Authorization: Secret-Key {SECRET}");
    let peers: Vec<_> = ["gateway", "node-agent"]
        .into_iter()
        .map(|name| {
            let args = [
                "--endpoint",
                &url,
                "--name",
                name,
                "--host-name",
                "edge-1",
                "--header",
                &auth,
                "--seconds",
                "4",
                "--heartbeat",
                "0.3",
            ];
            spawn_peer(&args).expect("peer present")
        })
        .collect();
    let snap = server
        .wait_for("both peers described", |s| {
            s.agents.iter().filter(|a| a.host == "edge-1").count() == 2
        })
        .await;
    let mut names: Vec<_> = snap.agents.iter().map(|a| a.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["gateway@edge-1", "node-agent@edge-1"]);
    // Either is found by its name; the host alone is ambiguous and says so.
    let get = |key: &'static str| {
        http_client()
            .get(format!("{}/api/v1/agents/{key}", server.api_url()))
            .bearer_auth(API_TOKEN)
            .send()
    };
    let one = get("gateway@edge-1").await.expect("request");
    assert_eq!(one.status(), 200);
    let both = get("edge-1").await.expect("request");
    assert_eq!(both.status(), 409);
    let why = both.text().await.expect("body");
    assert!(
        why.contains("matches 2 agents") && why.contains("node-agent@edge-1"),
        "{why}"
    );
    for child in peers {
        let (events, ok) = finish_peer(child).await;
        assert!(ok, "{events:?}");
    }
}
