//! Files the store must refuse without touching them, and conditions (read-only data
//! dir, full database) that must give a clear error and leave the data intact.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use fleetdeck::fleet::agent::AgentId;
use fleetdeck::store::{
    AgentRecord, DB_FILE_NAME, SCHEMA_VERSION, SqliteStore, StoreBackend, StoreError, StoreOptions,
};

/// Every file in `dir` with its bytes, to prove a refused open changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn make_store_with_data(dir: &Path) {
    let store = SqliteStore::open(dir).unwrap();
    store
        .apply("Configuration", "web", r#"{"x":1}"#, &BTreeMap::new())
        .unwrap();
}

fn record(i: u32, pad: usize) -> AgentRecord {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&i.to_be_bytes());
    AgentRecord {
        id: AgentId(id),
        labels: BTreeMap::new(),
        assigned: None,
        description_json: Some(format!(r#"{{"pad":"{}"}}"#, "p".repeat(pad))),
        components_json: None,
        config_state_json: None,
        first_seen: UNIX_EPOCH + Duration::from_secs(1),
        last_seen: UNIX_EPOCH + Duration::from_secs(2),
    }
}

#[test]
fn newer_schema_is_refused_and_left_byte_for_byte_untouched() {
    let dir = tempfile::tempdir().unwrap();
    make_store_with_data(dir.path());
    let db = dir.path().join(DB_FILE_NAME);
    {
        // What a future fleetdeck would leave behind.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let before = snapshot(dir.path());

    let err = SqliteStore::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{msg}");
    assert!(
        msg.contains(&db.display().to_string()),
        "names the file: {msg}"
    );
    assert!(
        msg.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{msg}"
    );
    assert!(msg.contains("left untouched"), "{msg}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn empty_file_is_taken_as_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DB_FILE_NAME), b"").unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store
        .apply("Configuration", "web", "{}", &BTreeMap::new())
        .unwrap();
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(store.get("Configuration", "web").unwrap().is_some());
}

#[test]
fn garbage_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE_NAME);
    let garbage: Vec<u8> = b"this is a shopping list, not a database\n"
        .iter()
        .copied()
        .cycle()
        .take(8192)
        .collect();
    std::fs::write(&db, &garbage).unwrap();
    let before = snapshot(dir.path());

    let err = SqliteStore::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{msg}");
    assert!(msg.contains(&db.display().to_string()), "{msg}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn another_programs_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE_NAME);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');",
        )
        .unwrap();
    }
    let before = snapshot(dir.path());
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err}");
    assert!(err.to_string().contains(&db.display().to_string()), "{err}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn damaged_database_gives_a_clear_error_and_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    make_store_with_data(dir.path());
    let db = dir.path().join(DB_FILE_NAME);
    // Scribble over the schema page (page 1 after the 100-byte header) — a disk error
    // or a stray write would look like this.
    let mut bytes = std::fs::read(&db).unwrap();
    for b in &mut bytes[100..4096] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let before = snapshot(dir.path());

    let err = SqliteStore::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            StoreError::NotADatabase { .. } | StoreError::Corrupt { .. }
        ),
        "{msg}"
    );
    assert!(msg.contains(&db.display().to_string()), "{msg}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn full_database_fails_the_batch_and_keeps_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let capped = StoreOptions {
        max_db_bytes: Some(512 * 1024),
        ..StoreOptions::default()
    };
    let store = SqliteStore::open_with(dir.path(), capped).unwrap();
    let mut committed = 0u32;
    let err = loop {
        let batch: Vec<AgentRecord> = (committed..committed + 20)
            .map(|i| record(i, 2_000))
            .collect();
        match store.write_agents(&batch) {
            Ok(()) => committed += 20,
            Err(e) => break e,
        }
        assert!(committed < 10_000, "the size cap never took effect");
    };
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Full { .. }), "{msg}");
    assert!(
        msg.contains(&dir.path().join(DB_FILE_NAME).display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("write 20 agent records"),
        "names the operation: {msg}"
    );
    assert!(committed > 0);

    // The failed batch left nothing behind, the committed ones are all there.
    assert_eq!(store.load_agents().unwrap().len(), committed as usize);
    assert!(store.check_integrity().unwrap().is_empty());
    drop(store);

    // With room again, the same batch goes through.
    let store = SqliteStore::open(dir.path()).unwrap();
    let batch: Vec<AgentRecord> = (committed..committed + 20)
        .map(|i| record(i, 2_000))
        .collect();
    store.write_agents(&batch).unwrap();
    assert_eq!(store.load_agents().unwrap().len(), committed as usize + 20);
}

// ---- read-only data directory ----
//
// Root ignores file permissions, so when the tests run as root the open is done by a
// child process (this test binary, re-run on one test) that drops to uid/gid 65534
// ("nobody"); the permission checks then really apply. Otherwise it runs in-process.

const RO_CHILD_ENV: &str = "FLEETDECK_STORE_RO_CHILD";
const RO_MARKER: &str = "read-only-check:";

fn running_as_root(probe: &Path) -> bool {
    std::fs::metadata(probe).unwrap().uid() == 0
}

/// Open the store in `dir` and describe the outcome on one line.
fn open_outcome(dir: &Path) -> String {
    match SqliteStore::open(dir) {
        Ok(_) => "opened".to_string(),
        Err(e @ StoreError::ReadOnly { .. }) => format!("read-only: {e}"),
        Err(e) => format!("other error: {e}"),
    }
}

/// Run [`open_outcome`] with the permissions of an ordinary user.
fn open_outcome_unprivileged(dir: &Path, test_name: &str) -> String {
    if !running_as_root(dir) {
        return open_outcome(dir);
    }
    // The test binary may live where "nobody" cannot reach it (CI caches the target dir
    // under /root, mode 0700), so run a copy from a directory everyone can read.
    let exe_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(exe_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = exe_dir.path().join("store_safety_child");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Another test thread forking while the copy was open for writing can leave the file
    // briefly "busy" (ETXTBSY) until that child execs; try again shortly.
    let out = (0..100)
        .find_map(|_| {
            match Command::new(&exe)
                .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
                .env(RO_CHILD_ENV, dir)
                .uid(65534)
                .gid(65534)
                .output()
            {
                Err(e) if e.raw_os_error() == Some(26) => {
                    std::thread::sleep(Duration::from_millis(20));
                    None
                }
                other => Some(other.unwrap()),
            }
        })
        .expect("the child could be started");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(RO_MARKER))
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!(
                "child gave no outcome; stdout: {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// In the child: do the open and report. Returns true when this process is the child.
fn act_as_read_only_child() -> bool {
    match std::env::var_os(RO_CHILD_ENV) {
        Some(dir) => {
            // Own line: the test harness has already printed "test NAME ... ".
            println!("\n{RO_MARKER}{}", open_outcome(&PathBuf::from(dir)));
            true
        }
        None => false,
    }
}

/// A temp dir an unprivileged child can reach, with `data` inside it.
fn reachable_data_dir() -> (tempfile::TempDir, PathBuf) {
    let top = tempfile::tempdir().unwrap();
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = top.path().join("data");
    std::fs::create_dir(&data).unwrap();
    (top, data)
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn read_only_empty_data_dir_gives_a_clear_error() {
    if act_as_read_only_child() {
        return;
    }
    let (_top, data) = reachable_data_dir();
    set_mode(&data, 0o555);
    let outcome = open_outcome_unprivileged(&data, "read_only_empty_data_dir_gives_a_clear_error");
    set_mode(&data, 0o755);

    assert!(outcome.starts_with("read-only: "), "{outcome}");
    assert!(
        outcome.contains(&data.join(DB_FILE_NAME).display().to_string()),
        "{outcome}"
    );
    assert!(outcome.contains("write access"), "{outcome}");
    assert!(snapshot(&data).is_empty(), "nothing was created");
}

#[test]
fn read_only_existing_database_gives_a_clear_error_and_stays_intact() {
    if act_as_read_only_child() {
        return;
    }
    let (_top, data) = reachable_data_dir();
    make_store_with_data(&data);
    let db = data.join(DB_FILE_NAME);
    set_mode(&db, 0o444);
    set_mode(&data, 0o555);
    let before = snapshot(&data);
    let outcome = open_outcome_unprivileged(
        &data,
        "read_only_existing_database_gives_a_clear_error_and_stays_intact",
    );
    let after = snapshot(&data);
    set_mode(&data, 0o755);
    set_mode(&db, 0o644);

    assert!(outcome.starts_with("read-only: "), "{outcome}");
    assert!(outcome.contains(&db.display().to_string()), "{outcome}");
    assert_eq!(after, before);
    let store = SqliteStore::open(&data).unwrap();
    assert_eq!(
        store.get("Configuration", "web").unwrap().unwrap().version,
        1
    );
    assert!(store.check_integrity().unwrap().is_empty());
}

/// The store holds tokens and passwords: its directory is made 0700 and its files 0600,
/// also when they existed before with looser modes.
#[cfg(unix)]
#[test]
fn the_data_dir_and_database_files_are_private_whatever_existed() {
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    set_mode(&data, 0o755);
    {
        let store = SqliteStore::open(&data).unwrap();
        store
            .write_batch(&fleetdeck::store::WriteBatch {
                agents: vec![record(1, 10)],
                ..Default::default()
            })
            .unwrap();
    }
    assert_eq!(mode(&data), 0o700);
    let db = data.join(DB_FILE_NAME);
    assert_eq!(mode(&db), 0o600, "a new database");
    for f in std::fs::read_dir(&data).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f) & 0o077, 0, "{} is private", f.display());
    }

    // Loosened by hand (or by an older version): made private again on the next open.
    set_mode(&data, 0o755);
    set_mode(&db, 0o644);
    drop(SqliteStore::open(&data).unwrap());
    assert_eq!((mode(&data), mode(&db)), (0o700, 0o600));
}
