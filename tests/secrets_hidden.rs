//! Secrets never reach the output: the built binary runs headless with the most verbose
//! logs, a known agent secret and API token, real agents (the simulator, over WebSocket and
//! HTTP, pushing their own metrics with per-agent tokens) and an agent with a wrong secret;
//! nothing either process prints contains any of those credentials.

mod common;

use std::process::{Command, Stdio};

use common::headless::{self, Headless, empty_config, ws_url};

const SECRET: &str = "s3cr3t-agent-key-6e1b0c";
const API_TOKEN: &str = "api-t0ken-9f3a7d";
const WRONG: &str = "wr0ng-guess-77aa";

fn start_server(data: &std::path::Path) -> Headless {
    let mut cmd = headless::command(data, &empty_config(data), SECRET);
    cmd.env("FLEETDECK_API_TOKEN", API_TOKEN)
        // Every level, every module: dependencies' logs count too.
        .env("FLEETDECK_LOG", "trace");
    Headless::spawn(cmd, true)
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
    let ws = ws_url(&banner);
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

    let (status, output) = server.stop();
    assert!(status.success(), "server exit: {status:?}\n{output}");
    assert!(output.contains("agent disconnected"), "{output}");
    assert_no_credentials("the server", &output);
}
