//! PostgreSQL schema versions and migrations.
//!
//! The version lives in a one-row table, `fleetdeck_schema`, in the connection's schema
//! (the first of its `search_path`; `?options=-c%20search_path%3Dfleet` in the URL picks
//! another). The numbers are this backend's own: the SQLite file's `user_version` counts
//! SQLite's steps. Every pending step runs in one transaction with the version bump, under
//! an advisory lock, so replicas starting together migrate once and a crash leaves the old
//! version or the new one, never a mix.

use postgres::Client;

use crate::store::error::{StoreError, StoreResult};

/// Migrations in order; `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this binary writes on PostgreSQL.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Taken by every replica that starts, for the length of its migration transaction.
const MIGRATION_LOCK: i64 = 0x4644_434B_0001;

/// Every table fleetdeck makes; one of them without `fleetdeck_schema` beside it belongs
/// to someone else.
const TABLES: &[&str] = &[
    "resources",
    "resource_versions",
    "agents",
    "apply_history",
    "rollouts",
    "events",
    "api_tokens",
    "agent_credentials",
];

/// SQLite's five steps as one: the same tables, with PostgreSQL's types (booleans,
/// identity columns, 64-bit integers). Times are milliseconds since the epoch, as in the
/// SQLite file, so both backends convert rows the same way.
const V1: &str = r#"
CREATE TABLE resources (
    kind           TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    latest_version BIGINT  NOT NULL,
    live           BOOLEAN NOT NULL,
    created_at     BIGINT  NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE resource_versions (
    kind       TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    spec       TEXT   NOT NULL,
    labels     TEXT   NOT NULL,
    hash       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name, version),
    FOREIGN KEY (kind, name) REFERENCES resources (kind, name) ON DELETE CASCADE
);

CREATE TABLE agents (
    id             BYTEA  NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    labels         TEXT   NOT NULL,
    config_name    TEXT,
    config_version BIGINT,
    description    TEXT,
    first_seen     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    components     TEXT,
    config_state   TEXT
);

CREATE TABLE apply_history (
    agent_id       BYTEA   NOT NULL CHECK (length(agent_id) = 16),
    assigned_at    BIGINT  NOT NULL,
    config_name    TEXT    NOT NULL,
    config_version BIGINT  NOT NULL,
    hash           TEXT    NOT NULL,
    result         TEXT    NOT NULL,
    message        TEXT    NOT NULL,
    finished_at    BIGINT  NOT NULL,
    rolled_back    BOOLEAN NOT NULL,
    rollback       BOOLEAN NOT NULL,
    PRIMARY KEY (agent_id, assigned_at)
);

CREATE TABLE rollouts (
    config_name TEXT    NOT NULL PRIMARY KEY,
    status      TEXT    NOT NULL,
    finished    BOOLEAN NOT NULL,
    state       TEXT    NOT NULL,
    revision    BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE events (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       BIGINT NOT NULL,
    kind     TEXT   NOT NULL,
    agent_id BYTEA,
    payload  TEXT   NOT NULL
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_agent ON events (agent_id, seq) WHERE agent_id IS NOT NULL;

-- Only a SHA-256 of each token is kept (the token is shown once, when it is made).
CREATE TABLE api_tokens (
    name       TEXT   NOT NULL PRIMARY KEY,
    role       TEXT   NOT NULL,
    hash       TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
"#;

/// Per-agent credentials, as SQLite's sixth step: hashes only, and revocations.
const V2: &str = r#"
CREATE TABLE agent_credentials (
    agent_id     BYTEA   NOT NULL PRIMARY KEY CHECK (length(agent_id) = 16),
    current_hash TEXT,
    pending_hash TEXT,
    retired_hash TEXT,
    rotate       BOOLEAN NOT NULL,
    enrolled_at  BIGINT,
    changed_at   BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT
);
CREATE INDEX agent_credentials_current ON agent_credentials (current_hash);
CREATE INDEX agent_credentials_pending ON agent_credentials (pending_hash);
CREATE INDEX agent_credentials_retired ON agent_credentials (retired_hash);
"#;

/// Brings the database to [`PG_SCHEMA_VERSION`], refusing (and leaving untouched) one
/// from a newer fleetdeck or one whose tables are someone else's.
pub(super) fn migrate(client: &mut Client, location: &str) -> StoreResult<()> {
    let plain = |e: postgres::Error| super::error("prepare the schema", location, &e);
    let mut tx = client.transaction().map_err(plain)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(plain)?;
    let has_version: bool = tx
        .query_one("SELECT to_regclass('fleetdeck_schema') IS NOT NULL", &[])
        .map_err(plain)?
        .get(0);
    let from: i64 = if has_version {
        tx.query_one("SELECT version FROM fleetdeck_schema", &[])
            .map_err(plain)?
            .get(0)
    } else {
        let mut found = Vec::new();
        for table in TABLES {
            let exists: bool = tx
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[table])
                .map_err(plain)?
                .get(0);
            if exists {
                found.push(*table);
            }
        }
        if !found.is_empty() {
            return Err(StoreError::ForeignTables {
                location: location.to_string(),
                tables: found.join(", "),
            });
        }
        0
    };
    if from > PG_SCHEMA_VERSION {
        return Err(StoreError::NewerSchemaIn {
            location: location.to_string(),
            found: from,
            supported: PG_SCHEMA_VERSION,
        });
    }
    if from == PG_SCHEMA_VERSION {
        return Ok(()); // the transaction rolls back: nothing was written
    }
    let failed = |e: postgres::Error| StoreError::PgMigration {
        location: location.to_string(),
        from,
        to: PG_SCHEMA_VERSION,
        detail: super::detail(&e),
    };
    if !has_version {
        tx.batch_execute(
            "CREATE TABLE fleetdeck_schema (version BIGINT NOT NULL); \
             INSERT INTO fleetdeck_schema VALUES (0);",
        )
        .map_err(failed)?;
    }
    for sql in &MIGRATIONS[from.max(0) as usize..] {
        tx.batch_execute(sql).map_err(failed)?;
    }
    tx.execute(
        "UPDATE fleetdeck_schema SET version = $1",
        &[&PG_SCHEMA_VERSION],
    )
    .map_err(failed)?;
    tx.commit().map_err(failed)?;
    tracing::info!(
        location,
        version = PG_SCHEMA_VERSION,
        "store schema migrated"
    );
    Ok(())
}
