//! Admission on the agent listener: newcomers in a rush are asked to come back within
//! seconds, and a listener at its open-file limit answers 503 instead of choking.

mod common;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::headless::{self, Headless, empty_config, ws_url};
use common::*;
use fleetdeck::fleet::{AgentId, EventKind};
use prost::Message as _;
use tokio_tungstenite::tungstenite::Error as WsError;

fn retry_after(headers: &axum::http::HeaderMap) -> u64 {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds")
}

#[tokio::test]
async fn newcomers_beyond_the_limit_are_asked_to_retry_within_seconds() {
    let server = TestServer::start_with(|s| s.max_new_agents = 2).await;
    let mut events = server.rt.registry.subscribe();
    let auth = format!("Secret-Key {SECRET}");
    // Two agents upgrade and have not spoken yet: both are still being taken on.
    let mut first = ws_agent(&server).await;
    let _second = ws_agent(&server).await;

    match ws_connect(&server.ws_url(), Some(&auth)).await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), 503);
            let wait = retry_after(resp.headers());
            assert!((1..=5).contains(&wait), "retry within seconds, got {wait}");
        }
        other => panic!("expected 503 before the upgrade, got {other:?}"),
    }
    let http = http_post(
        &server.http_url(),
        message(AgentId::new_v7(), 0).encode_to_vec(),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Authorization", &auth),
        ],
    )
    .await;
    assert_eq!(http.status(), 503);
    let wait = http
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("Retry-After");
    assert!((1..=5).contains(&wait), "{wait}");
    // Operators hear of it once, in the fleet's events (the TUI's events pane, the log).
    let notice = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await {
                Ok(ev) => {
                    if let EventKind::Notice { message, .. } = ev.kind {
                        return message;
                    }
                }
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await
    .expect("a notice");
    assert!(
        notice.contains("many agents connecting at once"),
        "{notice}"
    );

    // Once the first agent is answered its place goes to the next newcomer.
    let uid = AgentId::new_v7();
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("first", "host-1"));
    let reply = ws_exchange(&mut first, &hello).await;
    assert_eq!(reply.instance_uid, uid.as_bytes().to_vec());
    let mut third = ws_agent(&server).await;
    let uid3 = AgentId::new_v7();
    let reply = ws_exchange(&mut third, &message(uid3, 0)).await;
    assert_eq!(reply.instance_uid, uid3.as_bytes().to_vec());

    let health: serde_json::Value = http_client()
        .get(format!(
            "{}/healthz",
            server.http_url().trim_end_matches("/v1/opamp")
        ))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["deferred_agents"], 2, "{health}");
    server.rt.stop().await;
}

// ------------------------------------------------------------- the open-file limit

/// The server binary with an open-file limit of `files` (soft and hard, so it cannot raise
/// it).
fn server_with_file_limit(files: u64) -> (Headless, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = headless::command(&dir.path().join("data"), &empty_config(dir.path()), SECRET);
    // SAFETY: only setrlimit, which is async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: files,
                rlim_max: files,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    (Headless::spawn(cmd, false), dir)
}

/// One HTTP/1.1 request on a fresh connection; the whole response as text.
fn get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test]
async fn a_listener_at_its_file_limit_refuses_with_503_once_logged_and_recovers() {
    // 320 files: 192 for connections, the rest kept for the store, the API and the logs.
    let (mut server, _dir) = server_with_file_limit(320);
    let ws_url = ws_url(&server.wait_for_line("listening for agents"));
    let addr = ws_url
        .trim_start_matches("ws://")
        .trim_end_matches("/v1/opamp")
        .to_string();
    let health = get(&addr, "/healthz");
    assert!(health.contains("\"max_connections\":192"), "{health}");

    // Fill the budget with idle connections (an HTTP client that has not sent yet).
    let mut held: Vec<_> = (0..192)
        .map(|_| std::net::TcpStream::connect(&addr).expect("connect"))
        .collect();
    // Give the listener time to accept them all.
    let deadline = Instant::now() + Duration::from_secs(20);
    let auth = format!("Secret-Key {SECRET}");
    let refused = loop {
        match ws_connect(&ws_url, Some(&auth)).await {
            Err(WsError::Http(resp)) => break resp,
            Ok(_) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => panic!("expected a 503 at the limit, got {other:?}"),
        }
    };
    assert_eq!(refused.status(), 503);
    assert_eq!(retry_after(refused.headers()), 30);
    let body = String::from_utf8_lossy(refused.body().as_deref().unwrap_or_default());
    assert!(body.contains("open-file limit"), "{body}");
    for _ in 0..10 {
        let answer = get(&addr, "/healthz");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("Retry-After: 30"), "{answer}");
    }

    // Some connections close: agents are taken on again.
    held.truncate(150);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ws = loop {
        match ws_connect(&ws_url, Some(&auth)).await {
            Ok(ws) => break ws,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("no room after closing connections: {e}"),
        }
    };
    let uid = AgentId::new_v7();
    let reply = ws_exchange(&mut ws, &message(uid, 0)).await;
    assert_eq!(reply.instance_uid, uid.as_bytes().to_vec());
    drop(ws);
    drop(held);

    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    assert_eq!(
        log.matches("as many connections as the open-file limit allows")
            .count(),
        1,
        "said once:\n{log}"
    );
    assert_eq!(
        log.matches("room for new connections again").count(),
        1,
        "{log}"
    );
}
