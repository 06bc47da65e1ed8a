//! One agent in detail, in six sections: Overview (identity, attributes, capabilities,
//! remote config status, packages), Telemetry (a chart per signal, CPU and memory), Health
//! (the component tree), Config (the effective configuration), History (every
//! configuration version sent to it and what became of it) and Flow (its pipelines with
//! each component's numbers). The state and what keys do to it live here; `draw.rs` draws
//! it.

pub mod draw;
mod history;
mod overview;

use std::time::{Duration, SystemTime};

use crate::fleet::AgentId;
use crate::fleet::attempt::ApplyAttempt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    #[default]
    Overview,
    Telemetry,
    Health,
    Config,
    History,
    /// The agent's pipelines with each component's numbers.
    Flow,
}

impl Section {
    pub const ALL: [Section; 6] = [
        Section::Overview,
        Section::Telemetry,
        Section::Health,
        Section::Config,
        Section::History,
        Section::Flow,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Telemetry => "Telemetry",
            Section::Health => "Health",
            Section::Config => "Config",
            Section::History => "History",
            Section::Flow => "Flow",
        }
    }

    pub fn index(self) -> usize {
        Section::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// The section shown, how far each is scrolled, and the agent's apply history.
#[derive(Debug, Default)]
pub struct DetailState {
    pub section: Section,
    pub scroll: [usize; Section::ALL.len()],
    pub history: History,
    pub flow: AgentFlow,
}

/// An agent's pipelines with their numbers, as last read.
#[derive(Debug, Default)]
pub struct AgentFlow {
    pub agent: Option<AgentId>,
    pub loaded: Option<Result<crate::throughput::AgentThroughput, String>>,
    asked: Option<(SystemTime, bool)>,
}

/// One agent's pipelines and numbers, read by the effect the UI asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowLoaded {
    pub agent: AgentId,
    pub result: Result<crate::throughput::AgentThroughput, String>,
}

/// How often the History section reads the history again while it is shown: the
/// registry writes attempts behind, about once a second.
const HISTORY_REFRESH: Duration = Duration::from_secs(2);
/// An answer that has not come for this long is asked for again.
const HISTORY_GIVE_UP: Duration = Duration::from_secs(10);

/// An agent's apply history as last read from the store.
#[derive(Debug, Default)]
pub struct History {
    /// Whose history `loaded` is.
    pub agent: Option<AgentId>,
    /// The attempts, newest first, or why they could not be read; `None` until the first
    /// answer.
    pub loaded: Option<Result<Vec<ApplyAttempt>, String>>,
    /// When it was last asked for, and whether that answer is still awaited.
    asked: Option<(SystemTime, bool)>,
}

/// The history of one agent, read by the effect the UI asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLoaded {
    pub agent: AgentId,
    pub result: Result<Vec<ApplyAttempt>, String>,
}

impl DetailState {
    /// The next section (or the previous one), round them all.
    pub fn next_section(&mut self, forward: bool) {
        let n = Section::ALL.len();
        let at = self.section.index();
        let step = if forward { 1 } else { n - 1 };
        self.section = Section::ALL[(at + step) % n];
    }

    /// Scrolls the section shown by `delta` lines, no further than `max`.
    pub fn scroll_by(&mut self, delta: isize, max: usize) {
        let s = &mut self.scroll[self.section.index()];
        *s = (*s).min(max).saturating_add_signed(delta).min(max);
    }

    /// Whether agent `id`'s history should be read now (its section is shown): never read
    /// for this agent, or read longer than a refresh ago and not awaited. Noted as asked.
    pub fn history_due(&mut self, id: AgentId, now: SystemTime) -> bool {
        if self.section != Section::History {
            return false;
        }
        let h = &mut self.history;
        if h.agent != Some(id) {
            *h = History {
                agent: Some(id),
                ..History::default()
            };
        }
        let since = |at: SystemTime| now.duration_since(at).unwrap_or_default();
        let due = match h.asked {
            None => true,
            Some((at, true)) => since(at) >= HISTORY_GIVE_UP,
            Some((at, false)) => since(at) >= HISTORY_REFRESH,
        };
        if due {
            h.asked = Some((now, true));
        }
        due
    }

    /// Whether agent `id`'s flow should be read now (its section is shown), as for the
    /// history.
    pub fn flow_due(&mut self, id: AgentId, now: SystemTime) -> bool {
        if self.section != Section::Flow {
            return false;
        }
        let f = &mut self.flow;
        if f.agent != Some(id) {
            *f = AgentFlow {
                agent: Some(id),
                ..AgentFlow::default()
            };
        }
        let since = |at: SystemTime| now.duration_since(at).unwrap_or_default();
        let due = match f.asked {
            None => true,
            Some((at, true)) => since(at) >= HISTORY_GIVE_UP,
            Some((at, false)) => since(at) >= HISTORY_REFRESH,
        };
        if due {
            f.asked = Some((now, true));
        }
        due
    }

    /// A flow read: kept when it is the agent's whose flow is shown.
    pub fn flow_loaded(&mut self, msg: FlowLoaded) {
        let f = &mut self.flow;
        if f.agent != Some(msg.agent) {
            return;
        }
        f.loaded = Some(msg.result);
        if let Some((_, waiting)) = &mut f.asked {
            *waiting = false;
        }
    }

    /// A history read: kept when it is the agent's whose history is shown.
    pub fn history_loaded(&mut self, msg: HistoryLoaded) {
        let h = &mut self.history;
        if h.agent != Some(msg.agent) {
            return;
        }
        h.loaded = Some(msg.result);
        if let Some((_, waiting)) = &mut h.asked {
            *waiting = false;
        }
    }
}
