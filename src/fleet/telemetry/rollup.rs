//! The last hour of per-component numbers, per configuration and per destination, at
//! 10-second points: what the throughput views and `top destinations` read for periods
//! longer than the latest report.
//!
//! A driver (src/throughput.rs) sums the agents' current component numbers every 10
//! seconds and records one point per group, component, measure and signal. A series
//! that has read 0 for a whole hour is dropped, so a component that went away stops
//! costing memory; one that never reported has no series.

use std::collections::HashMap;
use std::sync::Arc;

use super::parts::{Measure, PartPoint};
use super::{Signal, TEN_SECOND_POINTS};

/// What a series is summed over.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Every agent assigned the configuration (any version).
    Configuration(Arc<str>),
    /// Every exporter rendered from the destination, in every configuration using it:
    /// a named `Destination`, or `<configuration>/destinations[j]` for an inline one.
    Destination(Arc<str>),
}

/// One series' key within a group: the component (interned index), what and which signal.
pub type PartKey = (u16, Measure, Signal);

struct Ring {
    points: Box<[f32; TEN_SECOND_POINTS]>,
    /// The first bucket it has a point for.
    first: u64,
    /// The last bucket with a non-zero point.
    last_nonzero: u64,
}

/// How many agents a group summed at its last point, and how many had numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupAgents {
    pub assigned: usize,
    pub reporting: usize,
}

/// One series' figures over a period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupRow {
    pub part: PartKey,
    /// Mean of the period's points.
    pub mean: f64,
}

#[derive(Default)]
pub struct Rollups {
    series: HashMap<Group, HashMap<PartKey, Ring>>,
    agents: HashMap<Group, GroupAgents>,
    /// The last bucket (Unix second / 10) recorded.
    head: Option<u64>,
}

fn slot(bucket: u64) -> usize {
    (bucket % TEN_SECOND_POINTS as u64) as usize
}

impl Rollups {
    /// Records bucket `bucket`: every group's sums (series not given read 0). Buckets
    /// skipped since the last one read 0 too; a bucket not after the last is ignored.
    pub fn record(
        &mut self,
        bucket: u64,
        sums: &HashMap<Group, HashMap<PartKey, f64>>,
        agents: HashMap<Group, GroupAgents>,
    ) {
        if self.head.is_some_and(|h| bucket <= h) {
            return;
        }
        let since = self.head.map_or(bucket, |h| h + 1);
        // Gaps (the driver was late) read 0; more than an hour of them is every slot.
        let gap_from = since.max(bucket.saturating_sub(TEN_SECOND_POINTS as u64));
        for rings in self.series.values_mut() {
            for ring in rings.values_mut() {
                for b in gap_from..=bucket {
                    ring.points[slot(b)] = 0.0;
                }
            }
        }
        for (group, values) in sums {
            let rings = self.series.entry(group.clone()).or_default();
            for (key, v) in values {
                let ring = rings.entry(*key).or_insert_with(|| Ring {
                    points: Box::new([0.0; TEN_SECOND_POINTS]),
                    first: bucket,
                    last_nonzero: bucket,
                });
                ring.points[slot(bucket)] = *v as f32;
                if *v != 0.0 {
                    ring.last_nonzero = bucket;
                }
            }
        }
        let horizon = TEN_SECOND_POINTS as u64;
        for rings in self.series.values_mut() {
            rings.retain(|_, r| r.last_nonzero + horizon > bucket);
        }
        self.series.retain(|_, rings| !rings.is_empty());
        self.agents = agents;
        self.head = Some(bucket);
    }

    /// Each series of a group averaged over its last `points` 10-second points (fewer
    /// when the series is younger).
    pub fn rows(&self, group: &Group, points: usize) -> Vec<RollupRow> {
        let (Some(head), Some(rings)) = (self.head, self.series.get(group)) else {
            return Vec::new();
        };
        let n = points.clamp(1, TEN_SECOND_POINTS) as u64;
        let mut out: Vec<RollupRow> = rings
            .iter()
            .map(|(key, ring)| {
                let from = ring.first.max((head + 1).saturating_sub(n));
                let count = head + 1 - from;
                let sum: f64 = (from..=head).map(|b| f64::from(ring.points[slot(b)])).sum();
                RollupRow {
                    part: *key,
                    mean: sum / count.max(1) as f64,
                }
            })
            .collect();
        out.sort_by_key(|r| (r.part.0, r.part.1, r.part.2.index()));
        out
    }

    /// The last `n` points of one series, oldest first (empty when it has none).
    pub fn tail(&self, group: &Group, key: PartKey, n: usize) -> Vec<f64> {
        let (Some(head), Some(ring)) = (
            self.head,
            self.series.get(group).and_then(|rings| rings.get(&key)),
        ) else {
            return Vec::new();
        };
        let n = n.min(TEN_SECOND_POINTS) as u64;
        let from = ring.first.max((head + 1).saturating_sub(n));
        (from..=head)
            .map(|b| f64::from(ring.points[slot(b)]))
            .collect()
    }

    /// Groups with series, in order.
    pub fn groups(&self) -> Vec<Group> {
        let mut g: Vec<Group> = self.series.keys().cloned().collect();
        g.sort();
        g
    }

    pub fn agents(&self, group: &Group) -> GroupAgents {
        self.agents.get(group).copied().unwrap_or_default()
    }

    /// Bytes held by the series (rings and map entries, roughly).
    pub fn memory_bytes(&self) -> usize {
        let per = std::mem::size_of::<[f32; TEN_SECOND_POINTS]>()
            + std::mem::size_of::<(PartKey, Ring)>();
        self.series.values().map(|r| r.len() * per).sum()
    }
}

/// The key of a part.
pub fn key_of(p: PartPoint) -> PartKey {
    (p.component, p.measure, p.signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> Group {
        Group::Configuration(Arc::from("web"))
    }

    fn sums(v: f64) -> HashMap<Group, HashMap<PartKey, f64>> {
        let mut inner = HashMap::new();
        inner.insert((1, Measure::Sent, Signal::Logs), v);
        HashMap::from([(group(), inner)])
    }

    #[test]
    fn periods_average_their_points_and_gaps_read_zero() {
        let mut r = Rollups::default();
        let b0 = 170_000_000;
        for (i, v) in [10.0, 20.0, 30.0].into_iter().enumerate() {
            r.record(b0 + i as u64, &sums(v), HashMap::new());
        }
        let key = (1, Measure::Sent, Signal::Logs);
        assert_eq!(r.rows(&group(), 1)[0].mean, 30.0);
        assert_eq!(r.rows(&group(), 6)[0].mean, 20.0, "only three points exist");
        // Two buckets without a record (the driver was late) read 0.
        r.record(b0 + 5, &sums(40.0), HashMap::new());
        assert_eq!(
            r.tail(&group(), key, 6),
            vec![10.0, 20.0, 30.0, 0.0, 0.0, 40.0]
        );
        // A bucket not after the last is ignored.
        r.record(b0 + 5, &sums(99.0), HashMap::new());
        assert_eq!(r.tail(&group(), key, 1), vec![40.0]);
    }

    #[test]
    fn a_series_silent_for_an_hour_is_dropped() {
        let mut r = Rollups::default();
        let b0 = 170_000_000;
        r.record(b0, &sums(5.0), HashMap::new());
        assert!(r.memory_bytes() > 0);
        r.record(b0 + 100, &HashMap::new(), HashMap::new());
        assert_eq!(r.groups(), vec![group()]);
        r.record(
            b0 + TEN_SECOND_POINTS as u64,
            &HashMap::new(),
            HashMap::new(),
        );
        assert!(r.groups().is_empty());
        assert_eq!(r.memory_bytes(), 0);
    }
}
