//! Builds the self-telemetry export a Collector sends: the simulator posts it as its agents'
//! own metrics, and the tests and the benchmark use it as realistic input.
//!
//! Shape follows a Collector's internal telemetry: per-receiver and per-exporter counters for
//! each signal (the ones fleetdeck reads and the neighbours it skips), queue gauges, process
//! metrics and a couple of histograms.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::fleet::AgentId;
use crate::fleet::telemetry::Signal;

/// Totals since the Collector started (cumulative) or during the interval (delta).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Items accepted by receivers, per signal (indexed like [`Signal::ALL`]).
    pub accepted: [u64; 3],
    pub sent: [u64; 3],
    pub send_failed: [u64; 3],
    pub cpu_seconds: f64,
    pub memory_rss: u64,
}

/// The component layout and timing of one export.
#[derive(Debug, Clone, Copy)]
pub struct Export {
    pub instance: AgentId,
    /// Counters' start (the process start for cumulative, the interval start for delta).
    pub start_ns: u64,
    pub time_ns: u64,
    pub temporality: AggregationTemporality,
    /// Receivers and exporters the counts are spread over (at least 1 each).
    pub receivers: usize,
    pub exporters: usize,
}

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..KeyValue::default()
    }
}

fn signal_suffix(s: Signal) -> &'static str {
    match s {
        Signal::Logs => "log_records",
        Signal::Metrics => "metric_points",
        Signal::Traces => "spans",
    }
}

/// Splits `total` over `n` parts that add up to it.
fn share(total: u64, n: usize, i: usize) -> u64 {
    let n = n.max(1) as u64;
    total / n + u64::from((i as u64) < total % n)
}

impl Export {
    fn point(&self, attributes: Vec<KeyValue>, value: number_data_point::Value) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: self.start_ns,
            time_unix_nano: self.time_ns,
            value: Some(value),
            ..NumberDataPoint::default()
        }
    }

    fn sum(&self, name: &str, monotonic: bool, points: Vec<NumberDataPoint>) -> Metric {
        Metric {
            name: name.to_string(),
            unit: "{item}".to_string(),
            data: Some(Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: self.temporality as i32,
                is_monotonic: monotonic,
            })),
            ..Metric::default()
        }
    }

    fn gauge(&self, name: &str, points: Vec<NumberDataPoint>) -> Metric {
        Metric {
            name: name.to_string(),
            data: Some(Data::Gauge(Gauge {
                data_points: points,
            })),
            ..Metric::default()
        }
    }

    fn per_component(&self, kind: &str, totals: &[u64; 3], metric: &str, n: usize) -> Vec<Metric> {
        Signal::ALL
            .iter()
            .map(|&s| {
                let points = (0..n.max(1))
                    .map(|i| {
                        let mut attrs = vec![attr(kind, &format!("otlp/{i}"))];
                        if kind == "receiver" {
                            attrs.push(attr("transport", if i % 2 == 0 { "grpc" } else { "http" }));
                        }
                        let v = share(totals[s.index()], n, i);
                        self.point(attrs, number_data_point::Value::AsInt(v as i64))
                    })
                    .collect();
                self.sum(
                    &format!("otelcol_{metric}_{}", signal_suffix(s)),
                    true,
                    points,
                )
            })
            .collect()
    }

    fn histogram(&self, name: &str, count: u64) -> Metric {
        let bounds = vec![10.0, 100.0, 1000.0, 10000.0];
        let mut buckets = vec![0; bounds.len() + 1];
        buckets[1] = count;
        Metric {
            name: name.to_string(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    start_time_unix_nano: self.start_ns,
                    time_unix_nano: self.time_ns,
                    count,
                    sum: Some(count as f64 * 50.0),
                    bucket_counts: buckets,
                    explicit_bounds: bounds,
                    attributes: vec![attr("processor", "batch")],
                    ..HistogramDataPoint::default()
                }],
                aggregation_temporality: self.temporality as i32,
            })),
            ..Metric::default()
        }
    }

    /// The request for one Collector with these counts.
    pub fn request(&self, counts: &Counts) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![self.resource_metrics(counts)],
        }
    }

    /// One Collector's `ResourceMetrics`, so several can share a request.
    pub fn resource_metrics(&self, c: &Counts) -> ResourceMetrics {
        let zero = [0u64; 3];
        let (r, e) = (self.receivers, self.exporters);
        let mut metrics = Vec::new();
        metrics.extend(self.per_component("receiver", &c.accepted, "receiver_accepted", r));
        metrics.extend(self.per_component("receiver", &zero, "receiver_refused", r));
        metrics.extend(self.per_component("exporter", &c.sent, "exporter_sent", e));
        metrics.extend(self.per_component("exporter", &c.send_failed, "exporter_send_failed", e));
        metrics.extend(self.per_component("exporter", &zero, "exporter_enqueue_failed", e));
        let queue = |name: &str, v: i64| {
            let points = (0..e.max(1))
                .map(|i| {
                    let attrs = vec![attr("exporter", &format!("otlp/{i}"))];
                    self.point(attrs, number_data_point::Value::AsInt(v))
                })
                .collect();
            self.gauge(name, points)
        };
        metrics.push(queue("otelcol_exporter_queue_size", 3));
        metrics.push(queue("otelcol_exporter_queue_capacity", 1000));
        let process = |name: &str, v: number_data_point::Value, monotonic: Option<bool>| {
            let points = vec![self.point(Vec::new(), v)];
            match monotonic {
                Some(m) => self.sum(name, m, points),
                None => self.gauge(name, points),
            }
        };
        use number_data_point::Value::{AsDouble, AsInt};
        let uptime = (self.time_ns.saturating_sub(self.start_ns)) as f64 / 1e9;
        metrics.push(process(
            "otelcol_process_uptime",
            AsDouble(uptime),
            Some(true),
        ));
        metrics.push(process(
            "otelcol_process_cpu_seconds",
            AsDouble(c.cpu_seconds),
            Some(true),
        ));
        metrics.push(process(
            "otelcol_process_memory_rss",
            AsInt(c.memory_rss as i64),
            None,
        ));
        metrics.push(process(
            "otelcol_process_runtime_heap_alloc_bytes",
            AsInt(48 << 20),
            None,
        ));
        metrics.push(process(
            "otelcol_process_runtime_total_alloc_bytes",
            AsInt(9 << 30),
            Some(true),
        ));
        metrics.push(process(
            "otelcol_process_runtime_total_sys_memory_bytes",
            AsInt(96 << 20),
            None,
        ));
        metrics.push(self.histogram("otelcol_processor_batch_batch_send_size", 120));
        metrics.push(self.histogram("http.server.request.duration", 40));
        ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    attr("service.name", "otelcol-contrib"),
                    attr("service.version", "0.120.0"),
                    attr("service.instance.id", &self.instance.to_string()),
                ],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "go.opentelemetry.io/collector/service".to_string(),
                    ..InstrumentationScope::default()
                }),
                metrics,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, n) in [(10, 3), (0, 4), (7, 1), (5, 8)] {
            assert_eq!((0..n).map(|i| share(total, n, i)).sum::<u64>(), total);
        }
    }
}
