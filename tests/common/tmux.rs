//! The real binary inside a private tmux server, driven with keys and read back with
//! `capture-pane`, as a person at a terminal would use it.

use std::path::Path;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Printed by the wrapper shell when fleetdeck exits, followed by its status and `]`.
pub const EXIT_MARK: &str = "[fleetdeck exited: ";

/// A private tmux server (its own socket) with one session `fd`, killed when dropped
/// however the test ends.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `fleetdeck ARGS` in a `width`×`height` pane with a fresh data dir. The shell
    /// keeps the pane open after fleetdeck exits, so its last words and exit status stay
    /// readable. `None` (after saying why) when tmux is missing outside CI; under CI
    /// (`CI` set, where `.ci/run` installs tmux) a missing tmux fails the test.
    pub fn start(name: &str, args: &str, data: &Path, width: u16, height: u16) -> Option<Tmux> {
        Self::start_with_env(name, args, &[], data, width, height)
    }

    /// [`Tmux::start`] with extra environment variables for fleetdeck (`EDITOR`, …).
    pub fn start_with_env(
        name: &str,
        args: &str,
        env: &[(&str, &str)],
        data: &Path,
        width: u16,
        height: u16,
    ) -> Option<Tmux> {
        let args = format!("{args} --data-dir {}", data.display());
        Self::start_command(name, &args, env, width, height)
    }

    /// `fleetdeck ARGS` exactly as given (no data dir added: for client commands such as
    /// `attach`).
    pub fn start_command(
        name: &str,
        args: &str,
        env: &[(&str, &str)],
        width: u16,
        height: u16,
    ) -> Option<Tmux> {
        let have = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have {
            let msg = format!("{name}: tmux is not installed (apt install tmux)");
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("SKIPPED {msg}");
            return None;
        }
        let tmux = Tmux {
            socket: format!("fleetdeck-{name}-{}", std::process::id()),
        };
        let cmd = format!(
            "{} {args}; echo \"{EXIT_MARK}$?]\"; sleep 60",
            Path::new(env!("CARGO_BIN_EXE_fleetdeck")).display(),
        );
        let (w, h) = (width.to_string(), height.to_string());
        let mut args = vec![
            "new-session".to_string(),
            "-d".into(),
            "-s".into(),
            "fd".into(),
            "-x".into(),
            w,
            "-y".into(),
            h,
            "-e".into(),
            "TERM=tmux-256color".into(),
            "-e".into(),
            "NO_COLOR=".into(),
        ];
        for (k, v) in env {
            args.push("-e".into());
            args.push(format!("{k}={v}"));
        }
        args.push(cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = tmux.run(&args);
        assert!(started.status.success(), "tmux new-session: {started:?}");
        Some(tmux)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "fd"]).stdout).into_owned()
    }

    /// Named keys (`Enter`, `Space`, `Escape`) or single characters, one per entry.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "fd", k]);
            sleep(Duration::from_millis(70));
        }
    }

    /// Literal text, one character at a time (as a person types).
    pub fn type_text(&self, text: &str) {
        for c in text.chars() {
            self.run(&["send-keys", "-t", "fd", "-l", &c.to_string()]);
            sleep(Duration::from_millis(30));
        }
    }

    /// Waits until the screen contains `text`; `Err(screen)` if the program exited first
    /// or the time ran out.
    pub fn try_wait_for(&self, text: &str, within: Duration) -> Result<String, String> {
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

    /// Like [`Tmux::try_wait_for`], failing the test with the screen when it does not come.
    pub fn wait_for(&self, text: &str, within: Duration) -> String {
        self.try_wait_for(text, within)
            .unwrap_or_else(|screen| panic!("waited {within:?} for {text:?}; screen:\n{screen}"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
