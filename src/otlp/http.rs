//! The OTLP/HTTP endpoints: credentials, content negotiation, size limits, decoding and
//! replies in the request's own format.

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use std::cell::RefCell;
use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::sync::watch;

use super::ingest::{Sender, attribute_items, ingest_metrics};
use super::metrics::{MetricsBatch, collect_typed, collect_wire, typed_instance};
use super::stats::{Counter, OtlpStats};
use super::token;
use crate::fleet::telemetry::{TelemetryStore, now_sec};
use crate::fleet::{AgentId, FleetSnapshot};

/// Body size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression; decompression stops there.
    pub max_decoded_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A Collector's self-telemetry export is tens of kilobytes; these leave ample room.
        Limits {
            max_body_bytes: 4 << 20,
            max_decoded_bytes: 16 << 20,
        }
    }
}

/// Everything the receiver needs; cheap to clone.
#[derive(Clone)]
pub struct OtlpState {
    /// The agent secret: signs per-agent tokens and is itself the fleet-level credential.
    pub secret: Arc<[u8]>,
    /// The registry's published snapshots, to check that data comes from fleet agents.
    pub fleet: watch::Receiver<Arc<FleetSnapshot>>,
    pub telemetry: TelemetryStore,
    pub stats: Arc<OtlpStats>,
    pub limits: Limits,
    /// Told the address of each request that authenticated (the listener stops counting
    /// its connection as a stranger).
    pub on_authenticated: Option<Arc<dyn Fn(std::net::SocketAddr) + Send + Sync>>,
    /// Whether an agent is revoked: its per-agent token is refused (403) like its OpAMP
    /// connection.
    pub revoked: Option<RevokedCheck>,
}

/// Whether an agent is revoked (kept in memory by the server's credential checks).
pub type RevokedCheck = Arc<dyn Fn(&AgentId) -> bool + Send + Sync>;

impl OtlpState {
    pub fn new(
        secret: &[u8],
        fleet: watch::Receiver<Arc<FleetSnapshot>>,
        telemetry: TelemetryStore,
    ) -> Self {
        OtlpState {
            secret: Arc::from(secret),
            fleet,
            telemetry,
            stats: Arc::default(),
            limits: Limits::default(),
            on_authenticated: None,
            revoked: None,
        }
    }
}

/// `POST /v1/metrics`, `/v1/logs`, `/v1/traces`. Other methods get 405 from axum.
pub fn router(state: OtlpState) -> Router {
    Router::new()
        .route("/v1/metrics", post(metrics))
        .route("/v1/logs", post(logs))
        .route("/v1/traces", post(traces))
        .with_state(state)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// A refused request: status, the reason told to the sender, and the counter it bumps.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
    format: Option<Format>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
            format: None,
        }
    }

    fn counter(&self) -> Counter {
        match self.status {
            StatusCode::UNAUTHORIZED => Counter::Unauthorized,
            StatusCode::PAYLOAD_TOO_LARGE => Counter::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Counter::Unsupported,
            _ => Counter::Malformed,
        }
    }
}

/// `google.rpc.Status`, the body OTLP/HTTP error replies carry (not an OTLP message, so
/// `opentelemetry-proto` does not provide it; only its first two fields are needed).
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        // gRPC codes: UNAUTHENTICATED for 401, INVALID_ARGUMENT otherwise.
        let code = if self.status == StatusCode::UNAUTHORIZED {
            16
        } else {
            3
        };
        let mut response = match self.format {
            Some(Format::Protobuf) => {
                let body = RpcStatus {
                    code,
                    message: self.message,
                }
                .encode_to_vec();
                (
                    self.status,
                    [(header::CONTENT_TYPE, Format::Protobuf.content_type())],
                    body,
                )
                    .into_response()
            }
            Some(Format::Json) => {
                let body = serde_json::json!({ "code": code, "message": self.message });
                (
                    self.status,
                    [(header::CONTENT_TYPE, Format::Json.content_type())],
                    body.to_string(),
                )
                    .into_response()
            }
            None => (self.status, self.message).into_response(),
        };
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fleetdeck\""),
            );
        }
        response
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Metrics,
    Logs,
    Traces,
}

async fn metrics(
    State(st): State<OtlpState>,
    ext: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(st, Kind::Metrics, &ext, headers, body).await
}

async fn logs(
    State(st): State<OtlpState>,
    ext: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(st, Kind::Logs, &ext, headers, body).await
}

async fn traces(
    State(st): State<OtlpState>,
    ext: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(st, Kind::Traces, &ext, headers, body).await
}

async fn export(
    st: OtlpState,
    kind: Kind,
    ext: &Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let sender = match authenticate(&st.secret, &headers) {
            Ok(sender) => {
                if let (Some(tell), Some(ConnectInfo(remote))) = (
                    &st.on_authenticated,
                    ext.get::<ConnectInfo<std::net::SocketAddr>>(),
                ) {
                    tell(*remote);
                }
                sender
            }
            Err(refused) => {
                note_refusal(&st, kind, &headers, body, refused.reason).await;
                return Err(refused.into_refusal());
            }
        };
        if let (Sender::Agent(id), Some(revoked)) = (&sender, &st.revoked)
            && revoked(id)
        {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!("agent {id} is revoked"),
            ));
        }
        let format = format_of(&headers)?;
        let gzip = gzip_encoded(&headers)?;
        let raw = read_body(body, &headers, st.limits.max_body_bytes).await?;
        let decoded: std::borrow::Cow<'_, [u8]> = if gzip {
            gunzip_capped(&raw, st.limits.max_decoded_bytes)?.into()
        } else {
            raw.as_ref().into()
        };
        handle(&st, kind, sender, format, &decoded)
    }
    .await;
    match result {
        Ok(response) => {
            st.stats.add(Counter::Requests, 1);
            response
        }
        Err(mut refusal) => {
            st.stats.add(refusal.counter(), 1);
            tracing::debug!(status = %refusal.status, reason = %refusal.message, "OTLP request refused");
            refusal.format = format_of(&headers).ok();
            refusal.into_response()
        }
    }
}

fn format_of(headers: &HeaderMap) -> Result<Format, Refusal> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/x-protobuf") {
        Ok(Format::Protobuf)
    } else if media.eq_ignore_ascii_case("application/json") {
        Ok(Format::Json)
    } else {
        Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type '{ct}' is not supported: send application/x-protobuf or application/json"
            ),
        ))
    }
}

/// A request without acceptable credentials: what the sender is told, and the few words
/// shown on the agent it claims to come from.
struct Unauthenticated {
    message: &'static str,
    reason: &'static str,
}

impl Unauthenticated {
    fn into_refusal(self) -> Refusal {
        Refusal::new(StatusCode::UNAUTHORIZED, self.message)
    }
}

/// `Authorization: Bearer <per-agent token | agent secret>` or `Secret-Key <agent secret>`.
fn authenticate(secret: &[u8], headers: &HeaderMap) -> Result<Sender, Unauthenticated> {
    let refuse = |message, reason| Unauthenticated { message, reason };
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            refuse(
                "missing Authorization header: send 'Authorization: Bearer <token>'",
                "no credentials",
            )
        })?
        .to_str()
        .map_err(|_| refuse("Authorization header is not text", "unreadable credentials"))?;
    let (scheme, credential) = value.trim().split_once(' ').ok_or_else(|| {
        refuse(
            "Authorization header must be 'Bearer <token>'",
            "malformed credentials",
        )
    })?;
    let credential = credential.trim();
    if scheme.eq_ignore_ascii_case("bearer") && token::looks_like_token(credential) {
        return token::verify(secret, credential)
            .map(Sender::Agent)
            .ok_or_else(|| {
                refuse(
                    "the token was not issued by this server",
                    "a token this server did not issue",
                )
            });
    }
    let known_scheme =
        scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("secret-key");
    if known_scheme && token::is_fleet_secret(secret, credential.as_bytes()) {
        Ok(Sender::Fleet)
    } else {
        Err(refuse("unknown credential", "an unknown credential"))
    }
}

/// The largest refused body read to learn which agent sent it: a Collector's own
/// telemetry is tens of kilobytes, and a stranger's request is not worth more work.
const REFUSED_BODY_LIMIT: usize = 256 << 10;

/// Notes a refused request on the fleet agents its resources name (their
/// `service.instance.id`), so the agent shows why its telemetry is missing. The names
/// are unverified (the request has no credentials), so they are used for nothing else.
async fn note_refusal(
    st: &OtlpState,
    kind: Kind,
    headers: &HeaderMap,
    body: Body,
    reason: &'static str,
) {
    let (Ok(format), Ok(gzip)) = (format_of(headers), gzip_encoded(headers)) else {
        return;
    };
    let Ok(raw) = read_body(body, headers, REFUSED_BODY_LIMIT).await else {
        return;
    };
    let decoded: std::borrow::Cow<'_, [u8]> = if gzip {
        match gunzip_capped(&raw, REFUSED_BODY_LIMIT) {
            Ok(d) => d.into(),
            Err(_) => return,
        }
    } else {
        raw.as_ref().into()
    };
    let fleet = Arc::clone(&st.fleet.borrow());
    for id in claimed_agents(kind, format, &decoded) {
        if fleet.get(&id).is_none() {
            continue;
        }
        if st.telemetry.refusals().note(id, reason) {
            tracing::warn!(agent = %id, %reason,
                "own telemetry refused: the agent is not sending the headers offered with \
                 own_metrics (counted on the agent; logged again in 5 minutes if it goes on)");
        }
    }
}

/// The distinct `service.instance.id`s a request's resources name.
fn claimed_agents(kind: Kind, format: Format, body: &[u8]) -> Vec<AgentId> {
    let mut ids: Vec<AgentId> = match kind {
        Kind::Metrics => BATCH.with_borrow_mut(|batch| {
            let ok = match format {
                Format::Protobuf => collect_wire(body, batch).is_ok(),
                Format::Json => parse_json::<ExportMetricsServiceRequest>(body, "")
                    .map(|req| collect_typed(&req, batch))
                    .is_ok(),
            };
            if ok {
                batch.resources.iter().filter_map(|r| r.instance).collect()
            } else {
                Vec::new()
            }
        }),
        Kind::Logs => decode::<ExportLogsServiceRequest>(format, body, "")
            .map(|req| {
                req.resource_logs
                    .iter()
                    .filter_map(|r| typed_instance(&r.resource.as_ref()?.attributes))
                    .collect()
            })
            .unwrap_or_default(),
        Kind::Traces => decode::<ExportTraceServiceRequest>(format, body, "")
            .map(|req| {
                req.resource_spans
                    .iter()
                    .filter_map(|r| typed_instance(&r.resource.as_ref()?.attributes))
                    .collect()
            })
            .unwrap_or_default(),
    };
    ids.sort();
    ids.dedup();
    ids
}

fn gzip_encoded(headers: &HeaderMap) -> Result<bool, Refusal> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => Ok(false),
        Some(Ok(e)) if e.trim().eq_ignore_ascii_case("gzip") => Ok(true),
        Some(Ok(e)) if e.trim().is_empty() || e.trim().eq_ignore_ascii_case("identity") => {
            Ok(false)
        }
        Some(e) => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Encoding '{}' is not supported: send gzip or no encoding",
                e.unwrap_or("?")
            ),
        )),
    }
}

fn too_large(limit: usize, what: &str) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{what} exceeds the limit of {limit} bytes"),
    )
}

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<bytes::Bytes, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit, "request body"));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(too_large(limit, "request body"))
        }
        Err(e) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("could not read the request body: {e}"),
        )),
    }
}

/// Decompresses a gzip body, refusing (413) as soon as the output would pass `cap`; the
/// buffer never grows beyond `cap` bytes.
fn gunzip_capped(data: &[u8], cap: usize) -> Result<Vec<u8>, Refusal> {
    let mut decoder = flate2::read::MultiGzDecoder::new(data);
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(cap));
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = decoder.read(&mut chunk).map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("gzip body is corrupt: {e}"),
            )
        })?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > cap {
            return Err(too_large(cap, "decompressed request body"));
        }
        if out.capacity() - out.len() < n {
            let target = out.capacity().saturating_mul(2).max(out.len() + n).min(cap);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

thread_local! {
    /// Decoded samples of the request being handled; reused so steady ingest allocates nothing.
    static BATCH: RefCell<MetricsBatch> = RefCell::default();
}

fn bad_request(message: String) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, message)
}

fn handle(
    st: &OtlpState,
    kind: Kind,
    sender: Sender,
    format: Format,
    body: &[u8],
) -> Result<Response, Refusal> {
    let fleet = Arc::clone(&st.fleet.borrow());
    match kind {
        Kind::Metrics => {
            let rejected = BATCH.with_borrow_mut(|batch| {
                match format {
                    Format::Protobuf => {
                        collect_wire(body, batch).map_err(|e| bad_request(e.to_string()))?
                    }
                    Format::Json => {
                        let req: ExportMetricsServiceRequest =
                            parse_json(body, "ExportMetricsServiceRequest")?;
                        collect_typed(&req, batch);
                    }
                }
                Ok::<_, Refusal>(ingest_metrics(
                    now_sec(),
                    sender,
                    batch,
                    &fleet,
                    &st.telemetry,
                    &st.stats,
                ))
            })?;
            let reply = ExportMetricsServiceResponse {
                partial_success: (rejected.count > 0).then(|| ExportMetricsPartialSuccess {
                    rejected_data_points: to_i64(rejected.count),
                    error_message: rejected.message("data points"),
                }),
            };
            Ok(reply_in(format, &reply, "rejectedDataPoints"))
        }
        Kind::Logs => {
            let req: ExportLogsServiceRequest = decode(format, body, "ExportLogsServiceRequest")?;
            let per_resource = req.resource_logs.iter().map(|rl| {
                let instance = rl
                    .resource
                    .as_ref()
                    .and_then(|r| typed_instance(&r.attributes));
                let n: usize = rl.scope_logs.iter().map(|s| s.log_records.len()).sum();
                (instance, n as u64)
            });
            let (accepted, rejected) = attribute_items(sender, per_resource, &fleet);
            st.stats.add(Counter::LogRecords, accepted);
            st.stats
                .add(Counter::UnknownAgentLogRecords, rejected.count);
            let reply = ExportLogsServiceResponse {
                partial_success: (rejected.count > 0).then(|| ExportLogsPartialSuccess {
                    rejected_log_records: to_i64(rejected.count),
                    error_message: rejected.message("log records"),
                }),
            };
            Ok(reply_in(format, &reply, "rejectedLogRecords"))
        }
        Kind::Traces => {
            let req: ExportTraceServiceRequest = decode(format, body, "ExportTraceServiceRequest")?;
            let per_resource = req.resource_spans.iter().map(|rs| {
                let instance = rs
                    .resource
                    .as_ref()
                    .and_then(|r| typed_instance(&r.attributes));
                let n: usize = rs.scope_spans.iter().map(|s| s.spans.len()).sum();
                (instance, n as u64)
            });
            let (accepted, rejected) = attribute_items(sender, per_resource, &fleet);
            st.stats.add(Counter::Spans, accepted);
            st.stats.add(Counter::UnknownAgentSpans, rejected.count);
            let reply = ExportTraceServiceResponse {
                partial_success: (rejected.count > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans: to_i64(rejected.count),
                    error_message: rejected.message("spans"),
                }),
            };
            Ok(reply_in(format, &reply, "rejectedSpans"))
        }
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("JSON body is not an OTLP {what}: {e}")))
}

fn decode<T>(format: Format, body: &[u8], what: &str) -> Result<T, Refusal>
where
    T: Message + Default + serde::de::DeserializeOwned,
{
    match format {
        Format::Protobuf => T::decode(body)
            .map_err(|e| bad_request(format!("protobuf body is not an OTLP {what}: {e}"))),
        Format::Json => parse_json(body, what),
    }
}

/// A 200 reply in the request's format. OTLP/JSON writes 64-bit integers as strings, which
/// the generated serde code does not do for the `rejected_*` counts, so they are fixed up.
fn reply_in<T>(format: Format, reply: &T, rejected_field: &str) -> Response
where
    T: Message + serde::Serialize,
{
    let body = match format {
        Format::Protobuf => reply.encode_to_vec(),
        Format::Json => json_reply(reply, rejected_field).into_bytes(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}

fn json_reply<T: serde::Serialize>(reply: &T, rejected_field: &str) -> String {
    let mut value = serde_json::to_value(reply).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        match obj.get_mut("partialSuccess") {
            Some(serde_json::Value::Object(ps)) => {
                if let Some(n) = ps.get_mut(rejected_field).filter(|n| n.is_number()) {
                    *n = serde_json::Value::String(n.to_string());
                }
            }
            // An absent partial success is written as nothing, not `null`.
            _ => {
                obj.remove("partialSuccess");
            }
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reply_writes_counts_as_strings_and_omits_empty_partial_success() {
        let ok = ExportMetricsServiceResponse {
            partial_success: None,
        };
        assert_eq!(json_reply(&ok, "rejectedDataPoints"), "{}");
        let partial = ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 12,
                error_message: "why".into(),
            }),
        };
        let v: serde_json::Value =
            serde_json::from_str(&json_reply(&partial, "rejectedDataPoints")).unwrap_or_default();
        assert_eq!(v["partialSuccess"]["rejectedDataPoints"], "12");
        assert_eq!(v["partialSuccess"]["errorMessage"], "why");
    }

    #[test]
    fn gunzip_stops_at_the_cap() {
        let data = vec![b'a'; 100_000];
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, &data).unwrap_or_default();
        let gz = enc.finish().unwrap_or_default();
        assert_eq!(
            gunzip_capped(&gz, 100_000).map(|v| v.len()).ok(),
            Some(100_000)
        );
        let refused = gunzip_capped(&gz, 99_999).err().map(|r| r.status);
        assert_eq!(refused, Some(StatusCode::PAYLOAD_TOO_LARGE));
        let corrupt = gunzip_capped(b"\x1f\x8b\x08garbage", 1000)
            .err()
            .map(|r| r.status);
        assert_eq!(corrupt, Some(StatusCode::BAD_REQUEST));
    }
}
