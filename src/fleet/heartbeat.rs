//! Heartbeats answered by the WebSocket session instead of the registry.
//!
//! Most messages of an idle fleet are plain heartbeats: the next sequence number and nothing
//! else. When the registry answers a WebSocket agent with a plain acknowledgement and has
//! nothing waiting for it, it hands the session a [`Lease`]: while the lease holds, the
//! session answers such heartbeats itself with the same acknowledgement and records them in
//! the lease's counters. The registry stays the owner of the agent's state: it folds the
//! counters in (about once a second, and before it handles any other message from the agent)
//! and revokes the lease whenever it may have something to say to the agent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::agent::{AgentId, Capabilities};
use super::report::AgentReport;

/// Permission for one session to answer one agent's plain heartbeats.
#[derive(Debug)]
pub struct Lease {
    id: AgentId,
    /// Capabilities the agent had when the lease was granted; a change goes to the registry.
    capabilities: Capabilities,
    revoked: AtomicBool,
    /// Last sequence number answered (by the registry, then by the session).
    seq: AtomicU64,
    /// Heartbeats answered by the session and not yet folded in by the registry.
    beats: AtomicU64,
    /// When the newest of those heartbeats arrived, in milliseconds since the Unix epoch.
    last_seen_ms: AtomicU64,
}

/// What [`Lease::try_plain`] made of a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Not covered by the lease: the message must go to the registry.
    Refused,
    /// Counted, and the first since the registry last took the lease's beats: the agent
    /// goes on the [`Beaten`] list.
    First,
    /// Counted behind others the registry has not taken yet.
    Again,
}

/// Agents whose leases counted heartbeats the registry has not taken yet. The registry's
/// once-a-second fold visits these instead of every agent in the fleet. An agent may be
/// listed twice (its beats were taken by another path meanwhile); folding it twice is
/// harmless.
#[derive(Debug, Default)]
pub struct Beaten(Mutex<Vec<AgentId>>);

impl Beaten {
    pub fn push(&self, id: AgentId) {
        // A poisoned list is still a list of ids.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id);
    }

    /// Moves the listed agents into `into` (cleared first), leaving `into`'s old
    /// allocation behind for the next round.
    pub fn take_into(&self, into: &mut Vec<AgentId>) {
        into.clear();
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *list, into);
    }
}

/// Heartbeats the session answered since the registry last looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beats {
    pub count: u64,
    pub last_seq: u64,
    pub last_seen: SystemTime,
}

impl Lease {
    pub fn new(id: AgentId, capabilities: Capabilities, last_seq: u64) -> Self {
        Lease {
            id,
            capabilities,
            revoked: AtomicBool::new(false),
            seq: AtomicU64::new(last_seq),
            beats: AtomicU64::new(0),
            last_seen_ms: AtomicU64::new(0),
        }
    }

    pub fn id(&self) -> AgentId {
        self.id
    }

    /// Session side: records `report` and returns true when it is a plain heartbeat this
    /// lease covers (same agent and capabilities, the next sequence number, nothing else).
    /// Anything else returns false and must go to the registry.
    pub fn try_beat(&self, report: &AgentReport, now: SystemTime) -> bool {
        PlainBeat::of(report).is_some_and(|beat| self.try_plain(&beat, now) != Beat::Refused)
    }

    /// [`Lease::try_beat`] for a message already known to be a plain heartbeat, telling
    /// whether it is the first the registry has not seen yet.
    pub fn try_plain(&self, beat: &PlainBeat, now: SystemTime) -> Beat {
        if self.revoked.load(Ordering::Acquire)
            || beat.instance_uid != self.id
            || beat.capabilities != self.capabilities
        {
            return Beat::Refused;
        }
        // Only the session holding the lease writes `seq` while the lease is live.
        let prev = self.seq.load(Ordering::Relaxed);
        if beat.sequence_num != prev.wrapping_add(1) {
            return Beat::Refused;
        }
        self.seq.store(beat.sequence_num, Ordering::Relaxed);
        self.last_seen_ms.store(unix_ms(now), Ordering::Relaxed);
        match self.beats.fetch_add(1, Ordering::Release) {
            0 => Beat::First,
            _ => Beat::Again,
        }
    }

    /// Registry side: takes the heartbeats answered since the last call, if any.
    pub fn take_beats(&self) -> Option<Beats> {
        let count = self.beats.swap(0, Ordering::Acquire);
        (count > 0).then(|| Beats {
            count,
            last_seq: self.seq.load(Ordering::Relaxed),
            last_seen: UNIX_EPOCH
                + Duration::from_millis(self.last_seen_ms.load(Ordering::Relaxed)),
        })
    }

    /// Registry side: from now on every message goes to the registry again.
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }
}

/// What a plain heartbeat says: who, which message, and the capabilities it always
/// carries. The codec can read it off the wire without decoding the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainBeat {
    pub instance_uid: AgentId,
    pub sequence_num: u64,
    pub capabilities: Capabilities,
}

impl PlainBeat {
    /// `report`'s facts when it is a plain heartbeat.
    pub fn of(report: &AgentReport) -> Option<PlainBeat> {
        is_plain_heartbeat(report).then_some(PlainBeat {
            instance_uid: report.instance_uid,
            sequence_num: report.sequence_num,
            capabilities: report.capabilities,
        })
    }
}

/// A message that says nothing but "still here": no status part, no goodbye, no flags.
pub fn is_plain_heartbeat(r: &AgentReport) -> bool {
    r.description.is_none()
        && r.health.is_none()
        && r.effective_config.is_none()
        && r.remote_config_status.is_none()
        && r.package_statuses.is_none()
        && r.custom_capabilities.is_none()
        && r.custom_message.is_none()
        && r.available_components.is_none()
        && r.connection_settings_hash.is_none()
        && r.connection_settings_failed.is_none()
        && r.credential.is_none()
        && !r.disconnect
        && !r.request_instance_uid
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Capabilities = Capabilities(0x3003);

    fn beat(id: AgentId, seq: u64) -> AgentReport {
        AgentReport {
            instance_uid: id,
            sequence_num: seq,
            capabilities: CAPS,
            ..Default::default()
        }
    }

    #[test]
    fn consecutive_heartbeats_are_counted_with_their_time_and_sequence() {
        let id = AgentId([7; 16]);
        let lease = Lease::new(id, CAPS, 4);
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(lease.take_beats(), None);
        assert!(lease.try_beat(&beat(id, 5), t));
        assert!(lease.try_beat(&beat(id, 6), t + Duration::from_secs(5)));
        assert_eq!(
            lease.take_beats(),
            Some(Beats {
                count: 2,
                last_seq: 6,
                last_seen: t + Duration::from_secs(5)
            })
        );
        assert_eq!(
            lease.take_beats(),
            None,
            "taken beats are not counted twice"
        );
    }

    #[test]
    fn the_first_beat_after_the_registry_looked_is_marked_first() {
        let id = AgentId([7; 16]);
        let lease = Lease::new(id, CAPS, 4);
        let now = SystemTime::now();
        let plain = |seq| PlainBeat::of(&beat(id, seq)).expect("a plain heartbeat");
        assert_eq!(lease.try_plain(&plain(5), now), Beat::First);
        assert_eq!(lease.try_plain(&plain(6), now), Beat::Again);
        assert_eq!(lease.try_plain(&plain(6), now), Beat::Refused);
        assert!(lease.take_beats().is_some());
        assert_eq!(lease.try_plain(&plain(7), now), Beat::First);

        let beaten = Beaten::default();
        beaten.push(id);
        beaten.push(AgentId([8; 16]));
        let mut taken = vec![AgentId([9; 16])];
        beaten.take_into(&mut taken);
        assert_eq!(taken, vec![id, AgentId([8; 16])]);
        beaten.take_into(&mut taken);
        assert!(taken.is_empty(), "a taken list starts again empty");
    }

    #[test]
    fn anything_but_the_next_plain_heartbeat_goes_to_the_registry() {
        let id = AgentId([7; 16]);
        let lease = Lease::new(id, CAPS, 4);
        let now = SystemTime::now();
        assert!(
            !lease.try_beat(&beat(id, 6), now),
            "a gap needs a full report"
        );
        assert!(
            !lease.try_beat(&beat(id, 4), now),
            "a repeat is not a heartbeat"
        );
        assert!(
            !lease.try_beat(&beat(AgentId([8; 16]), 5), now),
            "another agent"
        );
        let mut caps = beat(id, 5);
        caps.capabilities = Capabilities(0x3007);
        assert!(!lease.try_beat(&caps, now), "changed capabilities");
        let mut status = beat(id, 5);
        status.remote_config_status = Some(Default::default());
        assert!(!lease.try_beat(&status, now), "a status report");
        let mut bye = beat(id, 5);
        bye.disconnect = true;
        assert!(!lease.try_beat(&bye, now), "a goodbye");
        assert_eq!(lease.take_beats(), None);
        lease.revoke();
        assert!(!lease.try_beat(&beat(id, 5), now), "a revoked lease");
    }
}
