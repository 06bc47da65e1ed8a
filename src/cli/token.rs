//! `fleetdeck token create NAME --role ROLE`, `token revoke NAME`, and `get tokens`.

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Body, Client};
use super::output::{Table, age, print_value, text};
use crate::args::{OutputFormat, TokenAction};

pub async fn run(client: &Client, format: OutputFormat, action: TokenAction) -> anyhow::Result<()> {
    match action {
        TokenAction::Create { name, role } => {
            let answer = client
                .ok(
                    Method::POST,
                    client.url(&["tokens"], &[])?,
                    Body::Json(json!({ "name": name, "role": role })),
                )
                .await?;
            if format != OutputFormat::Table {
                return print_value(format, &answer);
            }
            // The token alone on stdout, so `$(fleetdeck token create …)` captures it.
            println!("{}", text(&answer, "token"));
            eprintln!(
                "token '{}' ({}) created; it is shown this once: the server keeps only its hash",
                text(&answer, "name"),
                text(&answer, "role")
            );
            Ok(())
        }
        TokenAction::Revoke { name } => {
            let answer = client
                .ok(
                    Method::DELETE,
                    client.url(&["tokens", &name], &[])?,
                    Body::None,
                )
                .await?;
            if format != OutputFormat::Table {
                return print_value(format, &answer);
            }
            println!("token '{name}' revoked");
            Ok(())
        }
    }
}

pub async fn list(client: &Client, format: OutputFormat) -> anyhow::Result<()> {
    let answer = client.get(&["tokens"], &[]).await?;
    let items = answer
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(items));
    }
    let mut t = Table::new(&["NAME", "ROLE", "CREATED", "SOURCE"]);
    for i in &items {
        t.row(vec![
            text(i, "name"),
            text(i, "role"),
            i.get("created_at")
                .and_then(Value::as_u64)
                .map_or_else(|| "-".to_string(), age),
            text(i, "source"),
        ]);
    }
    t.print();
    Ok(())
}
