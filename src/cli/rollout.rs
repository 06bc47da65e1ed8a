//! `fleetdeck rollout status|pause|resume|cancel|rollback CONFIG`.

use reqwest::Method;
use serde_json::Value;

use super::client::{Body, Client};
use super::output::{Table, print_value, text};
use crate::args::{OutputFormat, RolloutAction};
use crate::rollout::watch::WatchFigures;

pub async fn run(
    client: &Client,
    format: OutputFormat,
    action: RolloutAction,
) -> anyhow::Result<()> {
    let view = match &action {
        RolloutAction::Status { config } => client.get(&["rollouts", config], &[]).await?,
        RolloutAction::Pause { config } => steer(client, config, "pause").await?,
        RolloutAction::Resume { config } => steer(client, config, "resume").await?,
        RolloutAction::Cancel { config } => steer(client, config, "cancel").await?,
        RolloutAction::Rollback { config } => steer(client, config, "rollback").await?,
    };
    print_view(format, &view)
}

async fn steer(client: &Client, config: &str, action: &str) -> anyhow::Result<Value> {
    client
        .ok(
            Method::POST,
            client.url(&["rollouts", config, action], &[])?,
            Body::None,
        )
        .await
}

/// `running`, `halted: 2 failures`, …
pub fn status_text(view: &Value) -> String {
    let s = view.get("status").cloned().unwrap_or(Value::Null);
    let word = text(&s, "status").replace('_', " ");
    match s.get("reason").and_then(Value::as_str) {
        Some(r) => format!("{word}: {r}"),
        None => word,
    }
}

/// The rollout as a one-row table, then the agents that failed with their errors.
pub fn print_view(format: OutputFormat, view: &Value) -> anyhow::Result<()> {
    if format != OutputFormat::Table {
        return print_value(format, view);
    }
    let c = view.get("config").cloned().unwrap_or(Value::Null);
    let p = view.get("progress").cloned().unwrap_or(Value::Null);
    let mut t = Table::new(&[
        "CONFIG",
        "STATUS",
        "PHASES",
        "AGENTS",
        "APPLIED",
        "IN FLIGHT",
        "WATCHING",
        "WAITING",
        "FAILED",
        "ROLLED BACK",
    ]);
    t.row(vec![
        format!("{}:{}", text(&c, "name"), text(&c, "version")),
        status_text(view),
        text(view, "phases_started"),
        text(&p, "total"),
        text(&p, "applied"),
        text(&p, "in_flight"),
        text(&p, "watching"),
        text(&p, "waiting"),
        text(&p, "failed"),
        text(&p, "rolled_back"),
    ]);
    t.print();
    let failed: Vec<&Value> = view
        .get("agents")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|x| {
                    x.get("failed").and_then(Value::as_bool) == Some(true)
                        || matches!(
                            x.get("step")
                                .and_then(|s| s.get("state"))
                                .and_then(Value::as_str),
                            Some("failed" | "stalled")
                        )
                })
                .collect()
        })
        .unwrap_or_default();
    for a in failed {
        let step = a.get("step").cloned().unwrap_or(Value::Null);
        // After a rollback the step says "rolled_back"; why it failed is kept beside it.
        let why = step
            .get("error")
            .or_else(|| a.get("error"))
            .and_then(Value::as_str)
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        let state = match text(&step, "state").as_str() {
            "rolled_back" => "failed, rolled back".to_string(),
            other => other.to_string(),
        };
        println!("  agent {} {state}{why}", text(a, "id"));
    }
    print_watching(view);
    Ok(())
}

/// Agents inside their watch window, with what their telemetry says so far.
fn print_watching(view: &Value) {
    let Some(window) = view
        .pointer("/options/watch/window_secs")
        .and_then(Value::as_u64)
    else {
        return;
    };
    let now = crate::fleet::telemetry::now_sec();
    let agents = view.get("agents").and_then(Value::as_array);
    for a in agents.into_iter().flatten() {
        if a.pointer("/step/state").and_then(Value::as_str) != Some("watching") {
            continue;
        }
        let figures: Option<WatchFigures> = a
            .get("watch")
            .and_then(|w| serde_json::from_value(w.clone()).ok());
        let left = a
            .get("applied_at")
            .and_then(Value::as_u64)
            .map(|t| format!(", {}s left", (t + window).saturating_sub(now)))
            .unwrap_or_default();
        println!(
            "  agent {} watching: {}{left}",
            text(a, "id"),
            figures.map_or_else(|| "no figures yet".to_string(), |f| f.describe())
        );
    }
}
