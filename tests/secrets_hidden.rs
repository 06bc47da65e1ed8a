//! Secrets never reach the output: the built binary runs headless with the most verbose
//! logs, a known agent secret and API token, real agents (the simulator, over WebSocket and
//! HTTP, pushing their own metrics with per-agent tokens) and an agent with a wrong secret;
//! nothing either process prints contains any of those credentials.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SECRET: &str = "s3cr3t-agent-key-6e1b0c";
const API_TOKEN: &str = "api-t0ken-9f3a7d";
const WRONG: &str = "wr0ng-guess-77aa";

struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    /// Reads stdout lines until one contains `needle` (or fails after 30 s).
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
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

    /// SIGTERM, then everything it printed (stdout lines and stderr).
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = self.child.wait().expect("server exits");
        assert!(status.success(), "server exit: {status:?}\n{err}");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        format!("{}\n{err}", self.seen.join("\n"))
    }
}

/// An empty settings file, so no fleetdeck.toml on the machine running the test counts.
fn empty_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("fleetdeck.toml");
    std::fs::write(&path, "").expect("settings file");
    path
}

fn start_server(data: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args([
            "--no-tui",
            "--listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(empty_config(data))
        .env("FLEETDECK_SECRET_KEY", SECRET)
        .env("FLEETDECK_API_TOKEN", API_TOKEN)
        // Every level, every module: dependencies' logs count too.
        .env("FLEETDECK_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    Server {
        child,
        lines,
        seen: Vec::new(),
    }
}

/// The `ws://…/v1/opamp` URL from the banner.
fn opamp_ws_url(banner: &str) -> String {
    let start = banner.find("ws://").expect("ws url in the banner");
    banner[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn simulate(url: &str, transport: &str, secret: &str, agents: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["simulate", "--server", url, "--transport", transport])
        .args(["--agents", agents, "--duration", "4", "--heartbeat", "1"])
        .args(["--metrics-interval", "1"])
        .env("FLEETDECK_SECRET_KEY", secret)
        .env("FLEETDECK_LOG", "trace")
        .stdin(Stdio::null())
        .output()
        .expect("simulator runs")
}

fn assert_no_credentials(what: &str, text: &str) {
    for secret in [SECRET, API_TOKEN, WRONG] {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
    // Per-agent OTLP tokens (derived from the secret) are credentials too.
    assert!(
        !text.contains("fdt1."),
        "{what} shows an OTLP token:\n{text}"
    );
}

#[test]
fn headless_server_and_simulator_never_print_credentials() {
    let data = tempfile::tempdir().expect("data dir");
    let mut server = start_server(data.path());
    let banner = server.wait_for_line("listening for agents");
    let ws = opamp_ws_url(&banner);
    let http = ws.replacen("ws://", "http://", 1);

    let ws_agents = simulate(&ws, "ws", SECRET, "3");
    let http_agents = simulate(&http, "http", SECRET, "2");
    let intruder = simulate(&ws, "ws", WRONG, "1");
    for (what, out) in [
        ("ws simulator", &ws_agents),
        ("http simulator", &http_agents),
        ("wrong-secret simulator", &intruder),
    ] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{what} failed:\n{text}");
        assert_no_credentials(what, &text);
    }
    // The agents were really served, and the intruder really refused, before we look.
    server.wait_for_line("agent connected");
    server.wait_for_line("refused an OpAMP request");

    let output = server.stop();
    assert!(output.contains("agent disconnected"), "{output}");
    assert_no_credentials("the server", &output);
}
