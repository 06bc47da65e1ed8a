//! `fleetdeck get agents|configs|types [NAME] [-l SELECTOR]`.

use serde_json::Value;

use super::args::OutputFormat;
use super::client::{Client, usage};
use super::output::{Table, age, print_documents, print_value, text};

/// Agents fetched per request while listing.
const PAGE: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Agents,
    Configs,
    Types,
}

pub fn parse_kind(s: &str) -> Option<Kind> {
    match s.to_ascii_lowercase().as_str() {
        "agent" | "agents" => Some(Kind::Agents),
        "config" | "configs" | "configuration" | "configurations" => Some(Kind::Configs),
        "type" | "types" | "resource-types" => Some(Kind::Types),
        _ => None,
    }
}

pub async fn run(
    client: &Client,
    format: OutputFormat,
    kind: &str,
    name: Option<&str>,
    selector: Option<&str>,
) -> anyhow::Result<()> {
    let kind = parse_kind(kind).ok_or_else(|| {
        usage(format!(
            "cannot get '{kind}': kinds are agents, configs and types"
        ))
    })?;
    if selector.is_some() && (kind != Kind::Agents || name.is_some()) {
        return Err(usage(
            "-l/--selector lists agents; it goes with `get agents` alone",
        ));
    }
    match (kind, name) {
        (Kind::Agents, None) => agents(client, format, selector).await,
        (Kind::Agents, Some(id)) => agent(client, format, id).await,
        (Kind::Configs, None) => configs(client, format).await,
        (Kind::Configs, Some(n)) => config(client, format, n).await,
        (Kind::Types, None) => types(client, format).await,
        (Kind::Types, Some(n)) => type_detail(client, format, n).await,
    }
}

fn items(v: &Value) -> Vec<Value> {
    v.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn agents(
    client: &Client,
    format: OutputFormat,
    selector: Option<&str>,
) -> anyhow::Result<()> {
    let mut all = Vec::new();
    loop {
        let mut q = vec![
            ("offset", all.len().to_string()),
            ("limit", PAGE.to_string()),
        ];
        if let Some(s) = selector {
            q.push(("selector", s.to_string()));
        }
        let page = client.get(&["agents"], &q).await?;
        let got = items(&page);
        let total = page.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
        let empty = got.is_empty();
        all.extend(got);
        if empty || all.len() >= total {
            break;
        }
    }
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(all));
    }
    if all.is_empty() {
        eprintln!(
            "no agents{}",
            selector
                .map(|s| format!(" match '{s}'"))
                .unwrap_or_default()
        );
        return Ok(());
    }
    let mut t = agent_table();
    for a in &all {
        t.row(agent_row(a));
    }
    t.print();
    Ok(())
}

fn agent_table() -> Table {
    Table::new(&[
        "ID",
        "NAME",
        "HOST",
        "VERSION",
        "STATUS",
        "HEALTH",
        "CONFIG",
        "LAST SEEN",
        "LABELS",
    ])
}

fn health(v: Option<&Value>) -> String {
    match v.and_then(Value::as_bool) {
        Some(true) => "healthy".into(),
        Some(false) => "unhealthy".into(),
        None => "-".into(),
    }
}

/// Attribute prefixes the other columns already show (name, host, version, OS); the LABELS
/// column keeps to what operators select on. JSON and YAML output keep every label.
const SHOWN_ELSEWHERE: [&str; 5] = ["service.", "host.", "os.", "process.", "telemetry."];

fn labels(v: Option<&Value>) -> String {
    let Some(Value::Object(m)) = v else {
        return String::new();
    };
    m.iter()
        .filter(|(k, _)| !SHOWN_ELSEWHERE.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A row from a list item (`AgentSummary`).
fn agent_row(a: &Value) -> Vec<String> {
    let config = a
        .get("config")
        .filter(|c| !c.is_null())
        .map(|c| {
            format!(
                "{}:{} {}",
                text(c, "name"),
                text(c, "version"),
                text(c, "state")
            )
        })
        .unwrap_or_else(|| "-".into());
    vec![
        text(a, "short_id"),
        text(a, "name"),
        text(a, "host"),
        text(a, "version"),
        text(a, "connection"),
        health(a.get("healthy")),
        config,
        age(a.get("last_seen").and_then(Value::as_u64).unwrap_or(0)),
        labels(a.get("labels")),
    ]
}

async fn agent(client: &Client, format: OutputFormat, id: &str) -> anyhow::Result<()> {
    let detail = client.get(&["agents", id], &[]).await?;
    if format != OutputFormat::Table {
        return print_value(format, &detail);
    }
    let a = detail.get("agent").cloned().unwrap_or(Value::Null);
    let full_id = text(&a, "id");
    let config = a
        .get("config")
        .filter(|c| !c.is_null())
        .map(|c| {
            let cref = c.get("config").cloned().unwrap_or(Value::Null);
            format!(
                "{}:{} {}",
                text(&cref, "name"),
                text(&cref, "version"),
                text(c, "state")
            )
        })
        .unwrap_or_else(|| "-".into());
    let last_seen = a
        .get("last_seen")
        .and_then(|t| t.get("secs_since_epoch"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut t = agent_table();
    t.row(vec![
        full_id
            .chars()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect(),
        text(&a, "name"),
        text(&a, "host"),
        text(&a, "version"),
        text(&a, "connection"),
        health(a.get("health").and_then(|h| h.get("healthy"))),
        config,
        age(last_seen),
        labels(a.get("labels")),
    ]);
    t.print();
    println!("id: {full_id}");
    Ok(())
}

async fn configs(client: &Client, format: OutputFormat) -> anyhow::Result<()> {
    let list = items(&client.get(&["configurations"], &[]).await?);
    match format {
        OutputFormat::Table => {
            if list.is_empty() {
                eprintln!("no configurations; create one with `fleetdeck apply -f FILE`");
                return Ok(());
            }
            let mut t = Table::new(&[
                "NAME",
                "VERSION",
                "SOURCES",
                "DESTINATIONS",
                "AGENTS",
                "ROLLOUT",
                "UPDATED",
            ]);
            for c in &list {
                t.row(config_row(c));
            }
            t.print();
            Ok(())
        }
        // The resources themselves, ready to apply again (GitOps).
        OutputFormat::Yaml => {
            let mut docs = Vec::new();
            for c in &list {
                let d = client
                    .get(&["configurations", &text(c, "name")], &[])
                    .await?;
                docs.push(
                    d.get("yaml")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            print_documents(&docs);
            Ok(())
        }
        OutputFormat::Json => {
            let mut out = Vec::new();
            for c in &list {
                let d = client
                    .get(&["configurations", &text(c, "name")], &[])
                    .await?;
                out.push(d.get("resource").cloned().unwrap_or(Value::Null));
            }
            print_value(format, &Value::Array(out))
        }
    }
}

fn joined(v: Option<&Value>) -> String {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}

fn config_row(c: &Value) -> Vec<String> {
    vec![
        text(c, "name"),
        text(c, "version"),
        joined(c.get("sources")),
        joined(c.get("destinations")),
        text(c, "agents"),
        text(c, "rollout"),
        age(c.get("updated_at").and_then(Value::as_u64).unwrap_or(0)),
    ]
}

async fn config(client: &Client, format: OutputFormat, name: &str) -> anyhow::Result<()> {
    let d = client.get(&["configurations", name], &[]).await?;
    match format {
        OutputFormat::Table => {
            let mut t = Table::new(&[
                "NAME",
                "VERSION",
                "SOURCES",
                "DESTINATIONS",
                "AGENTS",
                "ROLLOUT",
                "UPDATED",
            ]);
            t.row(config_row(&d));
            t.print();
            Ok(())
        }
        OutputFormat::Yaml => {
            print!(
                "{}",
                d.get("yaml").and_then(Value::as_str).unwrap_or_default()
            );
            Ok(())
        }
        OutputFormat::Json => print_value(format, d.get("resource").unwrap_or(&Value::Null)),
    }
}

async fn types(client: &Client, format: OutputFormat) -> anyhow::Result<()> {
    let list = items(&client.get(&["types"], &[]).await?);
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(list));
    }
    let mut t = Table::new(&[
        "KIND",
        "NAME",
        "SIGNALS",
        "PARAMETERS",
        "ORIGIN",
        "DESCRIPTION",
    ]);
    for ty in &list {
        t.row(type_row(ty));
    }
    t.print();
    Ok(())
}

fn type_row(ty: &Value) -> Vec<String> {
    let builtin = ty.get("builtin").and_then(Value::as_bool).unwrap_or(false);
    vec![
        text(ty, "kind"),
        text(ty, "name"),
        joined(ty.get("signals")),
        text(ty, "parameters"),
        if builtin { "built-in" } else { "applied" }.to_string(),
        text(ty, "description"),
    ]
}

async fn type_detail(client: &Client, format: OutputFormat, name: &str) -> anyhow::Result<()> {
    let list = items(&client.get(&["types", name], &[]).await?);
    match format {
        OutputFormat::Table => {
            let mut t = Table::new(&[
                "KIND",
                "NAME",
                "SIGNALS",
                "PARAMETERS",
                "ORIGIN",
                "DESCRIPTION",
            ]);
            for ty in &list {
                t.row(type_row(ty));
            }
            t.print();
            Ok(())
        }
        OutputFormat::Yaml => {
            let docs: Vec<String> = list
                .iter()
                .map(|d| {
                    d.get("yaml")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            print_documents(&docs);
            Ok(())
        }
        OutputFormat::Json => {
            let defs: Vec<Value> = list
                .iter()
                .map(|d| d.get("definition").cloned().unwrap_or(Value::Null))
                .collect();
            print_value(format, &Value::Array(defs))
        }
    }
}
