//! The README screenshots: the main views of a seeded fleet drawn off-screen and written as
//! SVG. Every run checks that the SVGs are produced, show what the views show, and are
//! the ones committed under screenshots/ (so the README never shows stale views); with
//! `FLEETDECK_SCREENSHOTS=DIR` it writes them to DIR instead (`scripts/screenshots.sh`
//! does that and converts them to PNG).

mod seed;

use std::sync::Arc;

use fleetdeck::fleet::delivery::ConfigRef;
use fleetdeck::rollout::plan::{AgentProgress, AgentStep, Progress};
use fleetdeck::rollout::{RolloutOptions, RolloutStatus, RolloutView};
use fleetdeck::tui::configs::ConfigsMsg;
use fleetdeck::tui::svg::Defaults;
use fleetdeck::tui::testing::{Screen, press, save_as, type_text};
use fleetdeck::tui::wizard::WizardMsg;
use fleetdeck::tui::{App, AppConfig, ColorLevel, Keymap, ServerInfo};

struct Shot {
    name: &'static str,
    size: (u16, u16),
    theme: &'static str,
    keys: &'static [&'static str],
    filter: Option<&'static str>,
    /// What the run loop would have fed in before the keys (e.g. fetched data), and
    /// keys and results after.
    setup: fn(&mut App),
    /// Text that must be on screen.
    expect: &'static str,
}

fn nothing(_: &mut App) {}

/// The configurations view with the catalog's answer in.
fn configs(a: &mut App) {
    press(a, &["2"]);
    let data = seed::catalog_data(&a.snapshot);
    a.configs_message(ConfigsMsg::Refreshed(Ok(data)));
}

fn config_detail(a: &mut App) {
    configs(a);
    press(a, &["enter"]);
    a.configs_message(ConfigsMsg::Versions {
        name: "edge-gateway".into(),
        result: Ok(seed::config_versions("edge-gateway")),
    });
}

fn config_diff(a: &mut App) {
    config_detail(a);
    press(a, &["d"]);
    a.configs_message(ConfigsMsg::Diff {
        name: "edge-gateway".into(),
        from: 1,
        to: 2,
        result: Ok(seed::config_diff()),
    });
}

fn wizard_sources(a: &mut App) {
    // With 100+ types, the list is searched: what a host's metrics and logs come from.
    press(a, &["n", "/"]);
    type_text(a, "host");
    press(a, &["enter", "b", "j"]);
}

fn wizard_form(a: &mut App) {
    press(a, &["n", "/"]);
    type_text(a, "filelog");
    press(a, &["enter", "enter"]);
}

fn wizard_to_review(a: &mut App) {
    press(a, &["n", "/"]);
    type_text(a, "otlp");
    press(a, &["enter", "n", "a"]);
    type_text(a, "batch");
    press(a, &["enter", "n", "a"]);
    type_text(a, "otlphttp");
    // Adding it opens its required endpoint.
    press(a, &["enter"]);
    type_text(a, "https://collector.example.net:4318");
    press(a, &["enter", "n"]);
}

fn wizard_review_diff(a: &mut App) {
    wizard_to_review(a);
    press(a, &["d"]);
}

fn wizard_rollout(a: &mut App) {
    wizard_to_review(a);
    save_as(a, "edge-otlp");
    press(
        a,
        &[
            "n", "space", "j", "space", "j", "space", "j", "space", "enter",
        ],
    );
    let ids: Vec<_> = a.snapshot.agents.iter().take(4).map(|x| x.id).collect();
    let step = |i: usize| match i {
        0 | 1 => AgentStep::Applied,
        2 => AgentStep::Failed("exporter otlphttp: connection refused".into()),
        _ => AgentStep::InFlight,
    };
    let view = RolloutView {
        started_at: None,
        config: ConfigRef {
            name: "edge-otlp".into(),
            version: 1,
        },
        status: RolloutStatus::Running,
        phases_started: 2,
        progress: Progress {
            total: 4,
            in_flight: 1,
            applied: 2,
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
                phase: Some(i / 2),
                failed: false,
                error: None,
                ..Default::default()
            })
            .collect(),
    };
    a.wizard_message(WizardMsg::Pushed(Ok(view)));
}

const SHOTS: [Shot; 15] = [
    Shot {
        name: "agents",
        size: (140, 40),
        theme: "dark",
        keys: &[],
        filter: None,
        setup: nothing,
        expect: "Recent events",
    },
    Shot {
        name: "agents-80x24",
        size: (80, 24),
        theme: "dark",
        keys: &[],
        filter: None,
        setup: nothing,
        expect: "Agents 60/60",
    },
    Shot {
        name: "agents-filtered-light",
        size: (120, 30),
        theme: "light",
        keys: &["N", "space", "space"],
        filter: Some("env=prod !status=down"),
        setup: nothing,
        expect: "2 marked",
    },
    Shot {
        name: "agent-overview",
        size: (140, 40),
        theme: "dark",
        keys: &["j", "j", "j", "enter"],
        filter: None,
        setup: nothing,
        expect: "Identifying attributes",
    },
    Shot {
        name: "agent-telemetry",
        size: (120, 30),
        theme: "dark",
        keys: &["j", "j", "enter", "tab"],
        filter: None,
        setup: nothing,
        expect: "metrics out",
    },
    Shot {
        name: "agent-health",
        size: (120, 30),
        theme: "high-contrast",
        keys: &["j", "j", "j", "enter", "tab", "tab"],
        filter: None,
        setup: nothing,
        expect: "pipeline:traces",
    },
    Shot {
        name: "configurations",
        size: (120, 30),
        theme: "dark",
        keys: &[],
        filter: None,
        setup: configs,
        expect: "running v2 ph2",
    },
    Shot {
        name: "configuration-detail",
        size: (120, 30),
        theme: "dark",
        keys: &[],
        filter: None,
        setup: config_detail,
        expect: "AGENT (18 on v2)",
    },
    Shot {
        name: "configuration-diff",
        size: (120, 30),
        theme: "dark",
        keys: &[],
        filter: None,
        setup: config_diff,
        expect: "DIFF v1 → v2",
    },
    Shot {
        name: "wizard-sources",
        size: (120, 30),
        theme: "dark",
        keys: &[],
        filter: None,
        setup: wizard_sources,
        expect: "hostmetrics",
    },
    Shot {
        name: "wizard-form",
        size: (120, 30),
        theme: "dark",
        keys: &[],
        filter: None,
        setup: wizard_form,
        expect: "include",
    },
    Shot {
        name: "wizard-review-diff",
        size: (120, 30),
        theme: "dark",
        keys: &[],
        filter: None,
        setup: wizard_review_diff,
        expect: "otlphttp",
    },
    Shot {
        name: "wizard-rollout",
        size: (120, 30),
        theme: "dark",
        keys: &[],
        filter: None,
        setup: wizard_rollout,
        expect: "connection refused",
    },
    Shot {
        name: "events",
        size: (120, 30),
        theme: "dark",
        keys: &["3"],
        filter: None,
        setup: nothing,
        expect: "connected over",
    },
    Shot {
        name: "help",
        size: (120, 40),
        theme: "dark",
        keys: &["?"],
        filter: None,
        setup: nothing,
        expect: "sort by name",
    },
];

fn render(shot: &Shot) -> (String, String) {
    let snap = Arc::new(seed::fleet(60, 1));
    let config = AppConfig {
        server: ServerInfo {
            listen: "0.0.0.0:4320".parse().unwrap(),
            api_listen: "127.0.0.1:4321".parse().unwrap(),
            public_url: "http://fleet.example.net:4320".into(),
            secret_file: "/var/lib/fleetdeck/agent-secret".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        theme: shot.theme.into(),
        color_level: ColorLevel::TrueColor,
        keymap: Keymap::default(),
        mouse: false,
        warnings: Vec::new(),
    };
    let mut app = App::new(config, snap.clone(), seed::now());
    for e in seed::events(&snap) {
        app.push_event(e);
    }
    app.resize(shot.size.0, shot.size.1);
    if let Some(f) = shot.filter {
        press(&mut app, &["/"]);
        type_text(&mut app, f);
        press(&mut app, &["enter"]);
    }
    (shot.setup)(&mut app);
    press(&mut app, shot.keys);
    app.copy_tails(&seed::telemetry(&snap, usize::MAX));
    let mut screen = Screen::new(shot.size.0, shot.size.1);
    screen.draw(&app);
    let defaults = if shot.theme == "light" {
        Defaults::LIGHT
    } else {
        Defaults::DARK
    };
    (screen.text(), screen.svg(defaults))
}

#[test]
fn screenshots_render_to_svg() {
    let out_dir = std::env::var_os("FLEETDECK_SCREENSHOTS").map(std::path::PathBuf::from);
    for shot in &SHOTS {
        let (text, svg) = render(shot);
        assert!(text.contains(shot.expect), "{}: {text}", shot.name);
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        // Each screen row with text becomes at least one <text> run; the name column is
        // escaped text, so agent names appear verbatim.
        assert!(
            svg.matches("<text ").count() >= usize::from(shot.size.1) / 2,
            "{}",
            shot.name
        );
        assert!(!svg.contains("<text></text>"));
        let first_line_word = text.split_whitespace().next().unwrap_or_default();
        assert!(svg.contains(first_line_word), "{}", shot.name);
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("{}.svg", shot.name)), svg).unwrap();
        } else {
            // The README shows these: a view that changed without them is caught here.
            let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("screenshots")
                .join(format!("{}.svg", shot.name));
            let old = std::fs::read_to_string(&committed).unwrap_or_default();
            assert!(
                old == svg,
                "{} is older than the view it shows: run scripts/screenshots.sh and commit the result",
                committed.display()
            );
        }
    }
}

#[test]
fn svg_escapes_markup_and_swaps_reversed_colours() {
    // The mono theme draws the selection reversed; the SVG must show it as a filled row.
    let shot = Shot {
        name: "mono",
        size: (80, 24),
        theme: "mono",
        keys: &[],
        filter: Some("<b>&"),
        setup: nothing,
        expect: "Agents 0/60",
    };
    let (text, svg) = render(&shot);
    assert!(text.contains("/<b>&"), "{text}");
    assert!(
        svg.contains("/&lt;b&gt;&amp;"),
        "markup in the filter is escaped"
    );
    assert!(!svg.contains("<b>"));
    // Header and footer are reversed: default foreground becomes their background.
    assert!(
        svg.contains(r##"fill="#c8d0e0"/>"##),
        "reversed cells get a background rect"
    );
}
