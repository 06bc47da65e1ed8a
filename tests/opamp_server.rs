//! The OpAMP server over both transports, driven by real clients on loopback.

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::fleet::events::{DisconnectReason, EventKind};
use fleetdeck::fleet::snapshot::Connection;
use fleetdeck::fleet::{AgentId, Transport};
use fleetdeck::opamp::proto;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const FULL_STATE: u64 = 0x1;

/// The message from an agent that also accepts OpAMP connection settings.
fn offer_taker(mut m: proto::AgentToServer) -> proto::AgentToServer {
    m.capabilities |= 0x100;
    m
}

#[tokio::test]
async fn websocket_agent_full_flow() {
    let server = TestServer::start().await;
    let mut events = server.rt.registry.subscribe();
    let mut ws = ws_agent(&server).await;
    let uid = AgentId::new_v7();

    // An unknown agent that sends no description is asked for its full state.
    let first = ws_exchange(&mut ws, &message(uid, 0)).await;
    assert_eq!(first.instance_uid, uid.as_bytes().to_vec(), "uid echoed");
    assert_eq!(
        first.flags & FULL_STATE,
        FULL_STATE,
        "ReportFullState when unknown"
    );
    assert_ne!(first.capabilities & 0x1, 0, "AcceptsStatus advertised");
    assert_ne!(first.capabilities & 0x2, 0, "OffersRemoteConfig advertised");
    let offer = first
        .connection_settings
        .expect("heartbeat offered in the first reply");
    assert_eq!(
        offer
            .opamp
            .expect("opamp settings")
            .heartbeat_interval_seconds,
        30
    );

    // The full state names the agent; no further request.
    let mut full = message(uid, 1);
    full.agent_description = Some(description("otelcol-contrib", "web-01"));
    full.health = Some(proto::ComponentHealth {
        healthy: true,
        ..Default::default()
    });
    let reply = ws_exchange(&mut ws, &full).await;
    assert_eq!(reply.flags & FULL_STATE, 0);
    assert!(
        reply.connection_settings.is_none(),
        "an unchanged offer is not resent"
    );

    let snap = server
        .wait_for("agent listed", |s| {
            s.get(&uid)
                .is_some_and(|a| a.description.service_name() == Some("otelcol-contrib"))
        })
        .await;
    let agent = snap.get(&uid).unwrap();
    assert_eq!(agent.host, "web-01");
    assert_eq!(agent.connection, Connection::Connected);
    assert_eq!(agent.transport, Some(Transport::WebSocket));
    assert_eq!(agent.healthy(), Some(true));
    assert_eq!(snap.totals.connected, 1);

    // Heartbeats are acknowledged; a sequence gap asks for full state again.
    let hb = ws_exchange(&mut ws, &message(uid, 2)).await;
    assert_eq!(hb.flags & FULL_STATE, 0);
    let gap = ws_exchange(&mut ws, &message(uid, 7)).await;
    assert_eq!(gap.flags & FULL_STATE, FULL_STATE, "gap → ReportFullState");

    // Goodbye.
    let mut bye = message(uid, 8);
    bye.agent_disconnect = Some(proto::AgentDisconnect {});
    let ack = ws_exchange(&mut ws, &bye).await;
    assert_eq!(
        ack.instance_uid,
        uid.as_bytes().to_vec(),
        "the goodbye is answered too"
    );
    server
        .wait_for("agent disconnected", |s| {
            s.get(&uid)
                .is_some_and(|a| a.connection == Connection::Disconnected)
        })
        .await;
    let mut saw = (false, false);
    while let Ok(ev) = events.try_recv() {
        match ev.kind {
            EventKind::AgentConnected { id, new, .. } if id == uid => saw.0 = new,
            EventKind::AgentDisconnected { id, reason, .. } if id == uid => {
                saw.1 = reason == DisconnectReason::AgentDisconnect
            }
            _ => {}
        }
    }
    assert_eq!(saw, (true, true), "connect and disconnect events");
    server.rt.stop().await;
}

#[tokio::test]
async fn closed_socket_marks_agent_disconnected() {
    let server = TestServer::start().await;
    let uid = AgentId::new_v7();
    let mut ws = ws_agent(&server).await;
    let mut full = message(uid, 0);
    full.agent_description = Some(description("a", "h"));
    ws_exchange(&mut ws, &full).await;
    server
        .wait_for("connected", |s| s.totals.connected == 1)
        .await;
    drop(ws);
    let snap = server
        .wait_for("disconnected", |s| s.totals.connected == 0)
        .await;
    assert_eq!(snap.get(&uid).unwrap().connection, Connection::Disconnected);
    server.rt.stop().await;
}

#[tokio::test]
async fn legacy_frames_and_ulid_uids_are_understood() {
    let server = TestServer::start().await;
    let mut ws = ws_agent(&server).await;
    let mut msg = message(AgentId::default(), 0);
    msg.instance_uid = b"01ARZ3NDEKTSV4RRFFQ69G5FAV".to_vec();
    msg.agent_description = Some(description("legacy", "old-host"));
    // No 0x00 header: a pre-v0.7 client.
    ws.send(Message::Binary(msg.encode_to_vec().into()))
        .await
        .unwrap();
    let reply = ws_recv(&mut ws).await;
    assert!(reply.error_response.is_none());
    let id: AgentId = "01563e3a-b5d3-d676-4c61-efb99302bd5b".parse().unwrap();
    assert_eq!(reply.instance_uid, id.as_bytes().to_vec());
    server
        .wait_for("legacy agent listed", |s| {
            s.get(&id)
                .is_some_and(|a| a.description.service_name() == Some("legacy"))
        })
        .await;
    server.rt.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_secret_is_refused_before_the_upgrade() {
    let server = TestServer::start().await;
    for auth in [None, Some("Secret-Key wrong"), Some("Bearer wrong")] {
        match ws_connect(&server.ws_url(), auth).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401, "auth {auth:?}")
            }
            other => panic!("expected 401 for {auth:?}, got {other:?}"),
        }
    }
    // Bearer with the right key works.
    assert!(
        ws_connect(&server.ws_url(), Some(&format!("Bearer {SECRET}")))
            .await
            .is_ok()
    );
    let resp = http_post(
        &server.http_url(),
        message(AgentId::new_v7(), 0).encode_to_vec(),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Authorization", "Secret-Key nope"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 401);
    server.rt.stop().await;
}

#[tokio::test]
async fn http_agent_full_flow_with_compression() {
    let server = TestServer::start_with(|s| {
        s.http_agent_timeout = Duration::from_secs(1);
    })
    .await;
    let url = server.http_url();
    let uid = AgentId::new_v7();

    // It takes connection settings, so it polls at the offered heartbeat and the
    // configured timeout is its own (one that does not is given three of its own
    // intervals, see below).
    let first = http_exchange(&url, &offer_taker(message(uid, 0))).await;
    assert_eq!(first.instance_uid, uid.as_bytes().to_vec());
    assert_eq!(first.flags & FULL_STATE, FULL_STATE);
    assert_ne!(first.capabilities, 0, "capabilities on every HTTP response");

    // A gzip request body, and a gzip response because we accept one.
    let mut full = offer_taker(message(uid, 1));
    full.agent_description = Some(description("http-collector", "db-07"));
    let gz = fleetdeck::opamp::body::gzip(&full.encode_to_vec());
    let auth = format!("Secret-Key {SECRET}");
    let resp = http_post(
        &url,
        gz,
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
            ("Accept-Encoding", "gzip"),
            ("Authorization", &auth),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let body = resp.bytes().await.unwrap();
    let inflated = fleetdeck::opamp::body::gunzip_limited(&body, 1 << 20).unwrap();
    let reply = proto::ServerToAgent::decode(inflated.as_slice()).unwrap();
    assert_eq!(reply.flags & FULL_STATE, 0);

    let snap = server
        .wait_for("http agent listed", |s| {
            s.get(&uid).is_some_and(|a| {
                a.description.service_name() == Some("http-collector") && a.is_connected()
            })
        })
        .await;
    assert_eq!(snap.get(&uid).unwrap().transport, Some(Transport::Http));

    // An HTTP agent that stops polling is marked disconnected after the timeout.
    server
        .wait_for("http agent timed out", |s| {
            s.get(&uid).is_some_and(|a| !a.is_connected())
        })
        .await;
    server.rt.stop().await;
}

/// An HTTP client may still be finishing a poll when it says goodbye; asked for its full
/// state, it sends it on its way out. That is the same process (its messages number on
/// from the goodbye) and must not bring the agent back; a restarted one (numbering
/// afresh) must.
#[tokio::test]
async fn messages_after_an_http_goodbye_bring_the_agent_back_only_from_a_restart() {
    let server = TestServer::start().await;
    let url = server.http_url();
    let uid = AgentId::new_v7();
    let full = |seq: u64| {
        let mut m = message(uid, seq);
        m.agent_description = Some(description("py-like", "host-3"));
        m
    };
    http_exchange(&url, &full(0)).await;
    for seq in 1..=3 {
        http_exchange(&url, &message(uid, seq)).await;
    }
    let mut bye = message(uid, 4);
    bye.agent_disconnect = Some(proto::AgentDisconnect {});
    http_exchange(&url, &bye).await;
    server
        .wait_for("said goodbye", |s| {
            s.get(&uid).is_some_and(|a| !a.is_connected())
        })
        .await;

    // The poll that was under way, then the full state it was asked for.
    let late = http_exchange(&url, &message(uid, 3)).await;
    assert_eq!(late.flags & FULL_STATE, FULL_STATE);
    http_exchange(&url, &full(5)).await;
    // A later change would be published within 25 ms; give it ten times that.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let snap = server.rt.registry.snapshot().borrow().clone();
    assert!(
        !snap.get(&uid).unwrap().is_connected(),
        "the goodbye stands"
    );

    // Restarted: numbering from 0 again.
    http_exchange(&url, &full(0)).await;
    server
        .wait_for("back after a restart", |s| {
            s.get(&uid).is_some_and(|a| a.is_connected())
        })
        .await;
    server.rt.stop().await;
}

#[tokio::test]
async fn chunked_http_bodies_are_read() {
    let server = TestServer::start().await;
    let uid = AgentId::new_v7();
    let mut msg = message(uid, 0);
    msg.agent_description = Some(description("chunky", "h"));
    let body = msg.encode_to_vec();
    let (a, b) = body.split_at(body.len() / 2);
    let mut req = format!(
        "POST /v1/opamp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-protobuf\r\n\
         Authorization: Secret-Key {SECRET}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.rt.agent_addr
    )
    .into_bytes();
    for chunk in [a, b] {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let mut tcp = tokio::net::TcpStream::connect(server.rt.agent_addr)
        .await
        .unwrap();
    tcp.write_all(&req).await.unwrap();
    let mut resp = Vec::new();
    tcp.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    server
        .wait_for("chunked agent listed", |s| {
            s.get(&uid)
                .is_some_and(|a| a.description.service_name() == Some("chunky"))
        })
        .await;
    server.rt.stop().await;
}

#[tokio::test]
async fn restart_goes_out_at_once_over_ws_and_on_the_next_poll_over_http() {
    let server = TestServer::start().await;
    // A WebSocket agent that accepts restarts.
    let ws_uid = AgentId::new_v7();
    let mut ws = ws_agent(&server).await;
    let mut m = message(ws_uid, 0);
    m.capabilities |= 0x400;
    m.agent_description = Some(description("restartable", "h1"));
    ws_exchange(&mut ws, &m).await;
    server
        .rt
        .registry
        .restart(ws_uid)
        .await
        .expect("restart accepted");
    let pushed = ws_recv(&mut ws).await;
    assert_eq!(
        pushed.command.map(|c| c.r#type),
        Some(proto::CommandType::Restart as i32)
    );
    assert_eq!(pushed.instance_uid, ws_uid.as_bytes().to_vec());

    // An HTTP agent gets it with its next poll.
    let http_uid = AgentId::new_v7();
    let mut h = message(http_uid, 0);
    h.capabilities |= 0x400;
    h.agent_description = Some(description("polling", "h2"));
    http_exchange(&server.http_url(), &h).await;
    server.rt.registry.restart(http_uid).await.expect("queued");
    let next = http_exchange(&server.http_url(), &message(http_uid, 1)).await;
    assert!(
        next.command.is_some(),
        "queued command delivered on the poll"
    );
    let after = http_exchange(&server.http_url(), &message(http_uid, 2)).await;
    assert!(after.command.is_none(), "delivered once");

    // An agent without the capability is refused with a reason.
    let plain_uid = AgentId::new_v7();
    let mut p = message(plain_uid, 0);
    p.agent_description = Some(description("stubborn", "h3"));
    http_exchange(&server.http_url(), &p).await;
    let err = server.rt.registry.restart(plain_uid).await.unwrap_err();
    assert!(err.to_string().contains("AcceptsRestartCommand"), "{err}");
    server.rt.stop().await;
}

#[tokio::test]
async fn shutdown_closes_websockets_with_going_away() {
    let server = TestServer::start().await;
    let mut ws = ws_agent(&server).await;
    let uid = AgentId::new_v7();
    let mut m = message(uid, 0);
    m.agent_description = Some(description("x", "y"));
    ws_exchange(&mut ws, &m).await;
    let rt = server.rt;
    let stopping = tokio::spawn(rt.stop());
    let mut code = None;
    let mut told = None;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        match msg {
            Message::Close(frame) => {
                code = frame.map(|f| u16::from(f.code));
                break;
            }
            Message::Binary(data) => {
                let reply = proto::ServerToAgent::decode(&data[1..]).unwrap();
                told = reply.error_response;
            }
            _ => {}
        }
    }
    assert_eq!(code, Some(1001), "close frame 'going away'");
    // Before the close the agent is told when to come back, so a restart's reconnects are
    // spread over a few seconds instead of arriving at once.
    let told = told.expect("an Unavailable error before the close");
    assert_eq!(
        told.r#type,
        proto::ServerErrorResponseType::Unavailable as i32
    );
    let Some(proto::server_error_response::Details::RetryInfo(info)) = told.details else {
        panic!("retry info with the Unavailable error");
    };
    let wait = Duration::from_nanos(info.retry_after_nanoseconds);
    assert!(
        (Duration::from_secs(1)..=Duration::from_secs(5)).contains(&wait),
        "{wait:?}"
    );
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_second_live_connection_takes_over_and_repeated_takeovers_get_a_new_uid() {
    let server = TestServer::start().await;
    let uid = AgentId::new_v7();
    let hello = |seq| {
        let mut m = message(uid, seq);
        m.agent_description = Some(description("twin", "vm"));
        m
    };
    // A reconnect while the old socket still looks alive: the newest connection wins and
    // the agent is counted once.
    let mut first = ws_agent(&server).await;
    ws_exchange(&mut first, &hello(0)).await;
    let mut second = ws_agent(&server).await;
    let reply = ws_exchange(&mut second, &hello(1)).await;
    assert!(
        reply.agent_identification.is_none(),
        "one takeover is a reconnect"
    );
    drop(first);
    let snap = server
        .wait_for("still connected once", |s| {
            s.totals.connected == 1 && s.get(&uid).is_some_and(|a| a.is_connected())
        })
        .await;
    assert_eq!(snap.totals.agents, 1);

    // Two processes that keep evicting each other are clones: the newcomer is told to
    // use a uid of its own.
    let mut third = ws_agent(&server).await;
    let r3 = ws_exchange(&mut third, &hello(2)).await;
    assert!(r3.agent_identification.is_none());
    let mut fourth = ws_agent(&server).await;
    let r4 = ws_exchange(&mut fourth, &hello(3)).await;
    let new_uid = r4
        .agent_identification
        .expect("third takeover in a minute: a new uid")
        .new_instance_uid;
    assert_eq!(new_uid.len(), 16);
    assert_ne!(new_uid, uid.as_bytes().to_vec());
    assert_eq!(
        r4.instance_uid,
        uid.as_bytes().to_vec(),
        "addressed by the old uid"
    );
    server.rt.stop().await;
}

/// Two different agents (another name, another host) with one uid: the first keeps the
/// uid and its record stays its own (name, host, connection); the newcomer is told to use a
/// new uid, and told again if it keeps the old one, and an event names both addresses.
#[tokio::test]
async fn a_different_agent_claiming_a_live_uid_is_given_its_own() {
    let server = TestServer::start().await;
    let mut events = server.rt.registry.subscribe();
    let uid = AgentId::new_v7();
    let hello = |name, host, seq| {
        let mut m = message(uid, seq);
        m.agent_description = Some(description(name, host));
        m
    };
    let mut first = ws_agent(&server).await;
    ws_exchange(&mut first, &hello("first", "vm-a", 0)).await;
    let mut second = ws_agent(&server).await;
    let r = ws_exchange(&mut second, &hello("second", "vm-b", 0)).await;
    let fresh = r
        .agent_identification
        .expect("the newcomer is given a uid of its own")
        .new_instance_uid;
    assert_ne!(fresh, uid.as_bytes().to_vec());

    // The first goes on; the second keeps sending with the old uid.
    let r = ws_exchange(&mut first, &message(uid, 1)).await;
    assert!(r.agent_identification.is_none());
    assert_eq!(r.flags & 1, 0, "no gap, nothing asked of the first");
    let r = ws_exchange(&mut second, &message(uid, 1)).await;
    assert_eq!(
        r.agent_identification.map(|a| a.new_instance_uid),
        Some(fresh.clone()),
        "told again, the same uid"
    );
    // A third connection that does not say who it is is asked first; nothing is recorded.
    let mut third = ws_agent(&server).await;
    let r = ws_exchange(&mut third, &message(uid, 5)).await;
    assert_eq!(r.flags & 1, 1, "ReportFullState");
    let r = ws_exchange(&mut first, &message(uid, 2)).await;
    assert_eq!(r.flags & 1, 0, "the first is undisturbed");

    let snap = server
        .wait_for("the first's record", |s| {
            s.get(&uid).is_some_and(|a| a.sequence_num == 2)
        })
        .await;
    let a = snap.get(&uid).unwrap();
    assert_eq!(
        (a.description.service_name(), a.host.as_str()),
        (Some("first"), "vm-a")
    );
    assert!(a.is_connected());
    assert_eq!(snap.totals.agents, 1);

    // The newcomer takes the new uid: a second agent, its own.
    let new_uid = AgentId(fresh.as_slice().try_into().unwrap());
    let mut adopted = message(new_uid, 0);
    adopted.agent_description = Some(description("second", "vm-b"));
    ws_exchange(&mut second, &adopted).await;
    let snap = server
        .wait_for("two agents", |s| s.totals.connected == 2)
        .await;
    let service = |id| snap.get(&id).and_then(|a| a.description.service_name());
    assert_eq!(service(new_uid), Some("second"));
    assert_eq!(service(uid), Some("first"));

    let mut dups = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let EventKind::DuplicateInstanceUid {
            id,
            remote_addr,
            kept_addr,
            new_uid,
        } = ev.kind
        {
            dups.push((id, remote_addr.is_some(), kept_addr.is_some(), new_uid));
        }
    }
    assert_eq!(
        dups,
        vec![(uid, true, true, new_uid)],
        "one event, both addresses"
    );
    server.rt.stop().await;
}

/// An HTTP agent that does not take the heartbeat offer polls at its own pace (opamp-go's
/// 30 s, `fleetdeck agent --heartbeat`): it is timed out after three of its own polling
/// intervals, not the offered heartbeat's (issue 30, item 3).
#[tokio::test]
async fn an_http_agent_polling_slower_than_the_offer_stays_connected() {
    let server = TestServer::start_with(|s| {
        s.heartbeat_interval = Duration::from_secs(1);
        s.http_agent_timeout = Duration::from_secs(1);
    })
    .await;
    let url = server.http_url();
    let id = AgentId::new_v7();
    let mut first = message(id, 0);
    // ReportsStatus only: it takes no connection settings, so it never learns the 1 s.
    first.capabilities = 0x1;
    first.agent_description = Some(description("slow-poller", "slow-1"));
    http_exchange(&url, &first).await;
    let connected = |server: &TestServer| {
        server
            .rt
            .registry
            .snapshot()
            .borrow()
            .get(&id)
            .is_some_and(|a| a.is_connected())
    };
    for seq in 1..=3 {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        // Silent for 2.5 s against a configured 1 s: still there once its pace is known.
        if seq > 1 {
            assert!(connected(&server), "timed out before poll {seq}");
        }
        let mut poll = message(id, seq);
        poll.capabilities = 0x1;
        http_exchange(&url, &poll).await;
    }
    assert!(connected(&server));
    // It stops polling: gone within a few of its own intervals, as missed heartbeats.
    server
        .wait_for("the silent poller is timed out", |s| {
            s.get(&id).is_some_and(|a| !a.is_connected())
        })
        .await;
    server.rt.stop().await;
}
