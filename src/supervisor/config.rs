//! The supervisor's own part of every configuration the Collector runs: its identity on
//! its telemetry (`service.telemetry.resource`) and, when the server offered a
//! destination, a periodic OTLP/HTTP reader for its own metrics.
//!
//! That part is a second file (`supervisor.yaml`) given to the Collector after the
//! server's (`--config=collector.yaml --config=supervisor.yaml`; the Collector merges maps
//! and lets the later file's lists win), so the server's file runs byte for byte as it
//! was sent and the effective configuration shows both. Because lists are replaced, the
//! reader list in our file repeats the readers the server's file already has.
//!
//! Taps (`tap.rs`): when the supervisor taps its Collector, every logs, metrics and traces
//! pipeline also exports to the supervisor's receiver on 127.0.0.1, through an `otlphttp`
//! exporter of ours (`otlphttp/fleetdeck_tap_N`, uncompressed, queued, no retries) that
//! our file adds to the pipeline's exporter list (the list repeats the pipeline's own
//! exporters first, since lists are replaced). This is the supervisor's own change, made
//! after the server's file was verified (signed configurations): the server's file still
//! runs byte for byte as it was signed, and the effective configuration shows the tap.
//!
//! Header values (the server's token) never enter a file: the configuration refers to
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
    /// PEM roots the Collector trusts when it sends its own metrics over https (the
    /// supervisor's `--tls-ca`: a private CA is not in the system's roots).
    pub ca_file: Option<std::path::PathBuf>,
    /// Where each pipeline also exports, for taps (`None`: no taps).
    pub tap: Option<TapTarget>,
}

/// The supervisor's tap receiver, as the exporters it adds reach it.
#[derive(Clone, PartialEq, Eq, derive_more::Debug)]
pub struct TapTarget {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The `Authorization` value (given to the process in an environment variable).
    #[debug("<redacted>")]
    pub authorization: String,
}

/// The exporter our file adds to pipeline `index` (in the configuration's order).
pub fn tap_exporter(index: usize) -> String {
    format!("otlphttp/{}{index}", crate::fleet::tap::TAP_EXPORTER_NAME)
}

impl OwnPart {
    /// The environment the Collector runs (and validates) with.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .metrics
            .iter()
            .flat_map(|m| m.headers.iter())
            .enumerate()
            .map(|(i, (_, value))| (format!("{HEADER_ENV_PREFIX}{i}"), value.clone()))
            .collect();
        if let Some(t) = &self.tap {
            env.push((super::tap::AUTH_ENV.to_string(), t.authorization.clone()));
        }
        env
    }
}

/// The pipelines of `body` a tap can serve (logs, metrics and traces ones), in its order,
/// at most [`super::tap::MAX_PIPELINES`]. Nothing for a body that does not parse.
pub fn tappable_pipelines(body: &[u8]) -> Vec<(String, crate::fleet::tap::TapSignal)> {
    let Ok(theirs) = std::str::from_utf8(body)
        .map_err(|_| ())
        .and_then(|t| serde_norway::from_str::<Value>(t).map_err(|_| ()))
    else {
        return Vec::new();
    };
    tappable_pipelines_of(theirs.get("service").and_then(|s| s.get("pipelines")))
}

/// The exporters and pipeline exporter lists our file adds for taps.
fn tap_part(theirs: &Value, target: &TapTarget) -> (Mapping, Mapping) {
    let mut exporters = Mapping::new();
    let mut pipelines = Mapping::new();
    let their_pipelines = theirs.get("service").and_then(|s| s.get("pipelines"));
    for (i, (name, _)) in tappable_pipelines_of(their_pipelines)
        .into_iter()
        .enumerate()
    {
        let Some(list) = their_pipelines
            .and_then(|p| p.get(name.as_str()))
            .and_then(|p| p.get("exporters"))
            .and_then(|e| e.as_sequence())
        else {
            continue;
        };
        let id = tap_exporter(i);
        let mut list = list.clone();
        list.push(Value::from(id.as_str()));
        let mut p = Mapping::new();
        p.insert("exporters".into(), Value::Sequence(list));
        pipelines.insert(Value::from(name.as_str()), Value::Mapping(p));
        exporters.insert(Value::from(id.as_str()), tap_exporter_config(target, &name));
    }
    (exporters, pipelines)
}

/// Pipelines with an exporter list (only those run, and can take ours).
fn tappable_pipelines_of(pipelines: Option<&Value>) -> Vec<(String, crate::fleet::tap::TapSignal)> {
    let Some(Value::Mapping(m)) = pipelines else {
        return Vec::new();
    };
    m.iter()
        .filter_map(|(k, v)| {
            let name = k.as_str()?;
            let signal = crate::fleet::tap::TapSignal::of_pipeline(name)?;
            v.get("exporters")?.as_sequence()?;
            Some((name.to_string(), signal))
        })
        .take(super::tap::MAX_PIPELINES)
        .collect()
}

/// One tap exporter: uncompressed (gzip would cost the Collector CPU for a loopback hop),
/// a short timeout, no retries (a tap may miss a batch; the pipeline never waits), and a
/// small queue of its own so a slow supervisor cannot hold the pipeline up.
fn tap_exporter_config(target: &TapTarget, pipeline: &str) -> Value {
    let mut headers = Mapping::new();
    headers.insert(
        "authorization".into(),
        format!("${{env:{}}}", super::tap::AUTH_ENV).into(),
    );
    headers.insert(super::tap::PIPELINE_HEADER.into(), pipeline.into());
    let mut retry = Mapping::new();
    retry.insert("enabled".into(), false.into());
    let mut queue = Mapping::new();
    queue.insert("enabled".into(), true.into());
    queue.insert("num_consumers".into(), 1.into());
    queue.insert("queue_size".into(), 64.into());
    let mut e = Mapping::new();
    e.insert("endpoint".into(), target.endpoint.as_str().into());
    e.insert("compression".into(), "none".into());
    e.insert("timeout".into(), "2s".into());
    e.insert("retry_on_failure".into(), Value::Mapping(retry));
    e.insert("sending_queue".into(), Value::Mapping(queue));
    e.insert("headers".into(), Value::Mapping(headers));
    Value::Mapping(e)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("collector.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("collector.yaml: {0}")]
    Shape(String),
}

/// The supervisor's file to run beside `body`; `body` is checked to be a Collector
/// configuration we can add to (a mapping whose `service.telemetry` is one too).
pub fn own_file(body: &[u8], own: &OwnPart) -> Result<String, MergeError> {
    let text =
        std::str::from_utf8(body).map_err(|e| MergeError::Yaml(format!("not UTF-8 text ({e})")))?;
    let theirs: Value = if text.trim().is_empty() {
        Value::Mapping(Mapping::new())
    } else {
        serde_norway::from_str(text).map_err(|e| MergeError::Yaml(e.to_string()))?
    };
    if !theirs.is_mapping() {
        return Err(MergeError::Shape("the top level is not a mapping".into()));
    }
    let at = |v: &Value, key: &str, path: &str| -> Result<Option<Value>, MergeError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(m @ Value::Mapping(_)) => Ok(Some(m.clone())),
            Some(_) => Err(MergeError::Shape(format!("{path} is not a mapping"))),
        }
    };
    let service = at(&theirs, "service", "service")?;
    let telemetry = match &service {
        Some(s) => at(s, "telemetry", "service.telemetry")?,
        None => None,
    };
    let metrics = match &telemetry {
        Some(t) => at(t, "metrics", "service.telemetry.metrics")?,
        None => None,
    };
    let their_readers = match metrics.as_ref().and_then(|m| m.get("readers")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(list)) => list.clone(),
        Some(_) => {
            return Err(MergeError::Shape(
                "service.telemetry.metrics.readers is not a list".into(),
            ));
        }
    };

    let mut resource = Mapping::new();
    resource.insert(
        Value::from("service.instance.id"),
        Value::from(own.instance_id.as_str()),
    );
    let mut ours = Mapping::new();
    ours.insert("resource".into(), Value::Mapping(resource));
    if let Some(target) = &own.metrics {
        let mut readers = their_readers;
        readers.push(own_reader(target, own.ca_file.as_deref()));
        let mut m = Mapping::new();
        m.insert("readers".into(), Value::Sequence(readers));
        ours.insert("metrics".into(), Value::Mapping(m));
    }
    let mut service = Mapping::new();
    service.insert("telemetry".into(), Value::Mapping(ours));
    let mut root = Mapping::new();
    if let Some(target) = &own.tap {
        let (exporters, pipelines) = tap_part(&theirs, target);
        if !pipelines.is_empty() {
            root.insert("exporters".into(), Value::Mapping(exporters));
            service.insert("pipelines".into(), Value::Mapping(pipelines));
        }
    }
    root.insert("service".into(), Value::Mapping(service));
    serde_norway::to_string(&Value::Mapping(root)).map_err(|e| MergeError::Yaml(e.to_string()))
}

/// What the Collector sees once it has merged `body` and our file: maps merge key by
/// key, anything else from the later file wins. For tests and for showing the result.
pub fn merged(body: &[u8], own_file: &str) -> Result<Value, MergeError> {
    let mut base: Value = match std::str::from_utf8(body) {
        Ok(t) if !t.trim().is_empty() => {
            serde_norway::from_str(t).map_err(|e| MergeError::Yaml(e.to_string()))?
        }
        _ => Value::Mapping(Mapping::new()),
    };
    let ours: Value =
        serde_norway::from_str(own_file).map_err(|e| MergeError::Yaml(e.to_string()))?;
    merge_into(&mut base, ours);
    Ok(base)
}

fn merge_into(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge_into(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn own_reader(target: &MetricsTarget, ca_file: Option<&std::path::Path>) -> Value {
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
    if let Some(ca) = ca_file.filter(|_| target.endpoint.starts_with("https://")) {
        // The Collector's telemetry SDK configuration names the CA `certificate`.
        otlp.insert("certificate".into(), ca.to_string_lossy().as_ref().into());
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
            ca_file: None,
            tap: None,
        }
    }

    fn parse(s: &str) -> Value {
        serde_norway::from_str(s).expect("YAML parses")
    }

    const PIPELINE: &str = "receivers:\n  filelog: {include: [/var/log/a.log]}\nexporters:\n  otlphttp: {endpoint: 'http://x:4318'}\nservice:\n  pipelines:\n    logs: {receivers: [filelog], exporters: [otlphttp]}\n";

    #[test]
    fn over_https_the_collector_trusts_the_supervisors_ca_for_its_own_metrics() {
        let mut own = own(true);
        own.ca_file = Some("/etc/fleetdeck/ca.pem".into());
        let plain = own_file(PIPELINE.as_bytes(), &own).expect("ours");
        let doc = merged(PIPELINE.as_bytes(), &plain).expect("merges");
        let otlp =
            &doc["service"]["telemetry"]["metrics"]["readers"][0]["periodic"]["exporter"]["otlp"];
        assert!(otlp.get("certificate").is_none(), "not for http://");
        if let Some(m) = own.metrics.as_mut() {
            m.endpoint = "https://fleet:4320/v1/metrics".into();
        }
        let tls = own_file(PIPELINE.as_bytes(), &own).expect("ours");
        let doc = merged(PIPELINE.as_bytes(), &tls).expect("merges");
        let otlp =
            &doc["service"]["telemetry"]["metrics"]["readers"][0]["periodic"]["exporter"]["otlp"];
        assert_eq!(otlp["certificate"].as_str(), Some("/etc/fleetdeck/ca.pem"));
    }

    #[test]
    fn adds_identity_and_own_metrics_without_the_secret() {
        let ours = own_file(PIPELINE.as_bytes(), &own(true)).expect("ours");
        assert!(!ours.contains("s3cr3t-token"), "{ours}");
        let doc = merged(PIPELINE.as_bytes(), &ours).expect("merges");
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
        assert_eq!(doc["receivers"], parse(PIPELINE)["receivers"]);
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
            "{PIPELINE}  telemetry:\n    logs: {{level: warn}}\n    metrics:\n      readers:\n        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: 8888}}}}}}\n"
        );
        let doc = merged(
            body.as_bytes(),
            &own_file(body.as_bytes(), &own(true)).expect("ours"),
        )
        .expect("merges");
        let readers = doc["service"]["telemetry"]["metrics"]["readers"]
            .as_sequence()
            .expect("list");
        assert_eq!(readers.len(), 2);
        assert!(readers[0].get("pull").is_some());
        assert_eq!(
            doc["service"]["telemetry"]["logs"]["level"].as_str(),
            Some("warn")
        );
        let without = merged(
            PIPELINE.as_bytes(),
            &own_file(PIPELINE.as_bytes(), &own(false)).expect("ours"),
        )
        .expect("merges");
        assert!(without["service"]["telemetry"].get("metrics").is_none());
    }

    #[test]
    fn taps_add_an_exporter_to_each_pipeline_after_its_own() {
        let mut own = own(false);
        own.tap = Some(TapTarget {
            endpoint: "http://127.0.0.1:40000".into(),
            authorization: "Bearer tap-secret".into(),
        });
        let body = format!(
            "{PIPELINE}    metrics/x: {{receivers: [filelog], exporters: [otlphttp]}}\n    profiles: {{receivers: [filelog], exporters: [otlphttp]}}\n"
        );
        let ours = own_file(body.as_bytes(), &own).expect("ours");
        assert!(!ours.contains("tap-secret"), "{ours}");
        let doc = merged(body.as_bytes(), &ours).expect("merges");
        let p = &doc["service"]["pipelines"];
        assert_eq!(
            p["logs"]["exporters"],
            parse("[otlphttp, otlphttp/fleetdeck_tap_0]")
        );
        assert_eq!(p["logs"]["receivers"], parse("[filelog]"), "the rest stays");
        assert_eq!(
            p["metrics/x"]["exporters"],
            parse("[otlphttp, otlphttp/fleetdeck_tap_1]")
        );
        assert_eq!(
            p["profiles"]["exporters"],
            parse("[otlphttp]"),
            "not tapped"
        );
        let e = &doc["exporters"]["otlphttp/fleetdeck_tap_1"];
        assert_eq!(e["endpoint"].as_str(), Some("http://127.0.0.1:40000"));
        assert_eq!(e["compression"].as_str(), Some("none"));
        assert_eq!(
            e["headers"]["x-fleetdeck-tap-pipeline"].as_str(),
            Some("metrics/x")
        );
        assert_eq!(
            e["headers"]["authorization"].as_str(),
            Some("${env:FLEETDECK_TAP_AUTHORIZATION}")
        );
        assert!(doc["exporters"].get("otlphttp").is_some(), "theirs stay");
        assert!(own.env().contains(&(
            "FLEETDECK_TAP_AUTHORIZATION".to_string(),
            "Bearer tap-secret".to_string()
        )));
        assert_eq!(
            tappable_pipelines(body.as_bytes()),
            vec![
                ("logs".to_string(), crate::fleet::tap::TapSignal::Logs),
                (
                    "metrics/x".to_string(),
                    crate::fleet::tap::TapSignal::Metrics
                )
            ]
        );
        // nothing to tap: nothing added
        let none = own_file(b"receivers: {}\n", &own).expect("ours");
        assert!(!none.contains("exporters"), "{none}");
    }

    #[test]
    fn bad_input_is_named() {
        assert!(matches!(
            own_file(b"receivers: [", &own(false)),
            Err(MergeError::Yaml(_))
        ));
        assert_eq!(
            own_file(b"- a\n- b\n", &own(false)),
            Err(MergeError::Shape("the top level is not a mapping".into()))
        );
        assert_eq!(
            own_file(b"service: 3\n", &own(false)),
            Err(MergeError::Shape("service is not a mapping".into()))
        );
        assert_eq!(
            own_file(
                b"service: {telemetry: {metrics: {readers: 1}}}\n",
                &own(true)
            ),
            Err(MergeError::Shape(
                "service.telemetry.metrics.readers is not a list".into()
            ))
        );
        assert!(matches!(
            own_file(&[0xff, 0xfe], &own(false)),
            Err(MergeError::Yaml(_))
        ));
    }
}
