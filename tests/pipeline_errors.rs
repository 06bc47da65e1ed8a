//! Bad input gives every problem at once, each naming file, line, resource and parameter.

use fleetdeck::pipeline::locate::Origin;
use fleetdeck::pipeline::{Problem, Resource, TypeRegistry, parse_resources, render};

fn problems_of_config(text: &str) -> Vec<String> {
    let parsed = parse_resources(text, Some("broken.yaml")).unwrap_or_else(|ps| panic!("{ps:?}"));
    let mut configs = Vec::new();
    let mut dests = Vec::new();
    for r in parsed {
        match r.resource {
            Resource::Configuration(c) => configs.push((c, r.origin)),
            Resource::Destination(d) => dests.push(d),
            Resource::Type(_) => {}
        }
    }
    let (cfg, origin): (_, Origin) = configs.remove(0);
    match render(&cfg, &TypeRegistry::builtin(), &dests) {
        Ok(r) => panic!("should not render:\n{}", r.yaml),
        Err(ps) => ps
            .into_iter()
            .map(|p| origin.place(p).to_string())
            .collect(),
    }
}

fn load_errors(text: &str) -> Vec<Problem> {
    match parse_resources(text, Some("types/bad.yaml")) {
        Ok(_) => panic!("should be rejected"),
        Err(ps) => ps,
    }
}

fn has(problems: &[String], want: &str) {
    assert!(
        problems.iter().any(|p| p.contains(want)),
        "no problem containing {want:?} in:\n{}",
        problems.join("\n")
    );
}

const BROKEN: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata:
  name: broken
spec:
  sources:
    - type: hostmetric
    - type: filelog
      parameters:
        start_at: middle
    - type: hostmetrics
      parameters:
        - {name: collection_interval, value: "30s"}
        - {name: scrapers, value: [cpu, gpu]}
    - type: syslog
      parameters: {timezone: Europe/Berlin, colour: blue}
  destinations:
    - type: debug
    - name: missing
"#;

#[test]
fn every_configuration_problem_is_reported_with_its_line() {
    let ps = problems_of_config(BROKEN);
    has(
        &ps,
        "broken.yaml:7: Configuration broken: sources[0] (hostmetric): unknown source type \"hostmetric\"",
    );
    has(
        &ps,
        "broken.yaml:9: Configuration broken: sources[1] (filelog): parameter include: is required",
    );
    has(
        &ps,
        "broken.yaml:10: Configuration broken: sources[1] (filelog): parameter start_at: \"middle\" is not one of beginning, end",
    );
    has(
        &ps,
        "broken.yaml:13: Configuration broken: sources[2] (hostmetrics): parameter collection_interval: expected an integer, got string \"30s\"",
    );
    has(
        &ps,
        "broken.yaml:14: Configuration broken: sources[2] (hostmetrics): parameter scrapers: string \"gpu\" is not one of",
    );
    has(
        &ps,
        "broken.yaml:16: Configuration broken: sources[3] (syslog): parameter timezone: is set but does not apply here (only when protocol is rfc3164)",
    );
    has(
        &ps,
        "broken.yaml:16: Configuration broken: sources[3] (syslog): parameter colour: is not a parameter of SourceType syslog",
    );
    has(
        &ps,
        "broken.yaml:19: Configuration broken: destinations[1]: no Destination named \"missing\"",
    );
    assert_eq!(ps.len(), 8, "{}", ps.join("\n"));
}

#[test]
fn a_signal_without_a_destination_is_a_problem() {
    let ps = problems_of_config(
        r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: no-logs}
spec:
  sources:
    - type: hostmetrics
    - type: journald
  destinations:
    - type: prometheus
"#,
    );
    assert_eq!(ps, vec!["broken.yaml: Configuration no-logs: sources[1] (journald): produces logs but no destination accepts logs".to_string()]);
}

#[test]
fn duplicate_named_destinations_are_refused() {
    let ps = problems_of_config(
        r#"apiVersion: fleetdeck/v1
kind: Destination
metadata: {name: dbg}
spec: {type: debug}
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: twice}
spec:
  sources: [{type: otlp}]
  destinations:
    - name: dbg
    - name: dbg
"#,
    );
    has(
        &ps,
        "broken.yaml:13: Configuration twice: destinations[1]: Destination \"dbg\" is listed more than once",
    );
}

#[test]
fn template_errors_name_file_type_and_file_line() {
    let ps = load_errors(
        r#"apiVersion: fleetdeck/v1
kind: SourceType
metadata:
  name: broken
spec:
  parameters:
    - {name: port, type: int, default: 80}
  metrics:
    receivers: |
      - nginx:
          endpoint: {{ .port | frobnicate }}
"#,
    );
    let shown: Vec<String> = ps.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "types/bad.yaml:11: SourceType broken: spec.metrics.receivers: template line 2: function \"frobnicate\" not defined"
        ]
    );
}

#[test]
fn missing_keys_in_templates_fail_when_the_type_is_loaded() {
    let ps = load_errors(
        r#"apiVersion: fleetdeck/v1
kind: DestinationType
metadata: {name: typo}
spec:
  parameters:
    - {name: endpoint, type: string, default: "x:1"}
  logs:
    exporters: |
      - otlp:
          endpoint: {{ .endpiont }}
"#,
    );
    let shown = ps[0].to_string();
    assert!(shown.starts_with("types/bad.yaml:10: DestinationType typo: spec.logs.exporters: template line 2: map has no entry for key \"endpiont\""), "{shown}");
}

#[test]
fn bad_parameter_definitions_are_named() {
    let ps = load_errors(
        r#"apiVersion: fleetdeck/v1
kind: SourceType
metadata: {name: params}
spec:
  parameters:
    - {name: disable_metrics, type: metrics}
    - {name: mode, type: enum, validValues: [a, b], default: c}
    - {name: level, type: int, relevantIf: [{name: nope, operator: equals, value: 1}]}
  metrics:
    receivers: "- nop: {}"
"#,
    );
    let shown: Vec<String> = ps.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0].starts_with("types/bad.yaml:6: SourceType params: parameter disable_metrics: type \"metrics\" is not supported"), "{shown:?}");
    let ps = load_errors(
        r#"apiVersion: fleetdeck/v1
kind: SourceType
metadata: {name: params}
spec:
  parameters:
    - {name: mode, type: enum, validValues: [a, b], default: c}
    - {name: level, type: int, relevantIf: [{name: nope, operator: equals, value: 1}]}
    - {name: mode, type: string}
  metrics:
    receivers: "- nop: {}"
"#,
    );
    let shown: Vec<String> = ps.iter().map(ToString::to_string).collect();
    has(
        &shown,
        "types/bad.yaml:6: SourceType params: parameter mode: default: \"c\" is not one of a, b",
    );
    has(
        &shown,
        "types/bad.yaml:7: SourceType params: parameter level: relevantIf names unknown parameter \"nope\"",
    );
    has(
        &shown,
        "types/bad.yaml:8: SourceType params: parameter mode: is defined more than once",
    );
}

#[test]
fn wrong_output_shape_is_refused() {
    let ps = load_errors(
        r#"apiVersion: fleetdeck/v1
kind: ProcessorType
metadata: {name: shape}
spec:
  logs:
    processors: |
      batch: {}
"#,
    );
    assert!(
        ps[0]
            .to_string()
            .contains("spec.logs.processors: must render to a YAML list of single-key maps"),
        "{}",
        ps[0]
    );
}

#[test]
fn multi_document_errors_name_the_document_and_line() {
    let text = r#"apiVersion: fleetdeck/v1
kind: Destination
metadata: {name: ok}
spec: {type: debug}
---
apiVersion: fleetdeck/v1
kind: Gadget
metadata: {name: g}
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: c}
spec:
  sources: [{type: otlp]
"#;
    let ps = parse_resources(text, Some("multi.yaml")).unwrap_err();
    let shown: Vec<String> = ps.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(
        shown[0].starts_with("multi.yaml:7: document 2 (Gadget g): unknown kind \"Gadget\""),
        "{shown:?}"
    );
    assert!(
        shown[1].starts_with("multi.yaml:14: document 3"),
        "{shown:?}"
    );
}

#[test]
fn unknown_configuration_fields_are_named() {
    let ps = parse_resources(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata: {name: c}\nspec:\n  sources: []\n  destinatons: []\n",
        Some("c.yaml"),
    )
    .unwrap_err();
    let shown = ps[0].to_string();
    assert!(
        shown.starts_with("c.yaml:6: Configuration c: spec: unknown field `destinatons`"),
        "{shown}"
    );
}

#[test]
fn wrong_api_version_is_refused() {
    let ps = parse_resources(
        "apiVersion: v2\nkind: Configuration\nmetadata: {name: c}\n",
        Some("c.yaml"),
    )
    .unwrap_err();
    assert_eq!(
        ps[0].to_string(),
        "c.yaml:1: Configuration c: apiVersion \"v2\" is not one of fleetdeck/v1, bindplane.observiq.com/v1"
    );
}

#[test]
fn processor_names_that_clash_or_cannot_be_ids_are_refused() {
    let ps = problems_of_config(
        r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: clash}
spec:
  sources:
    - type: otlp
      processors:
        - {type: batch, name: "with space"}
  processors:
    - {type: batch, name: fast}
    - {type: filter, name: fast}
    - type: batch
      name: fast
    - {type: batch, name: processor4}
    - {type: batch}
  destinations:
    - type: debug
"#,
    );
    // Another type may use the same name: filter/fast is not batch/fast.
    assert_eq!(ps.len(), 3, "{}", ps.join("\n"));
    has(
        &ps,
        "broken.yaml:13: Configuration clash: processors[2] (batch): name \"fast\": batch/fast is already the ID of processors[0]; give each batch processor its own name",
    );
    // A name may not take the ID an unnamed processor has from its place.
    has(
        &ps,
        "broken.yaml:14: Configuration clash: processors[3] (batch): name \"processor4\": batch/processor4 is already the ID of processors[4]",
    );
    has(
        &ps,
        "broken.yaml:8: Configuration clash: sources[0].processors[0] (batch): name \"with space\" must be 1 to 128 letters, digits, '_', '-' or '.', starting with a letter or digit",
    );
}
