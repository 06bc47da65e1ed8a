//! The documents the store keeps. Plain data, no SQL.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use crate::fleet::agent::AgentId;
use crate::fleet::attempt::ApplyAttempt;
use crate::fleet::record::AgentRecord;

/// Tunables; the defaults suit a single server. The size cap and the busy timeout are
/// SQLite's; PostgreSQL has its own limits and lock waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Keep at most this many events; older ones are dropped as new ones arrive.
    pub event_retention: usize,
    /// Keep at most this many apply attempts per agent; older ones are dropped as new
    /// ones arrive.
    pub attempts_per_agent: usize,
    /// Refuse to grow the database beyond this size (writes then fail as "full").
    pub max_db_bytes: Option<u64>,
    /// How long to wait for a lock held by another process.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            event_retention: 100_000,
            attempts_per_agent: crate::fleet::attempt::KEPT_PER_AGENT,
            max_db_bytes: None,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// One version of a resource (resource type, configuration, destination, ...).
/// New spec text for one stored version (see [`super::StoreBackend::rewrite_specs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecRewrite {
    pub kind: String,
    pub name: String,
    pub version: u64,
    pub spec_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDoc {
    pub kind: String,
    pub name: String,
    /// 1 for the first version; grows by one on every change.
    pub version: u64,
    /// The spec as the caller gave it (JSON text).
    pub spec_json: String,
    pub labels: BTreeMap<String, String>,
    /// SHA-256 (hex) of the canonical spec and labels; equal content ⇔ equal hash.
    pub hash: String,
    /// When the resource was first created.
    pub created_at: SystemTime,
    /// When this version was made.
    pub updated_at: SystemTime,
}

/// What `apply` did, as `fleetdeck apply` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    Created { version: u64 },
    Configured { version: u64, previous: u64 },
    Unchanged { version: u64 },
}

impl ApplyOutcome {
    /// The version that is now the latest.
    pub fn version(&self) -> u64 {
        match *self {
            ApplyOutcome::Created { version }
            | ApplyOutcome::Configured { version, .. }
            | ApplyOutcome::Unchanged { version } => version,
        }
    }

    /// The word `fleetdeck apply` prints.
    pub fn verb(&self) -> &'static str {
        match self {
            ApplyOutcome::Created { .. } => "created",
            ApplyOutcome::Configured { .. } => "configured",
            ApplyOutcome::Unchanged { .. } => "unchanged",
        }
    }
}

/// Agent records, apply attempts and events to write together, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub agents: Vec<AgentRecord>,
    pub events: Vec<NewEvent>,
    /// Agent records to delete, after the upserts (an operator forgot them).
    pub forget: Vec<AgentId>,
    /// Agents whose apply history goes, before `attempts` are written: forgotten ones,
    /// also when they came back since (what they do from then on is kept).
    pub forget_history: Vec<AgentId>,
    /// Attempts to write (each replacing an earlier write of the same attempt); each
    /// agent's history is then held to the newest [`crate::fleet::attempt::KEPT_PER_AGENT`]
    /// (or the store's own cap).
    pub attempts: Vec<ApplyAttempt>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
            && self.events.is_empty()
            && self.forget.is_empty()
            && self.forget_history.is_empty()
            && self.attempts.is_empty()
    }
}

/// An event to append to the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at: SystemTime,
    /// Short machine name, e.g. `config_applied`, `rollout_halted`.
    pub kind: String,
    pub agent: Option<AgentId>,
    /// Details as JSON text.
    pub payload_json: String,
}

/// An event read back from the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Increasing with insertion order.
    pub seq: u64,
    pub at: SystemTime,
    pub kind: String,
    pub agent: Option<AgentId>,
    pub payload_json: String,
}

/// Which events to read. Results are newest first and at most `limit` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub limit: usize,
    /// Only events at or after this time.
    pub since: Option<SystemTime>,
    /// Only events about this agent.
    pub agent: Option<AgentId>,
    /// Only changes made with this API token (audit events).
    pub actor: Option<String>,
}

impl EventQuery {
    /// The newest `limit` events.
    pub fn newest(limit: usize) -> Self {
        EventQuery {
            limit,
            since: None,
            agent: None,
            actor: None,
        }
    }

    /// Events at or after `since` (the newest `limit` of them).
    pub fn since(since: SystemTime, limit: usize) -> Self {
        EventQuery {
            limit,
            since: Some(since),
            agent: None,
            actor: None,
        }
    }

    pub fn for_agent(mut self, agent: AgentId) -> Self {
        self.agent = Some(agent);
        self
    }

    pub fn by_actor(mut self, actor: &str) -> Self {
        self.actor = Some(actor.to_string());
        self
    }
}

/// Where a rollout stands. The rollout engine owns the meaning of its state document;
/// the store only needs to know which rollouts to resume after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RolloutStatus {
    Pending,
    Running,
    Paused,
    /// Stopped by the failure threshold; waits for an operator.
    Halted,
    Completed,
    Cancelled,
    RolledBack,
}

impl RolloutStatus {
    pub const ALL: [RolloutStatus; 7] = [
        RolloutStatus::Pending,
        RolloutStatus::Running,
        RolloutStatus::Paused,
        RolloutStatus::Halted,
        RolloutStatus::Completed,
        RolloutStatus::Cancelled,
        RolloutStatus::RolledBack,
    ];

    /// Finished rollouts need nothing more; the others are resumed after a restart
    /// (a paused or halted one resumes as paused or halted).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RolloutStatus::Completed | RolloutStatus::Cancelled | RolloutStatus::RolledBack
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Pending => "pending",
            RolloutStatus::Running => "running",
            RolloutStatus::Paused => "paused",
            RolloutStatus::Halted => "halted",
            RolloutStatus::Completed => "completed",
            RolloutStatus::Cancelled => "cancelled",
            RolloutStatus::RolledBack => "rolled_back",
        }
    }
}

impl fmt::Display for RolloutStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RolloutStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RolloutStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown rollout status '{s}'"))
    }
}

/// A named API token as the store keeps it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    /// `viewer`, `operator` or `admin` (the API gives the words their meaning).
    pub role: String,
    /// SHA-256 of the token, hex.
    pub hash: String,
    pub created_at: SystemTime,
}

/// What another process sharing the database changed (replicas on PostgreSQL), so this
/// one can read it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Resources: types, destinations, configurations and their versions.
    Resources,
    /// Agent records, their apply history, events.
    Agents,
    Rollouts,
    /// Named API tokens.
    Tokens,
    /// An agent was revoked.
    Revocations,
    /// Anything: news may have been missed (the listening connection was lost).
    Everything,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Resources => "resources",
            Change::Agents => "agents",
            Change::Rollouts => "rollouts",
            Change::Tokens => "tokens",
            Change::Revocations => "revocations",
            Change::Everything => "everything",
        }
    }

    pub fn parse(word: &str) -> Option<Change> {
        [
            Change::Resources,
            Change::Agents,
            Change::Rollouts,
            Change::Tokens,
            Change::Revocations,
            Change::Everything,
        ]
        .into_iter()
        .find(|c| c.as_str() == word)
    }
}

/// A configuration's rollout state as last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRecord {
    pub config_name: String,
    pub status: RolloutStatus,
    /// The rollout engine's own document (JSON text).
    pub state_json: String,
    /// 1 after the first write, +1 on each write.
    pub revision: u64,
    pub updated_at: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_status_round_trips_through_its_name() {
        for st in RolloutStatus::ALL {
            assert_eq!(st.as_str().parse::<RolloutStatus>(), Ok(st));
        }
        assert!("done".parse::<RolloutStatus>().is_err());
    }

    #[test]
    fn only_terminal_statuses_are_finished() {
        let unfinished: Vec<_> = RolloutStatus::ALL
            .into_iter()
            .filter(|s| !s.is_finished())
            .collect();
        assert_eq!(
            unfinished,
            [
                RolloutStatus::Pending,
                RolloutStatus::Running,
                RolloutStatus::Paused,
                RolloutStatus::Halted
            ]
        );
    }
}
