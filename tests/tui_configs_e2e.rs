//! The Configurations view against a real server: a configuration applied to the real
//! catalog and pushed by the real rollout service to simulated agents over WebSocket;
//! the view's effects are carried out for real and the screen must show the
//! configuration, its version and the agents that applied it, then follow a new version.
//! Also the effects the UI carries out itself against the real fleet registry (restart,
//! forget), whose refusals come back as notices in the events.

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::args::SimTransport;
use fleetdeck::rollout::{RolloutOptions, RolloutStatus, Targets};
use fleetdeck::runtime::Runtime;
use fleetdeck::sim::{self, SimConfig};
use fleetdeck::tui::configs::io as configs_io;
use fleetdeck::tui::testing::{press, render_text};
use fleetdeck::tui::{App, AppConfig, ColorLevel, Effect, Keymap, ServerInfo};

fn config_yaml(collection_interval: &str) -> String {
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: edge-otlp\nspec:\n  raw: |\n    receivers:\n      hostmetrics:\n        collection_interval: {collection_interval}\n        scrapers:\n          cpu: {{}}\n    exporters:\n      debug: {{}}\n    service:\n      pipelines:\n        metrics:\n          receivers: [hostmetrics]\n          exporters: [debug]\n"
    )
}

/// Carries out every effect the app asks for, feeding results back, until none is left.
async fn settle(app: &mut App, rt: &Runtime, mut effects: Vec<Effect>) {
    effects.extend(app.due_effects(std::time::SystemTime::now()));
    while !effects.is_empty() {
        let mut next = Vec::new();
        for e in effects {
            if let Effect::Configs(c) = e {
                let local = fleetdeck::tui::Local::new(
                    rt.registry.clone(),
                    rt.catalog.clone(),
                    rt.rollouts.clone(),
                );
                let msg = configs_io::run(c, &local).await;
                next.extend(app.configs_message(msg));
            }
        }
        effects = next;
    }
}

async fn push_and_wait(rt: &Runtime, ids: &[fleetdeck::fleet::AgentId], version: u64) {
    rt.rollouts
        .start(
            "edge-otlp",
            Some(version),
            Targets::Agents(ids.to_vec()),
            RolloutOptions::all_at_once(),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = rt.rollouts.status("edge-otlp").await.unwrap();
        if v.status == RolloutStatus::Completed && v.config.version == version {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout: {:?}",
            v.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_configurations_view_shows_a_pushed_configuration_and_its_applied_agents() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let rt = &server.rt;
    let mut cfg = SimConfig::new(server.ws_url(), 3);
    cfg.transport = SimTransport::Ws;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 7;
    cfg.apply_delay = Duration::from_millis(20);
    let fleet = sim::start(cfg).await.unwrap();
    let ids = fleet.agent_ids().to_vec();
    server
        .wait_for("agents connected", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    let mut events = rt.registry.subscribe();

    let v1 = rt
        .catalog
        .apply_text(&config_yaml("30s"), None)
        .await
        .unwrap()[0]
        .version
        .unwrap();
    push_and_wait(rt, &ids, v1).await;

    let config = AppConfig {
        server: ServerInfo {
            listen: rt.agent_addr,
            api_listen: rt.api_addr,
            public_url: rt.public_url.clone(),
            secret_file: server.dir.path().join("secret"),
            version: "test".into(),
        },
        theme: "dark".into(),
        color_level: ColorLevel::None,
        keymap: Keymap::default(),
        mouse: false,
        warnings: Vec::new(),
    };
    let snap = rt.registry.snapshot().borrow().clone();
    let mut app = App::new(config, snap, std::time::SystemTime::now());
    app.resize(120, 40);
    let effects = press(&mut app, &["2"]);
    settle(&mut app, rt, effects).await;
    let list = render_text(&app);
    let row = list
        .lines()
        .find(|l| l.contains("edge-otlp"))
        .unwrap_or_else(|| panic!("the configuration is listed: {list}"));
    // Name (under the cursor), latest version, 3 agents, 3 applied; all on v1.
    let words: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&words[..4], ["│›edge-otlp", "v1", "3", "3"], "{row}");
    assert!(row.contains("v1:3"), "{row}");

    let effects = press(&mut app, &["enter"]);
    settle(&mut app, rt, effects).await;
    let detail = render_text(&app);
    assert!(detail.contains("Configurations › edge-otlp"), "{detail}");
    assert!(detail.contains("AGENT (3 on v1)"), "{detail}");
    assert!(detail.contains("rollout completed · v1"), "{detail}");
    let snap = app.snapshot.clone();
    for id in &ids {
        let name = &snap.get(id).unwrap().name;
        let line = detail
            .lines()
            .find(|l| l.contains(name.as_str()))
            .unwrap_or_else(|| panic!("{name} is listed: {detail}"));
        assert!(line.contains("v1") && line.contains("applied"), "{line}");
    }

    // A second version: the events it causes make the view fetch again (the run loop
    // does this with the broadcast), and the agents move to v2.
    let v2 = rt
        .catalog
        .apply_text(&config_yaml("10s"), None)
        .await
        .unwrap()[0]
        .version
        .unwrap();
    assert_eq!(v2, v1 + 1);
    push_and_wait(rt, &ids, v2).await;
    while let Ok(ev) = events.try_recv() {
        app.push_event(ev);
    }
    app.set_snapshot(rt.registry.snapshot().borrow().clone());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    settle(&mut app, rt, Vec::new()).await;
    // The open detail fetched the new version list; the selection stays on v1, which
    // no agent runs any more.
    let detail = render_text(&app);
    assert!(detail.contains("v2 latest"), "{detail}");
    assert!(detail.contains("AGENT (0 on v1)"), "{detail}");
    let effects = press(&mut app, &["k"]);
    assert!(effects.is_empty());
    let detail = render_text(&app);
    assert!(detail.contains("AGENT (3 on v2)"), "{detail}");
    let effects = press(&mut app, &["d"]);
    settle(&mut app, rt, effects).await;
    let diff = render_text(&app);
    assert!(diff.contains("DIFF v1 → v2"), "{diff}");
    assert!(
        diff.contains("- ") && diff.contains("collection_interval: 10s"),
        "{diff}"
    );

    fleet.shutdown().await;
    server.rt.stop().await;
}

/// The next notice about `id` the fleet publishes.
async fn notice_about(
    events: &mut tokio::sync::broadcast::Receiver<fleetdeck::fleet::FleetEvent>,
    id: fleetdeck::fleet::AgentId,
) -> String {
    use fleetdeck::fleet::EventKind;
    let wait = async {
        loop {
            match events.recv().await {
                Ok(e) => match e.kind {
                    EventKind::Notice { agent, message } if agent == Some(id) => return message,
                    _ => continue,
                },
                Err(e) => panic!("events: {e}"),
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), wait).await {
        Ok(message) => message,
        Err(_) => panic!("no notice about {id}"),
    }
}

#[tokio::test]
async fn restart_and_forget_are_carried_out_by_the_ui_and_refusals_become_notices() {
    use fleetdeck::tui::effects::Carrier;
    let server = TestServer::start().await;
    let rt = &server.rt;
    let mut events = rt.registry.subscribe();
    let (mut carrier, _results) =
        Carrier::new(rt.registry.clone(), rt.catalog.clone(), rt.rollouts.clone());
    let config = AppConfig {
        server: ServerInfo {
            listen: rt.agent_addr,
            api_listen: rt.api_addr,
            public_url: rt.public_url.clone(),
            secret_file: server.dir.path().join("secret"),
            version: "test".into(),
        },
        theme: "dark".into(),
        color_level: ColorLevel::None,
        keymap: Keymap::default(),
        mouse: false,
        warnings: Vec::new(),
    };
    let snap = rt.registry.snapshot().borrow().clone();
    let mut app = App::new(config, snap, std::time::SystemTime::now());
    // No such agent: the registry refuses, and the refusal reaches the events.
    let ghost = fleetdeck::fleet::AgentId([7; 16]);
    let edit = carrier.carry_out(&mut app, vec![Effect::RestartAgents(vec![ghost])]);
    assert_eq!(edit, None);
    let said = app.flash.as_ref().map(|f| f.text.clone());
    assert_eq!(said.as_deref(), Some("restart of 1 agent(s) requested"));
    let notice = notice_about(&mut events, ghost).await;
    assert!(notice.starts_with("restart refused"), "{notice}");
    carrier.carry_out(&mut app, vec![Effect::ForgetAgent(ghost)]);
    let said = app.flash.as_ref().map(|f| f.text.clone());
    assert_eq!(said.as_deref(), Some("forgetting the agent requested"));
    let notice = notice_about(&mut events, ghost).await;
    assert!(notice.starts_with("not forgotten"), "{notice}");
    server.rt.stop().await;
}

/// The agent detail's History section reads the real store through the effects the run
/// loop carries out: a push to a simulated agent shows up there once the agent applied it.
#[tokio::test]
async fn an_agents_history_section_shows_a_real_push() {
    use fleetdeck::tui::effects::Carrier;
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let rt = &server.rt;
    let mut cfg = SimConfig::new(server.ws_url(), 1);
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 8;
    cfg.apply_delay = Duration::from_millis(20);
    let fleet = sim::start(cfg).await.unwrap();
    let ids = fleet.agent_ids().to_vec();
    server
        .wait_for("the agent connected", |s| {
            s.get(&ids[0]).is_some_and(|a| a.is_connected())
        })
        .await;
    let v1 = rt
        .catalog
        .apply_text(&config_yaml("30s"), None)
        .await
        .unwrap()[0]
        .version
        .unwrap();
    push_and_wait(rt, &ids, v1).await;

    let (mut carrier, mut results) =
        Carrier::new(rt.registry.clone(), rt.catalog.clone(), rt.rollouts.clone());
    let config = AppConfig {
        server: ServerInfo {
            listen: rt.agent_addr,
            api_listen: rt.api_addr,
            public_url: rt.public_url.clone(),
            secret_file: server.dir.path().join("secret"),
            version: "test".into(),
        },
        theme: "dark".into(),
        color_level: ColorLevel::None,
        keymap: Keymap::default(),
        mouse: false,
        warnings: Vec::new(),
    };
    let snap = rt.registry.snapshot().borrow().clone();
    let mut app = App::new(config, snap, std::time::SystemTime::now());
    app.resize(120, 40);
    // The one agent's detail, round past Flow to its History section.
    press(&mut app, &["enter", "h", "h"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let text = loop {
        let due = app.due_effects(std::time::SystemTime::now());
        carrier.carry_out(&mut app, due);
        if let Ok(Some(msg)) =
            tokio::time::timeout(Duration::from_millis(500), results.history.recv()).await
        {
            assert_eq!(msg.agent, ids[0]);
            app.history_loaded(msg);
        }
        let text = render_text(&app);
        if text.contains("1 attempt,") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no history shown: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let row = text
        .lines()
        .find(|l| l.contains(&format!("edge-otlp:{v1}")))
        .unwrap_or_else(|| panic!("the push is listed: {text}"));
    assert!(row.contains("✓ applied"), "{row}");
    fleet.shutdown().await;
    server.rt.stop().await;
}
