//! End to end: the real binary in `--demo` mode inside a tmux session, driven with keys,
//! its screen read back with `capture-pane`. Needs tmux (`.ci/run` installs it; outside CI the test
//! says it was skipped).

mod common;

use std::time::Duration;

use common::tmux::{EXIT_MARK, Tmux};

#[test]
fn demo_fleet_under_tmux() {
    let data = tempfile::tempdir().expect("temp dir");
    let Some(tmux) = Tmux::start(
        "e2e",
        "--demo --demo-agents 12 --listen 127.0.0.1:0 --api-listen 127.0.0.1:0",
        data.path(),
        100,
        30,
    ) else {
        return;
    };
    let screen = tmux.wait_for("Agents", Duration::from_secs(20));
    assert!(screen.contains("fleetdeck"), "header missing:\n{screen}");

    // The simulated agents connect and show up as rows.
    let screen = tmux.wait_for("12/12", Duration::from_secs(20));
    assert!(screen.contains("● up"), "{screen}");

    tmux.keys(&["?"]);
    tmux.wait_for("help · any key closes", Duration::from_secs(3));
    tmux.keys(&["Escape"]);

    tmux.keys(&["/", "z", "z", "z", "Enter"]);
    tmux.wait_for("no agent matches the filter", Duration::from_secs(3));
    tmux.keys(&["Escape"]);
    tmux.wait_for("Agents 12/12", Duration::from_secs(3));

    tmux.keys(&["Enter"]);
    tmux.wait_for("Identifying attributes", Duration::from_secs(3));
    tmux.keys(&["Escape", ":", "c", "o", "n", "f", "i", "g", "s", "Enter"]);
    tmux.wait_for("Configurations", Duration::from_secs(3));

    // A resize is survived and redrawn at the new size.
    tmux.run(&["resize-window", "-t", "fd", "-x", "130", "-y", "36"]);
    tmux.wait_for("Configurations", Duration::from_secs(3));

    // Quitting stops the server the 12 agents are connected to: asked first.
    tmux.keys(&["q"]);
    tmux.wait_for("loses its server", Duration::from_secs(3));
    tmux.keys(&["Escape"]);
    tmux.wait_for("Configurations", Duration::from_secs(3));
    tmux.keys(&["q", "y"]);
    let screen = tmux.wait_for(EXIT_MARK, Duration::from_secs(10));
    assert!(
        screen.contains(&format!("{EXIT_MARK}0]")),
        "exit status:\n{screen}"
    );
    // The alternate screen is gone: nothing of the UI is left on the normal screen.
    assert!(!screen.contains("Configurations"), "{screen}");
}
