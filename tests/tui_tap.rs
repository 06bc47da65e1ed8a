//! The tap view as pure state transitions: the key shows (in the footer and the help)
//! only for agents that can be tapped, asks the agent at once and again every few
//! seconds for what is newer, draws the items newest first, searches them and moves
//! between the agent's pipelines.

mod seed;

use std::sync::Arc;
use std::time::Duration;

use fleetdeck::fleet::tap::{TapAnswer, TapItem, TapPipeline, TapSignal};
use fleetdeck::fleet::{AgentId, FleetSnapshot};
use fleetdeck::tui::app::Route;
use fleetdeck::tui::tap::TapLoaded;
use fleetdeck::tui::testing::{press, render_text, type_text};
use fleetdeck::tui::{App, AppConfig, ColorLevel, Effect, Keymap, ServerInfo};

fn app() -> App {
    let mut snap = seed::fleet(6, 1);
    // The first agent is supervised by `fleetdeck agent`: it can be tapped.
    let mut first = (*snap.agents[0]).clone();
    first.custom_capabilities = vec!["io.fleetdeck.tap".to_string()].into();
    snap.agents[0] = Arc::new(first);
    let mut app = App::new(
        AppConfig {
            server: ServerInfo {
                listen: "0.0.0.0:4320".parse().unwrap(),
                api_listen: "127.0.0.1:4321".parse().unwrap(),
                public_url: "http://127.0.0.1:4320".into(),
                secret_file: "/tmp/secret".into(),
                version: "0.1.0".into(),
            },
            theme: "dark".into(),
            color_level: ColorLevel::TrueColor,
            keymap: Keymap::default(),
            mouse: false,
            warnings: Vec::new(),
        },
        Arc::new(FleetSnapshot { ..snap }),
        seed::now(),
    );
    app.resize(100, 30);
    app
}

fn open(app: &mut App, id: AgentId) {
    app.agents.selected = Some(id);
    press(app, &["enter"]);
    assert_eq!(app.route(), Route::Detail(id));
}

fn item(seq: u64, body: &str) -> TapItem {
    let mut i = TapItem {
        seq,
        time: format!("2026-01-01T00:00:0{seq}Z"),
        body: Some(serde_json::Value::from(body)),
        ..TapItem::default()
    };
    i.attributes
        .insert("log.file.name".into(), serde_json::Value::from("app.log"));
    i
}

fn answer(pipeline: &str, items: Vec<TapItem>) -> TapAnswer {
    TapAnswer {
        pipeline: Some(pipeline.into()),
        signal: TapSignal::of_pipeline(pipeline),
        pipelines: vec![
            TapPipeline {
                name: "logs/source0".into(),
                signal: TapSignal::Logs,
                batches: 3,
                last_unix_nano: 0,
            },
            TapPipeline {
                name: "metrics".into(),
                signal: TapSignal::Metrics,
                batches: 0,
                last_unix_nano: 0,
            },
        ],
        items,
        ..TapAnswer::default()
    }
}

#[test]
fn only_an_agent_that_can_be_tapped_offers_the_key() {
    let mut a = app();
    let other = a.snapshot.agents[1].id;
    open(&mut a, other);
    let screen = render_text(&a);
    assert!(!screen.contains("T tap"), "{screen}");
    assert!(press(&mut a, &["T"]).is_empty());
    assert_eq!(a.route(), Route::Detail(other));
    press(&mut a, &["?"]);
    assert!(!render_text(&a).contains("tap: the newest items"));
    press(&mut a, &["esc", "esc"]);

    let tapped = a.snapshot.agents[0].id;
    open(&mut a, tapped);
    assert!(render_text(&a).contains("T tap"), "{}", render_text(&a));
    press(&mut a, &["?"]);
    assert!(render_text(&a).contains("tap: the newest items"));
    press(&mut a, &["esc"]);
    let effects = press(&mut a, &["T"]);
    assert_eq!(a.route(), Route::Tap(tapped));
    let Some(Effect::Tap { agent, request }) = effects.first() else {
        panic!("the agent is asked at once: {effects:?}");
    };
    assert_eq!((*agent, request.after), (tapped, None));
}

#[test]
fn items_show_newest_first_follow_search_and_change_pipeline() {
    let mut a = app();
    let id = a.snapshot.agents[0].id;
    open(&mut a, id);
    press(&mut a, &["T"]);
    assert!(render_text(&a).contains("asking the agent"));
    a.tap_loaded(TapLoaded {
        agent: id,
        pipeline: None,
        result: Ok(answer(
            "logs/source0",
            vec![item(1, "GET /index.html 200"), item(2, "GET /missing 404")],
        )),
    });
    let screen = render_text(&a);
    assert!(
        screen.contains("pipeline logs/source0 (logs) · 2 items"),
        "{screen}"
    );
    let newest = screen.find("GET /missing 404").expect("shown");
    let older = screen.find("GET /index.html 200").expect("shown");
    assert!(newest < older, "newest first:\n{screen}");
    assert!(screen.contains("log.file.name = app.log"), "{screen}");

    // Following: a couple of seconds later it asks for what came after the newest.
    assert!(a.due_effects(seed::now()).is_empty());
    let later = seed::now() + Duration::from_secs(3);
    let due = a.due_effects(later);
    let Some(Effect::Tap { request, .. }) = due.first() else {
        panic!("asked again: {due:?}");
    };
    assert_eq!(request.after, Some(2));
    assert_eq!(request.pipeline.as_deref(), Some("logs/source0"));

    // `/` searches the items.
    press(&mut a, &["/"]);
    type_text(&mut a, "missing");
    press(&mut a, &["enter"]);
    let screen = render_text(&a);
    assert!(screen.contains("1 match “missing”"), "{screen}");
    assert!(!screen.contains("GET /index.html 200"), "{screen}");

    // `p`: the next pipeline, asked from scratch.
    let effects = press(&mut a, &["p"]);
    let Some(Effect::Tap { request, .. }) = effects.first() else {
        panic!("the next pipeline is asked at once: {effects:?}");
    };
    assert_eq!(
        (request.pipeline.as_deref(), request.after),
        (Some("metrics"), None)
    );
    // An error says why, in the view.
    a.tap_loaded(TapLoaded {
        agent: id,
        pipeline: Some("metrics".into()),
        result: Err("agent web-1 (…) disconnected before it answered the tap".into()),
    });
    assert!(render_text(&a).contains("disconnected before it answered the tap"));
    press(&mut a, &["esc"]);
    assert_eq!(a.route(), Route::Detail(id));
}
