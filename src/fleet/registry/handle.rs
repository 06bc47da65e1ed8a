//! The registry's public face: the handle every session, the API and the TUI hold, the
//! messages it sends to the registry task, and what comes back.

use super::*;

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

pub(super) enum Msg {
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
        /// Push, a rollout's rollback (the assignments it replaces were rolled back), or
        /// a selector.
        by: AssignedBy,
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
    OfferCredential {
        id: AgentId,
        credential: crate::fleet::credentials::Issued,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    CutOff {
        id: AgentId,
        reason: String,
        reply: oneshot::Sender<bool>,
    },
    Adopt {
        known: Vec<KnownAgent>,
        reply: oneshot::Sender<usize>,
    },
    Tap {
        id: AgentId,
        request: crate::fleet::tap::TapRequest,
        reply: oneshot::Sender<Result<crate::fleet::tap::TapAnswer, crate::fleet::tap::TapError>>,
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
    pub(super) tx: mpsc::Sender<Msg>,
    pub(super) snapshot: watch::Receiver<Arc<FleetSnapshot>>,
    pub(super) events: EventBus,
    pub(super) connected: Arc<AtomicUsize>,
    pub(super) messages: Arc<AtomicU64>,
    pub(super) beaten: Arc<Beaten>,
    pub(super) capabilities: u64,
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

    /// Offers a connected agent a new credential in its OpAMP connection settings: at once
    /// over WebSocket, with the next poll over HTTP (refused for agents without
    /// AcceptsOpAMPConnectionSettings, and for disconnected ones).
    pub async fn offer_credential(
        &self,
        id: AgentId,
        credential: crate::fleet::credentials::Issued,
    ) -> Result<(), CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::OfferCredential {
                id,
                credential,
                reply,
            })
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)?
    }

    /// Disconnects an agent at once, telling it `reason` (a WebSocket agent is sent the
    /// reason and its connection closed; an HTTP agent is refused at its next poll by the
    /// listener). Returns whether it was connected.
    pub async fn cut_off(&self, id: AgentId, reason: String) -> bool {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(Msg::CutOff { id, reason, reply })
            .await
            .is_err()
        {
            return false;
        }
        rx.await.unwrap_or(false)
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
        self.assign_as(agents, config, offer, AssignedBy::Push)
            .await
    }

    /// [`RegistryHandle::assign`] for a rollout's rollback, sending agents back to an
    /// earlier version: the assignments it replaces show as rolled back in their history.
    pub async fn roll_back(
        &self,
        agents: Vec<AgentId>,
        config: ConfigRef,
        offer: Arc<RemoteConfigOffer>,
    ) -> Result<AssignOutcome, RegistryGone> {
        self.assign_as(agents, config, offer, AssignedBy::Rollback)
            .await
    }

    /// [`RegistryHandle::assign`] because the configuration's selector matches the
    /// agents' labels: the assignment says so, and a later push replaces it.
    pub async fn assign_by_selector(
        &self,
        agents: Vec<AgentId>,
        config: ConfigRef,
        offer: Arc<RemoteConfigOffer>,
    ) -> Result<AssignOutcome, RegistryGone> {
        self.assign_as(agents, config, offer, AssignedBy::Selector)
            .await
    }

    async fn assign_as(
        &self,
        agents: Vec<AgentId>,
        config: ConfigRef,
        offer: Arc<RemoteConfigOffer>,
        by: AssignedBy,
    ) -> Result<AssignOutcome, RegistryGone> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Assign {
                agents,
                config,
                offer,
                by,
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

    /// Takes in agents another server stored (a replica on the same database), as agents
    /// of earlier runs are taken in at start: disconnected here until they connect, with
    /// their labels and assignment. Agents this registry knows are left as they are.
    /// Returns how many were new.
    pub async fn adopt(&self, known: Vec<KnownAgent>) -> Result<usize, CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Adopt { known, reply })
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)
    }

    /// Asks agent `id` for the newest items one of its pipelines handles and waits for
    /// the answer. Every wait ends: the answer, the agent's refusal, its disconnect, or
    /// the deadline (seconds over WebSocket, about a poll interval over HTTP).
    pub async fn tap(
        &self,
        id: AgentId,
        request: crate::fleet::tap::TapRequest,
    ) -> Result<crate::fleet::tap::TapAnswer, crate::fleet::tap::TapError> {
        use crate::fleet::tap::TapError;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Tap { id, request, reply })
            .await
            .map_err(|_| TapError::Stopped)?;
        rx.await.map_err(|_| TapError::Stopped)?
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
