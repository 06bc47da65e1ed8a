//! `fleetdeck agent` supervising a real, stock OpenTelemetry Collector (otelcol-contrib
//! from `../shared/peers/otelcol.sh`): pushed pipelines deliver to a loopback OTLP/HTTP
//! sink, rejected and crashing configurations fail with the Collector's own words while
//! the old pipeline keeps delivering, restarts, kill -9, and a server that is down.
//!
//! The Collector is found through `FLEETDECK_OTELCOL` or in `~/.cache/fleet-peers`; the
//! tests say `SKIPPED` without it, and fail under CI (where `.ci/run` installs it).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::collector::*;
use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::components::ComponentKind;
use fleetdeck::fleet::delivery::ApplyState;
use fleetdeck::fleet::telemetry::{Series, Signal};
use fleetdeck::rollout::{RolloutOptions, Targets};

/// Pids of Collectors running with a configuration from `state`.
fn collectors_of(otelcol: &Path, state: &Path) -> Vec<u32> {
    let exe = std::fs::canonicalize(otelcol).unwrap();
    let needle = state.join("collector.yaml");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .as_deref()
                == Some(exe.as_path())
                && std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(needle.to_str().unwrap()))
                    .unwrap_or(false)
        })
        .collect()
}

/// Raw Collector YAML as a configuration.
fn raw(name: &str, yaml: &str) -> String {
    let indented: String = yaml.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: {name}\nspec:\n  raw: |\n{indented}"
    )
}

fn health_json(server: &TestServer, id: AgentId) -> serde_json::Value {
    let snap = server.rt.registry.snapshot().borrow().clone();
    serde_json::to_value(&snap.get(&id).unwrap().health).unwrap()
}

/// The Collector's pid as the agent reports it in its health tree.
fn reported_pid(server: &TestServer, id: AgentId) -> Option<i64> {
    let text = health_json(server, id).to_string();
    let at = text.find("\"process.pid\"")?;
    let rest = &text[at..];
    let value = rest.split("\"value\":").nth(1)?;
    value
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_validation_failures_crashes_restarts_and_own_metrics() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let sink = sink().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "before-1");
    let state = dir.path().join("agent");
    let sup = Supervisor::start(&server.ws_url(), &otelcol, &state, &["--name", "real-1"]);
    let id = connected_agent(&server).await;
    let view = server
        .rt
        .registry
        .snapshot()
        .borrow()
        .get(&id)
        .cloned()
        .unwrap();
    assert_eq!(view.version.as_str(), "0.135.0-dev", "{}", sup.output());
    assert_eq!(
        view.name.as_str(),
        "real-1",
        "--name is what the agent is called"
    );
    assert_eq!(view.labels.get("tier").map(|v| v.as_str()), Some("real"));
    assert!(view.capabilities.has(0x4000), "ReportsAvailableComponents");
    // What the binary was built with, from `otelcol components`, as the server keeps it.
    let snap = server
        .wait_for("the Collector's components", |s| {
            s.get(&id).is_some_and(|a| a.available_components.is_some())
        })
        .await;
    let components = snap.get(&id).unwrap().available_components.clone().unwrap();
    assert!(components.has(ComponentKind::Receiver, "filelog"));
    assert!(components.has(ComponentKind::Exporter, "otlphttp"));
    assert!(!components.has(ComponentKind::Receiver, "hostmetrics"));
    // So a push of a pipeline this build cannot run is refused, naming the agent.
    let hosts = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata: {name: hosts}\nspec:\n  sources:\n    - type: hostmetrics\n  destinations:\n    - type: otlphttp\n      parameters: {endpoint: \"http://127.0.0.1:9\"}\n";
    server
        .rt
        .catalog
        .apply_text(hosts, None)
        .await
        .expect("parses");
    let refused = server
        .rt
        .rollouts
        .start(
            "hosts",
            None,
            Targets::Agents(vec![id]),
            RolloutOptions::default(),
        )
        .await
        .expect_err("refused: no hostmetrics receiver in this build");
    let refused = refused.to_string();
    assert!(
        refused.contains("real-1: missing receiver 'hostmetrics'"),
        "{refused}"
    );

    // A pipeline fleetdeck renders, pushed, validated and run by the real Collector.
    push(
        &server,
        &logs_pipeline("real-logs", &log, &sink.url),
        "real-logs",
        id,
    )
    .await;
    wait_state(&server, id, "real-logs", ApplyState::Applied).await;
    sink.wait_for("before-1").await;
    append(&log, "applied-1");
    sink.wait_for("applied-1").await;
    let health = health_json(&server, id);
    assert_eq!(health["healthy"], true, "{health}");
    let effective = serde_json::to_string(
        &server
            .rt
            .registry
            .snapshot()
            .borrow()
            .get(&id)
            .unwrap()
            .effective_config,
    )
    .unwrap();
    assert!(effective.contains("filelog/source0") && effective.contains(&sink.url));
    assert!(
        effective.contains("supervisor.yaml"),
        "our part is shown beside it"
    );
    let status = server
        .rt
        .registry
        .snapshot()
        .borrow()
        .get(&id)
        .unwrap()
        .config
        .clone();
    assert_eq!(
        status.and_then(|c| c.effective_matches),
        Some(true),
        "the server's file runs as it was sent"
    );
    assert!(
        !effective.contains("Bearer"),
        "no token in the effective config"
    );

    // Rejected by the Collector's validator: FAILED with its words, old pipeline on.
    let bad = format!(
        "receivers:\n  filelog:\n    include: [{}]\n    bogus_key: 1\nexporters:\n  otlphttp:\n    endpoint: {}\nservice:\n  pipelines:\n    logs: {{receivers: [filelog], exporters: [otlphttp]}}\n",
        log.display(),
        sink.url
    );
    push(&server, &raw("rejected", &bad), "rejected", id).await;
    let error = wait_state(&server, id, "rejected", ApplyState::Failed).await;
    assert!(error.contains("has invalid keys: bogus_key"), "{error}");
    assert!(error.contains("validator"), "{error}");
    append(&log, "after-rejected");
    sink.wait_for("after-rejected").await;

    // Valid, but the process cannot start (its metrics port is taken): rolled back.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let crashing = format!(
        "receivers:\n  filelog:\n    include: [{}]\nexporters:\n  otlphttp:\n    endpoint: {}\nservice:\n  telemetry:\n    metrics:\n      readers:\n        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {port}}}}}}}\n  pipelines:\n    logs: {{receivers: [filelog], exporters: [otlphttp]}}\n",
        log.display(),
        sink.url
    );
    push(&server, &raw("crashing", &crashing), "crashing", id).await;
    let error = wait_state(&server, id, "crashing", ApplyState::Failed).await;
    assert!(error.contains("address already in use"), "{error}");
    assert!(error.contains("rolled back"), "{error}");
    append(&log, "after-rollback");
    sink.wait_for("after-rollback").await;
    drop(taken);

    // The restart command: a new process, still delivering.
    let before = reported_pid(&server, id).expect("a pid in the health tree");
    server.rt.registry.restart(id).await.expect("restart sent");
    server
        .wait_for("a new Collector pid", |_| {
            reported_pid(&server, id).is_some_and(|p| p != before)
        })
        .await;
    append(&log, "after-restart");
    sink.wait_for("after-restart").await;

    // The Collector's own metrics, pushed by the process itself, move the logs series.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        append(&log, "traffic");
        let rate = server.rt.telemetry.latest(&id, Series::In(Signal::Logs));
        if rate.is_some_and(|r| r > 0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no logs throughput from the Collector's own metrics; supervisor said:\n{}",
            sup.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(sup);
    assert!(
        collectors_of(&otelcol, &state).is_empty(),
        "stopped with us"
    );
    server.rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_a_server_that_is_down_leave_one_delivering_collector() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let server = TestServer::start_with(|s| {
        s.heartbeat_interval = Duration::from_secs(1);
        // A polling agent killed with -9 is seen gone when its polls stop.
        s.http_agent_timeout = Duration::from_secs(3);
    })
    .await;
    // Plain HTTP polling this time (the other test speaks WebSocket).
    let http_url = server.http_url();
    let http: &[&str] = &["--transport", "http"];
    let sink = sink().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let state = dir.path().join("agent");
    let mut sup = Supervisor::start(&http_url, &otelcol, &state, http);
    let id = connected_agent(&server).await;
    push(&server, &logs_pipeline("kept", &log, &sink.url), "kept", id).await;
    wait_state(&server, id, "kept", ApplyState::Applied).await;
    append(&log, "first");
    sink.wait_for("first").await;

    // kill -9: the Collector goes with it; the next supervisor is the same agent.
    sup.kill9();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !collectors_of(&otelcol, &state).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "an orphaned Collector is left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
        .wait_for("the killed agent is seen gone", |s| {
            s.get(&id).is_some_and(|a| !a.is_connected())
        })
        .await;
    let mut sup = Supervisor::start(&http_url, &otelcol, &state, http);
    server
        .wait_for("the same agent is back", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
    append(&log, "after-kill");
    sink.wait_for_or("after-kill", || sup.output()).await;
    assert_eq!(collectors_of(&otelcol, &state).len(), 1, "{}", sup.output());
    // It came back with the configuration it had: nothing new was applied.
    let snap = server.rt.registry.snapshot().borrow().clone();
    let config = snap.get(&id).and_then(|a| a.config.clone()).unwrap();
    assert_eq!(
        (&*config.config.name, config.state),
        ("kept", ApplyState::Applied)
    );
    sup.terminate();
    assert!(collectors_of(&otelcol, &state).is_empty());

    // With the server gone, a supervisor started now runs the last good configuration.
    server.rt.stop().await;
    let sup = Supervisor::start(&http_url, &otelcol, &state, http);
    append(&log, "server-down");
    sink.wait_for("server-down").await;
    assert_eq!(collectors_of(&otelcol, &state).len(), 1, "{}", sup.output());
    drop(sup);
}

#[test]
fn render_validate_with_runs_the_collectors_own_validator() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, logs_pipeline("good", &log, "http://127.0.0.1:9")).unwrap();
    let run = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
            .args(["render", "-f"])
            .arg(file)
            .arg("--validate-with")
            .arg(&otelcol)
            .output()
            .unwrap()
    };
    let out = run(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("filelog/source0"));
    // This minimal build has no hostmetrics receiver: fleetdeck renders it, the Collector refuses.
    let missing = dir.path().join("missing.yaml");
    std::fs::write(
        &missing,
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata: {name: hosts}\nspec:\n  sources:\n    - type: hostmetrics\n  destinations:\n    - type: otlphttp\n      parameters: {endpoint: \"http://127.0.0.1:9\"}\n",
    )
    .unwrap();
    let out = run(&missing);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("configuration 'hosts'"), "{stderr}");
    assert!(stderr.contains("hostmetrics"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_over_wss_and_https_and_no_certificate_no_entry() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let pki = common::pki::pki(true);
    let files = pki.files.clone();
    let server = TestServer::start_with(|s| {
        s.heartbeat_interval = Duration::from_secs(1);
        s.tls = Some(files);
    })
    .await;
    let (cert, key) = pki.ca.leaf(&["a-supervisor"]);
    let write = |name: &str, text: &str| {
        let p = pki.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let ca = write("ca.pem", &pki.ca.pem);
    let cert = write("agent.pem", &cert);
    let key = write("agent-key.pem", &key);
    let dir = tempfile::tempdir().unwrap();
    let (wss, https) = (server.ws_url(), server.http_url());
    assert!(
        wss.starts_with("wss://") && https.starts_with("https://"),
        "{wss} {https}"
    );
    let identity = ["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];

    let over_wss = Supervisor::start(&wss, &otelcol, &dir.path().join("wss"), &identity);
    let mut http_args = identity.to_vec();
    http_args.extend(["--transport", "http", "--name", "over-https"]);
    let over_https = Supervisor::start(&https, &otelcol, &dir.path().join("https"), &http_args);
    // Without a client certificate the server's TLS refuses it: it never joins.
    let refused = Supervisor::start(
        &wss,
        &otelcol,
        &dir.path().join("none"),
        &["--tls-ca", &ca, "--name", "no-certificate"],
    );
    server
        .wait_for("both supervisors connected over TLS", |s| {
            s.agents.iter().filter(|a| a.is_connected()).count() == 2
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let snap = server.rt.registry.snapshot().borrow().clone();
    let names: Vec<&str> = snap.agents.iter().map(|a| a.name.as_str()).collect();
    assert!(names.contains(&"over-https"), "{names:?}");
    assert!(!names.contains(&"no-certificate"), "{names:?}");
    assert_eq!(snap.agents.len(), 2, "{}", refused.output());
    drop((over_wss, over_https, refused));
    server.rt.stop().await;
}

/// What fleetdeck renders, the Collector's validator accepts: an attributes processor left
/// at its defaults renders to nothing (the Collector refuses one without actions), and
/// batch and memory_limiter settings the Collector would refuse are refused by fleetdeck
/// first, naming the parameters.
#[test]
fn processor_settings_the_collector_refuses_are_refused_by_render() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let doc = |batch: &str, limiter: &str| {
        format!(
            "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata: {{name: procs}}\nspec:\n  sources: [{{type: filelog, parameters: {{include: [/var/log/app.log]}}}}]\n  processors:\n    - type: batch\n      parameters: {batch}\n    - type: memory_limiter\n      parameters: {limiter}\n    - type: attributes\n  destinations: [{{type: otlphttp, parameters: {{endpoint: \"http://127.0.0.1:9\"}}}}]\n"
        )
    };
    let run = |name: &str, text: String| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
            .args(["render", "-f"])
            .arg(&file)
            .arg("--validate-with")
            .arg(&otelcol)
            .output()
            .unwrap()
    };
    let ok = run(
        "ok.yaml",
        doc(
            "{send_batch_size: 1000, send_batch_max_size: 2000}",
            "{limit_percentage: 50, spike_limit_percentage: 20}",
        ),
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        !stdout.contains("attributes"),
        "nothing to do, nothing rendered:\n{stdout}"
    );
    for (batch, limiter, says) in [
        (
            "{send_batch_size: 1000, send_batch_max_size: 10}",
            "{}",
            "send_batch_max_size must be 0 (no limit) or at least send_batch_size",
        ),
        (
            "{}",
            "{limit_percentage: 50, spike_limit_percentage: 50}",
            "spike_limit_percentage must be below limit_percentage",
        ),
    ] {
        let out = run("bad.yaml", doc(batch, limiter));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(
            !stderr.contains("rejected by the Collector"),
            "refused before: {stderr}"
        );
    }
}

/// Signed configurations with the real Collector: a supervisor that trusts another key
/// refuses what this server signs (FAILED, naming both keys) and starts nothing; one given
/// the server's key (as `fleetdeck key show` prints it, in a file) runs it; one given none
/// pins the first key it sees and keeps it in its state directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configurations_signed_by_the_trusted_key_run() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let sink = sink().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("signed.log");
    append(&log, "signed-line-1");
    let pipeline = logs_pipeline("signed", &log, &sink.url);
    let mut seen: Vec<AgentId> = Vec::new();
    let mut next_agent = |server: &TestServer| {
        let snap = server.rt.registry.snapshot().borrow().clone();
        snap.agents
            .iter()
            .find(|a| a.is_connected() && !seen.contains(&a.id))
            .map(|a| a.id)
            .inspect(|id| seen.push(*id))
    };
    async fn wait_new(
        server: &TestServer,
        next: &mut impl FnMut(&TestServer) -> Option<AgentId>,
    ) -> AgentId {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(id) = next(server) {
                return id;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no new agent connected"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Trusting another key: refused, and nothing runs.
    let other = fleetdeck::signing::ConfigSigner::from_seed([9; 32]).public_key();
    let state_a = dir.path().join("a");
    let sup_a = Supervisor::start(
        &server.ws_url(),
        &otelcol,
        &state_a,
        &["--trust-key", &other],
    );
    let a = wait_new(&server, &mut next_agent).await;
    push(&server, &pipeline, "signed", a).await;
    let err = wait_state(&server, a, "signed", ApplyState::Failed).await;
    let key = server.rt.catalog.signing_key().expect("the server signs");
    assert_eq!(
        err,
        format!("configuration signed by {key}, not by the trusted key {other}"),
        "{}",
        sup_a.output()
    );
    assert!(
        collectors_of(&otelcol, &state_a).is_empty(),
        "nothing unverified runs"
    );
    drop(sup_a);

    // The server's key, as `fleetdeck key show` prints it, in a file: it runs.
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args([
            "key",
            "show",
            "--server",
            &server.api_url(),
            "--token",
            API_TOKEN,
        ])
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), key);
    let key_file = dir.path().join("server.key");
    std::fs::write(&key_file, &shown.stdout).unwrap();
    let state_b = dir.path().join("b");
    let sup_b = Supervisor::start(
        &server.ws_url(),
        &otelcol,
        &state_b,
        &["--trust-key", key_file.to_str().unwrap()],
    );
    let b = wait_new(&server, &mut next_agent).await;
    server
        .rt
        .rollouts
        .start(
            "signed",
            None,
            Targets::Agents(vec![b]),
            RolloutOptions::all_at_once(),
        )
        .await
        .expect("push to b");
    wait_state(&server, b, "signed", ApplyState::Applied).await;
    sink.wait_for_or("signed-line-1", || sup_b.output()).await;
    drop(sup_b);

    // No key given: the first signed configuration's key is pinned and kept.
    let state_c = dir.path().join("c");
    let sup_c = Supervisor::start(&server.ws_url(), &otelcol, &state_c, &[]);
    let c = wait_new(&server, &mut next_agent).await;
    server
        .rt
        .rollouts
        .start(
            "signed",
            None,
            Targets::Agents(vec![c]),
            RolloutOptions::all_at_once(),
        )
        .await
        .expect("push to c");
    wait_state(&server, c, "signed", ApplyState::Applied).await;
    let pinned = std::fs::read_to_string(state_c.join("trusted-key")).unwrap();
    assert_eq!(pinned.trim(), key);
    assert!(
        sup_c.output().contains("pinning the key"),
        "{}",
        sup_c.output()
    );
}

/// A rotation of the server's signing key, with the real Collector: a supervisor started
/// with `--trust-key` of the old key follows the new one (endorsed by the old) and keeps
/// trusting it after `key retire` and its own restart; a supervisor that trusts only the old
/// key and joins after the retire refuses what the new key signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_key_is_followed_through_its_endorsement() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let start = |listen: Option<std::net::SocketAddr>| {
        let mut settings = fleetdeck::settings::Settings::ephemeral(data.path(), SECRET);
        settings.heartbeat_interval = Duration::from_secs(1);
        if let Some(addr) = listen {
            settings.listen = addr;
        }
        async move {
            let rt = fleetdeck::runtime::Runtime::start(&settings)
                .await
                .expect("server starts");
            // The server's data lives in `data`; this dir is only what TestServer owns.
            TestServer {
                rt,
                dir: tempfile::tempdir().unwrap(),
            }
        }
    };
    let key_cmd = |action: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
            .args(["key", action, "--data-dir"])
            .arg(data.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let sink = sink().await;
    let dir = tempfile::tempdir().unwrap();
    let phase = |n: u32| {
        let log = dir.path().join(format!("rot-{n}.log"));
        append(&log, &format!("rotation-line-{n}"));
        logs_pipeline(&format!("rot-{n}"), &log, &sink.url)
    };

    let server = start(None).await;
    let addr = server.rt.agent_addr;
    let old_key = server.rt.catalog.signing_key().expect("signs");
    let state = dir.path().join("agent");
    let sup = Supervisor::start(
        &server.ws_url(),
        &otelcol,
        &state,
        &["--trust-key", &old_key],
    );
    let id = connected_agent(&server).await;
    push(&server, &phase(1), "rot-1", id).await;
    wait_state(&server, id, "rot-1", ApplyState::Applied).await;
    sink.wait_for_or("rotation-line-1", || sup.output()).await;
    server.rt.stop().await;

    let said = key_cmd("rotate");
    assert!(said.contains("endorsed by the previous key"), "{said}");
    let server = start(Some(addr)).await;
    let new_key = server.rt.catalog.signing_key().expect("signs");
    assert_ne!(new_key, old_key);
    assert_eq!(
        server.rt.catalog.previous_signing_key(),
        Some(old_key.clone())
    );
    server
        .wait_for("the agent is back", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
    push(&server, &phase(2), "rot-2", id).await;
    let err = wait_state(&server, id, "rot-2", ApplyState::Applied).await;
    assert_eq!(err, "", "{}", sup.output());
    sink.wait_for_or("rotation-line-2", || sup.output()).await;
    let pinned = std::fs::read_to_string(state.join("trusted-key")).unwrap();
    assert_eq!(pinned.trim(), new_key, "it moved to the new key");
    assert!(
        sup.output().contains("rotated its signing key"),
        "{}",
        sup.output()
    );
    server.rt.stop().await;
    drop(sup);

    // The old key retired; the supervisor restarts with the same --trust-key and still
    // runs what the new key signs.
    let said = key_cmd("retire");
    assert!(said.contains("removed"), "{said}");
    let server = start(Some(addr)).await;
    assert_eq!(server.rt.catalog.previous_signing_key(), None);
    let sup = Supervisor::start(
        &server.ws_url(),
        &otelcol,
        &state,
        &["--trust-key", &old_key],
    );
    server
        .wait_for("the agent is back", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
    push(&server, &phase(3), "rot-3", id).await;
    wait_state(&server, id, "rot-3", ApplyState::Applied).await;
    sink.wait_for_or("rotation-line-3", || sup.output()).await;
    drop(sup);

    // A newcomer that trusts only the retired key has nothing to follow: refused.
    let late_state = dir.path().join("late");
    let late = Supervisor::start(
        &server.ws_url(),
        &otelcol,
        &late_state,
        &["--trust-key", &old_key],
    );
    let snap = server
        .wait_for("the newcomer connects", |s| {
            s.agents.iter().any(|a| a.is_connected() && a.id != id)
        })
        .await;
    let newcomer = snap
        .agents
        .iter()
        .find(|a| a.is_connected() && a.id != id)
        .map(|a| a.id)
        .unwrap();
    push(&server, &phase(4), "rot-4", newcomer).await;
    let err = wait_state(&server, newcomer, "rot-4", ApplyState::Failed).await;
    assert_eq!(
        err,
        format!("configuration signed by {new_key}, not by the trusted key {old_key}"),
        "{}",
        late.output()
    );
    assert!(collectors_of(&otelcol, &late_state).is_empty());
    drop(late);
    server.rt.stop().await;
}
