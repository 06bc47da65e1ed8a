//! Connectors: a processor type whose connector takes one signal and emits another (span
//! metrics, count, service graph) is placed as an exporter of the pipeline where the processor
//! sits and as a receiver of the emitted signal's pipeline, so derived metrics reach the metrics
//! destinations while the original data passes on unchanged.

use fleetdeck::pipeline::{
    Configuration, NoDestinations, Resource, TypeRegistry, parse_resources, render,
};
use serde_norway::Value;

fn config(text: &str) -> Configuration {
    let parsed = parse_resources(text, Some("test.yaml")).unwrap_or_else(|ps| {
        panic!(
            "{}",
            ps.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    match parsed.into_iter().next().map(|r| r.resource) {
        Some(Resource::Configuration(c)) => c,
        _ => panic!("expected a Configuration"),
    }
}

fn rendered(text: &str) -> Value {
    let cfg = config(text);
    match render(&cfg, &TypeRegistry::builtin(), &NoDestinations) {
        Ok(r) => {
            let doc: Value = serde_norway::from_str(&r.yaml).unwrap();
            assert_connectors_are_wired(&doc, &r.yaml);
            doc
        }
        Err(ps) => panic!(
            "{}",
            ps.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn problems(text: &str) -> String {
    let cfg = config(text);
    match render(&cfg, &TypeRegistry::builtin(), &NoDestinations) {
        Ok(r) => panic!("expected problems, rendered:\n{}", r.yaml),
        Err(ps) => ps
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn list(doc: &Value, pipeline: &str, field: &str) -> Vec<String> {
    doc["service"]["pipelines"][pipeline][field]
        .as_sequence()
        .unwrap_or_else(|| panic!("no {field} in pipeline {pipeline}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

/// The Collector's rule: every connector is an exporter of one pipeline and a receiver of
/// another, and every connector a pipeline names is defined.
fn assert_connectors_are_wired(doc: &Value, yaml: &str) {
    let pipelines = doc["service"]["pipelines"].as_mapping().unwrap();
    let used = |field: &str, id: &str| {
        pipelines.values().any(|p| {
            p[field]
                .as_sequence()
                .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(id)))
        })
    };
    for (id, _) in doc["connectors"].as_mapping().into_iter().flatten() {
        let id = id.as_str().unwrap();
        assert!(
            used("exporters", id),
            "{id} is no pipeline's exporter\n{yaml}"
        );
        assert!(
            used("receivers", id),
            "{id} is no pipeline's receiver\n{yaml}"
        );
    }
}

const HEAD: &str = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata: {name: app}\nspec:\n";

#[test]
fn span_metrics_reach_the_metrics_destination_and_traces_pass_on() {
    let doc = rendered(&format!(
        "{HEAD}  sources:\n    - type: otlp\n  processors:\n    - type: spanmetrics\n      \
         parameters: {{dimensions: [http.route]}}\n    - type: batch\n  destinations:\n    \
         - type: otlphttp\n      parameters: {{endpoint: \"https://collector.example.net:4318\"}}\n"
    ));
    let body = &doc["connectors"]["spanmetrics/processor0"];
    assert_eq!(body["dimensions"][0]["name"].as_str(), Some("http.route"));
    let traces_out = list(&doc, "traces", "exporters");
    assert!(traces_out.contains(&"spanmetrics/processor0".to_string()));
    assert!(traces_out.contains(&"otlphttp/destination0".to_string()));
    let metrics_in = list(&doc, "metrics", "receivers");
    assert!(metrics_in.contains(&"spanmetrics/processor0".to_string()));
    assert!(metrics_in.contains(&"otlp/source0".to_string()));
    assert!(list(&doc, "metrics", "exporters").contains(&"otlphttp/destination0".to_string()));
    // The connector is no processor.
    assert!(doc["processors"].get("spanmetrics/processor0").is_none());
}

#[test]
fn a_sources_span_metrics_see_only_that_sources_traces() {
    let doc = rendered(&format!(
        "{HEAD}  sources:\n    - type: otlp\n      processors:\n        - type: spanmetrics\n    \
         - type: zipkin\n  destinations:\n    - type: debug\n"
    ));
    // otlp's traces run in their own pipeline, which feeds the connector and the shared one.
    let own = list(&doc, "traces/source0", "exporters");
    assert!(
        own.contains(&"spanmetrics/source0__processor0".to_string()),
        "{own:?}"
    );
    assert!(own.contains(&"forward/traces_in".to_string()));
    assert_eq!(list(&doc, "traces/source0", "receivers"), ["otlp/source0"]);
    // zipkin's traces do not pass through it.
    let main_in = list(&doc, "traces", "receivers");
    assert!(main_in.contains(&"zipkin/source1".to_string()));
    assert!(
        list(&doc, "metrics", "receivers").contains(&"spanmetrics/source0__processor0".to_string())
    );
}

#[test]
fn derived_metrics_do_not_run_through_another_sources_own_processors() {
    // hostmetrics is the only metrics source and has a processor of its own: with derived
    // metrics joining, that processor stays in hostmetrics' pipeline.
    let doc = rendered(&format!(
        "{HEAD}  sources:\n    - type: hostmetrics\n      processors:\n        - type: resourcedetection\n    \
         - type: otlp\n      parameters: {{telemetry_types: [Traces]}}\n  processors:\n    - type: servicegraph\n  \
         destinations:\n    - type: debug\n"
    ));
    assert_eq!(
        list(&doc, "metrics/source0", "receivers"),
        ["hostmetrics/source0"]
    );
    let main_in = list(&doc, "metrics", "receivers");
    assert!(main_in.contains(&"servicegraph/processor0".to_string()));
    assert!(main_in.contains(&"forward/metrics_in".to_string()));
    assert!(
        doc["service"]["pipelines"]["metrics"]["processors"].is_null()
            || !list(&doc, "metrics", "processors")
                .iter()
                .any(|p| p.starts_with("resourcedetection"))
    );
}

#[test]
fn count_takes_logs_and_traces_and_emits_metrics_once() {
    let doc = rendered(&format!(
        "{HEAD}  sources:\n    - type: otlp\n  processors:\n    - type: count\n      \
         parameters: {{metric_name: errors, condition: 'severity_number >= SEVERITY_NUMBER_ERROR'}}\n  \
         destinations:\n    - type: debug\n"
    ));
    let body = &doc["connectors"]["count/processor0"];
    assert_eq!(
        body["logs"]["errors"]["conditions"][0].as_str(),
        Some("severity_number >= SEVERITY_NUMBER_ERROR")
    );
    assert!(body["spans"]["errors.spans"].is_mapping());
    assert!(list(&doc, "logs", "exporters").contains(&"count/processor0".to_string()));
    assert!(list(&doc, "traces", "exporters").contains(&"count/processor0".to_string()));
    // Never fed its own output: the metrics pipeline only receives from it.
    assert!(!list(&doc, "metrics", "exporters").contains(&"count/processor0".to_string()));
    assert_eq!(
        list(&doc, "metrics", "receivers")
            .iter()
            .filter(|r| *r == "count/processor0")
            .count(),
        1
    );
}

#[test]
fn a_destinations_connector_gets_that_destinations_pipeline() {
    let doc = rendered(&format!(
        "{HEAD}  sources:\n    - type: otlp\n  destinations:\n    - type: debug\n      processors:\n        \
         - type: spanmetrics\n    - type: otlphttp\n      parameters: {{endpoint: \"https://b.example.net\"}}\n"
    ));
    let own = list(&doc, "traces/destination0", "exporters");
    assert!(
        own.contains(&"spanmetrics/destination0__processor0".to_string()),
        "{own:?}"
    );
    assert!(own.contains(&"debug/destination0".to_string()));
    assert!(
        !list(&doc, "traces", "exporters")
            .contains(&"spanmetrics/destination0__processor0".to_string())
    );
}

#[test]
fn derived_metrics_without_a_metrics_destination_are_refused_by_name() {
    let msg = problems(&format!(
        "{HEAD}  sources:\n    - type: otlp\n      parameters: {{telemetry_types: [Traces]}}\n  \
         processors:\n    - type: spanmetrics\n  destinations:\n    - type: jaeger\n"
    ));
    assert!(
        msg.contains(
            "connector spanmetrics/processor0 produces metrics but no destination accepts metrics"
        ),
        "{msg}"
    );
}

#[test]
fn connector_types_are_checked_when_loaded() {
    let load = |text: &str| {
        let mut reg = TypeRegistry::empty();
        match parse_resources(text, Some("t.yaml")) {
            Ok(rs) => match rs.into_iter().next().map(|r| r.resource) {
                Some(Resource::Type(t)) => reg
                    .insert(t)
                    .err()
                    .map(|ps| {
                        ps.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default(),
                _ => panic!("not a type"),
            },
            Err(ps) => ps
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    };
    let source = load(
        "apiVersion: fleetdeck/v1\nkind: SourceType\nmetadata: {name: s}\nspec:\n  emits: [metrics]\n  \
         traces:\n    receivers: \"- otlp: {}\"\n    connectors: \"- spanmetrics: {}\"\n",
    );
    assert!(
        source.contains("only a ProcessorType can emit connectors"),
        "{source}"
    );
    let no_emits = load(
        "apiVersion: fleetdeck/v1\nkind: ProcessorType\nmetadata: {name: p}\nspec:\n  \
         traces:\n    connectors: \"- spanmetrics: {}\"\n",
    );
    assert!(
        no_emits.contains("connectors need spec.emits"),
        "{no_emits}"
    );
    let own_tail = load(
        "apiVersion: fleetdeck/v1\nkind: ProcessorType\nmetadata: {name: p}\nspec:\n  emits: [metrics]\n  \
         metrics:\n    connectors: \"- count: {}\"\n",
    );
    assert!(own_tail.contains("would feed itself"), "{own_tail}");
    let bad_signal = load(
        "apiVersion: fleetdeck/v1\nkind: ProcessorType\nmetadata: {name: p}\nspec:\n  emits: [profiles]\n  \
         traces:\n    connectors: \"- count: {}\"\n",
    );
    assert!(
        bad_signal.contains("\"profiles\" is not a signal"),
        "{bad_signal}"
    );
}

// ---- routes --------------------------------------------------------------------------------

#[test]
fn routes_send_matching_items_to_their_destination_and_the_rest_to_the_others() {
    let doc = rendered(&format!(
        "{HEAD}  sources:\n    - type: otlp\n  destinations:\n    - type: otlphttp\n      \
         parameters: {{endpoint: \"https://acme.example.net\"}}\n      processors:\n        \
         - type: route\n          parameters: {{condition: 'attributes[\"tenant\"] == \"acme\"', level: record}}\n    \
         - type: debug\n"
    ));
    let routing = &doc["connectors"]["routing/logs"];
    assert_eq!(routing["error_mode"].as_str(), Some("ignore"));
    let entry = &routing["table"][0];
    assert_eq!(entry["context"].as_str(), Some("log"));
    assert_eq!(
        entry["condition"].as_str(),
        Some("attributes[\"tenant\"] == \"acme\"")
    );
    assert_eq!(entry["pipelines"][0].as_str(), Some("logs/destination0"));
    assert_eq!(
        routing["default_pipelines"][0].as_str(),
        Some("logs/destination1")
    );
    // The shared pipeline ends in the router; each destination has its own pipeline behind it.
    assert_eq!(list(&doc, "logs", "exporters"), ["routing/logs"]);
    assert_eq!(
        list(&doc, "logs/destination0", "receivers"),
        ["routing/logs"]
    );
    assert_eq!(
        list(&doc, "logs/destination0", "exporters"),
        ["otlphttp/destination0"]
    );
    assert_eq!(
        list(&doc, "logs/destination1", "exporters"),
        ["debug/destination1"]
    );
    // Traces are routed per span.
    assert_eq!(
        doc["connectors"]["routing/traces"]["table"][0]["context"].as_str(),
        Some("span")
    );
}

#[test]
fn a_route_keeps_the_destinations_own_processors() {
    let doc = rendered(&format!(
        "{HEAD}  sources:\n    - type: otlp\n      parameters: {{telemetry_types: [Logs]}}\n  \
         destinations:\n    - type: debug\n      processors:\n        - type: route\n          \
         parameters: {{condition: 'resource.attributes[\"env\"] == \"prod\"'}}\n        - type: batch\n"
    ));
    let own = list(&doc, "logs/destination0", "processors");
    assert!(own.iter().any(|p| p.starts_with("batch/")), "{own:?}");
    assert_eq!(
        doc["connectors"]["routing/logs"]["table"][0]["context"].as_str(),
        Some("resource")
    );
    // Only one destination and it has a route: what does not match goes nowhere.
    assert!(doc["connectors"]["routing/logs"]["default_pipelines"].is_null());
}

#[test]
fn a_route_anywhere_but_on_a_destination_is_refused_by_name() {
    let msg = problems(&format!(
        "{HEAD}  sources:\n    - type: otlp\n  processors:\n    - type: route\n      \
         parameters: {{condition: 'true'}}\n  destinations:\n    - type: debug\n"
    ));
    assert!(
        msg.contains(
            "a route in spec.processors decides nothing there: attach it to the destination"
        ),
        "{msg}"
    );
    let msg = problems(&format!(
        "{HEAD}  sources:\n    - type: otlp\n      processors:\n        - type: route\n          \
         parameters: {{condition: 'true'}}\n  destinations:\n    - type: debug\n"
    ));
    assert!(
        msg.contains("a route in the processors of sources[0] (otlp)"),
        "{msg}"
    );
}

#[test]
fn a_route_cannot_name_pipelines_or_live_in_a_source_type() {
    let load = |text: &str| {
        let mut reg = TypeRegistry::empty();
        match parse_resources(text, Some("t.yaml")) {
            Ok(rs) => match rs.into_iter().next().map(|r| r.resource) {
                Some(Resource::Type(t)) => reg
                    .insert(t)
                    .err()
                    .map(|ps| {
                        ps.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default(),
                _ => panic!("not a type"),
            },
            Err(ps) => ps
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    };
    let named = load(
        "apiVersion: fleetdeck/v1\nkind: ProcessorType\nmetadata: {name: r}\nspec:\n  logs:\n    \
         route: \"{condition: 'true', pipelines: [logs/x]}\"\n",
    );
    assert!(named.contains("a route does not name pipelines"), "{named}");
    let source = load(
        "apiVersion: fleetdeck/v1\nkind: SourceType\nmetadata: {name: s}\nspec:\n  logs:\n    \
         receivers: \"- otlp: {}\"\n    route: \"{condition: 'true'}\"\n",
    );
    assert!(
        source.contains("only a ProcessorType (attached to a destination) can be a route"),
        "{source}"
    );
}
