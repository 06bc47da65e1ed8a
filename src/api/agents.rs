//! `/agents`: list with a label selector and paging, one agent with its full state and
//! throughput series, its apply history, labels, restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::params::{Params, json_body, unix_secs};
use super::{ApiError, ApiResult, ApiState};
use crate::fleet::AgentId;
use crate::fleet::agent::ConfigMap;
use crate::fleet::attempt::{ApplyAttempt, KEPT_PER_AGENT};
use crate::fleet::delivery::ApplyState;
use crate::fleet::selector::{Requirement, Selector};
use crate::fleet::snapshot::{AgentView, Connection, FleetSnapshot};
use crate::fleet::telemetry::{Resolution, Series, Signal, TelemetryStore};
use crate::pipeline::Redactor;
use crate::rollout::ForgetError;

pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

/// One row of the agent list: what a table shows, without the heavy parts (effective
/// config bodies, component health trees) that `GET /agents/{id}` returns.
#[derive(Debug, Serialize)]
pub struct AgentSummary {
    pub id: AgentId,
    pub short_id: String,
    pub name: String,
    pub host: String,
    pub version: String,
    pub os: String,
    pub connection: Connection,
    pub transport: Option<crate::fleet::Transport>,
    pub healthy: Option<bool>,
    pub labels: BTreeMap<String, String>,
    /// The labels among `labels` that an operator set (absent when none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub operator_labels: BTreeMap<String, String>,
    pub config: Option<AgentConfigSummary>,
    /// Unix seconds.
    pub last_seen: u64,
}

#[derive(Debug, Serialize)]
pub struct AgentConfigSummary {
    pub name: String,
    pub version: u64,
    pub state: ApplyState,
    pub error: String,
    /// `push` or `selector`: who sent it.
    pub origin: &'static str,
}

impl AgentSummary {
    pub fn of(a: &AgentView) -> Self {
        AgentSummary {
            id: a.id,
            short_id: a.id.short(),
            name: a.name.to_string(),
            host: a.host.to_string(),
            version: a.version.to_string(),
            os: a.os.to_string(),
            connection: a.connection,
            transport: a.transport,
            healthy: a.healthy(),
            labels: a.labels.to_map(),
            operator_labels: a.labels.operator_map(),
            config: a.config.as_ref().map(|c| AgentConfigSummary {
                name: c.config.name.to_string(),
                version: c.config.version,
                state: c.state,
                error: c.error.clone(),
                origin: c.origin,
            }),
            last_seen: unix_secs(a.last_seen),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AgentPage {
    pub items: Vec<AgentSummary>,
    /// Agents matching the selector, over all pages.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
}

pub async fn list(State(s): State<ApiState>, uri: Uri) -> ApiResult<Json<AgentPage>> {
    let p = Params::parse(&uri, &["selector", "offset", "limit"])?;
    let selector = parse_selector(p.str("selector"), "selector")?;
    let offset = p.count("offset", 0, usize::MAX)?;
    let limit = p.count("limit", DEFAULT_PAGE, MAX_PAGE)?;
    let snap = s.registry.snapshot().borrow().clone();
    let matching: Vec<&Arc<AgentView>> = snap
        .agents
        .iter()
        .filter(|a| selector.matches(&a.labels))
        .collect();
    Ok(Json(AgentPage {
        total: matching.len(),
        items: matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|a| AgentSummary::of(a))
            .collect(),
        offset,
        limit,
    }))
}

pub fn parse_selector(text: Option<&str>, field: &str) -> ApiResult<Selector> {
    text.unwrap_or("")
        .parse::<Selector>()
        .map_err(|e| ApiError::unprocessable(e.to_string()).field(field))
}

/// Finds an agent by full id, short id (the last 8 hex digits, as tables show), an id
/// prefix, its display name, or its host (an agent named `gateway@edge-1` is found by
/// `edge-1` while it is the only one there) — refusing ambiguous keys with the candidates
/// named.
pub fn find_agent(snap: &FleetSnapshot, key: &str, field: &str) -> ApiResult<Arc<AgentView>> {
    let key = key.trim();
    if let Ok(id) = key.parse::<AgentId>() {
        return snap
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no agent with id {id}")).field(field));
    }
    let lower = key.to_ascii_lowercase();
    let by_id: Vec<&Arc<AgentView>> = snap
        .agents
        .iter()
        .filter(|a| {
            lower.len() >= 4
                && (a.id.short() == lower
                    || a.id.to_string().starts_with(&lower)
                    || hex::encode(a.id.as_bytes()).starts_with(&lower))
        })
        .collect();
    let found = if by_id.is_empty() {
        let by_name: Vec<_> = snap.agents.iter().filter(|a| a.name == key).collect();
        if by_name.is_empty() {
            snap.agents.iter().filter(|a| a.host == key).collect()
        } else {
            by_name
        }
    } else {
        by_id
    };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ApiError::not_found(format!(
            "no agent matches '{key}' (give its id, the short id a listing shows, its name or its host)"
        ))
        .field(field)),
        many => {
            let names: Vec<String> = many
                .iter()
                .take(10)
                .map(|a| format!("{} ({})", a.id, a.name))
                .collect();
            Err(ApiError::conflict(format!(
                "'{key}' matches {} agents: {}{}; give the full id",
                many.len(),
                names.join(", "),
                if many.len() > 10 { ", …" } else { "" }
            ))
            .field(field))
        }
    }
}

/// One agent: everything the registry knows, plus its throughput series.
#[derive(Serialize)]
pub struct AgentDetail {
    pub agent: Arc<AgentView>,
    pub telemetry: AgentTelemetry,
    /// Own telemetry the receiver refused lately (no or wrong credentials): why, how
    /// many requests, first and last (Unix seconds). Absent while all gets through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_telemetry_refused: Option<crate::fleet::refusals::Refused>,
    /// Where the agent's own credentials stand (enrolled, rotating, revoked, and when).
    pub credential: crate::fleet::credentials::CredentialView,
}

/// The agent's own telemetry as the OTLP receiver turned it into rates (empty series
/// until the agent sends its self-metrics).
#[derive(Debug, Serialize)]
pub struct AgentTelemetry {
    pub resolution: Resolution,
    /// Points asked for per series (oldest first; fewer when the agent started recently).
    pub points: usize,
    pub series: BTreeMap<&'static str, SeriesView>,
}

#[derive(Debug, Serialize)]
pub struct SeriesView {
    /// The current rate, or null when the agent has not reported lately.
    pub latest: Option<f64>,
    pub points: Vec<f64>,
}

/// Stable names for the series: `<signal>_<in|out|failed>`, `cpu`, `memory`.
pub fn series_name(s: Series) -> &'static str {
    match s {
        Series::In(Signal::Logs) => "logs_in",
        Series::In(Signal::Metrics) => "metrics_in",
        Series::In(Signal::Traces) => "traces_in",
        Series::Out(Signal::Logs) => "logs_out",
        Series::Out(Signal::Metrics) => "metrics_out",
        Series::Out(Signal::Traces) => "traces_out",
        Series::Failed(Signal::Logs) => "logs_failed",
        Series::Failed(Signal::Metrics) => "metrics_failed",
        Series::Failed(Signal::Traces) => "traces_failed",
        Series::Cpu => "cpu",
        Series::Memory => "memory",
    }
}

fn telemetry_of(
    store: &TelemetryStore,
    id: &AgentId,
    resolution: Resolution,
    points: usize,
) -> AgentTelemetry {
    let series = Series::ALL
        .iter()
        .map(|&s| {
            let mut out = Vec::with_capacity(points);
            store.tail(id, s, resolution, points, &mut out);
            (
                series_name(s),
                SeriesView {
                    latest: store.latest(id, s),
                    points: out,
                },
            )
        })
        .collect();
    AgentTelemetry {
        resolution,
        points,
        series,
    }
}

pub async fn show(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<AgentDetail>> {
    let p = Params::parse(&uri, &["points", "resolution"])?;
    let points = p.count("points", 60, crate::fleet::telemetry::TEN_SECOND_POINTS)?;
    let resolution = match p.str("resolution").unwrap_or("second") {
        "second" | "1s" => Resolution::Second,
        "ten_seconds" | "10s" => Resolution::TenSeconds,
        other => {
            return Err(ApiError::bad_request(format!(
                "resolution must be 'second' or 'ten_seconds', got '{other}'"
            ))
            .field("resolution"));
        }
    };
    let snap = s.registry.snapshot().borrow().clone();
    let agent = hide_secrets(find_agent(&snap, &id, "id")?, &s.catalog.redactor());
    let telemetry = telemetry_of(&s.telemetry, &agent.id, resolution, points);
    let own_telemetry_refused = s.telemetry.refusals().get(&agent.id);
    // The fleet view does not wait for a store that is away: the state is then unknown.
    let record = s.agent_auth.record(agent.id).await.ok().flatten();
    Ok(Json(AgentDetail {
        credential: crate::fleet::credentials::CredentialView::of(record.as_ref()),
        agent,
        telemetry,
        own_telemetry_refused,
    }))
}

/// The agent with the secrets it was sent hidden in the effective configuration it reports.
fn hide_secrets(agent: Arc<AgentView>, hide: &Redactor) -> Arc<AgentView> {
    let Some(cfg) = &agent.effective_config else {
        return agent;
    };
    let masked = redact_config(cfg, hide);
    if masked == **cfg {
        return agent;
    }
    let mut shown = (*agent).clone();
    shown.effective_config = Some(Arc::new(masked));
    Arc::new(shown)
}

/// A configuration map with known secrets hidden in its text files.
pub fn redact_config(cfg: &ConfigMap, hide: &Redactor) -> ConfigMap {
    let mut out = cfg.clone();
    for file in out.files.values_mut() {
        if let Ok(text) = std::str::from_utf8(&file.body)
            && let std::borrow::Cow::Owned(masked) = hide.mask(text)
        {
            file.body = masked.into_bytes();
        }
    }
    out
}

/// An agent's apply history: every configuration version assigned to it and what became
/// of it, newest first.
/// `GET /agents/{id}/throughput`: each component of the agent's Collector now.
pub async fn throughput(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<crate::throughput::AgentThroughput>> {
    Params::parse(&uri, &[])?;
    let snap = s.registry.snapshot().borrow().clone();
    let agent = find_agent(&snap, &id, "id")?;
    Ok(Json(
        crate::throughput::agent(&s.catalog, &agent, &s.telemetry).await,
    ))
}

#[derive(Debug, Serialize)]
pub struct AgentHistory {
    pub id: AgentId,
    pub name: String,
    pub items: Vec<ApplyAttempt>,
}

/// `GET /agents/{id}/history?limit=N`: the newest `limit` attempts (all that are kept by
/// default).
pub async fn history(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<AgentHistory>> {
    let p = Params::parse(&uri, &["limit"])?;
    let limit = p.count("limit", KEPT_PER_AGENT, KEPT_PER_AGENT)?;
    let snap = s.registry.snapshot().borrow().clone();
    let agent = find_agent(&snap, &id, "id")?;
    // What the registry has written behind is read too: an answer the agent just gave
    // (the snapshot shows it) is in its history. A store that cannot take writes still
    // answers with what it holds (the write-behind logs the failure and retries).
    if let Some(w) = &s.write_behind
        && let Err(e) = w.flush().await
    {
        tracing::debug!(error = %e, "apply history read without the latest attempts");
    }
    let items = s.store.agent_history(agent.id, limit).await?;
    Ok(Json(AgentHistory {
        id: agent.id,
        name: agent.name.to_string(),
        items,
    }))
}

#[derive(Debug, Serialize)]
pub struct Forgotten {
    pub id: AgentId,
    pub name: String,
}

/// Forgets a decommissioned agent. Refused (409) while it is connected, or while an
/// unfinished rollout still counts on it, naming the rollout.
pub async fn forget(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Forgotten>> {
    let snap = s.registry.snapshot().borrow().clone();
    let agent = find_agent(&snap, &id, "id")?;
    let name = crate::rollout::forget_agent(&s.registry, &s.rollouts, agent.id, &agent.name)
        .await
        .map_err(|e| match e {
            ForgetError::InRollout { .. } => ApiError::conflict(e.to_string()).field("id"),
            ForgetError::Command(c) => ApiError::from(c),
            ForgetError::Rollouts(r) => ApiError::from(r),
        })?;
    s.durable().await?;
    Ok(Json(Forgotten { id: agent.id, name }))
}

#[derive(Debug, Serialize)]
pub struct LabelsView {
    pub id: AgentId,
    /// Labels from the agent's description merged with operator labels (operator wins).
    pub labels: BTreeMap<String, String>,
}

pub async fn labels(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<LabelsView>> {
    let snap = s.registry.snapshot().borrow().clone();
    let agent = find_agent(&snap, &id, "id")?;
    Ok(Json(LabelsView {
        id: agent.id,
        labels: agent.labels.to_map(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelChange {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct LabelsChanged {
    pub id: AgentId,
    /// The operator-set labels after the change.
    pub operator_labels: BTreeMap<String, String>,
}

/// Checks a label against the selector grammar, so every label set can be selected on.
fn check_label(key: &str, value: Option<&str>, field: String) -> ApiResult<()> {
    let text = match value {
        Some(v) => format!("{key}={v}"),
        None => key.to_string(),
    };
    let ok = match text.parse::<Selector>() {
        Ok(Selector(reqs)) => match (reqs.as_slice(), value) {
            ([Requirement::Equals(k, v)], Some(want)) => k == key && v == want,
            ([Requirement::Exists(k)], None) => k == key,
            _ => false,
        },
        Err(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "bad label '{text}': keys use letters, digits, '.', '-', '_' and '/'; values also ':'"
        ))
        .field(field))
    }
}

pub async fn set_labels(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<LabelsChanged>> {
    let change: LabelChange = json_body(&body)?;
    if change.set.is_empty() && change.remove.is_empty() {
        return Err(ApiError::unprocessable(
            "nothing to change: give 'set' or 'remove'",
        ));
    }
    for (k, v) in &change.set {
        check_label(k, Some(v), format!("set.{k}"))?;
    }
    for (i, k) in change.remove.iter().enumerate() {
        check_label(k, None, format!("remove[{i}]"))?;
        if change.set.contains_key(k) {
            return Err(
                ApiError::unprocessable(format!("label '{k}' is both set and removed"))
                    .field(format!("remove[{i}]")),
            );
        }
    }
    let mut rx = s.registry.snapshot();
    let snap = rx.borrow_and_update().clone();
    let agent = find_agent(&snap, &id, "id")?;
    let operator_labels = s
        .registry
        .label(agent.id, change.set.clone(), change.remove)
        .await?;
    s.durable().await?;
    wait_for_labels(&mut rx, snap.version, &agent.id, &change.set).await;
    Ok(Json(LabelsChanged {
        id: agent.id,
        operator_labels,
    }))
}

/// Waits (briefly) until a snapshot shows the change, so a `get` right after a `label`
/// sees it: the registry publishes snapshots a few times a second, not on every change.
async fn wait_for_labels(
    rx: &mut tokio::sync::watch::Receiver<Arc<FleetSnapshot>>,
    before: u64,
    id: &AgentId,
    set: &BTreeMap<String, String>,
) {
    let shows = |snap: &FleetSnapshot| {
        snap.version > before
            && snap.get(id).is_some_and(|a| {
                set.iter()
                    .all(|(k, v)| a.labels.get(k).is_some_and(|have| have == v))
            })
    };
    let wait = async {
        loop {
            if shows(&rx.borrow_and_update()) {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), wait).await;
}

#[derive(Debug, Serialize)]
pub struct RestartAccepted {
    pub id: AgentId,
    pub name: String,
}

pub async fn restart(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<RestartAccepted>)> {
    let snap = s.registry.snapshot().borrow().clone();
    let agent = find_agent(&snap, &id, "id")?;
    s.registry.restart(agent.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RestartAccepted {
            id: agent.id,
            name: agent.name.to_string(),
        }),
    ))
}

/// What `GET /agents/{id}/tap` answers: the newest items one of the agent's pipelines
/// handles, with every pipeline it taps.
#[derive(Debug, Serialize)]
pub struct TapView {
    pub id: AgentId,
    pub name: String,
    pub pipeline: Option<String>,
    pub signal: Option<crate::fleet::tap::TapSignal>,
    pub pipelines: Vec<crate::fleet::tap::TapPipeline>,
    /// Oldest first.
    pub items: Vec<crate::fleet::tap::TapItem>,
    /// Items left out to stay within the answer's limits (64 KiB, `limit`).
    pub left_out: usize,
    /// What the agent noted (e.g. export requests it could not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `GET /agents/{id}/tap?signal=&pipeline=&limit=&after=`: asks the agent over OpAMP and
/// waits for its answer (seconds over WebSocket, up to a poll interval over HTTP).
pub async fn tap(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<TapView>> {
    use crate::fleet::tap::{DEFAULT_LIMIT, MAX_LIMIT, TapRequest, TapSignal};
    let p = Params::parse(&uri, &["signal", "pipeline", "limit", "after"])?;
    let signal = p
        .str("signal")
        .map(|v| {
            v.parse::<TapSignal>()
                .map_err(|e| ApiError::bad_request(e).field("signal"))
        })
        .transpose()?;
    let pipeline = p
        .str("pipeline")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    if pipeline.as_ref().is_some_and(|v| v.len() > 256) {
        return Err(
            ApiError::bad_request("pipeline names are at most 256 bytes").field("pipeline"),
        );
    }
    let limit = p.count("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = p.u64("after")?;
    let snap = s.registry.snapshot().borrow().clone();
    let agent = find_agent(&snap, &id, "id")?;
    let mut answer = s
        .registry
        .tap(
            agent.id,
            TapRequest {
                id: 0,
                signal,
                pipeline,
                limit: limit.max(1),
                after,
            },
        )
        .await?;
    // Values of sensitive parameters are masked as everywhere else (keys that name a
    // secret were masked by the agent).
    let redactor = s.catalog.redactor();
    answer.mask_strings(&|text| match redactor.mask(text) {
        std::borrow::Cow::Owned(m) => Some(m),
        std::borrow::Cow::Borrowed(_) => None,
    });
    if limit == 0 {
        answer.left_out += answer.items.len();
        answer.items.clear();
    }
    Ok(Json(TapView {
        id: agent.id,
        name: agent.name.to_string(),
        pipeline: answer.pipeline,
        signal: answer.signal,
        pipelines: answer.pipelines,
        items: answer.items,
        left_out: answer.left_out,
        note: answer.error,
    }))
}
