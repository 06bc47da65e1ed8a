//! Times as readers of the API and the JSON output get them: Unix seconds, not serde's
//! `{secs_since_epoch, nanos_since_epoch}` for `SystemTime`.

use std::time::SystemTime;

fn secs_of(t: &SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `#[serde(serialize_with = "unix_time::secs")]`
pub fn secs<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(secs_of(t))
}

/// `#[serde(serialize_with = "unix_time::opt_secs")]`
pub fn opt_secs<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&secs_of(t)),
        None => s.serialize_none(),
    }
}
