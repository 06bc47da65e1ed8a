//! From an OTLP metrics request to [`Sample`]s grouped by resource.
//!
//! Two readers produce the same batch: [`collect_wire`] walks protobuf bodies without
//! allocating (the hot path), [`collect_typed`] reads `opentelemetry-proto` messages (the JSON
//! path). Only the Collector self-metrics named in [`super::names`] become samples; every other
//! data point is only counted, so partial-success replies can say how many were dropped.

use std::hash::BuildHasher;
use std::ops::Range;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, DataPointFlags, NumberDataPoint, metric::Data, number_data_point,
};
use prost::Message;

use super::names::{Kept, kept, signal_attribute};
use super::wire::{Fields, Value, WireError};
use crate::fleet::AgentId;
use crate::fleet::tap::names_tap_exporter;
use crate::fleet::telemetry::parts::{MAX_COMPONENT_ID, component_hash};
use crate::fleet::telemetry::{PartPoint, Sample, Series, Signal, TelemetryStore, Temporality};

/// The resource attribute naming the agent when the request carries no per-agent token.
pub const INSTANCE_ID_KEY: &str = "service.instance.id";

/// Samples of one request, grouped by resource. Reused between requests, so a steady stream
/// of requests allocates nothing.
#[derive(Debug, Default)]
pub struct MetricsBatch {
    pub resources: Vec<ResourceSamples>,
    pub samples: Vec<Sample>,
    /// Component IDs the samples name, by hash; a sample's `part.component` indexes this
    /// list until [`MetricsBatch::resolve_components`] swaps in the store's indexes.
    components: Vec<(u64, Range<usize>)>,
    component_text: String,
}

/// Distinct component IDs read from one request; more are not kept per component.
const MAX_BATCH_COMPONENTS: usize = 1024;

/// One `ResourceMetrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSamples {
    /// `service.instance.id`, when it is a UUID.
    pub instance: Option<AgentId>,
    /// Its samples in [`MetricsBatch::samples`].
    pub samples: Range<usize>,
    /// All its data points, kept or not.
    pub points: u64,
}

impl MetricsBatch {
    pub fn clear(&mut self) {
        self.resources.clear();
        self.samples.clear();
        self.components.clear();
        self.component_text.clear();
    }

    /// The batch's index of a component ID, added when new; `None` for IDs that are not
    /// a Collector's (not UTF-8, too long) or past the batch's limit.
    fn component(&mut self, id: &[u8]) -> Option<u16> {
        let hash = component_hash(id);
        if let Some(i) = self.components.iter().position(|(h, _)| *h == hash) {
            return u16::try_from(i).ok();
        }
        let text = std::str::from_utf8(id).ok()?;
        if text.is_empty() || id.len() > MAX_COMPONENT_ID {
            return None;
        }
        if self.components.len() >= MAX_BATCH_COMPONENTS {
            return None;
        }
        let at = self.component_text.len();
        self.component_text.push_str(text);
        self.components.push((hash, at..self.component_text.len()));
        u16::try_from(self.components.len() - 1).ok()
    }

    /// The component IDs the batch names, in batch index order.
    pub fn component_ids(&self) -> impl Iterator<Item = &str> {
        self.components
            .iter()
            .map(|(_, r)| &self.component_text[r.clone()])
    }

    /// Swaps the batch's component indexes in the samples for the store's interned ones
    /// (adding new IDs there); parts whose ID the store cannot take are dropped.
    pub fn resolve_components(&mut self, store: &TelemetryStore) {
        if self.components.is_empty() {
            return;
        }
        let mut global = [None; MAX_BATCH_COMPONENTS];
        for (i, (hash, range)) in self.components.iter().enumerate() {
            global[i] =
                store.intern_component(*hash, || self.component_text[range.clone()].to_string());
        }
        for s in &mut self.samples {
            if let Some(p) = s.part {
                s.part = global
                    .get(usize::from(p.component))
                    .copied()
                    .flatten()
                    .map(|component| PartPoint { component, ..p });
            }
        }
        // Resolved once: a second call must not read the store's indexes as the batch's.
        self.components.clear();
        self.component_text.clear();
    }

    /// Data points in the whole request.
    pub fn points(&self) -> u64 {
        self.resources.iter().map(|r| r.points).sum()
    }

    pub fn samples_of(&self, r: &ResourceSamples) -> &[Sample] {
        &self.samples[r.samples.clone()]
    }
}

/// Order-independent fingerprint of an attribute set from the encoded `KeyValue`s.
#[derive(Default, Clone, Copy)]
struct StreamKey(u64);

impl StreamKey {
    fn add(&mut self, encoded_kv: &[u8]) {
        // Summing per-attribute hashes makes the key independent of attribute order.
        let h = foldhash::fast::FixedState::with_seed(0x000f_1ee7_dec4).hash_one(encoded_kv);
        self.0 = self.0.wrapping_add(h);
    }
}

/// How the samples of a metric are to be read.
fn temporality(what: Kept, sum_temporality: Option<i32>) -> Temporality {
    let level =
        what.series == Some(Series::Memory) || what.part.is_some_and(|(_, m, _)| m.is_level());
    match (level, sum_temporality) {
        // Memory and queue fill are levels, whatever instrument reported them.
        (true, _) => Temporality::Gauge,
        (_, Some(t)) if t == AggregationTemporality::Delta as i32 => Temporality::Delta,
        _ => Temporality::Cumulative,
    }
}

const NO_RECORDED_VALUE: u32 = DataPointFlags::NoRecordedValueMask as u32;

// ---------------------------------------------------------------------------------------
// Protobuf, borrowed.

/// Reads a protobuf `ExportMetricsServiceRequest` into `batch` (cleared first).
pub fn collect_wire(body: &[u8], batch: &mut MetricsBatch) -> Result<(), WireError> {
    batch.clear();
    let mut fields = Fields::new(body, 0, "ExportMetricsServiceRequest");
    while let Some(field) = fields.next() {
        if let (1, v) = field? {
            let (rm, at) = v.bytes(&fields, "resource_metrics must be a message")?;
            resource_metrics(rm, at, batch)?;
        }
    }
    Ok(())
}

fn resource_metrics(buf: &[u8], base: usize, batch: &mut MetricsBatch) -> Result<(), WireError> {
    let start = batch.samples.len();
    let mut instance = None;
    let mut points = 0;
    let mut fields = Fields::new(buf, base, "ResourceMetrics");
    while let Some(field) = fields.next() {
        match field? {
            (1, v) => {
                let (res, at) = v.bytes(&fields, "resource must be a message")?;
                instance = resource_instance(res, at)?;
            }
            (2, v) => {
                let (sm, at) = v.bytes(&fields, "scope_metrics must be a message")?;
                points += scope_metrics(sm, at, batch)?;
            }
            _ => {}
        }
    }
    batch.resources.push(ResourceSamples {
        instance,
        samples: start..batch.samples.len(),
        points,
    });
    Ok(())
}

/// `service.instance.id` of a `Resource`, if present and a UUID.
fn resource_instance(buf: &[u8], base: usize) -> Result<Option<AgentId>, WireError> {
    let mut found = None;
    let mut fields = Fields::new(buf, base, "Resource");
    while let Some(field) = fields.next() {
        if let (1, v) = field? {
            let (kv, at) = v.bytes(&fields, "attributes must be messages")?;
            // Keys must be unique; should one repeat, the first wins (as in `typed_instance`).
            let id = instance_attribute(kv, at)?;
            found = found.or(id);
        }
    }
    Ok(found)
}

fn instance_attribute(buf: &[u8], base: usize) -> Result<Option<AgentId>, WireError> {
    let mut is_instance = false;
    let mut value = None;
    let mut fields = Fields::new(buf, base, "KeyValue");
    while let Some(field) = fields.next() {
        match field? {
            (1, v) => {
                let (key, _) = v.bytes(&fields, "key must be a string")?;
                is_instance = key == INSTANCE_ID_KEY.as_bytes();
            }
            (2, v) => value = Some(v.bytes(&fields, "value must be an AnyValue")?),
            _ => {}
        }
    }
    let Some((any, at)) = value.filter(|_| is_instance) else {
        return Ok(None);
    };
    let mut fields = Fields::new(any, at, "AnyValue");
    while let Some(field) = fields.next() {
        if let (1, v) = field? {
            let (text, _) = v.bytes(&fields, "string_value must be a string")?;
            return Ok(uuid::Uuid::try_parse_ascii(text)
                .ok()
                .map(|u| AgentId(*u.as_bytes())));
        }
    }
    Ok(None)
}

fn scope_metrics(buf: &[u8], base: usize, batch: &mut MetricsBatch) -> Result<u64, WireError> {
    let mut points = 0;
    let mut fields = Fields::new(buf, base, "ScopeMetrics");
    while let Some(field) = fields.next() {
        if let (2, v) = field? {
            let (m, at) = v.bytes(&fields, "metrics must be messages")?;
            points += metric(m, at, batch)?;
        }
    }
    Ok(points)
}

/// Kinds of `Metric.data`, by field number.
const GAUGE: u32 = 5;
const SUM: u32 = 7;

fn metric(buf: &[u8], base: usize, batch: &mut MetricsBatch) -> Result<u64, WireError> {
    let mut what = None;
    let mut data = None;
    let mut fields = Fields::new(buf, base, "Metric");
    while let Some(field) = fields.next() {
        match field? {
            (1, v) => {
                let (name, _) = v.bytes(&fields, "name must be a string")?;
                what = kept(name);
            }
            (kind @ (5 | 7 | 9 | 10 | 11), v) => {
                let (d, at) = v.bytes(&fields, "data must be a message")?;
                data = Some((kind, d, at));
            }
            _ => {}
        }
    }
    let Some((kind, d, at)) = data else {
        return Ok(0);
    };
    match what {
        Some(what) if kind == GAUGE || kind == SUM => number_points(what, kind, d, at, batch),
        _ => count_points(d, at),
    }
}

/// Counts the data points (field 1 in every `Metric.data` kind) without reading them.
fn count_points(buf: &[u8], base: usize) -> Result<u64, WireError> {
    let mut n = 0;
    for field in Fields::new(buf, base, "metric data") {
        if field?.0 == 1 {
            n += 1;
        }
    }
    Ok(n)
}

/// Reads the points of a `Gauge` or `Sum` we keep.
fn number_points(
    what: Kept,
    kind: u32,
    buf: &[u8],
    base: usize,
    batch: &mut MetricsBatch,
) -> Result<u64, WireError> {
    let first = batch.samples.len();
    let mut points = 0;
    let mut sum_temporality = None;
    let mut fields = Fields::new(buf, base, if kind == SUM { "Sum" } else { "Gauge" });
    while let Some(field) = fields.next() {
        match field? {
            (1, v) => {
                let (p, at) = v.bytes(&fields, "data_points must be messages")?;
                points += 1;
                if let Some(sample) = number_point(what, p, at, batch)? {
                    batch.samples.push(sample);
                }
            }
            (2, v) if kind == SUM => {
                let t = v.varint(&fields, "aggregation_temporality must be a varint")?;
                sum_temporality = Some(i32::try_from(t).unwrap_or(0));
            }
            _ => {}
        }
    }
    // The temporality may follow the points on the wire: settle it once the message is read.
    let t = temporality(what, sum_temporality);
    for s in &mut batch.samples[first..] {
        s.temporality = t;
    }
    Ok(points)
}

fn number_point(
    what: Kept,
    buf: &[u8],
    base: usize,
    batch: &mut MetricsBatch,
) -> Result<Option<Sample>, WireError> {
    let mut key = StreamKey::default();
    let (mut start_ns, mut time_ns, mut value, mut flags) = (0, 0, None, 0);
    let mut ours = false;
    let (mut component, mut seen, mut signal) = (None, false, what.part.and_then(|(_, _, s)| s));
    let mut fields = Fields::new(buf, base, "NumberDataPoint");
    while let Some(field) = fields.next() {
        match field? {
            (7, Value::Len(kv, at)) => {
                ours |= names_tap_exporter(kv);
                key.add(kv);
                if let Some((component_key, _, _)) = what.part {
                    let (k, v) = key_value(kv, at)?;
                    if k == component_key.attribute() && !seen {
                        // The first one counts, as in the typed reader.
                        (component, seen) = (v, true);
                    } else if let Some(s) = v.and_then(|v| signal_attribute(k, v)) {
                        signal = signal.or(Some(s));
                    }
                }
            }
            (2, v) => start_ns = v.fixed64(&fields, "start_time_unix_nano must be fixed64")?,
            (3, v) => time_ns = v.fixed64(&fields, "time_unix_nano must be fixed64")?,
            (4, v) => {
                let bits = v.fixed64(&fields, "as_double must be a double")?;
                value = Some(f64::from_bits(bits));
            }
            (6, v) => {
                let bits = v.fixed64(&fields, "as_int must be sfixed64")?;
                value = Some(bits as i64 as f64);
            }
            (8, v) => {
                flags = v.varint(&fields, "flags must be a varint")?;
            }
            (7, _) => return Err(fields.error_here("attributes must be messages")),
            _ => {}
        }
    }
    if ours {
        // A supervisor's tap exporter: not what the agent sends on.
        return Ok(None);
    }
    let part = part_point(what, component, signal, batch);
    Ok(make_sample(
        what.series,
        part,
        key,
        start_ns,
        time_ns,
        value,
        flags as u32,
    ))
}

/// The component part of a point: the metric must feed one, and the point must name its
/// component and signal.
fn part_point(
    what: Kept,
    component: Option<&[u8]>,
    signal: Option<Signal>,
    batch: &mut MetricsBatch,
) -> Option<PartPoint> {
    let (_, measure, _) = what.part?;
    Some(PartPoint {
        component: batch.component(component?)?,
        measure,
        signal: signal?,
    })
}

/// A `KeyValue`'s key, and its value when it is a string.
fn key_value(buf: &[u8], base: usize) -> Result<(&[u8], Option<&[u8]>), WireError> {
    let (mut key, mut value) = (&b""[..], None);
    let mut fields = Fields::new(buf, base, "KeyValue");
    while let Some(field) = fields.next() {
        match field? {
            (1, v) => key = v.bytes(&fields, "key must be a string")?.0,
            (2, v) => {
                let (any, at) = v.bytes(&fields, "value must be an AnyValue")?;
                let mut inner = Fields::new(any, at, "AnyValue");
                while let Some(f) = inner.next() {
                    if let (1, v) = f? {
                        value = Some(v.bytes(&inner, "string_value must be a string")?.0);
                    }
                }
            }
            _ => {}
        }
    }
    Ok((key, value))
}

fn make_sample(
    series: Option<Series>,
    part: Option<PartPoint>,
    key: StreamKey,
    start_ns: u64,
    time_ns: u64,
    value: Option<f64>,
    flags: u32,
) -> Option<Sample> {
    let value = value.filter(|v| v.is_finite())?;
    if flags & NO_RECORDED_VALUE != 0 || time_ns == 0 {
        return None;
    }
    if series.is_none() && part.is_none() {
        return None;
    }
    Some(Sample {
        series,
        part,
        stream: key.0,
        // Set by the caller once the metric's temporality is known.
        temporality: Temporality::Cumulative,
        start_ns,
        time_ns,
        value,
    })
}

// ---------------------------------------------------------------------------------------
// Typed messages (JSON bodies).

/// Reads a decoded request into `batch` (cleared first), giving the same samples and stream
/// keys as [`collect_wire`] on the protobuf encoding of the same request.
pub fn collect_typed(req: &ExportMetricsServiceRequest, batch: &mut MetricsBatch) {
    batch.clear();
    let mut scratch = Vec::new();
    for rm in &req.resource_metrics {
        let start = batch.samples.len();
        let mut points = 0u64;
        let instance = rm
            .resource
            .as_ref()
            .and_then(|r| typed_instance(&r.attributes));
        for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
            let what = kept(m.name.as_bytes());
            let (dps, sum_t): (&[NumberDataPoint], _) = match &m.data {
                Some(Data::Gauge(g)) => (&g.data_points, None),
                Some(Data::Sum(s)) => (&s.data_points, Some(s.aggregation_temporality)),
                Some(Data::Histogram(h)) => {
                    points += h.data_points.len() as u64;
                    continue;
                }
                Some(Data::ExponentialHistogram(h)) => {
                    points += h.data_points.len() as u64;
                    continue;
                }
                Some(Data::Summary(s)) => {
                    points += s.data_points.len() as u64;
                    continue;
                }
                None => continue,
            };
            points += dps.len() as u64;
            let Some(what) = what else { continue };
            let t = temporality(what, sum_t);
            for p in dps {
                let tap = p.attributes.iter().any(|kv| {
                    matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()),
                        Some(any_value::Value::StringValue(s)) if names_tap_exporter(s.as_bytes()))
                });
                if tap {
                    continue;
                }
                let key = typed_key(&p.attributes, &mut scratch);
                let value = p.value.map(|v| match v {
                    number_data_point::Value::AsDouble(d) => d,
                    number_data_point::Value::AsInt(i) => i as f64,
                });
                let part = typed_part(what, &p.attributes, batch);
                let sample = make_sample(
                    what.series,
                    part,
                    key,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                    value,
                    p.flags,
                );
                batch.samples.extend(sample.map(|s| Sample {
                    temporality: t,
                    ..s
                }));
            }
        }
        batch.resources.push(ResourceSamples {
            instance,
            samples: start..batch.samples.len(),
            points,
        });
    }
}

/// [`part_point`] for typed attributes.
fn typed_part(what: Kept, attributes: &[KeyValue], batch: &mut MetricsBatch) -> Option<PartPoint> {
    let (key, _, named) = what.part?;
    fn text(kv: &KeyValue) -> Option<&[u8]> {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
    let component = attributes
        .iter()
        .find(|kv| kv.key.as_bytes() == key.attribute())
        .and_then(text);
    let signal = named.or_else(|| {
        attributes
            .iter()
            .find_map(|kv| signal_attribute(kv.key.as_bytes(), text(kv)?))
    });
    part_point(what, component, signal, batch)
}

fn typed_key(attributes: &[KeyValue], scratch: &mut Vec<u8>) -> StreamKey {
    let mut key = StreamKey::default();
    for kv in attributes {
        scratch.clear();
        // Encoding into a Vec cannot fail: it grows as needed.
        if kv.encode(scratch).is_ok() {
            key.add(scratch);
        }
    }
    key
}

/// `service.instance.id` among typed resource attributes, if it is a UUID.
pub fn typed_instance(attributes: &[KeyValue]) -> Option<AgentId> {
    attributes
        .iter()
        .filter(|kv| kv.key == INSTANCE_ID_KEY)
        .find_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => s.parse().ok(),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::telemetry::Signal;
    use crate::otlp::collector_metrics::{Counts, Export};

    fn export(instance: AgentId, temporality: AggregationTemporality) -> Export {
        Export {
            instance,
            start_ns: 1_000 * 1_000_000_000,
            time_ns: 1_060 * 1_000_000_000,
            temporality,
            receivers: 3,
            exporters: 2,
        }
    }

    fn counts() -> Counts {
        Counts {
            accepted: [10, 20, 30],
            sent: [9, 19, 29],
            send_failed: [1, 1, 1],
            cpu_seconds: 1.5,
            memory_rss: 64 << 20,
        }
    }

    #[test]
    fn protobuf_walker_agrees_with_typed_decoding() {
        let (a, b) = (AgentId::new_v7(), AgentId::new_v7());
        let mut req = export(a, AggregationTemporality::Cumulative).request(&counts());
        req.resource_metrics
            .push(export(b, AggregationTemporality::Delta).resource_metrics(&counts()));
        let body = req.encode_to_vec();

        let (mut wire, mut typed) = (MetricsBatch::default(), MetricsBatch::default());
        assert_eq!(collect_wire(&body, &mut wire), Ok(()));
        let decoded = ExportMetricsServiceRequest::decode(&body[..]).unwrap_or_default();
        collect_typed(&decoded, &mut typed);

        assert_eq!(wire.resources, typed.resources);
        assert_eq!(wire.samples, typed.samples);
        assert_eq!(wire.resources[0].instance, Some(a));
        assert_eq!(wire.resources[1].instance, Some(b));
        // 3 signals × (3 receivers + 2 + 2 exporters) counters, plus cpu and memory, and
        // the per-component counts: refused 9, enqueue_failed 6 (the queue gauges here
        // carry no `data_type`, so they name no signal and are not kept).
        let own = wire.samples_of(&wire.resources[0]);
        assert_eq!(own.len(), 3 * 7 + 2 + 9 + 6);
        assert_eq!(own.iter().filter(|s| s.series.is_some()).count(), 3 * 7 + 2);
        assert_eq!(
            own.iter().filter(|s| s.part.is_some()).count(),
            3 * 7 + 9 + 6
        );
        assert_eq!(
            wire.component_ids().collect::<Vec<_>>(),
            ["otlp/0", "otlp/1", "otlp/2"],
            "receivers and exporters share the simulated IDs"
        );
        // Every point is counted, kept or not: refused 9, enqueue_failed 6, queue gauges 4,
        // 4 more process metrics, 2 histograms.
        assert_eq!(wire.resources[0].points, 23 + 9 + 6 + 4 + 4 + 2);
        let delta = wire.samples_of(&wire.resources[1]);
        assert!(
            delta
                .iter()
                .filter(|s| s.series != Some(Series::Memory))
                .all(|s| s.temporality == Temporality::Delta)
        );
    }

    #[test]
    fn accepted_spans_sum_over_receivers() {
        let mut batch = MetricsBatch::default();
        let req = export(AgentId::new_v7(), AggregationTemporality::Cumulative).request(&counts());
        assert_eq!(collect_wire(&req.encode_to_vec(), &mut batch), Ok(()));
        let spans: Vec<_> = batch
            .samples
            .iter()
            .filter(|s| s.series == Some(Series::In(Signal::Traces)))
            .collect();
        assert_eq!(spans.len(), 3);
        assert_eq!(spans.iter().map(|s| s.value).sum::<f64>(), 30.0);
        // Each receiver is its own stream.
        assert!(spans[0].stream != spans[1].stream && spans[1].stream != spans[2].stream);
    }

    #[test]
    fn otlp_json_specifics_are_read() {
        // As a Collector writes OTLP/JSON: 64-bit integers as strings, enums as integers,
        // hex trace ids in exemplars, and fields this version does not know.
        let body = r#"{"resourceMetrics":[{"resource":{"attributes":[
            {"key":"service.instance.id","value":{"stringValue":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}}]},
          "scopeMetrics":[{"scope":{"name":"otelcol"},"metrics":[
            {"name":"otelcol_exporter_sent_spans_total","unit":"{span}","futureField":1,
             "sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
               {"attributes":[{"key":"exporter","value":{"stringValue":"otlp"}}],
                "startTimeUnixNano":"1700000000000000000","timeUnixNano":"1700000060000000000",
                "asInt":"9007199254740993",
                "exemplars":[{"timeUnixNano":"1700000059000000000","asDouble":1.0,
                  "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]},
               {"attributes":[{"key":"exporter","value":{"stringValue":"debug"}}],
                "startTimeUnixNano":1700000000000000000,"timeUnixNano":1700000060000000000,
                "asInt":7}]}},
            {"name":"otelcol_process_memory_rss","gauge":{"dataPoints":[
               {"timeUnixNano":"1700000060000000000","asDouble":1.5e8}]}},
            {"name":"http.server.duration","histogram":{"aggregationTemporality":2,"dataPoints":[
               {"count":"4","sum":2.5,"bucketCounts":["1","3"],"explicitBounds":[1.0],
                "timeUnixNano":"1700000060000000000"}]}}]}]}]}"#;
        let req: ExportMetricsServiceRequest = match serde_json::from_str(body) {
            Ok(r) => r,
            Err(e) => panic!("OTLP/JSON not accepted: {e}"),
        };
        let mut batch = MetricsBatch::default();
        collect_typed(&req, &mut batch);
        let r = &batch.resources[0];
        assert_eq!(
            r.instance,
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".parse().ok()
        );
        assert_eq!(r.points, 4);
        let s = batch.samples_of(r);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].series, Some(Series::Out(Signal::Traces)));
        assert_eq!(s[0].temporality, Temporality::Cumulative);
        assert_eq!(s[0].start_ns, 1_700_000_000_000_000_000);
        assert_eq!(s[0].time_ns, 1_700_000_060_000_000_000);
        assert_eq!(s[0].value, 9007199254740993_i64 as f64);
        assert_eq!(s[1].value, 7.0);
        assert_eq!(
            (s[2].series, s[2].temporality, s[2].value),
            (Some(Series::Memory), Temporality::Gauge, 1.5e8)
        );
    }

    #[test]
    fn temporality_after_the_points_still_applies() {
        use opentelemetry_proto::tonic::metrics::v1::{Metric, Sum};
        let points = Sum {
            data_points: vec![NumberDataPoint {
                time_unix_nano: 5,
                value: Some(number_data_point::Value::AsInt(3)),
                ..NumberDataPoint::default()
            }],
            ..Sum::default()
        };
        let temporality = Sum {
            aggregation_temporality: AggregationTemporality::Delta as i32,
            ..Sum::default()
        };
        // Concatenated messages merge: points first, temporality after them.
        let mut sum = points.encode_to_vec();
        sum.extend(temporality.encode_to_vec());
        let mut metric = Metric {
            name: "otelcol_receiver_accepted_log_records".into(),
            ..Metric::default()
        }
        .encode_to_vec();
        metric.push(7 << 3 | 2);
        prost::encoding::encode_varint(sum.len() as u64, &mut metric);
        metric.extend(sum);

        let mut batch = MetricsBatch::default();
        assert_eq!(super::metric(&metric, 0, &mut batch), Ok(1));
        assert_eq!(batch.samples.len(), 1);
        assert_eq!(batch.samples[0].temporality, Temporality::Delta);
        assert_eq!(batch.samples[0].series, Some(Series::In(Signal::Logs)));
    }

    #[test]
    fn attribute_order_does_not_change_the_stream() {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..KeyValue::default()
        };
        let mut scratch = Vec::new();
        let ab = typed_key(&[kv("a", "1"), kv("b", "2")], &mut scratch).0;
        let ba = typed_key(&[kv("b", "2"), kv("a", "1")], &mut scratch).0;
        let other = typed_key(&[kv("a", "1"), kv("b", "3")], &mut scratch).0;
        assert_eq!(ab, ba);
        assert_ne!(ab, other);
    }

    #[test]
    fn truncated_protobuf_is_refused_with_a_location() {
        let req = export(AgentId::new_v7(), AggregationTemporality::Cumulative).request(&counts());
        let body = req.encode_to_vec();
        let mut batch = MetricsBatch::default();
        let err = collect_wire(&body[..body.len() - 3], &mut batch).err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("protobuf body is malformed at byte"),
            "{message}"
        );
        assert!(collect_wire(b"\xff\xff\xff", &mut batch).is_err());
    }
}
