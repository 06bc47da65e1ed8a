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

/// `get configuration NAME --throughput --period PERIOD -o json`, as JSON.
async fn throughput(server: &TestServer, name: &str, period: &str) -> Value {
    let args = [
        "get",
        "configuration",
        name,
        "--throughput",
        "--period",
        period,
        "-o",
        "json",
    ];
    json(&cli(server, &args).await)
}

/// The rows of `get configuration NAME --throughput` once every component has numbers.
async fn components(server: &TestServer, name: &str, period: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let answer = throughput(server, name, period).await;
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

/// Applies the resources above and pushes `edge` to the first `edge` agents, `gateway`
/// to the rest.
async fn push_edge_and_gateway(server: &TestServer, ids: &[AgentId], edge: usize) {
    let results = server
        .rt
        .catalog
        .apply_text(RESOURCES, None)
        .await
        .expect("parses");
    assert!(results.iter().all(|r| r.problems.is_empty()), "{results:?}");
    for (name, agents) in [("edge", &ids[..edge]), ("gateway", &ids[edge..])] {
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
    push_edge_and_gateway(&server, &ids, 3).await;

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
    // What the source took in reached each destination, once every agent has reported its
    // new components twice (a counter's first report only sets its baseline).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = components(&server, "edge", "10s").await;
        let of = |pred: &dyn Fn(&Value) -> bool| rows.iter().find(|r| pred(r)).map(|r| f(r, "in"));
        let taken = of(&|r| r["step"] == "source").unwrap_or(0.0);
        let offered = of(&|r| r["destination"] == "broken").unwrap_or(0.0);
        if (taken - offered).abs() <= 0.2 * taken {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "source {taken}/s vs destination {offered}/s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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

    // One agent: its own components as of its latest report, with its pipelines.
    let one = json(
        &cli(
            &server,
            &[
                "get",
                "agent",
                &ids[0].to_string(),
                "--throughput",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(one["config"], "edge:1", "{one}");
    let rows = one["components"].as_array().cloned().unwrap_or_default();
    assert!(
        rows.iter()
            .any(|r| r["destination"] == "broken" && f(r, "failed") > 0.0),
        "{one}"
    );
    let logs = one["pipelines"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "logs").cloned())
        .expect("a logs pipeline");
    assert_eq!(
        logs["receivers"],
        serde_json::json!(["filelog/source0"]),
        "{logs}"
    );
    assert_eq!(
        logs["exporters"],
        serde_json::json!(["otlphttp/backend", "otlphttp/broken"]),
        "{logs}"
    );
    let table = cli(
        &server,
        &["get", "agent", &ids[0].to_string(), "--throughput"],
    )
    .await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("running edge:1"), "{}", table.stdout);

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

#[tokio::test]
async fn a_real_collector_reports_what_its_source_read_and_its_destination_sent() {
    use common::collector::*;
    use fleetdeck::fleet::delivery::ApplyState;
    use std::sync::atomic::Ordering;
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let (url, received, refuse) = counting_sink().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "first");
    let state = dir.path().join("agent");
    let mut sup = Supervisor::start(&server.ws_url(), &otelcol, &state, &["--name", "reader-1"]);
    let id = connected_agent(&server).await;
    push(
        &server,
        &logs_pipeline("read-logs", &log, &url),
        "read-logs",
        id,
    )
    .await;
    wait_state(&server, id, "read-logs", ApplyState::Applied).await;

    // Lines at a steady 40 per second, long enough for two reports (every 10 s) to cover
    // a whole interval of it.
    const RATE: f64 = 40.0;
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut written = 0u64;
            loop {
                let due = (start.elapsed().as_secs_f64() * RATE) as u64;
                while written < due {
                    append(&log, &format!("line {written}"));
                    written += 1;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let (source, dest) = loop {
        let answer = throughput(&server, "read-logs", "10s").await;
        let rows = answer["components"].as_array().cloned().unwrap_or_default();
        let find = |step: &str| rows.iter().find(|r| r["step"] == step).cloned();
        if let (Some(s), Some(d)) = (find("source"), find("destination")) {
            let near = |v: f64| (v - RATE).abs() <= 0.1 * RATE;
            if near(f(&s, "in")) && near(f(&d, "out")) {
                break (s, d);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the source and destination never read {RATE}/s within 10 %: {answer:#}\n{}",
            sup.output()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(source["label"], "sources[0] (filelog)", "{source}");
    assert_eq!(source["id"], "filelog/source0");
    assert_eq!(dest["label"], "destinations[0] (otlphttp)", "{dest}");
    assert_eq!(f(&dest, "failed"), 0.0, "{dest}");
    assert!(received.load(Ordering::SeqCst) > 0);

    // The destination starts refusing: its exporter's failures show, its sent falls to 0.
    refuse.store(true, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let answer = throughput(&server, "read-logs", "10s").await;
        let rows = answer["components"].as_array().cloned().unwrap_or_default();
        let dest = rows.iter().find(|r| r["step"] == "destination").cloned();
        if dest
            .as_ref()
            .is_some_and(|d| f(d, "failed") > 0.5 * RATE && f(d, "out") == 0.0)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refusing destination never showed failures: {answer:#}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let top = json(
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
    assert_eq!(top[0]["name"], "read-logs/destinations[0]", "{top}");
    assert!(f(&top[0], "failed") > 0.0, "{top}");
    writer.abort();
    sup.terminate();
}

/// The numbers `top destinations` shows for one destination.
fn dest_row(items: &Value, name: &str) -> Value {
    items
        .as_array()
        .and_then(|a| a.iter().find(|d| d["name"] == name).cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn top_sorts_and_periods_over_a_thousand_agents() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(5)).await;
    let mut cfg = SimConfig::new(server.ws_url(), 1000);
    cfg.transport = SimTransport::Ws;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 1000;
    cfg.heartbeat = Duration::from_secs(5);
    cfg.apply_delay = Duration::from_millis(20);
    cfg.metrics_interval = Duration::from_secs(2);
    let fleet = sim::start(cfg).await.expect("simulator starts");
    let ids: Vec<AgentId> = fleet.agent_ids().to_vec();
    server
        .wait_for("1000 agents", |s| {
            s.agents.iter().filter(|a| a.is_connected()).count() == 1000
        })
        .await;
    // 700 edge agents send to backend and broken, 300 gateways to backend alone.
    push_edge_and_gateway(&server, &ids, 700).await;
    // Every agent has applied and reported its new components.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let live = loop {
        let top = json(
            &cli(
                &server,
                &["top", "destinations", "--period", "10s", "-o", "json"],
            )
            .await,
        );
        let (backend, broken) = (dest_row(&top, "backend"), dest_row(&top, "broken"));
        if backend["agents"] == 1000 && broken["agents"] == 700 {
            break top;
        }
        assert!(tokio::time::Instant::now() < deadline, "{top}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let backend = dest_row(&live, "backend");
    assert_eq!(
        backend["configurations"],
        serde_json::json!(["edge", "gateway"])
    );
    assert!(f(&backend, "out") > 0.0);
    // Sorted by what is asked, busiest first.
    for sort in ["in", "out", "failed"] {
        let items = json(
            &cli(
                &server,
                &[
                    "top",
                    "destinations",
                    "--period",
                    "10s",
                    "--sort",
                    sort,
                    "-o",
                    "json",
                ],
            )
            .await,
        );
        let keys: Vec<f64> = items
            .as_array()
            .map(|a| a.iter().map(|d| f(d, sort)).collect())
            .unwrap_or_default();
        assert!(keys.windows(2).all(|w| w[0] >= w[1]), "{sort}: {keys:?}");
    }
    let agents = json(
        &cli(
            &server,
            &[
                "top", "agents", "--period", "1m", "--limit", "1000", "-o", "json",
            ],
        )
        .await,
    );
    let outs: Vec<f64> = agents
        .as_array()
        .map(|a| a.iter().map(|r| f(r, "out")).collect())
        .unwrap_or_default();
    assert_eq!(outs.len(), 1000);
    assert!(outs.windows(2).all(|w| w[0] >= w[1]), "busiest first");
    let configs = json(
        &cli(
            &server,
            &["top", "configurations", "--period", "5m", "-o", "json"],
        )
        .await,
    );
    assert_eq!(
        configs.as_array().map(|a| a
            .iter()
            .map(|c| c["agents"].as_u64().unwrap_or(0))
            .sum::<u64>()),
        Some(1000),
        "{configs}"
    );
    // Longer periods read the rollups once a point has been recorded; a period is a mean,
    // so a whole hour is never more than the live rate's order of magnitude.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let hour = json(
            &cli(
                &server,
                &["top", "destinations", "--period", "1h", "-o", "json"],
            )
            .await,
        );
        let b = dest_row(&hour, "backend");
        if f(&b, "out") > 0.0 {
            assert!(
                f(&b, "out") <= 10.0 * f(&backend, "out"),
                "{b} vs {backend}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{hour}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    fleet.shutdown().await;
}
