//! `fleetdeck label agent ID k=v k2-`: set and remove operator labels.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Body, Client};
use super::output::{labels, print_value};
use super::usage::usage;
use crate::args::OutputFormat;

/// `k=v` sets, `k-` removes (kubectl's syntax).
pub fn parse_changes(args: &[String]) -> anyhow::Result<(BTreeMap<String, String>, Vec<String>)> {
    if args.is_empty() {
        return Err(usage("give labels to set (k=v) or remove (k-)"));
    }
    let mut set = BTreeMap::new();
    let mut remove = Vec::new();
    for a in args {
        if let Some((k, v)) = a.split_once('=') {
            if k.is_empty() {
                return Err(usage(format!("'{a}': the label key is empty")));
            }
            set.insert(k.to_string(), v.to_string());
        } else if let Some(k) = a.strip_suffix('-').filter(|k| !k.is_empty()) {
            remove.push(k.to_string());
        } else {
            return Err(usage(format!(
                "'{a}': write k=v to set a label or k- to remove one"
            )));
        }
    }
    Ok((set, remove))
}

pub fn agent_kind(kind: &str) -> anyhow::Result<()> {
    if matches!(kind.to_ascii_lowercase().as_str(), "agent" | "agents") {
        Ok(())
    } else {
        Err(usage(format!(
            "'{kind}': only agents can be labeled or restarted here; write `agent ID`"
        )))
    }
}

pub async fn run(
    client: &Client,
    format: OutputFormat,
    kind: &str,
    id: &str,
    changes: &[String],
) -> anyhow::Result<()> {
    agent_kind(kind)?;
    let (set, remove) = parse_changes(changes)?;
    let answer = client
        .ok(
            Method::PATCH,
            client.url(&["agents", id, "labels"], &[])?,
            Body::Json(json!({ "set": set, "remove": remove })),
        )
        .await?;
    match format {
        OutputFormat::Table => {
            let id = answer.get("id").and_then(Value::as_str).unwrap_or(id);
            let now = labels(answer.get("operator_labels"));
            println!(
                "agent/{id} labeled (operator labels: {})",
                if now.is_empty() { "none" } else { &now }
            );
            Ok(())
        }
        _ => print_value(format, &answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kubectl_label_syntax() {
        let (set, remove) = parse_changes(&args(&["team=edge", "tier-", "empty="])).unwrap();
        assert_eq!(set.get("team").map(String::as_str), Some("edge"));
        assert_eq!(set.get("empty").map(String::as_str), Some(""));
        assert_eq!(remove, vec!["tier".to_string()]);
    }

    #[test]
    fn anything_else_is_a_usage_error() {
        for bad in [&["team"][..], &["=x"], &["-"], &[]] {
            let e = parse_changes(&args(bad)).unwrap_err();
            assert_eq!(super::super::usage::exit_code(&e), 2, "{bad:?}");
        }
    }
}
