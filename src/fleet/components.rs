//! What an agent can run: the component types its build includes, by kind (OpAMP
//! `AvailableComponents`, in the shape the opampsupervisor reports them). The codec turns
//! the wire map into these; the registry keeps the last full listing with the agent; push
//! checks a configuration against it.

use std::collections::BTreeMap;
use std::fmt;

use super::hex_bytes;
use super::text::Text;

/// The five kinds of Collector component, named as the Collector's configuration (and the
/// report) names their sections.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ComponentKind {
    #[serde(rename = "receivers")]
    Receiver,
    #[serde(rename = "processors")]
    Processor,
    #[serde(rename = "exporters")]
    Exporter,
    #[serde(rename = "extensions")]
    Extension,
    #[serde(rename = "connectors")]
    Connector,
}

impl ComponentKind {
    pub const ALL: [ComponentKind; 5] = [
        ComponentKind::Receiver,
        ComponentKind::Processor,
        ComponentKind::Exporter,
        ComponentKind::Extension,
        ComponentKind::Connector,
    ];

    /// The configuration section: `receivers`, `processors`, …
    pub fn section(self) -> &'static str {
        match self {
            ComponentKind::Receiver => "receivers",
            ComponentKind::Processor => "processors",
            ComponentKind::Exporter => "exporters",
            ComponentKind::Extension => "extensions",
            ComponentKind::Connector => "connectors",
        }
    }

    pub fn from_section(s: &str) -> Option<ComponentKind> {
        ComponentKind::ALL.into_iter().find(|k| k.section() == s)
    }
}

impl fmt::Display for ComponentKind {
    /// One of them: `receiver`, `processor`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.section();
        f.write_str(&s[..s.len() - 1])
    }
}

/// One component type the agent's build includes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct AvailableComponent {
    /// The type as configurations name it (`filelog`, `batch`, `otlphttp`).
    #[serde(rename = "type")]
    pub type_name: Text,
    /// `code.version` as reported (e.g. `v0.135.0`); empty when not reported.
    #[serde(default, skip_serializing_if = "no_text")]
    pub version: Text,
}

fn no_text(t: &Text) -> bool {
    t.is_empty()
}

/// Entries of a report left out because they broke the limits below; each is logged when
/// the listing arrives and shown with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Dropped {
    /// Past [`MAX_COMPONENTS`].
    #[serde(default)]
    pub over_limit: u32,
    /// Types no Collector could have: empty, too long, or with characters other than
    /// letters, digits and `_`.
    #[serde(default)]
    pub bad_type: u32,
    /// Under a key that is none of the five kinds.
    #[serde(default)]
    pub unknown_kind: u32,
}

impl Dropped {
    pub fn is_none(&self) -> bool {
        *self == Dropped::default()
    }

    pub fn total(&self) -> u64 {
        u64::from(self.over_limit) + u64::from(self.bad_type) + u64::from(self.unknown_kind)
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            (self.over_limit, "past the limit of entries"),
            (self.bad_type, "with an invalid type"),
            (self.unknown_kind, "under an unknown kind"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{n} {why}"))
        .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Component entries one agent's listing may hold. otelcol-contrib has about 250; a
/// listing past this is cut (and says so), so one agent cannot make the server hold
/// megabytes for it.
pub const MAX_COMPONENTS: usize = 2048;
/// The Collector's own limit on a type's length.
pub const MAX_TYPE_LEN: usize = 63;
/// Longer versions are cut to this many bytes.
pub const MAX_VERSION_LEN: usize = 64;

/// An agent's full listing: what it can run, by kind, each kind sorted by type.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct AvailableComponents {
    /// The agent's hash of its listing (opaque to us): a report with the same hash
    /// and no listing means this one still holds.
    #[serde(with = "hex_bytes")]
    pub hash: Vec<u8>,
    #[serde(rename = "components")]
    pub by_kind: BTreeMap<ComponentKind, Vec<AvailableComponent>>,
    #[serde(default, skip_serializing_if = "Dropped::is_none")]
    pub dropped: Dropped,
}

impl AvailableComponents {
    /// A listing from reported `(kind section, type, version)` entries, held to the
    /// limits: invalid entries are dropped, and past [`MAX_COMPONENTS`] the rest are, all
    /// counted in `dropped`. Entries are taken in the order given (callers sort them, so
    /// a cut listing is the same for the same report).
    pub fn from_entries<'a>(
        hash: Vec<u8>,
        entries: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> AvailableComponents {
        let mut out = AvailableComponents {
            hash,
            ..Default::default()
        };
        let mut kept = 0usize;
        for (section, type_name, version) in entries {
            let Some(kind) = ComponentKind::from_section(section) else {
                out.dropped.unknown_kind = out.dropped.unknown_kind.saturating_add(1);
                continue;
            };
            if !valid_type(type_name) {
                out.dropped.bad_type = out.dropped.bad_type.saturating_add(1);
                continue;
            }
            if kept >= MAX_COMPONENTS {
                out.dropped.over_limit = out.dropped.over_limit.saturating_add(1);
                continue;
            }
            kept += 1;
            out.by_kind
                .entry(kind)
                .or_default()
                .push(AvailableComponent {
                    type_name: Text::shared(type_name),
                    version: Text::shared(cut(version, MAX_VERSION_LEN)),
                });
        }
        for list in out.by_kind.values_mut() {
            list.sort();
            list.dedup_by(|a, b| a.type_name == b.type_name);
            list.shrink_to_fit();
        }
        out
    }

    /// The agent can run components of this kind and type.
    pub fn has(&self, kind: ComponentKind, type_name: &str) -> bool {
        self.by_kind.get(&kind).is_some_and(|list| {
            list.binary_search_by(|c| c.type_name.as_str().cmp(type_name))
                .is_ok()
        })
    }

    /// The version most entries report (a Collector build is one release), if any.
    pub fn common_version(&self) -> Option<&str> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for c in self.by_kind.values().flatten() {
            if !c.version.is_empty() {
                *counts.entry(c.version.as_str()).or_default() += 1;
            }
        }
        // Ties go to the first in order, so the answer does not change from run to run.
        let best = counts.values().copied().max()?;
        counts.into_iter().find(|(_, n)| *n == best).map(|(v, _)| v)
    }

    /// Entries over all kinds.
    pub fn len(&self) -> usize {
        self.by_kind.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads like a Collector component type: a letter, then letters, digits or `_`.
fn valid_type(t: &str) -> bool {
    let mut chars = t.chars();
    t.len() <= MAX_TYPE_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What one message said about the agent's components: the hash always, the listing only
/// when the agent sent it (at first, or because we asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedComponents {
    pub hash: Vec<u8>,
    pub listing: Option<AvailableComponents>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_sorted_by_kind_and_type_with_versions() {
        let c = AvailableComponents::from_entries(
            vec![1, 2],
            [
                ("receivers", "otlp", "v0.135.0"),
                ("receivers", "filelog", "v0.135.0"),
                ("exporters", "otlphttp", ""),
            ],
        );
        let receivers: Vec<&str> = c.by_kind[&ComponentKind::Receiver]
            .iter()
            .map(|c| c.type_name.as_str())
            .collect();
        assert_eq!(receivers, ["filelog", "otlp"]);
        assert!(c.has(ComponentKind::Receiver, "filelog"));
        assert!(
            !c.has(ComponentKind::Exporter, "filelog"),
            "kinds are apart"
        );
        assert!(c.has(ComponentKind::Exporter, "otlphttp"));
        assert_eq!(c.len(), 3);
        assert_eq!(c.common_version(), Some("v0.135.0"));
        assert!(c.dropped.is_none());
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["hash"], "0102");
        assert_eq!(
            json["components"]["receivers"][0],
            serde_json::json!({"type": "filelog", "version": "v0.135.0"})
        );
        assert_eq!(
            json["components"]["exporters"][0],
            serde_json::json!({"type": "otlphttp"})
        );
        let back: AvailableComponents = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn entries_past_the_limits_are_dropped_and_counted() {
        let long_type = "x".repeat(MAX_TYPE_LEN + 1);
        let long_version = "v".repeat(500);
        let many: Vec<String> = (0..MAX_COMPONENTS + 10)
            .map(|i| format!("r{i:05}"))
            .collect();
        let mut entries: Vec<(&str, &str, &str)> =
            many.iter().map(|t| ("receivers", t.as_str(), "")).collect();
        entries.push(("receivers", &long_type, ""));
        entries.push(("receivers", "bad/type", ""));
        entries.push(("receivers", "", ""));
        entries.push(("widgets", "thing", ""));
        let c = AvailableComponents::from_entries(vec![], entries);
        assert_eq!(c.len(), MAX_COMPONENTS);
        assert_eq!(
            c.dropped,
            Dropped {
                over_limit: 10,
                bad_type: 3,
                unknown_kind: 1
            }
        );
        assert_eq!(
            c.dropped.to_string(),
            "10 past the limit of entries, 3 with an invalid type, 1 under an unknown kind"
        );
        let c = AvailableComponents::from_entries(vec![], [("exporters", "otlp", &*long_version)]);
        assert_eq!(
            c.by_kind[&ComponentKind::Exporter][0].version.len(),
            MAX_VERSION_LEN
        );
        // A multi-byte character at the cut is not split.
        let accented = format!("{}é", "v".repeat(MAX_VERSION_LEN - 1));
        let c = AvailableComponents::from_entries(vec![], [("exporters", "otlp", &*accented)]);
        assert_eq!(
            c.by_kind[&ComponentKind::Exporter][0].version.len(),
            MAX_VERSION_LEN - 1
        );
    }

    #[test]
    fn kinds_read_and_print_as_the_configuration_names_them() {
        for k in ComponentKind::ALL {
            assert_eq!(ComponentKind::from_section(k.section()), Some(k));
        }
        assert_eq!(ComponentKind::Receiver.to_string(), "receiver");
        assert_eq!(ComponentKind::from_section("service"), None);
    }
}
