//! Every view drawn from a seeded fleet at 80×24 and 120×40, compared with the committed
//! insta snapshots (`cargo insta review` to accept intended changes).

mod seed;

use std::sync::Arc;
use std::time::Duration;

use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::attempt::{ApplyAttempt, AttemptResult};
use fleetdeck::fleet::delivery::ConfigRef;
use fleetdeck::tui::Effect;
use fleetdeck::tui::configs::ConfigsMsg;
use fleetdeck::tui::detail::HistoryLoaded;
use fleetdeck::tui::testing::{press, render_text, type_text};
use fleetdeck::tui::{App, AppConfig, ColorLevel, Keymap, ServerInfo};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn server() -> ServerInfo {
    ServerInfo {
        listen: "0.0.0.0:4320".parse().unwrap(),
        api_listen: "127.0.0.1:4321".parse().unwrap(),
        public_url: "http://fleet.example.net:4320".into(),
        secret_file: "/var/lib/fleetdeck/agent-secret".into(),
        version: "0.1.0".into(),
    }
}

fn app(agents: usize, (w, h): (u16, u16)) -> App {
    let snap = Arc::new(seed::fleet(agents, 1));
    let config = AppConfig {
        server: server(),
        theme: "dark".into(),
        color_level: ColorLevel::TrueColor,
        keymap: Keymap::default(),
        mouse: false,
        warnings: Vec::new(),
    };
    let mut app = App::new(config, snap.clone(), seed::now());
    for e in seed::events(&snap) {
        app.push_event(e);
    }
    app.resize(w, h);
    app
}

/// Copies the telemetry the frame needs (as the run loop does), then draws.
fn shot(app: &mut App) -> String {
    let telemetry = seed::telemetry(&app.snapshot.clone(), usize::MAX);
    app.copy_tails(&telemetry);
    render_text(app)
}

fn check(name: &str, setup: impl Fn(&mut App)) {
    for size in SIZES {
        let mut a = app(40, size);
        setup(&mut a);
        let text = shot(&mut a);
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), text);
    }
}

#[test]
fn agents_view() {
    check("agents", |_| {});
}

#[test]
fn agents_filtered_sorted_and_marked() {
    check("agents_filtered", |a| {
        press(a, &["/"]);
        type_text(a, "env=prod !status=down");
        press(a, &["enter", "N", "space", "space"]);
    });
}

#[test]
fn filter_input_open() {
    check("filter_input", |a| {
        press(a, &["/"]);
        type_text(a, "edge");
    });
}

#[test]
fn agent_detail_sections() {
    for (section, keys) in [
        ("overview", &[][..]),
        ("telemetry", &["tab"][..]),
        ("health", &["tab", "tab"][..]),
        ("config", &["tab", "tab", "tab"][..]),
    ] {
        check(&format!("detail_{section}"), |a| {
            // The first agent whose configuration failed (it is unhealthy too).
            let target = a.shown_ids().position(|id| {
                a.snapshot.get(&id).is_some_and(|v| {
                    v.remote_config_status
                        .as_ref()
                        .is_some_and(|s| !s.error_message.is_empty())
                })
            });
            for _ in 0..target.unwrap_or(0) {
                press(a, &["j"]);
            }
            press(a, &["enter"]);
            press(a, keys);
        });
    }
}

/// The history a failed agent's detail shows: what it runs now refused, the version before
/// it applied and then rolled back to, a push superseded and one that stalled.
fn history_of(a: &App, id: AgentId) -> Vec<ApplyAttempt> {
    let now = seed::now();
    let failed = a
        .snapshot
        .get(&id)
        .and_then(|v| v.config.clone())
        .expect("a seeded assignment");
    let ago = |s: u64| now - Duration::from_secs(s);
    let attempt = |version: u64, byte: u8, result: AttemptResult, at: u64| ApplyAttempt {
        agent: id,
        config: ConfigRef {
            name: failed.config.name.clone(),
            version,
        },
        hash: [byte; 32],
        result,
        message: String::new(),
        assigned_at: ago(at + 5),
        finished_at: ago(at),
        rolled_back: false,
        rollback: false,
    };
    let v = failed.config.version;
    vec![
        ApplyAttempt {
            hash: failed.hash,
            message: failed.error.clone(),
            finished_at: failed.since,
            ..attempt(v, 0, AttemptResult::Failed, 0)
        },
        ApplyAttempt {
            rollback: true,
            ..attempt(v - 1, 0xa1, AttemptResult::Applied, 700)
        },
        ApplyAttempt {
            rolled_back: true,
            message: "exporters::otlphttp: connection refused after 3 retries; the Collector \
                      exited and the last good configuration was restored"
                .into(),
            ..attempt(v, 0xb2, AttemptResult::Failed, 760)
        },
        ApplyAttempt {
            message: format!(
                "replaced by {}:{v} before the agent answered",
                failed.config.name
            ),
            ..attempt(v - 1, 0xc3, AttemptResult::Superseded, 3_600)
        },
        ApplyAttempt {
            message: "no answer from the agent".into(),
            ..attempt(v - 1, 0xa1, AttemptResult::Stalled, 7_200)
        },
    ]
}

#[test]
fn agent_detail_history() {
    check("detail_history", |a| {
        let target = a.shown_ids().position(|id| {
            a.snapshot
                .get(&id)
                .and_then(|v| v.config.as_ref())
                .is_some_and(|c| !c.error.is_empty())
        });
        for _ in 0..target.unwrap_or(0) {
            press(a, &["j"]);
        }
        press(a, &["enter", "tab", "tab", "tab", "tab"]);
        let id = a.agents.selected.expect("an agent");
        assert_eq!(a.due_effects(seed::now()), [Effect::LoadHistory(id)]);
        let result = Ok(history_of(a, id));
        a.history_loaded(HistoryLoaded { agent: id, result });
    });
}

#[test]
fn agent_detail_flow() {
    check("detail_flow", |a| {
        press(a, &["enter", "tab", "tab", "tab", "tab", "tab"]);
        let id = a.agents.selected.expect("an agent");
        assert_eq!(a.due_effects(seed::now()), [Effect::LoadFlow(id)]);
        let answer = flow_answer();
        let result = Ok(fleetdeck::throughput::AgentThroughput {
            id,
            name: "edge".into(),
            config: Some("edge-gateway:2".into()),
            pipelines: answer.pipelines,
            components: answer.components,
        });
        a.flow_loaded(fleetdeck::tui::detail::FlowLoaded { agent: id, result });
    });
}

fn configs_loaded(a: &mut App) {
    press(a, &["2"]);
    let data = seed::catalog_data(&a.snapshot);
    a.configs_message(ConfigsMsg::Refreshed(Ok(data)));
}

fn config_detail(a: &mut App) {
    configs_loaded(a);
    press(a, &["enter"]);
    a.configs_message(ConfigsMsg::Versions {
        name: "edge-gateway".into(),
        result: Ok(seed::config_versions("edge-gateway")),
    });
}

#[test]
fn configurations_view() {
    check("configs", configs_loaded);
}

#[test]
fn configurations_before_the_catalog_answers() {
    check("configs_loading", |a| {
        press(a, &["2"]);
    });
}

#[test]
fn configuration_detail_with_agents_and_rollout() {
    check("config_detail", config_detail);
}

#[test]
fn configuration_detail_on_an_older_version() {
    check("config_detail_v1", |a| {
        config_detail(a);
        press(a, &["j"]);
    });
}

#[test]
fn configuration_diff_between_versions() {
    check("config_diff", |a| {
        config_detail(a);
        press(a, &["d"]);
        a.configs_message(ConfigsMsg::Diff {
            name: "edge-gateway".into(),
            from: 1,
            to: 2,
            result: Ok(seed::config_diff()),
        });
    });
}

/// What the server answers for edge-gateway's flow: a filelog and an OTLP source (the
/// second silent), a filter dropping a quarter, a backend that takes everything and one
/// that fails.
fn flow_answer() -> fleetdeck::throughput::ConfigurationThroughput {
    use fleetdeck::fleet::telemetry::Signal;
    use fleetdeck::throughput::{ComponentThroughput, ConfigurationThroughput, PipelineLayout};
    let row =
        |id: &str, kind: &str, step: &str, label: &str, dest: Option<&str>| ComponentThroughput {
            id: id.into(),
            kind: kind.into(),
            step: Some(step.into()),
            label: Some(label.into()),
            destination: dest.map(str::to_string),
            signal: Signal::Logs,
            received: 0.0,
            out: 0.0,
            refused: 0.0,
            dropped: 0.0,
            failed: 0.0,
            queue_size: None,
            queue_capacity: None,
        };
    let mut src = row(
        "filelog/source0",
        "receiver",
        "source",
        "sources[0] (filelog)",
        None,
    );
    (src.received, src.out) = (1240.0, 1240.0);
    let silent = row(
        "otlp/source1",
        "receiver",
        "source",
        "sources[1] (otlp)",
        None,
    );
    let mut filter = row(
        "filter/processor0",
        "processor",
        "processor",
        "processors[0] (filter)",
        None,
    );
    (filter.received, filter.out, filter.dropped) = (1240.0, 930.0, 310.0);
    let mut good = row(
        "otlphttp/backend",
        "exporter",
        "destination",
        "destinations[0] (Destination backend)",
        Some("backend"),
    );
    (
        good.received,
        good.out,
        good.queue_size,
        good.queue_capacity,
    ) = (930.0, 930.0, Some(40.0), Some(1000.0));
    let mut bad = row(
        "otlphttp/archive",
        "exporter",
        "destination",
        "destinations[1] (Destination archive)",
        Some("archive"),
    );
    (bad.received, bad.failed, bad.queue_size, bad.queue_capacity) =
        (930.0, 930.0, Some(1000.0), Some(1000.0));
    ConfigurationThroughput {
        name: "edge-gateway".into(),
        period: 60,
        signal: None,
        agents: 12,
        reporting: 11,
        pipelines: vec![PipelineLayout {
            name: "logs".into(),
            receivers: vec!["filelog/source0".into(), "otlp/source1".into()],
            processors: vec!["filter/processor0".into()],
            exporters: vec!["otlphttp/archive".into(), "otlphttp/backend".into()],
        }],
        components: vec![src, silent, filter, good, bad],
    }
}

#[test]
fn configuration_flow_marks_a_silent_source_a_dropping_processor_and_a_failing_destination() {
    check("config_flow", |a| {
        config_detail(a);
        press(a, &["w"]);
        let asked = a.due_effects(seed::now());
        assert!(
            asked.contains(&Effect::Configs(
                fleetdeck::tui::configs::ConfigsEffect::Throughput {
                    name: "edge-gateway".into(),
                    period: 60,
                }
            )),
            "{asked:?}"
        );
        a.configs_message(ConfigsMsg::Throughput {
            name: "edge-gateway".into(),
            period: 60,
            result: Ok(flow_answer()),
        });
    });
}

#[test]
fn configurations_help_lists_the_rollout_keys() {
    check("config_help", |a| {
        config_detail(a);
        press(a, &["?"]);
    });
}

#[test]
fn events_view() {
    check("events", |a| {
        press(a, &["3", "k", "k"]);
    });
}

#[test]
fn help_overlay() {
    check("help", |a| {
        press(a, &["?"]);
    });
}

#[test]
fn command_palette() {
    check("palette", |a| {
        press(a, &[":"]);
        type_text(a, "th");
    });
}

#[test]
fn types_view() {
    check("types", |a| {
        press(a, &[":"]);
        type_text(a, "types");
        press(a, &["enter"]);
    });
}

/// `:topology`: the seeded edge agents export to a gateway name no agent has (external),
/// with their outgoing rates.
#[test]
fn topology_view() {
    check("topology", |a| {
        press(a, &[":"]);
        type_text(a, "topology");
        press(a, &["enter"]);
    });
}

#[test]
fn empty_fleet() {
    for size in SIZES {
        let mut a = app(0, size);
        let text = shot(&mut a);
        insta::assert_snapshot!(format!("empty_{}x{}", size.0, size.1), text);
    }
}

#[test]
fn too_small_screen_says_what_it_needs() {
    let mut a = app(40, (70, 20));
    let text = shot(&mut a);
    assert!(text.contains("terminal too small"), "{text}");
    assert!(text.contains("need 80×24, have 70×20"), "{text}");
    insta::assert_snapshot!("too_small_70x20", text);
}

/// An agent whose own telemetry is refused says so in its detail, with why: otherwise its
/// empty sparklines look like an idle agent.
#[test]
fn agent_detail_says_why_its_own_telemetry_is_refused() {
    let mut a = app(40, (120, 40));
    press(&mut a, &["enter"]);
    let id = a.shown_ids().next().expect("an agent");
    let telemetry = seed::telemetry(&a.snapshot.clone(), usize::MAX);
    a.copy_tails(&telemetry);
    assert!(!render_text(&a).contains("Own telemetry"));
    for _ in 0..3 {
        telemetry.store.refusals().note(id, "no credentials");
    }
    a.copy_tails(&telemetry);
    let text = render_text(&a);
    assert!(
        text.contains("Own telemetry ✕ refused: no credentials (3 requests"),
        "{text}"
    );
}

/// A store where the first agent sent 1000 logs/s until 20 s ago and 200/s since, and
/// the second a steady 100/s: what the sparklines are for.
fn drop_and_steady(snap: &fleetdeck::fleet::FleetSnapshot) -> fleetdeck::tui::StoreAt {
    use fleetdeck::fleet::telemetry::{Sample, Series, Signal, TelemetryStore, Temporality};
    let store = TelemetryStore::new();
    let now = seed::NOW_SECS;
    for t in now - 119..=now {
        for (i, a) in snap.agents.iter().take(2).enumerate() {
            let value = match i {
                0 if t + 20 > now => 200.0,
                0 => 1000.0,
                _ => 100.0,
            };
            let sample = |series| Sample {
                series: Some(series),
                part: None,
                stream: 0,
                temporality: Temporality::Gauge,
                start_ns: 0,
                time_ns: t * 1_000_000_000,
                value,
            };
            let samples = [
                sample(Series::In(Signal::Logs)),
                sample(Series::Out(Signal::Logs)),
            ];
            store.ingest_at(t, &a.id, &samples);
        }
    }
    fleetdeck::tui::StoreAt { store, now }
}

#[test]
fn sparklines_keep_a_drop_in_view_and_the_shared_scale_compares_rows() {
    let mut a = app(2, (80, 24));
    let telemetry = drop_and_steady(&a.snapshot.clone());
    a.copy_tails(&telemetry);
    let screen = render_text(&a);
    let names: Vec<String> = a
        .snapshot
        .agents
        .iter()
        .map(|x| x.name.to_string())
        .collect();
    let row = |screen: &str, i: usize| {
        let name = &names[i];
        screen
            .lines()
            .find(|l| l.contains(name.as_str()))
            .unwrap_or_default()
            .to_string()
    };
    // The last minute in 15 s cells, against the peak of two minutes: the drop 20 s ago
    // is still there (4 samples against their own maximum drew `████`).
    assert!(row(&screen, 0).contains("██▆▂  200"), "{screen}");
    assert!(row(&screen, 1).contains("████  100"), "{screen}");
    // Wider terminals draw longer sparklines over the same minute.
    a.resize(104, 24);
    a.copy_tails(&telemetry);
    let wide = render_text(&a);
    assert!(row(&wide, 0).contains("████▇▂▂  200"), "{wide}");
    a.resize(80, 24);
    // One scale for every row: the steady agent is small beside the busy one.
    press(&mut a, &["s"]);
    a.copy_tails(&telemetry);
    let shared = render_text(&a);
    assert!(shared.contains("scale:shared"), "{shared}");
    assert!(row(&shared, 1).contains("▂▂▂▂  100"), "{shared}");
    assert!(row(&shared, 0).contains("██▆▂  200"), "{shared}");
    // The help says what the bars and the `!` mean.
    press(&mut a, &["?"]);
    press(&mut a, &["j"; 60]);
    let help = render_text(&a);
    assert!(
        help.contains("failed to send some of that signal"),
        "{help}"
    );
}
