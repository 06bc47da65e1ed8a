//! The README screenshots: the main views of a seeded fleet drawn off-screen and written as
//! SVG. Every run checks that the SVGs are produced and show what the views show; with
//! `FLEETDECK_SCREENSHOTS=DIR` it also writes them to DIR (`scripts/screenshots.sh` does
//! that and converts them to PNG).

use std::sync::Arc;

use fleetdeck::tui::seed;
use fleetdeck::tui::svg::Defaults;
use fleetdeck::tui::testing::{Screen, press, type_text};
use fleetdeck::tui::{App, AppConfig, ColorLevel, Keymap, ServerInfo};

struct Shot {
    name: &'static str,
    size: (u16, u16),
    theme: &'static str,
    keys: &'static [&'static str],
    filter: Option<&'static str>,
    /// Text that must be on screen.
    expect: &'static str,
}

const SHOTS: [Shot; 9] = [
    Shot {
        name: "agents",
        size: (140, 40),
        theme: "dark",
        keys: &[],
        filter: None,
        expect: "Recent events",
    },
    Shot {
        name: "agents-80x24",
        size: (80, 24),
        theme: "dark",
        keys: &[],
        filter: None,
        expect: "Agents 60/60",
    },
    Shot {
        name: "agents-filtered-light",
        size: (120, 30),
        theme: "light",
        keys: &["N", "space", "space"],
        filter: Some("env=prod !status=down"),
        expect: "2 marked",
    },
    Shot {
        name: "agent-overview",
        size: (140, 40),
        theme: "dark",
        keys: &["j", "j", "j", "enter"],
        filter: None,
        expect: "Identifying attributes",
    },
    Shot {
        name: "agent-telemetry",
        size: (120, 30),
        theme: "dark",
        keys: &["j", "j", "enter", "tab"],
        filter: None,
        expect: "metrics out",
    },
    Shot {
        name: "agent-health",
        size: (120, 30),
        theme: "high-contrast",
        keys: &["j", "j", "j", "enter", "tab", "tab"],
        filter: None,
        expect: "pipeline:traces",
    },
    Shot {
        name: "configurations",
        size: (120, 30),
        theme: "dark",
        keys: &["2"],
        filter: None,
        expect: "as reported by agents",
    },
    Shot {
        name: "events",
        size: (120, 30),
        theme: "dark",
        keys: &["3"],
        filter: None,
        expect: "connected over",
    },
    Shot {
        name: "help",
        size: (120, 40),
        theme: "dark",
        keys: &["?"],
        filter: None,
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
