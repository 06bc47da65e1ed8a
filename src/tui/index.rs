//! The agents table's order: the snapshot's agents sorted by the chosen column, then
//! filtered. Sorting happens only when the snapshot or the sort changes; a filter
//! keystroke is one linear pass over the sorted order.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::fleet::agent::RemoteConfigState;
use crate::fleet::snapshot::{AgentView, FleetSnapshot};

use super::action::SortKey;
use super::filter::Filter;

#[derive(Debug, Default)]
pub struct AgentIndex {
    built_for: Option<(usize, u64, SortKey, bool)>,
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

    /// Re-sorts if the snapshot or the sort changed, then re-filters.
    pub fn update(
        &mut self,
        snap: &Arc<FleetSnapshot>,
        sort: SortKey,
        descending: bool,
        filter: &Filter,
    ) {
        let key = (Arc::as_ptr(snap) as usize, snap.version, sort, descending);
        if self.built_for != Some(key) {
            self.sorted = sorted_order(&snap.agents, sort, descending);
            self.built_for = Some(key);
        }
        self.refilter(snap, filter);
    }

    fn refilter(&mut self, snap: &FleetSnapshot, filter: &Filter) {
        self.visible.clear();
        if filter.is_empty() {
            self.visible.extend_from_slice(&self.sorted);
        } else {
            self.visible.extend(
                self.sorted
                    .iter()
                    .copied()
                    .filter(|i| filter.matches(&snap.agents[*i as usize])),
            );
        }
    }

    /// Display position of the agent at `snapshot.agents[pos]`, if it is shown.
    pub fn position_of(&self, pos: usize) -> Option<usize> {
        self.visible.iter().position(|i| *i as usize == pos)
    }
}

fn sorted_order(agents: &[Arc<AgentView>], key: SortKey, descending: bool) -> Vec<u32> {
    let mut order: Vec<u32> = (0..agents.len() as u32).collect();
    if key != SortKey::Id {
        // Stable over the id order, so ties stay in id order.
        order.sort_by(|a, b| compare(&agents[*a as usize], &agents[*b as usize], key));
    }
    if descending {
        order.reverse();
    }
    order
}

fn compare(a: &AgentView, b: &AgentView, key: SortKey) -> Ordering {
    match key {
        SortKey::Id => a.id.cmp(&b.id),
        SortKey::Name => a.name.cmp(&b.name),
        SortKey::Host => a.host.cmp(&b.host),
        SortKey::Version => a.version.cmp(&b.version),
        // Problems first: disconnected, unhealthy, failed configs lead their sorts.
        SortKey::Status => a.is_connected().cmp(&b.is_connected()),
        SortKey::Health => health_rank(a).cmp(&health_rank(b)),
        SortKey::Config => config_rank(a).cmp(&config_rank(b)),
        SortKey::LastSeen => b.last_seen.cmp(&a.last_seen),
    }
}

fn health_rank(a: &AgentView) -> u8 {
    match a.healthy() {
        Some(false) => 0,
        None => 1,
        Some(true) => 2,
    }
}

fn config_rank(a: &AgentView) -> u8 {
    match a.remote_config_status.as_ref().map(|s| s.state) {
        Some(RemoteConfigState::Failed) => 0,
        Some(RemoteConfigState::Applying) => 1,
        Some(RemoteConfigState::Applied) => 2,
        Some(RemoteConfigState::Unset) | None => 3,
    }
}
