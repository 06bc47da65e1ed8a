//! Writes the seed corpus under `fuzz/corpus/` (run from `fuzz/`:
//! `cargo run --bin seed_corpus`). Seeds are valid inputs of each kind, so the fuzzer starts
//! deep inside the decoders instead of at their first check.

use std::fs;
use std::path::Path;

use fleetdeck::fleet::AgentId;
use fleetdeck::opamp::body::gzip;
use fleetdeck::opamp::proto;
use fleetdeck::otlp::collector_metrics::{Counts, Export};
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use prost::Message;

fn kv(key: &str, value: &str) -> proto::KeyValue {
    proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue {
            value: Some(proto::any_value::Value::StringValue(value.into())),
        }),
    }
}

fn agent_messages() -> Vec<(&'static str, Vec<u8>)> {
    let uid = vec![0x11; 16];
    let heartbeat = proto::AgentToServer {
        instance_uid: uid.clone(),
        sequence_num: 7,
        capabilities: 0x1 | 0x2 | 0x4 | 0x800,
        ..Default::default()
    };
    let mut components = std::collections::HashMap::new();
    components.insert(
        "receiver:otlp".to_string(),
        proto::ComponentHealth {
            healthy: false,
            last_error: "bind: address in use".into(),
            ..Default::default()
        },
    );
    let mut files = std::collections::HashMap::new();
    files.insert(
        "collector.yaml".to_string(),
        proto::AgentConfigFile {
            body: b"receivers: {otlp: {}}\n".to_vec(),
            content_type: "text/yaml".into(),
        },
    );
    let full = proto::AgentToServer {
        instance_uid: uid.clone(),
        sequence_num: 1,
        capabilities: 0x1fff,
        agent_description: Some(proto::AgentDescription {
            identifying_attributes: vec![
                kv("service.name", "otelcol-contrib"),
                kv("service.version", "0.120.0"),
            ],
            non_identifying_attributes: vec![
                kv("host.name", "web-1"),
                kv("os.type", "linux"),
                proto::KeyValue {
                    key: "nested".into(),
                    value: Some(proto::AnyValue {
                        value: Some(proto::any_value::Value::ArrayValue(proto::ArrayValue {
                            values: vec![proto::AnyValue {
                                value: Some(proto::any_value::Value::IntValue(-3)),
                            }],
                        })),
                    }),
                },
            ],
        }),
        health: Some(proto::ComponentHealth {
            healthy: true,
            status: "StatusOK".into(),
            component_health_map: components,
            ..Default::default()
        }),
        effective_config: Some(proto::EffectiveConfig {
            config_map: Some(proto::AgentConfigMap { config_map: files }),
        }),
        remote_config_status: Some(proto::RemoteConfigStatus {
            last_remote_config_hash: vec![0xab; 32],
            status: 3,
            error_message: "yaml: line 3".into(),
        }),
        flags: 1,
        ..Default::default()
    };
    let ulid = proto::AgentToServer {
        instance_uid: b"01ARZ3NDEKTSV4RRFFQ69G5FAV".to_vec(),
        agent_disconnect: Some(proto::AgentDisconnect::default()),
        ..Default::default()
    };
    vec![
        ("heartbeat", heartbeat.encode_to_vec()),
        ("full", full.encode_to_vec()),
        ("ulid", ulid.encode_to_vec()),
    ]
}

/// A frame as a client sends it: masked, with the shortest length form.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5A, 0x13, 0xC7, 0x08];
    let mut out = vec![b0];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("corpus dir");
    fs::write(dir.join(name), bytes).expect("corpus file");
}

fn main() {
    let root = Path::new("corpus");
    for (name, msg) in agent_messages() {
        let mut framed = vec![0];
        framed.extend_from_slice(&msg);
        write(&root.join("ws_payload"), name, &framed);
        write(&root.join("ws_payload"), &format!("{name}-legacy"), &msg);
        // As it comes off the socket: a masked frame, then the same in three fragments with
        // a ping between them; the first byte is how the fuzz target splits the input.
        let mut wire = vec![7];
        wire.extend(client_frame(0x82, &framed));
        let third = framed.len() / 3;
        wire.extend(client_frame(0x02, &framed[..third]));
        wire.extend(client_frame(0x89, b"ping"));
        wire.extend(client_frame(0x00, &framed[third..2 * third]));
        wire.extend(client_frame(0x80, &framed[2 * third..]));
        wire.extend(client_frame(0x88, &[0x03, 0xE8]));
        write(&root.join("ws_frames"), name, &wire);
        write(&root.join("http_body"), name, &msg);
        write(&root.join("http_body"), &format!("{name}.gz"), &gzip(&msg));
    }
    let export = Export {
        instance: AgentId([0x22; 16]),
        start_ns: 1_700_000_000_000_000_000,
        time_ns: 1_700_000_030_000_000_000,
        temporality: AggregationTemporality::Cumulative,
        receivers: 2,
        exporters: 1,
    };
    let counts = Counts {
        accepted: [10, 20, 30],
        sent: [9, 19, 29],
        send_failed: [1, 1, 1],
        cpu_seconds: 1.5,
        memory_rss: 50 << 20,
    };
    let req = export.request(&counts);
    write(&root.join("otlp_metrics"), "collector.pb", &req.encode_to_vec());
    let json = serde_json::to_vec(&req).expect("json");
    write(&root.join("otlp_metrics"), "collector.json", &json);
    let delta = Export {
        temporality: AggregationTemporality::Delta,
        receivers: 1,
        ..export
    };
    write(
        &root.join("otlp_metrics"),
        "delta.pb",
        &delta.request(&counts).encode_to_vec(),
    );
}
