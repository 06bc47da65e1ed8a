//! Compact per-agent copies of what sorting and filtering read — lower-cased
//! name/host/version text and labels in two contiguous arenas, and a small status record
//! per agent — kept up to date snapshot by snapshot, rebuilding only the agents whose
//! `Arc` changed. `index.rs` sorts over them and `filter.rs` scans them.

use std::sync::Arc;

use crate::fleet::AgentId;
use crate::fleet::agent::RemoteConfigState;
use crate::fleet::snapshot::{AgentView, FleetSnapshot};

use super::super::action::SortKey;

/// Separates name, host and version in the text arena (never part of a needle).
pub const FIELD_SEP: u8 = 0x01;
/// Surrounds every `key=value` label in the label arena.
pub const LABEL_SEP: u8 = 0x02;

/// What the sorts and the field filters read about one agent, without touching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub connected: bool,
    pub healthy: Option<bool>,
    pub config: Option<RemoteConfigState>,
    /// The first bytes of the remote config hash (enough for a 12-digit prefix).
    pub hash6: [u8; 6],
    pub has_hash: bool,
    /// Unix milliseconds: whole seconds tied agents seen up to a second apart, which
    /// then sorted by position and showed ages out of order (6s above 5s).
    pub last_seen: u64,
}

/// Which sort inputs the last update changed (a heartbeat changes only `last_seen`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed {
    pub agents: bool,
    pub text: bool,
    pub status: bool,
    pub last_seen: bool,
}

impl Changed {
    pub(super) fn affects(self, key: SortKey) -> bool {
        match key {
            SortKey::Id => self.agents,
            SortKey::Name | SortKey::Host | SortKey::Version => self.agents || self.text,
            SortKey::Status | SortKey::Health | SortKey::Config => self.agents || self.status,
            SortKey::LastSeen => self.agents || self.last_seen,
        }
    }
}

/// Compact per-agent copies, in snapshot (id) order.
#[derive(Debug, Default)]
pub struct RowKeys {
    ptrs: Vec<usize>,
    pub ids: Vec<AgentId>,
    pub text: Vec<u8>,
    pub text_starts: Vec<u32>,
    pub labels: Vec<u8>,
    pub label_starts: Vec<u32>,
    pub status: Vec<Status>,
}

impl RowKeys {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The agent whose arena slice contains byte `pos`.
    pub fn owner(starts: &[u32], pos: usize) -> usize {
        starts.partition_point(|s| *s as usize <= pos) - 1
    }

    /// Field `k` (0 name, 1 host, 2 version) of agent `i`, lower-cased.
    pub(super) fn field(&self, i: usize, k: usize) -> &[u8] {
        let s = &self.text[self.text_starts[i] as usize..self.text_starts[i + 1] as usize];
        s.split(|b| *b == FIELD_SEP).nth(k).unwrap_or(&[])
    }

    /// Brings the copies up to date with `snap`, reusing every agent whose `Arc` is
    /// unchanged (both lists are sorted by id, so one merge pass finds them).
    pub(super) fn update(&mut self, snap: &FleetSnapshot) -> Changed {
        if let Some(changed) = self.update_in_place(snap) {
            return changed;
        }
        let old = std::mem::take(self);
        let mut changed = Changed {
            agents: old.ids.len() != snap.agents.len(),
            ..Changed::default()
        };
        let n = snap.agents.len();
        let mut new = RowKeys {
            ptrs: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            text: Vec::with_capacity(old.text.len().max(n * 32)),
            text_starts: Vec::with_capacity(n + 1),
            labels: Vec::with_capacity(old.labels.len().max(n * 16)),
            label_starts: Vec::with_capacity(n + 1),
            status: Vec::with_capacity(n),
        };
        let mut j = 0;
        for a in &snap.agents {
            while j < old.ids.len() && old.ids[j] < a.id {
                j += 1;
            }
            let ptr = Arc::as_ptr(a) as usize;
            let text_at = new.text.len();
            new.text_starts.push(text_at as u32);
            new.label_starts.push(new.labels.len() as u32);
            let known = j < old.ids.len() && old.ids[j] == a.id;
            changed.agents |= !known;
            if known && old.ptrs[j] == ptr {
                let (ts, te) = (old.text_starts[j] as usize, old.text_starts[j + 1] as usize);
                new.text.extend_from_slice(&old.text[ts..te]);
                let (ls, le) = (
                    old.label_starts[j] as usize,
                    old.label_starts[j + 1] as usize,
                );
                new.labels.extend_from_slice(&old.labels[ls..le]);
                new.status.push(old.status[j]);
            } else {
                push_text(&mut new.text, a);
                push_labels(&mut new.labels, a);
                let st = status_of(a);
                if known {
                    let old_text =
                        &old.text[old.text_starts[j] as usize..old.text_starts[j + 1] as usize];
                    let o = old.status[j];
                    changed.text |= new.text[text_at..] != *old_text;
                    changed.last_seen |= o.last_seen != st.last_seen;
                    changed.status |= Status { last_seen: 0, ..o } != Status { last_seen: 0, ..st };
                }
                new.status.push(st);
            }
            new.ptrs.push(ptr);
            new.ids.push(a.id);
        }
        new.text_starts.push(new.text.len() as u32);
        new.label_starts.push(new.labels.len() as u32);
        *self = new;
        changed
    }
}

impl RowKeys {
    /// The common case of a new snapshot: the same agents, a few of them changed in
    /// what sorting and filtering do not keep as text (heartbeats, health, config
    /// state). Updates those in place; `None` when the agents or some text or labels
    /// changed, which needs the full rebuild.
    fn update_in_place(&mut self, snap: &FleetSnapshot) -> Option<Changed> {
        if self.ids.len() != snap.agents.len() {
            return None;
        }
        let mut changed = Changed::default();
        let mut scratch = Vec::new();
        let mut todo: Vec<(usize, Status)> = Vec::new();
        for (i, a) in snap.agents.iter().enumerate() {
            let ptr = Arc::as_ptr(a) as usize;
            if self.ptrs[i] == ptr {
                continue;
            }
            if self.ids[i] != a.id {
                return None;
            }
            scratch.clear();
            push_text(&mut scratch, a);
            let (ts, te) = (
                self.text_starts[i] as usize,
                self.text_starts[i + 1] as usize,
            );
            if scratch[..] != self.text[ts..te] {
                return None;
            }
            scratch.clear();
            push_labels(&mut scratch, a);
            let (ls, le) = (
                self.label_starts[i] as usize,
                self.label_starts[i + 1] as usize,
            );
            if scratch[..] != self.labels[ls..le] {
                return None;
            }
            todo.push((i, status_of(a)));
        }
        for (i, st) in todo {
            let o = self.status[i];
            changed.last_seen |= o.last_seen != st.last_seen;
            changed.status |= Status { last_seen: 0, ..o } != Status { last_seen: 0, ..st };
            self.status[i] = st;
            self.ptrs[i] = Arc::as_ptr(&snap.agents[i]) as usize;
        }
        Some(changed)
    }
}

fn push_text(out: &mut Vec<u8>, a: &AgentView) {
    for field in [&a.name, &a.host, &a.version] {
        // Control bytes are the arena's separators; they never appear in a needle.
        out.extend(field.to_lowercase().bytes().filter(|b| *b >= 0x20));
        out.push(FIELD_SEP);
    }
}

fn push_labels(out: &mut Vec<u8>, a: &AgentView) {
    out.push(LABEL_SEP);
    for (k, v) in a.labels.iter() {
        out.extend(k.bytes().filter(|b| *b >= 0x20));
        out.push(b'=');
        out.extend(v.bytes().filter(|b| *b >= 0x20));
        out.push(LABEL_SEP);
    }
}

fn status_of(a: &AgentView) -> Status {
    let remote = a.remote_config_status.as_ref();
    let mut hash6 = [0u8; 6];
    let hash = remote.map(|s| s.last_hash.as_slice()).unwrap_or(&[]);
    let take = hash.len().min(6);
    hash6[..take].copy_from_slice(&hash[..take]);
    Status {
        connected: a.is_connected(),
        healthy: a.healthy(),
        config: remote.map(|s| s.state),
        hash6,
        has_hash: !hash.is_empty(),
        last_seen: a
            .last_seen
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
    }
}
