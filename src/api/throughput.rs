//! `/configurations/{name}/throughput` and `/top/destinations`: each component's numbers
//! under the operator's names, and destinations by volume. Period `10s` reads the agents'
//! latest reports; `1m`, `5m` and `1h` average the rollups' 10-second points.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use serde::Serialize;

use super::top::{Sort, query_of, sort_name};
use super::{ApiResult, ApiState};
use crate::fleet::telemetry::rollup::PartKey;
use crate::fleet::telemetry::{Group, Measure, Signal, now_sec};
use crate::pipeline::ComponentMap;
use crate::throughput::{self, Maps, STEP};

/// One component's numbers for one signal, per second over the period (queue figures are
/// levels).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComponentThroughput {
    /// The Collector's component ID.
    pub id: String,
    /// `receiver`, `processor` or `exporter`.
    pub kind: &'static str,
    /// The builder step that placed it (`source`, `processor`, `destination`); none for
    /// the connectors that join pipelines and for raw configurations.
    pub step: Option<&'static str>,
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

#[derive(Debug, Serialize)]
pub struct ConfigurationThroughput {
    pub name: String,
    /// The period in seconds.
    pub period: u64,
    pub signal: Option<Signal>,
    /// Agents assigned the configuration, and those with component numbers.
    pub agents: usize,
    pub reporting: usize,
    pub components: Vec<ComponentThroughput>,
}

#[derive(Debug, Serialize)]
pub struct TopDestination {
    pub name: String,
    /// Configurations whose agents send to it.
    pub configurations: Vec<String>,
    /// Agents sending to it.
    pub agents: usize,
    #[serde(rename = "in")]
    pub received: f64,
    pub out: f64,
    pub failed: f64,
    pub queue_size: f64,
    pub queue_capacity: f64,
}

#[derive(Debug, Serialize)]
pub struct TopDestinations {
    pub period: u64,
    pub signal: Option<Signal>,
    pub sort: &'static str,
    pub items: Vec<TopDestination>,
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
fn figures(
    s: &ApiState,
    group: &Group,
    period: u64,
    live: &throughput::Sums,
) -> Vec<(PartKey, f64)> {
    if period <= STEP {
        return live
            .get(group)
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default();
    }
    let points = (period / STEP) as usize;
    s.telemetry
        .rollups()
        .rows(group, points)
        .into_iter()
        .map(|r| (r.part, r.mean))
        .collect()
}

/// Rows per component and signal, in the order the configuration places them.
fn component_rows(
    s: &ApiState,
    figures: Vec<(PartKey, f64)>,
    signal: Option<Signal>,
    map: &ComponentMap,
) -> Vec<ComponentThroughput> {
    let mut rows: BTreeMap<(String, &'static str, usize), ComponentThroughput> = BTreeMap::new();
    for ((component, measure, sig), v) in figures {
        if signal.is_some_and(|want| want != sig) {
            continue;
        }
        let Some(id) = s.telemetry.component_name(component) else {
            continue;
        };
        let kind = kind_of(measure);
        let row = rows
            .entry((id.to_string(), kind, sig.index()))
            .or_insert_with(|| {
                let place = map.get(&id);
                ComponentThroughput {
                    id: id.to_string(),
                    kind,
                    step: place.map(|p| p.kind.noun()),
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
    let step_order = |r: &ComponentThroughput| match r.step {
        Some("source") => 0,
        Some("processor") => 1,
        Some("destination") => 2,
        _ => 3,
    };
    let kind_order = |r: &ComponentThroughput| match r.kind {
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

pub async fn configuration(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Json<ConfigurationThroughput>> {
    let q = query_of(&uri, &["period", "signal"])?;
    let latest = s.catalog.configuration(&name, None).await?;
    let snap = s.registry.snapshot().borrow().clone();
    let mut maps = Maps::default();
    maps.load(&s.catalog, [latest.cref()]).await;
    let group = Group::Configuration(latest.cref().name.clone());
    let (live, agents) = if q.period <= STEP {
        throughput::sums_at(now_sec(), &snap, &s.telemetry, &maps, Some(&name))
    } else {
        (HashMap::new(), HashMap::new())
    };
    let counts = agents
        .get(&group)
        .copied()
        .unwrap_or_else(|| s.telemetry.rollups().agents(&group));
    let map = maps.get(&latest.cref()).cloned().unwrap_or_default();
    let components = component_rows(&s, figures(&s, &group, q.period, &live), q.signal, &map);
    Ok(Json(ConfigurationThroughput {
        name: latest.config.name().to_string(),
        period: q.period,
        signal: q.signal,
        agents: counts.assigned,
        reporting: counts.reporting,
        components,
    }))
}

pub async fn destinations(State(s): State<ApiState>, uri: Uri) -> ApiResult<Json<TopDestinations>> {
    let q = query_of(&uri, &["period", "signal", "sort", "limit"])?;
    let snap = s.registry.snapshot().borrow().clone();
    let mut maps = Maps::default();
    let crefs = throughput::assigned_versions(&snap);
    maps.load(&s.catalog, crefs.iter().cloned()).await;
    // Which configurations render each destination, from the versions agents run.
    let mut used_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for cref in &crefs {
        let Some(map) = maps.get(cref) else { continue };
        for (id, _) in map.iter() {
            if let Some(dest) = throughput::destination_of(cref, map, id) {
                used_by
                    .entry(dest.to_string())
                    .or_default()
                    .insert(cref.name.to_string());
            }
        }
    }
    let (live, agents) = if q.period <= STEP {
        throughput::sums_at(now_sec(), &snap, &s.telemetry, &maps, None)
    } else {
        (HashMap::new(), HashMap::new())
    };
    let mut names: BTreeSet<String> = used_by.keys().cloned().collect();
    if q.period > STEP {
        names.extend(
            s.telemetry
                .rollups()
                .groups()
                .into_iter()
                .filter_map(|g| match g {
                    Group::Destination(n) => Some(n.to_string()),
                    Group::Configuration(_) => None,
                }),
        );
    }
    let mut items: Vec<TopDestination> = names
        .into_iter()
        .map(|name| {
            let group = Group::Destination(name.as_str().into());
            let mut d = TopDestination {
                configurations: used_by
                    .get(&name)
                    .map(|c| c.iter().cloned().collect())
                    .unwrap_or_default(),
                agents: agents
                    .get(&group)
                    .copied()
                    .unwrap_or_else(|| s.telemetry.rollups().agents(&group))
                    .assigned,
                name,
                received: 0.0,
                out: 0.0,
                failed: 0.0,
                queue_size: 0.0,
                queue_capacity: 0.0,
            };
            for ((_, measure, sig), v) in figures(&s, &group, q.period, &live) {
                if q.signal.is_some_and(|want| want != sig) {
                    continue;
                }
                match measure {
                    Measure::Sent => {
                        d.out += v;
                        d.received += v;
                    }
                    Measure::SendFailed | Measure::EnqueueFailed => {
                        d.failed += v;
                        d.received += v;
                    }
                    Measure::QueueSize => d.queue_size += v,
                    Measure::QueueCapacity => d.queue_capacity += v,
                    _ => {}
                }
            }
            d
        })
        .collect();
    let key = |d: &TopDestination| match q.sort {
        Sort::In => d.received,
        Sort::Out => d.out,
        Sort::Failed => d.failed,
    };
    items.sort_by(|a, b| key(b).total_cmp(&key(a)).then_with(|| a.name.cmp(&b.name)));
    items.truncate(q.limit);
    Ok(Json(TopDestinations {
        period: q.period,
        signal: q.signal,
        sort: sort_name(q.sort),
        items,
    }))
}
