//! An agent's apply history: each configuration version assigned to it (an *attempt*) and
//! what became of it. The registry writes an attempt through the journal when it settles
//! (applied, failed, stalled; again if a late answer changes that) and when the next
//! assignment replaces it; the store keeps the newest [`KEPT_PER_AGENT`] of each agent.

use std::time::{Duration, SystemTime};

use super::agent::AgentId;
use super::delivery::{ApplyState, Assignment, ConfigRef, hex32, millis};

/// Attempts kept per agent; older ones are dropped as new ones are written.
pub const KEPT_PER_AGENT: usize = 50;

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptResult {
    Applied,
    Failed,
    /// Sent, and the agent stayed silent about it for the stall timeout.
    Stalled,
    /// Replaced by another assignment before the agent said anything about it.
    Superseded,
}

impl AttemptResult {
    pub const ALL: [AttemptResult; 4] = [
        AttemptResult::Applied,
        AttemptResult::Failed,
        AttemptResult::Stalled,
        AttemptResult::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptResult::Applied => "applied",
            AttemptResult::Failed => "failed",
            AttemptResult::Stalled => "stalled",
            AttemptResult::Superseded => "superseded",
        }
    }

    fn of(state: ApplyState) -> AttemptResult {
        match state {
            ApplyState::Applied => AttemptResult::Applied,
            ApplyState::Failed => AttemptResult::Failed,
            ApplyState::Stalled => AttemptResult::Stalled,
            ApplyState::Pending | ApplyState::Sent | ApplyState::Applying => {
                AttemptResult::Superseded
            }
        }
    }
}

impl std::fmt::Display for AttemptResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AttemptResult {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttemptResult::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown attempt result '{s}'"))
    }
}

/// One configuration version assigned to an agent, and what became of it. An agent and
/// `assigned_at` (to the millisecond) name it: a later write of the same attempt replaces
/// the earlier one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApplyAttempt {
    /// Whose attempt (the API answers per agent, so JSON leaves it out).
    #[serde(skip)]
    pub agent: AgentId,
    pub config: ConfigRef,
    #[serde(serialize_with = "hex32")]
    pub hash: [u8; 32],
    pub result: AttemptResult,
    /// The agent's message when it failed, or what replaced an attempt that never settled.
    pub message: String,
    /// When it was assigned (Unix seconds in JSON).
    #[serde(serialize_with = "super::unix_time::secs")]
    pub assigned_at: SystemTime,
    /// When it reached its result, or was replaced before it reached one.
    #[serde(serialize_with = "super::unix_time::secs")]
    pub finished_at: SystemTime,
    /// A rollback replaced it: the agent was sent back to the version it had before.
    pub rolled_back: bool,
    /// It is itself a rollback (a rollout sending the agent back to an earlier version).
    pub rollback: bool,
}

/// Times as the store keeps them, so what is written reads back equal.
fn to_the_milli(t: SystemTime) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(millis(t))
}

impl ApplyAttempt {
    fn from(
        agent: AgentId,
        a: &Assignment,
        result: AttemptResult,
        message: &str,
        at: SystemTime,
    ) -> Self {
        ApplyAttempt {
            agent,
            config: a.config.clone(),
            hash: a.offer.hash,
            result,
            message: message.to_string(),
            assigned_at: to_the_milli(a.started),
            finished_at: to_the_milli(at),
            rolled_back: false,
            rollback: a.rollback,
        }
    }

    /// The attempt as it stands, once it has settled (`None` until then).
    pub fn settled(agent: AgentId, a: &Assignment) -> Option<Self> {
        let (state, message, at) = a.settled()?;
        Some(ApplyAttempt::from(
            agent,
            a,
            AttemptResult::of(state),
            message,
            at,
        ))
    }

    /// The attempt `a` as it ends when `next` replaces it (by a rollback, or a push).
    /// One that settled keeps its result, and its row only changes when a rollback undoes
    /// it (`None` otherwise: the row written when it settled stands). One that never
    /// settled is superseded.
    pub fn replaced(
        agent: AgentId,
        a: &Assignment,
        next: &ConfigRef,
        rollback: bool,
    ) -> Option<Self> {
        let mut attempt = match ApplyAttempt::settled(agent, a) {
            Some(settled) if rollback => settled,
            Some(_) => return None,
            None => ApplyAttempt::from(
                agent,
                a,
                AttemptResult::Superseded,
                &format!("replaced by {next} before the agent answered"),
                SystemTime::now(),
            ),
        };
        attempt.rolled_back = rollback;
        Some(attempt)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fleet::agent::{RemoteConfigState, RemoteConfigStatus};
    use crate::fleet::delivery::{AssignedBy, check_stalled, mark_sent, on_full_state, on_report};
    use crate::opamp::offer::collector_offer;

    const AGENT: AgentId = AgentId([7; 16]);

    fn web(version: u64) -> ConfigRef {
        ConfigRef {
            name: "web".into(),
            version,
        }
    }

    fn assigned(version: u64, before: Option<&Assignment>, rollback: bool) -> Assignment {
        let yaml = format!("v: {version}\n");
        Assignment::next(
            web(version),
            Arc::new(collector_offer(&yaml)),
            if rollback {
                AssignedBy::Rollback
            } else {
                AssignedBy::Push
            },
            before,
        )
    }

    fn said(a: &mut Assignment, state: RemoteConfigState, err: &str) {
        let status = RemoteConfigStatus {
            last_hash: a.offer.hash.to_vec(),
            state,
            error_message: err.into(),
        };
        on_report(a, Some(&status), None, true);
    }

    #[test]
    fn an_attempt_is_recorded_once_it_settles_with_the_agents_word() {
        let mut a = assigned(1, None, false);
        mark_sent(&mut a, 1);
        assert_eq!(ApplyAttempt::settled(AGENT, &a), None, "in flight");
        said(&mut a, RemoteConfigState::Failed, "exporters: bad");
        let got = ApplyAttempt::settled(AGENT, &a).expect("settled");
        assert_eq!(
            (got.result, got.message.as_str(), got.config, got.hash),
            (
                AttemptResult::Failed,
                "exporters: bad",
                web(1),
                a.offer.hash
            )
        );
        assert!(!got.rolled_back && !got.rollback);
    }

    #[test]
    fn a_stall_is_a_result_until_a_late_answer_replaces_it() {
        let mut a = assigned(1, None, false);
        mark_sent(&mut a, 1);
        let later = std::time::Instant::now() + Duration::from_secs(61);
        assert!(check_stalled(&mut a, later, Duration::from_secs(60)));
        let stalled = ApplyAttempt::settled(AGENT, &a).expect("stalled");
        assert_eq!(stalled.result, AttemptResult::Stalled);
        assert_eq!(stalled.message, "no answer from the agent");
        said(&mut a, RemoteConfigState::Applied, "");
        let applied = ApplyAttempt::settled(AGENT, &a).expect("applied");
        assert_eq!(applied.result, AttemptResult::Applied);
        assert_eq!(applied.assigned_at, stalled.assigned_at, "the same attempt");
    }

    #[test]
    fn replaced_attempts_say_superseded_or_rolled_back() {
        // Never answered, replaced by a push: superseded, naming what replaced it.
        let mut one = assigned(1, None, false);
        mark_sent(&mut one, 1);
        let two = assigned(2, Some(&one), false);
        assert!(
            two.started > one.started,
            "a later attempt, even within a millisecond"
        );
        let gone = ApplyAttempt::replaced(AGENT, &one, &two.config, false).expect("recorded");
        assert_eq!(gone.result, AttemptResult::Superseded);
        assert_eq!(gone.message, "replaced by web:2 before the agent answered");
        assert!(!gone.rolled_back);

        // Applied, replaced by a push: its row stands as written when it settled.
        let mut two = two;
        said(&mut two, RemoteConfigState::Applied, "");
        assert_eq!(ApplyAttempt::replaced(AGENT, &two, &web(3), false), None);

        // Failed, replaced by a rollback: rolled back, keeping the agent's message; the
        // rollback is an attempt of its own.
        let mut three = assigned(3, Some(&two), false);
        said(&mut three, RemoteConfigState::Failed, "bad key");
        let back = assigned(2, Some(&three), true);
        let undone = ApplyAttempt::replaced(AGENT, &three, &back.config, true).expect("undone");
        assert_eq!(
            (undone.result, undone.message.as_str(), undone.rolled_back),
            (AttemptResult::Failed, "bad key", true)
        );
        assert!(back.rollback);
    }

    #[test]
    fn an_attempt_lost_on_a_reconnect_keeps_its_result() {
        let mut a = assigned(1, None, false);
        mark_sent(&mut a, 1);
        said(&mut a, RemoteConfigState::Applied, "");
        // The agent comes back without it: in flight again, and sent again.
        assert!(on_full_state(&mut a, None, None, true));
        assert!(a.state.in_flight());
        let undone = ApplyAttempt::replaced(AGENT, &a, &web(0), true).expect("rolled back");
        assert_eq!(undone.result, AttemptResult::Applied);
        assert!(undone.rolled_back);
    }

    #[test]
    fn an_attempt_outlives_a_restart_of_the_server() {
        use crate::fleet::delivery::{Saved, Stored};
        let first = assigned(1, None, false);
        let mut a = assigned(2, Some(&first), true);
        mark_sent(&mut a, 1);
        said(&mut a, RemoteConfigState::Applied, "");
        on_full_state(&mut a, None, None, true);
        let before = ApplyAttempt::replaced(AGENT, &a, &web(3), true);
        let text = Stored {
            assignment: Some(a.saved()),
            reported: None,
        }
        .to_json()
        .expect("something to keep");
        let saved = Stored::from_json(Some(&text)).assignment;
        let back = Assignment::restore(a.config.clone(), a.offer.clone(), saved);
        assert_eq!(ApplyAttempt::replaced(AGENT, &back, &web(3), true), before);
        assert!(back.rollback);

        // Saved before attempts were kept: the attempt starts at the last change.
        let old: Saved = serde_json::from_str(&format!(
            r#"{{"hash":"{}","state":"failed","error":"bad","since_ms":1234}}"#,
            hex::encode(a.offer.hash)
        ))
        .expect("an older saved state");
        let back = Assignment::restore(a.config.clone(), a.offer.clone(), Some(old));
        let attempt = ApplyAttempt::settled(AGENT, &back).expect("failed");
        assert_eq!(
            attempt.assigned_at,
            SystemTime::UNIX_EPOCH + Duration::from_millis(1234)
        );
        assert_eq!(
            (attempt.result, attempt.rollback),
            (AttemptResult::Failed, false)
        );
    }

    #[test]
    fn results_read_back_from_their_names() {
        for r in AttemptResult::ALL {
            assert_eq!(r.as_str().parse::<AttemptResult>(), Ok(r));
        }
        assert!("done".parse::<AttemptResult>().is_err());
    }
}
