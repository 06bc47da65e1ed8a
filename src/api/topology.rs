//! `/topology`: the Collector chains of the fleet — which connected agent's exporter sends to
//! which agent's receiver, and what goes out of the sending agent — worked out from what the
//! agents report (`fleet::topology` says how, and where it can be wrong).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde::Serialize;

use super::top::{Rates, query_of};
use super::{ApiResult, ApiState};
use crate::fleet::AgentId;
use crate::fleet::agent::ConfigMap;
use crate::fleet::snapshot::AgentView;
use crate::fleet::telemetry::{Signal, now_sec};
use crate::fleet::topology::{self, Node, Ports};

#[derive(Debug, Serialize)]
pub struct AgentRef {
    pub id: AgentId,
    pub name: String,
}

fn node<'a>(a: &'a AgentView, p: &'a Ports) -> Node<'a> {
    Node {
        host_name: a.host.as_str(),
        addr: a.remote_addr.map(|r| r.ip()),
        ports: p,
    }
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
    // Agents that report the same configuration share one copy of it: read it once.
    let mut parsed: HashMap<*const ConfigMap, Arc<Ports>> = HashMap::new();
    let nodes: Vec<(&AgentView, Arc<Ports>)> = snap
        .agents
        .iter()
        .filter(|a| a.is_connected())
        .filter_map(|a| {
            let config = a.effective_config.as_ref()?;
            let ports = parsed
                .entry(Arc::as_ptr(config))
                .or_insert_with(|| {
                    Arc::new(
                        config
                            .main_body()
                            .map(topology::ports_of)
                            .unwrap_or_default(),
                    )
                })
                .clone();
            Some((&**a, ports))
        })
        .collect();
    // Agents by the names and addresses an endpoint may use for them, so each target looks
    // at its few candidates instead of the whole fleet.
    let mut by_host: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (a, _)) in nodes.iter().enumerate() {
        let name = a.host.to_ascii_lowercase();
        if !name.is_empty() {
            if let Some(first) = name.split('.').next().filter(|f| *f != name) {
                by_host.entry(first.to_string()).or_default().push(i);
            }
            by_host.entry(name).or_default().push(i);
        }
        if let Some(addr) = a.remote_addr {
            by_host.entry(addr.ip().to_string()).or_default().push(i);
        }
    }
    let now = now_sec();
    let from = now.saturating_sub(q.period - 1);
    let mut edges = Vec::new();
    for (a, ports) in &nodes {
        if ports.sends.is_empty() {
            continue;
        }
        let rates = s
            .telemetry
            .window_at(now, &a.id, from, now)
            .map(|w| Rates::of(&w, q.signal))
            .unwrap_or_default();
        let me = node(a, ports);
        for target in &ports.sends {
            let key = match target.host.as_str() {
                "localhost" | "127.0.0.1" | "::1" => a.host.to_ascii_lowercase(),
                other => other.to_string(),
            };
            let mut candidates = by_host.get(&key).cloned().unwrap_or_default();
            candidates.sort_unstable();
            candidates.dedup();
            let found: Vec<_> = candidates
                .into_iter()
                .map(|i| &nodes[i])
                .filter(|(b, p)| b.id != a.id && topology::reaches(&me, target, &node(b, p)))
                .collect();
            let endpoint = format!("{}:{}", target.host, target.port);
            let agent_ref = |v: &AgentView| AgentRef {
                id: v.id,
                name: v.name.to_string(),
            };
            let mut push = |to: Option<(&AgentView, &Arc<Ports>)>| {
                edges.push(Edge {
                    from: agent_ref(a),
                    exporter: target.exporter.clone(),
                    endpoint: endpoint.clone(),
                    receiver: to.and_then(|(_, p)| {
                        p.listens
                            .iter()
                            .find(|l| l.port == target.port)
                            .map(|l| l.receiver.clone())
                    }),
                    to: to.map(|(b, _)| agent_ref(b)),
                    matches: found.len(),
                    rates,
                    shared_by: ports.sends.len(),
                })
            };
            if found.is_empty() {
                push(None);
            }
            for (b, p) in &found {
                push(Some((b, p)));
            }
        }
    }
    edges.sort_by(|x, y| {
        (&x.from.name, &x.exporter, &x.endpoint).cmp(&(&y.from.name, &y.exporter, &y.endpoint))
    });
    Ok(Json(Topology {
        period: q.period,
        signal: q.signal,
        agents: nodes.len(),
        edges,
    }))
}
