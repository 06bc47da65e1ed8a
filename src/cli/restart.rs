//! `fleetdeck restart agent ID`.

use reqwest::Method;
use serde_json::Value;

use super::client::{Body, Client};
use super::label::agent_kind;
use super::output::print_value;
use crate::args::OutputFormat;

pub async fn run(
    client: &Client,
    format: OutputFormat,
    kind: &str,
    id: &str,
) -> anyhow::Result<()> {
    agent_kind(kind)?;
    let answer = client
        .ok(
            Method::POST,
            client.url(&["agents", id, "restart"], &[])?,
            Body::None,
        )
        .await?;
    match format {
        OutputFormat::Table => {
            println!(
                "agent/{} ({}) asked to restart",
                answer.get("id").and_then(Value::as_str).unwrap_or(id),
                answer.get("name").and_then(Value::as_str).unwrap_or("?")
            );
            Ok(())
        }
        _ => print_value(format, &answer),
    }
}
