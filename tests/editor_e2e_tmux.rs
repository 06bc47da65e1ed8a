//! End to end: `e` in the builder's review step hands the terminal to `$EDITOR` and takes
//! it back. It used to stop fleetdeck, and with it the server and the fleet ("The cursor
//! position could not be read within a normal duration"). Both a real editor (vim, driven
//! with keys) and one that returns at once (`true`) must bring the builder back with the
//! server still running. Needs tmux (and vim for the first test).

mod common;

use std::process::Command;
use std::time::Duration;

use common::tmux::{EXIT_MARK, Tmux};

const DEMO: &str = "--demo --demo-agents 2 --listen 127.0.0.1:0 --api-listen 127.0.0.1:0";

/// Opens the demo's `web-tier` in the builder and goes on to the review step.
fn open_review(tmux: &Tmux) {
    tmux.wait_for("2/2", Duration::from_secs(25));
    tmux.keys(&[":"]);
    tmux.type_text("edit web-tier");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Edit web-tier", Duration::from_secs(5));
    for _ in 0..4 {
        tmux.keys(&["n"]);
    }
    tmux.wait_for("no problems", Duration::from_secs(5));
}

/// The builder is back, the fleet still served, and `q` (answered) ends with status 0.
/// Leaving an edited builder asks whether to discard the edit (`discard`).
fn still_running_then_quit(tmux: &Tmux, discard: bool) {
    let screen = tmux.wait_for("2/2 up", Duration::from_secs(5));
    assert!(!screen.contains(EXIT_MARK), "{screen}");
    tmux.keys(&["Escape"]);
    if discard {
        tmux.wait_for("Leave the builder?", Duration::from_secs(5));
        tmux.keys(&["y"]);
    }
    tmux.wait_for("Agents 2/2", Duration::from_secs(5));
    tmux.keys(&["q"]);
    // Agents are connected, so quitting asks first.
    tmux.wait_for("loses its server", Duration::from_secs(5));
    tmux.keys(&["y"]);
    let screen = tmux.wait_for(EXIT_MARK, Duration::from_secs(10));
    assert!(
        screen.contains(&format!("{EXIT_MARK}0]")),
        "exit status:\n{screen}"
    );
}

#[test]
fn a_real_editor_edits_the_yaml_and_the_server_keeps_running() {
    let have_vim = Command::new("vim")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_vim {
        assert!(
            std::env::var_os("CI").is_none(),
            "vim is not installed (apt install vim)"
        );
        eprintln!("SKIPPED editor: vim is not installed (apt install vim)");
        return;
    }
    let data = tempfile::tempdir().expect("temp dir");
    let Some(tmux) = Tmux::start_with_env(
        "editor-vim",
        DEMO,
        &[("EDITOR", "vim -u NONE -i NONE -N"), ("VISUAL", "")],
        data.path(),
        100,
        30,
    ) else {
        return;
    };
    open_review(&tmux);
    tmux.keys(&["e"]);
    tmux.wait_for("fleetdeck-config-", Duration::from_secs(5));
    // A comment on top: the edited YAML differs and is checked when vim returns.
    tmux.keys(&["g", "g", "O"]);
    tmux.type_text("# edited in vim");
    tmux.keys(&["Escape"]);
    tmux.type_text(":wq");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("raw configuration checked", Duration::from_secs(5));
    assert!(screen.contains("Review"), "{screen}");
    still_running_then_quit(&tmux, true);
}

#[test]
fn an_editor_that_returns_at_once_brings_the_builder_back() {
    let data = tempfile::tempdir().expect("temp dir");
    let Some(tmux) = Tmux::start_with_env(
        "editor-true",
        DEMO,
        &[("EDITOR", "true"), ("VISUAL", "")],
        data.path(),
        100,
        30,
    ) else {
        return;
    };
    open_review(&tmux);
    // Twice: the second round trip must work as the first did.
    for _ in 0..2 {
        tmux.keys(&["e"]);
        let screen = tmux.wait_for("unchanged", Duration::from_secs(5));
        assert!(screen.contains("Review"), "{screen}");
    }
    still_running_then_quit(&tmux, false);
}
