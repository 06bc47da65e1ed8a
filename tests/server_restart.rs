//! A restart of the real `fleetdeck` binary on its own store keeps where each agent's
//! configuration stands: an agent that comes back reporting the configuration it was
//! assigned is sent nothing again, and one that stays away keeps showing `applied`.
//! The agents are our test agent on the third-party Python OpAMP client, over HTTP.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::headless::{Headless, command_at, empty_config, free_port};
use common::{API_TOKEN, EDGE, SECRET, peer_python};
use serde_json::Value;

const STAYS: &str = "0193f0c2a1b27c3d8e4f5a6b7c8d0001";
const LEAVES: &str = "0193f0c2a1b27c3d8e4f5a6b7c8d0002";

struct Ports {
    opamp: u16,
    api: u16,
}

fn server(dir: &Path, ports: &Ports) -> Headless {
    let mut cmd = command_at(
        Path::new(env!("CARGO_BIN_EXE_fleetdeck")),
        &dir.join("data"),
        &empty_config(dir),
        SECRET,
        &format!("127.0.0.1:{}", ports.opamp),
        &format!("127.0.0.1:{}", ports.api),
    );
    cmd.env("FLEETDECK_API_TOKEN", API_TOKEN);
    let mut s = Headless::spawn(cmd, true);
    s.wait_for_line("ws://");
    s
}

fn agent(python: &Path, ports: &Ports, name: &str, uid: &str, seconds: u32) -> std::process::Child {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/test_agent.py");
    std::process::Command::new(python)
        .arg(script)
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{}/v1/opamp", ports.opamp),
        ])
        .args(["--name", name, "--instance-uid", uid])
        .args(["--header", &format!("Authorization: Secret-Key {SECRET}")])
        .args(["--seconds", &seconds.to_string(), "--heartbeat", "0.3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("test agent starts")
}

/// The JSON event lines an agent printed, once it has exited (stopped first if asked).
fn finish(mut child: std::process::Child, stop: bool) -> Vec<Value> {
    if stop {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("test agent exits");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn cli(ports: &Ports, home: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
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

/// Polls `fleetdeck get agents -o json` until `pred` holds for the agent (30 s).
fn wait_agent(ports: &Ports, home: &Path, uid: &str, what: &str, pred: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let list: Value = serde_json::from_str(&cli(ports, home, &["get", "agents", "-o", "json"]))
            .expect("agents as JSON");
        let found = list.as_array().and_then(|a| {
            a.iter()
                .find(|x| x["id"].as_str().map(|i| i.replace('-', "")) == Some(uid.to_string()))
                .cloned()
        });
        if let Some(a) = found {
            if pred(&a) {
                return;
            }
            last = a;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}; last seen: {last:#}");
}

fn state(a: &Value) -> &str {
    a["config"]["state"].as_str().unwrap_or("")
}

#[test]
fn a_server_restart_keeps_applied_states_and_sends_nothing_again() {
    let Some(python) = peer_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let ports = Ports {
        opamp: free_port(),
        api: free_port(),
    };
    let first = server(dir.path(), &ports);
    let stays = agent(&python, &ports, "restart-stays", STAYS, 40);
    let leaves = agent(&python, &ports, "restart-leaves", LEAVES, 5);
    for uid in [STAYS, LEAVES] {
        wait_agent(&ports, &home, uid, "connected", |a| {
            a["connection"] == "connected"
        });
    }
    std::fs::create_dir_all(&home).expect("home");
    let file = home.join("edge.yaml");
    std::fs::write(&file, EDGE).expect("config file");
    cli(&ports, &home, &["apply", "-f", &file.to_string_lossy()]);
    cli(
        &ports,
        &home,
        &[
            "push",
            "edge",
            "--selector",
            "opamp.peer=test_agent",
            "--all-at-once",
        ],
    );
    for uid in [STAYS, LEAVES] {
        wait_agent(&ports, &home, uid, "applied", |a| state(a) == "applied");
    }
    let left = finish(leaves, false);
    let received = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["event"] == "remote_config_received")
            .count()
    };
    assert_eq!(received(&left), 1, "{left:?}");
    wait_agent(&ports, &home, LEAVES, "the leaver gone", |a| {
        a["connection"] == "disconnected"
    });

    let (status, out) = first.stop();
    assert!(status.success(), "{out}");
    let second = server(dir.path(), &ports);
    wait_agent(&ports, &home, LEAVES, "the leaver still applied", |a| {
        a["connection"] == "disconnected" && state(a) == "applied"
    });
    wait_agent(&ports, &home, STAYS, "the stayer back and applied", |a| {
        a["connection"] == "connected" && state(a) == "applied"
    });
    // A few more polls, in case something is sent late.
    std::thread::sleep(Duration::from_secs(2));
    let (status, out) = second.stop();
    assert!(status.success(), "{out}");
    let stayed = finish(stays, true);
    assert_eq!(
        received(&stayed),
        1,
        "the agent that came back reporting its configuration is not sent it again: {stayed:?}"
    );
}

/// What the API acknowledges is durable: label changes answered 200 all survive a kill -9
/// straight after the last one.
#[test]
fn acknowledged_label_changes_survive_a_crash() {
    let Some(python) = peer_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let ports = Ports {
        opamp: free_port(),
        api: free_port(),
    };
    let first = server(dir.path(), &ports);
    let agent = agent(&python, &ports, "labelled", STAYS, 30);
    wait_agent(&ports, &home, STAYS, "connected", |a| {
        a["connection"] == "connected"
    });
    for i in 0..40 {
        cli(
            &ports,
            &home,
            &["label", "agent", STAYS, &format!("k{i}=v{i}")],
        );
    }
    first.kill();
    let mut agent = agent;
    let _ = agent.kill();
    let _ = agent.wait();
    let _second = server(dir.path(), &ports);
    wait_agent(&ports, &home, STAYS, "all 40 labels back", |a| {
        (0..40).all(|i| a["labels"][format!("k{i}")] == format!("v{i}"))
    });
}
