//! The Configurations view: stored configurations with their versions, the agents on each
//! and rollout progress; and one configuration's detail (versions, agents per version, a
//! diff between two versions, steering the rollout). The state and what keys and fetched
//! results do to it live here; `data.rs` combines catalog data with the fleet, `io.rs`
//! fetches and steers on spawned tasks, `draw.rs` draws both screens.

pub mod data;
pub mod draw;
pub mod io;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::fleet::snapshot::FleetSnapshot;

use super::flash::Note;
use super::layout::scrolled;

pub use data::{
    CatalogData, ConfigAgent, ConfigRow, ConfigSummary, ConfigsEffect, ConfigsMsg, Overview, Steer,
    UnmanagedRow, VersionInfo,
};

/// How often the configurations and rollouts are fetched at most.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct ConfigsState {
    /// The last catalog and rollout data fetched.
    pub data: CatalogData,
    /// Whether any fetch has answered yet.
    pub loaded: bool,
    /// Why the last fetch failed.
    pub error: Option<String>,
    /// The list as last built, and from what (snapshot, data generation).
    pub overview: Overview,
    built_for: Option<(usize, u64, u64)>,
    data_gen: u64,
    pub cursor: usize,
    pub offset: usize,
    /// Something changed that the data may not show yet.
    pub stale: bool,
    fetching: bool,
    fetched_at: Option<SystemTime>,
    pub detail: Option<ConfigDetail>,
}

impl Default for ConfigsState {
    fn default() -> Self {
        ConfigsState {
            data: CatalogData::default(),
            loaded: false,
            error: None,
            overview: Overview::default(),
            built_for: None,
            data_gen: 0,
            cursor: 0,
            offset: 0,
            stale: true,
            fetching: false,
            fetched_at: None,
            detail: None,
        }
    }
}

/// The detail of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDetail {
    pub name: String,
    /// Every stored version, newest first (`None` while loading).
    pub versions: Option<Result<Vec<VersionInfo>, String>>,
    /// The selected version (index into `versions`).
    pub cursor: usize,
    /// The version marked as the base of the next diff.
    pub base: Option<u64>,
    /// The diff being shown instead of the agents.
    pub diff: Option<DiffView>,
    /// The agents running this configuration, failures first.
    pub agents: Vec<ConfigAgent>,
    agents_for: Option<(usize, u64)>,
    /// Scroll of the right-hand pane (agents or diff).
    pub scroll: usize,
    /// The pipelines with live numbers, shown instead of the versions and agents.
    pub flow: Option<FlowView>,
}

/// How often the open flow asks for fresh numbers.
const FLOW_EVERY: Duration = Duration::from_secs(2);

/// A configuration's pipelines with their numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowView {
    /// Seconds the numbers are averaged over (10: the agents' latest reports).
    pub period: u64,
    /// `None` until the first answer.
    pub answer: Option<Result<crate::throughput::ConfigurationThroughput, String>>,
    pub scroll: usize,
    asking: bool,
    asked_at: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiffView {
    pub from: u64,
    pub to: u64,
    /// `None` while loading.
    pub lines: Option<Result<Vec<crate::pipeline::DiffLine>, String>>,
}

impl ConfigDetail {
    pub fn new(name: String) -> Self {
        ConfigDetail {
            name,
            versions: None,
            cursor: 0,
            base: None,
            diff: None,
            agents: Vec::new(),
            agents_for: None,
            scroll: 0,
            flow: None,
        }
    }

    /// The selected version number.
    pub fn selected_version(&self) -> Option<u64> {
        match &self.versions {
            Some(Ok(vs)) => vs.get(self.cursor).map(|v| v.version),
            _ => None,
        }
    }

    /// The agents shown for the selected version (all of them before versions load).
    pub fn shown_agents(&self) -> impl Iterator<Item = &ConfigAgent> {
        let v = self.selected_version();
        self.agents
            .iter()
            .filter(move |a| v.is_none_or(|v| a.version == v))
    }

    pub fn versions_len(&self) -> usize {
        match &self.versions {
            Some(Ok(vs)) => vs.len(),
            _ => 0,
        }
    }

    /// Keeps the right-hand pane's scroll within what it shows in `rows` rows.
    pub fn clamp_scroll(&mut self, rows: usize) {
        let len = match &self.diff {
            Some(DiffView {
                lines: Some(Ok(lines)),
                ..
            }) => lines.len(),
            Some(_) => 0,
            None => self.shown_agents().count(),
        };
        self.scroll = self.scroll.min(len.saturating_sub(rows));
    }
}

/// What handling a fetched result asks of the driver.
#[derive(Debug, Default)]
pub struct Reply {
    pub effects: Vec<ConfigsEffect>,
    pub note: Option<Note>,
    /// The list may have changed: build it again from the data.
    pub rebuild: bool,
}

impl ConfigsState {
    /// Rebuilds the list (and the open detail's agents) when the snapshot or the data
    /// changed. Returns whether the list was built anew.
    pub fn rebuild(&mut self, snap: &Arc<FleetSnapshot>) -> bool {
        let snap_key = (Arc::as_ptr(snap) as usize, snap.version);
        let key = (snap_key.0, snap_key.1, self.data_gen);
        let mut rebuilt = false;
        if self.built_for != Some(key) {
            self.overview = data::overview(snap, &self.data);
            self.built_for = Some(key);
            let len = self.overview.entries();
            self.cursor = self.cursor.min(len.saturating_sub(1));
            rebuilt = true;
        }
        if let Some(d) = &mut self.detail
            && d.agents_for != Some(snap_key)
        {
            d.agents = data::agents_of(snap, &d.name);
            d.agents_for = Some(snap_key);
        }
        rebuilt
    }

    pub fn keep_in_view(&mut self, rows: usize) {
        self.offset = scrolled(self.offset, self.cursor, rows, self.overview.entries());
    }

    /// Puts the list's cursor on row `target` (clamped).
    pub fn move_to(&mut self, target: usize, rows: usize) {
        let len = self.overview.entries();
        self.cursor = target.min(len.saturating_sub(1));
        self.offset = scrolled(self.offset, self.cursor, rows, len);
    }

    /// Puts the detail's cursor on version `target` (clamped). The diff follows the
    /// selection: base (or previous) → selected.
    pub fn move_version_to(&mut self, target: usize, diff_base_key: &str) -> Reply {
        let Some(d) = &mut self.detail else {
            return Reply::default();
        };
        let cursor = target.min(d.versions_len().saturating_sub(1));
        if d.cursor == cursor {
            return Reply::default();
        }
        d.cursor = cursor;
        d.scroll = 0;
        if d.diff.is_some() {
            d.diff = None;
            return self.toggle_diff(diff_base_key);
        }
        Reply::default()
    }

    /// The configuration the cursor is on: the detail's, else the list's.
    pub fn selected(&self, in_detail: bool) -> Option<String> {
        if in_detail {
            self.detail.as_ref().map(|d| d.name.clone())
        } else {
            self.overview.rows.get(self.cursor).map(|r| r.name.clone())
        }
    }

    /// Shows (or hides) the open detail's pipelines with their numbers.
    pub fn toggle_flow(&mut self) {
        if let Some(d) = &mut self.detail {
            d.flow = match d.flow.take() {
                Some(_) => None,
                None => Some(FlowView {
                    period: 60,
                    answer: None,
                    scroll: 0,
                    asking: false,
                    asked_at: None,
                }),
            };
        }
    }

    /// The next period of the open flow (10 s → 1 m → 5 m → 1 h → 10 s), asked at once.
    pub fn next_flow_period(&mut self) -> Option<String> {
        let f = self.detail.as_mut()?.flow.as_mut()?;
        let periods = crate::throughput::PERIODS;
        let at = periods
            .iter()
            .position(|(s, _)| *s == f.period)
            .unwrap_or(0);
        let (seconds, name) = periods[(at + 1) % periods.len()];
        f.period = seconds;
        f.asked_at = None;
        Some(name.to_string())
    }

    /// The flow's numbers, when the open flow is due to ask again (never two at once).
    pub fn flow_due(&mut self, now: SystemTime) -> Option<ConfigsEffect> {
        let d = self.detail.as_mut()?;
        let f = d.flow.as_mut()?;
        let recent = f
            .asked_at
            .is_some_and(|t| now.duration_since(t).unwrap_or_default() < FLOW_EVERY);
        if f.asking || recent {
            return None;
        }
        f.asking = true;
        f.asked_at = Some(now);
        Some(ConfigsEffect::Throughput {
            name: d.name.clone(),
            period: f.period,
        })
    }

    /// The fetch that is due while the view is `open`: the list and rollouts when
    /// something changed, at most once per `REFRESH_EVERY`, one at a time.
    pub fn due(&mut self, now: SystemTime, open: bool) -> Option<ConfigsEffect> {
        // A running rollout moves even when no event says so (phases start on timers).
        let moving = self.data.rollouts.iter().any(|r| !r.status.finished());
        let recent = self
            .fetched_at
            .is_some_and(|t| now.duration_since(t).unwrap_or_default() < REFRESH_EVERY);
        if open && (self.stale || moving) && !self.fetching && !recent {
            self.stale = false;
            self.fetching = true;
            self.fetched_at = Some(now);
            return Some(ConfigsEffect::Refresh);
        }
        None
    }

    /// The result of a configurations effect.
    pub fn message(&mut self, msg: ConfigsMsg) -> Reply {
        match msg {
            ConfigsMsg::Refreshed(result) => {
                self.fetching = false;
                self.loaded = true;
                match result {
                    Ok(data) => {
                        self.data = data;
                        self.data_gen += 1;
                        self.error = None;
                    }
                    Err(e) => self.error = Some(e),
                }
                return Reply {
                    effects: self.reload_versions_if_newer(),
                    note: None,
                    rebuild: true,
                };
            }
            ConfigsMsg::Versions { name, result } => {
                if let Some(d) = &mut self.detail
                    && d.name == name
                {
                    let result = result.map(|mut vs| {
                        vs.sort_by_key(|v| std::cmp::Reverse(v.version));
                        vs
                    });
                    // Stay on the same version when a newer one arrives above it.
                    let selected = d.selected_version();
                    d.versions = Some(result);
                    d.cursor = match (selected, &d.versions) {
                        (Some(v), Some(Ok(vs))) => {
                            vs.iter().position(|x| x.version == v).unwrap_or(0)
                        }
                        _ => d.cursor.min(d.versions_len().saturating_sub(1)),
                    };
                }
            }
            ConfigsMsg::Diff {
                name,
                from,
                to,
                result,
            } => {
                if let Some(d) = &mut self.detail
                    && d.name == name
                    && let Some(diff) = &mut d.diff
                    && (diff.from, diff.to) == (from, to)
                {
                    diff.lines = Some(result);
                }
            }
            ConfigsMsg::Throughput {
                name,
                period,
                result,
            } => {
                if let Some(d) = &mut self.detail
                    && d.name == name
                    && let Some(f) = &mut d.flow
                {
                    f.asking = false;
                    // An answer for a period no longer shown is dropped; its own comes.
                    if f.period == period {
                        f.answer = Some(result);
                    }
                }
            }
            ConfigsMsg::Steered { name, how, result } => match result {
                Ok(view) => {
                    let note = Note::info(format!("{name}: {}", how.outcome(&view)));
                    let rollouts = &mut self.data.rollouts;
                    match rollouts
                        .iter_mut()
                        .find(|r| r.config.name == view.config.name)
                    {
                        Some(r) => *r = view,
                        None => rollouts.push(view),
                    }
                    self.data_gen += 1;
                    self.stale = true;
                    return Reply {
                        effects: Vec::new(),
                        note: Some(note),
                        rebuild: true,
                    };
                }
                Err(e) => {
                    let text = format!("{name}: cannot {} the rollout: {e}", how.verb());
                    return Reply {
                        note: Some(Note::error(text)),
                        ..Reply::default()
                    };
                }
            },
        }
        Reply::default()
    }

    /// The open detail's versions again when the catalog lists a newer one.
    fn reload_versions_if_newer(&self) -> Vec<ConfigsEffect> {
        let Some(d) = &self.detail else {
            return Vec::new();
        };
        let latest = self
            .data
            .configs
            .iter()
            .find(|c| c.name == d.name)
            .map(|c| c.version);
        let known = match &d.versions {
            Some(Ok(vs)) => vs.first().map(|v| v.version),
            // Still loading, or failed: a reopen asks again.
            _ => return Vec::new(),
        };
        if latest > known {
            vec![ConfigsEffect::Versions {
                name: d.name.clone(),
            }]
        } else {
            Vec::new()
        }
    }

    /// Marks the selected version as the base of the next diff (again: unmarks it).
    pub fn mark_diff_base(&mut self) {
        if let Some(d) = &mut self.detail
            && let Some(v) = d.selected_version()
        {
            d.base = if d.base == Some(v) { None } else { Some(v) };
        }
    }

    /// Opens the diff from the marked version (or the one before the selected) to the
    /// selected one, or closes it. `base_key` names the key that marks a base.
    pub fn toggle_diff(&mut self, base_key: &str) -> Reply {
        let Some(d) = &mut self.detail else {
            return Reply::default();
        };
        if d.diff.take().is_some() {
            d.scroll = 0;
            return Reply::default();
        }
        let Some(Ok(versions)) = &d.versions else {
            return Reply::default();
        };
        let Some(to) = versions.get(d.cursor).map(|v| v.version) else {
            return Reply::default();
        };
        let from = d
            .base
            .filter(|b| *b != to)
            .or_else(|| versions.get(d.cursor + 1).map(|v| v.version));
        let Some(from) = from else {
            let text = format!("v{to} is the first version: mark another with {base_key} to diff");
            return Reply {
                note: Some(Note::info(text)),
                ..Reply::default()
            };
        };
        d.diff = Some(DiffView {
            from,
            to,
            lines: None,
        });
        d.scroll = 0;
        Reply {
            effects: vec![ConfigsEffect::Diff {
                name: d.name.clone(),
                from,
                to,
            }],
            ..Reply::default()
        }
    }

    /// Pauses, resumes, cancels or rolls back the rollout of configuration `name`, when
    /// its state allows that.
    pub fn steer(&self, name: String, how: Steer) -> Reply {
        let rollout = self.data.rollouts.iter().find(|r| *r.config.name == *name);
        let text = match rollout {
            None => format!("{name} has no rollout to {}", how.verb()),
            Some(r) if !data::can_steer(&r.status, how) => {
                let status = r.status.to_string();
                format!("{name}: the rollout is {status}; cannot {}", how.verb())
            }
            Some(_) => {
                return Reply {
                    effects: vec![ConfigsEffect::Steer { name, how }],
                    ..Reply::default()
                };
            }
        };
        Reply {
            note: Some(Note::info(text)),
            ..Reply::default()
        }
    }
}
