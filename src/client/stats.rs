//! Counters an agent client (or a fleet of them) bumps as it goes, and the lines printed
//! from them.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Latency samples kept for percentiles; beyond this the oldest half is dropped.
const MAX_SAMPLES: usize = 200_000;

#[derive(Debug, Default)]
pub struct ClientStats {
    pub connected: AtomicI64,
    pub messages_sent: AtomicU64,
    pub messages_received: AtomicU64,
    pub configs_applied: AtomicU64,
    pub configs_failed: AtomicU64,
    pub restarts: AtomicU64,
    pub reconnects: AtomicU64,
    pub connect_errors: AtomicU64,
    pub throttled: AtomicU64,
    pub bad_requests: AtomicU64,
    pub metric_pushes: AtomicU64,
    pub metric_push_errors: AtomicU64,
    /// When this process first saw each configuration hash: the start of a push.
    first_seen: Mutex<HashMap<Vec<u8>, Instant>>,
    /// Push-to-applied (or failed) latencies in microseconds.
    latencies_us: Mutex<Vec<u64>>,
}

impl ClientStats {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// An agent received configuration `hash`; the first agent to see it starts the clock.
    pub fn config_seen(&self, hash: &[u8]) {
        let mut seen = self.first_seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.contains_key(hash) {
            if seen.len() > 10_000 {
                seen.clear();
            }
            seen.insert(hash.to_vec(), Instant::now());
        }
    }

    /// An agent finished with `hash`: latency from the fleet's first sight of it.
    pub fn config_done(&self, hash: &[u8], applied: bool) {
        Self::add(if applied {
            &self.configs_applied
        } else {
            &self.configs_failed
        });
        let started = self
            .first_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
            .copied();
        if let Some(start) = started {
            let mut samples = self.latencies_us.lock().unwrap_or_else(|e| e.into_inner());
            if samples.len() >= MAX_SAMPLES {
                samples.drain(..MAX_SAMPLES / 2);
            }
            samples.push(start.elapsed().as_micros() as u64);
        }
    }

    pub fn snapshot(&self, agents: usize) -> StatsSnapshot {
        let (p50, p99) = {
            let samples = self.latencies_us.lock().unwrap_or_else(|e| e.into_inner());
            percentiles(&samples)
        };
        StatsSnapshot {
            agents,
            connected: self.connected.load(Relaxed).max(0) as u64,
            messages_sent: self.messages_sent.load(Relaxed),
            messages_received: self.messages_received.load(Relaxed),
            configs_applied: self.configs_applied.load(Relaxed),
            configs_failed: self.configs_failed.load(Relaxed),
            restarts: self.restarts.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            connect_errors: self.connect_errors.load(Relaxed),
            throttled: self.throttled.load(Relaxed),
            bad_requests: self.bad_requests.load(Relaxed),
            metric_pushes: self.metric_pushes.load(Relaxed),
            metric_push_errors: self.metric_push_errors.load(Relaxed),
            apply_p50: p50,
            apply_p99: p99,
        }
    }
}

fn percentiles(samples: &[u64]) -> (Option<Duration>, Option<Duration>) {
    if samples.is_empty() {
        return (None, None);
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| {
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        Duration::from_micros(sorted[i])
    };
    (Some(at(0.50)), Some(at(0.99)))
}

/// Counters at one moment; differences of two give rates.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    pub agents: usize,
    pub connected: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub configs_applied: u64,
    pub configs_failed: u64,
    pub restarts: u64,
    pub reconnects: u64,
    pub connect_errors: u64,
    pub throttled: u64,
    pub bad_requests: u64,
    pub metric_pushes: u64,
    pub metric_push_errors: u64,
    pub apply_p50: Option<Duration>,
    pub apply_p99: Option<Duration>,
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_string(), |d| format!("{}ms", d.as_millis()))
}

/// The once-a-second line: current state plus rates since `previous`.
pub fn live_line(now: &StatsSnapshot, previous: &StatsSnapshot, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
    format!(
        "connected {}/{} | msg/s out {:.0} in {:.0} | configs applied {} failed {} | push→applied p50 {} p99 {} | reconnects {} errors {} | metrics/s {:.0}",
        now.connected,
        now.agents,
        rate(now.messages_sent, previous.messages_sent),
        rate(now.messages_received, previous.messages_received),
        now.configs_applied,
        now.configs_failed,
        ms(now.apply_p50),
        ms(now.apply_p99),
        now.reconnects,
        now.connect_errors + now.throttled,
        rate(now.metric_pushes, previous.metric_pushes),
    )
}

impl fmt::Display for StatsSnapshot {
    /// The end-of-run summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulated agents: {} ({} connected at the end)",
            self.agents, self.connected
        )?;
        writeln!(
            f,
            "messages: {} sent, {} received",
            self.messages_sent, self.messages_received
        )?;
        writeln!(
            f,
            "configurations: {} applied, {} failed; push→applied p50 {} p99 {}",
            self.configs_applied,
            self.configs_failed,
            ms(self.apply_p50),
            ms(self.apply_p99)
        )?;
        writeln!(
            f,
            "connections: {} reconnects, {} restarts, {} connect errors, {} throttled, {} bad requests",
            self.reconnects, self.restarts, self.connect_errors, self.throttled, self.bad_requests
        )?;
        write!(
            f,
            "own metrics: {} pushes, {} failed",
            self.metric_pushes, self.metric_push_errors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_runs_from_first_sight_of_a_hash() {
        let stats = ClientStats::default();
        stats.config_seen(b"h");
        std::thread::sleep(Duration::from_millis(20));
        stats.config_seen(b"h"); // a later agent does not restart the clock
        stats.config_done(b"h", true);
        stats.config_done(b"h", false);
        let snap = stats.snapshot(2);
        assert_eq!((snap.configs_applied, snap.configs_failed), (1, 1));
        assert!(
            snap.apply_p50
                .is_some_and(|d| d >= Duration::from_millis(20))
        );
    }

    #[test]
    fn percentiles_of_samples() {
        let samples: Vec<u64> = (1..=100).collect();
        let (p50, p99) = percentiles(&samples);
        assert_eq!(p50, Some(Duration::from_micros(51)));
        assert_eq!(p99, Some(Duration::from_micros(99)));
    }

    #[test]
    fn live_line_shows_rates() {
        let before = StatsSnapshot {
            agents: 10,
            ..Default::default()
        };
        let now = StatsSnapshot {
            agents: 10,
            connected: 9,
            messages_sent: 50,
            ..Default::default()
        };
        let line = live_line(&now, &before, Duration::from_secs(2));
        assert!(
            line.starts_with("connected 9/10 | msg/s out 25 in 0"),
            "{line}"
        );
    }
}
