//! A configuration being built step by step — the model behind the TUI's pipeline
//! builder, free of any UI: components (sources, processors, destinations) holding one
//! form value per parameter, checked as they change, and turned into a [`Configuration`]
//! and back.

use serde_json::{Map, Value as Json};
use serde_norway::{Mapping, Value as Yaml};

use super::config::{
    Configuration, ConfigurationSpec, DestinationRef, Metadata, Parameters, ProcessorRef, SourceRef,
};
use super::name::valid_resource_name;
use super::registry::{LoadedType, TypeRegistry};
use super::types::{ParamType, ParameterDef, TypeKind, check_value, yaml_to_json};

/// What a form field holds while it is edited.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// `string`, `int`, `timezone` and `yaml` parameters: the text as typed.
    Text(String),
    Bool(bool),
    /// `enum`: one of the valid values (empty when none is chosen).
    Choice(String),
    /// `enums`: chosen valid values, in the order of the definition.
    Choices(Vec<String>),
    /// `strings`.
    Items(Vec<String>),
    /// `map`: key/value pairs in written order.
    Pairs(Vec<(String, String)>),
}

/// One parameter of a component, as a form field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub def: ParameterDef,
    pub value: FieldValue,
}

impl Field {
    /// A field holding the parameter's default (or its type's zero value).
    pub fn new(def: &ParameterDef) -> Field {
        let value = def.default_value().unwrap_or_else(|_| def.kind.zero());
        Field::from_json(def, &value)
    }

    /// A field holding `value` (already a template value, e.g. from a configuration).
    pub fn from_json(def: &ParameterDef, value: &Json) -> Field {
        let text = |v: &Json| match v {
            Json::String(s) => s.clone(),
            Json::Null => String::new(),
            other => other.to_string(),
        };
        let strings = |v: &Json| match v {
            Json::Array(items) => items.iter().map(text).collect(),
            Json::Null => Vec::new(),
            other => vec![text(other)],
        };
        let value = match def.kind {
            ParamType::String | ParamType::Int | ParamType::Timezone | ParamType::Duration => {
                FieldValue::Text(text(value))
            }
            ParamType::Yaml => FieldValue::Text(match value {
                Json::String(s) => s.clone(),
                Json::Null => String::new(),
                structured => super::template::to_yaml(structured).unwrap_or_default(),
            }),
            ParamType::Bool => FieldValue::Bool(matches!(value, Json::Bool(true))),
            ParamType::Enum => FieldValue::Choice(text(value)),
            ParamType::Enums => {
                let chosen: Vec<String> = strings(value);
                FieldValue::Choices(
                    def.valid_values
                        .iter()
                        .filter(|v| chosen.contains(v))
                        .cloned()
                        .collect(),
                )
            }
            ParamType::Strings => FieldValue::Items(strings(value)),
            ParamType::Map => FieldValue::Pairs(match value {
                Json::Object(m) => m.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
                _ => Vec::new(),
            }),
        };
        Field {
            def: def.clone(),
            value,
        }
    }

    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The label shown in forms: the definition's label, else its name.
    pub fn label(&self) -> &str {
        self.def.label.as_deref().unwrap_or(&self.def.name)
    }

    /// Edited in a multi-line text area (`yaml` parameters and `multiline` strings, and
    /// the line-per-item editors of lists and maps).
    pub fn is_multiline(&self) -> bool {
        matches!(
            self.def.kind,
            ParamType::Yaml | ParamType::Strings | ParamType::Map
        ) || self.def.options.multiline
    }

    /// Whether the value is typed as text (as opposed to toggled or picked).
    pub fn is_text(&self) -> bool {
        matches!(
            self.value,
            FieldValue::Text(_) | FieldValue::Items(_) | FieldValue::Pairs(_)
        )
    }

    /// The value as the template sees it, or what is wrong with the text typed.
    pub fn to_json(&self) -> Result<Json, String> {
        let raw = match &self.value {
            FieldValue::Text(t) if self.def.kind == ParamType::Int => {
                let t = t.trim();
                if t.is_empty() {
                    return Ok(Json::Null);
                }
                match t.parse::<i64>() {
                    Ok(n) => Json::from(n),
                    Err(_) => return Err(format!("{t:?} is not a whole number")),
                }
            }
            FieldValue::Text(t) => Json::String(t.clone()),
            FieldValue::Bool(b) => Json::Bool(*b),
            FieldValue::Choice(c) if c.is_empty() => Json::Null,
            FieldValue::Choice(c) => Json::String(c.clone()),
            FieldValue::Choices(cs) => Json::Array(cs.iter().cloned().map(Json::String).collect()),
            FieldValue::Items(items) => {
                Json::Array(items.iter().cloned().map(Json::String).collect())
            }
            FieldValue::Pairs(pairs) => Json::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                    .collect(),
            ),
        };
        if raw.is_null() {
            return Ok(raw);
        }
        check_value(&self.def, &raw)
    }

    /// One line for the form (sensitive values are never shown, not even their length).
    pub fn summary(&self) -> String {
        match &self.value {
            FieldValue::Text(t) if self.def.is_sensitive() => {
                if t.is_empty() {
                    String::new()
                } else {
                    "••••••••".into()
                }
            }
            FieldValue::Text(t) => {
                let mut lines = t.lines();
                let first = lines.next().unwrap_or("").to_string();
                match lines.count() {
                    0 => first,
                    more => format!("{first} … (+{more} lines)"),
                }
            }
            FieldValue::Bool(b) => if *b { "[x] yes" } else { "[ ] no" }.into(),
            FieldValue::Choice(c) if c.is_empty() => "(choose)".into(),
            FieldValue::Choice(c) => format!("‹ {c} ›"),
            FieldValue::Choices(cs) if cs.is_empty() => "(none)".into(),
            FieldValue::Choices(cs) => cs.join(", "),
            FieldValue::Items(items) if items.is_empty() => "(empty list)".into(),
            FieldValue::Items(items) => format!("[{}] {}", items.len(), items.join(", ")),
            FieldValue::Pairs(pairs) if pairs.is_empty() => "(no entries)".into(),
            FieldValue::Pairs(pairs) => {
                let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}] {}", pairs.len(), shown.join(", "))
            }
        }
    }

    /// The text a text editor starts with: lists one item per line, maps `key=value`.
    pub fn editor_text(&self) -> String {
        match &self.value {
            FieldValue::Text(t) => t.clone(),
            FieldValue::Items(items) => items.join("\n"),
            FieldValue::Pairs(pairs) => pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            other => format!("{other:?}"),
        }
    }

    /// Takes the text from an editor. A map line without `=` is refused (naming the line)
    /// and changes nothing.
    pub fn set_text(&mut self, text: &str) -> Result<(), String> {
        match &mut self.value {
            FieldValue::Text(t) => *t = text.to_string(),
            FieldValue::Items(items) => {
                *items = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            FieldValue::Pairs(pairs) => *pairs = parse_pairs(text)?,
            _ => return Err(format!("{} is not edited as text", self.def.name)),
        }
        Ok(())
    }

    /// Space on a field: flips a bool, or moves an enum to its next value.
    pub fn toggle(&mut self) {
        match &mut self.value {
            FieldValue::Bool(b) => *b = !*b,
            FieldValue::Choice(_) => self.cycle(1),
            _ => {}
        }
    }

    /// Moves an enum `delta` places through its valid values (wrapping).
    pub fn cycle(&mut self, delta: isize) {
        let FieldValue::Choice(c) = &mut self.value else {
            return;
        };
        let valid = &self.def.valid_values;
        if valid.is_empty() {
            return;
        }
        let n = valid.len() as isize;
        let at = valid.iter().position(|v| v == c).map_or(-1, |i| i as isize);
        let next = if at < 0 && delta < 0 {
            n - 1
        } else {
            (at + delta).rem_euclid(n)
        };
        *c = valid[next as usize].clone();
    }

    /// Adds or removes one of an `enums` parameter's values.
    pub fn toggle_choice(&mut self, value: &str) {
        let FieldValue::Choices(cs) = &mut self.value else {
            return;
        };
        if let Some(i) = cs.iter().position(|c| c == value) {
            cs.remove(i);
        } else {
            cs.push(value.to_string());
            let order = &self.def.valid_values;
            cs.sort_by_key(|c| order.iter().position(|v| v == c));
        }
    }

    /// Sets an `enum` to one of its valid values.
    pub fn choose(&mut self, value: &str) {
        if let FieldValue::Choice(c) = &mut self.value
            && self.def.valid_values.iter().any(|v| v == value)
        {
            *c = value.to_string();
        }
    }
}

/// `key=value` per line (blank lines skipped); `key: value` is accepted too.
pub fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(": ")) else {
            return Err(format!("line {}: expected key=value, got {line:?}", i + 1));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("line {}: the key is empty", i + 1));
        }
        if out.iter().any(|(have, _)| have == k) {
            return Err(format!("line {}: key {k:?} is given twice", i + 1));
        }
        out.push((k.to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// A source, processor or destination with its form.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub kind: TypeKind,
    pub type_name: String,
    /// The type's display name (or its name).
    pub title: String,
    pub fields: Vec<Field>,
    /// Parameters the type does not define, kept so the review names them.
    pub unknown: Vec<(String, Yaml)>,
    /// A source's or destination's own processors, kept as they were written.
    pub own_processors: Vec<ProcessorRef>,
    pub display_name: Option<String>,
    pub disabled: bool,
}

impl Component {
    /// A new component with every default filled in.
    pub fn new(t: &LoadedType) -> Component {
        Component {
            kind: t.kind(),
            type_name: t.name().to_string(),
            title: title_of(t),
            fields: t.def.spec.parameters.iter().map(Field::new).collect(),
            unknown: Vec::new(),
            own_processors: Vec::new(),
            display_name: None,
            disabled: false,
        }
    }

    /// A component holding the values written in a configuration.
    pub fn with_parameters(t: &LoadedType, params: &Parameters) -> Component {
        let mut c = Component::new(t);
        for entry in params.entries() {
            match c.fields.iter_mut().find(|f| f.def.name == entry.name) {
                Some(f) => match yaml_to_json(&entry.value).and_then(|j| check_value(&f.def, &j)) {
                    Ok(v) => *f = Field::from_json(&f.def, &v),
                    Err(_) => c.unknown.push((entry.name, entry.value)),
                },
                None => c.unknown.push((entry.name, entry.value)),
            }
        }
        c
    }

    /// Every parameter's current value, for `relevantIf` (a field whose text does not
    /// parse counts as its default).
    pub fn values(&self) -> Map<String, Json> {
        self.fields
            .iter()
            .map(|f| {
                let v = match f.to_json() {
                    Ok(Json::Null) | Err(_) => f.def.default_value().unwrap_or(Json::Null),
                    Ok(v) => v,
                };
                (f.def.name.clone(), v)
            })
            .collect()
    }

    /// Indices of the fields the form shows: not hidden, relevant to the other values,
    /// and not advanced unless `advanced` is on.
    pub fn visible(&self, advanced: bool) -> Vec<usize> {
        let values = self.values();
        self.fields
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !f.def.hidden && (advanced || !f.def.advanced_config) && f.def.is_relevant(&values)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// How many relevant fields are folded away as advanced.
    pub fn folded(&self) -> usize {
        let values = self.values();
        self.fields
            .iter()
            .filter(|f| !f.def.hidden && f.def.advanced_config && f.def.is_relevant(&values))
            .count()
    }

    /// What is wrong with field `i` as it stands, for the inline message.
    pub fn problem(&self, i: usize) -> Option<String> {
        let f = self.fields.get(i)?;
        if !f.def.is_relevant(&self.values()) {
            return None;
        }
        match f.to_json() {
            Err(e) => Some(e),
            Ok(v) => {
                let empty = match &v {
                    Json::Null => true,
                    Json::String(s) => s.trim().is_empty(),
                    Json::Array(a) => a.is_empty(),
                    Json::Object(m) => m.is_empty(),
                    _ => false,
                };
                if f.def.required && empty {
                    return Some("is required".to_string());
                }
                match &v {
                    Json::String(s) if !empty => endpoint_problem(&f.def.name, s),
                    _ => None,
                }
            }
        }
    }

    /// What would be wrong with field `i` holding `text` (checked while it is typed);
    /// the form itself is not changed.
    pub fn problem_with(&self, i: usize, text: &str) -> Option<String> {
        let mut trial = self.clone();
        let f = trial.fields.get_mut(i)?;
        if let Err(e) = f.set_text(text) {
            return Some(e);
        }
        trial.problem(i)
    }

    /// Every field problem, as (parameter, message), relevant fields only.
    pub fn problems(&self) -> Vec<(String, String)> {
        (0..self.fields.len())
            .filter_map(|i| {
                self.problem(i)
                    .map(|m| (self.fields[i].def.name.clone(), m))
            })
            .collect()
    }

    /// The values to write: relevant parameters that differ from their defaults (a
    /// field that does not parse is written as typed, so rendering names the problem).
    pub fn parameters(&self) -> Parameters {
        let values = self.values();
        let mut map = Mapping::new();
        for f in &self.fields {
            if !f.def.is_relevant(&values) {
                continue;
            }
            let value = match f.to_json() {
                Ok(Json::Null) => continue,
                Ok(v) => v,
                Err(_) => Json::String(f.editor_text()),
            };
            if f.def.default_value().ok().as_ref() == Some(&value) {
                continue;
            }
            if let Ok(y) = serde_norway::to_value(&value) {
                map.insert(Yaml::String(f.def.name.clone()), y);
            }
        }
        for (name, value) in &self.unknown {
            map.insert(Yaml::String(name.clone()), value.clone());
        }
        Parameters::Map(map)
    }
}

impl Component {
    /// What tells this component apart from others of its type: the name the user gave
    /// it (`displayName`), else its type's name.
    pub fn base_label(&self) -> &str {
        match self.display_name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => name,
            _ => &self.type_name,
        }
    }
}

/// Labels that tell components apart: each base as is the first time it is seen, then
/// `base/2`, `base/3`, … (the Collector's `type/name` style), skipping labels already used.
pub fn unique_labels<'a>(bases: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut used = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for base in bases {
        let mut label = base.to_string();
        let mut k = 2;
        while used.contains(&label) {
            label = format!("{base}/{k}");
            k += 1;
        }
        used.insert(label.clone());
        out.push(label);
    }
    out
}

fn title_of(t: &LoadedType) -> String {
    t.def
        .metadata
        .display_name
        .clone()
        .unwrap_or_else(|| t.name().to_string())
}

/// A destination of the configuration: built here, or a shared `Destination` resource.
#[derive(Debug, Clone, PartialEq)]
pub enum DestinationItem {
    Inline(Component),
    /// Named destinations are shown and kept, not edited here.
    Named(DestinationRef),
}

impl DestinationItem {
    /// What the label of [`Draft::destination_labels`] starts from: the resource's name
    /// for a shared destination.
    pub fn base_label(&self) -> &str {
        match self {
            DestinationItem::Inline(c) => c.base_label(),
            DestinationItem::Named(r) => r.name.as_deref().unwrap_or("?"),
        }
    }

    pub fn title(&self) -> String {
        match self {
            DestinationItem::Inline(c) => c.title.clone(),
            DestinationItem::Named(r) => {
                format!("{} (shared)", r.name.as_deref().unwrap_or("?"))
            }
        }
    }
}

/// The configuration under construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// Everything the builder does not edit (labels, selector, …), kept as it was.
    pub base: Configuration,
    pub sources: Vec<Component>,
    pub processors: Vec<Component>,
    pub destinations: Vec<DestinationItem>,
    /// Collector YAML written by hand: when set, it is the whole configuration.
    pub raw: Option<String>,
}

impl Default for Draft {
    fn default() -> Self {
        Draft {
            base: Configuration {
                api_version: "fleetdeck/v1".into(),
                kind: "Configuration".into(),
                metadata: Metadata::default(),
                spec: ConfigurationSpec::default(),
            },
            sources: Vec::new(),
            processors: Vec::new(),
            destinations: Vec::new(),
            raw: None,
        }
    }
}

impl Draft {
    /// Opens an existing configuration for editing. Components whose type is unknown
    /// cannot be edited: they are left out and named in the returned warnings.
    pub fn from_configuration(cfg: &Configuration, types: &TypeRegistry) -> (Draft, Vec<String>) {
        let mut warnings = Vec::new();
        let mut lookup = |kind: TypeKind, name: &str, at: String| {
            let t = types.get(kind, name).cloned();
            if t.is_none() {
                warnings.push(format!(
                    "{at}: unknown {} type '{name}' left out",
                    kind.noun()
                ));
            }
            t
        };
        let spec = &cfg.spec;
        let mut sources = Vec::new();
        for (i, s) in spec.sources.iter().enumerate() {
            if let Some(t) = lookup(TypeKind::Source, &s.type_name, format!("sources[{i}]")) {
                let mut c = Component::with_parameters(&t, &s.parameters);
                c.own_processors = s.processors.clone();
                c.display_name = s.display_name.clone();
                c.disabled = s.disabled;
                sources.push(c);
            }
        }
        let mut processors = Vec::new();
        for (i, p) in spec.processors.iter().enumerate() {
            if let Some(t) = lookup(
                TypeKind::Processor,
                &p.type_name,
                format!("processors[{i}]"),
            ) {
                let mut c = Component::with_parameters(&t, &p.parameters);
                c.display_name = p.name.clone();
                c.disabled = p.disabled;
                processors.push(c);
            }
        }
        let mut destinations = Vec::new();
        for (i, d) in spec.destinations.iter().enumerate() {
            // A reference is kept exactly as written, even with a stray `type`: the
            // review names that problem rather than the draft quietly making it inline.
            match (&d.type_name, &d.name) {
                (Some(ty), None) => {
                    if let Some(t) = lookup(TypeKind::Destination, ty, format!("destinations[{i}]"))
                    {
                        let mut c = Component::with_parameters(&t, &d.parameters);
                        c.own_processors = d.processors.clone();
                        c.display_name = d.display_name.clone();
                        c.disabled = d.disabled;
                        destinations.push(DestinationItem::Inline(c));
                    }
                }
                _ => destinations.push(DestinationItem::Named(d.clone())),
            }
        }
        let mut base = cfg.clone();
        base.spec.sources.clear();
        base.spec.processors.clear();
        base.spec.destinations.clear();
        base.spec.raw = None;
        let draft = Draft {
            base,
            sources,
            processors,
            destinations,
            raw: spec.raw.clone(),
        };
        (draft, warnings)
    }

    /// The configuration as it stands, named `name`.
    pub fn to_configuration(&self, name: &str) -> Configuration {
        let mut cfg = self.base.clone();
        cfg.metadata.name = name.to_string();
        if let Some(raw) = &self.raw {
            cfg.spec.raw = Some(raw.clone());
            return cfg;
        }
        cfg.spec.sources = self
            .sources
            .iter()
            .map(|c| SourceRef {
                type_name: c.type_name.clone(),
                display_name: c.display_name.clone(),
                parameters: c.parameters(),
                processors: c.own_processors.clone(),
                disabled: c.disabled,
            })
            .collect();
        cfg.spec.processors = self
            .processors
            .iter()
            .map(|c| ProcessorRef {
                type_name: c.type_name.clone(),
                name: c.display_name.clone(),
                parameters: c.parameters(),
                disabled: c.disabled,
            })
            .collect();
        cfg.spec.destinations = self
            .destinations
            .iter()
            .map(|d| match d {
                DestinationItem::Named(r) => r.clone(),
                DestinationItem::Inline(c) => DestinationRef {
                    name: None,
                    type_name: Some(c.type_name.clone()),
                    display_name: c.display_name.clone(),
                    parameters: c.parameters(),
                    processors: c.own_processors.clone(),
                    disabled: c.disabled,
                },
            })
            .collect();
        cfg
    }

    /// Whether the draft has a source of type `name`.
    pub fn has_source(&self, name: &str) -> bool {
        self.source_count(name) > 0
    }

    /// How many sources of type `name` the draft has.
    pub fn source_count(&self, name: &str) -> usize {
        self.sources.iter().filter(|c| c.type_name == name).count()
    }

    /// One distinct label per source, in order (`filelog`, `filelog/2`, or the name the
    /// user gave it).
    pub fn source_labels(&self) -> Vec<String> {
        unique_labels(self.sources.iter().map(Component::base_label))
    }

    /// One distinct label per destination, in order; a shared one is labelled by its name.
    pub fn destination_labels(&self) -> Vec<String> {
        unique_labels(self.destinations.iter().map(DestinationItem::base_label))
    }

    /// Whether the shared destination `name` is already used.
    pub fn has_shared_destination(&self, name: &str) -> bool {
        self.destinations
            .iter()
            .any(|d| matches!(d, DestinationItem::Named(r) if r.name.as_deref() == Some(name)))
    }

    /// A reference to the shared `Destination` resource `name`.
    pub fn add_shared_destination(&mut self, name: &str) {
        self.destinations
            .push(DestinationItem::Named(DestinationRef {
                name: Some(name.to_string()),
                type_name: None,
                display_name: None,
                parameters: Parameters::default(),
                processors: Vec::new(),
                disabled: false,
            }));
    }
}

/// Why `name` cannot name a configuration, if it cannot.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("a name is required".into())
    } else if !valid_resource_name(name) {
        Some(format!(
            "{:?}: a name is {}",
            super::name::cut_name(name),
            super::name::NAME_RULE
        ))
    } else {
        None
    }
}

/// Whether type `t` matches a search: every word must appear in its name, display name
/// or description, or name one of its signals (`logs`, `metrics`, `traces`).
pub fn matches_search(t: &LoadedType, query: &str) -> bool {
    let hay = format!(
        "{} {} {}",
        t.name(),
        t.def.metadata.display_name.as_deref().unwrap_or(""),
        t.def.metadata.description.as_deref().unwrap_or("")
    )
    .to_lowercase();
    let signals: Vec<&str> = t.signals().iter().map(|s| s.as_str()).collect();
    query.split_whitespace().all(|word| {
        let w = word.to_lowercase();
        hay.contains(&w) || signals.iter().any(|s| s.starts_with(&w))
    })
}

/// A parameter named like an address (`endpoint`, `…_endpoint`, `url`, `…_url`) holding
/// something no Collector would reach: a URL must be `http(s)://host[:port][/path]`, and
/// without a scheme it must be `host:port`. Templates (`${env:…}`) are left alone.
pub fn endpoint_problem(name: &str, value: &str) -> Option<String> {
    let name = name.to_lowercase();
    let addressy = name == "endpoint"
        || name.ends_with("_endpoint")
        || name == "url"
        || name.ends_with("_url");
    let v = value.trim();
    if !addressy || v.contains("${") || v.contains("{{") {
        return None;
    }
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    let host_port = |hp: &str| -> bool {
        // [v6]:port, host:port; the host part must not be empty or hold spaces.
        let (host, port) = match hp.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        };
        !host.is_empty() && !host.contains(char::is_whitespace) && port.is_none_or(port_ok)
    };
    match v.split_once("://") {
        Some((scheme, rest)) => {
            if !matches!(scheme, "http" | "https") {
                return Some(format!("{v:?}: the scheme must be http or https"));
            }
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            (!host_port(authority))
                .then(|| format!("{v:?} is not a URL: expected {scheme}://host[:port][/path]"))
        }
        None => (!(v.contains(':') && host_port(v)))
            .then(|| format!("{v:?}: expected host:port, or a URL such as https://host:4318")),
    }
}

/// Types of one kind sorted by name, for pickers.
pub fn types_of(types: &TypeRegistry, kind: TypeKind) -> Vec<std::sync::Arc<LoadedType>> {
    let mut out: Vec<_> = types.iter().filter(|t| t.kind() == kind).cloned().collect();
    out.sort_by(|a, b| a.name().cmp(b.name()));
    out
}

#[cfg(test)]
mod tests {
    use super::endpoint_problem;

    #[test]
    fn endpoints_must_be_urls_or_host_port() {
        let ok = [
            "https://collector.example.net:4318",
            "http://127.0.0.1:4318/v1",
            "collector:4317",
            "0.0.0.0:4317",
            "[::1]:4317",
            "${env:OTLP_ENDPOINT}",
        ];
        for v in ok {
            assert_eq!(endpoint_problem("endpoint", v), None, "{v}");
        }
        for v in [
            "htp://x:1",
            "https://",
            "collector",
            "https://a b:4318",
            "host:99999",
            "x:0",
        ] {
            assert!(endpoint_problem("endpoint", v).is_some(), "{v}");
        }
        assert_eq!(
            endpoint_problem("include", "whatever"),
            None,
            "only addresses"
        );
        assert!(endpoint_problem("traces_url", "nope").is_some());
    }

    use super::*;
    use serde_json::json;

    fn registry() -> TypeRegistry {
        TypeRegistry::builtin()
    }

    fn component(kind: TypeKind, name: &str) -> Component {
        let types = registry();
        Component::new(types.get(kind, name).expect("builtin type"))
    }

    fn field<'a>(c: &'a mut Component, name: &str) -> &'a mut Field {
        c.fields
            .iter_mut()
            .find(|f| f.def.name == name)
            .expect("field")
    }

    #[test]
    fn defaults_are_prefilled_and_not_written_back() {
        let c = component(TypeKind::Source, "otlp");
        assert_eq!(
            c.fields
                .iter()
                .find(|f| f.name() == "grpc_port")
                .map(|f| &f.value),
            Some(&FieldValue::Text("4317".into()))
        );
        assert!(c.parameters().is_empty(), "{:?}", c.parameters());
    }

    #[test]
    fn relevant_if_hides_fields_and_drops_their_values() {
        let mut c = component(TypeKind::Source, "otlp");
        let names = |c: &Component| -> Vec<String> {
            c.visible(false)
                .iter()
                .map(|i| c.fields[*i].def.name.clone())
                .collect()
        };
        assert!(names(&c).contains(&"grpc_port".to_string()));
        field(&mut c, "grpc_port").value = FieldValue::Text("5317".into());
        field(&mut c, "enable_grpc").toggle();
        assert!(!names(&c).contains(&"grpc_port".to_string()));
        let Parameters::Map(m) = c.parameters() else {
            panic!("map form")
        };
        assert_eq!(m.get("enable_grpc"), Some(&Yaml::Bool(false)));
        assert!(
            m.get("grpc_port").is_none(),
            "irrelevant value is not written"
        );
    }

    #[test]
    fn inline_validation_names_the_problem() {
        let mut c = component(TypeKind::Destination, "otlphttp");
        let endpoint = c
            .fields
            .iter()
            .position(|f| f.name() == "endpoint")
            .unwrap_or(0);
        assert_eq!(c.problem(endpoint).as_deref(), Some("is required"));
        field(&mut c, "endpoint").value = FieldValue::Text("https://x:4318".into());
        assert_eq!(c.problem(endpoint), None);
        let mut s = component(TypeKind::Source, "otlp");
        field(&mut s, "http_port").value = FieldValue::Text("43x8".into());
        let port = s
            .fields
            .iter()
            .position(|f| f.name() == "http_port")
            .unwrap_or(0);
        assert!(
            s.problem(port)
                .unwrap_or_default()
                .contains("not a whole number")
        );
    }

    #[test]
    fn map_and_list_editors_parse_lines() {
        let mut c = component(TypeKind::Destination, "otlphttp");
        let headers = field(&mut c, "headers");
        assert!(headers.set_text("a=1\n\nb: two").is_ok());
        assert_eq!(
            headers.value,
            FieldValue::Pairs(vec![("a".into(), "1".into()), ("b".into(), "two".into())])
        );
        let before = headers.value.clone();
        let err = headers.set_text("a=1\noops").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert_eq!(headers.value, before, "a refused edit changes nothing");
    }

    #[test]
    fn enums_cycle_and_toggle_in_definition_order() {
        let mut c = component(TypeKind::Source, "otlp");
        let f = field(&mut c, "telemetry_types");
        f.toggle_choice("Logs");
        assert_eq!(
            f.value,
            FieldValue::Choices(vec!["Metrics".into(), "Traces".into()])
        );
        f.toggle_choice("Logs");
        assert_eq!(f.to_json(), Ok(json!(["Logs", "Metrics", "Traces"])));
        let mut d = component(TypeKind::Destination, "otlphttp");
        let comp = field(&mut d, "compression");
        comp.cycle(1);
        assert_eq!(comp.value, FieldValue::Choice("zstd".into()));
        comp.cycle(-2);
        assert_eq!(comp.value, FieldValue::Choice("none".into()));
    }

    #[test]
    fn a_configuration_round_trips_through_the_draft() {
        let types = registry();
        let text = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: web\n  labels: {env: prod}\nspec:\n  sources:\n    - type: otlp\n      parameters: {http_port: 4319}\n  processors:\n    - type: batch\n  destinations:\n    - type: otlphttp\n      parameters: {endpoint: \"https://c:4318\"}\n    - name: shared-loki\n";
        let cfg: Configuration = serde_norway::from_str(text).expect("parses");
        let (draft, warnings) = Draft::from_configuration(&cfg, &types);
        assert!(warnings.is_empty(), "{warnings:?}");
        let back = draft.to_configuration("web");
        assert_eq!(
            back.metadata.labels.get("env").map(String::as_str),
            Some("prod")
        );
        assert_eq!(
            back.spec.sources[0].parameters.get("http_port"),
            Some(&Yaml::Number(4319.into()))
        );
        assert_eq!(
            back.spec.destinations[1].name.as_deref(),
            Some("shared-loki")
        );
        assert_eq!(back.spec.processors[0].type_name, "batch");
    }

    #[test]
    fn sources_of_one_type_get_distinct_labels() {
        let mut draft = Draft::default();
        for _ in 0..3 {
            draft.sources.push(component(TypeKind::Source, "filelog"));
        }
        draft.sources.push(component(TypeKind::Source, "otlp"));
        assert_eq!(
            draft.source_labels(),
            ["filelog", "filelog/2", "filelog/3", "otlp"]
        );
        // A name given by the user is the label; a clash still comes out distinct.
        draft.sources[1].display_name = Some("nginx".into());
        draft.sources[2].display_name = Some("filelog".into());
        assert_eq!(
            draft.source_labels(),
            ["filelog", "nginx", "filelog/2", "otlp"]
        );
        assert_eq!(unique_labels(["a", "a/2", "a"]), ["a", "a/2", "a/3"]);
    }

    #[test]
    fn same_type_sources_and_shared_destinations_round_trip_exactly() {
        let types = registry();
        let text = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: logs\nspec:\n  sources:\n    - type: filelog\n      parameters: {include: [/var/log/nginx/*.log]}\n    - type: filelog\n      displayName: app logs\n      parameters: {include: [/var/log/app/*.log]}\n      processors:\n        - type: batch\n  processors:\n    - type: batch\n      name: fast\n  destinations:\n    - name: central\n    - type: otlphttp\n      parameters: {endpoint: \"https://c:4318\"}\n";
        let cfg: Configuration = serde_norway::from_str(text).expect("parses");
        let (draft, warnings) = Draft::from_configuration(&cfg, &types);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(draft.source_labels(), ["filelog", "app logs"]);
        assert_eq!(draft.destination_labels(), ["central", "otlphttp"]);
        assert_eq!(draft.processors[0].display_name.as_deref(), Some("fast"));
        assert!(matches!(&draft.destinations[0], DestinationItem::Named(_)));
        assert_eq!(draft.to_configuration("logs"), cfg);
    }

    #[test]
    fn a_reference_with_a_stray_type_is_kept_as_written() {
        let types = registry();
        let text = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: x\nspec:\n  destinations:\n    - {name: central, type: otlphttp}\n";
        let cfg: Configuration = serde_norway::from_str(text).expect("parses");
        let (draft, _) = Draft::from_configuration(&cfg, &types);
        assert_eq!(draft.to_configuration("x"), cfg);
    }

    #[test]
    fn search_matches_words_and_signals() {
        let types = registry();
        let otlp = types.get(TypeKind::Source, "otlp").expect("otlp");
        let host = types
            .get(TypeKind::Source, "hostmetrics")
            .expect("hostmetrics");
        assert!(matches_search(otlp, "traces"));
        assert!(!matches_search(host, "traces"));
        assert!(matches_search(host, "host metr"));
        assert!(!matches_search(host, "nginx"));
    }

    #[test]
    fn names_are_checked() {
        assert!(name_problem("").is_some());
        assert!(
            name_problem("web tier")
                .unwrap_or_default()
                .contains("letters")
        );
        assert_eq!(name_problem("web-tier.v2"), None);
    }
}
