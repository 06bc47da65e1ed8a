//! Per-agent credentials: the rules, without the storage or the wire.
//!
//! The fleet secret (`agent-secret`) is an *enrollment* secret: an agent that presents it
//! and has no credential of its own is given one, offered through
//! `ConnectionSettingsOffers.opamp.headers`. Once the agent has connected with its
//! credential, that credential is the only way in for its instance uid. A rotation offers
//! a new one; the old one is accepted until the agent has connected with the new one,
//! then refused. A revoked agent is refused whatever it presents.
//!
//! Only a SHA-256 of each credential is kept ([`CredentialRecord`]); [`judge`] decides a
//! connection from the record alone, so every replica on one database decides alike. The
//! store implements [`CredentialBook`]; the listener (`opamp::credentials`) uses it.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::agent::AgentId;

/// What every credential starts with, so a server tells one from the fleet secret at a
/// glance (and so do people reading a state directory).
pub const PREFIX: &str = "fdc1_";

/// A SHA-256 of a credential: all the store keeps.
pub type CredentialHash = [u8; 32];

/// A fresh credential: [`PREFIX`] and 32 random bytes (256 bits) in URL-safe base64.
pub fn mint() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{PREFIX}{}", base64url(&bytes))
}

/// What is kept of a credential.
pub fn hash(credential: &str) -> CredentialHash {
    Sha256::digest(credential.as_bytes()).into()
}

/// The `Authorization` header value an agent sends with its credential.
pub fn bearer(credential: &str) -> String {
    format!("Bearer {credential}")
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Whether an agent with these capabilities is given a credential of its own: it accepts
/// OpAMP connection settings *and* reports what became of them, which is how it says it
/// follows the offer flow (keep the new headers, reconnect with them, report APPLIED or
/// FAILED). An agent that only takes the heartbeat interval from the settings (the
/// simulator by default) keeps connecting with the fleet secret.
pub fn takes_credentials(caps: super::agent::Capabilities) -> bool {
    use super::agent::Capabilities as C;
    caps.has(C::ACCEPTS_OPAMP_CONNECTION_SETTINGS)
        && caps.has(C::REPORTS_CONNECTION_SETTINGS_STATUS)
}

/// A credential minted for an agent, on its way to it: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued(pub std::sync::Arc<str>);

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<credential redacted>")
    }
}

/// Who revoked an agent, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: SystemTime,
    pub by: String,
}

/// What the server keeps about one agent's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub agent: AgentId,
    /// The credential the agent has connected with (and so holds).
    pub current: Option<CredentialHash>,
    /// Offered, not yet used: accepted beside `current` until the agent connects with it.
    pub pending: Option<CredentialHash>,
    /// The credential `pending` replaced once used: refused, but recognised, so the
    /// refusal can say whose it was.
    pub retired: Option<CredentialHash>,
    /// An operator asked for a new credential that has not been offered yet (the agent
    /// was not connected): it is offered on the agent's next connection.
    pub rotate: bool,
    /// When the agent first connected with a credential of its own.
    pub enrolled_at: Option<SystemTime>,
    /// When the agent last moved to a new credential (enrolment included).
    pub changed_at: Option<SystemTime>,
    pub revoked: Option<Revocation>,
}

impl CredentialRecord {
    pub fn new(agent: AgentId) -> Self {
        CredentialRecord {
            agent,
            current: None,
            pending: None,
            retired: None,
            rotate: false,
            enrolled_at: None,
            changed_at: None,
            revoked: None,
        }
    }

    /// Where the agent stands, as `get agent` shows it.
    pub fn state(&self) -> CredentialState {
        match (&self.revoked, &self.current) {
            (Some(_), _) => CredentialState::Revoked,
            (None, Some(_)) if self.pending.is_some() || self.rotate => CredentialState::Rotating,
            (None, Some(_)) => CredentialState::Enrolled,
            (None, None) if self.pending.is_some() => CredentialState::Enrolling,
            (None, None) => CredentialState::None,
        }
    }
}

/// Where an agent's credentials stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialState {
    /// Connects with the fleet secret (not enrolled yet, or an agent that cannot take one).
    None,
    /// Offered its first credential, not connected with it yet.
    Enrolling,
    /// Connects with a credential of its own.
    Enrolled,
    /// A new credential is offered (or will be, on the next connection); the current one
    /// still works until the agent uses the new one.
    Rotating,
    /// Refused whatever it presents.
    Revoked,
}

impl std::fmt::Display for CredentialState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialState::None => "none",
            CredentialState::Enrolling => "enrolling",
            CredentialState::Enrolled => "enrolled",
            CredentialState::Rotating => "rotating",
            CredentialState::Revoked => "revoked",
        })
    }
}

/// A time as people read it in messages (UTC).
pub fn when(t: SystemTime) -> String {
    let nanos = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    super::tap::rfc3339(nanos)
}

/// Where an agent's credentials stand, as `get agent` and the API show them (times in
/// Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CredentialView {
    pub state: CredentialState,
    /// First connected with a credential of its own.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::unix_time::opt_secs"
    )]
    pub enrolled_at: Option<SystemTime>,
    /// Last moved to a new credential (or had its revocation lifted).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::unix_time::opt_secs"
    )]
    pub changed_at: Option<SystemTime>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::unix_time::opt_secs"
    )]
    pub revoked_at: Option<SystemTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
}

impl CredentialView {
    pub fn of(r: Option<&CredentialRecord>) -> Self {
        let revoked = r.and_then(|r| r.revoked.as_ref());
        CredentialView {
            state: r.map_or(CredentialState::None, CredentialRecord::state),
            enrolled_at: r.and_then(|r| r.enrolled_at),
            changed_at: r.and_then(|r| r.changed_at),
            revoked_at: revoked.map(|v| v.at),
            revoked_by: revoked.map(|v| v.by.clone()),
        }
    }
}

/// What a connection presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// The fleet (enrollment) secret.
    Enrollment,
    /// A credential, by its hash.
    Credential(CredentialHash),
}

/// Why a connection is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("agent {agent} was revoked by {by} at {}", when(*at))]
    Revoked {
        agent: AgentId,
        by: String,
        at: SystemTime,
    },
    #[error(
        "agent {agent} has a credential of its own and must connect with it, not with the \
         fleet secret"
    )]
    MustUseCredential { agent: AgentId },
    #[error(
        "the credential presented was replaced by a newer one that agent {agent} has \
         already used"
    )]
    Retired { agent: AgentId },
    #[error("the credential presented belongs to agent {owner}, not to agent {agent}")]
    NotThisAgent { owner: AgentId, agent: AgentId },
    #[error("unknown credential")]
    Unknown,
}

impl Refusal {
    /// The agent the refusal is about, for its event.
    pub fn agent(&self) -> Option<AgentId> {
        match self {
            Refusal::Revoked { agent, .. }
            | Refusal::MustUseCredential { agent }
            | Refusal::Retired { agent }
            | Refusal::NotThisAgent { agent, .. } => Some(*agent),
            Refusal::Unknown => None,
        }
    }

    /// 403 for an agent the server knows and turns away; 401 for what it cannot take as
    /// anyone's credential (the agent should try another).
    pub fn forbidden(&self) -> bool {
        matches!(
            self,
            Refusal::Revoked { .. } | Refusal::MustUseCredential { .. }
        )
    }
}

/// What to do with an admitted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Admit {
    /// The agent connected with its pending credential: it becomes the current one and
    /// the old one is retired.
    pub confirm: bool,
    /// The agent needs a credential (enrolling, or a rotation is due): offer one if it
    /// takes OpAMP connection settings.
    pub issue: bool,
}

/// Decides a connection of agent `uid` that presented `presented`, from what is kept
/// about that uid (`None`: nothing yet).
pub fn judge(
    uid: AgentId,
    record: Option<&CredentialRecord>,
    presented: Presented,
) -> Result<Admit, Refusal> {
    let Some(r) = record else {
        return match presented {
            Presented::Enrollment => Ok(Admit {
                confirm: false,
                issue: true,
            }),
            Presented::Credential(_) => Err(Refusal::Unknown),
        };
    };
    if let Presented::Credential(_) = presented
        && r.agent != uid
    {
        return Err(Refusal::NotThisAgent {
            owner: r.agent,
            agent: uid,
        });
    }
    if let Some(rev) = &r.revoked {
        return Err(Refusal::Revoked {
            agent: uid,
            by: rev.by.clone(),
            at: rev.at,
        });
    }
    match presented {
        Presented::Enrollment if r.current.is_some() => {
            Err(Refusal::MustUseCredential { agent: uid })
        }
        Presented::Enrollment => Ok(Admit {
            confirm: false,
            issue: true,
        }),
        Presented::Credential(h) if r.pending == Some(h) => Ok(Admit {
            confirm: true,
            issue: false,
        }),
        Presented::Credential(h) if r.current == Some(h) => Ok(Admit {
            confirm: false,
            issue: r.pending.is_some() || r.rotate,
        }),
        Presented::Credential(h) if r.retired == Some(h) => Err(Refusal::Retired { agent: uid }),
        Presented::Credential(_) => Err(Refusal::Unknown),
    }
}

/// The record after the agent connected with its pending credential `h`.
pub fn confirmed(mut r: CredentialRecord, h: CredentialHash, now: SystemTime) -> CredentialRecord {
    if r.pending == Some(h) {
        r.retired = r.current.take();
        r.current = Some(h);
        r.pending = None;
        r.rotate = false;
        r.enrolled_at.get_or_insert(now);
        r.changed_at = Some(now);
    }
    r
}

/// The record after a credential `h` was offered (refused for a revoked agent).
pub fn offered(
    r: Option<CredentialRecord>,
    agent: AgentId,
    h: CredentialHash,
) -> Option<CredentialRecord> {
    let mut r = r.unwrap_or_else(|| CredentialRecord::new(agent));
    if r.revoked.is_some() {
        return None;
    }
    r.pending = Some(h);
    r.rotate = false;
    Some(r)
}

/// Where an agent's credentials are kept. Methods block (the store runs them on its
/// blocking pool); every replica on one database sees the same records.
pub trait CredentialBook: Send + Sync + 'static {
    /// The record of an agent.
    fn credential(&self, agent: &AgentId) -> Result<Option<CredentialRecord>, String>;
    /// The record whose current, pending or retired credential has this hash.
    fn credential_by_hash(&self, h: &CredentialHash) -> Result<Option<CredentialRecord>, String>;
    /// Changes an agent's record atomically (no other replica's change in between):
    /// `change` gets the record as stored (or `None`) and returns the one to keep, or
    /// `None` to keep what is there. Returns what is kept after the call.
    fn update_credential(
        &self,
        agent: &AgentId,
        change: &mut dyn FnMut(Option<CredentialRecord>) -> Option<CredentialRecord>,
    ) -> Result<Option<CredentialRecord>, String>;
    /// Every record, for listing.
    fn credentials(&self) -> Result<Vec<CredentialRecord>, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(n: u8) -> AgentId {
        AgentId([n; 16])
    }

    #[test]
    fn credentials_are_long_random_and_recognisable() {
        let (a, b) = (mint(), mint());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43, "{a}");
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn a_new_agent_enrolls_with_the_fleet_secret_and_then_must_use_its_credential() {
        let id = uid(1);
        let admit = judge(id, None, Presented::Enrollment).unwrap();
        assert!(admit.issue && !admit.confirm);
        let c = mint();
        let r = offered(None, id, hash(&c)).unwrap();
        assert_eq!(r.state(), CredentialState::Enrolling);
        // Until it has used the credential, the fleet secret still lets it in.
        assert!(judge(id, Some(&r), Presented::Enrollment).is_ok());
        let admit = judge(id, Some(&r), Presented::Credential(hash(&c))).unwrap();
        assert!(admit.confirm && !admit.issue);
        let now = SystemTime::now();
        let r = confirmed(r, hash(&c), now);
        assert_eq!(r.state(), CredentialState::Enrolled);
        assert_eq!(r.enrolled_at, Some(now));
        assert_eq!(
            judge(id, Some(&r), Presented::Enrollment),
            Err(Refusal::MustUseCredential { agent: id })
        );
        assert_eq!(
            judge(id, Some(&r), Presented::Credential(hash(&c))),
            Ok(Admit::default())
        );
    }

    #[test]
    fn during_a_rotation_both_work_until_the_new_one_is_used() {
        let id = uid(2);
        let (old, new) = (mint(), mint());
        let now = SystemTime::now();
        let r = confirmed(offered(None, id, hash(&old)).unwrap(), hash(&old), now);
        let mut asked = r.clone();
        asked.rotate = true;
        assert_eq!(asked.state(), CredentialState::Rotating);
        assert!(
            judge(id, Some(&asked), Presented::Credential(hash(&old)))
                .unwrap()
                .issue
        );
        let r = offered(Some(asked), id, hash(&new)).unwrap();
        assert!(!r.rotate);
        assert!(judge(id, Some(&r), Presented::Credential(hash(&old))).is_ok());
        let r = confirmed(r, hash(&new), now);
        assert_eq!(r.state(), CredentialState::Enrolled);
        assert_eq!(
            judge(id, Some(&r), Presented::Credential(hash(&old))),
            Err(Refusal::Retired { agent: id })
        );
        assert_eq!(
            judge(id, Some(&r), Presented::Credential(hash(&new))),
            Ok(Admit::default())
        );
    }

    #[test]
    fn a_revoked_agent_is_refused_whatever_it_presents() {
        let id = uid(3);
        let c = mint();
        let mut r = confirmed(
            offered(None, id, hash(&c)).unwrap(),
            hash(&c),
            SystemTime::now(),
        );
        r.revoked = Some(Revocation {
            at: SystemTime::now(),
            by: "alice".into(),
        });
        assert_eq!(r.state(), CredentialState::Revoked);
        for p in [Presented::Enrollment, Presented::Credential(hash(&c))] {
            let e = judge(id, Some(&r), p).unwrap_err();
            assert!(e.forbidden() && e.to_string().contains("alice"), "{e}");
        }
        assert_eq!(offered(Some(r), id, hash(&mint())), None);
    }

    #[test]
    fn another_agents_credential_is_refused() {
        let c = mint();
        let r = confirmed(
            offered(None, uid(4), hash(&c)).unwrap(),
            hash(&c),
            SystemTime::now(),
        );
        // Found by its hash, presented by uid 5.
        assert!(matches!(
            judge(uid(5), Some(&r), Presented::Credential(hash(&c))),
            Err(Refusal::NotThisAgent { .. })
        ));
        assert_eq!(
            judge(uid(5), None, Presented::Credential(hash(&c))),
            Err(Refusal::Unknown)
        );
    }
}
