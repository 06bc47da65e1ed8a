//! The PostgreSQL backend: `--store postgres://…`, so several fleetdeck processes can keep
//! one fleet in one database.
//!
//! Driver: the blocking `postgres` crate (rust-postgres; the synchronous face of
//! tokio-postgres, with the same protocol code). [`StoreBackend`] is blocking and runs on
//! tokio's blocking pool, so a blocking client fits without a second runtime per call;
//! the pool is ours (`pool.rs`), a few dozen lines instead of another dependency.
//!
//! Same promises as the SQLite file:
//! - every method is one transaction (READ COMMITTED); what must not interleave between
//!   replicas takes a transaction-scoped advisory lock: one per resource name for `apply`
//!   and `delete` (so two replicas applying the same name make versions n and n+1, never
//!   two n's), and the delete guard runs inside that transaction;
//! - version numbers are never reused (`resources.latest_version` outlives a delete);
//! - batches go in with one statement per table (arrays through `unnest`), rows sorted
//!   by key so two replicas writing the same agents take their row locks in one order.

mod changes;
mod leases;
mod pool;
mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::SystemTime;

use postgres::error::SqlState;
use postgres::{GenericClient, Row, Transaction};

use super::canonical::spec_hash;
use super::convert::{
    AGENT_COLUMNS, ATTEMPT_COLUMNS, CREDENTIAL_COLUMNS, RESOURCE_COLUMNS, ROLLOUT_COLUMNS,
    RawAgent, RawAttempt, RawCredential, RawResource, RawRollout, agent_id_from_blob, check_names,
    from_millis, labels_to_json, to_millis,
};
use super::error::{StoreError, StoreResult};
use super::types::{
    ApplyOutcome, Change, EventQuery, ResourceDoc, RolloutRecord, RolloutStatus, SpecRewrite,
    StoreOptions, StoredEvent, TokenRecord, WriteBatch,
};
use super::{DeleteGuard, StoreBackend};
use crate::fleet::agent::AgentId;
use crate::fleet::attempt::ApplyAttempt;
use crate::fleet::credentials::{CredentialHash, CredentialRecord};
use crate::fleet::record::AgentRecord;

pub use schema::PG_SCHEMA_VERSION;

/// Connections one process keeps at most: the blocking pool runs store calls side by
/// side (API reads, the write-behind, rollouts), and PostgreSQL's default allows 100
/// connections for all replicas together.
const MAX_CONNECTIONS: usize = 8;

/// The first key of every advisory lock fleetdeck takes on resources.
const RESOURCE_LOCK: i32 = 0x4644_434B;

/// Rows per statement when a batch is written through arrays.
const CHUNK: usize = 5_000;

/// Whether `--store` names a PostgreSQL database (anything else is refused by settings).
pub fn is_postgres_url(store: &str) -> bool {
    let lower = store.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

pub struct PgStore {
    pool: pool::Pool,
    options: StoreOptions,
    /// Names this process in its change notifications, so it ignores its own.
    origin: String,
    leases: leases::Leases,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.pool.location())
            .finish()
    }
}

/// Why a transaction body stopped: PostgreSQL failed, or the body refused.
enum Abort {
    Sql(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Abort {
    fn from(e: postgres::Error) -> Self {
        Abort::Sql(e)
    }
}

/// What a driver error says, with the server's own detail when it sent one.
pub(super) fn detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(more) = db.detail() {
                text.push_str(": ");
                text.push_str(more);
            }
            text
        }
        None => {
            // The driver's Display leaves out the cause (e.g. "connection refused").
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                let more = cause.to_string();
                if !text.contains(&more) {
                    text.push_str(": ");
                    text.push_str(&more);
                }
                source = cause.source();
            }
            text
        }
    }
}

/// A driver error as the variant a user can act on.
pub(super) fn error(
    operation: impl Into<String>,
    location: &str,
    e: &postgres::Error,
) -> StoreError {
    let operation = operation.into();
    let code = e.code();
    if code == Some(&SqlState::DISK_FULL) {
        return StoreError::Full {
            operation,
            path: PathBuf::from(location),
        };
    }
    let connection_lost = e.is_closed()
        || code.is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P"));
    if connection_lost {
        return StoreError::Unreachable {
            location: location.to_string(),
            detail: format!("{operation}: {}", detail(e)),
        };
    }
    StoreError::Postgres {
        operation,
        location: location.to_string(),
        detail: detail(e),
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname`, or
    /// the `key=value` form) and brings its schema up to date.
    pub fn open(url: &str) -> StoreResult<PgStore> {
        PgStore::open_with(url, StoreOptions::default())
    }

    /// [`PgStore::open`] with explicit retention caps (the SQLite-only options are ignored).
    pub fn open_with(url: &str, options: StoreOptions) -> StoreResult<PgStore> {
        let pool = pool::Pool::new(url, MAX_CONNECTIONS)?;
        {
            let mut conn = pool.get()?;
            schema::migrate(&mut conn, pool.location())?;
        }
        tracing::debug!(location = pool.location(), "store opened");
        Ok(PgStore {
            leases: leases::Leases::new(pool.connector().clone()),
            pool,
            options,
            origin: uuid::Uuid::new_v4().simple().to_string(),
        })
    }

    fn write<T>(
        &self,
        operation: impl Fn() -> String,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, Abort>,
    ) -> StoreResult<T> {
        let mut conn = self.pool.get()?;
        let run = |client: &mut postgres::Client| -> Result<T, Abort> {
            let mut tx = client.transaction()?;
            let value = body(&mut tx)?;
            tx.commit()?;
            Ok(value)
        };
        run(&mut conn).map_err(|abort| match abort {
            Abort::Sql(e) => error(operation(), self.pool.location(), &e),
            Abort::Store(e) => e,
        })
    }

    fn read<T>(
        &self,
        operation: &str,
        body: impl FnOnce(&mut postgres::Client) -> Result<T, Abort>,
    ) -> StoreResult<T> {
        let mut conn = self.pool.get()?;
        body(&mut conn).map_err(|abort| match abort {
            Abort::Sql(e) => error(operation, self.pool.location(), &e),
            Abort::Store(e) => e,
        })
    }

    /// Tells the other replicas, on commit, that `what` changed.
    fn notify(&self, tx: &mut Transaction<'_>, what: Change) -> Result<(), Abort> {
        Ok(changes::notify(tx, what, &self.origin)?)
    }

    fn at(&self) -> PathBuf {
        PathBuf::from(self.pool.location())
    }

    fn resources(
        &self,
        client: &mut impl GenericClient,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<ResourceDoc>, Abort> {
        let at = self.at();
        client
            .query(sql, args)?
            .iter()
            .map(|row| raw_resource(row).into_doc(&at).map_err(Abort::Store))
            .collect()
    }

    fn latest(
        &self,
        client: &mut impl GenericClient,
        kind: &str,
        name: &str,
    ) -> Result<Option<ResourceDoc>, Abort> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} AND v.version = r.latest_version \
             WHERE r.kind = $1 AND r.name = $2 AND r.live"
        );
        Ok(self.resources(client, &sql, &[&kind, &name])?.pop())
    }
}

fn raw_resource(row: &Row) -> RawResource {
    RawResource {
        kind: row.get(0),
        name: row.get(1),
        version: row.get(2),
        spec: row.get(3),
        labels: row.get(4),
        hash: row.get(5),
        created_at: row.get(6),
        updated_at: row.get(7),
    }
}

fn raw_agent(row: &Row) -> RawAgent {
    RawAgent {
        id: row.get(0),
        labels: row.get(1),
        config_name: row.get(2),
        config_version: row.get(3),
        description: row.get(4),
        first_seen: row.get(5),
        last_seen: row.get(6),
        components: row.get(7),
        config_state: row.get(8),
    }
}

fn raw_attempt(row: &Row) -> RawAttempt {
    RawAttempt {
        agent_id: row.get(0),
        assigned_at: row.get(1),
        config_name: row.get(2),
        config_version: row.get(3),
        hash: row.get(4),
        result: row.get(5),
        message: row.get(6),
        finished_at: row.get(7),
        rolled_back: row.get(8),
        rollback: row.get(9),
    }
}

fn raw_rollout(row: &Row) -> RawRollout {
    RawRollout {
        config_name: row.get(0),
        status: row.get(1),
        state: row.get(2),
        revision: row.get(3),
        updated_at: row.get(4),
    }
}

/// Serialises everything done to one resource name, until the transaction ends.
fn lock_resource(tx: &mut Transaction<'_>, kind: &str, name: &str) -> Result<(), postgres::Error> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))",
        &[&RESOURCE_LOCK, &kind, &name],
    )?;
    Ok(())
}

/// The items in rounds in which each key occurs once, each round sorted by key: one
/// `INSERT … ON CONFLICT DO UPDATE` may touch a row only once, and a later item for the
/// same key must land after the earlier one, as separate statements would.
fn rounds<T, K: Ord + Clone>(items: &[T], key: impl Fn(&T) -> K) -> Vec<Vec<&T>> {
    let mut seen: BTreeMap<K, usize> = BTreeMap::new();
    let mut out: Vec<Vec<&T>> = Vec::new();
    for item in items {
        let n = seen.entry(key(item)).or_insert(0);
        if out.len() <= *n {
            out.push(Vec::new());
        }
        out[*n].push(item);
        *n += 1;
    }
    for round in &mut out {
        round.sort_by_key(|item| key(item));
    }
    out
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl StoreBackend for PgStore {
    fn location(&self) -> String {
        self.pool.location().to_string()
    }

    fn apply(
        &self,
        kind: &str,
        name: &str,
        spec_json: &str,
        labels: &BTreeMap<String, String>,
    ) -> StoreResult<ApplyOutcome> {
        check_names(kind, name)?;
        let spec: serde_json::Value =
            serde_json::from_str(spec_json).map_err(|e| StoreError::InvalidResource {
                kind: kind.into(),
                name: name.into(),
                detail: format!("spec is not valid JSON: {e}"),
            })?;
        let hash = spec_hash(&spec, labels);
        let labels_json = labels_to_json(labels);
        let now = to_millis(SystemTime::now());

        self.write(
            || format!("apply {kind} '{name}'"),
            |tx| {
                lock_resource(tx, kind, name)?;
                let head = tx.query_opt(
                    "SELECT latest_version, live FROM resources WHERE kind = $1 AND name = $2",
                    &[&kind, &name],
                )?;
                let head: Option<(i64, bool)> = head.map(|r| (r.get(0), r.get(1)));
                let insert_version = |tx: &mut Transaction<'_>, version: i64| {
                    tx.execute(
                        "INSERT INTO resource_versions \
                         (kind, name, version, spec, labels, hash, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[
                            &kind,
                            &name,
                            &version,
                            &spec_json,
                            &labels_json,
                            &hash,
                            &now,
                        ],
                    )
                };
                let outcome = match head {
                    None => {
                        tx.execute(
                            "INSERT INTO resources (kind, name, latest_version, live, created_at) \
                             VALUES ($1, $2, 1, true, $3)",
                            &[&kind, &name, &now],
                        )?;
                        insert_version(tx, 1)?;
                        ApplyOutcome::Created { version: 1 }
                    }
                    Some((latest, live)) => {
                        let current: Option<String> = if live {
                            tx.query_opt(
                                "SELECT hash FROM resource_versions \
                                 WHERE kind = $1 AND name = $2 AND version = $3",
                                &[&kind, &name, &latest],
                            )?
                            .map(|r| r.get(0))
                        } else {
                            None
                        };
                        if current.as_deref() == Some(hash.as_str()) {
                            ApplyOutcome::Unchanged {
                                version: latest.max(0) as u64,
                            }
                        } else {
                            let next = latest + 1;
                            tx.execute(
                                "UPDATE resources SET latest_version = $3, live = true, \
                                 created_at = CASE WHEN live THEN created_at ELSE $4 END \
                                 WHERE kind = $1 AND name = $2",
                                &[&kind, &name, &next, &now],
                            )?;
                            insert_version(tx, next)?;
                            if live {
                                ApplyOutcome::Configured {
                                    version: next.max(0) as u64,
                                    previous: latest.max(0) as u64,
                                }
                            } else {
                                ApplyOutcome::Created {
                                    version: next.max(0) as u64,
                                }
                            }
                        }
                    }
                };
                if !matches!(outcome, ApplyOutcome::Unchanged { .. }) {
                    self.notify(tx, Change::Resources)?;
                }
                Ok(outcome)
            },
        )
    }

    fn get(&self, kind: &str, name: &str) -> StoreResult<Option<ResourceDoc>> {
        self.read("get resource", |client| self.latest(client, kind, name))
    }

    fn get_version(
        &self,
        kind: &str,
        name: &str,
        version: u64,
    ) -> StoreResult<Option<ResourceDoc>> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} \
             WHERE r.kind = $1 AND r.name = $2 AND r.live AND v.version = $3"
        );
        let version = clamp(version);
        self.read("get resource version", |client| {
            Ok(self
                .resources(client, &sql, &[&kind, &name, &version])?
                .pop())
        })
    }

    fn list_versions(&self, kind: &str, name: &str) -> StoreResult<Vec<ResourceDoc>> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} WHERE r.kind = $1 AND r.name = $2 AND r.live \
             ORDER BY v.version"
        );
        self.read("list resource versions", |client| {
            self.resources(client, &sql, &[&kind, &name])
        })
    }

    fn list_kind(&self, kind: &str) -> StoreResult<Vec<ResourceDoc>> {
        // COLLATE "C": names sort by bytes, as SQLite sorts them, whatever the
        // database's locale.
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} AND v.version = r.latest_version \
             WHERE r.kind = $1 AND r.live ORDER BY r.name COLLATE \"C\""
        );
        self.read("list resources", |client| {
            self.resources(client, &sql, &[&kind])
        })
    }

    fn rewrite_specs(&self, rewrites: &[SpecRewrite]) -> StoreResult<usize> {
        if rewrites.is_empty() {
            return Ok(0);
        }
        let mut parsed = Vec::with_capacity(rewrites.len());
        for r in rewrites {
            let spec: serde_json::Value =
                serde_json::from_str(&r.spec_json).map_err(|e| StoreError::InvalidResource {
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    detail: format!("spec is not valid JSON: {e}"),
                })?;
            parsed.push((r, spec));
        }
        let location = self.at();
        self.write(
            || format!("rewrite {} stored specs", rewrites.len()),
            |tx| {
                let mut count = 0;
                for (r, spec) in &parsed {
                    let version = r.version as i64;
                    let Some(row) = tx.query_opt(
                        "SELECT labels FROM resource_versions \
                         WHERE kind = $1 AND name = $2 AND version = $3 FOR UPDATE",
                        &[&r.kind, &r.name, &version],
                    )?
                    else {
                        continue;
                    };
                    let labels: String = row.get(0);
                    let labels: BTreeMap<String, String> =
                        serde_json::from_str(&labels).map_err(|e| {
                            Abort::Store(StoreError::BadRow {
                                path: location.clone(),
                                what: "resource labels".into(),
                                detail: e.to_string(),
                            })
                        })?;
                    count += tx.execute(
                        "UPDATE resource_versions SET spec = $4, hash = $5 \
                         WHERE kind = $1 AND name = $2 AND version = $3",
                        &[
                            &r.kind,
                            &r.name,
                            &version,
                            &r.spec_json,
                            &spec_hash(spec, &labels),
                        ],
                    )? as usize;
                }
                if count > 0 {
                    self.notify(tx, Change::Resources)?;
                }
                Ok(count)
            },
        )
    }

    fn delete(&self, kind: &str, name: &str, guard: DeleteGuard<'_>) -> StoreResult<ResourceDoc> {
        self.write(
            || format!("delete {kind} '{name}'"),
            |tx| {
                lock_resource(tx, kind, name)?;
                let doc = self.latest(tx, kind, name)?.ok_or_else(|| {
                    Abort::Store(StoreError::NotFound {
                        kind: kind.into(),
                        name: name.into(),
                    })
                })?;
                guard(&doc).map_err(|reason| {
                    Abort::Store(StoreError::InUse {
                        kind: kind.into(),
                        name: name.into(),
                        reason,
                    })
                })?;
                tx.execute(
                    "DELETE FROM resource_versions WHERE kind = $1 AND name = $2",
                    &[&kind, &name],
                )?;
                tx.execute(
                    "UPDATE resources SET live = false WHERE kind = $1 AND name = $2",
                    &[&kind, &name],
                )?;
                self.notify(tx, Change::Resources)?;
                Ok(doc)
            },
        )
    }

    fn write_batch(&self, batch: &WriteBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let retention = clamp(self.options.event_retention as u64);
        let attempts_kept = clamp(self.options.attempts_per_agent as u64);
        self.write(
            || {
                format!(
                    "write {} agent records, {} apply attempts and {} events, forget {} agents",
                    batch.agents.len(),
                    batch.attempts.len(),
                    batch.events.len(),
                    batch.forget.len()
                )
            },
            |tx| {
                for round in rounds(&batch.agents, |a| a.id) {
                    for chunk in round.chunks(CHUNK) {
                        upsert_agents(tx, chunk)?;
                    }
                }
                if !batch.forget.is_empty() {
                    let ids = sorted_ids(&batch.forget);
                    tx.execute("DELETE FROM agents WHERE id = ANY($1)", &[&ids])?;
                }
                if !batch.forget_history.is_empty() {
                    let ids = sorted_ids(&batch.forget_history);
                    tx.execute(
                        "DELETE FROM apply_history WHERE agent_id = ANY($1)",
                        &[&ids],
                    )?;
                }
                if !batch.attempts.is_empty() {
                    write_attempts(tx, &batch.attempts, attempts_kept)?;
                }
                if !batch.events.is_empty() {
                    for chunk in batch.events.chunks(CHUNK) {
                        let at: Vec<i64> = chunk.iter().map(|e| to_millis(e.at)).collect();
                        let kind: Vec<&str> = chunk.iter().map(|e| e.kind.as_str()).collect();
                        let agent: Vec<Option<&[u8]>> = chunk
                            .iter()
                            .map(|e| e.agent.as_ref().map(|id| &id.as_bytes()[..]))
                            .collect();
                        let payload: Vec<&str> =
                            chunk.iter().map(|e| e.payload_json.as_str()).collect();
                        // Ordered by position, so `seq` follows the order given.
                        tx.execute(
                            "INSERT INTO events (at, kind, agent_id, payload) \
                             SELECT at, kind, agent_id, payload \
                             FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::text[]) \
                               WITH ORDINALITY AS e(at, kind, agent_id, payload, n) \
                             ORDER BY n",
                            &[&at, &kind, &agent, &payload],
                        )?;
                    }
                    // seq grows with each insert, so this keeps (at most) the newest
                    // `retention`.
                    tx.execute(
                        "DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - $1",
                        &[&retention],
                    )?;
                }
                self.notify(tx, Change::Agents)?;
                Ok(())
            },
        )
    }

    fn load_agents(&self) -> StoreResult<Vec<AgentRecord>> {
        let at = self.at();
        self.read("load agents", |client| {
            client
                .query(&format!("SELECT {AGENT_COLUMNS} ORDER BY id"), &[])?
                .iter()
                .map(|row| raw_agent(row).into_record(&at).map_err(Abort::Store))
                .collect()
        })
    }

    fn get_agent(&self, id: &AgentId) -> StoreResult<Option<AgentRecord>> {
        let at = self.at();
        self.read("get agent", |client| {
            let row = client.query_opt(
                &format!("SELECT {AGENT_COLUMNS} WHERE id = $1"),
                &[&&id.as_bytes()[..]],
            )?;
            row.map(|r| raw_agent(&r).into_record(&at).map_err(Abort::Store))
                .transpose()
        })
    }

    fn delete_agents(&self, ids: &[AgentId]) -> StoreResult<usize> {
        let ids = sorted_ids(ids);
        self.write(
            || format!("delete {} agents", ids.len()),
            |tx| {
                let gone = tx.execute("DELETE FROM agents WHERE id = ANY($1)", &[&ids])?;
                tx.execute(
                    "DELETE FROM apply_history WHERE agent_id = ANY($1)",
                    &[&ids],
                )?;
                self.notify(tx, Change::Agents)?;
                Ok(gone as usize)
            },
        )
    }

    fn agent_history(&self, id: &AgentId, limit: usize) -> StoreResult<Vec<ApplyAttempt>> {
        let limit = clamp(limit as u64);
        let at = self.at();
        self.read("read apply history", |client| {
            client
                .query(
                    &format!(
                        "SELECT {ATTEMPT_COLUMNS} WHERE agent_id = $1 \
                         ORDER BY assigned_at DESC LIMIT $2"
                    ),
                    &[&&id.as_bytes()[..], &limit],
                )?
                .iter()
                .map(|row| raw_attempt(row).into_attempt(&at).map_err(Abort::Store))
                .collect()
        })
    }

    fn query_events(&self, query: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
        let since = query.since.map(to_millis);
        let agent = query.agent.map(|a| a.0.to_vec());
        let limit = clamp(query.limit as u64);
        let actor = query.actor.as_deref();
        let at = self.at();
        self.read("query events", |client| {
            // CASE: only audit payloads are read as JSON.
            let rows = client.query(
                "SELECT seq, at, kind, agent_id, payload FROM events \
                 WHERE ($1::bigint IS NULL OR at >= $1) \
                 AND ($2::bytea IS NULL OR agent_id = $2) \
                 AND ($4::text IS NULL OR \
                      CASE WHEN kind = 'audit' THEN payload::json ->> 'actor' END = $4) \
                 ORDER BY seq DESC LIMIT $3",
                &[&since, &agent, &limit, &actor],
            )?;
            rows.iter()
                .map(|r| {
                    let seq: i64 = r.get(0);
                    let agent = match r.get::<_, Option<Vec<u8>>>(3) {
                        None => None,
                        Some(blob) => Some(agent_id_from_blob(&blob).ok_or_else(|| {
                            Abort::Store(StoreError::BadRow {
                                path: at.clone(),
                                what: format!("agent id of event {seq}"),
                                detail: "not 16 bytes".into(),
                            })
                        })?),
                    };
                    Ok(StoredEvent {
                        seq: seq.max(0) as u64,
                        at: from_millis(r.get(1)),
                        kind: r.get(2),
                        agent,
                        payload_json: r.get(4),
                    })
                })
                .collect()
        })
    }

    fn put_rollout(
        &self,
        config_name: &str,
        status: RolloutStatus,
        state_json: &str,
    ) -> StoreResult<u64> {
        check_names("rollout", config_name)?;
        serde_json::from_str::<serde::de::IgnoredAny>(state_json).map_err(|e| {
            StoreError::InvalidResource {
                kind: "rollout".into(),
                name: config_name.into(),
                detail: format!("state is not valid JSON: {e}"),
            }
        })?;
        let now = to_millis(SystemTime::now());
        self.write(
            || format!("save rollout of '{config_name}'"),
            |tx| {
                let revision: i64 = tx
                    .query_one(
                        "INSERT INTO rollouts \
                         (config_name, status, finished, state, revision, updated_at) \
                         VALUES ($1, $2, $3, $4, 1, $5) \
                         ON CONFLICT (config_name) DO UPDATE SET \
                           status = excluded.status, finished = excluded.finished, \
                           state = excluded.state, revision = rollouts.revision + 1, \
                           updated_at = excluded.updated_at \
                         RETURNING revision",
                        &[
                            &config_name,
                            &status.as_str(),
                            &status.is_finished(),
                            &state_json,
                            &now,
                        ],
                    )?
                    .get(0);
                self.notify(tx, Change::Rollouts)?;
                Ok(revision.max(0) as u64)
            },
        )
    }

    fn get_rollout(&self, config_name: &str) -> StoreResult<Option<RolloutRecord>> {
        let at = self.at();
        self.read("get rollout", |client| {
            client
                .query_opt(
                    &format!("SELECT {ROLLOUT_COLUMNS} WHERE config_name = $1"),
                    &[&config_name],
                )?
                .map(|r| raw_rollout(&r).into_record(&at).map_err(Abort::Store))
                .transpose()
        })
    }

    fn list_unfinished_rollouts(&self) -> StoreResult<Vec<RolloutRecord>> {
        let at = self.at();
        self.read("list unfinished rollouts", |client| {
            client
                .query(
                    &format!(
                        "SELECT {ROLLOUT_COLUMNS} WHERE NOT finished \
                         ORDER BY config_name COLLATE \"C\""
                    ),
                    &[],
                )?
                .iter()
                .map(|r| raw_rollout(r).into_record(&at).map_err(Abort::Store))
                .collect()
        })
    }

    fn delete_rollout(&self, config_name: &str) -> StoreResult<bool> {
        self.write(
            || format!("delete rollout of '{config_name}'"),
            |tx| {
                let gone = tx.execute(
                    "DELETE FROM rollouts WHERE config_name = $1",
                    &[&config_name],
                )? > 0;
                if gone {
                    self.notify(tx, Change::Rollouts)?;
                }
                Ok(gone)
            },
        )
    }

    fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.read("list tokens", |client| {
            Ok(client
                .query(
                    "SELECT name, role, hash, created_at FROM api_tokens \
                     ORDER BY name COLLATE \"C\"",
                    &[],
                )?
                .iter()
                .map(|r| TokenRecord {
                    name: r.get(0),
                    role: r.get(1),
                    hash: r.get(2),
                    created_at: from_millis(r.get(3)),
                })
                .collect())
        })
    }

    fn create_token(&self, token: &TokenRecord) -> StoreResult<bool> {
        let created = to_millis(token.created_at);
        self.write(
            || format!("create token '{}'", token.name),
            |tx| {
                let made = tx.execute(
                    "INSERT INTO api_tokens (name, role, hash, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
                    &[&token.name, &token.role, &token.hash, &created],
                )? > 0;
                if made {
                    self.notify(tx, Change::Tokens)?;
                }
                Ok(made)
            },
        )
    }

    fn credential(&self, id: &AgentId) -> StoreResult<Option<CredentialRecord>> {
        let raw = self.read("read an agent credential", |client| {
            Ok(client
                .query_opt(
                    &format!(
                        "SELECT {CREDENTIAL_COLUMNS} FROM agent_credentials WHERE agent_id = $1"
                    ),
                    &[&&id.as_bytes()[..]],
                )?
                .map(|r| raw_credential(&r)))
        })?;
        raw.map(|r| r.into_record(&self.at())).transpose()
    }

    fn credential_by_hash(&self, hash: &CredentialHash) -> StoreResult<Option<CredentialRecord>> {
        let hex = hex::encode(hash);
        let raw = self.read("find an agent credential", |client| {
            Ok(client
                .query_opt(
                    &format!(
                        "SELECT {CREDENTIAL_COLUMNS} FROM agent_credentials \
                         WHERE current_hash = $1 OR pending_hash = $1 OR retired_hash = $1 \
                         LIMIT 1"
                    ),
                    &[&hex],
                )?
                .map(|r| raw_credential(&r)))
        })?;
        raw.map(|r| r.into_record(&self.at())).transpose()
    }

    fn update_credential(
        &self,
        id: &AgentId,
        change: &mut dyn FnMut(Option<CredentialRecord>) -> Option<CredentialRecord>,
    ) -> StoreResult<Option<CredentialRecord>> {
        let at = self.at();
        self.write(
            || format!("change the credentials of agent {id}"),
            |tx| {
                // A row to lock, so two replicas changing one agent take turns.
                tx.execute(
                    "INSERT INTO agent_credentials (agent_id, rotate) VALUES ($1, FALSE) \
                     ON CONFLICT (agent_id) DO NOTHING",
                    &[&&id.as_bytes()[..]],
                )?;
                let row = tx.query_one(
                    &format!(
                        "SELECT {CREDENTIAL_COLUMNS} FROM agent_credentials \
                         WHERE agent_id = $1 FOR UPDATE"
                    ),
                    &[&&id.as_bytes()[..]],
                )?;
                let raw = raw_credential(&row);
                // The row made just now to lock stands for no record at all.
                let blank = raw.current.is_none()
                    && raw.pending.is_none()
                    && raw.retired.is_none()
                    && !raw.rotate
                    && raw.changed_at.is_none()
                    && raw.revoked_at.is_none();
                let before = if blank {
                    None
                } else {
                    Some(raw.into_record(&at).map_err(Abort::Store)?)
                };
                let Some(after) = change(before.clone()) else {
                    if before.is_none() {
                        tx.execute(
                            "DELETE FROM agent_credentials WHERE agent_id = $1",
                            &[&&id.as_bytes()[..]],
                        )?;
                    }
                    return Ok(before);
                };
                let r = RawCredential::of(&after);
                if after.revoked.is_some() && before.as_ref().is_none_or(|b| b.revoked.is_none()) {
                    // The other replicas disconnect the agent if it is theirs.
                    self.notify(tx, Change::Revocations)?;
                }
                tx.execute(
                    "UPDATE agent_credentials SET current_hash = $2, pending_hash = $3, \
                     retired_hash = $4, rotate = $5, enrolled_at = $6, changed_at = $7, \
                     revoked_at = $8, revoked_by = $9 WHERE agent_id = $1",
                    &[
                        &r.id,
                        &r.current,
                        &r.pending,
                        &r.retired,
                        &r.rotate,
                        &r.enrolled_at,
                        &r.changed_at,
                        &r.revoked_at,
                        &r.revoked_by,
                    ],
                )?;
                Ok(Some(after))
            },
        )
    }

    fn list_credentials(&self) -> StoreResult<Vec<CredentialRecord>> {
        let raws = self.read("list agent credentials", |client| {
            Ok(client
                .query(
                    &format!(
                        "SELECT {CREDENTIAL_COLUMNS} FROM agent_credentials ORDER BY agent_id"
                    ),
                    &[],
                )?
                .iter()
                .map(raw_credential)
                .collect::<Vec<_>>())
        })?;
        let at = self.at();
        raws.into_iter().map(|r| r.into_record(&at)).collect()
    }

    fn hold_rollout(&self, config_name: &str) -> StoreResult<bool> {
        self.leases.hold(config_name)
    }

    fn release_rollout(&self, config_name: &str) -> StoreResult<()> {
        self.leases.release(config_name)
    }

    fn watch_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Change>> {
        Some(changes::listen(
            self.pool.connector().clone(),
            self.origin.clone(),
        ))
    }

    fn delete_token(&self, name: &str) -> StoreResult<bool> {
        self.write(
            || format!("delete token '{name}'"),
            |tx| {
                let gone = tx.execute("DELETE FROM api_tokens WHERE name = $1", &[&name])? > 0;
                if gone {
                    self.notify(tx, Change::Tokens)?;
                }
                Ok(gone)
            },
        )
    }
}

fn sorted_ids(ids: &[AgentId]) -> Vec<&[u8]> {
    let set: BTreeSet<&[u8]> = ids.iter().map(|id| &id.as_bytes()[..]).collect();
    set.into_iter().collect()
}

/// One statement for a round of agent records (each id once, sorted).
fn upsert_agents(tx: &mut Transaction<'_>, agents: &[&AgentRecord]) -> Result<(), postgres::Error> {
    let id: Vec<&[u8]> = agents.iter().map(|a| &a.id.as_bytes()[..]).collect();
    let labels: Vec<String> = agents.iter().map(|a| labels_to_json(&a.labels)).collect();
    let config_name: Vec<Option<&str>> = agents
        .iter()
        .map(|a| a.assigned.as_ref().map(|c| &*c.name))
        .collect();
    let config_version: Vec<Option<i64>> = agents
        .iter()
        .map(|a| a.assigned.as_ref().map(|c| clamp(c.version)))
        .collect();
    let description: Vec<Option<&str>> = agents
        .iter()
        .map(|a| a.description_json.as_deref())
        .collect();
    let first_seen: Vec<i64> = agents.iter().map(|a| to_millis(a.first_seen)).collect();
    let last_seen: Vec<i64> = agents.iter().map(|a| to_millis(a.last_seen)).collect();
    let components: Vec<Option<&str>> = agents
        .iter()
        .map(|a| a.components_json.as_deref())
        .collect();
    let config_state: Vec<Option<&str>> = agents
        .iter()
        .map(|a| a.config_state_json.as_deref())
        .collect();
    tx.execute(
        "INSERT INTO agents \
         (id, labels, config_name, config_version, description, first_seen, last_seen, \
          components, config_state) \
         SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::bigint[], $5::text[], \
                              $6::bigint[], $7::bigint[], $8::text[], $9::text[]) \
         ON CONFLICT (id) DO UPDATE SET \
           labels = excluded.labels, \
           config_name = excluded.config_name, \
           config_version = excluded.config_version, \
           description = coalesce(excluded.description, agents.description), \
           components = coalesce(excluded.components, agents.components), \
           config_state = excluded.config_state, \
           first_seen = least(agents.first_seen, excluded.first_seen), \
           last_seen = greatest(agents.last_seen, excluded.last_seen)",
        &[
            &id,
            &labels,
            &config_name,
            &config_version,
            &description,
            &first_seen,
            &last_seen,
            &components,
            &config_state,
        ],
    )?;
    Ok(())
}

/// Writes attempts (a later write of one replaces it), then holds each agent written to
/// its newest `kept`.
fn write_attempts(
    tx: &mut Transaction<'_>,
    attempts: &[ApplyAttempt],
    kept: i64,
) -> Result<(), postgres::Error> {
    for round in rounds(attempts, |a| (a.agent, to_millis(a.assigned_at))) {
        for chunk in round.chunks(CHUNK) {
            let agent: Vec<&[u8]> = chunk.iter().map(|a| &a.agent.as_bytes()[..]).collect();
            let assigned: Vec<i64> = chunk.iter().map(|a| to_millis(a.assigned_at)).collect();
            let name: Vec<&str> = chunk.iter().map(|a| &*a.config.name).collect();
            let version: Vec<i64> = chunk.iter().map(|a| clamp(a.config.version)).collect();
            let hash: Vec<String> = chunk.iter().map(|a| hex::encode(a.hash)).collect();
            let result: Vec<&str> = chunk.iter().map(|a| a.result.as_str()).collect();
            let message: Vec<&str> = chunk.iter().map(|a| a.message.as_str()).collect();
            let finished: Vec<i64> = chunk.iter().map(|a| to_millis(a.finished_at)).collect();
            let rolled_back: Vec<bool> = chunk.iter().map(|a| a.rolled_back).collect();
            let rollback: Vec<bool> = chunk.iter().map(|a| a.rollback).collect();
            tx.execute(
                "INSERT INTO apply_history \
                 (agent_id, assigned_at, config_name, config_version, hash, result, message, \
                  finished_at, rolled_back, rollback) \
                 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::text[], $4::bigint[], \
                                      $5::text[], $6::text[], $7::text[], $8::bigint[], \
                                      $9::bool[], $10::bool[]) \
                 ON CONFLICT (agent_id, assigned_at) DO UPDATE SET \
                   config_name = excluded.config_name, config_version = excluded.config_version, \
                   hash = excluded.hash, result = excluded.result, message = excluded.message, \
                   finished_at = excluded.finished_at, rolled_back = excluded.rolled_back, \
                   rollback = excluded.rollback",
                &[
                    &agent,
                    &assigned,
                    &name,
                    &version,
                    &hash,
                    &result,
                    &message,
                    &finished,
                    &rolled_back,
                    &rollback,
                ],
            )?;
        }
    }
    let touched: Vec<&[u8]> = {
        let set: BTreeSet<&[u8]> = attempts.iter().map(|a| &a.agent.as_bytes()[..]).collect();
        set.into_iter().collect()
    };
    // Everything past each agent's `kept` newest goes.
    tx.execute(
        "DELETE FROM apply_history h USING ( \
           SELECT agent_id, assigned_at, \
                  row_number() OVER (PARTITION BY agent_id ORDER BY assigned_at DESC) AS n \
           FROM apply_history WHERE agent_id = ANY($1)) o \
         WHERE h.agent_id = o.agent_id AND h.assigned_at = o.assigned_at AND o.n > $2",
        &[&touched, &kept],
    )?;
    Ok(())
}

fn raw_credential(r: &Row) -> RawCredential {
    RawCredential {
        id: r.get(0),
        current: r.get(1),
        pending: r.get(2),
        retired: r.get(3),
        rotate: r.get(4),
        enrolled_at: r.get(5),
        changed_at: r.get(6),
        revoked_at: r.get(7),
        revoked_by: r.get(8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_hold_each_key_once_in_order() {
        let items = [(2, 'a'), (1, 'b'), (2, 'c'), (2, 'd'), (3, 'e')];
        let got: Vec<Vec<char>> = rounds(&items, |i| i.0)
            .into_iter()
            .map(|r| r.into_iter().map(|i| i.1).collect())
            .collect();
        assert_eq!(got, [vec!['b', 'a', 'e'], vec!['c'], vec!['d']]);
    }

    #[test]
    fn only_postgres_urls_are_taken_for_postgres() {
        assert!(is_postgres_url("postgres://db/fleet"));
        assert!(is_postgres_url("PostgreSQL://db/fleet"));
        assert!(!is_postgres_url("/var/lib/fleetdeck"));
        assert!(!is_postgres_url("mysql://db/fleet"));
    }
}
