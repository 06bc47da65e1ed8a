//! Configurations assigned by their selectors, end to end with simulated agents over real
//! sockets: agents whose labels match get the configuration when they connect and when
//! their labels change, a push wins over a selector, a new version waits for a rollout,
//! overlapping selectors resolve to the most specific with a notice, and the API and the
//! CLI say where each agent's configuration came from.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::delivery::ApplyState;
use fleetdeck::fleet::snapshot::FleetSnapshot;
use fleetdeck::rollout::{RolloutOptions, Targets};
use fleetdeck::sim::{self, SimConfig};
use serde_json::Value;

fn config(name: &str, match_labels: &str, exporter: &str) -> String {
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels: {{{match_labels}}}\n  raw: |\n    receivers:\n      otlp:\n        protocols:\n          http: {{}}\n    exporters:\n      {exporter}: {{}}\n    service:\n      pipelines:\n        logs:\n          receivers: [otlp]\n          exporters: [{exporter}]\n"
    )
}

/// `name:version` and origin of what the agent applied, if it applied something.
fn on(s: &FleetSnapshot, id: &AgentId) -> Option<(String, &'static str)> {
    let c = s.get(id)?.config.as_ref()?;
    (c.state == ApplyState::Applied).then(|| (c.config.to_string(), c.origin))
}

fn label(s: &FleetSnapshot, id: &AgentId, key: &str) -> String {
    s.get(id)
        .and_then(|a| a.labels.get(key).map(|t| t.to_string()))
        .unwrap_or_default()
}

#[tokio::test]
async fn selectors_assign_configurations_to_the_agents_whose_labels_match() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    // Learn the simulated agents' labels first (they follow from the seed), then start over
    // with a selector in place before they connect.
    let mut cfg = SimConfig::new(server.ws_url(), 8);
    cfg.transport = SimTransport::Ws;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 41;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    cfg.restart_delay = Duration::from_millis(100);
    let probe = sim::start(cfg.clone()).await.expect("simulator starts");
    let ids: Vec<AgentId> = probe.agent_ids().to_vec();
    let snap = server
        .wait_for("8 agents", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    let tier = label(&snap, &ids[0], "tier");
    let web: Vec<AgentId> = ids
        .iter()
        .copied()
        .filter(|id| label(&snap, id, "tier") == tier)
        .collect();
    let others: Vec<AgentId> = ids.iter().copied().filter(|id| !web.contains(id)).collect();
    assert!(!others.is_empty(), "seed 41 gives more than one tier");
    probe.shutdown().await;

    apply_ok(
        &server.rt,
        &config("by-tier", &format!("tier: {tier}"), "debug"),
    )
    .await;
    let fleet = sim::start(cfg).await.expect("simulator starts again");
    // On connect: the matching agents get it, marked as the selector's; the rest nothing.
    server
        .wait_for("the tier on by-tier:1 by its selector", |s| {
            web.iter()
                .all(|id| on(s, id) == Some(("by-tier:1".into(), "selector")))
        })
        .await;
    let snap = server.rt.registry.snapshot().borrow().clone();
    for id in &others {
        assert!(snap.get(id).and_then(|a| a.config.as_ref()).is_none());
    }

    // A label change brings another agent in.
    let newcomer = others[0];
    let set: BTreeMap<String, String> = [("tier".to_string(), tier.clone())].into();
    server
        .rt
        .registry
        .label(newcomer, set.clone(), vec![])
        .await
        .expect("label");
    server
        .wait_for("the relabelled agent on by-tier:1", |s| {
            on(s, &newcomer) == Some(("by-tier:1".into(), "selector"))
        })
        .await;

    // A push wins: the pushed agent keeps it whatever its labels say.
    apply_ok(&server.rt, &config("pinned", "nothing: matches", "nop")).await;
    let pushed = web[0];
    server
        .rt
        .rollouts
        .start(
            "pinned",
            None,
            Targets::Agents(vec![pushed]),
            RolloutOptions::all_at_once(),
        )
        .await
        .expect("push");
    server
        .wait_for("the pushed agent on pinned:1", |s| {
            on(s, &pushed) == Some(("pinned:1".into(), "push"))
        })
        .await;

    // A new version does not go out by itself; a newcomer gets the latest.
    assert_eq!(
        apply_ok(
            &server.rt,
            &config("by-tier", &format!("tier: {tier}"), "nop")
        )
        .await,
        2
    );
    let late = others[1];
    server
        .rt
        .registry
        .label(late, set, vec![])
        .await
        .expect("label");
    server
        .wait_for("the late agent on by-tier:2", |s| {
            on(s, &late) == Some(("by-tier:2".into(), "selector"))
        })
        .await;
    let snap = server.rt.registry.snapshot().borrow().clone();
    assert_eq!(
        on(&snap, &newcomer),
        Some(("by-tier:1".into(), "selector")),
        "agents on v1 stay there until a rollout"
    );
    assert_eq!(on(&snap, &pushed), Some(("pinned:1".into(), "push")));

    // Overlap: a more specific selector wins, with a notice naming both.
    let env = label(&snap, &newcomer, "env");
    apply_ok(
        &server.rt,
        &config("by-tier-env", &format!("tier: {tier}, env: {env}"), "debug"),
    )
    .await;
    server
        .wait_for("the newcomer on by-tier-env:1", |s| {
            on(s, &newcomer) == Some(("by-tier-env:1".into(), "selector"))
        })
        .await;
    let snap = server.rt.registry.snapshot().borrow().clone();
    assert_eq!(
        on(&snap, &pushed),
        Some(("pinned:1".into(), "push")),
        "still the operator's"
    );
    let name = snap.get(&newcomer).expect("known").name.to_string();
    let notice = format!(
        "{name}: the selectors of 'by-tier-env' and 'by-tier' both match; 'by-tier-env' wins (more labels in its selector)"
    );
    let events = wait_events(&server, &notice, |t| t.contains(&notice)).await;
    assert!(events.contains(&notice));

    // The API and the CLI say who sent it.
    let list: Value = http_client()
        .get(format!("{}/api/v1/agents?limit=100", server.api_url()))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("agents")
        .json()
        .await
        .expect("json");
    let item = |id: &AgentId| {
        list["items"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == id.to_string()))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(item(&newcomer)["config"]["origin"], "selector");
    assert_eq!(item(&pushed)["config"]["origin"], "push");
    let home = tempfile::tempdir().expect("home");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["get", "agents"])
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("FLEETDECK_SERVER", server.api_url())
        .env("FLEETDECK_API_TOKEN", API_TOKEN)
        .env("COLUMNS", "250")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("the CLI runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    let row = |n: &str| {
        table
            .lines()
            .find(|l| l.contains(n))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row(&name).contains("by-tier-env:1 applied (selector)"),
        "{table}"
    );
    let pushed_name = snap.get(&pushed).expect("known").name.to_string();
    assert!(
        row(&pushed_name).contains("pinned:1 applied (push)"),
        "{table}"
    );
    fleet.shutdown().await;
}
