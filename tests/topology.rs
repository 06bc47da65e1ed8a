//! `fleetdeck get topology` through the real binary, over simulated agents whose effective
//! configurations forward to one another: two edge agents export OTLP to a gateway agent by
//! its host name, the gateway exports to a backend no agent is; the chain shows with the
//! receiver it lands on and the senders' rates, the backend as external.

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::delivery::ApplyState;
use fleetdeck::rollout::{RolloutOptions, Targets};
use fleetdeck::sim::{self, SimConfig};
use serde_json::Value;

fn raw(name: &str, yaml: &str) -> String {
    let indented: String = yaml.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: {name}\nspec:\n  raw: |\n{indented}"
    )
}

const GATEWAY: &str = "receivers:
  otlp/in:
    protocols:
      grpc: {endpoint: \"0.0.0.0:4317\"}
exporters:
  otlphttp/backend: {endpoint: \"https://ingest.backend.example/otlp\"}
service:
  pipelines:
    logs:
      receivers: [otlp/in]
      exporters: [otlphttp/backend]
";

fn edge(gateway_host: &str) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      http: {{}}
exporters:
  otlp/gw: {{endpoint: \"{gateway_host}:4317\", tls: {{insecure: true}}}}
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlp/gw]
"
    )
}

async fn push(server: &TestServer, yaml: &str, name: &str, ids: &[AgentId]) {
    let results = server
        .rt
        .catalog
        .apply_text(&raw(name, yaml), None)
        .await
        .expect("parses");
    assert!(results[0].problems.is_empty(), "{results:?}");
    server
        .rt
        .rollouts
        .start(
            name,
            None,
            Targets::Agents(ids.to_vec()),
            RolloutOptions::all_at_once(),
        )
        .await
        .expect("push");
}

#[tokio::test]
async fn a_chain_of_agents_shows_with_its_receiver_and_rates_and_the_rest_is_external() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let mut cfg = SimConfig::new(server.ws_url(), 3);
    cfg.transport = SimTransport::Ws;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    cfg.metrics_interval = Duration::from_millis(300);
    let fleet = sim::start(cfg).await.expect("simulator starts");
    let ids: Vec<AgentId> = fleet.agent_ids().to_vec();
    let snap = server
        .wait_for("3 agents", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    let (gw, edges) = (ids[0], &ids[1..]);
    let name_of = |id: &AgentId| snap.get(id).expect("listed").name.to_string();
    let gw_host = snap.get(&gw).expect("listed").host.to_string();
    assert!(!gw_host.is_empty(), "the simulator reports host.name");

    push(&server, GATEWAY, "gateway", &[gw]).await;
    push(&server, &edge(&gw_host), "edge", edges).await;
    server
        .wait_for("all applied", |s| {
            ids.iter().all(|id| {
                s.get(id)
                    .and_then(|a| a.config.as_ref())
                    .is_some_and(|c| c.state == ApplyState::Applied)
            })
        })
        .await;

    // JSON from the real CLI: one edge per sender to the gateway, one external.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let out = common::cli::run(
            &server.api_url(),
            API_TOKEN,
            &["get", "topology", "-o", "json"],
        )
        .await;
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        let v: Value = serde_json::from_str(&out.stdout).expect("json");
        let edges = v["edges"].as_array().cloned().unwrap_or_default();
        // The senders' own telemetry has arrived once their rates are not zero.
        let ready = edges.len() == 3
            && edges
                .iter()
                .filter(|e| !e["to"].is_null())
                .all(|e| e["out"].as_f64().unwrap_or(0.0) > 0.0);
        if ready || tokio::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let edges = answer["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 3, "{answer:#}");
    let to_gateway: Vec<&Value> = edges.iter().filter(|e| !e["to"].is_null()).collect();
    assert_eq!(to_gateway.len(), 2, "{answer:#}");
    for e in &to_gateway {
        assert_eq!(e["to"]["id"], gw.to_string());
        assert_eq!(e["receiver"], "otlp/in");
        assert_eq!(e["exporter"], "otlp/gw");
        assert_eq!(e["endpoint"], format!("{}:4317", gw_host.to_lowercase()));
        assert!(e["out"].as_f64().unwrap_or(0.0) > 0.0, "a rate: {e}");
    }
    let mut senders: Vec<String> = to_gateway
        .iter()
        .map(|e| e["from"]["id"].as_str().unwrap_or_default().to_string())
        .collect();
    senders.sort();
    let mut want: Vec<String> = ids[1..].iter().map(|id| id.to_string()).collect();
    want.sort();
    assert_eq!(senders, want);
    let external: Vec<&Value> = edges.iter().filter(|e| e["to"].is_null()).collect();
    assert_eq!(external.len(), 1, "{answer:#}");
    assert_eq!(external[0]["from"]["id"], gw.to_string());
    assert_eq!(external[0]["endpoint"], "ingest.backend.example:443");

    // The table a person reads names both ends.
    let table = common::cli::run(&server.api_url(), API_TOKEN, &["get", "topology"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains(&name_of(&gw))
            && table.stdout.contains(&name_of(&ids[1]))
            && table.stdout.contains("external ingest.backend.example:443"),
        "{}",
        table.stdout
    );
    fleet.shutdown().await;
}
