//! Delivery of a remote configuration to one agent and the states it goes through:
//! pending → sent → applying → applied / failed, or stalled when the agent says nothing.
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
    pub since: SystemTime,
}

fn hex32<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

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
}

impl Assignment {
    pub fn new(config: ConfigRef, offer: Arc<RemoteConfigOffer>) -> Self {
        Assignment {
            config,
            offer,
            state: ApplyState::Pending,
            error: String::new(),
            effective_matches: None,
            since: SystemTime::now(),
            sent: None,
        }
    }

    pub fn view(&self) -> AgentConfigStatus {
        AgentConfigStatus {
            config: self.config.clone(),
            hash: self.offer.hash,
            state: self.state,
            error: self.error.clone(),
            effective_matches: self.effective_matches,
            since: self.since,
        }
    }

    fn set(&mut self, state: ApplyState, error: &str) -> bool {
        if self.state == state && self.error == error {
            return false;
        }
        self.state = state;
        self.error = error.to_string();
        self.since = SystemTime::now();
        true
    }
}

/// Should the offer go out now, on connection number `conn`?
///
/// Not when the agent already runs it, not twice on one connection, and never again once
/// the agent has refused this exact configuration (no apply–fail loops); a new push with
/// a different hash is what retries.
pub fn should_send(a: &Assignment, agent_status: Option<&RemoteConfigStatus>, conn: u64) -> bool {
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
            a.set(ApplyState::Stalled, "no answer from the agent")
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

/// A `collector.yaml` offer, as the design fixes it (content type `text/yaml`).
pub fn collector_offer(yaml: &str) -> RemoteConfigOffer {
    let mut files = ConfigMap::default();
    files.files.insert(
        "collector.yaml".to_string(),
        super::agent::ConfigFile {
            body: yaml.as_bytes().to_vec(),
            content_type: "text/yaml".to_string(),
        },
    );
    let hash = hash_config(&files);
    RemoteConfigOffer::new(files, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(should_send(&a, None, 1));
        mark_sent(&mut a, 1);
        assert_eq!(a.state, ApplyState::Sent);
        assert!(!should_send(&a, None, 1), "not twice on one connection");
        assert!(should_send(&a, None, 2), "again after a reconnect");
        let has = status(&a.offer.hash, RemoteConfigState::Applied, "");
        assert!(!should_send(&a, Some(&has), 3));
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
            !should_send(&a, Some(&failed), 2),
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
}
