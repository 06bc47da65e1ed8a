//! One agent's series: its counter streams (what the next report's rates are computed
//! from), the value each series holds now (exact), and the last hour of reports (compact,
//! in [`History`]).

use super::history::{History, SlotState};
use super::parts::{PartPoint, PartRate};
use super::{
    Changes, DEFAULT_INTERVAL, FRESH_START_NS, Held, IngestOutcome, MAX_STREAMS_PER_AGENT,
    Resolution, SERIES_COUNT, Sample, Temporality, bucket_from, hold_for, second_from,
};

/// A series the agent never set has no slot.
const NO_SLOT: u8 = u8::MAX;

pub(super) struct AgentSeries {
    /// Each series' current value, exact (the history holds it to within 0.5 %, and how
    /// long it holds).
    exact: [f32; SERIES_COUNT],
    /// The second each series was last set (the exact value reads from then on; 32 bits
    /// hold seconds until 2106).
    set_at: [u32; SERIES_COUNT],
    /// Series → its slot in the history's records, in the order the agent first set them.
    slot_of: [u8; SERIES_COUNT],
    slots: u8,
    history: History,
    streams: Streams,
    /// The first second with data: nothing before it is answered.
    first: u64,
    /// The second of the last report (reports never go back in time).
    last_time: u64,
    last_report: u64,
    interval: u64,
    pub(super) fresh_until: u64,
}

impl AgentSeries {
    pub(super) fn new(now: u64) -> Self {
        AgentSeries {
            exact: [0.0; SERIES_COUNT],
            set_at: [u32::MAX; SERIES_COUNT],
            slot_of: [NO_SLOT; SERIES_COUNT],
            slots: 0,
            history: History::default(),
            streams: Streams::default(),
            first: now,
            last_time: now,
            last_report: 0,
            interval: DEFAULT_INTERVAL,
            fresh_until: 0,
        }
    }

    /// Changes whenever anything a read of this agent's series could answer changes: every
    /// report moves its time, a series' set time or an exact value. Readers that copy
    /// tails key a cache on it (with the second they read at).
    pub(super) fn fingerprint(&self) -> u64 {
        // FNV-1a over the fields an ingest writes; cheap beside one decode of the history.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |v: u64| {
            h ^= v;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        mix(self.first);
        mix(self.last_time);
        for i in 0..SERIES_COUNT {
            mix(u64::from(self.exact[i].to_bits()) << 32 | u64::from(self.set_at[i]));
        }
        mix(u64::from(self.slots));
        h
    }

    /// Series `i` as it holds now: its exact value, and until when.
    pub(super) fn held(&self, i: usize) -> Held {
        let slot = self.slot_of[i];
        if slot == NO_SLOT {
            return Held::default();
        }
        let s = self.history.last(usize::from(slot));
        Held {
            value: self.exact[i],
            until: u64::from(s.until),
            active: s.set(),
        }
    }

    /// The last report's second: reads are answered as of at least then.
    pub(super) fn last_time(&self) -> u64 {
        self.last_time
    }

    pub(super) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<(super::AgentId, Box<AgentSeries>)>()
            + std::mem::size_of::<AgentSeries>()
            + self.history.memory_bytes()
            + self.streams.memory_bytes()
    }

    pub(super) fn report(
        &mut self,
        now: u64,
        samples: &[Sample],
        changes: &mut Changes,
    ) -> IngestOutcome {
        let now = now.max(self.last_time);
        if self.last_report != 0 && now > self.last_report {
            self.interval = now - self.last_report;
        }
        self.last_report = now;
        self.last_time = now;

        let mut outcome = IngestOutcome::default();
        let mut touched = [false; SERIES_COUNT];
        for sample in samples {
            match self.streams.update(now, sample) {
                Update::Stale => outcome.stale += 1,
                Update::OverLimit => outcome.over_limit += 1,
                Update::Accepted => {
                    outcome.accepted += 1;
                    if let Some(series) = sample.series {
                        touched[series.index()] = true;
                    }
                }
            }
        }

        let hold = hold_for(self.interval);
        changes.at = now;
        let mut record = [None; SERIES_COUNT];
        for i in (0..SERIES_COUNT).filter(|i| touched[*i]) {
            let Some(value) = self.streams.series_value(i as u8, now, hold) else {
                continue;
            };
            let new = Held {
                value: value as f32,
                until: now + hold,
                active: true,
            };
            changes.series[i] = Some((self.held(i), new));
            self.exact[i] = new.value;
            self.set_at[i] = u32::try_from(now).unwrap_or(u32::MAX);
            if self.slot_of[i] == NO_SLOT {
                self.slot_of[i] = self.slots;
                self.slots += 1;
            }
            record[usize::from(self.slot_of[i])] = Some(new.value);
        }
        // Every report is recorded, even one that set nothing: the holds of later values
        // follow from the time between reports.
        // What the longest tail (the hour at ten seconds) reads from.
        let keep_from = bucket_from(0, now, usize::MAX) * 10;
        self.history.push(
            now,
            self.interval,
            &record[..usize::from(self.slots)],
            keep_from,
        );
        if changes.series.iter().any(Option::is_some) {
            let old = self.fresh_until;
            self.fresh_until = (0..SERIES_COUNT)
                .map(|i| self.held(i))
                .filter(|h| h.active)
                .map(|h| h.until)
                .max()
                .unwrap_or(0);
            changes.fresh = Some((old, Some(self.fresh_until)));
        }
        outcome
    }

    /// Each component part's current number, into `out` (not cleared).
    pub(super) fn parts(&self, now: u64, out: &mut Vec<PartRate>) {
        self.streams
            .parts(now.max(self.last_time), hold_for(self.interval), out)
    }

    /// The last `n` points of series `i` as of `now`, oldest first (see
    /// [`super::TelemetryStore::tail`]).
    pub(super) fn tail(&self, now: u64, i: usize, r: Resolution, n: usize, out: &mut Vec<f64>) {
        let now = now.max(self.last_time);
        if self.first > now || n == 0 {
            return;
        }
        match r {
            Resolution::Second => {
                let from = second_from(self.first, now, n);
                self.walk(from, now, |j| j == i, |_, _, v| out.push(v));
            }
            Resolution::TenSeconds => {
                let from_bucket = bucket_from(self.first, now, n);
                let from = (from_bucket * 10).max(self.first);
                let (mut bucket, mut sum, mut count) = (from_bucket, 0.0, 0u32);
                self.walk(
                    from,
                    now,
                    |j| j == i,
                    |_, s, v| {
                        if s / 10 != bucket {
                            out.push(sum / f64::from(count.max(1)));
                            (bucket, sum, count) = (s / 10, 0.0, 0);
                        }
                        sum += v;
                        count += 1;
                    },
                );
                out.push(sum / f64::from(count.max(1)));
            }
        }
    }

    /// The last `n` one-second points of every series at once, oldest first, into
    /// `outs[series]`: one pass over the history serves all of them (the TUI reads every
    /// series of each agent on screen, every frame).
    pub(super) fn tails_second(&self, now: u64, n: usize, outs: &mut [Vec<f64>; SERIES_COUNT]) {
        outs.iter_mut().for_each(Vec::clear);
        let now = now.max(self.last_time);
        if self.first > now || n == 0 {
            return;
        }
        let from = second_from(self.first, now, n);
        self.walk(from, now, |_| true, |i, _, v| outs[i].push(v));
    }

    /// Every series averaged over the seconds `from..=to` this agent has data for (none
    /// before its first report, none after `now`), with how many seconds that was.
    pub(super) fn means(&self, now: u64, from: u64, to: u64) -> ([f64; SERIES_COUNT], u64) {
        let mut sums = [0.0; SERIES_COUNT];
        let (from, to) = (from.max(self.first), to.min(now.max(self.last_time)));
        if from > to {
            return (sums, 0);
        }
        self.walk(from, to, |_| true, |i, _, v| sums[i] += v);
        let seconds = to - from + 1;
        sums.iter_mut().for_each(|v| *v /= seconds as f64);
        (sums, seconds)
    }

    /// Calls `emit(series, second, value)` for every second `from..=to` of each series
    /// `wanted` picks, in order within a series. One decode of the history serves them all;
    /// seconds from a series' last report on read its exact value.
    fn walk(
        &self,
        from: u64,
        to: u64,
        wanted: impl Fn(usize) -> bool,
        mut emit: impl FnMut(usize, u64, f64),
    ) {
        let mut series_of = [usize::MAX; SERIES_COUNT];
        for (i, slot) in self.slot_of.iter().enumerate() {
            if *slot != NO_SLOT {
                series_of[usize::from(*slot)] = i;
            }
        }
        let held: [Held; SERIES_COUNT] = std::array::from_fn(|i| self.held(i));
        let value = |i: usize, s: u64, cur: &SlotState| {
            if self.slot_of[i] == NO_SLOT {
                0.0
            } else if s >= u64::from(self.set_at[i]) {
                held[i].at(s)
            } else {
                cur.at(s)
            }
        };
        let mut next = [from; SERIES_COUNT];
        let mut cur = [SlotState::default(); SERIES_COUNT];
        let replay = (0..SERIES_COUNT)
            .any(|i| wanted(i) && self.slot_of[i] != NO_SLOT && from < u64::from(self.set_at[i]));
        if replay {
            self.history.replay_all(from, |t, slot, state| {
                let Some(&i) = series_of
                    .get(slot)
                    .filter(|i| **i < SERIES_COUNT && wanted(**i))
                else {
                    return;
                };
                while next[i] < t && next[i] <= to {
                    emit(i, next[i], value(i, next[i], &cur[i]));
                    next[i] += 1;
                }
                cur[i] = state;
            });
        }
        for i in (0..SERIES_COUNT).filter(|i| wanted(*i)) {
            while next[i] <= to {
                emit(i, next[i], value(i, next[i], &cur[i]));
                next[i] += 1;
            }
        }
    }
}

/// What a counter stream remembers between reports.
#[derive(Debug, Clone, Copy)]
struct Stream {
    start_ns: u64,
    time_ns: u64,
    value: f64,
    /// The stream's key (a hash of its attributes), folded to 32 bits: an agent has at most
    /// a few hundred streams, so two of one series colliding is a one-in-millions event.
    key: u32,
    /// Latest rate, and the server second it was computed (0: none yet).
    rate: f32,
    rate_at: u32,
    /// The series it adds to ([`NO_SERIES`]: none).
    series: u8,
    /// Its component part ([`PartPoint::code`], 0: none) and interned component.
    part: u8,
    component: u16,
}

/// A stream that feeds no agent-wide series (only its component's numbers).
const NO_SERIES: u8 = u8::MAX;

fn fold(key: u64) -> u32 {
    (key ^ (key >> 32)) as u32
}

/// An agent's counter streams (metric × attribute set), matched report after report.
#[derive(Default)]
pub(super) struct Streams {
    list: Vec<Stream>,
    /// Where the previous report's streams were matched, so an unchanged report finds each
    /// stream at the next position without searching.
    cursor: usize,
}

pub(super) enum Update {
    Accepted,
    Stale,
    OverLimit,
}

impl Streams {
    pub(super) fn memory_bytes(&self) -> usize {
        self.list.capacity() * std::mem::size_of::<Stream>()
    }

    /// Sum of the fresh stream rates of one series, `None` if none has a rate yet.
    pub(super) fn series_value(&self, series: u8, now: u64, hold: u64) -> Option<f64> {
        let mut sum = None;
        for st in self.list.iter().filter(|st| st.series == series) {
            if st.rate_at != 0 && u64::from(st.rate_at) + hold >= now {
                *sum.get_or_insert(0.0) += f64::from(st.rate);
            }
        }
        sum
    }

    /// The current numbers of every component part, summed over its fresh streams, into
    /// `out` (not cleared): one entry per component, measure and signal.
    pub(super) fn parts(&self, now: u64, hold: u64, out: &mut Vec<PartRate>) {
        let first = out.len();
        for st in &self.list {
            let fresh = st.rate_at != 0 && u64::from(st.rate_at) + hold >= now;
            let Some(part) = PartPoint::from_code(st.component, st.part).filter(|_| fresh) else {
                continue;
            };
            match out[first..].iter_mut().find(|r| r.part == part) {
                Some(r) => r.value += f64::from(st.rate),
                None => out.push(PartRate {
                    part,
                    value: f64::from(st.rate),
                }),
            }
        }
    }

    fn find(&mut self, series: u8, part: u8, key: u32) -> Option<usize> {
        // Two metrics with the same attributes (a receiver's refused and failed counts)
        // are told apart by what they feed.
        let matches = |st: &Stream| st.series == series && st.part == part && st.key == key;
        if self.list.get(self.cursor).is_some_and(matches) {
            return Some(self.cursor);
        }
        self.list.iter().position(matches)
    }

    pub(super) fn update(&mut self, now: u64, sample: &Sample) -> Update {
        let series = sample.series.map_or(NO_SERIES, |s| s.index() as u8);
        let (part, component) = sample.part.map_or((0, 0), |p| (p.code(), p.component));
        // Seconds fit in 32 bits until 2106; a rate stamped 0 would read as none.
        let stamp = u32::try_from(now).unwrap_or(u32::MAX).max(1);
        let key = fold(sample.stream);
        let Some(idx) = self.find(series, part, key) else {
            if self.list.len() >= MAX_STREAMS_PER_AGENT {
                return Update::OverLimit;
            }
            let rate = first_rate(sample);
            self.list.push(Stream {
                series,
                part,
                component,
                key,
                start_ns: sample.start_ns,
                time_ns: sample.time_ns,
                value: sample.value,
                rate: rate.map_or(0.0, |r| r as f32),
                rate_at: if rate.is_some() { stamp } else { 0 },
            });
            self.cursor = self.list.len();
            return Update::Accepted;
        };
        self.cursor = idx + 1;
        let st = &mut self.list[idx];
        if sample.time_ns <= st.time_ns {
            return Update::Stale;
        }
        if let Some(rate) = next_rate(st, sample) {
            st.rate = rate as f32;
            st.rate_at = stamp;
        }
        st.start_ns = sample.start_ns;
        st.time_ns = sample.time_ns;
        st.value = sample.value;
        Update::Accepted
    }
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
