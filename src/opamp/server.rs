//! The agent listener: OpAMP on `/v1/opamp` over WebSocket and plain HTTP, plus `/healthz`.
//! Other routes on the same port (OTLP) are merged in by the runtime.
//!
//! One task per WebSocket connection; a slow or dead agent only ever stalls its own task.

use crate::listen::log_budget::LogBudget;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{
    CONNECTION, CONTENT_ENCODING, CONTENT_TYPE, HOST, RETRY_AFTER, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hyper_util::rt::TokioIo;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::body::{BodyError, accepts_gzip, gzip, read_limited};
use super::codec::{self, DecodeError};
use super::credentials::{AgentAuth, CredentialError, Gate};
use super::frame;
use super::ws::{self, Incoming, WebSocket, WsError, close};
use crate::fleet::AgentId;
use crate::fleet::heartbeat::Lease;
use crate::fleet::outbound::ServerError;
use crate::fleet::outbox::outbox;
use crate::fleet::registry::{RegistryHandle, Via};
use crate::fleet::text::Text;
use crate::listen::admission::{
    Admission, AdmissionStats, AdmittedListener, NewcomerPermit, Onboarding,
};
use crate::listen::tls::Acceptor;

pub const OPAMP_PATH: &str = "/v1/opamp";
const PROTOBUF: &str = "application/x-protobuf";

/// What the agent listener needs to know.
#[derive(derive_more::Debug, Clone)]
pub struct ListenerConfig {
    /// The agent secret every request must present.
    #[debug("{}", crate::redact::redact(secret))]
    pub secret: Arc<str>,
    /// Per-agent credentials, with `secret` as the enrollment secret; `None`: `secret`
    /// alone lets every agent in.
    pub credentials: Option<Arc<AgentAuth>>,
    /// Largest OpAMP message accepted (after decompression), in bytes.
    pub max_message_size: usize,
    /// At this many connected agents, WebSocket upgrades get 503 + Retry-After (the
    /// registry holds the limit exactly; this spares the upgrade).
    pub max_agents: Option<usize>,
    /// Retry-After sent with 503s.
    pub retry_after: Duration,
    /// A WebSocket write that takes longer than this drops the connection.
    pub write_timeout: Duration,
    /// Served over TLS: the endpoints agents are told to reconnect to are wss:// and https://.
    pub tls: bool,
    /// Connection budget and the pace at which new agents are taken on.
    pub admission: Admission,
    /// A new WebSocket agent whose first message finds this many messages already waiting
    /// for the registry is told UNAVAILABLE (with when to retry) and closed with 1013.
    pub busy_backlog: usize,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            secret: Arc::from(""),
            credentials: None,
            max_message_size: 4 * 1024 * 1024,
            retry_after: Duration::from_secs(30),
            max_agents: None,
            write_timeout: Duration::from_secs(10),
            tls: false,
            admission: Admission::default(),
            busy_backlog: 3072,
        }
    }
}

/// Shared by every session: one pointer each, so an idle connection's task stays small.
#[derive(Clone)]
pub struct AgentListener(Arc<Listener>);

pub struct Listener {
    registry: RegistryHandle,
    config: ListenerConfig,
    auth: Arc<AgentAuth>,
    next_conn: AtomicU64,
    sessions: TaskTracker,
}

impl std::ops::Deref for AgentListener {
    type Target = Listener;

    fn deref(&self) -> &Listener {
        &self.0
    }
}

impl AgentListener {
    /// Sessions learn of a shutdown from the registry letting go of their outboxes, so
    /// the registry must stop on the server's shutdown token.
    pub fn new(registry: RegistryHandle, config: ListenerConfig) -> Self {
        let auth = config
            .credentials
            .clone()
            .unwrap_or_else(|| Arc::new(AgentAuth::secret_only(config.secret.clone())));
        AgentListener(Arc::new(Listener {
            registry,
            auth,
            config,
            next_conn: AtomicU64::new(1),
            sessions: TaskTracker::new(),
        }))
    }

    /// The OpAMP and health routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route(OPAMP_PATH, any(opamp_endpoint))
            .route("/healthz", get(healthz))
            .fallback(not_found)
            .with_state(self.clone())
    }

    /// What admission has done: connections held and refused, newcomers deferred.
    pub fn admission(&self) -> AdmissionStats {
        self.config.admission.stats()
    }

    /// Waits (up to `timeout`) for WebSocket sessions to say goodbye after shutdown.
    pub async fn wait_sessions(&self, timeout: Duration) {
        self.sessions.close();
        let _ = tokio::time::timeout(timeout, self.sessions.wait()).await;
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown` fires, holding
/// no more connections than `admission` allows.
pub async fn run(
    listener: TcpListener,
    admission: Admission,
    tls: Option<Acceptor>,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = AdmittedListener::new(listener, admission);
    crate::listen::tls::serve_admitted(listener, tls, app, shutdown).await
}

async fn not_found(req: Request<Body>) -> Response {
    plain(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {} (OpAMP is served at {OPAMP_PATH})",
            req.uri().path()
        ),
    )
}

async fn healthz(State(l): State<AgentListener>) -> Response {
    let admission = l.config.admission.stats();
    let body = serde_json::json!({
        "status": "ok",
        "connected_agents": l.registry.connected_agents(),
        "messages_total": l.registry.messages_total(),
        "open_connections": admission.open_connections,
        "max_connections": admission.max_connections,
        "refused_connections": admission.refused_connections,
        "deferred_agents": admission.deferred_agents,
    });
    axum::Json(body).into_response()
}

/// An agent that says too much about itself (an attribute of megabytes, say) is told so
/// and refused; operators see it as an event (a few a minute at most, however many come).
fn say_too_large(l: &AgentListener, agent: Option<AgentId>, remote: SocketAddr, e: &DecodeError) {
    static EVENTS: LogBudget = LogBudget::new();
    if let DecodeError::TooManyParts(super::prescan::TooManyParts::TooLarge { .. }) = e
        && let Some(left_out) = EVENTS.take()
    {
        let more = if left_out > 0 {
            format!(" ({left_out} more like it not shown)")
        } else {
            String::new()
        };
        l.registry.publish_event(crate::fleet::EventKind::Notice {
            agent,
            message: format!("refused a message from {remote}: {e}{more}"),
        });
    }
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut r = (status, message.into()).into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn header_str<'a>(h: &'a HeaderMap, name: &axum::http::HeaderName) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn is_protobuf(h: &HeaderMap) -> bool {
    let ct = header_str(h, &CONTENT_TYPE);
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case(PROTOBUF)
}

fn wants_upgrade(h: &HeaderMap) -> bool {
    header_str(h, &UPGRADE).eq_ignore_ascii_case("websocket")
        && header_str(h, &CONNECTION)
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// The URL the agent used to reach us, as it would reconnect to it. Nearly every agent
/// uses the same one: it is pooled, not kept once per connection.
fn endpoint_of(h: &HeaderMap, websocket: bool, tls: bool) -> Arc<str> {
    let host = match header_str(h, &HOST) {
        "" => "localhost",
        h => h,
    };
    let scheme = match (websocket, tls) {
        (true, false) => "ws",
        (true, true) => "wss",
        (false, false) => "http",
        (false, true) => "https",
    };
    Text::shared(&format!("{scheme}://{host}{OPAMP_PATH}")).into()
}

async fn opamp_endpoint(
    State(l): State<AgentListener>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    let headers = req.headers();
    // Authentication comes first: nothing else is revealed to an unauthenticated peer.
    let Some(presented) = l.auth.presented(headers) else {
        static BUDGET: LogBudget = LogBudget::new();
        crate::warn_within!(BUDGET, %remote, "refused an OpAMP request: missing or wrong agent secret");
        return plain(
            StatusCode::UNAUTHORIZED,
            "missing or wrong agent secret: send the agent's own credential as 'Authorization: \
             Bearer <credential>', or the agent secret as 'Authorization: Secret-Key <key>'",
        );
    };
    let gate = match l.auth.gate(presented).await {
        Ok(gate) => gate,
        Err(e) => return refuse(&l, remote, &e),
    };
    l.config.admission.authenticated(remote);
    let wants_session = match *req.method() {
        Method::POST => is_protobuf(headers),
        Method::GET => wants_upgrade(headers),
        _ => false,
    };
    // A WebSocket upgrade at the agent limit is turned away before the upgrade: whoever
    // upgrades is not connected yet. (An HTTP poll may come from a connected agent, which
    // keeps its place: the registry decides those, and counts exactly.)
    if *req.method() == Method::GET
        && wants_session
        && let Some(max) = l.config.max_agents
        && l.registry.connected_agents() >= max
    {
        return unavailable(&l, format!("the server holds its maximum of {max} agents"));
    }
    // In a rush of (re)connecting agents only so many are taken on at once; the others are
    // asked to come back within seconds, before any upgrade.
    let newcomer = if wants_session {
        match l.config.admission.newcomer(remote) {
            Ok(permit) => permit,
            Err(wait) => {
                return unavailable_for(
                    wait,
                    "many agents are connecting at once; retry in a few seconds".into(),
                );
            }
        }
    } else {
        None
    };
    match *req.method() {
        Method::POST if is_protobuf(headers) => {
            let reply = http_exchange(l, remote, req, gate).await;
            drop(newcomer);
            reply
        }
        Method::POST => plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "OpAMP over HTTP needs Content-Type: {PROTOBUF} (got '{}')",
                header_str(headers, &CONTENT_TYPE)
            ),
        ),
        Method::GET if wants_upgrade(headers) => ws_upgrade(l, remote, req, newcomer, gate),
        Method::GET => plain(
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade or a POST with Content-Type: application/x-protobuf",
        ),
        _ => {
            let mut r = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} is not used by OpAMP: use GET (WebSocket) or POST",
                    req.method()
                ),
            );
            r.headers_mut()
                .insert("allow", HeaderValue::from_static("GET, POST"));
            r
        }
    }
}

/// A credential refused (401 for one that is no one's to use, 403 for an agent turned
/// away), or the store unreachable (503): said in the server's log and, for an agent the
/// server knows, as an event (a few a minute at most).
fn refuse(l: &AgentListener, remote: SocketAddr, e: &CredentialError) -> Response {
    match e {
        CredentialError::Refused(r) => {
            static BUDGET: LogBudget = LogBudget::new();
            crate::warn_within!(BUDGET, %remote, reason = %r, "refused an agent's credential");
            static EVENTS: LogBudget = LogBudget::new();
            if let Some(agent) = r.agent()
                && EVENTS.take().is_some()
            {
                l.registry.publish_event(crate::fleet::EventKind::Notice {
                    agent: Some(agent),
                    message: format!("refused a connection from {remote}: {r}"),
                });
            }
            let status = if r.forbidden() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            plain(status, r.to_string())
        }
        CredentialError::Store(detail) => {
            static BUDGET: LogBudget = LogBudget::new();
            crate::warn_within!(BUDGET, %remote, error = %detail, "could not check an agent's credential");
            unavailable(l, "the server cannot check credentials right now".into())
        }
    }
}

/// What the listener decides about a report before the registry sees it: the agent is
/// refused, or admitted — its new credential confirmed (an event says so), and one
/// minted for it when it needs one and takes OpAMP connection settings.
async fn admit(
    l: &AgentListener,
    gate: &Gate,
    report: &mut crate::fleet::report::AgentReport,
) -> Result<(), CredentialError> {
    if !l.auth.per_agent() {
        return Ok(());
    }
    let uid = report.instance_uid;
    let (admit, record) = l.auth.admit(gate, uid).await?;
    if admit.confirm {
        tracing::info!(agent = %uid, "agent connected with its new credential; the one before is refused from now on");
        l.registry.publish_event(crate::fleet::EventKind::Notice {
            agent: Some(uid),
            message: format!(
                "agent {} connected with its new credential; the one before is refused from now on",
                uid.short()
            ),
        });
    }
    if admit.issue
        && crate::fleet::credentials::takes_credentials(report.capabilities)
        && let Some(credential) = l.auth.issue(uid, record.as_ref()).await?
    {
        report.credential = Some(crate::fleet::credentials::Issued(credential));
    }
    Ok(())
}

fn unavailable(l: &AgentListener, message: String) -> Response {
    unavailable_for(l.config.retry_after, message)
}

fn unavailable_for(retry_after: Duration, message: String) -> Response {
    let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, message);
    if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
    r
}

// ------------------------------------------------------------------ plain HTTP transport

async fn http_exchange(
    l: AgentListener,
    remote: SocketAddr,
    req: Request<Body>,
    gate: Gate,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match read_limited(&parts.headers, body, l.config.max_message_size).await {
        Ok(b) => b,
        Err(e) => {
            let status = match e {
                BodyError::TooLarge { .. } | BodyError::InflatesTooLarge { .. } => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                BodyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                BodyError::BadGzip(_) | BodyError::Read(_) => StatusCode::BAD_REQUEST,
            };
            static BUDGET: LogBudget = LogBudget::new();
            crate::warn_within!(BUDGET, %remote, error = %e, "refused an OpAMP HTTP request");
            return plain(status, e.to_string());
        }
    };
    let mut report = match codec::decode_agent_to_server(&bytes) {
        Ok(r) => r,
        Err(e) => {
            static BUDGET: LogBudget = LogBudget::new();
            crate::warn_within!(BUDGET, %remote, error = %e, "undecodable OpAMP HTTP body");
            say_too_large(&l, None, remote, &e);
            let status = match e {
                DecodeError::TooManyParts(_) => StatusCode::PAYLOAD_TOO_LARGE,
                DecodeError::Uid(_) | DecodeError::Protobuf(_) => StatusCode::BAD_REQUEST,
            };
            return plain(status, e.to_string());
        }
    };
    if let Err(e) = admit(&l, &gate, &mut report).await {
        return refuse(&l, remote, &e);
    }
    let via = Via::Http {
        remote_addr: remote,
        endpoint: endpoint_of(&parts.headers, false, l.config.tls),
    };
    let reply = match l.registry.report(via, report).await {
        Ok(r) => r,
        Err(_) => return unavailable(&l, "the server is shutting down".into()),
    };
    // Turned away (the agent limit): 503 with Retry-After, which every HTTP client knows.
    if let Some(ServerError::Unavailable {
        message,
        retry_after,
    }) = &reply.error
    {
        return unavailable_for(retry_after.unwrap_or(l.config.retry_after), message.clone());
    }
    let body = codec::encode_http(&reply);
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, PROTOBUF);
    let body = if accepts_gzip(&parts.headers) {
        builder = builder.header(CONTENT_ENCODING, "gzip");
        gzip(&body)
    } else {
        body
    };
    builder
        .body(Body::from(body))
        .unwrap_or_else(|e| plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

// ------------------------------------------------------------------ WebSocket transport

fn ws_upgrade(
    l: AgentListener,
    remote: SocketAddr,
    mut req: Request<Body>,
    newcomer: Option<NewcomerPermit>,
    gate: Gate,
) -> Response {
    let headers = req.headers();
    if header_str(headers, &SEC_WEBSOCKET_VERSION) != "13" {
        return plain(
            StatusCode::BAD_REQUEST,
            "unsupported WebSocket version (need Sec-WebSocket-Version: 13)",
        );
    }
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY) else {
        return plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let endpoint = endpoint_of(headers, true, l.config.tls);
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this connection cannot be upgraded",
        );
    };
    let conn = l.next_conn.fetch_add(1, Ordering::Relaxed);
    let tracker = l.sessions.clone();
    let who = Box::new(Who {
        gate,
        last_uid: None,
    });
    tracker.spawn(upgrade(
        l, conn, remote, endpoint, on_upgrade, newcomer, who,
    ));
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|e| plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Waits for hyper to hand the connection over, then starts the session as a task of its
/// own: awaiting it here would keep this future's state (300 bytes) beside the session's
/// for the connection's whole life.
async fn upgrade(
    l: AgentListener,
    conn: u64,
    remote: SocketAddr,
    endpoint: Arc<str>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    newcomer: Option<NewcomerPermit>,
    who: Box<Who>,
) {
    match on_upgrade.await {
        Ok(upgraded) => {
            // The newcomer's place is given up with the first reply (or after a while).
            let io = Onboarding::new(TokioIo::new(upgraded), newcomer);
            let tracker = l.sessions.clone();
            tracker.spawn(ws_session(l, conn, remote, endpoint, io, who));
        }
        Err(e) => tracing::debug!(%remote, error = %e, "WebSocket upgrade failed"),
    }
}

/// Unsolicited messages (a configuration, a restart) queued for one agent before the
/// registry waits for it to read them.
const OUTBOX_CAPACITY: usize = 4;

#[derive(PartialEq, Eq)]
enum Step {
    Continue,
    Close(u16, String),
    Stop,
}

// Everything the loop does besides waiting is boxed: the per-message work (and its write
// timers) would otherwise make every idle connection's task as large as its busiest moment.
// The session's state is made before the `async` block and captured by it, so each piece is
// stored once: an `async fn` keeps its arguments and the locals moved out of them side by
// side (120 bytes more per connection).
fn ws_session<S>(
    l: AgentListener,
    conn: u64,
    remote: SocketAddr,
    endpoint: Arc<str>,
    io: S,
    mut who: Box<Who>,
) -> impl Future<Output = ()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut ws = WebSocket::new(io, l.config.max_message_size);
    let (outbox_tx, mut outbox) = outbox(OUTBOX_CAPACITY);
    let opening = Box::pin(l.registry.open_ws(conn, remote, endpoint, outbox_tx));
    // While the registry lets us, plain heartbeats are answered here with this frame.
    let mut lease: Option<Box<Leased>> = None;
    async move {
        if opening.await.is_err() {
            return;
        }
        let write_timeout = l.config.write_timeout;
        loop {
            let step = tokio::select! {
                incoming = ws.recv() => match incoming {
                    Ok(Incoming::Binary(data)) => {
                        let session = Session { l: &l, conn, remote, who: &mut who, lease: &mut lease };
                        Box::pin(on_binary(session, &data, &mut ws, write_timeout)).await
                    }
                    Ok(Incoming::Text(_)) => {
                        static BUDGET: LogBudget = LogBudget::new();
                        crate::warn_within!(BUDGET, %remote, "text WebSocket frame ignored: OpAMP uses binary frames");
                        let err = ServerError::BadRequest(
                            "text frames are not OpAMP messages: send binary frames".into(),
                        );
                        Box::pin(send_error(&l, who.last_uid, err, &mut ws, write_timeout)).await
                    }
                    Ok(Incoming::Ping(payload)) => {
                        Box::pin(send_frame(&mut ws, &ws::pong_frame(&payload), write_timeout)).await
                    }
                    Ok(Incoming::Close(code)) => {
                        // The agent is leaving: answer its close (with its own code) and go.
                        let code = code.unwrap_or(close::NORMAL);
                        let _ = Box::pin(send_frame(&mut ws, &ws::close_frame(code, ""), write_timeout)).await;
                        Step::Stop
                    }
                    Err(e) => ws_error(remote, e),
                },
                push = outbox.recv() => match push {
                    Some(push) => {
                        let frame = codec::encode_ws_framed(&push, ws::binary_frame_start);
                        let step = Box::pin(send_frame(&mut ws, &frame, write_timeout)).await;
                        match &push.error {
                            // Revoked: told why, then the connection goes.
                            Some(ServerError::Refused(reason)) => Step::Close(close::POLICY, reason.clone()),
                            _ => step,
                        }
                    }
                    // The registry let go of this connection: the server is shutting down.
                    None => Box::pin(say_when_to_return(&l, remote, who.last_uid, &mut ws, write_timeout)).await,
                },
            };
            match step {
                Step::Continue => {}
                Step::Stop => break,
                Step::Close(code, reason) => {
                    Box::pin(close_politely(&mut ws, code, &reason, write_timeout)).await;
                    break;
                }
            }
        }
        Box::pin(l.registry.closed_ws(conn)).await;
    }
}

/// Sends our close and gives the agent a moment to answer it before the socket drops.
async fn close_politely<S>(ws: &mut WebSocket<S>, code: u16, reason: &str, write_timeout: Duration)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if send_frame(ws, &ws::close_frame(code, reason), write_timeout).await == Step::Stop {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(incoming) = ws.recv().await {
            if matches!(incoming, Incoming::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn ws_error(remote: SocketAddr, e: WsError) -> Step {
    match e.close_code() {
        Some(code) => {
            static BUDGET: LogBudget = LogBudget::new();
            crate::warn_within!(BUDGET, %remote, error = %e, code, "closing an agent's WebSocket");
            Step::Close(code, e.to_string())
        }
        None => {
            tracing::debug!(%remote, error = %e, "WebSocket connection ended");
            Step::Stop
        }
    }
}

/// A heartbeat lease from the registry and the acknowledgement that goes with it.
struct Leased {
    lease: Arc<Lease>,
    /// The whole WebSocket frame, written as it is to each heartbeat.
    ack: Vec<u8>,
}

/// Who a WebSocket connection speaks for: what it presented, and the uid it last spoke as
/// (to address errors about undecodable frames). Boxed, since every idle session keeps it.
struct Who {
    gate: Gate,
    last_uid: Option<AgentId>,
}

/// What one message's handling needs of its session.
struct Session<'a> {
    l: &'a AgentListener,
    conn: u64,
    remote: SocketAddr,
    who: &'a mut Who,
    lease: &'a mut Option<Box<Leased>>,
}

async fn on_binary<S>(
    session: Session<'_>,
    data: &[u8],
    ws: &mut WebSocket<S>,
    write_timeout: Duration,
) -> Step
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Session {
        l,
        conn,
        remote,
        who,
        lease,
    } = session;
    let Who { gate, last_uid } = who;
    let payload = match frame::decode_ws_payload(data) {
        Ok(p) => p,
        Err(e) => {
            static BUDGET: LogBudget = LogBudget::new();
            crate::warn_within!(BUDGET, %remote, error = %e, "malformed OpAMP WebSocket frame");
            return send_error(
                l,
                *last_uid,
                ServerError::BadRequest(e.to_string()),
                ws,
                write_timeout,
            )
            .await;
        }
    };
    // The common case first: a plain heartbeat under a lease, answered without decoding.
    if let Some(held) = lease.as_deref()
        && let Some(beat) = codec::plain_heartbeat(payload)
        && l.registry.plain_heartbeat(&held.lease, &beat)
    {
        return send_frame(ws, &held.ack, write_timeout).await;
    }
    let mut report = match codec::decode_agent_to_server(payload) {
        Ok(r) => r,
        Err(e) => {
            let uid = match &e {
                DecodeError::Uid(_) | DecodeError::Protobuf(_) | DecodeError::TooManyParts(_) => {
                    *last_uid
                }
            };
            static BUDGET: LogBudget = LogBudget::new();
            crate::warn_within!(BUDGET, %remote, error = %e, "undecodable OpAMP message");
            say_too_large(l, uid, remote, &e);
            return send_error(
                l,
                uid,
                ServerError::BadRequest(e.to_string()),
                ws,
                write_timeout,
            )
            .await;
        }
    };
    let first = last_uid.is_none();
    // Whose credential this connection carries is settled when a uid first speaks on it.
    if *last_uid != Some(report.instance_uid)
        && let Err(e) = admit(l, gate, &mut report).await
    {
        let reason = match &e {
            CredentialError::Refused(r) => {
                let _ = refuse(l, remote, &e);
                r.to_string()
            }
            CredentialError::Store(_) => {
                let _ = refuse(l, remote, &e);
                let err = ServerError::Unavailable {
                    message: "the server cannot check credentials right now".into(),
                    retry_after: Some(l.config.retry_after),
                };
                let _ = send_error(l, Some(report.instance_uid), err, ws, write_timeout).await;
                return Step::Close(close::TRY_AGAIN_LATER, "retry later".into());
            }
        };
        let err = ServerError::Refused(reason.clone());
        let _ = send_error(l, Some(report.instance_uid), err, ws, write_timeout).await;
        return Step::Close(close::POLICY, reason);
    }
    *last_uid = Some(report.instance_uid);
    // A newcomer arriving while the registry is far behind is asked to come back later
    // rather than queued behind everyone else (a reconnect storm after a restart).
    if first && l.registry.backlog() >= l.config.busy_backlog {
        l.config.admission.count_deferred();
        let err = ServerError::Unavailable {
            message: "server busy taking on agents; retry later".into(),
            retry_after: Some(l.config.admission.return_after(remote)),
        };
        let _ = send_error(l, *last_uid, err, ws, write_timeout).await;
        return Step::Close(close::TRY_AGAIN_LATER, "server busy; retry later".into());
    }
    if let Some(held) = lease.as_deref()
        && l.registry.heartbeat(&held.lease, &report)
    {
        return send_frame(ws, &held.ack, write_timeout).await;
    }
    match l.registry.report_ws(conn, report).await {
        Ok(answer) if matches!(answer.reply.error, Some(ServerError::Unavailable { .. })) => {
            // Turned away (the agent limit): told when to return, and the socket closed,
            // since clients wait for a closed socket, not for an error on an open one.
            let frame = codec::encode_ws_framed(&answer.reply, ws::binary_frame_start);
            let _ = send_frame(ws, &frame, write_timeout).await;
            Step::Close(
                close::TRY_AGAIN_LATER,
                "the server holds its maximum of agents".into(),
            )
        }
        Ok(answer) => {
            let frame = codec::encode_ws_framed(&answer.reply, ws::binary_frame_start);
            let step = send_frame(ws, &frame, write_timeout).await;
            *lease = answer
                .lease
                .map(|lease| Box::new(Leased { lease, ack: frame }));
            step
        }
        Err(_) => Step::Close(close::GOING_AWAY, "server shutting down".into()),
    }
}

/// On shutdown, tells the agent when to come back: spread over the storm window, so a
/// restart does not bring every agent back in the same instant.
async fn say_when_to_return<S>(
    l: &AgentListener,
    remote: SocketAddr,
    uid: Option<AgentId>,
    ws: &mut WebSocket<S>,
    write_timeout: Duration,
) -> Step
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let err = ServerError::Unavailable {
        message: "server shutting down".into(),
        retry_after: Some(l.config.admission.return_after(remote)),
    };
    let _ = send_error(l, uid, err, ws, write_timeout).await;
    Step::Close(close::GOING_AWAY, "server shutting down".into())
}

async fn send_error<S>(
    l: &AgentListener,
    uid: Option<AgentId>,
    err: ServerError,
    ws: &mut WebSocket<S>,
    write_timeout: Duration,
) -> Step
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut msg = codec::anonymous_error(err, l.registry.capabilities());
    if let Some(uid) = uid {
        msg.instance_uid = uid.as_bytes().to_vec();
    }
    let payload = frame::encode_ws_frame(msg.encoded_len(), |out| {
        let _ = msg.encode(out);
    });
    send_frame(ws, &ws::binary_frame(&payload), write_timeout).await
}

async fn send_frame<S>(ws: &mut WebSocket<S>, frame: &[u8], write_timeout: Duration) -> Step
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(write_timeout, ws.send(frame)).await {
        Ok(Ok(())) => Step::Continue,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "WebSocket write failed");
            Step::Stop
        }
        Err(_) => {
            tracing::warn!("WebSocket write timed out; dropping the connection");
            Step::Stop
        }
    }
}

#[cfg(test)]
mod tests {
    /// The session future is what every idle connection keeps resident, in a task cell
    /// that tokio rounds up to 128 bytes: up to 400 bytes (with the tracker's 8) the cell
    /// is 512 bytes, a few bytes more make it 640. Measured with the connection type the
    /// listener really hands it.
    #[test]
    fn an_idle_session_stays_small() {
        use super::*;
        fn output_size<A, R>(_: &impl FnOnce(A) -> R) -> usize {
            std::mem::size_of::<R>()
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let registry = crate::fleet::registry::spawn(Default::default(), Default::default());
            let l = AgentListener::new(registry, Default::default());
            let tracker = l.sessions.clone();
            let start = |io: Onboarding<TokioIo<hyper::upgrade::Upgraded>>| {
                tracker.track_future(ws_session(
                    l,
                    1,
                    "127.0.0.1:1".parse().unwrap(),
                    "ws://x".into(),
                    io,
                    Box::new(Who {
                        gate: Gate::Enrollment,
                        last_uid: None,
                    }),
                ))
            };
            let size = output_size(&start);
            eprintln!("session task future: {size} bytes");
            assert!(size <= 400, "the idle session future grew to {size} bytes");
        });
    }

    /// With the registry "far behind" (threshold 0), a new WebSocket agent's first message
    /// is answered UNAVAILABLE with when to retry, addressed to it, and the socket closes
    /// with 1013 (try again later).
    #[tokio::test]
    async fn a_newcomer_meeting_a_busy_registry_is_told_when_to_retry() {
        use futures_util::{SinkExt, StreamExt};
        use prost::Message as _;
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;

        use crate::opamp::proto;

        let shutdown = tokio_util::sync::CancellationToken::new();
        let registry = crate::fleet::registry::spawn(Default::default(), shutdown.clone());
        let config = super::ListenerConfig {
            secret: "s".into(),
            busy_backlog: 0,
            ..Default::default()
        };
        let admission = config.admission.clone();
        let l = super::AgentListener::new(registry, config);
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let server = tokio::spawn(super::run(
            tcp,
            admission.clone(),
            None,
            l.router(),
            shutdown.clone(),
        ));
        let mut req = format!("ws://{addr}/v1/opamp")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Authorization", "Secret-Key s".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let uid = crate::fleet::AgentId::new_v7();
        let hello = proto::AgentToServer {
            instance_uid: uid.as_bytes().to_vec(),
            capabilities: 1,
            ..Default::default()
        };
        let mut frame = vec![0u8];
        hello.encode(&mut frame).unwrap();
        ws.send(Message::Binary(frame.into())).await.unwrap();

        let (mut told, mut close) = (None, None);
        while let Ok(Some(Ok(msg))) =
            tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await
        {
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
        let told = told.expect("an answer before the close");
        assert_eq!(told.instance_uid, uid.as_bytes().to_vec());
        let err = told.error_response.expect("an error response");
        assert_eq!(
            err.r#type,
            proto::ServerErrorResponseType::Unavailable as i32
        );
        let Some(proto::server_error_response::Details::RetryInfo(info)) = err.details else {
            panic!("retry info");
        };
        let wait = std::time::Duration::from_nanos(info.retry_after_nanoseconds);
        assert!((1..=5).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(close, Some(1013));
        assert_eq!(admission.stats().deferred_agents, 1);
        shutdown.cancel();
        let _ = server.await;
    }
}
