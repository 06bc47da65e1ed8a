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
    let python = std::env::var_os("FLEETDECK_PEER_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            Some(PathBuf::from(home).join(".cache/fleet-peers/venv/bin/python"))
        })
        .filter(|p| p.exists());
    match (python, script.exists()) {
        (Some(py), true) => Some((py, script)),
        _ => {
            let msg = "the third-party OpAMP peer is not installed \
                       (run: bash ../shared/peers/setup.sh)";
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

/// Runs the peer to completion and returns its JSON event lines and exit status.
async fn run_peer(args: &[&str]) -> Option<(Vec<serde_json::Value>, bool)> {
    let child = spawn_peer(args)?;
    Some(finish_peer(child).await)
}

fn spawn_peer(args: &[&str]) -> Option<tokio::process::Child> {
    let (python, script) = peer()?;
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
    use fleetdeck::fleet::delivery::{ConfigRef, collector_offer};
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
