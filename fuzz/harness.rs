#![allow(dead_code)] // each fuzz target uses one of these functions
//! What each fuzz target does with one input. Shared by the `cargo fuzz` targets and by
//! `tests/fuzz_regressions.rs`, which replays the kept corpus and every past crash through
//! the same code on stable Rust.
//!
//! A target passes when it returns: any panic (including a failed property below), hang or
//! out-of-memory is a finding.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::health::Health;
use fleetdeck::fleet::snapshot::{AgentView, FleetSnapshot};
use fleetdeck::fleet::telemetry::{Resolution, Series, TelemetryStore};
use fleetdeck::opamp::ws::{Inbound, Incoming};
use fleetdeck::opamp::{body, codec, frame, prescan, proto};
use fleetdeck::otlp::OtlpStats;
use fleetdeck::otlp::ingest::{self, Sender};
use fleetdeck::otlp::metrics::{self, MetricsBatch};
use fleetdeck::pipeline::template::{NoHelpers, Template};
use fleetdeck::pipeline::{
    Destination, Resource, TypeRegistry, parse_resources, render, render_masked,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

/// The limit the HTTP path is fuzzed with: small, so inflation past it is reachable.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A WebSocket message as the agent listener reads it. Whatever prost can decode, the
/// pre-scan must have walked and counted at least the parts prost built: a miss would let
/// a swollen message through uncounted.
pub fn ws_payload(data: &[u8]) {
    let Ok(payload) = frame::decode_ws_payload(data) else {
        return;
    };
    let by_prost = proto::AgentToServer::decode(payload);
    if let Ok(msg) = &by_prost {
        let built = decoded_parts(msg);
        match prescan::parts(payload) {
            Some(counted) => assert!(
                built <= counted,
                "prost built {built}, scan counted {counted}"
            ),
            None => assert!(
                prescan::check(payload).is_err(),
                "prost decoded what the scan could not walk"
            ),
        }
    }
    let decoded = codec::decode_agent_to_server(payload);
    if let Ok(report) = &decoded {
        // The domain report is what the registry keeps and shows: it must format.
        let _ = format!("{} {report:?}", report.instance_uid);
        // The health tree read in place encodes as the one prost decodes (trees with
        // attributes are converted another way, and compared in the codec's tests).
        let msg = by_prost.as_ref().expect("decoded what prost refuses");
        if let Some(h) = msg.health.as_ref().filter(|h| !has_attributes(h)) {
            assert_eq!(report.health.as_ref(), Some(&Health::new(h)));
        }
    }
    // What the session reads as a plain heartbeat without decoding, the full decode
    // reads as the same plain heartbeat.
    if let Some(beat) = codec::plain_heartbeat(payload) {
        let report = decoded.expect("a plain heartbeat the full decode refuses");
        assert_eq!(
            fleetdeck::fleet::heartbeat::PlainBeat::of(&report),
            Some(beat)
        );
    }
}

fn has_attributes(h: &proto::ComponentHealth) -> bool {
    !h.attributes.is_empty() || h.component_health_map.values().any(has_attributes)
}

/// The repeated parts of a decoded message (attributes, array items, map entries,
/// capabilities): each came from at least one element the pre-scan counts on the wire.
fn decoded_parts(m: &proto::AgentToServer) -> usize {
    fn any(v: &proto::AnyValue) -> usize {
        match &v.value {
            Some(proto::any_value::Value::ArrayValue(a)) => {
                a.values.iter().map(|v| 1 + any(v)).sum()
            }
            Some(proto::any_value::Value::KvlistValue(l)) => kvs(&l.values),
            _ => 0,
        }
    }
    fn kvs(list: &[proto::KeyValue]) -> usize {
        list.iter()
            .map(|kv| 1 + kv.value.as_ref().map_or(0, any))
            .sum()
    }
    fn health(h: &proto::ComponentHealth) -> usize {
        kvs(&h.attributes)
            + h.component_health_map
                .values()
                .map(|c| 1 + health(c))
                .sum::<usize>()
    }
    fn details(d: &proto::ComponentDetails) -> usize {
        kvs(&d.metadata)
            + d.sub_component_map
                .values()
                .map(|c| 1 + details(c))
                .sum::<usize>()
    }
    let description = m.agent_description.as_ref().map_or(0, |d| {
        kvs(&d.identifying_attributes) + kvs(&d.non_identifying_attributes)
    });
    let files = m
        .effective_config
        .as_ref()
        .and_then(|e| e.config_map.as_ref())
        .map_or(0, |c| c.config_map.len());
    description
        + m.health.as_ref().map_or(0, health)
        + files
        + m.package_statuses.as_ref().map_or(0, |p| p.packages.len())
        + m.custom_capabilities
            .as_ref()
            .map_or(0, |c| c.capabilities.len())
        + m.available_components
            .as_ref()
            .map_or(0, |a| a.components.values().map(|c| 1 + details(c)).sum())
}

/// The message limit the WebSocket reader is fuzzed with: small, so it is reachable.
pub const WS_LIMIT: usize = 16 * 1024;

/// Bytes off an agent's socket, through the WebSocket frame reader. The first byte sets
/// how the rest arrives (in pieces of 1 to 256 bytes): whatever the pieces, the messages
/// that come out, and the error that ends them, must be the same as when all arrives at
/// once. Each binary message then goes through [`ws_payload`].
pub fn ws_frames(data: &[u8]) {
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let whole = read_frames(&[data]);
    let pieces: Vec<&[u8]> = data.chunks(usize::from(piece) + 1).collect();
    let piecemeal = read_frames(&pieces);
    assert_eq!(
        whole, piecemeal,
        "the messages depend on how the bytes arrived"
    );
    for incoming in &whole.0 {
        match incoming {
            Incoming::Binary(m) => {
                assert!(m.len() <= WS_LIMIT, "a message over the limit came through");
                ws_payload(m);
            }
            Incoming::Ping(p) => assert!(p.len() <= 125, "an oversized ping came through"),
            Incoming::Text(n) => assert!(*n <= WS_LIMIT, "a text over the limit came through"),
            Incoming::Close(_) => {}
        }
    }
}

/// The messages read from `pieces`, and the error that stopped the reading, if any.
fn read_frames(pieces: &[&[u8]]) -> (Vec<Incoming>, Option<String>) {
    let mut inbound = Inbound::new(WS_LIMIT);
    let mut out = Vec::new();
    for piece in pieces {
        inbound.push(piece);
        loop {
            match inbound.next_message() {
                Ok(Some(incoming)) => out.push(incoming),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, None)
}

/// A plain-HTTP OpAMP body: gzip-inflated under a limit (when it is gzip), then decoded.
pub fn http_body(data: &[u8]) {
    match body::gunzip_limited(data, BODY_LIMIT) {
        Ok(inflated) => {
            assert!(inflated.len() <= BODY_LIMIT, "inflated past the limit");
            let _ = codec::decode_agent_to_server(&inflated);
        }
        Err(_) => {
            let _ = codec::decode_agent_to_server(data);
        }
    }
}

/// An OTLP metrics body, protobuf and JSON, decoded and stored as the receiver does.
pub fn otlp_metrics(data: &[u8]) {
    let store = TelemetryStore::new();
    let stats = OtlpStats::default();
    let mut wire = MetricsBatch::default();
    if metrics::collect_wire(data, &mut wire).is_ok() {
        ingest_both_ways(&mut wire, &store, &stats);
    }
    // The protobuf reader and the typed reader agree on any request prost accepts,
    // once it is in its canonical encoding (what `collect_typed`'s contract states).
    if let Ok(req) = ExportMetricsServiceRequest::decode(data) {
        let canonical = req.encode_to_vec();
        let mut from_wire = MetricsBatch::default();
        if let Err(e) = metrics::collect_wire(&canonical, &mut from_wire) {
            panic!("collect_wire refused a canonical request prost reads: {e}");
        }
        let mut typed = MetricsBatch::default();
        metrics::collect_typed(&req, &mut typed);
        assert_eq!(
            format!("{:?}", from_wire),
            format!("{:?}", typed),
            "collect_wire and collect_typed disagree"
        );
    }
    if let Ok(req) = serde_json::from_slice::<ExportMetricsServiceRequest>(data) {
        let mut typed = MetricsBatch::default();
        metrics::collect_typed(&req, &mut typed);
        ingest_both_ways(&mut typed, &store, &stats);
    }
    read_back(&store);
}

/// Stores a batch as sent with the fleet secret (per resource) and with a per-agent token.
fn ingest_both_ways(batch: &mut MetricsBatch, store: &TelemetryStore, stats: &OtlpStats) {
    let token_agent = AgentId([7; 16]);
    let mut ids: Vec<AgentId> = batch.resources.iter().filter_map(|r| r.instance).collect();
    ids.push(token_agent);
    ids.sort();
    ids.dedup();
    let fleet = FleetSnapshot {
        agents: ids
            .into_iter()
            .map(|id| Arc::new(AgentView::blank(id)))
            .collect(),
        ..FleetSnapshot::default()
    };
    // Two reports a minute apart, so rates are computed from the second.
    for now in [1_700_000_000, 1_700_000_060] {
        ingest::ingest_metrics(now, Sender::Fleet, batch, &fleet, store, stats);
        ingest::ingest_metrics(now, Sender::Agent(token_agent), batch, &fleet, store, stats);
    }
}

fn read_back(store: &TelemetryStore) {
    let mut out = Vec::new();
    for s in Series::ALL {
        store.fleet_tail_at(1_700_000_061, s, Resolution::Second, 60, &mut out);
        store.tail_at(
            1_700_000_061,
            &AgentId([7; 16]),
            s,
            Resolution::TenSeconds,
            10,
            &mut out,
        );
    }
    let mut parts = Vec::new();
    store.parts_at(1_700_000_061, &AgentId([7; 16]), &mut parts);
    for p in &parts {
        assert!(
            store.component_name(p.part.component).is_some(),
            "a part names a component the store does not know"
        );
    }
}

fn builtin() -> &'static TypeRegistry {
    static TYPES: OnceLock<TypeRegistry> = OnceLock::new();
    TYPES.get_or_init(TypeRegistry::builtin)
}

/// Multi-document resource YAML as `fleetdeck apply`/`render` read it: types are loaded
/// over the built-in ones and every configuration is rendered, plain and masked.
pub fn resources(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = TypeRegistry::empty().load_text(text, Some("fuzz.yaml"));
    let Ok(parsed) = parse_resources(text, Some("fuzz.yaml")) else {
        return;
    };
    let mut types = builtin().clone();
    let mut destinations = BTreeMap::<String, Destination>::new();
    let mut configs = Vec::new();
    for r in parsed {
        match r.resource {
            Resource::Type(t) => {
                let _ = types.insert(t);
            }
            Resource::Destination(d) => {
                destinations.insert(d.name().to_string(), d);
            }
            Resource::Configuration(c) => configs.push(c),
        }
    }
    for c in &configs {
        if let Ok(r) = render(c, &types, &destinations) {
            // What agents get must be YAML a Collector can read back.
            if let Err(e) = serde_norway::from_str::<serde_norway::Value>(&r.yaml) {
                panic!("rendered configuration is not YAML ({e}):\n{}", r.yaml);
            }
        }
        let _ = render_masked(c, &types, &destinations);
    }
}

/// A template and its data: the bytes before the first NUL are the template, the rest
/// (when present and JSON) the data; otherwise a small fixed data set.
pub fn template(data: &[u8]) {
    let (src, json) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(src) = std::str::from_utf8(src) else {
        return;
    };
    let value = json
        .and_then(|j| serde_json::from_slice(j).ok())
        .unwrap_or_else(|| {
            serde_json::json!({
                "endpoint": "localhost:4317", "n": 3, "on": true,
                "list": ["a", "b"], "map": {"k": "v", "x": [1, 2]}, "none": null
            })
        });
    if let Ok(t) = Template::parse(src, &NoHelpers) {
        let _ = t.render(&value, &NoHelpers);
    }
}
