//! Keeping a server and a Git folder the same: `fleetdeck export DIR` writes every stored
//! resource (and the operator labels) as files that `apply -f DIR` reads back as
//! unchanged; `apply -f DIR --prune` deletes what the folder no longer has, and
//! `--dry-run` lists what it would delete without changing anything.
//!
//! File names sort in the order a fresh server needs them: resource types (`10-`), then
//! destinations (`20-`), then configurations (`30-`), then operator labels (`90-`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Body, Client};
use super::usage::usage;
use crate::catalog::{CONFIGURATION, DESTINATION, canonical_kind};

/// The kind of the operator-labels document (handled by the CLI, not stored as a resource).
pub const AGENT_LABELS: &str = "AgentLabels";

/// Prefixes of the files export writes: export replaces exactly these.
const PREFIXES: [&str; 4] = [
    "10-type-",
    "20-destination-",
    "30-configuration-",
    "90-agent-labels",
];

fn items(v: &Value) -> Vec<Value> {
    v.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A file name part from a resource name (names are already plain; this keeps them so).
fn file_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `fleetdeck export DIR`.
pub async fn export(client: &Client, dir: &Path) -> anyhow::Result<()> {
    let mut files: Vec<(String, String)> = Vec::new();
    for t in items(&client.get(&["types"], &[]).await?) {
        if t.get("builtin").and_then(Value::as_bool) == Some(false) {
            let (kind, name) = (str_of(&t, "kind"), str_of(&t, "name"));
            // One name can be a source, a processor and a destination type: take this kind's.
            let detail = items(&client.get(&["types", name], &[]).await?)
                .into_iter()
                .find(|d| kind_of(d) == kind)
                .unwrap_or(Value::Null);
            files.push((
                format!(
                    "10-type-{}-{}.yaml",
                    kind.to_ascii_lowercase(),
                    file_part(name)
                ),
                yaml_of(&detail),
            ));
        }
    }
    for d in items(&client.get(&["destinations"], &[]).await?) {
        let name = str_of(&d, "name");
        let detail = client.get(&["destinations", name], &[]).await?;
        files.push((
            format!("20-destination-{}.yaml", file_part(name)),
            exportable(&detail, &format!("destination {name}"))?,
        ));
    }
    for c in items(&client.get(&["configurations"], &[]).await?) {
        let name = str_of(&c, "name");
        let detail = client.get(&["configurations", name], &[]).await?;
        files.push((
            format!("30-configuration-{}.yaml", file_part(name)),
            exportable(&detail, &format!("configuration {name}"))?,
        ));
    }
    let labels = operator_labels(client).await?;
    let labelled = labels.len();
    if !labels.is_empty() {
        files.push(("90-agent-labels.yaml".into(), labels_document(&labels)));
    }
    write_folder(dir, &files)?;
    println!(
        "exported {} resource{} and the operator labels of {labelled} agent{} to {}",
        files.len() - usize::from(labelled > 0),
        if files.len() - usize::from(labelled > 0) == 1 {
            ""
        } else {
            "s"
        },
        if labelled == 1 { "" } else { "s" },
        dir.display()
    );
    eprintln!(
        "the files hold the destinations' and configurations' secrets: keep the folder private"
    );
    Ok(())
}

fn kind_of(detail: &Value) -> &str {
    detail
        .get("kind")
        .or_else(|| detail.pointer("/summary/kind"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The resource's YAML, refusing masked secrets: files with `(sensitive)` in place of a
/// secret would overwrite it when applied back.
fn exportable(detail: &Value, what: &str) -> anyhow::Result<String> {
    if detail.get("secrets_masked").and_then(Value::as_bool) == Some(true) {
        return Err(usage(format!(
            "{what} came back with its secrets masked: export needs an admin token (files that apply back unchanged hold the secrets)"
        )));
    }
    Ok(yaml_of(detail))
}

fn yaml_of(detail: &Value) -> String {
    let y = str_of(detail, "yaml").to_string();
    if y.ends_with('\n') { y } else { y + "\n" }
}

/// Every agent's operator labels, by agent id.
async fn operator_labels(
    client: &Client,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut out = BTreeMap::new();
    let mut offset = 0usize;
    loop {
        let page = client
            .get(
                &["agents"],
                &[("offset", offset.to_string()), ("limit", "1000".into())],
            )
            .await?;
        let got = items(&page);
        if got.is_empty() {
            break;
        }
        offset += got.len();
        for a in got {
            if let Some(Value::Object(m)) = a.get("operator_labels")
                && !m.is_empty()
            {
                let labels = m
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                out.insert(str_of(&a, "id").to_string(), labels);
            }
        }
        let total = page.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
        if offset >= total {
            break;
        }
    }
    Ok(out)
}

fn labels_document(labels: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let doc = json!({
        "apiVersion": "fleetdeck/v1",
        "kind": AGENT_LABELS,
        "metadata": {"name": "operator-labels"},
        "spec": {"agents": labels},
    });
    serde_norway::to_string(&doc).unwrap_or_default()
}

/// Writes the files (mode 0600, atomically each) and removes earlier exports' files that
/// are no longer part of it; other files in the folder are left alone.
fn write_folder(dir: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keep: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let ours = PREFIXES.iter().any(|p| name.starts_with(p)) && name.ends_with(".yaml");
        if ours && !keep.contains(name) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    for (name, text) in files {
        let path = dir.join(name);
        crate::private_file::write(&path, text)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The `(kind, name)` of every document in an input (kinds canonical; AgentLabels kept as
/// is). A document without a kind or name is left to the server to report.
pub fn resources_in(file: &str, text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let v: serde_norway::Value = serde::Deserialize::deserialize(doc)
            .with_context(|| format!("{file} is not valid YAML"))?;
        let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
        let name = v
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        if kind.is_empty() {
            continue;
        }
        let kind = if kind == AGENT_LABELS {
            AGENT_LABELS.to_string()
        } else {
            canonical_kind(kind).map_or_else(|| kind.to_string(), str::to_string)
        };
        out.push((kind, name.to_string()));
    }
    Ok(out)
}

/// Applies an AgentLabels document: sets each listed agent's labels. Agents the server
/// does not know (decommissioned) are reported and skipped. Returns one line per agent.
pub async fn apply_agent_labels(
    client: &Client,
    file: &str,
    text: &str,
) -> anyhow::Result<Vec<String>> {
    let doc: serde_norway::Value =
        serde_norway::from_str(text).with_context(|| format!("{file} is not valid YAML"))?;
    let agents = doc
        .get("spec")
        .and_then(|s| s.get("agents"))
        .and_then(|a| a.as_mapping())
        .ok_or_else(|| usage(format!("{file}: an AgentLabels document needs spec.agents")))?;
    let mut lines = Vec::new();
    for (id, labels) in agents {
        let id = id.as_str().unwrap_or_default();
        let set: BTreeMap<String, String> = labels
            .as_mapping()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let v = match v {
                            serde_norway::Value::String(s) => s.clone(),
                            other => serde_norway::to_string(other).ok()?.trim().to_string(),
                        };
                        Some((k.as_str()?.to_string(), v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let current = client
            .call(Method::GET, client.url(&["agents", id], &[])?, Body::None)
            .await?;
        if !current.status.is_success() {
            lines.push(format!(
                "agentlabels/{id} skipped: no such agent on this server"
            ));
            continue;
        }
        let have = current
            .body
            .pointer("/agent/labels")
            .cloned()
            .unwrap_or(Value::Null);
        let unchanged = set
            .iter()
            .all(|(k, v)| have.get(k).and_then(Value::as_str) == Some(v));
        if unchanged || set.is_empty() {
            lines.push(format!("agentlabels/{id} unchanged"));
            continue;
        }
        client
            .ok(
                Method::PATCH,
                client.url(&["agents", id, "labels"], &[])?,
                Body::Json(json!({ "set": set })),
            )
            .await?;
        lines.push(format!("agentlabels/{id} configured"));
    }
    Ok(lines)
}

/// What the server has that the folder does not: `(kind, name)`, configurations first
/// (they use destinations and types), then destinations, then user-made types.
pub async fn to_prune(
    client: &Client,
    wanted: &BTreeSet<(String, String)>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let has = |kind: &str, name: &str| wanted.contains(&(kind.to_string(), name.to_string()));
    for c in items(&client.get(&["configurations"], &[]).await?) {
        let name = str_of(&c, "name");
        if !has(CONFIGURATION, name) {
            out.push((CONFIGURATION.to_string(), name.to_string()));
        }
    }
    for d in items(&client.get(&["destinations"], &[]).await?) {
        let name = str_of(&d, "name");
        if !has(DESTINATION, name) {
            out.push((DESTINATION.to_string(), name.to_string()));
        }
    }
    for t in items(&client.get(&["types"], &[]).await?) {
        let (kind, name) = (str_of(&t, "kind"), str_of(&t, "name"));
        if t.get("builtin").and_then(Value::as_bool) == Some(false) && !has(kind, name) {
            out.push((kind.to_string(), name.to_string()));
        }
    }
    Ok(out)
}

/// Deletes each; a refusal (still in use) is reported, not fatal. Returns the lines and
/// how many were refused.
pub async fn prune(
    client: &Client,
    doomed: &[(String, String)],
) -> anyhow::Result<(Vec<String>, usize)> {
    let mut lines = Vec::new();
    let mut refused = 0;
    for (kind, name) in doomed {
        let answer = client
            .call(
                Method::DELETE,
                client.url(&["resources", kind, name], &[])?,
                Body::None,
            )
            .await?;
        let label = format!("{}/{name}", kind.to_ascii_lowercase());
        if answer.status.is_success() {
            lines.push(format!("{label} pruned"));
        } else {
            refused += 1;
            lines.push(format!(
                "{label} not pruned: {}",
                str_of(&answer.body, "error")
            ));
        }
    }
    Ok((lines, refused))
}
