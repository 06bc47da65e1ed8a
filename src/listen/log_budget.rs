//! Refusals of bad input are logged, but not one line each: a peer sending 20,000 bad
//! requests a second would otherwise write megabytes of log. Each kind of refusal may log
//! a few lines per window; the next line logged says how many were left out meanwhile.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines one kind of refusal may log per window.
const PER_WINDOW: u32 = 5;
const WINDOW: Duration = Duration::from_secs(10);

pub struct LogBudget {
    state: Mutex<State>,
}

struct State {
    window: Option<Instant>,
    logged: u32,
    left_out: u64,
}

impl LogBudget {
    pub const fn new() -> Self {
        LogBudget {
            state: Mutex::new(State {
                window: None,
                logged: 0,
                left_out: 0,
            }),
        }
    }

    /// `Some(n)` when this occurrence may be logged, `n` being how many were left out
    /// since the last line; `None` when it is left out (and counted).
    pub fn take(&self) -> Option<u64> {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> Option<u64> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.window.is_none_or(|w| now.duration_since(w) >= WINDOW) {
            s.window = Some(now);
            s.logged = 0;
        }
        if s.logged < PER_WINDOW {
            s.logged += 1;
            Some(std::mem::take(&mut s.left_out))
        } else {
            s.left_out += 1;
            None
        }
    }
}

impl Default for LogBudget {
    fn default() -> Self {
        Self::new()
    }
}

/// Logs a refusal at WARN within `budget`, saying how many similar ones were not logged.
#[macro_export]
macro_rules! warn_within {
    ($budget:expr, $($arg:tt)+) => {
        if let Some(left_out) = $budget.take() {
            tracing::warn!(left_out, $($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_lines_per_window_then_a_count_of_the_rest() {
        let b = LogBudget::new();
        let t = Instant::now();
        for _ in 0..PER_WINDOW {
            assert_eq!(b.take_at(t), Some(0));
        }
        for _ in 0..1000 {
            assert_eq!(b.take_at(t + Duration::from_secs(1)), None);
        }
        assert_eq!(
            b.take_at(t + WINDOW),
            Some(1000),
            "the next line says how many"
        );
        assert_eq!(b.take_at(t + WINDOW), Some(0));
    }
}
