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

/// One item as a few indented lines.
pub fn pretty(item: &Value) -> String {
    let s = |k: &str| item.get(k).and_then(Value::as_str);
    let mut head = vec![s("time").unwrap_or("-").to_string()];
    if let Some(sev) = s("severity") {
        head.push(sev.to_string());
    }
    if let Some(name) = s("name") {
        head.push(name.to_string());
    }
    if let Some(v) = item.get("value") {
        head.push(format!("= {}", scalar(v)));
        if let Some(u) = s("unit") {
            head.push(u.to_string());
        }
    }
    if let Some(kind) = s("kind") {
        head.push(format!("({kind})"));
    }
    if let Some(ms) = item.get("duration_ms").and_then(Value::as_f64) {
        head.push(format!("{ms:.3} ms"));
    }
    if let Some(st) = s("status") {
        head.push(st.to_string());
    }
    let mut out = format!("{}\n", head.join("  "));
    if let Some(body) = item.get("body") {
        let text = match body {
            Value::String(t) => t.clone(),
            other => serde_json::to_string_pretty(other).unwrap_or_default(),
        };
        let mut lines = text.lines();
        out.push_str(&format!("  body: {}\n", lines.next().unwrap_or("")));
        for l in lines {
            out.push_str(&format!("        {l}\n"));
        }
    }
    for (label, key) in [("attributes", "attributes"), ("resource", "resource")] {
        if let Some(Value::Object(m)) = item.get(key)
            && !m.is_empty()
        {
            out.push_str(&format!("  {label}:\n"));
            for (k, v) in m {
                out.push_str(&format!("    {k} = {}\n", scalar(v)));
            }
        }
    }
    if let Some(scope) = s("scope") {
        out.push_str(&format!("  scope: {scope}\n"));
    }
    if let Some(t) = s("trace_id") {
        out.push_str(&format!(
            "  trace {t}  span {}\n",
            s("span_id").unwrap_or("-")
        ));
    }
    if let Some(n) = item.get("attributes_left_out").and_then(Value::as_u64) {
        out.push_str(&format!("  ({n} more attributes left out)\n"));
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
