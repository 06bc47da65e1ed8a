//! Admission to the agent listener: how many connections it may hold and how many new agents
//! it takes on at once.
//!
//! - **Connections.** Every connection costs a file descriptor, and one process may only open
//!   so many. The listener counts its open connections and, past a budget a little under the
//!   open-file limit (the rest of the server needs files too: the store, the API, logs), answers
//!   newcomers itself with `503 Service Unavailable` + `Retry-After` and closes, instead of
//!   spinning on `EMFILE` in its accept loop while connections pile up in the backlog. Should the
//!   limit be hit anyway, one spare descriptor is given up to accept and refuse a connection
//!   the same way. Both are logged once per episode.
//! - **Newcomers.** After a restart every agent reconnects at once. Only so many new sessions
//!   (a WebSocket upgrade until its first reply, or one HTTP exchange) are worked on at a time;
//!   the rest get `503` + a jittered `Retry-After` of a few seconds before any upgrade, which
//!   every OpAMP client honours (opamp-go ignores `Unavailable` error responses on an open
//!   WebSocket, see the protocol notes), so the storm is spread instead of queued.
//! - **Strangers.** A connection that has not presented the agent secret (or an own-telemetry
//!   token) within [`STRANGER_DEADLINE`] of being accepted is closed, however slowly it
//!   trickles bytes, so silent sockets cannot hold the budget. While more than half of it is
//!   in use, one address may hold at most [`MAX_STRANGERS_PER_IP`] such connections.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors kept back from agents for everything else the process opens.
const MIN_RESERVE: usize = 128;
/// Refusals being written at once; past this a connection is closed without an answer, so a
/// flood of refusals cannot itself use up the reserve.
const MAX_REFUSING: usize = 64;
/// How long a connection may stay without authenticating.
pub const STRANGER_DEADLINE: Duration = Duration::from_secs(10);
/// Connections one address may hold unauthenticated while the budget is more than half used.
pub const MAX_STRANGERS_PER_IP: u32 = 64;

/// How the agent listener admits connections and new agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Open connections beyond which newcomers are refused.
    pub max_connections: usize,
    /// New agents worked on at once (0: no limit).
    pub max_new_agents: usize,
    /// `Retry-After` when the connection budget is spent.
    pub retry_after: Duration,
    /// Newcomers turned away in a storm are told to come back within this window (at least
    /// one second), spread by their address so they do not all return together.
    pub storm_window: Duration,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            max_connections: connection_budget(open_file_limit()),
            max_new_agents: 1024,
            retry_after: Duration::from_secs(30),
            storm_window: Duration::from_secs(5),
        }
    }
}

/// The process's open-file limit (soft), or `None` when it cannot be read.
pub fn open_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other effects.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as usize)
}

/// Raises the soft open-file limit to the hard one (a server holding thousands of agents
/// needs it, and distributions often default the soft limit to 1024). Returns the new limit.
pub fn raise_open_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as usize)
}

/// Connections the agent listener may hold under an open-file limit: all but a reserve of
/// 2 % (at least 128) for the store, the API, the logs and refusals in flight.
pub fn connection_budget(limit: Option<usize>) -> usize {
    match limit {
        Some(limit) => {
            let reserve = (limit / 50).max(MIN_RESERVE);
            limit.saturating_sub(reserve).max(1)
        }
        None => usize::MAX,
    }
}

/// What admission has done so far, for `/healthz` and the load scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdmissionStats {
    pub open_connections: usize,
    pub max_connections: usize,
    /// Connections refused because the budget (or the open-file limit) was reached.
    pub refused_connections: u64,
    /// Newcomers asked to come back later during a storm.
    pub deferred_agents: u64,
}

/// Shared by the listener (connections) and the OpAMP endpoint (new agents).
#[derive(Clone, Debug)]
pub struct Admission {
    inner: Arc<Inner>,
}

/// Told, in a sentence, when admission starts or stops turning agents away.
pub type Notifier = Arc<dyn Fn(String) + Send + Sync>;

struct Inner {
    config: AdmissionConfig,
    notify: std::sync::OnceLock<Notifier>,
    open: AtomicUsize,
    refusing: AtomicUsize,
    newcomers: Option<Arc<Semaphore>>,
    full: AtomicBool,
    storming: AtomicBool,
    refused: AtomicU64,
    deferred: AtomicU64,
    strangers: std::sync::Mutex<Strangers>,
}

/// Connections accepted that have not authenticated yet.
#[derive(Debug, Default)]
struct Strangers {
    by_addr: HashMap<SocketAddr, Arc<AtomicBool>>,
    per_ip: HashMap<IpAddr, u32>,
}

impl Strangers {
    fn remove(&mut self, remote: &SocketAddr) -> Option<Arc<AtomicBool>> {
        let known = self.by_addr.remove(remote)?;
        if let Some(n) = self.per_ip.get_mut(&remote.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&remote.ip());
            }
        }
        Some(known)
    }
}

impl Default for Admission {
    fn default() -> Self {
        Admission::new(AdmissionConfig::default())
    }
}

impl Admission {
    pub fn new(config: AdmissionConfig) -> Admission {
        let newcomers =
            (config.max_new_agents > 0).then(|| Arc::new(Semaphore::new(config.max_new_agents)));
        Admission {
            inner: Arc::new(Inner {
                config,
                notify: std::sync::OnceLock::new(),
                open: AtomicUsize::new(0),
                refusing: AtomicUsize::new(0),
                newcomers,
                full: AtomicBool::new(false),
                storming: AtomicBool::new(false),
                refused: AtomicU64::new(0),
                deferred: AtomicU64::new(0),
                strangers: Default::default(),
            }),
        }
    }

    pub fn config(&self) -> &AdmissionConfig {
        &self.inner.config
    }

    /// Where to say that agents are being turned away and when that ends (the fleet's
    /// event stream, so the TUI shows it); set once.
    pub fn set_notifier(&self, notify: Notifier) {
        let _ = self.inner.notify.set(notify);
    }

    pub fn stats(&self) -> AdmissionStats {
        AdmissionStats {
            open_connections: self.inner.open.load(Ordering::Relaxed),
            max_connections: self.inner.config.max_connections,
            refused_connections: self.inner.refused.load(Ordering::Relaxed),
            deferred_agents: self.inner.deferred.load(Ordering::Relaxed),
        }
    }

    /// The connection from `remote` has authenticated: no deadline, not a stranger.
    pub fn authenticated(&self, remote: SocketAddr) {
        let mut strangers = self
            .inner
            .strangers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = strangers.remove(&remote) {
            known.store(true, Ordering::Release);
        }
    }

    /// Unauthenticated connections held now.
    pub fn strangers(&self) -> usize {
        self.inner
            .strangers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_addr
            .len()
    }

    /// A slot for a connection from `remote`, counted as a stranger until it authenticates;
    /// refused (with what to tell it) when the budget is spent or, under pressure, its
    /// address holds enough strangers already.
    pub fn connection_from(&self, remote: SocketAddr) -> Result<ConnectionSlot, &'static str> {
        let pressed =
            self.inner.open.load(Ordering::Relaxed) * 2 > self.inner.config.max_connections;
        let mut strangers = self
            .inner
            .strangers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = strangers.per_ip.get(&remote.ip()).copied().unwrap_or(0);
        if pressed && held >= MAX_STRANGERS_PER_IP {
            self.inner.refused.fetch_add(1, Ordering::Relaxed);
            static BUDGET: super::log_budget::LogBudget = super::log_budget::LogBudget::new();
            crate::warn_within!(BUDGET, ip = %remote.ip(), held,
                "refused a connection: this address holds too many that have not authenticated");
            return Err(STRANGERS_REASON);
        }
        let mut slot = self.connection().ok_or(FULL_REASON)?;
        let known = Arc::new(AtomicBool::new(false));
        if let Some(old) = strangers.by_addr.insert(remote, known.clone()) {
            // The same address and port again: the older connection is gone (a slot for
            // it was dropped after this one's accept); it keeps its own flag.
            old.store(true, Ordering::Release);
        } else {
            *strangers.per_ip.entry(remote.ip()).or_insert(0) += 1;
        }
        slot.stranger = Some((remote, known));
        Ok(slot)
    }

    /// A slot for one more connection, unless the budget is spent.
    pub fn connection(&self) -> Option<ConnectionSlot> {
        let inner = &self.inner;
        let max = inner.config.max_connections;
        let taken = inner
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .is_ok();
        if taken {
            return Some(ConnectionSlot {
                inner: self.inner.clone(),
                stranger: None,
            });
        }
        inner.refused.fetch_add(1, Ordering::Relaxed);
        if !inner.full.swap(true, Ordering::AcqRel) {
            inner.say(format!(
                "the agent listener holds as many connections as the open-file limit allows \
                 ({max} of {} files): new agents get 503 with Retry-After {} s until some \
                 disconnect",
                open_file_limit().unwrap_or(0),
                inner.config.retry_after.as_secs()
            ));
        }
        None
    }

    /// Leave to work on one new agent, or `None` (and the number of seconds it should wait)
    /// when enough newcomers are already being taken on.
    pub fn newcomer(&self, remote: SocketAddr) -> Result<Option<NewcomerPermit>, Duration> {
        let Some(sem) = &self.inner.newcomers else {
            return Ok(None);
        };
        match sem.clone().try_acquire_owned() {
            Ok(permit) => {
                if self.inner.storming.load(Ordering::Relaxed)
                    && sem.available_permits() + 1 >= self.inner.config.max_new_agents
                    && self.inner.storming.swap(false, Ordering::AcqRel)
                {
                    self.inner.say(format!(
                        "the rush of new agents is over ({} deferred in all)",
                        self.inner.deferred.load(Ordering::Relaxed)
                    ));
                }
                Ok(Some(NewcomerPermit { _permit: permit }))
            }
            Err(_) => {
                self.inner.deferred.fetch_add(1, Ordering::Relaxed);
                if !self.inner.storming.swap(true, Ordering::AcqRel) {
                    self.inner.say(format!(
                        "many agents connecting at once: taking {} at a time, the rest retry \
                         within seconds",
                        self.inner.config.max_new_agents
                    ));
                }
                Err(storm_retry(remote, self.inner.config.storm_window))
            }
        }
    }

    /// Counts a newcomer turned away after its upgrade (the registry was too far behind).
    pub fn count_deferred(&self) {
        self.inner.deferred.fetch_add(1, Ordering::Relaxed);
    }

    /// When an agent told to go away (a shutdown) should come back: within the storm
    /// window, spread by its address.
    pub fn return_after(&self, remote: SocketAddr) -> Duration {
        storm_retry(remote, self.inner.config.storm_window)
    }

    /// Reads the connection's request, answers 503 with `reason`, and closes, in the
    /// background; too many refusals at once and the connection is simply closed.
    pub fn refuse<S>(&self, io: S, retry_after: Duration, reason: &'static str)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let inner = self.inner.clone();
        if inner.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
            inner.refusing.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        tokio::spawn(async move {
            answer_503(io, retry_after, reason).await;
            inner.refusing.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("config", &self.config)
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Into the fleet's events when connected to them (the headless log, the TUI and the
    /// stored history all show those), else straight into the log.
    fn say(&self, message: String) {
        match self.notify.get() {
            Some(notify) => notify(message),
            None => tracing::warn!("{message}"),
        }
    }
}

/// A connection counted against the budget; dropping it gives the slot back.
#[derive(Debug)]
pub struct ConnectionSlot {
    inner: Arc<Inner>,
    /// Its address and whether it has authenticated, while it is counted as a stranger.
    stranger: Option<(SocketAddr, Arc<AtomicBool>)>,
}

impl ConnectionSlot {
    fn authenticated(&self) -> bool {
        self.stranger
            .as_ref()
            .is_none_or(|(_, known)| known.load(Ordering::Acquire))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some((remote, known)) = self.stranger.take()
            && !known.load(Ordering::Acquire)
        {
            let mut strangers = self
                .inner
                .strangers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if strangers
                .by_addr
                .get(&remote)
                .is_some_and(|k| Arc::ptr_eq(k, &known))
            {
                strangers.remove(&remote);
            }
        }
        let was = self.inner.open.fetch_sub(1, Ordering::AcqRel);
        // Logged when there is room again for a good share of newcomers, not at every
        // close, so a listener hovering at the limit does not flap in the log.
        let max = self.inner.config.max_connections;
        let room = max / 100 + 1;
        let now_open = was.saturating_sub(1);
        if now_open.saturating_add(room) <= max
            && self.inner.full.load(Ordering::Relaxed)
            && self.inner.full.swap(false, Ordering::AcqRel)
        {
            let refused = self.inner.refused.load(Ordering::Relaxed);
            self.inner.say(format!(
                "the agent listener has room for new connections again ({refused} refused \
                 meanwhile)"
            ));
        }
    }
}

/// Held while a new agent is taken on.
#[derive(Debug)]
pub struct NewcomerPermit {
    _permit: OwnedSemaphorePermit,
}

/// How long a newcomer that does not speak may keep its place among those taken on.
const NEWCOMER_PATIENCE: Duration = Duration::from_secs(10);

/// A new agent's connection: holds its [`NewcomerPermit`] until the server first writes to
/// it (the reply to its first message) or, for an agent that stays silent, a few seconds.
pub struct Onboarding<S> {
    io: S,
    // Boxed: every connection's task holds this field for its whole life, and only the
    // first seconds of it need the permit and timer.
    permit: Option<Box<(NewcomerPermit, Pin<Box<tokio::time::Sleep>>)>>,
}

impl<S> Onboarding<S> {
    pub fn new(io: S, permit: Option<NewcomerPermit>) -> Onboarding<S> {
        Onboarding {
            io,
            permit: permit.map(|p| Box::new((p, Box::pin(tokio::time::sleep(NEWCOMER_PATIENCE))))),
        }
    }

    /// Whether the connection still counts among the newcomers.
    pub fn is_onboarding(&self) -> bool {
        self.permit.is_some()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Onboarding<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // A silent newcomer waits in here; the timer wakes it to give its place up.
        if let Some(waiting) = &mut self.permit
            && waiting.1.as_mut().poll(cx).is_ready()
        {
            self.permit = None;
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Onboarding<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.permit = None;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// When a deferred newcomer should come back: 1 s to `window`, spread by its address.
fn storm_retry(remote: SocketAddr, window: Duration) -> Duration {
    let spread = window.as_secs().max(1);
    let salt = match remote.ip() {
        std::net::IpAddr::V4(ip) => u64::from(u32::from(ip)),
        std::net::IpAddr::V6(ip) => u128::from(ip) as u64,
    };
    let mixed = (salt << 16 | u64::from(remote.port())).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Duration::from_secs(1 + (mixed >> 32) % spread)
}

/// A plain-TCP agent listener that keeps to the connection budget.
pub struct AdmittedListener {
    tcp: TcpListener,
    admission: Admission,
    /// One descriptor held back so a connection can still be accepted and refused when the
    /// process has run out of them.
    spare: Option<std::fs::File>,
    out_of_files: bool,
}

/// What the listener took from the kernel.
pub enum Incoming {
    Admitted(Tracked<TcpStream>, SocketAddr),
    /// Over the budget: answer it (`Admission::refuse`) with the reason and let it go.
    Refused(TcpStream, SocketAddr, &'static str),
}

impl AdmittedListener {
    pub fn new(tcp: TcpListener, admission: Admission) -> AdmittedListener {
        AdmittedListener {
            tcp,
            admission,
            spare: open_spare(),
            out_of_files: false,
        }
    }

    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The next connection, admitted or to be refused. Errors of single connections are
    /// skipped; running out of descriptors is handled here (logged once, spare given up).
    pub async fn next(&mut self) -> Incoming {
        loop {
            match self.tcp.accept().await {
                Ok((stream, remote)) => {
                    self.out_of_files = false;
                    if self.spare.is_none() {
                        self.spare = open_spare();
                    }
                    let _ = stream.set_nodelay(true);
                    keep_alive(&stream);
                    return match self.admission.connection_from(remote) {
                        Ok(slot) => Incoming::Admitted(Tracked::from_parts(stream, slot), remote),
                        Err(reason) => Incoming::Refused(stream, remote, reason),
                    };
                }
                Err(e) if is_out_of_files(&e) => {
                    if let Some(refused) = self.out_of_files(e).await {
                        return refused;
                    }
                }
                Err(e) if is_per_connection(&e) => {}
                Err(e) => {
                    tracing::error!(error = %e, "accepting agent connections failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn out_of_files(&mut self, e: std::io::Error) -> Option<Incoming> {
        let inner = &self.admission.inner;
        if !self.out_of_files {
            self.out_of_files = true;
            inner.refused.fetch_add(1, Ordering::Relaxed);
            if !inner.full.swap(true, Ordering::AcqRel) {
                inner.say(format!(
                    "out of file descriptors ({e}) with {} connections open: new agents get 503 \
                     until some disconnect",
                    inner.open.load(Ordering::Relaxed)
                ));
            }
        }
        if self.spare.take().is_some()
            && let Ok((stream, remote)) = self.tcp.accept().await
        {
            return Some(Incoming::Refused(stream, remote, FULL_REASON));
        }
        // Nothing to spare: leave the connection in the backlog a moment and look again.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.spare = open_spare();
        None
    }
}

impl axum::serve::Listener for AdmittedListener {
    type Io = Tracked<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.next().await {
                Incoming::Admitted(io, remote) => return (io, remote),
                Incoming::Refused(stream, _, reason) => {
                    let retry = self.admission.config().retry_after;
                    self.admission.refuse(stream, retry, reason);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Said to connections refused because their address holds too many strangers.
pub const STRANGERS_REASON: &str =
    "too many connections from this address have not authenticated; retry later\n";

/// Said to connections refused for want of file descriptors.
pub const FULL_REASON: &str =
    "fleetdeck holds as many connections as its open-file limit allows; retry later\n";

/// TCP keepalive on every agent connection: an agent whose machine vanished (power cut,
/// network gone, no FIN ever sent) is found by the kernel after about 90 s of silence
/// and its session ends, instead of it being shown as connected forever.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 3;

fn keep_alive(stream: &TcpStream) {
    let settings = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&settings) {
        tracing::debug!(error = %e, "cannot set TCP keepalive on an agent connection");
    }
}

fn open_spare() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

fn is_out_of_files(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// A connection that holds its slot in the budget until dropped.
#[derive(Debug)]
pub struct Tracked<S> {
    io: S,
    slot: ConnectionSlot,
    /// Until the connection authenticates: when it must have (see [`STRANGER_DEADLINE`]).
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Tracked<S> {
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream and its slot, to wrap the stream (TLS) and keep counting it.
    pub fn into_parts(self) -> (S, ConnectionSlot) {
        (self.io, self.slot)
    }

    pub fn from_parts(io: S, slot: ConnectionSlot) -> Tracked<S> {
        let deadline =
            (!slot.authenticated()).then(|| Box::pin(tokio::time::sleep(STRANGER_DEADLINE)));
        Tracked { io, slot, deadline }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if let Some(deadline) = this.deadline.as_mut() {
            if this.slot.authenticated() {
                this.deadline = None;
            } else if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the connection did not authenticate in time",
                )));
            }
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Reads the request head (so closing does not reset the connection under the client's
/// feet), writes a complete 503 and closes, each step bounded in time.
async fn answer_503<S>(mut io: S, retry_after: Duration, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    const STEP: Duration = Duration::from_secs(2);
    let mut head = Vec::with_capacity(1024);
    let _ = tokio::time::timeout(STEP, async {
        let mut buf = [0u8; 1024];
        while head.len() < 16 * 1024 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    head.extend_from_slice(&buf[..n]);
                    if memchr::memmem::find(&head, b"\r\n\r\n").is_some() {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {}\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{reason}",
        retry_after.as_secs().max(1),
        reason.len()
    );
    let _ = tokio::time::timeout(STEP, io.write_all(response.as_bytes())).await;
    let _ = tokio::time::timeout(STEP, io.shutdown()).await;
    // Whatever the client still sends (a request body) is read and dropped, so the close
    // is orderly rather than a reset that could discard the answer before it is read.
    let _ = tokio::time::timeout(STEP, async {
        let mut buf = [0u8; 4096];
        let mut left = 256 * 1024usize;
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_reserve_under_the_file_limit() {
        assert_eq!(connection_budget(Some(20_000)), 19_600);
        assert_eq!(connection_budget(Some(1024)), 896);
        assert_eq!(connection_budget(Some(100)), 1);
        assert_eq!(connection_budget(None), usize::MAX);
    }

    #[test]
    fn under_pressure_one_address_holds_a_bounded_number_of_strangers() {
        let a = Admission::new(AdmissionConfig {
            max_connections: 200,
            max_new_agents: 0,
            ..AdmissionConfig::default()
        });
        let addr = |ip: [u8; 4], port| SocketAddr::from((ip, port));
        // Without pressure (half the budget or less) strangers are not limited by address.
        let mut held: Vec<ConnectionSlot> = (0..101)
            .map(|p| a.connection_from(addr([10, 0, 0, 1], p)).expect("room"))
            .collect();
        assert_eq!(a.strangers(), 101);
        // Past half, an address holding MAX_STRANGERS_PER_IP strangers gets no more.
        assert_eq!(
            a.connection_from(addr([10, 0, 0, 1], 1000)).err(),
            Some(STRANGERS_REASON)
        );
        let other = a
            .connection_from(addr([10, 0, 0, 2], 1))
            .expect("another address");
        // One that authenticates no longer counts, and its slot's drop does not either.
        a.authenticated(addr([10, 0, 0, 1], 0));
        held.remove(0);
        assert_eq!(a.strangers(), 101, "100 of one address, 1 of the other");
        drop(held);
        drop(other);
        assert_eq!(a.strangers(), 0);
        assert_eq!(a.stats().open_connections, 0);
    }

    #[test]
    fn slots_are_counted_and_given_back() {
        let a = Admission::new(AdmissionConfig {
            max_connections: 2,
            ..AdmissionConfig::default()
        });
        let one = a.connection().expect("first");
        let two = a.connection().expect("second");
        assert!(a.connection().is_none(), "a third is over the budget");
        assert_eq!(a.stats().open_connections, 2);
        assert_eq!(a.stats().refused_connections, 1);
        drop(one);
        assert!(a.connection().is_some(), "room again after a close");
        drop(two);
    }

    #[test]
    fn an_unlimited_budget_counts_without_overflowing() {
        let a = Admission::new(AdmissionConfig {
            max_connections: usize::MAX,
            ..AdmissionConfig::default()
        });
        let slots: Vec<_> = (0..3).map(|_| a.connection().expect("slot")).collect();
        assert_eq!(a.stats().open_connections, 3);
        drop(slots);
        assert_eq!(a.stats().open_connections, 0);
    }

    #[tokio::test]
    async fn newcomers_past_the_limit_are_deferred_within_the_window() {
        let a = Admission::new(AdmissionConfig {
            max_new_agents: 1,
            storm_window: Duration::from_secs(5),
            ..AdmissionConfig::default()
        });
        let remote: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let held = a.newcomer(remote).expect("first is taken on");
        assert!(held.is_some());
        let mut waits = std::collections::BTreeSet::new();
        for port in 0..200u16 {
            let remote = SocketAddr::from(([127, 0, 0, 2], 40_000 + port));
            let wait = a.newcomer(remote).expect_err("deferred");
            assert!((1..=5).contains(&wait.as_secs()), "{wait:?}");
            waits.insert(wait.as_secs());
        }
        assert!(waits.len() >= 4, "retries are spread: {waits:?}");
        assert_eq!(a.stats().deferred_agents, 200);
        drop(held);
        assert!(a.newcomer(remote).expect("taken on again").is_some());
    }

    #[tokio::test]
    async fn agent_connections_are_kept_alive_so_vanished_machines_are_noticed() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let mut listener = AdmittedListener::new(tcp, Admission::default());
        let _client = TcpStream::connect(addr).await.expect("connect");
        let Incoming::Admitted(conn, _) = listener.next().await else {
            panic!("the connection is admitted");
        };
        let sock = socket2::SockRef::from(conn.get_ref());
        assert!(sock.keepalive().expect("SO_KEEPALIVE"));
        assert_eq!(sock.tcp_keepalive_time().expect("idle"), KEEPALIVE_IDLE);
        assert_eq!(
            sock.tcp_keepalive_interval().expect("interval"),
            KEEPALIVE_INTERVAL
        );
        assert_eq!(
            sock.tcp_keepalive_retries().expect("probes"),
            KEEPALIVE_PROBES
        );
    }

    #[test]
    fn no_limit_on_newcomers_when_set_to_zero() {
        let a = Admission::new(AdmissionConfig {
            max_new_agents: 0,
            ..AdmissionConfig::default()
        });
        let remote: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        for _ in 0..10_000 {
            assert!(matches!(a.newcomer(remote), Ok(None)));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_newcomer_keeps_its_place_until_it_is_answered_or_stays_silent_too_long() {
        let a = Admission::new(AdmissionConfig {
            max_new_agents: 2,
            ..AdmissionConfig::default()
        });
        let remote: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let places = |a: &Admission| {
            a.inner
                .newcomers
                .as_ref()
                .map(|s| s.available_permits())
                .unwrap_or_default()
        };

        // Answered: the place is free once the first reply is written.
        let (mut agent, server) = tokio::io::duplex(1024);
        let mut answered = Onboarding::new(server, a.newcomer(remote).expect("place"));
        assert_eq!(places(&a), 1);
        answered.write_all(b"reply").await.expect("write");
        assert!(!answered.is_onboarding());
        assert_eq!(places(&a), 2);
        let mut buf = [0u8; 5];
        agent.read_exact(&mut buf).await.expect("read");

        // Silent: the place is given up after the patience runs out, while reading.
        let (_quiet_agent, server) = tokio::io::duplex(1024);
        let mut silent = Onboarding::new(server, a.newcomer(remote).expect("place"));
        assert_eq!(places(&a), 1);
        let reading = tokio::spawn(async move {
            let mut buf = [0u8; 1];
            let _ = silent.read(&mut buf).await;
        });
        tokio::time::sleep(NEWCOMER_PATIENCE + Duration::from_secs(1)).await;
        assert_eq!(places(&a), 2, "the silent newcomer's place is free again");
        reading.abort();
    }

    #[tokio::test]
    async fn a_refused_client_reads_a_whole_503_with_retry_after() {
        let (mut client, server) = tokio::io::duplex(4096);
        let task = tokio::spawn(answer_503(server, Duration::from_secs(30), FULL_REASON));
        client
            .write_all(b"POST /v1/opamp HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            .await
            .expect("write");
        let mut got = String::new();
        client.read_to_string(&mut got).await.expect("read");
        task.await.expect("refusal ends");
        assert!(got.starts_with("HTTP/1.1 503 "), "{got}");
        assert!(got.contains("Retry-After: 30\r\n"), "{got}");
        assert!(got.ends_with(FULL_REASON), "{got}");
    }
}
