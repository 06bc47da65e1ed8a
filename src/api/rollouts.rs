//! `/rollouts`: start (push), status, pause, resume, cancel, rollback.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::agents::{find_agent, parse_selector};
use super::params::{json_body, unix_secs};
use super::{ApiError, ApiResult, ApiState};
use crate::rollout::{RolloutOptions, RolloutView, Targets};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRollout {
    pub config: String,
    /// Default: the latest version.
    #[serde(default)]
    pub version: Option<u64>,
    /// Agent ids (full, short, or names); or give `selector`.
    #[serde(default)]
    pub agents: Vec<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub options: Option<RolloutOptions>,
    /// Send it even to targets that lack components it uses (refused otherwise, naming them).
    #[serde(default)]
    pub force: bool,
}

/// A rollout as `GET /rollouts` and `GET /rollouts/{config}` show it: the view with how
/// many phases it takes and when it started and last changed.
#[derive(Debug, Serialize)]
pub struct RolloutItem {
    #[serde(flatten)]
    pub view: RolloutView,
    /// Phases needed to reach every target at the configured pace.
    pub phases_planned: usize,
    /// Unix seconds of the last stored change of its progress.
    pub updated_at: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct RolloutList {
    pub items: Vec<RolloutItem>,
}

fn targets(s: &ApiState, req: &StartRollout) -> ApiResult<Targets> {
    match (&req.selector, req.agents.is_empty()) {
        (Some(_), false) => Err(ApiError::unprocessable(
            "give either 'agents' or 'selector', not both",
        )
        .field("selector")),
        (None, true) => Err(ApiError::unprocessable(
            "say which agents: give 'agents' (ids) or 'selector' (labels)",
        )
        .field("agents")),
        (Some(sel), true) => {
            let selector = parse_selector(Some(sel), "selector")?;
            if selector.is_empty() {
                return Err(ApiError::unprocessable(
                    "the selector is empty; it would select every agent — give labels",
                )
                .field("selector"));
            }
            Ok(Targets::Selector(selector))
        }
        (None, false) => {
            let snap = s.registry.snapshot().borrow().clone();
            let mut ids = Vec::with_capacity(req.agents.len());
            for (i, key) in req.agents.iter().enumerate() {
                let agent = find_agent(&snap, key, &format!("agents[{i}]")).map_err(|e| {
                    // A missing agent inside a valid request body is bad content, not a
                    // missing URL resource.
                    if e.status == StatusCode::NOT_FOUND {
                        ApiError {
                            status: StatusCode::UNPROCESSABLE_ENTITY,
                            ..e
                        }
                    } else {
                        e
                    }
                })?;
                if !ids.contains(&agent.id) {
                    ids.push(agent.id);
                }
            }
            Ok(Targets::Agents(ids))
        }
    }
}

fn check_options(o: &RolloutOptions) -> ApiResult<()> {
    if o.multiplier.is_nan() || o.multiplier < 1.0 {
        return Err(ApiError::unprocessable(format!(
            "multiplier must be at least 1, got {}",
            o.multiplier
        ))
        .field("options.multiplier"));
    }
    if o.initial == 0 {
        return Err(ApiError::unprocessable("initial must be at least 1").field("options.initial"));
    }
    if o.max_per_phase == 0 {
        return Err(ApiError::unprocessable("max_per_phase must be at least 1")
            .field("options.max_per_phase"));
    }
    if let Some((field, why)) = o.watch.as_ref().and_then(|w| w.problem()) {
        return Err(ApiError::unprocessable(why).field(format!("options.watch.{field}")));
    }
    Ok(())
}

pub async fn start(
    State(s): State<ApiState>,
    body: Bytes,
) -> ApiResult<(
    StatusCode,
    axum::Extension<super::auth::AuditNote>,
    Json<RolloutView>,
)> {
    let req: StartRollout = json_body(&body)?;
    if req.config.trim().is_empty() {
        return Err(ApiError::unprocessable("'config' names no configuration").field("config"));
    }
    let options = req.options.clone().unwrap_or_default();
    check_options(&options)?;
    let targets = targets(&s, &req)?;
    let view = s
        .rollouts
        .push(&req.config, req.version, targets, options, req.force)
        .await
        .map_err(|e| {
            let e = ApiError::from(e);
            // A configuration or version that does not exist is named in the body.
            if e.status == StatusCode::NOT_FOUND && e.field.is_none() {
                ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    ..e
                }
                .field(if req.version.is_some() {
                    "version"
                } else {
                    "config"
                })
            } else {
                e
            }
        })?;
    let note = super::auth::AuditNote(format!(
        "{} to {} agent{}{}",
        view.config,
        view.progress.total,
        if view.progress.total == 1 { "" } else { "s" },
        if req.force { " (forced)" } else { "" }
    ));
    Ok((StatusCode::CREATED, axum::Extension(note), Json(view)))
}

/// Phases of `options` it takes to cover `total` agents.
fn phases_planned(options: &RolloutOptions, total: usize) -> usize {
    let mut covered = 0usize;
    let mut phases = 0;
    while covered < total {
        covered = covered.saturating_add(options.phase_size(phases));
        phases += 1;
    }
    phases
}

async fn items(s: &ApiState, views: Vec<RolloutView>) -> ApiResult<Vec<RolloutItem>> {
    let mut out = Vec::with_capacity(views.len());
    for view in views {
        let updated_at = s
            .store
            .get_rollout(&view.config.name)
            .await?
            .map(|r| unix_secs(r.updated_at));
        out.push(RolloutItem {
            phases_planned: phases_planned(&view.options, view.progress.total)
                .max(view.phases_started),
            updated_at,
            view,
        });
    }
    Ok(out)
}

pub async fn list(State(s): State<ApiState>) -> ApiResult<Json<RolloutList>> {
    let views = s.rollouts.list().await?;
    Ok(Json(RolloutList {
        items: items(&s, views).await?,
    }))
}

/// Query of `GET /rollouts/{config}`. Other parameters are ignored, as they always were.
#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    /// `false`: leave out the per-agent list (for clients that poll the counts).
    agents: Option<String>,
}

/// Reads `?agents=`: true (the default) or false.
fn with_agents(q: &StatusQuery) -> ApiResult<bool> {
    match q.agents.as_deref().map(str::trim) {
        None | Some("") | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "query parameter 'agents' must be true or false, got '{other}'"
        ))
        .field("agents")),
    }
}

pub async fn status(
    State(s): State<ApiState>,
    Path(config): Path<String>,
    uri: Uri,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = Query::<StatusQuery>::try_from_uri(&uri)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {e}")))?;
    let with_agents = with_agents(&q)?;
    let view = if with_agents {
        s.rollouts.status(&config).await
    } else {
        s.rollouts.summary(&config).await
    }
    .map_err(|e| ApiError::from(e).field("config"))?;
    let item = items(&s, vec![view])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("the rollout vanished while being read"))?;
    let mut body = serde_json::to_value(&item)
        .map_err(|e| ApiError::internal(format!("cannot encode the rollout: {e}")))?;
    if !with_agents && let Some(fields) = body.as_object_mut() {
        fields.remove("agents");
    }
    Ok(Json(body))
}

pub async fn steer(
    State(s): State<ApiState>,
    Path((config, action)): Path<(String, String)>,
) -> ApiResult<Json<RolloutView>> {
    let r = &s.rollouts;
    let view = match action.as_str() {
        "pause" => r.pause(&config).await,
        "resume" => r.resume(&config).await,
        "cancel" => r.cancel(&config).await,
        "rollback" => r.rollback(&config).await,
        other => {
            return Err(ApiError::not_found(format!(
                "no rollout action '{other}' (pause, resume, cancel, rollback)"
            ))
            .field("action"));
        }
    };
    Ok(Json(view.map_err(|e| ApiError::from(e).field("config"))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_planned_follow_the_growth_and_the_cap() {
        let o = RolloutOptions::default(); // 3, ×5, at most 1000
        assert_eq!(phases_planned(&o, 0), 0);
        assert_eq!(phases_planned(&o, 3), 1);
        assert_eq!(phases_planned(&o, 4), 2); // 3 + 15
        assert_eq!(phases_planned(&o, 18), 2);
        assert_eq!(phases_planned(&o, 19), 3); // 3 + 15 + 75
        assert_eq!(phases_planned(&o, 94), 4); // … + 375
        assert_eq!(phases_planned(&o, 1468), 5); // … + 1000 (1875 capped)
        assert_eq!(phases_planned(&o, 1469), 6);
        assert_eq!(phases_planned(&RolloutOptions::all_at_once(), 19_000), 1);
    }
}
