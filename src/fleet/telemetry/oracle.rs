//! The storage the compact history replaced, kept to check it against: every series of an
//! agent written second by second into rings from the held values, and 10-second means of
//! those. The counter streams are the same code as the real thing, so the two can only
//! differ in what they keep.

use super::agent::{Streams, Update};
use super::{Held, Resolution, Rings, SERIES_COUNT, Sample, hold_for};

pub(super) struct RingAgent {
    rings: Box<Rings>,
    held: [Held; SERIES_COUNT],
    streams: Streams,
    last_report: u64,
    interval: u64,
}

impl RingAgent {
    pub(super) fn new(now: u64) -> Self {
        RingAgent {
            rings: Rings::new_boxed(now),
            held: [Held::default(); SERIES_COUNT],
            streams: Streams::default(),
            last_report: 0,
            interval: super::DEFAULT_INTERVAL,
        }
    }

    pub(super) fn report(&mut self, now: u64, samples: &[Sample]) {
        let now = now.max(self.rings.head + 1);
        let held = self.held;
        self.rings.advance(now - 1, |i, s| held[i].at(s));
        if self.last_report != 0 && now > self.last_report {
            self.interval = now - self.last_report;
        }
        self.last_report = now;
        let mut touched = [false; SERIES_COUNT];
        for sample in samples {
            if let (Update::Accepted, Some(series)) =
                (self.streams.update(now, sample), sample.series)
            {
                touched[series.index()] = true;
            }
        }
        let hold = hold_for(self.interval);
        for i in (0..SERIES_COUNT).filter(|i| touched[*i]) {
            if let Some(value) = self.streams.series_value(i as u8, now, hold) {
                self.held[i] = Held {
                    value: value as f32,
                    until: now + hold,
                    active: true,
                };
            }
        }
    }

    pub(super) fn tail(&self, now: u64, i: usize, r: Resolution, n: usize, out: &mut Vec<f64>) {
        out.clear();
        let now = now.max(self.rings.head + 1);
        let held = self.held;
        self.rings.tail(now, i, r, n, out, |i, s| held[i].at(s));
    }

    pub(super) fn latest(&self, now: u64, i: usize) -> Option<f64> {
        let h = self.held[i];
        (h.active && h.until >= now).then_some(f64::from(h.value))
    }
}
