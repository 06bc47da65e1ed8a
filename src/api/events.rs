//! `/events`: the stored event history, newest first.

use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde::Serialize;
use serde_json::Value;

use super::agents::find_agent;
use super::params::Params;
use super::{ApiResult, ApiState};
use crate::fleet::AgentId;
use crate::store::EventQuery;

pub const MAX_EVENTS: usize = 10_000;

#[derive(Debug, Serialize)]
pub struct EventView {
    pub seq: u64,
    /// Unix seconds, with milliseconds.
    pub at: f64,
    pub kind: String,
    pub agent: Option<AgentId>,
    pub payload: Value,
}

#[derive(Debug, Serialize)]
pub struct EventList {
    pub items: Vec<EventView>,
}

pub async fn list(State(s): State<ApiState>, uri: Uri) -> ApiResult<Json<EventList>> {
    let p = Params::parse(&uri, &["limit", "agent", "since", "actor"])?;
    let limit = p.count("limit", 100, MAX_EVENTS)?;
    let mut query = match p.u64("since")? {
        Some(secs) => EventQuery::since(UNIX_EPOCH + Duration::from_secs(secs), limit),
        None => EventQuery::newest(limit),
    };
    if let Some(key) = p.str("agent") {
        let id = match key.parse::<AgentId>() {
            // Events outlive agents: a full id is taken as is, even if the agent is gone.
            Ok(id) => id,
            Err(_) => {
                let snap = s.registry.snapshot().borrow().clone();
                find_agent(&snap, key, "agent")?.id
            }
        };
        query = query.for_agent(id);
    }
    if let Some(actor) = p.str("actor") {
        query = query.by_actor(actor);
    }
    let events = s.store.query_events(query).await?;
    Ok(Json(EventList {
        items: events
            .into_iter()
            .map(|e| EventView {
                seq: e.seq,
                at: e
                    .at
                    .duration_since(UNIX_EPOCH)
                    .map(|d| (d.as_millis() as f64) / 1000.0)
                    .unwrap_or(0.0),
                kind: e.kind,
                agent: e.agent,
                payload: serde_json::from_str(&e.payload_json)
                    .unwrap_or(Value::String(e.payload_json)),
            })
            .collect(),
    }))
}
