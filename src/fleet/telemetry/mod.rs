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
//! # What is kept
//! Per agent, from its first report: its counter streams (40 bytes each), each series'
//! current value exactly, and the last hour of reports in [`history`]: per report the
//! second and, per series the agent sends, how far its value moved, on a grid 1 % apart
//! (values older than the latest are answered to within 0.5 %). An agent shaped like the
//! simulator's (8 series, 8 streams, a report every 10 s) holds about 3.1 KB once its hour
//! is full; a series it never sends costs nothing, and so does an agent that never reports.
//! Once the hour is full, ingest allocates nothing. The fleet totals keep one set of rings
//! of [`SECOND_POINTS`] and [`TEN_SECOND_POINTS`] points per series.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::agent::AgentId;

/// 1-second points answered per series: 4 minutes.
pub const SECOND_POINTS: usize = 240;
/// 10-second points answered per series: 1 hour.
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
    /// The agent-wide series it adds to (none for counts kept only per component, such as
    /// refusals or a processor's items).
    pub series: Option<Series>,
    /// The component it counts for, when the metric names one.
    pub part: Option<PartPoint>,
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

/// An agent's series averaged over a span of seconds ([`TelemetryStore::window_at`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowMeans {
    /// Per series, indexed by [`Series::index`]: the mean of its points over the span.
    pub means: [f64; SERIES_COUNT],
    /// Seconds of the span the agent had data for (0: none, and the means are 0).
    pub seconds: u64,
    /// The server second of the agent's last report.
    pub last_report: u64,
}

impl WindowMeans {
    /// Mean of one series.
    pub fn mean(&self, s: Series) -> f64 {
        self.means[s.index()]
    }
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
    components: RwLock<ComponentNames>,
    rollups: RwLock<Rollups>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            shards: std::array::from_fn(|_| RwLock::default()),
            fleet: RwLock::new(FleetSeries::new()),
            refusals: Default::default(),
            components: Default::default(),
            rollups: Default::default(),
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
            agent.tail(now, s.index(), r, n, out);
        }
    }

    /// The last `n` one-second points of every series of an agent, `outs[series.index()]`
    /// each (cleared first): what [`TelemetryStore::tail`] gives, for all series in one pass.
    pub fn tails(&self, id: &AgentId, n: usize, outs: &mut [Vec<f64>; SERIES_COUNT]) {
        self.tails_at(now_sec(), id, n, outs)
    }

    /// [`TelemetryStore::tails`] as seen at a given Unix second.
    pub fn tails_at(&self, now: u64, id: &AgentId, n: usize, outs: &mut [Vec<f64>; SERIES_COUNT]) {
        let shard = read(&self.inner.shards[shard_of(id)]);
        match shard.get(id) {
            Some(agent) => agent.tails_second(now, n, outs),
            None => outs.iter_mut().for_each(Vec::clear),
        }
    }

    /// A value that changes whenever [`TelemetryStore::tails_at`] for this agent at `now`
    /// could answer differently (`None`: the agent has no series).
    pub fn fingerprint_at(&self, now: u64, id: &AgentId) -> Option<u64> {
        let shard = read(&self.inner.shards[shard_of(id)]);
        let agent = shard.get(id)?;
        Some(agent.fingerprint() ^ now.rotate_left(17))
    }

    /// An agent's series averaged over the Unix seconds `from..=to` as seen at `now`
    /// (seconds before its first report or after `now` are left out); `None` for an agent
    /// that never reported. Rollouts that watch telemetry compare spans before and after a
    /// change with it.
    pub fn window_at(&self, now: u64, id: &AgentId, from: u64, to: u64) -> Option<WindowMeans> {
        let shard = read(&self.inner.shards[shard_of(id)]);
        let agent = shard.get(id)?;
        let (means, seconds) = agent.means(now, from, to);
        Some(WindowMeans {
            means,
            seconds,
            last_report: agent.last_time(),
        })
    }

    /// Every component part's current number for an agent (items/s, or the level of a
    /// queue measure) as seen at `now`, into `out` (cleared first); empty for an agent that
    /// never reported one or has gone silent.
    pub fn parts_at(&self, now: u64, id: &AgentId, out: &mut Vec<PartRate>) {
        out.clear();
        let shard = read(&self.inner.shards[shard_of(id)]);
        if let Some(agent) = shard.get(id) {
            agent.parts(now, out);
        }
    }

    /// The component ID an interned index stands for.
    pub fn component_name(&self, i: u16) -> Option<Arc<str>> {
        read(&self.inner.components).name(i).cloned()
    }

    /// The interned index of a component ID, if an agent has reported it.
    pub fn component_index(&self, id: &str) -> Option<u16> {
        read(&self.inner.components).index_of(id)
    }

    /// The interned index of a component ID known by its hash ([`parts::component_hash`]);
    /// `id` is read only when the ID is new. `None` when the table is full.
    pub fn intern_component(&self, hash: u64, id: impl FnOnce() -> String) -> Option<u16> {
        if let Some(i) = read(&self.inner.components).find(hash) {
            return Some(i);
        }
        write(&self.inner.components).intern(hash, &id())
    }

    /// The per-configuration and per-destination history, for reading.
    pub fn rollups(&self) -> std::sync::RwLockReadGuard<'_, Rollups> {
        read(&self.inner.rollups)
    }

    /// Records one 10-second point of every group (see [`Rollups::record`]).
    pub fn record_rollups(
        &self,
        bucket: u64,
        sums: &HashMap<Group, HashMap<rollup::PartKey, f64>>,
        agents: HashMap<Group, rollup::GroupAgents>,
    ) {
        write(&self.inner.rollups).record(bucket, sums, agents)
    }

    /// [`TelemetryStore::latest`] as seen at a given Unix second.
    pub fn latest_at(&self, now: u64, id: &AgentId, s: Series) -> Option<f64> {
        let shard = read(&self.inner.shards[shard_of(id)]);
        let held = shard.get(id)?.held(s.index());
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
                at: now.max(agent.last_time()),
                ..Changes::default()
            };
            for (i, change) in changes.series.iter_mut().enumerate() {
                *change = Some((agent.held(i), Held::default()));
            }
            changes.fresh = Some((agent.fresh_until, None));
            write(&self.inner.fleet).apply(changes);
        }
    }

    /// Number of agents with allocated series (reporting now or earlier, not forgotten).
    pub fn agents_tracked(&self) -> usize {
        self.inner.shards.iter().map(|s| read(s).len()).sum()
    }

    /// Heap bytes held for the agents' series and counter streams (their state, histories,
    /// stream tables and map entries; the maps' spare capacity is not counted).
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
                let from = second_from(self.first, now, n);
                out.extend((from..=now).map(|s| self.value_at(i, s, &pending)));
            }
            Resolution::TenSeconds => {
                for b in bucket_from(self.first, now, n)..=now / 10 {
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

/// The first second of a tail of `n` one-second points ending at `now`, for data from
/// `first` (at most [`SECOND_POINTS`] are answered).
fn second_from(first: u64, now: u64, n: usize) -> u64 {
    first.max((now + 1).saturating_sub(n.min(SECOND_POINTS) as u64))
}

/// The first bucket of a tail of `n` ten-second points ending at `now`'s bucket (at most
/// [`TEN_SECOND_POINTS`]).
fn bucket_from(first: u64, now: u64, n: usize) -> u64 {
    (first / 10).max((now / 10 + 1).saturating_sub(n.min(TEN_SECOND_POINTS) as u64))
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

mod agent;
mod history;
#[cfg(test)]
mod oracle;
pub mod parts;
pub mod rollup;
#[cfg(test)]
mod tests;

use agent::AgentSeries;
pub use parts::{ComponentNames, Measure, PartPoint, PartRate};
pub use rollup::{Group, Rollups};
