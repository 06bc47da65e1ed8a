//! A simulated Collector's own metrics: the `otelcol_*` counters a real one exports,
//! with throughput that follows the applied pipelines and drifts plausibly over time,
//! encoded as OTLP/HTTP protobuf and pushed where the server's offer says.

use std::collections::BTreeMap;
use std::f64::consts::TAU;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::collector::{CollectorConfig, Signal};
use super::identity::{Identity, SERVICE_NAME};
use crate::client::MetricsTarget;
use crate::fleet::agent::AgentId;

/// One "day" of the load cycle, compressed so a demo shows the swing.
const DAY: f64 = 900.0;
/// Base items per second per pipeline for an average agent.
fn base_rate(signal: Signal) -> f64 {
    match signal {
        Signal::Traces => 320.0,
        Signal::Metrics => 180.0,
        Signal::Logs => 140.0,
    }
}
/// Share of a pipeline's items a receiver type brings in.
fn receiver_weight(id: &str) -> f64 {
    match id.split('/').next().unwrap_or_default() {
        "hostmetrics" => 0.25,
        "filelog" | "otlp" | "kafka" | "prometheus" => 1.0,
        _ => 0.5,
    }
}

/// Share of its items a processor type drops on purpose.
fn processor_drop(id: &str) -> f64 {
    match id.split('/').next().unwrap_or_default() {
        "filter" => 0.1,
        "probabilistic_sampler" | "tail_sampling" => 0.5,
        _ => 0.0,
    }
}

type Key = (String, Signal);

/// Cumulative counters of one simulated Collector process.
#[derive(Debug)]
pub struct OwnTelemetry {
    rng: SmallRng,
    /// How busy this agent is compared with the average (log-normal-ish, fixed).
    scale: f64,
    phase: f64,
    /// Smooth random walk on the log of the load.
    walk: f64,
    start_ns: u64,
    last_ns: u64,
    accepted: BTreeMap<Key, u64>,
    /// Per processor: items in and passed on (a processor in two pipelines of a signal
    /// counts both, under one attribute set, as a Collector's meter aggregates them).
    incoming: BTreeMap<Key, u64>,
    outgoing: BTreeMap<Key, u64>,
    sent: BTreeMap<Key, u64>,
    failed: BTreeMap<Key, u64>,
    cpu_seconds: f64,
    rss_bytes: i64,
}

impl OwnTelemetry {
    /// Counters of a process that started at `start_ns` (they restart with it).
    pub fn new(seed: u64, start_ns: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let scale = (rng.random_range(-1.2f64..1.2)).exp();
        let phase = rng.random_range(0.0..TAU);
        OwnTelemetry {
            rng,
            scale,
            phase,
            walk: 0.0,
            start_ns,
            last_ns: start_ns,
            accepted: BTreeMap::new(),
            incoming: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            sent: BTreeMap::new(),
            failed: BTreeMap::new(),
            cpu_seconds: 0.0,
            rss_bytes: 0,
        }
    }

    /// Load factor at `now_ns`: the daily swing times the random walk.
    fn load(&self, now_ns: u64) -> f64 {
        let t = now_ns as f64 / 1e9;
        (1.0 + 0.35 * (TAU * t / DAY + self.phase).sin()) * self.walk.exp() * self.scale
    }

    /// Moves the counters forward to `now_ns` under `config`.
    pub fn advance(&mut self, config: &CollectorConfig, now_ns: u64) {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.last_ns = now_ns.max(self.last_ns);
        if dt <= 0.0 {
            return;
        }
        // Mean-reverting walk: slow drift, no jumps.
        self.walk = self.walk * 0.97 + self.rng.random_range(-0.06..0.06);
        let load = self.load(now_ns);
        let mut items_per_sec = 0.0;
        for p in &config.pipelines {
            let rate = base_rate(p.signal) * load;
            items_per_sec += rate;
            let total_weight: f64 = p.receivers.iter().map(|r| receiver_weight(r)).sum();
            let mut pipeline_items = 0u64;
            for r in &p.receivers {
                let n = self.items(rate * dt * receiver_weight(r) / total_weight.max(1e-9));
                pipeline_items += n;
                *self.accepted.entry((r.clone(), p.signal)).or_default() += n;
            }
            for proc in &p.processors {
                *self.incoming.entry((proc.clone(), p.signal)).or_default() += pipeline_items;
                pipeline_items -= (pipeline_items as f64 * processor_drop(proc)) as u64;
                *self.outgoing.entry((proc.clone(), p.signal)).or_default() += pipeline_items;
            }
            for e in &p.exporters {
                // Rarely, a backend hiccup: a slice of one interval's data fails; an
                // exporter pointed at a host that does not exist fails everything.
                let failed = if config.unreachable.contains(e) {
                    pipeline_items
                } else if self.rng.random_bool(0.02) {
                    (pipeline_items as f64 * self.rng.random_range(0.01..0.2)) as u64
                } else {
                    0
                };
                *self.sent.entry((e.clone(), p.signal)).or_default() += pipeline_items - failed;
                *self.failed.entry((e.clone(), p.signal)).or_default() += failed;
            }
        }
        self.cpu_seconds += dt * (0.015 + items_per_sec * 2.5e-5);
        let target_rss = 62e6 + items_per_sec * 9e3;
        self.rss_bytes = (target_rss * self.rng.random_range(0.97..1.03)) as i64;
    }

    /// A whole number of items for a fractional expectation, rounding at random.
    fn items(&mut self, expected: f64) -> u64 {
        let whole = expected.floor();
        whole as u64 + u64::from(self.rng.random_bool((expected - whole).clamp(0.0, 1.0)))
    }

    /// The counters as an OTLP export request.
    pub fn request(
        &self,
        identity: &Identity,
        uid: AgentId,
        now_ns: u64,
    ) -> ExportMetricsServiceRequest {
        let mut metrics = Vec::new();
        for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
            let (noun, unit) = match signal {
                Signal::Traces => ("spans", "{spans}"),
                Signal::Metrics => ("metric_points", "{datapoints}"),
                Signal::Logs => ("log_records", "{records}"),
            };
            let series = [
                ("receiver", "accepted", &self.accepted),
                ("exporter", "sent", &self.sent),
                ("exporter", "send_failed", &self.failed),
            ];
            for (kind, verb, counters) in series {
                let points: Vec<NumberDataPoint> = counters
                    .iter()
                    .filter(|((_, s), _)| *s == signal)
                    .map(|((id, _), n)| self.point(vec![kv(kind, id)], now_ns, int(*n)))
                    .collect();
                if !points.is_empty() {
                    metrics.push(sum(&format!("otelcol_{kind}_{verb}_{noun}"), unit, points));
                }
            }
        }
        // Processors and exporter queues say their signal in an attribute, as a Collector's do.
        for (name, counters) in [
            ("otelcol_processor_incoming_items", &self.incoming),
            ("otelcol_processor_outgoing_items", &self.outgoing),
        ] {
            let points: Vec<NumberDataPoint> = counters
                .iter()
                .map(|((id, s), n)| {
                    let attrs = vec![kv("processor", id), kv("otel.signal", &s.to_string())];
                    self.point(attrs, now_ns, int(*n))
                })
                .collect();
            if !points.is_empty() {
                metrics.push(sum(name, "{items}", points));
            }
        }
        for (name, level) in [
            ("otelcol_exporter_queue_size", 0),
            ("otelcol_exporter_queue_capacity", 1000),
        ] {
            let points: Vec<NumberDataPoint> = self
                .sent
                .keys()
                .map(|(id, s)| {
                    let attrs = vec![kv("exporter", id), kv("data_type", &s.to_string())];
                    self.point(attrs, now_ns, int(level))
                })
                .collect();
            if !points.is_empty() {
                metrics.push(Metric {
                    name: name.into(),
                    unit: "{batches}".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                });
            }
        }
        metrics.push(Metric {
            name: "otelcol_process_cpu_seconds".into(),
            unit: "s".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![self.point(
                    vec![],
                    now_ns,
                    number_data_point::Value::AsDouble(self.cpu_seconds),
                )],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        });
        metrics.push(Metric {
            name: "otelcol_process_memory_rss".into(),
            unit: "By".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![self.point(vec![], now_ns, int(self.rss_bytes as u64))],
            })),
            ..Default::default()
        });
        let uid = uid.to_string();
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", SERVICE_NAME),
                        kv("service.version", identity.version),
                        kv("service.instance.id", &uid),
                        kv("host.name", &identity.host_name),
                    ],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "go.opentelemetry.io/collector/service".into(),
                        version: identity.version.into(),
                        ..Default::default()
                    }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn point(
        &self,
        attributes: Vec<KeyValue>,
        now_ns: u64,
        value: number_data_point::Value,
    ) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: self.start_ns,
            time_unix_nano: now_ns,
            value: Some(value),
            ..Default::default()
        }
    }
}

fn int(n: u64) -> number_data_point::Value {
    number_data_point::Value::AsInt(i64::try_from(n).unwrap_or(i64::MAX))
}

fn sum(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.to_string(),
        unit: unit.to_string(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// POSTs one export to the offered endpoint with the offered headers.
pub async fn push(
    client: &reqwest::Client,
    target: &MetricsTarget,
    request: &ExportMetricsServiceRequest,
) -> Result<(), String> {
    let mut req = client
        .post(&target.endpoint)
        .header("content-type", "application/x-protobuf")
        .timeout(Duration::from_secs(10))
        .body(request.encode_to_vec());
    for (k, v) in &target.headers {
        req = req.header(k, v);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("own metrics to {}: {e}", target.endpoint))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "own metrics to {}: HTTP {}",
            target.endpoint,
            resp.status()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::collector;

    fn config(yaml: &str) -> CollectorConfig {
        collector::check(yaml.as_bytes()).expect("valid")
    }

    fn names(req: &ExportMetricsServiceRequest) -> Vec<String> {
        req.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.clone())
            .collect()
    }

    fn total(req: &ExportMetricsServiceRequest, name: &str) -> i64 {
        req.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .filter(|m| m.name == name)
            .flat_map(|m| match &m.data {
                Some(metric::Data::Sum(s)) => s.data_points.clone(),
                _ => vec![],
            })
            .map(|p| match p.value {
                Some(number_data_point::Value::AsInt(n)) => n,
                _ => 0,
            })
            .sum()
    }

    const METRICS_ONLY: &str = "receivers: {hostmetrics: {}, otlp: {}}\nexporters: {otlp: {}}\nservice:\n  pipelines:\n    metrics: {receivers: [hostmetrics, otlp], exporters: [otlp]}\n";

    #[test]
    fn counters_follow_the_pipelines_and_only_grow() {
        let id = Identity::derive(1, 0, 0.0);
        let cfg = config(METRICS_ONLY);
        let start = 1_000_000_000_000;
        let mut t = OwnTelemetry::new(4, start);
        t.advance(&cfg, start + 10_000_000_000);
        let first = t.request(&id, id.uid, start + 10_000_000_000);
        let n = names(&first);
        assert!(n.contains(&"otelcol_receiver_accepted_metric_points".to_string()));
        assert!(n.contains(&"otelcol_exporter_sent_metric_points".to_string()));
        assert!(n.contains(&"otelcol_process_memory_rss".to_string()));
        assert!(
            !n.iter()
                .any(|m| m.contains("spans") || m.contains("log_records")),
            "{n:?}"
        );
        let a1 = total(&first, "otelcol_receiver_accepted_metric_points");
        assert!(a1 > 0);
        t.advance(&cfg, start + 20_000_000_000);
        let second = t.request(&id, id.uid, start + 20_000_000_000);
        assert!(total(&second, "otelcol_receiver_accepted_metric_points") > a1);
        let sent = total(&second, "otelcol_exporter_sent_metric_points");
        let failed = total(&second, "otelcol_exporter_send_failed_metric_points");
        assert_eq!(
            sent + failed,
            total(&second, "otelcol_receiver_accepted_metric_points")
        );
        let res = second.resource_metrics[0]
            .resource
            .as_ref()
            .expect("resource");
        assert!(
            res.attributes
                .iter()
                .any(|kv| kv.key == "service.instance.id")
        );
    }

    #[test]
    fn an_exporter_pointed_at_an_invalid_host_applies_and_then_fails_every_export() {
        let id = Identity::derive(1, 0, 0.0);
        let yaml = "receivers: {otlp: {}}\nexporters:\n  otlphttp/down: {endpoint: \"https://ingest.down.invalid:4318/v1\"}\n  otlp/up: {endpoint: \"collector.example.com:4317\"}\nservice:\n  pipelines:\n    metrics: {receivers: [otlp], exporters: [otlphttp/down, otlp/up]}\n";
        let cfg = config(yaml);
        assert_eq!(
            cfg.unreachable.iter().collect::<Vec<_>>(),
            ["otlphttp/down"]
        );
        let mut t = OwnTelemetry::new(5, 0);
        for step in 1..=6u64 {
            t.advance(&cfg, step * 10_000_000_000);
        }
        let sent = |e: &str| t.sent[&(e.to_string(), Signal::Metrics)];
        let failed = |e: &str| t.failed[&(e.to_string(), Signal::Metrics)];
        assert_eq!(sent("otlphttp/down"), 0);
        assert!(failed("otlphttp/down") > 0);
        assert!(
            sent("otlp/up") > failed("otlp/up"),
            "the healthy exporter still sends"
        );
        let req = t.request(&id, id.uid, 60_000_000_000);
        assert_eq!(
            total(&req, "otelcol_exporter_send_failed_metric_points") as u64,
            failed("otlphttp/down") + failed("otlp/up")
        );
    }

    #[test]
    fn load_varies_over_time_but_stays_plausible() {
        let cfg = config(METRICS_ONLY);
        let mut t = OwnTelemetry::new(11, 0);
        let mut rates = Vec::new();
        let mut last = 0;
        for step in 1..=180u64 {
            let now = step * 10_000_000_000;
            t.advance(&cfg, now);
            let total: u64 = t.accepted.values().sum();
            rates.push((total - last) as f64 / 10.0);
            last = total;
        }
        let min = rates.iter().cloned().fold(f64::MAX, f64::min);
        let max = rates.iter().cloned().fold(0.0, f64::max);
        assert!(
            min > 0.0 && max / min > 1.3 && max / min < 50.0,
            "{min}..{max}"
        );
    }
}
