//! Deterministic fleets, events, catalog answers and telemetry for the TUI's tests,
//! benchmarks and screenshots. Everything derives from the agent's index and a fixed
//! "now", so every run draws the same screens. A test file takes it with `mod seed;`
//! (the bench with `#[path]`); each uses a part, hence `dead_code` is allowed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleetdeck::fleet::Health;
use fleetdeck::fleet::agent::{
    AgentDescription, AgentId, Attribute, Capabilities, ComponentHealth, ConfigFile, ConfigMap,
    PackageState, PackageStatus, PackageStatuses, RemoteConfigState, RemoteConfigStatus, Transport,
};
use fleetdeck::fleet::components::AvailableComponents;
use fleetdeck::fleet::delivery::{AgentConfigStatus, ApplyState, ConfigRef};
use fleetdeck::fleet::events::{DisconnectReason, EventKind, FleetEvent};
use fleetdeck::fleet::snapshot::{AgentView, Connection, FleetSnapshot};
use fleetdeck::rollout::plan::{AgentProgress, AgentStep, Progress};
use fleetdeck::rollout::{RolloutOptions, RolloutStatus, RolloutView};

use fleetdeck::tui::configs::{CatalogData, ConfigSummary, VersionInfo};

use fleetdeck::fleet::telemetry::{Sample, Series, Signal, TelemetryStore, Temporality};

use fleetdeck::tui::StoreAt;
use fleetdeck::tui::{App, AppConfig, ColorLevel, Keymap, ServerInfo};

/// 2026-01-01T12:00:00Z: the "now" all seeded data is relative to.
pub const NOW_SECS: u64 = 1_767_268_800;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

const ROLES: [&str; 6] = ["edge", "gateway", "web", "db", "batch", "k8s-node"];
const REGIONS: [&str; 3] = ["eu", "us", "ap"];
const VERSIONS: [&str; 3] = ["0.113.0", "0.112.0", "0.111.0"];

const WEB_CONFIG: &str = "\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
  filelog:
    include: [/var/log/nginx/*.log]
    start_at: end
processors:
  batch: {}
  resourcedetection:
    detectors: [system, env]
exporters:
  otlphttp:
    endpoint: https://collector.example.net:4318
service:
  pipelines:
    logs:
      receivers: [filelog]
      processors: [resourcedetection, batch]
      exporters: [otlphttp]
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlphttp]
";

const EDGE_CONFIG: &str = "\
# managed by fleetdeck
receivers:
  hostmetrics:
    collection_interval: 30s
    scrapers:
      cpu: {}
      memory: {}
      filesystem: {}
processors:
  batch: {}
exporters:
  otlphttp:
    endpoint: https://gateway.example.net:4318
service:
  pipelines:
    metrics:
      receivers: [hostmetrics]
      processors: [batch]
      exporters: [otlphttp]
";

const LOCAL_CONFIG: &str = "\
receivers:
  otlp:
    protocols:
      http: {}
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
";

fn config_map(body: &str) -> Arc<ConfigMap> {
    let mut files = BTreeMap::new();
    files.insert(
        "collector.yaml".to_string(),
        ConfigFile {
            body: body.as_bytes().to_vec(),
            content_type: "text/yaml".into(),
        },
    );
    Arc::new(ConfigMap { files })
}

fn mix(i: u64) -> u64 {
    // SplitMix64: well-spread bits from a counter.
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The id of seeded agent `i`: a UUIDv7-shaped value whose random part comes from `i`.
pub fn agent_id(i: usize) -> AgentId {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&[0x01, 0x9b, 0x7a, 0x10, 0x00, 0x00]);
    b[6] = 0x70;
    b[8] = 0x80;
    b[8..16].copy_from_slice(&mix(i as u64).to_be_bytes());
    b[6] = 0x70 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    AgentId(b)
}

fn health_tree(healthy: bool, now_nanos: u64) -> ComponentHealth {
    let node = |ok: bool, status: &str, err: &str| ComponentHealth {
        healthy: ok,
        start_time_unix_nano: now_nanos - 3_600_000_000_000,
        last_error: err.into(),
        status: status.into(),
        status_time_unix_nano: now_nanos,
        components: Default::default(),
        attributes: Vec::new(),
    };
    let mut exporter = node(true, "StatusOK", "");
    if !healthy {
        exporter = node(
            false,
            "StatusRecoverableError",
            "Post \"https://collector.example.net:4318/v1/traces\": connection refused",
        );
    }
    let mut traces = node(healthy, "StatusOK", "");
    traces
        .components
        .insert("receiver:otlp".into(), node(true, "StatusOK", ""));
    traces
        .components
        .insert("processor:batch".into(), node(true, "StatusOK", ""));
    traces
        .components
        .insert("exporter:otlphttp".into(), exporter);
    let mut metrics = node(true, "StatusOK", "");
    metrics
        .components
        .insert("receiver:hostmetrics".into(), node(true, "StatusOK", ""));
    metrics
        .components
        .insert("exporter:otlphttp".into(), node(true, "StatusOK", ""));
    let mut root = node(healthy, "StatusOK", "");
    if !healthy {
        root.status = "StatusRecoverableError".into();
        root.last_error = "exporter otlphttp: connection refused".into();
    }
    root.components.insert("pipeline:traces".into(), traces);
    root.components.insert("pipeline:metrics".into(), metrics);
    root
}

/// Seeded agent number `i`, with shared config bodies passed in.
/// Two Collector builds' component listings: otelcol-contrib's (cut down to what the
/// seeded configurations and the built-in types use most) and a minimal build's.
pub fn component_listings() -> [Arc<AvailableComponents>; 2] {
    let contrib = [
        ("receivers", "filelog"),
        ("receivers", "hostmetrics"),
        ("receivers", "journald"),
        ("receivers", "otlp"),
        ("receivers", "prometheus"),
        ("receivers", "syslog"),
        ("processors", "attributes"),
        ("processors", "batch"),
        ("processors", "filter"),
        ("processors", "memory_limiter"),
        ("processors", "resourcedetection"),
        ("processors", "transform"),
        ("exporters", "debug"),
        ("exporters", "otlp"),
        ("exporters", "otlphttp"),
        ("extensions", "health_check"),
        ("connectors", "forward"),
    ];
    let minimal = [
        ("receivers", "filelog"),
        ("processors", "batch"),
        ("processors", "memory_limiter"),
        ("exporters", "otlphttp"),
    ];
    let listing = |hash: u8, entries: &[(&'static str, &'static str)]| {
        Arc::new(AvailableComponents::from_entries(
            vec![hash; 8],
            entries.iter().map(|(k, t)| (*k, *t, "v0.135.0")),
        ))
    };
    [listing(0xc0, &contrib), listing(0x31, &minimal)]
}

fn agent(
    i: usize,
    configs: &[Arc<ConfigMap>; 3],
    hashes: &[Vec<u8>; 2],
    listings: &[Arc<AvailableComponents>; 2],
) -> AgentView {
    let now = now();
    let now_nanos = NOW_SECS * 1_000_000_000;
    let role = ROLES[i % ROLES.len()];
    let region = REGIONS[(i / ROLES.len()) % REGIONS.len()];
    let n = i / (ROLES.len() * REGIONS.len()) + 1;
    let name = format!("{role}-{region}-{n:02}");
    let host = format!("{role}{n:02}.{region}.example.net");
    let version = VERSIONS[(i / 4) % VERSIONS.len()].to_string();
    let os = if i % 10 == 9 { "windows" } else { "linux" };
    let env = if i % 3 == 2 { "staging" } else { "prod" };
    let connected = i % 11 != 7;
    // A failed configuration often leaves the collector unhealthy too.
    let healthy = i % 9 != 4 && i % 13 != 6;
    let description = AgentDescription {
        identifying: vec![
            Attribute::string("service.name", "otelcol-contrib"),
            Attribute::string("service.version", version.clone()),
            Attribute::string("service.instance.id", agent_id(i).to_string()),
        ],
        non_identifying: vec![
            Attribute::string("host.name", host.clone()),
            Attribute::string("os.type", os),
            Attribute::string("host.arch", "amd64"),
            Attribute::string("deployment.environment", env),
        ],
    };
    let mut labels = BTreeMap::new();
    labels.insert("env".to_string(), env.to_string());
    labels.insert("region".to_string(), region.to_string());
    labels.insert("tier".to_string(), role.to_string());
    // Every fifth agent runs its own local configuration; the rest got one of two.
    let (effective, remote, managed) = if i.is_multiple_of(5) {
        (configs[2].clone(), None, None)
    } else {
        let which = usize::from(i.is_multiple_of(2));
        let state = if i % 13 == 6 {
            RemoteConfigState::Failed
        } else if i % 17 == 3 {
            RemoteConfigState::Applying
        } else {
            RemoteConfigState::Applied
        };
        let error_message = if state == RemoteConfigState::Failed {
            "error decoding 'exporters': unknown type: \"otlphttp/bad\"".into()
        } else {
            String::new()
        };
        let managed = managed_status(i, which, state, &error_message, &hashes[which]);
        (
            configs[which].clone(),
            Some(RemoteConfigStatus {
                last_hash: hashes[which].clone(),
                state,
                error_message,
            }),
            Some(managed),
        )
    };
    let packages = (i % 4 == 1).then(|| {
        let mut packages = BTreeMap::new();
        packages.insert(
            "otelcol-contrib".to_string(),
            PackageStatus {
                name: "otelcol-contrib".into(),
                agent_has_version: version.clone(),
                server_offered_version: "0.113.0".into(),
                state: if version == "0.113.0" {
                    PackageState::Installed
                } else {
                    PackageState::Downloading
                },
                error_message: String::new(),
                download_percent: (version != "0.113.0").then_some(42.0),
            },
        );
        Arc::new(PackageStatuses {
            packages,
            error_message: String::new(),
        })
    });
    // Edge and db agents are not supervised (no listing); the web tier runs a minimal build.
    let listing = match i % 6 {
        0 | 3 => None,
        2 => Some(listings[1].clone()),
        _ => Some(listings[0].clone()),
    };
    let secs = |s: u64| Duration::from_secs(s);
    let last_seen = if connected {
        now - secs((i % 30) as u64)
    } else {
        now - secs(600 + (i as u64 % 300))
    };
    AgentView {
        id: agent_id(i),
        name: name.into(),
        host: host.into(),
        version: version.into(),
        os: os.into(),
        description: Arc::new(description),
        capabilities: Capabilities(
            0x3c07
                | if i.is_multiple_of(2) { 0x400 } else { 0 }
                | if listing.is_some() { 0x4000 } else { 0 },
        ),
        connection: if connected {
            Connection::Connected
        } else {
            Connection::Disconnected
        },
        transport: Some(if i % 4 == 3 {
            Transport::Http
        } else {
            Transport::WebSocket
        }),
        remote_addr: Some(
            format!(
                "10.{}.{}.{}:{}",
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255,
                40000 + i % 20000
            )
            .parse()
            .unwrap_or_else(|_| ([10, 0, 0, 1], 40000).into()),
        ),
        health: Some(Health::new(&health_tree(healthy, now_nanos))),
        effective_config: Some(effective),
        remote_config_status: remote.map(Arc::new),
        package_statuses: packages,
        custom_capabilities: fleetdeck::fleet::snapshot::no_custom_capabilities(),
        available_components: listing,
        labels: labels.into(),
        first_seen: now - secs(86_400 + i as u64 * 37 % 86_400),
        last_seen,
        connected_at: connected.then(|| now - secs(3_600 + (i as u64 * 13) % 7_200)),
        disconnected_at: (!connected).then_some(last_seen),
        sequence_num: 100 + i as u64,
        messages: 1_000 + 3 * i as u64,
        config: managed,
    }
}

/// The stored configurations the seeded agents run: `edge-gateway` (agents with an
/// even number) and `web-frontend` (odd), the latest version on most of them.
pub const CONFIG_NAMES: [&str; 2] = ["web-frontend", "edge-gateway"];

/// Which version of its configuration seeded agent `i` runs.
fn seeded_version(i: usize, which: usize) -> u64 {
    match which {
        // web-frontend v3 reached everyone but a few stragglers on v2.
        0 => {
            if i % 7 == 1 {
                2
            } else {
                3
            }
        }
        // edge-gateway v2 is rolling out: agents it has not reached run v1.
        _ => {
            if i % 8 == 4 {
                1
            } else {
                2
            }
        }
    }
}

fn managed_status(
    i: usize,
    which: usize,
    state: RemoteConfigState,
    error: &str,
    hash: &[u8],
) -> AgentConfigStatus {
    let state = match state {
        RemoteConfigState::Failed => ApplyState::Failed,
        RemoteConfigState::Applying => ApplyState::Applying,
        _ => ApplyState::Applied,
    };
    let mut h = [0u8; 32];
    let n = hash.len().min(32);
    h[..n].copy_from_slice(&hash[..n]);
    AgentConfigStatus {
        config: ConfigRef {
            name: CONFIG_NAMES[which].into(),
            version: seeded_version(i, which),
        },
        hash: h,
        state,
        error: error.to_string(),
        effective_matches: (state == ApplyState::Applied).then_some(i % 23 != 11),
        since: now() - Duration::from_secs(60 + i as u64 % 600),
        origin: if i.is_multiple_of(5) {
            "selector"
        } else {
            "push"
        },
    }
}

/// What the catalog and the rollout service would answer for the seeded fleet: both
/// configurations, and edge-gateway v2 rolling out (phase 2, with failures).
pub fn catalog_data(snap: &FleetSnapshot) -> CatalogData {
    let configs = vec![
        ConfigSummary {
            name: "edge-gateway".into(),
            version: 2,
            description: Some("OTLP in, batch, OTLP/HTTP to the central gateway".into()),
            updated_at: now() - Duration::from_secs(1_200),
            sources: 1,
            processors: 1,
            destinations: 1,
        },
        ConfigSummary {
            name: "web-frontend".into(),
            version: 3,
            description: Some("nginx logs and app traces".into()),
            updated_at: now() - Duration::from_secs(2 * 86_400),
            sources: 2,
            processors: 2,
            destinations: 1,
        },
    ];
    let edge: Vec<&AgentView> = snap
        .agents
        .iter()
        .map(|a| a.as_ref())
        .filter(|a| {
            a.config
                .as_ref()
                .is_some_and(|c| &*c.config.name == "edge-gateway")
        })
        .collect();
    let agents: Vec<AgentProgress> = edge
        .iter()
        .map(|a| {
            let c = a.config.as_ref();
            let step = match c.map(|c| (c.config.version, c.state)) {
                Some((2, ApplyState::Applied)) => AgentStep::Applied,
                Some((2, ApplyState::Failed)) => {
                    AgentStep::Failed(c.map(|c| c.error.clone()).unwrap_or_default())
                }
                Some((2, _)) => AgentStep::InFlight,
                _ => AgentStep::Waiting,
            };
            AgentProgress {
                id: a.id,
                step,
                previous: Some(ConfigRef {
                    name: "edge-gateway".into(),
                    version: 1,
                }),
                phase: Some(1),
                failed: false,
                error: None,
                ..Default::default()
            }
        })
        .collect();
    let count = |f: fn(&AgentStep) -> bool| agents.iter().filter(|a| f(&a.step)).count();
    let progress = Progress {
        total: agents.len(),
        waiting: count(|s| matches!(s, AgentStep::Waiting)),
        in_flight: count(|s| matches!(s, AgentStep::InFlight)),
        applied: count(|s| matches!(s, AgentStep::Applied)),
        failed: count(|s| matches!(s, AgentStep::Failed(_) | AgentStep::Stalled)),
        rolled_back: 0,
        watching: 0,
    };
    let rollout = RolloutView {
        config: ConfigRef {
            name: "edge-gateway".into(),
            version: 2,
        },
        status: RolloutStatus::Running,
        phases_started: 2,
        started_at: None,
        progress,
        options: RolloutOptions::default(),
        agents,
    };
    CatalogData {
        configs,
        rollouts: vec![rollout],
    }
}

/// The stored versions of a seeded configuration, oldest first (as the catalog lists them).
pub fn config_versions(name: &str) -> Vec<VersionInfo> {
    let latest = if name == "web-frontend" { 3 } else { 2 };
    (1..=latest)
        .map(|v| VersionInfo {
            version: v,
            updated_at: now() - Duration::from_secs((latest - v + 1) * 3_600 + 1_200),
            lines: 20 + v as usize,
        })
        .collect()
}

/// The diff the catalog would show between edge-gateway v1 and v2.
pub fn config_diff() -> Vec<fleetdeck::pipeline::DiffLine> {
    let v2 = EDGE_CONFIG
        .replace("collection_interval: 30s", "collection_interval: 10s")
        .replace(
            "      filesystem: {}\n",
            "      filesystem: {}\n      network: {}\n",
        )
        .replace("batch: {}", "batch:\n    timeout: 2s");
    fleetdeck::pipeline::diff(EDGE_CONFIG, &v2)
}

/// A fleet of `n` seeded agents, sorted by id like the registry's snapshots.
pub fn fleet(n: usize, version: u64) -> FleetSnapshot {
    use sha2::{Digest, Sha256};
    let configs = [
        config_map(WEB_CONFIG),
        config_map(EDGE_CONFIG),
        config_map(LOCAL_CONFIG),
    ];
    let hashes = [
        Sha256::digest(WEB_CONFIG).to_vec(),
        Sha256::digest(EDGE_CONFIG).to_vec(),
    ];
    let listings = component_listings();
    let mut agents: Vec<Arc<AgentView>> = (0..n)
        .map(|i| Arc::new(agent(i, &configs, &hashes, &listings)))
        .collect();
    agents.sort_by_key(|a| a.id);
    let totals = FleetSnapshot::totals_of(&agents);
    FleetSnapshot {
        version,
        taken_at: Some(now()),
        agents,
        totals,
    }
}

/// A short, plausible event history ending at `now()`.
pub fn events(snap: &FleetSnapshot) -> Vec<FleetEvent> {
    let mut out = Vec::new();
    for (k, a) in snap.agents.iter().take(12).enumerate() {
        let at = now() - Duration::from_secs(300 - 20 * k as u64);
        let kind = match k % 4 {
            0 => EventKind::AgentConnected {
                id: a.id,
                name: a.name.to_string(),
                transport: a.transport.unwrap_or(Transport::WebSocket),
                remote_addr: a.remote_addr,
                new: k == 0,
            },
            1 => EventKind::RemoteConfigStatus {
                id: a.id,
                name: a.name.to_string(),
                state: if k == 5 {
                    RemoteConfigState::Failed
                } else {
                    RemoteConfigState::Applied
                },
                error_message: if k == 5 {
                    "error decoding 'exporters': unknown type: \"otlphttp/bad\"".into()
                } else {
                    String::new()
                },
            },
            2 => EventKind::HealthChanged {
                id: a.id,
                name: a.name.to_string(),
                healthy: k != 6,
                last_error: if k == 6 {
                    "exporter otlphttp: connection refused".into()
                } else {
                    String::new()
                },
            },
            _ => EventKind::AgentDisconnected {
                id: a.id,
                name: a.name.to_string(),
                reason: DisconnectReason::ConnectionClosed,
            },
        };
        out.push(FleetEvent { at, kind });
    }
    out
}

/// Seconds of history the seeded telemetry store holds.
pub const HISTORY_SECS: u64 = 120;

/// A real telemetry store holding `HISTORY_SECS` seconds of sine-wave throughput for the
/// first `limit` connected agents of the snapshot (disconnected agents stay silent), read
/// at the fixed `NOW_SECS`.
pub fn telemetry(snap: &FleetSnapshot, limit: usize) -> StoreAt {
    let store = TelemetryStore::new();
    let agents: Vec<AgentId> = snap
        .agents
        .iter()
        .filter(|a| a.is_connected())
        .take(limit)
        .map(|a| a.id)
        .collect();
    let mut samples = Vec::with_capacity(Series::ALL.len());
    for t in NOW_SECS + 1 - HISTORY_SECS..=NOW_SECS {
        for id in &agents {
            let seed = seed_of(id);
            samples.clear();
            samples.extend(Series::ALL.iter().map(|s| Sample {
                series: Some(*s),
                part: None,
                stream: 0,
                temporality: Temporality::Gauge,
                start_ns: 0,
                time_ns: t * 1_000_000_000,
                value: value(seed, *s, t),
            }));
            store.ingest_at(t, id, &samples);
        }
    }
    StoreAt {
        store,
        now: NOW_SECS,
    }
}

fn seed_of(id: &AgentId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.as_bytes()[8..16]);
    u64::from_be_bytes(b)
}

/// The value of one series of the agent with `seed` at second `t`.
fn value(seed: u64, series: Series, t: u64) -> f64 {
    let base = |lo: f64, hi: f64, salt: u64| {
        let r = (mix(seed ^ salt) % 10_000) as f64 / 10_000.0;
        lo + r * (hi - lo)
    };
    let phase = (seed % 628) as f64 / 100.0;
    let wave = |speed: f64, shift: f64| {
        let x = (t as f64) * speed + phase + shift;
        1.0 + 0.35 * x.sin() + 0.15 * (x * 3.1).sin()
    };
    let shift = |s: Signal| match s {
        Signal::Logs => 0.0,
        Signal::Metrics => 2.1,
        Signal::Traces => 4.2,
    };
    let signal_base = |s: Signal| match s {
        Signal::Logs => base(40.0, 2_400.0, 1),
        Signal::Metrics => base(300.0, 6_000.0, 2),
        // A third of the agents carry no traces.
        Signal::Traces if seed.is_multiple_of(3) => 0.0,
        Signal::Traces => base(20.0, 900.0, 3),
    };
    let failing = seed % 7 == 3;
    match series {
        Series::In(s) => (signal_base(s) * wave(0.35, shift(s))).round(),
        Series::Out(s) => {
            let loss = if failing && s == Signal::Traces {
                0.8
            } else {
                0.99
            };
            (signal_base(s) * wave(0.35, shift(s)) * loss).round()
        }
        Series::Failed(s) if failing && s == Signal::Traces => {
            (signal_base(s) * wave(0.35, shift(s)) * 0.2).round()
        }
        Series::Failed(_) => 0.0,
        // In cores, as the store keeps it.
        Series::Cpu => (base(0.02, 0.65, 4) * wave(0.2, 1.0)).clamp(0.0, 4.0),
        Series::Memory => {
            (base(80.0, 700.0, 5) * (1.0 + 0.05 * wave(0.05, 0.5))).round() * 1_048_576.0
        }
    }
}

/// The app as the builder's tests start it: 12 seeded agents, a 120×40 screen, `keymap`.
pub fn builder_app(keymap: Keymap) -> App {
    let config = AppConfig {
        server: ServerInfo {
            listen: std::net::SocketAddr::from(([0, 0, 0, 0], 4320)),
            api_listen: std::net::SocketAddr::from(([127, 0, 0, 1], 4321)),
            public_url: "http://fleet.example.net:4320".into(),
            secret_file: "/var/lib/fleetdeck/agent-secret".into(),
            version: "0.1.0".into(),
        },
        theme: "dark".into(),
        color_level: ColorLevel::TrueColor,
        keymap,
        mouse: false,
        warnings: Vec::new(),
    };
    let mut app = App::new(config, Arc::new(fleet(12, 1)), now());
    app.resize(120, 40);
    app
}
