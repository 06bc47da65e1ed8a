//! Push safety: which component types a rendered Collector configuration uses, and which of
//! them a target agent's build lacks (from the listing it reports). A Collector refuses a
//! configuration that names a type it was not built with, so such a push would only fail
//! on that agent; `push` says so first, and refuses unless forced.
//!
//! Pure: the YAML text and the agents' views in, the findings out.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::fleet::AgentId;
use crate::fleet::components::{AvailableComponents, ComponentKind};
use crate::fleet::snapshot::AgentView;

/// One component type a configuration uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct UsedComponent {
    pub kind: ComponentKind,
    #[serde(rename = "type")]
    pub type_name: String,
}

impl fmt::Display for UsedComponent {
    /// As push reports it: `receiver 'hostmetrics'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.kind, self.type_name)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the configuration is not YAML the component check can read: {0}")]
pub struct UnreadableConfig(String);

/// The component types `yaml` (a Collector configuration) defines, sorted and once each:
/// the keys of its `receivers`, `processors`, `exporters`, `extensions` and `connectors`
/// sections, an id `type/name` counting as its `type`. Every component defined counts,
/// used in a pipeline or not: the Collector refuses unknown types wherever they appear.
pub fn used_components(yaml: &str) -> Result<Vec<UsedComponent>, UnreadableConfig> {
    let doc: serde_norway::Value =
        serde_norway::from_str(yaml).map_err(|e| UnreadableConfig(e.to_string()))?;
    let mut used = BTreeSet::new();
    let Some(top) = doc.as_mapping() else {
        return Ok(Vec::new());
    };
    for kind in ComponentKind::ALL {
        let Some(section) = top.get(kind.section()).and_then(|s| s.as_mapping()) else {
            continue;
        };
        for id in section.keys().filter_map(|k| k.as_str()) {
            let type_name = id.split('/').next().unwrap_or(id).trim();
            if !type_name.is_empty() {
                used.insert(UsedComponent {
                    kind,
                    type_name: type_name.to_string(),
                });
            }
        }
    }
    Ok(used.into_iter().collect())
}

/// What of `used` an agent with `available` lacks, in `used`'s order.
pub fn missing_from<'a>(
    used: &'a [UsedComponent],
    available: &AvailableComponents,
) -> Vec<&'a UsedComponent> {
    used.iter()
        .filter(|u| !available.has(u.kind, &u.type_name))
        .collect()
}

/// One target agent that lacks components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentLacks {
    pub id: AgentId,
    pub name: String,
    pub missing: Vec<UsedComponent>,
}

impl fmt::Display for AgentLacks {
    /// `web-1: missing receiver 'hostmetrics', processor 'resourcedetection'`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: missing ", self.name)?;
        for (i, m) in self.missing.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

/// What a configuration would meet on a set of targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ComponentCheck {
    /// Targets whose listing lacks something the configuration uses, in target order.
    pub lacking: Vec<AgentLacks>,
    /// Targets that list their components (whether they lack anything or not).
    pub checked: usize,
    /// Targets that do not (or whose listing we do not have yet): never counted as lacking.
    pub unknown: usize,
}

impl ComponentCheck {
    pub fn is_clear(&self) -> bool {
        self.lacking.is_empty()
    }
}

/// Checks `used` against each target's listing.
pub fn check_targets<'a>(
    used: &[UsedComponent],
    targets: impl IntoIterator<Item = &'a AgentView>,
) -> ComponentCheck {
    let mut out = ComponentCheck::default();
    for agent in targets {
        let Some(available) = &agent.available_components else {
            out.unknown += 1;
            continue;
        };
        out.checked += 1;
        let missing = missing_from(used, available);
        if !missing.is_empty() {
            out.lacking.push(AgentLacks {
                id: agent.id,
                name: agent.name.to_string(),
                missing: missing.into_iter().cloned().collect(),
            });
        }
    }
    out
}

/// Targets grouped by the listing they report, so that many types can be checked against
/// them cheaply: a fleet runs a handful of builds, and agents of one build share one
/// listing (the registry interns them).
#[derive(Debug, Clone, Default)]
pub struct BuildGroups {
    groups: Vec<(Arc<AvailableComponents>, usize)>,
    /// Targets that report a listing.
    pub reporting: usize,
    /// Targets that do not: never counted as lacking anything.
    pub unknown: usize,
}

impl BuildGroups {
    pub fn of<'a>(targets: impl IntoIterator<Item = &'a AgentView>) -> BuildGroups {
        let mut out = BuildGroups::default();
        let mut index: HashMap<*const AvailableComponents, usize> = HashMap::new();
        for agent in targets {
            let Some(listing) = &agent.available_components else {
                out.unknown += 1;
                continue;
            };
            out.reporting += 1;
            let i = *index.entry(Arc::as_ptr(listing)).or_insert_with(|| {
                out.groups.push((listing.clone(), 0));
                out.groups.len() - 1
            });
            out.groups[i].1 += 1;
        }
        out
    }

    /// How many reporting targets lack any of `used`.
    pub fn lacking(&self, used: &[UsedComponent]) -> usize {
        self.groups
            .iter()
            .filter(|(listing, _)| !missing_from(used, listing).is_empty())
            .map(|(_, n)| n)
            .sum()
    }
}

/// Agents named one per line in a refusal; the rest are counted.
const LISTED: usize = 20;

impl fmt::Display for ComponentCheck {
    /// The refusal push prints: how many, then one agent a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.lacking.len();
        let total = self.checked + self.unknown;
        write!(
            f,
            "{n} of {total} target agent{} would fail, missing components the configuration uses",
            if total == 1 { "" } else { "s" },
        )?;
        if self.unknown > 0 {
            write!(
                f,
                " ({} do{} not report {} components and {} not checked)",
                self.unknown,
                if self.unknown == 1 { "es" } else { "" },
                if self.unknown == 1 { "its" } else { "their" },
                if self.unknown == 1 { "is" } else { "are" },
            )?;
        }
        f.write_str(":")?;
        for a in self.lacking.iter().take(LISTED) {
            write!(f, "\n  {a}")?;
        }
        if n > LISTED {
            write!(f, "\n  … and {} more", n - LISTED)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = "\
receivers:
  hostmetrics:
    collection_interval: 30s
  filelog/nginx:
    include: [/var/log/nginx/*.log]
  filelog/app:
    include: [/var/log/app/*.log]
processors:
  batch: {}
  resourcedetection/hostmetrics: {}
exporters:
  otlphttp/central:
    endpoint: https://central:4318
connectors:
  forward: {}
service:
  pipelines:
    logs:
      receivers: [filelog/nginx, filelog/app]
      processors: [batch]
      exporters: [otlphttp/central]
";

    fn used(kind: ComponentKind, t: &str) -> UsedComponent {
        UsedComponent {
            kind,
            type_name: t.into(),
        }
    }

    #[test]
    fn every_defined_component_counts_once_by_its_type() {
        use ComponentKind::*;
        assert_eq!(
            used_components(RENDERED).unwrap(),
            [
                used(Receiver, "filelog"),
                used(Receiver, "hostmetrics"),
                used(Processor, "batch"),
                used(Processor, "resourcedetection"),
                used(Exporter, "otlphttp"),
                used(Connector, "forward"),
            ]
        );
        assert_eq!(used_components("").unwrap(), []);
        assert_eq!(used_components("receivers: []\n").unwrap(), []);
        assert!(used_components("receivers: [unclosed").is_err());
    }

    fn agent(n: u8, name: &str, types: Option<&[(&str, &str)]>) -> AgentView {
        let mut a = AgentView::blank(AgentId([n; 16]));
        a.name = name.into();
        a.available_components = types.map(|t| {
            Arc::new(AvailableComponents::from_entries(
                vec![n],
                t.iter().map(|(k, t)| (*k, *t, "v0.135.0")),
            ))
        });
        a
    }

    #[test]
    fn targets_lacking_a_type_are_named_and_silent_ones_are_unknown() {
        let full: &[(&str, &str)] = &[
            ("receivers", "filelog"),
            ("receivers", "hostmetrics"),
            ("processors", "batch"),
            ("processors", "resourcedetection"),
            ("exporters", "otlphttp"),
            ("connectors", "forward"),
        ];
        let minimal: &[(&str, &str)] = &[
            ("receivers", "filelog"),
            ("processors", "batch"),
            ("exporters", "otlphttp"),
            ("connectors", "forward"),
        ];
        let agents = [
            agent(1, "web-1", Some(minimal)),
            agent(2, "web-2", Some(full)),
            agent(3, "web-3", None),
        ];
        let used = used_components(RENDERED).unwrap();
        let check = check_targets(&used, &agents);
        assert_eq!((check.checked, check.unknown), (2, 1));
        assert_eq!(check.lacking.len(), 1);
        assert_eq!(
            check.lacking[0].to_string(),
            "web-1: missing receiver 'hostmetrics', processor 'resourcedetection'"
        );
        assert_eq!(
            check.to_string(),
            "1 of 3 target agents would fail, missing components the configuration uses \
             (1 does not report its components and is not checked):\n  \
             web-1: missing receiver 'hostmetrics', processor 'resourcedetection'"
        );
        // Without any listing, nothing is counted as missing.
        let silent = check_targets(&used, &agents[2..]);
        assert!(silent.is_clear());
        assert_eq!(silent.unknown, 1);
    }

    #[test]
    fn builds_are_counted_once_per_listing_shared_by_their_agents() {
        let minimal = Arc::new(AvailableComponents::from_entries(
            vec![1],
            [("receivers", "filelog", "v1")],
        ));
        let agents: Vec<AgentView> = (0..5)
            .map(|i| {
                let mut a = AgentView::blank(AgentId([i; 16]));
                a.available_components = (i != 4).then(|| minimal.clone());
                a
            })
            .chain([agent(
                9,
                "full",
                Some(&[("receivers", "filelog"), ("receivers", "hostmetrics")]),
            )])
            .collect();
        let builds = BuildGroups::of(&agents);
        assert_eq!((builds.reporting, builds.unknown), (5, 1));
        assert_eq!(builds.groups.len(), 2);
        assert_eq!(
            builds.lacking(&[used(ComponentKind::Receiver, "hostmetrics")]),
            4
        );
        assert_eq!(
            builds.lacking(&[used(ComponentKind::Receiver, "filelog")]),
            0
        );
        assert_eq!(builds.lacking(&[]), 0);
    }

    #[test]
    fn a_long_refusal_names_the_first_agents_and_counts_the_rest() {
        let agents: Vec<AgentView> = (0..25)
            .map(|i| agent(i, &format!("a{i:02}"), Some(&[("receivers", "otlp")])))
            .collect();
        let used = [used(ComponentKind::Receiver, "filelog")];
        let text = check_targets(&used, &agents).to_string();
        assert!(
            text.starts_with("25 of 25 target agents would fail, missing components"),
            "{text}"
        );
        assert!(
            text.contains("\n  a19: missing receiver 'filelog'"),
            "{text}"
        );
        assert!(!text.contains("a20:"), "{text}");
        assert!(text.ends_with("\n  … and 5 more"), "{text}");
    }
}
