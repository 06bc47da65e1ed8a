//! The agents filter typed after `/`: whitespace-separated terms that must all match.
//! A term is a case-insensitive substring of name, host, version or id, or `key=value`
//! (a field such as `status=up` or an agent label), and `!` in front negates it.
//! Terms run over the compact copies of `rows.rs` (`RowKeys`), not the agents themselves.

use memchr::memmem;

use crate::fleet::agent::RemoteConfigState;
use crate::fleet::snapshot::{AgentView, FleetSnapshot};

use super::rows::{FIELD_SEP, LABEL_SEP, RowKeys};

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
    /// Lower-cased needle, and its hex digits when it could be part of an id.
    Text(Vec<u8>, Option<Vec<u8>>),
    /// `\x02key=value\x02`, as the label arena stores it.
    Label(Vec<u8>),
    Field(Field, String),
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
                let body: String = body.chars().filter(|c| !c.is_control()).collect();
                if body.is_empty() {
                    return None;
                }
                let kind = match body.split_once('=') {
                    Some((key, value)) if !key.is_empty() => match field(key) {
                        Some(f) => TermKind::Field(f, value.to_ascii_lowercase()),
                        None => {
                            let mut pat = vec![LABEL_SEP];
                            pat.extend_from_slice(body.as_bytes());
                            pat.push(LABEL_SEP);
                            TermKind::Label(pat)
                        }
                    },
                    _ => {
                        let needle = body.to_lowercase();
                        let id_part = id_needle(&needle);
                        TermKind::Text(needle.into_bytes(), id_part)
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

    /// Keeps the entries of `order` (positions into the snapshot) that match, in order.
    pub fn apply(&self, keys: &RowKeys, snap: &FleetSnapshot, order: &[u32], out: &mut Vec<u32>) {
        out.clear();
        if self.terms.is_empty() {
            out.extend_from_slice(order);
            return;
        }
        let n = keys.len();
        let mut keep = vec![true; n];
        for term in &self.terms {
            let hits = term.kind.hits(keys, snap);
            for (k, h) in keep.iter_mut().zip(hits) {
                *k &= h != term.negate;
            }
        }
        out.extend(order.iter().copied().filter(|i| keep[*i as usize]));
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

/// Marks every agent whose arena slice holds a match of `needle`.
fn scan(arena: &[u8], starts: &[u32], needle: &[u8], hits: &mut [bool]) {
    for pos in memmem::find_iter(arena, needle) {
        hits[RowKeys::owner(starts, pos)] = true;
    }
}

impl TermKind {
    fn hits(&self, keys: &RowKeys, snap: &FleetSnapshot) -> Vec<bool> {
        let n = keys.len();
        let mut hits = vec![false; n];
        match self {
            TermKind::Text(needle, id_part) => {
                // Needles never contain the separators, so a match stays inside one agent.
                scan(&keys.text, &keys.text_starts, needle, &mut hits);
                if let Some(hex_needle) = id_part {
                    let finder = memmem::Finder::new(hex_needle);
                    let mut buf = [0u8; 32];
                    for (i, id) in keys.ids.iter().enumerate() {
                        // 16 bytes always fit in 32 hex digits.
                        if !hits[i] && hex::encode_to_slice(id.as_bytes(), &mut buf).is_ok() {
                            hits[i] = finder.find(&buf).is_some();
                        }
                    }
                }
            }
            TermKind::Label(pattern) => scan(&keys.labels, &keys.label_starts, pattern, &mut hits),
            TermKind::Field(f, v) => {
                for (i, h) in hits.iter_mut().enumerate() {
                    *h = field_matches(*f, v, keys, i, &snap.agents[i]);
                }
            }
        }
        hits
    }
}

fn field_matches(f: Field, v: &str, keys: &RowKeys, i: usize, a: &AgentView) -> bool {
    let st = &keys.status[i];
    match f {
        Field::Status => match v {
            "up" | "connected" => st.connected,
            "down" | "disconnected" => !st.connected,
            _ => false,
        },
        Field::Health => match v {
            "ok" | "healthy" => st.healthy == Some(true),
            "bad" | "unhealthy" => st.healthy == Some(false),
            "unknown" | "none" => st.healthy.is_none(),
            _ => false,
        },
        Field::Config => {
            let state = st.config.unwrap_or(RemoteConfigState::Unset);
            if state.to_string() == v {
                return true;
            }
            // A hash prefix: long enough not to match by accident.
            if v.len() < 4 || !st.has_hash {
                return false;
            }
            let mut buf = [0u8; 12];
            let short = hex::encode_to_slice(st.hash6, &mut buf).is_ok()
                && v.len() <= 12
                && buf.starts_with(v.as_bytes());
            short
                || (v.len() > 12
                    && a.remote_config_status
                        .as_ref()
                        .is_some_and(|s| hex::encode(&s.last_hash).starts_with(v)))
        }
        Field::Name => field_eq(keys, i, 0, v),
        Field::Host => field_eq(keys, i, 1, v),
        Field::Version => field_eq(keys, i, 2, v),
        Field::Os => a.os.eq_ignore_ascii_case(v),
        Field::Transport => a.transport.is_some_and(|t| t.to_string() == v),
    }
}

fn field_eq(keys: &RowKeys, i: usize, k: usize, v: &str) -> bool {
    let s = &keys.text[keys.text_starts[i] as usize..keys.text_starts[i + 1] as usize];
    s.split(|b| *b == FIELD_SEP).nth(k) == Some(v.as_bytes())
}

/// Hex digits of a needle that may be part of an agent id (at least 4, dashes ignored).
fn id_needle(needle: &str) -> Option<Vec<u8>> {
    let plain: Vec<u8> = needle.bytes().filter(|b| *b != b'-').collect();
    (plain.len() >= 4 && plain.len() <= 32 && plain.iter().all(u8::is_ascii_hexdigit))
        .then_some(plain)
}
