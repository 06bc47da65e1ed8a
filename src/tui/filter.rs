//! The agents filter typed after `/`: whitespace-separated terms that must all match.
//! A term is a case-insensitive substring of name, host, version or id, or `key=value`
//! (a field such as `status=up` or an agent label), and `!` in front negates it.

use crate::fleet::agent::RemoteConfigState;
use crate::fleet::snapshot::AgentView;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    negate: bool,
    kind: TermKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TermKind {
    /// Lower-cased needle, and the same without dashes when it could be part of an id.
    Text(String, Option<Vec<u8>>),
    Field(Field, String),
    Label(String, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Status,
    Health,
    Config,
    Name,
    Host,
    Version,
    Os,
    Transport,
}

impl Filter {
    pub fn parse(text: &str) -> Filter {
        let terms = text
            .split_whitespace()
            .filter_map(|raw| {
                let (negate, body) = match raw.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, raw),
                };
                if body.is_empty() {
                    return None;
                }
                let kind = match body.split_once('=') {
                    Some((key, value)) if !key.is_empty() => match field(key) {
                        Some(f) => TermKind::Field(f, value.to_ascii_lowercase()),
                        None => TermKind::Label(key.to_string(), value.to_string()),
                    },
                    _ => {
                        let needle = body.to_lowercase();
                        let id_part = id_needle(&needle);
                        TermKind::Text(needle, id_part)
                    }
                };
                Some(Term { negate, kind })
            })
            .collect();
        Filter { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, agent: &AgentView) -> bool {
        self.terms.iter().all(|t| t.kind.matches(agent) != t.negate)
    }
}

fn field(key: &str) -> Option<Field> {
    Some(match key {
        "status" => Field::Status,
        "health" => Field::Health,
        "config" => Field::Config,
        "name" => Field::Name,
        "host" => Field::Host,
        "version" => Field::Version,
        "os" => Field::Os,
        "transport" => Field::Transport,
        _ => return None,
    })
}

impl TermKind {
    fn matches(&self, a: &AgentView) -> bool {
        match self {
            TermKind::Text(needle, id_part) => {
                contains_ci(&a.name, needle)
                    || contains_ci(&a.host, needle)
                    || contains_ci(&a.version, needle)
                    || id_part.as_deref().is_some_and(|p| id_contains(a, p))
            }
            TermKind::Label(k, v) => a.labels.get(k).is_some_and(|have| have == v),
            TermKind::Field(f, v) => field_matches(*f, v, a),
        }
    }
}

fn field_matches(f: Field, v: &str, a: &AgentView) -> bool {
    match f {
        Field::Status => match v {
            "up" | "connected" => a.is_connected(),
            "down" | "disconnected" => !a.is_connected(),
            _ => false,
        },
        Field::Health => match v {
            "ok" | "healthy" => a.healthy() == Some(true),
            "bad" | "unhealthy" => a.healthy() == Some(false),
            "unknown" | "none" => a.healthy().is_none(),
            _ => false,
        },
        Field::Config => {
            let status = a.remote_config_status.as_ref();
            let state = status.map(|s| s.state).unwrap_or(RemoteConfigState::Unset);
            if state.to_string() == v {
                return true;
            }
            // A hash prefix: long enough not to match by accident.
            v.len() >= 4
                && status.is_some_and(|s| {
                    !s.last_hash.is_empty() && hex::encode(&s.last_hash).starts_with(v)
                })
        }
        Field::Name => a.name.eq_ignore_ascii_case(v),
        Field::Host => a.host.eq_ignore_ascii_case(v),
        Field::Version => a.version.eq_ignore_ascii_case(v),
        Field::Os => a.os.eq_ignore_ascii_case(v),
        Field::Transport => a.transport.is_some_and(|t| t.to_string() == v),
    }
}

/// Case-insensitive substring test without allocating; `needle` is already lower-case.
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    hay.to_lowercase().contains(needle)
}

/// Hex digits of a needle that may be part of an agent id (at least 4, dashes ignored).
fn id_needle(needle: &str) -> Option<Vec<u8>> {
    let plain: Vec<u8> = needle.bytes().filter(|b| *b != b'-').collect();
    (plain.len() >= 4 && plain.len() <= 32 && plain.iter().all(u8::is_ascii_hexdigit))
        .then_some(plain)
}

fn id_contains(a: &AgentView, hex_needle: &[u8]) -> bool {
    let mut buf = [0u8; 32];
    // 16 bytes always fit in 32 hex digits.
    hex::encode_to_slice(a.id.as_bytes(), &mut buf).is_ok()
        && buf.windows(hex_needle.len()).any(|w| w == hex_needle)
}
