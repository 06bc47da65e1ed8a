//! Shared helpers for integration tests: a real server on 127.0.0.1:0 and small OpAMP
//! clients built from our own wire types.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use fleetdeck::fleet::{AgentId, FleetSnapshot};
use fleetdeck::opamp::proto;
use fleetdeck::runtime::Runtime;
use fleetdeck::settings::Settings;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub mod cli;
pub mod collector;
pub mod headless;
pub mod pg;
pub mod pki;
pub mod stores;
pub mod tmux;

pub const SECRET: &str = "test-secret-4d1f";

/// A destination and a configuration named `edge` that sends to it: the smallest
/// resources that render and can be pushed.
pub const EDGE: &str = r#"apiVersion: fleetdeck/v1
kind: Destination
metadata: {name: central}
spec:
  type: otlphttp
  parameters: {endpoint: "https://central.example.net:4318"}
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: edge}
spec:
  sources: [{type: otlp}]
  destinations: [{name: central}]
"#;

/// The Python that has the third-party OpAMP client (`../shared/peers/setup.sh`), or
/// `None` with a line saying the test is skipped; under CI a missing peer fails.
pub fn peer_python() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("FLEETDECK_PEER_PYTHON")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            Some(std::path::PathBuf::from(home).join(".cache/fleet-peers/venv/bin/python"))
        })
        .filter(|p| p.exists());
    if found.is_none() {
        let msg =
            "the third-party OpAMP peer is not installed (run: bash ../shared/peers/setup.sh)";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}
/// The management API token `Settings::ephemeral` derives from [`SECRET`].
pub const API_TOKEN: &str = "test-secret-4d1f-api";

pub struct TestServer {
    pub rt: Runtime,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::ephemeral(dir.path(), SECRET);
        tweak(&mut settings);
        let rt = Runtime::start(&settings).await.expect("server starts");
        TestServer { rt, dir }
    }

    pub fn ws_url(&self) -> String {
        self.rt.opamp_url(true)
    }

    pub fn http_url(&self) -> String {
        self.rt.opamp_url(false)
    }

    /// Base URL of the management API, e.g. `http://127.0.0.1:40123`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.rt.api_addr)
    }

    /// Waits until `pred` holds for a published snapshot (or fails after 15 s).
    pub async fn wait_for(
        &self,
        what: &str,
        pred: impl Fn(&FleetSnapshot) -> bool,
    ) -> Arc<FleetSnapshot> {
        let mut rx = self.rt.registry.snapshot();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let snap = rx.borrow_and_update().clone();
            if pred(&snap) {
                return snap;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!(
                    "timed out waiting for: {what}; last snapshot: {:#?}",
                    snap.agents
                );
            }
        }
    }
}

pub fn kv(key: &str, value: &str) -> proto::KeyValue {
    proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue {
            value: Some(proto::any_value::Value::StringValue(value.into())),
        }),
    }
}

pub fn description(name: &str, host: &str) -> proto::AgentDescription {
    proto::AgentDescription {
        identifying_attributes: vec![kv("service.name", name), kv("service.version", "0.115.0")],
        non_identifying_attributes: vec![kv("host.name", host), kv("os.type", "linux")],
    }
}

/// Capabilities of a supervisor-managed Collector that reports heartbeats.
pub const CAPS: u64 = 0x1 | 0x2 | 0x4 | 0x800 | 0x1000 | 0x2000;

pub fn message(uid: AgentId, seq: u64) -> proto::AgentToServer {
    proto::AgentToServer {
        instance_uid: uid.as_bytes().to_vec(),
        sequence_num: seq,
        capabilities: CAPS,
        ..Default::default()
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn ws_connect(
    url: &str,
    auth: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request()?;
    if let Some(a) = auth {
        req.headers_mut()
            .insert("Authorization", a.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

pub async fn ws_agent(server: &TestServer) -> Ws {
    ws_connect(&server.ws_url(), Some(&format!("Secret-Key {SECRET}")))
        .await
        .expect("agent connects")
}

/// Sends one AgentToServer with the 0x00 header and returns the decoded answer.
pub async fn ws_exchange(ws: &mut Ws, msg: &proto::AgentToServer) -> proto::ServerToAgent {
    let mut frame = vec![0u8];
    msg.encode(&mut frame).expect("encode");
    ws.send(Message::Binary(frame.into())).await.expect("send");
    ws_recv(ws).await
}

pub async fn ws_recv(ws: &mut Ws) -> proto::ServerToAgent {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an answer within 5 s")
            .expect("connection open")
            .expect("a frame");
        if let Message::Binary(data) = next {
            assert_eq!(data[0], 0, "server frames start with the 0x00 header");
            return proto::ServerToAgent::decode(&data[1..]).expect("decodable ServerToAgent");
        }
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client")
}

pub async fn http_post(url: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = http_client().post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request sent")
}

pub async fn http_exchange(url: &str, msg: &proto::AgentToServer) -> proto::ServerToAgent {
    let auth = format!("Secret-Key {SECRET}");
    let resp = http_post(
        url,
        msg.encode_to_vec(),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Authorization", &auth),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200, "status");
    let bytes = resp.bytes().await.expect("body");
    proto::ServerToAgent::decode(bytes.as_ref()).expect("decodable ServerToAgent")
}

/// Applies resources in-process, asserting the first has no problems; its new version.
pub async fn apply_ok(rt: &Runtime, yaml: &str) -> u64 {
    let results = rt.catalog.apply_text(yaml, None).await.expect("parses");
    assert!(results[0].problems.is_empty(), "{results:?}");
    results[0].version.expect("a version")
}

/// Polls a rollout's status until `pred` holds (or fails after `within`, showing it).
pub async fn wait_rollout(
    rt: &Runtime,
    name: &str,
    what: &str,
    within: Duration,
    pred: impl Fn(&fleetdeck::rollout::RolloutView) -> bool,
) -> fleetdeck::rollout::RolloutView {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(v) = rt.rollouts.status(name).await
            && pred(&v)
        {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}: {:?}",
            rt.rollouts
                .status(name)
                .await
                .map(|v| (v.status, v.progress, v.agents))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stored events as JSON text once `done` holds for it (written behind, so polled;
/// fails after 10 s showing them).
pub async fn wait_events(server: &TestServer, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events: serde_json::Value = http_client()
            .get(format!("{}/api/v1/events?limit=500", server.api_url()))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        let text = events.to_string();
        if done(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no events with {what} in {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
