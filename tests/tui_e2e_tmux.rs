//! End to end: the real binary in `--demo` mode inside a tmux session, driven with keys,
//! its screen read back with `capture-pane`. Skipped, with a message, when tmux is not
//! installed (`.ci/run` installs it) or when this build's binary has no demo mode yet.

use std::path::Path;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A private tmux server (its own socket), killed when the test ends however it ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "fd"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "fd", k]);
            sleep(Duration::from_millis(80));
        }
    }

    /// Waits until the screen contains `text`; `Err(screen)` if the program exited first
    /// or the time ran out.
    fn wait_for(&self, text: &str, within: Duration) -> Result<String, String> {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return Ok(screen);
            }
            if screen.contains(EXIT_MARK) || start.elapsed() > within {
                return Err(screen);
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Printed by the wrapper shell when fleetdeck exits, followed by its status.
const EXIT_MARK: &str = "[fleetdeck exited: ";

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn demo_fleet_under_tmux() {
    if !have_tmux() {
        eprintln!("SKIPPED demo_fleet_under_tmux: tmux is not installed");
        return;
    }
    let data = tempfile::tempdir().expect("temp dir");
    let bin = Path::new(env!("CARGO_BIN_EXE_fleetdeck"));
    let tmux = Tmux {
        socket: format!("fleetdeck-e2e-{}", std::process::id()),
    };
    // The shell keeps the pane open after fleetdeck exits, so its last words and exit
    // status stay readable.
    let cmd = format!(
        "{} --demo --demo-agents 12 --data-dir {} --listen 127.0.0.1:0 \
         --api-listen 127.0.0.1:0; echo \"{EXIT_MARK}$?]\"; sleep 60",
        bin.display(),
        data.path().display()
    );
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "fd",
        "-x",
        "100",
        "-y",
        "30",
        "-e",
        "TERM=tmux-256color",
        "-e",
        "NO_COLOR=",
        &cmd,
    ]);
    assert!(started.status.success(), "tmux new-session: {started:?}");

    let screen = match tmux.wait_for("Agents", Duration::from_secs(20)) {
        Ok(s) => s,
        Err(screen) => {
            let lower = screen.to_lowercase();
            if lower.contains("not wired") || lower.contains("not available") {
                eprintln!(
                    "SKIPPED demo_fleet_under_tmux: this build has no demo mode yet:\n{}",
                    screen.trim()
                );
                return;
            }
            panic!("the TUI did not come up within 20 s; screen:\n{screen}");
        }
    };
    assert!(screen.contains("fleetdeck"), "header missing:\n{screen}");

    // The simulated agents connect and show up as rows.
    let screen = tmux
        .wait_for("12/12", Duration::from_secs(20))
        .unwrap_or_else(|s| panic!("the demo agents never all connected:\n{s}"));
    assert!(screen.contains("● up"), "{screen}");

    tmux.keys(&["?"]);
    tmux.wait_for("help · any key closes", Duration::from_secs(3))
        .unwrap_or_else(|s| panic!("? did not open the help:\n{s}"));
    tmux.keys(&["Escape"]);

    tmux.keys(&["/", "z", "z", "z", "Enter"]);
    tmux.wait_for("no agent matches the filter", Duration::from_secs(3))
        .unwrap_or_else(|s| panic!("filtering did not apply:\n{s}"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("Agents 12/12", Duration::from_secs(3))
        .unwrap_or_else(|s| panic!("esc did not clear the filter:\n{s}"));

    tmux.keys(&["Enter"]);
    tmux.wait_for("Identifying attributes", Duration::from_secs(3))
        .unwrap_or_else(|s| panic!("enter did not open the agent:\n{s}"));
    tmux.keys(&["Escape", ":", "c", "o", "n", "f", "i", "g", "s", "Enter"]);
    tmux.wait_for("Configurations", Duration::from_secs(3))
        .unwrap_or_else(|s| panic!(":configs did not switch views:\n{s}"));

    // A resize is survived and redrawn at the new size.
    tmux.run(&["resize-window", "-t", "fd", "-x", "130", "-y", "36"]);
    tmux.wait_for("Configurations", Duration::from_secs(3))
        .unwrap_or_else(|s| panic!("no redraw after resize:\n{s}"));

    tmux.keys(&["q"]);
    let screen = tmux
        .wait_for(EXIT_MARK, Duration::from_secs(10))
        .unwrap_or_else(|s| panic!("q did not quit:\n{s}"));
    assert!(
        screen.contains(&format!("{EXIT_MARK}0]")),
        "exit status:\n{screen}"
    );
    // The alternate screen is gone: nothing of the UI is left on the normal screen.
    assert!(!screen.contains("Configurations"), "{screen}");
}
