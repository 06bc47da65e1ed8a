//! Per-component counts: what each receiver, processor and exporter of an agent's
//! Collector says it accepted, refused, passed on, sent, failed to send and holds queued.
//!
//! They ride on the agent's counter streams (one stream per metric × attribute set, so a
//! receiver listening on two transports is two streams summed, and a processor running in
//! two pipelines is two streams summed, never one counted twice). Nothing is kept per
//! component beyond the streams themselves: an agent's current rates are summed from them
//! when asked ([`super::TelemetryStore::parts_at`]); history is kept per configuration and
//! per destination by the rollups, not per agent.
//!
//! Component IDs (`otlphttp/backend`) are interned fleet-wide: agents running one
//! configuration name the same components, so the table stays the size of the fleet's
//! configurations, and a stream stores a 16-bit index.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use super::Signal;

/// What a component's number counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Receiver: items it took in and passed on.
    Accepted,
    /// Receiver: items it turned away (the next component refused them).
    Refused,
    /// Receiver: items it could not take in (an internal error).
    Failed,
    /// Processor: items that came in.
    Incoming,
    /// Processor: items it passed on.
    Outgoing,
    /// Processor (older Collectors): items it dropped on purpose.
    Dropped,
    /// Exporter: items the destination took.
    Sent,
    /// Exporter: items it gave up sending.
    SendFailed,
    /// Exporter: items it could not queue (the queue was full).
    EnqueueFailed,
    /// Exporter: batches or items in its sending queue now.
    QueueSize,
    /// Exporter: how many its queue holds at most.
    QueueCapacity,
}

impl Measure {
    pub const ALL: [Measure; 11] = [
        Measure::Accepted,
        Measure::Refused,
        Measure::Failed,
        Measure::Incoming,
        Measure::Outgoing,
        Measure::Dropped,
        Measure::Sent,
        Measure::SendFailed,
        Measure::EnqueueFailed,
        Measure::QueueSize,
        Measure::QueueCapacity,
    ];

    fn index(self) -> u8 {
        Measure::ALL.iter().position(|m| *m == self).unwrap_or(0) as u8
    }

    /// A level (queue fill), not a count: its number is a value, not items per second.
    pub fn is_level(self) -> bool {
        matches!(self, Measure::QueueSize | Measure::QueueCapacity)
    }
}

/// Which component a data point is about, what it counts and for which signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartPoint {
    /// Index in the store's [`ComponentNames`] (or, before a batch is resolved, in the
    /// batch's own name list).
    pub component: u16,
    pub measure: Measure,
    pub signal: Signal,
}

impl PartPoint {
    /// One byte for a stream: 0 is "no component part", else 1 + measure × 3 + signal.
    pub(super) fn code(self) -> u8 {
        1 + self.measure.index() * 3 + self.signal.index() as u8
    }

    pub(super) fn from_code(component: u16, code: u8) -> Option<PartPoint> {
        let c = code.checked_sub(1)?;
        let measure = *Measure::ALL.get(usize::from(c / 3))?;
        let signal = *Signal::ALL.get(usize::from(c % 3))?;
        Some(PartPoint {
            component,
            measure,
            signal,
        })
    }
}

/// One component's current number for one measure and signal (items per second, or the
/// level for queue measures), summed over its streams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartRate {
    pub part: PartPoint,
    pub value: f64,
}

/// Longest component ID kept; longer ones are not a Collector's (`type/name`).
pub const MAX_COMPONENT_ID: usize = 256;
/// Distinct component IDs kept fleet-wide; past it new ones are ignored (a peer cannot
/// grow the table without bound).
pub const MAX_COMPONENT_NAMES: usize = 60_000;

/// A component ID's hash, as the parser and the table compute it.
pub fn component_hash(id: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0xc0_4e_11_d5).hash_one(id)
}

/// The fleet's component IDs, interned.
#[derive(Default)]
pub struct ComponentNames {
    by_hash: HashMap<u64, u16>,
    names: Vec<Arc<str>>,
}

impl ComponentNames {
    /// The index of an ID already known.
    pub fn find(&self, hash: u64) -> Option<u16> {
        self.by_hash.get(&hash).copied()
    }

    /// The index of `id`, added when new; `None` once the table is full.
    pub fn intern(&mut self, hash: u64, id: &str) -> Option<u16> {
        if let Some(i) = self.find(hash) {
            return Some(i);
        }
        if self.names.len() >= MAX_COMPONENT_NAMES {
            return None;
        }
        let i = u16::try_from(self.names.len()).ok()?;
        self.names.push(Arc::from(id));
        self.by_hash.insert(hash, i);
        Some(i)
    }

    pub fn name(&self, i: u16) -> Option<&Arc<str>> {
        self.names.get(usize::from(i))
    }

    /// The index of an ID, if any agent reported it.
    pub fn index_of(&self, id: &str) -> Option<u16> {
        self.find(component_hash(id.as_bytes()))
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_for_every_measure_and_signal() {
        for measure in Measure::ALL {
            for signal in Signal::ALL {
                let p = PartPoint {
                    component: 7,
                    measure,
                    signal,
                };
                assert_ne!(p.code(), 0);
                assert_eq!(PartPoint::from_code(7, p.code()), Some(p));
            }
        }
        assert_eq!(PartPoint::from_code(7, 0), None);
        assert_eq!(PartPoint::from_code(7, 200), None);
    }

    #[test]
    fn names_are_interned_once_and_bounded() {
        let mut names = ComponentNames::default();
        let a = names.intern(component_hash(b"otlp"), "otlp");
        let b = names.intern(component_hash(b"otlphttp/backend"), "otlphttp/backend");
        assert_eq!(a, Some(0));
        assert_eq!(b, Some(1));
        assert_eq!(names.intern(component_hash(b"otlp"), "otlp"), Some(0));
        assert_eq!(names.index_of("otlphttp/backend"), Some(1));
        assert_eq!(names.name(1).map(|n| &**n), Some("otlphttp/backend"));
        for i in 0..MAX_COMPONENT_NAMES {
            let id = format!("debug/{i}");
            names.intern(component_hash(id.as_bytes()), &id);
        }
        assert_eq!(names.len(), MAX_COMPONENT_NAMES);
        assert_eq!(names.intern(component_hash(b"one/more"), "one/more"), None);
    }

    fn point(
        component: u16,
        measure: Measure,
        stream: u64,
        start: u64,
        time: u64,
        v: f64,
    ) -> super::super::Sample {
        super::super::Sample {
            series: None,
            part: Some(PartPoint {
                component,
                measure,
                signal: Signal::Logs,
            }),
            stream,
            temporality: super::super::Temporality::Cumulative,
            start_ns: start * 1_000_000_000,
            time_ns: time * 1_000_000_000,
            value: v,
        }
    }

    fn rate(
        store: &super::super::TelemetryStore,
        now: u64,
        id: &crate::fleet::AgentId,
        c: u16,
        m: Measure,
    ) -> Option<f64> {
        let mut out = Vec::new();
        store.parts_at(now, id, &mut out);
        out.iter()
            .find(|r| r.part.component == c && r.part.measure == m)
            .map(|r| r.value)
    }

    #[test]
    fn component_rates_survive_restarts_sum_streams_and_stop_with_the_component() {
        let store = super::super::TelemetryStore::new();
        let id = crate::fleet::AgentId([9; 16]);
        let t0 = 1_700_000_000;
        // A processor in two pipelines (two streams), an exporter, over three reports.
        store.ingest_at(
            t0,
            &id,
            &[
                point(1, Measure::Incoming, 11, t0 - 100, t0, 1_000.0),
                point(1, Measure::Incoming, 12, t0 - 100, t0, 500.0),
                point(2, Measure::Sent, 21, t0 - 100, t0, 900.0),
            ],
        );
        store.ingest_at(
            t0 + 10,
            &id,
            &[
                point(1, Measure::Incoming, 11, t0 - 100, t0 + 10, 1_100.0),
                point(1, Measure::Incoming, 12, t0 - 100, t0 + 10, 550.0),
                point(2, Measure::Sent, 21, t0 - 100, t0 + 10, 1_000.0),
            ],
        );
        // Both pipelines' items, once each: 10/s + 5/s.
        assert_eq!(rate(&store, t0 + 10, &id, 1, Measure::Incoming), Some(15.0));
        assert_eq!(rate(&store, t0 + 10, &id, 2, Measure::Sent), Some(10.0));
        // The Collector restarted (counters from a later start, lower values); the new
        // configuration no longer has exporter 2.
        store.ingest_at(
            t0 + 20,
            &id,
            &[
                point(1, Measure::Incoming, 11, t0 + 15, t0 + 20, 40.0),
                point(1, Measure::Incoming, 12, t0 + 15, t0 + 20, 10.0),
            ],
        );
        assert_eq!(rate(&store, t0 + 20, &id, 1, Measure::Incoming), Some(10.0));
        // Exporter 2 still holds its last rate for a while, then stops counting.
        assert_eq!(rate(&store, t0 + 20, &id, 2, Measure::Sent), Some(10.0));
        store.ingest_at(
            t0 + 30,
            &id,
            &[
                point(1, Measure::Incoming, 11, t0 + 15, t0 + 30, 90.0),
                point(1, Measure::Incoming, 12, t0 + 15, t0 + 30, 60.0),
            ],
        );
        store.ingest_at(
            t0 + 40,
            &id,
            &[
                point(1, Measure::Incoming, 11, t0 + 15, t0 + 40, 140.0),
                point(1, Measure::Incoming, 12, t0 + 15, t0 + 40, 110.0),
            ],
        );
        assert_eq!(rate(&store, t0 + 40, &id, 2, Measure::Sent), None);
        assert_eq!(rate(&store, t0 + 40, &id, 1, Measure::Incoming), Some(10.0));
    }
}
