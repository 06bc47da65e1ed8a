//! `get configuration NAME --throughput` and `get agent ID --throughput`.

use serde_json::Value;

use super::client::Client;
use super::output::{Table, print_value, text};
use super::top::per_second;
use crate::args::OutputFormat;

pub async fn configuration(
    client: &Client,
    format: OutputFormat,
    name: &str,
    period: &str,
    signal: Option<&str>,
) -> anyhow::Result<()> {
    let mut query = vec![("period", period.to_string())];
    if let Some(s) = signal {
        query.push(("signal", s.to_string()));
    }
    let answer = client
        .get(&["configurations", name, "throughput"], &query)
        .await?;
    if format != OutputFormat::Table {
        return print_value(format, &answer);
    }
    let components = answer
        .get("components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!(
        "{name}: {} agents, {} reporting, per second over {period}",
        text(&answer, "agents"),
        text(&answer, "reporting"),
    );
    print_components(&components);
    Ok(())
}

/// `get agent ID --throughput`: its components as of its latest report.
pub async fn agent(client: &Client, format: OutputFormat, id: &str) -> anyhow::Result<()> {
    let answer = client.get(&["agents", id, "throughput"], &[]).await?;
    if format != OutputFormat::Table {
        return print_value(format, &answer);
    }
    let components = answer
        .get("components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!(
        "{}: running {}, per second as of its latest report",
        text(&answer, "name"),
        answer
            .get("config")
            .and_then(Value::as_str)
            .unwrap_or("no assigned configuration"),
    );
    print_components(&components);
    Ok(())
}

fn print_components(components: &[Value]) {
    if components.is_empty() {
        eprintln!(
            "no component numbers yet: agents report them with their own telemetry (every 10-60 s)"
        );
        return;
    }
    let mut t = Table::new(&[
        "STEP",
        "COMPONENT",
        "ID",
        "SIGNAL",
        "IN/s",
        "OUT/s",
        "REFUSED/s",
        "DROPPED/s",
        "FAILED/s",
        "QUEUE",
    ]);
    for c in components {
        let rate = |k: &str| per_second(c.get(k).and_then(Value::as_f64).unwrap_or(0.0));
        let queue = match (
            c.get("queue_size").and_then(Value::as_f64),
            c.get("queue_capacity").and_then(Value::as_f64),
        ) {
            (Some(size), Some(cap)) if cap > 0.0 => format!("{size:.0}/{cap:.0}"),
            (Some(size), _) => format!("{size:.0}"),
            _ => "-".to_string(),
        };
        let step = c
            .get("step")
            .and_then(Value::as_str)
            .map_or_else(|| text(c, "kind"), str::to_string);
        let label = c
            .get("label")
            .and_then(Value::as_str)
            .unwrap_or("(joins pipelines)")
            .to_string();
        t.row(vec![
            step,
            label,
            text(c, "id"),
            text(c, "signal"),
            rate("in"),
            rate("out"),
            rate("refused"),
            rate("dropped"),
            rate("failed"),
            queue,
        ]);
    }
    t.print();
}
