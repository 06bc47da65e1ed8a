//! The bearer-token check in front of every route.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState};
use crate::opamp::auth::constant_time_eq;

/// Lets the request through only with `Authorization: Bearer <token>`; the comparison
/// takes the same time wherever the presented token differs.
pub async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
        .map(|(_, token)| token.trim().to_string());
    let message = match presented {
        Some(t) if constant_time_eq(t.as_bytes(), state.token.as_bytes()) => {
            if let Some(ConnectInfo(remote)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
                state.admission.authenticated(*remote);
            }
            return next.run(req).await;
        }
        Some(_) => "the API token is wrong (see the api-token file in the server's data directory)",
        None => "an API token is required: send 'Authorization: Bearer <token>'",
    };
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    resp.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"fleetdeck\""),
    );
    resp
}
