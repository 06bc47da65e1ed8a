//! What only the PostgreSQL backend has to promise: replicas on one database writing at
//! once, a database that is not fleetdeck's or is newer, an unreachable server, and a
//! password that never shows. Against a real PostgreSQL (`tests/common/pg.rs`); SKIPPED
//! without it, failing under CI.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use fleetdeck::fleet::agent::AgentId;
use fleetdeck::store::{
    AgentRecord, ApplyOutcome, PG_SCHEMA_VERSION, PgStore, Store, StoreBackend, StoreError,
    StoreOptions, WriteBatch,
};

fn admin(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("connects")
}

#[test]
fn the_location_never_shows_the_password() {
    let Some(url) = common::pg::database() else {
        return;
    };
    let store = PgStore::open(&common::pg::with_password(&url, "hunter2")).unwrap();
    let shown = store.location();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert_eq!(shown, url, "user, host, port and database are shown");
    assert!(!format!("{store:?}").contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_named_without_its_password() {
    let port = common::headless::free_port();
    let url = format!("postgres://fleet:hunter2@127.0.0.1:{port}/fleet");
    let err = Store::open_selected(Some(&url), "/nonexistent", StoreOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{text}");
    assert!(
        text.contains(&format!("postgres://fleet@127.0.0.1:{port}/fleet")),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "says why: {text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_url_that_is_not_postgres_is_refused_by_name() {
    let err = Store::open_selected(
        Some("mysql://root:hunter2@db/fleet"),
        "/nonexistent",
        StoreOptions::default(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("mysql://root:***@db/fleet"), "{text}");
    assert!(text.contains("postgres://"), "says what it takes: {text}");
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let Some(url) = common::pg::database() else {
        return;
    };
    PgStore::open(&url)
        .unwrap()
        .apply("Configuration", "web", r#"{"x":1}"#, &BTreeMap::new())
        .unwrap();
    let newer = PG_SCHEMA_VERSION + 1;
    admin(&url)
        .execute("UPDATE fleetdeck_schema SET version = $1", &[&newer])
        .unwrap();
    let err = PgStore::open(&url).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::NewerSchemaIn { found, .. } if found == newer),
        "{text}"
    );
    assert!(text.contains("run a newer fleetdeck"), "{text}");
    let mut db = admin(&url);
    let version: i64 = db
        .query_one("SELECT version FROM fleetdeck_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, newer);
    let kept: i64 = db
        .query_one("SELECT count(*) FROM resource_versions", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
}

#[test]
fn another_programs_tables_are_refused_and_left_untouched() {
    let Some(url) = common::pg::database() else {
        return;
    };
    admin(&url)
        .batch_execute("CREATE TABLE agents (name TEXT); INSERT INTO agents VALUES ('bob');")
        .unwrap();
    let err = PgStore::open(&url).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::ForeignTables { .. }), "{text}");
    assert!(text.contains("agents"), "{text}");
    let mut db = admin(&url);
    let ours: bool = db
        .query_one("SELECT to_regclass('fleetdeck_schema') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(!ours, "nothing of ours was created");
    let bob: String = db.query_one("SELECT name FROM agents", &[]).unwrap().get(0);
    assert_eq!(bob, "bob");
}

/// Replicas starting together migrate once; replicas applying one name at once make
/// versions 1..n, each once.
#[test]
fn replicas_applying_the_same_name_never_share_a_version() {
    let Some(url) = common::pg::database() else {
        return;
    };
    let replicas: Vec<Arc<PgStore>> = std::thread::scope(|s| {
        let opening: Vec<_> = (0..4)
            .map(|_| s.spawn(|| Arc::new(PgStore::open(&url).unwrap())))
            .collect();
        opening.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let outcomes: Vec<ApplyOutcome> = std::thread::scope(|s| {
        let writers: Vec<_> = replicas
            .iter()
            .enumerate()
            .map(|(r, store)| {
                s.spawn(move || {
                    (0..10)
                        .map(|i| {
                            store
                                .apply(
                                    "Configuration",
                                    "web",
                                    &format!(r#"{{"replica":{r},"n":{i}}}"#),
                                    &BTreeMap::new(),
                                )
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    let versions: BTreeSet<u64> = outcomes.iter().map(|o| o.version()).collect();
    assert_eq!(versions, (1..=40).collect(), "{outcomes:?}");
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, ApplyOutcome::Created { .. }))
        .count();
    assert_eq!(created, 1);
    let stored = replicas[0].list_versions("Configuration", "web").unwrap();
    assert_eq!(stored.len(), 40);
}

fn record(i: u16, replica: u8) -> AgentRecord {
    let mut id = [0u8; 16];
    id[..2].copy_from_slice(&i.to_be_bytes());
    AgentRecord {
        id: AgentId(id),
        labels: BTreeMap::from([("replica".to_string(), replica.to_string())]),
        assigned: None,
        description_json: Some(format!(r#"{{"host":"h{i}"}}"#)),
        components_json: None,
        config_state_json: None,
        first_seen: UNIX_EPOCH + Duration::from_secs(u64::from(replica) + 1),
        last_seen: UNIX_EPOCH + Duration::from_secs(100 + u64::from(replica)),
    }
}

/// Two replicas flushing overlapping agents, in opposite orders, at once: no deadlock,
/// and every agent keeps its earliest first sighting and its latest.
#[test]
fn replicas_writing_the_same_agents_at_once_neither_deadlock_nor_lose_sightings() {
    let Some(url) = common::pg::database() else {
        return;
    };
    let a = PgStore::open(&url).unwrap();
    let b = PgStore::open(&url).unwrap();
    std::thread::scope(|s| {
        for (store, replica) in [(&a, 0u8), (&b, 1u8)] {
            s.spawn(move || {
                for _ in 0..20 {
                    let mut agents: Vec<AgentRecord> =
                        (0..500).map(|i| record(i, replica)).collect();
                    if replica == 1 {
                        agents.reverse();
                    }
                    store
                        .write_batch(&WriteBatch {
                            agents,
                            ..WriteBatch::default()
                        })
                        .unwrap();
                }
            });
        }
    });
    let agents = a.load_agents().unwrap();
    assert_eq!(agents.len(), 500);
    for agent in agents {
        assert_eq!(agent.first_seen, UNIX_EPOCH + Duration::from_secs(1));
        assert_eq!(agent.last_seen, UNIX_EPOCH + Duration::from_secs(101));
    }
}
