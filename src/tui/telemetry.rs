//! The UI's window on the agents' own telemetry (`fleet::telemetry`). The run loop copies the tails the next
//! frame will show (visible rows, the open agent, fleet totals) into a `Tails` buffer just
//! before drawing, so render itself never touches the store or its lock.

use std::collections::HashMap;

use crate::fleet::AgentId;
pub use crate::fleet::refusals::Refused;

pub use crate::fleet::telemetry::{Resolution, SERIES_COUNT, Series, Signal, TelemetryStore};

pub fn signal_label(s: Signal) -> &'static str {
    match s {
        Signal::Logs => "logs",
        Signal::Metrics => "metrics",
        Signal::Traces => "traces",
    }
}

/// Read access to per-agent and fleet-wide series, oldest value first.
pub trait TelemetrySource {
    fn tail(&self, id: &AgentId, series: Series, n: usize, out: &mut Vec<f64>);
    /// Every series of one agent, `out[series.index()]` each.
    fn tails(&self, id: &AgentId, n: usize, out: &mut [Vec<f64>; SERIES_COUNT]) {
        for s in Series::ALL {
            self.tail(id, s, n, &mut out[s.index()]);
        }
    }
    fn fleet_tail(&self, series: Series, n: usize, out: &mut Vec<f64>);
    /// Changes whenever [`TelemetrySource::tails`] of this agent could answer differently
    /// (new data, or the current second moved on); `None` when it cannot tell, and then
    /// nothing is cached.
    fn fingerprint(&self, _id: &AgentId) -> Option<u64> {
        None
    }
    /// The agent's own telemetry that was refused lately (no or wrong credentials).
    fn refused(&self, _id: &AgentId) -> Option<Refused> {
        None
    }
}

/// The live store, read at the current second, one point per second.
impl TelemetrySource for TelemetryStore {
    fn tail(&self, id: &AgentId, series: Series, n: usize, out: &mut Vec<f64>) {
        TelemetryStore::tail(self, id, series, Resolution::Second, n, out);
    }
    fn tails(&self, id: &AgentId, n: usize, out: &mut [Vec<f64>; SERIES_COUNT]) {
        TelemetryStore::tails(self, id, n, out);
    }
    fn fleet_tail(&self, series: Series, n: usize, out: &mut Vec<f64>) {
        TelemetryStore::fleet_tail(self, series, Resolution::Second, n, out);
    }
    fn fingerprint(&self, id: &AgentId) -> Option<u64> {
        self.fingerprint_at(crate::fleet::telemetry::now_sec(), id)
    }
    fn refused(&self, id: &AgentId) -> Option<Refused> {
        self.refusals().get(id)
    }
}

/// The store as seen at a fixed second: deterministic tests and screenshots.
#[derive(Clone)]
pub struct StoreAt {
    pub store: TelemetryStore,
    pub now: u64,
}

impl TelemetrySource for StoreAt {
    fn tail(&self, id: &AgentId, series: Series, n: usize, out: &mut Vec<f64>) {
        self.store
            .tail_at(self.now, id, series, Resolution::Second, n, out);
    }
    fn tails(&self, id: &AgentId, n: usize, out: &mut [Vec<f64>; SERIES_COUNT]) {
        self.store.tails_at(self.now, id, n, out);
    }
    fn fleet_tail(&self, series: Series, n: usize, out: &mut Vec<f64>) {
        self.store
            .fleet_tail_at(self.now, series, Resolution::Second, n, out);
    }
    fn fingerprint(&self, id: &AgentId) -> Option<u64> {
        self.store.fingerprint_at(self.now, id)
    }
    fn refused(&self, id: &AgentId) -> Option<Refused> {
        self.store.refusals().get(id)
    }
}

/// Every series of one agent (or of the fleet), as copied for one frame.
#[derive(Debug, Clone, Default)]
pub struct SeriesSet {
    data: [Vec<f64>; SERIES_COUNT],
    /// What it was copied from: the source's fingerprint and the length asked for. A frame
    /// that asks the same of an agent whose fingerprint did not move reuses the copy.
    copied: Option<(u64, usize)>,
}

impl SeriesSet {
    pub fn get(&self, s: Series) -> &[f64] {
        &self.data[s.index()]
    }

    pub fn latest(&self, s: Series) -> Option<f64> {
        self.get(s).last().copied()
    }

    fn fill(&mut self, n: usize, mut copy: impl FnMut(Series, &mut Vec<f64>)) {
        for s in Series::ALL {
            let buf = &mut self.data[s.index()];
            buf.clear();
            if n > 0 {
                copy(s, buf);
            }
        }
    }
}

/// The tails the next frame needs. Buffers are reused from frame to frame.
#[derive(Debug, Default)]
pub struct Tails {
    agents: HashMap<AgentId, SeriesSet>,
    /// Refused own telemetry of the agents copied (few have any).
    refused: HashMap<AgentId, Refused>,
    spare: Vec<SeriesSet>,
    pub fleet: SeriesSet,
}

impl Tails {
    pub fn agent(&self, id: &AgentId) -> Option<&SeriesSet> {
        self.agents.get(id)
    }

    pub fn refused(&self, id: &AgentId) -> Option<&Refused> {
        self.refused.get(id)
    }

    /// Replaces the contents with `n` values per series for each of `ids`, and the
    /// fleet's latest `fleet_n` values. An agent whose series did not change since the last
    /// copy (same second, no report) keeps its copy: frames drawn for keys between two
    /// reports decode nothing again.
    pub fn copy_from(
        &mut self,
        source: &dyn TelemetrySource,
        ids: &[(AgentId, usize)],
        fleet_n: usize,
    ) {
        let mut previous = std::mem::take(&mut self.agents);
        self.refused.clear();
        for (id, n) in ids {
            if let Some(r) = source.refused(id) {
                self.refused.insert(*id, r);
            }
            let key = source.fingerprint(id).map(|f| (f, *n));
            let mut set = match previous.remove(id) {
                Some(set) if key.is_some() && set.copied == key => {
                    self.agents.insert(*id, set);
                    continue;
                }
                Some(set) => set,
                None => self.spare.pop().unwrap_or_default(),
            };
            if *n > 0 {
                source.tails(id, *n, &mut set.data);
            } else {
                set.data.iter_mut().for_each(Vec::clear);
            }
            set.copied = key;
            self.agents.insert(*id, set);
        }
        self.spare.extend(previous.into_values());
        self.fleet
            .fill(fleet_n, |s, buf| source.fleet_tail(s, fleet_n, buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::telemetry::{Sample, Temporality};

    fn ingest(store: &TelemetryStore, t: u64, id: &AgentId, value: f64) {
        let samples: Vec<Sample> = Series::ALL
            .iter()
            .map(|s| Sample {
                series: Some(*s),
                part: None,
                stream: 0,
                temporality: Temporality::Gauge,
                start_ns: 0,
                time_ns: t * 1_000_000_000,
                value,
            })
            .collect();
        store.ingest_at(t, id, &samples);
    }

    /// What a fresh copy says, to compare a cached one with.
    fn fresh(source: &StoreAt, id: &AgentId, n: usize) -> Vec<Vec<f64>> {
        let mut t = Tails::default();
        t.copy_from(source, &[(*id, n)], 0);
        Series::ALL
            .iter()
            .map(|s| t.agent(id).expect("copied").get(*s).to_vec())
            .collect()
    }

    fn copied(t: &Tails, id: &AgentId) -> Vec<Vec<f64>> {
        Series::ALL
            .iter()
            .map(|s| t.agent(id).expect("copied").get(*s).to_vec())
            .collect()
    }

    #[test]
    fn a_reused_copy_is_what_a_fresh_one_would_say() {
        let store = TelemetryStore::new();
        let id = AgentId::new_v7();
        for t in 1_000..1_030 {
            ingest(&store, t, &id, (t % 7) as f64 * 10.0);
        }
        let mut tails = Tails::default();
        let mut at = StoreAt { store, now: 1_029 };
        tails.copy_from(&at, &[(id, 20)], 0);
        assert_eq!(copied(&tails, &id), fresh(&at, &id, 20));
        // Same second, nothing new: the copy is kept and still right.
        tails.copy_from(&at, &[(id, 20)], 0);
        assert_eq!(copied(&tails, &id), fresh(&at, &id, 20));
        // A new report in the same second, a later second, another length: each shows.
        ingest(&at.store, 1_029, &id, 999.0);
        tails.copy_from(&at, &[(id, 20)], 0);
        assert_eq!(copied(&tails, &id), fresh(&at, &id, 20));
        let before = copied(&tails, &id);
        at.now = 1_040;
        tails.copy_from(&at, &[(id, 20)], 0);
        assert_eq!(copied(&tails, &id), fresh(&at, &id, 20));
        assert_ne!(
            copied(&tails, &id),
            before,
            "the later second is not the cached one"
        );
        tails.copy_from(&at, &[(id, 8)], 0);
        assert_eq!(copied(&tails, &id), fresh(&at, &id, 8));
        assert_eq!(copied(&tails, &id)[0].len(), 8);
    }
}
