//! Multi-document YAML → resources, with kind detection. Used by `apply`, the store and the
//! types loader; every problem names the document, the resource and the line.

use std::path::Path;

use serde_norway::Value as Yaml;

use super::config::{Configuration, Destination};
use super::locate::split_documents;
use super::locate::{Origin, yaml_problem};
use super::name::valid_resource_name;
use super::problem::Problem;
use super::registry::{LoadedType, TypeRegistry};
use super::types::parse_type_document;
use super::types::{API_VERSIONS, ResourceType, TypeKind};

/// Any resource fleetdeck accepts from YAML.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    Type(ResourceType),
    Configuration(Configuration),
    Destination(Destination),
}

impl Resource {
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Type(t) => t.kind.kind_name(),
            Resource::Configuration(_) => "Configuration",
            Resource::Destination(_) => "Destination",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Resource::Type(t) => t.name(),
            Resource::Configuration(c) => c.name(),
            Resource::Destination(d) => d.name(),
        }
    }

    /// `Kind name`, for messages.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind(), self.name())
    }

    /// YAML that parses back to an equal resource.
    pub fn to_yaml(&self) -> Result<String, serde_norway::Error> {
        match self {
            Resource::Type(t) => serde_norway::to_string(t),
            Resource::Configuration(c) => serde_norway::to_string(c),
            Resource::Destination(d) => serde_norway::to_string(d),
        }
    }
}

/// A resource with where it came from.
#[derive(Debug)]
pub struct ParsedResource {
    pub resource: Resource,
    /// 0-based document position in the stream.
    pub index: usize,
    pub origin: Origin,
}

const KINDS: &str = "SourceType, ProcessorType, DestinationType, Configuration, Destination";

/// Parses every document of `text`. Resource types are fully checked (templates included).
/// Either all documents parse, or every problem found is returned.
pub fn parse_resources(
    text: &str,
    file: Option<&str>,
) -> Result<Vec<ParsedResource>, Vec<Problem>> {
    let docs = split_documents(text);
    let many = docs.len() > 1;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for doc in docs {
        let origin = Origin::new(file, doc.text, doc.first_line);
        let tag = |mut p: Problem| {
            if many {
                p.resource = if p.resource.is_empty() {
                    format!("document {}", doc.index + 1)
                } else {
                    format!("document {} ({})", doc.index + 1, p.resource)
                };
            }
            p
        };
        match parse_document(doc.text, &origin) {
            Ok(resource) => out.push(ParsedResource {
                resource,
                index: doc.index,
                origin,
            }),
            Err(ps) => problems.extend(ps.into_iter().map(tag)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn parse_document(text: &str, origin: &Origin) -> Result<Resource, Vec<Problem>> {
    let value: Yaml =
        serde_norway::from_str(text).map_err(|e| vec![yaml_problem("", &e, origin)])?;
    let kind = value
        .get("kind")
        .and_then(Yaml::as_str)
        .unwrap_or_default()
        .to_string();
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Yaml::as_str)
        .unwrap_or_default()
        .to_string();
    let label = if kind.is_empty() {
        String::new()
    } else {
        format!("{kind} {}", super::name::cut_name(&name))
            .trim()
            .to_string()
    };
    if !value.is_mapping() {
        return Err(vec![
            origin.place(
                Problem::new(
                    label,
                    "a resource must be a YAML map with apiVersion, kind, metadata and spec",
                )
                .line(origin.first_line),
            ),
        ]);
    }
    let api = value
        .get("apiVersion")
        .and_then(Yaml::as_str)
        .unwrap_or_default();
    if !API_VERSIONS.contains(&api) {
        let msg = if api.is_empty() {
            format!("apiVersion is missing (use {})", API_VERSIONS.join(" or "))
        } else {
            format!(
                "apiVersion {api:?} is not one of {}",
                API_VERSIONS.join(", ")
            )
        };
        return Err(vec![
            origin.place(Problem::new(label, msg).at("apiVersion")),
        ]);
    }
    if kind.is_empty() {
        return Err(vec![origin.place(
            Problem::new(label, format!("kind is missing (one of {KINDS})")).at("kind"),
        )]);
    }
    if name.is_empty() {
        return Err(vec![origin.place(
            Problem::new(label, "metadata.name is missing").at("metadata"),
        )]);
    }
    if !valid_resource_name(&name) {
        return Err(vec![
            origin.place(
                Problem::new(
                    label,
                    format!("metadata.name must be {}", super::name::NAME_RULE),
                )
                .at("metadata.name"),
            ),
        ]);
    }
    if let Some(tk) = TypeKind::from_kind_name(&kind) {
        let def = parse_type_document(&value, text, tk, origin)?;
        // Full check now, so a broken type is refused before it is stored.
        LoadedType::load(def.clone(), origin)?;
        return Ok(Resource::Type(def));
    }
    match kind.as_str() {
        "Configuration" => {
            let c: Configuration =
                serde_norway::from_str(text).map_err(|e| vec![yaml_problem(&label, &e, origin)])?;
            Ok(Resource::Configuration(c))
        }
        "Destination" => {
            let d: Destination =
                serde_norway::from_str(text).map_err(|e| vec![yaml_problem(&label, &e, origin)])?;
            Ok(Resource::Destination(d))
        }
        other => Err(vec![
            origin.place(
                Problem::new(
                    label,
                    format!("unknown kind {other:?} (expected one of {KINDS})"),
                )
                .at("kind"),
            ),
        ]),
    }
}

/// The shipped types, embedded in the binary.
const BUILTIN: &[(&str, &str)] = &include!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/resource-types/index.rs"
));

/// Loading the registry from resource files: the built-ins and a types directory.
impl TypeRegistry {
    /// The built-in types. They are checked by the test suite; one that failed to load would be
    /// logged and left out rather than take the program down.
    pub fn builtin() -> Self {
        let (reg, problems) = Self::load_builtin();
        for p in problems {
            tracing::error!(problem = %p, "built-in resource type rejected");
        }
        reg
    }

    /// Loads the built-ins, returning any problems (for tests).
    pub fn load_builtin() -> (Self, Vec<Problem>) {
        let mut reg = TypeRegistry::empty();
        let mut problems = Vec::new();
        for (file, text) in BUILTIN {
            if let Err(p) = reg.load_text(text, Some(&format!("resource-types/{file}"))) {
                problems.extend(p);
            }
        }
        (reg, problems)
    }

    /// Built-in file names and their text (for listing and tests).
    pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
        BUILTIN
    }

    /// Loads every `*.yaml`/`*.yml` file in `dir` (sorted by name) into a new registry.
    pub fn load_dir(dir: &Path) -> Result<Self, Vec<Problem>> {
        let mut reg = TypeRegistry::empty();
        reg.add_dir(dir)?;
        Ok(reg)
    }

    /// The built-ins with the types in `dir` layered over them (same kind and name replaces).
    pub fn builtin_with_dir(dir: &Path) -> Result<Self, Vec<Problem>> {
        let mut reg = Self::builtin();
        reg.add_dir(dir)?;
        Ok(reg)
    }

    /// Adds the types in `dir`; nothing is added unless every file loads.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), Vec<Problem>> {
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| {
            vec![Problem::new("", format!("cannot read types directory: {e}")).file(&shown)]
        })?;
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut staged = self.clone();
        let mut problems = Vec::new();
        for path in files {
            let file = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    if let Err(p) = staged.load_text(&text, Some(&file)) {
                        problems.extend(p);
                    }
                }
                Err(e) => problems.push(Problem::new("", format!("cannot read: {e}")).file(&file)),
            }
        }
        if problems.is_empty() {
            *self = staged;
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Loads every resource type in a multi-document YAML text; other kinds are errors.
    pub fn load_text(&mut self, text: &str, file: Option<&str>) -> Result<(), Vec<Problem>> {
        let resources = parse_resources(text, file)?;
        let mut problems = Vec::new();
        for r in resources {
            match r.resource {
                Resource::Type(t) => {
                    if let Err(p) = self.insert_with_origin(t, &r.origin) {
                        problems.extend(p);
                    }
                }
                other => problems.push(r.origin.place(Problem::new(other.label(), "only resource types (SourceType, ProcessorType, DestinationType) belong in a types directory"))),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
