//! Reconnect pacing: exponential backoff with jitter, stretched by what the server asks
//! for (`Retry-After` on 429/503, `retry_info` in an UNAVAILABLE error response).

use std::time::{Duration, SystemTime};

use rand::RngExt;
use rand::rngs::SmallRng;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// A connection worked: the next failure starts from the beginning.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How long to wait before the next attempt: a random point in the upper half of
    /// the current exponential step (so a fleet that lost its server does not come back
    /// in lockstep), and never less than what the server asked for.
    pub fn next_delay(&mut self, rng: &mut SmallRng, server_asked: Option<Duration>) -> Duration {
        let step = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let jittered = step.mul_f64(rng.random_range(0.5..=1.0));
        match server_asked {
            Some(asked) => jittered.max(asked),
            None => jittered,
        }
    }
}

/// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn grows_exponentially_up_to_the_cap_with_jitter() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay(&mut rng, None)).collect();
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays[3] >= Duration::from_millis(400) && delays[3] <= Duration::from_millis(800));
        assert!(delays[7] >= Duration::from_secs(1) && delays[7] <= Duration::from_secs(2));
        b.reset();
        assert!(b.next_delay(&mut rng, None) <= Duration::from_millis(100));
    }

    #[test]
    fn server_request_is_a_floor() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let d = b.next_delay(&mut rng, Some(Duration::from_secs(30)));
        assert_eq!(d, Duration::from_secs(30));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
