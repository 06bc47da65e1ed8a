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
    fn refused(&self, id: &AgentId) -> Option<Refused> {
        self.store.refusals().get(id)
    }
}

/// Every series of one agent (or of the fleet), as copied for one frame.
#[derive(Debug, Clone, Default)]
pub struct SeriesSet {
    data: [Vec<f64>; SERIES_COUNT],
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
    /// fleet's latest `fleet_n` values.
    pub fn copy_from(
        &mut self,
        source: &dyn TelemetrySource,
        ids: &[(AgentId, usize)],
        fleet_n: usize,
    ) {
        self.spare.extend(self.agents.drain().map(|(_, set)| set));
        self.refused.clear();
        for (id, n) in ids {
            if let Some(r) = source.refused(id) {
                self.refused.insert(*id, r);
            }
            let mut set = self.spare.pop().unwrap_or_default();
            if *n > 0 {
                source.tails(id, *n, &mut set.data);
            } else {
                set.data.iter_mut().for_each(Vec::clear);
            }
            self.agents.insert(*id, set);
        }
        self.fleet
            .fill(fleet_n, |s, buf| source.fleet_tail(s, fleet_n, buf));
    }
}
