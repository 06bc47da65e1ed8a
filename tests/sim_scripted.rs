//! The parts of a simulated agent our server cannot drive yet (remote configuration,
//! own-metrics offers, UNAVAILABLE with retry_info, 503 + Retry-After), exercised over
//! real sockets against small scripted OpAMP peers that play the server's side.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use futures_util::{SinkExt, StreamExt};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use fleetdeck::args::SimTransport;
use fleetdeck::opamp::proto;
use fleetdeck::sim::{self, SimConfig};

const KEY: &str = "scripted-key";
const APPLYING: i32 = proto::RemoteConfigStatuses::Applying as i32;
const APPLIED: i32 = proto::RemoteConfigStatuses::Applied as i32;
const FAILED: i32 = proto::RemoteConfigStatuses::Failed as i32;

const LOGS_ONLY: &str = "receivers:\n  filelog: {include: [/var/log/*.log]}\nprocessors:\n  batch: {}\nexporters:\n  otlphttp: {endpoint: http://127.0.0.1:1}\nservice:\n  pipelines:\n    logs:\n      receivers: [filelog]\n      processors: [batch]\n      exporters: [otlphttp]\n";

fn config_for(agent: &[u8], body: &str, hash: u8) -> proto::ServerToAgent {
    proto::ServerToAgent {
        instance_uid: agent.to_vec(),
        remote_config: Some(proto::AgentRemoteConfig {
            config: Some(proto::AgentConfigMap {
                config_map: HashMap::from([(
                    "collector.yaml".to_string(),
                    proto::AgentConfigFile {
                        body: body.as_bytes().to_vec(),
                        content_type: "text/yaml".into(),
                    },
                )]),
            }),
            config_hash: vec![hash; 32],
        }),
        ..Default::default()
    }
}

fn quick(url: String, transport: SimTransport) -> SimConfig {
    let mut cfg = SimConfig::new(url, 1);
    cfg.transport = transport;
    cfg.secret_key = Some(KEY.into());
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(100);
    cfg.metrics_interval = Duration::from_millis(300);
    cfg.backoff_initial = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(200);
    cfg
}

// ------------------------------------------------------------ a scripted WebSocket peer

type Ws = WebSocketStream<TcpStream>;

// The handshake callback's error type is tungstenite's, large by design.
#[allow(clippy::result_large_err)]
async fn accept(listener: &TcpListener) -> Ws {
    let (tcp, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("agent connects within 5 s")
        .expect("accept");
    tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some(format!("Secret-Key {KEY}").as_str()));
        Ok(resp)
    })
    .await
    .expect("WebSocket handshake")
}

async fn recv(ws: &mut Ws) -> proto::AgentToServer {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("open")
            .expect("frame");
        if let Message::Binary(data) = frame {
            assert_eq!(data[0], 0, "0x00 varint header");
            return proto::AgentToServer::decode(&data[1..]).expect("AgentToServer");
        }
    }
}

async fn send(ws: &mut Ws, msg: &proto::ServerToAgent) {
    let mut frame = vec![0u8];
    msg.encode(&mut frame).expect("encode");
    ws.send(Message::Binary(frame.into())).await.expect("send");
}

/// Reads until a remote config status for `hash` other than APPLYING arrives, returning
/// every status seen on the way.
async fn statuses_until_done(ws: &mut Ws, hash: u8) -> Vec<proto::RemoteConfigStatus> {
    let mut seen = Vec::new();
    loop {
        let msg = recv(ws).await;
        if let Some(st) = msg.remote_config_status {
            assert_eq!(st.last_remote_config_hash, vec![hash; 32]);
            let done = st.status != APPLYING;
            seen.push(st);
            if done {
                return seen;
            }
        }
    }
}

/// Receives own-metrics pushes.
async fn metrics_sink() -> (String, mpsc::Receiver<(HeaderMap, Bytes)>) {
    async fn take(
        State(tx): State<mpsc::Sender<(HeaderMap, Bytes)>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let _ = tx.send((headers, body)).await;
        StatusCode::OK
    }
    let (tx, rx) = mpsc::channel(16);
    let app = Router::new()
        .route("/v1/metrics", post(take))
        .with_state(tx);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1/metrics"), rx)
}

fn metric_names(req: &ExportMetricsServiceRequest) -> Vec<String> {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.clone())
        .collect()
}

#[tokio::test]
async fn websocket_agent_checks_applies_reports_and_pushes_metrics() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/v1/opamp", listener.local_addr().expect("addr"));
    let (metrics_url, mut pushes) = metrics_sink().await;
    let fleet = sim::start(quick(url, SimTransport::Ws))
        .await
        .expect("fleet");
    let mut ws = accept(&listener).await;

    let hello = recv(&mut ws).await;
    let uid = hello.instance_uid.clone();
    assert_eq!(hello.sequence_num, 0);
    assert!(hello.agent_description.is_some() && hello.health.is_some());

    // 1. A configuration exporting to a component it never defines: FAILED, named.
    let bad = LOGS_ONLY.replace(
        "exporters: [otlphttp]",
        "exporters: [otlphttp, kafka/audit]",
    );
    let mut offer = config_for(&uid, &bad, 1);
    offer.connection_settings = Some(proto::ConnectionSettingsOffers {
        hash: vec![9; 32],
        own_metrics: Some(proto::TelemetryConnectionSettings {
            destination_endpoint: metrics_url,
            headers: Some(proto::Headers {
                headers: vec![proto::Header {
                    key: "x-fleet-token".into(),
                    value: "t0k".into(),
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    send(&mut ws, &offer).await;
    let seen = statuses_until_done(&mut ws, 1).await;
    assert_eq!(seen.first().map(|s| s.status), Some(APPLYING));
    let failed = seen.last().expect("final status");
    assert_eq!(failed.status, FAILED);
    assert!(
        failed.error_message.contains("\"kafka/audit\"")
            && failed.error_message.contains("pipelines.logs"),
        "{}",
        failed.error_message
    );

    // 2. The same hash again is not applied again: the next message is a plain heartbeat.
    send(&mut ws, &config_for(&uid, &bad, 1)).await;
    let next = recv(&mut ws).await;
    assert!(
        next.remote_config_status.is_none(),
        "re-applied the same hash: {next:?}"
    );

    // 3. A valid configuration: APPLYING, APPLIED, then effective config and health follow it.
    send(&mut ws, &config_for(&uid, LOGS_ONLY, 2)).await;
    let seen = statuses_until_done(&mut ws, 2).await;
    assert_eq!(seen.last().map(|s| s.status), Some(APPLIED));
    assert_eq!(fleet.stats().configs_applied, 1);
    assert_eq!(fleet.stats().configs_failed, 1);

    // 4. Own metrics follow the applied configuration: logs, no spans.
    let deadline = Instant::now() + Duration::from_secs(5);
    let names = loop {
        let (headers, body) = tokio::time::timeout(Duration::from_secs(5), pushes.recv())
            .await
            .expect("a push within 5 s")
            .expect("push");
        assert_eq!(
            headers.get("x-fleet-token").map(|v| v.as_bytes()),
            Some(&b"t0k"[..])
        );
        let req = ExportMetricsServiceRequest::decode(body).expect("OTLP protobuf");
        let names = metric_names(&req);
        if names
            .iter()
            .any(|n| n == "otelcol_receiver_accepted_log_records")
            || Instant::now() > deadline
        {
            break names;
        }
    };
    assert!(
        names.contains(&"otelcol_receiver_accepted_log_records".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"otelcol_process_cpu_seconds".to_string()),
        "{names:?}"
    );

    // 5. ReportFullState: everything again, with the applied configuration in it.
    send(
        &mut ws,
        &proto::ServerToAgent {
            instance_uid: uid.clone(),
            flags: proto::ServerToAgentFlags::ReportFullState as u64,
            ..Default::default()
        },
    )
    .await;
    let full = loop {
        let m = recv(&mut ws).await;
        if m.agent_description.is_some() {
            break m;
        }
    };
    let effective = full
        .effective_config
        .and_then(|e| e.config_map)
        .expect("effective config");
    assert_eq!(effective.config_map[""].body, LOGS_ONLY.as_bytes());
    let health = full.health.expect("health");
    assert!(health.component_health_map.contains_key("pipeline:logs"));
    assert!(!health.component_health_map.contains_key("pipeline:traces"));
    assert!(
        health.component_health_map["pipeline:logs"]
            .component_health_map
            .contains_key("exporter:otlphttp")
    );

    // 6. UNAVAILABLE with retry_info: goodbye now, back no sooner than asked.
    send(
        &mut ws,
        &proto::ServerToAgent {
            instance_uid: uid.clone(),
            error_response: Some(proto::ServerErrorResponse {
                r#type: proto::ServerErrorResponseType::Unavailable as i32,
                error_message: "draining".into(),
                details: Some(proto::server_error_response::Details::RetryInfo(
                    proto::RetryInfo {
                        retry_after_nanoseconds: 1_000_000_000,
                    },
                )),
            }),
            ..Default::default()
        },
    )
    .await;
    let told = Instant::now();
    let bye = recv(&mut ws).await;
    assert!(bye.agent_disconnect.is_some());
    drop(ws);
    let mut ws = accept(&listener).await;
    assert!(
        told.elapsed() >= Duration::from_millis(950),
        "came back after {:?}",
        told.elapsed()
    );
    let again = recv(&mut ws).await;
    assert_eq!(again.instance_uid, uid);
    assert!(
        again.sequence_num > bye.sequence_num,
        "same process: sequence continues"
    );
    assert!(
        again.agent_description.is_some(),
        "full state on a new connection"
    );
    let status = again.remote_config_status.expect("status kept");
    assert_eq!(
        (status.status, status.last_remote_config_hash),
        (APPLIED, vec![2; 32])
    );

    let stats = fleet.shutdown().await;
    assert_eq!(stats.throttled, 1);
}

// ------------------------------------------------------------ a scripted plain-HTTP peer

#[derive(Default)]
struct HttpScript {
    requests: Vec<(Instant, HeaderMap, proto::AgentToServer)>,
}

async fn opamp_http(
    State(script): State<Arc<Mutex<HttpScript>>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let gzipped = headers.get("content-encoding").is_some_and(|v| v == "gzip");
    let raw = if gzipped {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
            .expect("gzip body");
        out
    } else {
        body.to_vec()
    };
    let msg = proto::AgentToServer::decode(raw.as_slice()).expect("AgentToServer");
    let mut script = script.lock().await;
    script.requests.push((Instant::now(), headers, msg.clone()));
    match script.requests.len() {
        // Busy at first: come back in a second.
        1 => (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")]).into_response(),
        // Then queue a configuration on the agent's next poll.
        2 => config_for(&msg.instance_uid, LOGS_ONLY, 5)
            .encode_to_vec()
            .into_response(),
        _ => proto::ServerToAgent {
            instance_uid: msg.instance_uid,
            ..Default::default()
        }
        .encode_to_vec()
        .into_response(),
    }
}

#[tokio::test]
async fn http_agent_honours_retry_after_and_applies_a_queued_config() {
    let script = Arc::new(Mutex::new(HttpScript::default()));
    let app = Router::new()
        .route("/v1/opamp", post(opamp_http))
        .with_state(script.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1/opamp", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut cfg = quick(url, SimTransport::Http);
    cfg.http_gzip = true;
    let fleet = sim::start(cfg).await.expect("fleet");
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let done = script.lock().await.requests.iter().any(|(_, _, m)| {
            m.remote_config_status
                .as_ref()
                .is_some_and(|s| s.status == APPLIED)
        });
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "no APPLIED within 8 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = fleet.shutdown().await;
    let script = script.lock().await;
    let reqs = &script.requests;
    assert!(
        reqs[1].0 - reqs[0].0 >= Duration::from_millis(950),
        "Retry-After honoured"
    );
    let (_, headers, first) = &reqs[0];
    assert_eq!(
        headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/x-protobuf"[..])
    );
    assert_eq!(
        headers.get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    let uid_text = uuid::Uuid::from_slice(&first.instance_uid)
        .expect("uid")
        .to_string();
    assert_eq!(
        headers
            .get("opamp-instance-uid")
            .and_then(|v| v.to_str().ok()),
        Some(uid_text.as_str())
    );
    // The reply with the configuration is answered at once with APPLYING, not at the next poll.
    let applying = reqs
        .iter()
        .position(|(_, _, m)| {
            m.remote_config_status
                .as_ref()
                .is_some_and(|s| s.status == APPLYING)
        })
        .expect("APPLYING reported");
    assert!(reqs[applying].0 - reqs[1].0 < Duration::from_millis(500));
    assert!(
        reqs.last()
            .is_some_and(|(_, _, m)| m.agent_disconnect.is_some()),
        "goodbye POST"
    );
    assert_eq!((stats.throttled, stats.configs_applied), (1, 1));
}
