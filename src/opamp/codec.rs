//! Converts between the prost wire types and fleetdeck's domain types. Nothing outside
//! `opamp/` sees a prost type because of this module.

use std::collections::BTreeMap;

use bytes::Buf;
use prost::Message;

use super::frame::{self, UidError};
use super::proto;
use super::wire_health;
use crate::fleet::agent::{
    AgentDescription, AttrValue, Attribute, Capabilities, ComponentHealth, ConfigFile, ConfigMap,
    PackageState, PackageStatus, PackageStatuses, RemoteConfigState, RemoteConfigStatus, Text,
};
use crate::fleet::components::{AvailableComponents, ReportedComponents};
use crate::fleet::health::{Health, HealthTree, health_scalars};
use crate::fleet::heartbeat::PlainBeat;
use crate::fleet::outbound::{
    AgentCommand, ConnectionSettingsOffer, RemoteConfigOffer, ServerError, ServerReply,
    TelemetryDestination,
};
use crate::fleet::report::{AgentReport, CustomMessage};

/// Server capability bits (OpAMP `ServerCapabilities`).
pub mod server_caps {
    pub const ACCEPTS_STATUS: u64 = 0x1;
    pub const OFFERS_REMOTE_CONFIG: u64 = 0x2;
    pub const ACCEPTS_EFFECTIVE_CONFIG: u64 = 0x4;
    pub const OFFERS_PACKAGES: u64 = 0x8;
    pub const ACCEPTS_PACKAGES_STATUS: u64 = 0x10;
    pub const OFFERS_CONNECTION_SETTINGS: u64 = 0x20;
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a valid AgentToServer protobuf message: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error(transparent)]
    Uid(#[from] UidError),
    #[error(transparent)]
    TooManyParts(#[from] super::prescan::TooManyParts),
}

/// Reads a plain heartbeat straight off the wire: `Some` only when the message holds an
/// instance uid, a sequence number and capabilities, and nothing else. Most messages of an
/// idle fleet are these; a session holding a lease answers them without decoding the
/// message into a report. Anything else (or anything unusual) is `None`, for
/// [`decode_agent_to_server`] to read in full.
pub fn plain_heartbeat(payload: &[u8]) -> Option<PlainBeat> {
    use prost::encoding::{WireType, decode_key, decode_varint};
    let mut buf = payload;
    let (mut uid, mut seq, mut caps) = (None, 0, 0);
    while !buf.is_empty() {
        match decode_key(&mut buf).ok()? {
            (1, WireType::LengthDelimited) => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                let raw = buf.get(..len)?;
                uid = Some(frame::parse_instance_uid(raw).ok()?);
                buf = &buf[len..];
            }
            (2, WireType::Varint) => seq = decode_varint(&mut buf).ok()?,
            (4, WireType::Varint) => caps = decode_varint(&mut buf).ok()?,
            _ => return None,
        }
    }
    Some(PlainBeat {
        instance_uid: uid?,
        sequence_num: seq,
        capabilities: Capabilities(caps),
    })
}

/// Decodes an `AgentToServer` payload (without the WebSocket header) into a report.
pub fn decode_agent_to_server(payload: &[u8]) -> Result<AgentReport, DecodeError> {
    // Before prost builds the message: its size decoded may be 30 times its size here.
    super::prescan::check(payload)?;
    // A health tree is read in place when it can be; prost reads the rest around it.
    let (msg, health) = match wire_health::split(payload) {
        Some((before, after, tree)) => (
            proto::AgentToServer::decode(before.chain(after))?,
            Some(Health::new(&tree)),
        ),
        None => {
            let mut msg = proto::AgentToServer::decode(payload)?;
            let health = msg.health.take().map(encode_health);
            (msg, health)
        }
    };
    let instance_uid = frame::parse_instance_uid(&msg.instance_uid)?;
    Ok(AgentReport {
        instance_uid,
        sequence_num: msg.sequence_num,
        capabilities: Capabilities(msg.capabilities),
        description: msg.agent_description.map(description),
        health,
        effective_config: msg
            .effective_config
            .map(|e| config_map(e.config_map.unwrap_or_default())),
        remote_config_status: msg.remote_config_status.map(remote_config_status),
        package_statuses: msg.package_statuses.map(package_statuses),
        custom_capabilities: msg.custom_capabilities.map(|c| c.capabilities),
        custom_message: msg
            .custom_message
            .filter(|m| m.capability == crate::fleet::tap::CAPABILITY)
            .map(|m| CustomMessage {
                capability: m.capability,
                r#type: m.r#type,
                data: m.data,
            }),
        available_components: msg.available_components.map(available_components),
        connection_settings_failed: msg
            .connection_settings_status
            .as_ref()
            .filter(|s| s.status == proto::ConnectionSettingsStatuses::Failed as i32)
            .map(|s| s.error_message.clone()),
        connection_settings_hash: msg
            .connection_settings_status
            .map(|s| s.last_connection_settings_hash),
        credential: None,
        disconnect: msg.agent_disconnect.is_some(),
        request_instance_uid: msg.flags & 0x1 != 0,
    })
}

/// The opampsupervisor's shape: kinds (`receivers`, …) whose sub-components are the types,
/// each with `code.version` among its metadata. An empty map is a report of the hash alone
/// (the wire cannot tell the two apart).
fn available_components(a: proto::AvailableComponents) -> ReportedComponents {
    if a.components.is_empty() {
        return ReportedComponents {
            hash: a.hash,
            listing: None,
        };
    }
    let mut entries: Vec<(&str, &str, &str)> = Vec::new();
    for (kind, details) in &a.components {
        for (type_name, d) in &details.sub_component_map {
            let version = d
                .metadata
                .iter()
                .find(|kv| kv.key == "code.version")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    proto::any_value::Value::StringValue(v) => Some(v.as_str()),
                    _ => None,
                })
                .unwrap_or("");
            entries.push((kind, type_name, version));
        }
    }
    // Map order is arbitrary: sorted, a listing cut at the limit is cut alike every time.
    entries.sort_unstable();
    let listing = AvailableComponents::from_entries(a.hash.clone(), entries);
    ReportedComponents {
        hash: a.hash,
        listing: Some(listing),
    }
}

fn description(d: proto::AgentDescription) -> AgentDescription {
    AgentDescription {
        identifying: attributes(d.identifying_attributes),
        non_identifying: attributes(d.non_identifying_attributes),
    }
}

fn attributes(kvs: Vec<proto::KeyValue>) -> Vec<Attribute> {
    kvs.into_iter()
        .map(|kv| {
            let shared = !PER_INSTANCE_KEYS.contains(&kv.key.as_str());
            Attribute {
                value: kv
                    .value
                    .map(|v| any_value(v, shared))
                    .unwrap_or(AttrValue::Null),
                key: Text::from(kv.key),
            }
        })
        .collect()
}

/// Attributes whose values differ from agent to agent: not worth pooling (see [`Text`]).
const PER_INSTANCE_KEYS: [&str; 6] = [
    "service.instance.id",
    "host.name",
    "host.id",
    "k8s.pod.name",
    "k8s.pod.uid",
    "container.id",
];

fn any_value(v: proto::AnyValue, shared: bool) -> AttrValue {
    use proto::any_value::Value;
    match v.value {
        None => AttrValue::Null,
        Some(Value::StringValue(s)) if shared => AttrValue::String(Text::shared(&s)),
        Some(Value::StringValue(s)) => AttrValue::String(Text::unshared(&s)),
        Some(Value::BoolValue(b)) => AttrValue::Bool(b),
        Some(Value::IntValue(i)) => AttrValue::Int(i),
        Some(Value::DoubleValue(d)) => AttrValue::Double(d),
        Some(Value::BytesValue(b)) => AttrValue::Bytes(b.into()),
        Some(Value::ArrayValue(a)) => {
            AttrValue::Array(a.values.into_iter().map(|v| any_value(v, shared)).collect())
        }
        Some(Value::KvlistValue(l)) => AttrValue::Map(attributes(l.values).into()),
    }
}

/// Encodes a reported health tree as the registry holds it, read in place: only a tree
/// with attributes (rare) is converted to domain structs first.
fn encode_health(h: proto::ComponentHealth) -> Health {
    fn has_attributes(h: &proto::ComponentHealth) -> bool {
        !h.attributes.is_empty() || h.component_health_map.values().any(has_attributes)
    }
    if has_attributes(&h) {
        Health::new(&health(h))
    } else {
        Health::new(&h)
    }
}

/// The wire tree as the encoder reads it. Attributes are never read from here:
/// [`encode_health`] sends trees that have any through the domain conversion.
impl HealthTree for proto::ComponentHealth {
    health_scalars!();
    fn attributes(&self) -> &[Attribute] {
        &[]
    }
    fn children(&self) -> impl ExactSizeIterator<Item = (&str, &Self)> + Clone {
        let mut v: Vec<(&str, &Self)> = self
            .component_health_map
            .iter()
            .map(|(k, c)| (k.as_str(), c))
            .collect();
        // A map's keys are distinct: sorting is all it takes.
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }
}

fn health(h: proto::ComponentHealth) -> ComponentHealth {
    ComponentHealth {
        healthy: h.healthy,
        start_time_unix_nano: h.start_time_unix_nano,
        last_error: h.last_error.into(),
        status: h.status.into(),
        status_time_unix_nano: h.status_time_unix_nano,
        components: h
            .component_health_map
            .into_iter()
            .map(|(k, v)| (k, health(v)))
            .collect(),
        attributes: attributes(h.attributes),
    }
}

fn config_map(m: proto::AgentConfigMap) -> ConfigMap {
    ConfigMap {
        files: m
            .config_map
            .into_iter()
            .map(|(name, f)| {
                (
                    name,
                    ConfigFile {
                        body: f.body,
                        content_type: f.content_type,
                    },
                )
            })
            .collect(),
    }
}

fn remote_config_status(s: proto::RemoteConfigStatus) -> RemoteConfigStatus {
    let state = match proto::RemoteConfigStatuses::try_from(s.status) {
        Ok(proto::RemoteConfigStatuses::Applied) => RemoteConfigState::Applied,
        Ok(proto::RemoteConfigStatuses::Applying) => RemoteConfigState::Applying,
        Ok(proto::RemoteConfigStatuses::Failed) => RemoteConfigState::Failed,
        Ok(proto::RemoteConfigStatuses::Unset) | Err(_) => RemoteConfigState::Unset,
    };
    RemoteConfigStatus {
        last_hash: s.last_remote_config_hash,
        state,
        error_message: s.error_message,
    }
}

fn package_statuses(p: proto::PackageStatuses) -> PackageStatuses {
    PackageStatuses {
        packages: p
            .packages
            .into_iter()
            .map(|(name, s)| {
                let state = match proto::PackageStatusEnum::try_from(s.status) {
                    Ok(proto::PackageStatusEnum::Installed) => PackageState::Installed,
                    Ok(proto::PackageStatusEnum::InstallPending) => PackageState::InstallPending,
                    Ok(proto::PackageStatusEnum::Installing) => PackageState::Installing,
                    Ok(proto::PackageStatusEnum::Downloading) => PackageState::Downloading,
                    Ok(proto::PackageStatusEnum::InstallFailed) | Err(_) => {
                        PackageState::InstallFailed
                    }
                };
                let status = PackageStatus {
                    name: s.name,
                    agent_has_version: s.agent_has_version,
                    server_offered_version: s.server_offered_version,
                    state,
                    error_message: s.error_message,
                    download_percent: s.download_details.map(|d| d.download_percent),
                };
                (name, status)
            })
            .collect::<BTreeMap<_, _>>(),
        error_message: p.error_message,
    }
}

/// Builds the wire message for a reply.
pub fn server_to_agent(reply: &ServerReply) -> proto::ServerToAgent {
    let (mut msg, offer) = without_offer(reply);
    msg.remote_config = offer.map(remote_config);
    msg
}

/// The reply's message without its remote configuration, and that configuration when the
/// message carries one: it is the same for every agent of a rollout's phase, so the
/// encoders append it from bytes made once per offer.
fn without_offer(reply: &ServerReply) -> (proto::ServerToAgent, Option<&RemoteConfigOffer>) {
    let mut msg = proto::ServerToAgent {
        instance_uid: reply.instance_uid.as_bytes().to_vec(),
        capabilities: reply.capabilities,
        ..Default::default()
    };
    // error_response excludes every other field (but the uid), and a command may only
    // travel with the uid and capabilities.
    if let Some(err) = &reply.error {
        msg.error_response = Some(error_response(err));
        return (msg, None);
    }
    if let Some(AgentCommand::Restart) = reply.command {
        msg.command = Some(proto::ServerToAgentCommand {
            r#type: proto::CommandType::Restart as i32,
        });
        return (msg, None);
    }
    if reply.report_full_state {
        msg.flags |= proto::ServerToAgentFlags::ReportFullState as u64;
    }
    if reply.report_available_components {
        msg.flags |= proto::ServerToAgentFlags::ReportAvailableComponents as u64;
    }
    if let Some(cs) = &reply.connection_settings {
        msg.connection_settings = Some(connection_settings(cs));
    }
    if let Some(new_uid) = reply.new_instance_uid {
        msg.agent_identification = Some(proto::AgentIdentification {
            new_instance_uid: new_uid.as_bytes().to_vec(),
        });
    }
    if reply.signed
        && let Some(sig) = reply
            .remote_config
            .as_ref()
            .and_then(|o| o.signature.as_ref())
    {
        msg.custom_message = Some(proto::CustomMessage {
            capability: crate::signing::CAPABILITY.to_string(),
            r#type: crate::signing::MESSAGE_TYPE.to_string(),
            data: serde_json::to_vec(&**sig).unwrap_or_default(),
        });
    }
    if msg.custom_message.is_none()
        && let Some(m) = &reply.custom_message
    {
        msg.custom_message = Some(proto::CustomMessage {
            capability: m.capability.clone(),
            r#type: m.r#type.clone(),
            data: m.data.clone(),
        });
    }
    (msg, reply.remote_config.as_deref())
}

fn remote_config(offer: &RemoteConfigOffer) -> proto::AgentRemoteConfig {
    proto::AgentRemoteConfig {
        config: Some(proto::AgentConfigMap {
            config_map: offer
                .files
                .files
                .iter()
                .map(|(name, f)| {
                    (
                        name.clone(),
                        proto::AgentConfigFile {
                            body: f.body.clone(),
                            content_type: f.content_type.clone(),
                        },
                    )
                })
                .collect(),
        }),
        config_hash: offer.hash.to_vec(),
    }
}

/// `ServerToAgent.remote_config`.
const REMOTE_CONFIG_FIELD: u32 = 3;

/// The offer's `remote_config` field as bytes, encoded the first time it is sent. Fields may
/// come in any order on the wire, so it can follow the rest of the message.
fn offer_field(offer: &RemoteConfigOffer) -> &[u8] {
    offer.encoded.get_or_init(|| {
        let mut out = Vec::new();
        prost::encoding::message::encode(REMOTE_CONFIG_FIELD, &remote_config(offer), &mut out);
        out.into_boxed_slice()
    })
}

/// Encodes `reply` as a `ServerToAgent` payload after `prefix`, into what `start` makes for
/// the whole payload's length (a transport's header, with room for the rest).
fn encode_reply(
    reply: &ServerReply,
    start: impl FnOnce(usize) -> Vec<u8>,
    prefix: &[u8],
) -> Vec<u8> {
    let (msg, offer) = without_offer(reply);
    let offer = offer.map_or(&[][..], offer_field);
    let mut out = start(prefix.len() + msg.encoded_len() + offer.len());
    out.extend_from_slice(prefix);
    // Writing into a Vec cannot run out of space.
    let _ = msg.encode(&mut out);
    out.extend_from_slice(offer);
    out
}

fn error_response(err: &ServerError) -> proto::ServerErrorResponse {
    match err {
        ServerError::BadRequest(message) | ServerError::Refused(message) => {
            proto::ServerErrorResponse {
                r#type: proto::ServerErrorResponseType::BadRequest as i32,
                error_message: message.clone(),
                details: None,
            }
        }
        ServerError::Unavailable {
            message,
            retry_after,
        } => proto::ServerErrorResponse {
            r#type: proto::ServerErrorResponseType::Unavailable as i32,
            error_message: message.clone(),
            details: retry_after.map(|d| {
                proto::server_error_response::Details::RetryInfo(proto::RetryInfo {
                    retry_after_nanoseconds: u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
                })
            }),
        },
    }
}

fn headers(h: &[(String, String)]) -> Option<proto::Headers> {
    (!h.is_empty()).then(|| proto::Headers {
        headers: h
            .iter()
            .map(|(k, v)| proto::Header {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
    })
}

fn telemetry(d: &TelemetryDestination) -> proto::TelemetryConnectionSettings {
    proto::TelemetryConnectionSettings {
        destination_endpoint: d.endpoint.clone(),
        headers: headers(&d.headers),
        ..Default::default()
    }
}

fn connection_settings(cs: &ConnectionSettingsOffer) -> proto::ConnectionSettingsOffers {
    proto::ConnectionSettingsOffers {
        hash: cs.hash.to_vec(),
        opamp: cs.opamp.as_ref().map(|o| proto::OpAmpConnectionSettings {
            destination_endpoint: o.endpoint.clone(),
            headers: headers(&o.headers),
            heartbeat_interval_seconds: o.heartbeat_interval_seconds,
            ..Default::default()
        }),
        own_metrics: cs.own_metrics.as_ref().map(telemetry),
        own_traces: cs.own_traces.as_ref().map(telemetry),
        own_logs: cs.own_logs.as_ref().map(telemetry),
        other_connections: Default::default(),
    }
}

/// The OpAMP WebSocket header: a zero varint.
const WS_HEADER: [u8; 1] = [0];

/// Encodes a reply for the WebSocket transport (OpAMP header + protobuf).
pub fn encode_ws(reply: &ServerReply) -> Vec<u8> {
    encode_reply(reply, Vec::with_capacity, &WS_HEADER)
}

/// [`encode_ws`] into a WebSocket frame that `start` begins for the payload's length.
pub fn encode_ws_framed(reply: &ServerReply, start: impl FnOnce(usize) -> Vec<u8>) -> Vec<u8> {
    encode_reply(reply, start, &WS_HEADER)
}

/// Encodes a reply as a plain HTTP response body.
pub fn encode_http(reply: &ServerReply) -> Vec<u8> {
    encode_reply(reply, Vec::with_capacity, &[])
}

/// Encodes an error reply for a message whose sender we could not identify.
pub fn anonymous_error(err: ServerError, capabilities: u64) -> proto::ServerToAgent {
    proto::ServerToAgent {
        capabilities,
        error_response: Some(error_response(&err)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::AgentId;
    use std::sync::Arc;

    fn sample_message() -> proto::AgentToServer {
        proto::AgentToServer {
            instance_uid: vec![3; 16],
            sequence_num: 7,
            capabilities: 0x3007,
            agent_description: Some(proto::AgentDescription {
                identifying_attributes: vec![proto::KeyValue {
                    key: "service.name".into(),
                    value: Some(proto::AnyValue {
                        value: Some(proto::any_value::Value::StringValue("otelcol".into())),
                    }),
                }],
                non_identifying_attributes: vec![],
            }),
            health: Some(proto::ComponentHealth {
                healthy: false,
                last_error: "exporter down".into(),
                component_health_map: [(
                    "pipeline:metrics".to_string(),
                    proto::ComponentHealth {
                        healthy: false,
                        ..Default::default()
                    },
                )]
                .into(),
                ..Default::default()
            }),
            remote_config_status: Some(proto::RemoteConfigStatus {
                last_remote_config_hash: vec![9; 32],
                status: proto::RemoteConfigStatuses::Failed as i32,
                error_message: "bad".into(),
            }),
            agent_disconnect: Some(proto::AgentDisconnect {}),
            flags: 1,
            ..Default::default()
        }
    }

    #[test]
    fn agent_to_server_maps_to_a_report() {
        let report = decode_agent_to_server(&sample_message().encode_to_vec()).unwrap();
        assert_eq!(report.instance_uid, AgentId([3; 16]));
        assert_eq!(report.sequence_num, 7);
        let desc = report.description.unwrap();
        assert_eq!(desc.service_name(), Some("otelcol"));
        let health = report.health.unwrap();
        assert!(!health.healthy());
        assert_eq!(health.unhealthy_count(), 1);
        let rcs = report.remote_config_status.unwrap();
        assert_eq!(rcs.state, RemoteConfigState::Failed);
        assert_eq!(rcs.error_message, "bad");
        assert!(report.disconnect);
        assert!(report.request_instance_uid);
        assert!(report.effective_config.is_none(), "absent means unchanged");
    }

    /// The health tree is encoded from the decoded message in place; it must come out as
    /// it would from the domain tree (the path trees with attributes still take).
    #[test]
    fn health_read_in_place_encodes_as_the_domain_tree_does() {
        let leaf = |healthy: bool, status: &str, at: u64| proto::ComponentHealth {
            healthy,
            start_time_unix_nano: 1_000,
            status: status.into(),
            status_time_unix_nano: at,
            last_error: if healthy {
                String::new()
            } else {
                "exporter refused".into()
            },
            ..Default::default()
        };
        let mut root = leaf(false, "StatusRecoverableError", 9);
        for p in ["pipeline:traces", "pipeline:logs", "pipeline:metrics"] {
            let mut pipe = leaf(true, "StatusOK", 5);
            for (i, c) in ["receiver:otlp", "processor:batch", "exporter:otlp"]
                .iter()
                .enumerate()
            {
                let bad = p == "pipeline:logs" && i == 2;
                pipe.component_health_map.insert(
                    c.to_string(),
                    leaf(
                        !bad,
                        if bad {
                            "StatusRecoverableError"
                        } else {
                            "StatusOK"
                        },
                        7,
                    ),
                );
            }
            root.component_health_map.insert(p.to_string(), pipe);
        }
        let in_place = encode_health(root.clone());
        assert_eq!(in_place, Health::new(&health(root.clone())));
        assert_eq!(in_place.tree(), health(root.clone()));
        assert_eq!(in_place.unhealthy_count(), 1);
        assert_eq!(in_place.last_error().as_ref(), "exporter refused");

        // Attributes anywhere: the domain path, same result as before.
        root.component_health_map
            .get_mut("pipeline:logs")
            .unwrap()
            .attributes
            .push(proto::KeyValue {
                key: "queue".into(),
                value: Some(proto::AnyValue {
                    value: Some(proto::any_value::Value::IntValue(3)),
                }),
            });
        let with_attrs = encode_health(root.clone());
        assert_eq!(with_attrs.tree(), health(root));
    }

    #[test]
    fn a_plain_heartbeat_is_read_off_the_wire_as_the_full_decode_reads_it() {
        let beat = proto::AgentToServer {
            instance_uid: vec![9; 16],
            sequence_num: 41,
            capabilities: 0x3003,
            ..Default::default()
        };
        let wire = beat.encode_to_vec();
        let read = plain_heartbeat(&wire).expect("a plain heartbeat");
        assert_eq!(read.instance_uid, AgentId([9; 16]));
        assert_eq!(
            (read.sequence_num, read.capabilities),
            (41, Capabilities(0x3003))
        );
        let full = decode_agent_to_server(&wire).unwrap();
        assert_eq!(PlainBeat::of(&full), Some(read));

        // Anything more goes to the full decode, which says it is no plain heartbeat.
        let more = [
            proto::AgentToServer {
                flags: 1,
                ..beat.clone()
            },
            proto::AgentToServer {
                health: Some(Default::default()),
                ..beat.clone()
            },
            proto::AgentToServer {
                agent_disconnect: Some(Default::default()),
                ..beat.clone()
            },
            proto::AgentToServer {
                remote_config_status: Some(Default::default()),
                ..beat.clone()
            },
        ];
        for m in more {
            let wire = m.encode_to_vec();
            assert_eq!(plain_heartbeat(&wire), None, "{m:?}");
            assert_eq!(PlainBeat::of(&decode_agent_to_server(&wire).unwrap()), None);
        }
        // Cut short, or with a uid of the wrong length: not read here.
        assert_eq!(plain_heartbeat(&wire[..wire.len() - 1]), None);
        let odd = proto::AgentToServer {
            instance_uid: vec![1; 5],
            ..beat
        }
        .encode_to_vec();
        assert_eq!(plain_heartbeat(&odd), None);
    }

    /// `available_components` as the opampsupervisor sends it.
    fn supervisor_components(hash: &[u8], kinds: &[(&str, &[&str])]) -> proto::AvailableComponents {
        let string = |k: &str, v: &str| proto::KeyValue {
            key: k.into(),
            value: Some(proto::AnyValue {
                value: Some(proto::any_value::Value::StringValue(v.into())),
            }),
        };
        proto::AvailableComponents {
            hash: hash.to_vec(),
            components: kinds
                .iter()
                .map(|(kind, types)| {
                    let subs = types
                        .iter()
                        .map(|t| {
                            let details = proto::ComponentDetails {
                                metadata: vec![
                                    string("code.namespace", &format!("github.com/x/{t}")),
                                    string("code.version", "v0.135.0"),
                                ],
                                sub_component_map: Default::default(),
                            };
                            (t.to_string(), details)
                        })
                        .collect();
                    let details = proto::ComponentDetails {
                        metadata: vec![],
                        sub_component_map: subs,
                    };
                    (kind.to_string(), details)
                })
                .collect(),
        }
    }

    #[test]
    fn available_components_become_a_listing_by_kind_or_a_bare_hash() {
        use crate::fleet::components::ComponentKind;
        let msg = proto::AgentToServer {
            instance_uid: vec![3; 16],
            available_components: Some(supervisor_components(
                &[7; 8],
                &[
                    ("receivers", &["otlp", "filelog"]),
                    ("exporters", &["otlphttp"]),
                    ("gadgets", &["thing"]),
                ],
            )),
            ..Default::default()
        };
        let report = decode_agent_to_server(&msg.encode_to_vec()).unwrap();
        assert!(PlainBeat::of(&report).is_none(), "not a plain heartbeat");
        let got = report.available_components.expect("reported");
        assert_eq!(got.hash, vec![7; 8]);
        let listing = got.listing.expect("a full listing");
        assert_eq!(listing.hash, vec![7; 8]);
        let receivers: Vec<(&str, &str)> = listing.by_kind[&ComponentKind::Receiver]
            .iter()
            .map(|c| (c.type_name.as_str(), c.version.as_str()))
            .collect();
        assert_eq!(receivers, [("filelog", "v0.135.0"), ("otlp", "v0.135.0")]);
        assert!(listing.has(ComponentKind::Exporter, "otlphttp"));
        assert_eq!(listing.dropped.unknown_kind, 1);

        let bare = proto::AgentToServer {
            instance_uid: vec![3; 16],
            available_components: Some(proto::AvailableComponents {
                hash: vec![7; 8],
                components: Default::default(),
            }),
            ..Default::default()
        };
        let wire = bare.encode_to_vec();
        assert_eq!(plain_heartbeat(&wire), None);
        let got = decode_agent_to_server(&wire)
            .unwrap()
            .available_components
            .expect("reported");
        assert_eq!((got.hash, got.listing), (vec![7; 8], None));
    }

    #[test]
    fn asking_for_the_component_listing_sets_its_flag() {
        let reply = ServerReply {
            instance_uid: AgentId([1; 16]),
            report_available_components: true,
            ..Default::default()
        };
        let msg = server_to_agent(&reply);
        assert_eq!(
            msg.flags,
            proto::ServerToAgentFlags::ReportAvailableComponents as u64
        );
        let back = proto::ServerToAgent::decode(&encode_ws(&reply)[1..]).unwrap();
        assert_eq!(back.flags, 2);
    }

    #[test]
    fn garbage_and_bad_uids_are_decode_errors() {
        assert!(matches!(
            decode_agent_to_server(&[0xff, 0xff, 0xff]),
            Err(DecodeError::Protobuf(_))
        ));
        let mut msg = sample_message();
        msg.instance_uid = vec![1; 5];
        assert!(matches!(
            decode_agent_to_server(&msg.encode_to_vec()),
            Err(DecodeError::Uid(UidError::BadLength(5)))
        ));
    }

    #[test]
    fn error_replies_carry_nothing_else() {
        let reply = ServerReply {
            instance_uid: AgentId([1; 16]),
            capabilities: 1,
            report_full_state: true,
            error: Some(ServerError::Unavailable {
                message: "busy".into(),
                retry_after: Some(std::time::Duration::from_secs(5)),
            }),
            ..Default::default()
        };
        let msg = server_to_agent(&reply);
        assert_eq!(msg.flags, 0);
        let err = msg.error_response.unwrap();
        assert_eq!(
            err.r#type,
            proto::ServerErrorResponseType::Unavailable as i32
        );
        assert_eq!(
            err.details,
            Some(proto::server_error_response::Details::RetryInfo(
                proto::RetryInfo {
                    retry_after_nanoseconds: 5_000_000_000
                }
            ))
        );
    }

    #[test]
    fn ws_frames_start_with_the_zero_header_and_round_trip() {
        let reply = ServerReply {
            instance_uid: AgentId([2; 16]),
            capabilities: 0x25,
            report_full_state: true,
            connection_settings: Some(Arc::new(ConnectionSettingsOffer {
                hash: [4; 32],
                opamp: None,
                own_metrics: Some(TelemetryDestination {
                    endpoint: "http://h:4320/v1/metrics".into(),
                    headers: vec![("Authorization".into(), "Bearer t".into())],
                }),
                own_traces: None,
                own_logs: None,
            })),
            ..Default::default()
        };
        let bytes = encode_ws(&reply);
        assert_eq!(bytes[0], 0);
        let back = proto::ServerToAgent::decode(&bytes[1..]).unwrap();
        assert_eq!(back.instance_uid, vec![2; 16]);
        assert_eq!(back.flags, 1);
        let metrics = back.connection_settings.unwrap().own_metrics.unwrap();
        assert_eq!(metrics.destination_endpoint, "http://h:4320/v1/metrics");
        assert_eq!(metrics.headers.unwrap().headers[0].value, "Bearer t");
    }

    #[test]
    fn an_offer_is_encoded_once_and_every_agent_gets_it_whole() {
        let yaml = "receivers:\n  otlp: {}\n".repeat(8);
        let offer = Arc::new(crate::opamp::offer::collector_offer(&yaml));
        let reply = |uid: u8, full_state: bool| ServerReply {
            instance_uid: AgentId([uid; 16]),
            capabilities: 0x7,
            report_full_state: full_state,
            remote_config: Some(offer.clone()),
            ..Default::default()
        };
        assert!(offer.encoded.get().is_none());
        let first = encode_ws(&reply(1, false));
        assert!(offer.encoded.get().is_some(), "kept for the next agent");
        for (r, bytes) in [
            (reply(1, false), first),
            (reply(2, true), encode_ws(&reply(2, true))),
        ] {
            let back = proto::ServerToAgent::decode(&bytes[1..]).unwrap();
            assert_eq!(
                back,
                server_to_agent(&r),
                "the same message, field by field"
            );
            let rc = back.remote_config.unwrap();
            assert_eq!(rc.config_hash, offer.hash.to_vec());
            assert_eq!(
                rc.config.unwrap().config_map["collector.yaml"].body,
                yaml.as_bytes().to_vec()
            );
        }
        // Encoded straight into a WebSocket frame, as sessions send it: the same frame as
        // wrapping the message afterwards (its length here needs the 16-bit form).
        let framed = encode_ws_framed(&reply(5, false), super::super::ws::binary_frame_start);
        assert_eq!(
            framed,
            super::super::ws::binary_frame(&encode_ws(&reply(5, false)))
        );
        assert_eq!(framed[1], 126);
        let http = encode_http(&reply(3, false));
        assert_eq!(
            proto::ServerToAgent::decode(http.as_slice()).unwrap(),
            server_to_agent(&reply(3, false))
        );
        // An error reply carries no configuration even when one was waiting.
        let mut refused = reply(4, false);
        refused.error = Some(ServerError::BadRequest("no".into()));
        let back = proto::ServerToAgent::decode(&encode_ws(&refused)[1..]).unwrap();
        assert!(back.remote_config.is_none());
    }
}
