//! Round-trips through a real database for every kind of data the store keeps, on both
//! backends: a SQLite file, and a PostgreSQL database (`tests/common/pg.rs` starts the
//! server; the PostgreSQL half says SKIPPED without it, and fails under CI).

mod common;

use common::stores::Site;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleetdeck::fleet::agent::AgentId;
use fleetdeck::store::{
    AgentRecord, ApplyAttempt, ApplyOutcome, AttemptResult, ConfigRef, EventQuery, NewEvent,
    RolloutStatus, SqliteStore, Store, StoreError, StoreOptions, WriteBatch, WriteBehind,
    WriteBehindOptions,
};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn agent(n: u8, seen_ms: u64) -> AgentRecord {
    AgentRecord {
        id: AgentId([n; 16]),
        labels: labels(&[("tier", "web"), ("n", &n.to_string())]),
        assigned: Some(ConfigRef {
            name: "web-tier".into(),
            version: u64::from(n),
        }),
        description_json: Some(format!(r#"{{"host":"h{n}","os":"linux"}}"#)),
        components_json: Some(format!(r#"{{"hash":"0{n}","components":{{}}}}"#)),
        config_state_json: Some(format!(
            r#"{{"reported":{{"last_hash":"0{n}","state":"applied","error_message":""}}}}"#
        )),
        first_seen: at(seen_ms),
        last_seen: at(seen_ms + 500),
    }
}

fn event(kind: &str, agent: Option<u8>, ms: u64) -> NewEvent {
    NewEvent {
        at: at(ms),
        kind: kind.into(),
        agent: agent.map(|n| AgentId([n; 16])),
        payload_json: format!(r#"{{"ms":{ms}}}"#),
    }
}

/// Attempt `n` of agent `agent`: version `n` of `web`, assigned at `n` seconds.
fn attempt(agent: u8, n: u64, result: AttemptResult) -> ApplyAttempt {
    ApplyAttempt {
        agent: AgentId([agent; 16]),
        config: ConfigRef {
            name: "web".into(),
            version: n,
        },
        hash: [n as u8; 32],
        result,
        message: if result == AttemptResult::Failed {
            format!("attempt {n}: exporters::otlp: undefined")
        } else {
            String::new()
        },
        assigned_at: at(n * 1_000),
        finished_at: at(n * 1_000 + 250),
        rolled_back: false,
        rollback: false,
    }
}

fn attempts(batch: Vec<ApplyAttempt>) -> WriteBatch {
    WriteBatch {
        attempts: batch,
        ..WriteBatch::default()
    }
}

fn versions_grow_only_when_content_changes_and_survive_reopen(site: &Site) {
    let store = site.open();
    let env = labels(&[("env", "prod")]);

    let v1 = store
        .apply("Configuration", "web", r#"{"a": 1, "b": [1, 2]}"#, &env)
        .unwrap();
    assert_eq!(v1, ApplyOutcome::Created { version: 1 });
    assert_eq!(v1.verb(), "created");

    // Same content, other formatting and key order: no new version.
    let same = store
        .apply("Configuration", "web", "{\"b\": [1,2],\n \"a\": 1}", &env)
        .unwrap();
    assert_eq!(same, ApplyOutcome::Unchanged { version: 1 });

    let v2 = store
        .apply("Configuration", "web", r#"{"a": 2, "b": [1, 2]}"#, &env)
        .unwrap();
    assert_eq!(
        v2,
        ApplyOutcome::Configured {
            version: 2,
            previous: 1
        }
    );

    // A label change is a change too.
    let v3 = store
        .apply(
            "Configuration",
            "web",
            r#"{"a": 2, "b": [1, 2]}"#,
            &labels(&[("env", "staging")]),
        )
        .unwrap();
    assert_eq!(v3.version(), 3);

    // Same name in another kind is another resource.
    let other = store
        .apply(
            "Destination",
            "web",
            r#"{"endpoint": "x"}"#,
            &BTreeMap::new(),
        )
        .unwrap();
    assert_eq!(other, ApplyOutcome::Created { version: 1 });
    drop(store);

    let store = site.open();
    let latest = store.get("Configuration", "web").unwrap().unwrap();
    assert_eq!(latest.version, 3);
    assert_eq!(latest.spec_json, r#"{"a": 2, "b": [1, 2]}"#);
    assert_eq!(latest.labels, labels(&[("env", "staging")]));
    assert_eq!(latest.hash.len(), 64);
    assert!(latest.updated_at >= latest.created_at);

    let first = store
        .get_version("Configuration", "web", 1)
        .unwrap()
        .unwrap();
    assert_eq!(first.spec_json, r#"{"a": 1, "b": [1, 2]}"#);
    assert_eq!(first.labels, env);
    assert!(
        store
            .get_version("Configuration", "web", 4)
            .unwrap()
            .is_none()
    );

    let versions: Vec<u64> = store
        .list_versions("Configuration", "web")
        .unwrap()
        .iter()
        .map(|d| d.version)
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_ne!(
        store.list_versions("Configuration", "web").unwrap()[0].hash,
        latest.hash
    );
}

fn list_kind_returns_latest_of_each_sorted_by_name(site: &Site) {
    let store = site.open();
    let none = BTreeMap::new();
    store.apply("SourceType", "zeta", "{}", &none).unwrap();
    store
        .apply("SourceType", "alpha", r#"{"v":1}"#, &none)
        .unwrap();
    store
        .apply("SourceType", "alpha", r#"{"v":2}"#, &none)
        .unwrap();
    store.apply("ProcessorType", "batch", "{}", &none).unwrap();

    let listed: Vec<(String, u64)> = store
        .list_kind("SourceType")
        .unwrap()
        .into_iter()
        .map(|d| (d.name, d.version))
        .collect();
    assert_eq!(listed, [("alpha".to_string(), 2), ("zeta".to_string(), 1)]);
    assert!(store.list_kind("DestinationType").unwrap().is_empty());
}

fn invalid_specs_are_refused_and_change_nothing(site: &Site) {
    let store = site.open();
    let err = store
        .apply("Configuration", "web", "{not json", &BTreeMap::new())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("Configuration 'web'") && msg.contains("not valid JSON"),
        "{msg}"
    );
    assert!(store.get("Configuration", "web").unwrap().is_none());
    assert!(
        store
            .apply("Configuration", "", "{}", &BTreeMap::new())
            .is_err()
    );
}

fn delete_honours_the_guard_and_never_reuses_versions(site: &Site) {
    let store = site.open();
    let none = BTreeMap::new();
    store
        .apply("Configuration", "web", r#"{"v":1}"#, &none)
        .unwrap();
    store
        .apply("Configuration", "web", r#"{"v":2}"#, &none)
        .unwrap();

    let err = store
        .delete("Configuration", "web", &|doc| {
            Err(format!("version {} is assigned to 3 agents", doc.version))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }));
    assert!(
        err.to_string()
            .contains("version 2 is assigned to 3 agents"),
        "{err}"
    );
    assert_eq!(
        store.list_versions("Configuration", "web").unwrap().len(),
        2
    );

    let gone = store.delete("Configuration", "web", &|_| Ok(())).unwrap();
    assert_eq!(gone.version, 2);
    assert!(store.get("Configuration", "web").unwrap().is_none());
    assert!(
        store
            .get_version("Configuration", "web", 1)
            .unwrap()
            .is_none()
    );
    assert!(store.list_kind("Configuration").unwrap().is_empty());

    let missing = store
        .delete("Configuration", "web", &|_| Ok(()))
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");

    // Re-created after a delete: "created", but version 3 so (name, version) stays unique.
    let again = store
        .apply("Configuration", "web", r#"{"v":1}"#, &none)
        .unwrap();
    assert_eq!(again, ApplyOutcome::Created { version: 3 });
    assert_eq!(
        store.list_versions("Configuration", "web").unwrap().len(),
        1
    );
}

fn agent_records_round_trip_and_upsert_keeps_first_seen(site: &Site) {
    let store = site.open();
    let mut records: Vec<AgentRecord> = (1..=5).map(|n| agent(n, 1_000)).collect();
    records[4].assigned = None;
    records[4].description_json = None;
    store.write_agents(&records).unwrap();

    // A later heartbeat batch: new labels and last_seen, an older first_seen is not taken.
    let mut update = agent(2, 9_000);
    update.labels = labels(&[("tier", "db")]);
    store.write_agents(&[update.clone()]).unwrap();
    drop(store);

    let store = site.open();
    let loaded = store.load_agents().unwrap();
    assert_eq!(loaded.len(), 5);
    assert_eq!(loaded[0], records[0]);
    assert_eq!(loaded[4], records[4]);
    let two = store.get_agent(&AgentId([2; 16])).unwrap().unwrap();
    assert_eq!(two.labels, labels(&[("tier", "db")]));
    assert_eq!(two.first_seen, at(1_000));
    assert_eq!(two.last_seen, at(9_500));

    assert_eq!(
        store
            .delete_agents(&[AgentId([1; 16]), AgentId([99; 16])])
            .unwrap(),
        1
    );
    assert!(store.get_agent(&AgentId([1; 16])).unwrap().is_none());
    assert_eq!(store.load_agents().unwrap().len(), 4);
}

fn apply_history_keeps_the_newest_50_per_agent_and_goes_with_a_forgotten_agent(site: &Site) {
    let store = site.open();
    // Agent 1: 60 attempts over three batches (one of 30 at once); agent 2: three.
    for range in [1..=20u64, 21..=50, 51..=60] {
        let batch = range
            .map(|n| attempt(1, n, AttemptResult::Applied))
            .collect();
        store.write_batch(&attempts(batch)).unwrap();
    }
    let two: Vec<ApplyAttempt> = (1..=3)
        .map(|n| attempt(2, n, AttemptResult::Failed))
        .collect();
    store.write_batch(&attempts(two.clone())).unwrap();
    // A later word about an attempt replaces its row: attempt 60 rolled back.
    let undone = ApplyAttempt {
        rolled_back: true,
        ..attempt(1, 60, AttemptResult::Failed)
    };
    store.write_batch(&attempts(vec![undone.clone()])).unwrap();
    drop(store);

    let store = site.open();
    let one = store.agent_history(&AgentId([1; 16]), 100).unwrap();
    assert_eq!(one.len(), 50, "the newest 50 are kept");
    assert_eq!(one[0], undone, "newest first, as written last");
    let versions: Vec<u64> = one.iter().map(|a| a.config.version).collect();
    assert_eq!(versions, (11..=60).rev().collect::<Vec<_>>());
    assert_eq!(one[1], attempt(1, 59, AttemptResult::Applied));
    let newest_two = store.agent_history(&AgentId([2; 16]), 2).unwrap();
    assert_eq!(newest_two, [two[2].clone(), two[1].clone()], "with a limit");
    assert!(
        store
            .agent_history(&AgentId([3; 16]), 50)
            .unwrap()
            .is_empty(),
        "an agent never sent anything"
    );

    // Forgetting an agent takes its history; the other's stays.
    store.write_agents(&[agent(1, 1_000)]).unwrap();
    assert_eq!(store.delete_agents(&[AgentId([1; 16])]).unwrap(), 1);
    assert!(
        store
            .agent_history(&AgentId([1; 16]), 100)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.agent_history(&AgentId([2; 16]), 100).unwrap().len(),
        3
    );
    store
        .write_batch(&WriteBatch {
            forget: vec![AgentId([2; 16])],
            forget_history: vec![AgentId([2; 16])],
            ..WriteBatch::default()
        })
        .unwrap();
    assert!(
        store
            .agent_history(&AgentId([2; 16]), 100)
            .unwrap()
            .is_empty()
    );
}

fn the_history_cap_is_the_stores_to_choose(site: &Site) {
    let options = StoreOptions {
        attempts_per_agent: 3,
        ..StoreOptions::default()
    };
    let store = site.open_with(options);
    for n in 1..=5 {
        store
            .write_batch(&attempts(vec![attempt(1, n, AttemptResult::Stalled)]))
            .unwrap();
    }
    let kept: Vec<u64> = store
        .agent_history(&AgentId([1; 16]), 10)
        .unwrap()
        .iter()
        .map(|a| a.config.version)
        .collect();
    assert_eq!(kept, [5, 4, 3]);
}

fn rollouts_update_atomically_and_unfinished_ones_are_listed(site: &Site) {
    let store = site.open();
    assert_eq!(
        store
            .put_rollout("web", RolloutStatus::Running, r#"{"phase":1}"#)
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .put_rollout("web", RolloutStatus::Paused, r#"{"phase":2}"#)
            .unwrap(),
        2
    );
    store
        .put_rollout("db", RolloutStatus::Completed, r#"{"phase":3}"#)
        .unwrap();
    store
        .put_rollout("cache", RolloutStatus::Halted, r#"{"failed":["a"]}"#)
        .unwrap();
    let bad = store.put_rollout("web", RolloutStatus::Running, "{oops");
    assert!(bad.is_err());
    drop(store);

    let store = site.open();
    let web = store.get_rollout("web").unwrap().unwrap();
    assert_eq!(web.status, RolloutStatus::Paused);
    assert_eq!(web.state_json, r#"{"phase":2}"#);
    assert_eq!(web.revision, 2);

    let unfinished: Vec<(String, RolloutStatus)> = store
        .list_unfinished_rollouts()
        .unwrap()
        .into_iter()
        .map(|r| (r.config_name, r.status))
        .collect();
    assert_eq!(
        unfinished,
        [
            ("cache".to_string(), RolloutStatus::Halted),
            ("web".to_string(), RolloutStatus::Paused)
        ]
    );

    store
        .put_rollout("web", RolloutStatus::Completed, r#"{"phase":9}"#)
        .unwrap();
    assert_eq!(store.list_unfinished_rollouts().unwrap().len(), 1);
    assert!(store.delete_rollout("cache").unwrap());
    assert!(!store.delete_rollout("cache").unwrap());
    assert!(store.list_unfinished_rollouts().unwrap().is_empty());
}

fn events_are_queried_newest_first_and_capped(site: &Site) {
    let options = StoreOptions {
        event_retention: 10,
        ..StoreOptions::default()
    };
    let store = site.open_with(options.clone());
    let batch: Vec<NewEvent> = (0..8)
        .map(|i| event("config_sent", Some((i % 2) as u8), 1_000 + i))
        .collect();
    store.append_events(&batch).unwrap();
    store
        .append_events(&[event("rollout_started", None, 2_000)])
        .unwrap();

    let newest = store.query_events(&EventQuery::newest(3)).unwrap();
    let kinds: Vec<(&str, u64)> = newest
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("rollout_started", 2_000),
            ("config_sent", 1_007),
            ("config_sent", 1_006)
        ]
    );
    assert_eq!(newest[0].agent, None);
    assert_eq!(newest[1].agent, Some(AgentId([1; 16])));
    assert_eq!(newest[1].payload_json, r#"{"ms":1007}"#);
    assert!(newest[0].seq > newest[1].seq);

    let since = store
        .query_events(&EventQuery::since(at(1_005), 100))
        .unwrap();
    assert_eq!(since.len(), 4);
    let for_agent = store
        .query_events(&EventQuery::newest(100).for_agent(AgentId([0; 16])))
        .unwrap();
    assert_eq!(for_agent.len(), 4);
    assert!(for_agent.iter().all(|e| e.agent == Some(AgentId([0; 16]))));

    // Retention: 9 + 5 = 14 appended, the newest 10 are kept.
    let more: Vec<NewEvent> = (0..5)
        .map(|i| event("config_applied", None, 3_000 + i))
        .collect();
    store.append_events(&more).unwrap();
    drop(store);
    let store = site.open_with(options);
    let all = store.query_events(&EventQuery::newest(100)).unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all.last().unwrap().payload_json, r#"{"ms":1004}"#);
}

async fn async_handle_round_trips(site: &Site) {
    let store = site.handle().await;
    let outcome = store
        .apply("Configuration", "web", r#"{"x":1}"#, BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(outcome, ApplyOutcome::Created { version: 1 });
    assert_eq!(
        store
            .get("Configuration", "web")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    assert_eq!(store.list_kind("Configuration").await.unwrap().len(), 1);
    store.write_agents(vec![agent(7, 5)]).await.unwrap();
    assert_eq!(store.load_agents().await.unwrap(), vec![agent(7, 5)]);
    store
        .put_rollout("web", RolloutStatus::Running, "{}")
        .await
        .unwrap();
    assert_eq!(store.list_unfinished_rollouts().await.unwrap().len(), 1);
    let err = store
        .delete("Configuration", "web", |_| Err("assigned".to_string()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }));
    store
        .delete("Configuration", "web", |_| Ok(()))
        .await
        .unwrap();
    assert!(store.get("Configuration", "web").await.unwrap().is_none());
}

/// A write-behind that only writes when the test flushes it.
fn flushed_by_hand(store: &Store) -> WriteBehind {
    WriteBehind::spawn(
        store.clone(),
        WriteBehindOptions {
            // Long enough that only explicit flushes write during the test.
            interval: Duration::from_secs(3600),
            ..WriteBehindOptions::default()
        },
    )
}

async fn write_behind_coalesces_heartbeats_into_batches(site: &Site) {
    let store = site.handle().await;
    let writer = flushed_by_hand(&store);

    // 100 heartbeats from each of 3 agents become 3 rows in one flush.
    for beat in 0..100u64 {
        for n in 1..=3u8 {
            let mut rec = agent(n, 1_000);
            rec.last_seen = at(2_000 + beat);
            writer.agent(rec);
        }
    }
    writer.event(event("config_sent", Some(1), 10));
    assert!(
        store.load_agents().await.unwrap().is_empty(),
        "written behind, not at once"
    );

    let stats = writer.flush().await.unwrap();
    assert_eq!((stats.agents, stats.events), (3, 1));
    let loaded = store.load_agents().await.unwrap();
    assert_eq!(loaded.len(), 3);
    assert_eq!(loaded[0].last_seen, at(2_099), "the latest heartbeat wins");
    assert_eq!(loaded[0].first_seen, at(1_000));

    writer.agent(agent(4, 7));
    let closed = writer.close().await.unwrap();
    assert_eq!(closed.agents, 1);
    assert_eq!(store.load_agents().await.unwrap().len(), 4);
    assert_eq!(
        store
            .query_events(EventQuery::newest(10))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// A new assignment is written without the agent's description (10,000 of them for a
/// push): the description stored, or still waiting to be written, stays.
async fn a_record_without_a_description_keeps_the_one_stored_or_waiting(site: &Site) {
    // The component listing, stored beside the description, is kept the same way.
    let store = site.handle().await;
    let writer = flushed_by_hand(&store);
    let reassigned = |n: u8, version: u64| AgentRecord {
        assigned: Some(ConfigRef {
            name: "db-tier".into(),
            version,
        }),
        description_json: None,
        components_json: None,
        config_state_json: None,
        ..agent(n, 1_000)
    };

    // Stored first, then reassigned.
    writer.agent(agent(1, 1_000));
    writer.flush().await.unwrap();
    writer.agent(reassigned(1, 7));
    // Both waiting in the same batch.
    writer.agent(agent(2, 1_000));
    writer.agent(reassigned(2, 8));
    writer.flush().await.unwrap();

    for (n, version) in [(1u8, 7), (2, 8)] {
        let got = store.get_agent(AgentId([n; 16])).await.unwrap().unwrap();
        assert_eq!(got.description_json, agent(n, 1_000).description_json);
        assert_eq!(got.components_json, agent(n, 1_000).components_json);
        assert_eq!(
            got.config_state_json, None,
            "the configuration state is always the one written last"
        );
        assert_eq!(
            got.assigned.map(|c| (c.name, c.version)),
            Some(("db-tier".into(), version))
        );
    }

    // A record with a description still replaces it.
    let mut renamed = agent(1, 1_000);
    renamed.description_json = Some(r#"{"host":"renamed"}"#.into());
    writer.agent(renamed.clone());
    writer.flush().await.unwrap();
    let got = store.get_agent(AgentId([1; 16])).await.unwrap().unwrap();
    assert_eq!(got.description_json, renamed.description_json);
}

async fn write_behind_keeps_the_latest_word_on_each_attempt_and_forgets_with_the_agent(
    site: &Site,
) {
    let store = site.handle().await;
    let writer = flushed_by_hand(&store);
    let one = AgentId([1; 16]);

    // Stalled, then a late answer: one attempt, as it stands last.
    writer.attempt(attempt(1, 1, AttemptResult::Stalled));
    writer.attempt(attempt(1, 1, AttemptResult::Applied));
    writer.attempt(attempt(1, 2, AttemptResult::Failed));
    writer.agent(agent(1, 1_000));
    let stats = writer.flush().await.unwrap();
    assert_eq!((stats.agents, stats.attempts), (1, 2));
    let history = store.agent_history(one, 10).await.unwrap();
    assert_eq!(
        history,
        [
            attempt(1, 2, AttemptResult::Failed),
            attempt(1, 1, AttemptResult::Applied)
        ]
    );

    // Forgotten with an attempt still waiting: the stored and the waiting one go.
    writer.attempt(attempt(1, 3, AttemptResult::Applied));
    writer.forget(one);
    // Back since (same uid): what it does from now on is kept.
    writer.agent(agent(1, 9_000));
    writer.attempt(attempt(1, 4, AttemptResult::Applied));
    writer.flush().await.unwrap();
    assert_eq!(
        store.agent_history(one, 10).await.unwrap(),
        [attempt(1, 4, AttemptResult::Applied)]
    );
    writer.close().await.unwrap();
}

async fn write_behind_flushes_on_its_own(site: &Site) {
    let store = site.handle().await;
    let writer = WriteBehind::spawn(
        store.clone(),
        WriteBehindOptions {
            interval: Duration::from_millis(50),
            ..WriteBehindOptions::default()
        },
    );
    writer.agent(agent(9, 1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.load_agents().await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never flushed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_behind_keeps_records_when_a_flush_fails() {
    let dir = tempfile::tempdir().unwrap();
    // Small size cap: the first big flush fails with "full", nothing is lost from memory.
    let sqlite = SqliteStore::open_with(
        dir.path(),
        StoreOptions {
            max_db_bytes: Some(256 * 1024),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let store = Store::from_backend(std::sync::Arc::new(sqlite));
    let writer = flushed_by_hand(&store);
    let big = "x".repeat(4_000);
    for i in 0..200u32 {
        let mut rec = agent(1, 1);
        rec.id = AgentId(uuid_bytes(i));
        rec.description_json = Some(format!(r#"{{"pad":"{big}"}}"#));
        writer.agent(rec);
    }
    let err = writer.flush().await.unwrap_err();
    assert!(matches!(err, StoreError::Full { .. }), "{err}");
    assert!(store.load_agents().await.unwrap().is_empty());

    // The records are still waiting: had they been dropped, this flush would have had
    // nothing to write and succeeded.
    let again = writer.flush().await.unwrap_err();
    assert!(matches!(again, StoreError::Full { .. }), "{again}");
}

fn uuid_bytes(i: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&i.to_be_bytes());
    b
}

both_backends!(
    sync: versions_grow_only_when_content_changes_and_survive_reopen,
    list_kind_returns_latest_of_each_sorted_by_name,
    invalid_specs_are_refused_and_change_nothing,
    delete_honours_the_guard_and_never_reuses_versions,
    agent_records_round_trip_and_upsert_keeps_first_seen,
    apply_history_keeps_the_newest_50_per_agent_and_goes_with_a_forgotten_agent,
    the_history_cap_is_the_stores_to_choose,
    rollouts_update_atomically_and_unfinished_ones_are_listed,
    events_are_queried_newest_first_and_capped;
    async: async_handle_round_trips,
    write_behind_coalesces_heartbeats_into_batches,
    write_behind_keeps_the_latest_word_on_each_attempt_and_forgets_with_the_agent,
    write_behind_flushes_on_its_own,
    a_record_without_a_description_keeps_the_one_stored_or_waiting
);
