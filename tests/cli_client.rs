//! The real `fleetdeck` binary against a server started in-process on 127.0.0.1:0: apply,
//! get, the GitOps round-trip, push to simulated agents, an agent's apply history, rollout
//! status, delete in use, tokens, profiles, usage errors and table widths.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::sim::{self, SimConfig, SimFleet};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const WEB: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata:
  name: web-tier
  labels: {env: prod}
spec:
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

/// A destination resource and a configuration naming it.
const VALID: &str = EDGE;

/// A configuration that cannot render.
const BROKEN: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: broken}
spec:
  sources: [{type: nosuchsource}]
  destinations: [{name: central}]
"#;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs the binary with a private home (profiles, data dir) and only the variables given.
struct Cli {
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Cli {
    fn new(server: &TestServer) -> Cli {
        Cli::bare()
            .with("FLEETDECK_SERVER", &server.api_url())
            .with("FLEETDECK_API_TOKEN", API_TOKEN)
    }

    fn bare() -> Cli {
        Cli {
            home: tempfile::tempdir().expect("home"),
            env: Vec::new(),
        }
    }

    fn with(mut self, k: &str, v: &str) -> Cli {
        self.env.push((k.into(), v.into()));
        self
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"));
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    async fn run(&self, args: &[&str]) -> Out {
        let out = tokio::time::timeout(Duration::from_secs(30), self.command(args).output())
            .await
            .expect("the CLI finishes within 30 s")
            .expect("the CLI runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn run_stdin(&self, args: &[&str], input: &str) -> Out {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().expect("the CLI starts");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .await
            .expect("write stdin");
        drop(stdin);
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("the CLI finishes within 30 s")
            .expect("the CLI runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.home.path().join(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).expect("dir");
        }
        std::fs::write(&p, text).expect("write file");
        p.display().to_string()
    }
}

fn ok(out: &Out) {
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

#[tokio::test]
async fn apply_prints_each_resource_and_fails_on_invalid_ones() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let file = cli.file("mixed.yaml", &format!("{VALID}---\n{BROKEN}"));
    let out = cli.run(&["apply", "-f", &file]).await;
    assert_eq!(
        out.code, 1,
        "an invalid resource fails the command: {}",
        out.stderr
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "destination/central created", "{}", out.stdout);
    assert_eq!(lines[1], "configuration/edge created", "{}", out.stdout);
    assert_eq!(lines[2], "configuration/broken invalid", "{}", out.stdout);
    assert!(
        lines[3].starts_with("  ") && lines[3].contains("nosuchsource"),
        "the problem names the unknown type: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("1 of 3 resources are invalid"),
        "{}",
        out.stderr
    );

    // Applying the same file again: nothing changes for the valid ones.
    let again = cli.run(&["apply", "-f", &file]).await;
    assert!(
        again.stdout.contains("destination/central unchanged"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("configuration/edge unchanged"),
        "{}",
        again.stdout
    );

    // A file that is not YAML resources at all is named, and nothing is applied.
    let bad = cli.file("bad.yaml", "kind: Configuration\nmetadata: [oops\n");
    let out = cli.run(&["apply", "-f", &bad]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.starts_with(&format!("{bad} invalid")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("bad.yaml"), "{}", out.stdout);

    // A directory applies its YAML files in name order.
    cli.file("dir/01-web.yaml", WEB);
    cli.file(
        "dir/02-changed.yml",
        &WEB.replace("start_at: end", "start_at: beginning"),
    );
    cli.file("dir/notes.txt", "not applied");
    let dir = cli.home.path().join("dir").display().to_string();
    let out = cli.run(&["apply", "-f", &dir]).await;
    ok(&out);
    assert_eq!(
        out.stdout,
        "configuration/web-tier created\nconfiguration/web-tier configured\n"
    );
    let configs = cli.run(&["get", "configs", "-o", "table"]).await;
    ok(&configs);
    let row = configs
        .stdout
        .lines()
        .find(|l| l.starts_with("web-tier"))
        .expect("web-tier listed");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "2", "two versions: {row}");
    assert_eq!(cells[2], "hostmetrics,filelog", "{row}");
}

#[tokio::test]
async fn a_changed_destination_re_renders_the_configurations_that_use_it() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    ok(&cli
        .run(&["apply", "-f", &cli.file("valid.yaml", VALID)])
        .await);

    let moved = r#"apiVersion: fleetdeck/v1
kind: Destination
metadata: {name: central}
spec:
  type: otlphttp
  parameters: {endpoint: "https://central-2.example.net:4318"}
"#;
    let out = cli
        .run(&["apply", "-f", &cli.file("moved.yaml", moved)])
        .await;
    ok(&out);
    assert_eq!(
        out.stdout,
        "destination/central configured\n\
         configuration/edge configured (re-rendered because destination 'central' changed; \
         push it to roll the change out)\n"
    );
    // Version 2 of the configuration sends the new endpoint; version 1 keeps the old one.
    let diff: Value = http_client()
        .get(format!(
            "{}/api/v1/configurations/edge/diff?from=1&to=2",
            server.api_url()
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("diff")
        .json()
        .await
        .expect("json");
    let text = diff.to_string();
    assert!(text.contains("central-2.example.net"), "{text}");
    assert!(text.contains("https://central.example.net"), "{text}");

    // A destination change that would break the configuration is refused, naming it, and
    // nothing changes.
    let wrong_type = r#"apiVersion: fleetdeck/v1
kind: Destination
metadata: {name: central}
spec:
  type: otlphttp
  parameters: {endpoint: "https://central-2.example.net:4318", compression: zip}
"#;
    let out = cli
        .run(&["apply", "-f", &cli.file("wrong.yaml", wrong_type)])
        .await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.starts_with("destination/central invalid"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("configuration 'edge' would no longer render with this change"),
        "{}",
        out.stdout
    );
    let list = cli.run(&["get", "configs", "-o", "json"]).await;
    let edge = list
        .json()
        .as_array()
        .and_then(|a| a.iter().find(|c| c["metadata"]["name"] == "edge").cloned())
        .expect("edge listed");
    let versions: Value = http_client()
        .get(format!(
            "{}/api/v1/configurations/edge/versions",
            server.api_url()
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("versions")
        .json()
        .await
        .expect("json");
    assert_eq!(
        versions["items"].as_array().map(Vec::len),
        Some(2),
        "{edge}"
    );
}

#[tokio::test]
async fn get_then_apply_round_trips_unchanged() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let file = cli.file("web.yaml", WEB);
    ok(&cli.run(&["apply", "-f", &file]).await);
    ok(&cli
        .run(&["apply", "-f", &cli.file("valid.yaml", VALID)])
        .await);

    let one = cli.run(&["get", "configs", "web-tier", "-o", "yaml"]).await;
    ok(&one);
    assert!(one.stdout.contains("name: web-tier"), "{}", one.stdout);
    let back = cli.run_stdin(&["apply", "-f", "-"], &one.stdout).await;
    ok(&back);
    assert_eq!(back.stdout, "configuration/web-tier unchanged\n");

    // Every configuration at once, as one multi-document stream.
    let all = cli.run(&["get", "configs", "-o", "yaml"]).await;
    ok(&all);
    let back = cli.run_stdin(&["apply", "-f", "-"], &all.stdout).await;
    ok(&back);
    assert_eq!(
        back.stdout,
        "configuration/edge unchanged\nconfiguration/web-tier unchanged\n"
    );

    // JSON output is a resource too (YAML reads JSON).
    let json = cli.run(&["get", "configs", "web-tier", "-o", "json"]).await;
    ok(&json);
    assert_eq!(json.json()["metadata"]["name"], "web-tier");
    let back = cli.run_stdin(&["apply", "-f", "-"], &json.stdout).await;
    assert_eq!(
        back.stdout, "configuration/web-tier unchanged\n",
        "{}",
        back.stderr
    );

    // Versions stayed at 1: nothing was re-created.
    let list = cli.run(&["get", "configs", "-o", "json"]).await;
    assert_eq!(list.json().as_array().map(Vec::len), Some(2));
    let versions: Value = http_client()
        .get(format!(
            "{}/api/v1/configurations/web-tier/versions",
            server.api_url()
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions["items"].as_array().map(Vec::len), Some(1));
}

/// Simulated Collectors that apply configurations quickly.
async fn sim_fleet(server: &TestServer, agents: usize) -> (SimFleet, Vec<AgentId>) {
    let mut cfg = SimConfig::new(server.ws_url(), agents);
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 11;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    cfg.restart_delay = Duration::from_millis(100);
    cfg.backoff_initial = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_millis(400);
    cfg.metrics_interval = Duration::from_secs(1);
    let fleet = sim::start(cfg).await.expect("simulated fleet starts");
    let ids = fleet.agent_ids().to_vec();
    server
        .wait_for("every simulated agent connected", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    (fleet, ids)
}

#[tokio::test]
async fn push_by_selector_rolls_out_and_the_config_cannot_be_deleted_while_in_use() {
    let server = TestServer::start().await;
    let (fleet, ids) = sim_fleet(&server, 3).await;
    let cli = Cli::new(&server);
    ok(&cli.run(&["apply", "-f", &cli.file("web.yaml", WEB)]).await);

    // Label two agents (by the short id a table shows) and select them.
    for id in &ids[..2] {
        let out = cli
            .run(&["label", "agent", &id.short(), "team=edge", "spare=1"])
            .await;
        ok(&out);
        assert!(
            out.stdout.contains(&id.to_string()) && out.stdout.contains("team=edge"),
            "{}",
            out.stdout
        );
    }
    let out = cli
        .run(&["label", "agent", &ids[0].to_string(), "spare-"])
        .await;
    ok(&out);
    assert!(!out.stdout.contains("spare"), "removed: {}", out.stdout);
    let selected = cli
        .run(&["get", "agents", "-l", "team=edge,spare", "-o", "json"])
        .await;
    ok(&selected);
    assert_eq!(
        selected.json().as_array().map(Vec::len),
        Some(1),
        "only one still has 'spare'"
    );
    let selected = cli
        .run(&["get", "agents", "-l", "team=edge", "-o", "json"])
        .await;
    ok(&selected);
    let mut got: Vec<String> = selected
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| a["id"].as_str().unwrap_or_default().to_string())
        .collect();
    got.sort();
    let mut want: Vec<String> = ids[..2].iter().map(|i| i.to_string()).collect();
    want.sort();
    assert_eq!(got, want);

    let push = cli
        .run(&[
            "push",
            "web-tier",
            "--selector",
            "team=edge",
            "--all-at-once",
        ])
        .await;
    ok(&push);
    assert!(
        push.stdout
            .contains("rollout of web-tier:1 started to 2 agents"),
        "{}",
        push.stdout
    );

    // Follow it with `rollout status` until it completes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        let s = cli
            .run(&["rollout", "status", "web-tier", "-o", "json"])
            .await;
        ok(&s);
        let v = s.json();
        if v["status"]["status"] == "completed" {
            break v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout did not complete: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["progress"]["applied"], 2);
    assert_eq!(status["progress"]["failed"], 0);
    let table = cli.run(&["rollout", "status", "web-tier"]).await;
    ok(&table);
    assert!(
        table.stdout.contains("web-tier:1") && table.stdout.contains("completed"),
        "{}",
        table.stdout
    );

    server
        .wait_for("both agents report web-tier applied", |s| {
            ids[..2].iter().all(|id| {
                s.get(id)
                    .and_then(|a| a.config.as_ref())
                    .is_some_and(|c| c.state.to_string() == "applied")
            })
        })
        .await;
    let agents = cli.run(&["get", "agents", "-l", "team=edge"]).await;
    ok(&agents);
    assert_eq!(
        agents.stdout.matches("web-tier:1 applied").count(),
        2,
        "{}",
        agents.stdout
    );

    // Refused while assigned, naming who uses it; still there afterwards.
    let del = cli.run(&["delete", "configuration", "web-tier"]).await;
    assert_eq!(del.code, 1, "{}", del.stdout);
    assert!(
        del.stderr.contains("in use") && del.stderr.contains("HTTP 409"),
        "{}",
        del.stderr
    );
    for id in &ids[..2] {
        assert!(
            del.stderr.contains(&id.short()),
            "names agent {id}: {}",
            del.stderr
        );
    }
    assert!(!del.stderr.contains(&ids[2].short()), "{}", del.stderr);
    ok(&cli.run(&["get", "configs", "web-tier"]).await);

    // The agents' own metrics (OTLP) show up as series in `get agents ID`.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let out = cli
            .run(&["get", "agents", &ids[0].to_string(), "-o", "json"])
            .await;
        ok(&out);
        let detail = out.json();
        let memory = &detail["telemetry"]["series"]["memory"];
        if memory["latest"].as_f64().is_some_and(|m| m > 0.0) {
            assert!(
                memory["points"].as_array().is_some_and(|p| !p.is_empty()),
                "{detail}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no memory series: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // An agent that accepts restarts is asked to.
    let restart = cli.run(&["restart", "agent", &ids[2].to_string()]).await;
    ok(&restart);
    assert!(
        restart.stdout.contains("asked to restart"),
        "{}",
        restart.stdout
    );

    fleet.shutdown().await;
}

/// A raw configuration whose metrics pipeline exports to `exporters`: `debug` applies,
/// `debug, nosuch` is refused by the simulated Collector (an undefined exporter).
fn raw_config(exporters: &str) -> String {
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: web\nspec:\n  raw: |\n    receivers:\n      otlp:\n        protocols:\n          http: {{}}\n    exporters:\n      debug: {{}}\n    service:\n      pipelines:\n        metrics:\n          receivers: [otlp]\n          exporters: [{exporters}]\n"
    )
}

/// `GET /api/v1/agents/{id}/history` (with a query), as JSON.
async fn api_history(server: &TestServer, id: AgentId, query: &str) -> (u16, Value) {
    let resp = http_client()
        .get(format!(
            "{}/api/v1/agents/{id}/history{query}",
            server.api_url()
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON"))
}

/// Polls the agent's history until it holds `n` attempts (or fails after 15 s).
async fn history_of(server: &TestServer, id: AgentId, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = api_history(server, id, "").await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n {
            return items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "history of {id} has {} attempts, waiting for {n}: {body}",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(config:version, result, rolled_back, rollback)` of each attempt, as a table shows.
fn summary(items: &[Value]) -> Vec<(String, String, bool, bool)> {
    items
        .iter()
        .map(|a| {
            (
                format!(
                    "{}:{}",
                    a["config"]["name"].as_str().unwrap_or("?"),
                    a["config"]["version"]
                ),
                a["result"].as_str().unwrap_or("?").to_string(),
                a["rolled_back"] == true,
                a["rollback"] == true,
            )
        })
        .collect()
}

#[tokio::test]
async fn two_pushes_one_refused_and_a_rollback_are_each_agents_apply_history() {
    let server = TestServer::start().await;
    let (healthy, ids) = sim_fleet(&server, 1).await;
    let ok_agent = ids[0];
    // An agent started with --fail-rate 1 refuses every configuration.
    let mut cfg = SimConfig::new(server.ws_url(), 1);
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 12;
    cfg.fail_rate = 1.0;
    cfg.apply_delay = Duration::from_millis(50);
    let refusing = sim::start(cfg).await.expect("refusing agent starts");
    let bad_agent = refusing.agent_ids()[0];
    server
        .wait_for("the refusing agent connected", |s| {
            s.get(&bad_agent).is_some_and(|a| a.is_connected())
        })
        .await;
    let cli = Cli::new(&server).with("COLUMNS", "200");
    let (_, empty) = api_history(&server, ok_agent, "").await;
    assert_eq!(empty["items"], Value::Array(Vec::new()), "nothing sent yet");

    // Push 1: web:1 to both; one applies it, the other refuses it (the rollout halts,
    // with nothing to roll the refuser back to).
    ok(&cli
        .run(&["apply", "-f", &cli.file("v1.yaml", &raw_config("debug"))])
        .await);
    let both = format!("{ok_agent},{bad_agent}");
    ok(&cli
        .run(&["push", "web", "--agents", &both, "--all-at-once"])
        .await);
    let refused = history_of(&server, bad_agent, 1).await;
    assert_eq!(
        summary(&refused),
        [("web:1".into(), "failed".into(), false, false)]
    );
    let reason = refused[0]["message"].as_str().unwrap_or_default();
    assert!(reason.contains("rejects every configuration"), "{reason}");
    history_of(&server, ok_agent, 1).await;

    // Push 2: web:2, which the healthy agent refuses too; the rollout halts and rolls it
    // back to web:1, the version it had.
    ok(&cli
        .run(&[
            "apply",
            "-f",
            &cli.file("v2.yaml", &raw_config("debug, nosuch")),
        ])
        .await);
    ok(&cli
        .run(&[
            "push",
            "web",
            "--agents",
            &ok_agent.to_string(),
            "--all-at-once",
        ])
        .await);
    let history = history_of(&server, ok_agent, 3).await;
    assert_eq!(
        summary(&history),
        [
            ("web:1".into(), "applied".into(), false, true),
            ("web:2".into(), "failed".into(), true, false),
            ("web:1".into(), "applied".into(), false, false),
        ],
        "newest first: the way back, the refused push rolled back, the first push"
    );
    let why = history[1]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!why.is_empty(), "the agent's reason is kept");
    assert_eq!(
        history[0]["hash"], history[2]["hash"],
        "the same web:1 went back"
    );
    assert_ne!(history[0]["hash"], history[1]["hash"]);
    let snap = server
        .wait_for("the healthy agent back on web:1", |s| {
            s.get(&ok_agent)
                .and_then(|a| a.config.as_ref())
                .is_some_and(|c| c.config.version == 1 && c.state.to_string() == "applied")
        })
        .await;
    let shown = snap
        .get(&ok_agent)
        .and_then(|a| a.config.clone())
        .expect("config");
    assert_eq!(history[0]["hash"], hex::encode(shown.hash));
    for a in &history {
        let (assigned, finished) = (a["assigned_at"].as_u64(), a["finished_at"].as_u64());
        assert!(
            assigned.is_some_and(|t| t > 1_600_000_000) && finished >= assigned,
            "Unix seconds: {a}"
        );
    }
    assert_eq!(
        refused[0]["hash"], history[2]["hash"],
        "both were sent web:1"
    );

    // A limit gives the newest; past the 50 kept is refused, naming the parameter.
    let (_, newest) = api_history(&server, ok_agent, "?limit=1").await;
    assert_eq!(newest["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(newest["items"][0], history[0]);
    let (status, err) = api_history(&server, ok_agent, "?limit=51").await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("limit")),
        "{err}"
    );

    // The CLI: a table, newest first, and the same attempts as JSON.
    let table = cli
        .run(&["get", "agent", &ok_agent.short(), "--history"])
        .await;
    ok(&table);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "a header and three attempts:\n{}",
        table.stdout
    );
    for h in ["CONFIG", "HASH", "WHEN", "RESULT", "ROLLED BACK", "MESSAGE"] {
        assert!(lines[0].contains(h), "{}", lines[0]);
    }
    let web1_hash = history[0]["hash"].as_str().unwrap_or_default();
    assert!(
        lines[1].starts_with("web:1 (rollback)")
            && lines[1].contains(&web1_hash[..12])
            && lines[1].contains("applied"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("web:2")
            && lines[2].contains("failed")
            && lines[2].contains("yes")
            && lines[2].contains(&why),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("web:1 ") && lines[3].contains("applied"),
        "{}",
        lines[3]
    );
    let json = cli
        .run(&[
            "get",
            "agent",
            &ok_agent.to_string(),
            "--history",
            "-o",
            "json",
        ])
        .await;
    ok(&json);
    assert_eq!(json.json(), Value::Array(history.clone()));
    let yaml = cli
        .run(&[
            "get",
            "agent",
            &ok_agent.to_string(),
            "--history",
            "-o",
            "yaml",
        ])
        .await;
    ok(&yaml);
    assert!(yaml.stdout.contains("rolled_back: true"), "{}", yaml.stdout);
    let misuse = cli.run(&["get", "agents", "--history"]).await;
    assert_eq!(misuse.code, 2, "{}", misuse.stderr);
    assert!(
        misuse.stderr.contains("get agent ID --history"),
        "{}",
        misuse.stderr
    );

    // Forgetting the refuser takes its history with it.
    refusing.shutdown().await;
    server
        .wait_for("the refusing agent gone", |s| {
            s.get(&bad_agent).is_some_and(|a| !a.is_connected())
        })
        .await;
    ok(&cli.run(&["delete", "agent", &bad_agent.to_string()]).await);
    let (status, _) = api_history(&server, bad_agent, "").await;
    assert_eq!(status, 404);
    let kept = server
        .rt
        .store
        .agent_history(bad_agent, 50)
        .await
        .expect("store reads");
    assert!(kept.is_empty(), "{kept:?}");
    healthy.shutdown().await;
}

/// Waits (up to 10 s) until the agent's record is in the store, or gone from it.
async fn wait_stored(server: &TestServer, id: AgentId, stored: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let record = server.rt.store.get_agent(id).await.expect("store reads");
        if record.is_some() == stored {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "agent record stored: {}, expected {stored}",
            record.is_some()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_disconnected_agent_is_forgotten_and_a_connected_one_is_not() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    let (gone, gone_ids) = sim_fleet(&server, 1).await;
    let mut cfg = SimConfig::new(server.ws_url(), 1);
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 29;
    let staying = sim::start(cfg).await.expect("second agent starts");
    let stay_id = staying.agent_ids()[0];
    let snap = server
        .wait_for("both connected", |s| {
            s.get(&stay_id).is_some_and(|a| a.is_connected())
        })
        .await;
    let stay_name = snap.get(&stay_id).expect("listed").name.clone();
    let gone_id = gone_ids[0];
    gone.shutdown().await;
    let snap = server
        .wait_for("the first agent disconnected", |s| {
            s.get(&gone_id).is_some_and(|a| !a.is_connected())
        })
        .await;
    let gone_name = snap.get(&gone_id).expect("still listed").name.clone();
    // Its record has been written behind (so forgetting must really delete it).
    wait_stored(&server, gone_id, true).await;

    // Connected: refused, and it says why.
    let out = cli.run(&["delete", "agent", &stay_name]).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("is connected"), "{}", out.stderr);

    let out = cli.run(&["delete", "agent", &gone_name]).await;
    ok(&out);
    assert_eq!(out.stdout, format!("agent/{gone_name} deleted\n"));
    server
        .wait_for("the forgotten agent is gone from the fleet", |s| {
            s.get(&gone_id).is_none() && s.get(&stay_id).is_some()
        })
        .await;
    let list = cli.run(&["get", "agents", "-o", "json"]).await;
    ok(&list);
    assert!(
        !list.stdout.contains(&gone_id.to_string()),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains(&stay_id.to_string()),
        "{}",
        list.stdout
    );
    // And from the store, so a restart does not bring it back.
    wait_stored(&server, gone_id, false).await;
    let again = cli.run(&["delete", "agent", &gone_id.to_string()]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("no agent"), "{}", again.stderr);
    staying.shutdown().await;
}

#[tokio::test]
async fn a_config_nobody_uses_is_deleted() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    ok(&cli
        .run(&["apply", "-f", &cli.file("valid.yaml", VALID)])
        .await);
    // The destination is named by configuration 'edge'.
    let refused = cli.run(&["delete", "destination", "central"]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("configuration edge"),
        "{}",
        refused.stderr
    );
    let del = cli.run(&["delete", "config", "edge"]).await;
    ok(&del);
    assert_eq!(del.stdout, "configuration/edge deleted\n");
    let gone = cli.run(&["get", "configs", "edge"]).await;
    assert_eq!(gone.code, 1);
    assert!(
        gone.stderr.contains("no configuration named 'edge'") && gone.stderr.contains("404"),
        "{}",
        gone.stderr
    );
    ok(&cli.run(&["delete", "destination", "central"]).await);
}

#[tokio::test]
async fn wrong_or_missing_token_fails_with_401() {
    let server = TestServer::start().await;
    let wrong = Cli::bare()
        .with("FLEETDECK_SERVER", &server.api_url())
        .with("FLEETDECK_API_TOKEN", "not-the-token");
    let out = wrong.run(&["get", "agents"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("401") && out.stderr.contains("token is wrong"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());

    let missing = Cli::bare().with("FLEETDECK_SERVER", &server.api_url());
    let out = missing
        .run(&["apply", "-f", &missing.file("web.yaml", WEB)])
        .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("token is required"), "{}", out.stderr);
    assert!(
        server.rt.catalog.configurations().await.unwrap().is_empty(),
        "nothing applied"
    );

    // --token wins over the environment.
    let out = wrong.run(&["get", "configs", "--token", API_TOKEN]).await;
    ok(&out);
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    for args in [
        vec!["get", "widgets"],
        vec!["get", "configs", "-l", "a=b"],
        vec!["push", "web-tier"],
        vec!["label", "agent", "abcd1234", "no-equals-sign"],
        vec!["label", "config", "web-tier", "a=b"],
        vec!["restart", "configuration", "web-tier"],
        vec!["delete", "widget", "x"],
        vec!["get"],
        vec!["get", "agents", "-o", "xml"],
    ] {
        let out = cli.run(&args).await;
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
    let out = cli.run(&["completions", "bash"]).await;
    ok(&out);
    assert!(out.stdout.contains("fleetdeck") && out.stdout.contains("rollout"));
}

#[tokio::test]
async fn profiles_keep_server_and_token_private() {
    let server = TestServer::start().await;
    let cli = Cli::bare();
    let out = cli
        .run(&[
            "profile",
            "create",
            "lab",
            "--server",
            &server.api_url(),
            "--token",
            API_TOKEN,
        ])
        .await;
    ok(&out);
    assert!(out.stdout.contains("now current"), "{}", out.stdout);
    let file = cli.home.path().join("config/fleetdeck/profiles.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("profiles file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The profile is enough to talk to the server.
    ok(&cli.run(&["get", "types", "otlp"]).await);

    ok(&cli
        .run(&["profile", "create", "elsewhere", "--server", "127.0.0.1:9"])
        .await);
    let current = cli.run(&["profile", "current"]).await;
    assert!(current.stdout.starts_with("lab\t"), "{}", current.stdout);
    ok(&cli.run(&["profile", "use", "elsewhere"]).await);
    let out = cli.run(&["get", "configs"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("cannot reach") && out.stderr.contains("127.0.0.1:9"),
        "{}",
        out.stderr
    );
    // Flags override the profile.
    ok(&cli
        .run(&[
            "get",
            "configs",
            "--server",
            &server.api_url(),
            "--token",
            API_TOKEN,
        ])
        .await);

    let list = cli.run(&["profile", "list"]).await;
    ok(&list);
    assert!(!list.stdout.contains(API_TOKEN), "tokens are not printed");
    let current_row = list
        .stdout
        .lines()
        .find(|l| l.starts_with('*'))
        .expect("a current row");
    assert!(current_row.contains("elsewhere"), "{}", list.stdout);

    ok(&cli.run(&["profile", "delete", "elsewhere"]).await);
    let out = cli.run(&["profile", "current"]).await;
    assert_eq!(out.code, 1, "no current profile after deleting it");
    let out = cli.run(&["profile", "use", "nope"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("lab"),
        "names the profiles there are: {}",
        out.stderr
    );
}

#[tokio::test]
async fn tables_fit_the_terminal_width() {
    let server = TestServer::start().await;
    let narrow = Cli::new(&server).with("COLUMNS", "100");
    let out = narrow.run(&["get", "types"]).await;
    ok(&out);
    for line in out.stdout.lines() {
        assert!(line.chars().count() <= 100, "{line:?}");
    }
    assert!(
        out.stdout.contains('…'),
        "descriptions are cut: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("DestinationType"),
        "short columns stay whole: {}",
        out.stdout
    );
    let wide = Cli::new(&server).with("COLUMNS", "400");
    let out = wide.run(&["get", "types"]).await;
    assert!(
        out.stdout
            .contains("Send logs, metrics and traces to Datadog."),
        "{}",
        out.stdout
    );
}

const DD_KEY: &str = "dd-k3y-5b7e0a91";

/// Two destinations (one with a secret) and two configurations naming the first.
fn shared_destinations() -> String {
    format!(
        r#"apiVersion: fleetdeck/v1
kind: Destination
metadata:
  name: dd
  labels: {{team: obs}}
spec:
  type: datadog
  parameters:
    - {{name: api_key, value: "{DD_KEY}"}}
    - {{name: site, value: datadoghq.eu}}
---
apiVersion: fleetdeck/v1
kind: Destination
metadata: {{name: central}}
spec:
  type: otlphttp
  parameters: {{endpoint: "https://central.example.net:4318"}}
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {{name: edge}}
spec:
  sources: [{{type: otlp}}]
  destinations: [{{name: dd}}]
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {{name: web}}
spec:
  sources: [{{type: hostmetrics}}]
  destinations: [{{name: dd}}, {{name: central}}]
"#
    )
}

#[tokio::test]
async fn get_destinations_lists_masks_secrets_and_round_trips() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server).with("COLUMNS", "400");
    ok(&cli
        .run(&[
            "apply",
            "-f",
            &cli.file("dests.yaml", &shared_destinations()),
        ])
        .await);

    // The table: type, users, labels, parameters with the secret masked.
    let table = cli.run(&["get", "destinations"]).await;
    ok(&table);
    assert!(
        table.stdout.starts_with("NAME") && table.stdout.contains("USED BY"),
        "{}",
        table.stdout
    );
    assert!(!table.stdout.contains(DD_KEY), "{}", table.stdout);
    let dd = table
        .stdout
        .lines()
        .find(|l| l.starts_with("dd "))
        .expect("dd listed");
    let cells: Vec<&str> = dd.split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        ["dd", "datadog", "1", "edge,web", "team=obs"],
        "{dd}"
    );
    assert!(dd.contains("api_key=(sensitive),site=datadoghq.eu"), "{dd}");
    let central = table
        .stdout
        .lines()
        .find(|l| l.starts_with("central"))
        .expect("central listed");
    assert!(
        central.contains("otlphttp")
            && central.contains(" web ")
            && central.contains("endpoint=https://central.example.net:4318"),
        "{central}"
    );
    // A narrow terminal cuts the parameters, never past the width.
    let narrow = Cli::new(&server).with("COLUMNS", "70");
    let cut = narrow.run(&["get", "destinations"]).await;
    ok(&cut);
    for line in cut.stdout.lines() {
        assert!(line.chars().count() <= 70, "{line:?}");
    }
    assert!(
        cut.stdout.contains('…') && cut.stdout.contains("datadog"),
        "{}",
        cut.stdout
    );

    // One by name, under its short alias, is the same row.
    let one = cli.run(&["get", "dest", "dd"]).await;
    ok(&one);
    assert_eq!(one.stdout.lines().count(), 2, "{}", one.stdout);
    assert!(
        one.stdout.contains("api_key=(sensitive)") && !one.stdout.contains(DD_KEY),
        "{}",
        one.stdout
    );

    // YAML of one destination applies again unchanged, secret included.
    let yaml = cli.run(&["get", "destination", "dd", "-o", "yaml"]).await;
    ok(&yaml);
    assert!(yaml.stdout.contains("kind: Destination"), "{}", yaml.stdout);
    assert!(yaml.stdout.contains(DD_KEY), "{}", yaml.stdout);
    let back = cli.run_stdin(&["apply", "-f", "-"], &yaml.stdout).await;
    ok(&back);
    assert_eq!(back.stdout, "destination/dd unchanged\n");

    // The whole list as multi-document YAML, and as JSON: unchanged too.
    let all = cli.run(&["get", "destinations", "-o", "yaml"]).await;
    ok(&all);
    assert_eq!(all.stdout.matches("kind: Destination").count(), 2);
    let back = cli.run_stdin(&["apply", "-f", "-"], &all.stdout).await;
    ok(&back);
    assert_eq!(
        back.stdout,
        "destination/central unchanged\ndestination/dd unchanged\n"
    );
    let json = cli.run(&["get", "destinations", "-o", "json"]).await;
    ok(&json);
    let list = json.json();
    let names: Vec<&str> = list
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["central", "dd"]);
    let one = cli.run(&["get", "dest", "central", "-o", "json"]).await;
    ok(&one);
    assert_eq!(one.json()["kind"], "Destination");
    let back = cli.run_stdin(&["apply", "-f", "-"], &one.stdout).await;
    ok(&back);
    assert_eq!(back.stdout, "destination/central unchanged\n");

    // A changed destination shows its new version.
    let moved = all.stdout.replace("datadoghq.eu", "datadoghq.com");
    ok(&cli.run_stdin(&["apply", "-f", "-"], &moved).await);
    let one = cli.run(&["get", "dest", "dd", "-o", "json"]).await;
    ok(&one);
    assert_eq!(
        one.json()["spec"]["parameters"][1]["value"],
        "datadoghq.com"
    );
    let table = cli.run(&["get", "dest", "dd"]).await;
    let row = table.stdout.lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(row.split_whitespace().nth(2), Some("2"), "{row}");

    // None of that touched the configurations' own round-trip.
    let configs = cli.run(&["get", "configs", "-o", "yaml"]).await;
    let back = cli.run_stdin(&["apply", "-f", "-"], &configs.stdout).await;
    assert_eq!(
        back.stdout,
        "configuration/edge unchanged\nconfiguration/web unchanged\n"
    );

    // Unknown names are a 404 naming the destination.
    let gone = cli.run(&["get", "dest", "nowhere"]).await;
    assert_eq!(gone.code, 1);
    assert!(
        gone.stderr.contains("no destination named 'nowhere'") && gone.stderr.contains("404"),
        "{}",
        gone.stderr
    );
}

#[tokio::test]
async fn deleting_a_destination_is_refused_while_configurations_name_it() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    ok(&cli
        .run(&[
            "apply",
            "-f",
            &cli.file("dests.yaml", &shared_destinations()),
        ])
        .await);

    let refused = cli.run(&["delete", "destination", "dd"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("HTTP 409")
            && refused.stderr.contains("configuration edge")
            && refused.stderr.contains("configuration web"),
        "names both users: {}",
        refused.stderr
    );
    ok(&cli.run(&["get", "dest", "dd"]).await);

    // Once no configuration names it any more, it goes.
    let inline = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: web}
spec:
  sources: [{type: hostmetrics}]
  destinations: [{name: central}]
"#;
    ok(&cli
        .run(&["apply", "-f", &cli.file("web.yaml", inline)])
        .await);
    ok(&cli.run(&["delete", "config", "edge"]).await);
    let listed = cli.run(&["get", "dest", "dd"]).await;
    assert!(
        listed.stdout.contains(" - "),
        "no users left: {}",
        listed.stdout
    );
    let del = cli.run(&["delete", "dest", "dd"]).await;
    ok(&del);
    assert_eq!(del.stdout, "destination/dd deleted\n");
    let gone = cli.run(&["get", "dest", "dd"]).await;
    assert_eq!(gone.code, 1);
    let names = cli.run(&["get", "destinations", "-o", "json"]).await;
    assert_eq!(names.json().as_array().map(Vec::len), Some(1));
    // `central` is still named by `web`.
    let refused = cli.run(&["delete", "destination", "central"]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("configuration web"),
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn get_rollouts_lists_pushes_and_shows_one_like_rollout_status() {
    let server = TestServer::start().await;
    let (fleet, ids) = sim_fleet(&server, 3).await;
    let cli = Cli::new(&server).with("COLUMNS", "200");
    let none = cli.run(&["get", "rollouts"]).await;
    ok(&none);
    assert!(none.stdout.is_empty() && none.stderr.contains("no rollouts"));

    ok(&cli.run(&["apply", "-f", &cli.file("web.yaml", WEB)]).await);
    let agents = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    ok(&cli
        .run(&[
            "push",
            "web-tier",
            "--agents",
            &agents,
            "--initial",
            "1",
            "--multiplier",
            "2",
        ])
        .await);

    // Phases of 1 then 2 agents: two in all.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let item = loop {
        let out = cli.run(&["get", "rollouts", "-o", "json"]).await;
        ok(&out);
        let list = out.json();
        let item = list[0].clone();
        if item["status"]["status"] == "completed" && item["started_at"].is_u64() {
            assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
            break item;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout did not complete: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(item["config"]["name"], "web-tier");
    assert_eq!(item["phases_started"], 2);
    assert_eq!(item["phases_planned"], 2);
    assert_eq!(item["progress"]["applied"], 3);
    assert!(
        item["updated_at"].as_u64() >= item["started_at"].as_u64(),
        "{item}"
    );

    let table = cli.run(&["get", "rollouts"]).await;
    ok(&table);
    let header: Vec<&str> = table
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "CONFIG", "VERSION", "STATUS", "PHASE", "APPLIED", "FAILED", "STARTED", "UPDATED"
        ]
    );
    let row: Vec<&str> = table
        .stdout
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..6],
        ["web-tier", "1", "completed", "2/2", "3/3", "0"],
        "{}",
        table.stdout
    );
    assert!(
        row[6].ends_with('s') && row[7].ends_with('s'),
        "{}",
        table.stdout
    );

    // With a configuration: what `rollout status` prints.
    let one = cli.run(&["get", "rollout", "web-tier"]).await;
    let status = cli.run(&["rollout", "status", "web-tier"]).await;
    ok(&one);
    assert_eq!(one.stdout, status.stdout);
    assert!(one.stdout.contains("web-tier:1"), "{}", one.stdout);
    let one = cli
        .run(&["get", "rollouts", "web-tier", "-o", "yaml"])
        .await;
    ok(&one);
    assert!(one.stdout.contains("phases_planned: 2"), "{}", one.stdout);
    let missing = cli.run(&["get", "rollouts", "nope"]).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("404"), "{}", missing.stderr);

    fleet.shutdown().await;
}

/// One name rule on every path: a name a URL would collapse (`.`, `..`) is refused by the
/// CLI before anything is sent, and one too long to manage, or starting with a dot, is
/// refused by apply naming the rule (without echoing 100,000 characters back).
#[tokio::test]
async fn names_that_cannot_be_managed_are_refused_everywhere() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);
    for args in [
        &["delete", "configuration", "."][..],
        &["delete", "configuration", ".."][..],
        &["get", "configs", "."][..],
    ] {
        let out = cli.run(args).await;
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr
                .contains("is not a name: names are 1 to 128 letters"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let long = "a".repeat(100_000);
    for name in [long.as_str(), ".hidden", "..", "-dash"] {
        let doc = WEB.replace("name: web-tier", &format!("name: \"{name}\""));
        let file = cli.file("named.yaml", &doc);
        let out = cli.run(&["apply", "-f", &file]).await;
        assert_ne!(out.code, 0, "{name:.20}: {}", out.stdout);
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(
            said.contains("metadata.name must be 1 to 128 letters"),
            "{name:.20}: {said:.400}"
        );
        assert!(
            said.len() < 5_000,
            "the name is not echoed whole: {} bytes",
            said.len()
        );
    }
    let out = cli.run(&["get", "configs", "-o", "json"]).await;
    ok(&out);
    assert_eq!(
        out.json().as_array().map(Vec::len),
        Some(0),
        "nothing was created"
    );
}
