//! The agents table's order: the snapshot's agents sorted by the chosen column, then
//! filtered. At 100,000 agents, chasing every `Arc<AgentView>` on each keystroke costs
//! more than a frame (each agent lives in its own allocation), so the index keeps compact
//! copies of what sorting and filtering read — lower-cased name/host/version text and
//! labels in two contiguous arenas, and a small status record per agent — and rebuilds
//! only the agents whose `Arc` changed since the last snapshot. Sorting happens when the
//! snapshot or the sort changes; a filter keystroke is a memchr scan over the arenas.

use std::sync::Arc;

use crate::fleet::agent::RemoteConfigState;
use crate::fleet::snapshot::FleetSnapshot;

use super::super::action::SortKey;
use super::filter::Filter;
use super::rows::{Changed, RowKeys, Status};

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
