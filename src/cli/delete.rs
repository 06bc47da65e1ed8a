//! `fleetdeck delete KIND NAME` (refused while the resource is in use, naming the users), and
//! `fleetdeck delete agent ID` (refused while it is connected or in a rollout).

use reqwest::Method;

use super::client::{Body, Client};
use super::output::print_value;
use super::usage::usage;
use crate::args::OutputFormat;
use crate::catalog::canonical_kind;

pub async fn run(
    client: &Client,
    format: OutputFormat,
    kind: &str,
    name: &str,
) -> anyhow::Result<()> {
    if matches!(kind.to_ascii_lowercase().as_str(), "agent" | "agents") {
        return forget_agent(client, format, name).await;
    }
    let canonical = canonical_kind(kind).ok_or_else(|| {
        usage(format!(
            "cannot delete '{kind}': kinds are agent, configuration, destination, source-type, processor-type and destination-type"
        ))
    })?;
    let answer = client
        .ok(
            Method::DELETE,
            client.url(&["resources", canonical, name], &[])?,
            Body::None,
        )
        .await?;
    match format {
        OutputFormat::Table => {
            println!("{}/{name} deleted", canonical.to_ascii_lowercase());
            Ok(())
        }
        _ => print_value(format, &answer),
    }
}

/// `delete agent ID|NAME`: forgets a disconnected agent (its record and its place in lists).
async fn forget_agent(client: &Client, format: OutputFormat, key: &str) -> anyhow::Result<()> {
    let answer = client
        .ok(
            Method::DELETE,
            client.url(&["agents", key], &[])?,
            Body::None,
        )
        .await?;
    match format {
        OutputFormat::Table => {
            let name = answer.get("name").and_then(|v| v.as_str()).unwrap_or(key);
            println!("agent/{name} deleted");
            Ok(())
        }
        _ => print_value(format, &answer),
    }
}
