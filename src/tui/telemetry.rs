//! The UI's window on the agents' own telemetry. The run loop copies the tails the next
//! frame will show (visible rows, the open agent, fleet totals) into a `Tails` buffer just
//! before drawing, so render itself never touches the store or its lock.

use std::collections::HashMap;

use crate::fleet::AgentId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Logs,
    Metrics,
    Traces,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Logs, Signal::Metrics, Signal::Traces];

    pub fn label(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
        }
    }
}

/// One time series kept per agent: items per second in, out and failed per signal, and
/// process CPU (percent) and memory (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Series {
    In(Signal),
    Out(Signal),
    Failed(Signal),
    Cpu,
    Memory,
}

impl Series {
    pub const COUNT: usize = 11;
    pub const ALL: [Series; Series::COUNT] = [
        Series::In(Signal::Logs),
        Series::In(Signal::Metrics),
        Series::In(Signal::Traces),
        Series::Out(Signal::Logs),
        Series::Out(Signal::Metrics),
        Series::Out(Signal::Traces),
        Series::Failed(Signal::Logs),
        Series::Failed(Signal::Metrics),
        Series::Failed(Signal::Traces),
        Series::Cpu,
        Series::Memory,
    ];

    fn slot(self) -> usize {
        let sig = |s: Signal| match s {
            Signal::Logs => 0,
            Signal::Metrics => 1,
            Signal::Traces => 2,
        };
        match self {
            Series::In(s) => sig(s),
            Series::Out(s) => 3 + sig(s),
            Series::Failed(s) => 6 + sig(s),
            Series::Cpu => 9,
            Series::Memory => 10,
        }
    }
}

/// Read access to per-agent and fleet-wide series, oldest value first.
pub trait TelemetrySource {
    fn tail(&self, id: &AgentId, series: Series, n: usize, out: &mut Vec<f64>);
    fn fleet_tail(&self, series: Series, n: usize, out: &mut Vec<f64>);
}

/// A source with no data: every sparkline is empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTelemetry;

impl TelemetrySource for NoTelemetry {
    fn tail(&self, _: &AgentId, _: Series, _: usize, out: &mut Vec<f64>) {
        out.clear();
    }
    fn fleet_tail(&self, _: Series, _: usize, out: &mut Vec<f64>) {
        out.clear();
    }
}

/// Every series of one agent (or of the fleet), as copied for one frame.
#[derive(Debug, Clone, Default)]
pub struct SeriesSet {
    data: [Vec<f64>; Series::COUNT],
}

impl SeriesSet {
    pub fn get(&self, s: Series) -> &[f64] {
        &self.data[s.slot()]
    }

    pub fn latest(&self, s: Series) -> Option<f64> {
        self.get(s).last().copied()
    }

    fn fill(&mut self, n: usize, mut copy: impl FnMut(Series, &mut Vec<f64>)) {
        for s in Series::ALL {
            let buf = &mut self.data[s.slot()];
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
    spare: Vec<SeriesSet>,
    pub fleet: SeriesSet,
}

impl Tails {
    pub fn agent(&self, id: &AgentId) -> Option<&SeriesSet> {
        self.agents.get(id)
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
        for (id, n) in ids {
            let mut set = self.spare.pop().unwrap_or_default();
            set.fill(*n, |s, buf| source.tail(id, s, *n, buf));
            self.agents.insert(*id, set);
        }
        self.fleet
            .fill(fleet_n, |s, buf| source.fleet_tail(s, fleet_n, buf));
    }
}
