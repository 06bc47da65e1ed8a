//! One simulated agent's life on the network: connect (WebSocket or plain HTTP), report,
//! heartbeat or poll, apply configurations, push own metrics, and reconnect with backoff
//! when the connection or the server goes away.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use hyper_util::rt::TokioIo;
use prost::Message as _;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use super::agent::{
    AgentCore, ApplyResult, ConfigCache, Effective, MetricsTarget, PendingApply, Reaction,
};
use super::backoff::{Backoff, parse_retry_after};
use super::identity::Identity;
use super::net::{self, ServerUrl};
use super::stats::SimStats;
use super::telemetry::{self, OwnTelemetry};
use crate::cli::args::SimTransport;
use crate::opamp::proto;

/// Largest OpAMP message we accept from the server (the spec's recommended default).
const MAX_MESSAGE: usize = 64 << 20;
/// A write or an HTTP exchange that takes longer than this counts as a lost connection.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Replies in a row an HTTP agent sends without waiting for its poll interval.
const MAX_IMMEDIATE_POSTS: usize = 4;

/// Timings that tests and demos shorten.
#[derive(Debug, Clone)]
pub struct Timing {
    pub heartbeat: Duration,
    /// Longest simulated Collector restart after a new configuration (random up to it).
    pub apply_delay: Duration,
    /// How long a restart command keeps the agent away.
    pub restart_delay: Duration,
    pub metrics_interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// What every agent of a fleet shares.
pub struct Shared {
    pub server: SocketAddr,
    pub url: ServerUrl,
    pub transport: SimTransport,
    pub authorization: Option<HeaderValue>,
    pub http_gzip: bool,
    pub timing: Timing,
    pub cache: ConfigCache,
    pub stats: SimStats,
    pub metrics_client: reqwest::Client,
    pub cancel: CancellationToken,
}

/// Why a session ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    Restart,
    Lost {
        was_connected: bool,
        retry_after: Option<Duration>,
    },
}

impl Ended {
    fn lost(was_connected: bool) -> Ended {
        Ended::Lost {
            was_connected,
            retry_after: None,
        }
    }
}

/// What to do after a server message.
enum Next {
    Continue { reply: bool },
    Restart,
    Unavailable(Option<Duration>),
}

/// An agent across its connections and (simulated) process restarts.
struct AgentRun {
    core: AgentCore,
    telemetry: OwnTelemetry,
    metrics_target: Option<MetricsTarget>,
    next_metrics: Option<Instant>,
    pending: Option<(PendingApply, Instant)>,
    rng: SmallRng,
    source: Option<IpAddr>,
}

/// Runs one agent until the fleet is cancelled.
pub async fn run_agent(shared: Arc<Shared>, identity: Arc<Identity>, source: Option<IpAddr>) {
    let bootstrap = match shared
        .cache
        .check(super::agent::bootstrap_yaml(identity.tier).as_bytes())
    {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("built-in agent configuration is invalid: {e}");
            return;
        }
    };
    let mut rng = SmallRng::seed_from_u64(identity.behaviour_seed);
    let core = AgentCore::new(identity, bootstrap, shared.timing.heartbeat);
    let telemetry = OwnTelemetry::new(rng.random(), core.started_ns());
    let mut run = AgentRun {
        core,
        telemetry,
        metrics_target: None,
        next_metrics: None,
        pending: None,
        rng,
        source,
    };
    let mut backoff = Backoff::new(shared.timing.backoff_initial, shared.timing.backoff_max);
    let mut attempts = 0u64;
    while !shared.cancel.is_cancelled() {
        if attempts > 0 {
            SimStats::add(&shared.stats.reconnects);
        }
        attempts += 1;
        let ended = match shared.transport {
            SimTransport::Ws => ws_session(&mut run, &shared).await,
            SimTransport::Http => http_session(&mut run, &shared).await,
        };
        let wait = match ended {
            Ended::Shutdown => break,
            Ended::Restart => {
                SimStats::add(&shared.stats.restarts);
                backoff.reset();
                let wait = shared.timing.restart_delay;
                run.restart();
                wait
            }
            Ended::Lost {
                was_connected,
                retry_after,
            } => {
                if was_connected {
                    backoff.reset();
                }
                backoff.next_delay(&mut run.rng, retry_after)
            }
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            _ = sleep(wait) => {}
        }
    }
}

impl AgentRun {
    /// The process restarted: new start time, fresh counters, sequence from 0.
    fn restart(&mut self) {
        self.core.restarted();
        self.telemetry = OwnTelemetry::new(self.rng.random(), self.core.started_ns());
    }

    fn handle(&mut self, msg: proto::ServerToAgent, shared: &Shared) -> Next {
        SimStats::add(&shared.stats.messages_received);
        let reaction: Reaction = self.core.on_message(msg, &shared.cache);
        if let Some(reason) = reaction.bad_request {
            SimStats::add(&shared.stats.bad_requests);
            tracing::debug!(agent = %self.core.uid(), "server refused a message: {reason}");
        }
        if let Some(wait) = reaction.unavailable {
            SimStats::add(&shared.stats.throttled);
            return Next::Unavailable(wait);
        }
        if reaction.restart {
            return Next::Restart;
        }
        if let Some(target) = reaction.metrics_target
            && target != self.metrics_target
        {
            // Spread the first push over an interval so a fleet does not push in step.
            let first = shared
                .timing
                .metrics_interval
                .mul_f64(self.rng.random_range(0.1..1.0));
            // A zero interval means the agent keeps its own metrics to itself.
            let pushes = !shared.timing.metrics_interval.is_zero();
            self.next_metrics = target
                .as_ref()
                .filter(|_| pushes)
                .map(|_| Instant::now() + first);
            self.metrics_target = target;
        }
        if let Some(pending) = reaction.apply {
            shared.stats.config_seen(&pending.hash);
            let delay = shared
                .timing
                .apply_delay
                .mul_f64(self.rng.random_range(0.2..=1.0));
            self.pending = Some((pending, Instant::now() + delay));
        }
        Next::Continue {
            reply: reaction.reply,
        }
    }

    fn apply_due(&self) -> Option<Instant> {
        self.pending.as_ref().map(|(_, at)| *at)
    }

    fn finish_apply(&mut self, shared: &Shared) {
        let Some((pending, _)) = self.pending.take() else {
            return;
        };
        let now = super::agent::unix_nanos();
        // Counters up to now belong to the configuration that was running.
        self.telemetry.advance(&self.core.effective().config, now);
        let hash = pending.hash.clone();
        match self.core.finish_apply(pending) {
            ApplyResult::Applied => shared.stats.config_done(&hash, true),
            ApplyResult::Failed => shared.stats.config_done(&hash, false),
            ApplyResult::Superseded => {}
        }
    }

    async fn push_metrics(&mut self, shared: &Shared) {
        self.next_metrics = Some(Instant::now() + shared.timing.metrics_interval);
        let Some(target) = self.metrics_target.as_ref() else {
            return;
        };
        let now = super::agent::unix_nanos();
        let effective: Arc<Effective> = self.core.effective().clone();
        self.telemetry.advance(&effective.config, now);
        let request = self
            .telemetry
            .request(&self.core.identity, self.core.uid(), now);
        match telemetry::push(&shared.metrics_client, target, &request).await {
            Ok(()) => SimStats::add(&shared.stats.metric_pushes),
            Err(e) => {
                SimStats::add(&shared.stats.metric_push_errors);
                tracing::debug!(agent = %self.core.uid(), "{e}");
            }
        }
    }
}

/// Decrements the connected gauge when a session ends, however it ends.
struct Connected<'a>(&'a AtomicI64);

impl<'a> Connected<'a> {
    fn new(gauge: &'a AtomicI64) -> Self {
        gauge.fetch_add(1, Relaxed);
        Connected(gauge)
    }
}

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Reads a throttling response: 429/503 with an optional Retry-After.
fn retry_after_of(status: StatusCode, headers: &hyper::HeaderMap) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

fn refused(
    status: StatusCode,
    headers: &hyper::HeaderMap,
    shared: &Shared,
    agent: &AgentCore,
) -> Ended {
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        SimStats::add(&shared.stats.throttled);
    } else {
        SimStats::add(&shared.stats.connect_errors);
        if status == StatusCode::UNAUTHORIZED {
            tracing::warn!(agent = %agent.uid(), "server answered 401: check --secret-key");
        } else {
            tracing::debug!(agent = %agent.uid(), "server answered HTTP {status}");
        }
    }
    Ended::Lost {
        was_connected: false,
        retry_after: retry_after_of(status, headers),
    }
}

// ---------------------------------------------------------------- WebSocket

type Ws = WebSocketStream<TcpStream>;

/// Small buffers: thousands of mostly idle connections must fit in little memory.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_MESSAGE + 1024)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

async fn ws_connect(run: &AgentRun, shared: &Shared) -> Result<Ws, Ended> {
    let tcp = net::connect(shared.server, run.source).await.map_err(|e| {
        SimStats::add(&shared.stats.connect_errors);
        tracing::debug!(agent = %run.core.uid(), "connect to {}: {e}", shared.server);
        Ended::lost(false)
    })?;
    let mut request = shared.url.ws_url().into_client_request().map_err(|e| {
        tracing::error!("bad WebSocket URL {}: {e}", shared.url.ws_url());
        Ended::lost(false)
    })?;
    if let Some(auth) = &shared.authorization {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, auth.clone());
    }
    match timeout(
        IO_TIMEOUT,
        tokio_tungstenite::client_async_with_config(request, tcp, Some(ws_config())),
    )
    .await
    {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            Err(refused(resp.status(), resp.headers(), shared, &run.core))
        }
        Ok(Err(e)) => {
            SimStats::add(&shared.stats.connect_errors);
            tracing::debug!(agent = %run.core.uid(), "WebSocket handshake: {e}");
            Err(Ended::lost(false))
        }
        Err(_) => {
            SimStats::add(&shared.stats.connect_errors);
            Err(Ended::lost(false))
        }
    }
}

/// OpAMP over WebSocket: a 0x00 varint header, then the protobuf.
fn ws_frame(msg: &proto::AgentToServer) -> Message {
    let mut buf = Vec::with_capacity(1 + msg.encoded_len());
    buf.push(0);
    msg.encode(&mut buf).unwrap_or_default();
    Message::Binary(Bytes::from(buf))
}

fn ws_decode(data: &[u8]) -> Option<proto::ServerToAgent> {
    match data.split_first() {
        Some((0, body)) => proto::ServerToAgent::decode(body).ok(),
        _ => None,
    }
}

async fn ws_send(ws: &mut Ws, msg: &proto::AgentToServer, stats: &SimStats) -> bool {
    let ok = matches!(
        timeout(IO_TIMEOUT, ws.send(ws_frame(msg))).await,
        Ok(Ok(()))
    );
    if ok {
        SimStats::add(&stats.messages_sent);
    }
    ok
}

/// Last words on a WebSocket: agent_disconnect, then a normal Close.
async fn ws_goodbye(ws: &mut Ws, run: &mut AgentRun, shared: &Shared) {
    let bye = run.core.disconnect_message();
    if ws_send(ws, &bye, &shared.stats).await {
        let close = CloseFrame {
            code: CloseCode::Normal,
            reason: "agent shutting down".into(),
        };
        let _ = timeout(Duration::from_secs(2), ws.close(Some(close))).await;
        // Wait briefly for the server's Close so the handshake completes.
        let _ = timeout(Duration::from_secs(2), async {
            while ws.next().await.is_some() {}
        })
        .await;
    }
}

async fn ws_session(run: &mut AgentRun, shared: &Shared) -> Ended {
    let mut ws = match ws_connect(run, shared).await {
        Ok(ws) => ws,
        Err(ended) => return ended,
    };
    let _connected = Connected::new(&shared.stats.connected);
    run.core.on_connect();
    let first = run.core.next_message();
    if !ws_send(&mut ws, &first, &shared.stats).await {
        return Ended::lost(false);
    }
    let mut next_beat = Instant::now() + run.core.heartbeat();
    loop {
        let apply_at = run.apply_due();
        let metrics_at = run.next_metrics;
        let mut reply = false;
        tokio::select! {
            _ = shared.cancel.cancelled() => {
                ws_goodbye(&mut ws, run, shared).await;
                return Ended::Shutdown;
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Binary(data))) => {
                    let Some(msg) = ws_decode(&data) else {
                        SimStats::add(&shared.stats.bad_requests);
                        continue;
                    };
                    match run.handle(msg, shared) {
                        Next::Continue { reply: r } => reply = r,
                        Next::Restart => {
                            ws_goodbye(&mut ws, run, shared).await;
                            return Ended::Restart;
                        }
                        Next::Unavailable(wait) => {
                            ws_goodbye(&mut ws, run, shared).await;
                            return Ended::Lost { was_connected: true, retry_after: wait };
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ended::lost(true),
                Some(Ok(_)) => {}
            },
            _ = sleep_until(next_beat) => reply = true,
            _ = sleep_until(apply_at.unwrap_or_else(far_future)), if apply_at.is_some() => {
                run.finish_apply(shared);
                reply = true;
            }
            _ = sleep_until(metrics_at.unwrap_or_else(far_future)), if metrics_at.is_some() => {
                run.push_metrics(shared).await;
            }
        }
        if reply {
            let msg = run.core.next_message();
            if !ws_send(&mut ws, &msg, &shared.stats).await {
                return Ended::lost(true);
            }
            next_beat = Instant::now() + run.core.heartbeat();
        }
    }
}

// ---------------------------------------------------------------- plain HTTP

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One keep-alive connection, re-dialled when the server closes it.
struct HttpConn {
    sender: Option<Sender>,
}

impl HttpConn {
    async fn sender(&mut self, run: &AgentRun, shared: &Shared) -> std::io::Result<&mut Sender> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            if self.sender.is_some() {
                // The server closed our keep-alive connection (e.g. it restarted).
                SimStats::add(&shared.stats.reconnects);
            }
            let tcp = net::connect(shared.server, run.source).await?;
            // A 4 KiB read buffer instead of hyper's adaptive 8 KiB+: OpAMP replies are
            // small and thousands of idle keep-alive connections add up.
            let (sender, conn) = hyper::client::conn::http1::Builder::new()
                .read_buf_exact_size(Some(4096))
                .handshake(TokioIo::new(tcp))
                .await
                .map_err(std::io::Error::other)?;
            // The connection task ends when the sender is dropped or the peer closes.
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no HTTP connection"))
    }
}

enum Posted {
    Reply(Box<proto::ServerToAgent>),
    Failed(Ended),
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(MAX_MESSAGE as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() <= MAX_MESSAGE).then_some(out)
}

async fn http_post(
    conn: &mut HttpConn,
    run: &AgentRun,
    shared: &Shared,
    msg: &proto::AgentToServer,
    was_connected: bool,
) -> Posted {
    let sender = match conn.sender(run, shared).await {
        Ok(s) => s,
        Err(e) => {
            SimStats::add(&shared.stats.connect_errors);
            tracing::debug!(agent = %run.core.uid(), "connect to {}: {e}", shared.server);
            return Posted::Failed(Ended::lost(was_connected));
        }
    };
    let mut body = msg.encode_to_vec();
    let mut builder = hyper::Request::post(shared.url.path.as_str())
        .header(header::HOST, shared.url.authority())
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .header(header::ACCEPT_ENCODING, "gzip")
        .header("OpAMP-Instance-UID", run.core.uid().to_string());
    if shared.http_gzip {
        body = gzip(&body);
        builder = builder.header(header::CONTENT_ENCODING, "gzip");
    }
    if let Some(auth) = &shared.authorization {
        builder = builder.header(header::AUTHORIZATION, auth.clone());
    }
    let Ok(request) = builder.body(Full::new(Bytes::from(body))) else {
        return Posted::Failed(Ended::lost(was_connected));
    };
    let response = match timeout(IO_TIMEOUT, sender.send_request(request)).await {
        Ok(Ok(r)) => r,
        _ => {
            conn.sender = None;
            SimStats::add(&shared.stats.connect_errors);
            return Posted::Failed(Ended::lost(was_connected));
        }
    };
    SimStats::add(&shared.stats.messages_sent);
    let (parts, body) = response.into_parts();
    if parts.status != StatusCode::OK {
        return Posted::Failed(refused(parts.status, &parts.headers, shared, &run.core));
    }
    let Ok(Ok(collected)) = timeout(IO_TIMEOUT, Limited::new(body, MAX_MESSAGE).collect()).await
    else {
        conn.sender = None;
        return Posted::Failed(Ended::lost(was_connected));
    };
    let raw = collected.to_bytes();
    let gzipped = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let decoded = if gzipped {
        gunzip(&raw).and_then(|b| proto::ServerToAgent::decode(b.as_slice()).ok())
    } else {
        proto::ServerToAgent::decode(raw).ok()
    };
    match decoded {
        Some(reply) => Posted::Reply(Box::new(reply)),
        None => {
            SimStats::add(&shared.stats.bad_requests);
            Posted::Reply(Box::default())
        }
    }
}

/// Plain HTTP: the agent speaks, the server answers; everything the server wants to say
/// waits for the next poll (every heartbeat interval).
async fn http_session(run: &mut AgentRun, shared: &Shared) -> Ended {
    let mut conn = HttpConn { sender: None };
    let mut connected: Option<Connected> = None;
    run.core.on_connect();
    let mut post_now = true;
    let mut next_poll = Instant::now();
    loop {
        if post_now {
            post_now = false;
            // Send, and keep answering while the server's replies ask for more
            // (full state, APPLYING), up to a few in a row.
            for _ in 0..MAX_IMMEDIATE_POSTS {
                let msg = run.core.next_message();
                let reply = match http_post(&mut conn, run, shared, &msg, connected.is_some()).await
                {
                    Posted::Reply(r) => r,
                    Posted::Failed(ended) => return ended,
                };
                if connected.is_none() {
                    connected = Some(Connected::new(&shared.stats.connected));
                }
                match run.handle(*reply, shared) {
                    Next::Continue { reply: true } => continue,
                    Next::Continue { reply: false } => break,
                    Next::Restart => {
                        http_goodbye(&mut conn, run, shared).await;
                        return Ended::Restart;
                    }
                    Next::Unavailable(wait) => {
                        return Ended::Lost {
                            was_connected: true,
                            retry_after: wait,
                        };
                    }
                }
            }
            next_poll = Instant::now() + run.core.heartbeat();
        }
        let apply_at = run.apply_due();
        let metrics_at = run.next_metrics;
        tokio::select! {
            _ = shared.cancel.cancelled() => {
                http_goodbye(&mut conn, run, shared).await;
                return Ended::Shutdown;
            }
            _ = sleep_until(next_poll) => post_now = true,
            _ = sleep_until(apply_at.unwrap_or_else(far_future)), if apply_at.is_some() => {
                run.finish_apply(shared);
                post_now = true;
            }
            _ = sleep_until(metrics_at.unwrap_or_else(far_future)), if metrics_at.is_some() => {
                run.push_metrics(shared).await;
            }
        }
    }
}

/// The last POST carries agent_disconnect (spec HEAD asks HTTP clients to send it).
async fn http_goodbye(conn: &mut HttpConn, run: &mut AgentRun, shared: &Shared) {
    if conn.sender.is_none() {
        return;
    }
    let bye = run.core.disconnect_message();
    let _ = timeout(
        Duration::from_secs(2),
        http_post(conn, run, shared, &bye, true),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_frames_carry_a_zero_header() {
        let msg = proto::AgentToServer {
            instance_uid: vec![1; 16],
            sequence_num: 5,
            ..Default::default()
        };
        let Message::Binary(data) = ws_frame(&msg) else {
            panic!("not binary");
        };
        assert_eq!(data[0], 0);
        assert_eq!(proto::AgentToServer::decode(&data[1..]).ok(), Some(msg));
        let reply = proto::ServerToAgent {
            capabilities: 3,
            ..Default::default()
        };
        let mut framed = vec![0];
        framed.extend(reply.encode_to_vec());
        assert_eq!(ws_decode(&framed), Some(reply));
        assert_eq!(ws_decode(&[1, 2, 3]), None);
    }

    #[test]
    fn gzip_round_trip() {
        let data = b"opamp".repeat(100);
        assert_eq!(gunzip(&gzip(&data)), Some(data));
        assert_eq!(gunzip(b"not gzip"), None);
    }

    #[test]
    fn retry_after_only_for_throttling() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("12"));
        assert_eq!(
            retry_after_of(StatusCode::SERVICE_UNAVAILABLE, &headers),
            Some(Duration::from_secs(12))
        );
        assert_eq!(retry_after_of(StatusCode::UNAUTHORIZED, &headers), None);
    }
}
