//! One agent's configuration state, and every transition it goes through, in one place.
//!
//! What is kept (the registry holds it, the store keeps it across restarts): the assigned
//! configuration and its hash, when and on which of the agent's connections it was sent,
//! the state shown for it, the agent's message when it failed, and whether the effective
//! config the agent reports is the one sent. The agent's own last remote-config status
//! lives beside it in the agent's view.
//!
//! The rules, each enforced by one function below:
//! 1. **The agent's word decides** ([`on_report`]): APPLYING, APPLIED or FAILED in a
//!    remote-config status carrying the assigned hash is the state shown. An agent that
//!    reports no status (no ReportsRemoteConfig) counts as applied when its effective
//!    config is the one sent. A status about another hash says the agent does not run
//!    this one (it answered an older offer late, or moved on): applied or applying fall
//!    back to sent, and the offer goes out again.
//! 2. **Until it speaks**: `pending` until the offer goes out ([`mark_sent`]), `sent` once
//!    it has, `stalled` when the agent stays silent about it for the stall timeout
//!    ([`check_stalled`]); a late answer still counts.
//! 3. **A new connection starts from what the agent says on it** ([`on_full_state`]): its
//!    first full report is the truth. If that does not carry the assigned hash, the agent
//!    does not run it (its process restarted without its state): the state goes back to
//!    `pending` and the offer goes out again on this connection. One exception: an agent
//!    that refused this exact configuration stays `failed`, with its message, and is not
//!    sent it again; a new push (another hash) is what retries.
//! 4. **Nothing is sent blind** ([`should_send`]): not before the agent's full state on the
//!    current connection has arrived, not to an agent that reports running it, not twice on
//!    one connection, never a configuration it refused.
//! 5. **A server restart loses nothing** ([`Saved`], [`Assignment::restore`]): the stored
//!    state comes back as it was for settled states (applied, failed, stalled); states in
//!    flight come back `pending`, since whether the offer arrived is for the agent to say
//!    when it reconnects (rule 3), and a reconnect that reports the hash is sent nothing.
//!
//! Each assignment is one *attempt* in the agent's apply history (`fleet/attempt.rs`):
//! [`Assignment::next`] starts one, every settled state it reaches is remembered
//! ([`Assignment::settled`]), and it ends when the next assignment replaces it.
//!
//! Pure functions over plain data; the registry owns the state and calls these.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::agent::{ConfigMap, RemoteConfigState, RemoteConfigStatus};
use super::outbound::RemoteConfigOffer;

/// A configuration and one of its versions.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ConfigRef {
    pub name: Arc<str>,
    pub version: u64,
}

impl std::fmt::Display for ConfigRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.version)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyState {
    /// Assigned, not yet sent (agent offline, or an HTTP agent that has not polled).
    Pending,
    /// Sent; the agent has not said anything about it yet.
    Sent,
    Applying,
    Applied,
    Failed,
    /// Sent, but no answer within the stall timeout.
    Stalled,
}

impl ApplyState {
    /// Still waiting for the agent.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            ApplyState::Pending | ApplyState::Sent | ApplyState::Applying
        )
    }

    pub fn done(self) -> bool {
        matches!(
            self,
            ApplyState::Applied | ApplyState::Failed | ApplyState::Stalled
        )
    }
}

impl std::fmt::Display for ApplyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApplyState::Pending => "pending",
            ApplyState::Sent => "sent",
            ApplyState::Applying => "applying",
            ApplyState::Applied => "applied",
            ApplyState::Failed => "failed",
            ApplyState::Stalled => "stalled",
        })
    }
}

/// Who sent an agent its configuration.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AssignedBy {
    /// A push or a rollout (an operator's decision: selectors leave it alone).
    #[default]
    Push,
    /// A rollout sending the agent back to an earlier version.
    Rollback,
    /// The configuration's selector matched the agent's labels.
    Selector,
}

impl AssignedBy {
    /// How readers are told: a rollback is a push too.
    pub fn origin(self) -> &'static str {
        match self {
            AssignedBy::Push | AssignedBy::Rollback => "push",
            AssignedBy::Selector => "selector",
        }
    }
}

/// What a reader sees about an agent's assigned configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentConfigStatus {
    pub config: ConfigRef,
    #[serde(serialize_with = "hex32")]
    pub hash: [u8; 32],
    pub state: ApplyState,
    /// The agent's error message when it failed.
    pub error: String,
    /// Whether the agent's reported effective config matches what we sent
    /// (`None` until it reports one).
    pub effective_matches: Option<bool>,
    /// Unix seconds in JSON.
    #[serde(serialize_with = "super::unix_time::secs")]
    pub since: SystemTime,
    /// `push` (a push, a rollout or its rollback) or `selector` (the configuration's
    /// selector matched the agent's labels).
    pub origin: &'static str,
}

/// A hash as hex in JSON.
pub fn hex32<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

/// What [`check_stalled`] says about an agent that stayed silent.
pub const STALLED_MESSAGE: &str = "no answer from the agent";

/// The registry's record of one agent's assignment.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub config: ConfigRef,
    pub offer: Arc<RemoteConfigOffer>,
    pub state: ApplyState,
    pub error: String,
    pub effective_matches: Option<bool>,
    pub since: SystemTime,
    /// When it was last sent, and on which connection of the agent.
    pub sent: Option<(Instant, u64)>,
    /// When it was assigned. Later for each assignment of one agent (see
    /// [`Assignment::next`]), so with the agent it names this attempt in the history.
    pub started: SystemTime,
    /// A rollout's rollback assigned it (the agent's way back to an earlier version).
    pub rollback: bool,
    /// The configuration's selector assigned it, not an operator.
    pub by_selector: bool,
    /// The last settled state it reached and when, kept while it is in flight again (an
    /// agent that lost it on a restart is sent it again): the history's result for it.
    last_settled: Option<(ApplyState, SystemTime)>,
}

impl Assignment {
    pub fn new(config: ConfigRef, offer: Arc<RemoteConfigOffer>) -> Self {
        let now = SystemTime::now();
        Assignment {
            config,
            offer,
            state: ApplyState::Pending,
            error: String::new(),
            effective_matches: None,
            since: now,
            sent: None,
            started: now,
            rollback: false,
            by_selector: false,
            last_settled: None,
        }
    }

    /// A new attempt for an agent whose assignment was `before`: started after it, so that
    /// two assignments within one millisecond still name two attempts.
    pub fn next(
        config: ConfigRef,
        offer: Arc<RemoteConfigOffer>,
        by: AssignedBy,
        before: Option<&Assignment>,
    ) -> Self {
        let mut a = Assignment::new(config, offer);
        a.rollback = by == AssignedBy::Rollback;
        a.by_selector = by == AssignedBy::Selector;
        if let Some(b) = before {
            let after = SystemTime::UNIX_EPOCH + Duration::from_millis(millis(b.started) + 1);
            a.started = a.started.max(after);
        }
        a
    }

    /// The attempt's result so far: the settled state it is in, or the last one it
    /// reached before it went back in flight, with the agent's message and when. `None`
    /// while it has never settled.
    pub fn settled(&self) -> Option<(ApplyState, &str, SystemTime)> {
        if self.state.done() {
            return Some((self.state, &self.error, self.since));
        }
        // Only applied and stalled ever fall back in flight (a refusal stays failed):
        // their messages are known.
        self.last_settled.map(|(state, at)| {
            let message = if state == ApplyState::Stalled {
                STALLED_MESSAGE
            } else {
                ""
            };
            (state, message, at)
        })
    }

    pub fn view(&self) -> AgentConfigStatus {
        AgentConfigStatus {
            config: self.config.clone(),
            hash: self.offer.hash,
            state: self.state,
            error: self.error.clone(),
            effective_matches: self.effective_matches,
            since: self.since,
            origin: if self.by_selector {
                AssignedBy::Selector.origin()
            } else {
                AssignedBy::Push.origin()
            },
        }
    }

    /// What the store keeps of it across a restart of the server.
    pub fn saved(&self) -> Saved {
        Saved {
            hash: hex::encode(self.offer.hash),
            state: self.state,
            error: self.error.clone(),
            effective_matches: self.effective_matches,
            since_ms: millis(self.since),
            started_ms: Some(millis(self.started)),
            rollback: self.rollback,
            by_selector: self.by_selector,
            settled: self.last_settled.map(|(s, at)| (s, millis(at))),
        }
    }

    /// The assignment as a restart of the server finds it (rule 5): settled states as they
    /// were, states in flight as pending; nothing sent yet by this process. A saved state
    /// about another hash is not this assignment's and is ignored.
    pub fn restore(config: ConfigRef, offer: Arc<RemoteConfigOffer>, saved: Option<Saved>) -> Self {
        let mut a = Assignment::new(config, offer);
        if let Some(s) = saved.filter(|s| s.hash == hex::encode(a.offer.hash)) {
            let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
            a.effective_matches = s.effective_matches;
            // Saved before attempts were kept: the last change is the best guess.
            a.started = at(s.started_ms.unwrap_or(s.since_ms));
            a.rollback = s.rollback;
            a.by_selector = s.by_selector;
            a.last_settled = s.settled.map(|(state, ms)| (state, at(ms)));
            if s.state.done() {
                a.state = s.state;
                a.error = s.error;
                a.since = at(s.since_ms);
            }
        }
        a
    }

    fn set(&mut self, state: ApplyState, error: &str) -> bool {
        if self.state == state && self.error == error {
            return false;
        }
        self.state = state;
        self.error = error.to_string();
        self.since = SystemTime::now();
        if state.done() {
            self.last_settled = Some((state, self.since));
        }
        true
    }
}

/// An assignment's state as the store keeps it (JSON in the agent's record).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// The hash of the configuration this state is about (hex).
    pub hash: String,
    pub state: ApplyState,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_matches: Option<bool>,
    /// When the state last changed, in Unix milliseconds.
    pub since_ms: u64,
    /// When it was assigned, in Unix milliseconds (absent in states saved before the
    /// apply history was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_selector: bool,
    /// The last settled state and when (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<(ApplyState, u64)>,
}

/// Where an agent's configuration stood, as its stored record keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Saved>,
    /// The agent's last remote-config status, whatever configuration it was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<RemoteConfigStatus>,
}

impl Stored {
    /// `None` when there is nothing to keep.
    pub fn to_json(&self) -> Option<String> {
        if self.assignment.is_none() && self.reported.is_none() {
            return None;
        }
        serde_json::to_string(self).ok()
    }

    /// A stored text that does not parse (written by hand, or by a future version) is
    /// treated as nothing stored: the agent's next full report says where it stands.
    pub fn from_json(text: Option<&str>) -> Stored {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

/// Unix milliseconds (0 before the epoch).
pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Should the offer go out now, on connection number `conn` (rule 4)?
///
/// `knows_agent`: the agent's full state on this connection has arrived, so what it runs
/// is known. Not when the agent already runs it, not twice on one connection, and never
/// again once the agent has refused this exact configuration (no apply–fail loops); a new
/// push with a different hash is what retries.
pub fn should_send(
    a: &Assignment,
    agent_status: Option<&RemoteConfigStatus>,
    conn: u64,
    knows_agent: bool,
) -> bool {
    if !knows_agent {
        return false;
    }
    let agent_has = agent_status.is_some_and(|s| s.last_hash == a.offer.hash);
    if agent_has {
        return false;
    }
    if a.state == ApplyState::Failed {
        return false;
    }
    match a.sent {
        Some((_, on)) => on != conn,
        None => true,
    }
}

/// The agent's first full report on a new connection (rule 3): what it says there is
/// all it runs, so an assignment it does not report is not running, whatever it said on
/// an earlier connection. Returns true if the state changed.
pub fn on_full_state(
    a: &mut Assignment,
    status: Option<&RemoteConfigStatus>,
    effective: Option<&ConfigMap>,
    reports_status: bool,
) -> bool {
    let matched_before = a.effective_matches;
    if effective.is_none() {
        // An effective config from an earlier connection says nothing about this one.
        a.effective_matches = None;
    }
    let mut changed = on_report(a, status, effective, reports_status);
    changed |= a.effective_matches != matched_before;
    let about_it =
        status.is_some_and(|s| s.last_hash == a.offer.hash && s.state != RemoteConfigState::Unset);
    let runs_it = about_it || (!reports_status && a.effective_matches == Some(true));
    if !runs_it && a.state != ApplyState::Failed && a.state != ApplyState::Pending {
        changed |= a.set(ApplyState::Pending, "");
    }
    changed
}

/// Folds what the agent reported into the assignment; returns true if the state changed.
/// `reports_status`: the agent declares ReportsRemoteConfig, so only its own APPLIED
/// counts, and a message without a status means "unchanged" (a supervisor reports the
/// effective config of a Collector that is still settling before it says APPLIED).
pub fn on_report(
    a: &mut Assignment,
    status: Option<&RemoteConfigStatus>,
    effective: Option<&ConfigMap>,
    reports_status: bool,
) -> bool {
    let mut changed = false;
    if let Some(eff) = effective {
        let matches = eff.main_body() == a.offer.files.main_body();
        if a.effective_matches != Some(matches) {
            a.effective_matches = Some(matches);
            changed = true;
        }
    }
    match status {
        Some(s) if s.last_hash == a.offer.hash => {
            let next = match s.state {
                RemoteConfigState::Applying => ApplyState::Applying,
                RemoteConfigState::Applied => ApplyState::Applied,
                RemoteConfigState::Failed => ApplyState::Failed,
                RemoteConfigState::Unset => return changed,
            };
            let err = if next == ApplyState::Failed {
                s.error_message.as_str()
            } else {
                ""
            };
            changed |= a.set(next, err);
        }
        Some(_) if matches!(a.state, ApplyState::Applied | ApplyState::Applying) => {
            // Cleared so that the offer goes out again on this connection.
            a.sent = None;
            changed |= a.set(ApplyState::Pending, "");
        }
        // Agents that report no remote-config status at all: the effective config is the
        // only evidence, and a match means it is running our configuration.
        None if !reports_status && a.effective_matches == Some(true) && a.state.in_flight() => {
            changed |= a.set(ApplyState::Applied, "");
        }
        _ => {}
    }
    changed
}

/// Marks a sent assignment stalled once the agent has been silent about it for `timeout`.
pub fn check_stalled(a: &mut Assignment, now: Instant, timeout: Duration) -> bool {
    match (a.state, a.sent) {
        (ApplyState::Sent | ApplyState::Applying, Some((at, _)))
            if now.duration_since(at) > timeout =>
        {
            a.set(ApplyState::Stalled, STALLED_MESSAGE)
        }
        _ => false,
    }
}

/// Records that the offer went out on connection `conn`.
pub fn mark_sent(a: &mut Assignment, conn: u64) {
    a.sent = Some((Instant::now(), conn));
    if matches!(a.state, ApplyState::Pending | ApplyState::Stalled) {
        a.set(ApplyState::Sent, "");
    }
}

/// The SHA-256 every agent sees as `config_hash`: over the files in name order, each as
/// (name, content type, body) with lengths, so no two different maps hash alike.
pub fn hash_config(files: &ConfigMap) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    // A single collector.yaml hashes as its body alone: the design's contract is
    // "config_hash = SHA-256 of the body", which agents and tests can recompute.
    if files.files.len() == 1
        && let Some(f) = files.files.get("collector.yaml")
    {
        return Sha256::digest(&f.body).into();
    }
    let mut h = Sha256::new();
    for (name, f) in &files.files {
        for part in [name.as_bytes(), f.content_type.as_bytes(), &f.body[..]] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opamp::offer::collector_offer;

    fn assignment(yaml: &str) -> Assignment {
        Assignment::new(
            ConfigRef {
                name: "web".into(),
                version: 2,
            },
            Arc::new(collector_offer(yaml)),
        )
    }

    fn status(hash: &[u8], state: RemoteConfigState, err: &str) -> RemoteConfigStatus {
        RemoteConfigStatus {
            last_hash: hash.to_vec(),
            state,
            error_message: err.into(),
        }
    }

    #[test]
    fn the_hash_of_a_single_collector_yaml_is_the_sha256_of_its_body() {
        use sha2::{Digest, Sha256};
        let offer = collector_offer("receivers: {}\n");
        let expect: [u8; 32] = Sha256::digest(b"receivers: {}\n").into();
        assert_eq!(offer.hash, expect);
        assert_eq!(
            offer.files.files["collector.yaml"].content_type,
            "text/yaml"
        );
    }

    #[test]
    fn sent_once_per_connection_and_not_to_an_agent_that_runs_it() {
        let mut a = assignment("a: 1\n");
        assert!(
            !should_send(&a, None, 1, false),
            "not before the agent's full state says what it runs"
        );
        assert!(should_send(&a, None, 1, true));
        mark_sent(&mut a, 1);
        assert_eq!(a.state, ApplyState::Sent);
        assert!(
            !should_send(&a, None, 1, true),
            "not twice on one connection"
        );
        assert!(should_send(&a, None, 2, true), "again after a reconnect");
        let has = status(&a.offer.hash, RemoteConfigState::Applied, "");
        assert!(!should_send(&a, Some(&has), 3, true));
    }

    #[test]
    fn states_follow_the_agents_reports_for_this_hash_only() {
        let mut a = assignment("a: 1\n");
        mark_sent(&mut a, 1);
        let other = status(&[1; 32], RemoteConfigState::Applied, "");
        assert!(
            !on_report(&mut a, Some(&other), None, true),
            "another hash changes nothing"
        );
        let h = a.offer.hash;
        assert!(on_report(
            &mut a,
            Some(&status(&h, RemoteConfigState::Applying, "")),
            None,
            true
        ));
        assert_eq!(a.state, ApplyState::Applying);
        let failed = status(&h, RemoteConfigState::Failed, "exporters::otlp: undefined");
        assert!(on_report(&mut a, Some(&failed), None, true));
        assert_eq!(a.state, ApplyState::Failed);
        assert_eq!(a.error, "exporters::otlp: undefined");
        assert!(
            !should_send(&a, Some(&failed), 2, true),
            "never the same failed config again"
        );
        assert!(
            !on_report(&mut a, Some(&failed), None, true),
            "repeats are not changes"
        );
    }

    #[test]
    fn effective_config_is_cross_checked_and_stands_in_for_missing_status() {
        let mut a = assignment("a: 1\n");
        mark_sent(&mut a, 1);
        let same = collector_offer("a: 1\n").files;
        // An agent that reports its status: the match is noted, APPLIED waits for it.
        let mut b = a.clone();
        assert!(on_report(&mut b, None, Some(&same), true));
        assert_eq!(
            (b.state, b.effective_matches),
            (ApplyState::Sent, Some(true))
        );
        // One that never reports a status: the match is the only evidence.
        assert!(on_report(&mut a, None, Some(&same), false));
        assert_eq!(a.state, ApplyState::Applied);
        assert_eq!(a.effective_matches, Some(true));
        let other = collector_offer("b: 2\n").files;
        assert!(on_report(&mut a, None, Some(&other), false));
        assert_eq!(a.effective_matches, Some(false));
    }

    #[test]
    fn silence_after_sending_becomes_stalled() {
        let mut a = assignment("a: 1\n");
        assert!(
            !check_stalled(&mut a, Instant::now(), Duration::ZERO),
            "pending is not stalled"
        );
        mark_sent(&mut a, 1);
        let later = Instant::now() + Duration::from_secs(61);
        assert!(check_stalled(&mut a, later, Duration::from_secs(60)));
        assert_eq!(a.state, ApplyState::Stalled);
        let h = a.offer.hash;
        assert!(on_report(
            &mut a,
            Some(&status(&h, RemoteConfigState::Applied, "")),
            None,
            true
        ));
        assert_eq!(a.state, ApplyState::Applied, "a late answer still counts");
    }

    #[test]
    fn a_reconnect_that_does_not_report_the_hash_is_no_longer_applied() {
        let mut a = assignment("a: 1\n");
        mark_sent(&mut a, 1);
        let h = a.offer.hash;
        let applied = status(&h, RemoteConfigState::Applied, "");
        on_report(&mut a, Some(&applied), None, true);
        assert_eq!(a.state, ApplyState::Applied);

        // Same uid, new process without its state: UNSET, or no status at all.
        let unset = status(&[], RemoteConfigState::Unset, "");
        let local = collector_offer("mine: 1\n").files;
        assert!(on_full_state(&mut a, Some(&unset), Some(&local), true));
        assert_eq!(a.state, ApplyState::Pending);
        assert_eq!(a.effective_matches, Some(false));
        assert!(should_send(&a, Some(&unset), 2, true), "sent again");
        mark_sent(&mut a, 2);
        assert_eq!(a.state, ApplyState::Sent);
        assert!(check_stalled(
            &mut a,
            Instant::now() + Duration::from_secs(61),
            Duration::from_secs(60)
        ));
        assert_eq!(a.state, ApplyState::Stalled, "and stalls like any push");

        // A reconnect that does report it: applied, and nothing is sent.
        let mut b = assignment("a: 1\n");
        assert!(on_full_state(&mut b, Some(&applied), None, true));
        assert_eq!(b.state, ApplyState::Applied);
        assert!(!should_send(&b, Some(&applied), 1, true));
        assert!(!on_full_state(&mut b, Some(&applied), None, true));
    }

    #[test]
    fn a_refused_configuration_stays_failed_across_reconnects() {
        let mut a = assignment("a: 1\n");
        mark_sent(&mut a, 1);
        let h = a.offer.hash;
        on_report(
            &mut a,
            Some(&status(&h, RemoteConfigState::Failed, "bad key")),
            None,
            true,
        );
        assert!(!on_full_state(&mut a, None, None, true));
        assert_eq!((a.state, a.error.as_str()), (ApplyState::Failed, "bad key"));
        assert!(!should_send(&a, None, 2, true));
    }

    #[test]
    fn agents_without_status_are_judged_by_the_effective_config_of_this_connection() {
        let mut a = assignment("a: 1\n");
        mark_sent(&mut a, 1);
        let same = collector_offer("a: 1\n").files;
        on_report(&mut a, None, Some(&same), false);
        assert_eq!(a.state, ApplyState::Applied);
        // Reconnected, reporting no effective config: nothing says it runs ours.
        assert!(on_full_state(&mut a, None, None, false));
        assert_eq!((a.state, a.effective_matches), (ApplyState::Pending, None));
        assert!(on_full_state(&mut a, None, Some(&same), false));
        assert_eq!(a.state, ApplyState::Applied);
    }

    #[test]
    fn a_restart_keeps_settled_states_and_forgets_those_in_flight() {
        let mut a = assignment("a: 1\n");
        mark_sent(&mut a, 1);
        let h = a.offer.hash;
        on_report(
            &mut a,
            Some(&status(&h, RemoteConfigState::Failed, "bad key")),
            None,
            true,
        );
        let stored = Stored {
            assignment: Some(a.saved()),
            reported: None,
        };
        let text = stored.to_json().expect("something to keep");
        let back = Stored::from_json(Some(&text));
        assert_eq!(back, stored);
        let r = Assignment::restore(a.config.clone(), a.offer.clone(), back.assignment);
        assert_eq!((r.state, r.error.as_str()), (ApplyState::Failed, "bad key"));
        assert_eq!(
            r.since
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
            a.since
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        );

        let mut sent = assignment("a: 1\n");
        mark_sent(&mut sent, 1);
        let r = Assignment::restore(sent.config.clone(), sent.offer.clone(), Some(sent.saved()));
        assert_eq!(
            r.state,
            ApplyState::Pending,
            "whether it arrived is unknown"
        );

        let other = assignment("b: 2\n");
        let r = Assignment::restore(other.config.clone(), other.offer.clone(), Some(a.saved()));
        assert_eq!(r.state, ApplyState::Pending, "a state about another hash");
        assert_eq!(Stored::from_json(Some("{not json")), Stored::default());
        assert_eq!(Stored::default().to_json(), None);
    }

    #[test]
    fn a_status_about_another_hash_after_applying_means_it_no_longer_runs_ours() {
        let mut a = assignment("a: 1\n");
        mark_sent(&mut a, 1);
        let h = a.offer.hash;
        on_report(
            &mut a,
            Some(&status(&h, RemoteConfigState::Applied, "")),
            None,
            true,
        );
        let older = status(&[9; 32], RemoteConfigState::Applied, "");
        assert!(on_report(&mut a, Some(&older), None, true));
        assert_eq!(a.state, ApplyState::Pending);
        assert!(should_send(&a, Some(&older), 1, true), "offered again");
    }
}
