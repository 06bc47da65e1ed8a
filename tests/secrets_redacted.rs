//! Sensitive values stay hidden wherever a stored configuration or an agent's effective
//! configuration is shown: rendering of any version, version diffs, the diff against what an
//! agent runs, the agent's detail from the API and its live stream, and the terminal UI's
//! effective-config view —
//! including a secret that has since been replaced.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::pipeline::Redactor;
use fleetdeck::rollout::{RolloutOptions, RolloutStatus, Targets};
use fleetdeck::sim::{self, SimConfig};
use fleetdeck::tui::testing::{press, render_text};
use fleetdeck::tui::{App, AppConfig, ColorLevel, Keymap, ServerInfo};

const OLD_TOKEN: &str = "dt0c01.OLDSECRET4c7e";
const NEW_TOKEN: &str = "dt0c01.NEWSECRET91ab";

fn destination(token: &str) -> String {
    format!(
        r#"apiVersion: fleetdeck/v1
kind: Destination
metadata: {{name: tenant}}
spec:
  type: dynatrace
  parameters: {{endpoint: "https://abc123.live.dynatrace.com/api/v2/otlp", api_token: {token}}}
"#
    )
}

const CONFIG: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: traced}
spec:
  sources: [{type: otlp}]
  destinations: [{name: tenant}]
"#;

async fn api_text(server: &TestServer, path: &str) -> String {
    let resp = http_client()
        .get(format!("{}/api/v1/{path}", server.api_url()))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("request");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.text().await.expect("body")
}

fn assert_hidden(what: &str, text: &str) {
    for token in [OLD_TOKEN, NEW_TOKEN] {
        assert!(!text.contains(token), "{what} shows {token}:\n{text}");
    }
}

#[tokio::test]
async fn secrets_are_hidden_in_renders_diffs_and_effective_configs() {
    let server = TestServer::start().await;
    let catalog = &server.rt.catalog;
    catalog
        .apply_text(&format!("{}---\n{CONFIG}", destination(OLD_TOKEN)), None)
        .await
        .expect("applies");
    // A new token: the configuration is re-rendered as version 2.
    let results = catalog
        .apply_text(&destination(NEW_TOKEN), None)
        .await
        .expect("applies");
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[1].version, Some(2), "{results:?}");

    let mut cfg = SimConfig::new(server.ws_url(), 1);
    cfg.secret_key = Some(SECRET.to_string());
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    let fleet = sim::start(cfg).await.expect("simulated agent starts");
    let id: AgentId = fleet.agent_ids()[0];
    server
        .wait_for("the agent connected", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
    server
        .rt
        .rollouts
        .start(
            "traced",
            None,
            Targets::Agents(vec![id]),
            RolloutOptions::default(),
        )
        .await
        .expect("rollout starts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let view = server.rt.rollouts.status("traced").await.expect("status");
        if view.status == RolloutStatus::Completed {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{view:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let snap = server
        .wait_for("the agent reports the new config", |s| {
            s.get(&id)
                .and_then(|a| a.effective_config.as_ref())
                .and_then(|c| c.main_body())
                .is_some_and(|b| String::from_utf8_lossy(b).contains(NEW_TOKEN))
        })
        .await;

    // The API, for every way it shows configuration text.
    for path in [
        "configurations/traced/render?version=1".to_string(),
        "configurations/traced/render?version=2".to_string(),
        "configurations/traced/diff?from=1&to=2".to_string(),
        format!("configurations/traced/diff?agent={id}"),
        format!("agents/{id}"),
    ] {
        let text = api_text(&server, &path).await;
        assert_hidden(&path, &text);
        assert!(
            text.contains("(sensitive)"),
            "{path} masks, not drops:\n{text}"
        );
    }

    // The live stream `fleetdeck attach` reads: its first event is the whole fleet.
    let mut stream = http_client()
        .get(format!("{}/api/v1/stream", server.api_url()))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("the stream opens");
    let mut first = String::new();
    while !first.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("the stream says something")
            .expect("reads")
            .expect("open");
        first.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(first.starts_with("event: full"), "{first}");
    assert_hidden("the stream", &first);
    assert!(first.contains("(sensitive)"), "the stream masks, not drops");
    drop(stream);

    // The terminal UI's effective-config view of the agent.
    let mut app = App::new(
        AppConfig {
            server: ServerInfo {
                listen: server.rt.agent_addr,
                api_listen: server.rt.api_addr,
                public_url: server.rt.public_url.clone(),
                secret_file: "/tmp/secret".into(),
                version: "test".into(),
            },
            theme: "dark".into(),
            color_level: ColorLevel::TrueColor,
            keymap: Keymap::default(),
            mouse: false,
            warnings: Vec::new(),
        },
        snap,
        std::time::SystemTime::now(),
    );
    app.resize(120, 40);
    app.set_redactor(catalog.redactor());
    press(&mut app, &["Enter", "Tab", "Tab", "Tab"]);
    let screen = render_text(&app);
    assert!(
        screen.contains("Api-Token"),
        "the Config section is shown:\n{screen}"
    );
    assert_hidden("the TUI", &screen);
    assert!(screen.contains("(sensitive)"), "{screen}");

    // Without the catalog's knowledge the same screen would show it: the check above is real.
    app.set_redactor(Arc::new(Redactor::default()));
    assert!(render_text(&app).contains(NEW_TOKEN));
    fleet.shutdown().await;
    server.rt.stop().await;
}
