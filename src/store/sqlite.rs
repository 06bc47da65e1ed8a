//! The embedded SQLite backend: `fleetdeck.db` in the data dir.
//!
//! Settings and why:
//! - WAL journal: readers (API, TUI) never wait for the batch writer, and a crash at any
//!   point leaves the last committed transaction intact.
//! - `synchronous=FULL`: a transaction is on disk when `apply` answers "configured", even
//!   after a power cut (NORMAL would be crash-safe but could lose the last commits on power
//!   loss). The cost is one fsync per commit, and commits are few because agent records and
//!   events are written behind in batches.
//! - foreign keys on, a busy timeout for a second process (e.g. a backup) holding a lock.
//! - one writer connection and one reader connection, each behind a mutex: writes are
//!   serialised anyway, and WAL lets reads run beside them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use super::canonical::spec_hash;
use super::convert::{
    AGENT_COLUMNS, ATTEMPT_COLUMNS, CREDENTIAL_COLUMNS, RESOURCE_COLUMNS, ROLLOUT_COLUMNS,
    RawAgent, RawAttempt, RawCredential, RawResource, RawRollout, agent_id_from_blob, check_names,
    from_millis, labels_to_json, to_millis,
};
use super::error::{StoreError, StoreResult};
use super::schema::{check_header, migrate, read_header};
use super::types::{
    ApplyOutcome, EventQuery, ResourceDoc, RolloutRecord, RolloutStatus, SpecRewrite, StoreOptions,
    StoredEvent, TokenRecord, WriteBatch,
};
use super::{DeleteGuard, StoreBackend};
use crate::fleet::agent::AgentId;
use crate::fleet::attempt::ApplyAttempt;
use crate::fleet::credentials::{CredentialHash, CredentialRecord};
use crate::fleet::record::AgentRecord;

/// The database file's name inside the data dir.
pub const DB_FILE_NAME: &str = "fleetdeck.db";

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    options: StoreOptions,
}

/// Why a transaction body stopped: SQLite failed, or the body refused (not found, in use).
enum Abort {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Abort {
    fn from(e: rusqlite::Error) -> Self {
        Abort::Sql(e)
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Open (creating if needed) `fleetdeck.db` in `data_dir` with default options.
    pub fn open(data_dir: impl AsRef<Path>) -> StoreResult<SqliteStore> {
        SqliteStore::open_with(data_dir, StoreOptions::default())
    }

    /// Open with explicit options. Refuses, without writing to it, a file that is not
    /// SQLite, belongs to another program, or has a newer schema than this binary.
    pub fn open_with(
        data_dir: impl AsRef<Path>,
        options: StoreOptions,
    ) -> StoreResult<SqliteStore> {
        let data_dir = data_dir.as_ref();
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE_NAME);
        make_private(data_dir, &path);

        let mut writer = connect(&path, &options)?;
        let header = read_header(&writer, &path).map_err(|e| explain_unwritable(e, &path))?;
        check_header(header, &path)?;
        refuse_read_only(&writer, &path)?;
        // Only now, with a file we know is ours and not newer, do we change anything.
        configure_writer(&writer, &path, &options)?;
        migrate(&mut writer, header.user_version, &path)?;

        let reader = connect(&path, &options)?;
        configure_reader(&reader, &path)?;

        tracing::debug!(path = %path.display(), "store opened");
        Ok(SqliteStore {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            options,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PRAGMA integrity_check`: the problems SQLite finds (empty when the file is sound).
    pub fn check_integrity(&self) -> StoreResult<Vec<String>> {
        self.read("integrity check", |conn| {
            let mut stmt = conn.prepare("PRAGMA integrity_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let found = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(found.into_iter().filter(|line| line != "ok").collect())
        })
    }

    /// Number of events in the history (for retention checks and status pages).
    pub fn event_count(&self) -> StoreResult<u64> {
        self.read("count events", |conn| {
            let n: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    fn write<T>(
        &self,
        operation: impl Fn() -> String,
        body: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Abort>,
    ) -> StoreResult<T> {
        let mut conn = lock(&self.writer);
        let run = |conn: &mut Connection| -> Result<T, Abort> {
            // IMMEDIATE takes the write lock up front, so a busy database fails at BEGIN
            // rather than half-way through.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = body(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run(&mut conn).map_err(|abort| match abort {
            Abort::Sql(e) => StoreError::from_sqlite(operation(), &self.path, e),
            Abort::Store(e) => e,
        })
    }

    fn read<T>(
        &self,
        operation: &str,
        body: impl FnOnce(&Connection) -> Result<T, Abort>,
    ) -> StoreResult<T> {
        let conn = lock(&self.reader);
        body(&conn).map_err(|abort| match abort {
            Abort::Sql(e) => StoreError::from_sqlite(operation, &self.path, e),
            Abort::Store(e) => e,
        })
    }

    fn bad_row(&self, what: &str, detail: impl ToString) -> Abort {
        Abort::Store(StoreError::BadRow {
            path: self.path.clone(),
            what: what.to_string(),
            detail: detail.to_string(),
        })
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock dropped its transaction (rolled back), so the
    // connection is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn connect(path: &Path, options: &StoreOptions) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| explain_unwritable(StoreError::from_sqlite("open database", path, e), path))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| StoreError::from_sqlite("set busy timeout", path, e))?;
    Ok(conn)
}

/// SQLite reports an unwritable directory as "unable to open database file"; say what
/// is really wrong when the data dir refuses new files.
fn explain_unwritable(err: StoreError, path: &Path) -> StoreError {
    let cannot_open = matches!(
        &err,
        StoreError::Sqlite { source, .. }
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen)
    );
    if !cannot_open {
        return err;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    match probe_writable(dir) {
        Ok(()) => err,
        Err(io) => StoreError::ReadOnly {
            operation: "open database".into(),
            path: path.to_path_buf(),
            detail: format!("cannot create files in {}: {io}", dir.display()),
        },
    }
}

fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(".fleetdeck-write-probe");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// SQLite silently opens an unwritable file read-only; fleetdeck cannot work that way.
fn refuse_read_only(conn: &Connection, path: &Path) -> StoreResult<()> {
    let read_only = conn
        .is_readonly(rusqlite::MAIN_DB)
        .map_err(|e| StoreError::from_sqlite("open database", path, e))?;
    if read_only {
        return Err(StoreError::ReadOnly {
            operation: "open database".into(),
            path: path.to_path_buf(),
            detail: "the file or its directory is not writable".into(),
        });
    }
    Ok(())
}

fn configure_writer(conn: &Connection, path: &Path, options: &StoreOptions) -> StoreResult<()> {
    let run = || -> rusqlite::Result<String> {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Deleted and replaced rows are zeroed, not left readable in free space: stored
        // specs held secrets in clear before they were sealed, and a deleted one may still.
        conn.pragma_update(None, "secure_delete", true)?;
        if let Some(max) = options.max_db_bytes {
            let page: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            let pages = (max / page.max(1) as u64).max(1);
            conn.pragma_update(None, "max_page_count", pages as i64)?;
        }
        Ok(mode)
    };
    let mode = run().map_err(|e| {
        explain_unwritable(StoreError::from_sqlite("configure database", path, e), path)
    })?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some network file systems cannot do WAL; SQLite then keeps its rollback
        // journal, which is still crash-safe, only slower for concurrent readers.
        tracing::warn!(path = %path.display(), %mode, "WAL unavailable, using journal mode");
    }
    Ok(())
}

/// The reader only reads; memory-mapping the file lets the startup load of every agent
/// record read pages in place instead of copying each one through SQLite's page cache.
fn configure_reader(conn: &Connection, path: &Path) -> StoreResult<()> {
    let run = || -> rusqlite::Result<()> {
        conn.pragma_update(None, "query_only", true)?;
        // Reads the value back; some builds cap or disable mmap, which is fine.
        let _: Option<i64> = conn
            .pragma_update_and_check(None, "mmap_size", READER_MMAP_BYTES, |r| r.get(0))
            .optional()?;
        Ok(())
    };
    run().map_err(|e| StoreError::from_sqlite("configure reader", path, e))
}

const READER_MMAP_BYTES: i64 = 1 << 30;

/// The data dir 0700 and the database files 0600, whatever they were: the store holds
/// tokens and passwords. A new database file is created 0600 before SQLite opens it (an
/// empty file is a new database to SQLite), and SQLite gives its WAL and shared-memory
/// files the database file's mode.
fn make_private(data_dir: &Path, db: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let private = |path: &Path, mode: u32| -> std::io::Result<()> {
            let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
            // Only what others may do is taken away; an owner's read-only file stays so.
            if current & !mode != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
            }
            Ok(())
        };
        // A path owned by another user cannot be changed by us: said, not fatal (the open
        // that follows reports what it cannot do, in its own words).
        let fail = |path: &Path, source: std::io::Error| {
            tracing::warn!(path = %path.display(), error = %source,
                "cannot make it private to this user (mode 0700 for the data dir, 0600 for the database)");
        };
        if let Err(e) = private(data_dir, 0o700) {
            fail(data_dir, e);
        }
        if !db.exists() {
            // A directory we cannot write to is reported by the open that follows, in
            // its own words.
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(db);
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", db.display()));
            if file.exists()
                && let Err(e) = private(&file, 0o600)
            {
                fail(&file, e);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (data_dir, db);
}

impl RawResource {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawResource> {
        Ok(RawResource {
            kind: row.get(0)?,
            name: row.get(1)?,
            version: row.get(2)?,
            spec: row.get(3)?,
            labels: row.get(4)?,
            hash: row.get(5)?,
            created_at: row.get(6)?,
            updated_at: row.get(7)?,
        })
    }
}

impl RawAgent {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawAgent> {
        Ok(RawAgent {
            id: row.get(0)?,
            labels: row.get(1)?,
            config_name: row.get(2)?,
            config_version: row.get(3)?,
            description: row.get(4)?,
            first_seen: row.get(5)?,
            last_seen: row.get(6)?,
            components: row.get(7)?,
            config_state: row.get(8)?,
        })
    }
}

impl RawAttempt {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawAttempt> {
        Ok(RawAttempt {
            agent_id: row.get(0)?,
            assigned_at: row.get(1)?,
            config_name: row.get(2)?,
            config_version: row.get(3)?,
            hash: row.get(4)?,
            result: row.get(5)?,
            message: row.get(6)?,
            finished_at: row.get(7)?,
            rolled_back: row.get(8)?,
            rollback: row.get(9)?,
        })
    }
}

impl RawRollout {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRollout> {
        Ok(RawRollout {
            config_name: row.get(0)?,
            status: row.get(1)?,
            state: row.get(2)?,
            revision: row.get(3)?,
            updated_at: row.get(4)?,
        })
    }
}

impl SqliteStore {
    fn resource(&self, raw: RawResource) -> Result<ResourceDoc, Abort> {
        raw.into_doc(&self.path).map_err(Abort::Store)
    }

    fn agent(&self, raw: RawAgent) -> Result<AgentRecord, Abort> {
        raw.into_record(&self.path).map_err(Abort::Store)
    }

    fn attempt(&self, raw: RawAttempt) -> Result<ApplyAttempt, Abort> {
        raw.into_attempt(&self.path).map_err(Abort::Store)
    }

    fn rollout(&self, raw: RawRollout) -> Result<RolloutRecord, Abort> {
        raw.into_record(&self.path).map_err(Abort::Store)
    }

    fn latest(
        &self,
        conn: &Connection,
        kind: &str,
        name: &str,
    ) -> Result<Option<ResourceDoc>, Abort> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} AND v.version = r.latest_version \
             WHERE r.kind = ?1 AND r.name = ?2 AND r.live = 1"
        );
        let raw = conn
            .prepare_cached(&sql)?
            .query_row(params![kind, name], RawResource::from_row)
            .optional()?;
        raw.map(|r| self.resource(r)).transpose()
    }

    fn resources(
        &self,
        conn: &Connection,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<ResourceDoc>, Abort> {
        let mut stmt = conn.prepare_cached(sql)?;
        let raws = stmt
            .query_map(args, RawResource::from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(|r| self.resource(r)).collect()
    }
}

impl StoreBackend for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
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
                let head: Option<(i64, bool)> = tx
                    .prepare_cached(
                        "SELECT latest_version, live FROM resources WHERE kind = ?1 AND name = ?2",
                    )?
                    .query_row(params![kind, name], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let insert_version = |version: i64| -> rusqlite::Result<usize> {
                    tx.prepare_cached(
                        "INSERT INTO resource_versions \
                         (kind, name, version, spec, labels, hash, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        kind,
                        name,
                        version,
                        spec_json,
                        labels_json,
                        hash,
                        now
                    ])
                };
                let outcome = match head {
                    None => {
                        tx.prepare_cached(
                            "INSERT INTO resources (kind, name, latest_version, live, created_at) \
                             VALUES (?1, ?2, 1, 1, ?3)",
                        )?
                        .execute(params![kind, name, now])?;
                        insert_version(1)?;
                        ApplyOutcome::Created { version: 1 }
                    }
                    Some((latest, live)) => {
                        let current: Option<String> = if live {
                            tx.prepare_cached(
                                "SELECT hash FROM resource_versions \
                                 WHERE kind = ?1 AND name = ?2 AND version = ?3",
                            )?
                            .query_row(params![kind, name, latest], |r| r.get(0))
                            .optional()?
                        } else {
                            None
                        };
                        if current.as_deref() == Some(hash.as_str()) {
                            ApplyOutcome::Unchanged {
                                version: latest as u64,
                            }
                        } else {
                            let next = latest + 1;
                            tx.prepare_cached(
                                "UPDATE resources SET latest_version = ?3, live = 1, \
                                 created_at = CASE WHEN live = 1 THEN created_at ELSE ?4 END \
                                 WHERE kind = ?1 AND name = ?2",
                            )?
                            .execute(params![kind, name, next, now])?;
                            insert_version(next)?;
                            if live {
                                ApplyOutcome::Configured {
                                    version: next as u64,
                                    previous: latest as u64,
                                }
                            } else {
                                ApplyOutcome::Created {
                                    version: next as u64,
                                }
                            }
                        }
                    }
                };
                Ok(outcome)
            },
        )
    }

    fn get(&self, kind: &str, name: &str) -> StoreResult<Option<ResourceDoc>> {
        self.read("get resource", |conn| self.latest(conn, kind, name))
    }

    fn get_version(
        &self,
        kind: &str,
        name: &str,
        version: u64,
    ) -> StoreResult<Option<ResourceDoc>> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} \
             WHERE r.kind = ?1 AND r.name = ?2 AND r.live = 1 AND v.version = ?3"
        );
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        self.read("get resource version", |conn| {
            Ok(self
                .resources(conn, &sql, params![kind, name, version])?
                .pop())
        })
    }

    fn list_versions(&self, kind: &str, name: &str) -> StoreResult<Vec<ResourceDoc>> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} WHERE r.kind = ?1 AND r.name = ?2 AND r.live = 1 \
             ORDER BY v.version"
        );
        self.read("list resource versions", |conn| {
            self.resources(conn, &sql, params![kind, name])
        })
    }

    fn list_kind(&self, kind: &str) -> StoreResult<Vec<ResourceDoc>> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} AND v.version = r.latest_version \
             WHERE r.kind = ?1 AND r.live = 1 ORDER BY r.name"
        );
        self.read("list resources", |conn| {
            self.resources(conn, &sql, params![kind])
        })
    }

    fn delete(&self, kind: &str, name: &str, guard: DeleteGuard<'_>) -> StoreResult<ResourceDoc> {
        self.write(
            || format!("delete {kind} '{name}'"),
            |tx| {
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
                    "DELETE FROM resource_versions WHERE kind = ?1 AND name = ?2",
                    params![kind, name],
                )?;
                tx.execute(
                    "UPDATE resources SET live = 0 WHERE kind = ?1 AND name = ?2",
                    params![kind, name],
                )?;
                Ok(doc)
            },
        )
    }

    fn rewrite_specs(&self, rewrites: &[SpecRewrite]) -> StoreResult<usize> {
        if rewrites.is_empty() {
            return Ok(0);
        }
        let mut hashed = Vec::with_capacity(rewrites.len());
        for r in rewrites {
            let spec: serde_json::Value =
                serde_json::from_str(&r.spec_json).map_err(|e| StoreError::InvalidResource {
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    detail: format!("spec is not valid JSON: {e}"),
                })?;
            hashed.push((r, spec));
        }
        let count = self.write(
            || format!("rewrite {} stored specs", rewrites.len()),
            |tx| {
                let mut count = 0;
                for (r, spec) in &hashed {
                    let labels: Option<String> = tx
                        .prepare_cached(
                            "SELECT labels FROM resource_versions \
                             WHERE kind = ?1 AND name = ?2 AND version = ?3",
                        )?
                        .query_row(params![r.kind, r.name, r.version as i64], |row| row.get(0))
                        .optional()?;
                    let Some(labels) = labels else { continue };
                    let labels: BTreeMap<String, String> = serde_json::from_str(&labels)
                        .map_err(|e| self.bad_row("resource labels", e))?;
                    count += tx
                        .prepare_cached(
                            "UPDATE resource_versions SET spec = ?4, hash = ?5 \
                             WHERE kind = ?1 AND name = ?2 AND version = ?3",
                        )?
                        .execute(params![
                            r.kind,
                            r.name,
                            r.version as i64,
                            r.spec_json,
                            spec_hash(spec, &labels)
                        ])?;
                }
                Ok(count)
            },
        )?;
        // The replaced text is still in the write-ahead log until a checkpoint copies the
        // new pages over it; truncate the log now rather than whenever it fills.
        let conn = lock(&self.writer);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
            tracing::warn!(path = %self.path.display(), error = %e,
                "could not checkpoint the log after rewriting specs; it is checkpointed later");
        }
        Ok(count)
    }

    fn write_batch(&self, batch: &WriteBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let retention = i64::try_from(self.options.event_retention).unwrap_or(i64::MAX);
        let attempts_kept = i64::try_from(self.options.attempts_per_agent).unwrap_or(i64::MAX);
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
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO agents \
                     (id, labels, config_name, config_version, description, first_seen, last_seen, \
                      components, config_state) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                     ON CONFLICT (id) DO UPDATE SET \
                       labels = excluded.labels, \
                       config_name = excluded.config_name, \
                       config_version = excluded.config_version, \
                       description = coalesce(excluded.description, agents.description), \
                       components = coalesce(excluded.components, agents.components), \
                       config_state = excluded.config_state, \
                       first_seen = min(agents.first_seen, excluded.first_seen), \
                       last_seen = max(agents.last_seen, excluded.last_seen)",
                )?;
                for a in &batch.agents {
                    let (config_name, config_version) = match &a.assigned {
                        Some(c) => (
                            Some(&*c.name),
                            Some(i64::try_from(c.version).unwrap_or(i64::MAX)),
                        ),
                        None => (None, None),
                    };
                    upsert.execute(params![
                        &a.id.as_bytes()[..],
                        labels_to_json(&a.labels),
                        config_name,
                        config_version,
                        a.description_json,
                        to_millis(a.first_seen),
                        to_millis(a.last_seen),
                        a.components_json,
                        a.config_state_json,
                    ])?;
                }
                if !batch.forget.is_empty() {
                    let mut delete = tx.prepare_cached("DELETE FROM agents WHERE id = ?1")?;
                    for id in &batch.forget {
                        delete.execute(params![&id.as_bytes()[..]])?;
                    }
                }
                if !batch.forget_history.is_empty() {
                    let mut delete =
                        tx.prepare_cached("DELETE FROM apply_history WHERE agent_id = ?1")?;
                    for id in &batch.forget_history {
                        delete.execute(params![&id.as_bytes()[..]])?;
                    }
                }
                if !batch.attempts.is_empty() {
                    write_attempts(tx, &batch.attempts, attempts_kept)?;
                }
                if !batch.events.is_empty() {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO events (at, kind, agent_id, payload) VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for e in &batch.events {
                        insert.execute(params![
                            to_millis(e.at),
                            e.kind,
                            e.agent.as_ref().map(|id| &id.as_bytes()[..]),
                            e.payload_json,
                        ])?;
                    }
                    // seq grows by one per insert, so this keeps the newest `retention`.
                    tx.prepare_cached(
                        "DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - ?1",
                    )?
                    .execute(params![retention])?;
                }
                Ok(())
            },
        )
    }

    fn load_agents(&self) -> StoreResult<Vec<AgentRecord>> {
        self.read("load agents", |conn| {
            let mut stmt = conn.prepare(&format!("SELECT {AGENT_COLUMNS} ORDER BY id"))?;
            let raws = stmt
                .query_map([], RawAgent::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raws.into_iter().map(|r| self.agent(r)).collect()
        })
    }

    fn get_agent(&self, id: &AgentId) -> StoreResult<Option<AgentRecord>> {
        self.read("get agent", |conn| {
            let raw = conn
                .prepare_cached(&format!("SELECT {AGENT_COLUMNS} WHERE id = ?1"))?
                .query_row(params![&id.as_bytes()[..]], RawAgent::from_row)
                .optional()?;
            raw.map(|r| self.agent(r)).transpose()
        })
    }

    fn delete_agents(&self, ids: &[AgentId]) -> StoreResult<usize> {
        self.write(
            || format!("delete {} agents", ids.len()),
            |tx| {
                let mut stmt = tx.prepare_cached("DELETE FROM agents WHERE id = ?1")?;
                let mut history =
                    tx.prepare_cached("DELETE FROM apply_history WHERE agent_id = ?1")?;
                let mut gone = 0;
                for id in ids {
                    gone += stmt.execute(params![&id.as_bytes()[..]])?;
                    history.execute(params![&id.as_bytes()[..]])?;
                }
                Ok(gone)
            },
        )
    }

    fn agent_history(&self, id: &AgentId, limit: usize) -> StoreResult<Vec<ApplyAttempt>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("read apply history", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ATTEMPT_COLUMNS} WHERE agent_id = ?1 ORDER BY assigned_at DESC LIMIT ?2"
            ))?;
            let raws = stmt
                .query_map(params![&id.as_bytes()[..], limit], RawAttempt::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raws.into_iter().map(|r| self.attempt(r)).collect()
        })
    }

    fn query_events(&self, query: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
        let since = query.since.map(to_millis);
        let agent = query.agent.map(|a| a.0.to_vec());
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let actor = query.actor.as_deref();
        self.read("query events", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, at, kind, agent_id, payload FROM events \
                 WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR agent_id = ?2) \
                 AND (?4 IS NULL OR (kind = 'audit' AND json_extract(payload, '$.actor') = ?4)) \
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![since, agent, limit, actor], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<Vec<u8>>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(seq, at, kind, agent, payload_json)| {
                    let agent = match agent {
                        None => None,
                        Some(blob) => Some(agent_id_from_blob(&blob).ok_or_else(|| {
                            self.bad_row(&format!("agent id of event {seq}"), "not 16 bytes")
                        })?),
                    };
                    Ok(StoredEvent {
                        seq: seq.max(0) as u64,
                        at: from_millis(at),
                        kind,
                        agent,
                        payload_json,
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
                    .prepare_cached(
                        "INSERT INTO rollouts \
                         (config_name, status, finished, state, revision, updated_at) \
                         VALUES (?1, ?2, ?3, ?4, 1, ?5) \
                         ON CONFLICT (config_name) DO UPDATE SET \
                           status = excluded.status, finished = excluded.finished, \
                           state = excluded.state, revision = rollouts.revision + 1, \
                           updated_at = excluded.updated_at \
                         RETURNING revision",
                    )?
                    .query_row(
                        params![
                            config_name,
                            status.as_str(),
                            status.is_finished(),
                            state_json,
                            now
                        ],
                        |r| r.get(0),
                    )?;
                Ok(revision.max(0) as u64)
            },
        )
    }

    fn get_rollout(&self, config_name: &str) -> StoreResult<Option<RolloutRecord>> {
        self.read("get rollout", |conn| {
            let raw = conn
                .prepare_cached(&format!("SELECT {ROLLOUT_COLUMNS} WHERE config_name = ?1"))?
                .query_row(params![config_name], RawRollout::from_row)
                .optional()?;
            raw.map(|r| self.rollout(r)).transpose()
        })
    }

    fn list_unfinished_rollouts(&self) -> StoreResult<Vec<RolloutRecord>> {
        self.read("list unfinished rollouts", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ROLLOUT_COLUMNS} WHERE finished = 0 ORDER BY config_name"
            ))?;
            let raws = stmt
                .query_map([], RawRollout::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raws.into_iter().map(|r| self.rollout(r)).collect()
        })
    }

    fn delete_rollout(&self, config_name: &str) -> StoreResult<bool> {
        self.write(
            || format!("delete rollout of '{config_name}'"),
            |tx| {
                Ok(tx.execute(
                    "DELETE FROM rollouts WHERE config_name = ?1",
                    params![config_name],
                )? > 0)
            },
        )
    }

    fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.read("list tokens", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, role, hash, created_at FROM api_tokens ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(TokenRecord {
                    name: r.get(0)?,
                    role: r.get(1)?,
                    hash: r.get(2)?,
                    created_at: from_millis(r.get(3)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn create_token(&self, token: &TokenRecord) -> StoreResult<bool> {
        self.write(
            || format!("create token '{}'", token.name),
            |tx| {
                Ok(tx.execute(
                    "INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (name) DO NOTHING",
                    params![
                        token.name,
                        token.role,
                        token.hash,
                        to_millis(token.created_at)
                    ],
                )? > 0)
            },
        )
    }

    fn delete_token(&self, name: &str) -> StoreResult<bool> {
        self.write(
            || format!("delete token '{name}'"),
            |tx| Ok(tx.execute("DELETE FROM api_tokens WHERE name = ?1", params![name])? > 0),
        )
    }

    fn credential(&self, id: &AgentId) -> StoreResult<Option<CredentialRecord>> {
        let raw = self.read("read an agent credential", |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {CREDENTIAL_COLUMNS} FROM agent_credentials WHERE agent_id = ?1"
                ))?
                .query_row(params![&id.as_bytes()[..]], raw_credential)
                .optional()?)
        })?;
        raw.map(|r| r.into_record(&self.path)).transpose()
    }

    fn credential_by_hash(&self, hash: &CredentialHash) -> StoreResult<Option<CredentialRecord>> {
        let hex = hex::encode(hash);
        let raw = self.read("find an agent credential", |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {CREDENTIAL_COLUMNS} FROM agent_credentials \
                     WHERE current_hash = ?1 OR pending_hash = ?1 OR retired_hash = ?1 LIMIT 1"
                ))?
                .query_row(params![hex], raw_credential)
                .optional()?)
        })?;
        raw.map(|r| r.into_record(&self.path)).transpose()
    }

    fn update_credential(
        &self,
        id: &AgentId,
        change: &mut dyn FnMut(Option<CredentialRecord>) -> Option<CredentialRecord>,
    ) -> StoreResult<Option<CredentialRecord>> {
        self.write(
            || format!("change the credentials of agent {id}"),
            |tx| {
                let raw = tx
                    .prepare_cached(&format!(
                        "SELECT {CREDENTIAL_COLUMNS} FROM agent_credentials WHERE agent_id = ?1"
                    ))?
                    .query_row(params![&id.as_bytes()[..]], raw_credential)
                    .optional()?;
                let before = raw
                    .map(|r| r.into_record(&self.path))
                    .transpose()
                    .map_err(Abort::Store)?;
                let Some(after) = change(before.clone()) else {
                    return Ok(before);
                };
                let r = RawCredential::of(&after);
                tx.execute(
                    &format!(
                        "INSERT OR REPLACE INTO agent_credentials ({CREDENTIAL_COLUMNS}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                    ),
                    params![
                        r.id,
                        r.current,
                        r.pending,
                        r.retired,
                        r.rotate,
                        r.enrolled_at,
                        r.changed_at,
                        r.revoked_at,
                        r.revoked_by
                    ],
                )?;
                Ok(Some(after))
            },
        )
    }

    fn list_credentials(&self) -> StoreResult<Vec<CredentialRecord>> {
        let raws = self.read("list agent credentials", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM agent_credentials ORDER BY agent_id"
            ))?;
            let rows = stmt.query_map([], raw_credential)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        raws.into_iter()
            .map(|r| r.into_record(&self.path))
            .collect()
    }
}

fn raw_credential(r: &Row<'_>) -> rusqlite::Result<RawCredential> {
    Ok(RawCredential {
        id: r.get(0)?,
        current: r.get(1)?,
        pending: r.get(2)?,
        retired: r.get(3)?,
        rotate: r.get(4)?,
        enrolled_at: r.get(5)?,
        changed_at: r.get(6)?,
        revoked_at: r.get(7)?,
        revoked_by: r.get(8)?,
    })
}

/// Writes attempts (a later write of one replaces it), then holds each agent written to
/// its newest `kept`.
fn write_attempts(
    tx: &rusqlite::Transaction<'_>,
    attempts: &[ApplyAttempt],
    kept: i64,
) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO apply_history \
         (agent_id, assigned_at, config_name, config_version, hash, result, message, \
          finished_at, rolled_back, rollback) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (agent_id, assigned_at) DO UPDATE SET \
           config_name = excluded.config_name, config_version = excluded.config_version, \
           hash = excluded.hash, result = excluded.result, message = excluded.message, \
           finished_at = excluded.finished_at, rolled_back = excluded.rolled_back, \
           rollback = excluded.rollback",
    )?;
    let mut touched = std::collections::BTreeSet::new();
    for a in attempts {
        upsert.execute(params![
            &a.agent.as_bytes()[..],
            to_millis(a.assigned_at),
            &*a.config.name,
            i64::try_from(a.config.version).unwrap_or(i64::MAX),
            hex::encode(a.hash),
            a.result.as_str(),
            a.message,
            to_millis(a.finished_at),
            a.rolled_back,
            a.rollback,
        ])?;
        touched.insert(a.agent);
    }
    // Everything older than the agent's `kept`-th newest goes (nothing while it has fewer).
    let mut trim = tx.prepare_cached(
        "DELETE FROM apply_history WHERE agent_id = ?1 AND assigned_at <= \
         (SELECT assigned_at FROM apply_history WHERE agent_id = ?1 \
          ORDER BY assigned_at DESC LIMIT 1 OFFSET ?2)",
    )?;
    for id in touched {
        trim.execute(params![&id.as_bytes()[..], kept])?;
    }
    Ok(())
}
