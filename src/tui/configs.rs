//! The configurations the fleet reports, grouped by hash. Until stored configurations
//! exist (issue 6) this is what the Configurations view lists: every distinct remote
//! configuration (by the hash agents report in `RemoteConfigStatus`) with how many
//! agents are applying, applied or failed, and every distinct local configuration (by
//! the SHA-256 of the effective config body) for agents that run without one.
//! `ConfigRow` is the row shape a stored configuration will fill in later.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::fleet::agent::{ConfigMap, RemoteConfigState};
use crate::fleet::snapshot::FleetSnapshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigOrigin {
    /// Sent by a server; the hash is the one the agent reports in `RemoteConfigStatus`.
    Remote,
    /// The agent's own configuration; the hash is SHA-256 of its effective config body.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRow {
    /// A stored configuration's name, when one matches (none until issue 6 lands).
    pub name: Option<String>,
    pub origin: ConfigOrigin,
    /// Empty for agents that report no configuration at all.
    pub hash: Vec<u8>,
    pub agents: usize,
    pub connected: usize,
    pub applied: usize,
    pub applying: usize,
    pub failed: usize,
    /// The first error message an agent reported for this configuration, with its name.
    pub last_error: Option<(String, String)>,
}

impl ConfigRow {
    pub fn short_hash(&self) -> String {
        if self.hash.is_empty() {
            "(none)".into()
        } else {
            hex::encode(&self.hash[..self.hash.len().min(6)])
        }
    }

    /// The agents filter that shows exactly this row's agents, when there is one.
    pub fn agents_filter(&self) -> Option<String> {
        match self.origin {
            ConfigOrigin::Remote if !self.hash.is_empty() => Some(format!(
                "config={}",
                hex::encode(&self.hash[..self.hash.len().min(6)])
            )),
            _ => None,
        }
    }
}

/// Groups the snapshot's agents by configuration: remote ones first (most agents
/// first), then local ones.
pub fn group(snap: &FleetSnapshot) -> Vec<ConfigRow> {
    let mut rows: HashMap<(ConfigOrigin, Vec<u8>), ConfigRow> = HashMap::new();
    // Agents reporting the same body share one Arc, so hash each body once.
    let mut body_hashes: HashMap<*const ConfigMap, Vec<u8>> = HashMap::new();
    for a in &snap.agents {
        let remote = a
            .remote_config_status
            .as_ref()
            .filter(|s| !s.last_hash.is_empty());
        let (origin, hash) = match (remote, &a.effective_config) {
            (Some(s), _) => (ConfigOrigin::Remote, s.last_hash.clone()),
            (None, Some(cfg)) => {
                let h = body_hashes
                    .entry(Arc::as_ptr(cfg))
                    .or_insert_with(|| body_hash(cfg));
                (ConfigOrigin::Local, h.clone())
            }
            (None, None) => (ConfigOrigin::Local, Vec::new()),
        };
        let row = rows
            .entry((origin, hash.clone()))
            .or_insert_with(|| ConfigRow {
                name: None,
                origin,
                hash,
                agents: 0,
                connected: 0,
                applied: 0,
                applying: 0,
                failed: 0,
                last_error: None,
            });
        row.agents += 1;
        row.connected += usize::from(a.is_connected());
        if let Some(s) = remote {
            match s.state {
                RemoteConfigState::Applied => row.applied += 1,
                RemoteConfigState::Applying => row.applying += 1,
                RemoteConfigState::Failed => {
                    row.failed += 1;
                    if row.last_error.is_none() && !s.error_message.is_empty() {
                        row.last_error = Some((a.name.clone(), s.error_message.clone()));
                    }
                }
                RemoteConfigState::Unset => {}
            }
        }
    }
    let mut out: Vec<ConfigRow> = rows.into_values().collect();
    out.sort_by(|a, b| {
        a.origin
            .cmp(&b.origin)
            .then(b.agents.cmp(&a.agents))
            .then(a.hash.cmp(&b.hash))
    });
    out
}

fn body_hash(cfg: &ConfigMap) -> Vec<u8> {
    match cfg.main_body() {
        Some(body) => Sha256::digest(body).to_vec(),
        None => Vec::new(),
    }
}
