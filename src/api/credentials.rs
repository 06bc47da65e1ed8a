//! Agents' own credentials: rotate them (`POST /credentials/rotate`), revoke an agent
//! (`POST /agents/{id}/revoke`) and lift that (`DELETE /agents/{id}/revoke`). The rules are
//! in `fleet::credentials`; the records in the store.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::agents::{find_agent, parse_selector};
use super::auth::AuditNote;
use super::params::json_body;
use super::{ApiError, ApiResult, ApiState};
use crate::fleet::AgentId;
use crate::fleet::credentials::{CredentialView, Issued};
use crate::fleet::snapshot::Connection;
use crate::opamp::credentials::CredentialError;

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Refused(r) => ApiError::conflict(r.to_string()),
            CredentialError::Store(detail) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the credential store is unavailable: {detail}"),
            ),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// A label selector (`k=v,k2!=v2`); every agent matches an empty one.
    #[serde(default)]
    pub selector: Option<String>,
    /// Agent ids (or names) instead of, or beside, a selector.
    #[serde(default)]
    pub agents: Vec<String>,
}

/// What became of one agent's rotation.
#[derive(Debug, Serialize)]
pub struct Rotated {
    pub id: AgentId,
    pub name: String,
    /// `offered` (connected: sent now), `next-connection` (offered when it connects),
    /// or `refused` (with `message`).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub credential: CredentialView,
}

#[derive(Debug, Serialize)]
pub struct RotateOutcome {
    pub items: Vec<Rotated>,
}

pub async fn rotate(State(s): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    let req: RotateRequest = json_body(&body)?;
    if req.selector.is_none() && req.agents.is_empty() {
        return Err(ApiError::unprocessable(
            "name the agents: a selector (e.g. \"env=prod\"), agent ids, or both",
        )
        .field("selector"));
    }
    let snap = s.registry.snapshot().borrow().clone();
    let mut chosen = Vec::new();
    if let Some(text) = req.selector.as_deref() {
        let selector = parse_selector(Some(text), "selector")?;
        chosen.extend(
            snap.agents
                .iter()
                .filter(|a| selector.matches(&a.labels))
                .cloned(),
        );
    }
    for key in &req.agents {
        let a = find_agent(&snap, key, "agents")?;
        if !chosen.iter().any(|c| c.id == a.id) {
            chosen.push(a);
        }
    }
    let mut items = Vec::with_capacity(chosen.len());
    for a in chosen {
        let connected = a.connection == Connection::Connected;
        let takes = crate::fleet::credentials::takes_credentials(a.capabilities);
        let (outcome, message, record) = if connected && !takes {
            let record = s.agent_auth.record(a.id).await?;
            (
                "refused",
                "the agent does not take credentials (it lacks AcceptsOpAMPConnectionSettings \
                 or ReportsConnectionSettingsStatus): it keeps the fleet secret"
                    .to_string(),
                record,
            )
        } else if connected {
            let (issued, record) = s.agent_auth.rotate(a.id, true).await?;
            match issued {
                Some(c) => match s.registry.offer_credential(a.id, Issued(c)).await {
                    Ok(()) => ("offered", String::new(), record),
                    Err(e) => {
                        // Gone meanwhile: it is offered one when it comes back.
                        let (_, record) = s.agent_auth.rotate(a.id, false).await?;
                        ("next-connection", e.to_string(), record)
                    }
                },
                None => ("refused", "the agent is revoked".to_string(), record),
            }
        } else {
            let (_, record) = s.agent_auth.rotate(a.id, false).await?;
            if record.as_ref().is_some_and(|r| r.revoked.is_some()) {
                ("refused", "the agent is revoked".to_string(), record)
            } else {
                ("next-connection", String::new(), record)
            }
        };
        items.push(Rotated {
            id: a.id,
            name: a.name.to_string(),
            outcome,
            message,
            credential: CredentialView::of(record.as_ref()),
        });
    }
    let offered = items.iter().filter(|i| i.outcome != "refused").count();
    let mut resp = Json(RotateOutcome { items }).into_response();
    resp.extensions_mut().insert(AuditNote(format!(
        "{offered} agent(s) get a new credential"
    )));
    Ok(resp)
}

/// An agent named by id (known to the fleet or not: a revoked agent may have been
/// forgotten) or by anything `find_agent` takes.
fn agent_key(s: &ApiState, key: &str) -> ApiResult<(AgentId, String)> {
    let snap = s.registry.snapshot().borrow().clone();
    match find_agent(&snap, key, "id") {
        Ok(a) => Ok((a.id, a.name.to_string())),
        Err(e) => match key.trim().parse::<AgentId>() {
            Ok(id) => Ok((id, id.short())),
            Err(_) => Err(e),
        },
    }
}

#[derive(Debug, Serialize)]
pub struct Revoked {
    pub id: AgentId,
    pub name: String,
    /// The agent was connected and has been disconnected.
    pub disconnected: bool,
    pub credential: CredentialView,
}

pub async fn revoke(
    State(s): State<ApiState>,
    Path(key): Path<String>,
    actor: Option<axum::Extension<crate::access::Actor>>,
) -> ApiResult<Response> {
    let (id, name) = agent_key(&s, &key)?;
    let by = actor.map_or_else(|| "unknown".to_string(), |a| a.name.to_string());
    let record = s.agent_auth.revoke(id, by.clone()).await?;
    let disconnected = s
        .registry
        .cut_off(id, format!("agent {id} was revoked by {by}"))
        .await;
    tracing::warn!(agent = %id, by, disconnected, "agent revoked");
    let mut resp = Json(Revoked {
        id,
        name: name.clone(),
        disconnected,
        credential: CredentialView::of(record.as_ref()),
    })
    .into_response();
    resp.extensions_mut().insert(AuditNote(format!(
        "{name}{}",
        if disconnected { " (disconnected)" } else { "" }
    )));
    Ok(resp)
}

pub async fn unrevoke(State(s): State<ApiState>, Path(key): Path<String>) -> ApiResult<Response> {
    let (id, name) = agent_key(&s, &key)?;
    let Some(record) = s.agent_auth.unrevoke(id).await? else {
        return Err(ApiError::conflict(format!("agent {name} ({id}) is not revoked")).field("id"));
    };
    Ok(Json(Revoked {
        id,
        name,
        disconnected: false,
        credential: CredentialView::of(Some(&record)),
    })
    .into_response())
}
