//! Where the data goes: the agents' per-component numbers summed per configuration and per
//! destination, every 10 seconds into the telemetry store's rollups (an hour of history),
//! and on demand for the latest figures.
//!
//! An agent counts for the configuration it is assigned (any version, whatever its apply
//! state). A destination's numbers are those of the exporters rendered from it, found
//! through the renderer's [`ComponentMap`] of the version each agent runs, so a
//! destination shared by several configurations sums them all, and nobody reads
//! `otlphttp/destination0`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, CatalogError};
use crate::fleet::FleetSnapshot;
use crate::fleet::delivery::ConfigRef;
use crate::fleet::telemetry::rollup::{GroupAgents, PartKey, key_of};
use crate::fleet::telemetry::{Group, Measure, PartRate, Signal, TelemetryStore, now_sec};
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

/// One component's numbers for one signal, per second over the period (queue figures are
/// levels).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ComponentThroughput {
    /// The Collector's component ID.
    pub id: String,
    /// `receiver`, `processor` or `exporter`.
    pub kind: String,
    /// The builder step that placed it (`source`, `processor`, `destination`); none for
    /// the connectors that join pipelines and for raw configurations.
    pub step: Option<String>,
    /// Where the configuration puts it: `sources[0] (filelog)`.
    pub label: Option<String>,
    /// The named `Destination` it renders.
    pub destination: Option<String>,
    pub signal: Signal,
    /// Items that reached it: a receiver's accepted, refused and failed; a processor's
    /// incoming; an exporter's sent and failed.
    #[serde(rename = "in")]
    pub received: f64,
    /// Items it passed on: accepted, outgoing, sent.
    pub out: f64,
    /// Items the next component turned away.
    pub refused: f64,
    /// Items a processor dropped (incoming minus outgoing).
    pub dropped: f64,
    /// Items it failed with (a receiver's failures, an exporter's send and queue failures).
    pub failed: f64,
    pub queue_size: Option<f64>,
    pub queue_capacity: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ConfigurationThroughput {
    pub name: String,
    /// The period in seconds.
    pub period: u64,
    pub signal: Option<Signal>,
    /// Agents assigned the configuration, and those with component numbers.
    pub agents: usize,
    pub reporting: usize,
    /// The pipelines of the latest version, as rendered: component IDs in order.
    pub pipelines: Vec<PipelineLayout>,
    pub components: Vec<ComponentThroughput>,
}

/// One `service.pipelines` entry of the rendered Collector configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PipelineLayout {
    pub name: String,
    pub receivers: Vec<String>,
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

fn kind_of(m: Measure) -> &'static str {
    match m {
        Measure::Accepted | Measure::Refused | Measure::Failed => "receiver",
        Measure::Incoming | Measure::Outgoing | Measure::Dropped => "processor",
        _ => "exporter",
    }
}

/// Adds one measure to a row.
fn add(row: &mut ComponentThroughput, m: Measure, v: f64) {
    match m {
        Measure::Accepted => {
            row.received += v;
            row.out += v;
        }
        Measure::Refused => {
            row.received += v;
            row.refused += v;
        }
        Measure::Failed => {
            row.received += v;
            row.failed += v;
        }
        Measure::Incoming => row.received += v,
        Measure::Outgoing => row.out += v,
        Measure::Dropped => row.dropped += v,
        Measure::Sent => {
            row.received += v;
            row.out += v;
        }
        Measure::SendFailed | Measure::EnqueueFailed => {
            row.received += v;
            row.failed += v;
        }
        Measure::QueueSize => *row.queue_size.get_or_insert(0.0) += v,
        Measure::QueueCapacity => *row.queue_capacity.get_or_insert(0.0) += v,
    }
}

/// The group's figures over the period: live sums for 10 s, else the rollups' means.
pub fn figures(
    telemetry: &TelemetryStore,
    group: &Group,
    period: u64,
    live: &Sums,
) -> Vec<(PartKey, f64)> {
    if period <= STEP {
        return live
            .get(group)
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default();
    }
    let points = (period / STEP) as usize;
    telemetry
        .rollups()
        .rows(group, points)
        .into_iter()
        .map(|r| (r.part, r.mean))
        .collect()
}

/// Rows per component and signal, in the order the configuration places them.
fn component_rows(
    telemetry: &TelemetryStore,
    figures: Vec<(PartKey, f64)>,
    signal: Option<Signal>,
    map: &ComponentMap,
) -> Vec<ComponentThroughput> {
    let mut rows: BTreeMap<(String, &'static str, usize), ComponentThroughput> = BTreeMap::new();
    for ((component, measure, sig), v) in figures {
        if signal.is_some_and(|want| want != sig) {
            continue;
        }
        let Some(id) = telemetry.component_name(component) else {
            continue;
        };
        let kind = kind_of(measure);
        let row = rows
            .entry((id.to_string(), kind, sig.index()))
            .or_insert_with(|| {
                let place = map.get(&id);
                ComponentThroughput {
                    id: id.to_string(),
                    kind: kind.to_string(),
                    step: place.map(|p| p.kind.noun().to_string()),
                    label: place.map(|p| p.label.clone()),
                    destination: place.and_then(|p| p.destination.clone()),
                    signal: sig,
                    received: 0.0,
                    out: 0.0,
                    refused: 0.0,
                    dropped: 0.0,
                    failed: 0.0,
                    queue_size: None,
                    queue_capacity: None,
                }
            });
        add(row, measure, v);
    }
    // A component the configuration does not place and that carries nothing is left over
    // from what the agent ran before (or a connector idling): not worth a row. A placed
    // one shows even at 0: a silent source is news.
    let mut rows: Vec<ComponentThroughput> = rows
        .into_values()
        .filter(|r| {
            r.label.is_some()
                || r.received > 0.0
                || r.out > 0.0
                || r.queue_size.unwrap_or(0.0) > 0.0
        })
        .collect();
    for r in &mut rows {
        if r.kind == "processor" {
            r.dropped += (r.received - r.out).max(0.0);
        }
    }
    let step_order = |r: &ComponentThroughput| match r.step.as_deref() {
        Some("source") => 0,
        Some("processor") => 1,
        Some("destination") => 2,
        _ => 3,
    };
    let kind_order = |r: &ComponentThroughput| match r.kind.as_str() {
        "receiver" => 0,
        "processor" => 1,
        _ => 2,
    };
    rows.sort_by(|a, b| {
        (
            step_order(a),
            kind_order(a),
            &a.label,
            &a.id,
            a.signal.index(),
        )
            .cmp(&(
                step_order(b),
                kind_order(b),
                &b.label,
                &b.id,
                b.signal.index(),
            ))
    });
    rows
}

/// One configuration's components with their numbers over `period` seconds (10: the
/// agents' latest reports; longer: the rollups), under the names its latest version gives
/// them, with that version's pipelines.
pub async fn configuration(
    catalog: &Catalog,
    fleet: &FleetSnapshot,
    telemetry: &TelemetryStore,
    name: &str,
    period: u64,
    signal: Option<Signal>,
) -> Result<ConfigurationThroughput, CatalogError> {
    let latest = catalog.configuration(name, None).await?;
    let mut maps = Maps::default();
    maps.load(catalog, [latest.cref()]).await;
    let group = Group::Configuration(latest.cref().name.clone());
    let (live, agents) = if period <= STEP {
        sums_at(now_sec(), fleet, telemetry, &maps, Some(name))
    } else {
        (HashMap::new(), HashMap::new())
    };
    let counts = agents
        .get(&group)
        .copied()
        .unwrap_or_else(|| telemetry.rollups().agents(&group));
    let map = maps.get(&latest.cref()).cloned().unwrap_or_default();
    let components = component_rows(
        telemetry,
        figures(telemetry, &group, period, &live),
        signal,
        &map,
    );
    Ok(ConfigurationThroughput {
        name: latest.config.name().to_string(),
        period,
        signal,
        agents: counts.assigned,
        reporting: counts.reporting,
        pipelines: pipelines_of(&latest.rendered),
        components,
    })
}

/// One agent's components now (its latest report), named through the configuration it is
/// assigned; pipelines from what it says it runs (its effective configuration), else from
/// the assigned version.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AgentThroughput {
    pub id: crate::fleet::AgentId,
    pub name: String,
    /// `name:version` of the configuration it is assigned.
    pub config: Option<String>,
    pub pipelines: Vec<PipelineLayout>,
    pub components: Vec<ComponentThroughput>,
}

pub async fn agent(
    catalog: &Catalog,
    agent: &crate::fleet::AgentView,
    telemetry: &TelemetryStore,
) -> AgentThroughput {
    let cref = agent.config.as_ref().map(|c| c.config.clone());
    let mut map = ComponentMap::default();
    let mut pipelines = agent
        .effective_config
        .as_ref()
        .and_then(|c| c.main_body())
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(pipelines_of)
        .unwrap_or_default();
    if let Some(cref) = &cref {
        if let Ok(m) = catalog.component_map(cref).await {
            map = m;
        }
        if pipelines.is_empty()
            && let Ok(stored) = catalog.configuration(&cref.name, Some(cref.version)).await
        {
            pipelines = pipelines_of(&stored.rendered);
        }
    }
    let mut parts = Vec::new();
    telemetry.parts_at(now_sec(), &agent.id, &mut parts);
    let figures = parts.iter().map(|p| (key_of(p.part), p.value)).collect();
    AgentThroughput {
        id: agent.id,
        name: agent.name.to_string(),
        config: cref.map(|c| c.to_string()),
        pipelines,
        components: component_rows(telemetry, figures, None, &map),
    }
}

/// The `service.pipelines` of Collector YAML, in name order (none when it does not parse).
pub fn pipelines_of(yaml: &str) -> Vec<PipelineLayout> {
    let Ok(doc) = serde_norway::from_str::<serde_norway::Value>(yaml) else {
        return Vec::new();
    };
    let Some(pipelines) = doc
        .get("service")
        .and_then(|s| s.get("pipelines"))
        .and_then(|p| p.as_mapping())
    else {
        return Vec::new();
    };
    let ids = |p: &serde_norway::Value, key: &str| -> Vec<String> {
        p.get(key)
            .and_then(|v| v.as_sequence())
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out: Vec<PipelineLayout> = pipelines
        .iter()
        .filter_map(|(k, p)| {
            Some(PipelineLayout {
                name: k.as_str()?.to_string(),
                receivers: ids(p, "receivers"),
                processors: ids(p, "processors"),
                exporters: ids(p, "exporters"),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_are_read_from_the_rendered_yaml_in_name_order() {
        let yaml = "service:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [otlp/x]}\n    logs:\n      receivers: [filelog/source0]\n      processors: [batch/processor0]\n      exporters: [otlphttp/backend, forward/logs_out]\n";
        let p = pipelines_of(yaml);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "logs");
        assert_eq!(p[0].processors, ["batch/processor0"]);
        assert_eq!(p[0].exporters, ["otlphttp/backend", "forward/logs_out"]);
        assert_eq!(p[1].receivers, ["otlp"]);
        assert!(p[1].processors.is_empty());
        assert!(pipelines_of("not: [valid").is_empty());
        assert!(pipelines_of("receivers: {}").is_empty());
    }
}
