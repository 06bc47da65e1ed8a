//! The rollup's cost: summing every agent's per-component numbers into its configuration's
//! and its destinations' groups, as the 10-second driver does. Agents reporting their own
//! telemetry, each with a Collector of 5 components (a source, 2 processors, 2 exporters)
//! for one signal: 12 component streams per agent. `cargo bench --bench throughput_rollup`
//! (`AGENTS=100000` by default).

use std::sync::Arc;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use fleetdeck::fleet::delivery::{AgentConfigStatus, ApplyState, ConfigRef};
use fleetdeck::fleet::telemetry::parts::component_hash;
use fleetdeck::fleet::telemetry::{
    Measure, PartPoint, Sample, Signal, TelemetryStore, Temporality,
};
use fleetdeck::fleet::{AgentId, AgentView, FleetSnapshot};
use fleetdeck::throughput::{Maps, sums_at};

const T0: u64 = 1_700_000_000;

fn fleet(n: usize) -> (FleetSnapshot, TelemetryStore) {
    let store = TelemetryStore::new();
    let parts: Vec<(u16, Measure)> = [
        ("filelog/source0", Measure::Accepted),
        ("filelog/source0", Measure::Refused),
        ("batch/processor0", Measure::Incoming),
        ("batch/processor0", Measure::Outgoing),
        ("filter/processor1", Measure::Incoming),
        ("filter/processor1", Measure::Outgoing),
        ("otlphttp/backend", Measure::Sent),
        ("otlphttp/backend", Measure::SendFailed),
        ("otlphttp/backend", Measure::QueueSize),
        ("otlp/archive", Measure::Sent),
        ("otlp/archive", Measure::SendFailed),
        ("otlp/archive", Measure::QueueSize),
    ]
    .iter()
    .map(|(id, m)| {
        let i = store.intern_component(component_hash(id.as_bytes()), || id.to_string());
        (i.unwrap_or(0), *m)
    })
    .collect();
    let mut agents = Vec::with_capacity(n);
    for k in 0..n {
        let id = AgentId::new_v7();
        for (round, now) in [T0, T0 + 10].into_iter().enumerate() {
            let samples: Vec<Sample> = parts
                .iter()
                .enumerate()
                .map(|(s, (component, measure))| Sample {
                    series: None,
                    part: Some(PartPoint {
                        component: *component,
                        measure: *measure,
                        signal: Signal::Logs,
                    }),
                    stream: s as u64,
                    temporality: if *measure == Measure::QueueSize {
                        Temporality::Gauge
                    } else {
                        Temporality::Cumulative
                    },
                    start_ns: (T0 - 600) * 1_000_000_000,
                    time_ns: now * 1_000_000_000,
                    value: (1_000 * (round + 1) + k % 97) as f64,
                })
                .collect();
            store.ingest_at(now, &id, &samples);
        }
        let mut view = AgentView::blank(id);
        view.config = Some(AgentConfigStatus {
            config: ConfigRef {
                name: Arc::from(format!("config-{}", k % 20)),
                version: 1,
            },
            hash: [0; 32],
            state: ApplyState::Applied,
            error: String::new(),
            effective_matches: Some(true),
            since: SystemTime::now(),
            origin: "push",
        });
        agents.push(Arc::new(view));
    }
    agents.sort_by_key(|a| a.id);
    let snapshot = FleetSnapshot {
        agents,
        ..FleetSnapshot::default()
    };
    (snapshot, store)
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (snapshot, store) = fleet(n);
    let maps = Maps::default();
    let mut group = c.benchmark_group("throughput_rollup");
    group.sample_size(10);
    group.bench_function(format!("sums_{n}_agents_12_streams_20_configs"), |b| {
        b.iter(|| std::hint::black_box(sums_at(T0 + 15, &snapshot, &store, &maps, None)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
