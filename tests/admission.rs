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

    // Fill the budget with idle connections (an HTTP client that has not sent yet), from
    // four addresses: no one address holds more unauthenticated ones than it may.
    let mut held = Vec::new();
    for i in 0..192u8 {
        let from: std::net::SocketAddr = format!("127.0.0.{}:0", 2 + i % 4).parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(from).expect("bind a loopback address");
        held.push(
            socket
                .connect(addr.parse().unwrap())
                .await
                .expect("connect"),
        );
    }
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

// ------------------------------------------------------------- strangers

/// True once the peer has closed `s` (EOF or reset), polling for up to `within`.
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Sockets that never authenticate — silent, or trickling a byte every 2 s — are closed
/// ten seconds after they were accepted, on the agent port and the API port; an agent that
/// authenticated keeps its connection however quiet it is.
#[tokio::test]
async fn connections_that_never_authenticate_are_closed_after_ten_seconds() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(60)).await;
    let agent_port = server.rt.agent_addr;
    let api_port = server.rt.api_addr;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(agent_port).await.unwrap());
    }
    let mut api_silent = tokio::net::TcpStream::connect(api_port).await.unwrap();
    let mut trickle = tokio::net::TcpStream::connect(agent_port).await.unwrap();
    let started = Instant::now();
    // An agent that speaks once and then says nothing for the rest of the test.
    let uid = AgentId::new_v7();
    let mut agent = ws_agent(&server).await;
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("quiet", "h"));
    ws_exchange(&mut agent, &hello).await;
    assert_eq!(
        server.rt.admission().open_connections,
        5,
        "agent port: 4 strangers, 1 agent"
    );

    let trickling = tokio::spawn(async move {
        for b in b"POST /v1/opamp HTTP/1.1\r\n" {
            if trickle.write_all(&[*b]).await.is_err() {
                return (trickle, true);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        (trickle, false)
    });
    for s in silent.iter_mut() {
        assert!(
            closed_within(s, Duration::from_secs(15)).await,
            "a silent socket closed"
        );
    }
    assert!(
        closed_within(&mut api_silent, Duration::from_secs(5)).await,
        "on the API port too"
    );
    let (mut trickle, write_failed) = trickling.await.unwrap();
    assert!(
        write_failed || closed_within(&mut trickle, Duration::from_secs(5)).await,
        "a trickling socket closed"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9),
        "not before the deadline: {waited:?}"
    );
    let snap = server
        .wait_for("the quiet agent still connected", |s| {
            s.get(&uid).is_some_and(|a| a.is_connected())
        })
        .await;
    assert_eq!(snap.totals.connected, 1);
    assert_eq!(
        server.rt.admission().open_connections,
        1,
        "only the agent's connection"
    );
    server.rt.stop().await;
}

/// While the budget is more than half used, one address may not hold more than 64
/// connections that have not authenticated: the next is answered 503, and an agent from
/// another address still gets in.
#[tokio::test]
async fn one_address_cannot_fill_the_listener_with_strangers() {
    let (mut server, _dir) = server_with_file_limit(320);
    let ws_url = ws_url(&server.wait_for_line("listening for agents"));
    let addr: std::net::SocketAddr = ws_url
        .trim_start_matches("ws://")
        .trim_end_matches("/v1/opamp")
        .parse()
        .unwrap();
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..150 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.9:0".parse().unwrap()).unwrap();
        let mut s = socket.connect(addr).await.expect("connect");
        // The health check needs no credential: admitted, it answers 200 and the
        // connection stays a stranger; refused, the listener answers 503 itself.
        tokio::io::AsyncWriteExt::write_all(&mut s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("send");
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut s, &mut buf),
        )
        .await
        .expect("an answer")
        .expect("read");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("HTTP/1.1 503") {
            assert!(text.contains("have not authenticated"), "{text}");
            refused += 1;
        } else {
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            held.push(s);
        }
    }
    assert!(
        held.len() <= 96 + 1,
        "{} admitted from one address",
        held.len()
    );
    assert!(refused >= 50, "{refused} refused");
    // An agent from another address is taken on.
    let auth = format!("Secret-Key {SECRET}");
    let mut ws = ws_connect(&ws_url, Some(&auth))
        .await
        .expect("an agent still gets in");
    let uid = AgentId::new_v7();
    let reply = ws_exchange(&mut ws, &message(uid, 0)).await;
    assert_eq!(reply.instance_uid, uid.as_bytes().to_vec());
    drop(held);
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
}
