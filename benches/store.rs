//! Store figures: one batch of 10,000 agent records (first write and update), the
//! startup load of 100,000 records, and the operator's calls (apply a new version, get
//! one, list 100 configurations) — on the SQLite file, and on PostgreSQL too when
//! `FLEETDECK_BENCH_PG` names an empty database.
//!
//! Run: `cargo bench --bench store`
//! (`FLEETDECK_BENCH_PG=postgres://user@127.0.0.1:5432/bench cargo bench --bench store`)

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use fleetdeck::fleet::agent::AgentId;
use fleetdeck::store::{AgentRecord, ConfigRef, PgStore, SqliteStore, StoreBackend};

/// A record shaped like a real collector's: a handful of labels, an assigned
/// configuration and a description of roughly 600 bytes of JSON.
fn record(i: u32, seen: SystemTime) -> AgentRecord {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&i.to_be_bytes());
    id[4..8].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
    let description = format!(
        concat!(
            r#"{{"identifying":{{"service.name":"otelcol-contrib","service.version":"0.139.0","#,
            r#""service.instance.id":"{id}"}},"non_identifying":{{"host.name":"node-{i}.prod.example.net","#,
            r#""os.type":"linux","os.description":"Ubuntu 24.04.1 LTS","host.arch":"amd64","#,
            r#""k8s.namespace.name":"observability","k8s.pod.name":"otelcol-{i}-7d9f8b6c5-x2x9z","#,
            r#""cloud.region":"eu-central-1","cloud.availability_zone":"eu-central-1b"}},"#,
            r#""capabilities":["reports_status","accepts_remote_config","reports_effective_config","#,
            r#""reports_health","reports_own_metrics"]}}"#
        ),
        id = AgentId(id),
        i = i
    );
    AgentRecord {
        id: AgentId(id),
        labels: BTreeMap::from([
            ("env".to_string(), "prod".to_string()),
            (
                "tier".to_string(),
                ["web", "db", "cache"][i as usize % 3].to_string(),
            ),
            ("team".to_string(), "platform".to_string()),
        ]),
        assigned: Some(ConfigRef {
            name: "web-tier".into(),
            version: 3,
        }),
        description_json: Some(description),
        components_json: None,
        config_state_json: None,
        first_seen: seen,
        last_seen: seen,
    }
}

fn records(n: u32) -> Vec<AgentRecord> {
    let now = SystemTime::now();
    (0..n).map(|i| record(i, now)).collect()
}

fn write_10k(c: &mut Criterion) {
    let batch = records(10_000);
    let mut group = c.benchmark_group("store");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));

    group.bench_function("write_agents 10k new", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store = SqliteStore::open(dir.path()).unwrap();
                (dir, store)
            },
            |(dir, store)| {
                store.write_agents(black_box(&batch)).unwrap();
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.write_agents(&batch).unwrap();
    group.bench_function("write_agents 10k update", |b| {
        b.iter(|| store.write_agents(black_box(&batch)).unwrap())
    });
    group.finish();
}

fn load_100k(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    for chunk in records(100_000).chunks(10_000) {
        store.write_agents(chunk).unwrap();
    }
    let size = std::fs::metadata(store.path())
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(store.path().with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    eprintln!(
        "100k agent records: database {:.1} MiB",
        size as f64 / 1_048_576.0
    );

    let mut group = c.benchmark_group("store");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("load_agents 100k", |b| {
        b.iter(|| {
            let loaded = store.load_agents().unwrap();
            assert_eq!(loaded.len(), 100_000);
            black_box(loaded)
        })
    });
    group.finish();
}

/// The PostgreSQL database to measure too, if one is given.
fn postgres() -> Option<PgStore> {
    let url = std::env::var("FLEETDECK_BENCH_PG").ok()?;
    Some(PgStore::open(&url).expect("FLEETDECK_BENCH_PG opens"))
}

fn postgres_agents(c: &mut Criterion) {
    let Some(store) = postgres() else {
        return;
    };
    let batch = records(10_000);
    let ids: Vec<AgentId> = batch.iter().map(|r| r.id).collect();
    let mut group = c.benchmark_group("store postgres");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("write_agents 10k new", |b| {
        b.iter_batched(
            || {
                store.delete_agents(&ids).unwrap();
            },
            |()| store.write_agents(black_box(&batch)).unwrap(),
            BatchSize::PerIteration,
        )
    });
    store.write_agents(&batch).unwrap();
    group.bench_function("write_agents 10k update", |b| {
        b.iter(|| store.write_agents(black_box(&batch)).unwrap())
    });
    for chunk in records(100_000).chunks(10_000) {
        store.write_agents(chunk).unwrap();
    }
    group.bench_function("load_agents 100k", |b| {
        b.iter(|| {
            let loaded = store.load_agents().unwrap();
            assert_eq!(loaded.len(), 100_000);
            black_box(loaded)
        })
    });
    group.finish();
}

/// What an operator's `apply`, `get` and a list of configurations cost.
fn operations(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut stores: Vec<(&str, Box<dyn StoreBackend>)> =
        vec![("sqlite", Box::new(SqliteStore::open(dir.path()).unwrap()))];
    if let Some(pg) = postgres() {
        stores.push(("postgres", Box::new(pg)));
    }
    let spec = |n: u64| {
        format!(
            r#"{{"sources":[{{"type":"hostmetrics","parameters":{{"collection_interval":{n}}}}}],"destinations":[{{"name":"central"}}]}}"#
        )
    };
    let none = BTreeMap::new();
    let mut group = c.benchmark_group("store ops");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for (name, store) in &stores {
        for i in 0..100 {
            store
                .apply("Configuration", &format!("cfg-{i:03}"), &spec(1), &none)
                .unwrap();
        }
        let mut n = 1;
        group.bench_function(format!("{name}: apply a new version"), |b| {
            b.iter(|| {
                n += 1;
                store
                    .apply("Configuration", "cfg-000", &spec(n), &none)
                    .unwrap()
            })
        });
        group.bench_function(format!("{name}: get latest"), |b| {
            b.iter(|| store.get("Configuration", "cfg-050").unwrap())
        });
        group.bench_function(format!("{name}: list 100 configurations"), |b| {
            b.iter(|| {
                let all = store.list_kind("Configuration").unwrap();
                assert_eq!(all.len(), 100);
                all
            })
        });
    }
    group.finish();
}

criterion_group!(benches, write_10k, load_100k, postgres_agents, operations);
criterion_main!(benches);
