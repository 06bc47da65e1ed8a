//! Label selectors, kubectl style: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`
//! (has the label), `!k` (lacks it), joined by commas (all must hold).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use super::labels::Labels;
use super::text::Text;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    NotExists(String),
}

/// Anything labels can be looked up in: an owned map, or an agent's [`Labels`].
pub trait LabelLookup {
    fn label(&self, key: &str) -> Option<&str>;
}

impl LabelLookup for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl LabelLookup for Labels {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(Text::as_str)
    }
}

impl Requirement {
    pub fn matches<L: LabelLookup + ?Sized>(&self, labels: &L) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => labels.label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => labels.label(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.label(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.label(k).is_some(),
            Requirement::NotExists(k) => labels.label(k).is_none(),
        }
    }
}

/// A parsed selector. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(pub Vec<Requirement>);

impl Selector {
    pub fn matches<L: LabelLookup + ?Sized>(&self, labels: &L) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `matchLabels` of a configuration: every pair must be equal.
    pub fn from_match_labels(labels: &BTreeMap<String, String>) -> Selector {
        Selector(
            labels
                .iter()
                .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
                .collect(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad label selector '{input}' at '{at}': {message}")]
pub struct SelectorError {
    pub input: String,
    pub at: String,
    pub message: String,
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':'))
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Result<Vec<&str>, &'static str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("')' without '('");
                }
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("'(' without ')'");
    }
    parts.push(&s[start..]);
    Ok(parts)
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |at: &str, message: &str| SelectorError {
            input: input.to_string(),
            at: at.trim().to_string(),
            message: message.to_string(),
        };
        if input.trim().is_empty() {
            return Ok(Selector::default());
        }
        let parts = split_top(input).map_err(|m| err(input, m))?;
        let mut reqs = Vec::new();
        for raw in parts {
            let part = raw.trim();
            if part.is_empty() {
                return Err(err(raw, "empty requirement (two commas in a row?)"));
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                let key = key.trim();
                if !valid_key(key) {
                    return Err(err(part, "expected a label key after '!'"));
                }
                Requirement::NotExists(key.to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(key(k, part, &err)?, value(v, part, &err)?)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(key(k, part, &err)?, value(v, part, &err)?)
            } else if let Some((k, rest)) = split_word(part, "notin") {
                Requirement::NotIn(key(k, part, &err)?, set(rest, part, &err)?)
            } else if let Some((k, rest)) = split_word(part, "in") {
                Requirement::In(key(k, part, &err)?, set(rest, part, &err)?)
            } else if valid_key(part) {
                Requirement::Exists(part.to_string())
            } else {
                return Err(err(
                    part,
                    "expected k=v, k!=v, k in (a,b), k notin (a,b), k or !k",
                ));
            };
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }
}

fn split_word<'a>(part: &'a str, word: &str) -> Option<(&'a str, &'a str)> {
    let mut it = part.splitn(2, char::is_whitespace);
    let k = it.next()?;
    let rest = it.next()?.trim_start();
    let after = rest.strip_prefix(word)?;
    after
        .trim_start()
        .starts_with('(')
        .then_some((k, after.trim_start()))
}

fn key(
    k: &str,
    part: &str,
    err: &impl Fn(&str, &str) -> SelectorError,
) -> Result<String, SelectorError> {
    let k = k.trim();
    if valid_key(k) {
        Ok(k.to_string())
    } else {
        Err(err(
            part,
            "label keys use letters, digits, '.', '-', '_' and '/'",
        ))
    }
}

fn value(
    v: &str,
    part: &str,
    err: &impl Fn(&str, &str) -> SelectorError,
) -> Result<String, SelectorError> {
    let v = v.trim();
    if valid_value(v) {
        Ok(v.to_string())
    } else {
        Err(err(
            part,
            "label values use letters, digits, '.', '-', '_', ':' and '/'",
        ))
    }
}

fn set(
    rest: &str,
    part: &str,
    err: &impl Fn(&str, &str) -> SelectorError,
) -> Result<BTreeSet<String>, SelectorError> {
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| err(part, "expected a list in parentheses, e.g. (a,b)"))?;
    let values: BTreeSet<String> = inner
        .split(',')
        .map(|v| value(v, part, err))
        .collect::<Result<_, _>>()?;
    if values.iter().any(String::is_empty) {
        return Err(err(part, "empty value in the list"));
    }
    Ok(values)
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r {
                Requirement::Equals(k, v) => write!(f, "{k}={v}")?,
                Requirement::NotEquals(k, v) => write!(f, "{k}!={v}")?,
                Requirement::In(k, vs) => write!(f, "{k} in ({})", join(vs))?,
                Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", join(vs))?,
                Requirement::Exists(k) => write!(f, "{k}")?,
                Requirement::NotExists(k) => write!(f, "!{k}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_form_selects_what_kubectl_would() {
        let web_prod = labels(&[("tier", "web"), ("env", "prod")]);
        let db_dev = labels(&[("tier", "db"), ("env", "dev"), ("canary", "yes")]);
        let cases = [
            ("tier=web", true, false),
            ("tier==web", true, false),
            ("tier!=web", false, true),
            ("env in (prod, staging)", true, false),
            ("env notin (prod)", false, true),
            ("canary", false, true),
            ("!canary", true, false),
            ("tier=db,env=dev", false, true),
            ("tier in (web,db),!canary", true, false),
            ("", true, true),
        ];
        for (sel, a, b) in cases {
            let s: Selector = sel.parse().unwrap();
            assert_eq!(s.matches(&web_prod), a, "{sel} on web/prod");
            assert_eq!(s.matches(&db_dev), b, "{sel} on db/dev");
        }
    }

    #[test]
    fn bad_selectors_say_where() {
        for (input, at) in [
            ("tier=web,,env=prod", ""),
            ("env in (a,b", "env in (a,b"),
            ("env in a,b", "env in a"),
            ("ti er=web", "ti er=web"),
            ("!", "!"),
            ("a=b c", "a=b c"),
        ] {
            let e = input.parse::<Selector>().unwrap_err();
            assert_eq!(e.at, at, "{input}: {e}");
        }
    }

    #[test]
    fn display_parses_back() {
        let s: Selector = "a=1,b!=2,c in (x,y),d notin (z),e,!f".parse().unwrap();
        assert_eq!(s.to_string().parse::<Selector>().unwrap(), s);
    }
}
