//! What the server has to say to an agent, in domain terms. The registry decides it;
//! the OpAMP codec turns it into a `ServerToAgent`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::agent::{AgentId, ConfigMap};

/// A remote configuration ready to send: its files and their SHA-256 hash.
#[derive(Clone, derive_more::Debug)]
pub struct RemoteConfigOffer {
    pub files: ConfigMap,
    pub hash: [u8; 32],
    /// The offer as the wire carries it, kept by the codec the first time it sends it: one
    /// offer goes to a whole phase of agents, and is encoded once.
    #[debug(skip)]
    pub encoded: OnceLock<Box<[u8]>>,
    /// The server's signature of `hash`, sent beside it to agents that ask for one.
    pub signature: Option<Arc<crate::signing::ConfigSignature>>,
}

impl RemoteConfigOffer {
    pub fn new(files: ConfigMap, hash: [u8; 32]) -> Self {
        RemoteConfigOffer {
            files,
            hash,
            encoded: OnceLock::new(),
            signature: None,
        }
    }
}

/// The same files and hash, whether or not either was sent yet.
impl PartialEq for RemoteConfigOffer {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.files == other.files
    }
}

impl Eq for RemoteConfigOffer {}

/// An OTLP/HTTP destination for one of the agent's own signals.
#[derive(Clone, PartialEq, Eq, derive_more::Debug)]
pub struct TelemetryDestination {
    /// Full URL including the path, e.g. `http://host:4320/v1/metrics`.
    pub endpoint: String,
    /// Carries a per-agent token: never printed.
    #[debug("<{} redacted>", headers.len())]
    pub headers: Vec<(String, String)>,
}

/// Connection settings we offer. `hash` covers everything, so an unchanged offer is
/// recognisable and not resent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettingsOffer {
    pub hash: [u8; 32],
    pub opamp: Option<OpampSettings>,
    pub own_metrics: Option<TelemetryDestination>,
    pub own_traces: Option<TelemetryDestination>,
    pub own_logs: Option<TelemetryDestination>,
}

#[derive(Clone, PartialEq, Eq, derive_more::Debug)]
pub struct OpampSettings {
    /// Where the agent reaches us (required by the spec to be non-empty).
    pub endpoint: String,
    /// Carries the agent secret: never printed.
    #[debug("<{} redacted>", headers.len())]
    pub headers: Vec<(String, String)>,
    pub heartbeat_interval_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentCommand {
    Restart,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerError {
    /// The message could not be understood; the agent should not retry it.
    BadRequest(String),
    /// The agent may no longer connect (revoked): sent as BAD_REQUEST, then the
    /// connection is closed.
    Refused(String),
    /// We are overloaded; retry after the given delay.
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
}

/// One ServerToAgent worth of content. Built by the registry, encoded by the codec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerReply {
    pub instance_uid: AgentId,
    pub capabilities: u64,
    pub report_full_state: bool,
    /// Ask for the agent's full component listing (we hold its hash, not the listing).
    pub report_available_components: bool,
    pub remote_config: Option<Arc<RemoteConfigOffer>>,
    /// Send `remote_config`'s signature too (the agent declared it wants them).
    pub signed: bool,
    pub connection_settings: Option<Arc<ConnectionSettingsOffer>>,
    pub command: Option<AgentCommand>,
    /// A custom message for the agent (a tap request); never beside a signature.
    pub custom_message: Option<Box<super::report::CustomMessage>>,
    pub new_instance_uid: Option<AgentId>,
    pub error: Option<ServerError>,
}

impl ServerReply {
    pub fn ack(instance_uid: AgentId, capabilities: u64) -> Self {
        ServerReply {
            instance_uid,
            capabilities,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_credentials() {
        let d = TelemetryDestination {
            endpoint: "http://h/v1/metrics".into(),
            headers: vec![("Authorization".into(), "Bearer fdt1.secret-token".into())],
        };
        let o = OpampSettings {
            endpoint: "ws://h/v1/opamp".into(),
            headers: vec![("Authorization".into(), "Secret-Key hunter2".into())],
            heartbeat_interval_seconds: 30,
        };
        let text = format!("{d:?} {o:?}");
        assert!(
            text.contains("http://h/v1/metrics") && text.contains("redacted"),
            "{text}"
        );
        assert!(
            !text.contains("secret-token") && !text.contains("hunter2"),
            "{text}"
        );
    }
}
