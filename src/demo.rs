//! `fleetdeck --demo`: the real server plus a simulated fleet in the same process, talking
//! over loopback sockets, with sample configurations applied and one rolled out so every
//! view has something live to show. With a Collector binary at hand, a few real
//! Collectors supervised by `fleetdeck agent`'s code join the fleet and get a pipeline
//! that really moves log lines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::args::SimTransport;
use crate::fleet::selector::Selector;
use crate::rollout::{RolloutOptions, Targets};
use crate::runtime::Runtime;
use crate::settings::Settings;
use crate::sim::{self, SimConfig, SimFleet};
use crate::supervisor::settings::AgentSettings;

/// Real Collectors the demo supervises when it finds a binary.
const REAL_COLLECTORS: usize = 2;

/// Sample configurations a new user can look at, edit and push.
const SAMPLES: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata:
  name: web-tier
  labels: {team: platform}
spec:
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

/// Applies the sample configurations the catalog does not hold yet, and returns their
/// names. One already there is left alone, as the user may have changed it (applying the
/// sample again made a new version of it on every start).
pub async fn seed_samples(catalog: &crate::catalog::Catalog) -> Vec<String> {
    let mut created = Vec::new();
    for doc in SAMPLES.split("\n---\n") {
        let Some(name) = doc
            .lines()
            .find_map(|l| l.trim().strip_prefix("name: "))
            .map(str::to_string)
        else {
            continue;
        };
        if catalog.configuration(&name, None).await.is_ok() {
            continue;
        }
        match catalog.apply_text(doc, Some("demo")).await {
            Ok(results) => {
                for r in &results {
                    if r.problems.is_empty() {
                        created.push(r.name.clone());
                    } else {
                        tracing::warn!(config = %r.name, problems = ?r.problems, "demo configuration refused");
                    }
                }
            }
            Err(problems) => tracing::warn!(?problems, "demo configuration does not parse"),
        }
    }
    created
}

/// The demo's agents, stopped together.
pub struct Demo {
    pub fleet: SimFleet,
    stop: CancellationToken,
    collectors: Vec<JoinHandle<()>>,
}

impl Demo {
    /// Every simulated agent says goodbye; the supervisors stop their Collectors.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.fleet.shutdown().await;
        for c in self.collectors {
            let _ = tokio::time::timeout(Duration::from_secs(15), c).await;
        }
    }
}

/// The Collector to supervise: the one given, else otelcol-contrib or otelcol on PATH.
pub fn find_collector(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return Some(p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        ["otelcol-contrib", "otelcol"]
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Starts `agents` simulated collectors against `rt` (and, with `collector`, a few real
/// ones), applies the sample configurations and, once the fleet is up, rolls `web-tier`
/// out to the web tier in phases (and `real-logs` to the real Collectors).
pub async fn start(
    rt: &Runtime,
    settings: &Settings,
    agents: usize,
    collector: Option<PathBuf>,
) -> anyhow::Result<Demo> {
    let seeded = seed_samples(&rt.catalog).await;
    let mut cfg = SimConfig::demo(
        rt.opamp_url(true),
        agents,
        Some(settings.secret_key.clone()),
    );
    // Over TLS the demo's agents trust the server's own certificate file (self-signed, or
    // a chain that includes its issuer).
    cfg.tls_ca = demo_trust(settings);
    let fleet = sim::start(cfg).await?;
    let stop = rt.shutdown.child_token();
    let collectors = match collector {
        Some(binary) => start_real(rt, settings, &binary, &stop).await,
        None => {
            tracing::info!(
                "demo: no Collector binary (--collector, FLEETDECK_COLLECTOR, or otelcol-contrib on PATH); simulated agents only"
            );
            Vec::new()
        }
    };
    let real = !collectors.is_empty();
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
        // Only on the start that created it: on later starts the user may have edited and
        // pushed web-tier, and the demo must not roll its sample out over that.
        if !seeded.contains(&"web-tier".to_string()) {
            return;
        }
        let options = RolloutOptions {
            initial: 2,
            multiplier: 2.0,
            max_per_phase: 50,
            max_failures: 3,
            ..RolloutOptions::default()
        };
        if let Err(e) = rollouts
            .start("web-tier", None, Targets::Selector(web), options.clone())
            .await
        {
            tracing::info!(error = %e, "demo rollout not started");
        }
        if real
            && let Ok(tier) = "tier=real".parse::<Selector>()
            && let Err(e) = rollouts
                .start("real-logs", None, Targets::Selector(tier), options)
                .await
        {
            tracing::info!(error = %e, "demo rollout to the real Collectors not started");
        }
    });
    Ok(Demo {
        fleet,
        stop,
        collectors,
    })
}

/// Real Collectors under the supervisor, each tailing a log file the demo writes to, and a
/// `real-logs` configuration that ships those lines to a loopback OTLP/HTTP sink.
async fn start_real(
    rt: &Runtime,
    settings: &Settings,
    binary: &Path,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let base = settings.data_dir.join("demo-collectors");
    if let Err(e) = std::fs::create_dir_all(&base) {
        tracing::warn!("demo: cannot create {}: {e}", base.display());
        return Vec::new();
    }
    let sink = match sink(stop.clone()).await {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!("demo: no OTLP sink for the real Collectors: {e}");
            return Vec::new();
        }
    };
    let logs = base.join("app-*.log");
    let config = format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: real-logs\nspec:\n  selector:\n    matchLabels: {{tier: real}}\n  sources:\n    - type: filelog\n      parameters: {{include: [\"{}\"], start_at: end}}\n  processors:\n    - type: batch\n  destinations:\n    - type: otlphttp\n      parameters: {{endpoint: \"{sink}\"}}\n",
        logs.display()
    );
    if let Err(e) = rt.catalog.apply_text(&config, Some("demo")).await {
        tracing::warn!(?e, "demo: real-logs configuration refused");
    }
    tokio::spawn(write_lines(base.clone(), stop.clone()));
    let mut handles = Vec::new();
    for i in 1..=REAL_COLLECTORS {
        let agent = AgentSettings {
            server: rt.opamp_url(true),
            collector: binary.to_path_buf(),
            collector_config: None,
            state_dir: base.join(format!("agent-{i}")),
            name: Some(format!("real-collector-{i}")),
            labels: vec![
                ("tier".into(), "real".into()),
                ("env".into(), "demo".into()),
            ],
            secret_key: Some(settings.secret_key.clone()),
            transport: SimTransport::Ws,
            tls_ca: demo_trust(settings),
            tls_cert: None,
            tls_key: None,
            settle: Duration::from_secs(3),
            heartbeat: Duration::from_secs(30),
            // The demo's own server, in the same process: trust its key.
            trust_key: rt.catalog.signing_key(),
            allow_unsigned: false,
            tap: true,
        };
        let stop = stop.clone();
        handles.push(tokio::spawn(async move {
            if let Err(e) = crate::supervisor::run(agent, stop).await {
                tracing::warn!("demo: real Collector {i} stopped: {e:#}");
            }
        }));
    }
    handles
}

/// What the demo's agents trust over TLS: the certificates in the server's `--tls-cert`.
fn demo_trust(settings: &Settings) -> Option<PathBuf> {
    let tls = settings.tls.as_ref()?;
    if tls.client_ca.is_some() {
        tracing::warn!(
            "demo: the server asks agents for client certificates (--tls-client-ca); the demo's agents have none and will be refused"
        );
    }
    Some(tls.cert.clone())
}

/// A few lines a second into each real Collector's log file, so its pipeline has work.
async fn write_lines(dir: PathBuf, stop: CancellationToken) {
    use std::io::Write;
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        n += 1;
        for i in 1..=REAL_COLLECTORS {
            let path = dir.join(format!("app-{i}.log"));
            let line = format!(
                "demo request {n} served by real-collector-{i} in {} ms\n",
                3 + n % 40
            );
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(e) = written {
                tracing::warn!("demo: cannot write {}: {e}", path.display());
                return;
            }
            // Keep the files small: start over past 5 MB.
            if std::fs::metadata(&path).is_ok_and(|m| m.len() > 5 << 20) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// An OTLP/HTTP endpoint on loopback that accepts and drops whatever it is sent.
async fn sink(stop: CancellationToken) -> std::io::Result<String> {
    let app = axum::Router::new().fallback(|| async {
        (
            [("content-type", "application/x-protobuf")],
            Vec::<u8>::new(),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok(url)
}
