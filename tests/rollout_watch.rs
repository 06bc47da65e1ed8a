//! Rollouts that watch the agents' own telemetry, end to end: simulated Collectors over
//! real sockets push their `otelcol_*` metrics over OTLP/HTTP; a configuration that applies
//! fine but points its exporter at a host that does not exist is pushed with `fleetdeck
//! push --watch` (the real binary, through the API) and the rollout halts on the export
//! failures, naming the agents and the figures, and puts them back; a healthy one pushed
//! beside it completes.

mod common;

use std::time::Duration;

use common::*;

/// The watch window is 20 s and a phase is judged at its end.
const WATCHED: Duration = Duration::from_secs(60);
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::delivery::{ApplyState, ConfigRef};
use fleetdeck::rollout::plan::AgentStep;
use fleetdeck::rollout::{RolloutOptions, RolloutStatus, Targets};
use fleetdeck::sim::{self, SimConfig};
use serde_json::Value;

fn raw_config(name: &str, exporters: &str, uses: &str) -> String {
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: {name}\nspec:\n  raw: |\n    receivers:\n      otlp:\n        protocols:\n          http: {{}}\n    exporters:\n{exporters}    service:\n      pipelines:\n        logs:\n          receivers: [otlp]\n          exporters: [{uses}]\n"
    )
}

/// The real binary against `server` (the home is private to each run).
async fn fleetdeck(server: &TestServer, args: &[&str]) -> common::cli::CliOut {
    common::cli::run(&server.api_url(), API_TOKEN, args).await
}

fn ok(out: &common::cli::CliOut) {
    out.ok();
}

#[tokio::test]
async fn a_change_that_breaks_export_halts_the_rollout_and_a_healthy_one_completes() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let mut cfg = SimConfig::new(server.ws_url(), 6);
    cfg.transport = SimTransport::Ws;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 29;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    cfg.restart_delay = Duration::from_millis(200);
    cfg.metrics_interval = Duration::from_millis(500);
    let fleet = sim::start(cfg).await.expect("simulator starts");
    let ids: Vec<AgentId> = fleet.agent_ids().to_vec();
    server
        .wait_for("6 agents", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;

    // Everyone on a working configuration first, so each has a rate to be compared with.
    let good = "      debug: {}\n";
    apply_ok(&server.rt, &raw_config("ingest", good, "debug")).await;
    server
        .rt
        .rollouts
        .start(
            "ingest",
            None,
            Targets::Agents(ids.clone()),
            RolloutOptions::all_at_once(),
        )
        .await
        .expect("first rollout starts");
    wait_rollout(&server.rt, "ingest", "v1 everywhere", WATCHED, |v| {
        v.status == RolloutStatus::Completed
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // v2 applies fine (otlphttp is a known exporter), but its host never resolves.
    let broken =
        "      otlphttp/central:\n        endpoint: http://central.collector.invalid:4318\n";
    let v2 = apply_ok(
        &server.rt,
        &raw_config("ingest", broken, "otlphttp/central"),
    )
    .await;
    assert_eq!(v2, 2);
    let healthy = "      debug/verbose: {verbosity: detailed}\n";
    apply_ok(&server.rt, &raw_config("steady", healthy, "debug/verbose")).await;

    let first_four: Vec<String> = ids[..4].iter().map(|id| id.to_string()).collect();
    let pushed = fleetdeck(
        &server,
        &[
            "push",
            "ingest",
            "--agents",
            &first_four.join(","),
            "--initial",
            "2",
            "--multiplier",
            "1",
            "--watch",
            "20s",
            "--max-export-failures",
            "1%",
            "--max-throughput-drop",
            "60%",
            "-o",
            "json",
        ],
    )
    .await;
    ok(&pushed);
    let view: Value = serde_json::from_str(&pushed.stdout).expect("json");
    assert_eq!(view["options"]["watch"]["window_secs"], 20);
    assert_eq!(view["options"]["watch"]["max_export_failures"], 0.01);
    let last_two: Vec<String> = ids[4..].iter().map(|id| id.to_string()).collect();
    ok(&fleetdeck(
        &server,
        &[
            "push",
            "steady",
            "--agents",
            &last_two.join(","),
            "--all-at-once",
            "--watch",
            "20s",
        ],
    )
    .await);

    // While the first phase is watched, the CLI says so, with figures.
    wait_rollout(
        &server.rt,
        "ingest",
        "the first phase watched",
        WATCHED,
        |v| v.progress.watching == 2,
    )
    .await;
    let status = fleetdeck(&server, &["rollout", "status", "ingest"]).await;
    ok(&status);
    assert!(status.stdout.contains("WATCHING"), "{}", status.stdout);
    assert!(
        status.stdout.contains("watching: ") && status.stdout.contains("s left"),
        "{}",
        status.stdout
    );

    let halted = wait_rollout(&server.rt, "ingest", "halted by the watch", WATCHED, |v| {
        matches!(v.status, RolloutStatus::Halted(_))
            && v.agents
                .iter()
                .filter(|a| a.step == AgentStep::RolledBack)
                .count()
                == 2
    })
    .await;
    let (phase_one, rest) = halted.agents.split_at(2);
    for a in phase_one {
        assert!(a.failed, "{a:?}");
        let why = a.error.as_deref().unwrap_or_default();
        assert!(
            why.starts_with("unhealthy after applying: sent 0/s (was ")
                && why.contains("export failures 100%, more than the 1% export failures tolerated"),
            "{why}"
        );
        let figures = a.watch.expect("the verdict keeps its figures");
        assert!(figures.before.is_some_and(|b| b.sent > 0.0), "{figures:?}");
    }
    for a in rest {
        assert_eq!(a.step, AgentStep::Waiting, "the halt kept v2 from them");
    }
    // Back on the version that worked.
    let v1 = ConfigRef {
        name: "ingest".into(),
        version: 1,
    };
    server
        .wait_for("the unhealthy agents back on ingest:1", |s| {
            phase_one.iter().all(|a| {
                s.get(&a.id)
                    .and_then(|x| x.config.as_ref())
                    .is_some_and(|c| c.config == v1 && c.state == ApplyState::Applied)
            })
        })
        .await;

    // The healthy change beside it passed its watch.
    let steady = wait_rollout(&server.rt, "steady", "steady completed", WATCHED, |v| {
        v.status == RolloutStatus::Completed
    })
    .await;
    assert_eq!(steady.progress.applied, 2);
    for a in &steady.agents {
        let f = a.watch.expect("watched");
        assert!(!a.unwatched);
        assert!(
            f.after.is_some_and(|t| t.sent > 0.0 && t.failed == 0.0),
            "{f:?}"
        );
    }

    // The events name the agents and the figures (stored behind, so polled).
    let snap = server.rt.registry.snapshot().borrow().clone();
    let names: Vec<String> = phase_one
        .iter()
        .map(|a| snap.get(&a.id).expect("known").name.to_string())
        .collect();
    wait_events(&server, "the unhealthy agents and the halt", |text| {
        names
            .iter()
            .all(|n| text.contains(&format!("{n} unhealthy after applying: sent 0/s")))
            && text.contains("halted: 1 agent(s) failed, more than the 0 tolerated")
    })
    .await;
    fleet.shutdown().await;
}
