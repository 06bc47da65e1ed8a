//! `/topology`: the Collector chains of the fleet — which connected agent's exporter sends to
//! which agent's receiver, and what goes out of the sending agent — worked out from what the
//! agents report (`fleet::topology` says how, and where it can be wrong).

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde::Serialize;

use super::top::{Rates, query_of};
use super::{ApiResult, ApiState};
use crate::fleet::AgentId;
use crate::fleet::telemetry::{Signal, now_sec};
use crate::fleet::topology;

#[derive(Debug, Serialize)]
pub struct AgentRef {
    pub id: AgentId,
    pub name: String,
}

/// One exporter of one agent and where it sends.
#[derive(Debug, Serialize)]
pub struct Edge {
    pub from: AgentRef,
    pub exporter: String,
    /// `host:port` the exporter sends to.
    pub endpoint: String,
    /// The managed agent listening there; none for an external destination.
    pub to: Option<AgentRef>,
    /// Its receiver on that port.
    pub receiver: Option<String>,
    /// How many agents matched (more than one: same host name and port twice).
    pub matches: usize,
    /// The sending agent's own outgoing (and failed) items per second over the period.
    #[serde(flatten)]
    pub rates: Rates,
    /// How many exporter targets that rate is shared by (it is the agent's total).
    pub shared_by: usize,
}

#[derive(Debug, Serialize)]
pub struct Topology {
    pub period: u64,
    pub signal: Option<Signal>,
    /// Connected agents whose configuration was read.
    pub agents: usize,
    pub edges: Vec<Edge>,
}

pub async fn show(State(s): State<ApiState>, uri: Uri) -> ApiResult<Json<Topology>> {
    let q = query_of(&uri, &["period", "signal"])?;
    let snap = s.registry.snapshot().borrow().clone();
    let (agents, links) = topology::links(&snap.agents);
    let now = now_sec();
    let from = now.saturating_sub(q.period - 1);
    let mut rates_of: HashMap<AgentId, Rates> = HashMap::new();
    let edges = links
        .into_iter()
        .map(|l| {
            let rates = *rates_of.entry(l.from).or_insert_with(|| {
                s.telemetry
                    .window_at(now, &l.from, from, now)
                    .map(|w| Rates::of(&w, q.signal))
                    .unwrap_or_default()
            });
            Edge {
                from: AgentRef {
                    id: l.from,
                    name: l.from_name,
                },
                exporter: l.exporter,
                endpoint: l.endpoint,
                to: l.to.map(|(id, name)| AgentRef { id, name }),
                receiver: l.receiver,
                matches: l.matches,
                rates,
                shared_by: l.shared_by,
            }
        })
        .collect();
    Ok(Json(Topology {
        period: q.period,
        signal: q.signal,
        agents,
        edges,
    }))
}
