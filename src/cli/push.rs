//! `fleetdeck push CONFIG (--agents ID,… | --selector k=v,…)`: assign and roll out.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{Body, Client};
use super::rollout::print_view;
use super::usage::usage;
use crate::args::{OutputFormat, RollbackFlag, RolloutFlags};

/// The rollout options the flags set (the server fills in the rest).
pub fn options(f: &RolloutFlags) -> Option<Value> {
    let mut o = Map::new();
    if f.all_at_once {
        o.insert("initial".into(), json!(u64::MAX));
        o.insert("max_per_phase".into(), json!(u64::MAX));
    }
    if let Some(n) = f.initial {
        o.insert("initial".into(), json!(n));
    }
    if let Some(m) = f.multiplier {
        o.insert("multiplier".into(), json!(m));
    }
    if let Some(n) = f.max_per_phase {
        o.insert("max_per_phase".into(), json!(n));
    }
    if let Some(n) = f.max_failures {
        o.insert("max_failures".into(), json!(n));
    }
    if let Some(window) = f.watch {
        let mut w = Map::new();
        w.insert("window_secs".into(), json!(window));
        if let Some(v) = f.max_export_failures {
            w.insert("max_export_failures".into(), json!(v));
        }
        if let Some(v) = f.max_throughput_drop {
            w.insert("max_throughput_drop".into(), json!(v));
        }
        o.insert("watch".into(), Value::Object(w));
    }
    if let Some(r) = f.rollback {
        let word = match r {
            RollbackFlag::None => "none",
            RollbackFlag::Failed => "failed",
            RollbackFlag::All => "all",
        };
        o.insert("rollback".into(), json!(word));
    }
    (!o.is_empty()).then_some(Value::Object(o))
}

pub async fn run(
    client: &Client,
    format: OutputFormat,
    config: &str,
    agents: &[String],
    selector: Option<&str>,
    flags: &RolloutFlags,
) -> anyhow::Result<()> {
    let agents: Vec<&str> = agents
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    let mut body = json!({ "config": config });
    match (agents.is_empty(), selector) {
        (false, None) => body["agents"] = json!(agents),
        (true, Some(s)) if !s.trim().is_empty() => body["selector"] = json!(s),
        _ => {
            return Err(usage("say which agents: --agents ID,… or --selector k=v,…"));
        }
    }
    if let Some(v) = flags.config_version {
        body["version"] = json!(v);
    }
    if let Some(o) = options(flags) {
        body["options"] = o;
    }
    if flags.force {
        body["force"] = json!(true);
    }
    let view = client
        .ok(
            Method::POST,
            client.url(&["rollouts"], &[])?,
            Body::Json(body),
        )
        .await?;
    if format == OutputFormat::Table {
        let c = view.get("config").cloned().unwrap_or(Value::Null);
        let n = view
            .get("progress")
            .and_then(|p| p.get("total"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        println!(
            "rollout of {}:{} started to {n} agent{}",
            c.get("name").and_then(Value::as_str).unwrap_or(config),
            c.get("version").and_then(Value::as_u64).unwrap_or(0),
            if n == 1 { "" } else { "s" }
        );
    }
    print_view(format, &view)
}
