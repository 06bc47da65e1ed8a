//! Resource types (`SourceType`, `ProcessorType`, `DestinationType`) in BindPlane OP's envelope:
//! parameter definitions, value checking and the per-signal template blocks.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

use super::locate::{Origin, yaml_problem};
use super::problem::Problem;

/// The API versions accepted on every resource.
pub const API_VERSIONS: &[&str] = &["fleetdeck/v1", "bindplane.observiq.com/v1"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TypeKind {
    #[serde(rename = "SourceType")]
    Source,
    #[serde(rename = "ProcessorType")]
    Processor,
    #[serde(rename = "DestinationType")]
    Destination,
}

impl TypeKind {
    pub fn kind_name(self) -> &'static str {
        match self {
            TypeKind::Source => "SourceType",
            TypeKind::Processor => "ProcessorType",
            TypeKind::Destination => "DestinationType",
        }
    }

    pub fn from_kind_name(s: &str) -> Option<Self> {
        match s {
            "SourceType" => Some(TypeKind::Source),
            "ProcessorType" => Some(TypeKind::Processor),
            "DestinationType" => Some(TypeKind::Destination),
            _ => None,
        }
    }

    /// "source", "processor", "destination" (for messages).
    pub fn noun(self) -> &'static str {
        match self {
            TypeKind::Source => "source",
            TypeKind::Processor => "processor",
            TypeKind::Destination => "destination",
        }
    }
}

/// A telemetry signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Logs,
    Metrics,
    Traces,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Logs, Signal::Metrics, Signal::Traces];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sig| sig.as_str() == s)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a block key: `logs`, `metrics+traces`, `logs+metrics+traces`, ...
pub fn parse_signal_key(key: &str) -> Option<Vec<Signal>> {
    let mut out = Vec::new();
    for part in key.split('+') {
        let s = Signal::parse(part)?;
        if out.contains(&s) {
            return None;
        }
        out.push(s);
    }
    Some(out)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMetadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// What the type is about (`Databases`, `Kubernetes`, `Sampling`...), for grouping a long
    /// catalogue; free text, fleetdeck's own types use the names in [`CATEGORIES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Where the component's own documentation is (the upstream README), `{text, url}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documentation: Vec<DocLink>,
}

/// The categories the built-in types use, in the order a catalogue shows them.
pub const CATEGORIES: &[&str] = &[
    "Host",
    "Files and logs",
    "Network and protocols",
    "Kubernetes and containers",
    "Cloud",
    "Databases",
    "Web servers and proxies",
    "Messaging",
    "Applications",
    "Checks",
    "Windows",
    "Attributes and resources",
    "Filtering and sampling",
    "Metrics shaping",
    "Batching and reliability",
    "Derived telemetry",
    "OpenTelemetry",
    "Observability vendors",
    "Storage",
    "Other",
];

/// One of `receivers`/`processors`/`exporters`/`extensions` in a signal block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    Receivers,
    Processors,
    Exporters,
    Extensions,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Receivers,
        Section::Processors,
        Section::Exporters,
        Section::Extensions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Section::Receivers => "receivers",
            Section::Processors => "processors",
            Section::Exporters => "exporters",
            Section::Extensions => "extensions",
        }
    }
}

/// Templates for one signal block; each renders to a YAML list of single-key maps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processors: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporters: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<String>,
    /// Connectors (a ProcessorType only): components that take this block's signals and emit
    /// the signals in `spec.emits`. The renderer places each as an exporter where the
    /// processor sits and as a receiver of the emitted signal's pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectors: Option<String>,
    /// A route (a ProcessorType attached to a destination): a YAML map such as
    /// `{context: log, condition: '...'}`, the routing-table entry that decides which items
    /// reach that destination. The renderer gathers a signal's routes into one `routing`
    /// connector and fills in the pipelines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

impl SignalBlock {
    pub fn get(&self, s: Section) -> Option<&str> {
        match s {
            Section::Receivers => self.receivers.as_deref(),
            Section::Processors => self.processors.as_deref(),
            Section::Exporters => self.exporters.as_deref(),
            Section::Extensions => self.extensions.as_deref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_gate: Option<String>,
    /// The signals a type's connectors emit (`[metrics]` for span metrics); see
    /// [`SignalBlock::connectors`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emits: Vec<String>,
    /// Signal blocks keyed as written (`logs`, `logs+metrics`, ...).
    #[serde(flatten)]
    pub blocks: BTreeMap<String, SignalBlock>,
}

/// Field names of `spec` besides the signal blocks.
pub(crate) const SPEC_FIELDS: &[&str] = &[
    "version",
    "parameters",
    "supportedPlatforms",
    "featureGate",
    "emits",
];

/// A resource type as written in YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    pub api_version: String,
    pub kind: TypeKind,
    pub metadata: TypeMetadata,
    pub spec: TypeSpec,
}

impl ResourceType {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// `SourceType hostmetrics`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{} {}",
            self.kind.kind_name(),
            super::name::cut_name(&self.metadata.name)
        )
    }

    pub fn parameter(&self, name: &str) -> Option<&ParameterDef> {
        self.spec.parameters.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Strings,
    Int,
    Bool,
    Enum,
    Enums,
    Map,
    Yaml,
    Timezone,
    /// A Go duration (`200ms`, `1m30s`): what the Collector's duration settings read.
    Duration,
}

impl ParamType {
    pub const NAMES: &[&str] = &[
        "string", "strings", "int", "bool", "enum", "enums", "map", "yaml", "timezone", "duration",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Strings => "strings",
            ParamType::Int => "int",
            ParamType::Bool => "bool",
            ParamType::Enum => "enum",
            ParamType::Enums => "enums",
            ParamType::Map => "map",
            ParamType::Yaml => "yaml",
            ParamType::Timezone => "timezone",
            ParamType::Duration => "duration",
        }
    }

    /// The value a parameter without default takes, so templates never hit a missing key.
    pub fn zero(self) -> Json {
        match self {
            ParamType::String | ParamType::Enum | ParamType::Yaml => Json::from(""),
            ParamType::Timezone => Json::from("UTC"),
            ParamType::Duration => Json::from("0s"),
            ParamType::Strings | ParamType::Enums => Json::Array(Vec::new()),
            ParamType::Int => Json::from(0),
            ParamType::Bool => Json::Bool(false),
            ParamType::Map => Json::Object(serde_json::Map::new()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Operator {
    Equals,
    NotEquals,
    ContainsAny,
}

/// `relevantIf` condition: the parameter applies only when `name` `operator` `value` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelevantIf {
    pub name: String,
    pub operator: Operator,
    pub value: serde_norway::Value,
}

/// UI hints; `sensitive` also drives masking.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParamOptions {
    #[serde(default, skip_serializing_if = "is_false")]
    pub sensitive: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub multiline: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub creatable: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub track_unchecked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_columns: Option<u8>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub section_header: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_header: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub horizontal_divider: bool,
    /// BindPlane's older name for `sensitive`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub password: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl ParamOptions {
    fn is_default(&self) -> bool {
        *self == ParamOptions::default()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocLink {
    pub text: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParameterDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_norway::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub valid_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relevant_if: Vec<RelevantIf>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub hidden: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub advanced_config: bool,
    #[serde(default, skip_serializing_if = "ParamOptions::is_default")]
    pub options: ParamOptions,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documentation: Vec<DocLink>,
}

impl ParameterDef {
    pub fn is_sensitive(&self) -> bool {
        self.options.sensitive || self.options.password
    }

    /// The default as a template value (the type's zero value when there is none).
    pub fn default_value(&self) -> Result<Json, String> {
        match &self.default {
            None => Ok(self.kind.zero()),
            Some(v) => check_value(self, &yaml_to_json(v)?),
        }
    }

    /// Whether every `relevantIf` condition holds for `values`.
    pub fn is_relevant(&self, values: &serde_json::Map<String, Json>) -> bool {
        self.relevant_if.iter().all(|cond| {
            let Ok(want) = yaml_to_json(&cond.value) else {
                return false;
            };
            let have = values.get(&cond.name).unwrap_or(&Json::Null);
            match cond.operator {
                Operator::Equals => loose_eq(have, &want),
                Operator::NotEquals => !loose_eq(have, &want),
                Operator::ContainsAny => {
                    let wanted: Vec<&Json> = match &want {
                        Json::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    match have {
                        Json::Array(items) => {
                            items.iter().any(|i| wanted.iter().any(|w| loose_eq(i, w)))
                        }
                        other => wanted.iter().any(|w| loose_eq(other, w)),
                    }
                }
            }
        })
    }
}

fn loose_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Converts a YAML value to the JSON-like model templates work on.
pub fn yaml_to_json(v: &serde_norway::Value) -> Result<Json, String> {
    serde_json::to_value(v).map_err(|e| format!("unsupported YAML value: {e}"))
}

/// Checks `value` against the parameter's type and returns it normalised (numbers and booleans
/// given for string parameters become strings; structured YAML for a `yaml` parameter becomes
/// its YAML text).
/// Go's duration syntax: one or more decimal numbers, each with a unit (ns, us, µs, ms,
/// s, m, h), or a bare 0.
pub fn is_duration(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| rest.starts_with(u))
            .max_by_key(|u| u.len());
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

pub fn check_value(def: &ParameterDef, value: &Json) -> Result<Json, String> {
    let got = || describe(value);
    match def.kind {
        ParamType::Duration => match value {
            Json::String(s) if is_duration(s.trim()) => Ok(Json::String(s.trim().to_string())),
            _ => Err(format!(
                "expected a duration such as 200ms, 30s or 1m30s, got {}",
                got()
            )),
        },
        ParamType::String | ParamType::Timezone => {
            let s = match value {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                Json::Bool(b) => b.to_string(),
                _ => return Err(format!("expected a string, got {}", got())),
            };
            if def.kind == ParamType::Timezone && !is_timezone(&s) {
                return Err(format!(
                    "{s:?} is not an IANA time zone name (e.g. \"UTC\", \"Europe/Berlin\")"
                ));
            }
            Ok(Json::String(s))
        }
        ParamType::Strings => match value {
            Json::Array(items) => items
                .iter()
                .map(|i| match i {
                    Json::String(_) => Ok(i.clone()),
                    Json::Number(n) => Ok(Json::String(n.to_string())),
                    _ => Err(format!(
                        "expected a list of strings, found {} in it",
                        describe(i)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array),
            Json::Null => Ok(Json::Array(Vec::new())),
            _ => Err(format!("expected a list of strings, got {}", got())),
        },
        ParamType::Int => match value {
            Json::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            Json::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                Ok(Json::from(n.as_f64().unwrap_or(0.0) as i64))
            }
            _ => Err(format!("expected an integer, got {}", got())),
        },
        ParamType::Bool => match value {
            Json::Bool(_) => Ok(value.clone()),
            _ => Err(format!("expected true or false, got {}", got())),
        },
        ParamType::Enum => match value {
            Json::String(s) if def.valid_values.contains(s) => Ok(value.clone()),
            Json::String(s) => Err(format!(
                "{s:?} is not one of {}",
                def.valid_values.join(", ")
            )),
            _ => Err(format!(
                "expected one of {}, got {}",
                def.valid_values.join(", "),
                got()
            )),
        },
        ParamType::Enums => match value {
            Json::Array(items) => {
                for i in items {
                    match i {
                        Json::String(s) if def.valid_values.contains(s) => {}
                        other => {
                            return Err(format!(
                                "{} is not one of {}",
                                describe(other),
                                def.valid_values.join(", ")
                            ));
                        }
                    }
                }
                Ok(value.clone())
            }
            Json::Null => Ok(Json::Array(Vec::new())),
            _ => Err(format!(
                "expected a list of {}, got {}",
                def.valid_values.join(", "),
                got()
            )),
        },
        ParamType::Map => match value {
            Json::Object(m) => m
                .iter()
                .map(|(k, v)| match v {
                    Json::String(_) => Ok((k.clone(), v.clone())),
                    Json::Number(n) => Ok((k.clone(), Json::String(n.to_string()))),
                    Json::Bool(b) => Ok((k.clone(), Json::String(b.to_string()))),
                    other => Err(format!(
                        "expected string values, key {k:?} has {}",
                        describe(other)
                    )),
                })
                .collect::<Result<serde_json::Map<_, _>, _>>()
                .map(Json::Object),
            Json::Null => Ok(Json::Object(serde_json::Map::new())),
            _ => Err(format!("expected a map of strings, got {}", got())),
        },
        ParamType::Yaml => match value {
            Json::String(s) => serde_norway::from_str::<serde_norway::Value>(s)
                .map(|_| value.clone())
                .map_err(|e| format!("not valid YAML: {e}")),
            Json::Null => Ok(Json::from("")),
            structured => super::template::to_yaml(structured).map(Json::String),
        },
    }
}

fn describe(v: &Json) -> String {
    match v {
        Json::Null => "nothing".into(),
        Json::Bool(b) => format!("bool {b}"),
        Json::Number(n) => format!("number {n}"),
        Json::String(s) => format!("string {s:?}"),
        Json::Array(_) => "a list".into(),
        Json::Object(_) => "a map".into(),
    }
}

static TIMEZONES: &str = include_str!("timezones.txt");

/// IANA zone names (from the tz database shipped with the source) plus Go's `Local`.
pub fn is_timezone(name: &str) -> bool {
    name == "Local" || TIMEZONES.lines().any(|l| l == name)
}

/// A valid Go identifier (parameter names are template variables).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Deserialises a type document, checking the envelope first so errors name the field.
pub fn parse_type_document(
    doc: &Yaml,
    text: &str,
    kind: TypeKind,
    origin: &Origin,
) -> Result<ResourceType, Vec<Problem>> {
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Yaml::as_str)
        .unwrap_or("<unnamed>")
        .to_string();
    let label = format!("{} {name}", kind.kind_name());
    let mut problems = Vec::new();
    if let Some(Yaml::Mapping(spec)) = doc.get("spec") {
        for key in spec.keys() {
            let k = key.as_str().unwrap_or_default();
            if !SPEC_FIELDS.contains(&k) && parse_signal_key(k).is_none() {
                problems.push(origin.place(
                    Problem::new(&label, format!("spec.{k}: unknown field (expected {} or a signal block such as logs, metrics+traces)", SPEC_FIELDS.join(", ")))
                        .at(format!("spec.{k}")),
                ));
            }
        }
        if let Some(Yaml::Sequence(params)) = spec.get("parameters") {
            for (i, p) in params.iter().enumerate() {
                let pname = p.get("name").and_then(Yaml::as_str).unwrap_or("<unnamed>");
                if let Err(e) = serde_norway::from_value::<ParameterDef>(p.clone()) {
                    let mut msg = e.to_string();
                    if let Some(t) = p.get("type").and_then(Yaml::as_str)
                        && !ParamType::NAMES.contains(&t)
                    {
                        msg = format!(
                            "type {t:?} is not supported (supported: {})",
                            ParamType::NAMES.join(", ")
                        );
                    }
                    problems.push(
                        origin.place(
                            Problem::new(&label, msg)
                                .parameter(pname)
                                .at(format!("spec.parameters[{i}]")),
                        ),
                    );
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    serde_norway::from_str::<ResourceType>(text).map_err(|e| vec![yaml_problem(&label, &e, origin)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(kind: ParamType, valid: &[&str]) -> ParameterDef {
        ParameterDef {
            name: "p".into(),
            label: None,
            description: None,
            kind,
            required: false,
            default: None,
            valid_values: valid.iter().map(|s| s.to_string()).collect(),
            relevant_if: Vec::new(),
            hidden: false,
            advanced_config: false,
            options: ParamOptions::default(),
            documentation: Vec::new(),
        }
    }

    #[test]
    fn values_are_checked_by_type() {
        assert_eq!(
            check_value(&def(ParamType::String, &[]), &json!(4318)).unwrap(),
            json!("4318")
        );
        assert!(
            check_value(&def(ParamType::Int, &[]), &json!("30"))
                .unwrap_err()
                .contains("expected an integer")
        );
        assert!(check_value(&def(ParamType::Bool, &[]), &json!("yes")).is_err());
        assert!(
            check_value(&def(ParamType::Enum, &["a", "b"]), &json!("c"))
                .unwrap_err()
                .contains("not one of a, b")
        );
        assert!(check_value(&def(ParamType::Enums, &["a", "b"]), &json!(["a", "z"])).is_err());
        assert!(check_value(&def(ParamType::Strings, &[]), &json!([{"x": 1}])).is_err());
        assert!(check_value(&def(ParamType::Map, &[]), &json!({"k": [1]})).is_err());
        assert!(
            check_value(&def(ParamType::Yaml, &[]), &json!("a: ["))
                .unwrap_err()
                .contains("not valid YAML")
        );
        assert_eq!(
            check_value(&def(ParamType::Yaml, &[]), &json!({"a": 1})).unwrap(),
            json!("a: 1")
        );
        assert!(check_value(&def(ParamType::Timezone, &[]), &json!("Europe/Berlin")).is_ok());
        assert!(check_value(&def(ParamType::Timezone, &[]), &json!("Mars/Olympus")).is_err());
    }

    #[test]
    fn relevant_if_operators() {
        let mut d = def(ParamType::String, &[]);
        d.relevant_if = vec![RelevantIf {
            name: "protocol".into(),
            operator: Operator::Equals,
            value: serde_norway::Value::from("grpc"),
        }];
        let vals = |v: Json| v.as_object().cloned().unwrap_or_default();
        assert!(d.is_relevant(&vals(json!({"protocol": "grpc"}))));
        assert!(!d.is_relevant(&vals(json!({"protocol": "http"}))));
        d.relevant_if[0].operator = Operator::ContainsAny;
        d.relevant_if[0].value = serde_norway::from_str("[a, b]").unwrap();
        assert!(d.is_relevant(&vals(json!({"protocol": ["x", "b"]}))));
        assert!(!d.is_relevant(&vals(json!({"protocol": ["x"]}))));
    }

    #[test]
    fn signal_keys_parse_combinations() {
        assert_eq!(
            parse_signal_key("logs+traces"),
            Some(vec![Signal::Logs, Signal::Traces])
        );
        assert_eq!(parse_signal_key("logs+logs"), None);
        assert_eq!(parse_signal_key("profiles"), None);
    }
}
