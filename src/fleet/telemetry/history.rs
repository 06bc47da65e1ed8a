//! One agent's reports for the last hour, kept compactly: per report, the second it arrived
//! and, per series the agent sends, the value it set (or that it left the series as it was).
//!
//! Values are kept as integer codes on a logarithmic grid 1 % apart (so within 0.5 % of what
//! was reported), and a report stores only how far each code moved since the previous one,
//! in a nibble: a series that moves by up to 6 %, is not in the report, or reads zero costs
//! half a byte, and a series the agent never sends costs nothing. A report every 10 s
//! setting 8 series takes 4.5 bytes. The agent's latest values are kept exactly beside this.
//!
//! Reports are grouped in chunks of [`CHUNK`]; each chunk starts with the state of every
//! series, so a read decodes from the last chunk start before what it needs, and the oldest
//! chunk is dropped whole once the next one covers the hour.

use std::collections::VecDeque;

use super::{SERIES_COUNT, hold_for};

/// Reports per chunk.
const CHUNK: u32 = 64;

/// `ln(1.01)`: the grid's step.
const STEP: f64 = 0.009_950_330_853_168_083;
/// Codes `OFFSET ± SPAN` cover magnitudes from 1.6e-30 to 6e29; the sign of a code is the
/// sign of its value, and 0 is zero.
const OFFSET: i32 = 7_000;
const SPAN: i32 = 6_900;

/// Time nibble: 0..=13 are literal seconds since the previous report.
const T_SAME: u8 = 14;
const T_ESCAPE: u8 = 15;
/// Series nibble: `DELTA0 + d` for a move of `d` codes (-6..=5) from the series' last value
/// that was not zero; `MEDIUM` and two nibbles for a move that fits in an `i8`; `ESCAPE` and
/// four for the code itself.
const DELTA0: u8 = 6;
const UNTOUCHED: u8 = 12;
const ZERO: u8 = 13;
const MEDIUM: u8 = 14;
const ESCAPE: u8 = 15;
/// In a chunk header, the bit of a series' hold that says its current value is zero.
const IS_ZERO: u16 = 0x8000;

/// The grid code of a value; 0 for zero (and for values that are not finite).
pub(super) fn code(v: f32) -> i16 {
    let m = f64::from(v.abs());
    if !m.is_finite() || m < 1e-30 {
        return 0;
    }
    let c = ((m.ln() / STEP).round() as i32).clamp(-SPAN, SPAN) + OFFSET;
    // In range by the clamp: 100..=13_900.
    let c = c as i16;
    if v < 0.0 { -c } else { c }
}

/// The value a grid code stands for.
pub(super) fn value(c: i16) -> f64 {
    if c == 0 {
        return 0.0;
    }
    let m = (f64::from(i32::from(c).abs() - OFFSET) * STEP).exp();
    if c < 0 { -m } else { m }
}

/// A series as one report left it: its code, and the last second that value holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SlotState {
    pub code: i16,
    /// The last code that was not zero: what the next move is counted from.
    pub base: i16,
    /// Seconds are kept in 32 bits (enough until 2106); 0: never set.
    pub until: u32,
}

impl SlotState {
    /// Whether a report ever set the series.
    pub fn set(&self) -> bool {
        self.until != 0
    }

    pub fn at(&self, s: u64) -> f64 {
        if self.set() && s <= u64::from(self.until) {
            value(self.code)
        } else {
            0.0
        }
    }
}

/// Where a chunk starts.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    /// Nibble position of its header (chunks start on a byte).
    at: u32,
    /// Second of its first report.
    time: u32,
    /// Reporting interval as of its first report (later ones follow from the steps).
    interval: u32,
    /// Series slots its records carry.
    slots: u8,
    records: u32,
}

#[derive(Default)]
pub(super) struct History {
    nibbles: Vec<u8>,
    /// Nibbles written (the last byte may hold only one).
    len: u32,
    chunks: VecDeque<Chunk>,
    /// State after the last report, per slot: where the next report's moves start from.
    last: [SlotState; SERIES_COUNT],
    slots: u8,
    last_time: u64,
    last_step: u64,
    /// Where decoding may start near the end: every [`MARK`] reports of the last chunk, the
    /// state after one of them; the two latest are kept, so one is always at least `MARK`
    /// reports back. A read of the last few seconds (every frame of the TUI) then decodes a
    /// handful of reports, not a chunk.
    marks: [Option<Mark>; 2],
}

/// Reports between two marks.
const MARK: u32 = 8;

#[derive(Debug, Clone, Copy)]
struct Mark {
    /// Nibble position after the report.
    at: u32,
    time: u32,
    step: u32,
    interval: u32,
    /// Reports of the last chunk up to and including it.
    records: u32,
    state: [SlotState; SERIES_COUNT],
}

impl History {
    /// Slot `slot` as the last report left it.
    pub fn last(&self, slot: usize) -> SlotState {
        self.last.get(slot).copied().unwrap_or_default()
    }

    pub fn memory_bytes(&self) -> usize {
        self.nibbles.capacity() + self.chunks.capacity() * std::mem::size_of::<Chunk>()
    }

    /// Appends a report: `values[slot]` is `Some` for the series it set. `interval` is the
    /// reporting interval after it (the holds of its values follow from it). Chunks that
    /// only cover seconds before `keep_from` go.
    pub fn push(&mut self, time: u64, interval: u64, values: &[Option<f32>], keep_from: u64) {
        let slots = u8::try_from(values.len().min(SERIES_COUNT)).unwrap_or(0);
        let open = self
            .chunks
            .back()
            .is_some_and(|c| c.records < CHUNK && c.slots == slots);
        let step = time.saturating_sub(self.last_time);
        if !open {
            self.slots = slots;
            self.start_chunk(time, interval);
        }
        let first_in_chunk = self.chunks.back().is_none_or(|c| c.records == 0);
        if !first_in_chunk && step == self.last_step {
            self.put(T_SAME);
        } else if step < u64::from(T_SAME) {
            self.put(step as u8);
        } else {
            self.put(T_ESCAPE);
            self.put_bits(step.min(u64::from(u32::MAX)), 8);
        }
        let hold = hold_for(interval);
        for (slot, v) in values.iter().take(usize::from(slots)).enumerate() {
            let Some(v) = v else {
                self.put(UNTOUCHED);
                continue;
            };
            let base = self.last[slot].base;
            let c = code(*v);
            let d = i32::from(c) - i32::from(base);
            if c == 0 {
                self.put(ZERO);
            } else if base != 0 && (-6..=5).contains(&d) {
                self.put((i32::from(DELTA0) + d) as u8);
            } else if base != 0 && (-128..=127).contains(&d) {
                self.put(MEDIUM);
                self.put_bits(u64::from(d as i8 as u8), 2);
            } else {
                self.put(ESCAPE);
                self.put_bits(u64::from(c as u16), 4);
            }
            self.last[slot] = SlotState {
                code: c,
                base: if c == 0 { base } else { c },
                until: secs(time + hold),
            };
        }
        self.last_time = time;
        self.last_step = step;
        if let Some(c) = self.chunks.back_mut() {
            c.records += 1;
            if c.records.is_multiple_of(MARK) {
                self.marks[0] = self.marks[1].take();
                self.marks[1] = Some(Mark {
                    at: self.len,
                    time: secs(time),
                    step: secs(step),
                    interval: secs(interval),
                    records: c.records,
                    state: self.last,
                });
            }
        }
        self.drop_before(keep_from);
    }

    /// Drops whole chunks while the next one alone knows every second from `keep_from`.
    fn drop_before(&mut self, keep_from: u64) {
        while self.chunks.len() > 1 && u64::from(self.chunks[1].time) <= keep_from {
            let (Some(gone), Some(next)) = (self.chunks.pop_front(), self.chunks.front()) else {
                break;
            };
            let shift = next.at - gone.at;
            self.nibbles.drain(..(shift / 2) as usize);
            self.len -= shift;
            for c in &mut self.chunks {
                c.at -= shift;
            }
            for m in self.marks.iter_mut().flatten() {
                m.at -= shift;
            }
        }
    }

    fn start_chunk(&mut self, time: u64, interval: u64) {
        if self.len % 2 == 1 {
            self.put(0);
        }
        // Marks belong to the last chunk.
        self.marks = [None, None];
        self.chunks.push_back(Chunk {
            at: self.len,
            time: secs(time),
            interval: secs(interval),
            slots: self.slots,
            records: 0,
        });
        // The header: every slot's state, so the chunk reads without the ones before it.
        for i in 0..usize::from(self.slots) {
            let s = self.last[i];
            // The base always (the next move starts from it); the hold only while it lasts
            // (at most a few minutes past its report), 0 when it is over.
            let mut until = if s.set() && u64::from(s.until) >= time {
                (u64::from(s.until) - time).min(0x7ffe) as u16 + 1
            } else {
                0
            };
            if s.code == 0 {
                until |= IS_ZERO;
            }
            self.put_bits(u64::from(s.base as u16), 4);
            self.put_bits(u64::from(until), 4);
        }
    }

    fn put(&mut self, n: u8) {
        if self.len.is_multiple_of(2) {
            // Grown a little at a time, not doubled: the hour settles at its size, and the
            // chunk that goes makes room for the one that comes.
            if self.nibbles.len() == self.nibbles.capacity() {
                self.nibbles.reserve_exact(32);
            }
            self.nibbles.push(n);
        } else if let Some(b) = self.nibbles.last_mut() {
            *b |= n << 4;
        }
        self.len += 1;
    }

    fn put_bits(&mut self, v: u64, nibbles: u32) {
        for k in 0..nibbles {
            self.put(((v >> (4 * k)) & 0xf) as u8);
        }
    }

    /// Replays every slot from the last chunk (or mark) that starts at or before `from`
    /// (the first chunk if none does): first the states it starts with, at its second, then
    /// each report that set a slot, in order: `each(second, slot, state it left)`.
    pub fn replay_all(&self, from: u64, mut each: impl FnMut(u64, usize, SlotState)) {
        let slots = usize::from(self.slots);
        let mark = self
            .marks
            .iter()
            .rev()
            .flatten()
            .find(|m| u64::from(m.time) <= from);
        if let (Some(m), Some(c)) = (mark, self.chunks.back()) {
            for (s, state) in m.state.iter().enumerate().take(slots) {
                each(u64::from(m.time), s, *state);
            }
            let mut run = Run {
                rd: Reader { h: self, at: m.at },
                state: m.state,
                slots: usize::from(c.slots),
                time: u64::from(m.time),
                step: u64::from(m.step),
                interval: u64::from(m.interval),
            };
            run.records(c.records - m.records, false, &mut each);
            return;
        }
        let start = self
            .chunks
            .iter()
            .rposition(|c| u64::from(c.time) <= from)
            .unwrap_or(0);
        let mut first = true;
        for c in self.chunks.iter().skip(start) {
            let mut rd = Reader { h: self, at: c.at };
            let slots = usize::from(c.slots);
            let mut state = [SlotState::default(); SERIES_COUNT];
            for s in state.iter_mut().take(slots) {
                let base = rd.bits(4) as u16 as i16;
                let held = rd.bits(4) as u16;
                let until = held & !IS_ZERO;
                *s = SlotState {
                    code: if held & IS_ZERO != 0 { 0 } else { base },
                    base,
                    until: if until > 0 {
                        c.time + u32::from(until) - 1
                    } else {
                        0
                    },
                };
            }
            if first {
                for (s, st) in state.iter().enumerate().take(slots) {
                    each(u64::from(c.time), s, *st);
                }
                first = false;
            }
            let mut run = Run {
                rd,
                state,
                slots,
                time: u64::from(c.time),
                step: 0,
                interval: u64::from(c.interval),
            };
            run.records(c.records, true, &mut each);
        }
    }
}

/// Decoding reports in order from some point of the history.
struct Run<'a> {
    rd: Reader<'a>,
    state: [SlotState; SERIES_COUNT],
    slots: usize,
    time: u64,
    step: u64,
    interval: u64,
}

impl Run<'_> {
    /// Decodes `records` reports; `chunk_start`: the first is a chunk's first (its time is
    /// the chunk's).
    fn records(
        &mut self,
        records: u32,
        chunk_start: bool,
        each: &mut impl FnMut(u64, usize, SlotState),
    ) {
        for k in 0..records {
            self.step = match self.rd.nibble() {
                T_SAME => self.step,
                T_ESCAPE => self.rd.bits(8),
                literal => u64::from(literal),
            };
            // As the agent's series do: the interval is the step since the previous report
            // whenever time moved.
            if k > 0 || !chunk_start {
                self.time += self.step;
                if self.step > 0 {
                    self.interval = self.step;
                }
            }
            let until = secs(self.time + hold_for(self.interval));
            for (i, s) in self.state.iter_mut().enumerate().take(self.slots) {
                let code = match self.rd.nibble() {
                    UNTOUCHED => continue,
                    ZERO => 0,
                    ESCAPE => self.rd.bits(4) as u16 as i16,
                    MEDIUM => (i32::from(s.base) + i32::from(self.rd.bits(2) as u8 as i8)) as i16,
                    d => (i32::from(s.base) + i32::from(d) - i32::from(DELTA0)) as i16,
                };
                *s = SlotState {
                    code,
                    base: if code == 0 { s.base } else { code },
                    until,
                };
                each(self.time, i, *s);
            }
        }
    }
}

/// A second (or a span of seconds) in 32 bits.
fn secs(s: u64) -> u32 {
    u32::try_from(s).unwrap_or(u32::MAX)
}

struct Reader<'a> {
    h: &'a History,
    at: u32,
}

impl Reader<'_> {
    fn nibble(&mut self) -> u8 {
        let b = self
            .h
            .nibbles
            .get((self.at / 2) as usize)
            .copied()
            .unwrap_or(0);
        let n = if self.at.is_multiple_of(2) {
            b & 0xf
        } else {
            b >> 4
        };
        self.at += 1;
        n
    }

    fn bits(&mut self, nibbles: u32) -> u64 {
        (0..nibbles).fold(0, |v, k| v | (u64::from(self.nibble()) << (4 * k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_stay_within_half_a_percent_and_keep_sign_and_zero() {
        for v in [1e-20f32, 0.003, 1.0, 50.0, 1234.5, 6.2e7, 3e12, -42.0] {
            let back = value(code(v));
            assert!(
                ((back - f64::from(v)) / f64::from(v)).abs() <= 0.005,
                "{v} → {back}"
            );
        }
        assert_eq!(value(code(0.0)), 0.0);
        assert_eq!(value(code(f32::NAN)), 0.0);
        assert_eq!(value(code(1e-40)), 0.0);
    }
}
