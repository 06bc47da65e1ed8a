//! `fleetdeck --demo`: the real server plus a simulated fleet in the same process, talking
//! over loopback sockets, with sample configurations applied and one rolled out so every
//! view has something live to show.

use std::time::Duration;

use crate::fleet::selector::Selector;
use crate::rollout::{RolloutOptions, Targets};
use crate::runtime::Runtime;
use crate::settings::Settings;
use crate::sim::{self, SimConfig, SimFleet};

/// Sample configurations a new user can look at, edit and push.
const SAMPLES: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata:
  name: web-tier
  labels: {team: platform}
spec:
  selector:
    matchLabels: {tier: web}
  sources:
    - type: hostmetrics
      parameters:
        - {name: collection_interval, value: 30}
    - type: otlp
  processors:
    - type: batch
  destinations:
    - type: otlphttp
      parameters: {endpoint: "https://collector.example.net:4318"}
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata:
  name: api-debug
spec:
  selector:
    matchLabels: {tier: api}
  sources:
    - type: otlp
  processors:
    - type: memory_limiter
    - type: batch
  destinations:
    - type: debug
"#;

/// Starts `agents` simulated collectors against `rt`, applies the sample configurations and,
/// once the fleet is up, rolls `web-tier` out to the web tier in phases.
pub async fn start(rt: &Runtime, settings: &Settings, agents: usize) -> anyhow::Result<SimFleet> {
    match rt.catalog.apply_text(SAMPLES, Some("demo")).await {
        Ok(results) => {
            for r in results.iter().filter(|r| !r.problems.is_empty()) {
                tracing::warn!(config = %r.name, problems = ?r.problems, "demo configuration refused");
            }
        }
        Err(problems) => tracing::warn!(?problems, "demo configurations do not parse"),
    }
    let cfg = SimConfig::demo(
        rt.opamp_url(true),
        agents,
        Some(settings.secret_key.clone()),
    );
    let fleet = sim::start(cfg).await?;
    let rollouts = rt.rollouts.clone();
    let shutdown = rt.shutdown.clone();
    tokio::spawn(async move {
        // Let the fleet connect first, so the rollout has agents to reach.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(6)) => {}
            _ = shutdown.cancelled() => return,
        }
        let web: Selector = match "tier=web".parse() {
            Ok(s) => s,
            Err(_) => return,
        };
        let options = RolloutOptions {
            initial: 2,
            multiplier: 2.0,
            max_per_phase: 50,
            max_failures: 3,
            ..RolloutOptions::default()
        };
        if let Err(e) = rollouts
            .start("web-tier", None, Targets::Selector(web), options)
            .await
        {
            tracing::info!(error = %e, "demo rollout not started");
        }
    });
    Ok(fleet)
}
