//! `kill -9` in the middle of writing: the database must reopen (the SQLite file passing
//! SQLite's integrity check) and hold every batch the writer saw committed — each one
//! whole. On both backends: for PostgreSQL the writer is the client killed mid-transaction.
//!
//! The writer is this test binary re-run on this one test with an environment variable
//! set; it writes batches in a loop and prints each batch number once committed. The
//! parent SIGKILLs it at varying moments, several rounds on the same database.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fleetdeck::fleet::agent::AgentId;
use fleetdeck::store::{
    AgentRecord, ApplyAttempt, AttemptResult, ConfigRef, EventQuery, NewEvent, PgStore,
    RolloutStatus, SqliteStore, StoreBackend, WriteBatch,
};

mod common;

const CHILD_DIR_ENV: &str = "FLEETDECK_STORE_CRASH_DIR";
const CHILD_ROUND_ENV: &str = "FLEETDECK_STORE_CRASH_ROUND";
/// Set (to the database URL) when the writer is to write to PostgreSQL.
const CHILD_URL_ENV: &str = "FLEETDECK_STORE_CRASH_URL";
const TEST_NAME: &str = "survives_kill_9_during_batch_writes";
const PG_TEST_NAME: &str = "survives_kill_9_during_batch_writes_on_postgres";
const AGENTS_PER_BATCH: u8 = 250;
/// Milliseconds to wait after a commit before killing, per round, so kills land at
/// different points of the next transaction.
const KILL_DELAYS_MS: [u64; 6] = [0, 2, 5, 9, 1, 14];

fn batch_tag(round: u32, batch: u32) -> String {
    format!("{round}-{batch}")
}

/// Every batch rewrites the same agents with its tag, adds an apply attempt per agent
/// (which drops the oldest past 50) and one event naming it, makes a new configuration
/// version and moves the rollout on — all in what the store promises are atomic writes.
fn write_one_batch(store: &dyn StoreBackend, round: u32, batch: u32) {
    let tag = batch_tag(round, batch);
    let now = SystemTime::now();
    let agents = (0..AGENTS_PER_BATCH)
        .map(|i| AgentRecord {
            id: AgentId([i; 16]),
            labels: BTreeMap::from([("batch".to_string(), tag.clone())]),
            assigned: Some(ConfigRef {
                name: "crash".into(),
                version: u64::from(batch),
            }),
            description_json: Some(format!(r#"{{"pad":"{}"}}"#, "d".repeat(800))),
            components_json: None,
            config_state_json: None,
            first_seen: now,
            last_seen: now,
        })
        .collect();
    let events = vec![NewEvent {
        at: now,
        kind: "batch".into(),
        agent: None,
        payload_json: format!(r#"{{"round":{round},"batch":{batch}}}"#),
    }];
    // Later for every batch of every round: one attempt each, never a rewrite.
    let assigned_at = SystemTime::UNIX_EPOCH
        + Duration::from_millis(u64::from(round) * 1_000_000 + u64::from(batch));
    let attempts = (0..AGENTS_PER_BATCH)
        .map(|i| ApplyAttempt {
            agent: AgentId([i; 16]),
            config: ConfigRef {
                name: "crash".into(),
                version: u64::from(batch),
            },
            hash: [i; 32],
            result: AttemptResult::Applied,
            message: tag.clone(),
            assigned_at,
            finished_at: assigned_at,
            rolled_back: false,
            rollback: false,
        })
        .collect();
    store
        .write_batch(&WriteBatch {
            agents,
            events,
            attempts,
            ..WriteBatch::default()
        })
        .unwrap();
    store
        .apply(
            "Configuration",
            "crash",
            &format!(r#"{{"tag":"{tag}"}}"#),
            &BTreeMap::new(),
        )
        .unwrap();
    store
        .put_rollout(
            "crash",
            RolloutStatus::Running,
            &format!(r#"{{"tag":"{tag}"}}"#),
        )
        .unwrap();
}

/// The child: write until killed (or, should the parent vanish, for at most a minute).
fn run_writer(store: &dyn StoreBackend, round: u32) {
    let started = Instant::now();
    let mut out = std::io::stdout();
    let _ = writeln!(out);
    for batch in 0.. {
        write_one_batch(store, round, batch);
        // Printing fails once the parent is gone; then stop.
        if writeln!(out, "committed {batch}")
            .and_then(|_| out.flush())
            .is_err()
            || started.elapsed() > Duration::from_secs(60)
        {
            return;
        }
    }
}

/// Run one writer round; returns the last batch it reported committed.
fn crash_round(
    dir: &Path,
    url: Option<&str>,
    round: u32,
    batches_before_kill: u32,
    delay: Duration,
) -> u32 {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    match url {
        None => cmd.arg(TEST_NAME),
        Some(url) => cmd.arg(PG_TEST_NAME).env(CHILD_URL_ENV, url),
    };
    let mut child = cmd
        .args(["--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last = None;
    let mut killed = false;
    // Lines printed before the kill are still in the pipe: read to the end so `last`
    // is the last batch the writer saw committed.
    for line in BufReader::new(stdout).lines() {
        let Some(n) = line.unwrap().strip_prefix("committed ").map(str::to_owned) else {
            continue;
        };
        let n: u32 = n.trim().parse().unwrap();
        last = Some(n);
        if !killed && n + 1 >= batches_before_kill {
            std::thread::sleep(delay);
            // std's kill() is SIGKILL on Unix: no destructors, no checkpoint.
            child.kill().unwrap();
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the writer was killed, not finished");
    last.expect("the writer committed nothing before being killed")
}

fn check_after_crash(store: &dyn StoreBackend, round: u32, last_reported: u32) {
    // Batches of this round found in the event history: 0..=m without gaps, m being
    // the last reported batch or the one after (committed, killed before printing).
    let mut batches: Vec<u32> = store
        .query_events(&EventQuery::newest(100_000))
        .unwrap()
        .into_iter()
        .filter_map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.payload_json).unwrap();
            (v["round"] == round).then(|| v["batch"].as_u64().unwrap() as u32)
        })
        .collect();
    batches.sort_unstable();
    let newest = *batches.last().unwrap();
    assert_eq!(batches, (0..=newest).collect::<Vec<_>>(), "round {round}");
    assert!(
        newest == last_reported || newest == last_reported + 1,
        "round {round}: reported {last_reported}, found {newest}"
    );

    // Atomicity: every agent carries the newest batch's tag, never a mix.
    let tag = batch_tag(round, newest);
    let agents = store.load_agents().unwrap();
    assert_eq!(agents.len(), usize::from(AGENTS_PER_BATCH));
    for a in &agents {
        assert_eq!(a.labels["batch"], tag, "agent {} in round {round}", a.id);
        let history = store.agent_history(&a.id, 100).unwrap();
        assert_eq!(history[0].message, tag, "newest attempt of agent {}", a.id);
        assert!(history.len() <= 50, "{} attempts kept", history.len());
    }

    // The configuration and rollout writes after the batch are each whole too.
    let config = store.get("Configuration", "crash").unwrap().unwrap();
    let rollout = store.get_rollout("crash").unwrap().unwrap();
    for (what, json) in [
        ("config", &config.spec_json),
        ("rollout", &rollout.state_json),
    ] {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let found = v["tag"].as_str().unwrap();
        let ok = found == tag || found == batch_tag(round, newest.saturating_sub(1));
        assert!(ok || newest == 0, "{what} tag {found}, batch {tag}");
    }
    let versions = store.list_versions("Configuration", "crash").unwrap();
    let numbers: Vec<u64> = versions.iter().map(|d| d.version).collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
}

/// The child's part: write until killed, if this process is the writer.
fn writer_child() -> bool {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return false;
    };
    let round = std::env::var(CHILD_ROUND_ENV).unwrap().parse().unwrap();
    match std::env::var(CHILD_URL_ENV) {
        Ok(url) => run_writer(&PgStore::open(&url).unwrap(), round),
        Err(_) => run_writer(&SqliteStore::open(PathBuf::from(dir)).unwrap(), round),
    }
    true
}

#[test]
fn survives_kill_9_during_batch_writes() {
    if writer_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (round, delay) in KILL_DELAYS_MS.iter().enumerate() {
        let round = round as u32;
        let last = crash_round(
            dir.path(),
            None,
            round,
            3 + round,
            Duration::from_millis(*delay),
        );
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store.check_integrity().unwrap(),
            Vec::<String>::new(),
            "integrity after round {round}"
        );
        check_after_crash(&store, round, last);
    }
}

#[test]
fn survives_kill_9_during_batch_writes_on_postgres() {
    if writer_child() {
        return;
    }
    let Some(url) = common::pg::database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (round, delay) in KILL_DELAYS_MS.iter().enumerate() {
        let round = round as u32;
        let last = crash_round(
            dir.path(),
            Some(&url),
            round,
            3 + round,
            Duration::from_millis(*delay),
        );
        check_after_crash(&PgStore::open(&url).unwrap(), round, last);
    }
}
