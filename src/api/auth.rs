//! In front of every route: who the bearer token belongs to, whether their role allows
//! the request, and, for a change that succeeded, an audit event naming them.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState, BASE_PATH};
use crate::access::Role;
use crate::fleet::events::EventKind;

/// What a handler adds to the audit event of its change (e.g. what an apply changed).
#[derive(Debug, Clone)]
pub struct AuditNote(pub String);

/// Lets the request through only with `Authorization: Bearer <token>` of a known token
/// whose role allows it; records changes that succeeded.
pub async fn require_token(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
        .map(|(_, token)| token.trim().to_string());
    let actor = match presented.as_deref().map(|t| state.tokens.actor(t)) {
        Some(Some(actor)) => actor,
        Some(None) => {
            return unauthorized(
                "the API token is wrong or revoked (the admin token is in the api-token file in the server's data directory)",
            );
        }
        None => {
            return unauthorized("an API token is required: send 'Authorization: Bearer <token>'");
        }
    };
    if let Some(ConnectInfo(remote)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        state.admission.authenticated(*remote);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let path = path.strip_prefix(BASE_PATH).unwrap_or(&path).to_string();
    let needed = needed_role(&method, &path);
    if !actor.role.allows(needed) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the token '{}' is {} {} token ({}); {} needs {} {} token",
                actor.name,
                article(actor.role),
                actor.role,
                actor.role.scope(),
                describe(&method, &path),
                article(needed),
                needed
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(actor.clone());
    let response = next.run(req).await;
    if changes(&method) && response.status().is_success() {
        let detail = response
            .extensions()
            .get::<AuditNote>()
            .map(|n| n.0.clone())
            .unwrap_or_default();
        state.registry.publish_event(EventKind::Audit {
            actor: actor.name.to_string(),
            action: describe(&method, &path),
            detail,
        });
    }
    response
}

/// Whether the request's token may see secret values: admins only (they manage the
/// resources that hold them). Everyone else gets them masked.
pub fn sees_secrets(actor: Option<&axum::Extension<crate::access::Actor>>) -> bool {
    actor.is_some_and(|a| a.role == Role::Admin)
}

/// Masks every known secret in the strings of a JSON value.
pub fn mask_json(v: &mut serde_json::Value, redactor: &crate::pipeline::Redactor) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(masked) = redactor.mask(s) {
                *s = masked;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| mask_json(x, redactor)),
        serde_json::Value::Object(m) => m.values_mut().for_each(|x| mask_json(x, redactor)),
        _ => {}
    }
}

fn unauthorized(message: &str) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    resp.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"fleetdeck\""),
    );
    resp
}

fn changes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The role a request needs (paths without the `/api/v1` prefix). Reading needs a viewer,
/// except tokens; steering the fleet an operator; changing what is stored an admin.
pub fn needed_role(method: &Method, path: &str) -> Role {
    let s = segments(path);
    if s.first() == Some(&"tokens") {
        return Role::Admin;
    }
    // A tap shows the data itself (log lines, attributes), not facts about the fleet.
    if let ["agents", _, "tap"] = s.as_slice() {
        return Role::Operator;
    }
    if !changes(method) {
        return Role::Viewer;
    }
    match (method.as_str(), s.as_slice()) {
        ("POST", ["rollouts"])
        | ("POST", ["rollouts", _, _])
        | ("POST", ["agents", _, "restart"])
        | ("POST", ["credentials", "rotate"])
        | ("PATCH", ["agents", _, "labels"]) => Role::Operator,
        _ => Role::Admin,
    }
}

/// The change a request makes, in words, for audit events and refusals.
pub fn describe(method: &Method, path: &str) -> String {
    let s = segments(path);
    match (method.as_str(), s.as_slice()) {
        ("POST", ["apply"]) => "apply".into(),
        ("DELETE", ["configurations", name]) => format!("delete configuration {name}"),
        ("DELETE", ["resources", kind, name]) => format!("delete {kind} {name}"),
        ("DELETE", ["agents", id]) => format!("forget agent {id}"),
        ("POST", ["agents", id, "restart"]) => format!("restart agent {id}"),
        ("POST", ["agents", id, "revoke"]) => format!("revoke agent {id}"),
        ("DELETE", ["agents", id, "revoke"]) => format!("lift the revocation of agent {id}"),
        ("POST", ["credentials", "rotate"]) => "rotate agent credentials".into(),
        ("PATCH", ["agents", id, "labels"]) => format!("label agent {id}"),
        ("POST", ["rollouts"]) => "push".into(),
        ("POST", ["rollouts", config, action]) => format!("{action} the rollout of {config}"),
        ("POST", ["tokens"]) => "create a token".into(),
        ("DELETE", ["tokens", name]) => format!("revoke token {name}"),
        ("GET", ["tokens", ..]) => "listing tokens".into(),
        ("GET", ["agents", id, "tap"]) => format!("tapping agent {id}"),
        _ => format!("{method} {BASE_PATH}{path}"),
    }
}

fn article(role: Role) -> &'static str {
    match role {
        Role::Viewer => "a",
        Role::Operator | Role::Admin => "an",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_needs_a_viewer_steering_an_operator_storing_an_admin() {
        let cases = [
            (Method::GET, "/agents", Role::Viewer),
            (Method::GET, "/events", Role::Viewer),
            (Method::GET, "/tokens", Role::Admin),
            (Method::GET, "/agents/abc/tap", Role::Operator),
            (Method::POST, "/rollouts", Role::Operator),
            (Method::POST, "/rollouts/web/pause", Role::Operator),
            (Method::POST, "/agents/abc/restart", Role::Operator),
            (Method::POST, "/credentials/rotate", Role::Operator),
            (Method::POST, "/agents/abc/revoke", Role::Admin),
            (Method::DELETE, "/agents/abc/revoke", Role::Admin),
            (Method::PATCH, "/agents/abc/labels", Role::Operator),
            (Method::POST, "/apply", Role::Admin),
            (Method::DELETE, "/configurations/web", Role::Admin),
            (Method::DELETE, "/agents/abc", Role::Admin),
            (Method::POST, "/tokens", Role::Admin),
            (Method::PUT, "/something-new", Role::Admin),
        ];
        for (m, p, want) in cases {
            assert_eq!(needed_role(&m, p), want, "{m} {p}");
        }
        assert_eq!(
            describe(&Method::POST, "/rollouts/web-tier/rollback"),
            "rollback the rollout of web-tier"
        );
    }
}
