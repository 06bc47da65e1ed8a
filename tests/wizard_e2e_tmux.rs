//! End to end: the real binary with a demo fleet of two agents inside tmux. Keys alone
//! build OTLP receiver → batch → OTLP/HTTP exporter in the pipeline builder, save it,
//! push it to both agents and watch both apply it. Skipped, with a message, when tmux
//! is not installed (`.ci/run` installs it).

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

    /// Named keys (`Enter`, `Space`, `Escape`), one per entry.
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "fd", k]);
            sleep(Duration::from_millis(60));
        }
    }

    /// Literal text, one character at a time (as a person types).
    fn type_text(&self, text: &str) {
        for c in text.chars() {
            self.run(&["send-keys", "-t", "fd", "-l", &c.to_string()]);
            sleep(Duration::from_millis(30));
        }
    }

    fn wait_for(&self, text: &str, within: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                !screen.contains(EXIT_MARK) && start.elapsed() < within,
                "waited {within:?} for {text:?}; screen:\n{screen}"
            );
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

const EXIT_MARK: &str = "[fleetdeck exited: ";

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn keys_build_a_pipeline_and_push_it_to_two_demo_agents() {
    if !have_tmux() {
        eprintln!(
            "SKIPPED keys_build_a_pipeline_and_push_it_to_two_demo_agents: tmux is not installed"
        );
        return;
    }
    let data = tempfile::tempdir().expect("temp dir");
    let bin = Path::new(env!("CARGO_BIN_EXE_fleetdeck"));
    let tmux = Tmux {
        socket: format!("fleetdeck-wizard-{}", std::process::id()),
    };
    let cmd = format!(
        "{} --demo --demo-agents 2 --data-dir {} --listen 127.0.0.1:0 \
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
        "120",
        "-y",
        "40",
        "-e",
        "TERM=tmux-256color",
        "-e",
        "NO_COLOR=",
        &cmd,
    ]);
    assert!(started.status.success(), "tmux new-session: {started:?}");
    let long = Duration::from_secs(25);
    let short = Duration::from_secs(5);
    tmux.wait_for("2/2", long);

    // 1: the OTLP source, found by searching.
    tmux.keys(&["n"]);
    tmux.wait_for("New configuration › 1 Sources", short);
    tmux.keys(&["/"]);
    tmux.type_text("otlp");
    tmux.keys(&["Enter", "Space"]);
    tmux.wait_for("chosen: otlp", short);
    // 2: its form keeps the defaults.
    tmux.keys(&["n"]);
    tmux.wait_for("› 2 Configure", short);
    tmux.wait_for("Listen address", short);
    // 3: a batch processor.
    tmux.keys(&["n"]);
    tmux.wait_for("› 3 Processors", short);
    tmux.keys(&["a"]);
    tmux.wait_for("add a processor", short);
    tmux.type_text("batch");
    tmux.keys(&["Enter"]);
    tmux.wait_for("added", short);
    // 4: the OTLP/HTTP exporter with its required endpoint.
    tmux.keys(&["n"]);
    tmux.wait_for("› 4 Destinations", short);
    tmux.keys(&["a"]);
    tmux.type_text("otlphttp");
    tmux.keys(&["Enter"]);
    tmux.wait_for("is required", short);
    tmux.keys(&["Enter"]);
    tmux.type_text("http://127.0.0.1:4318");
    tmux.keys(&["Enter"]);
    // 5: the review renders it without problems.
    tmux.keys(&["n"]);
    let review = tmux.wait_for("no problems", short);
    assert!(review.contains("otlphttp/"), "{review}");
    // 6: named and saved.
    tmux.keys(&["n"]);
    tmux.wait_for("› 6 Save", short);
    tmux.type_text("edge-otlp");
    tmux.keys(&["Enter", "Enter"]);
    tmux.wait_for("created edge-otlp version 1", short);
    // 7: both agents marked and pushed; the rollout is followed until both applied.
    tmux.keys(&["n"]);
    tmux.wait_for("marked agents", short);
    tmux.keys(&["*"]);
    tmux.wait_for("2 of 2 agents marked", short);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Rollout of edge-otlp:1", short);
    let done = tmux.wait_for("completed", long);
    assert!(done.contains("2 applied"), "{done}");
    assert_eq!(done.matches("✓ applied").count(), 2, "{done}");

    // Leaving the builder goes back to the agents, which now run edge-otlp.
    tmux.keys(&["Escape"]);
    tmux.wait_for("edge-otlp", short);
    tmux.keys(&["q"]);
    let screen = tmux.wait_for(EXIT_MARK, Duration::from_secs(10));
    assert!(
        screen.contains(&format!("{EXIT_MARK}0]")),
        "exit status:\n{screen}"
    );
}
