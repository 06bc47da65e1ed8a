//! Key handling as pure state transitions: no terminal, no server. Each test drives the
//! `App` state machine with keys and checks what a user would see or get.

mod seed;

use std::sync::Arc;

use fleetdeck::fleet::attempt::{ApplyAttempt, AttemptResult};
use fleetdeck::fleet::delivery::{ApplyState, ConfigRef};
use fleetdeck::fleet::{AgentId, EventKind, FleetEvent, FleetSnapshot};
use fleetdeck::rollout::RolloutStatus;
use fleetdeck::tui::app::Route;
use fleetdeck::tui::configs::{ConfigsEffect, ConfigsMsg, Steer};
use fleetdeck::tui::detail::{HistoryLoaded, Section};
use fleetdeck::tui::testing::{click, press, render_text, resize, type_text, wheel};
use fleetdeck::tui::wizard::WizardEffect;
use fleetdeck::tui::{App, AppConfig, ColorLevel, Effect, Keymap, ServerInfo};
use std::time::Duration;

fn server() -> ServerInfo {
    ServerInfo {
        listen: "0.0.0.0:4320".parse().unwrap(),
        api_listen: "127.0.0.1:4321".parse().unwrap(),
        public_url: "http://127.0.0.1:4320".into(),
        secret_file: "/tmp/secret".into(),
        version: "0.1.0".into(),
    }
}

fn config(keymap: Keymap, level: ColorLevel, mouse: bool) -> AppConfig {
    AppConfig {
        server: server(),
        theme: "dark".into(),
        color_level: level,
        keymap,
        mouse,
        warnings: Vec::new(),
    }
}

fn app_with(agents: usize, keymap: Keymap) -> App {
    let mut app = App::new(
        config(keymap, ColorLevel::TrueColor, false),
        Arc::new(seed::fleet(agents, 1)),
        seed::now(),
    );
    app.resize(80, 24);
    app
}

fn app(agents: usize) -> App {
    app_with(agents, Keymap::default())
}

fn selected(app: &App) -> AgentId {
    app.agents.selected.expect("an agent is selected")
}

fn shown_names(app: &App) -> Vec<String> {
    app.shown_ids()
        .map(|id| app.snapshot.get(&id).unwrap().name.to_string())
        .collect()
}

#[test]
fn selection_follows_the_agent_while_the_list_grows_and_resorts() {
    let mut a = app(40);
    press(&mut a, &["j", "j", "j", "j", "j"]);
    let id = selected(&a);
    let screen_row = a.agents.cursor - a.agents.offset;

    // The fleet grows: the seed gives the first 40 agents the same ids, new ones
    // land all over the id order.
    a.set_snapshot(Arc::new(seed::fleet(400, 2)));
    assert_eq!(selected(&a), id);
    assert_ne!(a.agents.cursor, 5, "new agents sorted in before it");
    assert_eq!(a.shown_ids().nth(a.agents.cursor), Some(id));
    assert_eq!(
        a.agents.cursor - a.agents.offset,
        screen_row,
        "the selected row stays at the same height on screen"
    );

    // Re-sorting moves the row, not the selection.
    press(&mut a, &["N"]);
    assert_eq!(selected(&a), id);
    let names = shown_names(&a);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "N sorts by name");
    press(&mut a, &["N"]);
    assert_eq!(selected(&a), id);
    assert_eq!(shown_names(&a).first(), sorted.last(), "N again inverts");

    // The selected agent leaves the fleet: the cursor stays in place on a neighbour.
    let cursor = a.agents.cursor;
    let mut smaller = seed::fleet(400, 3);
    smaller.agents.retain(|v| v.id != id);
    a.set_snapshot(Arc::new(smaller));
    assert_ne!(selected(&a), id);
    assert_eq!(a.agents.cursor, cursor);
}

#[test]
fn moving_and_paging_stay_inside_the_list() {
    let mut a = app(100);
    press(&mut a, &["k"]);
    assert_eq!(a.agents.cursor, 0);
    press(&mut a, &["G"]);
    assert_eq!(a.agents.cursor, 99);
    assert!(a.agents.offset + 19 >= 99 && a.agents.offset <= 99);
    press(&mut a, &["g", "ctrl+d"]);
    assert_eq!(a.agents.cursor, 18, "a page is the visible rows minus one");
    press(&mut a, &["pgdn", "up", "down", "end", "home"]);
    assert_eq!(a.agents.cursor, 0);
    assert_eq!(a.agents.offset, 0);
}

#[test]
fn filter_applies_while_typing_and_esc_restores_the_previous_one() {
    let mut a = app(60);
    press(&mut a, &["/"]);
    type_text(&mut a, "env=staging");
    press(&mut a, &["enter"]);
    assert!(!a.agents.index.is_empty() && a.agents.index.len() < 60);
    for id in a.shown_ids() {
        assert_eq!(a.snapshot.get(&id).unwrap().labels["env"], "staging");
    }
    let staging = a.agents.index.len();

    press(&mut a, &["/"]);
    type_text(&mut a, " !status=up");
    let down_staging = a.agents.index.len();
    assert!(down_staging < staging);
    for id in a.shown_ids() {
        assert!(!a.snapshot.get(&id).unwrap().is_connected());
    }
    press(&mut a, &["esc"]);
    assert_eq!(
        a.agents.filter_text, "env=staging",
        "esc puts the old filter back"
    );
    assert_eq!(a.agents.index.len(), staging);

    press(&mut a, &["/", "ctrl+u"]);
    type_text(&mut a, "GATEWAY-EU");
    press(&mut a, &["enter"]);
    assert!(shown_names(&a).iter().all(|n| n.starts_with("gateway-eu-")));
    assert!(!shown_names(&a).is_empty());

    press(&mut a, &["esc"]);
    assert_eq!(a.agents.filter_text, "", "esc at the top clears the filter");
    assert_eq!(a.agents.index.len(), 60);
}

#[test]
fn marks_feed_the_restart_effect_and_esc_clears_them() {
    let mut a = app(30);
    let first = a.shown_ids().next().unwrap();
    let second = a.shown_ids().nth(1).unwrap();
    assert_eq!(press(&mut a, &["space", "space"]), vec![]);
    assert_eq!(a.agents.marks.len(), 2);
    let mut want = vec![first, second];
    want.sort();
    // R asks first, naming the agents; y restarts them, esc does nothing.
    assert_eq!(press(&mut a, &["R"]), vec![]);
    let asked = a.confirm.clone().expect("restart asks");
    assert_eq!(asked.ask.title, "Restart 2 agent(s)?");
    let screen = render_text(&a);
    assert!(screen.contains("Restart 2 agent(s)?"), "{screen}");
    assert!(screen.contains("y restart"), "{screen}");
    assert_eq!(press(&mut a, &["esc"]), vec![]);
    assert!(a.confirm.is_none());
    assert_eq!(a.agents.marks.len(), 2, "esc answered the question only");
    assert_eq!(
        press(&mut a, &["R", "y"]),
        vec![Effect::RestartAgents(want)]
    );
    press(&mut a, &["esc"]);
    assert!(a.agents.marks.is_empty());
    // Without marks, restart means the selected agent.
    let sel = selected(&a);
    assert_eq!(
        press(&mut a, &["R", "y"]),
        vec![Effect::RestartAgents(vec![sel])]
    );
    press(&mut a, &["ctrl+a"]);
    assert_eq!(a.agents.marks.len(), 30);
}

#[test]
fn enter_opens_detail_esc_goes_back_and_q_quits_only_at_the_top() {
    let mut a = app(20);
    press(&mut a, &["j", "enter"]);
    let id = selected(&a);
    assert_eq!(a.route(), Route::Detail(id));
    press(&mut a, &["tab", "tab"]);
    assert_eq!(a.detail.section, Section::Health);
    press(&mut a, &["h"]);
    assert_eq!(a.detail.section, Section::Telemetry);
    assert_eq!(press(&mut a, &["q"]), vec![], "q in a sub-view goes back");
    assert_eq!(a.route(), Route::Agents);
    // Agents are connected: quitting stops their server, so it asks and says so.
    assert_eq!(press(&mut a, &["q"]), vec![]);
    assert!(!a.should_quit());
    let screen = render_text(&a);
    assert!(screen.contains("Quit fleetdeck?"), "{screen}");
    assert!(screen.contains("loses its server"), "{screen}");
    assert!(screen.contains("y quit"), "{screen}");
    assert_eq!(press(&mut a, &["esc"]), vec![]);
    assert!(!a.should_quit());
    assert_eq!(press(&mut a, &["q", "y"]), vec![Effect::Quit]);
    assert!(a.should_quit());

    let mut b = app(5);
    press(&mut b, &["enter", "?"]);
    assert_eq!(
        press(&mut b, &["ctrl+c"]),
        vec![],
        "ctrl-c asks from anywhere"
    );
    assert_eq!(
        press(&mut b, &["ctrl+c"]),
        vec![Effect::Quit],
        "and a second ctrl-c quits"
    );
}

#[test]
fn quitting_a_server_no_agent_is_connected_to_does_not_ask() {
    let mut a = app(0);
    assert_eq!(press(&mut a, &["q"]), vec![Effect::Quit]);
}

fn attempt(id: AgentId, version: u64, result: AttemptResult, message: &str) -> ApplyAttempt {
    let at = seed::now() - Duration::from_secs(600 - version);
    ApplyAttempt {
        agent: id,
        config: ConfigRef {
            name: "web".into(),
            version,
        },
        hash: [version as u8; 32],
        result,
        message: message.into(),
        assigned_at: at,
        finished_at: at,
        rolled_back: false,
        rollback: false,
    }
}

#[test]
fn the_history_section_reads_the_agents_history_and_reads_it_again_while_shown() {
    let mut a = app(10);
    press(&mut a, &["enter"]);
    let id = selected(&a);
    let now = seed::now();
    assert!(
        !a.due_effects(now).contains(&Effect::LoadHistory(id)),
        "not read while another section is shown"
    );
    press(&mut a, &["h"]);
    assert_eq!(
        a.detail.section,
        Section::Flow,
        "round from the first section"
    );
    assert_eq!(
        a.due_effects(now),
        [Effect::LoadFlow(id)],
        "the flow is read while it is shown"
    );
    press(&mut a, &["h"]);
    assert_eq!(a.detail.section, Section::History);
    assert_eq!(a.due_effects(now), [Effect::LoadHistory(id)]);
    assert_eq!(a.due_effects(now), [], "asked once");
    assert!(render_text(&a).contains("reading the apply history"));

    // An answer about another agent (one shown before) is not this one's.
    let other = AgentId([9; 16]);
    a.history_loaded(HistoryLoaded {
        agent: other,
        result: Ok(vec![attempt(other, 7, AttemptResult::Applied, "")]),
    });
    assert!(!render_text(&a).contains("web:7"));

    let mut undone = attempt(id, 2, AttemptResult::Failed, "exporters::otlp: undefined");
    undone.rolled_back = true;
    let mut back = attempt(id, 1, AttemptResult::Applied, "");
    back.rollback = true;
    back.assigned_at = now - Duration::from_secs(30);
    back.finished_at = now - Duration::from_secs(30);
    let history = vec![back, undone, attempt(id, 1, AttemptResult::Applied, "")];
    a.history_loaded(HistoryLoaded {
        agent: id,
        result: Ok(history),
    });
    let text = render_text(&a);
    assert!(text.contains("3 attempts, newest first"), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("web:"))
        .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows[0].starts_with("web:1 (rollback)")
            && rows[0].contains("010101010101")
            && rows[0].contains("30s")
            && rows[0].contains("✓ applied"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].starts_with("web:2") && rows[1].contains("✕ failed") && rows[1].ends_with("↩ yes"),
        "{}",
        rows[1]
    );
    assert!(
        text.contains("exporters::otlp: undefined"),
        "the reason under it: {text}"
    );

    // Read again while shown, a refresh later; not again until the answer came.
    assert_eq!(a.due_effects(now + Duration::from_secs(1)), []);
    let later = now + Duration::from_secs(3);
    assert_eq!(a.due_effects(later), [Effect::LoadHistory(id)]);
    a.history_loaded(HistoryLoaded {
        agent: id,
        result: Err("database is locked".into()),
    });
    assert!(render_text(&a).contains("cannot read the apply history: database is locked"));
    press(&mut a, &["esc"]);
    assert_eq!(a.due_effects(later + Duration::from_secs(60)), []);
}

#[test]
fn detail_config_scrolls_and_stops_at_the_last_line() {
    let mut a = app(10);
    press(&mut a, &["enter", "tab", "tab", "tab"]);
    assert_eq!(a.detail.section, Section::Config);
    press(&mut a, &["G"]);
    let bottom = a.detail.scroll[3];
    assert!(bottom > 0, "the seeded config is longer than the screen");
    press(&mut a, &["j", "j"]);
    assert_eq!(a.detail.scroll[3], bottom);
    press(&mut a, &["k"]);
    assert_eq!(a.detail.scroll[3], bottom - 1);
    let text = render_text(&a);
    assert!(text.contains("exporters:"), "{text}");
}

#[test]
fn views_switch_by_number_tab_and_palette() {
    let mut a = app(20);
    press(&mut a, &["tab"]);
    assert_eq!(a.route(), Route::Configs);
    press(&mut a, &["tab"]);
    assert_eq!(a.route(), Route::Events);
    press(&mut a, &["S-tab", "S-tab"]);
    assert_eq!(a.route(), Route::Agents);
    press(&mut a, &["3"]);
    assert_eq!(a.route(), Route::Events);
    press(&mut a, &[":"]);
    type_text(&mut a, "ag");
    press(&mut a, &["tab", "enter"]);
    assert_eq!(a.route(), Route::Agents);
    press(&mut a, &[":"]);
    type_text(&mut a, "types");
    press(&mut a, &["enter"]);
    assert_eq!(a.route(), Route::Types);
    press(&mut a, &[":"]);
    type_text(&mut a, "q");
    assert_eq!(press(&mut a, &["enter"]), vec![], ":q asks like q");
    assert_eq!(press(&mut a, &["y"]), vec![Effect::Quit]);
}

/// The configurations view with the seeded catalog data already fetched.
fn configs_loaded(agents: usize) -> App {
    let mut a = app(agents);
    press(&mut a, &["2"]);
    let due = a.due_effects(seed::now());
    assert_eq!(due, vec![Effect::Configs(ConfigsEffect::Refresh)]);
    let data = seed::catalog_data(&a.snapshot);
    a.configs_message(ConfigsMsg::Refreshed(Ok(data)));
    a
}

#[test]
fn configurations_list_the_catalog_with_agents_per_version_and_the_unmanaged_ones() {
    let mut a = configs_loaded(40);
    let names: Vec<&str> = a
        .configs
        .overview
        .rows
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["edge-gateway", "web-frontend"]);
    // Count independently from the snapshot what each version should show.
    for row in &a.configs.overview.rows {
        for (version, counts) in &row.versions {
            let on: Vec<_> = a
                .snapshot
                .agents
                .iter()
                .filter_map(|x| x.config.as_ref())
                .filter(|c| *c.config.name == *row.name && c.config.version == *version)
                .collect();
            assert_eq!(counts.agents, on.len(), "{} v{version}", row.name);
            let failed = on.iter().filter(|c| c.state == ApplyState::Failed).count();
            assert_eq!(counts.failed, failed, "{} v{version}", row.name);
        }
    }
    let unmanaged = a
        .snapshot
        .agents
        .iter()
        .filter(|x| x.config.is_none())
        .count();
    assert!(unmanaged > 0);
    assert_eq!(a.configs.overview.unmanaged.agents, unmanaged);
    let text = render_text(&a);
    assert!(
        text.contains("edge-gateway") && text.contains("local / unmanaged"),
        "{text}"
    );
    assert!(text.contains("running v2 ph2"), "the rollout shows: {text}");
    // The last row opens the agents that run their own configuration.
    press(&mut a, &["G", "enter"]);
    assert_eq!(a.route(), Route::Agents);
    assert_eq!(a.agents.index.len(), unmanaged);
    press(&mut a, &["esc"]);
    assert_eq!(a.route(), Route::Configs);
}

#[test]
fn a_configuration_opens_with_versions_agents_diff_and_rollout_controls() {
    let mut a = configs_loaded(40);
    let effects = press(&mut a, &["enter"]);
    assert_eq!(a.route(), Route::ConfigDetail);
    assert_eq!(
        effects,
        vec![Effect::Configs(ConfigsEffect::Versions {
            name: "edge-gateway".into()
        })]
    );
    a.configs_message(ConfigsMsg::Versions {
        name: "edge-gateway".into(),
        result: Ok(seed::config_versions("edge-gateway")),
    });
    let d = a.configs.detail.as_ref().unwrap();
    assert_eq!(
        d.selected_version(),
        Some(2),
        "the newest version comes first"
    );
    assert!(d.shown_agents().all(|x| x.version == 2));
    // Failures come first, with their message.
    let first = d.shown_agents().next().unwrap();
    assert_eq!(first.state, ApplyState::Failed);
    a.resize(120, 40);
    let text = render_text(&a);
    assert!(
        text.contains("error decoding 'exporters': unknown type"),
        "{text}"
    );

    // d: previous version → selected; the diff arrives and shows; d again closes it.
    let effects = press(&mut a, &["d"]);
    let diff = ConfigsEffect::Diff {
        name: "edge-gateway".into(),
        from: 1,
        to: 2,
    };
    assert_eq!(effects, vec![Effect::Configs(diff)]);
    a.configs_message(ConfigsMsg::Diff {
        name: "edge-gateway".into(),
        from: 1,
        to: 2,
        result: Ok(seed::config_diff()),
    });
    let text = render_text(&a);
    assert!(
        text.contains("DIFF v1 → v2") && text.contains("+       network: {}"),
        "{text}"
    );
    press(&mut a, &["d"]);
    assert!(a.configs.detail.as_ref().unwrap().diff.is_none());

    // The first version has nothing before it until another one is marked as the base.
    assert!(press(&mut a, &["j", "d"]).is_empty());
    let effects = press(&mut a, &["k", "space", "j", "d"]);
    let back = ConfigsEffect::Diff {
        name: "edge-gateway".into(),
        from: 2,
        to: 1,
    };
    assert_eq!(effects, vec![Effect::Configs(back)]);
    press(&mut a, &["d", "k"]);

    // Rollout controls: only what the rollout's state allows reaches the service.
    let pause = press(&mut a, &["p"]);
    assert_eq!(
        pause,
        vec![Effect::Configs(ConfigsEffect::Steer {
            name: "edge-gateway".into(),
            how: Steer::Pause
        })]
    );
    assert!(
        press(&mut a, &["r"]).is_empty(),
        "a running rollout is not resumed"
    );
    assert!(a.flash.as_ref().unwrap().text.contains("running"));
    let mut paused = seed::catalog_data(&a.snapshot).rollouts.remove(0);
    paused.status = RolloutStatus::Paused;
    a.configs_message(ConfigsMsg::Steered {
        name: "edge-gateway".into(),
        how: Steer::Pause,
        result: Ok(paused),
    });
    assert!(a.flash.as_ref().unwrap().text.contains("paused"));
    assert_eq!(press(&mut a, &["r"]).len(), 1);
    // R (next to r) rolls back only after a yes.
    assert!(press(&mut a, &["R"]).is_empty());
    let asked = a.confirm.clone().expect("rollback asks");
    assert_eq!(asked.ask.title, "Roll back the rollout of edge-gateway?");
    assert_eq!(
        press(&mut a, &["y"]),
        vec![Effect::Configs(ConfigsEffect::Steer {
            name: "edge-gateway".into(),
            how: Steer::Rollback
        })]
    );
    a.configs_message(ConfigsMsg::Steered {
        name: "edge-gateway".into(),
        how: Steer::Rollback,
        result: Err("no agent has an earlier version".into()),
    });
    assert!(
        a.flash
            .as_ref()
            .unwrap()
            .text
            .contains("cannot roll back the rollout: no agent has an earlier version")
    );
    // A rollback that reached no agent does not say "rolled back".
    let mut nothing = seed::catalog_data(&a.snapshot).rollouts.remove(0);
    nothing.status = RolloutStatus::RolledBack;
    nothing.progress.rolled_back = 0;
    a.configs_message(ConfigsMsg::Steered {
        name: "edge-gateway".into(),
        how: Steer::Rollback,
        result: Ok(nothing.clone()),
    });
    let said = a.flash.as_ref().unwrap().text.clone();
    assert!(said.contains("nothing to roll back"), "{said}");
    assert!(!said.contains("rolled back"), "{said}");
    nothing.progress.rolled_back = 3;
    a.configs_message(ConfigsMsg::Steered {
        name: "edge-gateway".into(),
        how: Steer::Rollback,
        result: Ok(nothing),
    });
    assert!(
        a.flash
            .as_ref()
            .unwrap()
            .text
            .contains("3 agent(s) rolled back")
    );

    // e opens it in the builder.
    let effects = press(&mut a, &["e"]);
    assert_eq!(a.route(), Route::Wizard);
    assert_eq!(
        effects,
        vec![Effect::Wizard(WizardEffect::Load {
            edit: Some("edge-gateway".into())
        })]
    );
}

#[test]
fn configurations_refresh_on_rollout_events_at_most_once_a_second() {
    let mut a = configs_loaded(10);
    let t0 = seed::now();
    let mut data = seed::catalog_data(&a.snapshot);
    // Nothing changed and nothing is rolling out: no fetch.
    data.rollouts.clear();
    a.configs_message(ConfigsMsg::Refreshed(Ok(data)));
    assert!(a.due_effects(t0 + Duration::from_secs(5)).is_empty());
    a.push_event(FleetEvent {
        at: t0,
        kind: EventKind::Notice {
            agent: None,
            message: "hello".into(),
        },
    });
    assert!(
        a.due_effects(t0 + Duration::from_secs(6)).is_empty(),
        "not a config event"
    );
    a.push_event(FleetEvent {
        at: t0,
        kind: EventKind::Rollout {
            config: ConfigRef {
                name: "edge-gateway".into(),
                version: 2,
            },
            message: "phase 3 started".into(),
        },
    });
    let refresh = vec![Effect::Configs(ConfigsEffect::Refresh)];
    assert_eq!(a.due_effects(t0 + Duration::from_secs(7)), refresh);
    // One at a time, and not again within a second of the last.
    a.push_event(FleetEvent {
        at: t0,
        kind: EventKind::Rollout {
            config: ConfigRef {
                name: "edge-gateway".into(),
                version: 2,
            },
            message: "phase 4 started".into(),
        },
    });
    assert!(
        a.due_effects(t0 + Duration::from_secs(9)).is_empty(),
        "still fetching"
    );
    a.configs_message(ConfigsMsg::Refreshed(Err(
        "cannot list rollouts: stopped".into()
    )));
    assert!(render_text(&a).contains("cannot list rollouts"));
    assert!(a.due_effects(t0 + Duration::from_millis(7_500)).is_empty());
    assert_eq!(a.due_effects(t0 + Duration::from_secs(9)), refresh);
    // Other views never fetch.
    press(&mut a, &["1"]);
    a.push_event(FleetEvent {
        at: t0,
        kind: EventKind::Rollout {
            config: ConfigRef {
                name: "edge-gateway".into(),
                version: 2,
            },
            message: "completed".into(),
        },
    });
    assert!(a.due_effects(t0 + Duration::from_secs(60)).is_empty());
}

#[test]
fn types_lists_the_resource_types_and_scrolls() {
    let mut a = app(3);
    press(&mut a, &[":"]);
    type_text(&mut a, "types");
    press(&mut a, &["enter"]);
    let text = render_text(&a);
    assert!(text.contains("KIND") && text.contains("SIGNALS"), "{text}");
    assert!(text.contains("source") && text.contains("logs"), "{text}");
    let first_row = text.lines().nth(3).unwrap().to_string();
    press(&mut a, &["j"]);
    assert_ne!(render_text(&a).lines().nth(3).unwrap(), first_row);
    press(&mut a, &["k"]);
    assert_eq!(render_text(&a).lines().nth(3).unwrap(), first_row);
}

#[test]
fn palette_switches_themes_and_reports_unknown_commands() {
    let mut a = app(5);
    press(&mut a, &[":"]);
    type_text(&mut a, "theme ");
    press(&mut a, &["tab"]);
    press(&mut a, &["enter"]);
    assert_eq!(a.theme.name, "dark", "tab completed the first theme: dark");
    press(&mut a, &[":"]);
    type_text(&mut a, "theme light");
    press(&mut a, &["enter"]);
    assert_eq!(a.theme.name, "light");
    press(&mut a, &["t"]);
    assert_eq!(a.theme.name, "high-contrast", "t cycles themes");
    press(&mut a, &[":"]);
    type_text(&mut a, "deploy now");
    press(&mut a, &["enter"]);
    let flash = a.flash.clone().expect("an error is shown");
    assert!(
        flash.text.contains("unknown command ':deploy'"),
        "{}",
        flash.text
    );
    assert!(render_text(&a).contains("unknown command"));
    press(&mut a, &[":"]);
    type_text(&mut a, "theme solarized");
    press(&mut a, &["enter"]);
    assert!(a.flash.unwrap().text.contains("no theme named 'solarized'"));
    assert_eq!(a.theme.name, "high-contrast");
}

#[test]
fn no_color_keeps_the_mono_theme() {
    let mut a = App::new(
        config(Keymap::default(), ColorLevel::None, false),
        Arc::new(seed::fleet(3, 1)),
        seed::now(),
    );
    assert_eq!(a.theme.name, "mono");
    press(&mut a, &[":"]);
    type_text(&mut a, "theme light");
    press(&mut a, &["enter"]);
    assert_eq!(a.theme.name, "mono");
}

#[test]
fn keymap_overrides_drive_keys_footer_and_help_and_bad_ones_are_warnings() {
    let table: toml::Table = toml::from_str(
        r#"
        quit = "x"
        filter = "F"
        yes = "o"
        explode = "e"
        "#,
    )
    .unwrap();
    let mut a = app_with(10, Keymap::with_overrides(&table, "fleetdeck.toml"));
    assert_eq!(a.warnings.len(), 1);
    let screen = render_text(&a);
    assert!(screen.contains("1 settings warnings"), "{screen}");
    assert!(
        screen.contains("F filter"),
        "footer follows the keymap: {screen}"
    );
    press(&mut a, &["?"]);
    let help = render_text(&a);
    assert!(help.contains("keymap.explode: unknown action"), "{help}");
    assert!(help.contains("F                   filter"), "{help}");
    press(&mut a, &["esc"]);
    press(&mut a, &["/"]);
    assert!(a.input.is_none(), "/ no longer filters");
    // The question's keys follow the keymap too.
    assert_eq!(press(&mut a, &["x"]), vec![]);
    let screen = render_text(&a);
    assert!(screen.contains("o quit"), "{screen}");
    assert_eq!(press(&mut a, &["y"]), vec![], "y is no longer yes");
    assert_eq!(press(&mut a, &["o"]), vec![Effect::Quit]);
}

#[test]
fn events_follow_the_newest_until_the_user_scrolls_up() {
    let mut a = app(20);
    let snap = a.snapshot.clone();
    let evs = seed::events(&snap);
    for e in evs.iter().take(5).cloned() {
        a.push_event(e);
    }
    press(&mut a, &["3"]);
    assert_eq!(a.events.cursor, 4);
    press(&mut a, &["k"]);
    assert!(!a.events.follow);
    a.push_event(evs[5].clone());
    assert_eq!(a.events.cursor, 3, "scrolled up: stays put");
    press(&mut a, &["G"]);
    assert!(a.events.follow);
    a.push_event(evs[6].clone());
    assert_eq!(a.events.cursor, 6);
    a.events_missed(12);
    assert!(render_text(&a).contains("12 missed"));
    // Enter on an event opens its agent.
    press(&mut a, &["enter"]);
    let id = match &evs[6].kind {
        EventKind::HealthChanged { id, .. } => *id,
        other => panic!("seed changed: {other:?}"),
    };
    assert_eq!(a.route(), Route::Detail(id));
}

#[test]
fn event_history_is_bounded() {
    let mut a = app(3);
    let snap = a.snapshot.clone();
    let e = seed::events(&snap)[0].clone();
    for _ in 0..fleetdeck::tui::events::EVENT_HISTORY + 50 {
        a.push_event(FleetEvent {
            at: e.at,
            kind: e.kind.clone(),
        });
    }
    assert_eq!(a.events.items.len(), fleetdeck::tui::events::EVENT_HISTORY);
}

#[test]
fn freeze_holds_the_snapshot_until_resumed() {
    let mut a = app(10);
    press(&mut a, &["f"]);
    a.set_snapshot(Arc::new(seed::fleet(50, 2)));
    assert_eq!(a.snapshot.agents.len(), 10);
    assert!(render_text(&a).contains("FROZEN"));
    press(&mut a, &["f"]);
    assert_eq!(a.snapshot.agents.len(), 50);
}

#[test]
fn resize_below_the_minimum_shows_the_too_small_screen_and_recovers() {
    let mut a = app(10);
    resize(&mut a, 60, 20);
    assert!(render_text(&a).contains("need 80×24, have 60×20"));
    resize(&mut a, 100, 30);
    let text = render_text(&a);
    assert!(text.contains("Agents 10/10"), "{text}");
    assert_eq!(text.lines().count(), 30);
}

#[test]
fn mouse_is_ignored_unless_enabled() {
    let mut off = app(30);
    wheel(&mut off, true);
    assert_eq!(off.agents.cursor, 0);

    let mut on = App::new(
        config(Keymap::default(), ColorLevel::TrueColor, true),
        Arc::new(seed::fleet(30, 1)),
        seed::now(),
    );
    on.resize(80, 24);
    wheel(&mut on, true);
    wheel(&mut on, true);
    assert_eq!(on.agents.cursor, 2);
    // Row 3 is the first agent row (header line, border, column titles).
    click(&mut on, 10, 3 + 7);
    assert_eq!(on.agents.cursor, 7);
}

#[test]
fn an_empty_fleet_explains_how_to_connect() {
    let a = App::new(
        config(Keymap::default(), ColorLevel::TrueColor, false),
        Arc::new(FleetSnapshot::default()),
        seed::now(),
    );
    let text = render_text(&a);
    assert!(text.contains("no agents yet"), "{text}");
    assert!(text.contains("http://127.0.0.1:4320/v1/opamp"), "{text}");
}

#[test]
fn the_order_follows_changes_that_matter_to_the_sort() {
    let mut a = app(30);
    press(&mut a, &["N"]);
    let first = a.shown_ids().next().unwrap();
    // A renamed agent moves; a heartbeat alone moves nothing under the name sort.
    let mut next = (*a.snapshot).clone();
    next.version = 2;
    let pos = next.agents.iter().position(|v| v.id != first).unwrap();
    let renamed = next.agents[pos].id;
    let mut v = (*next.agents[pos]).clone();
    v.name = "aaa-first".into();
    next.agents[pos] = Arc::new(v);
    a.set_snapshot(Arc::new(next.clone()));
    assert_eq!(a.shown_ids().next(), Some(renamed));

    press(&mut a, &["L"]);
    let mut later = next.clone();
    later.version = 3;
    let last = later.agents.len() - 1;
    let mut v = (*later.agents[last]).clone();
    v.last_seen = seed::now() + std::time::Duration::from_secs(5);
    let newest = v.id;
    later.agents[last] = Arc::new(v);
    a.set_snapshot(Arc::new(later));
    assert_eq!(
        a.shown_ids().next(),
        Some(newest),
        "most recently seen first"
    );
}

#[test]
fn flipping_the_sort_direction_shows_the_same_rows_reversed() {
    let mut a = app(60);
    press(&mut a, &["C"]);
    let up: Vec<AgentId> = a.shown_ids().collect();
    press(&mut a, &["C"]);
    let down: Vec<AgentId> = a.shown_ids().collect();
    let mut reversed = up.clone();
    reversed.reverse();
    assert_eq!(down, reversed);
    // The same as sorting descending from scratch.
    let mut fresh = app(60);
    press(&mut fresh, &["N", "C", "I"]);
    assert_eq!(fresh.shown_ids().collect::<Vec<_>>(), down);
    press(&mut a, &["I"]);
    assert_eq!(a.shown_ids().collect::<Vec<_>>(), up);
}

#[test]
fn forgetting_an_agent_asks_first_and_only_for_disconnected_ones() {
    let mut a = app(60);
    let connected = selected(&a);
    assert!(a.snapshot.get(&connected).unwrap().is_connected());
    assert_eq!(press(&mut a, &["D"]), vec![]);
    assert!(a.confirm.is_none());
    assert!(a.flash.as_ref().unwrap().text.contains("is connected"));

    press(&mut a, &["/"]);
    type_text(&mut a, "status=down");
    press(&mut a, &["enter"]);
    let down = selected(&a);
    assert!(!a.snapshot.get(&down).unwrap().is_connected());
    assert_eq!(press(&mut a, &["D"]), vec![], "D only asks");
    let asked = a.confirm.clone().expect("forget asks");
    assert!(asked.ask.title.starts_with("Forget "), "{asked:?}");
    assert_eq!(press(&mut a, &["n"]), vec![], "n declines");
    assert_eq!(press(&mut a, &["D", "y"]), vec![Effect::ForgetAgent(down)]);
}

/// The filter `/` types, against the seeded fleet.
mod filter {
    use std::sync::Arc;

    use fleetdeck::fleet::agent::RemoteConfigState;
    use fleetdeck::tui::SortKey;
    use fleetdeck::tui::agents::filter::Filter;
    use fleetdeck::tui::agents::index::AgentIndex;

    use super::seed;

    fn names(filter: &str) -> Vec<String> {
        let snap = Arc::new(seed::fleet(60, 1));
        let mut idx = AgentIndex::default();
        idx.update(&snap, SortKey::Name, false, &Filter::parse(filter));
        idx.visible()
            .iter()
            .map(|i| snap.agents[*i as usize].name.to_string())
            .collect()
    }

    #[test]
    fn text_terms_are_case_insensitive_substrings_and_anded() {
        let got = names("GATEWAY eu");
        assert!(!got.is_empty());
        assert!(got.iter().all(|n| n.starts_with("gateway-eu")), "{got:?}");
        // A needle never matches across the end of one agent into the next.
        assert!(names("01\u{1}edge").len() == names("01edge").len());
    }

    #[test]
    fn labels_match_whole_pairs_and_negation_inverts() {
        let prod = names("env=prod");
        let staging = names("env=staging");
        assert_eq!(prod.len() + staging.len(), 60);
        assert!(names("env=pro").is_empty(), "label values match exactly");
        assert_eq!(names("!env=prod"), {
            let mut s = staging.clone();
            s.sort();
            s
        });
    }

    #[test]
    fn fields_and_ids() {
        let snap = seed::fleet(60, 1);
        let down = snap.agents.iter().filter(|a| !a.is_connected()).count();
        assert_eq!(names("status=down").len(), down);
        let failed = snap
            .agents
            .iter()
            .filter(|a| {
                a.remote_config_status
                    .as_ref()
                    .is_some_and(|s| s.state == RemoteConfigState::Failed)
            })
            .count();
        assert_eq!(names("config=failed").len(), failed);
        let a = &snap.agents[7];
        let id = a.id.to_string();
        assert_eq!(
            names(&id[24..]),
            vec![a.name.to_string()],
            "an id fragment finds its agent"
        );
        let hash = hex::encode(&a.remote_config_status.as_ref().unwrap().last_hash[..4]);
        let same_config = names(&format!("config={hash}"));
        assert!(same_config.contains(&a.name.to_string()) && same_config.len() < 60);
        assert_eq!(
            names(&format!("name={}", a.name.to_uppercase())),
            vec![a.name.clone()]
        );
    }
}

#[test]
fn sorting_by_last_seen_puts_the_most_recently_seen_first() {
    let mut a = app(40);
    press(&mut a, &["L"]);
    let seen: Vec<std::time::SystemTime> = a
        .shown_ids()
        .map(|id| a.snapshot.get(&id).unwrap().last_seen)
        .collect();
    assert!(
        seen.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {:?}",
        seen.iter()
            .map(|t| seed::now()
                .duration_since(*t)
                .map(|d| d.as_secs())
                .unwrap_or(0))
            .collect::<Vec<_>>()
    );
    press(&mut a, &["I"]);
    let seen: Vec<std::time::SystemTime> = a
        .shown_ids()
        .map(|id| a.snapshot.get(&id).unwrap().last_seen)
        .collect();
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "inverted: oldest first"
    );

    // Two agents seen within one second of each other are still told apart (whole
    // seconds tied them, and the table showed 6s above 5s).
    let mut snap = seed::fleet(3, 1);
    let base = std::time::UNIX_EPOCH + Duration::from_secs(1_767_268_790);
    for (i, agent) in snap.agents.iter_mut().enumerate() {
        let a = Arc::make_mut(agent);
        a.last_seen = base + Duration::from_millis(100 + 400 * i as u64);
    }
    let newest = snap.agents[2].id;
    let oldest = snap.agents[0].id;
    let mut b = app(3);
    b.set_snapshot(Arc::new(snap));
    press(&mut b, &["L"]);
    let order: Vec<AgentId> = b.shown_ids().collect();
    assert_eq!(order.first(), Some(&newest));
    assert_eq!(order.last(), Some(&oldest));
}

#[test]
fn the_palette_completes_configuration_and_agent_names() {
    let mut a = app(20);
    let target = a.snapshot.agents[3].clone();
    press(&mut a, &[":"]);
    type_text(&mut a, "edit web-f");
    press(&mut a, &["tab"]);
    assert_eq!(
        a.input,
        Some(fleetdeck::tui::input::Input::Palette {
            text: "edit web-frontend".into()
        })
    );
    press(&mut a, &["ctrl+u"]);
    // Agent names after `agents`: Tab completes, Enter opens the agent.
    let partial: String = target.name.chars().take(target.name.len() - 1).collect();
    type_text(&mut a, &format!("agents {partial}"));
    let screen = render_text(&a);
    assert!(
        screen.contains(&format!(":agents {}", target.name)),
        "{screen}"
    );
    press(&mut a, &["tab", "enter"]);
    assert_eq!(a.route(), Route::Detail(target.id));
}

#[test]
fn attached_the_header_names_the_server_and_quitting_does_not_ask_about_the_fleet() {
    use fleetdeck::tui::{Link, LinkState};
    let mut a = app(5);
    a.set_link(Some(Link {
        server: "https://fleet.example.net:4321".into(),
        state: LinkState::Live,
    }));
    let screen = render_text(&a);
    let header = screen.lines().next().unwrap_or_default();
    assert!(
        header.contains("attached https://fleet.example.net"),
        "{header}"
    );
    assert!(
        !header.contains("opamp"),
        "the local listeners are not this fleet's: {header}"
    );
    // The stream is lost: the header says so, and how long ago.
    a.set_link(Some(Link {
        server: "https://fleet.example.net:4321".into(),
        state: LinkState::Lost {
            since: a.now - Duration::from_secs(7),
            error: "the server closed the stream".into(),
        },
    }));
    let screen = render_text(&a);
    assert!(
        screen.contains("stream lost 7s ago, reconnecting"),
        "{screen}"
    );
    // Agents are connected, but to a server that keeps running: no question.
    assert_eq!(press(&mut a, &["q"]), vec![Effect::Quit]);
    assert!(a.should_quit());
}
