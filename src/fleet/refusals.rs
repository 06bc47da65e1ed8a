//! Own telemetry that agents sent and the OTLP receiver refused (no or wrong credentials),
//! per agent, so an operator sees why an agent's sparklines stay empty instead of a
//! silent 401 every few seconds. Only agents of the fleet are noted, so the table is
//! bounded by the fleet; an entry ends when the agent's telemetry is accepted again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::AgentId;

/// How often one agent's refusals are logged (they are counted every time).
const LOG_EVERY: Duration = Duration::from_secs(300);

/// What was refused of one agent's own telemetry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refused {
    /// Requests refused since the first.
    pub count: u64,
    /// Why the last one was, in a few words ("no credentials").
    pub reason: &'static str,
    #[serde(serialize_with = "super::unix_time::secs")]
    pub first: SystemTime,
    #[serde(serialize_with = "super::unix_time::secs")]
    pub last: SystemTime,
}

#[derive(Clone, Default)]
pub struct Refusals {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    agents: Mutex<HashMap<AgentId, (Refused, Instant)>>,
    /// Entries held: accepted requests look here before they take the lock.
    held: AtomicUsize,
}

impl Refusals {
    /// Counts one refused request of `id`'s; true when it should be logged now (the first,
    /// and then once every five minutes per agent).
    pub fn note(&self, id: AgentId, reason: &'static str) -> bool {
        let now = SystemTime::now();
        let mut agents = self.lock();
        match agents.get_mut(&id) {
            Some((r, logged)) => {
                r.count += 1;
                r.reason = reason;
                r.last = now;
                if logged.elapsed() >= LOG_EVERY {
                    *logged = Instant::now();
                    return true;
                }
                false
            }
            None => {
                let r = Refused {
                    count: 1,
                    reason,
                    first: now,
                    last: now,
                };
                agents.insert(id, (r, Instant::now()));
                self.inner.held.store(agents.len(), Ordering::Relaxed);
                true
            }
        }
    }

    /// The agent's telemetry got through: what was refused before no longer holds.
    pub fn accepted(&self, id: &AgentId) {
        if self.inner.held.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut agents = self.lock();
        if agents.remove(id).is_some() {
            self.inner.held.store(agents.len(), Ordering::Relaxed);
        }
    }

    pub fn get(&self, id: &AgentId) -> Option<Refused> {
        if self.inner.held.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.lock().get(id).map(|(r, _)| r.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, (Refused, Instant)>> {
        self.inner
            .agents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_logged_once_and_end_when_accepted() {
        let r = Refusals::default();
        let id = AgentId([1; 16]);
        assert!(r.note(id, "no credentials"), "the first is logged");
        assert!(!r.note(id, "no credentials"), "the next ones are counted");
        assert!(!r.note(id, "an unknown credential"));
        let got = r.get(&id).expect("noted");
        assert_eq!((got.count, got.reason), (3, "an unknown credential"));
        assert_eq!(r.get(&AgentId([2; 16])), None);
        r.accepted(&id);
        assert_eq!(r.get(&id), None);
        assert!(
            r.note(id, "no credentials"),
            "a new run of refusals is logged again"
        );
    }
}
