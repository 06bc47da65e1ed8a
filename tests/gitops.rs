//! The fleet as a Git folder, through the real `fleetdeck` binary: `export DIR` writes every
//! stored resource and the operator labels as files that `apply -f DIR` reads back as
//! unchanged and that rebuild a fresh server; `apply --prune` deletes what the folder no
//! longer has (after `--dry-run` listed it without touching anything), keeps what is in
//! use and says so; and only an admin token may export (the files hold the secrets).

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::AgentId;
use fleetdeck::sim::{self, SimConfig};

async fn cli(server: &TestServer, token: &str, args: &[&str]) -> common::cli::CliOut {
    common::cli::run(&server.api_url(), token, args).await
}

const SECRET_KEY: &str = "dd-key-5f0c2b7e";

fn resources() -> String {
    format!(
        r#"apiVersion: fleetdeck/v1
kind: SourceType
metadata: {{name: acme-tcp}}
spec:
  parameters:
    - {{name: port, type: int, default: 54525}}
  logs:
    receivers: |
      - tcplog:
          listen_address: "0.0.0.0:{{{{ .port }}}}"
---
apiVersion: fleetdeck/v1
kind: Destination
metadata: {{name: dd}}
spec:
  type: datadog
  parameters:
    - {{name: api_key, value: {SECRET_KEY}}}
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {{name: edge}}
spec:
  sources: [{{type: acme-tcp}}]
  destinations: [{{name: dd}}]
"#
    )
}

const OTHER: &str = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata: {name: other}\nspec:\n  raw: |\n    receivers:\n      otlp:\n        protocols:\n          http: {}\n    exporters:\n      debug: {}\n    service:\n      pipelines:\n        logs:\n          receivers: [otlp]\n          exporters: [debug]\n";

fn ok(out: &common::cli::CliOut) {
    out.ok();
}

#[tokio::test]
async fn export_apply_unchanged_prune_and_restore() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let mut cfg = SimConfig::new(server.ws_url(), 1);
    cfg.transport = SimTransport::Ws;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    let fleet = sim::start(cfg).await.expect("simulator starts");
    let agent: AgentId = fleet.agent_ids()[0];
    server
        .wait_for("the agent", |s| {
            s.get(&agent).is_some_and(|a| a.is_connected())
        })
        .await;
    let id = agent.to_string();

    let work = tempfile::tempdir().expect("work dir");
    let source = work.path().join("resources.yaml");
    std::fs::write(&source, resources()).expect("write");
    ok(&cli(
        &server,
        API_TOKEN,
        &["apply", "-f", &source.to_string_lossy()],
    )
    .await);
    ok(&cli(&server, API_TOKEN, &["label", "agent", &id, "team=edge"]).await);

    // Export: one file per resource, in the order a fresh server needs them, private.
    let dir = work.path().join("fleet");
    let dir_s = dir.to_string_lossy().into_owned();
    let exported = cli(&server, API_TOKEN, &["export", &dir_s]).await;
    ok(&exported);
    assert!(
        exported
            .stdout
            .contains("exported 3 resources and the operator labels of 1 agent"),
        "{exported}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "10-type-sourcetype-acme-tcp.yaml",
            "20-destination-dd.yaml",
            "30-configuration-edge.yaml",
            "90-agent-labels.yaml"
        ]
    );
    let dest = std::fs::read_to_string(dir.join("20-destination-dd.yaml")).expect("read");
    assert!(
        dest.contains(SECRET_KEY),
        "an admin's export keeps the secret: {dest}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("20-destination-dd.yaml"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let labels = std::fs::read_to_string(dir.join("90-agent-labels.yaml")).expect("read");
    assert!(
        labels.contains("kind: AgentLabels") && labels.contains(&id),
        "{labels}"
    );

    // Applied back: nothing changes.
    let again = cli(&server, API_TOKEN, &["apply", "-f", &dir_s]).await;
    ok(&again);
    for line in again.stdout.lines() {
        assert!(line.ends_with(" unchanged"), "{again}");
    }
    assert_eq!(again.stdout.lines().count(), 4, "{again}");

    // The same folder rebuilds a fresh server (its agent is not there: skipped, said so).
    let fresh = TestServer::start().await;
    let restored = cli(&fresh, API_TOKEN, &["apply", "-f", &dir_s]).await;
    ok(&restored);
    for want in [
        "sourcetype/acme-tcp created",
        "destination/dd created",
        "configuration/edge created",
        "skipped: no such agent on this server",
    ] {
        assert!(restored.stdout.contains(want), "{want}: {restored}");
    }

    // The folder drops edge and gains other: a dry run lists, changes nothing.
    std::fs::remove_file(dir.join("30-configuration-edge.yaml")).expect("rm");
    std::fs::write(dir.join("30-configuration-other.yaml"), OTHER).expect("write");
    let dry = cli(
        &server,
        API_TOKEN,
        &["apply", "-f", &dir_s, "--prune", "--dry-run"],
    )
    .await;
    ok(&dry);
    assert_eq!(
        dry.stdout.trim(),
        "configuration/edge would be pruned",
        "{dry}"
    );
    let configs = cli(&server, API_TOKEN, &["get", "configs"]).await;
    assert!(
        configs.stdout.contains("edge") && !configs.stdout.contains("other"),
        "{configs}"
    );

    let pruned = cli(&server, API_TOKEN, &["apply", "-f", &dir_s, "--prune"]).await;
    ok(&pruned);
    assert!(
        pruned.stdout.contains("configuration/other created"),
        "{pruned}"
    );
    assert!(
        pruned.stdout.contains("configuration/edge pruned"),
        "{pruned}"
    );

    // What is in use is kept and named, and the exit status says so.
    ok(&cli(&server, API_TOKEN, &["push", "other", "--agents", &id]).await);
    server
        .wait_for("other applied", |s| {
            s.get(&agent)
                .and_then(|a| a.config.as_ref())
                .is_some_and(|c| &*c.config.name == "other")
        })
        .await;
    std::fs::remove_file(dir.join("30-configuration-other.yaml")).expect("rm");
    let kept = cli(&server, API_TOKEN, &["apply", "-f", &dir_s, "--prune"]).await;
    assert_ne!(kept.code, 0, "{kept}");
    assert!(
        kept.stdout.contains("configuration/other not pruned:"),
        "{kept}"
    );
    assert!(kept.stderr.contains("could not be pruned"), "{kept}");

    // A folder with no resources is not a reason to delete everything.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    std::fs::write(empty.join("x.yaml"), "# nothing\n").expect("write");
    let refused = cli(
        &server,
        API_TOKEN,
        &["apply", "-f", &empty.to_string_lossy(), "--prune"],
    )
    .await;
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("hold no resources"), "{refused}");

    // A viewer sees secrets masked, and may not export.
    let made = cli(
        &server,
        API_TOKEN,
        &["token", "create", "dash", "--role", "viewer"],
    )
    .await;
    ok(&made);
    let viewer = made.stdout.trim().to_string();
    let shown = cli(&server, &viewer, &["get", "dest", "dd", "-o", "yaml"]).await;
    ok(&shown);
    assert!(!shown.stdout.contains(SECRET_KEY), "{shown}");
    let export = cli(
        &server,
        &viewer,
        &["export", &work.path().join("v").to_string_lossy()],
    )
    .await;
    assert_ne!(export.code, 0);
    assert!(
        export.stderr.contains("export needs an admin token"),
        "{export}"
    );
    fleet.shutdown().await;
}
