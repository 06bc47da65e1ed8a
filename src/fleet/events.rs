//! Discrete things that happened in the fleet, sent on a `broadcast` channel to the
//! TUI, the headless logger and the API's event stream, and handed one by one to the
//! stored history.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use super::agent::{AgentId, RemoteConfigState, Transport};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetEvent {
    pub at: SystemTime,
    pub kind: EventKind,
}

impl FleetEvent {
    pub fn now(kind: EventKind) -> Self {
        FleetEvent {
            at: SystemTime::now(),
            kind,
        }
    }
}

/// Keeps every event, in order (the stored history). Called on the sender's thread, so it
/// must only hand the event over, not write it.
pub type History = Arc<dyn Fn(&FleetEvent) + Send + Sync>;

/// Where events go: to the history, which misses none, then to live listeners.
///
/// Live listeners share a bounded `broadcast` buffer and may fall behind in a burst (a
/// push to 10,000 agents is 10,000 events within a second); they are told how many they
/// missed. The history does not hang on a listener task being scheduled in time.
#[derive(Clone)]
pub struct EventBus {
    live: tokio::sync::broadcast::Sender<FleetEvent>,
    history: Option<History>,
}

impl EventBus {
    pub fn new(capacity: usize, history: Option<History>) -> Self {
        EventBus {
            live: tokio::sync::broadcast::channel(capacity).0,
            history,
        }
    }

    pub fn send(&self, kind: EventKind) {
        let event = FleetEvent::now(kind);
        if let Some(keep) = &self.history {
            keep(&event);
        }
        // No live listener is fine: events are for whoever listens.
        let _ = self.live.send(event);
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<FleetEvent> {
        self.live.subscribe()
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    AgentConnected {
        id: AgentId,
        name: String,
        transport: Transport,
        remote_addr: Option<SocketAddr>,
        /// True the first time this server ever sees the agent.
        new: bool,
    },
    AgentDisconnected {
        id: AgentId,
        name: String,
        reason: DisconnectReason,
    },
    HealthChanged {
        id: AgentId,
        name: String,
        healthy: bool,
        last_error: String,
    },
    RemoteConfigStatus {
        id: AgentId,
        name: String,
        state: RemoteConfigState,
        error_message: String,
    },
    /// An assigned configuration reached an end state on an agent (applied, failed,
    /// stalled).
    ConfigStatus {
        id: AgentId,
        name: String,
        config: super::delivery::ConfigRef,
        state: super::delivery::ApplyState,
        error: String,
    },
    /// Something happened to a rollout (phase started, halted, rolled back, completed…).
    Rollout {
        config: super::delivery::ConfigRef,
        message: String,
    },
    /// Something an operator should know that is not a state change: e.g. a command that
    /// was refused, with the reason.
    Notice {
        agent: Option<AgentId>,
        message: String,
    },
    /// A change made through the management API: who (the token's name), what, and the
    /// outcome in a few words.
    Audit {
        actor: String,
        action: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
    },
    /// A second live agent claimed an instance UID that is already connected; the newcomer
    /// was told to take `new_uid`.
    DuplicateInstanceUid {
        id: AgentId,
        /// The newcomer's address.
        remote_addr: Option<SocketAddr>,
        /// The address of the agent that keeps the uid.
        kept_addr: Option<SocketAddr>,
        new_uid: AgentId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReason {
    /// The agent said goodbye (`agent_disconnect`).
    AgentDisconnect,
    /// The WebSocket closed without a goodbye.
    ConnectionClosed,
    /// An HTTP agent stopped polling for longer than the configured timeout.
    HeartbeatTimeout,
    /// A newer connection took over this instance UID.
    Replaced,
    /// The server is shutting down.
    ServerShutdown,
    /// An operator revoked the agent.
    Revoked,
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DisconnectReason::AgentDisconnect => "agent disconnected",
            DisconnectReason::ConnectionClosed => "connection closed",
            DisconnectReason::HeartbeatTimeout => "missed heartbeats",
            DisconnectReason::Replaced => "replaced by a newer connection",
            DisconnectReason::ServerShutdown => "server shutdown",
            DisconnectReason::Revoked => "revoked",
        })
    }
}
