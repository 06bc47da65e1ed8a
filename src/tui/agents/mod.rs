//! The agents view: the fleet as a table — sorted, filtered, marked — with the newest
//! events under it on tall terminals. The state and what keys do to it live here;
//! `draw.rs` draws it, `index.rs` keeps the table's order over the compact copies in
//! `rows.rs`, and `filter.rs` reads and applies what `/` types.

pub mod draw;
pub mod filter;
pub mod index;
pub mod rows;

use std::collections::HashSet;
use std::sync::Arc;

use crate::fleet::AgentId;
use crate::fleet::snapshot::{AgentView, FleetSnapshot};

use super::action::SortKey;
use super::flash::Note;
use super::layout::{self, scrolled};

use filter::Filter;
use index::AgentIndex;

#[derive(Debug, Default)]
pub struct AgentsState {
    pub index: AgentIndex,
    pub sort: SortKey,
    pub descending: bool,
    pub filter_text: String,
    filter: Filter,
    pub selected: Option<AgentId>,
    pub cursor: usize,
    pub offset: usize,
    pub marks: HashSet<AgentId>,
    /// Sparklines on one scale per signal for every row shown (rows compare), instead of
    /// each row's own (its shape shows).
    pub shared_scale: bool,
}

impl AgentsState {
    pub fn selected_agent<'a>(&self, snap: &'a FleetSnapshot) -> Option<&'a Arc<AgentView>> {
        self.selected.and_then(|id| snap.get(&id))
    }

    /// Ids of the agents in the table, in display order.
    pub fn shown_ids<'a>(&'a self, snap: &'a FleetSnapshot) -> impl Iterator<Item = AgentId> + 'a {
        self.index
            .visible()
            .iter()
            .map(|i| snap.agents[*i as usize].id)
    }

    /// The agents on screen with the sparkline width each needs, for copying telemetry.
    pub fn on_screen(&self, snap: &FleetSnapshot, size: (u16, u16)) -> Vec<(AgentId, usize)> {
        let (w, h) = size;
        let n = layout::spark_history(w);
        let rows = layout::agents_rows(w, h);
        self.index.visible()[self.offset.min(self.index.len())..]
            .iter()
            .take(rows)
            .map(|i| (snap.agents[*i as usize].id, n))
            .collect()
    }

    /// Rebuilds the table order and puts the cursor back on the selected agent, at the
    /// same height on screen when the list moves under it.
    pub fn reindex(&mut self, snap: &Arc<FleetSnapshot>, rows: usize) {
        let screen_row = self.cursor.saturating_sub(self.offset);
        self.index
            .update(snap, self.sort, self.descending, &self.filter);
        let len = self.index.len();
        let found = self
            .selected
            .and_then(|id| snap.agents.binary_search_by(|a| a.id.cmp(&id)).ok())
            .and_then(|pos| self.index.position_of(pos));
        self.cursor = found.unwrap_or(self.cursor).min(len.saturating_sub(1));
        let max_offset = len.saturating_sub(rows);
        self.offset = self.cursor.saturating_sub(screen_row).min(max_offset);
        self.offset = scrolled(self.offset, self.cursor, rows, len);
        self.selected = self.selected_at(snap, self.cursor);
    }

    pub fn keep_in_view(&mut self, rows: usize) {
        self.offset = scrolled(self.offset, self.cursor, rows, self.index.len());
    }

    /// Puts the cursor on row `target` (clamped), selecting that agent.
    pub fn move_to(&mut self, target: usize, snap: &FleetSnapshot, rows: usize) {
        let len = self.index.len();
        self.cursor = target.min(len.saturating_sub(1));
        self.offset = scrolled(self.offset, self.cursor, rows, len);
        self.selected = self.selected_at(snap, self.cursor);
    }

    fn selected_at(&self, snap: &FleetSnapshot, row: usize) -> Option<AgentId> {
        self.index
            .visible()
            .get(row)
            .map(|i| snap.agents[*i as usize].id)
    }

    /// Filters the table by `text` (see `filter.rs`).
    pub fn set_filter(&mut self, text: String, snap: &Arc<FleetSnapshot>, rows: usize) {
        self.filter = Filter::parse(&text);
        self.filter_text = text;
        self.reindex(snap, rows);
    }

    /// Sorts by `key`; the same key again flips the direction.
    pub fn sort_by(&mut self, key: SortKey, snap: &Arc<FleetSnapshot>, rows: usize) {
        if self.sort == key {
            self.descending = !self.descending;
        } else {
            self.sort = key;
            self.descending = false;
        }
        self.reindex(snap, rows);
    }

    pub fn invert_sort(&mut self, snap: &Arc<FleetSnapshot>, rows: usize) {
        self.descending = !self.descending;
        self.reindex(snap, rows);
    }

    /// Marks or unmarks the selected agent and moves down, so space marks a run of them.
    pub fn toggle_mark(&mut self, snap: &FleetSnapshot, rows: usize) {
        if let Some(id) = self.selected {
            if !self.marks.remove(&id) {
                self.marks.insert(id);
            }
            self.move_to(self.cursor.saturating_add(1), snap, rows);
        }
    }

    pub fn mark_all(&mut self, snap: &FleetSnapshot) {
        let ids: Vec<AgentId> = self.shown_ids(snap).collect();
        self.marks.extend(ids);
    }

    /// Esc at the top: clears the marks first, then the filter.
    pub fn back(&mut self, snap: &Arc<FleetSnapshot>, rows: usize) {
        if !self.marks.is_empty() {
            self.marks.clear();
        } else if !self.filter_text.is_empty() {
            self.set_filter(String::new(), snap, rows);
        }
    }

    /// The agents a restart is for: the marked ones, else the selected one.
    pub fn restart_targets(&self) -> Vec<AgentId> {
        let mut ids: Vec<AgentId> = if self.marks.is_empty() {
            self.selected.into_iter().collect()
        } else {
            self.marks.iter().copied().collect()
        };
        ids.sort();
        ids
    }

    /// The agent to forget and its name: the selected one, when it is disconnected
    /// (a connected one would come back at once); otherwise why not.
    pub fn forget_target(&self, snap: &FleetSnapshot) -> Result<Option<(AgentId, String)>, Note> {
        let Some(agent) = self.selected.and_then(|id| snap.get(&id)) else {
            return Ok(None);
        };
        if agent.is_connected() {
            let text = format!(
                "{} is connected: only disconnected agents can be forgotten",
                agent.name
            );
            return Err(Note::warn(text));
        }
        Ok(Some((agent.id, agent.name.to_string())))
    }
}
