//! OTLP export requests as tap items (`crate::fleet::tap`): the supervisor keeps what its
//! Collector's pipelines exported to it as raw bodies, and turns only the newest items
//! into [`TapItem`]s when someone asks. Values are cut to [`MAX_VALUE_BYTES`], attributes
//! to [`MAX_ATTRIBUTES`] per item, and the value of a key that names a secret shows as
//! [`MASK`].
//!
//! [`MAX_VALUE_BYTES`]: crate::fleet::tap::MAX_VALUE_BYTES

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use prost::Message;
use serde_json::Value;

use crate::fleet::tap::{MASK, MAX_ATTRIBUTES, TapItem, TapSignal, cut, rfc3339, sensitive_key};

/// Item index bits in a `seq`: `seq = body_seq << INDEX_BITS | index`.
pub const INDEX_BITS: u32 = 20;
/// Nesting of array and map values shown; deeper ones show as `…`.
const MAX_DEPTH: usize = 6;

/// The `seq` of item `index` of body `body_seq`.
pub fn seq_of(body_seq: u64, index: usize) -> u64 {
    let index = (index as u64).min((1 << INDEX_BITS) - 1);
    (body_seq << INDEX_BITS) | index
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not an OTLP {signal} export request: {source}")]
pub struct NotOtlp {
    signal: TapSignal,
    source: prost::DecodeError,
}

/// The last `want` items of one export request body (protobuf), oldest first, numbered
/// from body `body_seq`, and how many items the body holds. Only items with a `seq` above
/// `after` are returned. `received` (Unix ns) stands in for items that carry no time.
pub fn items(
    signal: TapSignal,
    body: &[u8],
    body_seq: u64,
    received: u64,
    want: usize,
    after: Option<u64>,
) -> Result<(Vec<TapItem>, usize), NotOtlp> {
    let fail = |source| NotOtlp { signal, source };
    let mut out = Vec::new();
    let total = match signal {
        TapSignal::Logs => {
            let req = ExportLogsServiceRequest::decode(body).map_err(fail)?;
            let all: Vec<_> = req
                .resource_logs
                .iter()
                .flat_map(|r| {
                    r.scope_logs.iter().flat_map(move |s| {
                        s.log_records
                            .iter()
                            .map(move |l| (r.resource.as_ref(), s.scope.as_ref(), l))
                    })
                })
                .collect();
            for i in newest(all.len(), want, body_seq, after) {
                let (res, scope, rec) = all[i];
                let mut item = base(res.map(|r| &r.attributes[..]), scope, &rec.attributes);
                log_item(&mut item, rec, received);
                item.seq = seq_of(body_seq, i);
                out.push(item);
            }
            all.len()
        }
        TapSignal::Traces => {
            let req = ExportTraceServiceRequest::decode(body).map_err(fail)?;
            let all: Vec<_> = req
                .resource_spans
                .iter()
                .flat_map(|r| {
                    r.scope_spans.iter().flat_map(move |s| {
                        s.spans
                            .iter()
                            .map(move |sp| (r.resource.as_ref(), s.scope.as_ref(), sp))
                    })
                })
                .collect();
            for i in newest(all.len(), want, body_seq, after) {
                let (res, scope, span) = all[i];
                let mut item = base(res.map(|r| &r.attributes[..]), scope, &span.attributes);
                span_item(&mut item, span, received);
                item.seq = seq_of(body_seq, i);
                out.push(item);
            }
            all.len()
        }
        TapSignal::Metrics => {
            let req = ExportMetricsServiceRequest::decode(body).map_err(fail)?;
            let mut all = Vec::new();
            for r in &req.resource_metrics {
                for s in &r.scope_metrics {
                    for m in &s.metrics {
                        for p in 0..points(m) {
                            all.push((r.resource.as_ref(), s.scope.as_ref(), m, p));
                        }
                    }
                }
            }
            for i in newest(all.len(), want, body_seq, after) {
                let (res, scope, m, p) = all[i];
                let mut item = base(res.map(|r| &r.attributes[..]), scope, &[]);
                metric_item(&mut item, m, p, received);
                item.seq = seq_of(body_seq, i);
                out.push(item);
            }
            all.len()
        }
    };
    Ok((out, total))
}

/// Indices of the newest `want` of `len` items whose `seq` is above `after`, oldest first.
fn newest(
    len: usize,
    want: usize,
    body_seq: u64,
    after: Option<u64>,
) -> impl Iterator<Item = usize> {
    (len.saturating_sub(want)..len).filter(move |i| after.is_none_or(|a| seq_of(body_seq, *i) > a))
}

/// An item with its resource, scope and record attributes.
fn base(
    resource: Option<&[KeyValue]>,
    scope: Option<&InstrumentationScope>,
    attributes: &[KeyValue],
) -> TapItem {
    let mut left_out = 0;
    let resource = resource.map_or_else(BTreeMap::new, |a| attribute_map(a, &mut left_out));
    let attributes = attribute_map(attributes, &mut left_out);
    let scope = scope.filter(|s| !s.name.is_empty()).map(|s| {
        if s.version.is_empty() {
            cut(&s.name)
        } else {
            cut(&format!("{} {}", s.name, s.version))
        }
    });
    TapItem {
        resource,
        scope,
        attributes,
        attributes_left_out: left_out,
        ..TapItem::default()
    }
}

fn attribute_map(kvs: &[KeyValue], left_out: &mut usize) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for kv in kvs {
        if out.len() >= MAX_ATTRIBUTES {
            *left_out += 1;
            continue;
        }
        let value = if sensitive_key(&kv.key) {
            Value::String(MASK.to_string())
        } else {
            kv.value.as_ref().map_or(Value::Null, |v| value(v, 0))
        };
        out.insert(cut(&kv.key), value);
    }
    out
}

fn value(v: &AnyValue, depth: usize) -> Value {
    use any_value::Value as V;
    if depth > MAX_DEPTH {
        return Value::String("…".into());
    }
    match &v.value {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(cut(s)),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => number(*d),
        Some(V::BytesValue(b)) => Value::String(cut(&hex::encode(b))),
        // An index into a profile's string table: meaningless without the table.
        Some(V::StringValueStrindex(i)) => Value::String(format!("(string #{i})")),
        Some(V::ArrayValue(a)) => Value::Array(
            a.values
                .iter()
                .take(MAX_ATTRIBUTES)
                .map(|x| value(x, depth + 1))
                .collect(),
        ),
        Some(V::KvlistValue(l)) => Value::Object(
            l.values
                .iter()
                .take(MAX_ATTRIBUTES)
                .map(|kv| {
                    let v = if sensitive_key(&kv.key) {
                        Value::String(MASK.into())
                    } else {
                        kv.value
                            .as_ref()
                            .map_or(Value::Null, |v| value(v, depth + 1))
                    };
                    (cut(&kv.key), v)
                })
                .collect(),
        ),
    }
}

/// A float as JSON: NaN and infinities (which JSON lacks) as their names.
fn number(d: f64) -> Value {
    serde_json::Number::from_f64(d).map_or_else(|| Value::String(d.to_string()), Value::Number)
}

fn time(item: &mut TapItem, candidates: &[u64], received: u64) {
    let t = candidates
        .iter()
        .copied()
        .find(|t| *t > 0)
        .unwrap_or(received);
    item.time_unix_nano = t;
    item.time = rfc3339(t);
}

fn hex_id(id: &[u8]) -> Option<String> {
    (!id.is_empty() && id.iter().any(|b| *b != 0)).then(|| hex::encode(id))
}

fn log_item(item: &mut TapItem, rec: &LogRecord, received: u64) {
    time(
        item,
        &[rec.time_unix_nano, rec.observed_time_unix_nano],
        received,
    );
    item.body = rec.body.as_ref().map(|b| value(b, 0));
    item.severity = if !rec.severity_text.is_empty() {
        Some(cut(&rec.severity_text))
    } else if rec.severity_number != 0 {
        Some(rec.severity_number.to_string())
    } else {
        None
    };
    item.trace_id = hex_id(&rec.trace_id);
    item.span_id = hex_id(&rec.span_id);
}

fn span_item(item: &mut TapItem, s: &Span, received: u64) {
    time(item, &[s.start_time_unix_nano], received);
    item.name = Some(cut(&s.name));
    item.kind = match span::SpanKind::try_from(s.kind) {
        Ok(span::SpanKind::Internal) => Some("internal".into()),
        Ok(span::SpanKind::Server) => Some("server".into()),
        Ok(span::SpanKind::Client) => Some("client".into()),
        Ok(span::SpanKind::Producer) => Some("producer".into()),
        Ok(span::SpanKind::Consumer) => Some("consumer".into()),
        _ => None,
    };
    item.trace_id = hex_id(&s.trace_id);
    item.span_id = hex_id(&s.span_id);
    if s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0 {
        item.duration_ms = Some((s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6);
    }
    item.status = s
        .status
        .as_ref()
        .and_then(|st| match status::StatusCode::try_from(st.code) {
            Ok(status::StatusCode::Ok) => Some("ok".to_string()),
            Ok(status::StatusCode::Error) if st.message.is_empty() => Some("error".into()),
            Ok(status::StatusCode::Error) => Some(cut(&format!("error: {}", st.message))),
            _ => None,
        });
}

/// Data points in a metric.
fn points(m: &Metric) -> usize {
    match &m.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

fn metric_item(item: &mut TapItem, m: &Metric, p: usize, received: u64) {
    item.name = Some(cut(&m.name));
    item.unit = (!m.unit.is_empty()).then(|| cut(&m.unit));
    let mut left_out = 0;
    let number_point = |item: &mut TapItem,
                        dp: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
                        left_out: &mut usize| {
        time(item, &[dp.time_unix_nano], received);
        item.attributes = attribute_map(&dp.attributes, left_out);
        item.value = match dp.value {
            Some(number_data_point::Value::AsDouble(d)) => Some(number(d)),
            Some(number_data_point::Value::AsInt(i)) => Some(Value::from(i)),
            None => None,
        };
    };
    match &m.data {
        Some(metric::Data::Gauge(g)) => {
            item.kind = Some("gauge".into());
            if let Some(dp) = g.data_points.get(p) {
                number_point(item, dp, &mut left_out);
            }
        }
        Some(metric::Data::Sum(s)) => {
            item.kind = Some(if s.is_monotonic { "sum" } else { "updown sum" }.into());
            if let Some(dp) = s.data_points.get(p) {
                number_point(item, dp, &mut left_out);
            }
        }
        Some(metric::Data::Histogram(h)) => {
            item.kind = Some("histogram".into());
            if let Some(dp) = h.data_points.get(p) {
                time(item, &[dp.time_unix_nano], received);
                item.attributes = attribute_map(&dp.attributes, &mut left_out);
                item.value = Some(distribution(dp.count, dp.sum, dp.min, dp.max));
            }
        }
        Some(metric::Data::ExponentialHistogram(h)) => {
            item.kind = Some("exponential_histogram".into());
            if let Some(dp) = h.data_points.get(p) {
                time(item, &[dp.time_unix_nano], received);
                item.attributes = attribute_map(&dp.attributes, &mut left_out);
                item.value = Some(distribution(dp.count, dp.sum, dp.min, dp.max));
            }
        }
        Some(metric::Data::Summary(s)) => {
            item.kind = Some("summary".into());
            if let Some(dp) = s.data_points.get(p) {
                time(item, &[dp.time_unix_nano], received);
                item.attributes = attribute_map(&dp.attributes, &mut left_out);
                let mut v = serde_json::Map::new();
                v.insert("count".into(), Value::from(dp.count));
                v.insert("sum".into(), number(dp.sum));
                for q in dp.quantile_values.iter().take(MAX_ATTRIBUTES) {
                    v.insert(format!("p{}", q.quantile * 100.0), number(q.value));
                }
                item.value = Some(Value::Object(v));
            }
        }
        None => time(item, &[], received),
    }
    item.attributes_left_out += left_out;
}

fn distribution(count: u64, sum: Option<f64>, min: Option<f64>, max: Option<f64>) -> Value {
    let mut v = serde_json::Map::new();
    v.insert("count".into(), Value::from(count));
    for (k, x) in [("sum", sum), ("min", min), ("max", max)] {
        if let Some(x) = x {
            v.insert(k.into(), number(x));
        }
    }
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::KeyValueList;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn s(v: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        })
    }

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: s(v),
            ..Default::default()
        }
    }

    fn logs(lines: &[&str]) -> Vec<u8> {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("host.name", "web-1")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: lines
                        .iter()
                        .map(|l| LogRecord {
                            observed_time_unix_nano: 1_700_000_000_000_000_000,
                            body: s(l),
                            attributes: vec![
                                kv("log.file.name", "app.log"),
                                kv("db.password", "hunter2"),
                                KeyValue {
                                    key: "nested".into(),
                                    value: Some(AnyValue {
                                        value: Some(any_value::Value::KvlistValue(KeyValueList {
                                            values: vec![kv("api_key", "k"), kv("a", "b")],
                                        })),
                                    }),
                                    ..Default::default()
                                },
                            ],
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn the_newest_log_records_with_attributes_and_secrets_masked() {
        let body = logs(&["one", "two", "three"]);
        let (got, total) = items(TapSignal::Logs, &body, 7, 5, 2, None).unwrap();
        assert_eq!(total, 3);
        let bodies: Vec<_> = got.iter().map(|i| i.body.clone().unwrap()).collect();
        assert_eq!(bodies, vec![Value::from("two"), Value::from("three")]);
        let i = &got[1];
        assert_eq!(i.seq, seq_of(7, 2));
        assert_eq!(i.time, "2023-11-14T22:13:20Z");
        assert_eq!(i.resource["host.name"], Value::from("web-1"));
        assert_eq!(i.attributes["log.file.name"], Value::from("app.log"));
        assert_eq!(i.attributes["db.password"], Value::from(MASK));
        assert_eq!(i.attributes["nested"]["api_key"], Value::from(MASK));
        assert_eq!(i.attributes["nested"]["a"], Value::from("b"));
        // only what came after a seq already seen
        let (after, _) = items(TapSignal::Logs, &body, 7, 5, 10, Some(seq_of(7, 1))).unwrap();
        assert_eq!(after.len(), 1);
        assert!(items(TapSignal::Traces, b"\xff\xff", 1, 0, 10, None).is_err());
    }
}
