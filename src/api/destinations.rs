//! `/destinations`: the named `Destination` resources, with the configurations using them.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use serde::Serialize;

use super::params::{Params, unix_secs};
use super::{ApiError, ApiResult, ApiState};
use crate::catalog::{DESTINATION, StoredConfig};
use crate::pipeline::config::{ConfigurationSpec, DestinationRef};
use crate::pipeline::{
    Configuration, Destination, Parameters, Resource, TypeRegistry, mask_configuration,
};
use crate::store::ResourceDoc;

#[derive(Debug, Serialize)]
pub struct DestinationSummary {
    pub name: String,
    /// The destination type it instantiates.
    #[serde(rename = "type")]
    pub type_name: String,
    pub labels: BTreeMap<String, String>,
    /// The latest version (1 when created, one more on every change).
    pub version: u64,
    /// Parameters as written, sensitive values masked: for people to read.
    pub parameters: Parameters,
    /// Configurations (their latest versions) that name this destination.
    pub used_by: Vec<String>,
    /// Unix seconds.
    pub updated_at: u64,
}

#[derive(Debug, Serialize)]
pub struct DestinationList {
    pub items: Vec<DestinationSummary>,
}

#[derive(Debug, Serialize)]
pub struct DestinationDetail {
    #[serde(flatten)]
    pub summary: DestinationSummary,
    pub created_at: u64,
    pub hash: String,
    /// The resource as applied, secrets included for admins (as `GET
    /// /configurations/{name}` does) so that it applies again; masked for other roles.
    pub resource: serde_json::Value,
    /// The resource as YAML; applying it again reports `unchanged` (for admins).
    pub yaml: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secrets_masked: bool,
}

/// Names of the configurations that name destination `name`.
pub fn configurations_using(configs: &[StoredConfig], name: &str) -> Vec<String> {
    configs
        .iter()
        .filter(|c| {
            c.config
                .spec
                .destinations
                .iter()
                .any(|d| d.name.as_deref() == Some(name))
        })
        .map(|c| c.config.name().to_string())
        .collect()
}

/// The destination's parameters with sensitive values masked. Goes through the pipeline's
/// own masking of configurations so both follow one rule.
fn masked_parameters(d: &Destination, types: &TypeRegistry) -> Parameters {
    let wrapper = Configuration {
        api_version: d.api_version.clone(),
        kind: "Configuration".into(),
        metadata: d.metadata.clone(),
        spec: ConfigurationSpec {
            destinations: vec![DestinationRef {
                name: None,
                type_name: Some(d.spec.type_name.clone()),
                display_name: None,
                parameters: d.spec.parameters.clone(),
                processors: Vec::new(),
                disabled: false,
            }],
            ..ConfigurationSpec::default()
        },
    };
    mask_configuration(&wrapper, types)
        .spec
        .destinations
        .pop()
        .map(|r| r.parameters)
        .unwrap_or_default()
}

fn parse(doc: &ResourceDoc) -> ApiResult<Destination> {
    serde_json::from_str(&doc.spec_json).map_err(|e| {
        ApiError::internal(format!(
            "stored destination '{}' version {} cannot be read: {e}",
            doc.name, doc.version
        ))
    })
}

fn summary(
    doc: &ResourceDoc,
    d: &Destination,
    configs: &[StoredConfig],
    types: &TypeRegistry,
) -> DestinationSummary {
    DestinationSummary {
        name: doc.name.clone(),
        type_name: d.spec.type_name.clone(),
        labels: d.metadata.labels.clone(),
        version: doc.version,
        parameters: masked_parameters(d, types),
        used_by: configurations_using(configs, &doc.name),
        updated_at: unix_secs(doc.updated_at),
    }
}

pub async fn list(State(s): State<ApiState>, uri: Uri) -> ApiResult<Json<DestinationList>> {
    Params::parse(&uri, &[])?;
    let configs = s.catalog.configurations().await?;
    let types = s.catalog.types();
    let mut items = Vec::new();
    for doc in s.store.list_kind(DESTINATION).await? {
        let d = parse(&doc)?;
        items.push(summary(&doc, &d, &configs, &types));
    }
    Ok(Json(DestinationList { items }))
}

pub async fn show(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    actor: Option<axum::Extension<crate::access::Actor>>,
    uri: Uri,
) -> ApiResult<Json<DestinationDetail>> {
    Params::parse(&uri, &[])?;
    let doc = s.store.get(DESTINATION, &name).await?.ok_or_else(|| {
        ApiError::not_found(format!("no destination named '{name}'")).field("name")
    })?;
    let d = parse(&doc)?;
    let configs = s.catalog.configurations().await?;
    let mut yaml = Resource::Destination(d.clone())
        .to_yaml()
        .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", d.label())))?;
    let mut resource = serde_json::to_value(&d)
        .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", d.label())))?;
    let secrets_masked = !super::auth::sees_secrets(actor.as_ref());
    if secrets_masked {
        let redactor = s.catalog.redactor();
        yaml = redactor.mask(&yaml).into_owned();
        super::auth::mask_json(&mut resource, &redactor);
    }
    Ok(Json(DestinationDetail {
        summary: summary(&doc, &d, &configs, &s.catalog.types()),
        created_at: unix_secs(doc.created_at),
        hash: doc.hash.clone(),
        resource,
        yaml,
        secrets_masked,
    }))
}
