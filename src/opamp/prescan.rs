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
pub enum TooManyParts {
    #[error(
        "the message holds more than {limit} parts (attributes, health components, files, \
         packages, components); refused before decoding"
    )]
    Parts { limit: usize },
    #[error("the message nests parts more than {limit} deep; refused before decoding")]
    Depth { limit: u32 },
    #[error("{what} is {size} bytes; at most {limit} are accepted")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
}

/// What an agent may say about itself, in bytes on the wire: enough for any real
/// Collector, so that one agent cannot make the server (and its store) hold megabytes.
fn size_cap(kind: Kind, field: u64) -> Option<(&'static str, usize)> {
    use Kind::*;
    Some(match (kind, field) {
        (AgentToServer, 3) => ("the agent description", 64 << 10),
        (AgentToServer, 5) => ("the health report", 1 << 20),
        (AgentToServer, 6) => ("the effective configuration", 2 << 20),
        (AgentToServer, 7) => ("the remote config status", 64 << 10),
        (AgentToServer, 12) => ("the custom capabilities", 64 << 10),
        // A tap's answer holds at most 64 KiB of items, and a little about them.
        (AgentToServer, 13) => ("the custom message", 128 << 10),
        (KeyValue, 1) => ("an attribute key", 256),
        (AnyValue, 1) | (AnyValue, 7) => ("an attribute value", 4 << 10),
        _ => return None,
    })
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
        Ok(()) | Err(Stop::Malformed) => Ok(()),
        Err(Stop::TooMany) => Err(TooManyParts::Parts { limit: MAX_PARTS }),
        Err(Stop::TooDeep) => Err(TooManyParts::Depth { limit: MAX_DEPTH }),
        Err(Stop::TooLarge { what, size, limit }) => {
            Err(TooManyParts::TooLarge { what, size, limit })
        }
    }
}

/// How many parts the payload holds on the wire, or `None` if it cannot be walked (or
/// nests too deep). prost builds at most this many (it merges repeated singular fields).
pub fn parts(payload: &[u8]) -> Option<usize> {
    let mut left = usize::MAX;
    walk(payload, Kind::AgentToServer, 0, &mut left).ok()?;
    Some(usize::MAX - left)
}

enum Stop {
    TooMany,
    TooDeep,
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    /// prost refuses it too. The scan stops only where prost would: otherwise what follows
    /// would go uncounted into the decoder.
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
                if let Some((what, limit)) = size_cap(kind, key >> 3)
                    && len > limit
                {
                    return Err(Stop::TooLarge {
                        what,
                        size: len,
                        limit,
                    });
                }
                let (inner, rest) = buf.split_at(len);
                buf = rest;
                if let Some(sub) = child(kind, key >> 3) {
                    *left = left.checked_sub(1).ok_or(Stop::TooMany)?;
                    if sub != Kind::Leaf {
                        if depth >= MAX_DEPTH {
                            return Err(Stop::TooDeep);
                        }
                        walk(inner, sub, depth + 1, left)?;
                    }
                }
            }
            // A group: prost skips it as an unknown field (none of ours is a group), and
            // so must the scan, to count what follows.
            3 => skip_group(&mut buf, key >> 3, depth)?,
            // An end of group with no start, and wire types 6 and 7: prost refuses them.
            _ => return Err(Stop::Malformed),
        }
    }
    Ok(())
}

/// Skips to the end of the group `field` began, nested groups included.
fn skip_group(buf: &mut &[u8], field: u64, depth: u32) -> Result<(), Stop> {
    if depth >= MAX_DEPTH {
        return Err(Stop::TooDeep);
    }
    loop {
        let key = varint(buf)?;
        match key & 7 {
            0 => {
                varint(buf)?;
            }
            1 => *buf = buf.get(8..).ok_or(Stop::Malformed)?,
            5 => *buf = buf.get(4..).ok_or(Stop::Malformed)?,
            2 => {
                let len = usize::try_from(varint(buf)?).map_err(|_| Stop::Malformed)?;
                *buf = buf.get(len..).ok_or(Stop::Malformed)?;
            }
            3 => skip_group(buf, key >> 3, depth + 1)?,
            4 if key >> 3 == field => return Ok(()),
            _ => return Err(Stop::Malformed),
        }
    }
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
            // In the health report: a description this large is refused by its size.
            health: Some(proto::ComponentHealth {
                attributes: (0..n).map(|_| kv("")).collect(),
                ..Default::default()
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

    /// Counted exactly: one part for the health report, then one per attribute.
    #[test]
    fn the_limit_is_counted_part_by_part() {
        assert_eq!(check(&message_with_attributes(MAX_PARTS - 1)), Ok(()));
        assert_eq!(
            check(&message_with_attributes(MAX_PARTS)),
            Err(TooManyParts::Parts { limit: MAX_PARTS })
        );
    }

    #[test]
    fn what_an_agent_says_about_itself_is_capped_by_size() {
        let with_host = |host: &str| proto::AgentToServer {
            instance_uid: vec![7; 16],
            agent_description: Some(proto::AgentDescription {
                identifying_attributes: vec![proto::KeyValue {
                    key: "host.name".into(),
                    value: Some(proto::AnyValue {
                        value: Some(proto::any_value::Value::StringValue(host.into())),
                    }),
                }],
                non_identifying_attributes: Vec::new(),
            }),
            ..Default::default()
        };
        assert_eq!(check(&with_host(&"h".repeat(4096)).encode_to_vec()), Ok(()));
        assert_eq!(
            check(&with_host(&"h".repeat(4097)).encode_to_vec()),
            Err(TooManyParts::TooLarge {
                what: "an attribute value",
                size: 4097,
                limit: 4096
            })
        );
        let e = check(&with_host(&"h".repeat(100_000)).encode_to_vec()).unwrap_err();
        assert!(
            e.to_string().starts_with("the agent description is 1000"),
            "{e}"
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
        assert_eq!(check(&bytes), Err(TooManyParts::Parts { limit: MAX_PARTS }));
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
        // A length past the end, a varint that never ends, an end of group with no start,
        // a start of group never ended, a nested length past its parent's end.
        let cases: [&[u8]; 5] = [
            &[0x1a, 0xff],
            &[0xff; 11],
            &[0x0c, 0x00],
            &[0x0b, 0x08, 0x01],
            b"\x1a\x05\x0a",
        ];
        for bytes in cases {
            assert_eq!(check(bytes), Ok(()), "{bytes:x?}");
            assert!(proto::AgentToServer::decode(bytes).is_err(), "{bytes:x?}");
        }
    }

    /// An unknown field sent as a group, which prost skips, does not hide what follows.
    #[test]
    fn parts_after_a_skipped_group_are_counted() {
        // Field 100, start group, a varint inside, end group; then the swollen message.
        let mut bytes = vec![0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06];
        bytes.extend(message_with_attributes(MAX_PARTS));
        assert!(
            proto::AgentToServer::decode(&bytes[..]).is_ok(),
            "prost skips the group"
        );
        assert_eq!(check(&bytes), Err(TooManyParts::Parts { limit: MAX_PARTS }));
    }

    /// Nesting too deep to count is refused, not passed on uncounted.
    #[test]
    fn nesting_beyond_the_depth_limit_is_refused() {
        let mut value = proto::AnyValue::default();
        for _ in 0..60 {
            value = proto::AnyValue {
                value: Some(proto::any_value::Value::ArrayValue(proto::ArrayValue {
                    values: vec![value],
                })),
            };
        }
        let msg = proto::AgentToServer {
            agent_description: Some(proto::AgentDescription {
                identifying_attributes: vec![proto::KeyValue {
                    key: "deep".into(),
                    value: Some(value),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            check(&msg.encode_to_vec()),
            Err(TooManyParts::Depth { limit: MAX_DEPTH })
        );
    }
}
