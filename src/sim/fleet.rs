//! The embeddable simulated fleet: `start` a configured number of agents against a
//! server URL, read `stats`, and `shutdown` cleanly (every agent says goodbye).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderValue;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::agent::{SimAgent, SimShared, SimTiming, bootstrap_yaml};
use super::identity::Identity;
use crate::args::SimTransport;
use crate::client::net::{self, NetError, ServerUrl, Tls, TlsFlags, client_config};
use crate::client::{ClientCore, ClientStats, Link, StatsSnapshot, run_agent_over};
use crate::fleet::agent::AgentId;

/// Everything a simulated fleet needs to know.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// `ws://host:port/v1/opamp` or `http://…` (the transport decides the protocol).
    pub server: String,
    /// Further servers (replicas): agent `i` starts on server `i mod n` and moves to the
    /// next whenever its connection is lost or refused, as behind a load balancer.
    pub more_servers: Vec<String>,
    pub agents: usize,
    pub transport: SimTransport,
    pub secret_key: Option<String>,
    /// Fraction (0..=1) of agents that reject every configuration.
    pub fail_rate: f64,
    /// New agents per second while ramping up; 0 starts them all at once.
    pub ramp_per_sec: f64,
    /// Source addresses to spread connections over (empty: let the OS choose).
    pub source_ips: Vec<IpAddr>,
    pub seed: u64,
    /// Index of the first agent, so several processes can share a seed without clashing.
    pub first_index: usize,
    /// gzip request bodies on the HTTP transport.
    pub http_gzip: bool,
    pub heartbeat: Duration,
    pub apply_delay: Duration,
    pub restart_delay: Duration,
    pub metrics_interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// PEM roots to trust over wss:// and https:// (the system's when `None`).
    pub tls_ca: Option<PathBuf>,
    /// Certificate and key files every agent presents to a server that asks for one.
    pub tls_identity: Option<(PathBuf, PathBuf)>,
    /// Agents take the credentials the server offers and reconnect with them (in memory:
    /// a new run enrolls again under new uids only if the seed changes).
    pub accept_credentials: bool,
}

impl SimConfig {
    /// Defaults that look like a real fleet: 30 s heartbeats, Collector restarts of up to
    /// 1.5 s on a new configuration, own metrics every 10 s.
    pub fn new(server: impl Into<String>, agents: usize) -> Self {
        SimConfig {
            server: server.into(),
            more_servers: Vec::new(),
            agents,
            transport: SimTransport::Ws,
            secret_key: None,
            fail_rate: 0.0,
            ramp_per_sec: 0.0,
            source_ips: Vec::new(),
            seed: 1,
            first_index: 0,
            http_gzip: false,
            heartbeat: Duration::from_secs(30),
            apply_delay: Duration::from_millis(1500),
            restart_delay: Duration::from_secs(1),
            metrics_interval: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            tls_ca: None,
            tls_identity: None,
            accept_credentials: false,
        }
    }

    /// For `fleetdeck --demo`: a lively fleet that ramps up over a couple of seconds
    /// and pushes its own metrics often enough for sparklines to move.
    pub fn demo(server: impl Into<String>, agents: usize, secret_key: Option<String>) -> Self {
        SimConfig {
            secret_key,
            fail_rate: 0.08,
            ramp_per_sec: (agents as f64 / 2.0).max(10.0),
            seed: 42,
            heartbeat: Duration::from_secs(15),
            metrics_interval: Duration::from_secs(5),
            backoff_max: Duration::from_secs(10),
            ..SimConfig::new(server, agents)
        }
    }

    /// The identity agent `i` (0-based within this fleet) has.
    pub fn identity(&self, i: usize) -> Identity {
        Identity::derive(self.seed, self.first_index + i, self.fail_rate)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("cannot resolve the OpAMP server {server}: {source}")]
    Resolve {
        server: String,
        source: std::io::Error,
    },
    #[error("--fail-rate {0} is outside 0..=1")]
    FailRate(f64),
    #[error("--secret-key contains characters that cannot go in an HTTP header")]
    SecretKey,
    #[error("cannot build the HTTP client for own metrics: {0}")]
    MetricsClient(String),
}

/// A running simulated fleet.
/// What the agents of a fleet share: the client's link and the simulation's settings.
#[derive(Clone)]
struct Shared {
    /// The first server's link: its stats and cancel are every link's.
    link: Arc<Link>,
    /// Every server's, in the order given.
    links: Arc<[Arc<Link>]>,
    sim: Arc<SimShared>,
    heartbeat: Duration,
}

pub struct SimFleet {
    shared: Shared,
    agents: usize,
    ids: Vec<AgentId>,
    tracker: TaskTracker,
    spawner: JoinHandle<()>,
}

/// Starts the fleet; agents connect in the background (ramped when asked).
pub async fn start(cfg: SimConfig) -> Result<SimFleet, SimError> {
    if !(0.0..=1.0).contains(&cfg.fail_rate) {
        return Err(SimError::FailRate(cfg.fail_rate));
    }
    let identity = cfg
        .tls_identity
        .as_ref()
        .map(|(c, k)| (c.as_path(), k.as_path()));
    let authorization = cfg
        .secret_key
        .as_deref()
        .map(|k| HeaderValue::from_str(&format!("Secret-Key {k}")))
        .transpose()
        .map_err(|_| SimError::SecretKey)?;
    let stats = Arc::new(ClientStats::default());
    // One cancel for all links: shutting the fleet down stops every agent wherever it is.
    let cancel = CancellationToken::new();
    let mut links = Vec::new();
    let mut any_tls = false;
    for server in std::iter::once(&cfg.server).chain(&cfg.more_servers) {
        let url = ServerUrl::parse(server)?;
        // The OpAMP connection and the own-metrics client trust the same roots and
        // present the same certificate (the server's OTLP listener is the OpAMP one).
        let tls = if url.tls {
            any_tls = true;
            Some(Tls::from_files(cfg.tls_ca.as_deref(), identity)?)
        } else {
            None
        };
        let addr = url.resolve().await.map_err(|source| SimError::Resolve {
            server: server.clone(),
            source,
        })?;
        links.push(Arc::new(Link {
            server: addr,
            url,
            transport: cfg.transport,
            authorization: authorization.clone(),
            http_gzip: cfg.http_gzip,
            tls,
            backoff_initial: cfg.backoff_initial,
            backoff_max: cfg.backoff_max,
            stats: stats.clone(),
            cancel: cancel.clone(),
        }));
    }
    let mut metrics_client = reqwest::Client::builder().pool_max_idle_per_host(64);
    if any_tls || cfg.tls_ca.is_some() {
        let config = client_config(cfg.tls_ca.as_deref(), identity, TlsFlags::AGENT)?;
        metrics_client = metrics_client.tls_backend_preconfigured(config);
    }
    let metrics_client = metrics_client
        .build()
        .map_err(|e| SimError::MetricsClient(e.to_string()))?;
    let link = links[0].clone();
    let sim = Arc::new(SimShared {
        timing: SimTiming {
            apply_delay: cfg.apply_delay,
            restart_delay: cfg.restart_delay,
            metrics_interval: cfg.metrics_interval,
        },
        cache: Default::default(),
        stats,
        metrics_client,
        accept_credentials: cfg.accept_credentials,
    });
    let shared = Shared {
        link,
        links: links.into(),
        sim,
        heartbeat: cfg.heartbeat,
    };
    let identities: Vec<Arc<Identity>> =
        (0..cfg.agents).map(|i| Arc::new(cfg.identity(i))).collect();
    let ids = identities.iter().map(|i| i.uid).collect();
    let tracker = TaskTracker::new();
    let spawner = tokio::spawn(spawn_agents(
        shared.clone(),
        tracker.clone(),
        identities,
        cfg.source_ips,
        cfg.ramp_per_sec,
    ));
    Ok(SimFleet {
        shared,
        agents: cfg.agents,
        ids,
        tracker,
        spawner,
    })
}

async fn spawn_agents(
    shared: Shared,
    tracker: TaskTracker,
    identities: Vec<Arc<Identity>>,
    sources: Vec<IpAddr>,
    ramp_per_sec: f64,
) {
    let gap = (ramp_per_sec > 0.0).then(|| Duration::from_secs_f64(1.0 / ramp_per_sec));
    let started = tokio::time::Instant::now();
    for (n, identity) in identities.into_iter().enumerate() {
        if shared.link.cancel.is_cancelled() {
            return;
        }
        if let Some(gap) = gap {
            // Pace against the start time so timer granularity does not slow the ramp.
            let due = started + gap.mul_f64(n as f64);
            tokio::select! {
                _ = shared.link.cancel.cancelled() => return,
                _ = tokio::time::sleep_until(due) => {}
            }
        }
        let source = (!sources.is_empty()).then(|| sources[n % sources.len()]);
        let bootstrap = match shared
            .sim
            .cache
            .check(bootstrap_yaml(identity.tier).as_bytes())
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("built-in agent configuration is invalid: {e}");
                return;
            }
        };
        let core = ClientCore::new(identity.uid, shared.heartbeat);
        let seed = identity.behaviour_seed ^ 0x5eed;
        let agent = SimAgent::new(identity, bootstrap, shared.sim.clone());
        tracker.spawn(run_agent_over(
            shared.links.clone(),
            n % shared.links.len(),
            core,
            agent,
            source,
            seed,
        ));
    }
}

impl SimFleet {
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.link.stats.snapshot(self.agents)
    }

    /// Instance UIDs of the agents, in index order.
    pub fn agent_ids(&self) -> &[AgentId] {
        &self.ids
    }

    /// Stops every agent: each sends agent_disconnect and closes; returns final stats.
    pub async fn shutdown(self) -> StatsSnapshot {
        self.shared.link.cancel.cancel();
        let _ = self.spawner.await;
        self.tracker.close();
        // Goodbyes are bounded by their own timeouts; this is a safety net.
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tracker.wait()).await;
        self.shared.link.stats.snapshot(self.agents)
    }
}

/// Parses `--source-ips` for callers outside this module.
pub fn source_ips(spec: &str) -> Result<Vec<IpAddr>, SimError> {
    Ok(net::parse_source_ips(spec)?)
}
