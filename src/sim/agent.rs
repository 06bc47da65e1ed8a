//! One simulated agent's OpAMP state, independent of the transport: what it reports,
//! what it has applied, and how it reacts to each `ServerToAgent`. The session loops in
//! `session.rs` move these messages over real sockets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::collector::{self, CollectorConfig};
use super::identity::{Identity, SERVICE_NAME};
use crate::fleet::agent::{AgentId, Capabilities};
use crate::opamp::proto;

/// What the opampsupervisor announces for a Collector it manages.
pub const CAPABILITIES: u64 = Capabilities::REPORTS_STATUS
    | Capabilities::ACCEPTS_REMOTE_CONFIG
    | Capabilities::REPORTS_EFFECTIVE_CONFIG
    | Capabilities::REPORTS_OWN_METRICS
    | Capabilities::REPORTS_HEALTH
    | Capabilities::REPORTS_REMOTE_CONFIG
    | Capabilities::REPORTS_HEARTBEAT
    | Capabilities::ACCEPTS_RESTART_COMMAND
    | Capabilities::ACCEPTS_OPAMP_CONNECTION_SETTINGS;

/// The file name our server (and BindPlane) use in `AgentConfigMap`.
pub const CONFIG_FILE: &str = "collector.yaml";

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

/// Where the server wants the agent's own metrics (OTLP/HTTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsTarget {
    pub endpoint: String,
    pub headers: Vec<(String, String)>,
}

/// A configuration received and checked; it takes effect when the simulated
/// restart of the Collector is over.
#[derive(Debug)]
pub struct PendingApply {
    pub hash: Vec<u8>,
    pub outcome: Result<Arc<Effective>, String>,
}

/// What the transport loop must do after a message from the server.
#[derive(Debug, Default)]
pub struct Reaction {
    /// Send a status message now (something changed or full state was asked for).
    pub reply: bool,
    pub apply: Option<PendingApply>,
    /// Restart command: disconnect and come back as a new process.
    pub restart: bool,
    /// Server is unavailable: disconnect and wait (`None`: use our own backoff).
    pub unavailable: Option<Option<Duration>>,
    /// The server refused one of our messages (no retry).
    pub bad_request: Option<String>,
    /// Own-metrics destination offered (Some(None): offer withdrawn).
    pub metrics_target: Option<Option<MetricsTarget>>,
}

/// How an apply ended, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyResult {
    Applied,
    Failed,
    Superseded,
}

/// Which parts of the status the server has not seen yet (status compression).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Unreported {
    description: bool,
    health: bool,
    effective: bool,
    remote_status: bool,
}

impl Unreported {
    const ALL: Unreported = Unreported {
        description: true,
        health: true,
        effective: true,
        remote_status: true,
    };
}

#[derive(Debug, Clone)]
struct RemoteState {
    hash: Vec<u8>,
    status: proto::RemoteConfigStatuses,
    error: String,
}

/// The OpAMP-visible state of one simulated Collector plus its supervisor.
#[derive(Debug)]
pub struct AgentCore {
    pub identity: Arc<Identity>,
    uid: AgentId,
    seq: u64,
    started_ns: u64,
    status_since_ns: u64,
    effective: Arc<Effective>,
    /// The configuration the agent starts with before any remote one.
    bootstrap: Arc<Effective>,
    remote: Option<RemoteState>,
    unreported: Unreported,
    heartbeat: Duration,
}

impl AgentCore {
    pub fn new(identity: Arc<Identity>, bootstrap: Arc<Effective>, heartbeat: Duration) -> Self {
        let now = unix_nanos();
        AgentCore {
            uid: identity.uid,
            identity,
            seq: 0,
            started_ns: now,
            status_since_ns: now,
            effective: bootstrap.clone(),
            bootstrap,
            remote: None,
            unreported: Unreported::ALL,
            heartbeat,
        }
    }

    pub fn uid(&self) -> AgentId {
        self.uid
    }

    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    pub fn effective(&self) -> &Arc<Effective> {
        &self.effective
    }

    pub fn started_ns(&self) -> u64 {
        self.started_ns
    }

    /// A new connection: the server may not know us, so everything goes in the first message.
    pub fn on_connect(&mut self) {
        self.unreported = Unreported::ALL;
    }

    /// The restart command was carried out: a new process with a new start time and
    /// sequence numbers from 0. The applied configuration survives (it is on disk).
    pub fn restarted(&mut self) {
        self.seq = 0;
        self.started_ns = unix_nanos();
        self.status_since_ns = self.started_ns;
        self.unreported = Unreported::ALL;
    }

    /// The next AgentToServer: always uid, sequence number and capabilities, plus the
    /// parts the server has not seen.
    pub fn next_message(&mut self) -> proto::AgentToServer {
        let todo = std::mem::take(&mut self.unreported);
        let mut msg = self.bare_message();
        if todo.description {
            msg.agent_description = Some(self.description());
        }
        if todo.health {
            msg.health = Some(self.health());
        }
        if todo.effective {
            msg.effective_config = Some(self.effective_config());
        }
        if todo.remote_status {
            msg.remote_config_status = self.remote.as_ref().map(|r| proto::RemoteConfigStatus {
                last_remote_config_hash: r.hash.clone(),
                status: r.status as i32,
                error_message: r.error.clone(),
            });
        }
        msg
    }

    /// The last message of a connection or process.
    pub fn disconnect_message(&mut self) -> proto::AgentToServer {
        let mut msg = self.bare_message();
        msg.agent_disconnect = Some(proto::AgentDisconnect {});
        msg
    }

    fn bare_message(&mut self) -> proto::AgentToServer {
        let msg = proto::AgentToServer {
            instance_uid: self.uid.0.to_vec(),
            sequence_num: self.seq,
            capabilities: CAPABILITIES,
            ..Default::default()
        };
        self.seq += 1;
        msg
    }

    /// Reacts to one message from the server.
    pub fn on_message(&mut self, msg: proto::ServerToAgent, cache: &ConfigCache) -> Reaction {
        let mut reaction = Reaction::default();
        if !msg.instance_uid.is_empty() && msg.instance_uid != self.uid.0 {
            // Addressed to another agent (a multiplexing proxy would route it); not ours.
            return reaction;
        }
        if let Some(err) = msg.error_response {
            return error_reaction(err);
        }
        if let Some(cmd) = msg.command {
            // A command comes alone; the rest of the message is ignored, as opamp-go does.
            reaction.restart = cmd.r#type == proto::CommandType::Restart as i32;
            return reaction;
        }
        if msg.flags & proto::ServerToAgentFlags::ReportFullState as u64 != 0 {
            self.unreported = Unreported::ALL;
            reaction.reply = true;
        }
        if let Some(new_uid) = msg
            .agent_identification
            .and_then(|a| <[u8; 16]>::try_from(a.new_instance_uid.as_slice()).ok())
        {
            self.uid = AgentId(new_uid);
            self.unreported.description = true;
            reaction.reply = true;
        }
        if let Some(offers) = msg.connection_settings {
            self.take_offers(offers, &mut reaction);
        }
        if let Some(remote) = msg.remote_config {
            reaction.apply = self.begin_apply(remote, cache);
            reaction.reply |= reaction.apply.is_some();
        }
        reaction
    }

    fn take_offers(&mut self, offers: proto::ConnectionSettingsOffers, reaction: &mut Reaction) {
        if let Some(secs) = offers
            .opamp
            .as_ref()
            .map(|o| o.heartbeat_interval_seconds)
            .filter(|s| *s > 0)
        {
            self.heartbeat = Duration::from_secs(secs);
        }
        reaction.metrics_target = Some(
            offers
                .own_metrics
                .filter(|m| !m.destination_endpoint.is_empty())
                .map(|m| MetricsTarget {
                    endpoint: m.destination_endpoint,
                    headers: m
                        .headers
                        .map(|h| h.headers.into_iter().map(|h| (h.key, h.value)).collect())
                        .unwrap_or_default(),
                }),
        );
    }

    /// Starts applying a remote configuration unless it is the one we already have
    /// (applied, failed or in progress): the same hash is never applied twice.
    fn begin_apply(
        &mut self,
        remote: proto::AgentRemoteConfig,
        cache: &ConfigCache,
    ) -> Option<PendingApply> {
        if remote.config_hash.is_empty()
            || self
                .remote
                .as_ref()
                .is_some_and(|r| r.hash == remote.config_hash)
        {
            return None;
        }
        let outcome = if self.identity.rejects_configs {
            Err(format!(
                "this simulated agent rejects every configuration (--fail-rate); \
                 collector.yaml was not applied, host {}",
                self.identity.host_name
            ))
        } else {
            self.config_from(remote.config.unwrap_or_default(), cache)
        };
        self.remote = Some(RemoteState {
            hash: remote.config_hash.clone(),
            status: proto::RemoteConfigStatuses::Applying,
            error: String::new(),
        });
        self.unreported.remote_status = true;
        Some(PendingApply {
            hash: remote.config_hash,
            outcome,
        })
    }

    fn config_from(
        &self,
        map: proto::AgentConfigMap,
        cache: &ConfigCache,
    ) -> Result<Arc<Effective>, String> {
        let mut files = map.config_map;
        if files.is_empty() {
            // An empty remote configuration means "run your own one" to the supervisor.
            return Ok(self.bootstrap.clone());
        }
        let file = files
            .remove(CONFIG_FILE)
            .or_else(|| files.remove(""))
            .ok_or_else(|| {
                let mut names: Vec<_> = files.keys().cloned().collect();
                names.sort();
                format!(
                    "remote configuration has no {CONFIG_FILE} entry (it has: {})",
                    names.join(", ")
                )
            })?;
        cache.check(&file.body)
    }

    /// The simulated Collector restart after a configuration is over.
    pub fn finish_apply(&mut self, pending: PendingApply) -> ApplyResult {
        let Some(remote) = self.remote.as_mut().filter(|r| r.hash == pending.hash) else {
            return ApplyResult::Superseded;
        };
        self.unreported.remote_status = true;
        match pending.outcome {
            Ok(effective) => {
                remote.status = proto::RemoteConfigStatuses::Applied;
                remote.error.clear();
                self.effective = effective;
                self.status_since_ns = unix_nanos();
                self.unreported.effective = true;
                self.unreported.health = true;
                ApplyResult::Applied
            }
            Err(reason) => {
                remote.status = proto::RemoteConfigStatuses::Failed;
                remote.error = reason;
                ApplyResult::Failed
            }
        }
    }

    fn description(&self) -> proto::AgentDescription {
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
                kv("service.instance.id", &self.uid.to_string()),
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

fn error_reaction(err: proto::ServerErrorResponse) -> Reaction {
    let mut reaction = Reaction::default();
    match proto::ServerErrorResponseType::try_from(err.r#type) {
        Ok(proto::ServerErrorResponseType::Unavailable) => {
            let wait = err.details.map(|d| match d {
                proto::server_error_response::Details::RetryInfo(info) => {
                    Duration::from_nanos(info.retry_after_nanoseconds)
                }
            });
            reaction.unavailable = Some(wait);
        }
        _ => reaction.bad_request = Some(err.error_message),
    }
    reaction
}

fn kv(key: &str, value: &str) -> proto::KeyValue {
    proto::KeyValue {
        key: key.to_string(),
        value: Some(proto::AnyValue {
            value: Some(proto::any_value::Value::StringValue(value.to_string())),
        }),
    }
}

pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
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

    fn agent(rejects: bool) -> (AgentCore, ConfigCache) {
        let cache = ConfigCache::default();
        let mut identity = Identity::derive(1, 3, 0.0);
        identity.rejects_configs = rejects;
        let boot = cache
            .check(bootstrap_yaml("web").as_bytes())
            .expect("bootstrap");
        (
            AgentCore::new(Arc::new(identity), boot, Duration::from_secs(30)),
            cache,
        )
    }

    fn remote(body: &str, hash: u8) -> proto::ServerToAgent {
        proto::ServerToAgent {
            remote_config: Some(proto::AgentRemoteConfig {
                config: Some(proto::AgentConfigMap {
                    config_map: HashMap::from([(
                        CONFIG_FILE.to_string(),
                        proto::AgentConfigFile {
                            body: body.as_bytes().to_vec(),
                            content_type: "text/yaml".into(),
                        },
                    )]),
                }),
                config_hash: vec![hash; 32],
            }),
            ..Default::default()
        }
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
        let (mut a, _) = agent(false);
        let first = a.next_message();
        assert_eq!(first.sequence_num, 0);
        assert_eq!(first.capabilities, CAPABILITIES);
        let desc = first.agent_description.expect("description");
        assert_eq!(
            attr(&desc.identifying_attributes, "service.name"),
            Some("otelcol-contrib")
        );
        assert_eq!(
            attr(&desc.identifying_attributes, "service.instance.id"),
            Some(a.uid().to_string().as_str())
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
        let second = a.next_message();
        assert_eq!(second.sequence_num, 1);
        assert!(second.agent_description.is_none() && second.health.is_none());
    }

    #[test]
    fn full_state_flag_resends_everything() {
        let (mut a, cache) = agent(false);
        a.next_message();
        let r = a.on_message(
            proto::ServerToAgent {
                flags: proto::ServerToAgentFlags::ReportFullState as u64,
                ..Default::default()
            },
            &cache,
        );
        assert!(r.reply);
        assert!(a.next_message().agent_description.is_some());
    }

    #[test]
    fn applies_a_valid_config_once() {
        let (mut a, cache) = agent(false);
        a.next_message();
        let r = a.on_message(remote(LOGS_ONLY, 7), &cache);
        let applying = a.next_message().remote_config_status.expect("status");
        assert_eq!(
            applying.status,
            proto::RemoteConfigStatuses::Applying as i32
        );
        assert_eq!(
            a.finish_apply(r.apply.expect("apply")),
            ApplyResult::Applied
        );
        let applied = a.next_message();
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
        assert!(a.on_message(remote(LOGS_ONLY, 7), &cache).apply.is_none());
    }

    #[test]
    fn undefined_component_fails_and_keeps_old_config() {
        let (mut a, cache) = agent(false);
        let bad = LOGS_ONLY.replace("exporters: [debug]", "exporters: [otlp/nowhere]");
        let r = a.on_message(remote(&bad, 9), &cache);
        assert_eq!(a.finish_apply(r.apply.expect("apply")), ApplyResult::Failed);
        let status = a.next_message().remote_config_status.expect("status");
        assert_eq!(status.status, proto::RemoteConfigStatuses::Failed as i32);
        assert!(
            status.error_message.contains("\"otlp/nowhere\""),
            "{}",
            status.error_message
        );
        assert!(a.effective().config.carries(Signal::Traces));
    }

    #[test]
    fn rejecting_agent_fails_valid_configs() {
        let (mut a, cache) = agent(true);
        let r = a.on_message(remote(LOGS_ONLY, 1), &cache);
        assert_eq!(a.finish_apply(r.apply.expect("apply")), ApplyResult::Failed);
    }

    #[test]
    fn a_newer_config_supersedes_one_being_applied() {
        let (mut a, cache) = agent(false);
        let first = a
            .on_message(remote(LOGS_ONLY, 1), &cache)
            .apply
            .expect("first");
        let second = a
            .on_message(remote(LOGS_ONLY, 2), &cache)
            .apply
            .expect("second");
        assert_eq!(a.finish_apply(first), ApplyResult::Superseded);
        assert_eq!(a.finish_apply(second), ApplyResult::Applied);
    }

    #[test]
    fn restart_command_and_offers() {
        let (mut a, cache) = agent(false);
        let r = a.on_message(
            proto::ServerToAgent {
                command: Some(proto::ServerToAgentCommand { r#type: 0 }),
                ..Default::default()
            },
            &cache,
        );
        assert!(r.restart);
        a.next_message();
        let before = a.started_ns();
        std::thread::sleep(Duration::from_millis(2));
        a.restarted();
        assert!(a.started_ns() > before);
        assert_eq!(a.next_message().sequence_num, 0);

        let r = a.on_message(
            proto::ServerToAgent {
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
            },
            &cache,
        );
        assert_eq!(a.heartbeat(), Duration::from_secs(5));
        assert_eq!(
            r.metrics_target.flatten().map(|t| t.endpoint).as_deref(),
            Some("http://127.0.0.1:4320/v1/metrics")
        );
    }

    #[test]
    fn unavailable_carries_retry_info() {
        let (mut a, cache) = agent(false);
        let r = a.on_message(
            proto::ServerToAgent {
                error_response: Some(proto::ServerErrorResponse {
                    r#type: proto::ServerErrorResponseType::Unavailable as i32,
                    error_message: "busy".into(),
                    details: Some(proto::server_error_response::Details::RetryInfo(
                        proto::RetryInfo {
                            retry_after_nanoseconds: 2_000_000_000,
                        },
                    )),
                }),
                ..Default::default()
            },
            &cache,
        );
        assert_eq!(r.unavailable, Some(Some(Duration::from_secs(2))));
    }
}
