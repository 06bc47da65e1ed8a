//! `/types`: the resource types in force (built-in and applied).

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use serde::Serialize;

use super::params::Params;
use super::{ApiError, ApiResult, ApiState};
use crate::pipeline::{Resource, ResourceType, TypeKind};

const KINDS: [TypeKind; 3] = [TypeKind::Source, TypeKind::Processor, TypeKind::Destination];

#[derive(Debug, Serialize)]
pub struct TypeSummary {
    /// `SourceType`, `ProcessorType` or `DestinationType`.
    pub kind: &'static str,
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub signals: Vec<&'static str>,
    pub parameters: usize,
    /// False when an applied type is in force under this name.
    pub builtin: bool,
}

#[derive(Debug, Serialize)]
pub struct TypeList {
    pub items: Vec<TypeSummary>,
}

#[derive(Debug, Serialize)]
pub struct TypeDetail {
    #[serde(flatten)]
    pub summary: TypeSummary,
    pub definition: ResourceType,
    /// The definition as YAML that applies again.
    pub yaml: String,
}

#[derive(Debug, Serialize)]
pub struct TypeDetails {
    /// One per kind that has a type of this name (e.g. `otlp` source and destination).
    pub items: Vec<TypeDetail>,
}

fn parse_kind(text: &str) -> Option<TypeKind> {
    match text.to_ascii_lowercase().trim_end_matches('s') {
        "source" | "sourcetype" | "source-type" => Some(TypeKind::Source),
        "processor" | "processortype" | "processor-type" => Some(TypeKind::Processor),
        "destination" | "destinationtype" | "destination-type" => Some(TypeKind::Destination),
        _ => None,
    }
}

/// Names of applied (stored) types, by kind.
async fn applied(s: &ApiState) -> ApiResult<BTreeSet<(&'static str, String)>> {
    let mut out = BTreeSet::new();
    for k in KINDS {
        for doc in s.store.list_kind(k.kind_name()).await? {
            out.insert((k.kind_name(), doc.name));
        }
    }
    Ok(out)
}

fn summary(def: &ResourceType, signals: Vec<&'static str>, builtin: bool) -> TypeSummary {
    TypeSummary {
        kind: def.kind.kind_name(),
        name: def.metadata.name.clone(),
        display_name: def.metadata.display_name.clone(),
        description: def.metadata.description.clone(),
        signals,
        parameters: def.spec.parameters.len(),
        builtin,
    }
}

pub async fn list(State(s): State<ApiState>, uri: Uri) -> ApiResult<Json<TypeList>> {
    let p = Params::parse(&uri, &["kind"])?;
    let only = match p.str("kind") {
        Some(k) => Some(parse_kind(k).ok_or_else(|| {
            ApiError::bad_request(format!(
                "kind must be source, processor or destination, got '{k}'"
            ))
            .field("kind")
        })?),
        None => None,
    };
    let applied = applied(&s).await?;
    let registry = s.catalog.types();
    let mut items: Vec<TypeSummary> = registry
        .iter()
        .filter(|t| only.is_none_or(|k| t.kind() == k))
        .map(|t| {
            let kind = t.kind().kind_name();
            let builtin = !applied.contains(&(kind, t.name().to_string()));
            summary(
                &t.def,
                t.signals().iter().map(|s| s.as_str()).collect(),
                builtin,
            )
        })
        .collect();
    items.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(Json(TypeList { items }))
}

pub async fn show(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<TypeDetails>> {
    let applied = applied(&s).await?;
    let registry = s.catalog.types();
    let mut items = Vec::new();
    for k in KINDS {
        if let Some(t) = registry.get(k, &name) {
            let yaml = Resource::Type(t.def.clone())
                .to_yaml()
                .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", t.def.label())))?;
            let builtin = !applied.contains(&(k.kind_name(), name.clone()));
            items.push(TypeDetail {
                summary: summary(
                    &t.def,
                    t.signals().iter().map(|s| s.as_str()).collect(),
                    builtin,
                ),
                definition: t.def.clone(),
                yaml,
            });
        }
    }
    if items.is_empty() {
        return Err(ApiError::not_found(format!("no resource type named '{name}'")).field("name"));
    }
    Ok(Json(TypeDetails { items }))
}
