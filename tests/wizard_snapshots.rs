//! Every screen of the pipeline builder at 80×24 and 120×40, from a seeded fleet,
//! compared with the committed insta snapshots (`cargo insta review` accepts changes).

mod seed;

use std::sync::Arc;

use fleetdeck::fleet::delivery::ConfigRef;
use fleetdeck::rollout::plan::{AgentProgress, AgentStep, Progress};
use fleetdeck::rollout::{RolloutOptions, RolloutStatus, RolloutView};
use fleetdeck::tui::testing::{press, render_text, save_as, type_text};
use fleetdeck::tui::wizard::WizardMsg;
use fleetdeck::tui::{App, AppConfig, ColorLevel, Keymap, ServerInfo};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn app((w, h): (u16, u16)) -> App {
    let config = AppConfig {
        server: ServerInfo {
            listen: "0.0.0.0:4320".parse().unwrap(),
            api_listen: "127.0.0.1:4321".parse().unwrap(),
            public_url: "http://fleet.example.net:4320".into(),
            secret_file: "/var/lib/fleetdeck/agent-secret".into(),
            version: "0.1.0".into(),
        },
        theme: "dark".into(),
        color_level: ColorLevel::TrueColor,
        keymap: Keymap::default(),
        mouse: false,
        warnings: Vec::new(),
    };
    let mut a = App::new(config, Arc::new(seed::fleet(12, 1)), seed::now());
    a.resize(w, h);
    a
}

fn check(name: &str, setup: impl Fn(&mut App)) {
    for size in SIZES {
        let mut a = app(size);
        setup(&mut a);
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), render_text(&a));
    }
}

fn to_destinations(a: &mut App) {
    press(a, &["n", "/"]);
    type_text(a, "otlp");
    press(a, &["enter", "n", "a"]);
    type_text(a, "batch");
    press(a, &["enter", "n", "a"]);
    type_text(a, "otlphttp");
    press(a, &["enter"]);
}

fn to_review(a: &mut App) {
    // Adding the destination opened its endpoint.
    to_destinations(a);
    type_text(a, "https://collector.example.net:4318");
    press(a, &["enter", "n"]);
}

fn to_push(a: &mut App) {
    to_review(a);
    save_as(a, "edge-otlp");
    press(a, &["n"]);
}

#[test]
fn step1_sources() {
    check("wizard_sources", |a| {
        press(a, &["n", "j", "j", "space", "j"]);
    });
}

#[test]
fn step1_sources_searched_by_signal() {
    check("wizard_sources_search", |a| {
        press(a, &["n", "/"]);
        type_text(a, "traces");
    });
}

#[test]
fn step2_form_with_pick_list() {
    check("wizard_form_pick", |a| {
        press(a, &["n", "/"]);
        type_text(a, "otlp");
        press(a, &["enter", "enter"]);
    });
}

#[test]
fn step2_form_with_inline_error_and_advanced_fields() {
    check("wizard_form_filelog", |a| {
        press(a, &["n", "/"]);
        type_text(a, "filelog");
        press(a, &["enter", "enter", "ctrl+u", "enter", "A"]);
    });
}

#[test]
fn step2_processor_attached_to_a_source() {
    check("wizard_source_processor", |a| {
        press(a, &["n", "/"]);
        type_text(a, "otlp");
        press(a, &["enter", "p"]);
        type_text(a, "batch");
        press(a, &["enter", "p"]);
        type_text(a, "memory_limiter");
        press(a, &["enter", "K", "j", "enter", "ctrl+u"]);
        type_text(a, "2x");
        press(a, &["enter"]);
    });
}

#[test]
fn step3_processors_adding() {
    check("wizard_processors_add", |a| {
        press(a, &["n", "space", "n", "n", "a"]);
        type_text(a, "b");
    });
}

#[test]
fn step4_destination_form_with_required_field() {
    check("wizard_destinations", to_destinations);
}

#[test]
fn step4_map_editor() {
    check("wizard_map_editor", |a| {
        to_destinations(a);
        press(a, &["esc", "j", "enter"]);
        type_text(a, "x-team=edge");
        press(a, &["enter"]);
        type_text(a, "oops");
        press(a, &["ctrl+s"]);
    });
}

#[test]
fn step5_review() {
    check("wizard_review", to_review);
}

#[test]
fn step5_review_with_problems() {
    check("wizard_review_problems", |a| {
        to_destinations(a);
        press(a, &["esc", "n"]);
    });
}

#[test]
fn step5_review_diff_with_an_agent() {
    check("wizard_review_diff", |a| {
        to_review(a);
        press(a, &["d"]);
    });
}

#[test]
fn step6_save() {
    check("wizard_save", |a| {
        to_review(a);
        press(a, &["n", "ctrl+u"]);
        type_text(a, "edge-otlp");
        press(a, &["enter"]);
    });
}

#[test]
fn step7_targets() {
    check("wizard_targets", |a| {
        to_push(a);
        press(a, &["space", "space"]);
    });
}

#[test]
fn step7_selector() {
    check("wizard_selector", |a| {
        to_push(a);
        press(a, &["tab"]);
        type_text(a, "env=prod");
    });
}

#[test]
fn step7_rollout_options() {
    check("wizard_rollout_options", |a| {
        to_push(a);
        press(a, &["space", "space", "space", "o", "j", "j", "j"]);
        type_text(a, "1x");
    });
}

#[test]
fn step7_push_asks_first() {
    check("wizard_push_confirm", |a| {
        to_push(a);
        press(a, &["space", "space", "space", "enter"]);
    });
}

#[test]
fn step7_following_a_rollout() {
    check("wizard_rollout", |a| {
        to_push(a);
        press(a, &["space", "space", "space", "enter", "y"]);
        let ids: Vec<_> = a.snapshot.agents.iter().take(3).map(|x| x.id).collect();
        let step = |i: usize| match i {
            0 => AgentStep::Applied,
            1 => AgentStep::Failed("exporter otlphttp: connection refused".into()),
            _ => AgentStep::InFlight,
        };
        let view = RolloutView {
            started_at: None,
            config: ConfigRef {
                name: "edge-otlp".into(),
                version: 1,
            },
            status: RolloutStatus::Running,
            phases_started: 1,
            progress: Progress {
                total: 3,
                in_flight: 1,
                applied: 1,
                failed: 1,
                ..Progress::default()
            },
            options: RolloutOptions::default(),
            agents: ids
                .iter()
                .enumerate()
                .map(|(i, id)| AgentProgress {
                    id: *id,
                    step: step(i),
                    previous: None,
                    phase: Some(0),
                    failed: false,
                    error: None,
                    ..Default::default()
                })
                .collect(),
        };
        a.wizard_message(WizardMsg::Pushed(Ok(view)));
    });
}

#[test]
fn discard_question() {
    check("wizard_discard", |a| {
        press(a, &["n", "space", "esc"]);
    });
}

/// Two shared destinations in the catalog, one with a secret.
fn with_shared_destinations(a: &mut App) {
    let text = "apiVersion: fleetdeck/v1\nkind: Destination\nmetadata:\n  name: central\nspec:\n  type: otlphttp\n  parameters:\n    endpoint: https://central.example.net:4318\n    headers: {x-team: edge}\n";
    let central = serde_norway::from_str(text).expect("central");
    let text = "apiVersion: fleetdeck/v1\nkind: Destination\nmetadata:\n  name: archive\nspec:\n  type: loki\n  parameters:\n    endpoint: https://loki.example.net/loki/api/v1/push\n";
    let archive = serde_norway::from_str(text).expect("archive");
    a.wizard_message(WizardMsg::Loaded {
        configs: Vec::new(),
        destinations: vec![central, archive],
        edit: None,
    });
}

fn two_filelogs(a: &mut App) {
    press(a, &["n"]);
    with_shared_destinations(a);
    press(a, &["/"]);
    type_text(a, "filelog");
    press(a, &["enter", "b", "+"]);
}

fn two_filelogs_filled(a: &mut App) {
    two_filelogs(a);
    press(a, &["n", "enter"]);
    type_text(a, "/var/log/app/*.log");
    press(a, &["ctrl+s", "tab", "enter"]);
    type_text(a, "/var/log/nginx/*.log");
    press(a, &["ctrl+s"]);
}

#[test]
fn step1_one_source_type_chosen_twice() {
    check("wizard_sources_twice", two_filelogs);
}

#[test]
fn step2_forms_of_two_sources_of_one_type_while_naming_one() {
    check("wizard_form_rename", |a| {
        two_filelogs_filled(a);
        press(a, &["r"]);
        type_text(a, "nginx");
    });
}

#[test]
fn step4_adding_lists_shared_destinations() {
    check("wizard_add_shared", |a| {
        two_filelogs_filled(a);
        press(a, &["n", "n", "a"]);
    });
}

#[test]
fn step4_a_shared_destination() {
    check("wizard_shared_destination", |a| {
        two_filelogs_filled(a);
        press(a, &["n", "n", "a"]);
        type_text(a, "central");
        press(a, &["enter"]);
    });
}

#[test]
fn step5_review_of_repeated_sources_and_a_shared_destination() {
    check("wizard_review_shared", |a| {
        two_filelogs_filled(a);
        press(a, &["r"]);
        type_text(a, "nginx");
        press(a, &["enter", "n", "n", "a", "enter", "n"]);
    });
}
