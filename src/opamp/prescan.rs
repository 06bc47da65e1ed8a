//! Counts, from the wire alone, how many parts an `AgentToServer` message would decode
//! into (attributes, health components, configuration files, packages, components…), so
//! a message that would take far more memory decoded than it takes on the wire is refused
//! before prost builds it.
//!
//! An empty attribute is 2 bytes on the wire and about 60 bytes decoded; an empty health
//! component about 6 bytes and 200 decoded. A 4 MiB message made of them would make
//! prost allocate 100–150 MB for one message before anything could look at it. Real
//! Collectors send tens to a few thousand parts, so the limit leaves ample room.
//!
//! The scan knows which fields are messages (from the wire facts of `proto/opamp.proto`);
//! fields it does not know are skipped, as prost skips them. Input it cannot walk is left
//! for prost to refuse with its own, more precise error.

/// Parts one message may decode into.
pub const MAX_PARTS: usize = 50_000;
/// Nesting deeper than this is left to prost, which refuses it (its limit is 100).
const MAX_DEPTH: u32 = 100;

/// Why a message was refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the message holds more than {limit} parts (attributes, health components, files, \
     packages, components); refused before decoding"
)]
pub struct TooManyParts {
    pub limit: usize,
}

/// The messages the scan walks into. `Leaf` is a counted part that holds no messages (a
/// string of a repeated string field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    AgentToServer,
    Description,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
    Health,
    HealthEntry,
    EffectiveConfig,
    ConfigMap,
    ConfigEntry,
    PackageStatuses,
    PackageEntry,
    PackageStatus,
    CustomCapabilities,
    AvailableComponents,
    ComponentEntry,
    ComponentDetails,
    ConnectionRequest,
    OpampConnectionRequest,
    Leaf,
}

/// The kind of message in length-delimited field `field` of a `kind`, if it is one the
/// scan counts (strings and bytes are not parts: they cost what they weigh).
fn child(kind: Kind, field: u64) -> Option<Kind> {
    use Kind::*;
    Some(match (kind, field) {
        (AgentToServer, 3) => Description,
        (AgentToServer, 5) => Health,
        (AgentToServer, 6) => EffectiveConfig,
        (AgentToServer, 7) | (AgentToServer, 9) | (AgentToServer, 13) => Leaf,
        (AgentToServer, 8) => PackageStatuses,
        (AgentToServer, 11) => ConnectionRequest,
        (AgentToServer, 12) => CustomCapabilities,
        (AgentToServer, 14) => AvailableComponents,
        (AgentToServer, 15) => Leaf,
        (Description, 1 | 2) => KeyValue,
        (KeyValue, 2) => AnyValue,
        (AnyValue, 5) => ArrayValue,
        (AnyValue, 6) => KeyValueList,
        (ArrayValue, 1) => AnyValue,
        (KeyValueList, 1) => KeyValue,
        (Health, 6) => HealthEntry,
        (Health, 7) => KeyValue,
        (HealthEntry, 2) => Health,
        (EffectiveConfig, 1) => ConfigMap,
        (ConfigMap, 1) => ConfigEntry,
        (ConfigEntry, 2) => Leaf,
        (PackageStatuses, 1) => PackageEntry,
        (PackageEntry, 2) => PackageStatus,
        (PackageStatus, 8) => Leaf,
        (CustomCapabilities, 1) => Leaf,
        (AvailableComponents, 1) => ComponentEntry,
        (ComponentEntry, 2) => ComponentDetails,
        (ComponentDetails, 1) => KeyValue,
        (ComponentDetails, 2) => ComponentEntry,
        (ConnectionRequest, 1) => OpampConnectionRequest,
        (OpampConnectionRequest, 1) => Leaf,
        _ => return None,
    })
}

/// Refuses an `AgentToServer` payload that would decode into more than [`MAX_PARTS`]
/// parts. Malformed input passes: prost refuses it next, saying what is wrong.
pub fn check(payload: &[u8]) -> Result<(), TooManyParts> {
    let mut left = MAX_PARTS;
    match walk(payload, Kind::AgentToServer, 0, &mut left) {
        Err(Stop::TooMany) => Err(TooManyParts { limit: MAX_PARTS }),
        Ok(()) | Err(Stop::Malformed) => Ok(()),
    }
}

enum Stop {
    TooMany,
    Malformed,
}

fn walk(mut buf: &[u8], kind: Kind, depth: u32, left: &mut usize) -> Result<(), Stop> {
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        match key & 7 {
            0 => {
                varint(&mut buf)?;
            }
            1 => buf = buf.get(8..).ok_or(Stop::Malformed)?,
            5 => buf = buf.get(4..).ok_or(Stop::Malformed)?,
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| Stop::Malformed)?;
                if len > buf.len() {
                    return Err(Stop::Malformed);
                }
                let (inner, rest) = buf.split_at(len);
                buf = rest;
                if let Some(sub) = child(kind, key >> 3) {
                    *left = left.checked_sub(1).ok_or(Stop::TooMany)?;
                    if sub != Kind::Leaf {
                        if depth >= MAX_DEPTH {
                            return Err(Stop::Malformed);
                        }
                        walk(inner, sub, depth + 1, left)?;
                    }
                }
            }
            // Groups (3, 4) and unknown wire types: prost refuses them.
            _ => return Err(Stop::Malformed),
        }
    }
    Ok(())
}

fn varint(buf: &mut &[u8]) -> Result<u64, Stop> {
    let mut value = 0u64;
    for (i, byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Ok(value);
        }
    }
    Err(Stop::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opamp::proto;
    use prost::Message;
    use std::collections::HashMap;

    fn kv(key: &str) -> proto::KeyValue {
        proto::KeyValue {
            key: key.into(),
            value: None,
        }
    }

    fn message_with_attributes(n: usize) -> Vec<u8> {
        proto::AgentToServer {
            instance_uid: vec![7; 16],
            agent_description: Some(proto::AgentDescription {
                identifying_attributes: vec![kv("service.name")],
                non_identifying_attributes: (1..n).map(|_| kv("")).collect(),
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn an_ordinary_report_passes() {
        let health = proto::ComponentHealth {
            healthy: true,
            component_health_map: (0..200)
                .map(|i| (format!("pipeline:{i}"), proto::ComponentHealth::default()))
                .collect::<HashMap<_, _>>(),
            ..Default::default()
        };
        let msg = proto::AgentToServer {
            instance_uid: vec![7; 16],
            agent_description: Some(proto::AgentDescription {
                identifying_attributes: vec![kv("service.name"), kv("service.instance.id")],
                non_identifying_attributes: vec![kv("host.name"), kv("os.type")],
            }),
            health: Some(health),
            custom_capabilities: Some(proto::CustomCapabilities {
                capabilities: vec!["io.example.x".into()],
            }),
            ..Default::default()
        };
        assert_eq!(check(&msg.encode_to_vec()), Ok(()));
    }

    /// Counted exactly: one attribute for the description, then one per attribute.
    #[test]
    fn the_limit_is_counted_part_by_part() {
        assert_eq!(check(&message_with_attributes(MAX_PARTS - 1)), Ok(()));
        assert_eq!(
            check(&message_with_attributes(MAX_PARTS)),
            Err(TooManyParts { limit: MAX_PARTS })
        );
    }

    /// A health tree of empty components: ~6 bytes each on the wire.
    #[test]
    fn a_wide_health_tree_of_empty_components_is_refused() {
        let health = proto::ComponentHealth {
            component_health_map: (0..MAX_PARTS)
                .map(|i| (format!("{i}"), proto::ComponentHealth::default()))
                .collect::<HashMap<_, _>>(),
            ..Default::default()
        };
        let msg = proto::AgentToServer {
            instance_uid: vec![7; 16],
            health: Some(health),
            ..Default::default()
        };
        let bytes = msg.encode_to_vec();
        assert!(bytes.len() < 1 << 20, "it fits an ordinary message size");
        assert_eq!(check(&bytes), Err(TooManyParts { limit: MAX_PARTS }));
    }

    /// Arrays nested in attribute values count as they nest.
    #[test]
    fn nested_attribute_values_count() {
        let leaf = proto::AnyValue {
            value: Some(proto::any_value::Value::BoolValue(true)),
        };
        let array = proto::AnyValue {
            value: Some(proto::any_value::Value::ArrayValue(proto::ArrayValue {
                values: vec![leaf; MAX_PARTS],
            })),
        };
        let msg = proto::AgentToServer {
            instance_uid: vec![7; 16],
            agent_description: Some(proto::AgentDescription {
                identifying_attributes: vec![proto::KeyValue {
                    key: "big".into(),
                    value: Some(array),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(check(&msg.encode_to_vec()).is_err());
    }

    /// Whatever the scan cannot walk is prost's to refuse.
    #[test]
    fn malformed_input_is_left_to_prost() {
        for bytes in [
            &[0x1a, 0xff][..],
            &[0xff; 11],
            &[0x0b, 0x00],
            b"\x1a\x05\x0a",
        ] {
            assert_eq!(check(bytes), Ok(()));
            assert!(proto::AgentToServer::decode(bytes).is_err());
        }
    }
}
