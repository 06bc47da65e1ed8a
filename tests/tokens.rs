//! Named API tokens with roles, and the audit trail, through the real `fleetdeck` binary
//! against a server started in-process: an admin makes tokens, a viewer reads and is
//! refused changes with the role it would need, an operator steers the fleet but cannot
//! change what is stored, a revoked token stops working at once, tokens survive a restart
//! (kept only as hashes), and every change is an event naming the token it was made with.

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::AgentId;
use fleetdeck::runtime::Runtime;
use fleetdeck::settings::Settings;
use fleetdeck::sim::{self, SimConfig};
use serde_json::Value;

/// The real binary against `api` with `token`.
async fn cli(api: &str, token: &str, args: &[&str]) -> common::cli::CliOut {
    common::cli::run(api, token, args).await
}

const CONFIG: &str = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: edge\nspec:\n  raw: |\n    receivers:\n      otlp:\n        protocols:\n          http: {}\n    exporters:\n      debug: {}\n    service:\n      pipelines:\n        logs:\n          receivers: [otlp]\n          exporters: [debug]\n";

#[tokio::test]
async fn roles_limit_what_each_token_may_do_and_every_change_names_its_token() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let api = server.api_url();
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

    // The admin (the api-token file's token) makes two tokens; each is printed once.
    let made = cli(
        &api,
        API_TOKEN,
        &["token", "create", "dash", "--role", "viewer"],
    )
    .await;
    assert_eq!(made.code, 0, "{made}");
    let viewer = made.stdout.trim().to_string();
    assert!(viewer.starts_with("fdt_"), "{made}");
    assert!(made.stderr.contains("shown this once"), "{made}");
    let made = cli(
        &api,
        API_TOKEN,
        &["token", "create", "ci", "--role", "operator"],
    )
    .await;
    assert_eq!(made.code, 0, "{made}");
    let operator = made.stdout.trim().to_string();
    let again = cli(
        &api,
        API_TOKEN,
        &["token", "create", "ci", "--role", "admin"],
    )
    .await;
    assert_ne!(again.code, 0);
    assert!(
        again.stderr.contains("a token named 'ci' exists"),
        "{again}"
    );

    let file = std::env::temp_dir().join(format!("fleetdeck-tokens-{}.yaml", std::process::id()));
    std::fs::write(&file, CONFIG).expect("write config");
    let file = file.to_string_lossy().into_owned();

    // A viewer reads, and is told which role a change needs.
    let read = cli(&api, &viewer, &["get", "agents"]).await;
    assert_eq!(read.code, 0, "{read}");
    let refused = cli(&api, &viewer, &["label", "agent", &id, "team=edge"]).await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains(&format!(
            "the token 'dash' is a viewer token (read); label agent {id} needs an operator token"
        )),
        "{refused}"
    );
    let refused = cli(&api, &viewer, &["get", "tokens"]).await;
    assert!(refused.stderr.contains("needs an admin token"), "{refused}");

    // An operator steers the fleet but cannot change what is stored.
    let refused = cli(&api, &operator, &["apply", "-f", &file]).await;
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("the token 'ci' is an operator token")
            && refused.stderr.contains("apply needs an admin token"),
        "{refused}"
    );
    let applied = cli(&api, API_TOKEN, &["apply", "-f", &file]).await;
    assert_eq!(applied.code, 0, "{applied}");
    let labelled = cli(&api, &operator, &["label", "agent", &id, "team=edge"]).await;
    assert_eq!(labelled.code, 0, "{labelled}");
    let pushed = cli(&api, &operator, &["push", "edge", "--agents", &id]).await;
    assert_eq!(pushed.code, 0, "{pushed}");

    // Tokens are listed, never shown.
    let list = cli(&api, API_TOKEN, &["get", "tokens"]).await;
    assert_eq!(list.code, 0, "{list}");
    for name in ["admin", "ci", "dash"] {
        assert!(list.stdout.contains(name), "{list}");
    }
    assert!(!list.stdout.contains(&operator) && !list.stdout.contains(&viewer));

    // Every change is an event with the token's name.
    let mine = wait_events(&api, "ci", 2).await;
    assert!(mine.contains(&format!("label agent {id}")), "{mine}");
    assert!(mine.contains("push: edge:1 to 1 agent"), "{mine}");
    assert!(!mine.contains("apply"), "the admin applied, not ci: {mine}");
    let admin = wait_events(&api, "admin", 3).await;
    assert!(
        admin.contains("apply: Configuration/edge created (v1)"),
        "{admin}"
    );
    assert!(admin.contains("create a token: ci (operator)"), "{admin}");

    // Revoked: refused at once, and the revocation is recorded.
    let revoked = cli(&api, API_TOKEN, &["token", "revoke", "ci"]).await;
    assert_eq!(revoked.code, 0, "{revoked}");
    let gone = cli(&api, &operator, &["get", "agents"]).await;
    assert_ne!(gone.code, 0);
    assert!(gone.stderr.contains("wrong or revoked"), "{gone}");
    let admin = wait_events(&api, "admin", 4).await;
    assert!(admin.contains("revoke token ci"), "{admin}");
    let bootstrap = cli(&api, API_TOKEN, &["token", "revoke", "admin"]).await;
    assert!(bootstrap.stderr.contains("api-token file"), "{bootstrap}");

    // Tokens outlive the server: the same data directory, a new process.
    fleet.shutdown().await;
    let dir = server.dir;
    server.rt.stop().await;
    let rt = Runtime::start(&Settings::ephemeral(dir.path(), SECRET))
        .await
        .expect("restarts");
    let api = format!("http://{}", rt.api_addr);
    let read = cli(&api, &viewer, &["get", "agents"]).await;
    assert_eq!(read.code, 0, "{read}");
    let gone = cli(&api, &operator, &["get", "agents"]).await;
    assert_ne!(gone.code, 0, "still revoked after a restart");
    rt.stop().await;
}

/// `get events --actor NAME -o json` once it lists at least `n` events, as text.
async fn wait_events(api: &str, actor: &str, n: usize) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = cli(
            api,
            API_TOKEN,
            &["get", "events", "--actor", actor, "-o", "json"],
        )
        .await;
        assert_eq!(out.code, 0, "{out}");
        let items: Value = serde_json::from_str(&out.stdout).expect("json");
        let count = items.as_array().map_or(0, Vec::len);
        if count >= n {
            let table = cli(api, API_TOKEN, &["get", "events", "--actor", actor]).await;
            return format!("{}\n{}", out.stdout, table.stdout);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{actor}: {count} events of {n}: {}",
            out.stdout
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
