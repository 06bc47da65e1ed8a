//! `fleetdeck tap agent ID [--signal S] [--pipeline NAME] [--limit N] [--follow]`: the
//! newest items one pipeline of an agent handles, pretty-printed (oldest first, as `tail`
//! shows lines), or as JSON / YAML. Following asks again every few seconds for what came
//! since the last item shown (JSON: one item per line; YAML: one document per item).

use std::time::Duration;

use serde_json::Value;

use super::client::Client;
use super::label::agent_kind;
use super::output::print_value;
use super::usage::usage;
use crate::args::OutputFormat;
use crate::fleet::tap::{MAX_LIMIT, TapSignal};

pub struct Query<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub signal: Option<&'a str>,
    pub pipeline: Option<&'a str>,
    pub limit: usize,
    pub follow: bool,
    pub every: Duration,
}

pub async fn run(client: &Client, format: OutputFormat, q: Query<'_>) -> anyhow::Result<()> {
    agent_kind(q.kind)?;
    if let Some(s) = q.signal {
        s.parse::<TapSignal>()
            .map_err(|e| usage(format!("--signal: {e}")))?;
    }
    if q.limit == 0 || q.limit > MAX_LIMIT {
        return Err(usage(format!("--limit {}: give 1 to {MAX_LIMIT}", q.limit)));
    }
    let mut after: Option<u64> = None;
    let mut first = true;
    loop {
        let mut query = vec![("limit", q.limit.to_string())];
        if let Some(s) = q.signal {
            query.push(("signal", s.to_string()));
        }
        if let Some(p) = q.pipeline {
            query.push(("pipeline", p.to_string()));
        }
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        let answer = client.get(&["agents", q.id, "tap"], &query).await?;
        let items = answer
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(last) = items.iter().filter_map(|i| i.get("seq")?.as_u64()).max() {
            after = Some(last);
        }
        match (format, q.follow) {
            (OutputFormat::Table, _) => {
                if first {
                    println!("{}", heading(&answer));
                }
                for item in &items {
                    print!("{}", pretty(item));
                }
                if first && items.is_empty() {
                    println!(
                        "(nothing went through this pipeline since the Collector started with its configuration)"
                    );
                }
                if let Some(note) = answer.get("note").and_then(Value::as_str) {
                    eprintln!("note: {note}");
                }
            }
            (OutputFormat::Json, true) => {
                for item in &items {
                    println!("{}", serde_json::to_string(item)?);
                }
            }
            (OutputFormat::Yaml, true) => {
                for item in &items {
                    println!("---");
                    print!("{}", super::output::yaml(item)?);
                }
            }
            (other, false) => print_value(other, &answer)?,
        }
        first = false;
        if !q.follow {
            return Ok(());
        }
        tokio::time::sleep(q.every).await;
    }
}

/// `agent web-1 (0190…) · logs/filelog (logs) · 3 items · taps: logs/filelog, metrics`
fn heading(a: &Value) -> String {
    let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let n = a.get("items").and_then(Value::as_array).map_or(0, Vec::len);
    let left = a.get("left_out").and_then(Value::as_u64).unwrap_or(0);
    let taps: Vec<String> = a
        .get("pipelines")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut out = format!(
        "agent {} ({}) · pipeline {} ({}) · {n} item{}",
        s("name"),
        s("id"),
        s("pipeline"),
        s("signal"),
        if n == 1 { "" } else { "s" }
    );
    if left > 0 {
        out.push_str(&format!(" ({left} older left out)"));
    }
    out.push_str(&format!(" · taps: {}", taps.join(", ")));
    out
}

/// One item as a few indented lines (an item this CLI cannot read is printed as JSON).
pub fn pretty(item: &Value) -> String {
    let lines = match serde_json::from_value::<crate::fleet::tap::TapItem>(item.clone()) {
        Ok(i) => i.lines(),
        Err(_) => vec![item.to_string()],
    };
    let mut out = lines.join("\n");
    out.push('\n');
    out
}
