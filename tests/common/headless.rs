//! The built `fleetdeck` binary running headless, as an operator runs it: its stdout read
//! line by line on a thread, stopped with SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An empty settings file next to the data, so no fleetdeck.toml on the machine counts.
pub fn empty_config(dir: &Path) -> PathBuf {
    let path = dir.join("fleetdeck.toml");
    std::fs::write(&path, "").expect("settings file");
    path
}

/// `fleetdeck --no-tui` on ephemeral loopback ports with `data` as its data dir, `config`
/// as its settings file and `secret` as the agent secret; info logs.
pub fn command(data: &Path, config: &Path, secret: &str) -> Command {
    command_of(
        Path::new(env!("CARGO_BIN_EXE_fleetdeck")),
        data,
        config,
        secret,
    )
}

/// [`command`] with another copy of the binary.
pub fn command_of(exe: &Path, data: &Path, config: &Path, secret: &str) -> Command {
    command_at(exe, data, config, secret, "127.0.0.1:0", "127.0.0.1:0")
}

/// [`command_of`] on given addresses (a server restarted where its agents expect it).
pub fn command_at(
    exe: &Path,
    data: &Path,
    config: &Path,
    secret: &str,
    listen: &str,
    api_listen: &str,
) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["--no-tui", "--listen", listen, "--api-listen", api_listen])
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .env("FLEETDECK_SECRET_KEY", secret)
        .env("FLEETDECK_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

pub struct Headless {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
}

impl Headless {
    /// Starts `cmd` with stdout piped (and stderr piped too when `capture_stderr`, else
    /// shown with the test's output).
    pub fn spawn(mut cmd: Command, capture_stderr: bool) -> Headless {
        let stderr = if capture_stderr {
            Stdio::piped()
        } else {
            Stdio::inherit()
        };
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Headless {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stdout lines until one contains `needle` (fails after 30 s, showing them).
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; got:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// SIGKILL: the crash, with no chance to write anything more.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then how it exited and everything it printed (stdout lines, then stderr
    /// when captured). A server that has not exited 30 s after the signal is killed and
    /// the test fails showing what it printed, rather than hanging the run.
    pub fn stop(mut self) -> (ExitStatus, String) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        // stderr is read on a thread: a server that never exits would block the read.
        let stderr = self.child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut err = String::new();
                let _ = e.read_to_string(&mut err);
                err
            })
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                        self.seen.push(line);
                    }
                    panic!(
                        "the server did not exit within 30 s of SIGTERM; it printed:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        (status, format!("{}\n{err}", self.seen.join("\n")))
    }
}

/// The `ws://…/v1/opamp` URL in the startup banner.
pub fn ws_url(banner: &str) -> String {
    let start = banner.find("ws://").expect("ws url in the banner");
    banner[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A loopback port free right now (bound, then released), for a server that must come
/// back on the same address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Drop for Headless {
    /// A test that fails before `stop` must not leave the server running (it would keep
    /// the test's output pipes open, and the run waiting).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
