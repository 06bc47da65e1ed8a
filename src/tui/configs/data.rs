//! The Configurations view's data: stored configurations (from the catalog), their
//! rollouts, and which agents run which version in what state (from the fleet snapshot).
//! Catalog and rollout data arrive as [`ConfigsMsg`]s from tasks `io.rs` spawns for
//! [`ConfigsEffect`]s; everything here that combines them is pure.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::fleet::delivery::ApplyState;
use crate::fleet::snapshot::FleetSnapshot;
use crate::pipeline::DiffLine;
use crate::rollout::watch::percent;
use crate::rollout::{RolloutStatus, RolloutView};

pub use super::super::action::Steer;

/// One stored configuration as the list shows it (its latest version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSummary {
    pub name: String,
    pub version: u64,
    pub description: Option<String>,
    pub updated_at: SystemTime,
    pub sources: usize,
    pub processors: usize,
    pub destinations: usize,
}

/// One version of a configuration, for the detail view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: u64,
    pub updated_at: SystemTime,
    /// Lines of the Collector YAML it renders to.
    pub lines: usize,
}

/// What one refresh brings back from the catalog and the rollout service.
#[derive(Debug, Clone, Default)]
pub struct CatalogData {
    pub configs: Vec<ConfigSummary>,
    pub rollouts: Vec<RolloutView>,
}

/// Work the Configurations view asks of the run loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigsEffect {
    /// Reload the configuration list and every rollout.
    Refresh,
    /// Load every version of a configuration.
    Versions { name: String },
    /// Diff the rendered YAML of two versions.
    Diff { name: String, from: u64, to: u64 },
    /// Pause, resume, cancel or roll back the configuration's rollout.
    Steer { name: String, how: Steer },
    /// The configuration's pipelines with each component's numbers.
    Throughput { name: String, period: u64 },
}

/// Results of [`ConfigsEffect`]s, back from the run loop.
#[derive(Debug, Clone)]
pub enum ConfigsMsg {
    Refreshed(Result<CatalogData, String>),
    Versions {
        name: String,
        result: Result<Vec<VersionInfo>, String>,
    },
    Diff {
        name: String,
        from: u64,
        to: u64,
        result: Result<Vec<DiffLine>, String>,
    },
    Steered {
        name: String,
        how: Steer,
        result: Result<RolloutView, String>,
    },
    Throughput {
        name: String,
        period: u64,
        result: Result<crate::throughput::ConfigurationThroughput, String>,
    },
}

/// Agents on one version of a configuration, by apply state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub agents: usize,
    pub connected: usize,
    pub applied: usize,
    /// Pending, sent or applying.
    pub in_flight: usize,
    /// Failed or stalled.
    pub failed: usize,
    /// Applied, but the effective config the agent reports is not what was sent.
    pub drifted: usize,
}

impl StateCounts {
    fn add(&mut self, state: ApplyState, connected: bool, effective_matches: Option<bool>) {
        self.agents += 1;
        self.connected += usize::from(connected);
        match state {
            ApplyState::Applied => {
                self.applied += 1;
                self.drifted += usize::from(effective_matches == Some(false));
            }
            ApplyState::Failed | ApplyState::Stalled => self.failed += 1,
            ApplyState::Pending | ApplyState::Sent | ApplyState::Applying => self.in_flight += 1,
        }
    }

    fn merge(&mut self, o: &StateCounts) {
        self.agents += o.agents;
        self.connected += o.connected;
        self.applied += o.applied;
        self.in_flight += o.in_flight;
        self.failed += o.failed;
        self.drifted += o.drifted;
    }
}

/// A row of the configurations list.
#[derive(Debug, Clone)]
pub struct ConfigRow {
    pub name: String,
    /// From the catalog; `None` when agents run a configuration the catalog no longer
    /// lists (deleted), or before the first refresh.
    pub summary: Option<ConfigSummary>,
    /// Agents per version, newest version first.
    pub versions: Vec<(u64, StateCounts)>,
    pub total: StateCounts,
    /// The first failure an agent reported: its name and message.
    pub first_error: Option<(String, String)>,
    pub rollout: Option<RolloutView>,
}

impl ConfigRow {
    pub fn latest(&self) -> Option<u64> {
        self.summary.as_ref().map(|s| s.version)
    }

    /// Agents on the latest version.
    pub fn on_latest(&self) -> usize {
        let Some(latest) = self.latest() else {
            return 0;
        };
        self.versions
            .iter()
            .find(|(v, _)| *v == latest)
            .map_or(0, |(_, c)| c.agents)
    }

    pub fn rollout_active(&self) -> bool {
        self.rollout.as_ref().is_some_and(|r| !r.status.finished())
    }
}

/// Agents that run no configuration from this server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnmanagedRow {
    pub agents: usize,
    pub connected: usize,
    /// Of those, agents reporting a remote configuration hash from elsewhere.
    pub remote_elsewhere: usize,
    /// Agents that report no configuration at all.
    pub without_config: usize,
}

/// The list: one row per stored configuration (and per configuration agents still run
/// that the catalog lost), by name, then the unmanaged agents.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub rows: Vec<ConfigRow>,
    pub unmanaged: UnmanagedRow,
}

impl Overview {
    /// Rows the cursor moves over: the configurations, then the unmanaged group.
    pub fn entries(&self) -> usize {
        self.rows.len() + 1
    }
}

/// Combines the catalog's configurations and rollouts with what agents report.
pub fn overview(snap: &FleetSnapshot, data: &CatalogData) -> Overview {
    let mut rows: HashMap<&str, ConfigRow> = HashMap::new();
    let mut per_version: HashMap<(&str, u64), StateCounts> = HashMap::new();
    let mut unmanaged = UnmanagedRow::default();
    for c in &data.configs {
        rows.insert(&c.name, blank_row(&c.name, Some(c.clone())));
    }
    for a in &snap.agents {
        let Some(st) = &a.config else {
            unmanaged.agents += 1;
            unmanaged.connected += usize::from(a.is_connected());
            let remote = a
                .remote_config_status
                .as_ref()
                .is_some_and(|s| !s.last_hash.is_empty());
            unmanaged.remote_elsewhere += usize::from(remote);
            unmanaged.without_config += usize::from(!remote && a.effective_config.is_none());
            continue;
        };
        let name: &str = &st.config.name;
        let row = rows.entry(name).or_insert_with(|| blank_row(name, None));
        if row.first_error.is_none() && matches!(st.state, ApplyState::Failed | ApplyState::Stalled)
        {
            let msg = if st.error.is_empty() {
                st.state.to_string()
            } else {
                st.error.clone()
            };
            row.first_error = Some((a.name.to_string(), msg));
        }
        per_version
            .entry((name, st.config.version))
            .or_default()
            .add(st.state, a.is_connected(), st.effective_matches);
    }
    for ((name, version), counts) in per_version {
        if let Some(row) = rows.get_mut(name) {
            row.total.merge(&counts);
            row.versions.push((version, counts));
        }
    }
    for r in &data.rollouts {
        if let Some(row) = rows.get_mut(&*r.config.name) {
            row.rollout = Some(r.clone());
        }
    }
    let mut rows: Vec<ConfigRow> = rows.into_values().collect();
    for r in &mut rows {
        r.versions.sort_by_key(|(v, _)| std::cmp::Reverse(*v));
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Overview { rows, unmanaged }
}

fn blank_row(name: &str, summary: Option<ConfigSummary>) -> ConfigRow {
    ConfigRow {
        name: name.to_string(),
        summary,
        versions: Vec::new(),
        total: StateCounts::default(),
        first_error: None,
        rollout: None,
    }
}

/// One agent of a configuration, for the detail view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAgent {
    /// Position in the snapshot (agents are sorted by id).
    pub at: u32,
    pub version: u64,
    pub state: ApplyState,
    pub error: String,
    pub effective_matches: Option<bool>,
}

/// The agents running `name` (any version): failures first, then in-flight, then
/// applied; by name within each.
pub fn agents_of(snap: &FleetSnapshot, name: &str) -> Vec<ConfigAgent> {
    let mut out: Vec<ConfigAgent> = snap
        .agents
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let st = a.config.as_ref().filter(|s| &*s.config.name == name)?;
            Some(ConfigAgent {
                at: i as u32,
                version: st.config.version,
                state: st.state,
                error: st.error.clone(),
                effective_matches: st.effective_matches,
            })
        })
        .collect();
    let rank = |s: ApplyState| match s {
        ApplyState::Failed | ApplyState::Stalled => 0,
        ApplyState::Pending | ApplyState::Sent | ApplyState::Applying => 1,
        ApplyState::Applied => 2,
    };
    out.sort_by(|a, b| {
        rank(a.state).cmp(&rank(b.state)).then_with(|| {
            snap.agents[a.at as usize]
                .name
                .cmp(&snap.agents[b.at as usize].name)
        })
    });
    out
}

/// A short description of a rollout's state: `running · phase 2 · 40/100 applied`.
pub fn rollout_line(r: &RolloutView) -> String {
    let p = &r.progress;
    let mut s = format!(
        "{} · v{} · phase {} · {}/{} applied",
        r.status, r.config.version, r.phases_started, p.applied, p.total
    );
    if p.in_flight > 0 {
        s.push_str(&format!(" · {} in flight", p.in_flight));
    }
    if p.watching > 0 {
        s.push_str(&format!(" · {} watching", p.watching));
    }
    if p.failed > 0 {
        s.push_str(&format!(" · {} failed", p.failed));
    }
    if p.rolled_back > 0 {
        s.push_str(&format!(" · {} rolled back", p.rolled_back));
    }
    if let Some(w) = &r.options.watch {
        s.push_str(&format!(
            " · watch {}s (failures ≤{}, drop ≤{})",
            w.window_secs,
            percent(w.max_export_failures),
            percent(w.max_throughput_drop)
        ));
    }
    s
}

/// Which steering commands make sense in a rollout's state (the rollout service has
/// the last word and refuses the others with a reason).
pub fn can_steer(status: &RolloutStatus, how: Steer) -> bool {
    match how {
        Steer::Pause => matches!(status, RolloutStatus::Running),
        Steer::Resume => matches!(status, RolloutStatus::Paused | RolloutStatus::Halted(_)),
        Steer::Cancel => !status.finished(),
        Steer::Rollback => !matches!(status, RolloutStatus::RolledBack),
    }
}

/// Builds a [`ConfigSummary`] from a stored configuration.
pub fn summary_of(stored: &crate::catalog::StoredConfig) -> ConfigSummary {
    let spec = &stored.config.spec;
    ConfigSummary {
        name: stored.config.name().to_string(),
        version: stored.version,
        description: stored.config.metadata.description.clone(),
        updated_at: stored.doc.updated_at,
        sources: spec.sources.len(),
        processors: spec.processors.len(),
        destinations: spec.destinations.len(),
    }
}

/// Builds a [`VersionInfo`] from a stored configuration version.
pub fn version_of(stored: &crate::catalog::StoredConfig) -> VersionInfo {
    VersionInfo {
        version: stored.version,
        updated_at: stored.doc.updated_at,
        lines: stored.rendered.lines().count(),
    }
}
