//! The OTLP receiver served by axum on 127.0.0.1:0 and posted to with a real HTTP client.

use std::io::Write;
use std::sync::Arc;
use std::time::SystemTime;

use fleetdeck::fleet::snapshot::FleetTotals;
use fleetdeck::fleet::telemetry::{Series, Signal, TelemetryStore};
use fleetdeck::fleet::{AgentId, AgentView, FleetSnapshot};
use fleetdeck::otlp::collector_metrics::{Counts, Export};
use fleetdeck::otlp::{self, Limits, OtlpState, token};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use prost::Message;
use reqwest::StatusCode;

const SECRET: &[u8] = b"agent-secret-for-tests";
const S: u64 = 1_000_000_000;
/// Agent clock at the first export (rates depend only on differences).
const T: u64 = 1_700_000_000;

fn view(id: AgentId) -> Arc<AgentView> {
    Arc::new(AgentView::blank(id))
}

struct Server {
    base: String,
    state: OtlpState,
    telemetry: TelemetryStore,
    http: reqwest::Client,
    _fleet: tokio::sync::watch::Sender<Arc<FleetSnapshot>>,
}

async fn serve(members: &[AgentId], limits: Limits) -> Server {
    serve_views(members.iter().map(|id| view(*id)).collect(), limits).await
}

async fn serve_views(mut agents: Vec<Arc<AgentView>>, limits: Limits) -> Server {
    agents.sort_by_key(|a| a.id);
    let snapshot = FleetSnapshot {
        version: 1,
        taken_at: Some(SystemTime::now()),
        totals: FleetTotals::default(),
        agents,
    };
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(snapshot));
    let telemetry = TelemetryStore::new();
    let mut state = OtlpState::new(SECRET, rx, telemetry.clone());
    state.limits = limits;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let app = otlp::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        base: format!("http://{addr}"),
        state,
        telemetry,
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
        _fleet: tx,
    }
}

fn export(id: AgentId, start: u64, time: u64, temporality: AggregationTemporality) -> Export {
    Export {
        instance: id,
        start_ns: start * S,
        time_ns: time * S,
        temporality,
        receivers: 2,
        exporters: 3,
    }
}

fn counts(spans_in: u64, spans_out: u64, logs_in: u64, cpu: f64) -> Counts {
    Counts {
        accepted: [logs_in, 0, spans_in],
        sent: [0, 0, spans_out],
        send_failed: [0, 0, 0],
        cpu_seconds: cpu,
        memory_rss: 64 << 20,
    }
}

impl Server {
    async fn post(
        &self,
        path: &str,
        auth: Option<&str>,
        ctype: &str,
        gzip: bool,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", ctype);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        if gzip {
            req = req.header("content-encoding", "gzip");
        }
        req.body(body)
            .send()
            .await
            .expect("request reaches the server")
    }

    async fn post_metrics(
        &self,
        token: &str,
        e: &Export,
        c: &Counts,
    ) -> ExportMetricsServiceResponse {
        let body = e.request(c).encode_to_vec();
        let resp = self
            .post(
                "/v1/metrics",
                Some(&format!("Bearer {token}")),
                "application/x-protobuf",
                false,
                body,
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = resp.bytes().await.expect("reply body");
        ExportMetricsServiceResponse::decode(bytes)
            .expect("reply is an ExportMetricsServiceResponse")
    }

    fn latest(&self, id: &AgentId, s: Series) -> Option<f64> {
        self.telemetry.latest(id, s)
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

#[tokio::test]
async fn cumulative_counters_become_rates_on_the_tokens_agent() {
    let a = AgentId::new_v7();
    let srv = serve(&[a], Limits::default()).await;
    let token = token::issue(SECRET, &a);
    let cum = AggregationTemporality::Cumulative;

    // The collector started an hour before: the first export is only a baseline.
    let reply = srv
        .post_metrics(
            &token,
            &export(a, T - 3600, T, cum),
            &counts(3000, 2900, 0, 100.0),
        )
        .await;
    assert_eq!(reply.partial_success, None);
    assert_eq!(srv.latest(&a, Series::In(Signal::Traces)), None);
    assert_eq!(srv.latest(&a, Series::Memory), Some(f64::from(64u32 << 20)));

    // 10 s later: +600 spans in (60/s), +500 out (50/s), +2.5 CPU seconds (0.25 cores).
    srv.post_metrics(
        &token,
        &export(a, T - 3600, T + 10, cum),
        &counts(3600, 3400, 0, 102.5),
    )
    .await;
    assert_eq!(srv.latest(&a, Series::In(Signal::Traces)), Some(60.0));
    assert_eq!(srv.latest(&a, Series::Out(Signal::Traces)), Some(50.0));
    assert_eq!(srv.latest(&a, Series::Failed(Signal::Traces)), Some(0.0));
    assert_eq!(srv.latest(&a, Series::Cpu), Some(0.25));
    let mut tail = Vec::new();
    srv.telemetry.fleet_tail(
        Series::In(Signal::Traces),
        fleetdeck::fleet::telemetry::Resolution::Second,
        1,
        &mut tail,
    );
    assert_eq!(tail, vec![60.0]);
    assert_eq!(srv.telemetry.agents_reporting(), 1);
}

#[tokio::test]
async fn counter_reset_starts_over_instead_of_going_negative() {
    let a = AgentId::new_v7();
    let srv = serve(&[a], Limits::default()).await;
    let token = token::issue(SECRET, &a);
    let cum = AggregationTemporality::Cumulative;
    srv.post_metrics(
        &token,
        &export(a, T - 3600, T, cum),
        &counts(5000, 0, 0, 0.0),
    )
    .await;
    srv.post_metrics(
        &token,
        &export(a, T - 3600, T + 10, cum),
        &counts(5100, 0, 0, 0.0),
    )
    .await;
    assert_eq!(srv.latest(&a, Series::In(Signal::Traces)), Some(10.0));
    // Restarted at T+15; 200 spans by T+20: 40/s since the restart.
    srv.post_metrics(
        &token,
        &export(a, T + 15, T + 20, cum),
        &counts(200, 0, 0, 0.0),
    )
    .await;
    assert_eq!(srv.latest(&a, Series::In(Signal::Traces)), Some(40.0));
    // And 300 more in the next 10 s.
    srv.post_metrics(
        &token,
        &export(a, T + 15, T + 30, cum),
        &counts(500, 0, 0, 0.0),
    )
    .await;
    assert_eq!(srv.latest(&a, Series::In(Signal::Traces)), Some(30.0));
}

#[tokio::test]
async fn gzip_json_delta_export_with_the_fleet_secret_is_attributed_by_instance_id() {
    let a = AgentId::new_v7();
    let srv = serve(&[a], Limits::default()).await;
    let delta = AggregationTemporality::Delta;
    // 500 log records in 10 s, then 200 in the next 10 s.
    for (from, n, rate) in [(T, 500, 50.0), (T + 10, 200, 20.0)] {
        let req = export(a, from, from + 10, delta).request(&counts(0, 0, n, 0.0));
        let json = serde_json::to_vec(&req).expect("request serialises");
        let resp = srv
            .post(
                "/v1/metrics",
                Some("Secret-Key agent-secret-for-tests"),
                "application/json",
                true,
                gzip(&json),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.text().await.expect("reply"), "{}");
        assert_eq!(srv.latest(&a, Series::In(Signal::Logs)), Some(rate));
    }
}

#[tokio::test]
async fn unknown_or_missing_credentials_are_refused() {
    let a = AgentId::new_v7();
    let srv = serve(&[a], Limits::default()).await;
    let body = export(a, T - 60, T, AggregationTemporality::Cumulative)
        .request(&counts(10, 10, 10, 1.0))
        .encode_to_vec();
    let foreign = format!("Bearer {}", token::issue(b"another server's secret", &a));
    for auth in [
        None,
        Some(foreign.as_str()),
        Some("Bearer not-a-token"),
        Some("Basic dXNlcjpwdw=="),
    ] {
        let resp = srv
            .post(
                "/v1/metrics",
                auth,
                "application/x-protobuf",
                false,
                body.clone(),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(resp.headers().contains_key("www-authenticate"));
    }
    assert_eq!(srv.latest(&a, Series::Memory), None);
    assert_eq!(srv.state.stats.snapshot().unauthorized, 4);
}

/// An agent that ignores the headers offered with own_metrics (opamp-go's example agent)
/// gets 401 every time; the refusals are counted on the agent its requests name, with
/// why, for the agent detail, and end once its telemetry is accepted. Strangers'
/// requests are noted nowhere.
#[tokio::test]
async fn refused_own_telemetry_is_counted_on_the_agent_it_names() {
    let (a, stranger) = (AgentId::new_v7(), AgentId::new_v7());
    let srv = serve(&[a], Limits::default()).await;
    let body = |id| {
        export(id, T - 60, T, AggregationTemporality::Cumulative)
            .request(&counts(10, 10, 10, 1.0))
            .encode_to_vec()
    };
    for _ in 0..3 {
        let resp = srv
            .post(
                "/v1/metrics",
                None,
                "application/x-protobuf",
                false,
                body(a),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = srv
        .telemetry
        .refusals()
        .get(&a)
        .expect("noted on the agent");
    assert_eq!((refused.count, refused.reason), (3, "no credentials"));
    let resp = srv
        .post(
            "/v1/metrics",
            Some("Secret-Key wrong"),
            "application/x-protobuf",
            true,
            gzip(&body(a)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let refused = srv.telemetry.refusals().get(&a).expect("noted");
    assert_eq!(
        (refused.count, refused.reason),
        (4, "an unknown credential")
    );
    let resp = srv
        .post(
            "/v1/metrics",
            None,
            "application/x-protobuf",
            false,
            body(stranger),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        srv.telemetry.refusals().get(&stranger),
        None,
        "not a fleet agent"
    );

    // With its token, it gets through, and the refusal no longer holds.
    let token = token::issue(SECRET, &a);
    srv.post_metrics(
        &token,
        &export(a, T - 60, T, AggregationTemporality::Cumulative),
        &counts(10, 10, 10, 1.0),
    )
    .await;
    assert_eq!(srv.telemetry.refusals().get(&a), None);
}

#[tokio::test]
async fn data_for_agents_outside_the_fleet_is_counted_and_dropped() {
    let (member, stranger) = (AgentId::new_v7(), AgentId::new_v7());
    let srv = serve(&[member], Limits::default()).await;
    let e = export(stranger, T - 60, T, AggregationTemporality::Cumulative);
    let points = {
        let mut batch = otlp::metrics::MetricsBatch::default();
        otlp::metrics::collect_wire(
            &e.request(&counts(1, 1, 1, 1.0)).encode_to_vec(),
            &mut batch,
        )
        .expect("valid request");
        batch.points()
    };

    // A valid token, but its agent is not in the fleet.
    let reply = srv
        .post_metrics(&token::issue(SECRET, &stranger), &e, &counts(1, 1, 1, 1.0))
        .await;
    let partial = reply.partial_success.expect("partial success reported");
    assert_eq!(partial.rejected_data_points, points as i64);
    assert!(
        partial.error_message.contains(&stranger.to_string()),
        "{}",
        partial.error_message
    );

    // The fleet secret with a service.instance.id that is not a member.
    let resp = srv
        .post(
            "/v1/metrics",
            Some("Bearer agent-secret-for-tests"),
            "application/json",
            false,
            serde_json::to_vec(&e.request(&counts(1, 1, 1, 1.0))).expect("json"),
        )
        .await;
    let reply: serde_json::Value = resp.json().await.expect("json reply");
    assert_eq!(
        reply["partialSuccess"]["rejectedDataPoints"],
        points.to_string()
    );

    assert_eq!(srv.state.stats.snapshot().unknown_agent_points, 2 * points);
    assert_eq!(srv.telemetry.agents_tracked(), 0);
    assert_eq!(srv.latest(&stranger, Series::Memory), None);
}

#[tokio::test]
async fn gzip_bomb_is_refused_without_inflating_it() {
    let a = AgentId::new_v7();
    let limits = Limits {
        max_body_bytes: 1 << 20,
        max_decoded_bytes: 1 << 20,
    };
    let srv = serve(&[a], limits).await;
    // 32 MiB of zeros compress to about 32 KiB.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..32 {
        enc.write_all(&zeros).expect("gzip in memory");
    }
    let bomb = enc.finish().expect("gzip in memory");
    assert!(bomb.len() < 1 << 20);
    let auth = format!("Bearer {}", token::issue(SECRET, &a));
    let resp = srv
        .post(
            "/v1/metrics",
            Some(&auth),
            "application/x-protobuf",
            true,
            bomb,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A plain body over the limit is refused too.
    let resp = srv
        .post(
            "/v1/metrics",
            Some(&auth),
            "application/x-protobuf",
            false,
            vec![0; (1 << 20) + 1],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(srv.state.stats.snapshot().too_large, 2);
}

#[tokio::test]
async fn malformed_bodies_get_400_saying_what_is_wrong() {
    let a = AgentId::new_v7();
    let srv = serve(&[a], Limits::default()).await;
    let auth = format!("Bearer {}", token::issue(SECRET, &a));
    let good = export(a, T - 60, T, AggregationTemporality::Cumulative)
        .request(&counts(10, 10, 10, 1.0))
        .encode_to_vec();
    let truncated = good[..good.len() - 5].to_vec();
    let resp = srv
        .post(
            "/v1/metrics",
            Some(&auth),
            "application/x-protobuf",
            false,
            truncated,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    let status = resp.bytes().await.expect("body");
    // google.rpc.Status: field 2 holds the message.
    let text = String::from_utf8_lossy(&status);
    assert!(
        text.contains("protobuf body is malformed at byte"),
        "{text}"
    );

    let resp = srv
        .post(
            "/v1/metrics",
            Some(&auth),
            "application/json",
            false,
            b"{\"resourceMetrics\": 7}".to_vec(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let reply: serde_json::Value = resp.json().await.expect("json status");
    let message = reply["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ExportMetricsServiceRequest") && message.contains("column"),
        "{message}"
    );

    let resp = srv
        .post(
            "/v1/logs",
            Some(&auth),
            "application/x-protobuf",
            false,
            vec![0x0a, 0x05, 1],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(srv.latest(&a, Series::Memory), None);
}

#[tokio::test]
async fn wrong_content_type_and_method_are_refused() {
    let a = AgentId::new_v7();
    let srv = serve(&[a], Limits::default()).await;
    let auth = format!("Bearer {}", token::issue(SECRET, &a));
    let resp = srv
        .post(
            "/v1/traces",
            Some(&auth),
            "text/plain",
            false,
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let resp = srv
        .http
        .get(format!("{}/v1/metrics", srv.base))
        .send()
        .await
        .expect("request reaches the server");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn logs_and_traces_are_accepted_and_counted() {
    let a = AgentId::new_v7();
    let srv = serve(&[a], Limits::default()).await;
    let logs = format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.instance.id","value":{{"stringValue":"{a}"}}}}]}},
            "scopeLogs":[{{"logRecords":[{{"timeUnixNano":"1700000000000000000","body":{{"stringValue":"hi"}}}},
                                          {{"timeUnixNano":"1700000000000000001","body":{{"stringValue":"there"}}}}]}}]}}]}}"#
    );
    let resp = srv
        .post(
            "/v1/logs",
            Some("Bearer agent-secret-for-tests"),
            "application/json",
            false,
            logs.into_bytes(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let traces = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
        "spanId":"eee19b7ec3c1b174","name":"op","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;
    let auth = format!("Bearer {}", token::issue(SECRET, &a));
    let resp = srv
        .post(
            "/v1/traces",
            Some(&auth),
            "application/json",
            true,
            gzip(traces.as_bytes()),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let counters = srv.state.stats.snapshot();
    assert_eq!((counters.log_records, counters.spans), (2, 1));
}

/// Own metrics named by the semantic conventions for processes, as a supervisor that is
/// not a Collector sends them (issue 27 item 12): `process.cpu.time` per `cpu.mode` and
/// `process.memory.usage`.
fn semconv_export(id: AgentId, time: u64, user_s: f64, system_s: f64, rss: i64) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    let s = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let point = |attrs: Vec<KeyValue>, v: number_data_point::Value| NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: (T - 60) * S,
        time_unix_nano: time * S,
        value: Some(v),
        ..Default::default()
    };
    let sum = |name: &str, monotonic: bool, points: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![s("service.instance.id", &id.to_string())],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    sum(
                        "process.cpu.time",
                        true,
                        vec![
                            point(
                                vec![s("cpu.mode", "user")],
                                number_data_point::Value::AsDouble(user_s),
                            ),
                            point(
                                vec![s("cpu.mode", "system")],
                                number_data_point::Value::AsDouble(system_s),
                            ),
                        ],
                    ),
                    sum(
                        "process.memory.usage",
                        false,
                        vec![point(vec![], number_data_point::Value::AsInt(rss))],
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[tokio::test]
async fn semantic_convention_process_metrics_feed_cpu_and_memory() {
    let a = AgentId::new_v7();
    let srv = serve(&[a], Limits::default()).await;
    let bearer = format!("Bearer {}", token::issue(SECRET, &a));
    let post = |body: Vec<u8>| {
        srv.post(
            "/v1/metrics",
            Some(&bearer),
            "application/x-protobuf",
            false,
            body,
        )
    };
    assert_eq!(
        post(semconv_export(a, T, 10.0, 4.0, 50 << 20))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(srv.latest(&a, Series::Memory), Some(f64::from(50u32 << 20)));
    // 10 s later: +1.5 s user and +1.0 s system: a quarter of a core.
    assert_eq!(
        post(semconv_export(a, T + 10, 11.5, 5.0, 52 << 20))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(srv.latest(&a, Series::Cpu), Some(0.25));
    assert_eq!(srv.latest(&a, Series::Memory), Some(f64::from(52u32 << 20)));
}

/// One client speaking for several agents (a supervisor of several Collectors) sends their
/// own metrics under one agent's token, each resource naming its agent: a resource of an
/// agent on the same OpAMP connection is that agent's; one naming an agent elsewhere is
/// refused; one naming no fleet agent stays the token's agent's.
#[tokio::test]
async fn a_token_speaks_for_the_agents_on_its_own_connection() {
    use fleetdeck::fleet::Transport;
    let (a, b, c) = (AgentId::new_v7(), AgentId::new_v7(), AgentId::new_v7());
    let on = |id: AgentId, port: u16| {
        let mut v = AgentView::blank(id);
        v.transport = Some(Transport::WebSocket);
        v.remote_addr = Some(std::net::SocketAddr::from(([10, 0, 0, 1], port)));
        Arc::new(v)
    };
    let srv = serve_views(
        vec![on(a, 5000), on(b, 5000), on(c, 6000)],
        Limits::default(),
    )
    .await;
    let cumulative = AggregationTemporality::Cumulative;
    let stranger = AgentId::new_v7();
    let mut req = export(a, T - 60, T, cumulative).request(&counts(0, 0, 10, 1.0));
    for id in [b, c, stranger] {
        req.resource_metrics.extend(
            export(id, T - 60, T, cumulative)
                .request(&counts(0, 0, 10, 1.0))
                .resource_metrics,
        );
    }
    let token = token::issue(SECRET, &a);
    let resp = srv
        .post(
            "/v1/metrics",
            Some(&format!("Bearer {token}")),
            "application/x-protobuf",
            false,
            req.encode_to_vec(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let reply = ExportMetricsServiceResponse::decode(resp.bytes().await.unwrap()).unwrap();
    let partial = reply.partial_success.expect("c's data refused");
    assert!(partial.rejected_data_points > 0);
    assert!(
        partial
            .error_message
            .contains(&format!("they name agent {c}")),
        "{}",
        partial.error_message
    );
    assert!(srv.latest(&a, Series::Memory).is_some(), "a's own");
    assert!(
        srv.latest(&b, Series::Memory).is_some(),
        "b, on a's connection"
    );
    assert_eq!(
        srv.latest(&c, Series::Memory),
        None,
        "c, elsewhere: refused"
    );
}
