//! `fleetdeck attach` against a real server on 127.0.0.1:0 with simulated agents: the
//! stream endpoint read by a real HTTP client, the attached UI's services (what its keys
//! end up doing) checked through the API, and the command's refusals.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{API_TOKEN, EDGE, SECRET, TestServer};
use fleetdeck::attach::remote::Remote;
use fleetdeck::attach::sse::Parser;
use fleetdeck::cli::client::Client;
use fleetdeck::fleet::delivery::ApplyState;
use fleetdeck::fleet::stream::{self, StreamMessage, Tails};
use fleetdeck::fleet::{AgentId, EventKind, FleetSnapshot};
use fleetdeck::rollout::{RolloutOptions, Targets};
use fleetdeck::sim::{self, SimConfig, SimFleet};
use fleetdeck::tui::Services;

const ACME_TYPE: &str = r#"apiVersion: fleetdeck/v1
kind: SourceType
metadata: {name: acme-tcp}
spec:
  parameters:
    - {name: port, type: int, default: 54525}
  logs:
    receivers: |
      - tcplog:
          listen_address: "0.0.0.0:{{ .port }}"
"#;

async fn fleet(server: &TestServer, agents: usize, first: usize) -> SimFleet {
    let mut cfg = SimConfig::new(server.ws_url(), agents);
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 40 + first as u64;
    cfg.first_index = first;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(20);
    cfg.metrics_interval = Duration::from_millis(500);
    sim::start(cfg).await.expect("simulator starts")
}

async fn all_connected(server: &TestServer, ids: &[AgentId]) {
    server
        .wait_for("the agents connected", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
}

/// A stream being read, message by message.
struct Reader {
    resp: reqwest::Response,
    parser: Parser,
    queue: std::collections::VecDeque<StreamMessage>,
}

impl Reader {
    async fn next(&mut self) -> StreamMessage {
        loop {
            if let Some(m) = self.queue.pop_front() {
                return m;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk())
                .await
                .expect("the stream says something within 10 s")
                .expect("the stream reads")
                .expect("the stream stays open");
            for e in self.parser.push(&chunk).expect("well-formed events") {
                let msg: StreamMessage = serde_json::from_str(&e.data).expect("a stream message");
                assert_eq!(msg.name(), e.name, "the event is named after its message");
                self.queue.push_back(msg);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_the_fleet_once_then_what_changes_and_what_happens() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let stays = fleet(&server, 2, 0).await;
    let leaves = fleet(&server, 1, 2).await;
    let leaving = leaves.agent_ids()[0];
    let mut ids = stays.agent_ids().to_vec();
    ids.push(leaving);
    all_connected(&server, &ids).await;

    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/stream", server.api_url());
    let refused = http.get(&url).send().await.expect("answers");
    assert_eq!(
        refused.status(),
        401,
        "the stream needs a token like every route"
    );
    let resp = http
        .get(&url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream",
        "server-sent events"
    );
    let mut reader = Reader {
        resp,
        parser: Parser::default(),
        queue: Default::default(),
    };
    let first = reader.next().await;
    assert!(
        matches!(&first, StreamMessage::Full { agents, .. } if agents.len() == 3),
        "the whole fleet first: {first:?}"
    );
    let mut held = stream::apply(&FleetSnapshot::default(), first).expect("a fleet");
    assert_eq!(held.totals.connected, 3);
    let names: Vec<String> = held.agents.iter().map(|a| a.name.to_string()).collect();
    let on_server = server.rt.registry.snapshot().borrow().clone();
    let expected: Vec<String> = on_server
        .agents
        .iter()
        .map(|a| a.name.to_string())
        .collect();
    assert_eq!(names, expected, "the reader's fleet is the server's");

    // One agent leaves: its change and the event arrive; the others are not sent again
    // for it.
    leaves.shutdown().await;
    let (mut seen_gone, mut told) = (false, false);
    let mut fleet_beats = 0;
    while !(seen_gone && told) {
        match reader.next().await {
            StreamMessage::Events { events, .. } => {
                told |= events.iter().any(|e| {
                    matches!(&e.kind, EventKind::AgentDisconnected { id, .. } if *id == leaving)
                });
            }
            StreamMessage::Fleet { latest, .. } => {
                assert_eq!(latest.len(), stream::SERIES);
                fleet_beats += 1;
                assert!(fleet_beats < 20, "no change within 20 s");
            }
            msg @ StreamMessage::Changes { .. } => {
                if let StreamMessage::Changes { changed, .. } = &msg {
                    assert!(!changed.is_empty(), "a change names what changed");
                }
                held = stream::apply(&held, msg).expect("a fleet");
                seen_gone = held.get(&leaving).is_some_and(|a| !a.is_connected());
            }
            StreamMessage::Full { .. } => panic!("the whole fleet is sent once"),
        }
    }
    assert_eq!(held.totals.connected, 2);
    assert_eq!(held.totals.agents, 3, "a disconnected agent is still shown");

    // The sparklines of the agents on screen.
    let query = format!(
        "{}/api/v1/telemetry?agents={},{}&points=10",
        server.api_url(),
        ids[0],
        ids[1]
    );
    let tails: Tails = http
        .get(&query)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("tails");
    assert_eq!(tails.points, 10);
    assert_eq!(tails.agents.len(), 2);
    for a in &tails.agents {
        assert_eq!(a.series.len(), stream::SERIES);
        assert!(a.series.iter().all(|s| s.len() <= 10), "{a:?}");
    }
    // Told what it holds, the server leaves out what did not change.
    let known = &tails.agents[0];
    if let Some(fp) = known.fingerprint {
        let again: Tails = http
            .get(format!(
                "{}/api/v1/telemetry?agents={}:{fp}",
                server.api_url(),
                known.id
            ))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("tails");
        // Within the same second nothing is new; a second later the tails moved on.
        assert!(again.agents.len() <= 1);
    }
    let bad = http
        .get(format!(
            "{}/api/v1/telemetry?agents=nobody",
            server.api_url()
        ))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(bad.status(), 404, "an unknown agent is named");
    drop(reader);
    stays.shutdown().await;
    server.rt.stop().await;
}

/// What the attached UI's keys end up doing, through the services it is given when
/// attached: the server sees every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_ui_saves_pushes_and_reads_through_the_api() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let agents = fleet(&server, 2, 0).await;
    let ids = agents.agent_ids().to_vec();
    all_connected(&server, &ids).await;
    let applied = server
        .rt
        .catalog
        .apply_text(EDGE, None)
        .await
        .expect("resources parse");
    assert!(applied.iter().all(|r| r.problems.is_empty()), "{applied:?}");

    let client = Client::new(&server.api_url(), Some(API_TOKEN.into())).expect("client");
    let (events, mut notices) = tokio::sync::broadcast::channel(16);
    let remote = Remote::new(Arc::new(client), events);

    // What the builder loads.
    let configs = remote.configurations().await.expect("configurations");
    assert_eq!(configs.len(), 1);
    assert_eq!((configs[0].0.as_str(), configs[0].1), ("edge", 1));
    let destinations = remote.destinations().await.expect("destinations");
    assert_eq!(destinations[0].name(), "central");

    // Saving a configuration from the builder stores it on the server.
    let mut copy = configs[0].2.clone();
    copy.metadata.name = "edge-copy".into();
    let saved = remote.save(copy.clone()).await.expect("saved");
    assert_eq!(saved.version, Some(1), "{saved:?}");
    let stored = server
        .rt
        .catalog
        .configuration("edge-copy", None)
        .await
        .expect("the server has it");
    assert_eq!(stored.config.spec, copy.spec);

    // Pushing it from the builder rolls it out on the server; both agents apply it.
    let view = remote
        .push(
            "edge-copy".into(),
            1,
            Targets::Agents(ids.clone()),
            RolloutOptions::all_at_once(),
            false,
        )
        .await
        .expect("pushed");
    assert_eq!(&*view.config.name, "edge-copy");
    server
        .wait_for("both agents applied edge-copy", |s| {
            ids.iter().all(|id| {
                s.get(id).and_then(|a| a.config.as_ref()).is_some_and(|c| {
                    &*c.config.name == "edge-copy" && c.state == ApplyState::Applied
                })
            })
        })
        .await;
    let status = reqwest::Client::new()
        .get(format!("{}/api/v1/rollouts/edge-copy", server.api_url()))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(status.status(), 200, "the API knows the rollout");

    // The views' reads.
    let rollout = remote.rollout("edge-copy".into()).await.expect("rollout");
    assert_eq!(rollout.config.version, 1);
    assert!(
        remote
            .rollouts()
            .await
            .expect("rollouts")
            .iter()
            .any(|r| &*r.config.name == "edge-copy")
    );
    let summaries = remote.summaries().await.expect("summaries");
    let names: Vec<&str> = summaries.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["edge", "edge-copy"]);
    assert_eq!(summaries[0].destinations, 1);
    let versions = remote.versions("edge-copy".into()).await.expect("versions");
    assert_eq!(versions.len(), 1);
    assert!(
        versions[0].lines > 0,
        "the rendered YAML's lines are counted"
    );
    let history = remote.history(ids[0]).await.expect("history");
    assert!(
        history.iter().any(|a| &*a.config.name == "edge-copy"),
        "{history:?}"
    );

    // Types applied to the server are offered by the attached builder once read.
    assert!(
        remote.types().is_none(),
        "the built-in types until the server's are read"
    );
    server
        .rt
        .catalog
        .apply_text(ACME_TYPE, None)
        .await
        .expect("the type applies");
    remote.refresh_types().await.expect("types read");
    let types = remote.types().expect("the server's types");
    assert!(
        types
            .get(fleetdeck::pipeline::TypeKind::Source, "acme-tcp")
            .is_some(),
        "the applied type is offered"
    );
    assert!(
        types
            .get(fleetdeck::pipeline::TypeKind::Source, "otlp")
            .is_some(),
        "and the built-in ones still"
    );

    // A refusal says why, and becomes a notice in the UI's events.
    let ghost = AgentId([7; 16]);
    let err = remote.restart(ghost).await.expect_err("no such agent");
    assert!(err.contains("no agent"), "{err}");
    remote.refused(ghost, format!("restart refused: {err}"));
    let notice = notices.recv().await.expect("a notice");
    assert!(matches!(notice.kind, EventKind::Notice { agent: Some(a), .. } if a == ghost));

    // Restarting a real agent reaches the server (its audit trail says who asked).
    let mut events = server.rt.registry.subscribe();
    remote.restart(ids[1]).await.expect("restart accepted");
    let wanted = format!("restart agent {}", ids[1]);
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(e) = events.recv().await
                && matches!(&e.kind, EventKind::Audit { action, .. } if *action == wanted)
            {
                return;
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "the server recorded the restart");
    agents.shutdown().await;
    server.rt.stop().await;
}

/// A wrong token or no server: a clear error and a non-zero exit, before the screen is
/// taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_with_a_wrong_token_or_no_server_says_so_and_fails() {
    let server = TestServer::start().await;
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let home = tempfile::tempdir().expect("home");
    let run = |args: Vec<String>| {
        let home = home.path().to_path_buf();
        async move {
            tokio::process::Command::new(bin)
                .args(args)
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", home.join("config"))
                .env("FLEETDECK_DATA_DIR", home.join("data"))
                .env_remove("FLEETDECK_API_TOKEN")
                .env_remove("FLEETDECK_SERVER")
                .output()
                .await
                .expect("runs")
        }
    };
    let out = run(vec![
        "attach".into(),
        "--server".into(),
        server.api_url(),
        "--token".into(),
        "not-the-token".into(),
    ])
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("401") && err.contains("token"), "{err}");

    let out = run(vec![
        "attach".into(),
        "--server".into(),
        server.api_url(),
        "--token".into(),
        API_TOKEN.into(),
    ])
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "no terminal to show the UI on");
    assert!(err.contains("not a terminal"), "{err}");

    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr")
    };
    let out = run(vec![
        "attach".into(),
        "--server".into(),
        format!("http://{dead}"),
        "--token".into(),
        API_TOKEN.into(),
    ])
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach"), "{err}");

    let out = run(vec!["attach".into(), "no-such-profile".into()]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no profile named 'no-such-profile'"), "{err}");
    server.rt.stop().await;
}

/// Asked for gzip (as attach asks), the stream is one gzip stream flushed after each
/// message: the first message can be read whole before any other is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_comes_gzipped_when_asked_and_each_message_arrives_whole() {
    use std::io::Write;
    let server = TestServer::start().await;
    let agents = fleet(&server, 2, 0).await;
    all_connected(&server, agents.agent_ids()).await;
    let mut resp = reqwest::Client::new()
        .get(format!("{}/api/v1/stream", server.api_url()))
        .header("accept-encoding", "br;q=1.0, gzip;q=0.8")
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let mut unzip = flate2::write::GzDecoder::new(Vec::new());
    let mut parser = Parser::default();
    let first = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("within 10 s")
            .expect("reads")
            .expect("open");
        unzip.write_all(&chunk).expect("gzip");
        unzip.flush().expect("gzip");
        let text = std::mem::take(unzip.get_mut());
        if let Some(e) = parser.push(&text).expect("events").into_iter().next() {
            break e;
        }
    };
    let msg: StreamMessage = serde_json::from_str(&first.data).expect("a message");
    assert!(
        matches!(&msg, StreamMessage::Full { agents, .. } if agents.len() == 2),
        "{msg:?}"
    );
    drop(resp);
    agents.shutdown().await;
    server.rt.stop().await;
}

/// Over https:// attach trusts what the CLI trusts: the CA given with `--ca`. With it the
/// stream opens (and attach goes on to say it has no terminal here); without it the
/// server's certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_reaches_a_tls_server_with_the_clis_tls_flags() {
    let pki = common::pki::pki(false);
    let data = tempfile::tempdir().expect("data dir");
    let mut settings = fleetdeck::settings::Settings::ephemeral(data.path(), SECRET);
    settings.tls = Some(pki.files.clone());
    let rt = fleetdeck::runtime::Runtime::start(&settings)
        .await
        .expect("server starts");
    let home = tempfile::tempdir().expect("home");
    let ca = home.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca.pem).expect("ca written");
    let server = format!("https://localhost:{}", rt.api_addr.port());
    let run = |extra: Vec<String>| {
        let (server, home) = (server.clone(), home.path().to_path_buf());
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
                .args(["attach", "--server", &server, "--token", API_TOKEN])
                .args(extra)
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", &home)
                .env_remove("FLEETDECK_CA")
                .env_remove("FLEETDECK_CLIENT_CERT")
                .env_remove("FLEETDECK_CLIENT_KEY")
                .output()
                .await
                .expect("runs")
        }
    };
    let trusted = run(vec!["--ca".into(), ca.display().to_string()]).await;
    let err = String::from_utf8_lossy(&trusted.stderr);
    assert!(
        err.contains("not a terminal"),
        "the stream opened over TLS: {err}"
    );
    let untrusted = run(vec![]).await;
    let err = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success());
    assert!(err.contains("cannot reach"), "{err}");
    rt.stop().await;
}

/// A viewer may attach (the stream is a read) but the keys that change something are
/// refused by the server, and the refusal names the role needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_attaches_and_its_restart_is_refused_naming_the_role() {
    let server = TestServer::start().await;
    let agents = fleet(&server, 1, 0).await;
    let id = agents.agent_ids()[0];
    all_connected(&server, &[id]).await;
    let http = reqwest::Client::new();
    let made: serde_json::Value = http
        .post(format!("{}/api/v1/tokens", server.api_url()))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({"name": "dash", "role": "viewer"}))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let viewer = made["token"].as_str().expect("a token").to_string();
    let stream = http
        .get(format!("{}/api/v1/stream", server.api_url()))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("answers");
    assert_eq!(stream.status(), 200, "a viewer may watch");
    drop(stream);
    let client = Client::new(&server.api_url(), Some(viewer)).expect("client");
    let (events, _) = tokio::sync::broadcast::channel(4);
    let remote = Remote::new(Arc::new(client), events);
    let err = remote
        .restart(id)
        .await
        .expect_err("a viewer may not restart");
    assert!(err.contains("operator"), "{err}");
    agents.shutdown().await;
    server.rt.stop().await;
}
