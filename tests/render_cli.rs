//! `fleetdeck render` through the built binary.

use std::process::Command;

fn fleetdeck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn renders_a_good_file_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yaml");
    std::fs::write(
        &file,
        r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: web}
spec:
  sources:
    - type: filelog
      parameters: {include: ["/var/log/nginx/*.log"]}
  processors: [{type: batch}]
  destinations:
    - type: otlphttp
      parameters: {endpoint: "https://collector.example.net:4318"}
"#,
    )
    .unwrap();
    let out = fleetdeck(&["render", "-f", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_norway::Value = serde_norway::from_str(&stdout).unwrap();
    assert_eq!(
        doc["service"]["pipelines"]["logs"]["receivers"][0].as_str(),
        Some("filelog/source0")
    );
    assert_eq!(
        doc["exporters"]["otlphttp/destination0"]["endpoint"].as_str(),
        Some("https://collector.example.net:4318")
    );
}

#[test]
fn a_bad_file_exits_1_with_every_problem_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: bad}
spec:
  sources:
    - type: hostmetrics
      parameters: {collection_interval: soon}
  destinations:
    - type: otlp
"#,
    )
    .unwrap();
    let shown = file.display().to_string();
    let out = fleetdeck(&["render", "-f", &shown]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 problems found"), "{stderr}");
    assert!(stderr.contains(&format!("{shown}:7: Configuration bad: sources[0] (hostmetrics): parameter collection_interval: expected an integer")), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{shown}:9: Configuration bad: destinations[0] (otlp): parameter endpoint: is required"
        )),
        "{stderr}"
    );
}

#[test]
fn user_types_directory_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let types = dir.path().join("types");
    std::fs::create_dir(&types).unwrap();
    std::fs::write(
        types.join("site_tcp.yaml"),
        r#"apiVersion: bindplane.observiq.com/v1
kind: SourceType
metadata: {name: site_tcp}
spec:
  parameters:
    - {name: port, type: int, default: 54525}
  logs:
    receivers: |
      - tcplog:
          listen_address: "0.0.0.0:{{ .port }}"
"#,
    )
    .unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata: {name: c}\nspec:\n  sources: [{type: site_tcp}]\n  destinations: [{type: debug}]\n",
    )
    .unwrap();
    let out = fleetdeck(&[
        "render",
        "-f",
        file.to_str().unwrap(),
        "--types",
        types.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("tcplog/source0:\n    listen_address: 0.0.0.0:54525\n")
    );
    // Without --types the type is unknown (the built-in tcplog has other parameters).
    let out = fleetdeck(&["render", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown source type \"site_tcp\""));
}
