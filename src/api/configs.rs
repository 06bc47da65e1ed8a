//! `/configurations`, `/apply` and `/resources`: configurations with their versions, diffs
//! and renders; applying YAML resources; deleting resources nobody uses.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::agents::find_agent;
use super::params::{Params, unix_secs};
use super::{ApiError, ApiResult, ApiState};
use crate::catalog::{ApplyStatus, CONFIGURATION, DESTINATION, StoredConfig, canonical_kind};
use crate::fleet::AgentId;
use crate::pipeline::{self, Configuration, DiffLine, Resource, TypeKind, TypeRegistry};
use crate::rollout::RolloutView;

#[derive(Debug, Serialize)]
pub struct ConfigSummary {
    pub name: String,
    pub version: u64,
    pub labels: BTreeMap<String, String>,
    /// Source types, in order.
    pub sources: Vec<String>,
    /// Destination types or names, in order.
    pub destinations: Vec<String>,
    /// Agents this configuration (any version) is assigned to.
    pub agents: usize,
    /// The status of its latest rollout, if it had one since the server started.
    pub rollout: Option<String>,
    /// Unix seconds.
    pub updated_at: u64,
}

#[derive(Debug, Serialize)]
pub struct ConfigList {
    pub items: Vec<ConfigSummary>,
}

#[derive(Debug, Serialize)]
pub struct ConfigDetail {
    #[serde(flatten)]
    pub summary: ConfigSummary,
    pub created_at: u64,
    pub hash: String,
    /// The resource as applied (secrets masked unless the token is an admin's).
    pub resource: Value,
    /// The resource as YAML; applying it again reports `unchanged` (for admins: others
    /// get secrets masked, and `secrets_masked` says so).
    pub yaml: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secrets_masked: bool,
    pub assigned_agents: Vec<AgentId>,
}

fn destination_label(d: &pipeline::config::DestinationRef) -> String {
    d.name
        .clone()
        .or_else(|| d.type_name.clone())
        .unwrap_or_default()
}

fn summary(
    c: &StoredConfig,
    assigned: &BTreeMap<String, Vec<AgentId>>,
    rollouts: &[RolloutView],
) -> ConfigSummary {
    let name = c.config.name().to_string();
    ConfigSummary {
        version: c.version,
        labels: c.config.metadata.labels.clone(),
        sources: c
            .config
            .spec
            .sources
            .iter()
            .map(|s| s.type_name.clone())
            .collect(),
        destinations: c
            .config
            .spec
            .destinations
            .iter()
            .map(destination_label)
            .collect(),
        agents: assigned.get(&name).map_or(0, Vec::len),
        rollout: rollouts
            .iter()
            .find(|r| *r.config.name == *name)
            .map(|r| format!("{} ({})", r.status, r.config)),
        updated_at: unix_secs(c.doc.updated_at),
        name,
    }
}

/// Which agents have which configuration assigned, by configuration name.
fn assignments(s: &ApiState) -> BTreeMap<String, Vec<AgentId>> {
    let snap = s.registry.snapshot().borrow().clone();
    let mut out: BTreeMap<String, Vec<AgentId>> = BTreeMap::new();
    for a in &snap.agents {
        if let Some(c) = &a.config {
            out.entry(c.config.name.to_string()).or_default().push(a.id);
        }
    }
    out
}

pub async fn list(State(s): State<ApiState>, uri: Uri) -> ApiResult<Json<ConfigList>> {
    Params::parse(&uri, &[])?;
    let configs = s.catalog.configurations().await?;
    let assigned = assignments(&s);
    let rollouts = s.rollouts.list().await?;
    Ok(Json(ConfigList {
        items: configs
            .iter()
            .map(|c| summary(c, &assigned, &rollouts))
            .collect(),
    }))
}

fn version_param(p: &Params) -> ApiResult<Option<u64>> {
    p.u64("version")
}

pub async fn show(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    actor: Option<axum::Extension<crate::access::Actor>>,
    uri: Uri,
) -> ApiResult<Json<ConfigDetail>> {
    let p = Params::parse(&uri, &["version"])?;
    let c = s
        .catalog
        .configuration(&name, version_param(&p)?)
        .await
        .map_err(|e| ApiError::from(e).field("name"))?;
    let assigned = assignments(&s);
    let rollouts = s.rollouts.list().await?;
    let mut yaml = Resource::Configuration(c.config.clone())
        .to_yaml()
        .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", c.config.label())))?;
    let mut resource = serde_json::to_value(&c.config)
        .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", c.config.label())))?;
    let secrets_masked = !super::auth::sees_secrets(actor.as_ref());
    if secrets_masked {
        let redactor = s.catalog.redactor();
        yaml = redactor.mask(&yaml).into_owned();
        super::auth::mask_json(&mut resource, &redactor);
    }
    Ok(Json(ConfigDetail {
        summary: summary(&c, &assigned, &rollouts),
        created_at: unix_secs(c.doc.created_at),
        hash: c.doc.hash.clone(),
        assigned_agents: assigned.get(&name).cloned().unwrap_or_default(),
        resource,
        yaml,
        secrets_masked,
    }))
}

#[derive(Debug, Serialize)]
pub struct VersionInfo {
    pub version: u64,
    pub updated_at: u64,
    pub hash: String,
    /// Lines of the Collector YAML it renders to.
    pub lines: usize,
}

#[derive(Debug, Serialize)]
pub struct VersionList {
    pub name: String,
    /// Oldest first.
    pub items: Vec<VersionInfo>,
}

pub async fn versions(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<VersionList>> {
    let versions = s
        .catalog
        .versions(&name)
        .await
        .map_err(|e| ApiError::from(e).field("name"))?;
    Ok(Json(VersionList {
        name,
        items: versions
            .iter()
            .map(|v| VersionInfo {
                version: v.version,
                updated_at: unix_secs(v.doc.updated_at),
                hash: v.doc.hash.clone(),
                lines: v.rendered.lines().count(),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize)]
pub struct DiffView {
    pub from: String,
    pub to: String,
    pub changed: bool,
    pub lines: Vec<DiffLineView>,
}

#[derive(Debug, Serialize)]
pub struct DiffLineView {
    /// `" "` kept, `"+"` added, `"-"` removed.
    pub op: String,
    pub text: String,
}

fn diff_view(from: String, to: String, lines: Vec<DiffLine>) -> DiffView {
    DiffView {
        changed: lines.iter().any(|l| !matches!(l, DiffLine::Same(_))),
        lines: lines
            .iter()
            .map(|l| DiffLineView {
                op: l.marker().to_string(),
                text: l.text().to_string(),
            })
            .collect(),
        from,
        to,
    }
}

/// Between two versions (`from`, `to`; default: the latest and the one before), or between
/// a version (default: the one assigned to the agent, else the latest) and what `agent`
/// reports it runs.
pub async fn diff(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Json<DiffView>> {
    let p = Params::parse(&uri, &["from", "to", "agent", "version"])?;
    if let Some(key) = p.str("agent") {
        let snap = s.registry.snapshot().borrow().clone();
        let agent = find_agent(&snap, key, "agent")?;
        let version = match p.u64("version")? {
            Some(v) => Some(v),
            None => agent
                .config
                .as_ref()
                .filter(|c| *c.config.name == *name)
                .map(|c| c.config.version),
        };
        let c = s
            .catalog
            .configuration(&name, version)
            .await
            .map_err(|e| ApiError::from(e).field("version"))?;
        let body = agent
            .effective_config
            .as_ref()
            .and_then(|m| m.main_body())
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "agent {} ({}) has not reported an effective configuration",
                    agent.name, agent.id
                ))
                .field("agent")
            })?;
        let effective = String::from_utf8_lossy(body);
        let hide = s.catalog.redactor();
        return Ok(Json(diff_view(
            format!("{name}:{}", c.version),
            format!("agent {} effective config", agent.id),
            pipeline::diff(&hide.mask(&c.rendered), &hide.mask(&effective)),
        )));
    }
    let to = match p.u64("to")? {
        Some(v) => v,
        None => {
            s.catalog
                .configuration(&name, None)
                .await
                .map_err(|e| ApiError::from(e).field("name"))?
                .version
        }
    };
    let from = match p.u64("from")? {
        Some(v) => v,
        None if to > 1 => to - 1,
        None => {
            return Err(ApiError::unprocessable(format!(
                "'{name}' has only version {to}; give 'from' to compare with"
            ))
            .field("from"));
        }
    };
    let lines = s
        .catalog
        .diff(&name, from, to)
        .await
        .map_err(|e| ApiError::from(e).field("from"))?;
    Ok(Json(diff_view(
        format!("{name}:{from}"),
        format!("{name}:{to}"),
        lines,
    )))
}

#[derive(Debug, Serialize)]
pub struct RenderView {
    pub name: String,
    pub version: u64,
    /// Collector YAML with sensitive parameters masked.
    pub yaml: String,
}

pub async fn render(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Json<RenderView>> {
    let p = Params::parse(&uri, &["version"])?;
    let c = s
        .catalog
        .configuration(&name, version_param(&p)?)
        .await
        .map_err(|e| ApiError::from(e).field("name"))?;
    Ok(Json(RenderView {
        name,
        version: c.version,
        yaml: s.catalog.masked_rendering(&c).await,
    }))
}

/// Applies multi-document YAML (the body). Each resource gets its own result; the answer
/// is 422 when any was invalid (the others were still applied, as `fleetdeck apply` shows).
pub async fn apply(
    State(s): State<ApiState>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<(
    StatusCode,
    axum::Extension<super::auth::AuditNote>,
    Json<Value>,
)> {
    let p = Params::parse(&uri, &["file"])?;
    let file = p.str("file");
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not UTF-8 text: {e}")))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; send YAML resources",
        ));
    }
    let results = s.catalog.apply_text(text, file).await.map_err(|problems| {
        let list: Vec<Value> = problems.iter().map(|p| p.to_string().into()).collect();
        ApiError::unprocessable(format!(
            "{} cannot be read: {}",
            file.unwrap_or("the request body"),
            problems.first().map(|p| p.to_string()).unwrap_or_default()
        ))
        .with("problems", list)
    })?;
    let invalid = results
        .iter()
        .filter(|r| r.status == ApplyStatus::Invalid)
        .count();
    // What the audit event says changed: each resource, its new version or "unchanged".
    let note = results
        .iter()
        .map(|r| match (r.status, r.version) {
            (ApplyStatus::Created | ApplyStatus::Configured, Some(v)) => {
                format!("{}/{} {} (v{v})", r.kind, r.name, r.status)
            }
            _ => format!("{}/{} {}", r.kind, r.name, r.status),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let note = axum::Extension(super::auth::AuditNote(note));
    let mut body = serde_json::json!({ "results": results });
    if invalid > 0 {
        body["error"] = format!("{invalid} of {} resources are invalid", results.len()).into();
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, note, Json(body)));
    }
    Ok((StatusCode::OK, note, Json(body)))
}

/// Who still uses a resource: agents and rollouts for a configuration; configurations
/// (and destinations) for a destination or a type. A type that shadows a built-in one
/// has no users to protect: deleting it brings the built-in back.
async fn users_of(s: &ApiState, kind: &str, name: &str) -> ApiResult<Vec<String>> {
    let mut users = Vec::new();
    if kind == CONFIGURATION {
        let snap = s.registry.snapshot().borrow().clone();
        for a in &snap.agents {
            if let Some(c) = a.config.as_ref().filter(|c| *c.config.name == *name) {
                users.push(format!("agent {} ({}, {})", a.name, a.id.short(), c.config));
            }
        }
        for r in s.rollouts.list().await? {
            if *r.config.name == *name && !r.status.finished() {
                users.push(format!("rollout of {} ({})", r.config, r.status));
            }
        }
        return Ok(users);
    }
    let configs = s.catalog.configurations().await?;
    if kind == DESTINATION {
        users.extend(
            super::destinations::configurations_using(&configs, name)
                .into_iter()
                .map(|c| format!("configuration {c}")),
        );
        return Ok(users);
    }
    let Some(tk) = TypeKind::from_kind_name(kind) else {
        return Ok(users);
    };
    if TypeRegistry::builtin().get(tk, name).is_some() {
        return Ok(users);
    }
    for c in &configs {
        if config_uses_type(&c.config, tk, name) {
            users.push(format!("configuration {}", c.config.name()));
        }
    }
    if tk == TypeKind::Destination {
        for doc in s.store.list_kind(DESTINATION).await? {
            let uses = serde_json::from_str::<pipeline::Destination>(&doc.spec_json)
                .is_ok_and(|d| d.spec.type_name == name);
            if uses {
                users.push(format!("destination {}", doc.name));
            }
        }
    }
    Ok(users)
}

fn config_uses_type(c: &Configuration, kind: TypeKind, name: &str) -> bool {
    let spec = &c.spec;
    match kind {
        TypeKind::Source => spec.sources.iter().any(|s| s.type_name == name),
        TypeKind::Destination => spec
            .destinations
            .iter()
            .any(|d| d.type_name.as_deref() == Some(name)),
        TypeKind::Processor => spec
            .processors
            .iter()
            .chain(spec.sources.iter().flat_map(|s| s.processors.iter()))
            .chain(spec.destinations.iter().flat_map(|d| d.processors.iter()))
            .any(|p| p.type_name == name),
    }
}

#[derive(Debug, Serialize)]
pub struct Deleted {
    pub kind: String,
    pub name: String,
}

async fn delete_kind(s: &ApiState, kind: &'static str, name: &str) -> ApiResult<Json<Deleted>> {
    let users = users_of(s, kind, name).await?;
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "{kind} '{name}' is in use and was not deleted: used by {}",
            users.join(", ")
        ))
        .with("users", users));
    }
    s.catalog
        .delete(kind, name, Vec::new())
        .await
        .map_err(|e| ApiError::from(e).field("name"))?;
    if kind == CONFIGURATION {
        s.store.delete_rollout(name).await?;
    }
    Ok(Json(Deleted {
        kind: kind.to_string(),
        name: name.to_string(),
    }))
}

pub async fn delete(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Deleted>> {
    delete_kind(&s, CONFIGURATION, &name).await
}

pub async fn delete_resource(
    State(s): State<ApiState>,
    Path((kind, name)): Path<(String, String)>,
) -> ApiResult<Json<Deleted>> {
    let k = canonical_kind(&kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown kind '{kind}' (configuration, destination, source-type, processor-type, destination-type)"
        ))
        .field("kind")
    })?;
    delete_kind(&s, k, &name).await
}
