//! `fleetdeck get agents|configs|destinations|types|rollouts [NAME] [-l SELECTOR]`, and
//! `get agent NAME --history`.

use serde_json::Value;

use super::client::Client;
use super::output::{self, Table, age, print_documents, print_value, text};
use super::usage::usage;
use crate::args::OutputFormat;

/// Agents fetched per request while listing.
const PAGE: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Agents,
    Configs,
    Destinations,
    Types,
    Rollouts,
    Events,
    Tokens,
    Topology,
}

pub fn parse_kind(s: &str) -> Option<Kind> {
    match s.to_ascii_lowercase().as_str() {
        "agent" | "agents" => Some(Kind::Agents),
        "config" | "configs" | "configuration" | "configurations" => Some(Kind::Configs),
        "dest" | "dests" | "destination" | "destinations" => Some(Kind::Destinations),
        "type" | "types" | "resource-types" => Some(Kind::Types),
        "rollout" | "rollouts" => Some(Kind::Rollouts),
        "event" | "events" => Some(Kind::Events),
        "token" | "tokens" => Some(Kind::Tokens),
        "topology" => Some(Kind::Topology),
        _ => None,
    }
}

/// What `get` was asked for.
#[derive(Debug, Clone, Copy)]
pub struct What<'a> {
    pub kind: &'a str,
    pub name: Option<&'a str>,
    pub selector: Option<&'a str>,
    /// `--history`: one agent's apply history instead of the agent.
    pub history: bool,
    /// `--actor`: events of one API token.
    pub actor: Option<&'a str>,
    /// `--limit`: how many events.
    pub limit: Option<usize>,
    /// `--throughput`: one configuration's per-component numbers.
    pub throughput: Option<Throughput<'a>>,
}

/// `get configuration NAME --throughput [--period P] [--signal S]`.
#[derive(Debug, Clone, Copy)]
pub struct Throughput<'a> {
    pub period: &'a str,
    pub signal: Option<&'a str>,
}

pub async fn run(client: &Client, format: OutputFormat, what: What<'_>) -> anyhow::Result<()> {
    let What {
        kind,
        name,
        selector,
        history,
        actor,
        limit,
        throughput,
    } = what;
    let kind = parse_kind(kind).ok_or_else(|| {
        usage(format!(
            "cannot get '{kind}': kinds are agents, configs, destinations, types, rollouts, events, tokens and topology"
        ))
    })?;
    if selector.is_some() && (kind != Kind::Agents || name.is_some()) {
        return Err(usage(
            "-l/--selector lists agents; it goes with `get agents` alone",
        ));
    }
    if (actor.is_some() || limit.is_some()) && kind != Kind::Events {
        return Err(usage("--actor and --limit go with `get events`"));
    }
    if history && (kind != Kind::Agents || name.is_none()) {
        return Err(usage(
            "--history shows one agent's apply history: `get agent ID --history`",
        ));
    }
    if throughput.is_some() && (!matches!(kind, Kind::Configs | Kind::Agents) || name.is_none()) {
        return Err(usage(
            "--throughput shows one configuration's or agent's components: `get configuration NAME --throughput`, `get agent ID --throughput`",
        ));
    }
    match (kind, name, throughput) {
        (Kind::Configs, Some(n), Some(t)) => {
            return super::throughput::configuration(client, format, n, t.period, t.signal).await;
        }
        (Kind::Agents, Some(id), Some(_)) => {
            return super::throughput::agent(client, format, id).await;
        }
        _ => {}
    }
    match (kind, name) {
        (Kind::Agents, None) => agents(client, format, selector).await,
        (Kind::Agents, Some(id)) if history => agent_history(client, format, id).await,
        (Kind::Agents, Some(id)) => agent(client, format, id).await,
        (Kind::Configs, None) => configs(client, format).await,
        (Kind::Configs, Some(n)) => config(client, format, n).await,
        (Kind::Destinations, None) => destinations(client, format).await,
        (Kind::Destinations, Some(n)) => destination(client, format, n).await,
        (Kind::Types, None) => types(client, format).await,
        (Kind::Types, Some(n)) => type_detail(client, format, n).await,
        (Kind::Rollouts, None) => rollouts(client, format).await,
        (Kind::Rollouts, Some(config)) => {
            let view = client.get(&["rollouts", config], &[]).await?;
            super::rollout::print_view(format, &view)
        }
        (Kind::Events, None) => super::events::list(client, format, actor, limit).await,
        (Kind::Tokens, None) => super::token::list(client, format).await,
        (Kind::Topology, None) => topology(client, format).await,
        (Kind::Events | Kind::Tokens | Kind::Topology, Some(_)) => Err(usage(
            "`get events`, `get tokens` and `get topology` list; they take no name (events: --actor NAME)",
        )),
    }
}

fn items(v: &Value) -> Vec<Value> {
    v.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn agents(
    client: &Client,
    format: OutputFormat,
    selector: Option<&str>,
) -> anyhow::Result<()> {
    let mut all = Vec::new();
    loop {
        let mut q = vec![
            ("offset", all.len().to_string()),
            ("limit", PAGE.to_string()),
        ];
        if let Some(s) = selector {
            q.push(("selector", s.to_string()));
        }
        let page = client.get(&["agents"], &q).await?;
        let got = items(&page);
        let total = page.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
        let empty = got.is_empty();
        all.extend(got);
        if empty || all.len() >= total {
            break;
        }
    }
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(all));
    }
    if all.is_empty() {
        eprintln!(
            "no agents{}",
            selector
                .map(|s| format!(" match '{s}'"))
                .unwrap_or_default()
        );
        return Ok(());
    }
    let mut t = agent_table();
    for a in &all {
        t.row(agent_row(a));
    }
    t.print();
    Ok(())
}

fn agent_table() -> Table {
    Table::new(&[
        "ID",
        "NAME",
        "HOST",
        "VERSION",
        "STATUS",
        "HEALTH",
        "CONFIG",
        "LAST SEEN",
        "LABELS",
    ])
}

fn health(v: Option<&Value>) -> String {
    match v.and_then(Value::as_bool) {
        Some(true) => "healthy".into(),
        Some(false) => "unhealthy".into(),
        None => "-".into(),
    }
}

/// Attribute prefixes the other columns already show (name, host, version, OS); the LABELS
/// column keeps to what operators select on. JSON and YAML output keep every label.
const SHOWN_ELSEWHERE: [&str; 5] = ["service.", "host.", "os.", "process.", "telemetry."];

fn labels(v: Option<&Value>) -> String {
    let Some(Value::Object(m)) = v else {
        return String::new();
    };
    m.iter()
        .filter(|(k, _)| !SHOWN_ELSEWHERE.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// ` (push)` or ` (selector)`: who sent the configuration (nothing from older servers).
fn origin(config: &Value) -> String {
    config
        .get("origin")
        .and_then(Value::as_str)
        .map(|o| format!(" ({o})"))
        .unwrap_or_default()
}

/// A row from a list item (`AgentSummary`).
fn agent_row(a: &Value) -> Vec<String> {
    let config = a
        .get("config")
        .filter(|c| !c.is_null())
        .map(|c| {
            format!(
                "{}:{} {}{}",
                text(c, "name"),
                text(c, "version"),
                text(c, "state"),
                origin(c)
            )
        })
        .unwrap_or_else(|| "-".into());
    vec![
        text(a, "short_id"),
        text(a, "name"),
        text(a, "host"),
        text(a, "version"),
        text(a, "connection"),
        health(a.get("healthy")),
        config,
        age(a.get("last_seen").and_then(Value::as_u64).unwrap_or(0)),
        labels(a.get("labels")),
    ]
}

async fn agent(client: &Client, format: OutputFormat, id: &str) -> anyhow::Result<()> {
    let detail = client.get(&["agents", id], &[]).await?;
    if format != OutputFormat::Table {
        return print_value(format, &detail);
    }
    let a = detail.get("agent").cloned().unwrap_or(Value::Null);
    let full_id = text(&a, "id");
    let config = a
        .get("config")
        .filter(|c| !c.is_null())
        .map(|c| {
            let cref = c.get("config").cloned().unwrap_or(Value::Null);
            format!(
                "{}:{} {}{}",
                text(&cref, "name"),
                text(&cref, "version"),
                text(c, "state"),
                origin(c)
            )
        })
        .unwrap_or_else(|| "-".into());
    let last_seen = a.get("last_seen").and_then(Value::as_u64).unwrap_or(0);
    let mut t = agent_table();
    t.row(vec![
        full_id
            .chars()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect(),
        text(&a, "name"),
        text(&a, "host"),
        text(&a, "version"),
        text(&a, "connection"),
        health(a.get("health").and_then(|h| h.get("healthy"))),
        config,
        age(last_seen),
        labels(a.get("labels")),
    ]);
    t.print();
    println!("id: {full_id}");
    if let Some(line) = detail.get("credential").and_then(credential_line) {
        println!("{line}");
    }
    for line in components_section(&a, output::terminal_width()) {
        println!("{line}");
    }
    Ok(())
}

/// `credential: enrolled 3h ago`, `credential: revoked 5m ago by alice`, …
fn credential_line(c: &Value) -> Option<String> {
    let state = c.get("state")?.as_str()?;
    let at = |key: &str| c.get(key).and_then(Value::as_u64).map(age);
    let mut line = format!("credential: {state}");
    match state {
        "revoked" => {
            if let Some(when) = at("revoked_at") {
                line.push_str(&format!(" {when} ago"));
            }
            line.push_str(&format!(" by {}", text(c, "revoked_by")));
        }
        "none" => line.push_str(" (connects with the fleet secret)"),
        _ => {
            if let Some(when) = at("enrolled_at") {
                line.push_str(&format!(", enrolled {when} ago"));
            }
            if let Some(when) = at("changed_at") {
                line.push_str(&format!(", last new credential {when} ago"));
            }
        }
    }
    Some(line)
}

async fn agent_history(client: &Client, format: OutputFormat, id: &str) -> anyhow::Result<()> {
    let history = client.get(&["agents", id, "history"], &[]).await?;
    let attempts = items(&history);
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(attempts));
    }
    if attempts.is_empty() {
        eprintln!(
            "no configuration has been sent to {} yet (or none has settled)",
            text(&history, "name")
        );
        return Ok(());
    }
    history_table(&attempts).print();
    Ok(())
}

/// Hex digits of a configuration hash a table shows (as `git log` shortens commits).
const HASH_PREFIX: usize = 12;

/// The apply history, one attempt a row, newest first as the API answers.
fn history_table(attempts: &[Value]) -> Table {
    let mut t = Table::new(&["CONFIG", "HASH", "WHEN", "RESULT", "ROLLED BACK", "MESSAGE"]);
    for a in attempts {
        let c = a.get("config").cloned().unwrap_or(Value::Null);
        let flag = |key: &str| a.get(key).and_then(Value::as_bool).unwrap_or(false);
        let mut config = format!("{}:{}", text(&c, "name"), text(&c, "version"));
        if flag("rollback") {
            config.push_str(" (rollback)");
        }
        let hash = text(a, "hash");
        t.row(vec![
            config,
            hash.chars().take(HASH_PREFIX).collect(),
            age(a.get("finished_at").and_then(Value::as_u64).unwrap_or(0)),
            text(a, "result"),
            if flag("rolled_back") { "yes" } else { "-" }.to_string(),
            text(a, "message"),
        ]);
    }
    t
}

/// The sections of a component listing, in the Collector configuration's order.
const COMPONENT_KINDS: [&str; 5] = [
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "connectors",
];

/// The agent's component listing, compact: a heading with the version most of them share,
/// then one line per kind (wrapped to `width`), a type whose version differs shown as
/// `type@version`. `-o yaml|json` carry every entry.
fn components_section(agent: &Value, width: Option<usize>) -> Vec<String> {
    let Some(listing) = agent.get("available_components").filter(|c| !c.is_null()) else {
        return vec!["components: not reported".into()];
    };
    let kinds = listing.get("components").cloned().unwrap_or(Value::Null);
    let entries = |kind: &str| -> Vec<(String, String)> {
        kinds
            .get(kind)
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|c| {
                        let field = |k: &str| {
                            c.get(k)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string()
                        };
                        (field("type"), field("version"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    let mut total = 0;
    for kind in COMPONENT_KINDS {
        for (_, version) in entries(kind) {
            total += 1;
            if !version.is_empty() {
                *counts.entry(version).or_default() += 1;
            }
        }
    }
    let best = counts.values().copied().max().unwrap_or(0);
    let common = counts
        .into_iter()
        .find(|(_, n)| *n == best)
        .map(|(v, _)| v)
        .unwrap_or_default();
    let mut out = vec![format!(
        "components: {total} type{}{}",
        if total == 1 { "" } else { "s" },
        if common.is_empty() {
            String::new()
        } else {
            format!(", {common}")
        }
    )];
    const INDENT: usize = 2 + 12;
    for kind in COMPONENT_KINDS {
        let list = entries(kind);
        if list.is_empty() {
            continue;
        }
        let words: Vec<String> = list
            .into_iter()
            .map(|(t, v)| {
                if v.is_empty() || v == common {
                    t
                } else {
                    format!("{t}@{v}")
                }
            })
            .collect();
        let room = width.map_or(usize::MAX, |w| w.saturating_sub(INDENT).max(20));
        let mut line = format!("  {kind:<12}");
        let mut used = 0;
        for w in words {
            if used > 0 && used + 1 + w.len() > room {
                out.push(line);
                line = " ".repeat(INDENT);
                used = 0;
            }
            if used > 0 {
                line.push(' ');
                used += 1;
            }
            used += w.len();
            line.push_str(&w);
        }
        out.push(line);
    }
    let dropped: u64 = ["over_limit", "bad_type", "unknown_kind"]
        .iter()
        .filter_map(|k| listing.get("dropped")?.get(k)?.as_u64())
        .sum();
    if dropped > 0 {
        out.push(format!(
            "  ({dropped} left out of the report: past the limits)"
        ));
    }
    out
}

async fn configs(client: &Client, format: OutputFormat) -> anyhow::Result<()> {
    let list = items(&client.get(&["configurations"], &[]).await?);
    match format {
        OutputFormat::Table => {
            if list.is_empty() {
                eprintln!("no configurations; create one with `fleetdeck apply -f FILE`");
                return Ok(());
            }
            let mut t = Table::new(&[
                "NAME",
                "VERSION",
                "SOURCES",
                "DESTINATIONS",
                "AGENTS",
                "ROLLOUT",
                "UPDATED",
            ]);
            for c in &list {
                t.row(config_row(c));
            }
            t.print();
            Ok(())
        }
        _ => print_resources(format, &details(client, "configurations", &list).await?),
    }
}

/// The detail (`GET /{collection}/{name}`) of every listed item.
async fn details(client: &Client, collection: &str, list: &[Value]) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        out.push(client.get(&[collection, &text(item, "name")], &[]).await?);
    }
    Ok(out)
}

/// The resources in details: YAML documents ready to apply again (GitOps), or a JSON array
/// of the resources (each element applies again on its own).
fn print_resources(format: OutputFormat, details: &[Value]) -> anyhow::Result<()> {
    if format == OutputFormat::Yaml {
        let docs: Vec<String> = details.iter().map(resource_yaml).collect();
        print_documents(&docs);
        return Ok(());
    }
    let resources = details
        .iter()
        .map(|d| d.get("resource").cloned().unwrap_or(Value::Null))
        .collect();
    print_value(format, &Value::Array(resources))
}

/// One resource from its detail, as YAML or JSON that applies again.
fn print_resource(format: OutputFormat, detail: &Value) -> anyhow::Result<()> {
    match format {
        OutputFormat::Yaml => {
            print_documents(&[resource_yaml(detail)]);
            Ok(())
        }
        _ => print_value(format, detail.get("resource").unwrap_or(&Value::Null)),
    }
}

fn resource_yaml(detail: &Value) -> String {
    detail
        .get("yaml")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn joined(v: Option<&Value>) -> String {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}

fn config_row(c: &Value) -> Vec<String> {
    vec![
        text(c, "name"),
        text(c, "version"),
        joined(c.get("sources")),
        joined(c.get("destinations")),
        text(c, "agents"),
        text(c, "rollout"),
        age(c.get("updated_at").and_then(Value::as_u64).unwrap_or(0)),
    ]
}

async fn config(client: &Client, format: OutputFormat, name: &str) -> anyhow::Result<()> {
    let d = client.get(&["configurations", name], &[]).await?;
    match format {
        OutputFormat::Table => {
            let mut t = Table::new(&[
                "NAME",
                "VERSION",
                "SOURCES",
                "DESTINATIONS",
                "AGENTS",
                "ROLLOUT",
                "UPDATED",
            ]);
            t.row(config_row(&d));
            t.print();
            Ok(())
        }
        _ => print_resource(format, &d),
    }
}

const DESTINATION_COLUMNS: [&str; 7] = [
    "NAME",
    "TYPE",
    "VERSION",
    "USED BY",
    "LABELS",
    "UPDATED",
    "PARAMETERS",
];

async fn destinations(client: &Client, format: OutputFormat) -> anyhow::Result<()> {
    let list = items(&client.get(&["destinations"], &[]).await?);
    if format != OutputFormat::Table {
        return print_resources(format, &details(client, "destinations", &list).await?);
    }
    if list.is_empty() {
        eprintln!("no destinations; create one with `fleetdeck apply -f FILE` (kind: Destination)");
        return Ok(());
    }
    let mut t = Table::new(&DESTINATION_COLUMNS);
    for d in &list {
        t.row(destination_row(d));
    }
    t.print();
    Ok(())
}

async fn destination(client: &Client, format: OutputFormat, name: &str) -> anyhow::Result<()> {
    let d = client.get(&["destinations", name], &[]).await?;
    if format != OutputFormat::Table {
        return print_resource(format, &d);
    }
    let mut t = Table::new(&DESTINATION_COLUMNS);
    t.row(destination_row(&d));
    t.print();
    Ok(())
}

/// A row from a list item or a detail (`DestinationSummary`); parameters arrive masked.
fn destination_row(d: &Value) -> Vec<String> {
    let labels = output::labels(d.get("labels"));
    vec![
        text(d, "name"),
        text(d, "type"),
        text(d, "version"),
        joined(d.get("used_by")),
        if labels.is_empty() {
            "-".into()
        } else {
            labels
        },
        age(d.get("updated_at").and_then(Value::as_u64).unwrap_or(0)),
        parameters(d.get("parameters")),
    ]
}

/// `name=value,…` from parameters in either written form (a map, or `{name, value}` list).
fn parameters(v: Option<&Value>) -> String {
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let pairs: Vec<String> = match v {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v)))
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|nv| {
                format!(
                    "{}={}",
                    nv.get("name").and_then(Value::as_str).unwrap_or_default(),
                    nv.get("value").map(scalar).unwrap_or_default()
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    if pairs.is_empty() {
        "-".into()
    } else {
        pairs.join(",")
    }
}

async fn rollouts(client: &Client, format: OutputFormat) -> anyhow::Result<()> {
    let list = items(&client.get(&["rollouts"], &[]).await?);
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(list));
    }
    if list.is_empty() {
        eprintln!("no rollouts since the server started; start one with `fleetdeck push CONFIG`");
        return Ok(());
    }
    let mut t = Table::new(&[
        "CONFIG", "VERSION", "STATUS", "PHASE", "APPLIED", "FAILED", "STARTED", "UPDATED",
    ]);
    for r in &list {
        t.row(rollout_row(r));
    }
    t.print();
    Ok(())
}

/// A row from a rollout object (`GET /rollouts`).
fn rollout_row(r: &Value) -> Vec<String> {
    let c = r.get("config").cloned().unwrap_or(Value::Null);
    let p = r.get("progress").cloned().unwrap_or(Value::Null);
    let when = |key: &str| age(r.get(key).and_then(Value::as_u64).unwrap_or(0));
    vec![
        text(&c, "name"),
        text(&c, "version"),
        super::rollout::status_text(r),
        format!(
            "{}/{}",
            text(r, "phases_started"),
            text(r, "phases_planned")
        ),
        format!("{}/{}", text(&p, "applied"), text(&p, "total")),
        text(&p, "failed"),
        when("started_at"),
        when("updated_at"),
    ]
}

async fn types(client: &Client, format: OutputFormat) -> anyhow::Result<()> {
    let list = items(&client.get(&["types"], &[]).await?);
    if format != OutputFormat::Table {
        return print_value(format, &Value::Array(list));
    }
    print_types(&list);
    Ok(())
}

fn print_types(list: &[Value]) {
    let mut t = Table::new(&[
        "KIND",
        "NAME",
        "SIGNALS",
        "PARAMETERS",
        "ORIGIN",
        "DESCRIPTION",
    ]);
    for ty in list {
        t.row(type_row(ty));
    }
    t.print();
}

fn type_row(ty: &Value) -> Vec<String> {
    let builtin = ty.get("builtin").and_then(Value::as_bool).unwrap_or(false);
    vec![
        text(ty, "kind"),
        text(ty, "name"),
        joined(ty.get("signals")),
        text(ty, "parameters"),
        if builtin { "built-in" } else { "applied" }.to_string(),
        text(ty, "description"),
    ]
}

async fn type_detail(client: &Client, format: OutputFormat, name: &str) -> anyhow::Result<()> {
    let list = items(&client.get(&["types", name], &[]).await?);
    match format {
        OutputFormat::Table => {
            print_types(&list);
            Ok(())
        }
        OutputFormat::Yaml => {
            let docs: Vec<String> = list
                .iter()
                .map(|d| {
                    d.get("yaml")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            print_documents(&docs);
            Ok(())
        }
        OutputFormat::Json => {
            let defs: Vec<Value> = list
                .iter()
                .map(|d| d.get("definition").cloned().unwrap_or(Value::Null))
                .collect();
            print_value(format, &Value::Array(defs))
        }
    }
}

/// `get topology`: which agent sends to which (FROM → TO), and what leaves the sender.
async fn topology(client: &Client, format: OutputFormat) -> anyhow::Result<()> {
    let answer = client.get(&["topology"], &[]).await?;
    let edges = answer
        .get("edges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if format != OutputFormat::Table {
        return print_value(format, &answer);
    }
    if edges.is_empty() {
        eprintln!("no connected agent reports an exporter with an endpoint");
        return Ok(());
    }
    let rate = |v: &Value, k: &str| {
        super::top::per_second(v.get(k).and_then(Value::as_f64).unwrap_or(0.0))
    };
    let mut t = Table::new(&["FROM", "EXPORTER", "TO", "RECEIVER", "OUT/s", "FAILED/s"]);
    for e in &edges {
        let to = match e.get("to").filter(|v| !v.is_null()) {
            Some(agent) => {
                let name = text(agent, "name");
                match e.get("matches").and_then(Value::as_u64) {
                    Some(n) if n > 1 => format!("{name} (1 of {n} at {})", text(e, "endpoint")),
                    _ => name,
                }
            }
            None => format!("external {}", text(e, "endpoint")),
        };
        let shared = e.get("shared_by").and_then(Value::as_u64).unwrap_or(1);
        let out = if shared > 1 {
            format!("{} (all {shared})", rate(e, "out"))
        } else {
            rate(e, "out")
        };
        t.row(vec![
            e.get("from").map(|f| text(f, "name")).unwrap_or_default(),
            text(e, "exporter"),
            to,
            e.get("receiver")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_string(),
            out,
            rate(e, "failed"),
        ]);
    }
    t.print();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_read_both_written_forms() {
        let map = json!({"endpoint": "https://x:4318", "tls": {"insecure": true}});
        assert_eq!(
            parameters(Some(&map)),
            r#"endpoint=https://x:4318,tls={"insecure":true}"#
        );
        let list =
            json!([{"name": "api_key", "value": "(sensitive)"}, {"name": "port", "value": 443}]);
        assert_eq!(parameters(Some(&list)), "api_key=(sensitive),port=443");
        assert_eq!(parameters(Some(&json!({}))), "-");
        assert_eq!(parameters(None), "-");
    }

    #[test]
    fn a_component_listing_prints_one_wrapped_line_per_kind() {
        let agent = json!({"available_components": {
            "hash": "0a0b",
            "components": {
                "receivers": [
                    {"type": "filelog", "version": "v0.135.0"},
                    {"type": "hostmetrics", "version": "v0.135.0"},
                    {"type": "otlp", "version": "v0.134.0"}
                ],
                "exporters": [{"type": "otlphttp", "version": "v0.135.0"}]
            }
        }});
        assert_eq!(
            components_section(&agent, None),
            [
                "components: 4 types, v0.135.0",
                "  receivers   filelog hostmetrics otlp@v0.134.0",
                "  exporters   otlphttp",
            ]
        );
        assert_eq!(
            components_section(&agent, Some(40)),
            [
                "components: 4 types, v0.135.0",
                "  receivers   filelog hostmetrics",
                "              otlp@v0.134.0",
                "  exporters   otlphttp",
            ]
        );
        assert_eq!(
            components_section(&json!({"available_components": null}), None),
            ["components: not reported"]
        );
    }

    #[test]
    fn the_history_table_shows_each_attempt_on_a_line() {
        let attempts = [
            json!({"config": {"name": "web", "version": 1}, "hash": "ab".repeat(32),
                   "result": "applied", "message": "", "finished_at": 0,
                   "rolled_back": false, "rollback": true}),
            json!({"config": {"name": "web", "version": 2}, "hash": "cd".repeat(32),
                   "result": "failed", "message": "exporters::otlp: undefined",
                   "finished_at": 0, "rolled_back": true, "rollback": false}),
        ];
        let text = history_table(&attempts).render(None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("CONFIG"), "{text}");
        let cells = |l: &str| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(cells(lines[1])[0], "web:1 (rollback)");
        assert_eq!(cells(lines[1])[1], "abababababab");
        assert_eq!(cells(lines[2])[3], "failed");
        assert_eq!(cells(lines[2])[4], "yes");
        assert_eq!(cells(lines[2])[5], "exporters::otlp: undefined");
    }

    #[test]
    fn kinds_and_their_aliases() {
        assert_eq!(parse_kind("dest"), Some(Kind::Destinations));
        assert_eq!(parse_kind("Destinations"), Some(Kind::Destinations));
        assert_eq!(parse_kind("rollout"), Some(Kind::Rollouts));
        assert_eq!(parse_kind("widgets"), None);
    }
}
