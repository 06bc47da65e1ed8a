//! The Collector self-metrics we keep, recognised straight from the name bytes (no allocation).
//!
//! Collector versions name them `otelcol_receiver_accepted_spans`, with a `_total` suffix
//! (Prometheus-style counters) or without the `otelcol_` prefix (older releases); all map to
//! the same series. Agents that follow the OpenTelemetry semantic conventions for processes
//! (the OpAMP spec asks own metrics to) feed cpu and memory too: `process.cpu.time`
//! (seconds, one stream per `cpu.mode`, summed) and `process.memory.usage` (or the older
//! `process.memory.physical_usage`). `process.cpu.utilization` is not read: it is a share of
//! all the machine's cores, not of one.

use crate::fleet::telemetry::{Measure, Series, Signal};

/// The attribute that names the component a metric counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKey {
    Receiver,
    Processor,
    Exporter,
}

impl ComponentKey {
    pub fn attribute(self) -> &'static [u8] {
        match self {
            ComponentKey::Receiver => b"receiver",
            ComponentKey::Processor => b"processor",
            ComponentKey::Exporter => b"exporter",
        }
    }
}

/// What fleetdeck reads from one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// The agent-wide series it feeds.
    pub series: Option<Series>,
    /// The component measure it feeds: which attribute names the component, what it
    /// counts, and its signal when the name says it (else an attribute does, see
    /// [`signal_attribute`]).
    pub part: Option<(ComponentKey, Measure, Option<Signal>)>,
}

/// The series a metric name feeds, or `None` for metrics we skip.
pub fn series_of(name: &[u8]) -> Option<Series> {
    kept(name).and_then(|k| k.series)
}

/// What a metric name feeds, or `None` for metrics we skip.
pub fn kept(name: &[u8]) -> Option<Kept> {
    let only = |series| {
        Some(Kept {
            series: Some(series),
            part: None,
        })
    };
    match name {
        b"process.cpu.time" => return only(Series::Cpu),
        b"process.memory.usage" | b"process.memory.physical_usage" => {
            return only(Series::Memory);
        }
        _ => {}
    }
    let name = name.strip_prefix(b"otelcol_").unwrap_or(name);
    let name = name.strip_suffix(b"_total").unwrap_or(name);
    let part = |key, measure, signal| {
        Some(Kept {
            series: None,
            part: Some((key, measure, signal)),
        })
    };
    let (head, signal_part) = match name {
        b"process_cpu_seconds" => return only(Series::Cpu),
        b"process_memory_rss" => return only(Series::Memory),
        // Processors built on the Collector's processor helper, per `otel.signal`.
        b"processor_incoming_items" => {
            return part(ComponentKey::Processor, Measure::Incoming, None);
        }
        b"processor_outgoing_items" => {
            return part(ComponentKey::Processor, Measure::Outgoing, None);
        }
        // Exporter queues, per `data_type`.
        b"exporter_queue_size" => return part(ComponentKey::Exporter, Measure::QueueSize, None),
        b"exporter_queue_capacity" => {
            return part(ComponentKey::Exporter, Measure::QueueCapacity, None);
        }
        _ => split_signal(name)?,
    };
    let signal = match signal_part {
        b"spans" => Signal::Traces,
        b"metric_points" => Signal::Metrics,
        b"log_records" => Signal::Logs,
        _ => return None,
    };
    let (series, key, measure) = match head {
        b"receiver_accepted" => (
            Some(Series::In(signal)),
            ComponentKey::Receiver,
            Measure::Accepted,
        ),
        b"receiver_refused" => (None, ComponentKey::Receiver, Measure::Refused),
        b"receiver_failed" => (None, ComponentKey::Receiver, Measure::Failed),
        // Older Collectors' processor counts: passed on, refused by the next component,
        // dropped on purpose.
        b"processor_accepted" => (None, ComponentKey::Processor, Measure::Outgoing),
        b"processor_refused" => (None, ComponentKey::Processor, Measure::Refused),
        b"processor_dropped" => (None, ComponentKey::Processor, Measure::Dropped),
        b"exporter_sent" => (
            Some(Series::Out(signal)),
            ComponentKey::Exporter,
            Measure::Sent,
        ),
        b"exporter_send_failed" => (
            Some(Series::Failed(signal)),
            ComponentKey::Exporter,
            Measure::SendFailed,
        ),
        b"exporter_enqueue_failed" => (None, ComponentKey::Exporter, Measure::EnqueueFailed),
        _ => return None,
    };
    Some(Kept {
        series,
        part: Some((key, measure, Some(signal))),
    })
}

/// The signal an attribute names, when it is one that carries a signal (`otel.signal` over
/// OTLP, `otel_signal` through Prometheus, `data_type` on exporter queues).
pub fn signal_attribute(key: &[u8], value: &[u8]) -> Option<Signal> {
    if !matches!(key, b"otel.signal" | b"otel_signal" | b"data_type") {
        return None;
    }
    match value {
        b"logs" => Some(Signal::Logs),
        b"metrics" => Some(Signal::Metrics),
        b"traces" => Some(Signal::Traces),
        _ => None,
    }
}

/// Splits `receiver_accepted_spans` into `receiver_accepted` and `spans`.
fn split_signal(name: &[u8]) -> Option<(&[u8], &[u8])> {
    for suffix in [&b"_spans"[..], b"_metric_points", b"_log_records"] {
        if let Some(head) = name.strip_suffix(suffix) {
            return Some((head, &suffix[1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_spellings_map_to_one_series() {
        for name in [
            "otelcol_receiver_accepted_spans",
            "otelcol_receiver_accepted_spans_total",
            "receiver_accepted_spans",
            "receiver_accepted_spans_total",
        ] {
            assert_eq!(
                series_of(name.as_bytes()),
                Some(Series::In(Signal::Traces)),
                "{name}"
            );
        }
        assert_eq!(
            series_of(b"otelcol_exporter_sent_metric_points"),
            Some(Series::Out(Signal::Metrics))
        );
        assert_eq!(
            series_of(b"otelcol_exporter_send_failed_log_records_total"),
            Some(Series::Failed(Signal::Logs))
        );
        assert_eq!(
            series_of(b"otelcol_process_cpu_seconds_total"),
            Some(Series::Cpu)
        );
        assert_eq!(series_of(b"process_memory_rss"), Some(Series::Memory));
    }

    #[test]
    fn process_metrics_of_the_semantic_conventions_feed_cpu_and_memory() {
        assert_eq!(series_of(b"process.cpu.time"), Some(Series::Cpu));
        assert_eq!(series_of(b"process.memory.usage"), Some(Series::Memory));
        assert_eq!(
            series_of(b"process.memory.physical_usage"),
            Some(Series::Memory)
        );
        for other in [
            "process.cpu.utilization",
            "process.memory.virtual",
            "process.uptime",
        ] {
            assert_eq!(series_of(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn other_metrics_are_skipped() {
        for name in [
            "otelcol_process_uptime",
            "http.server.duration",
            "otelcol_receiver_accepted_",
            "",
        ] {
            assert_eq!(series_of(name.as_bytes()), None, "{name}");
        }
    }

    #[test]
    fn component_counts_name_their_component_and_signal() {
        let part = |name: &str| kept(name.as_bytes()).and_then(|k| k.part);
        assert_eq!(
            part("otelcol_receiver_refused_spans_total"),
            Some((
                ComponentKey::Receiver,
                Measure::Refused,
                Some(Signal::Traces)
            ))
        );
        assert_eq!(
            part("otelcol_processor_incoming_items"),
            Some((ComponentKey::Processor, Measure::Incoming, None))
        );
        assert_eq!(
            part("otelcol_exporter_queue_size"),
            Some((ComponentKey::Exporter, Measure::QueueSize, None))
        );
        assert_eq!(
            kept(b"otelcol_exporter_sent_log_records"),
            Some(Kept {
                series: Some(Series::Out(Signal::Logs)),
                part: Some((ComponentKey::Exporter, Measure::Sent, Some(Signal::Logs))),
            })
        );
        assert_eq!(series_of(b"otelcol_receiver_refused_spans"), None);
        assert_eq!(
            signal_attribute(b"otel.signal", b"logs"),
            Some(Signal::Logs)
        );
        assert_eq!(
            signal_attribute(b"data_type", b"traces"),
            Some(Signal::Traces)
        );
        assert_eq!(signal_attribute(b"transport", b"logs"), None);
    }
}
