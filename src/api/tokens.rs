//! `/tokens`: named API tokens with roles (admin only). A token is shown once, in the
//! answer that makes it; the server keeps only its hash.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::auth::AuditNote;
use super::params::{json_body, unix_secs};
use super::{ApiError, ApiResult, ApiState};
use crate::access::{BOOTSTRAP_NAME, Role, TokenError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Serialize)]
pub struct TokenItem {
    pub name: String,
    pub role: String,
    /// Unix seconds; absent for the api-token file's token.
    pub created_at: Option<u64>,
    /// `store` for named tokens, `api-token file` for the admin token.
    pub source: &'static str,
}

#[derive(Debug, Serialize)]
pub struct TokenList {
    pub items: Vec<TokenItem>,
}

#[derive(Debug, Serialize)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// The token itself: shown this once.
    pub token: String,
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        match e {
            TokenError::BadName(m) => ApiError::unprocessable(m).field("name"),
            TokenError::Exists(_) => ApiError::conflict(e.to_string()).field("name"),
            TokenError::NoSuchToken(_) => ApiError::not_found(e.to_string()),
            TokenError::Bootstrap => ApiError::conflict(e.to_string()),
            TokenError::Store(s) => ApiError::from(s),
        }
    }
}

pub async fn list(State(s): State<ApiState>) -> ApiResult<Json<TokenList>> {
    let mut items = vec![TokenItem {
        name: BOOTSTRAP_NAME.to_string(),
        role: Role::Admin.to_string(),
        created_at: None,
        source: "api-token file",
    }];
    items.extend(s.tokens.list().await?.into_iter().map(|t| TokenItem {
        name: t.name,
        role: t.role,
        created_at: Some(unix_secs(t.created_at)),
        source: "store",
    }));
    Ok(Json(TokenList { items }))
}

pub async fn create(
    State(s): State<ApiState>,
    body: Bytes,
) -> ApiResult<(StatusCode, axum::Extension<AuditNote>, Json<NewToken>)> {
    let req: CreateToken = json_body(&body)?;
    let token = s.tokens.create(&req.name, req.role).await?;
    let note = AuditNote(format!("{} ({})", req.name, req.role));
    Ok((
        StatusCode::CREATED,
        axum::Extension(note),
        Json(NewToken {
            name: req.name,
            role: req.role,
            token,
        }),
    ))
}

pub async fn revoke(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    s.tokens.revoke(&name).await?;
    Ok(Json(serde_json::json!({ "revoked": name })))
}
