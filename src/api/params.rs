//! Query parameters and JSON bodies, read so that a mistake names the parameter.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::Query;
use axum::http::Uri;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{ApiError, ApiResult};

/// The query string of one request, limited to the parameters a route knows.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(uri: &Uri, known: &[&str]) -> ApiResult<Params> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| ApiError::bad_request(format!("bad query string: {e}")))?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            // A parameter given twice or left empty has no one meaning: say so rather
            // than pick one.
            if v.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "query parameter '{k}' is empty; give a value or leave it out"
                ))
                .field(k));
            }
            if map.contains_key(&k) {
                return Err(
                    ApiError::bad_request(format!("query parameter '{k}' is given twice")).field(k),
                );
            }
            map.insert(k, v);
        }
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            let expected = if known.is_empty() {
                "this endpoint takes no query parameters".to_string()
            } else {
                format!("known: {}", known.join(", "))
            };
            return Err(ApiError::bad_request(format!(
                "unknown query parameter '{unknown}' ({expected})"
            ))
            .field(unknown.clone()));
        }
        Ok(Params(map))
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn u64(&self, key: &str) -> ApiResult<Option<u64>> {
        self.str(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "query parameter '{key}' must be a whole number, got '{v}'"
                    ))
                    .field(key)
                })
            })
            .transpose()
    }

    /// A count with a default and an upper bound (beyond it is refused, not clamped,
    /// so a client never silently gets less than it asked for).
    pub fn count(&self, key: &str, default: usize, max: usize) -> ApiResult<usize> {
        let n = self.u64(key)?.map_or(default, |v| v as usize);
        if n > max {
            return Err(ApiError::bad_request(format!(
                "query parameter '{key}' is at most {max}, got {n}"
            ))
            .field(key));
        }
        Ok(n)
    }
}

/// Parses a JSON request body; syntax and shape errors are 400 with serde's position.
pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))
}

/// Seconds since the Unix epoch, for timestamps in answers.
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
