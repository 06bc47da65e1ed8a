//! Who is knocking: the fleet (enrollment) secret or an agent's own credential, checked
//! against the records in the store (`fleet::credentials` has the rules). The listener asks
//! twice: at the HTTP request (what was presented, and whether that can be anyone's), and
//! when the first message names the instance uid (whether it is *this* agent's, whether the
//! agent moved to its new credential, whether it needs one).
//!
//! Nothing is cached across requests: the database is the truth every replica shares, and a
//! credential is read once per WebSocket connection or HTTP request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::auth::constant_time_eq;
use crate::fleet::AgentId;
use crate::fleet::credentials::{
    self, Admit, CredentialBook, CredentialRecord, Presented, Refusal, Revocation,
};

/// Why a credential question could not be answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The store could not be read or written: the agent is asked to come back later.
    #[error("the credential store is unavailable: {0}")]
    Store(String),
}

/// What the HTTP request presented, and what the store said of it.
#[derive(Debug, Clone)]
pub enum Gate {
    Enrollment,
    /// A credential, and the record it was found in.
    Credential {
        hash: credentials::CredentialHash,
        record: Box<CredentialRecord>,
    },
}

impl Gate {
    fn presented(&self) -> Presented {
        match self {
            Gate::Enrollment => Presented::Enrollment,
            Gate::Credential { hash, .. } => Presented::Credential(*hash),
        }
    }
}

/// Checks and hands out agent credentials. Shared by every session.
pub struct AgentAuth {
    enrollment: Arc<str>,
    book: Option<Arc<dyn CredentialBook>>,
    /// Credentials this process offered and the agent has not used yet, so an agent
    /// polling over HTTP is offered the same one each time (only its hash is stored).
    issued: Mutex<HashMap<AgentId, Arc<str>>>,
    /// Revoked agents, for checks that cannot wait for the store (own telemetry): read at
    /// start, kept up to date by this process's revocations and by the other replicas'
    /// ([`AgentAuth::reload_revoked`]).
    revoked: std::sync::RwLock<std::collections::HashSet<AgentId>>,
}

impl std::fmt::Debug for AgentAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentAuth")
            .field("enrollment", &crate::redact::redact(&self.enrollment))
            .field("per_agent", &self.book.is_some())
            .finish_non_exhaustive()
    }
}

impl AgentAuth {
    /// The fleet secret alone, as before per-agent credentials (tests, tools).
    pub fn secret_only(secret: impl Into<Arc<str>>) -> Self {
        AgentAuth {
            enrollment: secret.into(),
            book: None,
            issued: Mutex::default(),
            revoked: Default::default(),
        }
    }

    /// The fleet secret as an enrollment secret, and per-agent credentials kept in `book`.
    pub fn with_credentials(secret: impl Into<Arc<str>>, book: Arc<dyn CredentialBook>) -> Self {
        AgentAuth {
            enrollment: secret.into(),
            book: Some(book),
            issued: Mutex::default(),
            revoked: Default::default(),
        }
    }

    /// Whether `uid` is revoked (as this process last read it).
    pub fn is_revoked(&self, uid: &AgentId) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(uid)
    }

    /// Reads the revoked agents again (at start, and when another replica revoked one).
    pub async fn reload_revoked(&self) -> Result<(), CredentialError> {
        if self.book.is_none() {
            return Ok(());
        }
        let revoked = self
            .records()
            .await?
            .into_values()
            .filter(|r| r.revoked.is_some())
            .map(|r| r.agent)
            .collect();
        *self.revoked.write().unwrap_or_else(PoisonError::into_inner) = revoked;
        Ok(())
    }

    fn mark_revoked(&self, uid: AgentId, revoked: bool) {
        let mut set = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
        if revoked {
            set.insert(uid);
        } else {
            set.remove(&uid);
        }
    }

    /// Whether agents are given credentials of their own.
    pub fn per_agent(&self) -> bool {
        self.book.is_some()
    }

    /// What the request presented: `None` when nothing usable was (answer 401).
    pub fn presented(&self, headers: &HeaderMap) -> Option<Presented> {
        let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, key) = value.trim().split_once(' ')?;
        let scheme_ok =
            scheme.eq_ignore_ascii_case("Secret-Key") || scheme.eq_ignore_ascii_case("Bearer");
        let key = key.trim();
        // Evaluated even for a wrong scheme, so timing says nothing.
        let is_secret = constant_time_eq(key.as_bytes(), self.enrollment.as_bytes());
        if !scheme_ok {
            return None;
        }
        if is_secret {
            return Some(Presented::Enrollment);
        }
        if self.book.is_some() && key.starts_with(credentials::PREFIX) {
            return Some(Presented::Credential(credentials::hash(key)));
        }
        None
    }

    /// Looks a presented credential up before anything else happens on the request:
    /// unknown, retired and revoked ones are refused here, before any upgrade.
    pub async fn gate(&self, presented: Presented) -> Result<Gate, CredentialError> {
        let hash = match presented {
            Presented::Enrollment => return Ok(Gate::Enrollment),
            Presented::Credential(h) => h,
        };
        let Some(book) = self.book.clone() else {
            return Err(Refusal::Unknown.into());
        };
        let record = blocking(move || book.credential_by_hash(&hash))
            .await?
            .ok_or(Refusal::Unknown)?;
        // Judged as its owner: what remains to check is that the owner is who speaks.
        credentials::judge(record.agent, Some(&record), Presented::Credential(hash))?;
        Ok(Gate::Credential {
            hash,
            record: Box::new(record),
        })
    }

    /// Decides a message from agent `uid` on a request that passed [`AgentAuth::gate`]:
    /// refused, or admitted (and if it used its new credential, that is now its only one).
    /// Returns the agent's record as it stands.
    pub async fn admit(
        &self,
        gate: &Gate,
        uid: AgentId,
    ) -> Result<(Admit, Option<CredentialRecord>), CredentialError> {
        let Some(book) = self.book.clone() else {
            return Ok((Admit::default(), None));
        };
        let record = match gate {
            Gate::Credential { record, .. } if record.agent == uid => Some((**record).clone()),
            Gate::Credential { record, .. } => {
                // Another uid on a credential: one the server gave this agent (a clone's
                // rename), or a machine cloned with its state. The credential vouches for
                // it as the fleet secret would, for a uid without a credential of its own.
                let owner = record.agent;
                let theirs = blocking(move || book.credential(&uid)).await?;
                let admit = credentials::judge(uid, theirs.as_ref(), Presented::Enrollment)
                    .map_err(|e| match e {
                        Refusal::MustUseCredential { agent } => {
                            Refusal::NotThisAgent { owner, agent }
                        }
                        other => other,
                    })?;
                return Ok((admit, theirs));
            }
            Gate::Enrollment => {
                let book = book.clone();
                blocking(move || book.credential(&uid)).await?
            }
        };
        let admit = credentials::judge(uid, record.as_ref(), gate.presented())?;
        if !admit.confirm {
            return Ok((admit, record));
        }
        let Gate::Credential { hash, .. } = gate else {
            return Ok((admit, record));
        };
        let hash = *hash;
        let now = SystemTime::now();
        let kept = blocking(move || {
            book.update_credential(&uid, &mut |r| {
                r.map(|r| credentials::confirmed(r, hash, now))
            })
        })
        .await?;
        self.forget_issued(uid);
        Ok((admit, kept))
    }

    /// A credential to offer agent `uid`: the one this process already offered while it
    /// is still the pending one, or a new one, recorded (as a hash) before it is offered.
    /// `None` for a revoked agent.
    pub async fn issue(
        &self,
        uid: AgentId,
        record: Option<&CredentialRecord>,
    ) -> Result<Option<Arc<str>>, CredentialError> {
        let Some(book) = self.book.clone() else {
            return Ok(None);
        };
        let held = self.issued_for(uid);
        if let (Some(held), Some(r)) = (held, record)
            && r.pending == Some(credentials::hash(&held))
            && !r.rotate
        {
            return Ok(Some(held));
        }
        let fresh: Arc<str> = credentials::mint().into();
        let hash = credentials::hash(&fresh);
        let kept = blocking(move || {
            book.update_credential(&uid, &mut |r| credentials::offered(r, uid, hash))
        })
        .await?;
        if kept.and_then(|r| r.pending) != Some(hash) {
            return Ok(None);
        }
        lock(&self.issued).insert(uid, fresh.clone());
        Ok(Some(fresh))
    }

    /// Asks for a new credential for `uid`: minted now if `now` (the agent is connected and
    /// is offered it at once), else on its next connection.
    pub async fn rotate(
        &self,
        uid: AgentId,
        now: bool,
    ) -> Result<(Option<Arc<str>>, Option<CredentialRecord>), CredentialError> {
        let Some(book) = self.book.clone() else {
            return Ok((None, None));
        };
        if now {
            let issued = self.issue(uid, None).await?;
            let record = blocking(move || book.credential(&uid)).await?;
            return Ok((issued, record));
        }
        let kept = blocking(move || {
            book.update_credential(&uid, &mut |r| {
                let mut r = r.unwrap_or_else(|| CredentialRecord::new(uid));
                if r.revoked.is_some() {
                    return None;
                }
                r.rotate = true;
                Some(r)
            })
        })
        .await?;
        Ok((None, kept))
    }

    /// Revokes `uid` (`by` names who): refused from now on, whatever it presents.
    pub async fn revoke(
        &self,
        uid: AgentId,
        by: String,
    ) -> Result<Option<CredentialRecord>, CredentialError> {
        let book = self.book()?;
        let now = SystemTime::now();
        self.forget_issued(uid);
        self.mark_revoked(uid, true);
        blocking(move || {
            book.update_credential(&uid, &mut |r| {
                let mut r = r.unwrap_or_else(|| CredentialRecord::new(uid));
                if r.revoked.is_none() {
                    r.revoked = Some(Revocation {
                        at: now,
                        by: by.clone(),
                    });
                }
                Some(r)
            })
        })
        .await
    }

    /// Lifts a revocation and forgets the agent's credentials: it enrolls again with the
    /// fleet secret, as a new agent would. `None` when it was not revoked.
    pub async fn unrevoke(
        &self,
        uid: AgentId,
    ) -> Result<Option<CredentialRecord>, CredentialError> {
        let book = self.book()?;
        let mut lifted = false;
        let kept = blocking(move || {
            book.update_credential(&uid, &mut |r| {
                let r = r?;
                r.revoked.as_ref()?;
                lifted = true;
                Some(CredentialRecord {
                    changed_at: Some(SystemTime::now()),
                    ..CredentialRecord::new(uid)
                })
            })
            .map(|kept| kept.filter(|_| lifted))
        })
        .await?;
        if kept.is_some() {
            self.mark_revoked(uid, false);
        }
        Ok(kept)
    }

    /// An agent's record.
    pub async fn record(&self, uid: AgentId) -> Result<Option<CredentialRecord>, CredentialError> {
        let book = self.book()?;
        blocking(move || book.credential(&uid)).await
    }

    /// Every record, by agent.
    pub async fn records(&self) -> Result<HashMap<AgentId, CredentialRecord>, CredentialError> {
        let book = self.book()?;
        let all = blocking(move || book.credentials()).await?;
        Ok(all.into_iter().map(|r| (r.agent, r)).collect())
    }

    fn book(&self) -> Result<Arc<dyn CredentialBook>, CredentialError> {
        self.book.clone().ok_or_else(|| {
            CredentialError::Store("this server does not give agents credentials".into())
        })
    }

    fn issued_for(&self, uid: AgentId) -> Option<Arc<str>> {
        lock(&self.issued).get(&uid).cloned()
    }

    fn forget_issued(&self, uid: AgentId) {
        lock(&self.issued).remove(&uid);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, CredentialError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CredentialError::Store(e.to_string()))?
        .map_err(CredentialError::Store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    /// The store's part, in memory.
    #[derive(Default)]
    struct Book(Mutex<HashMap<AgentId, CredentialRecord>>);

    impl CredentialBook for Book {
        fn credential(&self, agent: &AgentId) -> Result<Option<CredentialRecord>, String> {
            Ok(lock(&self.0).get(agent).cloned())
        }
        fn credential_by_hash(
            &self,
            h: &credentials::CredentialHash,
        ) -> Result<Option<CredentialRecord>, String> {
            Ok(lock(&self.0)
                .values()
                .find(|r| [r.current, r.pending, r.retired].contains(&Some(*h)))
                .cloned())
        }
        fn update_credential(
            &self,
            agent: &AgentId,
            change: &mut dyn FnMut(Option<CredentialRecord>) -> Option<CredentialRecord>,
        ) -> Result<Option<CredentialRecord>, String> {
            let mut all = lock(&self.0);
            let before = all.get(agent).cloned();
            match change(before.clone()) {
                Some(after) => {
                    all.insert(*agent, after.clone());
                    Ok(Some(after))
                }
                None => Ok(before),
            }
        }
        fn credentials(&self) -> Result<Vec<CredentialRecord>, String> {
            Ok(lock(&self.0).values().cloned().collect())
        }
    }

    /// Enrolls `uid` and has it connect with its credential; returns the credential.
    async fn enrolled(auth: &AgentAuth, uid: AgentId) -> String {
        let (admit, _) = auth.admit(&Gate::Enrollment, uid).await.unwrap();
        assert!(admit.issue);
        let c = auth.issue(uid, None).await.unwrap().unwrap().to_string();
        let gate = auth
            .gate(Presented::Credential(credentials::hash(&c)))
            .await
            .unwrap();
        let (admit, _) = auth.admit(&gate, uid).await.unwrap();
        assert!(admit.confirm);
        c
    }

    /// A uid the server renamed a clone to (or a cloned machine's) arrives on the original's
    /// credential: it is taken like the fleet secret, and given a credential of its own; a
    /// uid with its own credential is not.
    #[tokio::test]
    async fn another_uid_on_a_credential_enrolls_only_where_nothing_is_enrolled() {
        let auth = AgentAuth::with_credentials("s", Arc::new(Book::default()));
        let (a, b, c) = (AgentId([1; 16]), AgentId([2; 16]), AgentId([3; 16]));
        let cred_a = enrolled(&auth, a).await;
        enrolled(&auth, c).await;
        let gate = auth
            .gate(Presented::Credential(credentials::hash(&cred_a)))
            .await
            .unwrap();
        let (admit, _) = auth.admit(&gate, b).await.unwrap();
        assert!(admit.issue && !admit.confirm);
        let refused = auth.admit(&gate, c).await.unwrap_err();
        assert!(
            matches!(
                refused,
                CredentialError::Refused(Refusal::NotThisAgent { owner, agent }) if owner == a && agent == c
            ),
            "{refused}"
        );
        auth.revoke(b, "alice".into()).await.unwrap();
        assert!(matches!(
            auth.admit(&gate, b).await,
            Err(CredentialError::Refused(Refusal::Revoked { .. }))
        ));
        assert!(auth.is_revoked(&b) && !auth.is_revoked(&a));
    }

    #[test]
    fn the_fleet_secret_and_credentials_are_told_apart() {
        let only = AgentAuth::secret_only("s3cr3t");
        assert_eq!(
            only.presented(&with_auth("Secret-Key s3cr3t")),
            Some(Presented::Enrollment)
        );
        assert_eq!(
            only.presented(&with_auth("Bearer s3cr3t")),
            Some(Presented::Enrollment)
        );
        // Without per-agent credentials, a credential is just a wrong secret.
        let c = credentials::mint();
        assert_eq!(only.presented(&with_auth(&format!("Bearer {c}"))), None);
        assert_eq!(only.presented(&with_auth("Basic s3cr3t")), None);
        assert_eq!(only.presented(&HeaderMap::new()), None);
    }
}
