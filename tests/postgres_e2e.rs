//! The real `fleetdeck` binary on `--store postgres://…` with simulated agents: apply a
//! configuration, push it, label an agent, restart the server with another (empty) data
//! dir — what the fleet knew is in the database, and comes back. And a database that
//! cannot be reached stops the server at start, named without its password.
//! PostgreSQL from `tests/common/pg.rs`: SKIPPED without it, failing under CI.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::headless::{Headless, command_at, empty_config, free_port};
use common::{API_TOKEN, EDGE, SECRET};
use serde_json::Value;

const PASSWORD: &str = "pg-hunter2";

struct Ports {
    opamp: u16,
    api: u16,
}

fn server(dir: &Path, data: &str, store: &str, ports: &Ports) -> Headless {
    let mut cmd = command_at(
        Path::new(env!("CARGO_BIN_EXE_fleetdeck")),
        &dir.join(data),
        &empty_config(dir),
        SECRET,
        &format!("127.0.0.1:{}", ports.opamp),
        &format!("127.0.0.1:{}", ports.api),
    );
    cmd.env("FLEETDECK_API_TOKEN", API_TOKEN)
        .env("FLEETDECK_STORE", store);
    let mut s = Headless::spawn(cmd, true);
    s.wait_for_line("ws://");
    s
}

fn simulate(ports: &Ports) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["simulate", "--agents", "3", "--heartbeat", "1"])
        .args([
            "--server",
            &format!("ws://127.0.0.1:{}/v1/opamp", ports.opamp),
        ])
        .args(["--secret-key", SECRET, "--apply-delay-ms", "100"])
        .args(["--duration", "120"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the simulator starts")
}

fn cli(ports: &Ports, home: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env(
            "FLEETDECK_SERVER",
            format!("http://127.0.0.1:{}", ports.api),
        )
        .env("FLEETDECK_API_TOKEN", API_TOKEN)
        .stdin(Stdio::null())
        .output()
        .expect("the CLI runs");
    assert!(
        out.status.success(),
        "fleetdeck {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `get agents -o json` until `pred` holds for the list (60 s).
fn wait_agents(
    ports: &Ports,
    home: &Path,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        let list: Value = serde_json::from_str(&cli(ports, home, &["get", "agents", "-o", "json"]))
            .expect("agents as JSON");
        last = list.as_array().cloned().unwrap_or_default();
        if pred(&last) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("timed out waiting for {what}; last seen: {last:#?}");
}

fn state(a: &Value) -> &str {
    a["config"]["state"].as_str().unwrap_or("")
}

fn all(agents: &[Value], pred: impl Fn(&Value) -> bool) -> bool {
    agents.len() == 3 && agents.iter().all(pred)
}

#[test]
fn the_fleet_survives_a_restart_in_postgres_not_in_the_data_dir() {
    let Some(url) = common::pg::database() else {
        return;
    };
    let store = common::pg::with_password(&url, PASSWORD);
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let ports = Ports {
        opamp: free_port(),
        api: free_port(),
    };

    let first = server(dir.path(), "data-1", &store, &ports);
    let mut sim = simulate(&ports);
    let agents = wait_agents(&ports, &home, "three agents connected", |a| {
        all(a, |x| x["connection"] == "connected")
    });
    let ids: Vec<String> = agents
        .iter()
        .map(|a| a["id"].as_str().expect("an id").to_string())
        .collect();
    let file = home.join("edge.yaml");
    std::fs::write(&file, EDGE).expect("config file");
    let applied = cli(&ports, &home, &["apply", "-f", &file.to_string_lossy()]);
    assert!(applied.contains("created"), "{applied}");
    cli(
        &ports,
        &home,
        &["push", "edge", "--agents", &ids.join(","), "--all-at-once"],
    );
    wait_agents(&ports, &home, "edge applied everywhere", |a| {
        all(a, |x| state(x) == "applied")
    });
    cli(&ports, &home, &["label", "agent", &ids[0], "team=edge"]);
    let (status, out) = first.stop();
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&url) && !out.contains(PASSWORD),
        "the banner names the store without its password:\n{out}"
    );

    // Another data dir: whatever comes back came from the database.
    let second = server(dir.path(), "data-2", &store, &ports);
    let back = wait_agents(&ports, &home, "the agents back, still applied", |a| {
        all(a, |x| {
            x["connection"] == "connected" && state(x) == "applied"
        })
    });
    let labelled = back
        .iter()
        .find(|a| a["id"] == ids[0].as_str())
        .expect("the labelled agent");
    assert_eq!(labelled["labels"]["team"], "edge", "{labelled:#}");
    let again = cli(&ports, &home, &["apply", "-f", &file.to_string_lossy()]);
    assert!(again.contains("unchanged"), "versions survive: {again}");
    let history: Value = serde_json::from_str(&cli(
        &ports,
        &home,
        &["get", "agent", &ids[1], "--history", "-o", "json"],
    ))
    .expect("history as JSON");
    let text = history.to_string();
    assert!(text.contains("edge") && text.contains("applied"), "{text}");

    let _ = sim.kill();
    let _ = sim.wait();
    let (status, out) = second.stop();
    assert!(status.success(), "{out}");
    assert!(!out.contains(PASSWORD), "{out}");
}

#[test]
fn an_unreachable_database_stops_the_start_naming_it_without_its_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args([
            "--no-tui",
            "--listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(empty_config(dir.path()))
        .args([
            "--store",
            &format!("postgres://fleet:{PASSWORD}@127.0.0.1:{port}/fleet"),
        ])
        .env("FLEETDECK_SECRET_KEY", SECRET)
        .stdin(Stdio::null())
        .output()
        .expect("fleetdeck runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "cannot reach the PostgreSQL database postgres://fleet@127.0.0.1:{port}/fleet"
        )),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
}
