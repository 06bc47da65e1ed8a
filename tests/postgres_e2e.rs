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

/// Two `fleetdeck` processes on one database; the one driving a phased rollout is
/// killed with SIGKILL half-way. Its agents move to the other (`simulate` with both
/// servers), which takes the rollout over and finishes it; every agent applied the
/// configuration once.
#[test]
fn kill_9_of_the_replica_driving_a_rollout_hands_it_to_the_other() {
    let Some(url) = common::pg::database() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let a_ports = Ports {
        opamp: free_port(),
        api: free_port(),
    };
    let b_ports = Ports {
        opamp: free_port(),
        api: free_port(),
    };
    let a = server(dir.path(), "data-a", &url, &a_ports);
    // B is not up yet: every agent finds nobody there and stays on A.
    let sim = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["simulate", "--agents", "6", "--heartbeat", "1"])
        .args([
            "--server",
            &format!("ws://127.0.0.1:{}/v1/opamp", a_ports.opamp),
        ])
        .args([
            "--server",
            &format!("ws://127.0.0.1:{}/v1/opamp", b_ports.opamp),
        ])
        .args(["--secret-key", SECRET, "--apply-delay-ms", "700"])
        .args(["--duration", "120"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the simulator starts");
    let agents = wait_agents(&a_ports, &home, "six agents on A", |l| {
        l.len() == 6 && l.iter().all(|x| x["connection"] == "connected")
    });
    let ids: Vec<String> = agents
        .iter()
        .map(|x| x["id"].as_str().expect("an id").to_string())
        .collect();
    let b = server(dir.path(), "data-b", &url, &b_ports);
    let file = home.join("edge.yaml");
    std::fs::write(&file, EDGE).expect("config file");
    cli(&a_ports, &home, &["apply", "-f", &file.to_string_lossy()]);
    cli(
        &a_ports,
        &home,
        &[
            "push",
            "edge",
            "--agents",
            &ids.join(","),
            "--initial",
            "1",
            "--multiplier",
            "1",
            "--max-per-phase",
            "1",
        ],
    );
    // Half-way: two applied, as A last stored it (B reads it from the database).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: Value = serde_json::from_str(&cli(
            &b_ports,
            &home,
            &["get", "rollout", "edge", "-o", "json"],
        ))
        .unwrap_or(Value::Null);
        if status["progress"]["applied"].as_u64().unwrap_or(0) >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rollout never got half-way: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    a.kill();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(60);
    let mut taken_over = None;
    loop {
        let status: Value = serde_json::from_str(&cli(
            &b_ports,
            &home,
            &["get", "rollout", "edge", "-o", "json"],
        ))
        .unwrap_or(Value::Null);
        if taken_over.is_none() {
            let events = cli(&b_ports, &home, &["get", "events", "-o", "json"]);
            if events.contains("taken over by this replica") {
                taken_over = Some(killed.elapsed());
            }
        }
        if status["status"]["status"] == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B did not finish the rollout: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let taken_over = taken_over.expect("B says it took the rollout over");
    eprintln!(
        "rollout taken over {taken_over:?} after kill -9, completed after {:?}",
        killed.elapsed()
    );
    assert!(taken_over < Duration::from_secs(10), "{taken_over:?}");
    wait_agents(&b_ports, &home, "every agent applied, on B", |l| {
        l.len() == 6
            && l.iter()
                .all(|x| x["connection"] == "connected" && state(x) == "applied")
    });

    // SIGINT: the simulator prints its summary.
    unsafe {
        libc::kill(sim.id() as i32, libc::SIGINT);
    }
    let out = sim.wait_with_output().expect("the simulator exits");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("configurations: 6 applied, 0 failed"),
        "each agent applied edge once: {summary}"
    );
    let (status, log) = b.stop();
    assert!(status.success(), "{log}");
}
