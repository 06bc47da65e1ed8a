//! `fleetdeck top agents|configurations|destinations` through the real binary, over simulated agents
//! that push their own metrics: the busiest first, the configurations' rows summing their
//! agents', a signal filter, and what is not there yet said plainly.

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::AgentId;
use fleetdeck::rollout::{RolloutOptions, Targets};
use fleetdeck::sim::{self, SimConfig};
use serde_json::Value;

async fn cli(server: &TestServer, args: &[&str]) -> common::cli::CliOut {
    common::cli::run(&server.api_url(), API_TOKEN, args).await
}

fn json(out: &common::cli::CliOut) -> Vec<Value> {
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str::<Value>(&out.stdout)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn f(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(-1.0)
}

fn config(name: &str) -> String {
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: {name}\nspec:\n  raw: |\n    receivers:\n      otlp:\n        protocols:\n          http: {{}}\n    exporters:\n      debug: {{}}\n    service:\n      pipelines:\n        logs:\n          receivers: [otlp]\n          exporters: [debug]\n"
    )
}

#[tokio::test]
async fn top_ranks_agents_and_configurations_by_their_own_telemetry() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let mut cfg = SimConfig::new(server.ws_url(), 6);
    cfg.transport = SimTransport::Ws;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 77;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    cfg.metrics_interval = Duration::from_millis(300);
    let fleet = sim::start(cfg).await.expect("simulator starts");
    let ids: Vec<AgentId> = fleet.agent_ids().to_vec();
    server
        .wait_for("6 agents", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    for (name, agents) in [("busy", &ids[..3]), ("quiet", &ids[3..])] {
        let results = server
            .rt
            .catalog
            .apply_text(&config(name), None)
            .await
            .expect("parses");
        assert!(results[0].problems.is_empty(), "{results:?}");
        server
            .rt
            .rollouts
            .start(
                name,
                None,
                Targets::Agents(agents.to_vec()),
                RolloutOptions::all_at_once(),
            )
            .await
            .expect("push");
    }
    // Everyone applied and has sent a few reports about its logs pipeline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rows = json(&cli(&server, &["top", "agents", "--period", "1m", "-o", "json"]).await);
        let ready = rows.len() == 6
            && rows
                .iter()
                .all(|r| f(r, "out") > 0.0 && r["config"].is_string());
        if ready {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let agents = json(&cli(&server, &["top", "agents", "--period", "1m", "-o", "json"]).await);
    let outs: Vec<f64> = agents.iter().map(|r| f(r, "out")).collect();
    assert!(
        outs.windows(2).all(|w| w[0] >= w[1]),
        "busiest first: {outs:?}"
    );
    let by_in = json(
        &cli(
            &server,
            &[
                "top", "agents", "--sort", "in", "--limit", "2", "-o", "json",
            ],
        )
        .await,
    );
    assert_eq!(by_in.len(), 2);
    assert!(f(&by_in[0], "in") >= f(&by_in[1], "in"));

    let configs = json(&cli(&server, &["top", "configs", "--period", "1m", "-o", "json"]).await);
    assert_eq!(configs.len(), 2, "{configs:?}");
    for c in &configs {
        assert_eq!(
            (c["agents"].as_u64(), c["reporting"].as_u64()),
            (Some(3), Some(3)),
            "{c}"
        );
        // A configuration's row is its agents' rows summed (read a moment apart: within 15 %).
        let name = c["name"].as_str().unwrap_or_default();
        let sum: f64 = agents
            .iter()
            .filter(|a| {
                a["config"]
                    .as_str()
                    .is_some_and(|x| x.starts_with(&format!("{name}:")))
            })
            .map(|a| f(a, "out"))
            .sum();
        let out = f(c, "out");
        assert!(
            (out - sum).abs() <= 0.15 * sum.max(1.0),
            "{name}: {out} vs {sum}"
        );
    }

    // One signal at a time: the three add up to the whole (read a moment apart).
    let all = json(&cli(&server, &["top", "agents", "--period", "1m", "-o", "json"]).await);
    let mut parts = 0.0;
    for signal in ["logs", "metrics", "traces"] {
        let rows = json(
            &cli(
                &server,
                &[
                    "top", "agents", "--period", "1m", "--signal", signal, "-o", "json",
                ],
            )
            .await,
        );
        parts += rows.iter().map(|r| f(r, "out")).sum::<f64>();
    }
    let whole: f64 = all.iter().map(|r| f(r, "out")).sum();
    assert!((parts - whole).abs() <= 0.15 * whole, "{parts} vs {whole}");

    let table = cli(&server, &["top", "configurations"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.starts_with("CONFIGURATION"),
        "{}",
        table.stdout
    );
    let bad = cli(&server, &["top", "agents", "--period", "2m"]).await;
    assert_ne!(bad.code, 0);
    // These configurations are raw: no destination of theirs is known by name.
    let dests = cli(&server, &["top", "destinations"]).await;
    assert_eq!(dests.code, 0, "{}", dests.stderr);
    assert!(dests.stderr.contains("no destinations"), "{}", dests.stderr);
    fleet.shutdown().await;
}
