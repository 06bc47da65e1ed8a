//! The agent side of OpAMP without a transport: sequence numbers, status compression,
//! the remote configuration status, and how each `ServerToAgent` is read. What the
//! agent manages (a simulated Collector, a real process) reports itself through
//! [`Managed`]; this module only decides when each part goes out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fleet::agent::{AgentId, Capabilities};
use crate::fleet::hex_bytes;
use crate::opamp::proto;

/// The file name our server (and BindPlane) use in `AgentConfigMap`.
pub const CONFIG_FILE: &str = "collector.yaml";

/// What every Collector managed through this client does: status, remote configuration
/// (accepted and reported), effective config, health, heartbeats, own metrics and the
/// restart command. Drivers add what they do beyond it.
pub const COLLECTOR_CAPABILITIES: u64 = Capabilities::REPORTS_STATUS
    | Capabilities::ACCEPTS_REMOTE_CONFIG
    | Capabilities::REPORTS_EFFECTIVE_CONFIG
    | Capabilities::REPORTS_OWN_METRICS
    | Capabilities::REPORTS_HEALTH
    | Capabilities::REPORTS_REMOTE_CONFIG
    | Capabilities::REPORTS_HEARTBEAT
    | Capabilities::ACCEPTS_RESTART_COMMAND;

/// What the thing an agent manages says about itself. Called when a part is due in a
/// message, so implementations build the protobuf on demand instead of keeping one.
pub trait Managed {
    fn capabilities(&self) -> u64;
    fn description(&self, uid: AgentId) -> proto::AgentDescription;
    fn health(&self) -> proto::ComponentHealth;
    fn effective_config(&self) -> proto::EffectiveConfig;
    /// `None` for agents that do not report what they are built with.
    fn available_components(&self) -> Option<proto::AvailableComponents> {
        None
    }
    /// Custom capabilities to declare with the description (e.g. wanting signatures).
    fn custom_capabilities(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Where the server wants the agent's own metrics (OTLP/HTTP).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MetricsTarget {
    pub endpoint: String,
    pub headers: Vec<(String, String)>,
}

/// The remote configuration status the agent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RemoteStatus {
    Applying,
    Applied,
    Failed,
}

impl RemoteStatus {
    fn proto(self) -> proto::RemoteConfigStatuses {
        match self {
            RemoteStatus::Applying => proto::RemoteConfigStatuses::Applying,
            RemoteStatus::Applied => proto::RemoteConfigStatuses::Applied,
            RemoteStatus::Failed => proto::RemoteConfigStatuses::Failed,
        }
    }
}

/// The last remote configuration the agent heard of and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoteState {
    #[serde(with = "hex_bytes")]
    pub hash: Vec<u8>,
    pub status: RemoteStatus,
    pub error: String,
}

/// A remote configuration the agent has not seen before.
#[derive(Debug)]
pub struct RemoteOffer {
    pub hash: Vec<u8>,
    pub files: proto::AgentConfigMap,
    /// The server's signature of `hash`, when it sent one beside it.
    pub signature: Option<crate::signing::ConfigSignature>,
}

impl RemoteOffer {
    /// The Collector configuration in the offer: `collector.yaml`, or the one unnamed
    /// file. `Ok(None)` is an empty map, which means "run your own configuration".
    pub fn collector_yaml(&mut self) -> Result<Option<Vec<u8>>, String> {
        let files = &mut self.files.config_map;
        if files.is_empty() {
            return Ok(None);
        }
        if let Some(file) = files.remove(CONFIG_FILE).or_else(|| files.remove("")) {
            return Ok(Some(file.body));
        }
        let mut names: Vec<_> = files.keys().cloned().collect();
        names.sort();
        Err(format!(
            "remote configuration has no {CONFIG_FILE} entry (it has: {})",
            names.join(", ")
        ))
    }
}

/// What the transport loop must do after a message from the server.
#[derive(Debug, Default)]
pub struct Reaction {
    /// Send a status message now (something changed or full state was asked for).
    pub reply: bool,
    /// A configuration with a hash the agent has not seen.
    pub offer: Option<RemoteOffer>,
    /// Restart command.
    pub restart: bool,
    /// Server is unavailable: disconnect and wait (`None`: use our own backoff).
    pub unavailable: Option<Option<Duration>>,
    /// The server refused one of our messages (no retry).
    pub bad_request: Option<String>,
    /// Own-metrics destination offered (Some(None): offer withdrawn).
    pub metrics_target: Option<Option<MetricsTarget>>,
    /// The server gave the agent a new instance uid.
    pub new_uid: Option<AgentId>,
    /// The server asks for the newest items a pipeline handles (`io.fleetdeck.tap`), or sent
    /// a request that could not be read (the reason, with the id if it was found).
    pub tap: Option<Result<crate::fleet::tap::TapRequest, (u64, String)>>,
    /// The server offered a credential of the agent's own (in the OpAMP connection
    /// settings' `Authorization` header); taken by [`ClientCore::try_credential`].
    pub credential: Option<OfferedCredential>,
}

/// A credential the server offered, with the hash of the offer it came in.
#[derive(Clone, PartialEq, Eq)]
pub struct OfferedCredential {
    pub credential: String,
    pub offer_hash: Vec<u8>,
}

impl std::fmt::Debug for OfferedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfferedCredential")
            .field("credential", &"<redacted>")
            .field("offer_hash", &hex::encode(&self.offer_hash))
            .finish()
    }
}

/// What the agent connects with, besides the link's secret: its own credential, and one
/// being tried.
#[derive(Clone, Default, PartialEq, Eq)]
struct Credentials {
    /// The agent's own credential, once it has one (`None`: the link's fleet secret).
    current: Option<String>,
    /// Offered by the server and tried on the next connection; `current` if it fails.
    candidate: Option<OfferedCredential>,
    /// What the agent last said about the connection settings offered.
    status: Option<proto::ConnectionSettingsStatus>,
    /// `status` goes in the next message.
    unreported: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("current", &self.current.as_ref().map(|_| "<redacted>"))
            .field("candidate", &self.candidate)
            .finish_non_exhaustive()
    }
}

/// What became of the credential a connection was tried with: the driver keeps the one
/// to use from now on (`None`: the fleet secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseCredential(pub Option<String>);

/// Which parts of the status the server has not seen yet (status compression).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    pub description: bool,
    pub health: bool,
    pub effective: bool,
    pub remote_status: bool,
    pub components: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        description: true,
        health: true,
        effective: true,
        remote_status: true,
        components: true,
    };
}

/// The protocol state of one agent.
#[derive(Debug)]
pub struct ClientCore {
    uid: AgentId,
    seq: u64,
    remote: Option<RemoteState>,
    unreported: Parts,
    heartbeat: Duration,
    /// A custom message for the next AgentToServer (a tap's answer).
    custom_out: Option<proto::CustomMessage>,
    credentials: Credentials,
}

impl ClientCore {
    pub fn new(uid: AgentId, heartbeat: Duration) -> Self {
        ClientCore {
            uid,
            seq: 0,
            remote: None,
            unreported: Parts::ALL,
            heartbeat,
            custom_out: None,
            credentials: Credentials::default(),
        }
    }

    /// Starts with a credential of the agent's own (kept across restarts).
    pub fn with_credential(mut self, credential: Option<String>) -> Self {
        self.credentials.current = credential;
        self
    }

    /// The `Authorization` value to connect with: the credential being tried, the
    /// agent's own, or `None` for the link's fleet secret.
    pub fn authorization(&self) -> Option<String> {
        let c = &self.credentials;
        c.candidate
            .as_ref()
            .map(|o| o.credential.as_str())
            .or(c.current.as_deref())
            .map(|c| format!("Bearer {c}"))
    }

    /// Takes an offered credential: tried from the next connection on. Returns false when
    /// it is the one already in use or being tried (nothing to do).
    pub fn try_credential(&mut self, offer: OfferedCredential) -> bool {
        let c = &mut self.credentials;
        if c.current.as_deref() == Some(offer.credential.as_str())
            || c.candidate.as_ref() == Some(&offer)
        {
            return false;
        }
        c.status = Some(proto::ConnectionSettingsStatus {
            last_connection_settings_hash: offer.offer_hash.clone(),
            status: proto::ConnectionSettingsStatuses::Applying as i32,
            error_message: String::new(),
        });
        c.candidate = Some(offer);
        true
    }

    /// The server accepted the connection: a credential being tried is the agent's own
    /// from now on (reported APPLIED).
    pub fn connection_accepted(&mut self) -> Option<UseCredential> {
        let c = &mut self.credentials;
        let offer = c.candidate.take()?;
        c.current = Some(offer.credential);
        c.status = Some(proto::ConnectionSettingsStatus {
            last_connection_settings_hash: offer.offer_hash,
            status: proto::ConnectionSettingsStatuses::Applied as i32,
            error_message: String::new(),
        });
        c.unreported = true;
        Some(UseCredential(c.current.clone()))
    }

    /// The server refused the connection with HTTP `status`. A credential being tried
    /// is dropped (reported FAILED with the next message); the agent's own, refused as
    /// unknown (401: the server forgot it, or lifted a revocation), gives way to the fleet
    /// secret, so the agent can enroll again.
    pub fn connection_refused(&mut self, status: u16) -> Option<UseCredential> {
        let c = &mut self.credentials;
        if let Some(offer) = c.candidate.take() {
            c.status = Some(proto::ConnectionSettingsStatus {
                last_connection_settings_hash: offer.offer_hash,
                status: proto::ConnectionSettingsStatuses::Failed as i32,
                error_message: format!("the server refused the new credential (HTTP {status})"),
            });
            c.unreported = true;
            return Some(UseCredential(c.current.clone()));
        }
        if status == 401 && c.current.is_some() {
            c.current = None;
            return Some(UseCredential(None));
        }
        None
    }

    /// Sends `answer` with the next message (a newer one replaces one not sent yet).
    pub fn answer_tap(&mut self, answer: &crate::fleet::tap::TapAnswer) {
        use crate::fleet::tap;
        self.custom_out = Some(proto::CustomMessage {
            capability: tap::CAPABILITY.to_string(),
            r#type: tap::ANSWER_TYPE.to_string(),
            data: serde_json::to_vec(answer).unwrap_or_default(),
        });
    }

    /// Starts from a remote status kept across restarts, so a configuration that was
    /// applied (or failed) is neither applied again nor reported as unknown.
    pub fn with_remote(mut self, remote: Option<RemoteState>) -> Self {
        self.remote = remote;
        self
    }

    pub fn uid(&self) -> AgentId {
        self.uid
    }

    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    pub fn remote(&self) -> Option<&RemoteState> {
        self.remote.as_ref()
    }

    /// A new connection: the server may not know us, so everything goes in the first message.
    pub fn on_connect(&mut self) {
        self.unreported = Parts::ALL;
        self.credentials.unreported |= self.credentials.status.is_some();
    }

    /// The process restarted: sequence numbers from 0 and a full report.
    pub fn restarted(&mut self) {
        self.seq = 0;
        self.unreported = Parts::ALL;
    }

    /// Marks parts as changed so the next message carries them.
    pub fn changed(&mut self, parts: Parts) {
        let u = &mut self.unreported;
        u.description |= parts.description;
        u.health |= parts.health;
        u.effective |= parts.effective;
        u.remote_status |= parts.remote_status;
        u.components |= parts.components;
    }

    /// Records what became of remote configuration `hash`.
    pub fn set_remote(&mut self, hash: &[u8], status: RemoteStatus, error: impl Into<String>) {
        self.remote = Some(RemoteState {
            hash: hash.to_vec(),
            status,
            error: error.into(),
        });
        self.unreported.remote_status = true;
    }

    /// Whether anything is waiting to be reported.
    pub fn has_unreported(&self) -> bool {
        self.unreported != Parts::default()
            || self.custom_out.is_some()
            || self.credentials.unreported
    }

    /// The next AgentToServer: always uid, sequence number and capabilities, plus the
    /// parts the server has not seen.
    pub fn next_message(&mut self, managed: &impl Managed) -> proto::AgentToServer {
        let todo = std::mem::take(&mut self.unreported);
        let mut msg = self.bare_message(managed.capabilities());
        if todo.description {
            msg.agent_description = Some(managed.description(self.uid));
            let custom = managed.custom_capabilities();
            if !custom.is_empty() {
                msg.custom_capabilities = Some(proto::CustomCapabilities {
                    capabilities: custom,
                });
            }
        }
        if todo.health {
            msg.health = Some(managed.health());
        }
        if todo.effective {
            msg.effective_config = Some(managed.effective_config());
        }
        if todo.remote_status {
            msg.remote_config_status = self.remote.as_ref().map(|r| proto::RemoteConfigStatus {
                last_remote_config_hash: r.hash.clone(),
                status: r.status.proto() as i32,
                error_message: r.error.clone(),
            });
        }
        if todo.components {
            msg.available_components = managed.available_components();
        }
        msg.custom_message = self.custom_out.take();
        if std::mem::take(&mut self.credentials.unreported) {
            msg.connection_settings_status = self.credentials.status.clone();
        }
        msg
    }

    /// The last message of a connection or process.
    pub fn disconnect_message(&mut self, capabilities: u64) -> proto::AgentToServer {
        let mut msg = self.bare_message(capabilities);
        msg.agent_disconnect = Some(proto::AgentDisconnect {});
        msg
    }

    fn bare_message(&mut self, capabilities: u64) -> proto::AgentToServer {
        let msg = proto::AgentToServer {
            instance_uid: self.uid.0.to_vec(),
            sequence_num: self.seq,
            capabilities,
            ..Default::default()
        };
        self.seq += 1;
        msg
    }

    /// Reads one message from the server.
    pub fn on_message(&mut self, msg: proto::ServerToAgent) -> Reaction {
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
            self.unreported = Parts::ALL;
            reaction.reply = true;
        }
        if msg.flags & proto::ServerToAgentFlags::ReportAvailableComponents as u64 != 0 {
            self.unreported.components = true;
            reaction.reply = true;
        }
        if let Some(new_uid) = msg
            .agent_identification
            .and_then(|a| <[u8; 16]>::try_from(a.new_instance_uid.as_slice()).ok())
        {
            self.uid = AgentId(new_uid);
            self.unreported.description = true;
            reaction.new_uid = Some(self.uid);
            reaction.reply = true;
        }
        if let Some(offers) = msg.connection_settings {
            self.take_offers(offers, &mut reaction);
        }
        if let Some(m) = msg.custom_message.as_ref().filter(|m| {
            m.capability == crate::fleet::tap::CAPABILITY
                && m.r#type == crate::fleet::tap::REQUEST_TYPE
        }) {
            reaction.tap = Some(
                serde_json::from_slice::<crate::fleet::tap::TapRequest>(&m.data).map_err(|e| {
                    let id = serde_json::from_slice::<serde_json::Value>(&m.data)
                        .ok()
                        .and_then(|v| v.get("id").and_then(|i| i.as_u64()))
                        .unwrap_or(0);
                    (id, format!("the tap request could not be read: {e}"))
                }),
            );
            reaction.reply = true;
        }
        if let Some(remote) = msg.remote_config {
            // The same hash is never taken twice: applied, failed or in progress.
            let seen = self
                .remote
                .as_ref()
                .is_some_and(|r| r.hash == remote.config_hash);
            if !remote.config_hash.is_empty() && !seen {
                // A signature comes in the same message, as a custom message.
                let signature = msg
                    .custom_message
                    .as_ref()
                    .filter(|m| {
                        m.capability == crate::signing::CAPABILITY
                            && m.r#type == crate::signing::MESSAGE_TYPE
                    })
                    .and_then(|m| serde_json::from_slice(&m.data).ok());
                reaction.offer = Some(RemoteOffer {
                    hash: remote.config_hash,
                    files: remote.config.unwrap_or_default(),
                    signature,
                });
            }
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
        // A credential of the agent's own comes as a bearer token in the headers; an offer
        // without one leaves the credential as it is.
        reaction.credential = offers
            .opamp
            .as_ref()
            .and_then(|o| o.headers.as_ref())
            .and_then(|h| {
                h.headers
                    .iter()
                    .find(|h| h.key.eq_ignore_ascii_case("authorization"))
            })
            .and_then(|h| h.value.trim().strip_prefix("Bearer "))
            .map(|c| OfferedCredential {
                credential: c.trim().to_string(),
                offer_hash: offers.hash.clone(),
            });
        // An offer without own_metrics changes nothing about them; one with an empty
        // destination withdraws them.
        reaction.metrics_target = offers.own_metrics.map(|m| {
            (!m.destination_endpoint.is_empty()).then(|| MetricsTarget {
                endpoint: m.destination_endpoint,
                headers: m
                    .headers
                    .map(|h| h.headers.into_iter().map(|h| (h.key, h.value)).collect())
                    .unwrap_or_default(),
            })
        });
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

/// A string attribute.
pub fn kv(key: &str, value: &str) -> proto::KeyValue {
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

/// A server message offering `body` as `collector.yaml` with a hash of 32 `hash` bytes,
/// for the tests of every driver.
#[cfg(test)]
pub(crate) fn remote_config_message(body: &[u8], hash: u8) -> proto::ServerToAgent {
    proto::ServerToAgent {
        remote_config: Some(proto::AgentRemoteConfig {
            config: Some(proto::AgentConfigMap {
                config_map: std::collections::HashMap::from([(
                    CONFIG_FILE.to_string(),
                    proto::AgentConfigFile {
                        body: body.to_vec(),
                        content_type: "text/yaml".into(),
                    },
                )]),
            }),
            config_hash: vec![hash; 32],
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fixed;

    impl Managed for Fixed {
        fn capabilities(&self) -> u64 {
            7
        }
        fn description(&self, uid: AgentId) -> proto::AgentDescription {
            proto::AgentDescription {
                identifying_attributes: vec![kv("service.instance.id", &uid.to_string())],
                ..Default::default()
            }
        }
        fn health(&self) -> proto::ComponentHealth {
            proto::ComponentHealth {
                healthy: true,
                ..Default::default()
            }
        }
        fn effective_config(&self) -> proto::EffectiveConfig {
            proto::EffectiveConfig::default()
        }
        fn available_components(&self) -> Option<proto::AvailableComponents> {
            Some(proto::AvailableComponents {
                hash: vec![1],
                ..Default::default()
            })
        }
    }

    fn core() -> ClientCore {
        ClientCore::new(AgentId([9; 16]), Duration::from_secs(30))
    }

    fn offer(hash: u8) -> proto::ServerToAgent {
        remote_config_message(b"receivers: {}", hash)
    }

    #[test]
    fn full_first_then_compressed_and_components_on_request() {
        let mut c = core();
        let first = c.next_message(&Fixed);
        assert_eq!((first.sequence_num, first.capabilities), (0, 7));
        assert!(first.agent_description.is_some() && first.available_components.is_some());
        let second = c.next_message(&Fixed);
        assert!(second.agent_description.is_none() && second.available_components.is_none());
        let r = c.on_message(proto::ServerToAgent {
            flags: proto::ServerToAgentFlags::ReportAvailableComponents as u64,
            ..Default::default()
        });
        assert!(r.reply);
        let third = c.next_message(&Fixed);
        assert!(third.available_components.is_some() && third.agent_description.is_none());
    }

    #[test]
    fn an_offer_is_taken_once_per_hash_even_after_a_restart() {
        let mut c = core();
        let mut first = c.on_message(offer(3)).offer.expect("new hash");
        assert_eq!(
            first.collector_yaml().expect("yaml"),
            Some(b"receivers: {}".to_vec())
        );
        c.set_remote(&[3; 32], RemoteStatus::Failed, "bad");
        assert!(c.on_message(offer(3)).offer.is_none());
        let kept = c.remote().cloned();
        let mut restarted = core().with_remote(kept);
        assert!(restarted.on_message(offer(3)).offer.is_none());
        let status = restarted
            .next_message(&Fixed)
            .remote_config_status
            .expect("status");
        assert_eq!(status.status, proto::RemoteConfigStatuses::Failed as i32);
        assert_eq!(status.error_message, "bad");
    }

    #[test]
    fn a_map_without_collector_yaml_is_named() {
        let mut offer = RemoteOffer {
            hash: vec![1],
            files: proto::AgentConfigMap {
                config_map: HashMap::from([("a.yaml".into(), Default::default())]),
            },
            signature: None,
        };
        let err = offer.collector_yaml().unwrap_err();
        assert!(
            err.contains("no collector.yaml entry (it has: a.yaml)"),
            "{err}"
        );
    }

    #[test]
    fn new_uid_and_unavailable() {
        let mut c = core();
        let r = c.on_message(proto::ServerToAgent {
            agent_identification: Some(proto::AgentIdentification {
                new_instance_uid: vec![4; 16],
            }),
            ..Default::default()
        });
        assert_eq!(r.new_uid, Some(AgentId([4; 16])));
        assert_eq!(c.next_message(&Fixed).instance_uid, vec![4; 16]);
        let r = c.on_message(proto::ServerToAgent {
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
        });
        assert_eq!(r.unavailable, Some(Some(Duration::from_secs(2))));
    }

    #[test]
    fn own_metrics_change_only_when_offered() {
        let mut c = core();
        let offer = |own: Option<&str>| proto::ServerToAgent {
            connection_settings: Some(proto::ConnectionSettingsOffers {
                opamp: Some(proto::OpAmpConnectionSettings {
                    heartbeat_interval_seconds: 7,
                    ..Default::default()
                }),
                own_metrics: own.map(|e| proto::TelemetryConnectionSettings {
                    destination_endpoint: e.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = c.on_message(offer(Some("http://x/v1/metrics")));
        assert_eq!(
            r.metrics_target.flatten().map(|t| t.endpoint).as_deref(),
            Some("http://x/v1/metrics")
        );
        // a heartbeat offer alone leaves the metrics destination as it is
        assert_eq!(c.on_message(offer(None)).metrics_target, None);
        assert_eq!(c.heartbeat(), Duration::from_secs(7));
        // an empty destination withdraws it
        assert_eq!(c.on_message(offer(Some(""))).metrics_target, Some(None));
    }

    fn credential_offer(credential: &str, hash: u8) -> proto::ServerToAgent {
        proto::ServerToAgent {
            connection_settings: Some(proto::ConnectionSettingsOffers {
                hash: vec![hash; 32],
                opamp: Some(proto::OpAmpConnectionSettings {
                    destination_endpoint: "ws://x/v1/opamp".into(),
                    headers: Some(proto::Headers {
                        headers: vec![proto::Header {
                            key: "Authorization".into(),
                            value: format!("Bearer {credential}"),
                        }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn settings_status(c: &mut ClientCore) -> Option<(i32, Vec<u8>, String)> {
        c.next_message(&Fixed)
            .connection_settings_status
            .map(|s| (s.status, s.last_connection_settings_hash, s.error_message))
    }

    #[test]
    fn an_offered_credential_is_tried_then_kept_and_reported_applied() {
        let mut c = core();
        assert_eq!(c.authorization(), None, "the link's fleet secret at first");
        let offer = c
            .on_message(credential_offer("fdc1_new", 9))
            .credential
            .expect("taken from the headers");
        assert!(c.try_credential(offer.clone()));
        assert!(!c.try_credential(offer), "the same offer twice is one try");
        assert_eq!(c.authorization().as_deref(), Some("Bearer fdc1_new"));
        // Connected with it: APPLIED, with the offer's hash, in the first message.
        assert!(c.connection_accepted().is_some());
        c.on_connect();
        assert_eq!(
            settings_status(&mut c),
            Some((
                proto::ConnectionSettingsStatuses::Applied as i32,
                vec![9; 32],
                String::new()
            ))
        );
        assert_eq!(settings_status(&mut c), None, "said once");
        assert_eq!(c.authorization().as_deref(), Some("Bearer fdc1_new"));
        // An offer without a credential (a restarted server) leaves it as it is.
        let plain = proto::ServerToAgent {
            connection_settings: Some(proto::ConnectionSettingsOffers {
                opamp: Some(proto::OpAmpConnectionSettings::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(c.on_message(plain).credential, None);
    }

    #[test]
    fn a_refused_credential_falls_back_and_is_reported_failed() {
        let mut c = core().with_credential(Some("fdc1_old".into()));
        let offer = c
            .on_message(credential_offer("fdc1_new", 4))
            .credential
            .unwrap();
        assert!(c.try_credential(offer));
        assert_eq!(
            c.connection_refused(401),
            Some(UseCredential(Some("fdc1_old".into())))
        );
        assert_eq!(c.authorization().as_deref(), Some("Bearer fdc1_old"));
        let (status, hash, message) = settings_status(&mut c).unwrap();
        assert_eq!(status, proto::ConnectionSettingsStatuses::Failed as i32);
        assert_eq!(hash, vec![4; 32]);
        assert!(message.contains("401"), "{message}");
        // Its own credential refused as unknown: back to the fleet secret, to enroll again.
        assert_eq!(c.connection_refused(401), Some(UseCredential(None)));
        assert_eq!(c.authorization(), None);
        // Turned away (403) with the fleet secret: nothing to change.
        assert_eq!(c.connection_refused(403), None);
    }
}
