//! `fleetdeck get events [--actor TOKEN_NAME] [--limit N]`: the stored event history,
//! newest first, one line each; with `--actor`, what one API token changed.

use serde_json::Value;

use super::client::Client;
use super::output::{Table, age, print_value, text};
use crate::args::OutputFormat;

pub async fn list(
    client: &Client,
    format: OutputFormat,
    actor: Option<&str>,
    limit: Option<usize>,
) -> anyhow::Result<()> {
    let mut q = vec![("limit", limit.unwrap_or(50).to_string())];
    if let Some(a) = actor {
        q.push(("actor", a.to_string()));
    }
    let answer = client.get(&["events"], &q).await?;
    let items = answer
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(items));
    }
    if items.is_empty() {
        eprintln!(
            "no events{}",
            actor
                .map(|a| format!(" made with the token '{a}'"))
                .unwrap_or_default()
        );
        return Ok(());
    }
    let mut t = Table::new(&["WHEN", "KIND", "WHO", "WHAT"]);
    for e in &items {
        let at = e.get("at").and_then(Value::as_f64).unwrap_or(0.0) as u64;
        let payload = e.get("payload").cloned().unwrap_or(Value::Null);
        t.row(vec![
            age(at),
            text(e, "kind"),
            who(&payload),
            summary(&payload),
        ]);
    }
    t.print();
    Ok(())
}

/// The token for changes, the agent's name for agent events, `-` otherwise.
fn who(p: &Value) -> String {
    match p.get("actor").or_else(|| p.get("name")) {
        Some(Value::String(s)) => s.clone(),
        _ => "-".into(),
    }
}

/// What happened, in one line, from the event's payload.
fn summary(p: &Value) -> String {
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
    let config = p
        .get("config")
        .map(|c| format!("{}:{}", text(c, "name"), text(c, "version")))
        .unwrap_or_default();
    match s("type") {
        "audit" if s("detail").is_empty() => s("action").to_string(),
        "audit" => format!("{}: {}", s("action"), s("detail")),
        "rollout" => format!("{config}: {}", s("message")),
        "notice" => s("message").to_string(),
        "config_status" if s("error").is_empty() => format!("{config} {}", s("state")),
        "config_status" => format!("{config} {}: {}", s("state"), s("error")),
        "agent_connected" => format!("connected over {}", s("transport")),
        "agent_disconnected" => format!(
            "disconnected: {}",
            p.get("reason").map(Value::to_string).unwrap_or_default()
        ),
        "health_changed" => match p.get("healthy").and_then(Value::as_bool) {
            Some(true) => "healthy".into(),
            _ => format!("unhealthy: {}", s("last_error")),
        },
        other => other.replace('_', " "),
    }
}
