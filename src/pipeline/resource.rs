//! Multi-document YAML → resources, with kind detection. Used by `apply`, the store and the
//! types loader; every problem names the document, the resource and the line.

use serde_norway::Value as Yaml;

use super::config::{Configuration, Destination};
use super::locate::split_documents;
use super::problem::Problem;
use super::registry::{LoadedType, Origin, parse_type_document, valid_resource_name};
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
        format!("{kind} {}", super::registry::cut_name(&name))
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
                    format!("metadata.name must be {}", super::registry::NAME_RULE),
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

/// A serde/YAML error, with its line made absolute.
pub(crate) fn yaml_problem(label: &str, e: &serde_norway::Error, origin: &Origin) -> Problem {
    let mut p = Problem::new(label, strip_location(&e.to_string()));
    if let Some(loc) = e.location() {
        p.line = Some(origin.first_line + loc.line() - 1);
    }
    origin.place(p)
}

/// serde_norway appends "at line N column M"; the problem carries the absolute line instead.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}
