//! One agent's life on the network: connect (WebSocket or plain HTTP, with or without
//! TLS), report, heartbeat or poll, hand configurations and commands to its [`Driver`],
//! and reconnect with backoff when the connection or the server goes away.
//!
//! The same loops run a simulated Collector (`sim/`) and a supervised real one
//! (`supervisor/`): only the driver differs.

use std::future::Future;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::StatusCode;
use hyper::header;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use super::backoff::{Backoff, parse_retry_after};
use super::core::{ClientCore, Managed, MetricsTarget, RemoteOffer, UseCredential};
use super::net::{self, Link, Stream};
use super::stats::ClientStats;
use crate::args::SimTransport;
use crate::fleet::agent::{AgentId, Capabilities};
use crate::fleet::tap::{TapAnswer, TapRequest};
use crate::opamp::proto;

/// Largest OpAMP message we accept from the server (the spec's recommended default).
const MAX_MESSAGE: usize = 64 << 20;
/// A write or an HTTP exchange that takes longer than this counts as a lost connection.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Replies in a row an HTTP agent sends without waiting for its poll interval.
const MAX_IMMEDIATE_POSTS: usize = 4;

/// What a restart command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restarted {
    /// The managed process restarted behind a connection that stays up.
    InPlace,
    /// Agent and connection went away together: come back after this long.
    Reconnect(Duration),
}

/// The managed side of an agent: what it reports ([`Managed`]) and what it does with
/// what the server sends.
pub trait Driver: Managed + Send {
    /// Something the driver waits for (a timer, a process event).
    type Wake: Send;

    /// A configuration with a hash the agent has not seen. The driver records its
    /// status on `core` (APPLYING, or FAILED at once) and finishes later through `on_wake`.
    fn offer(&mut self, core: &mut ClientCore, offer: RemoteOffer);

    /// The server offered (or withdrew) a destination for the agent's own metrics.
    fn metrics_target(&mut self, target: Option<MetricsTarget>);

    /// The server assigned a new instance uid (already in `core`).
    fn new_uid(&mut self, _uid: AgentId) {}

    /// The credential to connect with from now on (`None`: the fleet secret): one the
    /// server offered (tried on the next connection), or the one before when the server
    /// refused it. A driver that outlives its process keeps it (the supervisor does).
    fn credential(&mut self, _credential: Option<&str>) {}

    /// Resolves when the driver has work; must be cancel-safe (it loses every race
    /// with the socket).
    fn wake(&mut self) -> impl Future<Output = Self::Wake> + Send;

    /// Does that work; whatever it marks on `core` is sent straight after.
    fn on_wake(
        &mut self,
        core: &mut ClientCore,
        wake: Self::Wake,
    ) -> impl Future<Output = ()> + Send;

    /// The server's restart command.
    fn restart(&mut self, core: &mut ClientCore) -> impl Future<Output = Restarted> + Send;

    /// The server asks for the newest items a pipeline handles (only agents that declare
    /// `io.fleetdeck.tap` are asked). Answered at once, with the next message.
    fn tap(&mut self, request: TapRequest) -> TapAnswer {
        TapAnswer::refused(request.id, "this agent does not tap its pipelines")
    }
}

/// Why a session ended.
#[derive(Debug)]
enum Ended {
    Shutdown,
    Restart(Duration),
    /// New connection settings (a credential): connect again at once, with them.
    Reconnect,
    /// The server refused the connection with this HTTP status.
    Refused {
        status: u16,
        retry_after: Option<Duration>,
    },
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
    Continue {
        reply: bool,
    },
    /// The restart command: the driver carries it out.
    Restart,
    Unavailable(Option<Duration>),
    /// The server offered a credential: reconnect with it.
    Reconnect,
}

/// An agent across its connections.
struct AgentRun<D> {
    core: ClientCore,
    driver: D,
    rng: SmallRng,
    source: Option<IpAddr>,
}

/// Runs one agent until `link.cancel` fires; `seed` drives its backoff jitter.
pub async fn run_agent<D: Driver>(
    link: Arc<Link>,
    core: ClientCore,
    driver: D,
    source: Option<IpAddr>,
    seed: u64,
) {
    run_agent_over(Arc::from([link]), 0, core, driver, source, seed).await
}

/// [`run_agent`] over several servers (replicas behind no load balancer): the agent
/// starts on `links[first]` and moves to the next whenever its connection is lost or
/// refused. The links share one cancel token.
pub async fn run_agent_over<D: Driver>(
    links: Arc<[Arc<Link>]>,
    first: usize,
    core: ClientCore,
    driver: D,
    source: Option<IpAddr>,
    seed: u64,
) {
    let Some(mut link) = links.get(first % links.len().max(1)).cloned() else {
        return;
    };
    let mut at = first;
    let mut run = AgentRun {
        core,
        driver,
        rng: SmallRng::seed_from_u64(seed),
        source,
    };
    let mut backoff = Backoff::new(link.backoff_initial, link.backoff_max);
    let mut attempts = 0u64;
    while !link.cancel.is_cancelled() {
        if attempts > 0 {
            ClientStats::add(&link.stats.reconnects);
        }
        attempts += 1;
        let ended = match link.transport {
            SimTransport::Ws => ws_session(&mut run, &link).await,
            SimTransport::Http => http_session(&mut run, &link).await,
        };
        let wait = match ended {
            Ended::Shutdown => break,
            Ended::Restart(wait) => {
                // A new process: sequence numbers from 0 and a full report.
                run.core.restarted();
                ClientStats::add(&link.stats.restarts);
                backoff.reset();
                wait
            }
            Ended::Reconnect => {
                backoff.reset();
                Duration::ZERO
            }
            Ended::Refused {
                status,
                retry_after,
            } => match run.core.connection_refused(status) {
                // Back to the credential before (or the fleet secret) at once.
                Some(UseCredential(c)) => {
                    run.driver.credential(c.as_deref());
                    Duration::from_millis(100)
                }
                None => {
                    if links.len() > 1 {
                        at = (at + 1) % links.len();
                        link = links[at].clone();
                    }
                    backoff.next_delay(&mut run.rng, retry_after)
                }
            },
            Ended::Lost {
                was_connected,
                retry_after,
            } => {
                if was_connected {
                    backoff.reset();
                }
                if links.len() > 1 {
                    at = (at + 1) % links.len();
                    link = links[at].clone();
                }
                backoff.next_delay(&mut run.rng, retry_after)
            }
        };
        // The driver keeps working while the agent is away (a supervised Collector
        // restarts after a crash even with the server gone).
        let until = Instant::now() + wait;
        loop {
            tokio::select! {
                _ = link.cancel.cancelled() => return,
                _ = sleep_until(until) => break,
                w = run.driver.wake() => run.driver.on_wake(&mut run.core, w).await,
            }
        }
    }
}

impl<D: Driver> AgentRun<D> {
    /// Reads a server message; synchronous, so the (large) message is never part of the
    /// agent task's state across an await.
    fn handle(&mut self, msg: proto::ServerToAgent, link: &Link) -> Next {
        ClientStats::add(&link.stats.messages_received);
        let reaction = self.core.on_message(msg);
        if let Some(reason) = reaction.bad_request {
            ClientStats::add(&link.stats.bad_requests);
            tracing::debug!(agent = %self.core.uid(), "server refused a message: {reason}");
        }
        if let Some(wait) = reaction.unavailable {
            ClientStats::add(&link.stats.throttled);
            return Next::Unavailable(wait);
        }
        if reaction.restart {
            return Next::Restart;
        }
        if let Some(uid) = reaction.new_uid {
            self.driver.new_uid(uid);
        }
        if let Some(target) = reaction.metrics_target {
            self.driver.metrics_target(target);
        }
        if let Some(offer) = reaction.offer {
            self.driver.offer(&mut self.core, offer);
        }
        if let Some(request) = reaction.tap {
            let answer = match request {
                Ok(r) => self.driver.tap(r),
                Err((id, why)) => TapAnswer::refused(id, why),
            };
            self.core.answer_tap(&answer);
        }
        if let Some(offer) = reaction.credential
            && crate::fleet::credentials::takes_credentials(Capabilities(
                self.driver.capabilities(),
            ))
        {
            let credential = offer.credential.clone();
            if self.core.try_credential(offer) {
                self.driver.credential(Some(&credential));
                return Next::Reconnect;
            }
        }
        Next::Continue {
            reply: reaction.reply || self.core.has_unreported(),
        }
    }

    fn message(&mut self) -> proto::AgentToServer {
        self.core.next_message(&self.driver)
    }

    fn goodbye(&mut self) -> proto::AgentToServer {
        self.core.disconnect_message(self.driver.capabilities())
    }

    /// The server took the connection: a credential being tried is the agent's own now.
    fn accepted(&mut self) {
        if let Some(UseCredential(c)) = self.core.connection_accepted() {
            tracing::info!(agent = %self.core.uid(), "connected with the new credential the server offered");
            self.driver.credential(c.as_deref());
        }
    }

    /// What to send as `Authorization`: the agent's own credential, else the link's secret.
    fn authorization(&self, link: &Link) -> Option<hyper::header::HeaderValue> {
        match self.core.authorization() {
            Some(own) => hyper::header::HeaderValue::from_str(&own).ok(),
            None => link.authorization.clone(),
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

fn refused(status: StatusCode, headers: &hyper::HeaderMap, link: &Link, uid: AgentId) -> Ended {
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        ClientStats::add(&link.stats.throttled);
        return Ended::Lost {
            was_connected: false,
            retry_after: retry_after_of(status, headers),
        };
    }
    ClientStats::add(&link.stats.connect_errors);
    match status {
        StatusCode::UNAUTHORIZED => {
            tracing::warn!(agent = %uid, "server answered 401: check --secret-key (or the agent's credential)");
        }
        StatusCode::FORBIDDEN => {
            tracing::warn!(agent = %uid, "server answered 403: this agent is refused (revoked, or it must use its own credential)");
        }
        _ => tracing::debug!(agent = %uid, "server answered HTTP {status}"),
    }
    Ended::Refused {
        status: status.as_u16(),
        retry_after: retry_after_of(status, headers),
    }
}

// ---------------------------------------------------------------- WebSocket

type Ws = WebSocketStream<Stream>;

/// Small buffers: thousands of mostly idle connections must fit in little memory.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_MESSAGE + 1024)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

async fn ws_connect<D: Driver>(run: &AgentRun<D>, link: &Link) -> Result<Ws, Ended> {
    let stream = net::connect_stream(link, run.source).await.map_err(|e| {
        ClientStats::add(&link.stats.connect_errors);
        tracing::debug!(agent = %run.core.uid(), "connect to {}: {e}", link.server);
        Ended::lost(false)
    })?;
    let mut request = link.url.ws_url().into_client_request().map_err(|e| {
        tracing::error!("bad WebSocket URL {}: {e}", link.url.ws_url());
        Ended::lost(false)
    })?;
    if let Some(auth) = run.authorization(link) {
        request.headers_mut().insert(header::AUTHORIZATION, auth);
    }
    match timeout(
        IO_TIMEOUT,
        tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config())),
    )
    .await
    {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            Err(refused(resp.status(), resp.headers(), link, run.core.uid()))
        }
        Ok(Err(e)) => {
            ClientStats::add(&link.stats.connect_errors);
            tracing::debug!(agent = %run.core.uid(), "WebSocket handshake: {e}");
            Err(Ended::lost(false))
        }
        Err(_) => {
            ClientStats::add(&link.stats.connect_errors);
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

async fn ws_send(ws: &mut Ws, msg: &proto::AgentToServer, stats: &ClientStats) -> bool {
    let ok = matches!(
        timeout(IO_TIMEOUT, ws.send(ws_frame(msg))).await,
        Ok(Ok(()))
    );
    if ok {
        ClientStats::add(&stats.messages_sent);
    }
    ok
}

/// Last words on a WebSocket: agent_disconnect, then a normal Close.
async fn ws_goodbye<D: Driver>(ws: &mut Ws, run: &mut AgentRun<D>, link: &Link) {
    let bye = run.goodbye();
    if ws_send(ws, &bye, &link.stats).await {
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

async fn ws_session<D: Driver>(run: &mut AgentRun<D>, link: &Link) -> Ended {
    // Boxed, like the goodbyes below: their futures are large and short-lived, and the
    // agent task would otherwise be sized for them for its whole life.
    let mut ws = match Box::pin(ws_connect(run, link)).await {
        Ok(ws) => ws,
        Err(ended) => return ended,
    };
    let _connected = Connected::new(&link.stats.connected);
    run.accepted();
    run.core.on_connect();
    let first = run.message();
    if !ws_send(&mut ws, &first, &link.stats).await {
        return Ended::lost(false);
    }
    let mut next_beat = Instant::now() + run.core.heartbeat();
    loop {
        let mut reply = false;
        tokio::select! {
            _ = link.cancel.cancelled() => {
                Box::pin(ws_goodbye(&mut ws, run, link)).await;
                return Ended::Shutdown;
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Binary(data))) => {
                    let Some(msg) = ws_decode(&data) else {
                        ClientStats::add(&link.stats.bad_requests);
                        continue;
                    };
                    match run.handle(msg, link) {
                        Next::Continue { reply: r } => reply = r,
                        Next::Restart => match run.driver.restart(&mut run.core).await {
                            Restarted::InPlace => reply = run.core.has_unreported(),
                            Restarted::Reconnect(wait) => {
                                Box::pin(ws_goodbye(&mut ws, run, link)).await;
                                return Ended::Restart(wait);
                            }
                        },
                        Next::Unavailable(wait) => {
                            Box::pin(ws_goodbye(&mut ws, run, link)).await;
                            return Ended::Lost { was_connected: true, retry_after: wait };
                        }
                        Next::Reconnect => {
                            Box::pin(ws_goodbye(&mut ws, run, link)).await;
                            return Ended::Reconnect;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ended::lost(true),
                Some(Ok(_)) => {}
            },
            _ = sleep_until(next_beat) => reply = true,
            w = run.driver.wake() => {
                run.driver.on_wake(&mut run.core, w).await;
                reply = run.core.has_unreported();
            }
        }
        if reply {
            let msg = run.message();
            if !ws_send(&mut ws, &msg, &link.stats).await {
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
    async fn sender<D: Driver>(
        &mut self,
        run: &AgentRun<D>,
        link: &Link,
    ) -> std::io::Result<&mut Sender> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            if self.sender.is_some() {
                // The server closed our keep-alive connection (e.g. it restarted).
                ClientStats::add(&link.stats.reconnects);
            }
            let stream = net::connect_stream(link, run.source).await?;
            // A 4 KiB read buffer instead of hyper's adaptive 8 KiB+: OpAMP replies are
            // small and thousands of idle keep-alive connections add up.
            let (sender, conn) = hyper::client::conn::http1::Builder::new()
                .read_buf_exact_size(Some(4096))
                .handshake(TokioIo::new(stream))
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

async fn http_post<D: Driver>(
    conn: &mut HttpConn,
    run: &AgentRun<D>,
    link: &Link,
    msg: &proto::AgentToServer,
    was_connected: bool,
) -> Posted {
    let mut body = msg.encode_to_vec();
    if link.http_gzip {
        body = gzip(&body);
    }
    let body = Bytes::from(body);
    // A keep-alive connection the server closed since the last post fails at once: the
    // message goes again, once, on a new connection rather than being lost (it may carry
    // a status change or the answer to a tap).
    let mut attempt = 0;
    let response = loop {
        attempt += 1;
        let reused = conn.sender.as_ref().is_some_and(|s| !s.is_closed());
        let sender = match conn.sender(run, link).await {
            Ok(s) => s,
            Err(e) => {
                ClientStats::add(&link.stats.connect_errors);
                tracing::debug!(agent = %run.core.uid(), "connect to {}: {e}", link.server);
                return Posted::Failed(Ended::lost(was_connected));
            }
        };
        let mut builder = hyper::Request::post(link.url.path.as_str())
            .header(header::HOST, link.url.authority())
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header(header::ACCEPT_ENCODING, "gzip")
            .header("OpAMP-Instance-UID", run.core.uid().to_string());
        if link.http_gzip {
            builder = builder.header(header::CONTENT_ENCODING, "gzip");
        }
        if let Some(auth) = run.authorization(link) {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        let Ok(request) = builder.body(Full::new(body.clone())) else {
            return Posted::Failed(Ended::lost(was_connected));
        };
        match timeout(IO_TIMEOUT, sender.send_request(request)).await {
            Ok(Ok(r)) => break r,
            Ok(Err(e)) if reused && attempt == 1 => {
                conn.sender = None;
                tracing::debug!(agent = %run.core.uid(),
                    "the server closed the keep-alive connection ({e}); posting again");
            }
            _ => {
                conn.sender = None;
                ClientStats::add(&link.stats.connect_errors);
                return Posted::Failed(Ended::lost(was_connected));
            }
        }
    };
    ClientStats::add(&link.stats.messages_sent);
    let (parts, body) = response.into_parts();
    if parts.status != StatusCode::OK {
        return Posted::Failed(refused(parts.status, &parts.headers, link, run.core.uid()));
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
            ClientStats::add(&link.stats.bad_requests);
            Posted::Reply(Box::default())
        }
    }
}

/// Plain HTTP: the agent speaks, the server answers; everything the server wants to say
/// waits for the next poll (every heartbeat interval).
async fn http_session<D: Driver>(run: &mut AgentRun<D>, link: &Link) -> Ended {
    let mut conn = HttpConn { sender: None };
    let mut connected: Option<Connected> = None;
    run.core.on_connect();
    let mut post_now = true;
    let mut next_poll = Instant::now();
    loop {
        if post_now {
            // Send, and keep answering while the server's replies ask for more
            // (full state, APPLYING), up to a few in a row.
            for _ in 0..MAX_IMMEDIATE_POSTS {
                let msg = run.message();
                let reply = match http_post(&mut conn, run, link, &msg, connected.is_some()).await {
                    Posted::Reply(r) => r,
                    Posted::Failed(ended) => return ended,
                };
                if connected.is_none() {
                    connected = Some(Connected::new(&link.stats.connected));
                    run.accepted();
                }
                match run.handle(*reply, link) {
                    Next::Continue { reply: true } => continue,
                    Next::Continue { reply: false } => break,
                    Next::Restart => match run.driver.restart(&mut run.core).await {
                        Restarted::InPlace if run.core.has_unreported() => continue,
                        Restarted::InPlace => break,
                        Restarted::Reconnect(wait) => {
                            Box::pin(http_goodbye(&mut conn, run, link)).await;
                            return Ended::Restart(wait);
                        }
                    },
                    Next::Unavailable(wait) => {
                        return Ended::Lost {
                            was_connected: true,
                            retry_after: wait,
                        };
                    }
                    Next::Reconnect => {
                        Box::pin(http_goodbye(&mut conn, run, link)).await;
                        return Ended::Reconnect;
                    }
                }
            }
            next_poll = Instant::now() + run.core.heartbeat();
        }
        tokio::select! {
            _ = link.cancel.cancelled() => {
                Box::pin(http_goodbye(&mut conn, run, link)).await;
                return Ended::Shutdown;
            }
            _ = sleep_until(next_poll) => post_now = true,
            w = run.driver.wake() => {
                run.driver.on_wake(&mut run.core, w).await;
                post_now = run.core.has_unreported();
            }
        }
    }
}

/// The last POST carries agent_disconnect (spec HEAD asks HTTP clients to send it).
async fn http_goodbye<D: Driver>(conn: &mut HttpConn, run: &mut AgentRun<D>, link: &Link) {
    if conn.sender.is_none() {
        return;
    }
    let bye = run.goodbye();
    let _ = timeout(
        Duration::from_secs(2),
        http_post(conn, run, link, &bye, true),
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
        headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("12"));
        assert_eq!(
            retry_after_of(StatusCode::SERVICE_UNAVAILABLE, &headers),
            Some(Duration::from_secs(12))
        );
        assert_eq!(retry_after_of(StatusCode::UNAUTHORIZED, &headers), None);
    }
}
