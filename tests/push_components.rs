//! Agents that report their available components (as the opampsupervisor does), over a
//! real WebSocket to a server on 127.0.0.1:0: the server asks for a listing it only knows
//! the hash of, shows the listing (API, `fleetdeck get agent`), and `fleetdeck push` refuses
//! a configuration some targets lack components for, naming them, unless `--force`.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::opamp::proto;
use serde_json::{Value, json};

const WEB: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata:
  name: web-tier
spec:
  sources:
    - type: hostmetrics
    - type: filelog
      parameters: {include: ["/var/log/nginx/*.log"]}
  processors:
    - type: batch
  destinations:
    - type: otlphttp
      parameters: {endpoint: "https://collector.example.net:4318"}
"#;

const REPORTS_AVAILABLE_COMPONENTS: u64 = 0x4000;
const FLAG_REPORT_AVAILABLE_COMPONENTS: u64 = 0x2;

/// `available_components` in the opampsupervisor's shape; no kinds means the hash alone.
fn components(hash: u8, kinds: &[(&str, &[&str])]) -> proto::AvailableComponents {
    proto::AvailableComponents {
        hash: vec![hash; 16],
        components: kinds
            .iter()
            .map(|(kind, types)| {
                let subs = types
                    .iter()
                    .map(|t| {
                        let details = proto::ComponentDetails {
                            metadata: vec![
                                kv("code.namespace", &format!("github.com/example/{t}")),
                                kv("code.version", "v0.135.0"),
                            ],
                            sub_component_map: Default::default(),
                        };
                        (t.to_string(), details)
                    })
                    .collect();
                let details = proto::ComponentDetails {
                    metadata: Vec::new(),
                    sub_component_map: subs,
                };
                (kind.to_string(), details)
            })
            .collect(),
    }
}

const MINIMAL: &[(&str, &[&str])] = &[
    ("receivers", &["filelog"]),
    ("processors", &["batch", "memory_limiter"]),
    ("exporters", &["otlphttp"]),
];
const CONTRIB: &[(&str, &[&str])] = &[
    ("receivers", &["filelog", "hostmetrics", "otlp"]),
    ("processors", &["batch"]),
    ("exporters", &["otlphttp"]),
];

/// A supervised Collector's first message: described (host `host`, label tier=web) and,
/// when `listing` is given, its components.
fn hello(
    uid: AgentId,
    host: &str,
    listing: Option<proto::AvailableComponents>,
) -> proto::AgentToServer {
    let mut d = description("otelcol-contrib", host);
    d.non_identifying_attributes.push(kv("tier", "web"));
    proto::AgentToServer {
        capabilities: CAPS | REPORTS_AVAILABLE_COMPONENTS,
        agent_description: Some(d),
        available_components: listing,
        ..message(uid, 0)
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The real binary against `server`, with a private home.
async fn fleetdeck(server: &TestServer, home: &std::path::Path, args: &[&str]) -> Out {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("FLEETDECK_SERVER", server.api_url())
        .env("FLEETDECK_API_TOKEN", API_TOKEN)
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("the CLI finishes within 30 s")
        .expect("the CLI runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(out: &Out) {
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

async fn api(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http_client()
        .request(method, format!("{}/api/v1/{path}", server.api_url()))
        .bearer_auth(API_TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("API answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Reads what the server sends until a remote configuration arrives.
async fn remote_config(ws: &mut Ws) -> proto::AgentRemoteConfig {
    loop {
        if let Some(rc) = ws_recv(ws).await.remote_config {
            return rc;
        }
    }
}

#[tokio::test]
async fn push_names_the_agents_that_lack_components_and_goes_ahead_only_when_forced() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("home");
    let (web1, web2, web3) = (AgentId([1; 16]), AgentId([2; 16]), AgentId([3; 16]));

    // web-1 runs a minimal build and lists it at once: nothing to ask.
    let mut ws1 = ws_agent(&server).await;
    let reply = ws_exchange(
        &mut ws1,
        &hello(web1, "web-1", Some(components(1, MINIMAL))),
    )
    .await;
    assert_eq!(reply.flags & FLAG_REPORT_AVAILABLE_COMPONENTS, 0);

    // web-2 first sends only its hash: the server asks for the listing, and gets it.
    let mut ws2 = ws_agent(&server).await;
    let reply = ws_exchange(&mut ws2, &hello(web2, "web-2", Some(components(2, &[])))).await;
    assert_eq!(
        reply.flags & FLAG_REPORT_AVAILABLE_COMPONENTS,
        FLAG_REPORT_AVAILABLE_COMPONENTS,
        "a hash without a listing is asked for"
    );
    let listed = proto::AgentToServer {
        capabilities: CAPS | REPORTS_AVAILABLE_COMPONENTS,
        available_components: Some(components(2, CONTRIB)),
        ..message(web2, 1)
    };
    let reply = ws_exchange(&mut ws2, &listed).await;
    assert_eq!(reply.flags & FLAG_REPORT_AVAILABLE_COMPONENTS, 0);

    // web-3 does not report components at all.
    let mut ws3 = ws_agent(&server).await;
    let mut silent = hello(web3, "web-3", None);
    silent.capabilities = CAPS;
    ws_exchange(&mut ws3, &silent).await;

    server
        .wait_for("three agents, two listings", |s| {
            s.totals.connected == 3
                && s.agents
                    .iter()
                    .filter(|a| a.available_components.is_some())
                    .count()
                    == 2
        })
        .await;

    // Shown: the API's agent detail, and `fleetdeck get agent`.
    let (status, detail) = api(&server, reqwest::Method::GET, "agents/web-1", None).await;
    assert_eq!(status, 200, "{detail}");
    let listing = &detail["agent"]["available_components"];
    assert_eq!(listing["hash"], hex::encode([1u8; 16]));
    assert_eq!(
        listing["components"]["receivers"],
        json!([{"type": "filelog", "version": "v0.135.0"}])
    );
    let (_, silent_detail) = api(&server, reqwest::Method::GET, "agents/web-3", None).await;
    assert_eq!(silent_detail["agent"]["available_components"], Value::Null);
    let table = fleetdeck(&server, home.path(), &["get", "agent", "web-1"]).await;
    ok(&table);
    assert!(
        table.stdout.contains("components: 4 types, v0.135.0")
            && table.stdout.contains("  receivers   filelog\n")
            && table
                .stdout
                .contains("  processors  batch memory_limiter\n"),
        "{}",
        table.stdout
    );
    let yaml = fleetdeck(
        &server,
        home.path(),
        &["get", "agent", "web-2", "-o", "yaml"],
    )
    .await;
    ok(&yaml);
    assert!(
        yaml.stdout.contains("available_components:"),
        "{}",
        yaml.stdout
    );
    assert!(yaml.stdout.contains("hostmetrics"), "{}", yaml.stdout);

    // web-tier needs hostmetrics: web-1 lacks it, web-2 has it, web-3 is unknown.
    let file = home.path().join("web.yaml");
    std::fs::write(&file, WEB).expect("write");
    ok(&fleetdeck(
        &server,
        home.path(),
        &["apply", "-f", &file.display().to_string()],
    )
    .await);
    let refused = fleetdeck(
        &server,
        home.path(),
        &[
            "push",
            "web-tier",
            "--selector",
            "tier=web",
            "--all-at-once",
        ],
    )
    .await;
    assert_ne!(refused.code, 0, "refused: {}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("1 of 3 target agents would fail, missing components")
            && refused.stderr.contains("(1 does not report its components")
            && refused
                .stderr
                .contains("\n  web-1: missing receiver 'hostmetrics'\n")
            && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("web-2:") && !refused.stderr.contains("web-3:"));
    let (status, _) = api(&server, reqwest::Method::GET, "rollouts/web-tier", None).await;
    assert_eq!(status, 404, "nothing was started");

    // The API says the same, for scripts: 409 with the agents and what they lack.
    let push = json!({"config": "web-tier", "selector": "tier=web"});
    let (status, body) = api(&server, reqwest::Method::POST, "rollouts", Some(push)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["lacking"],
        json!([{"id": web1.to_string(), "name": "web-1",
                "missing": [{"kind": "receivers", "type": "hostmetrics"}]}])
    );
    assert_eq!(body["unknown"], 1);

    // Forced, it goes out to all three, web-1 included.
    let forced = fleetdeck(
        &server,
        home.path(),
        &[
            "push",
            "web-tier",
            "--selector",
            "tier=web",
            "--all-at-once",
            "--force",
        ],
    )
    .await;
    ok(&forced);
    assert!(
        forced
            .stdout
            .contains("rollout of web-tier:1 started to 3 agents"),
        "{}",
        forced.stdout
    );
    let rc = remote_config(&mut ws1).await;
    let body = &rc.config.expect("files").config_map["collector.yaml"].body;
    assert!(String::from_utf8_lossy(body).contains("hostmetrics/"));
}
