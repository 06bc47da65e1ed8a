//! The supervisor's own part of every configuration the Collector runs: its identity on
//! its telemetry (`service.telemetry.resource`) and, when the server offered a
//! destination, a periodic OTLP/HTTP reader for its own metrics.
//!
//! Header values (the server's token) never enter the file: the configuration refers to
//! environment variables that the process (and the validator) is started with, so the
//! effective configuration reported to the server carries no secret.

use serde_norway::{Mapping, Value};

use crate::client::MetricsTarget;

/// How often the Collector pushes its own metrics: short, so sparklines move.
pub const OWN_METRICS_INTERVAL_MS: u64 = 10_000;
/// The environment variables that carry own-metrics header values, by index.
pub const HEADER_ENV_PREFIX: &str = "FLEETDECK_OWN_METRICS_HEADER_";

/// What the supervisor adds to a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnPart {
    /// `service.instance.id` on the Collector's telemetry: the agent's uid, which is
    /// how the server attributes the metrics.
    pub instance_id: String,
    pub metrics: Option<MetricsTarget>,
}

impl OwnPart {
    /// The environment the Collector runs (and validates) with.
    pub fn env(&self) -> Vec<(String, String)> {
        self.metrics
            .iter()
            .flat_map(|m| m.headers.iter())
            .enumerate()
            .map(|(i, (_, value))| (format!("{HEADER_ENV_PREFIX}{i}"), value.clone()))
            .collect()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("collector.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("collector.yaml: {0}")]
    Shape(String),
}

/// The configuration to run: `body` with the supervisor's part merged in.
pub fn merge(body: &[u8], own: &OwnPart) -> Result<String, MergeError> {
    let text =
        std::str::from_utf8(body).map_err(|e| MergeError::Yaml(format!("not UTF-8 text ({e})")))?;
    let mut doc: Value = if text.trim().is_empty() {
        Value::Mapping(Mapping::new())
    } else {
        serde_norway::from_str(text).map_err(|e| MergeError::Yaml(e.to_string()))?
    };
    let root = doc
        .as_mapping_mut()
        .ok_or_else(|| MergeError::Shape("the top level is not a mapping".into()))?;
    let service = child_mapping(root, "service", "service")?;
    let telemetry = child_mapping(service, "telemetry", "service.telemetry")?;
    let resource = child_mapping(telemetry, "resource", "service.telemetry.resource")?;
    resource.insert(
        Value::from("service.instance.id"),
        Value::from(own.instance_id.as_str()),
    );
    if let Some(target) = &own.metrics {
        let metrics = child_mapping(telemetry, "metrics", "service.telemetry.metrics")?;
        let readers = metrics
            .entry(Value::from("readers"))
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if readers.is_null() {
            *readers = Value::Sequence(Vec::new());
        }
        let readers = readers.as_sequence_mut().ok_or_else(|| {
            MergeError::Shape("service.telemetry.metrics.readers is not a list".into())
        })?;
        readers.push(own_reader(target));
    }
    serde_norway::to_string(&doc).map_err(|e| MergeError::Yaml(e.to_string()))
}

/// `root[key]` as a mapping, created when absent (or null).
fn child_mapping<'a>(
    root: &'a mut Mapping,
    key: &str,
    path: &str,
) -> Result<&'a mut Mapping, MergeError> {
    let entry = root
        .entry(Value::from(key))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if entry.is_null() {
        *entry = Value::Mapping(Mapping::new());
    }
    entry
        .as_mapping_mut()
        .ok_or_else(|| MergeError::Shape(format!("{path} is not a mapping")))
}

fn own_reader(target: &MetricsTarget) -> Value {
    let headers: Vec<Value> = target
        .headers
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let mut h = Mapping::new();
            h.insert("name".into(), name.as_str().into());
            h.insert(
                "value".into(),
                format!("${{env:{HEADER_ENV_PREFIX}{i}}}").into(),
            );
            Value::Mapping(h)
        })
        .collect();
    let mut otlp = Mapping::new();
    otlp.insert("protocol".into(), "http/protobuf".into());
    otlp.insert("endpoint".into(), target.endpoint.as_str().into());
    if !headers.is_empty() {
        otlp.insert("headers".into(), Value::Sequence(headers));
    }
    let mut exporter = Mapping::new();
    exporter.insert("otlp".into(), Value::Mapping(otlp));
    let mut periodic = Mapping::new();
    periodic.insert("interval".into(), OWN_METRICS_INTERVAL_MS.into());
    periodic.insert("exporter".into(), Value::Mapping(exporter));
    let mut reader = Mapping::new();
    reader.insert("periodic".into(), Value::Mapping(periodic));
    Value::Mapping(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(metrics: bool) -> OwnPart {
        OwnPart {
            instance_id: "0190f1e2-0000-7000-8000-000000000001".into(),
            metrics: metrics.then(|| MetricsTarget {
                endpoint: "http://127.0.0.1:4320/v1/metrics".into(),
                headers: vec![("Authorization".into(), "Bearer s3cr3t-token".into())],
            }),
        }
    }

    fn parse(s: &str) -> Value {
        serde_norway::from_str(s).expect("merged YAML parses")
    }

    const PIPELINE: &str = "receivers:\n  filelog: {include: [/var/log/a.log]}\nexporters:\n  otlphttp: {endpoint: 'http://x:4318'}\nservice:\n  pipelines:\n    logs: {receivers: [filelog], exporters: [otlphttp]}\n";

    #[test]
    fn adds_identity_and_own_metrics_without_the_secret() {
        let merged = merge(PIPELINE.as_bytes(), &own(true)).expect("merges");
        assert!(!merged.contains("s3cr3t-token"), "{merged}");
        let doc = parse(&merged);
        let t = &doc["service"]["telemetry"];
        assert_eq!(
            t["resource"]["service.instance.id"].as_str(),
            Some("0190f1e2-0000-7000-8000-000000000001")
        );
        let otlp = &t["metrics"]["readers"][0]["periodic"]["exporter"]["otlp"];
        assert_eq!(
            otlp["endpoint"].as_str(),
            Some("http://127.0.0.1:4320/v1/metrics")
        );
        assert_eq!(otlp["protocol"].as_str(), Some("http/protobuf"));
        assert_eq!(
            otlp["headers"][0]["value"].as_str(),
            Some("${env:FLEETDECK_OWN_METRICS_HEADER_0}")
        );
        // the pipeline itself is untouched
        assert_eq!(
            doc["service"]["pipelines"],
            parse(PIPELINE)["service"]["pipelines"]
        );
        assert_eq!(
            own(true).env(),
            vec![(
                "FLEETDECK_OWN_METRICS_HEADER_0".to_string(),
                "Bearer s3cr3t-token".to_string()
            )]
        );
    }

    #[test]
    fn keeps_the_users_readers_and_adds_ours() {
        let body = format!(
            "{PIPELINE}  telemetry:\n    metrics:\n      readers:\n        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: 8888}}}}}}\n"
        );
        let doc = parse(&merge(body.as_bytes(), &own(true)).expect("merges"));
        let readers = doc["service"]["telemetry"]["metrics"]["readers"]
            .as_sequence()
            .expect("list");
        assert_eq!(readers.len(), 2);
        assert!(readers[0].get("pull").is_some());
        let without = parse(&merge(PIPELINE.as_bytes(), &own(false)).expect("merges"));
        assert!(without["service"]["telemetry"].get("metrics").is_none());
    }

    #[test]
    fn bad_input_is_named() {
        assert!(matches!(
            merge(b"receivers: [", &own(false)),
            Err(MergeError::Yaml(_))
        ));
        assert_eq!(
            merge(b"- a\n- b\n", &own(false)),
            Err(MergeError::Shape("the top level is not a mapping".into()))
        );
        assert_eq!(
            merge(b"service: 3\n", &own(false)),
            Err(MergeError::Shape("service is not a mapping".into()))
        );
        assert!(matches!(
            merge(&[0xff, 0xfe], &own(false)),
            Err(MergeError::Yaml(_))
        ));
    }
}
