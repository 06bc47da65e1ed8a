//! Rendering configurations to Collector YAML: golden files per kind of layout, the Dynatrace
//! destination, masking, named destinations, raw configs and GitOps round-trips.

use fleetdeck::pipeline::{
    Configuration, Destination, NoDestinations, Resource, TypeRegistry, diff, parse_resources,
    render, render_masked,
};

fn parse(text: &str) -> Vec<Resource> {
    match parse_resources(text, Some("test.yaml")) {
        Ok(rs) => rs.into_iter().map(|r| r.resource).collect(),
        Err(ps) => panic!(
            "{}",
            ps.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn config(text: &str) -> Configuration {
    match parse(text).remove(0) {
        Resource::Configuration(c) => c,
        other => panic!("expected a Configuration, got {}", other.label()),
    }
}

fn rendered(cfg: &Configuration, dests: &[Destination]) -> String {
    match render(cfg, &TypeRegistry::builtin(), &dests.to_vec()) {
        Ok(r) => r.yaml,
        Err(ps) => panic!(
            "{}",
            ps.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

const WEB_TIER: &str = r#"
apiVersion: fleetdeck/v1
kind: Configuration
metadata:
  name: web-tier
  labels: {env: prod}
spec:
  selector:
    matchLabels: {tier: web}
  sources:
    - type: hostmetrics
      parameters:
        - {name: collection_interval, value: 30}
      processors:
        - type: resourcedetection
    - type: filelog
      parameters: {include: ["/var/log/nginx/*.log"], start_at: end}
  processors:
    - type: batch
  destinations:
    - type: otlphttp
      parameters: {endpoint: "https://collector.example.net:4318"}
"#;

#[test]
fn design_example_renders_one_pipeline_per_signal() {
    insta::assert_snapshot!("web_tier", rendered(&config(WEB_TIER), &[]));
}

/// Two metric sources with their own processors and two destinations, one with its own
/// processors: per-source and per-destination pipelines joined by forward connectors.
const FAN_IN: &str = r#"
apiVersion: bindplane.observiq.com/v1
kind: Configuration
metadata:
  name: fan-in
spec:
  sources:
    - type: hostmetrics
      processors:
        - type: resource
          parameters: {upsert: {role: host}}
    - type: redis
      parameters: {endpoint: "redis:6379"}
    - type: otlp
  processors:
    - type: memory_limiter
    - type: batch
  destinations:
    - type: dynatrace
      parameters:
        - {name: endpoint, value: "https://abc12345.live.dynatrace.com/api/v2/otlp"}
        - {name: api_token, value: "dt0c01.SECRET"}
    - name: backup
"#;

const BACKUP: &str = r#"
apiVersion: fleetdeck/v1
kind: Destination
metadata:
  name: backup
spec:
  type: otlp
  parameters:
    endpoint: backup.example.net:4317
    persistent_queue: true
  processors:
    - type: filter
      parameters:
        metric_conditions: ['name == "system.paging.faults"']
"#;

fn backup() -> Destination {
    match parse(BACKUP).remove(0) {
        Resource::Destination(d) => d,
        other => panic!("expected a Destination, got {}", other.label()),
    }
}

#[test]
fn fan_in_with_own_processors_uses_forward_connectors() {
    let yaml = rendered(&config(FAN_IN), &[backup()]);
    insta::assert_snapshot!("fan_in", yaml);
}

#[test]
fn dynatrace_destination_renders_otlphttp_with_api_token_header() {
    let cfg = config(
        r#"
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: dt}
spec:
  sources: [{type: otlp}]
  destinations:
    - type: dynatrace
      parameters:
        endpoint: https://abc12345.live.dynatrace.com/api/v2/otlp
        api_token: dt0c01.ABCDEF.GHIJKL
"#,
    );
    let yaml = rendered(&cfg, &[]);
    let doc: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
    let exporter = &doc["exporters"]["otlphttp/destination0"];
    assert_eq!(
        exporter["endpoint"].as_str(),
        Some("https://abc12345.live.dynatrace.com/api/v2/otlp")
    );
    assert_eq!(
        exporter["headers"]["Authorization"].as_str(),
        Some("Api-Token dt0c01.ABCDEF.GHIJKL")
    );
    // Dynatrace takes delta metrics only: the destination's own processor is in the metrics pipeline.
    let metrics = &doc["service"]["pipelines"]["metrics"];
    assert_eq!(
        metrics["processors"][0].as_str(),
        Some("cumulativetodelta/destination0")
    );
    assert!(
        doc["service"]["pipelines"]["traces"]
            .get("processors")
            .is_none()
    );
    insta::assert_snapshot!("dynatrace", yaml);
}

#[test]
fn masked_rendering_hides_sensitive_values_only() {
    let cfg = config(FAN_IN);
    let reg = TypeRegistry::builtin();
    let masked = render_masked(&cfg, &reg, &vec![backup()]).unwrap().yaml;
    let real = render(&cfg, &reg, &vec![backup()]).unwrap().yaml;
    assert!(real.contains("Api-Token dt0c01.SECRET"));
    assert!(!masked.contains("dt0c01.SECRET"), "{masked}");
    assert!(masked.contains("Api-Token (sensitive)"));
    // Only that line differs.
    let changed: Vec<_> = diff(&real, &masked)
        .into_iter()
        .filter(|l| l.marker() != ' ')
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
}

#[test]
fn masked_configuration_keeps_everything_but_secrets() {
    let cfg = config(FAN_IN);
    let masked = fleetdeck::pipeline::mask_configuration(&cfg, &TypeRegistry::builtin());
    let yaml = masked.to_yaml().unwrap();
    assert!(!yaml.contains("dt0c01.SECRET"), "{yaml}");
    assert!(yaml.contains("value: (sensitive)"), "{yaml}");
    let mut restored = masked.clone();
    restored.spec.destinations[0] = cfg.spec.destinations[0].clone();
    assert_eq!(restored, cfg);
}

#[test]
fn rendering_is_deterministic_and_hashed() {
    let cfg = config(FAN_IN);
    let reg = TypeRegistry::builtin();
    let a = render(&cfg, &reg, &vec![backup()]).unwrap();
    let b = render(&cfg, &reg, &vec![backup()]).unwrap();
    assert_eq!(a, b);
    use sha2::Digest;
    let want: [u8; 32] = sha2::Sha256::digest(a.yaml.as_bytes()).into();
    assert_eq!(a.sha256, want);
}

#[test]
fn raw_configuration_is_sent_verbatim() {
    let cfg = config(
        r#"
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: raw}
spec:
  raw: |
    receivers: {otlp: {protocols: {grpc: {}}}}
    exporters: {debug: {}}
    service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}
"#,
    );
    let r = render(&cfg, &TypeRegistry::builtin(), &NoDestinations).unwrap();
    assert_eq!(r.yaml, cfg.spec.raw.clone().unwrap());
}

#[test]
fn resources_round_trip_through_yaml() {
    let mut all = parse(WEB_TIER);
    all.extend(parse(FAN_IN));
    all.extend(parse(BACKUP));
    for (_, text) in TypeRegistry::builtin_files() {
        all.extend(parse(text));
    }
    for r in all {
        let yaml = r.to_yaml().unwrap();
        let again = parse(&yaml).remove(0);
        assert_eq!(again, r, "{} changed through YAML:\n{yaml}", r.label());
    }
}

#[test]
fn user_types_override_builtins_by_kind_and_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("batch.yaml"),
        r#"
apiVersion: fleetdeck/v1
kind: ProcessorType
metadata: {name: batch}
spec:
  parameters: []
  logs+metrics+traces:
    processors: |
      - batch:
          timeout: 5s
"#,
    )
    .unwrap();
    let reg = TypeRegistry::builtin_with_dir(dir.path()).unwrap();
    assert_eq!(reg.len(), TypeRegistry::builtin().len());
    let yaml = render(&config(WEB_TIER), &reg, &NoDestinations)
        .unwrap()
        .yaml;
    assert!(
        yaml.contains("batch/processor0:\n    timeout: 5s\n"),
        "{yaml}"
    );
}

/// One golden per type kind, with non-default parameters that switch template branches.
#[test]
fn golden_per_type_kind() {
    let source = config(
        r#"
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: golden-source}
spec:
  sources:
    - type: syslog
      parameters: {protocol: rfc3164, transport: tcp, port: 1514, timezone: Europe/Berlin}
  destinations: [{type: debug}]
"#,
    );
    insta::assert_snapshot!("kind_source_syslog", rendered(&source, &[]));
    let processor = config(
        r#"
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: golden-processor}
spec:
  sources: [{type: filelog, parameters: {include: [/var/log/app.log], parse_format: json}}]
  processors:
    - type: transform
      parameters:
        log_statements: ['set(attributes["env"], "prod")']
    - type: attributes
      parameters: {insert: {team: web}, delete: [password]}
  destinations: [{type: debug}]
"#,
    );
    insta::assert_snapshot!("kind_processor_transform", rendered(&processor, &[]));
    let destination = config(
        r#"
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: golden-destination}
spec:
  sources: [{type: otlp, parameters: {telemetry_types: [Logs, Traces]}}]
  destinations:
    - type: elasticsearch
      parameters: {endpoints: ["https://es.example.net:9200"], auth: api_key, api_key: secret-key}
"#,
    );
    insta::assert_snapshot!(
        "kind_destination_elasticsearch",
        rendered(&destination, &[])
    );
}

const NAMED_PROCESSORS: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: named}
spec:
  sources:
    - type: hostmetrics
      processors:
        - {type: batch, name: early}
  processors: [{type: batch, name: fast}, {type: batch}]
  destinations:
    - type: otlphttp
      parameters: {endpoint: "https://collector.example.net:4318"}
"#;

#[test]
fn named_processors_end_their_component_ids_with_the_name() {
    let cfg = config(NAMED_PROCESSORS);
    assert_eq!(cfg.spec.processors[0].name.as_deref(), Some("fast"));
    let yaml = rendered(&cfg, &[]);
    let doc: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
    let procs: Vec<&str> = doc["service"]["pipelines"]["metrics"]["processors"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    // The source's own processor first, then the fleet-wide ones in order; an unnamed
    // one keeps the name made from its place.
    assert_eq!(
        procs,
        ["batch/source0__early", "batch/fast", "batch/processor1"],
        "{yaml}"
    );
    for id in procs {
        assert!(
            doc["processors"].get(id).is_some(),
            "{id} is not defined:\n{yaml}"
        );
    }
    assert!(!yaml.contains("batch/processor0"), "{yaml}");
    // The name is kept through `get -o yaml` and `apply -f` again.
    let text = cfg.to_yaml().unwrap();
    assert!(text.contains("name: fast"), "{text}");
    assert_eq!(config(&text), cfg);
}

#[test]
fn every_rendered_component_maps_back_to_the_step_that_placed_it() {
    use fleetdeck::pipeline::{TypeKind, component_map};
    let cfg = config(FAN_IN);
    let dests = vec![backup()];
    let map = component_map(&cfg, &TypeRegistry::builtin(), &dests);
    let yaml: serde_json::Value = match serde_norway::from_str(&rendered(&cfg, &dests)) {
        Ok(v) => v,
        Err(e) => panic!("rendered YAML does not parse: {e}"),
    };
    // Every receiver, processor and exporter the YAML defines has a place, except the
    // connectors the renderer adds to join pipelines.
    for section in ["receivers", "processors", "exporters"] {
        let ids = yaml[section]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>());
        for id in ids.unwrap_or_default() {
            assert!(
                map.get(&id).is_some(),
                "{section} {id} has no place in {map:?}"
            );
        }
    }
    let place = |id: &str| {
        map.get(id)
            .map(|p| (p.kind, p.label.clone(), p.destination.clone()))
    };
    let exporter_of = |label: &str| {
        map.iter()
            .find(|(id, p)| p.label == label && yaml["exporters"].get(*id).is_some())
            .map(|(id, _)| id.to_string())
    };
    let backup_exporter = exporter_of("destinations[1] (Destination backup)");
    assert_eq!(backup_exporter.as_deref(), Some("otlp/backup"));
    assert_eq!(
        place("otlp/backup"),
        Some((
            TypeKind::Destination,
            "destinations[1] (Destination backup)".to_string(),
            Some("backup".to_string())
        ))
    );
    let redis = map.iter().find(|(id, _)| id.starts_with("redis/"));
    assert_eq!(
        redis.map(|(_, p)| (p.kind, p.label.as_str(), p.index)),
        Some((TypeKind::Source, "sources[1] (redis)", 1))
    );
    let batch = map.iter().find(|(id, _)| id.starts_with("batch/"));
    assert_eq!(
        batch.map(|(_, p)| (p.kind, p.label.as_str(), p.index, p.attached)),
        Some((TypeKind::Processor, "processors[1] (batch)", 1, None))
    );
    let attached = map
        .iter()
        .find(|(id, _)| id.starts_with("resource/source0"));
    assert_eq!(
        attached.map(|(_, p)| (p.label.as_str(), p.index, p.attached)),
        Some(("sources[0].processors[0] (resource)", 0, Some(0)))
    );
}
