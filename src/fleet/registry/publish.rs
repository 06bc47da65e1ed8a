//! What the registry tells readers: events as they happen, and snapshots rebuilt at most
//! once a publish interval for the agents that changed (heartbeats alone wait longer).

use super::*;

impl Registry {
    pub(super) fn emit(&self, kind: EventKind) {
        self.events.send(kind);
    }

    /// The agent's view changed and must be published, soon.
    pub(super) fn changed(&mut self, id: AgentId) {
        self.dirty.insert(id);
        self.urgent = true;
    }

    /// Only the agent's heartbeat counters changed: publish its view with the next snapshot.
    pub(super) fn touched(&mut self, id: AgentId) {
        self.dirty.insert(id);
    }

    /// Publishes at a tick when something changed, or when only heartbeats did and the
    /// last snapshot is old enough.
    /// When the next snapshot is due: an interval after the last one for a change that
    /// readers wait for (and the very first), `HEARTBEAT_PUBLISHES` intervals for heartbeat
    /// times alone, never when nothing changed.
    pub(super) fn next_publish(&self) -> Option<Instant> {
        let interval = self.config.publish_interval;
        if self.urgent || self.version == 0 {
            Some(self.published_at + interval)
        } else if !self.dirty.is_empty() {
            Some(self.published_at + interval * HEARTBEAT_PUBLISHES)
        } else {
            None
        }
    }

    pub(super) fn publish_due(&mut self) {
        let heartbeat_due =
            self.published_at.elapsed() >= self.config.publish_interval * HEARTBEAT_PUBLISHES;
        if self.urgent || heartbeat_due {
            self.publish();
        }
    }

    pub(super) fn publish(&mut self) {
        if self.dirty.is_empty() && self.version > 0 {
            return;
        }
        self.urgent = false;
        self.published_at = Instant::now();
        self.version += 1;
        let mut updates: Vec<Arc<AgentView>> = Vec::with_capacity(self.dirty.len());
        let mut forgotten = Vec::new();
        for id in self.dirty.drain() {
            match self.agents.get(&id) {
                Some(s) => updates.push(s.view.clone()),
                None => forgotten.push(id),
            }
        }
        updates.sort_unstable_by_key(|v| v.id);
        let version = self.version;
        let mut replaced = Vec::with_capacity(updates.len());
        self.snapshot.send_modify(|current| {
            // In place when no reader holds the current snapshot any more; otherwise
            // readers keep theirs unchanged and this works on a copy.
            let snap = Arc::make_mut(current);
            remove_views(snap, &forgotten, &mut replaced);
            apply_views(snap, updates, &mut replaced);
            snap.version = version;
            snap.taken_at = Some(SystemTime::now());
        });
        // The views replaced are freed here, outside the channel's lock.
        drop(replaced);
    }
}

/// Takes the views of forgotten agents out of `snap`, keeping the totals current.
pub(super) fn remove_views(
    snap: &mut FleetSnapshot,
    ids: &[AgentId],
    removed: &mut Vec<Arc<AgentView>>,
) {
    for id in ids {
        if let Ok(i) = snap.agents.binary_search_by(|a| a.id.cmp(id)) {
            let old = snap.agents.remove(i);
            snap.totals.uncount(&old);
            removed.push(old);
        }
    }
}

/// Puts `updates` (sorted by id) into `snap` (agents sorted by id), keeping the totals
/// current; views they replace go to `replaced`.
pub(super) fn apply_views(
    snap: &mut FleetSnapshot,
    updates: Vec<Arc<AgentView>>,
    replaced: &mut Vec<Arc<AgentView>>,
) {
    let mut inserts = Vec::new();
    for view in updates {
        snap.totals.count(&view);
        match snap.agents.binary_search_by(|a| a.id.cmp(&view.id)) {
            Ok(i) => {
                let old = std::mem::replace(&mut snap.agents[i], view);
                snap.totals.uncount(&old);
                replaced.push(old);
            }
            Err(_) => inserts.push(view),
        }
    }
    if !inserts.is_empty() {
        // New agents: merge both sorted lists in one pass.
        let old = std::mem::take(&mut snap.agents);
        let mut merged = Vec::with_capacity(old.len() + inserts.len());
        let mut new = inserts.into_iter().peekable();
        for a in old {
            while let Some(n) = new.next_if(|n| n.id < a.id) {
                merged.push(n);
            }
            merged.push(a);
        }
        merged.extend(new);
        snap.agents = merged;
    }
}
