//! `fleetdeck delete KIND NAME` (refused while the resource is in use, naming the users).

use reqwest::Method;

use super::args::OutputFormat;
use super::client::{Body, Client, usage};
use super::output::print_value;
use crate::api::canonical_kind;

pub async fn run(
    client: &Client,
    format: OutputFormat,
    kind: &str,
    name: &str,
) -> anyhow::Result<()> {
    let canonical = canonical_kind(kind).ok_or_else(|| {
        usage(format!(
            "cannot delete '{kind}': kinds are configuration, destination, source-type, processor-type and destination-type"
        ))
    })?;
    let answer = client
        .ok(
            Method::DELETE,
            client.url(&["resources", canonical, name], &[]),
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
