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
use crate::fleet::telemetry::{Group, Measure, Signal, now_sec};
use crate::throughput::{self, ConfigurationThroughput, Maps, STEP};

pub async fn configuration(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Json<ConfigurationThroughput>> {
    let q = query_of(&uri, &["period", "signal"])?;
    let snap = s.registry.snapshot().borrow().clone();
    let answer =
        throughput::configuration(&s.catalog, &snap, &s.telemetry, &name, q.period, q.signal)
            .await?;
    Ok(Json(answer))
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
            for ((_, measure, sig), v) in throughput::figures(&s.telemetry, &group, q.period, &live)
            {
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
