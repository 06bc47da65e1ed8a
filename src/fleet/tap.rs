//! Taps: the most recent items (log records, metric points, spans) one pipeline of an agent
//! handles, asked for over OpAMP. These are the words every part shares: the custom
//! capability an agent declares when it can be tapped, the request the server sends, the
//! answer the agent gives, and the limits both keep.
//!
//! On the wire both travel as OpAMP custom messages of capability [`CAPABILITY`], with JSON
//! bodies: type [`REQUEST_TYPE`] from the server, [`ANSWER_TYPE`] from the agent. Only
//! agents that declare the capability are sent a request.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The custom capability of agents that can be tapped.
pub const CAPABILITY: &str = "io.fleetdeck.tap";
/// The custom message type of a request (server to agent).
pub const REQUEST_TYPE: &str = "request";
/// The custom message type of an answer (agent to server).
pub const ANSWER_TYPE: &str = "answer";
/// Items an answer holds unless asked for another number.
pub const DEFAULT_LIMIT: usize = 100;
/// The most items one answer holds.
pub const MAX_LIMIT: usize = 1000;
/// The most bytes of items (as JSON) one answer holds; older items are left out first.
pub const MAX_ANSWER_BYTES: usize = 64 << 10;
/// A string value (a body, an attribute) longer than this many bytes is cut, ending in `…`.
pub const MAX_VALUE_BYTES: usize = 4 << 10;
/// Attributes shown per item (resource and record each); the rest are counted.
pub const MAX_ATTRIBUTES: usize = 64;
/// What a value hidden because of its key shows instead (as configurations show secrets).
pub const MASK: &str = "(sensitive)";

/// The name of the exporter the supervisor adds to each pipeline it taps: its own metrics
/// (`otelcol_exporter_sent_*{exporter="otlphttp/fleetdeck_tap_0"}`) are left out of the
/// agent's throughput, so a tap does not double what an agent is seen to send.
pub const TAP_EXPORTER_NAME: &str = "fleetdeck_tap_";

/// Whether an own-metrics attribute (encoded `KeyValue` bytes, or a value) names a tap
/// exporter.
pub fn names_tap_exporter(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, TAP_EXPORTER_NAME.as_bytes()).is_some()
}

/// A pipeline's signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TapSignal {
    Logs,
    Metrics,
    Traces,
}

impl TapSignal {
    pub const ALL: [TapSignal; 3] = [TapSignal::Logs, TapSignal::Metrics, TapSignal::Traces];

    pub fn as_str(self) -> &'static str {
        match self {
            TapSignal::Logs => "logs",
            TapSignal::Metrics => "metrics",
            TapSignal::Traces => "traces",
        }
    }

    /// The signal of a Collector pipeline id (`logs`, `metrics/2`, `traces/in`), if it
    /// is one of these three.
    pub fn of_pipeline(id: &str) -> Option<TapSignal> {
        let kind = id.split('/').next().unwrap_or(id);
        TapSignal::ALL.into_iter().find(|s| s.as_str() == kind)
    }

    /// What an item of this signal is called, for messages.
    pub fn items(self) -> &'static str {
        match self {
            TapSignal::Logs => "log records",
            TapSignal::Metrics => "metric points",
            TapSignal::Traces => "spans",
        }
    }
}

impl std::fmt::Display for TapSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TapSignal {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TapSignal::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown signal '{s}': expected logs, metrics or traces"))
    }
}

/// What to show: the newest `limit` items of one pipeline (the named one, else the first
/// of `signal`, else the first the agent runs), only those after `after` when given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapRequest {
    /// Set by the server; the answer carries it back.
    #[serde(default)]
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<TapSignal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// Only items with a larger `seq` (following a tap: what came since the last look).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
}

fn default_limit() -> usize {
    DEFAULT_LIMIT
}

impl TapRequest {
    /// The number of items asked for, within [1, MAX_LIMIT].
    pub fn limit(&self) -> usize {
        self.limit.clamp(1, MAX_LIMIT)
    }
}

/// One pipeline an agent taps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapPipeline {
    pub name: String,
    pub signal: TapSignal,
    /// Export requests that went through it since the Collector started with this
    /// configuration (each holds one or more items).
    #[serde(default)]
    pub batches: u64,
    /// When the last one did, Unix nanoseconds (0: none yet).
    #[serde(default)]
    pub last_unix_nano: u64,
}

/// What an agent answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TapAnswer {
    pub id: u64,
    /// Every pipeline the agent taps, in the order of its configuration.
    #[serde(default)]
    pub pipelines: Vec<TapPipeline>,
    /// The pipeline the items come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<TapSignal>,
    /// Oldest first.
    #[serde(default)]
    pub items: Vec<TapItem>,
    /// Items that matched but were left out to keep the answer within its limits.
    #[serde(default)]
    pub left_out: usize,
    /// Without `pipeline`: why the agent refused the request. With it: a note about the
    /// items (e.g. export requests it could not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TapAnswer {
    /// An answer that says why the request cannot be served.
    pub fn refused(id: u64, why: impl Into<String>) -> Self {
        TapAnswer {
            id,
            error: Some(why.into()),
            ..TapAnswer::default()
        }
    }

    /// Puts `items` (newest first) in, oldest first, keeping as many of the newest as fit
    /// in [`MAX_ANSWER_BYTES`]; the rest are counted in `left_out`.
    pub fn fill(&mut self, newest_first: Vec<TapItem>) {
        let mut used = 0;
        let mut kept = Vec::with_capacity(newest_first.len());
        let total = newest_first.len();
        for item in newest_first {
            let size = serde_json::to_vec(&item).map_or(usize::MAX, |v| v.len() + 1);
            if used + size > MAX_ANSWER_BYTES {
                break;
            }
            used += size;
            kept.push(item);
        }
        self.left_out += total - kept.len();
        kept.reverse();
        self.items = kept;
    }

    /// Replaces, in every string of the answer, what `mask` finds (known secret values)
    /// with what it gives back.
    pub fn mask_strings(&mut self, mask: &dyn Fn(&str) -> Option<String>) {
        for item in &mut self.items {
            item.mask_strings(mask);
        }
    }

    /// The largest `seq` among the items.
    pub fn last_seq(&self) -> Option<u64> {
        self.items.iter().map(|i| i.seq).max()
    }
}

/// One log record, metric point or span as a pipeline handled it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TapItem {
    /// Grows with every item the pipeline handles (`after` in a request).
    pub seq: u64,
    /// RFC 3339, UTC: the item's own time (observed time for logs that carry none, the
    /// start for spans), else when the supervisor received it.
    pub time: String,
    pub time_unix_nano: u64,
    #[serde(default)]
    pub resource: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// A log record's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// A log record's severity (text, else number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// A metric's or a span's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A metric's type (gauge, sum, histogram, exponential_histogram, summary) or a span's
    /// kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A metric point's value: a number, or for distributions `{count, sum, …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// A span's status (`ok`, `error: message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Attributes beyond [`MAX_ATTRIBUTES`] left out (resource and record together).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attributes_left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl TapItem {
    fn mask_strings(&mut self, mask: &dyn Fn(&str) -> Option<String>) {
        for v in self
            .resource
            .values_mut()
            .chain(self.attributes.values_mut())
            .chain(self.body.iter_mut())
            .chain(self.value.iter_mut())
        {
            mask_value(v, mask);
        }
        for s in [&mut self.name, &mut self.status, &mut self.scope]
            .into_iter()
            .flatten()
        {
            if let Some(m) = mask(s) {
                *s = m;
            }
        }
    }

    /// The item as a reader sees it: a heading (time, severity or name = value, kind,
    /// duration, status), then the body, attributes, resource, scope and ids indented.
    /// The CLI prints these lines; the TUI draws them.
    pub fn lines(&self) -> Vec<String> {
        let mut head = vec![self.time.clone()];
        head.extend(self.severity.clone());
        head.extend(self.name.clone());
        if let Some(v) = &self.value {
            head.push(format!("= {}", scalar(v)));
            head.extend(self.unit.clone());
        }
        if let Some(kind) = &self.kind {
            head.push(format!("({kind})"));
        }
        if let Some(ms) = self.duration_ms {
            head.push(format!("{ms:.3} ms"));
        }
        head.extend(self.status.clone());
        let mut out = vec![head.join("  ")];
        if let Some(body) = &self.body {
            let text = match body {
                serde_json::Value::String(t) => t.clone(),
                other => serde_json::to_string_pretty(other).unwrap_or_default(),
            };
            let mut lines = text.lines();
            out.push(format!("  body: {}", lines.next().unwrap_or("")));
            out.extend(lines.map(|l| format!("        {l}")));
        }
        for (label, map) in [
            ("attributes", &self.attributes),
            ("resource", &self.resource),
        ] {
            if !map.is_empty() {
                out.push(format!("  {label}:"));
                out.extend(map.iter().map(|(k, v)| format!("    {k} = {}", scalar(v))));
            }
        }
        if let Some(scope) = &self.scope {
            out.push(format!("  scope: {scope}"));
        }
        if let Some(t) = &self.trace_id {
            let span = self.span_id.as_deref().unwrap_or("-");
            out.push(format!("  trace {t}  span {span}"));
        }
        if self.attributes_left_out > 0 {
            out.push(format!(
                "  ({} more attributes left out)",
                self.attributes_left_out
            ));
        }
        out
    }

    /// Every string of the item in one line, lower-cased, for searching.
    pub fn haystack(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_default()
            .to_lowercase()
    }
}

/// A value as one line: strings bare, anything else as JSON.
fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn mask_value(v: &mut serde_json::Value, mask: &dyn Fn(&str) -> Option<String>) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(m) = mask(s) {
                *s = m;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| mask_value(x, mask)),
        serde_json::Value::Object(m) => m.values_mut().for_each(|x| mask_value(x, mask)),
        _ => {}
    }
}

/// Whether an attribute key names something secret (a password, token, key, cookie…):
/// its value is shown as [`MASK`], wherever the item came from.
pub fn sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    const WORDS: [&str; 10] = [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "api-key",
        "authorization",
        "cookie",
        "credential",
    ];
    WORDS.iter().any(|w| k.contains(w)) || k.ends_with("private_key") || k == "auth"
}

/// `text` cut to at most [`MAX_VALUE_BYTES`] (on a character boundary), ending in `…` when cut.
pub fn cut(text: &str) -> String {
    if text.len() <= MAX_VALUE_BYTES {
        return text.to_string();
    }
    let mut end = MAX_VALUE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A Unix time in nanoseconds as RFC 3339 in UTC, with as many fractional digits as it has
/// (none, milliseconds, microseconds or nanoseconds).
pub fn rfc3339(unix_nano: u64) -> String {
    let secs = unix_nano / 1_000_000_000;
    let nanos = unix_nano % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let frac = if nanos == 0 {
        String::new()
    } else if nanos.is_multiple_of(1_000_000) {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian date of a day count from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Now, in Unix nanoseconds.
pub fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// How long the server waits for an agent's answer: a WebSocket agent answers at once;
/// an HTTP agent only hears the request with its next poll.
pub const WS_ANSWER_WAIT: Duration = Duration::from_secs(10);
/// The longest the server waits for an HTTP agent's answer.
pub const MAX_ANSWER_WAIT: Duration = Duration::from_secs(70);

/// Why a tap got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TapError {
    #[error("no agent with id {0}")]
    UnknownAgent(String),
    #[error("agent {name} ({id}) is disconnected: nothing to tap until it comes back")]
    Disconnected { id: String, name: String },
    #[error(
        "agent {name} ({id}) cannot be tapped: it does not declare the {CAPABILITY} capability \
         (agents supervised by `fleetdeck agent` do; simulated agents and other OpAMP clients do not)"
    )]
    NotSupported { id: String, name: String },
    #[error("agent {name} ({id}) disconnected before it answered the tap")]
    Gone { id: String, name: String },
    #[error("agent {name} ({id}) did not answer the tap within {secs} s{why}")]
    Timeout {
        id: String,
        name: String,
        secs: u64,
        why: String,
    },
    #[error(
        "agent {name} ({id}) already has {max} taps waiting for an answer; try again shortly",
        max = MAX_PENDING_PER_AGENT
    )]
    Busy { id: String, name: String },
    #[error("agent {name} ({id}) refused the tap: {message}")]
    Refused {
        id: String,
        name: String,
        message: String,
    },
    #[error("the fleet registry has stopped")]
    Stopped,
}

/// Taps waiting for one agent's answer at most.
pub const MAX_PENDING_PER_AGENT: usize = 4;
/// Taps waiting for answers at most, fleet-wide.
pub const MAX_PENDING: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_700_000_000_123_000_000),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_001_000),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(rfc3339(1), "1970-01-01T00:00:00.000000001Z");
    }

    #[test]
    fn pipelines_name_their_signal() {
        assert_eq!(TapSignal::of_pipeline("logs"), Some(TapSignal::Logs));
        assert_eq!(
            TapSignal::of_pipeline("metrics/host"),
            Some(TapSignal::Metrics)
        );
        assert_eq!(TapSignal::of_pipeline("profiles"), None);
        assert_eq!("Traces".parse::<TapSignal>(), Ok(TapSignal::Traces));
        assert!("spans".parse::<TapSignal>().is_err());
    }

    #[test]
    fn an_answer_keeps_the_newest_items_that_fit() {
        let item = |seq: u64| TapItem {
            seq,
            body: Some(serde_json::Value::String("x".repeat(1000))),
            ..TapItem::default()
        };
        let mut a = TapAnswer::default();
        a.fill((0..200).rev().map(item).collect());
        assert!(
            a.items.len() < 200 && a.items.len() > 50,
            "{}",
            a.items.len()
        );
        assert_eq!(a.left_out, 200 - a.items.len());
        assert_eq!(a.items.last().map(|i| i.seq), Some(199), "newest last");
        assert!(a.items.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(serde_json::to_vec(&a.items).unwrap().len() <= MAX_ANSWER_BYTES + 2);
    }

    #[test]
    fn secrets_by_key_and_long_values_are_cut() {
        assert!(sensitive_key("http.request.header.authorization"));
        assert!(sensitive_key("db.password"));
        assert!(!sensitive_key("log.file.name"));
        let long = "é".repeat(MAX_VALUE_BYTES);
        let c = cut(&long);
        assert!(c.ends_with('…') && c.len() <= MAX_VALUE_BYTES + 3);
    }
}
