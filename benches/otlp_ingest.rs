//! OTLP metric ingest: decode + per-agent aggregation, in data points per second on one core
//! (goal G5: ≥ 1,000,000 uncompressed, ≥ 500,000 with gzip).
//!
//! Input is what Collectors send as their own telemetry (`otlp::collector_metrics`): 4
//! receivers and 3 exporters, 65 data points per Collector, of which 32 are counters fleetdeck
//! keeps and the rest are skipped. Each report moves the agent's clock 10 s on, so every point
//! is a real update (rates, ring writes), not a duplicate.
//!
//! Run: `cargo bench --bench otlp_ingest`; criterion prints `thrpt` in points/s.

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fleetdeck::fleet::snapshot::FleetTotals;
use fleetdeck::fleet::telemetry::TelemetryStore;
use fleetdeck::fleet::{AgentId, AgentView, FleetSnapshot};
use fleetdeck::otlp::collector_metrics::{Counts, Export};
use fleetdeck::otlp::ingest::{Sender, ingest_metrics};
use fleetdeck::otlp::metrics::{MetricsBatch, collect_wire};
use fleetdeck::otlp::stats::OtlpStats;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use prost::Message;

const AGENTS: usize = 1000;
const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000;

fn view(id: AgentId) -> Arc<AgentView> {
    Arc::new(AgentView::blank(id))
}

/// A fleet of agents taking turns to report, `per_request` of them in each request.
struct Workload {
    agents: Vec<AgentId>,
    fleet: FleetSnapshot,
    per_request: usize,
}

impl Workload {
    fn new(per_request: usize) -> Self {
        let mut agents: Vec<AgentId> = (0..AGENTS).map(|_| AgentId::new_v7()).collect();
        agents.sort();
        let fleet = FleetSnapshot {
            version: 1,
            taken_at: None,
            totals: FleetTotals::default(),
            agents: agents.iter().map(|id| view(*id)).collect(),
        };
        Workload {
            agents,
            fleet,
            per_request,
        }
    }

    /// Request number `i`: which agents, the server second it arrives, and its body.
    fn request(&self, i: u64) -> (Vec<AgentId>, u64, ExportMetricsServiceRequest) {
        let groups = (AGENTS / self.per_request) as u64;
        let (group, round) = ((i % groups) as usize, i / groups);
        let ids = self.agents[group * self.per_request..][..self.per_request].to_vec();
        let time = T0 + round * 10;
        let n = round * 1000;
        let counts = Counts {
            accepted: [n, 2 * n, 3 * n],
            sent: [n, 2 * n, 3 * n],
            send_failed: [0, round, 0],
            cpu_seconds: round as f64 * 0.7,
            memory_rss: 100 << 20,
        };
        let req = ExportMetricsServiceRequest {
            resource_metrics: ids
                .iter()
                .map(|id| {
                    Export {
                        instance: *id,
                        start_ns: (T0 - 3600) * S,
                        time_ns: time * S,
                        temporality: AggregationTemporality::Cumulative,
                        receivers: 4,
                        exporters: 3,
                    }
                    .resource_metrics(&counts)
                })
                .collect(),
        };
        (ids, time, req)
    }

    fn points_per_request(&self) -> u64 {
        let mut batch = MetricsBatch::default();
        let body = self.request(0).2.encode_to_vec();
        match collect_wire(&body, &mut batch) {
            Ok(()) => batch.points(),
            Err(e) => panic!("benchmark input does not decode: {e}"),
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

fn gunzip(data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let _ = std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(data), out);
}

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("otlp_ingest");
    group
        .measurement_time(Duration::from_secs(6))
        .sample_size(30);

    for (per_request, sender_kind) in [(1, "token"), (10, "fleet-secret")] {
        let w = Workload::new(per_request);
        let points = w.points_per_request();
        group.throughput(Throughput::Elements(points));
        for gz in [false, true] {
            let store = TelemetryStore::new();
            let stats = OtlpStats::default();
            let mut batch = MetricsBatch::default();
            let mut inflated = Vec::new();
            let mut i = 0u64;
            let name = format!(
                "{per_request}_agent_per_request_{sender_kind}{}",
                if gz { "_gzip" } else { "" }
            );
            group.bench_function(name, |b| {
                b.iter_batched(
                    || {
                        let (ids, now, req) = w.request(i);
                        i += 1;
                        let body = req.encode_to_vec();
                        (ids, now, if gz { gzip(&body) } else { body })
                    },
                    |(ids, now, body)| {
                        let body = if gz {
                            gunzip(&body, &mut inflated);
                            &inflated[..]
                        } else {
                            &body[..]
                        };
                        if collect_wire(body, &mut batch).is_err() {
                            return;
                        }
                        let sender = if per_request == 1 {
                            Sender::Agent(ids[0])
                        } else {
                            Sender::Fleet
                        };
                        black_box(ingest_metrics(
                            now, sender, &mut batch, &w.fleet, &store, &stats,
                        ));
                    },
                    BatchSize::SmallInput,
                );
            });
            let counters = stats.snapshot();
            eprintln!(
                "  {} agents tracked, {} bytes per agent, {} points stored, {} stale, {} for unknown agents",
                store.agents_tracked(),
                store.memory_bytes() / store.agents_tracked().max(1),
                counters.metric_points,
                counters.stale_samples,
                counters.unknown_agent_points
            );
        }
    }

    // For comparison: prost decoding the same body into owned messages, nothing stored.
    let w = Workload::new(10);
    let body = w.request(0).2.encode_to_vec();
    group.throughput(Throughput::Elements(w.points_per_request()));
    group.bench_function("prost_decode_only_10_agents", |b| {
        b.iter(|| black_box(ExportMetricsServiceRequest::decode(&body[..]).is_ok()))
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
