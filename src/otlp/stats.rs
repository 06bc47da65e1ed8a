//! Receiver counters, cheap to bump from any request and read by the API and headless logs.

use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals since the server started.
#[derive(Debug, Default)]
pub struct OtlpStats {
    requests: AtomicU64,
    unauthorized: AtomicU64,
    malformed: AtomicU64,
    too_large: AtomicU64,
    unsupported: AtomicU64,
    metric_points: AtomicU64,
    log_records: AtomicU64,
    spans: AtomicU64,
    unknown_agent_points: AtomicU64,
    unknown_agent_log_records: AtomicU64,
    unknown_agent_spans: AtomicU64,
    stale_samples: AtomicU64,
    over_limit_samples: AtomicU64,
}

/// A copy of [`OtlpStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OtlpCounters {
    /// Export requests answered with 200.
    pub requests: u64,
    /// Refused with 401 (missing, unknown or forged credentials).
    pub unauthorized: u64,
    /// Refused with 400.
    pub malformed: u64,
    /// Refused with 413.
    pub too_large: u64,
    /// Refused with 415.
    pub unsupported: u64,
    /// Metric data points received from fleet agents (kept or not).
    pub metric_points: u64,
    pub log_records: u64,
    pub spans: u64,
    /// Items dropped because their agent is not in the fleet (or could not be identified).
    pub unknown_agent_points: u64,
    pub unknown_agent_log_records: u64,
    pub unknown_agent_spans: u64,
    /// Samples older than what their stream already had (out of order or duplicate).
    pub stale_samples: u64,
    /// Samples of streams beyond the per-agent limit.
    pub over_limit_samples: u64,
}

/// What a counter counts, for [`OtlpStats::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Requests,
    Unauthorized,
    Malformed,
    TooLarge,
    Unsupported,
    MetricPoints,
    LogRecords,
    Spans,
    UnknownAgentPoints,
    UnknownAgentLogRecords,
    UnknownAgentSpans,
    StaleSamples,
    OverLimitSamples,
}

impl OtlpStats {
    fn cell(&self, c: Counter) -> &AtomicU64 {
        match c {
            Counter::Requests => &self.requests,
            Counter::Unauthorized => &self.unauthorized,
            Counter::Malformed => &self.malformed,
            Counter::TooLarge => &self.too_large,
            Counter::Unsupported => &self.unsupported,
            Counter::MetricPoints => &self.metric_points,
            Counter::LogRecords => &self.log_records,
            Counter::Spans => &self.spans,
            Counter::UnknownAgentPoints => &self.unknown_agent_points,
            Counter::UnknownAgentLogRecords => &self.unknown_agent_log_records,
            Counter::UnknownAgentSpans => &self.unknown_agent_spans,
            Counter::StaleSamples => &self.stale_samples,
            Counter::OverLimitSamples => &self.over_limit_samples,
        }
    }

    pub fn add(&self, c: Counter, n: u64) {
        if n != 0 {
            self.cell(c).fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.cell(c).load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> OtlpCounters {
        OtlpCounters {
            requests: self.get(Counter::Requests),
            unauthorized: self.get(Counter::Unauthorized),
            malformed: self.get(Counter::Malformed),
            too_large: self.get(Counter::TooLarge),
            unsupported: self.get(Counter::Unsupported),
            metric_points: self.get(Counter::MetricPoints),
            log_records: self.get(Counter::LogRecords),
            spans: self.get(Counter::Spans),
            unknown_agent_points: self.get(Counter::UnknownAgentPoints),
            unknown_agent_log_records: self.get(Counter::UnknownAgentLogRecords),
            unknown_agent_spans: self.get(Counter::UnknownAgentSpans),
            stale_samples: self.get(Counter::StaleSamples),
            over_limit_samples: self.get(Counter::OverLimitSamples),
        }
    }
}
