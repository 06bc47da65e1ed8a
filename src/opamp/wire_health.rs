//! Reads an `AgentToServer`'s health tree straight off the wire, borrowing its strings.
//!
//! A Collector reports its health tree (pipelines, then components) with every status
//! change: a push brings two such reports per agent. Decoded by prost, each node costs a
//! hash map and a `String` for its name, status and error, all freed again as soon as the
//! tree is encoded into the compact form the registry keeps. Read here, a node costs one
//! vector of its children. Anything unusual (attributes, a field given twice, a group, bad
//! UTF-8, deep nesting) is left to prost, which then decides, so both readings agree.

use prost::encoding::{WireType, decode_key, decode_varint};

use crate::fleet::agent::Attribute;
use crate::fleet::health::{HealthTree, health_scalars};

/// `AgentToServer.health`.
const HEALTH_FIELD: u32 = 5;
/// Deeper trees are left to prost (a Collector's is three levels deep).
const MAX_DEPTH: u32 = 32;

/// A `ComponentHealth` read in place.
#[derive(Debug, Default, PartialEq)]
pub struct WireHealth<'a> {
    healthy: bool,
    start_time_unix_nano: u64,
    status_time_unix_nano: u64,
    status: &'a str,
    last_error: &'a str,
    /// By name, one per name (the last given, as for a protobuf map).
    children: Vec<(&'a str, WireHealth<'a>)>,
}

/// The message without its health field, and the tree read from that field: `None` when
/// the message has no health, or anything about it is unusual (prost then reads it all).
pub fn split(payload: &[u8]) -> Option<(&[u8], &[u8], WireHealth<'_>)> {
    let mut found = None;
    let mut buf = payload;
    while !buf.is_empty() {
        let start = payload.len() - buf.len();
        let (field, wire) = decode_key(&mut buf).ok()?;
        if field == HEALTH_FIELD {
            // Given twice, prost would merge the two: unusual.
            if found.is_some() || wire != WireType::LengthDelimited {
                return None;
            }
            let body = take_len(&mut buf)?;
            found = Some((start, body, payload.len() - buf.len()));
        } else {
            skip(&mut buf, wire)?;
        }
    }
    let (start, body, end) = found?;
    let tree = read_node(body, 0)?;
    Some((&payload[..start], &payload[end..], tree))
}

fn read_node(mut buf: &[u8], depth: u32) -> Option<WireHealth<'_>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut node = WireHealth::default();
    while !buf.is_empty() {
        match decode_key(&mut buf).ok()? {
            (1, WireType::Varint) => node.healthy = decode_varint(&mut buf).ok()? != 0,
            (2, WireType::SixtyFourBit) => node.start_time_unix_nano = fixed64(&mut buf)?,
            (3, WireType::LengthDelimited) => node.last_error = text(&mut buf)?,
            (4, WireType::LengthDelimited) => node.status = text(&mut buf)?,
            (5, WireType::SixtyFourBit) => node.status_time_unix_nano = fixed64(&mut buf)?,
            (6, WireType::LengthDelimited) => {
                let entry = take_len(&mut buf)?;
                node.children.push(read_entry(entry, depth)?);
            }
            // Attributes go through the domain conversion; a known field with another
            // wire type is an error prost reports.
            (1..=7, _) => return None,
            (_, wire) => skip(&mut buf, wire)?,
        }
    }
    // Stable, so of two children with one name the later stays last, and is kept.
    node.children.sort_by(|a, b| a.0.cmp(b.0));
    node.children.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    Some(node)
}

/// One `component_health_map` entry: its key (1) and value (2), each at most once.
fn read_entry(mut buf: &[u8], depth: u32) -> Option<(&str, WireHealth<'_>)> {
    let (mut key, mut value) = (None, None);
    while !buf.is_empty() {
        match decode_key(&mut buf).ok()? {
            (1, WireType::LengthDelimited) if key.is_none() => key = Some(text(&mut buf)?),
            (2, WireType::LengthDelimited) if value.is_none() => {
                value = Some(read_node(take_len(&mut buf)?, depth + 1)?);
            }
            (1 | 2, _) => return None,
            (_, wire) => skip(&mut buf, wire)?,
        }
    }
    Some((key.unwrap_or(""), value.unwrap_or_default()))
}

fn take_len<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(decode_varint(buf).ok()?).ok()?;
    let body = buf.get(..len)?;
    *buf = &buf[len..];
    Some(body)
}

fn text<'a>(buf: &mut &'a [u8]) -> Option<&'a str> {
    std::str::from_utf8(take_len(buf)?).ok()
}

fn fixed64(buf: &mut &[u8]) -> Option<u64> {
    let (head, rest) = buf.split_first_chunk::<8>()?;
    *buf = rest;
    Some(u64::from_le_bytes(*head))
}

/// Skips a field prost would skip; groups are left to prost.
fn skip(buf: &mut &[u8], wire: WireType) -> Option<()> {
    match wire {
        WireType::Varint => {
            decode_varint(buf).ok()?;
        }
        WireType::SixtyFourBit => *buf = buf.get(8..)?,
        WireType::ThirtyTwoBit => *buf = buf.get(4..)?,
        WireType::LengthDelimited => {
            take_len(buf)?;
        }
        WireType::StartGroup | WireType::EndGroup => return None,
    }
    Some(())
}

impl HealthTree for WireHealth<'_> {
    health_scalars!();
    fn attributes(&self) -> &[Attribute] {
        &[]
    }
    fn children(&self) -> impl ExactSizeIterator<Item = (&str, &Self)> + Clone {
        self.children.iter().map(|(k, v)| (*k, v))
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::fleet::health::Health;
    use crate::opamp::proto;

    fn node(
        healthy: bool,
        status: &str,
        children: &[(&str, proto::ComponentHealth)],
    ) -> proto::ComponentHealth {
        proto::ComponentHealth {
            healthy,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            status_time_unix_nano: 1_700_000_005_000_000_000,
            status: status.into(),
            last_error: if healthy {
                String::new()
            } else {
                "exporter: connection refused".into()
            },
            component_health_map: children
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            attributes: Vec::new(),
        }
    }

    fn collector() -> proto::ComponentHealth {
        let pipeline = |bad: bool| {
            node(
                !bad,
                "StatusOK",
                &[
                    ("receiver:otlp", node(true, "StatusOK", &[])),
                    ("processor:batch", node(true, "StatusOK", &[])),
                    (
                        "exporter:otlphttp",
                        node(
                            !bad,
                            if bad {
                                "StatusRecoverableError"
                            } else {
                                "StatusOK"
                            },
                            &[],
                        ),
                    ),
                ],
            )
        };
        node(
            true,
            "StatusOK",
            &[
                ("pipeline:metrics", pipeline(false)),
                ("pipeline:logs", pipeline(true)),
                ("pipeline:traces", pipeline(false)),
            ],
        )
    }

    fn message(health: Option<proto::ComponentHealth>) -> proto::AgentToServer {
        proto::AgentToServer {
            instance_uid: vec![7; 16],
            sequence_num: 9,
            capabilities: 0x3003,
            health,
            remote_config_status: Some(proto::RemoteConfigStatus {
                last_remote_config_hash: vec![1, 2, 3],
                status: 2,
                error_message: String::new(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_collectors_tree_reads_as_prost_reads_it_and_the_rest_of_the_message_is_kept() {
        let msg = message(Some(collector()));
        let bytes = msg.encode_to_vec();
        let (before, after, tree) = split(&bytes).expect("read in place");
        assert_eq!(Health::new(&tree), Health::new(&collector()));
        assert_eq!(
            Health::new(&tree).unhealthy_count(),
            2,
            "the pipeline and its exporter"
        );
        let rest = [before, after].concat();
        let mut without = msg.clone();
        without.health = None;
        assert_eq!(
            proto::AgentToServer::decode(&mut rest.as_slice()).unwrap(),
            without
        );
    }

    #[test]
    fn of_two_children_with_one_name_the_last_counts_as_for_prost() {
        // Two map entries with the same key, written by hand: a HashMap cannot hold them.
        let entry = |key: &str, child: proto::ComponentHealth| {
            let e = proto::ComponentHealth {
                component_health_map: [(key.to_string(), child)].into(),
                ..Default::default()
            };
            e.encode_to_vec()
        };
        let mut body = entry("exporter:otlp", node(true, "StatusOK", &[]));
        body.extend(entry("receiver:otlp", node(true, "StatusOK", &[])));
        body.extend(entry(
            "exporter:otlp",
            node(false, "StatusPermanentError", &[]),
        ));
        let mut payload = Vec::new();
        prost::encoding::bytes::encode(HEALTH_FIELD, &body, &mut payload);
        let by_prost = proto::AgentToServer::decode(payload.as_slice())
            .unwrap()
            .health
            .unwrap();
        let (_, _, tree) = split(&payload).expect("read in place");
        assert_eq!(tree.children.len(), 2);
        assert!(!tree.children[0].1.healthy, "the later exporter entry wins");
        assert_eq!(Health::new(&tree), Health::new(&by_prost));
    }

    #[test]
    fn anything_unusual_is_left_to_prost() {
        assert!(split(&message(None).encode_to_vec()).is_none(), "no health");

        let mut with_attributes = collector();
        with_attributes.attributes.push(proto::KeyValue {
            key: "k".into(),
            value: None,
        });
        assert!(
            split(&message(Some(with_attributes)).encode_to_vec()).is_none(),
            "attributes"
        );

        let mut twice = message(Some(collector())).encode_to_vec();
        prost::encoding::message::encode(HEALTH_FIELD, &collector(), &mut twice);
        assert!(
            split(&twice).is_none(),
            "health given twice is merged by prost"
        );

        let mut bad_text = Vec::new();
        let mut body = Vec::new();
        prost::encoding::bytes::encode(4, &vec![0xff, 0xfe], &mut body);
        prost::encoding::bytes::encode(HEALTH_FIELD, &body, &mut bad_text);
        assert!(split(&bad_text).is_none(), "a status that is not UTF-8");
        assert!(
            proto::AgentToServer::decode(bad_text.as_slice()).is_err(),
            "prost refuses it"
        );

        let mut deep = node(true, "StatusOK", &[]);
        for _ in 0..40 {
            deep = node(true, "StatusOK", &[("c", deep)]);
        }
        assert!(
            split(&message(Some(deep)).encode_to_vec()).is_none(),
            "deep"
        );

        let full = message(Some(collector())).encode_to_vec();
        assert!(split(&full[..full.len() - 3]).is_none(), "cut short");
    }
}
