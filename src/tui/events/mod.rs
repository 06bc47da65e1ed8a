//! The fleet's event stream: a scrollable view that follows the newest event, and the
//! pane of recent events under the agents table. The state lives here; `draw.rs` draws
//! both.

pub mod draw;

use std::collections::VecDeque;

use crate::fleet::{AgentId, FleetEvent};

use super::layout::scrolled;

/// Most events kept for the events pane.
pub const EVENT_HISTORY: usize = 2000;

#[derive(Debug)]
pub struct EventsState {
    pub items: VecDeque<FleetEvent>,
    /// Events the broadcast dropped because we lagged behind.
    pub missed: u64,
    pub cursor: usize,
    pub offset: usize,
    /// Keep the newest event in view as events arrive.
    pub follow: bool,
}

impl Default for EventsState {
    fn default() -> Self {
        EventsState {
            items: VecDeque::new(),
            missed: 0,
            cursor: 0,
            offset: 0,
            follow: true,
        }
    }
}

impl EventsState {
    /// Keeps the newest [`EVENT_HISTORY`] events; the cursor stays on its event, or on the
    /// newest while following.
    pub fn push(&mut self, event: FleetEvent) {
        if self.items.len() == EVENT_HISTORY {
            self.items.pop_front();
            self.cursor = self.cursor.saturating_sub(1);
        }
        self.items.push_back(event);
        if self.follow {
            self.cursor = self.items.len() - 1;
        }
    }

    pub fn keep_in_view(&mut self, rows: usize) {
        self.offset = scrolled(self.offset, self.cursor, rows, self.items.len());
    }

    /// Puts the cursor on row `target` (clamped); on the last row it follows again.
    pub fn move_to(&mut self, target: usize, rows: usize) {
        let len = self.items.len();
        self.cursor = target.min(len.saturating_sub(1));
        self.offset = scrolled(self.offset, self.cursor, rows, len);
        self.follow = self.cursor + 1 >= len;
    }

    /// The agent the selected event is about, if any.
    pub fn selected_agent(&self) -> Option<AgentId> {
        self.items.get(self.cursor).and_then(event_agent)
    }
}

/// The agent an event is about, if any.
pub fn event_agent(e: &FleetEvent) -> Option<AgentId> {
    use crate::fleet::EventKind as K;
    match &e.kind {
        K::AgentConnected { id, .. }
        | K::AgentDisconnected { id, .. }
        | K::HealthChanged { id, .. }
        | K::RemoteConfigStatus { id, .. }
        | K::ConfigStatus { id, .. }
        | K::DuplicateInstanceUid { id, .. } => Some(*id),
        K::Rollout { .. } | K::Audit { .. } => None,
        K::Notice { agent, .. } => *agent,
    }
}
