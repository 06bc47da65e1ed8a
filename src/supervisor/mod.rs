//! `fleetdeck agent`: supervises one stock OpenTelemetry Collector and manages it over
//! OpAMP with the same client the simulator uses (`crate::client`).
//!
//! - `collector`: what the binary says (version, components, validate);
//! - `config`: the supervisor's own file, run beside each configuration;
//! - `process`: one running Collector, its output and how it is stopped;
//! - `keeper`: owns the process, applies configurations, restarts, rolls back;
//! - `driver`: the client's `Driver`, between the server and the keeper;
//! - `state`: the state directory;
//! - `settings`: flags, environment and `[agent]` in fleetdeck.toml.
//!
//! It never imports the server's registry (`fleet::registry`).

pub mod collector;
pub mod config;
pub mod driver;
pub mod keeper;
pub mod process;
pub mod settings;
pub mod state;
pub mod tap;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::header::HeaderValue;
use tokio_util::sync::CancellationToken;

use crate::args::AgentArgs;
use crate::client::net::{ServerUrl, Tls};
use crate::client::{ClientCore, ClientStats, Link, run_agent};
use collector::CollectorBinary;
use config::OwnPart;
use driver::{About, SupervisorAgent};
use keeper::{Command, KeeperConfig};
use settings::AgentSettings;
use state::StateDir;

/// Runs the supervisor until SIGINT or SIGTERM.
pub async fn run_cli(args: AgentArgs) -> anyhow::Result<()> {
    let settings = AgentSettings::resolve(&args)?;
    let stop = CancellationToken::new();
    // Registered before anything starts, so an early SIGTERM still stops us cleanly.
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            tracing::info!("stopping: saying goodbye to the server, then stopping the Collector");
            stop.cancel();
        });
    }
    run(settings, stop).await
}

/// The supervisor: started, it runs until `stop` fires, then says goodbye to the server
/// and stops the Collector.
pub async fn run(settings: AgentSettings, stop: CancellationToken) -> anyhow::Result<()> {
    let state = StateDir::open(&settings.state_dir)?;
    let uid = state.instance_uid()?;
    let binary = CollectorBinary::new(&settings.collector);
    let version = binary.version().await?;
    let components = match binary.components().await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("not reporting available components: {e}");
            None
        }
    };
    let bootstrap = match &settings.collector_config {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("reading --collector-config {}", path.display()))?,
        ),
        None => None,
    };
    let tap = start_tap(&settings, components.as_ref(), &stop).await;
    let (cmds, view, keeper) = keeper::start(KeeperConfig {
        binary: binary.clone(),
        state: state.clone(),
        own: OwnPart {
            instance_id: uid.to_string(),
            metrics: None,
            ca_file: settings.tls_ca.clone(),
            tap: tap.as_ref().map(|hub| config::TapTarget {
                endpoint: hub.endpoint(),
                authorization: hub.authorization().to_string(),
            }),
        },
        bootstrap,
        settle: settings.settle,
        tap: tap.clone(),
    })
    .await?;
    let saved_remote = view.borrow().remote.clone();
    tracing::info!(
        %uid,
        collector = %settings.collector.display(),
        version,
        state_dir = %settings.state_dir.display(),
        "supervising the Collector"
    );

    let url = ServerUrl::parse(&settings.server)?;
    let tls = if url.tls {
        let identity = settings
            .tls_cert
            .as_deref()
            .zip(settings.tls_key.as_deref());
        Some(Tls::from_files(settings.tls_ca.as_deref(), identity)?)
    } else {
        None
    };
    let authorization = settings
        .secret_key
        .as_deref()
        .map(|k| HeaderValue::from_str(&format!("Secret-Key {k}")))
        .transpose()
        .map_err(|_| {
            anyhow::anyhow!("--secret-key holds characters that cannot go in an HTTP header")
        })?;
    let about = About {
        service_name: components
            .as_ref()
            .map(|c| c.command.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "otelcol".to_string()),
        service_version: version,
        host_name: host_name(),
        os_type: std::env::consts::OS.to_string(),
        os_description: os_description(),
        arch: arch(),
        name: settings.name.clone(),
        labels: settings.labels.clone(),
    };
    let driver = SupervisorAgent::new(
        cmds.clone(),
        view,
        about,
        components.map(|c| c.to_proto()),
        state.clone(),
    )
    .with_trust(driver::Trust {
        key: settings.trust_key.clone(),
        allow_unsigned: settings.allow_unsigned,
    })
    .with_tap(tap);

    // The server's address is looked up until it resolves; the Collector runs meanwhile.
    let server = loop {
        match url.resolve().await {
            Ok(addr) => break Some(addr),
            Err(e) => {
                tracing::warn!("cannot resolve {}: {e}; retrying in 5s", url.host);
                tokio::select! {
                    _ = stop.cancelled() => break None,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    };
    if let Some(server) = server {
        let link = Arc::new(Link {
            server,
            url,
            transport: settings.transport,
            authorization,
            http_gzip: false,
            tls,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            stats: Arc::new(ClientStats::default()),
            cancel: stop.child_token(),
        });
        let credential = match state.credential() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    "cannot read the agent's credential ({e}); enrolling with --secret-key"
                );
                None
            }
        };
        if credential.is_some() {
            tracing::info!("connecting with the agent's own credential from the state directory");
        }
        let core = ClientCore::new(uid, settings.heartbeat)
            .with_remote(saved_remote)
            .with_credential(credential);
        let seed = u64::from_le_bytes(uid.0[8..].try_into().unwrap_or_default());
        run_agent(link, core, driver, None, seed).await;
    }
    let _ = cmds.send(Command::Shutdown).await;
    let _ = keeper.await;
    tracing::info!("supervisor stopped");
    Ok(())
}

/// The tap receiver, when taps are on and the Collector can export to it (its build has
/// the `otlphttp` exporter, or it did not say what it has).
async fn start_tap(
    settings: &AgentSettings,
    components: Option<&collector::Components>,
    stop: &CancellationToken,
) -> Option<Arc<tap::TapHub>> {
    if !settings.tap {
        tracing::info!("taps are off (--no-tap)");
        return None;
    }
    if let Some(c) = components
        && !c.has("exporters", "otlphttp")
    {
        tracing::warn!("taps are off: this Collector has no otlphttp exporter to send them with");
        return None;
    }
    match tap::TapHub::start(stop.child_token()).await {
        Ok(hub) => {
            tracing::info!(endpoint = %hub.endpoint(), "tapping the Collector's pipelines");
            Some(hub)
        }
        Err(e) => {
            tracing::warn!("taps are off: cannot listen on 127.0.0.1: {e}");
            None
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// `PRETTY_NAME` from os-release, else the OS family.
fn os_description() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// The architecture in the Collector's words (`amd64`, `arm64`).
fn arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
    .to_string()
}
