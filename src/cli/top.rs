//! `fleetdeck top agents|configurations|destinations [--signal S] [--period 1m|5m|1h] [--sort in|out|failed]`.

use serde_json::Value;

use super::client::Client;
use super::output::{Table, print_value, text};
use super::usage::usage;
use crate::args::OutputFormat;

pub struct Query<'a> {
    pub what: &'a str,
    pub signal: Option<&'a str>,
    pub period: &'a str,
    pub sort: &'a str,
    pub limit: usize,
}

pub async fn run(client: &Client, format: OutputFormat, q: Query<'_>) -> anyhow::Result<()> {
    let path = match q.what.to_ascii_lowercase().as_str() {
        "agent" | "agents" => "agents",
        "config" | "configs" | "configuration" | "configurations" => "configurations",
        "destination" | "destinations" | "dest" | "dests" => "destinations",
        other => {
            return Err(usage(format!(
                "cannot top '{other}': agents, configurations or destinations"
            )));
        }
    };
    let mut query = vec![
        ("period", q.period.to_string()),
        ("sort", q.sort.to_string()),
        ("limit", q.limit.to_string()),
    ];
    if let Some(s) = q.signal {
        query.push(("signal", s.to_string()));
    }
    let answer = client.get(&["top", path], &query).await?;
    let items = answer
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(items));
    }
    if items.is_empty() {
        eprintln!("no {path} reported telemetry in the last {}", q.period);
        return Ok(());
    }
    let rate = |v: &Value, k: &str| per_second(v.get(k).and_then(Value::as_f64).unwrap_or(0.0));
    if path == "destinations" {
        print_destinations(&items);
        return Ok(());
    }
    let mut t = if path == "agents" {
        Table::new(&["NAME", "CONFIG", "IN/s", "OUT/s", "FAILED/s"])
    } else {
        Table::new(&[
            "CONFIGURATION",
            "AGENTS",
            "REPORTING",
            "IN/s",
            "OUT/s",
            "FAILED/s",
        ])
    };
    for i in &items {
        let mut row = vec![text(i, "name")];
        if path == "agents" {
            row.push(text(i, "config"));
        } else {
            row.push(text(i, "agents"));
            row.push(text(i, "reporting"));
        }
        row.extend([rate(i, "in"), rate(i, "out"), rate(i, "failed")]);
        t.row(row);
    }
    t.print();
    Ok(())
}

/// `0`, `3.2`, `412`, `12.5k`, `3.1M`.
pub(super) fn per_second(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The `top destinations` table.
fn print_destinations(items: &[Value]) {
    let mut t = Table::new(&[
        "DESTINATION",
        "CONFIGURATIONS",
        "AGENTS",
        "IN/s",
        "OUT/s",
        "FAILED/s",
        "QUEUE",
    ]);
    for d in items {
        let rate = |k: &str| per_second(d.get(k).and_then(Value::as_f64).unwrap_or(0.0));
        let configs = d
            .get("configurations")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let size = d.get("queue_size").and_then(Value::as_f64).unwrap_or(0.0);
        let cap = d
            .get("queue_capacity")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let queue = if cap > 0.0 {
            format!("{:.0}%", 100.0 * size / cap)
        } else {
            "-".to_string()
        };
        t.row(vec![
            text(d, "name"),
            configs,
            text(d, "agents"),
            rate("in"),
            rate("out"),
            rate("failed"),
            queue,
        ]);
    }
    t.print();
}
