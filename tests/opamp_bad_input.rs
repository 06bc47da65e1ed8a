//! Hostile or broken input: each case gets a clear refusal, and the server keeps serving
//! a healthy agent connected alongside.

mod common;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::opamp::body::gzip;
use fleetdeck::opamp::proto;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message;

const BAD_REQUEST: i32 = proto::ServerErrorResponseType::BadRequest as i32;

/// A well-behaved agent that must keep getting answers whatever others send.
struct Bystander {
    ws: Ws,
    uid: AgentId,
    seq: u64,
}

impl Bystander {
    async fn join(server: &TestServer) -> Bystander {
        let mut b = Bystander {
            ws: ws_agent(server).await,
            uid: AgentId::new_v7(),
            seq: 0,
        };
        let mut m = message(b.uid, 0);
        m.agent_description = Some(description("bystander", "calm"));
        ws_exchange(&mut b.ws, &m).await;
        b
    }

    async fn still_served(&mut self) {
        self.seq += 1;
        let reply = ws_exchange(&mut self.ws, &message(self.uid, self.seq)).await;
        assert_eq!(reply.instance_uid, self.uid.as_bytes().to_vec());
        assert!(reply.error_response.is_none());
    }
}

async fn expect_bad_request(ws: &mut Ws, frame: Vec<u8>, mentions: &str) {
    ws.send(Message::Binary(frame.into())).await.unwrap();
    let reply = ws_recv(ws).await;
    let err = reply.error_response.expect("an error response");
    assert_eq!(err.r#type, BAD_REQUEST);
    assert!(
        err.error_message.contains(mentions),
        "'{}' should mention '{mentions}'",
        err.error_message
    );
}

#[tokio::test]
async fn malformed_websocket_frames_get_bad_request_and_the_connection_lives_on() {
    let server = TestServer::start().await;
    let mut calm = Bystander::join(&server).await;
    let mut ws = ws_agent(&server).await;

    // Garbage after a valid header.
    expect_bad_request(&mut ws, vec![0, 0xff, 0xff, 0xff, 0x07], "protobuf").await;
    // A truncated message: the length prefix of field 3 promises more than is there.
    let mut truncated = vec![0u8];
    let mut m = message(AgentId::new_v7(), 0);
    m.agent_description = Some(description("cut", "short"));
    m.encode(&mut truncated).unwrap();
    truncated.truncate(truncated.len() - 5);
    expect_bad_request(&mut ws, truncated, "protobuf").await;
    // A non-zero header.
    expect_bad_request(&mut ws, vec![0x81, 0x01, 0x0a, 0x00], "header").await;
    // A header varint that never ends.
    expect_bad_request(&mut ws, vec![0xff; 12], "header").await;
    // A uid of the wrong length.
    let mut bad_uid = message(AgentId::new_v7(), 0);
    bad_uid.instance_uid = vec![1, 2, 3];
    let mut frame = vec![0u8];
    bad_uid.encode(&mut frame).unwrap();
    expect_bad_request(&mut ws, frame, "instance_uid").await;
    // A text frame.
    ws.send(Message::Text("hello".into())).await.unwrap();
    let reply = ws_recv(&mut ws).await;
    assert!(
        reply
            .error_response
            .unwrap()
            .error_message
            .contains("binary")
    );

    // The same connection still works for a proper message, and so does everyone else.
    let uid = AgentId::new_v7();
    let ok = ws_exchange(&mut ws, &message(uid, 0)).await;
    assert_eq!(ok.instance_uid, uid.as_bytes().to_vec());
    calm.still_served().await;
    server.rt.stop().await;
}

#[tokio::test]
async fn oversized_websocket_message_is_closed_with_1009() {
    let server = TestServer::start_with(|s| s.max_message_size = 4096).await;
    let mut calm = Bystander::join(&server).await;
    let mut ws = ws_agent(&server).await;
    ws.send(Message::Binary(vec![0u8; 10_000].into()))
        .await
        .unwrap();
    let mut code = None;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Close(f) = msg {
            code = f.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(code, Some(1009));
    calm.still_served().await;
    server.rt.stop().await;
}

#[tokio::test]
async fn bad_http_requests_get_the_right_status_and_a_reason() {
    let server = TestServer::start_with(|s| s.max_message_size = 64 * 1024).await;
    let mut calm = Bystander::join(&server).await;
    let url = server.http_url();
    let auth = format!("Secret-Key {SECRET}");
    let pb = ("Content-Type", "application/x-protobuf");
    let valid = message(AgentId::new_v7(), 0).encode_to_vec();

    let cases: Vec<(&str, reqwest::Response, u16, &str)> = vec![
        (
            "garbage protobuf",
            http_post(
                &url,
                vec![0xff, 0xff, 0xff],
                &[pb, ("Authorization", &auth)],
            )
            .await,
            400,
            "protobuf",
        ),
        (
            "bad gzip",
            http_post(
                &url,
                b"definitely not gzip".to_vec(),
                &[pb, ("Authorization", &auth), ("Content-Encoding", "gzip")],
            )
            .await,
            400,
            "gzip",
        ),
        (
            "gzip bomb",
            http_post(
                &url,
                gzip(&vec![0u8; 50 * 1024 * 1024]),
                &[pb, ("Authorization", &auth), ("Content-Encoding", "gzip")],
            )
            .await,
            413,
            "limit",
        ),
        (
            "oversized body",
            http_post(&url, vec![0u8; 100 * 1024], &[pb, ("Authorization", &auth)]).await,
            413,
            "limit",
        ),
        (
            "unknown content encoding",
            http_post(
                &url,
                valid.clone(),
                &[pb, ("Authorization", &auth), ("Content-Encoding", "br")],
            )
            .await,
            415,
            "br",
        ),
        (
            "wrong content type",
            http_post(
                &url,
                valid.clone(),
                &[
                    ("Content-Type", "application/json"),
                    ("Authorization", &auth),
                ],
            )
            .await,
            415,
            "application/x-protobuf",
        ),
        (
            "missing secret",
            http_post(&url, valid.clone(), &[pb]).await,
            401,
            "secret",
        ),
        (
            "wrong method",
            http_client()
                .put(&url)
                .header("Authorization", &auth)
                .body(valid.clone())
                .send()
                .await
                .unwrap(),
            405,
            "PUT",
        ),
        (
            "plain GET without upgrade",
            http_client()
                .get(&url)
                .header("Authorization", &auth)
                .send()
                .await
                .unwrap(),
            400,
            "WebSocket",
        ),
        (
            "wrong path",
            http_post(
                &url.replace("/v1/opamp", "/v1/opam"),
                valid.clone(),
                &[pb, ("Authorization", &auth)],
            )
            .await,
            404,
            "/v1/opamp",
        ),
    ];
    for (what, resp, status, mentions) in cases {
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let text = resp.text().await.unwrap();
        assert!(
            text.contains(mentions),
            "{what}: '{text}' should mention '{mentions}'"
        );
    }
    calm.still_served().await;
    server.rt.stop().await;
}

#[tokio::test]
async fn agent_limit_refuses_newcomers_with_retry_after() {
    let server = TestServer::start_with(|s| s.max_agents = Some(1)).await;
    let _calm = Bystander::join(&server).await;
    server
        .wait_for("one connected", |s| s.totals.connected == 1)
        .await;
    match ws_connect(&server.ws_url(), Some(&format!("Secret-Key {SECRET}"))).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 503);
            assert!(resp.headers().contains_key("retry-after"));
        }
        other => panic!("expected 503, got {other:?}"),
    }
    server.rt.stop().await;
}

/// The next frame that is not an OpAMP message (a pong or a close), within 5 s.
async fn next_control(ws: &mut Ws) -> Message {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("connection open")
            .expect("a frame");
        if !matches!(msg, Message::Binary(_)) {
            return msg;
        }
    }
}

#[tokio::test]
async fn pings_fragmented_messages_and_closes_are_handled_as_rfc_6455_says() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};

    let server = TestServer::start().await;
    let mut ws = ws_agent(&server).await;

    ws.send(Message::Ping(b"still there?".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        next_control(&mut ws).await,
        Message::Pong(b"still there?".to_vec().into())
    );

    // One OpAMP message sent in three fragments, with a ping between two of them.
    let uid = AgentId::new_v7();
    let mut bytes = vec![0u8];
    let mut m = message(uid, 0);
    m.agent_description = Some(description("otelcol", "pieces"));
    m.encode(&mut bytes).unwrap();
    let (first, rest) = bytes.split_at(3);
    let (second, third) = rest.split_at(rest.len() / 2);
    let binary = OpCode::Data(Data::Binary);
    let more = OpCode::Data(Data::Continue);
    for frame in [
        Message::Frame(Frame::message(first.to_vec(), binary, false)),
        Message::Ping(b"mid".to_vec().into()),
        Message::Frame(Frame::message(second.to_vec(), more, false)),
        Message::Frame(Frame::message(third.to_vec(), more, true)),
    ] {
        ws.send(frame).await.unwrap();
    }
    let reply = ws_recv(&mut ws).await;
    assert_eq!(reply.instance_uid, uid.as_bytes().to_vec());
    assert!(reply.error_response.is_none(), "{reply:?}");
    let mut listed = None;
    for _ in 0..50 {
        let snapshot = server.rt.registry.snapshot().borrow().clone();
        listed = snapshot.get(&uid).map(|a| a.name.to_string());
        if listed.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(listed.as_deref(), Some("pieces"));

    // The agent's close is answered with a close carrying its code.
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    let Message::Close(Some(answer)) = next_control(&mut ws).await else {
        panic!("a close with a code");
    };
    assert_eq!(answer.code, CloseCode::Normal);
    server.rt.stop().await;
}

/// A client whose frames are not masked breaks the protocol: it is closed with 1002, and
/// told why (read off the wire: no client library sends such frames).
#[tokio::test]
async fn an_unmasked_client_frame_is_closed_with_1002() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start().await;
    let mut calm = Bystander::join(&server).await;
    let addr = server
        .ws_url()
        .trim_start_matches("ws://")
        .replace("/v1/opamp", "");
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "GET /v1/opamp HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Secret-Key {SECRET}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // A binary frame holding one byte (an empty OpAMP message), without a mask.
    tcp.write_all(&[0x82, 0x01, 0x00]).await.unwrap();
    let mut answer = vec![0u8; 2];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer[0], 0x88, "a close frame: {answer:02x?}");
    let mut payload = vec![0u8; usize::from(answer[1])];
    tcp.read_exact(&mut payload).await.unwrap();
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1002);
    let reason = String::from_utf8_lossy(&payload[2..]);
    assert!(reason.contains("masked"), "{reason}");
    calm.still_served().await;
    server.rt.stop().await;
}

/// A report that would decode into far more than it weighs (60,000 empty attributes, 2
/// bytes each on the wire, ~60 bytes each decoded) is refused before it is decoded, over
/// both transports, naming why; the WebSocket connection lives on and nothing is stored.
#[tokio::test]
async fn a_report_of_too_many_parts_is_refused_before_decoding() {
    let server = TestServer::start().await;
    let mut calm = Bystander::join(&server).await;
    let uid = AgentId::new_v7();
    let mut swollen = message(uid, 0);
    swollen.health = Some(proto::ComponentHealth {
        attributes: vec![proto::KeyValue::default(); 60_000],
        ..Default::default()
    });
    let payload = swollen.encode_to_vec();
    assert!(
        payload.len() < 200_000,
        "small on the wire: {} bytes",
        payload.len()
    );

    let mut ws = ws_agent(&server).await;
    let mut frame = vec![0u8];
    frame.extend_from_slice(&payload);
    expect_bad_request(&mut ws, frame, "parts").await;
    let ok = ws_exchange(&mut ws, &message(uid, 1)).await;
    assert!(ok.error_response.is_none(), "the connection lives on");

    let auth = format!("Secret-Key {SECRET}");
    let resp = http_post(
        &server.http_url(),
        payload,
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Authorization", &auth),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 413);
    assert!(resp.text().await.unwrap().contains("parts"));

    let snap = server
        .wait_for("the agent's later message", |s| s.get(&uid).is_some())
        .await;
    let stored = snap.get(&uid).expect("published");
    assert!(
        stored.description.non_identifying.is_empty(),
        "nothing of the refused report was stored"
    );
    calm.still_served().await;
    server.rt.stop().await;
}

/// An agent may not make the server hold megabytes about it: an attribute of 1 MiB, or an
/// effective configuration of 3 MiB, is refused saying what and how large, the agent is
/// not recorded, an event says so, and the connection and the fleet go on.
#[tokio::test]
async fn what_an_agent_says_about_itself_is_capped_with_a_clear_error() {
    let server = TestServer::start().await;
    let mut events = server.rt.registry.subscribe();
    let mut calm = Bystander::join(&server).await;
    let uid = AgentId::new_v7();
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("big", &"h".repeat(1 << 20)));
    let mut frame = vec![0u8];
    frame.extend_from_slice(&hello.encode_to_vec());
    let mut ws = ws_agent(&server).await;
    expect_bad_request(&mut ws, frame, "the agent description is").await;
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("big", &"h".repeat(5 << 10)));
    let mut frame = vec![0u8];
    frame.extend_from_slice(&hello.encode_to_vec());
    expect_bad_request(
        &mut ws,
        frame,
        "an attribute value is 5120 bytes; at most 4096",
    )
    .await;

    let mut big_config = message(uid, 0);
    big_config.agent_description = Some(description("big", "h"));
    big_config.effective_config = Some(proto::EffectiveConfig {
        config_map: Some(proto::AgentConfigMap {
            config_map: [(
                "collector.yaml".to_string(),
                proto::AgentConfigFile {
                    body: vec![b'x'; 3 << 20],
                    content_type: "text/yaml".into(),
                },
            )]
            .into(),
        }),
    });
    let mut frame = vec![0u8];
    frame.extend_from_slice(&big_config.encode_to_vec());
    expect_bad_request(&mut ws, frame, "the effective configuration is").await;

    // Within the caps, the same agent is taken on, on the same connection.
    let mut fine = message(uid, 0);
    fine.agent_description = Some(description("big", "h"));
    let ok = ws_exchange(&mut ws, &fine).await;
    assert!(ok.error_response.is_none());
    let snap = server
        .wait_for("the agent, once", |s| s.get(&uid).is_some())
        .await;
    assert_eq!(snap.get(&uid).map(|a| a.host.len()), Some(1));
    let mut notices = 0;
    while let Ok(ev) = events.try_recv() {
        if let fleetdeck::fleet::EventKind::Notice { message, .. } = ev.kind
            && message.contains("at most")
        {
            notices += 1;
        }
    }
    assert_eq!(notices, 3, "an event for each refusal");
    calm.still_served().await;
    server.rt.stop().await;
}
