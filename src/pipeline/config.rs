//! `Configuration` and `Destination` resources as users write them.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_norway::{Mapping, Value as Yaml};

use super::name::valid_resource_name;

/// `metadata` of instance resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Parameter values: BindPlane's list of `{name, value}` or a plain map. The form written is
/// kept, so a resource serialises back the way it was applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Parameters {
    List(Vec<NamedValue>),
    Map(Mapping),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedValue {
    pub name: String,
    pub value: Yaml,
}

impl Default for Parameters {
    fn default() -> Self {
        Parameters::Map(Mapping::new())
    }
}

/// One parameter value with the YAML path (relative to `parameters`) it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamEntry {
    pub name: String,
    pub value: Yaml,
    /// `[2]` for the list form, `.endpoint` for the map form.
    pub path: String,
}

impl Parameters {
    pub fn is_empty(&self) -> bool {
        match self {
            Parameters::List(l) => l.is_empty(),
            Parameters::Map(m) => m.is_empty(),
        }
    }

    /// The values in written order.
    pub fn entries(&self) -> Vec<ParamEntry> {
        match self {
            Parameters::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, nv)| ParamEntry {
                    name: nv.name.clone(),
                    value: nv.value.clone(),
                    path: format!("[{i}]"),
                })
                .collect(),
            Parameters::Map(m) => m
                .iter()
                .map(|(k, v)| {
                    let name = k.as_str().map_or_else(|| yaml_key(k), str::to_string);
                    ParamEntry {
                        path: format!(".{name}"),
                        name,
                        value: v.clone(),
                    }
                })
                .collect(),
        }
    }

    /// The value written for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Yaml> {
        match self {
            Parameters::List(l) => l.iter().find(|nv| nv.name == name).map(|nv| &nv.value),
            Parameters::Map(m) => m.get(name),
        }
    }

    /// Replaces the value of `name` where it is written (used for masking).
    pub fn replace(&mut self, name: &str, value: Yaml) {
        match self {
            Parameters::List(l) => {
                for nv in l.iter_mut().filter(|nv| nv.name == name) {
                    nv.value = value.clone();
                }
            }
            Parameters::Map(m) => {
                if let Some(v) = m.get_mut(name) {
                    *v = value;
                }
            }
        }
    }
}

fn yaml_key(k: &Yaml) -> String {
    serde_norway::to_string(k)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl Serialize for Parameters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Parameters::List(l) => l.serialize(s),
            Parameters::Map(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Yaml::deserialize(d)? {
            Yaml::Null => Ok(Parameters::default()),
            Yaml::Mapping(m) => {
                if let Some(bad) = m.keys().find(|k| !k.is_string()) {
                    return Err(D::Error::custom(format!(
                        "parameter names must be strings, got {}",
                        yaml_key(bad)
                    )));
                }
                Ok(Parameters::Map(m))
            }
            Yaml::Sequence(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    serde_norway::from_value::<NamedValue>(item).map_err(|e| {
                        D::Error::custom(format!("parameters[{i}] must be {{name, value}}: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Parameters::List),
            _ => Err(D::Error::custom(
                "parameters must be a list of {name, value} or a map of name: value",
            )),
        }
    }
}

/// A processor attached to a source, a destination or the whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessorRef {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Ends its components' IDs (`batch/<name>`); without it, `processor<k>` from its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

impl ProcessorRef {
    /// What the IDs of its components end with when it is `k`-th in its list: the name
    /// given, else `processor<k>`.
    pub fn id_name(&self, k: usize) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("processor{k}"),
        }
    }
}

/// Why `name` cannot name a processor, if it cannot: it ends component IDs, so it holds
/// letters, digits, '_', '-' and '.' only, and not `__` (which joins nested names).
pub fn processor_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("the name is empty (leave it out to have one made from its place)".into())
    } else if !valid_resource_name(name) {
        Some(format!(
            "name {:?} must be {}",
            super::name::cut_name(name),
            super::name::NAME_RULE
        ))
    } else if name.contains("__") {
        Some(format!(
            "name {name:?} may not contain \"__\" (it joins the names of nested components)"
        ))
    } else {
        None
    }
}

/// Problems with the names in one list of processors, as (index, message): a name that
/// cannot be used, or a `type/name` another processor of the list already has (its given
/// name or the `processor<k>` made from its place). The named one of a clashing pair is
/// the one reported, the later one when both are named.
pub fn processor_name_problems(list: &[ProcessorRef]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (k, p) in list.iter().enumerate() {
        let Some(name) = &p.name else { continue };
        if let Some(problem) = processor_name_problem(name) {
            out.push((k, problem));
            continue;
        }
        let clash = list.iter().enumerate().find(|(j, q)| {
            *j != k
                && q.type_name == p.type_name
                && q.id_name(*j) == *name
                && (q.name.is_none() || *j < k)
        });
        if let Some((j, _)) = clash {
            out.push((
                k,
                format!(
                    "name {name:?}: {}/{name} is already the ID of processors[{j}]; give each {} processor its own name",
                    p.type_name, p.type_name
                ),
            ));
        }
    }
    out
}

/// The processor of `list` (other than the `k`-th) whose ID the `k`-th would take if it
/// were named `name`: same type, same name (given or made from its place).
pub fn processor_id_taken(list: &[ProcessorRef], k: usize, name: &str) -> Option<usize> {
    let ty = &list.get(k)?.type_name;
    list.iter()
        .enumerate()
        .position(|(j, q)| j != k && q.type_name == *ty && q.id_name(j) == name)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceRef {
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processors: Vec<ProcessorRef>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

/// Inline (`type` + `parameters`) or a reference to a `Destination` resource (`name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processors: Vec<ProcessorRef>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

impl Selector {
    /// Whether an agent with `labels` is selected (an empty selector selects nothing).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.match_labels.is_empty()
            && self
                .match_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigurationSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceRef>,
    /// Fleet-wide processors: they run on everything, after the sources' own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processors: Vec<ProcessorRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<DestinationRef>,
    /// Collector YAML sent as is; excludes sources, processors and destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// `kind: Configuration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Configuration {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: ConfigurationSpec,
}

impl Configuration {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn label(&self) -> String {
        format!(
            "Configuration {}",
            super::name::cut_name(&self.metadata.name)
        )
    }

    /// YAML that parses back to an equal value.
    pub fn to_yaml(&self) -> Result<String, serde_norway::Error> {
        serde_norway::to_string(self)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationSpec {
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processors: Vec<ProcessorRef>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

/// `kind: Destination`: a named destination shared by configurations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: DestinationSpec,
}

impl Destination {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn label(&self) -> String {
        format!("Destination {}", super::name::cut_name(&self.metadata.name))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
