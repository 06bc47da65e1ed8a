//! Per-agent throughput series derived from the agents' own telemetry, plus fleet-wide totals.
//!
//! The OTLP receiver turns the Collector's self-metrics into [`Sample`]s and calls
//! [`TelemetryStore::ingest`]; the TUI and the management API read the series with
//! [`TelemetryStore::tail`], [`TelemetryStore::latest`] and [`TelemetryStore::fleet_tail`].
//!
//! # What a point means
//! A point is the rate known at that second (items/s, CPU in cores, memory in bytes): an agent's
//! last reported rate holds until its next report, and stops counting once the agent has been
//! silent for [`hold_for`] its reporting interval (then the point reads 0 and `latest` is `None`).
//! The fleet point is the sum of the agents' points at the same second. Seconds are server
//! seconds (the time a report arrived), so agents with skewed clocks still line up.
//!
//! # Memory
//! Rings are allocated once per agent, when it first reports: [`SERIES_COUNT`] series ×
//! ([`SECOND_POINTS`] + [`TEN_SECOND_POINTS`]) `f32` = 26,400 bytes, plus 64 bytes per counter
//! stream (a typical Collector has 10–40; the table starts with room for 32). Measured with
//! the benchmark's Collector shape: 28,728 bytes per reporting agent ([`TelemetryStore::memory_bytes`]).
//! Steady-state ingest allocates nothing; agents that never report cost nothing.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::agent::AgentId;

/// 1-second points kept per series: 4 minutes.
pub const SECOND_POINTS: usize = 240;
/// 10-second points kept per series: 1 hour.
pub const TEN_SECOND_POINTS: usize = 360;
/// Number of distinct [`Series`].
pub const SERIES_COUNT: usize = 11;
/// Counter streams (metric × attribute set) tracked per agent; more are counted and ignored.
pub const MAX_STREAMS_PER_AGENT: usize = 256;

/// Longest time a rate is held without a new report, in seconds.
const MAX_HOLD: u64 = 180;
/// Shortest hold, so agents that report every few seconds do not flicker.
const MIN_HOLD: u64 = 15;
/// Reporting interval assumed until an agent has reported twice (the Collector's default).
const DEFAULT_INTERVAL: u64 = 60;
/// A cumulative counter first seen this soon after its start gives a rate from its start;
/// older ones only set a baseline (an average over days is not a current rate).
const FRESH_START_NS: u64 = 300 * 1_000_000_000;
/// Pending fleet changes are scheduled at most `MAX_HOLD + 2` seconds ahead.
const DIFF_SLOTS: usize = 256;
const SHARDS: usize = 16;

/// A telemetry signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Logs,
    Metrics,
    Traces,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Logs, Signal::Metrics, Signal::Traces];

    /// Position in [`Signal::ALL`].
    pub fn index(self) -> usize {
        match self {
            Signal::Logs => 0,
            Signal::Metrics => 1,
            Signal::Traces => 2,
        }
    }
}

/// One series kept per agent: items/s received, sent and failed per signal; CPU in cores;
/// resident memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Series {
    In(Signal),
    Out(Signal),
    Failed(Signal),
    Cpu,
    Memory,
}

impl Series {
    pub const ALL: [Series; SERIES_COUNT] = [
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

    /// Dense index in `0..SERIES_COUNT`, the position in [`Series::ALL`].
    pub fn index(self) -> usize {
        match self {
            Series::In(s) => s.index(),
            Series::Out(s) => 3 + s.index(),
            Series::Failed(s) => 6 + s.index(),
            Series::Cpu => 9,
            Series::Memory => 10,
        }
    }
}

/// Point spacing of a tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Second,
    TenSeconds,
}

/// How a sample's value relates to earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// Total since `start_ns`; the rate is the difference between reports.
    Cumulative,
    /// Amount during `start_ns..time_ns`.
    Delta,
    /// A current value (memory), stored as is.
    Gauge,
}

/// One data point of a metric we keep, already mapped to its series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub series: Series,
    /// Identifies the attribute set (e.g. one receiver × transport): points of the same
    /// stream are compared with each other, streams of a series are summed.
    pub stream: u64,
    pub temporality: Temporality,
    /// 0 when unknown.
    pub start_ns: u64,
    pub time_ns: u64,
    pub value: f64,
}

/// What one [`TelemetryStore::ingest`] call did with its samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Samples that updated a stream (including baselines of new cumulative streams).
    pub accepted: usize,
    /// Older than or equal to the stream's last point (out of order or duplicate).
    pub stale: usize,
    /// The agent already tracks [`MAX_STREAMS_PER_AGENT`] streams.
    pub over_limit: usize,
}

/// How long an agent's last rate holds, given its reporting interval in seconds.
pub fn hold_for(interval: u64) -> u64 {
    (interval.saturating_mul(2) + 5).clamp(MIN_HOLD, MAX_HOLD)
}

/// The current Unix second.
pub fn now_sec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Shared, cheaply cloned store of every reporting agent's series.
///
/// Sharded by agent id so concurrent requests from different agents rarely contend; readers
/// take a shard's read lock only while copying one tail.
#[derive(Clone, Default)]
pub struct TelemetryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: [RwLock<HashMap<AgentId, Box<AgentSeries>>>; SHARDS],
    fleet: RwLock<FleetSeries>,
    refusals: super::refusals::Refusals,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            shards: std::array::from_fn(|_| RwLock::default()),
            fleet: RwLock::new(FleetSeries::new()),
            refusals: Default::default(),
        }
    }
}

fn shard_of(id: &AgentId) -> usize {
    // The tail of a UUIDv7 is random, so the last byte spreads agents evenly.
    usize::from(id.0[15]) % SHARDS
}

impl TelemetryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Own telemetry refused per agent (credentials missing or wrong).
    pub fn refusals(&self) -> &super::refusals::Refusals {
        &self.inner.refusals
    }

    /// The last `n` points of one agent's series, oldest first, into `out` (cleared first).
    /// Fewer than `n` when the agent started reporting recently; empty for unknown agents.
    pub fn tail(&self, id: &AgentId, s: Series, r: Resolution, n: usize, out: &mut Vec<f64>) {
        self.tail_at(now_sec(), id, s, r, n, out)
    }

    /// The agent's current value of a series, `None` if it never reported it or went silent.
    pub fn latest(&self, id: &AgentId, s: Series) -> Option<f64> {
        self.latest_at(now_sec(), id, s)
    }

    /// The last `n` points of a series summed over all agents, oldest first.
    pub fn fleet_tail(&self, s: Series, r: Resolution, n: usize, out: &mut Vec<f64>) {
        self.fleet_tail_at(now_sec(), s, r, n, out)
    }

    /// Agents whose telemetry is currently fresh.
    pub fn agents_reporting(&self) -> usize {
        self.agents_reporting_at(now_sec())
    }

    /// Drops an agent's series (it left the fleet); its share of the fleet totals ends now.
    pub fn forget(&self, id: &AgentId) {
        self.forget_at(now_sec(), id)
    }

    /// Adds one report's samples for an agent, arriving now.
    pub fn ingest(&self, id: &AgentId, samples: &[Sample]) -> IngestOutcome {
        self.ingest_at(now_sec(), id, samples)
    }

    /// [`TelemetryStore::ingest`] at a given Unix second (tests and benchmarks drive time).
    pub fn ingest_at(&self, now: u64, id: &AgentId, samples: &[Sample]) -> IngestOutcome {
        let mut changes = Changes::default();
        let outcome = {
            let mut shard = write(&self.inner.shards[shard_of(id)]);
            let agent = shard
                .entry(*id)
                .or_insert_with(|| Box::new(AgentSeries::new(now)));
            agent.report(now, samples, &mut changes)
        };
        if changes.any() {
            write(&self.inner.fleet).apply(changes);
        }
        outcome
    }

    /// [`TelemetryStore::tail`] as seen at a given Unix second.
    pub fn tail_at(
        &self,
        now: u64,
        id: &AgentId,
        s: Series,
        r: Resolution,
        n: usize,
        out: &mut Vec<f64>,
    ) {
        out.clear();
        let shard = read(&self.inner.shards[shard_of(id)]);
        if let Some(agent) = shard.get(id) {
            let now = now.max(agent.rings.head + 1);
            agent
                .rings
                .tail(now, s.index(), r, n, out, |i, sec| agent.pending(i, sec));
        }
    }

    /// [`TelemetryStore::latest`] as seen at a given Unix second.
    pub fn latest_at(&self, now: u64, id: &AgentId, s: Series) -> Option<f64> {
        let shard = read(&self.inner.shards[shard_of(id)]);
        let held = shard.get(id)?.held[s.index()];
        (held.active && held.until >= now).then_some(f64::from(held.value))
    }

    /// [`TelemetryStore::fleet_tail`] as seen at a given Unix second.
    pub fn fleet_tail_at(&self, now: u64, s: Series, r: Resolution, n: usize, out: &mut Vec<f64>) {
        out.clear();
        let fleet = read(&self.inner.fleet);
        if fleet.started {
            let now = now.max(fleet.rings.head + 1);
            let pending = fleet.pending_series(s.index(), now);
            fleet
                .rings
                .tail(now, s.index(), r, n, out, |_, sec| pending.at(sec));
        }
    }

    /// [`TelemetryStore::agents_reporting`] as seen at a given Unix second.
    pub fn agents_reporting_at(&self, now: u64) -> usize {
        let fleet = read(&self.inner.fleet);
        usize::try_from(fleet.agents_at(now)).unwrap_or(0)
    }

    /// [`TelemetryStore::forget`] at a given Unix second.
    pub fn forget_at(&self, now: u64, id: &AgentId) {
        let removed = write(&self.inner.shards[shard_of(id)]).remove(id);
        if let Some(agent) = removed {
            let mut changes = Changes {
                at: now.max(agent.rings.head + 1),
                ..Changes::default()
            };
            for (i, held) in agent.held.iter().enumerate() {
                changes.series[i] = Some((*held, Held::default()));
            }
            changes.fresh = Some((agent.fresh_until, None));
            write(&self.inner.fleet).apply(changes);
        }
    }

    /// Number of agents with allocated series (reporting now or earlier, not forgotten).
    pub fn agents_tracked(&self) -> usize {
        self.inner.shards.iter().map(|s| read(s).len()).sum()
    }

    /// Heap bytes held for the agents' series and counter streams (rings, stream tables and
    /// map entries; the maps' spare capacity is not counted).
    pub fn memory_bytes(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|shard| {
                read(shard)
                    .values()
                    .map(|a| a.memory_bytes())
                    .sum::<usize>()
            })
            .sum()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A panicking writer leaves plain numbers behind, still safe to read.
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Ring buffers for every series, written second by second up to `head`.
struct Rings {
    sec: [[f32; SECOND_POINTS]; SERIES_COUNT],
    ten: [[f32; TEN_SECOND_POINTS]; SERIES_COUNT],
    /// Last second written.
    head: u64,
    /// First second with data; points before it are not returned.
    first: u64,
}

impl Rings {
    fn new_boxed(first: u64) -> Box<Rings> {
        Box::new(Rings {
            sec: [[0.0; SECOND_POINTS]; SERIES_COUNT],
            ten: [[0.0; TEN_SECOND_POINTS]; SERIES_COUNT],
            head: first.saturating_sub(1),
            first,
        })
    }

    /// Writes seconds `head+1..=to` from `value(series, second)`.
    fn advance(&mut self, to: u64, value: impl Fn(usize, u64) -> f64) {
        if to <= self.head {
            return;
        }
        // After an hour of silence every slot is rewritten anyway: skip the seconds no
        // ring can hold.
        let span = (TEN_SECOND_POINTS as u64 + 1) * 10;
        let mut s = self.head.max(to.saturating_sub(span)) + 1;
        while s <= to {
            for i in 0..SERIES_COUNT {
                self.sec[i][slot_sec(s)] = value(i, s) as f32;
                if s % 10 == 9 {
                    self.ten[i][slot_ten(s / 10)] = self.bucket_mean_written(i, s / 10);
                }
            }
            s += 1;
        }
        self.head = to;
    }

    /// Mean of a fully written 10-second bucket, over the seconds since `first`.
    fn bucket_mean_written(&self, i: usize, bucket: u64) -> f32 {
        let from = (bucket * 10).max(self.first);
        let to = bucket * 10 + 9;
        if from > to {
            return 0.0;
        }
        let sum: f32 = (from..=to).map(|s| self.sec[i][slot_sec(s)]).sum();
        sum / (to - from + 1) as f32
    }

    fn value_at(&self, i: usize, s: u64, pending: &impl Fn(usize, u64) -> f64) -> f64 {
        if s <= self.head {
            f64::from(self.sec[i][slot_sec(s)])
        } else {
            pending(i, s)
        }
    }

    fn tail(
        &self,
        now: u64,
        i: usize,
        r: Resolution,
        n: usize,
        out: &mut Vec<f64>,
        pending: impl Fn(usize, u64) -> f64,
    ) {
        if self.first > now || n == 0 {
            return;
        }
        match r {
            Resolution::Second => {
                let n = n.min(SECOND_POINTS) as u64;
                let from = self.first.max((now + 1).saturating_sub(n));
                out.extend((from..=now).map(|s| self.value_at(i, s, &pending)));
            }
            Resolution::TenSeconds => {
                let n = n.min(TEN_SECOND_POINTS) as u64;
                let last = now / 10;
                let from = (self.first / 10).max((last + 1).saturating_sub(n));
                for b in from..=last {
                    if b * 10 + 9 <= self.head {
                        out.push(f64::from(self.ten[i][slot_ten(b)]));
                    } else {
                        // The bucket still in progress: the mean of its seconds so far.
                        let lo = (b * 10).max(self.first);
                        let hi = (b * 10 + 9).min(now);
                        let sum: f64 = (lo..=hi).map(|s| self.value_at(i, s, &pending)).sum();
                        out.push(sum / (hi - lo + 1) as f64);
                    }
                }
            }
        }
    }
}

fn slot_sec(s: u64) -> usize {
    (s % SECOND_POINTS as u64) as usize
}

fn slot_ten(b: u64) -> usize {
    (b % TEN_SECOND_POINTS as u64) as usize
}

/// A series' current value and the last second it is valid for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Held {
    value: f32,
    until: u64,
    active: bool,
}

impl Held {
    fn at(&self, s: u64) -> f64 {
        if self.active && s <= self.until {
            f64::from(self.value)
        } else {
            0.0
        }
    }
}

/// What a counter stream remembers between reports.
#[derive(Debug, Clone, Copy)]
struct Stream {
    series: u8,
    key: u64,
    start_ns: u64,
    time_ns: u64,
    value: f64,
    /// Latest rate and the server second it was computed; `None` until one is known.
    rate: Option<(f64, u64)>,
}

struct AgentSeries {
    rings: Box<Rings>,
    held: [Held; SERIES_COUNT],
    streams: Vec<Stream>,
    /// Where the previous report's streams were matched, so an unchanged report finds each
    /// stream at the next position without searching.
    cursor: usize,
    last_report: u64,
    interval: u64,
    fresh_until: u64,
}

impl AgentSeries {
    fn new(now: u64) -> Self {
        AgentSeries {
            rings: Rings::new_boxed(now),
            held: [Held::default(); SERIES_COUNT],
            streams: Vec::with_capacity(32),
            cursor: 0,
            last_report: 0,
            interval: DEFAULT_INTERVAL,
            fresh_until: 0,
        }
    }

    fn pending(&self, i: usize, s: u64) -> f64 {
        self.held[i].at(s)
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<(AgentId, Box<AgentSeries>)>()
            + std::mem::size_of::<AgentSeries>()
            + std::mem::size_of::<Rings>()
            + self.streams.capacity() * std::mem::size_of::<Stream>()
    }

    fn report(&mut self, now: u64, samples: &[Sample], changes: &mut Changes) -> IngestOutcome {
        let now = now.max(self.rings.head + 1);
        let held = self.held;
        self.rings.advance(now - 1, |i, s| held[i].at(s));
        if self.last_report != 0 && now > self.last_report {
            self.interval = now - self.last_report;
        }
        self.last_report = now;

        let mut outcome = IngestOutcome::default();
        let mut touched = [false; SERIES_COUNT];
        for sample in samples {
            match self.update_stream(now, sample) {
                Update::Stale => outcome.stale += 1,
                Update::OverLimit => outcome.over_limit += 1,
                Update::Accepted => {
                    outcome.accepted += 1;
                    touched[sample.series.index()] = true;
                }
            }
        }

        let hold = hold_for(self.interval);
        changes.at = now;
        for (i, _) in touched.iter().enumerate().filter(|(_, t)| **t) {
            if let Some(value) = self.series_value(i as u8, now, hold) {
                let new = Held {
                    value: value as f32,
                    until: now + hold,
                    active: true,
                };
                changes.series[i] = Some((self.held[i], new));
                self.held[i] = new;
            }
        }
        if changes.series.iter().any(Option::is_some) {
            let old = self.fresh_until;
            self.fresh_until = self
                .held
                .iter()
                .filter(|h| h.active)
                .map(|h| h.until)
                .max()
                .unwrap_or(0);
            changes.fresh = Some((old, Some(self.fresh_until)));
        }
        outcome
    }

    /// Sum of the fresh stream rates of one series, `None` if none has a rate yet.
    fn series_value(&self, series: u8, now: u64, hold: u64) -> Option<f64> {
        let mut sum = None;
        for st in self.streams.iter().filter(|st| st.series == series) {
            if let Some((rate, at)) = st.rate
                && at + hold >= now
            {
                *sum.get_or_insert(0.0) += rate;
            }
        }
        sum
    }

    fn find_stream(&mut self, series: u8, key: u64) -> Option<usize> {
        let matches = |st: &Stream| st.series == series && st.key == key;
        if self.streams.get(self.cursor).is_some_and(matches) {
            return Some(self.cursor);
        }
        self.streams.iter().position(matches)
    }

    fn update_stream(&mut self, now: u64, sample: &Sample) -> Update {
        let series = sample.series.index() as u8;
        let found = self.find_stream(series, sample.stream);
        let Some(idx) = found else {
            if self.streams.len() >= MAX_STREAMS_PER_AGENT {
                return Update::OverLimit;
            }
            let rate = first_rate(sample).map(|r| (r, now));
            self.streams.push(Stream {
                series,
                key: sample.stream,
                start_ns: sample.start_ns,
                time_ns: sample.time_ns,
                value: sample.value,
                rate,
            });
            self.cursor = self.streams.len();
            return Update::Accepted;
        };
        self.cursor = idx + 1;
        let st = &mut self.streams[idx];
        if sample.time_ns <= st.time_ns {
            return Update::Stale;
        }
        if let Some(rate) = next_rate(st, sample) {
            st.rate = Some((rate, now));
        }
        st.start_ns = sample.start_ns;
        st.time_ns = sample.time_ns;
        st.value = sample.value;
        Update::Accepted
    }
}

enum Update {
    Accepted,
    Stale,
    OverLimit,
}

fn per_second(amount: f64, from_ns: u64, to_ns: u64) -> Option<f64> {
    (to_ns > from_ns).then(|| amount / ((to_ns - from_ns) as f64 / 1e9))
}

/// The rate a stream's first point gives on its own.
fn first_rate(s: &Sample) -> Option<f64> {
    match s.temporality {
        Temporality::Gauge => Some(s.value),
        Temporality::Delta => per_second(s.value, s.start_ns, s.time_ns),
        Temporality::Cumulative => {
            let fresh = s.start_ns != 0 && s.time_ns.saturating_sub(s.start_ns) <= FRESH_START_NS;
            if fresh {
                per_second(s.value, s.start_ns, s.time_ns)
            } else {
                None
            }
        }
    }
}

/// The rate between a stream's previous point and a newer one.
fn next_rate(prev: &Stream, s: &Sample) -> Option<f64> {
    match s.temporality {
        Temporality::Gauge => Some(s.value),
        Temporality::Delta => {
            // Delta points cover start..time; without a start, assume they follow on.
            let from = if s.start_ns != 0 && s.start_ns < s.time_ns {
                s.start_ns
            } else {
                prev.time_ns
            };
            per_second(s.value, from, s.time_ns)
        }
        Temporality::Cumulative => {
            let restarted = s.value < prev.value
                || (s.start_ns != 0 && prev.start_ns != 0 && s.start_ns > prev.start_ns);
            if restarted {
                // The counter began again: everything it holds was counted since its start
                // (or, without a start time, since our previous point).
                let from = if s.start_ns > prev.time_ns && s.start_ns < s.time_ns {
                    s.start_ns
                } else {
                    prev.time_ns
                };
                per_second(s.value, from, s.time_ns)
            } else {
                per_second(s.value - prev.value, prev.time_ns, s.time_ns)
            }
        }
    }
}

/// Held-value changes of one report, applied to the fleet totals.
#[derive(Default)]
struct Changes {
    at: u64,
    series: [Option<(Held, Held)>; SERIES_COUNT],
    /// The agent's previous and new "fresh until" second (`None`: it stops now).
    fresh: Option<(u64, Option<u64>)>,
}

impl Changes {
    fn any(&self) -> bool {
        self.fresh.is_some()
    }
}

/// Fleet-wide sums. Each agent's held value is added at the second it arrives and scheduled
/// to leave when it expires, as entries in a small ring of future changes, so the sum for any
/// second is known without visiting the agents.
struct FleetSeries {
    rings: Box<Rings>,
    started: bool,
    /// Sum and number of contributing agents at `rings.head`.
    current: [f64; SERIES_COUNT],
    holders: [i64; SERIES_COUNT],
    /// Changes taking effect at second `s`, at slot `s % DIFF_SLOTS`, for `s > rings.head`.
    diff: Box<[[f64; SERIES_COUNT]; DIFF_SLOTS]>,
    diff_holders: Box<[[i64; SERIES_COUNT]; DIFF_SLOTS]>,
    agents: i64,
    diff_agents: Box<[i64; DIFF_SLOTS]>,
}

/// One fleet series past the written head: the scheduled changes summed up once per read,
/// so a long tail costs one pass over the change ring, not one per point.
struct PendingSeries {
    head: u64,
    /// Values of seconds `head+1 ..= head+len`; later seconds keep the last one.
    values: [f64; DIFF_SLOTS],
    len: usize,
}

impl PendingSeries {
    fn at(&self, s: u64) -> f64 {
        let k = usize::try_from(s.saturating_sub(self.head + 1)).unwrap_or(usize::MAX);
        match self.len {
            0 => 0.0,
            len => self.values[k.min(len - 1)],
        }
    }
}

fn slot_diff(s: u64) -> usize {
    (s % DIFF_SLOTS as u64) as usize
}

impl FleetSeries {
    fn new() -> Self {
        FleetSeries {
            rings: Rings::new_boxed(0),
            started: false,
            current: [0.0; SERIES_COUNT],
            holders: [0; SERIES_COUNT],
            diff: Box::new([[0.0; SERIES_COUNT]; DIFF_SLOTS]),
            diff_holders: Box::new([[0; SERIES_COUNT]; DIFF_SLOTS]),
            agents: 0,
            diff_agents: Box::new([0; DIFF_SLOTS]),
        }
    }

    fn pending_series(&self, i: usize, now: u64) -> PendingSeries {
        let head = self.rings.head;
        let mut p = PendingSeries {
            head,
            values: [0.0; DIFF_SLOTS],
            len: 0,
        };
        let (mut sum, mut holders) = (self.current[i], self.holders[i]);
        let last = now.min(head + DIFF_SLOTS as u64 - 1).max(head + 1);
        for t in head + 1..=last {
            sum += self.diff[slot_diff(t)][i];
            holders += self.diff_holders[slot_diff(t)][i];
            p.values[p.len] = if holders <= 0 { 0.0 } else { sum.max(0.0) };
            p.len += 1;
        }
        p
    }

    fn agents_at(&self, now: u64) -> i64 {
        let head = self.rings.head;
        let last = now.min(head + DIFF_SLOTS as u64 - 1);
        self.agents
            + (head + 1..=last)
                .map(|t| self.diff_agents[slot_diff(t)])
                .sum::<i64>()
    }

    /// Consumes the scheduled changes of seconds `head+1..=to` and writes those seconds.
    fn advance(&mut self, to: u64) {
        if !self.started {
            self.started = true;
            self.rings.first = to + 1;
            self.rings.head = to;
            return;
        }
        let mut s = self.rings.head + 1;
        let last_change = to.min(self.rings.head + DIFF_SLOTS as u64);
        // Walk the seconds that may hold changes, writing each; the rest repeat the last value.
        while s <= last_change {
            let slot = slot_diff(s);
            for i in 0..SERIES_COUNT {
                self.current[i] += self.diff[slot][i];
                self.holders[i] += self.diff_holders[slot][i];
                if self.holders[i] <= 0 {
                    // Nobody contributes: drop float residue so an idle fleet reads exactly 0.
                    self.current[i] = 0.0;
                }
                self.diff[slot][i] = 0.0;
                self.diff_holders[slot][i] = 0;
            }
            self.agents += self.diff_agents[slot];
            self.diff_agents[slot] = 0;
            let current = self.current;
            self.rings.advance(s, |i, _| current[i].max(0.0));
            s += 1;
        }
        if to > self.rings.head {
            let current = self.current;
            self.rings.advance(to, |i, _| current[i].max(0.0));
        }
    }

    fn schedule(&mut self, s: u64, i: usize, value: f64, holders: i64) {
        let slot = slot_diff(s);
        self.diff[slot][i] += value;
        self.diff_holders[slot][i] += holders;
    }

    fn apply(&mut self, changes: Changes) {
        self.advance(changes.at.saturating_sub(1));
        // Never change a second already written.
        let at = changes.at.max(self.rings.head + 1);
        for (i, change) in changes.series.iter().enumerate() {
            let Some((old, new)) = change else { continue };
            if old.active && old.until >= at {
                self.schedule(at, i, -f64::from(old.value), -1);
                self.schedule(old.until + 1, i, f64::from(old.value), 1);
            }
            if new.active && new.until >= at {
                self.schedule(at, i, f64::from(new.value), 1);
                self.schedule(new.until + 1, i, -f64::from(new.value), -1);
            }
        }
        if let Some((old_until, new_until)) = changes.fresh {
            if old_until >= at {
                self.diff_agents[slot_diff(at)] -= 1;
                self.diff_agents[slot_diff(old_until + 1)] += 1;
            }
            if let Some(until) = new_until.filter(|u| *u >= at) {
                self.diff_agents[slot_diff(at)] += 1;
                self.diff_agents[slot_diff(until + 1)] -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;
    const NS: u64 = 1_000_000_000;
    const IN_M: Series = Series::In(Signal::Metrics);

    fn cumulative(stream: u64, start: u64, time: u64, value: f64) -> Sample {
        Sample {
            series: IN_M,
            stream,
            temporality: Temporality::Cumulative,
            start_ns: start * NS,
            time_ns: time * NS,
            value,
        }
    }

    fn tail(store: &TelemetryStore, now: u64, id: &AgentId, r: Resolution, n: usize) -> Vec<f64> {
        let mut out = Vec::new();
        store.tail_at(now, id, IN_M, r, n, &mut out);
        out
    }

    fn fleet(store: &TelemetryStore, now: u64, n: usize) -> Vec<f64> {
        let mut out = Vec::new();
        store.fleet_tail_at(now, IN_M, Resolution::Second, n, &mut out);
        out
    }

    #[test]
    fn cumulative_counter_gives_the_rate_between_reports() {
        let store = TelemetryStore::new();
        let a = AgentId([1; 16]);
        // Started an hour ago: the first point is only a baseline.
        store.ingest_at(T0, &a, &[cumulative(1, T0 - 3600, T0, 1000.0)]);
        assert_eq!(store.latest_at(T0, &a, IN_M), None);
        // 500 more in 10 s.
        store.ingest_at(T0 + 10, &a, &[cumulative(1, T0 - 3600, T0 + 10, 1500.0)]);
        assert_eq!(store.latest_at(T0 + 10, &a, IN_M), Some(50.0));
        assert_eq!(
            tail(&store, T0 + 12, &a, Resolution::Second, 5),
            vec![0.0, 0.0, 50.0, 50.0, 50.0]
        );
    }

    #[test]
    fn streams_of_a_series_are_summed() {
        let store = TelemetryStore::new();
        let a = AgentId([1; 16]);
        store.ingest_at(
            T0,
            &a,
            &[
                cumulative(1, T0 - 3600, T0, 0.0),
                cumulative(2, T0 - 3600, T0, 0.0),
            ],
        );
        store.ingest_at(
            T0 + 10,
            &a,
            &[
                cumulative(1, T0 - 3600, T0 + 10, 100.0),
                cumulative(2, T0 - 3600, T0 + 10, 300.0),
            ],
        );
        assert_eq!(store.latest_at(T0 + 10, &a, IN_M), Some(40.0));
    }

    #[test]
    fn counter_reset_starts_a_new_run() {
        let store = TelemetryStore::new();
        let a = AgentId([2; 16]);
        store.ingest_at(T0, &a, &[cumulative(1, T0 - 3600, T0, 5000.0)]);
        store.ingest_at(T0 + 10, &a, &[cumulative(1, T0 - 3600, T0 + 10, 5100.0)]);
        assert_eq!(store.latest_at(T0 + 10, &a, IN_M), Some(10.0));
        // The collector restarted at T0+15 and counted 200 by T0+20: 40/s, not negative.
        store.ingest_at(T0 + 20, &a, &[cumulative(1, T0 + 15, T0 + 20, 200.0)]);
        assert_eq!(store.latest_at(T0 + 20, &a, IN_M), Some(40.0));
        // Then 300 more in 10 s.
        store.ingest_at(T0 + 30, &a, &[cumulative(1, T0 + 15, T0 + 30, 500.0)]);
        assert_eq!(store.latest_at(T0 + 30, &a, IN_M), Some(30.0));
        // A drop without a start time is a reset too: 60 counted since the last point.
        store.ingest_at(T0 + 40, &a, &[cumulative(1, 0, T0 + 40, 60.0)]);
        assert_eq!(store.latest_at(T0 + 40, &a, IN_M), Some(6.0));
    }

    #[test]
    fn delta_points_are_rates_over_their_interval() {
        let store = TelemetryStore::new();
        let a = AgentId([3; 16]);
        let delta = |start: u64, time: u64, value: f64| Sample {
            temporality: Temporality::Delta,
            ..cumulative(7, start, time, value)
        };
        store.ingest_at(T0 + 10, &a, &[delta(T0, T0 + 10, 100.0)]);
        assert_eq!(store.latest_at(T0 + 10, &a, IN_M), Some(10.0));
        store.ingest_at(T0 + 20, &a, &[delta(T0 + 10, T0 + 20, 300.0)]);
        assert_eq!(store.latest_at(T0 + 20, &a, IN_M), Some(30.0));
    }

    #[test]
    fn out_of_order_and_duplicate_points_are_ignored() {
        let store = TelemetryStore::new();
        let a = AgentId([4; 16]);
        store.ingest_at(T0, &a, &[cumulative(1, T0 - 3600, T0, 100.0)]);
        store.ingest_at(T0 + 10, &a, &[cumulative(1, T0 - 3600, T0 + 10, 200.0)]);
        let late = store.ingest_at(T0 + 11, &a, &[cumulative(1, T0 - 3600, T0 + 5, 150.0)]);
        let dup = store.ingest_at(T0 + 12, &a, &[cumulative(1, T0 - 3600, T0 + 10, 200.0)]);
        assert_eq!((late.stale, dup.stale), (1, 1));
        assert_eq!(store.latest_at(T0 + 12, &a, IN_M), Some(10.0));
        store.ingest_at(T0 + 20, &a, &[cumulative(1, T0 - 3600, T0 + 20, 400.0)]);
        assert_eq!(store.latest_at(T0 + 20, &a, IN_M), Some(20.0));
    }

    #[test]
    fn fleet_sums_agents_and_drops_silent_ones() {
        let store = TelemetryStore::new();
        let (a, b) = (AgentId([5; 16]), AgentId([6; 16]));
        for (id, per_report) in [(a, 500.0), (b, 200.0)] {
            store.ingest_at(T0, &id, &[cumulative(1, T0 - 3600, T0, 0.0)]);
            store.ingest_at(
                T0 + 10,
                &id,
                &[cumulative(1, T0 - 3600, T0 + 10, per_report)],
            );
        }
        // The fleet series begins with the first known rate.
        assert_eq!(fleet(&store, T0 + 11, 3), vec![70.0, 70.0]);
        assert_eq!(store.agents_reporting_at(T0 + 11), 2);
        // b keeps reporting, a goes silent; a's rate holds hold_for(10) = 25 s.
        store.ingest_at(T0 + 20, &b, &[cumulative(1, T0 - 3600, T0 + 20, 400.0)]);
        store.ingest_at(T0 + 30, &b, &[cumulative(1, T0 - 3600, T0 + 30, 600.0)]);
        assert_eq!(fleet(&store, T0 + 36, 2), vec![70.0, 20.0]);
        assert_eq!(store.latest_at(T0 + 36, &a, IN_M), None);
        assert_eq!(store.agents_reporting_at(T0 + 36), 1);
        store.forget_at(T0 + 37, &b);
        assert_eq!(fleet(&store, T0 + 38, 3), vec![20.0, 0.0, 0.0]);
        assert_eq!(store.agents_reporting_at(T0 + 38), 0);
        assert_eq!(store.agents_tracked(), 1);
    }

    #[test]
    fn ten_second_points_average_their_seconds() {
        let store = TelemetryStore::new();
        let a = AgentId([7; 16]);
        let base = 1_700_000_000; // a multiple of 10
        store.ingest_at(base, &a, &[cumulative(1, base - 3600, base, 0.0)]);
        store.ingest_at(base + 5, &a, &[cumulative(1, base - 3600, base + 5, 50.0)]);
        store.ingest_at(
            base + 15,
            &a,
            &[cumulative(1, base - 3600, base + 15, 350.0)],
        );
        // Bucket 0: seconds 0-4 read 0, 5-9 read 10 → 5. Bucket 1: 10-14 read 10, 15-19
        // read 30 → 20. Bucket 2, in progress at second 22: 30.
        assert_eq!(
            tail(&store, base + 22, &a, Resolution::TenSeconds, 10),
            vec![5.0, 20.0, 30.0]
        );
    }

    #[test]
    fn rings_are_allocated_once_per_reporting_agent() {
        let store = TelemetryStore::new();
        assert_eq!(store.memory_bytes(), 0);
        let a = AgentId([8; 16]);
        store.ingest_at(T0, &a, &[cumulative(1, T0 - 3600, T0, 0.0)]);
        let after_first = store.memory_bytes();
        let rings = SERIES_COUNT * (SECOND_POINTS + TEN_SECOND_POINTS) * 4;
        assert!(
            after_first > rings && after_first < rings + 4096,
            "{after_first}"
        );
        // A day of reports every 10 s on the same streams allocates nothing more.
        for k in 1..8640 {
            let t = T0 + 10 * k;
            store.ingest_at(t, &a, &[cumulative(1, T0 - 3600, t, 10.0 * k as f64)]);
        }
        assert_eq!(store.memory_bytes(), after_first);
        assert_eq!(store.latest_at(T0 + 86_390, &a, IN_M), Some(1.0));
    }
}
