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
use super::attempt::ApplyAttempt;
use super::components::AvailableComponents;
use super::delivery::{self, AgentConfigStatus, ApplyState, AssignedBy, Assignment, ConfigRef};
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
        taps: taps::Taps::default(),
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
    /// Taps waiting for their answers.
    taps: taps::Taps,
}

/// A snapshot that only refreshes heartbeat times waits this many publish intervals (a
/// second at the default): "last seen" needs no better, and at steady state nothing else
/// changes, so readers are not woken 40 times a second for nothing.
const HEARTBEAT_PUBLISHES: u32 = 40;

/// Messages handled in one go before the registry looks at its timers again.
const MAILBOX_BATCH: usize = 256;

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
                    self.expire_taps();
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
                by,
                reply,
            } => {
                let _ = reply.send(self.assign(agents, config, offer, by));
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
            Msg::OfferCredential {
                id,
                credential,
                reply,
            } => {
                let _ = reply.send(self.offer_credential(id, credential));
            }
            Msg::CutOff { id, reason, reply } => {
                let _ = reply.send(self.cut_off(id, reason));
            }
            Msg::Adopt { known, reply } => {
                let mut new = 0;
                for k in known {
                    if !self.agents.contains_key(&k.record.id) {
                        self.preload(k);
                        new += 1;
                    }
                }
                let _ = reply.send(new);
            }
            Msg::Tap { id, request, reply } => self.tap(id, request, reply),
            Msg::Shutdown { .. } => {}
        }
    }
}

mod commands;
mod connections;
mod handle;
mod publish;
mod report;
mod state;
mod taps;
use commands::record_of;
use handle::Msg;
pub use handle::{
    Answer, AssignOutcome, CommandError, KnownAgent, RegistryGone, RegistryHandle, Via,
};
use report::{CLONE_WINDOW, config_event};
use state::*;

#[cfg(test)]
mod config_truth;
#[cfg(test)]
mod tests;
