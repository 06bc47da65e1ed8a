//! `fleetdeck rotate-credentials --selector …` and `fleetdeck revoke agent ID [--undo]`:
//! agents' own credentials (see README, "Agent credentials").

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Body, Client};
use super::output::{Table, print_value, text};
use super::usage::usage;
use crate::args::OutputFormat;

pub async fn rotate(
    client: &Client,
    format: OutputFormat,
    selector: Option<&str>,
    agents: &[String],
) -> anyhow::Result<()> {
    if selector.is_none() && agents.is_empty() {
        return Err(usage(
            "name the agents: --selector k=v,… (or --selector '' for every agent), --agents ID,…, or both",
        ));
    }
    let answer = client
        .ok(
            Method::POST,
            client.url(&["credentials", "rotate"], &[])?,
            Body::Json(json!({ "selector": selector, "agents": agents })),
        )
        .await?;
    let rotated = answer
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(rotated));
    }
    if rotated.is_empty() {
        eprintln!("no agent matches");
        return Ok(());
    }
    let mut t = Table::new(&["ID", "NAME", "OUTCOME", "CREDENTIAL", "MESSAGE"]);
    for r in &rotated {
        let id = text(r, "id");
        t.row(vec![
            id.chars().skip(id.len().saturating_sub(8)).collect(),
            text(r, "name"),
            text(r, "outcome"),
            r.get("credential")
                .map(|c| text(c, "state"))
                .unwrap_or_default(),
            text(r, "message"),
        ]);
    }
    t.print();
    Ok(())
}

pub async fn revoke(
    client: &Client,
    format: OutputFormat,
    kind: &str,
    id: &str,
    undo: bool,
) -> anyhow::Result<()> {
    if !matches!(kind.to_ascii_lowercase().as_str(), "agent" | "agents") {
        return Err(usage(format!(
            "'{kind}': only agents can be revoked; write `revoke agent ID`"
        )));
    }
    let method = if undo { Method::DELETE } else { Method::POST };
    let answer = client
        .ok(
            method,
            client.url(&["agents", id, "revoke"], &[])?,
            Body::None,
        )
        .await?;
    if format != OutputFormat::Table {
        return print_value(format, &answer);
    }
    let shown = format!("agent/{} ({})", text(&answer, "id"), text(&answer, "name"));
    if undo {
        println!("{shown} may enroll again with the fleet secret");
    } else if answer.get("disconnected").and_then(Value::as_bool) == Some(true) {
        println!("{shown} revoked and disconnected");
    } else {
        println!("{shown} revoked");
    }
    Ok(())
}
