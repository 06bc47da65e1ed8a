//! Where the data goes: the agents' per-component numbers summed per configuration and per
//! destination, every 10 seconds into the telemetry store's rollups (an hour of history),
//! and on demand for the latest figures.
//!
//! An agent counts for the configuration it is assigned (any version, whatever its apply
//! state). A destination's numbers are those of the exporters rendered from it, found
//! through the renderer's [`ComponentMap`] of the version each agent runs, so a
//! destination shared by several configurations sums them all, and nobody reads
//! `otlphttp/destination0`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::fleet::FleetSnapshot;
use crate::fleet::delivery::ConfigRef;
use crate::fleet::telemetry::rollup::{GroupAgents, PartKey, key_of};
use crate::fleet::telemetry::{Group, Measure, PartRate, TelemetryStore, now_sec};
use crate::pipeline::{ComponentMap, TypeKind};

/// Seconds between rollup points.
pub const STEP: u64 = 10;

/// Sums per group and part, and the agents behind each group.
pub type Sums = HashMap<Group, HashMap<PartKey, f64>>;

/// The destination a component belongs to, if it is one of a destination's exporters'.
pub fn destination_of(cref: &ConfigRef, map: &ComponentMap, id: &str) -> Option<Arc<str>> {
    let place = map.get(id)?;
    if place.kind != TypeKind::Destination || place.attached.is_some() {
        return None;
    }
    Some(match &place.destination {
        Some(name) => Arc::from(name.as_str()),
        None => Arc::from(format!("{}/destinations[{}]", cref.name, place.index)),
    })
}

/// Whether a measure is an exporter's (what a destination's numbers are made of).
pub fn is_exporter_measure(m: Measure) -> bool {
    matches!(
        m,
        Measure::Sent
            | Measure::SendFailed
            | Measure::EnqueueFailed
            | Measure::QueueSize
            | Measure::QueueCapacity
    )
}

/// Component maps of the versions agents run, with each map's components by the store's
/// interned index (rebuilt as new IDs are interned).
#[derive(Default)]
pub struct Maps {
    maps: HashMap<ConfigRef, Arc<ComponentMap>>,
}

impl Maps {
    /// Loads the maps of every version in `crefs` not loaded yet.
    pub async fn load(&mut self, catalog: &Catalog, crefs: impl IntoIterator<Item = ConfigRef>) {
        for cref in crefs {
            if self.maps.contains_key(&cref) {
                continue;
            }
            match catalog.component_map(&cref).await {
                Ok(map) => {
                    self.maps.insert(cref, Arc::new(map));
                }
                Err(e) => {
                    tracing::debug!(config = %cref, error = %e, "no component map");
                    self.maps.insert(cref, Arc::new(ComponentMap::default()));
                }
            }
        }
    }

    pub fn get(&self, cref: &ConfigRef) -> Option<&Arc<ComponentMap>> {
        self.maps.get(cref)
    }

    /// Forgets every map (types or destinations changed).
    pub fn clear(&mut self) {
        self.maps.clear();
    }
}

/// The configuration versions the fleet's agents are assigned.
pub fn assigned_versions(fleet: &FleetSnapshot) -> Vec<ConfigRef> {
    let mut crefs: Vec<ConfigRef> = fleet
        .agents
        .iter()
        .filter_map(|a| a.config.as_ref().map(|c| c.config.clone()))
        .collect();
    crefs.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
    crefs.dedup();
    crefs
}

/// Sums every agent's current component numbers at `now` into its configuration's group
/// and its destinations' groups. `only` limits the work to one configuration's agents.
pub fn sums_at(
    now: u64,
    fleet: &FleetSnapshot,
    store: &TelemetryStore,
    maps: &Maps,
    only: Option<&str>,
) -> (Sums, HashMap<Group, GroupAgents>) {
    let mut sums: Sums = HashMap::new();
    let mut agents: HashMap<Group, GroupAgents> = HashMap::new();
    // Per version: interned component index → destination, built once per call.
    let mut dests: HashMap<ConfigRef, HashMap<u16, Arc<str>>> = HashMap::new();
    let mut parts: Vec<PartRate> = Vec::new();
    for agent in &fleet.agents {
        let Some(status) = &agent.config else {
            continue;
        };
        let cref = &status.config;
        if only.is_some_and(|name| *cref.name != *name) {
            continue;
        }
        store.parts_at(now, &agent.id, &mut parts);
        let group = Group::Configuration(cref.name.clone());
        let count = agents.entry(group.clone()).or_default();
        count.assigned += 1;
        if parts.is_empty() {
            continue;
        }
        count.reporting += 1;
        let config_sums = sums.entry(group).or_default();
        for p in &parts {
            *config_sums.entry(key_of(p.part)).or_default() += p.value;
        }
        let by_index = dests.entry(cref.clone()).or_insert_with(|| {
            let Some(map) = maps.get(cref) else {
                return HashMap::new();
            };
            map.iter()
                .filter_map(|(id, _)| {
                    let dest = destination_of(cref, map, id)?;
                    Some((store.component_index(id)?, dest))
                })
                .collect()
        });
        let mut counted: Vec<&Arc<str>> = Vec::new();
        for p in parts.iter().filter(|p| is_exporter_measure(p.part.measure)) {
            let Some(dest) = by_index.get(&p.part.component) else {
                continue;
            };
            let group = Group::Destination(dest.clone());
            *sums
                .entry(group.clone())
                .or_default()
                .entry(key_of(p.part))
                .or_default() += p.value;
            if !counted.contains(&dest) {
                counted.push(dest);
                let c = agents.entry(group).or_default();
                c.assigned += 1;
                c.reporting += 1;
            }
        }
    }
    (sums, agents)
}

/// Records a rollup point every [`STEP`] seconds until `shutdown`.
pub fn spawn(
    store: TelemetryStore,
    fleet: watch::Receiver<Arc<FleetSnapshot>>,
    catalog: Arc<Catalog>,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut maps = Maps::default();
        let mut changes = catalog.changes();
        loop {
            // On the 10-second boundary, so every replica's points line up.
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let wait = STEP * 1000 - now_ms % (STEP * 1000);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
            if changes.has_changed().unwrap_or(false) {
                changes.borrow_and_update();
                maps.clear();
            }
            let snapshot = fleet.borrow().clone();
            maps.load(&catalog, assigned_versions(&snapshot)).await;
            let now = now_sec();
            let (sums, agents) = sums_at(now, &snapshot, &store, &maps, None);
            store.record_rollups(now / STEP, &sums, agents);
        }
    });
}
