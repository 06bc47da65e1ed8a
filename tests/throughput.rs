//! Per-component throughput through the real binary over simulated agents that report
//! their own metrics: `get configuration NAME --throughput` names each component after the
//! step that placed it, a destination whose host does not resolve shows its failures, and
//! `top destinations` sums a destination shared by two configurations.

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

fn json(out: &common::cli::CliOut) -> Value {
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str::<Value>(&out.stdout).expect("json")
}

fn f(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(-1.0)
}

const RESOURCES: &str = r#"
apiVersion: fleetdeck/v1
kind: Destination
metadata:
  name: backend
spec:
  type: otlphttp
  parameters:
    endpoint: https://backend.example.net:4318
---
apiVersion: fleetdeck/v1
kind: Destination
metadata:
  name: broken
spec:
  type: otlphttp
  parameters:
    endpoint: https://ingest.down.invalid:4318
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata:
  name: edge
spec:
  sources:
    - type: filelog
      parameters:
        include: ["/var/log/app/*.log"]
  processors:
    - type: batch
  destinations:
    - name: backend
    - name: broken
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata:
  name: gateway
spec:
  sources:
    - type: otlp
  destinations:
    - name: backend
"#;

/// The rows of `get configuration NAME --throughput` once every component has numbers.
async fn components(server: &TestServer, name: &str, period: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let answer = json(
            &cli(
                server,
                &[
                    "get",
                    "configuration",
                    name,
                    "--throughput",
                    "--period",
                    period,
                    "-o",
                    "json",
                ],
            )
            .await,
        );
        let rows = answer["components"].as_array().cloned().unwrap_or_default();
        let sending = rows
            .iter()
            .any(|r| r["kind"] == "exporter" && f(r, "in") > 0.0);
        if sending
            && rows
                .iter()
                .any(|r| r["step"] == "source" && f(r, "in") > 0.0)
        {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no numbers for {name} over {period}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn components_show_under_their_steps_and_destinations_sum_their_configurations() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let mut cfg = SimConfig::new(server.ws_url(), 4);
    cfg.transport = SimTransport::Ws;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 29;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    cfg.metrics_interval = Duration::from_millis(300);
    let fleet = sim::start(cfg).await.expect("simulator starts");
    let ids: Vec<AgentId> = fleet.agent_ids().to_vec();
    server
        .wait_for("4 agents", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    let results = server
        .rt
        .catalog
        .apply_text(RESOURCES, None)
        .await
        .expect("parses");
    assert!(results.iter().all(|r| r.problems.is_empty()), "{results:?}");
    for (name, agents) in [("edge", &ids[..3]), ("gateway", &ids[3..])] {
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

    let rows = components(&server, "edge", "10s").await;
    let row = |pred: &dyn Fn(&Value) -> bool| rows.iter().find(|r| pred(r)).cloned();
    let source = row(&|r| r["label"] == "sources[0] (filelog)").expect("the filelog source");
    assert_eq!(source["kind"], "receiver");
    assert_eq!(source["signal"], "logs");
    assert!(f(&source, "in") > 0.0, "{source}");
    let batch = row(&|r| r["label"] == "processors[0] (batch)").expect("the batch processor");
    assert_eq!(batch["kind"], "processor");
    assert!(f(&batch, "in") > 0.0 && f(&batch, "out") > 0.0, "{batch}");
    let backend = row(&|r| r["destination"] == "backend").expect("backend's exporter");
    assert_eq!(backend["step"], "destination");
    assert!(f(&backend, "out") > 0.0, "{backend}");
    assert!(
        backend["queue_capacity"].as_f64().is_some_and(|c| c > 0.0),
        "{backend}"
    );
    // The destination whose host never resolves takes everything and sends nothing.
    let broken = row(&|r| r["destination"] == "broken").expect("broken's exporter");
    assert_eq!(f(&broken, "out"), 0.0, "{broken}");
    assert!(f(&broken, "failed") > 0.0, "{broken}");
    // What the source took in reached each destination (all three agents, read at once).
    let (taken, offered) = (f(&source, "in"), f(&broken, "in"));
    assert!(
        (taken - offered).abs() <= 0.2 * taken,
        "source {taken}/s vs destination {offered}/s"
    );
    // No component is shown by the renderer's resource names alone.
    assert!(rows.iter().all(|r| r["label"].is_string()), "{rows:?}");

    // The table names the steps as the configuration does.
    let table = cli(
        &server,
        &[
            "get",
            "configuration",
            "edge",
            "--throughput",
            "--period",
            "10s",
        ],
    )
    .await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("sources[0] (filelog)"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("destinations[1] (Destination broken)"),
        "{}",
        table.stdout
    );

    // Longer periods read the rollups (a point every 10 s).
    let minute = components(&server, "edge", "1m").await;
    assert!(
        minute
            .iter()
            .any(|r| r["destination"] == "backend" && f(r, "out") > 0.0)
    );

    // Destinations: backend carries both configurations' data, broken only fails.
    let top = json(
        &cli(
            &server,
            &["top", "destinations", "--period", "10s", "-o", "json"],
        )
        .await,
    );
    let items = top.as_array().cloned().unwrap_or_default();
    let dest = |name: &str| items.iter().find(|d| d["name"] == name).cloned();
    let backend = dest("backend").expect("backend listed");
    assert_eq!(
        backend["configurations"],
        serde_json::json!(["edge", "gateway"])
    );
    assert_eq!(backend["agents"], 4);
    assert!(f(&backend, "out") > 0.0);
    let broken = dest("broken").expect("broken listed");
    assert_eq!(broken["configurations"], serde_json::json!(["edge"]));
    assert_eq!(f(&broken, "out"), 0.0);
    assert!(f(&broken, "failed") > 0.0);
    let by_failed = json(
        &cli(
            &server,
            &[
                "top",
                "destinations",
                "--period",
                "10s",
                "--sort",
                "failed",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(by_failed[0]["name"], "broken", "{by_failed}");
    let table = cli(&server, &["top", "destinations", "--period", "10s"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.starts_with("DESTINATION"), "{}", table.stdout);
    assert!(table.stdout.contains("edge,gateway"), "{}", table.stdout);

    // Wrong asks are refused with the reason.
    let missing = cli(&server, &["get", "configuration", "nope", "--throughput"]).await;
    assert_ne!(missing.code, 0);
    let misplaced = cli(&server, &["get", "agents", "--throughput"]).await;
    assert_ne!(misplaced.code, 0);
    assert!(
        misplaced.stderr.contains("--throughput"),
        "{}",
        misplaced.stderr
    );
    fleet.shutdown().await;
}
