//! Simulated agents that behave like OpenTelemetry Collectors managed by the
//! opampsupervisor, speaking real OpAMP over real sockets (WebSocket or plain HTTP).
//!
//! The OpAMP client itself (sessions, backoff, status compression) is `crate::client`,
//! the same one `fleetdeck agent` runs; this module is what is simulated behind it.
//!
//! - `identity`: stable per-agent ids and descriptions from `--seed` and the index;
//! - `collector`: the check a Collector runs on `collector.yaml`;
//! - `agent`: one simulated Collector, the client's `Driver`;
//! - `telemetry`: the agent's own `otelcol_*` metrics over OTLP/HTTP;
//! - `fleet`: the embeddable API (`start`, `SimFleet::stats`, `SimFleet::shutdown`).

pub mod agent;
pub mod collector;
pub mod fleet;
pub mod identity;
pub mod telemetry;

pub use crate::client::stats;

use std::time::Duration;

use anyhow::Context;

pub use fleet::{SimConfig, SimError, SimFleet, start};
pub use stats::StatsSnapshot;

use crate::args::SimulateArgs;

/// `fleetdeck simulate`: runs until `--duration` ends or Ctrl-C, printing a stats line to
/// stderr every second and a summary at the end.
pub async fn run_cli(args: SimulateArgs) -> anyhow::Result<()> {
    let cfg = config_from_args(&args)?;
    let agents = cfg.agents;
    let fleet = start(cfg)
        .await
        .with_context(|| format!("starting {agents} simulated agents"))?;
    eprintln!(
        "simulating {agents} {} agents against {}",
        match args.transport {
            crate::args::SimTransport::Ws => "WebSocket",
            crate::args::SimTransport::Http => "HTTP",
        },
        args.server.join(", ")
    );
    let deadline = args
        .duration
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut previous = fleet.stats();
    let mut previous_at = tokio::time::Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = async { match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            } } => break,
            _ = tick.tick() => {
                let now = fleet.stats();
                eprintln!("{}", stats::live_line(&now, &previous, previous_at.elapsed()));
                previous = now;
                previous_at = tokio::time::Instant::now();
            }
        }
    }
    eprintln!("stopping: every agent sends agent_disconnect…");
    let summary = fleet.shutdown().await;
    eprintln!("{summary}");
    Ok(())
}

fn config_from_args(args: &SimulateArgs) -> anyhow::Result<SimConfig> {
    let (first, more) = args.server.split_first().context("--server is required")?;
    let mut cfg = SimConfig::new(first.clone(), args.agents);
    cfg.more_servers = more.to_vec();
    cfg.transport = args.transport;
    cfg.secret_key = args.secret_key.clone();
    cfg.fail_rate = args.fail_rate;
    cfg.ramp_per_sec = args.ramp;
    cfg.seed = args.seed;
    cfg.first_index = args.first_index;
    cfg.http_gzip = args.gzip;
    cfg.accept_credentials = args.accept_credentials;
    if args.heartbeat == 0 {
        anyhow::bail!("--heartbeat must be at least 1 second");
    }
    cfg.heartbeat = Duration::from_secs(args.heartbeat);
    cfg.metrics_interval = Duration::from_secs(args.metrics_interval);
    cfg.apply_delay = Duration::from_millis(args.apply_delay_ms);
    cfg.tls_ca = args.tls_ca.clone();
    cfg.tls_identity = args.tls_cert.clone().zip(args.tls_key.clone());
    if let Some(spec) = &args.source_ips {
        cfg.source_ips = fleet::source_ips(spec)?;
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn simulate_args(extra: &[&str]) -> SimulateArgs {
        let mut argv = vec![
            "fleetdeck",
            "simulate",
            "--server",
            "ws://127.0.0.1:4320/v1/opamp",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Some(Command::Simulate(args))) => args,
            other => panic!("not a simulate command: {other:?}"),
        }
    }

    #[test]
    fn flags_become_a_fleet_config() {
        let cfg = config_from_args(&simulate_args(&[
            "--agents",
            "500",
            "--transport",
            "http",
            "--gzip",
            "--fail-rate",
            "0.1",
            "--source-ips",
            "127.0.0.2-127.0.0.5",
            "--heartbeat",
            "5",
        ]))
        .expect("valid flags");
        assert_eq!(cfg.agents, 500);
        assert_eq!(cfg.transport, crate::args::SimTransport::Http);
        assert!(cfg.http_gzip);
        assert_eq!(cfg.source_ips.len(), 4);
        assert_eq!(cfg.heartbeat, Duration::from_secs(5));
    }

    #[test]
    fn several_servers_are_one_fleet_spread_over_them() {
        let cfg = config_from_args(&simulate_args(&[
            "--server",
            "ws://127.0.0.1:4420/v1/opamp",
        ]))
        .expect("valid flags");
        assert_eq!(cfg.server, "ws://127.0.0.1:4320/v1/opamp");
        assert_eq!(cfg.more_servers, ["ws://127.0.0.1:4420/v1/opamp"]);
    }

    #[test]
    fn bad_flags_are_named() {
        let err = config_from_args(&simulate_args(&["--heartbeat", "0"])).unwrap_err();
        assert!(err.to_string().contains("--heartbeat"), "{err}");
        let err = config_from_args(&simulate_args(&["--source-ips", "127.0.0.300"])).unwrap_err();
        assert!(err.to_string().contains("--source-ips"), "{err}");
    }

    #[tokio::test]
    async fn fail_rate_outside_the_unit_interval_is_refused() {
        let mut cfg = SimConfig::new("ws://127.0.0.1:9/v1/opamp", 1);
        cfg.fail_rate = 1.5;
        let err = start(cfg).await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("--fail-rate 1.5 is outside 0..=1"));
    }
}
