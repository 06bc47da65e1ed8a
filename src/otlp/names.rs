//! The Collector self-metrics we keep, recognised straight from the name bytes (no allocation).
//!
//! Collector versions name them `otelcol_receiver_accepted_spans`, with a `_total` suffix
//! (Prometheus-style counters) or without the `otelcol_` prefix (older releases); all map to
//! the same series. Agents that follow the OpenTelemetry semantic conventions for processes
//! (the OpAMP spec asks own metrics to) feed cpu and memory too: `process.cpu.time`
//! (seconds, one stream per `cpu.mode`, summed) and `process.memory.usage` (or the older
//! `process.memory.physical_usage`). `process.cpu.utilization` is not read: it is a share of
//! all the machine's cores, not of one.

use crate::fleet::telemetry::{Series, Signal};

/// The series a metric name feeds, or `None` for metrics we skip.
pub fn series_of(name: &[u8]) -> Option<Series> {
    match name {
        b"process.cpu.time" => return Some(Series::Cpu),
        b"process.memory.usage" | b"process.memory.physical_usage" => {
            return Some(Series::Memory);
        }
        _ => {}
    }
    let name = name.strip_prefix(b"otelcol_").unwrap_or(name);
    let name = name.strip_suffix(b"_total").unwrap_or(name);
    let (head, signal_part) = match name {
        b"process_cpu_seconds" => return Some(Series::Cpu),
        b"process_memory_rss" => return Some(Series::Memory),
        _ => split_signal(name)?,
    };
    let signal = match signal_part {
        b"spans" => Signal::Traces,
        b"metric_points" => Signal::Metrics,
        b"log_records" => Signal::Logs,
        _ => return None,
    };
    match head {
        b"receiver_accepted" => Some(Series::In(signal)),
        b"exporter_sent" => Some(Series::Out(signal)),
        b"exporter_send_failed" => Some(Series::Failed(signal)),
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
            "otelcol_receiver_refused_spans",
            "otelcol_exporter_enqueue_failed_spans",
            "otelcol_process_uptime",
            "http.server.duration",
            "otelcol_receiver_accepted_",
            "",
        ] {
            assert_eq!(series_of(name.as_bytes()), None, "{name}");
        }
    }
}
