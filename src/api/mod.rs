//! The management API: JSON under `/api/v1/`, behind a bearer token. `openapi.yaml` at the
//! repository root documents every route; the CLI's client commands are its main user.
//!
//! Handlers read the fleet from the registry's latest snapshot (never locking the registry),
//! send commands through its handle, and go through the catalog and the rollout service for
//! resources and rollouts. Every error is JSON (see [`error`]).

mod agents;
mod auth;
mod configs;
mod credentials;
mod destinations;
pub mod error;
mod events;
mod params;
mod rollouts;
pub mod stream;
mod throughput;
mod tokens;
mod top;
mod topology;
mod types;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::fleet::registry::RegistryHandle;
use crate::fleet::telemetry::TelemetryStore;
use crate::rollout::Rollouts;
use crate::store::Store;

pub use error::{ApiError, ApiResult};

/// The path every route lives under.
pub const BASE_PATH: &str = "/api/v1";

/// What handlers need; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub registry: RegistryHandle,
    pub catalog: Arc<Catalog>,
    pub rollouts: Rollouts,
    pub store: Store,
    pub telemetry: TelemetryStore,
    /// The bearer tokens clients may present, each with a role.
    pub tokens: crate::access::Tokens,
    /// The API listener's admission: a connection that presents the token is no longer a
    /// stranger (strangers are closed after a few seconds).
    pub admission: crate::listen::admission::Admission,
    /// Where the registry writes agent records behind; flushed before a change made
    /// through the registry (labels, forgetting an agent) is acknowledged, and before an
    /// apply history is read.
    pub write_behind: Option<crate::store::WriteBehind>,
    /// Cancelled when the server stops: live streams end then (a graceful shutdown waits
    /// for every open answer).
    pub shutdown: CancellationToken,
    /// Agents' own credentials: rotation, revocation, and their state for `get agent`.
    pub agent_auth: Arc<crate::opamp::credentials::AgentAuth>,
}

impl ApiState {
    /// Waits until what the registry wrote behind is committed: an answer of 200 means
    /// the change survives a crash right after it.
    pub async fn durable(&self) -> Result<(), ApiError> {
        if let Some(w) = &self.write_behind {
            w.flush().await.map_err(|e| {
                tracing::error!(error = %e, "could not write a change to the store");
                ApiError::internal(format!(
                    "the change is made in memory but could not be written to the store: {e}"
                ))
            })?;
        }
        Ok(())
    }
}

/// Every route, behind the token check.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/agents", get(agents::list))
        .route("/agents/{id}", get(agents::show).delete(agents::forget))
        .route(
            "/agents/{id}/labels",
            get(agents::labels).patch(agents::set_labels),
        )
        .route("/agents/{id}/restart", post(agents::restart))
        .route(
            "/agents/{id}/revoke",
            post(credentials::revoke).delete(credentials::unrevoke),
        )
        .route("/credentials/rotate", post(credentials::rotate))
        .route("/agents/{id}/history", get(agents::history))
        .route("/agents/{id}/throughput", get(agents::throughput))
        .route("/agents/{id}/tap", get(agents::tap))
        .route("/types", get(types::list))
        .route("/types/{name}", get(types::show))
        .route("/configurations", get(configs::list))
        .route(
            "/configurations/{name}",
            get(configs::show).delete(configs::delete),
        )
        .route("/configurations/{name}/versions", get(configs::versions))
        .route("/configurations/{name}/diff", get(configs::diff))
        .route("/configurations/{name}/render", get(configs::render))
        .route(
            "/configurations/{name}/throughput",
            get(throughput::configuration),
        )
        .route("/destinations", get(destinations::list))
        .route("/destinations/{name}", get(destinations::show))
        .route("/apply", post(configs::apply))
        .route(
            "/resources/{kind}/{name}",
            axum::routing::delete(configs::delete_resource),
        )
        .route("/rollouts", get(rollouts::list).post(rollouts::start))
        .route("/rollouts/{config}", get(rollouts::status))
        .route("/rollouts/{config}/{action}", post(rollouts::steer))
        .route("/events", get(events::list))
        .route("/stream", get(stream::stream))
        .route("/telemetry", get(stream::telemetry))
        .route("/signing-key", get(signing_key))
        .route("/top/agents", get(top::agents))
        .route("/top/configurations", get(top::configurations))
        .route("/top/destinations", get(throughput::destinations))
        .route("/topology", get(topology::show))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{name}", axum::routing::delete(tokens::revoke))
        .fallback(not_found_inside)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state);
    Router::new().nest(BASE_PATH, v1).fallback(not_found)
}

/// `GET /signing-key`: the public key configurations are signed with, for
/// `fleetdeck agent --trust-key`.
async fn signing_key(
    axum::extract::State(s): axum::extract::State<ApiState>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let key = s.catalog.signing_key().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "this server has no signing key (see its log: the signing-key file could not be read or made)",
        )
    })?;
    let mut answer = serde_json::json!({ "public_key": key });
    if let Some(previous) = s.catalog.previous_signing_key() {
        answer["previous_key"] = previous.into();
    }
    Ok(axum::Json(answer))
}

/// Serves the API until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} (the API lives under {BASE_PATH}/; see openapi.yaml)",
        uri.path()
    ))
}

/// Inside the nested router paths arrive without [`BASE_PATH`]; messages show them whole.
async fn not_found_inside(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {BASE_PATH}{} (see openapi.yaml)",
        uri.path()
    ))
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{BASE_PATH}{} does not accept {method}", uri.path()),
    )
}
