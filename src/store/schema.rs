//! Schema versions and migrations.
//!
//! The version lives in SQLite's `user_version` header field and the file is tagged with
//! an `application_id`, so a database from a newer fleetdeck or from another program is
//! recognised before anything is written. Each migration runs in its own transaction
//! together with the version bump: a crash leaves the database at the old or new version,
//! never in between.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::error::{StoreError, StoreResult};

/// "FDCK": marks the file as fleetdeck's (SQLite header offset 68).
pub const APPLICATION_ID: i32 = 0x4644_434B;

/// Migrations in order; `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
-- One row per resource name; `latest_version` is the highest version ever given, so
-- numbers are never reused, even after a delete.
CREATE TABLE resources (
    kind           TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    latest_version INTEGER NOT NULL,
    live           INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;

CREATE TABLE resource_versions (
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    spec       TEXT    NOT NULL,
    labels     TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name, version),
    FOREIGN KEY (kind, name) REFERENCES resources (kind, name) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE agents (
    id             BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    labels         TEXT    NOT NULL,
    config_name    TEXT,
    config_version INTEGER,
    description    TEXT,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE rollouts (
    config_name TEXT    NOT NULL PRIMARY KEY,
    status      TEXT    NOT NULL,
    finished    INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE events (
    seq      INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    agent_id BLOB,
    payload  TEXT    NOT NULL
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_agent ON events (agent_id, seq) WHERE agent_id IS NOT NULL;
"#;

/// The component listing each agent last reported (JSON), kept beside its description.
const V2: &str = "ALTER TABLE agents ADD COLUMN components TEXT;";

/// Where each agent's configuration stood (JSON), so a restart of the server neither
/// forgets what agents applied nor sends it to them again.
const V3: &str = "ALTER TABLE agents ADD COLUMN config_state TEXT;";

/// Each agent's apply history: a row per configuration version assigned to it (an
/// attempt), named by the agent and when it was assigned (ms); the newest few per agent
/// are kept (the write that adds one drops the oldest).
const V4: &str = r#"
CREATE TABLE apply_history (
    agent_id       BLOB    NOT NULL CHECK (length(agent_id) = 16),
    assigned_at    INTEGER NOT NULL,
    config_name    TEXT    NOT NULL,
    config_version INTEGER NOT NULL,
    hash           TEXT    NOT NULL,
    result         TEXT    NOT NULL,
    message        TEXT    NOT NULL,
    finished_at    INTEGER NOT NULL,
    rolled_back    INTEGER NOT NULL,
    rollback       INTEGER NOT NULL,
    PRIMARY KEY (agent_id, assigned_at)
) WITHOUT ROWID;
"#;

const V5: &str = r#"
-- Named API tokens: only a SHA-256 of each token is kept (the token is shown once, when
-- it is made). The token in the api-token file is not here: it is always an admin's.
CREATE TABLE api_tokens (
    name       TEXT    NOT NULL PRIMARY KEY,
    role       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Per-agent credentials (`fleet::credentials`): only SHA-256 hashes (hex) of the
/// credential in use, the one offered and the one last replaced; revocations. Kept apart
/// from `agents`, so forgetting an agent does not lift its revocation.
const V6: &str = r#"
CREATE TABLE agent_credentials (
    agent_id     BLOB    NOT NULL PRIMARY KEY CHECK (length(agent_id) = 16),
    current_hash TEXT,
    pending_hash TEXT,
    retired_hash TEXT,
    rotate       INTEGER NOT NULL,
    enrolled_at  INTEGER,
    changed_at   INTEGER,
    revoked_at   INTEGER,
    revoked_by   TEXT
) WITHOUT ROWID;
CREATE INDEX agent_credentials_current ON agent_credentials (current_hash);
CREATE INDEX agent_credentials_pending ON agent_credentials (pending_hash);
CREATE INDEX agent_credentials_retired ON agent_credentials (retired_hash);
"#;

/// What the header of an existing file says, read without writing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub application_id: i32,
    pub user_version: i64,
    pub schema_objects: i64,
}

/// Read the header. A file that is not SQLite fails here (SQLite only reads the file
/// on first use, so this is where garbage is discovered).
pub(crate) fn read_header(conn: &Connection, path: &Path) -> StoreResult<Header> {
    let read = || -> rusqlite::Result<Header> {
        Ok(Header {
            application_id: conn.pragma_query_value(None, "application_id", |r| r.get(0))?,
            user_version: conn.pragma_query_value(None, "user_version", |r| r.get(0))?,
            schema_objects: conn
                .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?,
        })
    };
    read().map_err(|e| StoreError::from_sqlite("read database header", path, e))
}

/// Refuse files this binary must not touch.
pub(crate) fn check_header(header: Header, path: &Path) -> StoreResult<()> {
    let empty = header.application_id == 0 && header.user_version == 0;
    if empty && header.schema_objects == 0 {
        return Ok(()); // a brand-new (or zero-length) file
    }
    if header.application_id != APPLICATION_ID {
        return Err(StoreError::ForeignDatabase {
            path: path.to_path_buf(),
            detail: format!(
                "application_id {:#010x}, {} schema objects",
                header.application_id, header.schema_objects
            ),
        });
    }
    if header.user_version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: header.user_version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Bring the schema from `from` to [`SCHEMA_VERSION`], one transaction per step.
pub(crate) fn migrate(conn: &mut Connection, from: i64, path: &Path) -> StoreResult<()> {
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let to = index as i64 + 1;
        let step = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()
        };
        step(conn).map_err(|source| match source.sqlite_error_code() {
            // Full disk and read-only files deserve their own message.
            Some(rusqlite::ErrorCode::DiskFull)
            | Some(rusqlite::ErrorCode::ReadOnly)
            | Some(rusqlite::ErrorCode::PermissionDenied) => {
                StoreError::from_sqlite(format!("migrate to schema version {to}"), path, source)
            }
            _ => StoreError::Migration {
                path: path.to_path_buf(),
                from: to - 1,
                to,
                source,
            },
        })?;
        tracing::info!(path = %path.display(), version = to, "store schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(application_id: i32, user_version: i64, schema_objects: i64) -> Header {
        Header {
            application_id,
            user_version,
            schema_objects,
        }
    }

    #[test]
    fn new_file_is_accepted() {
        assert!(check_header(header(0, 0, 0), Path::new("x.db")).is_ok());
    }

    #[test]
    fn other_programs_databases_are_refused() {
        let err = check_header(header(0, 0, 3), Path::new("x.db")).unwrap_err();
        assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err}");
        let err = check_header(header(0x1234, 1, 3), Path::new("x.db")).unwrap_err();
        assert!(err.to_string().contains("0x00001234"), "{err}");
    }

    #[test]
    fn newer_schema_is_refused_older_accepted() {
        let err = check_header(
            header(APPLICATION_ID, SCHEMA_VERSION + 1, 9),
            Path::new("x.db"),
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
        assert!(check_header(header(APPLICATION_ID, SCHEMA_VERSION, 9), Path::new("x.db")).is_ok());
    }

    #[test]
    fn a_first_version_database_keeps_its_agents_and_gains_their_component_listings() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO agents (id, labels, description, first_seen, last_seen) \
             VALUES (zeroblob(16), '{}', '{\"identifying\":[]}', 1, 2)",
            [],
        )
        .unwrap();
        migrate(&mut conn, 1, Path::new(":memory:")).unwrap();
        let (description, components): (String, Option<String>) = conn
            .query_row("SELECT description, components FROM agents", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(description, r#"{"identifying":[]}"#);
        assert_eq!(components, None, "unknown until the agent lists them");
    }

    #[test]
    fn a_third_version_database_keeps_its_agents_and_gains_an_empty_apply_history() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, 0, Path::new(":memory:")).unwrap();
        // Back to how version 3 left it, with an agent in it.
        conn.execute_batch(
            "DROP TABLE apply_history; DROP TABLE api_tokens; DROP TABLE agent_credentials; \
             PRAGMA user_version = 3;",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO agents (id, labels, config_name, config_version, first_seen, \
             last_seen, config_state) VALUES (zeroblob(16), '{}', 'web', 2, 1, 2, '{}')",
            [],
        )
        .unwrap();
        migrate(&mut conn, 3, Path::new(":memory:")).unwrap();
        let h = read_header(&conn, Path::new(":memory:")).unwrap();
        assert_eq!(h.user_version, SCHEMA_VERSION);
        let (name, state): (String, String) = conn
            .query_row("SELECT config_name, config_state FROM agents", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((name.as_str(), state.as_str()), ("web", "{}"));
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM apply_history", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0, "no history before this version kept one");
    }

    #[test]
    fn migration_from_scratch_reaches_current_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, 0, Path::new(":memory:")).unwrap();
        let h = read_header(&conn, Path::new(":memory:")).unwrap();
        assert_eq!(h.user_version, SCHEMA_VERSION);
        assert_eq!(h.application_id, APPLICATION_ID);
        // Running again from the current version is a no-op.
        migrate(&mut conn, SCHEMA_VERSION, Path::new(":memory:")).unwrap();
    }
}
