//! Reading request bodies safely: a cap on the bytes received and, for gzip, on the bytes
//! produced, so neither a huge upload nor a gzip bomb can make us allocate past the limit.

use std::io::Read;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
use http_body_util::BodyExt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("the request body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("the gzip body expands past the {limit}-byte limit")]
    InflatesTooLarge { limit: usize },
    #[error("the body is not valid gzip: {0}")]
    BadGzip(String),
    #[error("content encoding '{0}' is not supported (use gzip or identity)")]
    UnsupportedEncoding(String),
    #[error("the request body could not be read: {0}")]
    Read(String),
}

/// Reads the whole body, refusing more than `limit` bytes before or after decompression.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let encoding = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let raw = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                BodyError::TooLarge { limit }
            } else {
                BodyError::Read(e.to_string())
            }
        })?
        .to_bytes();
    match encoding.as_str() {
        "" | "identity" => Ok(raw.to_vec()),
        "gzip" | "x-gzip" => gunzip_limited(&raw, limit),
        other => Err(BodyError::UnsupportedEncoding(other.to_string())),
    }
}

/// Inflates gzip data, stopping as soon as the output would pass `limit`.
pub fn gunzip_limited(data: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(data);
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(limit));
    // Read one byte past the limit to tell "exactly at the limit" from "over it".
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    (&mut decoder)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::BadGzip(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::InflatesTooLarge { limit });
    }
    Ok(out)
}

/// True when the client accepts a gzip response (`Accept-Encoding`, with q-values).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut star = None;
    for part in value.split(',') {
        let mut fields = part.split(';');
        let coding = fields.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = fields
            .filter_map(|f| f.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn gzip_round_trips_and_bombs_stop_at_the_limit() {
        let data = vec![b'a'; 10_000];
        assert_eq!(gunzip_limited(&gzip(&data), 10_000).unwrap(), data);
        assert_eq!(
            gunzip_limited(&gzip(&data), 9_999),
            Err(BodyError::InflatesTooLarge { limit: 9_999 })
        );
        assert!(matches!(
            gunzip_limited(b"not gzip at all", 100),
            Err(BodyError::BadGzip(_))
        ));
    }

    #[test]
    fn accept_encoding_honours_q_values_and_wildcards() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts_gzip(&h("gzip")));
        assert!(accepts_gzip(&h("deflate, gzip;q=0.5")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(accepts_gzip(&h("*")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
