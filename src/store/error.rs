//! Store errors. Each names the operation and the database it concerns (a file, or a
//! PostgreSQL URL without its password), and the "left untouched" variants promise the
//! database was not modified.

use std::path::PathBuf;

use rusqlite::ErrorCode;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{path} is not a usable SQLite database ({detail}); it was left untouched — move it \
         away or point --data-dir elsewhere"
    )]
    NotADatabase { path: PathBuf, detail: String },

    #[error(
        "{path} is a SQLite database but not fleetdeck's ({detail}); it was left untouched — \
         point --data-dir elsewhere"
    )]
    ForeignDatabase { path: PathBuf, detail: String },

    #[error(
        "{path} has schema version {found}, newer than this fleetdeck understands (up to \
         {supported}); it was left untouched — run a newer fleetdeck"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "{operation}: {path} cannot be written ({detail}); fleetdeck needs write access to its \
         data directory"
    )]
    ReadOnly {
        operation: String,
        path: PathBuf,
        detail: String,
    },

    #[error(
        "{operation}: {path} is full (disk full or size limit reached); nothing of this \
         operation was written"
    )]
    Full { operation: String, path: PathBuf },

    #[error("{operation}: {path} is damaged: {detail}")]
    Corrupt {
        operation: String,
        path: PathBuf,
        detail: String,
    },

    #[error(
        "migrating {path} from schema version {from} to {to} failed: {source}; the database stays at version {from}"
    )]
    Migration {
        path: PathBuf,
        from: i64,
        to: i64,
        source: rusqlite::Error,
    },

    #[error("{operation}: {path}: {source}")]
    Sqlite {
        operation: String,
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error("{kind} '{name}': {detail}")]
    InvalidResource {
        kind: String,
        name: String,
        detail: String,
    },

    #[error("{kind} '{name}' not found")]
    NotFound { kind: String, name: String },

    #[error("{kind} '{name}' is in use and was not deleted: {reason}")]
    InUse {
        kind: String,
        name: String,
        reason: String,
    },

    #[error("{path}: stored {what} is unreadable: {detail}")]
    BadRow {
        path: PathBuf,
        what: String,
        detail: String,
    },

    #[error("{kind} '{name}' version {version}: its secrets cannot be opened: {detail}")]
    Sealed {
        kind: String,
        name: String,
        version: u64,
        detail: String,
    },

    #[error("store operation '{operation}' did not complete: {detail}")]
    Task { operation: String, detail: String },

    #[error("--store {given}: {detail}")]
    BadStoreUrl { given: String, detail: String },

    #[error("cannot reach the PostgreSQL database {location}: {detail}")]
    Unreachable { location: String, detail: String },

    #[error(
        "{location} has fleetdeck schema version {found}, newer than this fleetdeck \
         understands (up to {supported}); it was left untouched — run a newer fleetdeck"
    )]
    NewerSchemaIn {
        location: String,
        found: i64,
        supported: i64,
    },

    #[error(
        "{location} already has tables named like fleetdeck's ({tables}) but no fleetdeck \
         schema version; it was left untouched — use another database or schema"
    )]
    ForeignTables { location: String, tables: String },

    #[error(
        "migrating {location} from schema version {from} to {to} failed: {detail}; the \
         database stays at version {from}"
    )]
    PgMigration {
        location: String,
        from: i64,
        to: i64,
        detail: String,
    },

    #[error("{operation}: {location}: {detail}")]
    Postgres {
        operation: String,
        location: String,
        detail: String,
    },
}

impl StoreError {
    /// Turn a SQLite error into the variant a user can act on.
    pub(crate) fn from_sqlite(
        operation: impl Into<String>,
        path: &std::path::Path,
        err: rusqlite::Error,
    ) -> StoreError {
        let operation = operation.into();
        let path = path.to_path_buf();
        let detail = err.to_string();
        match err.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::Full { operation, path },
            Some(ErrorCode::ReadOnly) | Some(ErrorCode::PermissionDenied) => StoreError::ReadOnly {
                operation,
                path,
                detail,
            },
            Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path, detail },
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                operation,
                path,
                detail,
            },
            _ => StoreError::Sqlite {
                operation,
                path,
                source: err,
            },
        }
    }
}
