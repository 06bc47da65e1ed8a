//! Per-agent credentials with a real, stock Collector under `fleetdeck agent`: the agent
//! enrolls with the fleet secret and moves to a credential of its own; a rotation leaves
//! it connected on a new credential and the old one refused; a revocation disconnects it
//! and refuses it whatever it presents, while the Collector keeps running its last
//! configuration; a restart of the server keeps all of it; lifting the revocation lets the
//! agent enroll again. Raw WebSocket and HTTP requests prove what is refused.
//!
//! The Collector is found through `FLEETDECK_OTELCOL` or in `~/.cache/fleet-peers`; the
//! test says `SKIPPED` without it, and fails under CI.

mod common;

use std::path::Path;
use std::time::Duration;

use common::collector::*;
use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::delivery::ApplyState;
use fleetdeck::opamp::proto;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message;

fn credential_in(state: &Path) -> Option<String> {
    std::fs::read_to_string(state.join("credential"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Waits until the state dir holds a credential other than `not`.
async fn new_credential(state: &Path, not: Option<&str>, sup: &Supervisor) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(c) = credential_in(state)
            && Some(c.as_str()) != not
        {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new credential in the state dir\n{}",
            sup.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn credential_state(server: &TestServer, id: AgentId) -> serde_json::Value {
    let detail: serde_json::Value = http_client()
        .get(format!("{}/api/v1/agents/{id}", server.api_url()))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    detail["credential"].clone()
}

async fn wait_credential_state(server: &TestServer, id: AgentId, want: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let c = credential_state(server, id).await;
        if c["state"] == want {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "credential state never became {want}: {c}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The HTTP status of a WebSocket upgrade presenting `auth` (101 when it is let in).
async fn upgrade_status(server: &TestServer, auth: &str) -> u16 {
    match ws_connect(&server.ws_url(), Some(auth)).await {
        Ok(mut ws) => {
            let _ = ws.close(None).await;
            101
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

/// The HTTP status of an OpAMP POST as agent `id`, presenting `auth`.
async fn post_status(server: &TestServer, id: AgentId, auth: &str) -> u16 {
    let msg = message(id, 0);
    http_post(
        &server.http_url(),
        msg.encode_to_vec(),
        &[
            ("Authorization", auth),
            ("Content-Type", "application/x-protobuf"),
        ],
    )
    .await
    .status()
    .as_u16()
}

/// Connects over WebSocket with the fleet secret and speaks as `id`: the answer is an
/// error naming why, and the server closes the connection with 1008.
async fn fleet_secret_refused_for(server: &TestServer, id: AgentId, why: &str) {
    let mut ws = ws_agent(server).await;
    let mut frame = vec![0u8];
    message(id, 0).encode(&mut frame).unwrap();
    ws.send(Message::Binary(frame.into())).await.unwrap();
    let (mut told, mut close) = (None, None);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        match msg {
            Message::Binary(data) => {
                told = Some(proto::ServerToAgent::decode(&data[1..]).unwrap());
            }
            Message::Close(frame) => {
                close = frame.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    let err = told
        .and_then(|t| t.error_response)
        .expect("an error response");
    assert!(err.error_message.contains(why), "{}", err.error_message);
    assert_eq!(close, Some(1008));
}

/// The own-metrics token the server offered the agent (kept in its state.json).
fn own_metrics_authorization(state: &Path) -> String {
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    saved["metrics"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| {
            h[0].as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case("authorization"))
        })
        .and_then(|h| h[1].as_str())
        .expect("an Authorization header for own metrics")
        .to_string()
}

/// The status of an (empty) own-metrics export with `auth`.
async fn own_metrics_status(server: &TestServer, auth: &str) -> u16 {
    http_client()
        .post(format!(
            "{}/v1/metrics",
            server.http_url().trim_end_matches("/v1/opamp")
        ))
        .header("Authorization", auth)
        .header("Content-Type", "application/x-protobuf")
        .body(Vec::<u8>::new())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn cli(server: &TestServer, args: &[&str]) -> String {
    let out = common::cli::run(&server.api_url(), API_TOKEN, args).await;
    out.ok();
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_rotate_revoke_and_restart_with_a_real_collector() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let start = |listen: Option<std::net::SocketAddr>| {
        let mut settings = fleetdeck::settings::Settings::ephemeral(data.path(), SECRET);
        settings.heartbeat_interval = Duration::from_secs(1);
        if let Some(addr) = listen {
            settings.listen = addr;
        }
        async move {
            let rt = fleetdeck::runtime::Runtime::start(&settings)
                .await
                .expect("server starts");
            TestServer {
                rt,
                dir: tempfile::tempdir().unwrap(),
            }
        }
    };
    let server = start(None).await;
    let addr = server.rt.agent_addr;
    let sink = sink().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "before-rotation");
    let state = dir.path().join("agent");
    let sup = Supervisor::start(&server.ws_url(), &otelcol, &state, &[]);
    let id = connected_agent(&server).await;

    // Enrolled: a credential of its own, kept owner-only in the state dir.
    let first = new_credential(&state, None, &sup).await;
    assert!(first.starts_with("fdc1_"), "{first}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join("credential"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let c = wait_credential_state(&server, id, "enrolled").await;
    assert!(c["enrolled_at"].as_u64().is_some(), "{c}");
    server
        .wait_for("the agent is back on its credential", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
    push(
        &server,
        &logs_pipeline("cred-logs", &log, &sink.url),
        "cred-logs",
        id,
    )
    .await;
    wait_state(&server, id, "cred-logs", ApplyState::Applied).await;
    sink.wait_for_or("before-rotation", || sup.output()).await;
    // The fleet secret no longer lets this uid in.
    fleet_secret_refused_for(&server, id, "must connect with it").await;
    assert_eq!(
        post_status(&server, id, &format!("Secret-Key {SECRET}")).await,
        403
    );

    // Rotation: the agent stays connected, moves to a new credential, the old one is
    // refused.
    let out = cli(&server, &["rotate-credentials", "--selector", "tier=real"]).await;
    assert!(out.contains("offered"), "{out}");
    let second = new_credential(&state, Some(&first), &sup).await;
    let c = wait_credential_state(&server, id, "enrolled").await;
    assert!(c["changed_at"].as_u64().is_some(), "{c}");
    server
        .wait_for("the agent reconnected with the new credential", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
    assert_eq!(
        upgrade_status(&server, &format!("Bearer {first}")).await,
        401
    );
    assert_eq!(
        post_status(&server, id, &format!("Bearer {first}")).await,
        401
    );
    assert_eq!(
        upgrade_status(&server, &format!("Bearer {second}")).await,
        101
    );
    assert!(
        sup.output().contains("connected with the new credential"),
        "{}",
        sup.output()
    );
    wait_events(&server, "the move to the new credential", |e| {
        e.contains("connected with its new credential")
    })
    .await;
    append(&log, "after-rotation");
    sink.wait_for_or("after-rotation", || sup.output()).await;

    // A restart of the server keeps all of it.
    server.rt.stop().await;
    let server = start(Some(addr)).await;
    server
        .wait_for("the agent is back after the restart", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
    assert_eq!(credential_in(&state).as_deref(), Some(second.as_str()));
    wait_credential_state(&server, id, "enrolled").await;
    assert_eq!(
        upgrade_status(&server, &format!("Bearer {first}")).await,
        401
    );
    fleet_secret_refused_for(&server, id, "must connect with it").await;

    // So does a restart of the supervisor: it comes back on the credential it kept.
    drop(sup);
    let restarted = std::time::SystemTime::now();
    let sup = Supervisor::start(&server.ws_url(), &otelcol, &state, &[]);
    server
        .wait_for("the restarted supervisor is back", |s| {
            s.get(&id)
                .is_some_and(|a| a.is_connected() && a.connected_at.is_some_and(|t| t > restarted))
        })
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !sup
        .output()
        .contains("connecting with the agent's own credential")
    {
        assert!(tokio::time::Instant::now() < deadline, "{}", sup.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(credential_in(&state).as_deref(), Some(second.as_str()));
    wait_credential_state(&server, id, "enrolled").await;

    // Revoked: disconnected at once, refused whatever it presents; the Collector runs on.
    let metrics_auth = own_metrics_authorization(&state);
    assert_eq!(own_metrics_status(&server, &metrics_auth).await, 200);
    let out = cli(&server, &["revoke", "agent", &id.to_string()]).await;
    assert!(out.contains("revoked and disconnected"), "{out}");
    server
        .wait_for("the revoked agent is disconnected", |s| {
            s.get(&id).is_some_and(|a| !a.is_connected())
        })
        .await;
    assert_eq!(
        upgrade_status(&server, &format!("Bearer {second}")).await,
        403
    );
    assert_eq!(
        post_status(&server, id, &format!("Bearer {second}")).await,
        403
    );
    fleet_secret_refused_for(&server, id, "revoked by admin").await;
    assert_eq!(
        own_metrics_status(&server, &metrics_auth).await,
        403,
        "its own telemetry too"
    );
    let audit = wait_events(&server, "the revocation's audit entry", |e| {
        e.contains("revoke agent")
    })
    .await;
    assert!(audit.contains("admin"), "{audit}");
    let shown = cli(&server, &["get", "agent", &id.to_string()]).await;
    assert!(shown.contains("credential: revoked"), "{shown}");
    assert!(shown.contains("by admin"), "{shown}");
    append(&log, "after-revocation");
    sink.wait_for_or("after-revocation", || sup.output()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !server
            .rt
            .registry
            .snapshot()
            .borrow()
            .get(&id)
            .is_some_and(|a| a.is_connected()),
        "a revoked agent stays out"
    );

    // Still revoked after a restart.
    server.rt.stop().await;
    let server = start(Some(addr)).await;
    wait_credential_state(&server, id, "revoked").await;
    assert_eq!(
        upgrade_status(&server, &format!("Bearer {second}")).await,
        403
    );

    // Lifted: the agent's credential is unknown now (401), so it enrolls again with the
    // fleet secret and gets a third.
    let out = cli(&server, &["revoke", "agent", &id.to_string(), "--undo"]).await;
    assert!(out.contains("may enroll again"), "{out}");
    let third = new_credential(&state, Some(&second), &sup).await;
    assert_ne!(third, first);
    wait_credential_state(&server, id, "enrolled").await;
    server
        .wait_for("the agent is back after the revocation was lifted", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
}
