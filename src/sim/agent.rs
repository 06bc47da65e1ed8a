//! One simulated Collector plus its supervisor, as a [`Driver`] of the shared OpAMP
//! client: what it reports, how long it takes to apply a configuration, what its own
//! metrics say. The client in `crate::client` moves the messages.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::time::{Instant, sleep_until};

use super::collector::{self, CollectorConfig};
use super::identity::{Identity, SERVICE_NAME};
use super::telemetry::{self, OwnTelemetry};
use crate::client::core::{COLLECTOR_CAPABILITIES, kv, unix_nanos};
use crate::client::{
    ClientCore, ClientStats, Driver, Managed, MetricsTarget, Parts, RemoteOffer, RemoteStatus,
    Restarted,
};
use crate::fleet::agent::{AgentId, Capabilities};
use crate::opamp::proto;

/// What the opampsupervisor announces for a Collector it manages.
pub const CAPABILITIES: u64 =
    COLLECTOR_CAPABILITIES | Capabilities::ACCEPTS_OPAMP_CONNECTION_SETTINGS;

const STATUS_OK: &str = "StatusOK";

/// A configuration the agent runs: its text and what the check made of it.
#[derive(Debug)]
pub struct Effective {
    pub body: Vec<u8>,
    pub config: CollectorConfig,
}

/// Check results shared by all agents of a fleet, keyed by the SHA-256 of the body, so
/// 10,000 agents receiving one configuration parse it once and hold one copy.
#[derive(Debug, Default)]
pub struct ConfigCache {
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

#[derive(Debug)]
enum Cached {
    Valid(Weak<Effective>),
    Invalid(String),
}

/// Beyond this many distinct bodies the cache starts over (rejected ones are kept as text).
const CACHE_LIMIT: usize = 4096;

impl ConfigCache {
    pub fn check(&self, body: &[u8]) -> Result<Arc<Effective>, String> {
        let key: [u8; 32] = Sha256::digest(body).into();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&key) {
            Some(Cached::Valid(weak)) => {
                if let Some(eff) = weak.upgrade() {
                    return Ok(eff);
                }
            }
            Some(Cached::Invalid(reason)) => return Err(reason.clone()),
            None => {}
        }
        if entries.len() >= CACHE_LIMIT {
            entries.retain(|_, c| matches!(c, Cached::Valid(w) if w.strong_count() > 0));
        }
        match collector::check(body) {
            Ok(config) => {
                let eff = Arc::new(Effective {
                    body: body.to_vec(),
                    config,
                });
                entries.insert(key, Cached::Valid(Arc::downgrade(&eff)));
                Ok(eff)
            }
            Err(e) => {
                let reason = e.to_string();
                entries.insert(key, Cached::Invalid(reason.clone()));
                Err(reason)
            }
        }
    }
}

/// Timings that tests and demos shorten.
#[derive(Debug, Clone)]
pub struct SimTiming {
    /// Longest simulated Collector restart after a new configuration (random up to it).
    pub apply_delay: Duration,
    /// How long a restart command keeps the agent away.
    pub restart_delay: Duration,
    pub metrics_interval: Duration,
}

/// What every simulated agent of a fleet shares.
pub struct SimShared {
    pub timing: SimTiming,
    pub cache: ConfigCache,
    pub stats: Arc<ClientStats>,
    pub metrics_client: reqwest::Client,
    /// Agents take credentials of their own (AcceptsOpAMPConnectionSettings), kept in
    /// memory for the run.
    pub accept_credentials: bool,
}

/// A configuration received and checked; it takes effect when the simulated
/// restart of the Collector is over.
#[derive(Debug)]
struct PendingApply {
    hash: Vec<u8>,
    outcome: Result<Arc<Effective>, String>,
    due: Instant,
}

/// What a simulated agent waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimWake {
    Apply,
    Metrics,
}

/// One simulated Collector.
pub struct SimAgent {
    pub identity: Arc<Identity>,
    shared: Arc<SimShared>,
    started_ns: u64,
    status_since_ns: u64,
    effective: Arc<Effective>,
    /// The configuration the agent starts with before any remote one.
    bootstrap: Arc<Effective>,
    telemetry: OwnTelemetry,
    metrics_target: Option<MetricsTarget>,
    next_metrics: Option<Instant>,
    pending: Option<PendingApply>,
    rng: SmallRng,
}

impl SimAgent {
    pub fn new(identity: Arc<Identity>, bootstrap: Arc<Effective>, shared: Arc<SimShared>) -> Self {
        let now = unix_nanos();
        let mut rng = SmallRng::seed_from_u64(identity.behaviour_seed);
        let telemetry = OwnTelemetry::new(rng.random(), now);
        SimAgent {
            identity,
            shared,
            started_ns: now,
            status_since_ns: now,
            effective: bootstrap.clone(),
            bootstrap,
            telemetry,
            metrics_target: None,
            next_metrics: None,
            pending: None,
            rng,
        }
    }

    pub fn effective(&self) -> &Arc<Effective> {
        &self.effective
    }

    pub fn started_ns(&self) -> u64 {
        self.started_ns
    }

    /// The simulated Collector restart after a configuration is over.
    fn finish_apply(&mut self, core: &mut ClientCore) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let now = unix_nanos();
        // Counters up to now belong to the configuration that was running.
        self.telemetry.advance(&self.effective.config, now);
        let stats = &self.shared.stats;
        match pending.outcome {
            Ok(effective) => {
                core.set_remote(&pending.hash, RemoteStatus::Applied, "");
                self.effective = effective;
                self.status_since_ns = now;
                core.changed(Parts {
                    effective: true,
                    health: true,
                    ..Parts::default()
                });
                stats.config_done(&pending.hash, true);
            }
            Err(reason) => {
                core.set_remote(&pending.hash, RemoteStatus::Failed, reason);
                stats.config_done(&pending.hash, false);
            }
        }
    }

    async fn push_metrics(&mut self, uid: AgentId) {
        self.next_metrics = Some(Instant::now() + self.shared.timing.metrics_interval);
        let Some(target) = self.metrics_target.as_ref() else {
            return;
        };
        let now = unix_nanos();
        self.telemetry.advance(&self.effective.config, now);
        let request = self.telemetry.request(&self.identity, uid, now);
        let stats = &self.shared.stats;
        match telemetry::push(&self.shared.metrics_client, target, &request).await {
            Ok(()) => ClientStats::add(&stats.metric_pushes),
            Err(e) => {
                ClientStats::add(&stats.metric_push_errors);
                tracing::debug!(agent = %uid, "{e}");
            }
        }
    }
}

impl Driver for SimAgent {
    type Wake = SimWake;

    /// Checks the configuration now and finishes after a simulated restart; a newer
    /// configuration replaces one still being applied.
    fn offer(&mut self, core: &mut ClientCore, mut offer: RemoteOffer) {
        let outcome = if self.identity.rejects_configs {
            Err(format!(
                "this simulated agent rejects every configuration (--fail-rate); \
                 collector.yaml was not applied, host {}",
                self.identity.host_name
            ))
        } else {
            match offer.collector_yaml() {
                // An empty remote configuration means "run your own one" to the supervisor.
                Ok(None) => Ok(self.bootstrap.clone()),
                Ok(Some(body)) => self.shared.cache.check(&body),
                Err(e) => Err(e),
            }
        };
        core.set_remote(&offer.hash, RemoteStatus::Applying, "");
        self.shared.stats.config_seen(&offer.hash);
        let delay = self
            .shared
            .timing
            .apply_delay
            .mul_f64(self.rng.random_range(0.2..=1.0));
        self.pending = Some(PendingApply {
            hash: offer.hash,
            outcome,
            due: Instant::now() + delay,
        });
    }

    fn metrics_target(&mut self, target: Option<MetricsTarget>) {
        if target == self.metrics_target {
            return;
        }
        let interval = self.shared.timing.metrics_interval;
        // Spread the first push over an interval so a fleet does not push in step.
        let first = interval.mul_f64(self.rng.random_range(0.1..1.0));
        // A zero interval means the agent keeps its own metrics to itself.
        self.next_metrics = target
            .as_ref()
            .filter(|_| !interval.is_zero())
            .map(|_| Instant::now() + first);
        self.metrics_target = target;
    }

    fn wake(&mut self) -> impl Future<Output = SimWake> + Send {
        let apply = self.pending.as_ref().map(|p| p.due);
        let metrics = self.next_metrics;
        async move {
            let far = || Instant::now() + Duration::from_secs(86_400 * 365);
            tokio::select! {
                _ = sleep_until(apply.unwrap_or_else(far)), if apply.is_some() => SimWake::Apply,
                _ = sleep_until(metrics.unwrap_or_else(far)), if metrics.is_some() => SimWake::Metrics,
                else => std::future::pending().await,
            }
        }
    }

    async fn on_wake(&mut self, core: &mut ClientCore, wake: SimWake) {
        match wake {
            SimWake::Apply => self.finish_apply(core),
            // Boxed: the HTTP request's future is the largest thing an agent would
            // otherwise carry in its task all the time, for a push every few seconds.
            SimWake::Metrics => Box::pin(self.push_metrics(core.uid())).await,
        }
    }

    /// A restart command: the simulated process goes away with its connection and
    /// comes back with a new start time and fresh counters.
    async fn restart(&mut self, _core: &mut ClientCore) -> Restarted {
        self.started_ns = unix_nanos();
        self.status_since_ns = self.started_ns;
        self.telemetry = OwnTelemetry::new(self.rng.random(), self.started_ns);
        Restarted::Reconnect(self.shared.timing.restart_delay)
    }
}

impl Managed for SimAgent {
    fn capabilities(&self) -> u64 {
        if self.shared.accept_credentials {
            CAPABILITIES | Capabilities::REPORTS_CONNECTION_SETTINGS_STATUS
        } else {
            CAPABILITIES
        }
    }

    fn description(&self, uid: AgentId) -> proto::AgentDescription {
        let id = &self.identity;
        let mut non_identifying = vec![
            kv("host.name", &id.host_name),
            kv("os.type", id.os_type),
            kv("os.description", id.os_description),
            kv("host.arch", id.arch),
        ];
        non_identifying.extend(id.labels().iter().map(|(k, v)| kv(k, v)));
        proto::AgentDescription {
            identifying_attributes: vec![
                kv("service.name", SERVICE_NAME),
                kv("service.version", id.version),
                kv("service.instance.id", &uid.to_string()),
            ],
            non_identifying_attributes: non_identifying,
        }
    }

    /// Health keyed the way the Collector reports it: `pipeline:<id>` with its
    /// `receiver:`/`processor:`/`exporter:` children, and `extensions`.
    fn health(&self) -> proto::ComponentHealth {
        let ok = |children: HashMap<String, proto::ComponentHealth>| proto::ComponentHealth {
            healthy: true,
            start_time_unix_nano: self.started_ns,
            status: STATUS_OK.to_string(),
            status_time_unix_nano: self.status_since_ns,
            component_health_map: children,
            ..Default::default()
        };
        let config = &self.effective.config;
        let mut top: HashMap<String, proto::ComponentHealth> = config
            .pipelines
            .iter()
            .map(|p| {
                let children = p
                    .receivers
                    .iter()
                    .map(|r| format!("receiver:{r}"))
                    .chain(p.processors.iter().map(|r| format!("processor:{r}")))
                    .chain(p.exporters.iter().map(|r| format!("exporter:{r}")))
                    .map(|key| (key, ok(HashMap::new())))
                    .collect();
                (format!("pipeline:{}", p.id), ok(children))
            })
            .collect();
        if !config.extensions.is_empty() {
            let children = config
                .extensions
                .iter()
                .map(|e| (format!("extension:{e}"), ok(HashMap::new())))
                .collect();
            top.insert("extensions".to_string(), ok(children));
        }
        ok(top)
    }

    fn effective_config(&self) -> proto::EffectiveConfig {
        let file = proto::AgentConfigFile {
            body: self.effective.body.clone(),
            content_type: "text/yaml".to_string(),
        };
        proto::EffectiveConfig {
            config_map: Some(proto::AgentConfigMap {
                config_map: HashMap::from([(String::new(), file)]),
            }),
        }
    }
}

/// The configuration a simulated Collector starts with, by tier: what the image ships.
pub fn bootstrap_yaml(tier: &str) -> String {
    let traces = matches!(tier, "web" | "api" | "edge");
    let logs = !matches!(tier, "batch");
    let mut out = String::from(
        "receivers:\n  hostmetrics:\n    collection_interval: 30s\n    scrapers: {cpu: {}, memory: {}, disk: {}, network: {}}\n  otlp:\n    protocols: {grpc: {endpoint: 0.0.0.0:4317}, http: {endpoint: 0.0.0.0:4318}}\n",
    );
    if logs {
        out.push_str("  filelog:\n    include: [/var/log/app/*.log]\n");
    }
    out.push_str(
        "processors:\n  memory_limiter: {check_interval: 1s, limit_percentage: 80}\n  batch: {}\n\
         exporters:\n  otlp: {endpoint: gateway.internal:4317}\n\
         extensions:\n  health_check: {}\n\
         service:\n  extensions: [health_check]\n  pipelines:\n    metrics:\n      receivers: [hostmetrics, otlp]\n      processors: [memory_limiter, batch]\n      exporters: [otlp]\n",
    );
    if traces {
        out.push_str("    traces:\n      receivers: [otlp]\n      processors: [memory_limiter, batch]\n      exporters: [otlp]\n");
    }
    if logs {
        out.push_str("    logs:\n      receivers: [filelog, otlp]\n      processors: [memory_limiter, batch]\n      exporters: [otlp]\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::collector::Signal;

    fn agent(rejects: bool) -> (ClientCore, SimAgent) {
        let shared = Arc::new(SimShared {
            timing: SimTiming {
                apply_delay: Duration::from_millis(1),
                restart_delay: Duration::from_millis(1),
                metrics_interval: Duration::from_secs(10),
            },
            cache: ConfigCache::default(),
            stats: Arc::default(),
            metrics_client: reqwest::Client::new(),
            accept_credentials: false,
        });
        let mut identity = Identity::derive(1, 3, 0.0);
        identity.rejects_configs = rejects;
        let boot = shared
            .cache
            .check(bootstrap_yaml("web").as_bytes())
            .expect("bootstrap");
        let core = ClientCore::new(identity.uid, Duration::from_secs(30));
        (core, SimAgent::new(Arc::new(identity), boot, shared))
    }

    fn remote(body: &str, hash: u8) -> proto::ServerToAgent {
        crate::client::core::remote_config_message(body.as_bytes(), hash)
    }

    /// What the session does with a server message: hand a new offer to the driver.
    fn deliver(core: &mut ClientCore, a: &mut SimAgent, msg: proto::ServerToAgent) -> bool {
        match core.on_message(msg).offer {
            Some(offer) => {
                a.offer(core, offer);
                true
            }
            None => false,
        }
    }

    async fn finish(core: &mut ClientCore, a: &mut SimAgent) {
        let wake = a.wake().await;
        assert_eq!(wake, SimWake::Apply);
        a.on_wake(core, wake).await;
    }

    const LOGS_ONLY: &str = "receivers: {filelog: {include: [/x]}}\nexporters: {debug: {}}\nservice:\n  pipelines:\n    logs: {receivers: [filelog], exporters: [debug]}\n";

    fn attr<'a>(attrs: &'a [proto::KeyValue], key: &str) -> Option<&'a str> {
        attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                proto::any_value::Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            }
        })
    }

    #[test]
    fn first_message_is_full_then_compressed() {
        let (mut core, a) = agent(false);
        let first = core.next_message(&a);
        assert_eq!(first.sequence_num, 0);
        assert_eq!(first.capabilities, CAPABILITIES);
        let desc = first.agent_description.expect("description");
        assert_eq!(
            attr(&desc.identifying_attributes, "service.name"),
            Some("otelcol-contrib")
        );
        assert_eq!(
            attr(&desc.identifying_attributes, "service.instance.id"),
            Some(core.uid().to_string().as_str())
        );
        assert!(attr(&desc.non_identifying_attributes, "region").is_some());
        let health = first.health.expect("health");
        assert!(health.component_health_map.contains_key("pipeline:traces"));
        assert!(
            health.component_health_map["pipeline:metrics"]
                .component_health_map
                .contains_key("receiver:hostmetrics")
        );
        assert!(first.effective_config.is_some());
        // the simulated Collector does not say what it is built with
        assert!(first.available_components.is_none());
        let second = core.next_message(&a);
        assert_eq!(second.sequence_num, 1);
        assert!(second.agent_description.is_none() && second.health.is_none());
    }

    #[tokio::test]
    async fn applies_a_valid_config_once() {
        let (mut core, mut a) = agent(false);
        core.next_message(&a);
        assert!(deliver(&mut core, &mut a, remote(LOGS_ONLY, 7)));
        let applying = core.next_message(&a).remote_config_status.expect("status");
        assert_eq!(
            applying.status,
            proto::RemoteConfigStatuses::Applying as i32
        );
        finish(&mut core, &mut a).await;
        let applied = core.next_message(&a);
        let status = applied.remote_config_status.expect("status");
        assert_eq!(status.status, proto::RemoteConfigStatuses::Applied as i32);
        assert_eq!(status.last_remote_config_hash, vec![7; 32]);
        assert!(
            applied
                .health
                .expect("health")
                .component_health_map
                .contains_key("pipeline:logs")
        );
        assert!(a.effective().config.carries(Signal::Logs));
        assert!(!a.effective().config.carries(Signal::Metrics));
        // the same hash again is not applied a second time
        assert!(!deliver(&mut core, &mut a, remote(LOGS_ONLY, 7)));
    }

    #[tokio::test]
    async fn undefined_component_fails_and_keeps_old_config() {
        let (mut core, mut a) = agent(false);
        let bad = LOGS_ONLY.replace("exporters: [debug]", "exporters: [otlp/nowhere]");
        assert!(deliver(&mut core, &mut a, remote(&bad, 9)));
        finish(&mut core, &mut a).await;
        let status = core.next_message(&a).remote_config_status.expect("status");
        assert_eq!(status.status, proto::RemoteConfigStatuses::Failed as i32);
        assert!(
            status.error_message.contains("\"otlp/nowhere\""),
            "{}",
            status.error_message
        );
        assert!(a.effective().config.carries(Signal::Traces));
    }

    #[tokio::test]
    async fn rejecting_agent_fails_valid_configs() {
        let (mut core, mut a) = agent(true);
        assert!(deliver(&mut core, &mut a, remote(LOGS_ONLY, 1)));
        finish(&mut core, &mut a).await;
        assert_eq!(core.remote().map(|r| r.status), Some(RemoteStatus::Failed));
    }

    #[tokio::test]
    async fn a_newer_config_supersedes_one_being_applied() {
        let (mut core, mut a) = agent(false);
        assert!(deliver(&mut core, &mut a, remote(LOGS_ONLY, 1)));
        assert!(deliver(&mut core, &mut a, remote(LOGS_ONLY, 2)));
        finish(&mut core, &mut a).await;
        let remote = core.remote().expect("status");
        assert_eq!(
            (remote.hash.clone(), remote.status),
            (vec![2; 32], RemoteStatus::Applied)
        );
        assert!(a.pending.is_none());
    }

    #[tokio::test]
    async fn restart_command_and_offers() {
        let (mut core, mut a) = agent(false);
        let before = a.started_ns();
        std::thread::sleep(Duration::from_millis(2));
        let restarted = a.restart(&mut core).await;
        assert_eq!(restarted, Restarted::Reconnect(Duration::from_millis(1)));
        assert!(a.started_ns() > before);

        let r = core.on_message(proto::ServerToAgent {
            connection_settings: Some(proto::ConnectionSettingsOffers {
                opamp: Some(proto::OpAmpConnectionSettings {
                    heartbeat_interval_seconds: 5,
                    ..Default::default()
                }),
                own_metrics: Some(proto::TelemetryConnectionSettings {
                    destination_endpoint: "http://127.0.0.1:4320/v1/metrics".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(core.heartbeat(), Duration::from_secs(5));
        a.metrics_target(r.metrics_target.flatten());
        assert_eq!(
            a.metrics_target.as_ref().map(|t| t.endpoint.as_str()),
            Some("http://127.0.0.1:4320/v1/metrics")
        );
        assert!(a.next_metrics.is_some());
    }
}
