//! Own telemetry at fleet scale: simulated Collectors (the simulator's own pipelines and
//! throughput, `fleetdeck simulate`'s default of a report every 10 s) reporting for 75
//! minutes of server time through the OTLP decode and ingest path. Once every agent's hour
//! is full it prints what the telemetry store holds per agent, how much the process grew
//! per agent, and the CPU one report costs (decode and ingest; not HTTP).
//!
//! Run: `cargo bench --bench telemetry_fleet` (`AGENTS=5000,19000` by default; `MINUTES=75`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetdeck::fleet::snapshot::FleetTotals;
use fleetdeck::fleet::telemetry::TelemetryStore;
use fleetdeck::fleet::{AgentId, AgentView, FleetSnapshot};
use fleetdeck::otlp::ingest::{Sender, ingest_metrics};
use fleetdeck::otlp::metrics::{MetricsBatch, collect_wire};
use fleetdeck::otlp::stats::OtlpStats;
use fleetdeck::sim::agent::bootstrap_yaml;
use fleetdeck::sim::collector::{self, CollectorConfig};
use fleetdeck::sim::identity::Identity;
use fleetdeck::sim::telemetry::OwnTelemetry;
use prost::Message;

const T0: u64 = 1_700_000_000;
const NS: u64 = 1_000_000_000;
const INTERVAL: u64 = 10;

struct Agent {
    id: AgentId,
    identity: Identity,
    config: CollectorConfig,
    telemetry: OwnTelemetry,
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn run(n: usize, minutes: u64) {
    let mut agents: Vec<Agent> = (0..n)
        .map(|i| {
            let identity = Identity::derive(1, i, 0.0);
            let config = match collector::check(bootstrap_yaml(identity.tier).as_bytes()) {
                Ok(c) => c,
                Err(e) => panic!("the simulator's own configuration is refused: {e}"),
            };
            Agent {
                id: AgentId::new_v7(),
                telemetry: OwnTelemetry::new(i as u64, (T0 - 30) * NS),
                identity,
                config,
            }
        })
        .collect();
    agents.sort_by_key(|a| a.id);
    let fleet = FleetSnapshot {
        version: 1,
        taken_at: None,
        totals: FleetTotals::default(),
        agents: agents
            .iter()
            .map(|a| Arc::new(AgentView::blank(a.id)))
            .collect(),
    };
    let store = TelemetryStore::new();
    let stats = OtlpStats::default();
    let mut batch = MetricsBatch::default();
    let rss_before = rss_bytes();
    let rounds = minutes * 60 / INTERVAL;
    let (mut spent, mut reports, mut points) = (Duration::ZERO, 0u64, 0u64);
    let mut last_round = Duration::ZERO;
    for round in 0..rounds {
        let now = T0 + round * INTERVAL;
        let round_started = spent;
        for (k, a) in agents.iter_mut().enumerate() {
            // Spread over the interval as real agents are.
            let at = now * NS + (k as u64 % INTERVAL) * NS / 10;
            a.telemetry.advance(&a.config, at);
            let body = a.telemetry.request(&a.identity, a.id, at).encode_to_vec();
            let started = Instant::now();
            if collect_wire(&body, &mut batch).is_ok() {
                points += batch.points();
                std::hint::black_box(ingest_metrics(
                    now,
                    Sender::Agent(a.id),
                    &mut batch,
                    &fleet,
                    &store,
                    &stats,
                ));
            }
            spent += started.elapsed();
            reports += 1;
        }
        last_round = spent - round_started;
    }
    let held = store.memory_bytes();
    let grown = rss_bytes().saturating_sub(rss_before);
    println!(
        "{n} agents x {minutes} min (a report every {INTERVAL} s, {:.0} points each): \
         store {:.0} B/agent, process grew {:.0} B/agent; \
         {:.1} us per report ({:.2} us per reporting agent per second), last round {:.0} ms",
        points as f64 / reports as f64,
        held as f64 / n as f64,
        grown as f64 / n as f64,
        spent.as_secs_f64() * 1e6 / reports as f64,
        spent.as_secs_f64() * 1e6 / reports as f64 / INTERVAL as f64,
        last_round.as_secs_f64() * 1e3,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, small.
    let quick = std::env::args().all(|a| a != "--bench");
    let sizes: Vec<usize> = std::env::var("AGENTS")
        .unwrap_or_else(|_| "5000,19000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let minutes = std::env::var("MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(75);
    if quick {
        run(50, 2);
        return;
    }
    for n in sizes {
        run(n, minutes);
    }
}
