//! Errors as the API answers them: a status and a JSON body `{error, field?, …}`.
//!
//! 400: the request itself is malformed (bad JSON, a query parameter that is not a number).
//! 401: missing or wrong token. 404: what the path or a parameter names does not exist.
//! 409: the request is sound but the current state refuses it (in use, rollout running,
//! agent disconnected). 422: well-formed input that does not validate (an invalid
//! configuration, a bad selector, unknown agents in a push).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::catalog::CatalogError;
use crate::fleet::registry::CommandError;
use crate::rollout::RolloutCmdError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The request parameter or body field at fault, when one is.
    pub field: Option<String>,
    /// More members of the body (e.g. `users` of a refused delete, `problems` of a bad apply).
    pub extra: Map<String, Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
            extra: Map::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.message));
        if let Some(f) = self.field {
            body.insert("field".into(), Value::String(f));
        }
        body.extend(self.extra);
        (self.status, Json(Value::Object(body))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::InUse { .. } => ApiError::conflict(e.to_string()),
            StoreError::InvalidResource { .. } => ApiError::unprocessable(e.to_string()),
            _ => {
                tracing::error!(error = %e, "store error while answering an API request");
                ApiError::internal(e.to_string())
            }
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Store(s) => s.into(),
            CatalogError::NoConfiguration(_) | CatalogError::NoVersion { .. } => {
                ApiError::not_found(e.to_string())
            }
            CatalogError::Invalid(ref p) => {
                let problems: Vec<Value> = p.0.iter().map(|p| p.to_string().into()).collect();
                ApiError::unprocessable(e.to_string()).with("problems", problems)
            }
            CatalogError::Corrupt { .. } => ApiError::internal(e.to_string()),
        }
    }
}

impl From<RolloutCmdError> for ApiError {
    fn from(e: RolloutCmdError) -> Self {
        match e {
            RolloutCmdError::Catalog(c) => c.into(),
            RolloutCmdError::NoRollout(_) => ApiError::not_found(e.to_string()),
            RolloutCmdError::State(_)
            | RolloutCmdError::Busy(_)
            | RolloutCmdError::DrivenElsewhere(_) => ApiError::conflict(e.to_string()),
            RolloutCmdError::NoTargets(_) => ApiError::unprocessable(e.to_string()),
            RolloutCmdError::MissingComponents(ref check) => {
                // The agents by name for people, and by id and component for scripts.
                let lacking = serde_json::to_value(&check.lacking).unwrap_or_default();
                ApiError::conflict(e.to_string())
                    .with("lacking", lacking)
                    .with("unknown", check.unknown)
            }
            RolloutCmdError::UnknownAgents(_) => {
                ApiError::unprocessable(e.to_string()).field("agents")
            }
            RolloutCmdError::Stopped => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
        }
    }
}

impl From<crate::fleet::tap::TapError> for ApiError {
    fn from(e: crate::fleet::tap::TapError) -> Self {
        use crate::fleet::tap::TapError as T;
        let message = e.to_string();
        match e {
            T::UnknownAgent(_) => ApiError::not_found(message).field("id"),
            T::Disconnected { .. } | T::NotSupported { .. } | T::Gone { .. } => {
                ApiError::conflict(message)
            }
            T::Refused { .. } => ApiError::unprocessable(message),
            T::Timeout { .. } => ApiError::new(StatusCode::GATEWAY_TIMEOUT, message),
            T::Busy { .. } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, message),
            T::Stopped => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::UnknownAgent(_) => ApiError::not_found(e.to_string()).field("id"),
            CommandError::Disconnected(_)
            | CommandError::NotSupported { .. }
            | CommandError::StillConnected { .. } => ApiError::conflict(e.to_string()),
            CommandError::Stopped => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}
