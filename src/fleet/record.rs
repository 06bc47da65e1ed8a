//! What is written down about an agent, so a restart of the server loses nothing: the
//! record and the apply history, and the journal the registry hands them to. The store implements the journal;
//! the fleet does not know how (or whether) records are kept.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::agent::AgentId;
use super::attempt::ApplyAttempt;
use super::delivery::ConfigRef;

/// What is kept about an agent between restarts of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub id: AgentId,
    /// Labels set by operators (`fleetdeck label agent`), not those derived from the description.
    pub labels: BTreeMap<String, String>,
    pub assigned: Option<ConfigRef>,
    /// The last agent description received, as JSON text (the registry's serialization).
    /// Written as `None`, it leaves the description already stored (or waiting) as it is:
    /// a new assignment does not rewrite every agent's description.
    pub description_json: Option<String>,
    /// The agent's last component listing, as JSON text; `None` leaves the stored one as
    /// it is, as for the description.
    pub components_json: Option<String>,
    /// Where the agent's configuration stood (assignment state, the agent's last
    /// remote-config status), as JSON text; always written as it is now.
    pub config_state_json: Option<String>,
    pub first_seen: SystemTime,
    pub last_seen: SystemTime,
}

/// Where the registry writes agent records. Calls must not wait on disk: the registry is
/// the one owner of live state and answers agents in between.
pub trait AgentJournal: Send + Sync + 'static {
    /// The latest record of an agent. A record whose description or component listing is
    /// `None` leaves the kept ones as they are.
    fn agent(&self, record: AgentRecord);
    /// An attempt of the agent's apply history, as it stands; a later write of the same
    /// attempt (agent and `assigned_at`) replaces it.
    fn attempt(&self, attempt: ApplyAttempt);
    /// An operator forgot the agent: its record goes, and its apply history.
    fn forget(&self, id: AgentId);
}
