//! The fleet registry: the single owner of live agent state.
//!
//! It runs as one task. Sessions send it what agents report and get back what to answer;
//! WebSocket sessions also register an outbox so the registry can speak first. Readers get
//! an immutable [`FleetSnapshot`] on a `watch` channel (rebuilt at most a few times a second,
//! only for agents that changed) and [`FleetEvent`]s on a `broadcast` channel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use smallvec::SmallVec;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::agent::{AgentDescription, AgentId, Capabilities, ConfigMap, Text, Transport};
use super::components::AvailableComponents;
use super::delivery::{self, AgentConfigStatus, ApplyState, Assignment, ConfigRef};
use super::events::{DisconnectReason, EventBus, EventKind, FleetEvent, History};
use super::heartbeat::{self, Beat, Beaten, Lease, PlainBeat};
use super::labels::Labels;
use super::outbound::{
    AgentCommand, ConnectionSettingsOffer, OpampSettings, RemoteConfigOffer, ServerError,
    ServerReply, TelemetryDestination,
};
use super::outbox::OutboxSender;
use super::record::{AgentJournal, AgentRecord};
use super::report::AgentReport;
use super::snapshot::{AgentView, Connection, FleetSnapshot};

/// Identifies one WebSocket connection for the life of the server.
pub type ConnId = u64;

/// Builds the own-telemetry destination offered to an agent (wired to the OTLP receiver).
pub type OwnTelemetryOffer = Arc<dyn Fn(&AgentId) -> Option<TelemetryDestination> + Send + Sync>;

#[derive(Clone)]
pub struct RegistryConfig {
    /// Heartbeat interval offered to agents that report heartbeats. Never zero.
    pub heartbeat_interval: Duration,
    /// An HTTP agent that has not polled for this long is marked disconnected.
    pub http_agent_timeout: Duration,
    /// Shortest time between two published snapshots.
    pub publish_interval: Duration,
    /// ServerCapabilities bits sent to every agent.
    pub capabilities: u64,
    /// Headers an agent needs to reconnect to us (sent with the OpAMP settings offer).
    pub agent_auth_headers: Vec<(String, String)>,
    pub own_metrics: Option<OwnTelemetryOffer>,
    /// Sessions queue at most this many unsolicited messages before we wait for the agent.
    pub outbox_capacity: usize,
    /// A configuration sent without any answer for this long is marked stalled.
    pub stall_timeout: Duration,
    /// Where durable agent facts are written behind (labels, assignment, description).
    pub persist: Option<Arc<dyn AgentJournal>>,
    /// Most agents connected at once; an agent already connected always keeps its place,
    /// a newcomer beyond it is told to come back after `retry_after`.
    pub max_agents: Option<usize>,
    pub retry_after: Duration,
    /// Receives every fleet event, in order (the stored history).
    pub history: Option<History>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            heartbeat_interval: Duration::from_secs(30),
            http_agent_timeout: Duration::from_secs(90),
            // Readers (a rollout waiting for its last agent, the TUI) see a change within
            // this; a snapshot only costs the agents that changed since the last one.
            publish_interval: Duration::from_millis(25),
            capabilities: 0,
            agent_auth_headers: Vec::new(),
            own_metrics: None,
            outbox_capacity: 4,
            stall_timeout: Duration::from_secs(60),
            persist: None,
            max_agents: None,
            retry_after: Duration::from_secs(30),
            history: None,
        }
    }
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("http_agent_timeout", &self.http_agent_timeout)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

/// How a report reached us.
#[derive(Debug, Clone)]
pub enum Via {
    /// A WebSocket connection opened earlier with [`RegistryHandle::open_ws`].
    WebSocket(ConnId),
    /// One plain-HTTP request.
    Http {
        remote_addr: SocketAddr,
        endpoint: Arc<str>,
    },
}

enum Msg {
    OpenWs {
        conn: ConnId,
        remote_addr: SocketAddr,
        endpoint: Arc<str>,
        outbox: OutboxSender,
    },
    Report {
        via: Via,
        report: Box<AgentReport>,
        /// The session can answer the agent's plain heartbeats itself (WebSocket only).
        wants_lease: bool,
        reply: oneshot::Sender<Answer>,
    },
    ClosedWs {
        conn: ConnId,
    },
    Restart {
        id: AgentId,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    Assign {
        agents: Vec<AgentId>,
        config: ConfigRef,
        offer: Arc<RemoteConfigOffer>,
        reply: oneshot::Sender<AssignOutcome>,
    },
    Label {
        id: AgentId,
        set: BTreeMap<String, String>,
        remove: Vec<String>,
        reply: oneshot::Sender<Result<BTreeMap<String, String>, CommandError>>,
    },
    Forget {
        id: AgentId,
        reply: oneshot::Sender<Result<String, CommandError>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("the fleet registry has stopped")]
pub struct RegistryGone;

/// The registry's answer to a WebSocket report.
#[derive(Debug)]
pub struct Answer {
    pub reply: ServerReply,
    /// When given, the session may answer this agent's next plain heartbeats with the same
    /// reply (see [`RegistryHandle::heartbeat`]) until the registry revokes it.
    pub lease: Option<Arc<Lease>>,
}

/// What became of an assignment request, agent by agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignOutcome {
    /// Agents that now have the configuration assigned (sent, queued, or already running it).
    pub assigned: Vec<AgentId>,
    /// Agents it could not go to, with the reason.
    pub refused: Vec<(AgentId, CommandError)>,
}

/// Why a command for an agent was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("no agent with id {0}")]
    UnknownAgent(AgentId),
    #[error("agent {0} is disconnected")]
    Disconnected(AgentId),
    #[error(
        "agent {name} ({id}) is connected: it would come straight back; stop it (or its \
         supervisor) first"
    )]
    StillConnected { id: AgentId, name: String },
    #[error(
        "agent {name} ({id}) does not accept this command: it lacks the {capability} capability"
    )]
    NotSupported {
        id: AgentId,
        name: String,
        capability: &'static str,
    },
    #[error("the fleet registry has stopped")]
    Stopped,
}

/// Cheap to clone; every session holds one.
#[derive(Clone)]
pub struct RegistryHandle {
    tx: mpsc::Sender<Msg>,
    snapshot: watch::Receiver<Arc<FleetSnapshot>>,
    events: EventBus,
    connected: Arc<AtomicUsize>,
    messages: Arc<AtomicU64>,
    beaten: Arc<Beaten>,
    capabilities: u64,
}

impl RegistryHandle {
    /// Messages waiting in the registry's mailbox: how far behind it is.
    pub fn backlog(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Agent messages handled since start (all agents, all kinds).
    pub fn messages_total(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Sends one agent report and waits for what to answer.
    pub async fn report(&self, via: Via, report: AgentReport) -> Result<ServerReply, RegistryGone> {
        Ok(self.ask(via, report, false).await?.reply)
    }

    /// Sends one report that came over WebSocket connection `conn` and waits for what to
    /// answer, and possibly a lease to answer the agent's plain heartbeats without asking.
    pub async fn report_ws(
        &self,
        conn: ConnId,
        report: AgentReport,
    ) -> Result<Answer, RegistryGone> {
        self.ask(Via::WebSocket(conn), report, true).await
    }

    async fn ask(
        &self,
        via: Via,
        report: AgentReport,
        wants_lease: bool,
    ) -> Result<Answer, RegistryGone> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Report {
                via,
                report: Box::new(report),
                wants_lease,
                reply,
            })
            .await
            .map_err(|_| RegistryGone)?;
        rx.await.map_err(|_| RegistryGone)
    }

    /// Records `report` under `lease` and returns true when it is a plain heartbeat the
    /// lease covers; the caller then answers with the reply that came with the lease.
    /// False means the report must go to [`RegistryHandle::report_ws`].
    pub fn heartbeat(&self, lease: &Lease, report: &AgentReport) -> bool {
        PlainBeat::of(report).is_some_and(|beat| self.plain_heartbeat(lease, &beat))
    }

    /// [`RegistryHandle::heartbeat`] for a message the codec read as a plain heartbeat
    /// without decoding it.
    pub fn plain_heartbeat(&self, lease: &Lease, beat: &PlainBeat) -> bool {
        match lease.try_plain(beat, SystemTime::now()) {
            Beat::Refused => return false,
            Beat::First => self.beaten.push(lease.id()),
            Beat::Again => {}
        }
        self.messages.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Registers a WebSocket connection; the registry may push into `outbox`. The future
    /// owns what it sends, so a session can make it before it starts and hold only it.
    pub fn open_ws(
        &self,
        conn: ConnId,
        remote_addr: SocketAddr,
        endpoint: Arc<str>,
        outbox: OutboxSender,
    ) -> impl Future<Output = Result<(), RegistryGone>> + Send + use<> {
        let tx = self.tx.clone();
        let msg = Msg::OpenWs {
            conn,
            remote_addr,
            endpoint,
            outbox,
        };
        async move { tx.send(msg).await.map_err(|_| RegistryGone) }
    }

    /// Asks an agent to restart (refused for agents without AcceptsRestartCommand).
    pub async fn restart(&self, id: AgentId) -> Result<(), CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Restart { id, reply })
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)?
    }

    /// Assigns a configuration version to agents and starts delivering it: at once to
    /// WebSocket agents, with the next poll to HTTP agents, on reconnect to offline ones.
    pub async fn assign(
        &self,
        agents: Vec<AgentId>,
        config: ConfigRef,
        offer: Arc<RemoteConfigOffer>,
    ) -> Result<AssignOutcome, RegistryGone> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Assign {
                agents,
                config,
                offer,
                reply,
            })
            .await
            .map_err(|_| RegistryGone)?;
        rx.await.map_err(|_| RegistryGone)
    }

    /// Sets and removes operator labels on an agent; returns its operator labels after.
    pub async fn label(
        &self,
        id: AgentId,
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    ) -> Result<BTreeMap<String, String>, CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Label {
                id,
                set,
                remove,
                reply,
            })
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)?
    }

    /// Forgets a disconnected agent: gone from the fleet, its record deleted. Returns the
    /// name it had. Refused while it is connected (it would come straight back).
    pub async fn forget(&self, id: AgentId) -> Result<String, CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Forget { id, reply })
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)?
    }

    /// Tells the registry a WebSocket connection is gone (its agents become disconnected).
    pub async fn closed_ws(&self, conn: ConnId) {
        let _ = self.tx.send(Msg::ClosedWs { conn }).await;
    }

    pub fn snapshot(&self) -> watch::Receiver<Arc<FleetSnapshot>> {
        self.snapshot.clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FleetEvent> {
        self.events.subscribe()
    }

    /// Publishes an event that happened outside the registry (e.g. a rollout phase).
    pub fn publish_event(&self, kind: EventKind) {
        self.events.send(kind);
    }

    /// Agents connected right now (updated by the registry as it goes).
    pub fn connected_agents(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn capabilities(&self) -> u64 {
        self.capabilities
    }

    /// Marks every agent disconnected (server shutdown), publishes a last snapshot and stops.
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { done }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// An agent known from an earlier run, with the offer for its assigned configuration.
pub struct KnownAgent {
    pub record: AgentRecord,
    pub offer: Option<Arc<RemoteConfigOffer>>,
}

/// Starts the registry task.
pub fn spawn(config: RegistryConfig, cancel: CancellationToken) -> RegistryHandle {
    spawn_with(config, Vec::new(), cancel)
}

/// Starts the registry task knowing the agents of earlier runs (all disconnected until
/// they come back, with their labels and assigned configuration).
pub fn spawn_with(
    config: RegistryConfig,
    known: Vec<KnownAgent>,
    cancel: CancellationToken,
) -> RegistryHandle {
    let (tx, rx) = mpsc::channel(4096);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(FleetSnapshot::default()));
    let events = EventBus::new(4096, config.history.clone());
    let connected = Arc::new(AtomicUsize::new(0));
    let messages = Arc::new(AtomicU64::new(0));
    let beaten = Arc::new(Beaten::default());
    let handle = RegistryHandle {
        tx,
        snapshot: snap_rx,
        events: events.clone(),
        connected: connected.clone(),
        messages: messages.clone(),
        beaten: beaten.clone(),
        capabilities: config.capabilities,
    };
    let mut registry = Registry {
        config,
        agents: HashMap::new(),
        conns: HashMap::new(),
        dirty: HashSet::new(),
        urgent: false,
        published_at: Instant::now(),
        configs: Interner::default(),
        components: ComponentsInterner::default(),
        snapshot: snap_tx,
        events,
        connected,
        messages,
        beaten,
        folding: Vec::new(),
        version: 0,
    };
    for k in known {
        registry.preload(k);
    }
    tokio::spawn(registry.run(rx, cancel));
    handle
}

struct Registry {
    config: RegistryConfig,
    /// Boxed: the map keeps spare buckets (up to half of them right after it grows), and an
    /// empty bucket then costs a pointer instead of a whole state.
    agents: HashMap<AgentId, Box<AgentState>>,
    /// Boxed for the same reason as `agents`.
    conns: HashMap<ConnId, Box<WsConn>>,
    dirty: HashSet<AgentId>,
    /// Something other than heartbeats changed since the last snapshot: publish one
    /// interval after the last. Heartbeats alone wait `HEARTBEAT_PUBLISHES` intervals.
    urgent: bool,
    published_at: Instant,
    configs: Interner,
    components: ComponentsInterner,
    snapshot: watch::Sender<Arc<FleetSnapshot>>,
    events: EventBus,
    connected: Arc<AtomicUsize>,
    messages: Arc<AtomicU64>,
    /// Leases with heartbeats to fold in; `folding` is the list taken last time, kept for
    /// its allocation.
    beaten: Arc<Beaten>,
    folding: Vec<AgentId>,
    version: u64,
}

/// A second live connection taking a uid this often within this window means two
/// different agents share it (cloned VM, bad generator), not a reconnect.
const CLONE_TAKEOVERS: usize = 3;
const CLONE_WINDOW: Duration = Duration::from_secs(60);

/// Some HTTP clients send one last poll after their goodbye. Within this window such a
/// poll is answered but does not bring the agent back; a full report (a restarted agent
/// answering our ReportFullState) does.
const GOODBYE_GRACE: Duration = Duration::from_secs(5);

/// A snapshot that only refreshes heartbeat times waits this many publish intervals (a
/// second at the default): "last seen" needs no better, and at steady state nothing else
/// changes, so readers are not woken 40 times a second for nothing.
const HEARTBEAT_PUBLISHES: u32 = 40;

/// Messages handled in one go before the registry looks at its timers again.
const MAILBOX_BATCH: usize = 256;

/// Whether two remote config statuses say the same (state and hash; a new error message
/// alone is no news).
fn same_status(
    a: Option<&super::agent::RemoteConfigStatus>,
    b: Option<&super::agent::RemoteConfigStatus>,
) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.state == b.state && a.last_hash == b.last_hash,
        (None, None) => true,
        _ => false,
    }
}

/// A reply that only acknowledges: the session may repeat it for plain heartbeats.
fn is_plain_ack(r: &ServerReply) -> bool {
    !r.report_full_state
        && !r.report_available_components
        && r.remote_config.is_none()
        && r.connection_settings.is_none()
        && r.command.is_none()
        && r.new_instance_uid.is_none()
        && r.error.is_none()
}

impl Registry {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, cancel: CancellationToken) {
        // Sleeps until a snapshot is due, not ticking: an idle fleet wakes the registry
        // (and every snapshot reader) once a second, a changing one every interval.
        let publish = tokio::time::sleep(self.config.publish_interval);
        tokio::pin!(publish);
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = self.next_publish();
            if let Some(at) = due.map(tokio::time::Instant::from_std)
                && publish.deadline() != at
            {
                publish.as_mut().reset(at);
            }
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else {
                        return;
                    };
                    // A burst (10,000 status reports after a push) is worked through in
                    // batches, without a look at the timers between every two messages.
                    let mut next = Some(msg);
                    let mut handled = 0;
                    while let Some(msg) = next.take() {
                        if let Msg::Shutdown { done } = msg {
                            self.disconnect_all(DisconnectReason::ServerShutdown);
                            self.publish();
                            let _ = done.send(());
                            return;
                        }
                        self.handle(msg);
                        handled += 1;
                        if handled < MAILBOX_BATCH {
                            next = rx.try_recv().ok();
                        }
                    }
                }
                _ = &mut publish, if due.is_some() => self.publish_due(),
                _ = sweep.tick() => {
                    self.fold_leases();
                    self.expire_http_agents();
                }
                _ = cancel.cancelled() => {
                    // Drain what sessions already sent so their callers get answers.
                    while let Ok(msg) = rx.try_recv() {
                        if let Msg::Shutdown { done } = msg {
                            let _ = done.send(());
                        } else {
                            self.handle(msg);
                        }
                    }
                    self.disconnect_all(DisconnectReason::ServerShutdown);
                    self.publish();
                    return;
                }
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::OpenWs {
                conn,
                remote_addr,
                endpoint,
                outbox,
            } => {
                self.conns.insert(
                    conn,
                    Box::new(WsConn {
                        remote_addr,
                        endpoint,
                        outbox,
                        agents: SmallVec::new(),
                        renamed: None,
                    }),
                );
            }
            Msg::Report {
                via,
                report,
                wants_lease,
                reply,
            } => {
                self.messages.fetch_add(1, Ordering::Relaxed);
                let answer = self.on_report(via, *report, wants_lease);
                let _ = reply.send(answer);
            }
            Msg::ClosedWs { conn } => {
                if let Some(c) = self.conns.remove(&conn) {
                    for id in c.agents {
                        let still_here = self
                            .agents
                            .get(&id)
                            .is_some_and(|a| matches!(a.live, Some(Live::Ws(c)) if c == conn));
                        if still_here {
                            self.mark_disconnected(id, DisconnectReason::ConnectionClosed);
                        }
                    }
                }
            }
            Msg::Restart { id, reply } => {
                let _ = reply.send(self.restart(id));
            }
            Msg::Assign {
                agents,
                config,
                offer,
                reply,
            } => {
                let _ = reply.send(self.assign(agents, config, offer));
            }
            Msg::Label {
                id,
                set,
                remove,
                reply,
            } => {
                let result = match self.agents.get_mut(&id) {
                    None => Err(CommandError::UnknownAgent(id)),
                    Some(state) => {
                        let own = &mut state.rare_mut().operator_labels;
                        for k in remove {
                            own.remove(&k);
                        }
                        own.extend(set);
                        state.refresh_labels();
                        Ok(state.operator_labels().clone())
                    }
                };
                if result.is_ok() {
                    self.changed(id);
                    self.persist(&id);
                }
                let _ = reply.send(result);
            }
            Msg::Forget { id, reply } => {
                let _ = reply.send(self.forget(id));
            }
            Msg::Shutdown { .. } => {}
        }
    }

    fn forget(&mut self, id: AgentId) -> Result<String, CommandError> {
        let state = self.agents.get(&id).ok_or(CommandError::UnknownAgent(id))?;
        let name = state.name();
        if state.live.is_some() {
            return Err(CommandError::StillConnected { id, name });
        }
        self.agents.remove(&id);
        if let Some(p) = &self.config.persist {
            p.forget(id);
        }
        // The next snapshot drops its view.
        self.changed(id);
        self.emit(EventKind::Notice {
            agent: Some(id),
            message: format!("agent {name} forgotten"),
        });
        Ok(name)
    }

    fn emit(&self, kind: EventKind) {
        self.events.send(kind);
    }

    /// The agent's view changed and must be published, soon.
    fn changed(&mut self, id: AgentId) {
        self.dirty.insert(id);
        self.urgent = true;
    }

    /// Only the agent's heartbeat counters changed: publish its view with the next snapshot.
    fn touched(&mut self, id: AgentId) {
        self.dirty.insert(id);
    }

    fn on_report(&mut self, via: Via, report: AgentReport, wants_lease: bool) -> Answer {
        let id = report.instance_uid;
        let seq = report.sequence_num;
        let conn = match via {
            Via::WebSocket(conn) => Some(conn),
            Via::Http { .. } => None,
        };
        // Whatever a session answered on its own comes first; then the registry decides
        // again whether the session may keep answering.
        self.fold_lease(id, true);
        let reply = self.apply_report(via, report);
        let lease = match conn {
            Some(conn) if wants_lease && is_plain_ack(&reply) => self.grant_lease(id, conn, seq),
            _ => None,
        };
        Answer { reply, lease }
    }

    /// Takes the heartbeats a session answered for `id` into the agent's state; with
    /// `revoke`, the session must send everything to the registry from now on.
    fn fold_lease(&mut self, id: AgentId, revoke: bool) {
        let Some(state) = self.agents.get_mut(&id) else {
            return;
        };
        let Some(lease) = &state.lease else {
            return;
        };
        let beats = lease.take_beats();
        if revoke {
            lease.revoke();
            state.lease = None;
        }
        if let Some(b) = beats {
            state.set_sequence(Some(b.last_seq));
            let v = state.view_mut();
            v.messages += b.count;
            v.last_seen = b.last_seen;
            state.last_heard = Instant::now();
            self.touched(id);
        }
    }

    fn fold_leases(&mut self) {
        let mut ids = std::mem::take(&mut self.folding);
        self.beaten.take_into(&mut ids);
        for id in ids.drain(..) {
            self.fold_lease(id, false);
        }
        self.folding = ids;
    }

    /// Lets the session on `conn` answer the agent's plain heartbeats after `seq`, when there
    /// is nothing the registry waits to tell the agent.
    fn grant_lease(&mut self, id: AgentId, conn: ConnId, seq: u64) -> Option<Arc<Lease>> {
        let state = self.agents.get_mut(&id)?;
        let on_this_conn = matches!(state.live, Some(Live::Ws(c)) if c == conn);
        let v = &state.view;
        let waiting = state.pending.command.is_some()
            || state.assigned.as_ref().is_some_and(|a| {
                v.capabilities.has(Capabilities::ACCEPTS_REMOTE_CONFIG)
                    && delivery::should_send(
                        a,
                        v.remote_config_status.as_deref(),
                        state.conn_gen,
                        state.knows_agent(),
                    )
            });
        if !on_this_conn || waiting || !state.described {
            return None;
        }
        let lease = Arc::new(Lease::new(id, v.capabilities, seq));
        state.lease = Some(lease.clone());
        Some(lease)
    }

    /// Ends the session's lease for `id`, if any, keeping the heartbeats it answered.
    fn revoke_lease(&mut self, id: AgentId) {
        self.fold_lease(id, true);
    }

    fn apply_report(&mut self, via: Via, report: AgentReport) -> ServerReply {
        let id = report.instance_uid;
        let plain_heartbeat = heartbeat::is_plain_heartbeat(&report);
        let now = SystemTime::now();
        let known = self.agents.contains_key(&id);
        let (transport, remote_addr, live, endpoint) = match &via {
            Via::WebSocket(conn) => {
                let Some(c) = self.conns.get(conn) else {
                    // The session registers before its first report; a missing entry means the
                    // connection closed meanwhile. Answer, but record nothing.
                    return ServerReply::ack(id, self.config.capabilities);
                };
                (
                    Transport::WebSocket,
                    c.remote_addr,
                    Live::Ws(*conn),
                    c.endpoint.clone(),
                )
            }
            Via::Http {
                remote_addr,
                endpoint,
            } => (Transport::Http, *remote_addr, Live::Http, endpoint.clone()),
        };

        let mut reply = ServerReply::ack(id, self.config.capabilities);
        if matches!(via, Via::Http { .. })
            && let Some(st) = self.agents.get(&id)
            && st.live.is_none()
            && let Some((said, goodbye_seq)) = st.goodbye()
            && said.elapsed() < GOODBYE_GRACE
        {
            if report.description.is_none() {
                reply.report_full_state = !report.disconnect;
                return reply;
            }
            // A full report numbered on from the goodbye comes from the process that said
            // it, still finishing (it answered our ReportFullState on its way out): the
            // goodbye stands. A restarted agent numbers its messages afresh.
            if report.sequence_num > goodbye_seq {
                return reply;
            }
        }
        // An agent told to take another uid that kept this one: told again, recorded nowhere.
        if let Live::Ws(conn) = &live
            && let Some(fresh) = self.conns.get(conn).and_then(|c| c.renamed(id))
        {
            reply.new_instance_uid = Some(fresh);
            return reply;
        }
        let state = self
            .agents
            .entry(id)
            .or_insert_with(|| Box::new(AgentState::new(id, now)));

        // A live uid claimed from elsewhere: another connection, or over HTTP another address.
        let claimed_from = match (&state.live, &live) {
            (Some(Live::Ws(old)), Live::Ws(new)) if old == new => None,
            (Some(Live::Ws(old)), _) => self.conns.get(old).map(|c| c.remote_addr),
            (Some(Live::Http), Live::Ws(_)) => state.view.remote_addr,
            (Some(Live::Http), Live::Http) => state
                .view
                .remote_addr
                .filter(|a| a.ip() != remote_addr.ip()),
            (None, _) => None,
        };
        if let Some(kept_addr) = claimed_from {
            match &report.description {
                // Who is it? Nothing is recorded until it says (a reconnecting agent does,
                // in full, and then takes over below).
                None => {
                    reply.report_full_state = !report.disconnect;
                    return reply;
                }
                Some(d) if state.described && !d.same_agent(&state.view.description) => {
                    // Another agent with this uid: one record stays true to the first.
                    return self.rename_newcomer(id, &live, remote_addr, Some(kept_addr), reply);
                }
                Some(_) => {}
            }
        }
        let state = self
            .agents
            .get_mut(&id)
            .expect("the entry was inserted above");
        // The agent limit, counted here where every connect is seen one at a time, so it
        // holds exactly; an agent already connected (any transport) keeps its place.
        if state.live.is_none()
            && !report.disconnect
            && let Some(max) = self.config.max_agents
            && self.connected.load(Ordering::Relaxed) >= max
        {
            if !known {
                self.agents.remove(&id);
            }
            reply.error = Some(ServerError::Unavailable {
                message: format!("the server holds its maximum of {max} agents"),
                retry_after: Some(self.config.retry_after),
            });
            return reply;
        }
        let state = self
            .agents
            .get_mut(&id)
            .expect("the entry was inserted above");

        // Connection bookkeeping: is this a (re)connect, or a takeover of a live uid?
        let mut connected_now = false;
        let mut takeover_from: Option<ConnId> = None;
        match (&state.live, &live) {
            (Some(Live::Ws(old)), Live::Ws(new)) if old == new => {}
            (Some(Live::Http), Live::Http) => state.note_poll(),
            // Back after being timed out: that gap tells its pace too.
            (None, Live::Http) if state.view.transport == Some(Transport::Http) => {
                state.note_poll();
                connected_now = true;
            }
            (Some(Live::Ws(old)), _) => {
                takeover_from = Some(*old);
                connected_now = true;
            }
            (Some(Live::Http), Live::Ws(_)) | (None, _) => connected_now = true,
        }
        if let Some(old) = takeover_from {
            let recent = Instant::now();
            let takeovers = &mut state.rare_mut().takeovers;
            takeovers.retain(|t| recent.duration_since(*t) < CLONE_WINDOW);
            takeovers.push(recent);
            if takeovers.len() >= CLONE_TAKEOVERS && !report.disconnect {
                // Two processes alike keep claiming this uid: give the newcomer an identity
                // of its own instead of letting them evict each other forever.
                takeovers.clear();
                let kept_addr = self.conns.get(&old).map(|c| c.remote_addr);
                return self.rename_newcomer(id, &live, remote_addr, kept_addr, reply);
            }
            tracing::info!(agent = %id, %remote_addr,
                "instance_uid reconnected on a new connection; the older connection is released");
            if let Some(c) = self.conns.get_mut(&old) {
                c.agents.retain(|a| *a != id);
            }
        }
        let state = self
            .agents
            .get_mut(&id)
            .expect("the entry was inserted above");

        if let Live::Ws(conn) = &live
            && connected_now
            && let Some(c) = self.conns.get_mut(conn)
            && !c.agents.contains(&id)
        {
            c.agents.push(id);
        }

        // Full state is needed when we don't know the agent or may have missed a message.
        let full_report = report.description.is_some();
        // The first full report on a connection replaces what earlier ones said: a field it
        // leaves out is one the agent no longer has (its process may have restarted).
        let first_full =
            full_report && !report.disconnect && (connected_now || !state.knows_agent());
        let gap =
            !state.seq_known || report.sequence_num != state.view.sequence_num.wrapping_add(1);
        if (!state.described || gap) && !full_report && !report.disconnect {
            reply.report_full_state = true;
        }
        state.set_sequence(Some(report.sequence_num));

        // Apply what changed (absent parts are unchanged).
        // Only what the report may change is compared (and copied) before and after.
        let name_before = report.description.as_ref().map(|_| state.name());
        let health_before = report.health.as_ref().and_then(|_| {
            state
                .view
                .health
                .as_ref()
                .map(|h| (h.healthy(), h.last_error().clone()))
        });
        let got_health = report.health.is_some();
        // The status this report replaces, shared rather than copied (two reports a push).
        let got_status = report.remote_config_status.is_some() || first_full;
        let got_effective = report.effective_config.is_some() || first_full;
        let rcs_before = state
            .view
            .remote_config_status
            .clone()
            .filter(|_| got_status);
        let mut durable_change = false;
        if let Some(d) = report.description {
            if *state.view.description != d {
                state.set_description(d);
                durable_change = true;
            }
            state.described = true;
        }
        state.last_heard = Instant::now();
        let v = state.view_mut();
        v.capabilities = report.capabilities;
        if let Some(h) = report.health {
            v.health = Some(h);
        }
        if first_full {
            v.effective_config = report.effective_config.map(|c| self.configs.intern(c));
            v.remote_config_status = report.remote_config_status.map(Arc::new);
        } else {
            if let Some(c) = report.effective_config {
                v.effective_config = Some(self.configs.intern(c));
            }
            if let Some(s) = report.remote_config_status {
                v.remote_config_status = Some(Arc::new(s));
            }
        }
        if let Some(p) = report.package_statuses {
            v.package_statuses = Some(Arc::new(p));
        }
        if let Some(c) = report.custom_capabilities {
            v.custom_capabilities = c.into();
        }
        let mut ask_components = false;
        if let Some(reported) = report.available_components {
            match reported.listing {
                Some(listing) => {
                    if v.available_components.as_deref() != Some(&listing) {
                        if !listing.dropped.is_none() {
                            tracing::warn!(agent = %id, dropped = %listing.dropped,
                                kept = listing.len(),
                                "component listing held to the limits; entries left out");
                        }
                        v.available_components = Some(self.components.intern(listing));
                        durable_change = true;
                    }
                }
                None => {
                    let current = v
                        .available_components
                        .as_ref()
                        .is_some_and(|c| c.hash == reported.hash);
                    if !current {
                        // New to us, or changed without a listing: the old one no longer
                        // says what the agent runs. Unknown until the agent sends it.
                        v.available_components = None;
                        ask_components = true;
                    }
                }
            }
        }
        v.messages += 1;
        v.last_seen = now;
        v.transport = Some(transport);
        v.remote_addr = Some(remote_addr);
        // The display name is only needed for events: built when one is emitted.
        let name_now = |agents: &HashMap<AgentId, Box<AgentState>>| {
            agents
                .get(&id)
                .map(|s| s.name())
                .unwrap_or_else(|| id.short())
        };

        if report.disconnect {
            // Field by field: `state` is still borrowed.
            self.dirty.insert(id);
            self.urgent = true;
            if state.live.is_some() || connected_now {
                if let Live::Ws(conn) = &live
                    && let Some(c) = self.conns.get_mut(conn)
                {
                    c.agents.retain(|a| *a != id);
                }
                // Make sure a connect that happens in the same message is still seen.
                if connected_now && state.live.is_none() {
                    state.view_mut().connected_at = Some(now);
                }
                self.mark_disconnected(id, DisconnectReason::AgentDisconnect);
            }
            return reply;
        }

        reply.report_available_components = ask_components;
        if durable_change || connected_now {
            self.persist(&id);
        }
        let state = self.agents.get_mut(&id).expect("present");
        if connected_now {
            let new = !known;
            if state.live.is_none() {
                self.connected.fetch_add(1, Ordering::Relaxed);
            }
            state.set_live(Some(live));
            let v = state.view_mut();
            v.connected_at = Some(now);
            v.disconnected_at = None;
            state.conn_gen += 1;
            let name = name_now(&self.agents);
            self.emit(EventKind::AgentConnected {
                id,
                name,
                transport,
                remote_addr: Some(remote_addr),
                new,
            });
        } else if let Some(before) = name_before
            && before != name_now(&self.agents)
        {
            tracing::debug!(agent = %id, name = %name_now(&self.agents), "agent renamed");
        }
        let state = self.agents.get_mut(&id).expect("present");
        if first_full {
            state.full_state_conn = state.conn_gen;
        }

        let health_after = state
            .view
            .health
            .as_ref()
            .map(|h| (h.healthy(), h.last_error().clone()));
        // A first report that all is well is no news (it would be one event per agent on
        // every start); a first report of trouble, and every change after, is.
        let news = match (&health_before, &health_after) {
            (None, Some((healthy, _))) => !healthy,
            (before, after) => before != after,
        };
        if got_health
            && news
            && let Some((healthy, last_error)) = health_after
        {
            self.emit(EventKind::HealthChanged {
                id,
                name: name_now(&self.agents),
                healthy,
                last_error: last_error.to_string(),
            });
        }
        let state = self.agents.get_mut(&id).expect("present");
        let status_changed = got_status
            && !same_status(
                rcs_before.as_deref(),
                state.view.remote_config_status.as_deref(),
            );
        let mut assignment_event = None;
        let mut lost = None;
        let mut assignment_changed = false;
        if let Some(a) = state.assigned.as_mut() {
            let status = state
                .view
                .remote_config_status
                .as_deref()
                .filter(|_| got_status);
            let effective = state
                .view
                .effective_config
                .as_deref()
                .filter(|_| got_effective);
            let reports_status = state
                .view
                .capabilities
                .has(Capabilities::REPORTS_REMOTE_CONFIG);
            let before = a.state;
            let folded = if first_full {
                delivery::on_full_state(a, status, effective, reports_status)
            } else {
                delivery::on_report(a, status, effective, reports_status)
            };
            if folded {
                assignment_changed = true;
                if a.state == ApplyState::Pending && before != ApplyState::Pending {
                    lost = Some((a.config.clone(), before));
                } else if a.state.done() {
                    assignment_event = Some(a.view());
                }
                state.refresh_config_view();
            }
        }
        if let Some((config, before)) = lost {
            tracing::info!(agent = %id, %config, was = %before,
                "agent reconnected without its assigned configuration; sending it again");
            self.emit(EventKind::Notice {
                agent: Some(id),
                message: format!(
                    "{} reconnected without {config} (it was {before}); sending it again",
                    name_now(&self.agents)
                ),
            });
        }
        if assignment_changed || status_changed {
            // Where the agent's configuration stands survives a restart of the server.
            self.persist_config_state(&id);
        }
        let state = self.agents.get_mut(&id).expect("present");
        let about_assignment = state
            .assigned
            .as_ref()
            .zip(state.view.remote_config_status.as_ref())
            .is_some_and(|(a, s)| s.last_hash == a.offer.hash);
        if let Some(view) = assignment_event {
            self.emit(config_event(id, name_now(&self.agents), view));
        } else if status_changed
            && !about_assignment
            && let Some(s) = state.view.remote_config_status.clone()
        {
            self.emit(EventKind::RemoteConfigStatus {
                id,
                name: name_now(&self.agents),
                state: s.state,
                error_message: s.error_message.clone(),
            });
        }

        // Connection settings: heartbeat interval and own-telemetry destination.
        let state = self.agents.get_mut(&id).expect("present");
        // The offer only depends on the capabilities and the endpoint: once sent, it is not
        // rebuilt (and hashed) for every message while those stay the same.
        let settings_for = (state.view.capabilities, endpoint);
        let already_offered =
            state.offered_settings.is_some() && state.settings_for.as_ref() == Some(&settings_for);
        if !already_offered
            && let Some(offer) = settings_offer(&self.config, &id, settings_for.0, &settings_for.1)
        {
            let agent_has = report.connection_settings_hash.as_deref() == Some(&offer.hash[..]);
            if state.offered_settings != Some(offer.hash) && !agent_has {
                state.offered_settings = Some(offer.hash);
                state.settings_for = Some(settings_for);
                reply.connection_settings = Some(Arc::new(offer));
            }
        }
        let knows_agent = state.knows_agent();
        if let Some(command) = state.pending.command.take() {
            // A command travels alone (the codec drops everything else), so the rest of
            // this reply waits: the agent comes back after restarting and gets it then.
            reply.command = Some(command);
            state.offered_settings = None;
        } else if state
            .view
            .capabilities
            .has(Capabilities::ACCEPTS_REMOTE_CONFIG)
            && let Some(a) = state.assigned.as_mut()
            && delivery::should_send(
                a,
                state.view.remote_config_status.as_deref(),
                state.conn_gen,
                knows_agent,
            )
        {
            reply.remote_config = Some(a.offer.clone());
            delivery::mark_sent(a, state.conn_gen);
            state.refresh_config_view();
        }
        if plain_heartbeat && !connected_now && is_plain_ack(&reply) {
            self.touched(id);
        } else {
            self.changed(id);
        }
        reply
    }

    fn mark_disconnected(&mut self, id: AgentId, reason: DisconnectReason) {
        self.revoke_lease(id);
        let Some(state) = self.agents.get_mut(&id) else {
            return;
        };
        if state.live.is_none() {
            return;
        }
        state.set_live(None);
        state.view_mut().disconnected_at = Some(SystemTime::now());
        let last_seq = state.view.sequence_num;
        state.set_sequence(None);
        let goodbye =
            (reason == DisconnectReason::AgentDisconnect).then(|| (Instant::now(), last_seq));
        if goodbye.is_some() || state.rare.is_some() {
            state.rare_mut().goodbye = goodbye;
        }
        if let Some(p) = &self.config.persist {
            p.agent(record_of(&id, state, true));
        }
        self.connected.fetch_sub(1, Ordering::Relaxed);
        let name = state.name();
        self.changed(id);
        self.emit(EventKind::AgentDisconnected { id, name, reason });
    }

    fn disconnect_all(&mut self, reason: DisconnectReason) {
        let live: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.live.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in live {
            self.mark_disconnected(id, reason);
        }
        self.conns.clear();
    }

    fn expire_http_agents(&mut self) {
        let timeout = self.config.http_agent_timeout;
        let expired: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| {
                matches!(a.live, Some(Live::Http))
                    && a.last_heard.elapsed() > a.http_timeout(timeout)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.mark_disconnected(id, DisconnectReason::HeartbeatTimeout);
        }
        self.check_stalled();
        self.configs.sweep();
        self.components.sweep();
        super::text::sweep();
        super::health::sweep();
    }

    /// Publishes at a tick when something changed, or when only heartbeats did and the
    /// last snapshot is old enough.
    /// When the next snapshot is due: an interval after the last one for a change that
    /// readers wait for (and the very first), `HEARTBEAT_PUBLISHES` intervals for heartbeat
    /// times alone, never when nothing changed.
    fn next_publish(&self) -> Option<Instant> {
        let interval = self.config.publish_interval;
        if self.urgent || self.version == 0 {
            Some(self.published_at + interval)
        } else if !self.dirty.is_empty() {
            Some(self.published_at + interval * HEARTBEAT_PUBLISHES)
        } else {
            None
        }
    }

    fn publish_due(&mut self) {
        let heartbeat_due =
            self.published_at.elapsed() >= self.config.publish_interval * HEARTBEAT_PUBLISHES;
        if self.urgent || heartbeat_due {
            self.publish();
        }
    }

    fn publish(&mut self) {
        if self.dirty.is_empty() && self.version > 0 {
            return;
        }
        self.urgent = false;
        self.published_at = Instant::now();
        self.version += 1;
        let mut updates: Vec<Arc<AgentView>> = Vec::with_capacity(self.dirty.len());
        let mut forgotten = Vec::new();
        for id in self.dirty.drain() {
            match self.agents.get(&id) {
                Some(s) => updates.push(s.view.clone()),
                None => forgotten.push(id),
            }
        }
        updates.sort_unstable_by_key(|v| v.id);
        let version = self.version;
        let mut replaced = Vec::with_capacity(updates.len());
        self.snapshot.send_modify(|current| {
            // In place when no reader holds the current snapshot any more; otherwise
            // readers keep theirs unchanged and this works on a copy.
            let snap = Arc::make_mut(current);
            remove_views(snap, &forgotten, &mut replaced);
            apply_views(snap, updates, &mut replaced);
            snap.version = version;
            snap.taken_at = Some(SystemTime::now());
        });
        // The views replaced are freed here, outside the channel's lock.
        drop(replaced);
    }
}

/// Takes the views of forgotten agents out of `snap`, keeping the totals current.
fn remove_views(snap: &mut FleetSnapshot, ids: &[AgentId], removed: &mut Vec<Arc<AgentView>>) {
    for id in ids {
        if let Ok(i) = snap.agents.binary_search_by(|a| a.id.cmp(id)) {
            let old = snap.agents.remove(i);
            snap.totals.uncount(&old);
            removed.push(old);
        }
    }
}

/// Puts `updates` (sorted by id) into `snap` (agents sorted by id), keeping the totals
/// current; views they replace go to `replaced`.
fn apply_views(
    snap: &mut FleetSnapshot,
    updates: Vec<Arc<AgentView>>,
    replaced: &mut Vec<Arc<AgentView>>,
) {
    let mut inserts = Vec::new();
    for view in updates {
        snap.totals.count(&view);
        match snap.agents.binary_search_by(|a| a.id.cmp(&view.id)) {
            Ok(i) => {
                let old = std::mem::replace(&mut snap.agents[i], view);
                snap.totals.uncount(&old);
                replaced.push(old);
            }
            Err(_) => inserts.push(view),
        }
    }
    if !inserts.is_empty() {
        // New agents: merge both sorted lists in one pass.
        let old = std::mem::take(&mut snap.agents);
        let mut merged = Vec::with_capacity(old.len() + inserts.len());
        let mut new = inserts.into_iter().peekable();
        for a in old {
            while let Some(n) = new.next_if(|n| n.id < a.id) {
                merged.push(n);
            }
            merged.push(a);
        }
        merged.extend(new);
        snap.agents = merged;
    }
}

/// The agent's durable record; `description` false leaves the stored description and
/// component listing as they are.
fn record_of(id: &AgentId, s: &AgentState, description: bool) -> AgentRecord {
    AgentRecord {
        id: *id,
        labels: s.operator_labels().clone(),
        assigned: s.assigned.as_ref().map(|a| a.config.clone()),
        description_json: description
            .then(|| serde_json::to_string(&*s.view.description).ok())
            .flatten(),
        components_json: description
            .then(|| serde_json::to_string(s.view.available_components.as_deref()?).ok())
            .flatten(),
        config_state_json: delivery::Stored {
            assignment: s.assigned.as_ref().map(|a| a.saved()),
            reported: s.view.remote_config_status.as_deref().cloned(),
        }
        .to_json(),
        first_seen: s.view.first_seen,
        last_seen: s.view.last_seen,
    }
}

fn config_event(id: AgentId, name: String, status: AgentConfigStatus) -> EventKind {
    EventKind::ConfigStatus {
        id,
        name,
        config: status.config,
        state: status.state,
        error: status.error,
    }
}

fn settings_offer(
    config: &RegistryConfig,
    id: &AgentId,
    caps: Capabilities,
    endpoint: &str,
) -> Option<ConnectionSettingsOffer> {
    let opamp = caps
        .has(Capabilities::REPORTS_HEARTBEAT)
        .then(|| OpampSettings {
            endpoint: endpoint.to_string(),
            headers: config.agent_auth_headers.clone(),
            heartbeat_interval_seconds: config.heartbeat_interval.as_secs().max(1),
        });
    let own_metrics = if caps.has(Capabilities::REPORTS_OWN_METRICS) {
        config.own_metrics.as_ref().and_then(|f| f(id))
    } else {
        None
    };
    if opamp.is_none() && own_metrics.is_none() {
        return None;
    }
    // The hash covers every part of the offer, so any change produces a new one.
    let mut h = Sha256::new();
    if let Some(o) = &opamp {
        h.update(b"opamp\0");
        h.update(o.endpoint.as_bytes());
        h.update(o.heartbeat_interval_seconds.to_le_bytes());
        for (k, v) in &o.headers {
            h.update(k.as_bytes());
            h.update(b"\0");
            h.update(v.as_bytes());
        }
    }
    if let Some(m) = &own_metrics {
        h.update(b"own_metrics\0");
        h.update(m.endpoint.as_bytes());
        for (k, v) in &m.headers {
            h.update(k.as_bytes());
            h.update(b"\0");
            h.update(v.as_bytes());
        }
    }
    Some(ConnectionSettingsOffer {
        hash: h.finalize().into(),
        opamp,
        own_metrics,
        own_traces: None,
        own_logs: None,
    })
}

mod commands;
mod state;
use state::*;

#[cfg(test)]
mod config_truth;
#[cfg(test)]
mod tests;
