//! Agent authentication: `Authorization: Secret-Key <key>` (BindPlane's convention) or
//! `Bearer <key>`, checked before anything else happens on a request.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// True when the request carries the agent secret. Compares in constant time.
pub fn agent_authorized(headers: &HeaderMap, secret: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, key)) = value.trim().split_once(' ') else {
        return false;
    };
    let scheme_ok =
        scheme.eq_ignore_ascii_case("Secret-Key") || scheme.eq_ignore_ascii_case("Bearer");
    // Evaluate the comparison even for a wrong scheme so timing says nothing.
    let key_ok = constant_time_eq(key.trim().as_bytes(), secret.as_bytes());
    scheme_ok & key_ok
}

/// Equality whose running time depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn both_schemes_are_accepted_case_insensitively() {
        assert!(agent_authorized(&with_auth("Secret-Key s3cr3t"), "s3cr3t"));
        assert!(agent_authorized(&with_auth("secret-key s3cr3t"), "s3cr3t"));
        assert!(agent_authorized(&with_auth("Bearer s3cr3t"), "s3cr3t"));
    }

    #[test]
    fn wrong_missing_or_malformed_credentials_are_refused() {
        assert!(!agent_authorized(&with_auth("Bearer nope"), "s3cr3t"));
        assert!(!agent_authorized(&with_auth("Basic s3cr3t"), "s3cr3t"));
        assert!(!agent_authorized(&with_auth("s3cr3t"), "s3cr3t"));
        assert!(!agent_authorized(&HeaderMap::new(), "s3cr3t"));
        assert!(!agent_authorized(&with_auth("Bearer s3cr3"), "s3cr3t"));
    }
}
