//! TUI cost at 100,000 agents (scale goal G6): one agents-view frame, and a filter or sort
//! keystroke followed by its frame. Frames are drawn on an off-screen terminal (render plus
//! buffer diff, no terminal write), with the telemetry tails copied first as the run loop
//! does. Run: `cargo bench --bench tui_frame`.

// The seeded fleet the TUI's tests draw, shared with them.
#[path = "../tests/seed/mod.rs"]
mod seed;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use fleetdeck::tui::testing::{Screen, press, type_text};
use fleetdeck::tui::{App, AppConfig, ColorLevel, Keymap, ServerInfo};

const AGENTS: usize = 100_000;
const SIZES: [(u16, u16); 2] = [(200, 50), (120, 40)];

fn app(snap: Arc<fleetdeck::fleet::FleetSnapshot>, (w, h): (u16, u16)) -> App {
    let config = AppConfig {
        server: ServerInfo {
            listen: "0.0.0.0:4320".parse().unwrap(),
            api_listen: "127.0.0.1:4321".parse().unwrap(),
            public_url: "http://127.0.0.1:4320".into(),
            secret_file: "/tmp/secret".into(),
            version: "bench".into(),
        },
        theme: "dark".into(),
        color_level: ColorLevel::TrueColor,
        keymap: Keymap::default(),
        mouse: false,
        warnings: Vec::new(),
    };
    let mut app = App::new(config, snap, seed::now());
    app.resize(w, h);
    app
}

fn benches(c: &mut Criterion) {
    let snap = Arc::new(seed::fleet(AGENTS, 1));
    // Telemetry for the rows on screen (the first agents in id order), as a live store.
    let telemetry = seed::telemetry(&snap, 200);

    for size in SIZES {
        let label = format!("{}x{}", size.0, size.1);
        let mut a = app(snap.clone(), size);
        let mut screen = Screen::new(size.0, size.1);
        // Alternate two frames so the buffer diff has real changes to find.
        let mut flip = false;
        c.bench_function(&format!("agents_frame_100k_{label}"), |b| {
            b.iter(|| {
                flip = !flip;
                a.agents.offset = usize::from(flip);
                a.copy_tails(&telemetry);
                screen.draw(black_box(&a));
            })
        });
    }

    // The first frame of each second: every visible row's tails are decoded again (the
    // frames above, drawn for keys within a second, reuse the rows they already copied).
    let size = SIZES[0];
    let mut a = app(snap.clone(), size);
    let mut screen = Screen::new(size.0, size.1);
    let mut at = telemetry.clone();
    let mut tick = false;
    c.bench_function("agents_frame_100k_200x50_new_second", |b| {
        b.iter(|| {
            tick = !tick;
            at.now = telemetry.now - u64::from(tick);
            a.copy_tails(&at);
            screen.draw(black_box(&a));
        })
    });

    let mut a = app(snap.clone(), size);
    let mut screen = Screen::new(size.0, size.1);
    press(&mut a, &["/"]);
    type_text(&mut a, "gateway-e");
    let mut typed = false;
    c.bench_function("filter_keystroke_100k_200x50", |b| {
        b.iter(|| {
            // Each iteration is one keystroke: type `u`, or take it back.
            if typed {
                press(&mut a, &["backspace"]);
            } else {
                type_text(&mut a, "u");
            }
            typed = !typed;
            a.copy_tails(&telemetry);
            screen.draw(&a);
        })
    });

    let mut a = app(snap.clone(), size);
    c.bench_function("sort_keystroke_100k_200x50", |b| {
        b.iter(|| {
            // `N` sorts by name, and again inverts: a full re-sort each time.
            press(&mut a, &["N"]);
            a.copy_tails(&telemetry);
            screen.draw(&a);
        })
    });

    // The registry shares unchanged agents' `Arc`s between snapshots; here 1% changed
    // (a heartbeat moved their last-seen time), as with 100k agents beating every ~25 s
    // and 4 snapshots a second.
    let mut next = (*snap).clone();
    next.version = 2;
    for a in next.agents.iter_mut().step_by(100) {
        let mut changed = (**a).clone();
        changed.last_seen += std::time::Duration::from_secs(1);
        *a = Arc::new(changed);
    }
    let other = Arc::new(next);
    let mut a = app(snap.clone(), size);
    press(&mut a, &["N"]);
    let mut which = false;
    c.bench_function("new_snapshot_100k_1pct_changed_sorted_by_name", |b| {
        b.iter(|| {
            which = !which;
            a.set_snapshot(if which { other.clone() } else { snap.clone() });
        })
    });
}

criterion_group! {
    name = tui;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(tui);
