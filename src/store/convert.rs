//! What both backends share: how values are kept (milliseconds, JSON text, 16-byte ids)
//! and how a row read back becomes a document, refusing what does not parse.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::{StoreError, StoreResult};
use super::types::{ResourceDoc, RolloutRecord};
use crate::fleet::agent::AgentId;
use crate::fleet::attempt::ApplyAttempt;
use crate::fleet::delivery::ConfigRef;
use crate::fleet::record::AgentRecord;

pub(super) fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(super) fn from_millis(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

pub(super) fn labels_to_json(labels: &BTreeMap<String, String>) -> String {
    // A map of strings always serializes.
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

pub(super) fn agent_id_from_blob(blob: &[u8]) -> Option<AgentId> {
    <[u8; 16]>::try_from(blob).ok().map(AgentId)
}

pub(super) fn check_names(kind: &str, name: &str) -> StoreResult<()> {
    let problem = if kind.trim().is_empty() {
        Some("the kind is empty")
    } else if name.trim().is_empty() {
        Some("the name is empty")
    } else {
        None
    };
    match problem {
        Some(detail) => Err(StoreError::InvalidResource {
            kind: kind.into(),
            name: name.into(),
            detail: detail.into(),
        }),
        None => Ok(()),
    }
}

/// A resource row before its labels are parsed.
pub(super) struct RawResource {
    pub(super) kind: String,
    pub(super) name: String,
    pub(super) version: i64,
    pub(super) spec: String,
    pub(super) labels: String,
    pub(super) hash: String,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

pub(super) const RESOURCE_COLUMNS: &str = "v.kind, v.name, v.version, v.spec, v.labels, v.hash, \
     r.created_at, v.created_at \
     FROM resources r JOIN resource_versions v ON v.kind = r.kind AND v.name = r.name";

/// An agent row before its id and labels are checked.
pub(super) struct RawAgent {
    pub(super) id: Vec<u8>,
    pub(super) labels: String,
    pub(super) config_name: Option<String>,
    pub(super) config_version: Option<i64>,
    pub(super) description: Option<String>,
    pub(super) first_seen: i64,
    pub(super) last_seen: i64,
    pub(super) components: Option<String>,
    pub(super) config_state: Option<String>,
}

pub(super) const AGENT_COLUMNS: &str = "id, labels, config_name, config_version, description, first_seen, \
     last_seen, components, config_state FROM agents";

/// An apply-history row before its id, hash and result are checked.
pub(super) struct RawAttempt {
    pub(super) agent_id: Vec<u8>,
    pub(super) assigned_at: i64,
    pub(super) config_name: String,
    pub(super) config_version: i64,
    pub(super) hash: String,
    pub(super) result: String,
    pub(super) message: String,
    pub(super) finished_at: i64,
    pub(super) rolled_back: bool,
    pub(super) rollback: bool,
}

pub(super) const ATTEMPT_COLUMNS: &str = "agent_id, assigned_at, config_name, config_version, hash, \
     result, message, finished_at, rolled_back, rollback FROM apply_history";

pub(super) struct RawRollout {
    pub(super) config_name: String,
    pub(super) status: String,
    pub(super) state: String,
    pub(super) revision: i64,
    pub(super) updated_at: i64,
}

pub(super) const ROLLOUT_COLUMNS: &str =
    "config_name, status, state, revision, updated_at FROM rollouts";

/// A row that does not read back as what was written (edited by hand, or damaged).
fn bad_row(at: &Path, what: &str, detail: impl ToString) -> StoreError {
    StoreError::BadRow {
        path: at.to_path_buf(),
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

impl RawResource {
    pub(super) fn into_doc(self, at: &Path) -> StoreResult<ResourceDoc> {
        let raw = self;
        let labels = serde_json::from_str(&raw.labels)
            .map_err(|e| bad_row(at, &format!("labels of {} '{}'", raw.kind, raw.name), e))?;
        Ok(ResourceDoc {
            kind: raw.kind,
            name: raw.name,
            version: raw.version.max(0) as u64,
            spec_json: raw.spec,
            labels,
            hash: raw.hash,
            created_at: from_millis(raw.created_at),
            updated_at: from_millis(raw.updated_at),
        })
    }
}

impl RawAgent {
    pub(super) fn into_record(self, at: &Path) -> StoreResult<AgentRecord> {
        let raw = self;
        let id = agent_id_from_blob(&raw.id)
            .ok_or_else(|| bad_row(at, "agent id", format!("{} bytes, not 16", raw.id.len())))?;
        let labels = serde_json::from_str(&raw.labels)
            .map_err(|e| bad_row(at, &format!("labels of agent {id}"), e))?;
        let assigned = match (raw.config_name, raw.config_version) {
            (Some(name), Some(version)) => Some(ConfigRef {
                name: name.into(),
                version: version.max(0) as u64,
            }),
            _ => None,
        };
        Ok(AgentRecord {
            id,
            labels,
            assigned,
            description_json: raw.description,
            components_json: raw.components,
            config_state_json: raw.config_state,
            first_seen: from_millis(raw.first_seen),
            last_seen: from_millis(raw.last_seen),
        })
    }
}

impl RawAttempt {
    pub(super) fn into_attempt(self, at: &Path) -> StoreResult<ApplyAttempt> {
        let raw = self;
        let agent = agent_id_from_blob(&raw.agent_id).ok_or_else(|| {
            bad_row(
                at,
                "apply history agent id",
                format!("{} bytes, not 16", raw.agent_id.len()),
            )
        })?;
        let what = || format!("apply attempt of agent {agent} at {}", raw.assigned_at);
        let hash = hex::decode(&raw.hash)
            .ok()
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or_else(|| {
                bad_row(
                    at,
                    &what(),
                    format!("hash '{}' is not 32 hex bytes", raw.hash),
                )
            })?;
        let result = raw
            .result
            .parse()
            .map_err(|e: String| bad_row(at, &what(), e))?;
        Ok(ApplyAttempt {
            agent,
            config: ConfigRef {
                name: raw.config_name.into(),
                version: raw.config_version.max(0) as u64,
            },
            hash,
            result,
            message: raw.message,
            assigned_at: from_millis(raw.assigned_at),
            finished_at: from_millis(raw.finished_at),
            rolled_back: raw.rolled_back,
            rollback: raw.rollback,
        })
    }
}

impl RawRollout {
    pub(super) fn into_record(self, at: &Path) -> StoreResult<RolloutRecord> {
        let raw = self;
        let status = raw.status.parse().map_err(|e: String| {
            bad_row(at, &format!("rollout status of '{}'", raw.config_name), e)
        })?;
        Ok(RolloutRecord {
            config_name: raw.config_name,
            status,
            state_json: raw.state,
            revision: raw.revision.max(0) as u64,
            updated_at: from_millis(raw.updated_at),
        })
    }
}

/// An agent's credential row as both backends keep it: hashes as hex text, times in ms.
pub(super) struct RawCredential {
    pub id: Vec<u8>,
    pub current: Option<String>,
    pub pending: Option<String>,
    pub retired: Option<String>,
    pub rotate: bool,
    pub enrolled_at: Option<i64>,
    pub changed_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

/// The columns of `agent_credentials`, in [`RawCredential`]'s order.
pub(super) const CREDENTIAL_COLUMNS: &str = "agent_id, current_hash, pending_hash, retired_hash, \
     rotate, enrolled_at, changed_at, revoked_at, revoked_by";

impl RawCredential {
    pub fn of(r: &crate::fleet::credentials::CredentialRecord) -> Self {
        RawCredential {
            id: r.agent.as_bytes().to_vec(),
            current: r.current.map(hex::encode),
            pending: r.pending.map(hex::encode),
            retired: r.retired.map(hex::encode),
            rotate: r.rotate,
            enrolled_at: r.enrolled_at.map(to_millis),
            changed_at: r.changed_at.map(to_millis),
            revoked_at: r.revoked.as_ref().map(|v| to_millis(v.at)),
            revoked_by: r.revoked.as_ref().map(|v| v.by.clone()),
        }
    }

    pub fn into_record(
        self,
        path: &Path,
    ) -> StoreResult<crate::fleet::credentials::CredentialRecord> {
        use crate::fleet::credentials::{CredentialRecord, Revocation};
        let bad = |detail: String| StoreError::BadRow {
            path: path.to_path_buf(),
            what: "agent credential".into(),
            detail,
        };
        let agent = agent_id_from_blob(&self.id)
            .ok_or_else(|| bad(format!("an agent id of {} bytes", self.id.len())))?;
        let hash = |h: Option<String>| -> StoreResult<Option<[u8; 32]>> {
            h.map(|h| {
                hex::decode(&h)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| bad(format!("a credential hash '{h}'")))
            })
            .transpose()
        };
        Ok(CredentialRecord {
            agent,
            current: hash(self.current)?,
            pending: hash(self.pending)?,
            retired: hash(self.retired)?,
            rotate: self.rotate,
            enrolled_at: self.enrolled_at.map(from_millis),
            changed_at: self.changed_at.map(from_millis),
            revoked: self.revoked_at.map(|at| Revocation {
                at: from_millis(at),
                by: self.revoked_by.unwrap_or_default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_including_before_epoch() {
        for ms in [0_i64, 1, 1_700_000_000_123, -5_000] {
            assert_eq!(to_millis(from_millis(ms)), ms);
        }
    }

    #[test]
    fn empty_names_are_refused() {
        assert!(check_names("Configuration", " ").is_err());
        assert!(check_names("", "x").is_err());
        assert!(check_names("Configuration", "web").is_ok());
    }
}
