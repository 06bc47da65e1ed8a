//! Rollouts end to end: a configuration applied to the catalog, pushed to simulated
//! agents over real sockets, phases, failures that halt and roll back, a server restart in
//! the middle, and the agents' own telemetry landing on the right agent.

mod common;

use std::time::Duration;

use common::*;

/// How long a rollout step may take here.
const QUICK: Duration = Duration::from_secs(20);
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::attempt::{ApplyAttempt, AttemptResult};
use fleetdeck::fleet::delivery::{ApplyState, ConfigRef};
use fleetdeck::fleet::telemetry::{Series, Signal};
use fleetdeck::rollout::plan::{AgentStep, RollbackPolicy};
use fleetdeck::rollout::{RolloutOptions, RolloutStatus, Targets};
use fleetdeck::runtime::Runtime;
use fleetdeck::settings::Settings;
use fleetdeck::sim::{self, SimConfig};

fn quick(url: String, agents: usize, transport: SimTransport, seed: u64) -> SimConfig {
    let mut cfg = SimConfig::new(url, agents);
    cfg.transport = transport;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = seed;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    cfg.restart_delay = Duration::from_millis(200);
    cfg.backoff_initial = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_millis(500);
    cfg.metrics_interval = Duration::from_millis(500);
    cfg
}

fn config_yaml(name: &str, exporter: &str) -> String {
    // A raw configuration; `exporter` decides whether the pipeline's exporter is defined.
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: {name}\nspec:\n  raw: |\n    receivers:\n      otlp:\n        protocols:\n          http: {{}}\n    exporters:\n      debug: {{}}\n    service:\n      pipelines:\n        metrics:\n          receivers: [otlp]\n          exporters: [{exporter}]\n"
    )
}

/// The agent's stored apply history once it holds `n` attempts (written behind, so
/// polled; fails after 10 s).
async fn stored_history(server: &TestServer, id: AgentId, n: usize) -> Vec<ApplyAttempt> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let history = server.rt.store.agent_history(id, 50).await.unwrap();
        if history.len() >= n {
            return history;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id}: {history:?}, waiting for {n} attempts"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn all_connected(server: &TestServer, ids: &[AgentId]) {
    server
        .wait_for("agents connected", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
}

#[tokio::test]
async fn a_rollout_reaches_every_agent_in_phases_over_both_transports() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let ws = sim::start(quick(server.ws_url(), 4, SimTransport::Ws, 11))
        .await
        .unwrap();
    let http = sim::start(quick(server.http_url(), 3, SimTransport::Http, 12))
        .await
        .unwrap();
    let ids: Vec<AgentId> = ws
        .agent_ids()
        .iter()
        .chain(http.agent_ids())
        .copied()
        .collect();
    all_connected(&server, &ids).await;

    let v = apply_ok(&server.rt, &config_yaml("edge", "debug")).await;
    let opts = RolloutOptions {
        initial: 2,
        multiplier: 2.0,
        max_per_phase: 100,
        ..Default::default()
    };
    server
        .rt
        .rollouts
        .start("edge", None, Targets::Agents(ids.clone()), opts)
        .await
        .unwrap();
    let done = wait_rollout(&server.rt, "edge", "completed", QUICK, |v| {
        v.status == RolloutStatus::Completed
    })
    .await;
    assert_eq!(done.progress.applied, 7);
    assert_eq!(done.phases_started, 3, "2, then 4, then the last 1");
    let snap = server.rt.registry.snapshot().borrow().clone();
    for id in &ids {
        let c = snap.get(id).unwrap().config.clone().unwrap();
        assert_eq!(
            c.config,
            ConfigRef {
                name: "edge".into(),
                version: v
            }
        );
        assert_eq!(c.state, ApplyState::Applied);
        assert_eq!(
            c.effective_matches,
            Some(true),
            "the simulator reports what it runs"
        );
    }

    // The agents' own telemetry reaches the right agents.
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while seen < ids.len() && tokio::time::Instant::now() < deadline {
        seen = ids
            .iter()
            .filter(|id| {
                server
                    .rt
                    .telemetry
                    .latest(id, Series::In(Signal::Metrics))
                    .is_some_and(|r| r > 0.0)
            })
            .count();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, ids.len(), "every agent's metrics throughput is known");
    ws.shutdown().await;
    http.shutdown().await;
    server.rt.stop().await;
}

#[tokio::test]
async fn failing_agents_halt_the_rollout_and_everyone_is_rolled_back() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let healthy = sim::start(quick(server.ws_url(), 4, SimTransport::Ws, 21))
        .await
        .unwrap();
    let mut bad_cfg = quick(server.ws_url(), 2, SimTransport::Ws, 22);
    bad_cfg.fail_rate = 1.0;
    let failing = sim::start(bad_cfg).await.unwrap();
    let good_ids = healthy.agent_ids().to_vec();
    let bad_ids = failing.agent_ids().to_vec();
    let all: Vec<AgentId> = good_ids.iter().chain(&bad_ids).copied().collect();
    all_connected(&server, &all).await;

    // v1 everywhere healthy.
    let v1 = apply_ok(&server.rt, &config_yaml("web", "debug")).await;
    server
        .rt
        .rollouts
        .start(
            "web",
            None,
            Targets::Agents(good_ids.clone()),
            RolloutOptions::all_at_once(),
        )
        .await
        .unwrap();
    wait_rollout(&server.rt, "web", "v1 completed", QUICK, |v| {
        v.status == RolloutStatus::Completed
    })
    .await;

    // v2 to everyone; the --fail-rate agents refuse it and halt the rollout.
    let v2 = apply_ok(&server.rt, &config_yaml("web", "debug, debug")).await;
    assert_eq!(v2, v1 + 1);
    let opts = RolloutOptions {
        rollback: RollbackPolicy::All,
        ..RolloutOptions::all_at_once()
    };
    server
        .rt
        .rollouts
        .start("web", None, Targets::Agents(all.clone()), opts)
        .await
        .unwrap();
    let end = wait_rollout(&server.rt, "web", "rolled back and settled", QUICK, |v| {
        v.status == RolloutStatus::RolledBack && v.progress.in_flight == 0
    })
    .await;
    for a in &end.agents {
        if good_ids.contains(&a.id) {
            assert_eq!(a.step, AgentStep::RolledBack, "{a:?}");
        } else {
            assert!(
                matches!(&a.step, AgentStep::Failed(e) if e.contains("rejects")),
                "{a:?}"
            );
        }
    }
    // Healthy agents are back on v1 and say so; the refusers had nothing to go back to.
    let snap = server
        .wait_for("healthy agents back on v1", |s| {
            good_ids.iter().all(|id| {
                s.get(id)
                    .and_then(|a| a.config.as_ref())
                    .is_some_and(|c| c.config.version == v1 && c.state == ApplyState::Applied)
            })
        })
        .await;
    for id in &bad_ids {
        let c = snap.get(id).unwrap().config.clone().unwrap();
        assert_eq!(c.state, ApplyState::Failed);
        assert!(!c.error.is_empty(), "the agent's reason is kept");
    }
    // Each healthy agent's history says so: v1, then v2 rolled back (applied, or still
    // in flight when the rollout halted), then the way back to v1.
    for id in &good_ids {
        let history = stored_history(&server, *id, 3).await;
        let seen: Vec<(u64, bool, bool)> = history
            .iter()
            .map(|a| (a.config.version, a.rolled_back, a.rollback))
            .collect();
        assert_eq!(
            seen,
            [(v1, false, true), (v2, true, false), (v1, false, false)]
        );
        assert_eq!(history[0].result, AttemptResult::Applied);
        assert!(
            matches!(
                history[1].result,
                AttemptResult::Applied | AttemptResult::Superseded
            ),
            "{:?}",
            history[1]
        );
    }
    for id in &bad_ids {
        let history = stored_history(&server, *id, 1).await;
        assert_eq!(history[0].result, AttemptResult::Failed);
        assert!(!history[0].rolled_back, "nothing to go back to");
    }
    healthy.shutdown().await;
    failing.shutdown().await;
    server.rt.stop().await;
}

#[tokio::test]
async fn a_rollout_resumes_after_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = |listen: std::net::SocketAddr| {
        let mut s = Settings::ephemeral(dir.path(), SECRET);
        s.listen = listen;
        s.heartbeat_interval = Duration::from_secs(1);
        s
    };
    let rt = Runtime::start(&settings("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = rt.agent_addr;
    let mut cfg = quick(rt.opamp_url(true), 3, SimTransport::Ws, 31);
    cfg.apply_delay = Duration::from_millis(1500);
    let fleet = sim::start(cfg).await.unwrap();
    let ids = fleet.agent_ids().to_vec();
    let mut snapshots = rt.registry.snapshot();
    tokio::time::timeout(
        Duration::from_secs(15),
        snapshots.wait_for(|s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        }),
    )
    .await
    .expect("agents connect")
    .unwrap();
    apply_ok(&rt, &config_yaml("db", "debug")).await;
    let one_at_a_time = RolloutOptions {
        initial: 1,
        multiplier: 1.0,
        ..Default::default()
    };
    rt.rollouts
        .start("db", None, Targets::Agents(ids.clone()), one_at_a_time)
        .await
        .unwrap();
    wait_rollout(&rt, "db", "first agent applied", QUICK, |v| {
        v.progress.applied >= 1
    })
    .await;
    rt.stop().await;

    // Same data dir, same address: the agents come back and the rollout carries on.
    let rt = Runtime::start(&settings(addr)).await.unwrap();
    let view = rt
        .rollouts
        .status("db")
        .await
        .expect("the rollout was resumed");
    assert!(
        view.progress.applied >= 1,
        "progress survived: {:?}",
        view.progress
    );
    let done = wait_rollout(&rt, "db", "completed after restart", QUICK, |v| {
        v.status == RolloutStatus::Completed
    })
    .await;
    assert_eq!(done.progress.applied, 3);
    fleet.shutdown().await;
    rt.stop().await;
}
