//! The check a Collector runs on `collector.yaml` before it starts: valid YAML, known
//! component types, and every component a pipeline or the service names is defined.
//! The result drives what a simulated agent reports (health, throughput).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_norway::Value;

/// The signal a pipeline carries, from its id (`metrics`, `logs/app`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    fn from_pipeline_id(id: &str) -> Option<Signal> {
        match id.split('/').next().unwrap_or_default() {
            "traces" => Some(Signal::Traces),
            "metrics" => Some(Signal::Metrics),
            "logs" => Some(Signal::Logs),
            _ => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        })
    }
}

/// One `service.pipelines` entry, components in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub id: String,
    pub signal: Signal,
    pub receivers: Vec<String>,
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

/// A configuration that passed the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    pub pipelines: Vec<Pipeline>,
    pub extensions: Vec<String>,
    /// Exporters whose endpoint names a host under `.invalid` (RFC 6761: it never
    /// resolves). The configuration is valid and starts, and every export of theirs fails,
    /// as a real Collector's would: how tests model a change that applies and then breaks
    /// delivery.
    pub unreachable: BTreeSet<String>,
}

impl CollectorConfig {
    /// Whether any pipeline carries `signal`.
    pub fn carries(&self, signal: Signal) -> bool {
        self.pipelines.iter().any(|p| p.signal == signal)
    }
}

/// Why a configuration was refused; the text names the component and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("collector.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("collector.yaml: the top level must be a mapping of sections")]
    NotAMapping,
    #[error(
        "collector.yaml: unknown top-level section '{0}' (expected receivers, processors, exporters, connectors, extensions, service)"
    )]
    UnknownSection(String),
    #[error("collector.yaml: '{section}' must be a mapping of component ids to settings")]
    SectionNotAMapping { section: &'static str },
    #[error("collector.yaml: {section}: unknown type \"{kind}\" for id \"{id}\"")]
    UnknownType {
        section: &'static str,
        kind: String,
        id: String,
    },
    #[error("collector.yaml: {section}: component id {id:?} is not a string")]
    BadId { section: &'static str, id: String },
    #[error("collector.yaml: service.pipelines is missing or empty")]
    NoPipelines,
    #[error(
        "collector.yaml: service.pipelines: unknown pipeline type in \"{0}\" (expected traces, metrics or logs)"
    )]
    UnknownPipelineType(String),
    #[error(
        "collector.yaml: service.pipelines.{pipeline}: '{field}' must be a list of component ids"
    )]
    BadList { pipeline: String, field: String },
    #[error(
        "collector.yaml: service.pipelines.{pipeline} references {role} \"{id}\", which is not defined under {section}"
    )]
    Undefined {
        pipeline: String,
        role: &'static str,
        id: String,
        section: &'static str,
    },
    #[error("collector.yaml: service.pipelines.{pipeline} must have at least one {role}")]
    Empty {
        pipeline: String,
        role: &'static str,
    },
    #[error(
        "collector.yaml: service.extensions references \"{0}\", which is not defined under extensions"
    )]
    UndefinedExtension(String),
    #[error(
        "collector.yaml: connector \"{id}\" is used as {used} but never as {unused} in service.pipelines"
    )]
    HalfUsedConnector {
        id: String,
        used: &'static str,
        unused: &'static str,
    },
}

// Component types of otelcol-contrib that configurations commonly use.
const RECEIVERS: &[&str] = &[
    "apache",
    "awscloudwatch",
    "awsxray",
    "azureeventhub",
    "carbon",
    "collectd",
    "docker_stats",
    "elasticsearch",
    "filelog",
    "filestats",
    "fluentforward",
    "googlecloudpubsub",
    "hostmetrics",
    "httpcheck",
    "iis",
    "jaeger",
    "jmx",
    "journald",
    "k8s_cluster",
    "k8s_events",
    "k8sobjects",
    "kafka",
    "kafkametrics",
    "kubeletstats",
    "memcached",
    "mongodb",
    "mysql",
    "nginx",
    "nop",
    "oracledb",
    "otlp",
    "otlpjsonfile",
    "postgresql",
    "prometheus",
    "prometheus_simple",
    "rabbitmq",
    "redis",
    "sqlquery",
    "sqlserver",
    "sshcheck",
    "statsd",
    "syslog",
    "tcplog",
    "udplog",
    "windowseventlog",
    "windowsperfcounters",
    "zipkin",
];
const PROCESSORS: &[&str] = &[
    "attributes",
    "batch",
    "cumulativetodelta",
    "deltatocumulative",
    "deltatorate",
    "filter",
    "groupbyattrs",
    "groupbytrace",
    "k8sattributes",
    "logdedup",
    "memory_limiter",
    "metricstransform",
    "probabilistic_sampler",
    "redaction",
    "resource",
    "resourcedetection",
    "span",
    "tail_sampling",
    "transform",
];
const EXPORTERS: &[&str] = &[
    "awss3",
    "awsxray",
    "azuremonitor",
    "clickhouse",
    "datadog",
    "debug",
    "elasticsearch",
    "file",
    "googlecloud",
    "influxdb",
    "kafka",
    "loadbalancing",
    "logging",
    "nop",
    "otlp",
    "otlphttp",
    "prometheus",
    "prometheusremotewrite",
    "sapm",
    "splunk_hec",
    "sumologic",
    "zipkin",
];
const EXTENSIONS: &[&str] = &[
    "basicauth",
    "bearertokenauth",
    "file_storage",
    "headers_setter",
    "health_check",
    "oauth2client",
    "opamp",
    "pprof",
    "zpages",
];
const CONNECTORS: &[&str] = &[
    "count",
    "exceptions",
    "failover",
    "forward",
    "roundrobin",
    "routing",
    "servicegraph",
    "spanmetrics",
    "sum",
];

const SECTIONS: [(&str, &[&str]); 5] = [
    ("receivers", RECEIVERS),
    ("processors", PROCESSORS),
    ("exporters", EXPORTERS),
    ("extensions", EXTENSIONS),
    ("connectors", CONNECTORS),
];

/// Checks `collector.yaml` the way the Collector would before starting it.
pub fn check(body: &[u8]) -> Result<CollectorConfig, ConfigError> {
    let doc: Value =
        serde_norway::from_slice(body).map_err(|e| ConfigError::Yaml(e.to_string()))?;
    let top = doc.as_mapping().ok_or(ConfigError::NotAMapping)?;
    for key in top.keys() {
        let name = key.as_str().unwrap_or_default();
        if name != "service" && !SECTIONS.iter().any(|(s, _)| *s == name) {
            return Err(ConfigError::UnknownSection(yaml_text(key)));
        }
    }
    let mut defined: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (section, known) in SECTIONS {
        defined.insert(section, component_ids(&doc, section, known)?);
    }
    let service = doc.get("service");
    let extensions = string_list(service.and_then(|s| s.get("extensions"))).map_err(|_| {
        ConfigError::BadList {
            pipeline: "(service)".into(),
            field: "extensions".into(),
        }
    })?;
    if let Some(missing) = extensions
        .iter()
        .find(|e| !defined["extensions"].contains(*e))
    {
        return Err(ConfigError::UndefinedExtension(missing.clone()));
    }
    let pipelines = pipelines(service.and_then(|s| s.get("pipelines")), &defined)?;
    check_connectors(&pipelines, &defined["connectors"])?;
    Ok(CollectorConfig {
        pipelines,
        extensions,
        unreachable: unreachable_exporters(&doc),
    })
}

/// Exporters whose `endpoint` (or any of `endpoints`) names a host under `.invalid`.
fn unreachable_exporters(doc: &Value) -> BTreeSet<String> {
    let Some(exporters) = doc.get("exporters").and_then(Value::as_mapping) else {
        return BTreeSet::new();
    };
    exporters
        .iter()
        .filter(|(_, settings)| {
            let single = settings.get("endpoint").into_iter();
            let many = settings
                .get("endpoints")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten();
            single
                .chain(many)
                .filter_map(Value::as_str)
                .any(|e| host_of(e).is_some_and(|h| h == "invalid" || h.ends_with(".invalid")))
        })
        .filter_map(|(id, _)| id.as_str().map(str::to_string))
        .collect()
}

/// The host of an endpoint written as `scheme://host:port/path` or `host:port`.
fn host_of(endpoint: &str) -> Option<String> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.trim_end_matches('.').to_ascii_lowercase())
}

/// The ids under one section, each checked against the known types.
fn component_ids(
    doc: &Value,
    section: &'static str,
    known: &[&str],
) -> Result<BTreeSet<String>, ConfigError> {
    let Some(value) = doc.get(section) else {
        return Ok(BTreeSet::new());
    };
    if value.is_null() {
        return Ok(BTreeSet::new());
    }
    let map = value
        .as_mapping()
        .ok_or(ConfigError::SectionNotAMapping { section })?;
    let mut ids = BTreeSet::new();
    for key in map.keys() {
        let id = key.as_str().ok_or_else(|| ConfigError::BadId {
            section,
            id: yaml_text(key),
        })?;
        let kind = id.split('/').next().unwrap_or_default();
        if !known.contains(&kind) {
            return Err(ConfigError::UnknownType {
                section,
                kind: kind.to_string(),
                id: id.to_string(),
            });
        }
        ids.insert(id.to_string());
    }
    Ok(ids)
}

fn pipelines(
    value: Option<&Value>,
    defined: &BTreeMap<&'static str, BTreeSet<String>>,
) -> Result<Vec<Pipeline>, ConfigError> {
    let map = value
        .and_then(Value::as_mapping)
        .filter(|m| !m.is_empty())
        .ok_or(ConfigError::NoPipelines)?;
    let mut out = Vec::with_capacity(map.len());
    for (key, body) in map {
        let id = yaml_text(key);
        let signal = Signal::from_pipeline_id(&id)
            .ok_or_else(|| ConfigError::UnknownPipelineType(id.clone()))?;
        let list = |field: &str| {
            string_list(body.get(field)).map_err(|_| ConfigError::BadList {
                pipeline: id.clone(),
                field: field.to_string(),
            })
        };
        let pipeline = Pipeline {
            signal,
            receivers: list("receivers")?,
            processors: list("processors")?,
            exporters: list("exporters")?,
            id: id.clone(),
        };
        check_references(&pipeline, defined)?;
        out.push(pipeline);
    }
    Ok(out)
}

fn check_references(
    p: &Pipeline,
    defined: &BTreeMap<&'static str, BTreeSet<String>>,
) -> Result<(), ConfigError> {
    let is = |section: &str, id: &String| defined[section].contains(id);
    let undefined = |role, id: &String, section| ConfigError::Undefined {
        pipeline: p.id.clone(),
        role,
        id: id.clone(),
        section,
    };
    for r in &p.receivers {
        if !is("receivers", r) && !is("connectors", r) {
            return Err(undefined("receiver", r, "receivers or connectors"));
        }
    }
    for r in &p.processors {
        if !is("processors", r) {
            return Err(undefined("processor", r, "processors"));
        }
    }
    for r in &p.exporters {
        if !is("exporters", r) && !is("connectors", r) {
            return Err(undefined("exporter", r, "exporters or connectors"));
        }
    }
    for (role, list) in [("receiver", &p.receivers), ("exporter", &p.exporters)] {
        if list.is_empty() {
            return Err(ConfigError::Empty {
                pipeline: p.id.clone(),
                role,
            });
        }
    }
    Ok(())
}

/// A connector joins two pipelines, so it must appear as exporter and as receiver.
fn check_connectors(
    pipelines: &[Pipeline],
    connectors: &BTreeSet<String>,
) -> Result<(), ConfigError> {
    for id in connectors {
        let as_exporter = pipelines.iter().any(|p| p.exporters.contains(id));
        let as_receiver = pipelines.iter().any(|p| p.receivers.contains(id));
        let half = match (as_exporter, as_receiver) {
            (true, false) => Some(("exporter", "receiver")),
            (false, true) => Some(("receiver", "exporter")),
            _ => None,
        };
        if let Some((used, unused)) = half {
            return Err(ConfigError::HalfUsedConnector {
                id: id.clone(),
                used,
                unused,
            });
        }
    }
    Ok(())
}

/// A YAML sequence of strings; absent or null is an empty list.
fn string_list(value: Option<&Value>) -> Result<Vec<String>, ()> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or(()))
            .collect(),
        Some(_) => Err(()),
    }
}

fn yaml_text(v: &Value) -> String {
    match v.as_str() {
        Some(s) => s.to_string(),
        None => serde_norway::to_string(v)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
receivers:
  otlp:
    protocols: {grpc: {}, http: {}}
  hostmetrics:
    collection_interval: 30s
processors:
  batch:
  memory_limiter: {check_interval: 1s, limit_percentage: 80}
exporters:
  otlphttp/backend: {endpoint: https://collector.example.net:4318}
connectors:
  count:
extensions:
  health_check:
service:
  extensions: [health_check]
  pipelines:
    metrics:
      receivers: [hostmetrics, otlp, count]
      processors: [memory_limiter, batch]
      exporters: [otlphttp/backend]
    logs/app:
      receivers: [otlp]
      exporters: [otlphttp/backend, count]
";

    #[test]
    fn accepts_a_complete_configuration() {
        let cfg = check(GOOD.as_bytes()).expect("valid");
        assert_eq!(cfg.pipelines.len(), 2);
        assert_eq!(cfg.pipelines[1].signal, Signal::Logs);
        assert_eq!(cfg.pipelines[0].processors, ["memory_limiter", "batch"]);
        assert_eq!(cfg.extensions, ["health_check"]);
        assert!(cfg.carries(Signal::Metrics) && !cfg.carries(Signal::Traces));
    }

    #[test]
    fn names_an_undefined_exporter_and_its_pipeline() {
        let bad = GOOD.replace("exporters: [otlphttp/backend]", "exporters: [otlp/missing]");
        let err = check(bad.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "collector.yaml: service.pipelines.metrics references exporter \"otlp/missing\", which is not defined under exporters or connectors"
        );
    }

    #[test]
    fn names_an_undefined_processor() {
        let bad = GOOD.replace("[memory_limiter, batch]", "[batch, transform/x]");
        let err = check(bad.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("processor \"transform/x\""),
            "{err}"
        );
    }

    #[test]
    fn rejects_unknown_component_type() {
        let bad = GOOD.replace("  hostmetrics:\n", "  hostmetricz:\n");
        let err = check(bad.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            ConfigError::UnknownType {
                section: "receivers",
                kind: "hostmetricz".into(),
                id: "hostmetricz".into()
            }
        );
    }

    #[test]
    fn rejects_misspelt_section_and_bad_yaml() {
        let bad = GOOD.replace("processors:\n  batch:", "procesors:\n  batch:");
        assert_eq!(
            check(bad.as_bytes()).unwrap_err(),
            ConfigError::UnknownSection("procesors".into())
        );
        let err = check(b"receivers: [otlp\n").unwrap_err();
        assert!(
            matches!(err, ConfigError::Yaml(ref m) if m.contains("line")),
            "{err}"
        );
    }

    #[test]
    fn rejects_undefined_extension_and_missing_pipelines() {
        let bad = GOOD.replace("extensions: [health_check]", "extensions: [pprof]");
        assert_eq!(
            check(bad.as_bytes()).unwrap_err(),
            ConfigError::UndefinedExtension("pprof".into())
        );
        let err = check(b"receivers:\n  otlp:\nservice: {}\n").unwrap_err();
        assert_eq!(err, ConfigError::NoPipelines);
    }

    #[test]
    fn rejects_half_used_connector_and_empty_exporters() {
        let bad = GOOD.replace("[otlphttp/backend, count]", "[otlphttp/backend]");
        assert!(matches!(
            check(bad.as_bytes()).unwrap_err(),
            ConfigError::HalfUsedConnector { ref id, used: "receiver", .. } if id == "count"
        ));
        let bad = GOOD.replace("exporters: [otlphttp/backend]\n", "exporters: []\n");
        assert!(matches!(
            check(bad.as_bytes()).unwrap_err(),
            ConfigError::Empty {
                role: "exporter",
                ..
            }
        ));
    }
}
