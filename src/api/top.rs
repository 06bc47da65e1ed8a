//! `/top/agents` and `/top/configurations`: who carries the fleet's volume over the last
//! minute, five minutes or hour, from the agents' own telemetry (items in, out and failed
//! per second, mean over the period), as `kubectl top` reads.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde::Serialize;

use super::params::Params;
use super::{ApiError, ApiResult, ApiState};
use crate::fleet::AgentId;
use crate::fleet::telemetry::{Series, Signal, WindowMeans, now_sec};

/// Rows answered at most.
const MAX_ROWS: usize = 10_000;

/// Mean items per second over the period.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Rates {
    #[serde(rename = "in")]
    pub received: f64,
    #[serde(rename = "out")]
    pub sent: f64,
    pub failed: f64,
}

impl Rates {
    pub(super) fn of(w: &WindowMeans, signal: Option<Signal>) -> Rates {
        let signals: &[Signal] = match &signal {
            Some(s) => std::slice::from_ref(s),
            None => &Signal::ALL,
        };
        let sum = |f: fn(Signal) -> Series| signals.iter().map(|s| w.mean(f(*s))).sum();
        Rates {
            received: sum(Series::In),
            sent: sum(Series::Out),
            failed: sum(Series::Failed),
        }
    }

    fn add(&mut self, o: Rates) {
        self.received += o.received;
        self.sent += o.sent;
        self.failed += o.failed;
    }

    fn key(&self, sort: Sort) -> f64 {
        match sort {
            Sort::In => self.received,
            Sort::Out => self.sent,
            Sort::Failed => self.failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sort {
    In,
    Out,
    Failed,
}

#[derive(Debug, Serialize)]
pub struct TopAgent {
    pub id: AgentId,
    pub name: String,
    /// `name:version` of the configuration it runs, if any.
    pub config: Option<String>,
    #[serde(flatten)]
    pub rates: Rates,
}

#[derive(Debug, Serialize)]
pub struct TopConfiguration {
    pub name: String,
    /// Agents it is assigned to (any version).
    pub agents: usize,
    /// Of those, the ones with telemetry in the period.
    pub reporting: usize,
    #[serde(flatten)]
    pub rates: Rates,
}

#[derive(Debug, Serialize)]
pub struct TopList<T> {
    /// The period in seconds.
    pub period: u64,
    pub signal: Option<Signal>,
    pub sort: &'static str,
    pub items: Vec<T>,
}

pub(super) struct Query {
    pub(super) period: u64,
    pub(super) signal: Option<Signal>,
    pub(super) sort: Sort,
    pub(super) limit: usize,
}

/// The period, signal, sort and limit of a request; `allowed` names the parameters it may
/// carry.
pub(super) fn query_of(uri: &Uri, allowed: &[&str]) -> ApiResult<Query> {
    let p = Params::parse(uri, allowed)?;
    let asked = p.str("period").unwrap_or("5m");
    let Some(&(period, _)) = crate::throughput::PERIODS
        .iter()
        .find(|(_, name)| *name == asked)
    else {
        return Err(ApiError::bad_request(format!(
            "period must be 10s, 1m, 5m or 1h, got '{asked}'"
        ))
        .field("period"));
    };
    let signal = match p.str("signal") {
        None => None,
        Some("logs") => Some(Signal::Logs),
        Some("metrics") => Some(Signal::Metrics),
        Some("traces") => Some(Signal::Traces),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "signal must be logs, metrics or traces, got '{other}'"
            ))
            .field("signal"));
        }
    };
    let sort = match p.str("sort").unwrap_or("out") {
        "in" => Sort::In,
        "out" => Sort::Out,
        "failed" => Sort::Failed,
        other => {
            return Err(ApiError::bad_request(format!(
                "sort must be in, out or failed, got '{other}'"
            ))
            .field("sort"));
        }
    };
    Ok(Query {
        period,
        signal,
        sort,
        limit: p.count("limit", 20, MAX_ROWS)?,
    })
}

pub(super) fn sort_name(s: Sort) -> &'static str {
    match s {
        Sort::In => "in",
        Sort::Out => "out",
        Sort::Failed => "failed",
    }
}

/// Busiest first; ties by name so the order is stable.
fn by_rate<T>(items: &mut [T], sort: Sort, rates: impl Fn(&T) -> Rates, name: impl Fn(&T) -> &str) {
    items.sort_by(|a, b| {
        rates(b)
            .key(sort)
            .total_cmp(&rates(a).key(sort))
            .then_with(|| name(a).cmp(name(b)))
    });
}

pub async fn agents(State(s): State<ApiState>, uri: Uri) -> ApiResult<Json<TopList<TopAgent>>> {
    let q = query_of(&uri, &["period", "signal", "sort", "limit"])?;
    let snap = s.registry.snapshot().borrow().clone();
    let now = now_sec();
    let from = now.saturating_sub(q.period - 1);
    let mut items: Vec<TopAgent> = snap
        .agents
        .iter()
        .filter_map(|a| {
            let w = s.telemetry.window_at(now, &a.id, from, now)?;
            (w.seconds > 0).then(|| TopAgent {
                id: a.id,
                name: a.name.to_string(),
                config: a.config.as_ref().map(|c| c.config.to_string()),
                rates: Rates::of(&w, q.signal),
            })
        })
        .collect();
    by_rate(&mut items, q.sort, |a| a.rates, |a| &a.name);
    items.truncate(q.limit);
    Ok(Json(TopList {
        period: q.period,
        signal: q.signal,
        sort: sort_name(q.sort),
        items,
    }))
}

pub async fn configurations(
    State(s): State<ApiState>,
    uri: Uri,
) -> ApiResult<Json<TopList<TopConfiguration>>> {
    let q = query_of(&uri, &["period", "signal", "sort", "limit"])?;
    let snap = s.registry.snapshot().borrow().clone();
    let now = now_sec();
    let from = now.saturating_sub(q.period - 1);
    let mut by_name: BTreeMap<String, TopConfiguration> = BTreeMap::new();
    for a in &snap.agents {
        let Some(c) = &a.config else { continue };
        let row = by_name
            .entry(c.config.name.to_string())
            .or_insert_with(|| TopConfiguration {
                name: c.config.name.to_string(),
                agents: 0,
                reporting: 0,
                rates: Rates::default(),
            });
        row.agents += 1;
        if let Some(w) = s.telemetry.window_at(now, &a.id, from, now)
            && w.seconds > 0
        {
            row.reporting += 1;
            row.rates.add(Rates::of(&w, q.signal));
        }
    }
    let mut items: Vec<TopConfiguration> = by_name.into_values().collect();
    by_rate(&mut items, q.sort, |c| c.rates, |c| &c.name);
    items.truncate(q.limit);
    Ok(Json(TopList {
        period: q.period,
        signal: q.signal,
        sort: sort_name(q.sort),
        items,
    }))
}
