//! End to end: `fleetdeck attach` in tmux on a real server (in this test's process, on
//! 127.0.0.1) with simulated agents. The attached UI shows the fleet live, shows an agent
//! leave, restarts an agent with keys (the server's audit trail records it), rides out a
//! restart of the server, and quits without stopping anything. Needs tmux (`.ci/run`
//! installs it; outside CI the test says it was skipped).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::tmux::{EXIT_MARK, Tmux};
use common::{API_TOKEN, SECRET};
use fleetdeck::runtime::Runtime;
use fleetdeck::settings::Settings;
use fleetdeck::sim::{self, SimConfig, SimFleet};

fn server(
    rt: &tokio::runtime::Runtime,
    data: &std::path::Path,
    api: SocketAddr,
    agents: SocketAddr,
) -> Runtime {
    let mut s = Settings::ephemeral(data, SECRET);
    s.api_listen = api;
    s.listen = agents;
    s.heartbeat_interval = Duration::from_secs(1);
    rt.block_on(Runtime::start(&s)).expect("server starts")
}

fn fleet(rt: &tokio::runtime::Runtime, url: &str, agents: usize, first: usize) -> SimFleet {
    let mut cfg = SimConfig::new(url, agents);
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 70 + first as u64;
    cfg.first_index = first;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.metrics_interval = Duration::from_millis(500);
    cfg.backoff_initial = Duration::from_millis(200);
    cfg.backoff_max = Duration::from_secs(1);
    rt.block_on(sim::start(cfg)).expect("simulator starts")
}

/// The audit events the server recorded, through its API.
fn audit_actions(rt: &tokio::runtime::Runtime, api: SocketAddr) -> Vec<String> {
    rt.block_on(async {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!("http://{api}/api/v1/events?limit=100"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("the API answers")
            .json()
            .await
            .expect("JSON");
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["kind"] == "audit")
            .filter_map(|e| e["payload"]["action"].as_str().map(str::to_string))
            .collect()
    })
}

#[test]
fn an_attached_ui_follows_the_fleet_restarts_an_agent_and_survives_a_server_restart() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let data = tempfile::tempdir().expect("data dir");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let first = server(&rt, data.path(), any, any);
    let (api, agent_addr) = (first.api_addr, first.agent_addr);
    let url = first.opamp_url(true);
    let stays = fleet(&rt, &url, 2, 0);
    let leaves = fleet(&rt, &url, 1, 2);

    let Some(tmux) = Tmux::start_command(
        "attach",
        &format!("attach --server http://{api} --token {API_TOKEN}"),
        &[],
        120,
        30,
    ) else {
        return;
    };
    let long = Duration::from_secs(20);
    let short = Duration::from_secs(8);
    tmux.wait_for("3/3 up", long);
    tmux.wait_for(&format!("attached http://{api}"), short);

    // An agent leaves: the attached UI shows it.
    rt.block_on(leaves.shutdown());
    tmux.wait_for("2/3 up", short);

    // Restart the agent under the cursor, with keys; the server records who asked.
    tmux.keys(&["g", "R"]);
    tmux.wait_for("Restart 1 agent(s)?", short);
    tmux.keys(&["y"]);
    tmux.wait_for("restart of 1 agent(s) requested", short);
    let start = Instant::now();
    while !audit_actions(&rt, api)
        .iter()
        .any(|a| a.starts_with("restart agent "))
    {
        assert!(
            start.elapsed() < short,
            "the restart did not reach the server"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The server stops: the header says the stream is lost; it comes back by itself.
    rt.block_on(first.stop());
    tmux.wait_for("stream lost", short);
    let second = server(&rt, data.path(), api, agent_addr);
    let start = Instant::now();
    loop {
        let screen = tmux.screen();
        if !screen.contains("stream lost") && screen.contains(&format!("attached http://{api}")) {
            break;
        }
        assert!(
            start.elapsed() < long,
            "the stream did not come back:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The agents that stayed find the new server; the UI follows.
    tmux.wait_for("2/3 up", long);

    // Quitting an attached UI asks nothing (the fleet keeps its server) and exits 0.
    tmux.keys(&["q"]);
    tmux.wait_for(&format!("{EXIT_MARK}0]"), short);
    let still = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{api}/api/v1/agents"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(still.ok(), Some(200), "the server runs on");
    rt.block_on(stays.shutdown());
    rt.block_on(second.stop());
}

/// The pipeline builder of an attached UI: built with keys, saved and pushed through the
/// API; the server holds the configuration and both agents apply it.
#[test]
fn the_attached_builder_saves_and_pushes_through_the_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let data = tempfile::tempdir().expect("data dir");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let srv = server(&rt, data.path(), any, any);
    let api = srv.api_addr;
    let agents = fleet(&rt, &srv.opamp_url(true), 2, 0);
    let Some(tmux) = Tmux::start_command(
        "attach-push",
        &format!("attach --server http://{api} --token {API_TOKEN}"),
        &[],
        120,
        40,
    ) else {
        return;
    };
    let long = Duration::from_secs(25);
    let short = Duration::from_secs(8);
    tmux.wait_for("2/2 up", long);
    tmux.keys(&["n"]);
    tmux.wait_for("New configuration › 1 Sources", short);
    tmux.keys(&["/"]);
    tmux.type_text("otlp");
    tmux.keys(&["Enter"]);
    tmux.wait_for("› 2 Configure", short);
    tmux.keys(&["n"]);
    tmux.wait_for("› 3 Processors", short);
    tmux.keys(&["a"]);
    tmux.wait_for("add a processor", short);
    tmux.type_text("batch");
    tmux.keys(&["Enter"]);
    tmux.wait_for("added", short);
    tmux.keys(&["n"]);
    tmux.wait_for("› 4 Destinations", short);
    tmux.keys(&["a"]);
    tmux.type_text("otlphttp");
    tmux.keys(&["Enter"]);
    tmux.wait_for("enter keep", short);
    tmux.type_text("http://127.0.0.1:4318");
    tmux.keys(&["Enter"]);
    tmux.keys(&["n"]);
    tmux.wait_for("no problems", short);
    tmux.keys(&["n"]);
    tmux.wait_for("› 6 Save", short);
    tmux.keys(&["C-u"]);
    tmux.type_text("edge-otlp");
    tmux.keys(&["Enter"]);
    tmux.wait_for("created edge-otlp version 1", short);
    tmux.wait_for("marked agents", short);
    tmux.keys(&["*"]);
    tmux.wait_for("2 of 2 agents marked", short);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Push edge-otlp:1 to 2 agent(s)?", short);
    tmux.keys(&["y"]);
    tmux.wait_for("Rollout of edge-otlp:1", short);
    let done = tmux.wait_for("completed", long);
    assert!(done.contains("2 applied"), "{done}");

    // The server, asked through its API, has the configuration and both agents run it.
    let listed = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{api}/api/v1/agents"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("the API answers")
            .json::<serde_json::Value>()
            .await
            .expect("JSON")
    });
    let items = listed["items"].as_array().expect("agents");
    assert_eq!(items.len(), 2);
    for a in items {
        assert_eq!(a["config"]["name"], "edge-otlp", "{a}");
        assert_eq!(a["config"]["state"], "applied", "{a}");
    }
    tmux.keys(&["Escape"]);
    tmux.wait_for("edge-otlp", short);
    tmux.keys(&["q"]);
    tmux.wait_for(&format!("{EXIT_MARK}0]"), short);
    rt.block_on(agents.shutdown());
    rt.block_on(srv.stop());
}
