//! The agents table's order: the snapshot's agents sorted by the chosen column, then
//! filtered. At 100,000 agents, chasing every `Arc<AgentView>` on each keystroke costs
//! more than a frame (each agent lives in its own allocation), so the index keeps compact
//! copies of what sorting and filtering read — lower-cased name/host/version text and
//! labels in two contiguous arenas, and a small status record per agent — and rebuilds
//! only the agents whose `Arc` changed since the last snapshot. Sorting happens when the
//! snapshot or the sort changes; a filter keystroke is a memchr scan over the arenas.

use std::sync::Arc;

use crate::fleet::AgentId;
use crate::fleet::agent::RemoteConfigState;
use crate::fleet::snapshot::{AgentView, FleetSnapshot};

use super::super::action::SortKey;
use super::filter::Filter;

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
    fn affects(self, key: SortKey) -> bool {
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
    fn field(&self, i: usize, k: usize) -> &[u8] {
        let s = &self.text[self.text_starts[i] as usize..self.text_starts[i + 1] as usize];
        s.split(|b| *b == FIELD_SEP).nth(k).unwrap_or(&[])
    }

    /// Brings the copies up to date with `snap`, reusing every agent whose `Arc` is
    /// unchanged (both lists are sorted by id, so one merge pass finds them).
    fn update(&mut self, snap: &FleetSnapshot) -> Changed {
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
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

#[derive(Debug, Default)]
pub struct AgentIndex {
    keys: RowKeys,
    keys_for: Option<(usize, u64)>,
    sorted_for: Option<(SortKey, bool)>,
    sorted: Vec<u32>,
    visible: Vec<u32>,
}

impl AgentIndex {
    /// Positions (into `snapshot.agents`) of the rows shown, in display order.
    pub fn visible(&self) -> &[u32] {
        &self.visible
    }

    pub fn len(&self) -> usize {
        self.visible.len()
    }

    pub fn is_empty(&self) -> bool {
        self.visible.is_empty()
    }

    pub fn keys(&self) -> &RowKeys {
        &self.keys
    }

    /// Re-sorts if the snapshot or the sort changed, then re-filters.
    pub fn update(
        &mut self,
        snap: &Arc<FleetSnapshot>,
        sort: SortKey,
        descending: bool,
        filter: &Filter,
    ) {
        let snap_key = (Arc::as_ptr(snap) as usize, snap.version);
        let changed = if self.keys_for != Some(snap_key) {
            self.keys_for = Some(snap_key);
            self.keys.update(snap)
        } else {
            Changed::default()
        };
        // Most snapshots only move heartbeat times: the order stands unless what this
        // sort reads changed.
        let same_keys = !changed.affects(sort);
        match self.sorted_for {
            Some(before) if before == (sort, descending) && same_keys => {}
            // Only the direction flipped: the order reversed is the other direction's
            // (ties are broken by position, and reversing keeps that consistent).
            Some((key, _)) if key == sort && same_keys => self.sorted.reverse(),
            _ => self.sorted = sorted_order(&self.keys, sort, descending),
        }
        self.sorted_for = Some((sort, descending));
        filter.apply(&self.keys, snap, &self.sorted, &mut self.visible);
    }

    /// Display position of the agent at `snapshot.agents[pos]`, if it is shown.
    pub fn position_of(&self, pos: usize) -> Option<usize> {
        self.visible.iter().position(|i| *i as usize == pos)
    }
}

/// The first 16 bytes of a field as a big-endian number: compares like the bytes do.
fn prefix(s: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let take = s.len().min(16);
    b[..take].copy_from_slice(&s[..take]);
    u128::from_be_bytes(b)
}

fn sorted_order(keys: &RowKeys, key: SortKey, descending: bool) -> Vec<u32> {
    let n = keys.len() as u32;
    let mut order: Vec<u32> = match key {
        SortKey::Id => (0..n).collect(),
        SortKey::Name | SortKey::Host | SortKey::Version => {
            let k = match key {
                SortKey::Name => 0,
                SortKey::Host => 1,
                _ => 2,
            };
            let mut pairs: Vec<(u128, u32)> = (0..n)
                .map(|i| (prefix(keys.field(i as usize, k)), i))
                .collect();
            pairs.sort_unstable_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| keys.field(a.1 as usize, k).cmp(keys.field(b.1 as usize, k)))
                    .then(a.1.cmp(&b.1))
            });
            pairs.into_iter().map(|(_, i)| i).collect()
        }
        _ => {
            let mut pairs: Vec<(u64, u32)> = (0..n)
                .map(|i| (rank(&keys.status[i as usize], key), i))
                .collect();
            pairs.sort_unstable();
            pairs.into_iter().map(|(_, i)| i).collect()
        }
    };
    if descending {
        order.reverse();
    }
    order
}

/// Sort rank for the status columns: problems first, most recently seen first.
fn rank(s: &Status, key: SortKey) -> u64 {
    match key {
        SortKey::Status => u64::from(s.connected),
        SortKey::Health => match s.healthy {
            Some(false) => 0,
            None => 1,
            Some(true) => 2,
        },
        SortKey::Config => match s.config {
            Some(RemoteConfigState::Failed) => 0,
            Some(RemoteConfigState::Applying) => 1,
            Some(RemoteConfigState::Applied) => 2,
            Some(RemoteConfigState::Unset) | None => 3,
        },
        SortKey::LastSeen => u64::MAX - s.last_seen,
        SortKey::Id | SortKey::Name | SortKey::Host | SortKey::Version => 0,
    }
}
