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
    let (python, script) = peer()?;
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("peer starts");
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
    Some((events, status.success()))
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
            s.agents
                .iter()
                .any(|a| a.name == "py-peer-1" && a.host == "peer-host" && !a.is_connected())
        })
        .await;
    let agent = snap.agents.iter().find(|a| a.name == "py-peer-1").unwrap();
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
