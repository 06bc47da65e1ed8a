//! Loading and checking resource types, the registry of known types, and evaluating a type's
//! templates for one resource instance.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use serde_norway::Value as Yaml;

use super::locate::Origin;
use super::name::{NAME_RULE, valid_resource_name};
use super::problem::Problem;
use super::template::{Helpers, Template, TemplateError, display};
use super::types::{
    API_VERSIONS, ParamType, ParameterDef, ResourceType, Section, Signal, TypeKind, check_value,
    is_identifier, parse_signal_key, yaml_to_json,
};

/// One signal block with its templates parsed.
#[derive(Debug)]
struct CompiledBlock {
    key: String,
    signals: Vec<Signal>,
    sections: Vec<(Section, Template)>,
    connectors: Option<Template>,
    route: Option<Template>,
}

/// Where a template's output goes.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Section(Section),
    Connectors,
    Route,
}

impl Slot {
    fn as_str(self) -> &'static str {
        match self {
            Slot::Section(s) => s.as_str(),
            Slot::Connectors => "connectors",
            Slot::Route => "route",
        }
    }
}

/// A checked resource type with parsed templates.
#[derive(Debug)]
pub struct LoadedType {
    pub def: ResourceType,
    blocks: Vec<CompiledBlock>,
}

/// Components one type emits for one signal, in template order, with rewritten IDs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignalOutput {
    pub receivers: Vec<(String, Yaml)>,
    pub processors: Vec<(String, Yaml)>,
    pub exporters: Vec<(String, Yaml)>,
    pub extensions: Vec<(String, Yaml)>,
    /// Connectors that take this signal (they emit the type's `spec.emits`).
    pub connectors: Vec<(String, Yaml)>,
    /// Routing-table entries (maps without `pipelines`) for the destination this is attached to.
    pub routes: Vec<Yaml>,
}

impl SignalOutput {
    pub fn section(&self, s: Section) -> &[(String, Yaml)] {
        match s {
            Section::Receivers => &self.receivers,
            Section::Processors => &self.processors,
            Section::Exporters => &self.exporters,
            Section::Extensions => &self.extensions,
        }
    }

    fn section_mut(&mut self, s: Section) -> &mut Vec<(String, Yaml)> {
        match s {
            Section::Receivers => &mut self.receivers,
            Section::Processors => &mut self.processors,
            Section::Exporters => &mut self.exporters,
            Section::Extensions => &mut self.extensions,
        }
    }
}

/// What evaluating a type produced, per signal.
pub type TypeOutput = BTreeMap<Signal, SignalOutput>;

/// An evaluation failure inside one template.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// `spec.metrics.receivers`
    pub path: String,
    pub template_line: Option<usize>,
    pub message: String,
}

/// Template helpers that need the resource name: `componentID` / `bpComponentID`.
struct ComponentHelpers<'a> {
    resource: &'a str,
}

const HELPER_NAMES: &[&str] = &["componentID", "bpComponentID"];

impl Helpers for ComponentHelpers<'_> {
    fn has(&self, name: &str) -> bool {
        HELPER_NAMES.contains(&name)
    }

    fn call(&self, name: &str, args: &[Json]) -> Option<Result<Json, String>> {
        if !self.has(name) {
            return None;
        }
        Some(match args {
            [id] => Ok(Json::from(component_id(&display(id), self.resource))),
            _ => Err(format!("wants 1 argument, got {}", args.len())),
        })
    }
}

/// Rewrites a template's component key to a collision-free ID: `type` → `type/<resource>`,
/// `type/name` → `type/<resource>__<name>`.
pub fn component_id(key: &str, resource: &str) -> String {
    match key.split_once('/') {
        Some((ty, name)) => format!("{ty}/{resource}__{name}"),
        None => format!("{key}/{resource}"),
    }
}

fn valid_component_key(key: &str) -> bool {
    let (ty, name) = match key.split_once('/') {
        Some((t, n)) => (t, Some(n)),
        None => (key, None),
    };
    let ty_ok = ty.starts_with(|c: char| c.is_ascii_lowercase())
        && ty
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let name_ok = name.is_none_or(|n| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    });
    ty_ok && name_ok
}

impl LoadedType {
    /// Checks a type fully (parameters, templates, output shape with defaults).
    pub fn load(def: ResourceType, origin: &Origin) -> Result<Self, Vec<Problem>> {
        let label = def.label();
        let mut problems = check_definition(&def)
            .into_iter()
            .map(|p| origin.place(p))
            .collect::<Vec<_>>();
        let mut blocks = Vec::new();
        let probe = ComponentHelpers { resource: "check" };
        for (key, block) in &def.spec.blocks {
            let Some(signals) = parse_signal_key(key) else {
                continue; // reported by check_definition
            };
            let mut sections = Vec::new();
            for section in Section::ALL {
                let Some(src) = block.get(section) else {
                    continue;
                };
                let path = format!("spec.{key}.{}", section.as_str());
                match Template::parse(src, &probe) {
                    Ok(t) => sections.push((section, t)),
                    Err(e) => problems.push(template_problem(&label, origin, &path, &e)),
                }
            }
            let mut compile = |src: &Option<String>, what: &str| match src {
                None => None,
                Some(src) => match Template::parse(src, &probe) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        let path = format!("spec.{key}.{what}");
                        problems.push(template_problem(&label, origin, &path, &e));
                        None
                    }
                },
            };
            let connectors = compile(&block.connectors, "connectors");
            let route = compile(&block.route, "route");
            blocks.push(CompiledBlock {
                key: key.clone(),
                signals,
                sections,
                connectors,
                route,
            });
        }
        // Exact-signal blocks first, then combinations: template order is pipeline order.
        blocks.sort_by_key(|b| (b.signals.len(), b.key.clone()));
        if !problems.is_empty() {
            return Err(problems);
        }
        let loaded = LoadedType { def, blocks };
        let defaults = loaded.default_values();
        if let Err(errors) = loaded.evaluate(&defaults, "check") {
            return Err(errors
                .into_iter()
                .map(|e| {
                    let at = match e.template_line {
                        Some(t) => format!("{}: template line {t}", e.path),
                        None => e.path.clone(),
                    };
                    let mut p = Problem::new(
                        &label,
                        format!("{at}: {} (rendering with default values)", e.message),
                    )
                    .at(e.path.clone());
                    p.line = e
                        .template_line
                        .and_then(|t| origin.template_line(&e.path, t));
                    origin.place(p)
                })
                .collect());
        }
        Ok(loaded)
    }

    pub fn name(&self) -> &str {
        self.def.name()
    }

    pub fn kind(&self) -> TypeKind {
        self.def.kind
    }

    /// Defaults (or zero values) for every parameter.
    pub fn default_values(&self) -> Map<String, Json> {
        self.def
            .spec
            .parameters
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.default_value().unwrap_or_else(|_| p.kind.zero()),
                )
            })
            .collect()
    }

    /// The signals this type's connectors emit (empty for a type without connectors).
    pub fn emits(&self) -> Vec<Signal> {
        self.def
            .spec
            .emits
            .iter()
            .filter_map(|s| Signal::parse(s))
            .collect()
    }

    /// Whether this type is a route (a `route` block): it belongs on a destination.
    pub fn is_route(&self) -> bool {
        self.blocks.iter().any(|b| b.route.is_some())
    }

    /// The connector types this type emits with its default values (`spanmetrics`; `routing`
    /// for a route, whose connector the renderer writes), sorted and once each: what an
    /// agent's build needs besides [`Self::default_component_types`].
    pub fn default_connector_types(&self) -> Vec<String> {
        let mut types: Vec<String> = match self.evaluate(&self.default_values(), "x") {
            Ok(out) => out
                .values()
                .flat_map(|o| o.connectors.iter())
                .map(|(id, _)| id.split('/').next().unwrap_or(id).to_string())
                .collect(),
            Err(_) => Vec::new(),
        };
        if self.is_route() {
            types.push("routing".to_string());
        }
        types.sort();
        types.dedup();
        types
    }

    /// Signals this type has any block for.
    pub fn signals(&self) -> Vec<Signal> {
        let mut s: Vec<Signal> = self.blocks.iter().flat_map(|b| b.signals.clone()).collect();
        s.sort();
        s.dedup();
        s
    }

    /// Merges user values over defaults, checking each one. Problems are (parameter, message).
    pub fn resolve_values(
        &self,
        given: &[(String, Json)],
    ) -> (Map<String, Json>, Vec<(String, String)>) {
        let mut values = self.default_values();
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for (name, raw) in given {
            if !seen.insert(name.as_str()) {
                problems.push((name.clone(), "is given more than once".to_string()));
                continue;
            }
            let Some(def) = self.def.parameter(name) else {
                problems.push((name.clone(), unknown_parameter(&self.def)));
                continue;
            };
            match check_value(def, raw) {
                Ok(v) => {
                    values.insert(name.clone(), v);
                }
                Err(m) => problems.push((name.clone(), m)),
            }
        }
        for def in &self.def.spec.parameters {
            let relevant = def.is_relevant(&values);
            let set = seen.contains(def.name.as_str());
            if set && !relevant {
                problems.push((
                    def.name.clone(),
                    format!(
                        "is set but does not apply here ({})",
                        describe_relevance(def)
                    ),
                ));
            }
            let value = values.get(&def.name).unwrap_or(&Json::Null);
            if def.required
                && relevant
                && !super::template::truthy(value)
                && !matches!(value, Json::Bool(_) | Json::Number(_))
            {
                problems.push((def.name.clone(), "is required".to_string()));
            }
        }
        (values, problems)
    }

    /// The Collector component types this type emits with its default values, by
    /// section, sorted and once each (`receivers`/`hostmetrics` for the Host Metrics
    /// source). Other values may add components (a template may add one for an option);
    /// the defaults are what the type needs as first chosen. A type that emits nothing
    /// with its defaults (a filter without conditions) is read from its templates instead:
    /// the components they can emit.
    pub fn default_component_types(&self) -> Vec<(Section, String)> {
        let type_of = |id: &str| id.split('/').next().unwrap_or(id).to_string();
        let mut types: Vec<(Section, String)> = match self.evaluate(&self.default_values(), "x") {
            Ok(out) => out
                .values()
                .flat_map(|o| {
                    Section::ALL
                        .into_iter()
                        .flat_map(move |s| o.section(s).iter().map(move |(id, _)| (s, type_of(id))))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        if types.is_empty() {
            // Top-level list items of the templates: `- type:` or `- type/name:`, unindented.
            for block in self.def.spec.blocks.values() {
                for s in Section::ALL {
                    let Some(text) = block.get(s) else { continue };
                    for line in text.lines() {
                        let Some(key) = line.strip_prefix("- ").and_then(|l| l.split(':').next())
                        else {
                            continue;
                        };
                        if valid_component_key(key.trim()) {
                            types.push((s, type_of(key.trim())));
                        }
                    }
                }
            }
        }
        types.sort();
        types.dedup();
        types
    }

    /// Runs every template with `values` for resource `resource`.
    pub fn evaluate(
        &self,
        values: &Map<String, Json>,
        resource: &str,
    ) -> Result<TypeOutput, Vec<EvalError>> {
        let helpers = ComponentHelpers { resource };
        let data = Json::Object(values.clone());
        // Free-form values with characters YAML could read as structure are rendered a
        // second time, neutralised, to see that they do not change it.
        let risky = self.risky_values(values);
        let mut out = TypeOutput::new();
        let mut errors = Vec::new();
        for block in &self.blocks {
            let slots = block
                .sections
                .iter()
                .map(|(s, t)| (Slot::Section(*s), t))
                .chain(block.connectors.iter().map(|t| (Slot::Connectors, t)))
                .chain(block.route.iter().map(|t| (Slot::Route, t)));
            for (slot, template) in slots {
                let path = format!("spec.{}.{}", block.key, slot.as_str());
                if !risky.is_empty()
                    && let Some(names) =
                        self.structure_changed_by(template, values, &risky, &helpers)
                {
                    errors.push(EvalError {
                        path,
                        template_line: None,
                        message: format!(
                            "the value of {} would change the structure of the rendered \
                             configuration (a newline or YAML syntax where the template does \
                             not quote it); remove it, or quote the value in the template \
                             (`| quote`)",
                            names.join(", ")
                        ),
                    });
                    continue;
                }
                let text = match template.render(&data, &helpers) {
                    Ok(t) => t,
                    Err(e) => {
                        errors.push(EvalError {
                            path,
                            template_line: Some(e.line),
                            message: e.message,
                        });
                        continue;
                    }
                };
                if let Slot::Route = slot {
                    match parse_route(&text) {
                        Ok(route) => {
                            for signal in &block.signals {
                                let o = out.entry(*signal).or_default();
                                o.routes.extend(route.iter().cloned());
                            }
                        }
                        Err(message) => errors.push(EvalError {
                            path,
                            template_line: None,
                            message,
                        }),
                    }
                    continue;
                }
                match parse_components(&text, resource) {
                    Ok(components) => {
                        for signal in &block.signals {
                            let o = out.entry(*signal).or_default();
                            let list = match slot {
                                Slot::Section(section) => o.section_mut(section),
                                Slot::Connectors | Slot::Route => &mut o.connectors,
                            };
                            list.extend(components.iter().cloned());
                        }
                    }
                    Err(message) => errors.push(EvalError {
                        path,
                        template_line: None,
                        message,
                    }),
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

impl LoadedType {
    /// The free-form parameters (strings, lists of strings, maps) whose values hold
    /// characters that YAML could read as structure where a template does not quote them.
    fn risky_values(&self, values: &Map<String, Json>) -> Vec<String> {
        self.def
            .spec
            .parameters
            .iter()
            .filter(|p| {
                matches!(
                    p.kind,
                    ParamType::String | ParamType::Strings | ParamType::Map
                )
            })
            .filter(|p| values.get(&p.name).is_some_and(has_structural_chars))
            .map(|p| p.name.clone())
            .collect()
    }

    /// Renders `template` with the actual values and with `risky` ones neutralised; when
    /// the two differ in shape (not in scalars), names the parameters that make it so.
    fn structure_changed_by(
        &self,
        template: &Template,
        values: &Map<String, Json>,
        risky: &[String],
        helpers: &dyn Helpers,
    ) -> Option<Vec<String>> {
        let shape_with = |neutral: &[String]| -> Option<Shape> {
            let mut data = values.clone();
            for name in neutral {
                if let Some(v) = data.get_mut(name) {
                    neutralise(v);
                }
            }
            let text = template.render(&Json::Object(data), helpers).ok()?;
            Some(
                serde_norway::from_str::<Yaml>(&text)
                    .map(|y| shape(&y))
                    .unwrap_or(Shape::Unreadable),
            )
        };
        // A render that fails either way is reported by the caller, with its own message.
        let safe = shape_with(risky)?;
        let actual = shape_with(&[])?;
        if actual == safe {
            return None;
        }
        let culprits: Vec<String> = risky
            .iter()
            .filter(|name| {
                let others: Vec<String> = risky.iter().filter(|r| r != name).cloned().collect();
                shape_with(&others).is_some_and(|s| s != safe)
            })
            .map(|n| format!("parameter {n}"))
            .collect();
        Some(if culprits.is_empty() {
            risky.iter().map(|n| format!("parameter {n}")).collect()
        } else {
            culprits
        })
    }
}

/// A YAML document's structure without its scalars or key names: what a value may not
/// change by being rendered into it.
#[derive(Debug, PartialEq)]
enum Shape {
    Scalar,
    Map(Vec<Shape>),
    List(Vec<Shape>),
    Unreadable,
}

fn shape(y: &Yaml) -> Shape {
    match y {
        Yaml::Mapping(m) => Shape::Map(m.values().map(shape).collect()),
        Yaml::Sequence(s) => Shape::List(s.iter().map(shape).collect()),
        Yaml::Tagged(t) => shape(&t.value),
        _ => Shape::Scalar,
    }
}

/// Characters outside letters, digits, space and `._/-`: what could be YAML syntax.
fn has_structural_chars(v: &Json) -> bool {
    let risky = |s: &str| {
        !s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '/' | '-'))
    };
    match v {
        Json::String(s) => risky(s),
        Json::Array(items) => items.iter().any(has_structural_chars),
        Json::Object(m) => m.iter().any(|(k, v)| risky(k) || has_structural_chars(v)),
        _ => false,
    }
}

/// The value with every character that could be YAML syntax replaced by `_`; what is
/// left keeps its place, length and emptiness, so a template takes the same branches.
fn neutralise(v: &mut Json) {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '/' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    match v {
        Json::String(s) => *s = clean(s),
        Json::Array(items) => items.iter_mut().for_each(neutralise),
        Json::Object(m) => {
            let old = std::mem::take(m);
            for (k, mut val) in old {
                neutralise(&mut val);
                m.insert(clean(&k), val);
            }
        }
        _ => {}
    }
}

fn describe_relevance(def: &ParameterDef) -> String {
    def.relevant_if
        .iter()
        .map(|c| {
            let v = serde_norway::to_string(&c.value).unwrap_or_default();
            let op = match c.operator {
                super::types::Operator::Equals => "is",
                super::types::Operator::NotEquals => "is not",
                super::types::Operator::ContainsAny => "contains any of",
            };
            format!("only when {} {op} {}", c.name, v.trim())
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

fn unknown_parameter(def: &ResourceType) -> String {
    let names: Vec<&str> = def
        .spec
        .parameters
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    if names.is_empty() {
        format!("{} takes no parameters", def.label())
    } else {
        format!(
            "is not a parameter of {} (known: {})",
            def.label(),
            names.join(", ")
        )
    }
}

fn template_problem(label: &str, origin: &Origin, path: &str, e: &TemplateError) -> Problem {
    let mut p = Problem::new(
        label,
        format!("{path}: template line {}: {}", e.line, e.message),
    )
    .at(path);
    p.line = origin.template_line(path, e.line);
    origin.place(p)
}

/// Parses a rendered route: a YAML map (a routing-table entry without `pipelines`, which the
/// renderer fills in), or nothing.
fn parse_route(text: &str) -> Result<Option<Yaml>, String> {
    match serde_norway::from_str::<Yaml>(text) {
        Ok(Yaml::Null) => Ok(None),
        Ok(Yaml::Mapping(m)) if m.contains_key("pipelines") => Err(
            "a route does not name pipelines: the renderer sends it to the destination it is \
             attached to"
                .to_string(),
        ),
        Ok(Yaml::Mapping(m)) => Ok(Some(Yaml::Mapping(m))),
        Ok(_) => Err(format!(
            "a route must render to a map such as `condition: ...`, got:\n{text}"
        )),
        Err(e) => Err(format!("rendered text is not YAML: {e}\n---\n{text}")),
    }
}

/// Parses a rendered section: a YAML list of single-key maps (empty output is an empty list).
fn parse_components(text: &str, resource: &str) -> Result<Vec<(String, Yaml)>, String> {
    let value: Yaml = serde_norway::from_str(text)
        .map_err(|e| format!("rendered text is not YAML: {e}\n---\n{text}"))?;
    let items = match value {
        Yaml::Null => return Ok(Vec::new()),
        Yaml::Sequence(items) => items,
        _ => {
            return Err(format!(
                "must render to a YAML list of single-key maps, got:\n{text}"
            ));
        }
    };
    items
        .into_iter()
        .map(|item| {
            let Yaml::Mapping(m) = item else {
                return Err(format!("list items must be single-key maps, got:\n{text}"));
            };
            if m.len() != 1 {
                return Err(format!(
                    "list items must have exactly one key (the component ID), got {}",
                    m.len()
                ));
            }
            let Some((Yaml::String(key), body)) = m.into_iter().next() else {
                return Err("component IDs must be strings".to_string());
            };
            if !valid_component_key(&key) {
                return Err(format!("{key:?} is not a component ID (type or type/name)"));
            }
            Ok((component_id(&key, resource), body))
        })
        .collect()
}

/// Static checks of a definition (everything except the templates).
fn check_definition(def: &ResourceType) -> Vec<Problem> {
    let label = def.label();
    let mut problems = Vec::new();
    let mut push = |p: Problem| problems.push(p);
    if !API_VERSIONS.contains(&def.api_version.as_str()) {
        push(
            Problem::new(
                &label,
                format!(
                    "apiVersion {:?} is not one of {}",
                    def.api_version,
                    API_VERSIONS.join(", ")
                ),
            )
            .at("apiVersion"),
        );
    }
    if !valid_resource_name(&def.metadata.name) {
        push(
            Problem::new(&label, format!("metadata.name must be {NAME_RULE}")).at("metadata.name"),
        );
    }
    let mut names = HashSet::new();
    for (i, p) in def.spec.parameters.iter().enumerate() {
        let path = format!("spec.parameters[{i}]");
        let pp = |m: String| Problem::new(&label, m).parameter(&p.name).at(path.clone());
        if !is_identifier(&p.name) {
            push(pp(
                "the name must be a valid identifier (letters, digits, '_')".into(),
            ));
        }
        if !names.insert(p.name.as_str()) {
            push(pp("is defined more than once".into()));
        }
        if matches!(p.kind, ParamType::Enum | ParamType::Enums) && p.valid_values.is_empty() {
            push(pp(format!("type {} needs validValues", p.kind.as_str())));
        }
        if let Some(d) = &p.default {
            match yaml_to_json(d).and_then(|j| check_value(p, &j)) {
                Ok(_) => {}
                Err(m) => push(pp(format!("default: {m}"))),
            }
        }
        for cond in &p.relevant_if {
            match def.parameter(&cond.name) {
                None => push(pp(format!(
                    "relevantIf names unknown parameter {:?}",
                    cond.name
                ))),
                Some(target) => {
                    let value = yaml_to_json(&cond.value);
                    let ok = match (&value, cond.operator) {
                        (Ok(Json::Array(items)), super::types::Operator::ContainsAny) => {
                            items.iter().all(|v| check_scalar_against(target, v))
                        }
                        (Ok(v), _) => check_scalar_against(target, v),
                        (Err(_), _) => false,
                    };
                    if !ok {
                        push(pp(format!(
                            "relevantIf value {} does not fit parameter {} of type {}",
                            serde_norway::to_string(&cond.value)
                                .unwrap_or_default()
                                .trim(),
                            target.name,
                            target.kind.as_str()
                        )));
                    }
                }
            }
        }
    }
    let forbidden: &[Section] = match def.kind {
        TypeKind::Source => &[Section::Exporters],
        TypeKind::Processor => &[Section::Receivers, Section::Exporters],
        TypeKind::Destination => &[Section::Receivers],
    };
    for (key, block) in &def.spec.blocks {
        for section in forbidden {
            if block.get(*section).is_some() {
                push(
                    Problem::new(
                        &label,
                        format!(
                            "spec.{key}.{}: a {} type cannot emit {}",
                            section.as_str(),
                            def.kind.noun(),
                            section.as_str()
                        ),
                    )
                    .at(format!("spec.{key}.{}", section.as_str())),
                );
            }
        }
        if parse_signal_key(key).is_none() {
            push(Problem::new(&label, format!("spec.{key}: not a signal block (logs, metrics, traces or a '+' combination)")).at(format!("spec.{key}")));
        }
    }
    if def.kind != TypeKind::Processor
        && let Some(key) = def
            .spec
            .blocks
            .iter()
            .find(|(_, b)| b.route.is_some())
            .map(|(k, _)| k)
    {
        push(
            Problem::new(
                &label,
                format!(
                    "spec.{key}.route: only a ProcessorType (attached to a destination) can be \
                     a route, not a {} type",
                    def.kind.noun()
                ),
            )
            .at(format!("spec.{key}.route")),
        );
    }
    let has_connectors = def.spec.blocks.values().any(|b| b.connectors.is_some());
    for e in &def.spec.emits {
        if Signal::parse(e).is_none() {
            push(
                Problem::new(
                    &label,
                    format!("spec.emits: {e:?} is not a signal (logs, metrics or traces)"),
                )
                .at("spec.emits"),
            );
        }
    }
    if has_connectors && def.kind != TypeKind::Processor {
        push(
            Problem::new(
                &label,
                format!(
                    "connectors: only a ProcessorType can emit connectors, not a {} type",
                    def.kind.noun()
                ),
            )
            .at("spec"),
        );
    }
    if has_connectors && def.spec.emits.is_empty() {
        push(
            Problem::new(
                &label,
                "connectors need spec.emits: the signals they produce (e.g. [metrics])",
            )
            .at("spec.emits"),
        );
    }
    if !has_connectors && !def.spec.emits.is_empty() {
        push(
            Problem::new(
                &label,
                "spec.emits is set but no signal block has connectors",
            )
            .at("spec.emits"),
        );
    }
    for (key, block) in &def.spec.blocks {
        let (Some(_), Some(signals)) = (&block.connectors, parse_signal_key(key)) else {
            continue;
        };
        if signals
            .iter()
            .all(|s| def.spec.emits.iter().any(|e| e == s.as_str()))
        {
            push(
                Problem::new(
                    &label,
                    format!(
                        "spec.{key}.connectors: a connector that takes only what it emits would \
                         feed itself; take at least one other signal"
                    ),
                )
                .at(format!("spec.{key}.connectors")),
            );
        }
    }
    if def.spec.blocks.is_empty() {
        push(
            Problem::new(
                &label,
                "spec has no signal block (logs, metrics, traces, ...)",
            )
            .at("spec"),
        );
    }
    problems
}

/// A relevantIf value must be a possible value of the parameter it looks at (or an element of it).
fn check_scalar_against(target: &ParameterDef, v: &Json) -> bool {
    if check_value(target, v).is_ok() {
        return true;
    }
    match target.kind {
        ParamType::Strings => v.is_string(),
        ParamType::Enums => v
            .as_str()
            .is_some_and(|s| target.valid_values.iter().any(|x| x == s)),
        _ => false,
    }
}

/// The known resource types: built-ins, with user types layered over them.
#[derive(Debug, Clone, Default)]
pub struct TypeRegistry {
    types: BTreeMap<(TypeKind, String), Arc<LoadedType>>,
}

impl TypeRegistry {
    pub fn empty() -> Self {
        TypeRegistry::default()
    }

    /// Checks and adds one type (replacing one of the same kind and name).
    pub fn insert(&mut self, def: ResourceType) -> Result<(), Vec<Problem>> {
        self.insert_with_origin(def, &Origin::none())
    }

    pub(super) fn insert_with_origin(
        &mut self,
        def: ResourceType,
        origin: &Origin,
    ) -> Result<(), Vec<Problem>> {
        let loaded = LoadedType::load(def, origin)?;
        self.types
            .insert((loaded.kind(), loaded.name().to_string()), Arc::new(loaded));
        Ok(())
    }

    /// Layers `other` over `self`.
    pub fn merge(&mut self, other: &TypeRegistry) {
        for (k, v) in &other.types {
            self.types.insert(k.clone(), Arc::clone(v));
        }
    }

    pub fn get(&self, kind: TypeKind, name: &str) -> Option<&Arc<LoadedType>> {
        self.types.get(&(kind, name.to_string()))
    }

    /// All types, by kind then name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<LoadedType>> {
        self.types.values()
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Names of the types of one kind (for suggestions).
    pub fn names(&self, kind: TypeKind) -> Vec<&str> {
        self.types
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n.as_str())
            .collect()
    }
}
