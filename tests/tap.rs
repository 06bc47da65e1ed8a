//! Taps (`fleetdeck tap agent ID`, `GET /api/v1/agents/{id}/tap`): a real Collector under
//! a real `fleetdeck agent`, lines written to the file its filelog pipeline reads, and what
//! the tap shows of them; an agent that cannot be tapped, one that goes away while a tap
//! waits, and a token whose role may not tap.

mod common;

use std::time::Duration;

use common::cli;
use common::collector::*;
use common::*;
use fleetdeck::fleet::delivery::ApplyState;
use fleetdeck::opamp::proto;
use serde_json::Value;
use tokio::io::AsyncBufReadExt as _;

/// `GET /agents/{id}/tap?QUERY` with `token`: status and body.
async fn api_tap(server: &TestServer, token: &str, id: &str, query: &str) -> (u16, Value) {
    let url = format!("{}/api/v1/agents/{id}/tap?{query}", server.api_url());
    let resp = http_client()
        .get(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(80))
        .send()
        .await
        .expect("the API answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Asks until an item's body is `line` (the pipeline batches for a moment); the answer.
async fn tap_until(server: &TestServer, id: &str, query: &str, line: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = api_tap(server, API_TOKEN, id, query).await;
        assert_eq!(status, 200, "{body}");
        let has = body["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["body"] == line));
        if has {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tap never showed {line:?}; last answer: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Reads what a following `fleetdeck tap` prints until `want` is a line of it.
async fn until_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    want: &str,
    seen: &mut String,
) {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
            if line == want {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "following never printed {want:?}:\n{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_a_filelog_pipeline_reads_show_up_in_the_tap() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let sink = sink().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "before the tap");
    let state = dir.path().join("agent");
    let mut sup = Supervisor::start(&server.ws_url(), &otelcol, &state, &["--name", "tapped-1"]);
    let id = connected_agent(&server).await;
    server
        .wait_for("the agent declares io.fleetdeck.tap", |s| {
            s.get(&id).is_some_and(|a| {
                a.custom_capabilities
                    .iter()
                    .any(|c| c == "io.fleetdeck.tap")
            })
        })
        .await;
    // Before any configuration the Collector runs nothing to tap, and says so.
    let (status, body) = api_tap(&server, API_TOKEN, &id.to_string(), "").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("runs no pipeline that can be tapped"),
        "{body}"
    );

    push(
        &server,
        &logs_pipeline("tapped-logs", &log, &sink.url),
        "tapped-logs",
        id,
    )
    .await;
    wait_state(&server, id, "tapped-logs", ApplyState::Applied).await;
    append(&log, "GET /index.html 200 user=alice");
    append(&log, "GET /missing 404 user=bob");
    let answer = tap_until(
        &server,
        &id.to_string(),
        "signal=logs",
        "GET /missing 404 user=bob",
    )
    .await;
    let pipeline = answer["pipeline"].as_str().unwrap_or_default().to_string();
    assert!(pipeline.starts_with("logs"), "{answer:#}");
    assert_eq!(answer["signal"], "logs");
    assert_eq!(answer["name"], "tapped-1");
    let items = answer["items"].as_array().unwrap();
    let last = items.last().unwrap();
    assert_eq!(last["body"], "GET /missing 404 user=bob", "newest last");
    assert_eq!(
        last["attributes"]["log.file.name"], "app.log",
        "the record's attributes, as filelog set them: {last:#}"
    );
    assert!(
        last["time"].as_str().unwrap_or_default().ends_with('Z'),
        "{last:#}"
    );
    let bodies: Vec<&str> = items.iter().filter_map(|i| i["body"].as_str()).collect();
    assert!(
        bodies.ends_with(&[
            "GET /index.html 200 user=alice",
            "GET /missing 404 user=bob"
        ]),
        "in the order they were read: {bodies:?}"
    );
    // The pipeline's own destination got them too: the tap takes nothing from it.
    sink.wait_for("GET /missing 404 user=bob").await;
    assert!(sink.has("before the tap"));
    // The server's file runs byte for byte; the tap is the supervisor's part beside it.
    let view = server
        .rt
        .registry
        .snapshot()
        .borrow()
        .get(&id)
        .cloned()
        .unwrap();
    assert_eq!(
        view.config.as_ref().and_then(|c| c.effective_matches),
        Some(true)
    );
    let own = view
        .effective_config
        .as_ref()
        .and_then(|c| c.files.get("supervisor.yaml"))
        .map(|f| String::from_utf8_lossy(&f.body).into_owned())
        .unwrap_or_default();
    assert!(own.contains("otlphttp/fleetdeck_tap_0"), "{own}");
    assert!(
        !own.contains("Bearer "),
        "the tap's credential is in no file: {own}"
    );
    // Asking for what came after the last item shown: only newer ones.
    let after = last["seq"].as_u64().unwrap();
    append(&log, "after the first look");
    let newer = tap_until(
        &server,
        &id.to_string(),
        &format!("signal=logs&after={after}"),
        "after the first look",
    )
    .await;
    assert_eq!(
        newer["items"].as_array().map(Vec::len),
        Some(1),
        "{newer:#}"
    );

    // The CLI, as a user runs it: pretty-printed, or JSON.
    let api = server.api_url();
    let out = cli::run(
        &api,
        API_TOKEN,
        &["tap", "agent", "tapped-1", "--limit", "5"],
    )
    .await;
    out.ok();
    assert!(
        out.stdout.contains("agent tapped-1")
            && out.stdout.contains(&format!("pipeline {pipeline} (logs)")),
        "{out}"
    );
    assert!(out.stdout.contains("  body: after the first look"), "{out}");
    assert!(out.stdout.contains("log.file.name = app.log"), "{out}");
    let json = cli::run(
        &api,
        API_TOKEN,
        &[
            "tap",
            "agent",
            &id.to_string(),
            "--signal",
            "logs",
            "-o",
            "json",
        ],
    )
    .await;
    json.ok();
    let parsed: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert!(
        parsed["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{json}"
    );
    // A signal this agent has no pipeline for is named, with what it has.
    let none = cli::run(
        &api,
        API_TOKEN,
        &["tap", "agent", "tapped-1", "--signal", "traces"],
    )
    .await;
    assert_eq!(none.code, 1, "{none}");
    assert!(
        none.stderr
            .contains(&format!("no traces pipeline; this agent taps: {pipeline}")),
        "{none}"
    );

    // Following: new lines show up as they are written, until the user stops it.
    let mut follow = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args([
            "tap", "agent", "tapped-1", "--follow", "--every", "1", "--limit", "1",
        ])
        .env("FLEETDECK_SERVER", &api)
        .env("FLEETDECK_API_TOKEN", API_TOKEN)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    until_line(&mut lines, "  body: after the first look", &mut seen).await;
    append(&log, "followed line");
    until_line(&mut lines, "  body: followed line", &mut seen).await;
    let _ = follow.kill().await;

    // Only operators and admins may tap: the data may say more than the fleet's state.
    let made = cli::run(
        &api,
        API_TOKEN,
        &["token", "create", "dash", "--role", "viewer"],
    )
    .await;
    made.ok();
    let viewer = made.stdout.trim().to_string();
    let refused = cli::run(&api, &viewer, &["tap", "agent", "tapped-1"]).await;
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused
            .stderr
            .contains("tapping agent tapped-1 needs an operator token"),
        "{refused}"
    );
    let anonymous = http_client()
        .get(format!("{api}/api/v1/agents/{id}/tap"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    // An agent that went away is said to be disconnected, at once.
    sup.terminate();
    server
        .wait_for("the agent disconnects", |s| {
            s.get(&id).is_some_and(|a| !a.is_connected())
        })
        .await;
    let started = std::time::Instant::now();
    let (status, body) = api_tap(&server, API_TOKEN, &id.to_string(), "").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is disconnected"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_agent_cannot_be_tapped_and_says_why() {
    let server = TestServer::start().await;
    let mut cfg = fleetdeck::sim::SimConfig::new(server.ws_url(), 1);
    cfg.secret_key = Some(SECRET.to_string());
    let fleet = fleetdeck::sim::start(cfg).await.expect("fleet starts");
    let id = fleet.agent_ids()[0];
    server
        .wait_for("the simulated agent connects", |s| {
            s.get(&id).is_some_and(|a| a.is_connected())
        })
        .await;
    let out = cli::run(
        &server.api_url(),
        API_TOKEN,
        &["tap", "agent", &id.to_string()],
    )
    .await;
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("cannot be tapped: it does not declare the io.fleetdeck.tap capability"),
        "{out}"
    );
    let (status, _) = api_tap(&server, API_TOKEN, "no-such-agent", "").await;
    assert_eq!(status, 404);
    let (status, body) = api_tap(&server, API_TOKEN, &id.to_string(), "signal=spans").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "signal");
    fleet.shutdown().await;
}

/// An agent that declares the capability, takes the request and goes away without an
/// answer: the tap waiting on it answers as soon as it is gone, not at its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_waiting_on_an_agent_that_goes_away_answers_at_once() {
    let server = TestServer::start().await;
    let mut ws = ws_agent(&server).await;
    let uid = fleetdeck::fleet::AgentId::new_v7();
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("mute-1", "host-m"));
    hello.custom_capabilities = Some(proto::CustomCapabilities {
        capabilities: vec!["io.fleetdeck.tap".into()],
    });
    ws_exchange(&mut ws, &hello).await;
    server
        .wait_for("the agent connects", |s| {
            s.get(&uid).is_some_and(|a| a.is_connected())
        })
        .await;
    let asked = {
        let api = server.api_url();
        tokio::spawn(async move {
            let resp = http_client()
                .get(format!("{api}/api/v1/agents/{uid}/tap?signal=logs&limit=7"))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .expect("answers");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    // The request arrives as a custom message of the capability.
    let request = ws_recv(&mut ws).await;
    let custom = request.custom_message.expect("a custom message");
    assert_eq!(
        (custom.capability.as_str(), custom.r#type.as_str()),
        ("io.fleetdeck.tap", "request")
    );
    let body: Value = serde_json::from_slice(&custom.data).expect("JSON");
    assert_eq!(
        (body["signal"].as_str(), body["limit"].as_u64()),
        (Some("logs"), Some(7))
    );
    let started = std::time::Instant::now();
    drop(ws);
    let (status, answer) = tokio::time::timeout(Duration::from_secs(5), asked)
        .await
        .expect("answered within seconds")
        .unwrap();
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("disconnected before it answered the tap"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Over plain HTTP the server cannot speak first: the request goes with the answer to the
/// agent's next poll, and the agent answers at once with its next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_plain_http_a_tap_is_answered_with_the_next_poll() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let sink = sink().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let state = dir.path().join("agent");
    let sup = Supervisor::start(
        &server.http_url(),
        &otelcol,
        &state,
        &["--name", "polling-1", "--transport", "http"],
    );
    let id = connected_agent(&server).await;
    push(
        &server,
        &logs_pipeline("polled-logs", &log, &sink.url),
        "polled-logs",
        id,
    )
    .await;
    wait_state(&server, id, "polled-logs", ApplyState::Applied).await;
    append(&log, "polled line");
    // Tap after tap, each waits for a poll: none is lost (a keep-alive connection the
    // server closed between two posts once lost the answer that was to go on it).
    for _ in 0..5 {
        let (status, body) = api_tap(&server, API_TOKEN, &id.to_string(), "").await;
        assert_eq!(status, 200, "{body}\n{}", sup.output());
    }
    let answer = tap_until(&server, &id.to_string(), "", "polled line").await;
    assert_eq!(answer["name"], "polling-1");
    sink.wait_for("polled line").await;
}

/// Over HTTP the request rides on the reply to the agent's next poll, and the answer the
/// agent posts ends the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_agent_hears_the_request_with_its_next_poll() {
    let server = TestServer::start().await;
    let url = server.http_url();
    let uid = fleetdeck::fleet::AgentId::new_v7();
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("poller-1", "host-p"));
    hello.custom_capabilities = Some(proto::CustomCapabilities {
        capabilities: vec!["io.fleetdeck.tap".into()],
    });
    http_exchange(&url, &hello).await;
    let asked = {
        let api = server.api_url();
        tokio::spawn(async move {
            let resp = http_client()
                .get(format!("{api}/api/v1/agents/{uid}/tap"))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .expect("answers");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = http_exchange(&url, &message(uid, 1)).await;
    let custom = reply
        .custom_message
        .expect("the request rides on the poll's reply");
    let request: Value = serde_json::from_slice(&custom.data).unwrap();
    let answer = serde_json::json!({
        "id": request["id"], "pipeline": "logs", "signal": "logs",
        "pipelines": [{"name": "logs", "signal": "logs"}],
        "items": [{"seq": 1, "time": "2026-01-01T00:00:00Z", "time_unix_nano": 1,
                   "body": "hello from a poller", "attributes": {"k": "v"}}]
    });
    let mut msg = message(uid, 2);
    msg.custom_message = Some(proto::CustomMessage {
        capability: "io.fleetdeck.tap".into(),
        r#type: "answer".into(),
        data: serde_json::to_vec(&answer).unwrap(),
    });
    http_exchange(&url, &msg).await;
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), asked)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["body"], "hello from a poller");
}

/// An agent that comes back on a new connection while a tap waits for its answer (the
/// request went out on the old one, which the agent left) ends the wait at once, as a
/// disconnect does, instead of after the answer timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_waiting_when_its_agent_reconnects_ends_at_once() {
    let server = TestServer::start().await;
    let id = fleetdeck::fleet::AgentId::new_v7();
    let hello = |seq| {
        let mut m = message(id, seq);
        m.agent_description = Some(description("tapped-raw", "host-r"));
        m.custom_capabilities = Some(proto::CustomCapabilities {
            capabilities: vec![fleetdeck::fleet::tap::CAPABILITY.to_string()],
        });
        m
    };
    let mut first = ws_agent(&server).await;
    ws_exchange(&mut first, &hello(1)).await;
    server
        .wait_for("the raw agent is listed with its capability", |s| {
            s.get(&id).is_some_and(|a| {
                a.is_connected()
                    && a.custom_capabilities
                        .iter()
                        .any(|c| c == fleetdeck::fleet::tap::CAPABILITY)
            })
        })
        .await;
    let api = server.api_url();
    let asking = tokio::spawn(async move {
        let resp = http_client()
            .get(format!("{api}/api/v1/agents/{id}/tap"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("the API answers");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    });
    // The request reaches the first connection; the agent answers nothing there and comes
    // back on a second one.
    let request = ws_recv(&mut first).await;
    assert!(
        request
            .custom_message
            .as_ref()
            .is_some_and(|m| m.capability == fleetdeck::fleet::tap::CAPABILITY),
        "{request:?}"
    );
    let mut second = ws_agent(&server).await;
    ws_exchange(&mut second, &hello(1)).await;
    let (status, body) = asking.await.expect("the tap request");
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("disconnected before it answered"),
        "{body}"
    );
    // 409 "disconnected", not the 504 its answer timeout would give: the reconnect ended it.
    drop(first);
}
