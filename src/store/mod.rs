//! Durable facts in an embedded SQLite database, or in PostgreSQL (`--store postgres://…`).
//!
//! The store keeps what must survive a restart: user-applied resources (every version),
//! agent records (server-side labels, assigned configuration, last known description),
//! each agent's apply history, rollout state and an event history. Live agent state stays in the fleet registry; the
//! registry hands agent records and events to a [`WriteBehind`] buffer, which writes them
//! in batches — never one write per heartbeat.
//!
//! The store knows nothing of pipeline internals: a resource is a document (kind, name,
//! version, spec as JSON text, labels, hash, timestamps). Timestamps are kept with
//! millisecond precision.
//!
//! Layout:
//! - [`StoreBackend`]: the blocking trait a backend implements.
//! - [`SqliteStore`]: the embedded backend (`fleetdeck.db` in the data dir), the default.
//! - [`PgStore`]: PostgreSQL, for replicas that share one fleet.
//! - [`Store`]: the cheap-to-clone async handle the tokio server uses; every call runs on
//!   the blocking pool so the runtime is never blocked.
//! - [`WriteBehind`]: coalescing, batched writer for agent records and events.

mod canonical;
mod convert;
mod error;
mod handle;
mod postgres;
mod schema;
mod sqlite;
mod types;
mod write_behind;

pub use canonical::{canonical_json, spec_hash};
pub use error::{StoreError, StoreResult};
pub use handle::Store;
pub use postgres::{PG_SCHEMA_VERSION, PgStore, is_postgres_url};
pub use schema::SCHEMA_VERSION;
pub use sqlite::{DB_FILE_NAME, SqliteStore};
pub use types::{
    ApplyOutcome, Change, EventQuery, NewEvent, ResourceDoc, RolloutRecord, RolloutStatus,
    SpecRewrite, StoreOptions, StoredEvent, TokenRecord, WriteBatch,
};
// The records the store keeps are the fleet's; re-exported so the store's API names them.
pub use crate::fleet::attempt::{ApplyAttempt, AttemptResult};
pub use crate::fleet::delivery::ConfigRef;
pub use crate::fleet::record::AgentRecord;
pub use write_behind::{FlushStats, WriteBehind, WriteBehindOptions};

use crate::fleet::agent::AgentId;
use crate::fleet::credentials::{CredentialHash, CredentialRecord};
use std::collections::BTreeMap;

/// A check the caller runs before a resource is deleted, e.g. "is this configuration
/// assigned to any agent?". It sees the latest version; `Err(reason)` refuses the delete.
/// The store calls it inside the delete transaction, so nothing changes in between.
pub type DeleteGuard<'a> = &'a dyn Fn(&ResourceDoc) -> Result<(), String>;

/// Everything a storage backend provides. Methods block; async callers go through [`Store`].
///
/// Every method is atomic: it either completes or leaves the store as it was.
pub trait StoreBackend: Send + Sync + 'static {
    /// Where the data lives, for messages (a file path, or a connection string without secrets).
    fn location(&self) -> String;

    // ---- resources ----

    /// Create or update a resource. A new version is made only when the content (spec and
    /// labels) differs from the latest version; otherwise the outcome is `Unchanged`.
    fn apply(
        &self,
        kind: &str,
        name: &str,
        spec_json: &str,
        labels: &BTreeMap<String, String>,
    ) -> StoreResult<ApplyOutcome>;
    /// The latest version of a resource, if it exists.
    fn get(&self, kind: &str, name: &str) -> StoreResult<Option<ResourceDoc>>;
    /// One particular version of a resource, if it exists.
    fn get_version(&self, kind: &str, name: &str, version: u64)
    -> StoreResult<Option<ResourceDoc>>;
    /// Every stored version of a resource, oldest first (empty if the resource does not exist).
    fn list_versions(&self, kind: &str, name: &str) -> StoreResult<Vec<ResourceDoc>>;
    /// The latest version of every resource of a kind, sorted by name.
    fn list_kind(&self, kind: &str) -> StoreResult<Vec<ResourceDoc>>;
    /// Delete a resource and all its versions after `guard` accepted its latest version.
    /// Version numbers are never reused: applying the name again continues after the last one.
    fn delete(&self, kind: &str, name: &str, guard: DeleteGuard<'_>) -> StoreResult<ResourceDoc>;

    /// Replaces the spec text of stored versions in one transaction, with their hashes
    /// recomputed; versions that no longer exist are skipped. Used to seal the secrets in
    /// what is already stored (see `crate::sealing`), so the old text is overwritten, not
    /// left behind in free pages or the write-ahead log. Returns how many were rewritten.
    fn rewrite_specs(&self, rewrites: &[SpecRewrite]) -> StoreResult<usize>;

    // ---- agents, events (written behind, in batches) ----

    /// Upsert agent records, write apply attempts and append events in one transaction.
    /// An agent's `first_seen` keeps the earliest value ever written, and a record without
    /// a description keeps the stored one; everything else is replaced. Each agent's apply
    /// history is held to the newest few (50 by default) in the same transaction.
    fn write_batch(&self, batch: &WriteBatch) -> StoreResult<()>;
    /// Upsert agent records in one transaction.
    fn write_agents(&self, agents: &[AgentRecord]) -> StoreResult<()> {
        self.write_batch(&WriteBatch {
            agents: agents.to_vec(),
            ..WriteBatch::default()
        })
    }
    /// Every agent record, sorted by id (used once at startup).
    fn load_agents(&self) -> StoreResult<Vec<AgentRecord>>;
    /// One agent record.
    fn get_agent(&self, id: &AgentId) -> StoreResult<Option<AgentRecord>>;
    /// Forget agents, with their apply history; returns how many existed.
    fn delete_agents(&self, ids: &[AgentId]) -> StoreResult<usize>;
    /// An agent's apply history, newest first, at most `limit` attempts.
    fn agent_history(&self, id: &AgentId, limit: usize) -> StoreResult<Vec<ApplyAttempt>>;
    /// Append events in one transaction, then trim the history to the retention cap.
    fn append_events(&self, events: &[NewEvent]) -> StoreResult<()> {
        self.write_batch(&WriteBatch {
            events: events.to_vec(),
            ..WriteBatch::default()
        })
    }
    /// Events matching the query, newest first.
    fn query_events(&self, query: &EventQuery) -> StoreResult<Vec<StoredEvent>>;

    // ---- rollouts ----

    /// Write a configuration's rollout state and status atomically, replacing the previous
    /// one. Returns the new revision (1 for the first write, then +1 on each write).
    fn put_rollout(
        &self,
        config_name: &str,
        status: RolloutStatus,
        state_json: &str,
    ) -> StoreResult<u64>;
    /// The rollout state of one configuration.
    fn get_rollout(&self, config_name: &str) -> StoreResult<Option<RolloutRecord>>;
    /// Rollouts that are not finished (see [`RolloutStatus::is_finished`]), sorted by
    /// configuration name, so a restarted server can resume them.
    fn list_unfinished_rollouts(&self) -> StoreResult<Vec<RolloutRecord>>;
    /// Forget a configuration's rollout state; returns whether there was one.
    fn delete_rollout(&self, config_name: &str) -> StoreResult<bool>;

    /// Every named API token, by name.
    fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    /// Keeps a new token; `false` (and nothing written) when the name is taken.
    fn create_token(&self, token: &TokenRecord) -> StoreResult<bool>;
    /// Forgets a token; returns whether there was one.
    fn delete_token(&self, name: &str) -> StoreResult<bool>;

    // ---- agent credentials (see `crate::fleet::credentials`) ----

    /// One agent's credential record.
    fn credential(&self, id: &AgentId) -> StoreResult<Option<CredentialRecord>>;
    /// The record whose current, pending or retired credential hash is `hash`.
    fn credential_by_hash(&self, hash: &CredentialHash) -> StoreResult<Option<CredentialRecord>>;
    /// Reads an agent's record and writes what `change` makes of it, in one transaction
    /// that no other writer interleaves with (`None` from `change` writes nothing).
    /// Returns the record as it stands after.
    fn update_credential(
        &self,
        id: &AgentId,
        change: &mut dyn FnMut(Option<CredentialRecord>) -> Option<CredentialRecord>,
    ) -> StoreResult<Option<CredentialRecord>>;
    /// Every credential record, sorted by agent id.
    fn list_credentials(&self) -> StoreResult<Vec<CredentialRecord>>;

    /// Takes, or confirms it still holds, this process's right to drive the rollout of
    /// `config_name`: `false` while another process holds it. On PostgreSQL the right is
    /// a session advisory lock on a connection of its own, which the database drops with
    /// that connection — a replica that dies (or loses the database) loses its rollouts
    /// to the others. The SQLite file has one server, which always holds it.
    fn hold_rollout(&self, config_name: &str) -> StoreResult<bool> {
        let _ = config_name;
        Ok(true)
    }

    /// Gives up driving `config_name`'s rollout (it finished).
    fn release_rollout(&self, config_name: &str) -> StoreResult<()> {
        let _ = config_name;
        Ok(())
    }

    /// What other processes writing to the same database change from now on, as they
    /// commit it, until the receiver is dropped. `None` where no other process can write
    /// (the SQLite file is one server's).
    fn watch_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Change>> {
        None
    }
}
