//! What one agent message said, in domain terms: the codec builds it, the registry and the
//! heartbeat fast path read it.

use super::agent::{
    AgentDescription, AgentId, Capabilities, ConfigMap, PackageStatuses, RemoteConfigStatus,
};
use super::components::ReportedComponents;
use super::health::Health;

/// Everything one `AgentToServer` message said, in domain terms.
/// `None` means "unchanged since the last report" (OpAMP status compression).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentReport {
    pub instance_uid: AgentId,
    pub sequence_num: u64,
    pub capabilities: Capabilities,
    pub description: Option<AgentDescription>,
    /// Encoded by the codec as it decodes (see [`super::health`]).
    pub health: Option<Health>,
    pub effective_config: Option<ConfigMap>,
    pub remote_config_status: Option<RemoteConfigStatus>,
    pub package_statuses: Option<PackageStatuses>,
    pub custom_capabilities: Option<Vec<String>>,
    /// A custom message (e.g. the answer to a tap), kept only for capabilities we know.
    pub custom_message: Option<CustomMessage>,
    /// The agent's available components: their hash, and the listing when it was sent.
    pub available_components: Option<ReportedComponents>,
    /// Last connection-settings hash the agent reports having applied.
    pub connection_settings_hash: Option<Vec<u8>>,
    /// The agent reports it could not apply the connection settings offered (FAILED),
    /// with its message.
    pub connection_settings_failed: Option<String>,
    /// Not from the agent: a credential the server minted for it, to offer in this reply
    /// (set by the listener, which checks credentials).
    pub credential: Option<super::credentials::Issued>,
    pub disconnect: bool,
    pub request_instance_uid: bool,
}

/// An OpAMP custom message: which custom capability it belongs to, its type, its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomMessage {
    pub capability: String,
    pub r#type: String,
    pub data: Vec<u8>,
}
