//! TLS on the agent listener: a CA made here signs the server's and the clients'
//! certificates; real TLS clients (tokio-tungstenite over tokio-rustls, reqwest with rustls)
//! talk OpAMP over wss:// and https://, and with a client CA set, a client without a
//! certificate (or with one from another CA) is refused.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::pki::{Ca, pki};
use common::{CAPS, SECRET, description, message};
use fleetdeck::fleet::{AgentId, FleetSnapshot};
use fleetdeck::listen::tls::TlsFiles;
use fleetdeck::opamp::proto;
use fleetdeck::runtime::{Runtime, StartError};
use fleetdeck::settings::Settings;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn start(files: &TlsFiles, data: &Path) -> Result<Runtime, StartError> {
    let mut settings = Settings::ephemeral(data, SECRET);
    settings.tls = Some(files.clone());
    Runtime::start(&settings).await
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A rustls client trusting `ca_pem`, presenting `identity` (certificate, key) if given.
fn client_config(ca_pem: &str, identity: Option<&(String, String)>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA pem")).expect("CA added");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("client cert");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client identity")
        }
    }
}

type Wss = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Opens wss://…/v1/opamp with the agent secret: TLS by tokio-rustls, WebSocket by
/// tokio-tungstenite on top.
async fn wss_connect(rt: &Runtime, tls: rustls::ClientConfig) -> anyhow::Result<Wss> {
    let url = rt.opamp_url(true);
    let mut req = url.as_str().into_client_request()?;
    req.headers_mut()
        .insert("Authorization", format!("Secret-Key {SECRET}").parse()?);
    let tcp = TcpStream::connect(rt.agent_addr).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let stream = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (ws, _) = tokio_tungstenite::client_async(req, stream).await?;
    Ok(ws)
}

async fn wss_exchange(ws: &mut Wss, msg: &proto::AgentToServer) -> proto::ServerToAgent {
    let mut frame = vec![0u8];
    msg.encode(&mut frame).expect("encode");
    ws.send(Message::Binary(frame.into())).await.expect("send");
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an answer within 5 s")
            .expect("connection open")
            .expect("a frame");
        if let Message::Binary(data) = next {
            return proto::ServerToAgent::decode(&data[1..]).expect("ServerToAgent");
        }
    }
}

fn https_client(ca_pem: &str, identity: Option<&(String, String)>) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(client_config(ca_pem, identity))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("https client")
}

async fn https_exchange(
    client: &reqwest::Client,
    url: &str,
    msg: &proto::AgentToServer,
) -> reqwest::Result<proto::ServerToAgent> {
    let resp = client
        .post(url)
        .header("Authorization", format!("Secret-Key {SECRET}"))
        .header("Content-Type", "application/x-protobuf")
        .body(msg.encode_to_vec())
        .send()
        .await?
        .error_for_status()?;
    let body = resp.bytes().await?;
    Ok(proto::ServerToAgent::decode(body.as_ref()).expect("ServerToAgent"))
}

/// An API URL with the host name the server certificate is for.
fn api_url(rt: &Runtime, path: &str) -> String {
    format!("https://localhost:{}/api/v1{path}", rt.api_addr.port())
}

/// Waits (up to 10 s) for a snapshot holding these agents, and returns it.
async fn fleet_holds(rt: &Runtime, ids: &[AgentId]) -> Arc<FleetSnapshot> {
    let mut rx = rt.registry.snapshot();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let snap = rx.borrow_and_update().clone();
        if ids.iter().all(|id| snap.get(id).is_some()) {
            return snap;
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            panic!("agents {ids:?} never showed up: {:?}", snap.agents);
        }
    }
}

#[tokio::test]
async fn agents_speak_opamp_over_wss_and_https() {
    let pki = pki(false);
    let data = tempfile::tempdir().expect("data dir");
    let rt = start(&pki.files, data.path())
        .await
        .expect("TLS server starts");
    assert!(rt.opamp_url(true).starts_with("wss://127.0.0.1:"));
    assert!(rt.opamp_url(false).starts_with("https://127.0.0.1:"));
    assert!(rt.public_url.starts_with("https://"), "{}", rt.public_url);

    // WebSocket over TLS: a full exchange, and the own-metrics offer points at https.
    let uid = AgentId::new_v7();
    let mut ws = wss_connect(&rt, client_config(&pki.ca.pem, None))
        .await
        .expect("wss connects");
    let mut first = message(uid, 0);
    first.agent_description = Some(description("otelcol", "tls-host"));
    first.capabilities = CAPS | 0x40; // ReportsOwnMetrics
    let reply = wss_exchange(&mut ws, &first).await;
    assert_eq!(reply.instance_uid, uid.as_bytes().to_vec());
    assert!(reply.error_response.is_none());
    // Agents are told to reconnect, and to send their metrics, over TLS.
    let offer = reply.connection_settings.unwrap_or_default();
    let reconnect = offer.opamp.map(|o| o.destination_endpoint);
    assert!(
        reconnect
            .as_deref()
            .is_some_and(|e| e.starts_with("wss://")),
        "reconnect offered at {reconnect:?}"
    );
    let metrics = offer.own_metrics.map(|m| m.destination_endpoint);
    assert!(
        metrics
            .as_deref()
            .is_some_and(|e| e.starts_with("https://")),
        "own metrics offered at {metrics:?}"
    );

    // Plain HTTP over TLS, and the health endpoint on the same port.
    let client = https_client(&pki.ca.pem, None);
    let http_uid = AgentId::new_v7();
    let reply = https_exchange(&client, &rt.opamp_url(false), &message(http_uid, 0))
        .await
        .expect("https exchange");
    assert_eq!(reply.instance_uid, http_uid.as_bytes().to_vec());
    let health = client
        .get(format!(
            "https://localhost:{}/healthz",
            rt.agent_addr.port()
        ))
        .send()
        .await
        .expect("healthz over https");
    assert_eq!(health.status(), 200);

    // A client that does not trust our CA, and one speaking plain HTTP, get nothing.
    let stranger = Ca::new("someone else");
    let untrusting = https_client(&stranger.pem, None);
    assert!(
        untrusting
            .get(format!(
                "https://localhost:{}/healthz",
                rt.agent_addr.port()
            ))
            .send()
            .await
            .is_err()
    );
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    assert!(
        plain
            .get(format!("http://127.0.0.1:{}/healthz", rt.agent_addr.port()))
            .send()
            .await
            .is_err(),
        "plain HTTP must not be answered on a TLS listener"
    );

    // The TLS agents are in the fleet like any other, and still served.
    let reply = wss_exchange(&mut ws, &message(uid, 1)).await;
    assert!(reply.error_response.is_none());
    fleet_holds(&rt, &[uid, http_uid]).await;

    // The management API is served over TLS with the same certificate.
    assert!(rt.api_url().starts_with("https://"), "{}", rt.api_url());
    let agents = client
        .get(api_url(&rt, "/agents"))
        .bearer_auth(format!("{SECRET}-api"))
        .send()
        .await
        .expect("API over https");
    assert_eq!(agents.status(), 200);
    let listed = agents.text().await.expect("body");
    assert!(listed.contains(&http_uid.to_string()), "{listed}");
    rt.stop().await;
}

#[tokio::test]
async fn with_a_client_ca_only_clients_holding_its_certificates_get_in() {
    let pki = pki(true);
    let data = tempfile::tempdir().expect("data dir");
    let rt = start(&pki.files, data.path())
        .await
        .expect("mTLS server starts");
    assert!(rt.tls.as_ref().is_some_and(|t| t.verifies_clients()));
    let agent_identity = pki.ca.leaf(&["agent-1"]);
    let rogue_identity = Ca::new("rogue CA").leaf(&["agent-1"]);

    // Without a client certificate: refused, on both transports.
    let refused = wss_connect(&rt, client_config(&pki.ca.pem, None)).await;
    assert!(refused.is_err(), "wss without a client certificate got in");
    let no_cert = https_client(&pki.ca.pem, None);
    assert!(
        https_exchange(
            &no_cert,
            &rt.opamp_url(false),
            &message(AgentId::new_v7(), 0)
        )
        .await
        .is_err(),
        "https without a client certificate got in"
    );
    // A certificate from another CA: refused too.
    let rogue = https_client(&pki.ca.pem, Some(&rogue_identity));
    assert!(
        https_exchange(&rogue, &rt.opamp_url(false), &message(AgentId::new_v7(), 0))
            .await
            .is_err(),
        "a certificate from another CA got in"
    );

    // The API asks for the client certificate too.
    let api = no_cert
        .get(api_url(&rt, "/agents"))
        .bearer_auth(format!("{SECRET}-api"))
        .send()
        .await;
    assert!(
        api.is_err(),
        "the API answered a client without a certificate"
    );
    let api = https_client(&pki.ca.pem, Some(&agent_identity))
        .get(api_url(&rt, "/agents"))
        .bearer_auth(format!("{SECRET}-api"))
        .send()
        .await
        .expect("API with a client certificate");
    assert_eq!(api.status(), 200);

    // With a certificate from the client CA: served on both transports.
    let uid = AgentId::new_v7();
    let mut ws = wss_connect(&rt, client_config(&pki.ca.pem, Some(&agent_identity)))
        .await
        .expect("wss with a client certificate");
    let reply = wss_exchange(&mut ws, &message(uid, 0)).await;
    assert_eq!(reply.instance_uid, uid.as_bytes().to_vec());
    let good = https_client(&pki.ca.pem, Some(&agent_identity));
    let http_uid = AgentId::new_v7();
    let reply = https_exchange(&good, &rt.opamp_url(false), &message(http_uid, 0))
        .await
        .expect("https with a client certificate");
    assert_eq!(reply.instance_uid, http_uid.as_bytes().to_vec());
    // Only the two authenticated agents ever reached the registry.
    let snap = fleet_holds(&rt, &[uid, http_uid]).await;
    assert_eq!(snap.totals.agents, 2, "{:?}", snap.agents);
    rt.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_holds_up_nobody() {
    let pki = pki(false);
    let data = tempfile::tempdir().expect("data dir");
    let rt = start(&pki.files, data.path())
        .await
        .expect("TLS server starts");
    // Several connections that say nothing at all.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(rt.agent_addr).await.expect("tcp"));
    }
    let client = https_client(&pki.ca.pem, None);
    let uid = AgentId::new_v7();
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        https_exchange(&client, &rt.opamp_url(false), &message(uid, 0)),
    )
    .await
    .expect("served while others stall")
    .expect("https exchange");
    assert_eq!(reply.instance_uid, uid.as_bytes().to_vec());
    drop(idle);
    rt.stop().await;
}

#[tokio::test]
async fn unusable_tls_files_stop_the_start_naming_the_file() {
    let pki = pki(false);
    let data = tempfile::tempdir().expect("data dir");
    let dir = pki.dir.path();

    let missing = TlsFiles {
        key: dir.join("nope.pem"),
        ..pki.files.clone()
    };
    let e = start(&missing, data.path()).await.err().expect("refused");
    assert!(e.to_string().contains("nope.pem"), "{e}");

    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").expect("write");
    let not_pem = TlsFiles {
        cert: garbage.clone(),
        ..pki.files.clone()
    };
    let e = start(&not_pem, data.path()).await.err().expect("refused");
    assert!(
        e.to_string().contains("garbage.pem") && e.to_string().contains("no PEM certificate"),
        "{e}"
    );

    // A key that does not belong to the certificate.
    let (_, other_key) = pki.ca.leaf(&["localhost"]);
    let wrong_key = dir.join("wrong-key.pem");
    std::fs::write(&wrong_key, other_key).expect("write");
    let mismatched = TlsFiles {
        key: wrong_key,
        ..pki.files.clone()
    };
    let e = start(&mismatched, data.path())
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("cannot be used together"), "{e}");

    // The client CA file must hold certificates.
    let bad_ca = TlsFiles {
        client_ca: Some(garbage),
        ..pki.files.clone()
    };
    let e = start(&bad_ca, data.path()).await.err().expect("refused");
    assert!(e.to_string().contains("client CA"), "{e}");
}

/// A handshake refused for want of a client certificate is logged (an operator needs to
/// see why an agent cannot get in), a few lines at most however many are refused.
#[tokio::test]
async fn refused_handshakes_are_logged_within_a_budget() {
    let pki = pki(true);
    let data = tempfile::tempdir().expect("data dir");
    let mut cmd = common::headless::command(
        &data.path().join("data"),
        &common::headless::empty_config(data.path()),
        SECRET,
    );
    cmd.arg("--tls-cert")
        .arg(&pki.files.cert)
        .arg("--tls-key")
        .arg(&pki.files.key)
        .arg("--tls-client-ca")
        .arg(pki.files.client_ca.as_ref().expect("client CA"));
    let mut server = common::headless::Headless::spawn(cmd, true);
    let banner = server.wait_for_line("wss://");
    let start = banner.find("wss://").expect("wss url");
    let url = banner[start..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap_or_default()
        .replace("wss://", "https://");
    let no_cert = https_client(&pki.ca.pem, None);
    for _ in 0..30 {
        let refused = https_exchange(&no_cert, &url, &message(AgentId::new_v7(), 0)).await;
        assert!(refused.is_err(), "got in without a client certificate");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, out) = server.stop();
    assert!(status.success(), "{out}");
    let logged = out.matches("TLS handshake refused").count();
    assert!((1..=5).contains(&logged), "{logged} lines:\n{out}");
}

/// The CLI (the real binary) manages a server over https: trusting its CA with `--ca`,
/// presenting a client certificate where the server asks for one, and saying what is wrong
/// when it cannot.
#[tokio::test]
async fn the_cli_manages_a_server_over_https() {
    let pki = pki(true);
    let data = tempfile::tempdir().expect("data dir");
    let rt = start(&pki.files, data.path()).await.expect("server starts");
    let dir = tempfile::tempdir().expect("cli dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca.pem).expect("ca written");
    let (cert_pem, key_pem) = pki.ca.leaf(&["operator"]);
    let (cert, key) = (dir.path().join("me.pem"), dir.path().join("me.key"));
    std::fs::write(&cert, cert_pem).expect("cert written");
    std::fs::write(&key, key_pem).expect("key written");
    let server = format!("https://localhost:{}", rt.api_addr.port());
    let token = format!("{SECRET}-api");
    let home = dir.path().to_path_buf();
    let run = move |extra: Vec<String>| {
        let server = server.clone();
        let token = token.clone();
        let home = home.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
                .args(["get", "agents", "--server", &server, "--token", &token])
                .args(&extra)
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", &home)
                .env_remove("FLEETDECK_CA")
                .env_remove("FLEETDECK_CLIENT_CERT")
                .env_remove("FLEETDECK_CLIENT_KEY")
                .output()
                .expect("the CLI runs")
        })
    };
    let path = |p: &Path| p.display().to_string();

    let ok = run(vec![
        "--ca".into(),
        path(&ca),
        "--client-cert".into(),
        path(&cert),
        "--client-key".into(),
        path(&key),
    ])
    .await
    .expect("joined");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // The system's roots do not know this CA.
    let untrusted = run(vec![]).await.expect("joined");
    assert_eq!(untrusted.status.code(), Some(1));
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert!(said.contains("certificate"), "{said}");

    // The server asks for a client certificate; without one the CLI is refused.
    let anonymous = run(vec!["--ca".into(), path(&ca)]).await.expect("joined");
    assert_eq!(anonymous.status.code(), Some(1));

    // A CA file that is not there is named, with the flag that named it.
    let missing = dir.path().join("nope.pem");
    let wrong = run(vec!["--ca".into(), path(&missing)])
        .await
        .expect("joined");
    assert_eq!(wrong.status.code(), Some(1));
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("--ca") && said.contains("nope.pem"), "{said}");

    // A profile keeps the TLS files: after `profile create`, a bare command works.
    let home = dir.path().to_path_buf();
    let cli = move |args: Vec<String>| {
        let home = home.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
                .args(&args)
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", &home)
                .env_remove("FLEETDECK_CA")
                .env_remove("FLEETDECK_CLIENT_CERT")
                .env_remove("FLEETDECK_CLIENT_KEY")
                .env_remove("FLEETDECK_SERVER")
                .env_remove("FLEETDECK_API_TOKEN")
                .output()
                .expect("the CLI runs")
        })
    };
    let made = cli(vec![
        "profile".into(),
        "create".into(),
        "prod".into(),
        "--server".into(),
        format!("https://localhost:{}", rt.api_addr.port()),
        "--token".into(),
        format!("{SECRET}-api"),
        "--ca".into(),
        path(&ca),
        "--client-cert".into(),
        path(&cert),
        "--client-key".into(),
        path(&key),
    ])
    .await
    .expect("joined");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let listed = cli(vec!["profile".into(), "list".into()])
        .await
        .expect("joined");
    let said = String::from_utf8_lossy(&listed.stdout);
    assert!(said.contains("ca, client cert"), "{said}");
    let bare = cli(vec!["get".into(), "agents".into()])
        .await
        .expect("joined");
    assert!(
        bare.status.success(),
        "{}",
        String::from_utf8_lossy(&bare.stderr)
    );
    // A profile naming a file that is not there is refused when it is made.
    let bad = cli(vec![
        "profile".into(),
        "create".into(),
        "broken".into(),
        "--server".into(),
        "https://localhost:1".into(),
        "--ca".into(),
        path(&missing),
    ])
    .await
    .expect("joined");
    assert_eq!(bad.status.code(), Some(1));
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("--ca") && said.contains("nope.pem"), "{said}");
    rt.stop().await;
}

/// The simulator over TLS: agents that trust the test CA speak OpAMP over wss:// and
/// https:// and push their own metrics over https://; with a client CA, agents holding one
/// of its certificates get in and agents without are refused.
#[tokio::test]
async fn simulated_agents_run_over_tls_and_mutual_tls() {
    use fleetdeck::args::SimTransport;
    use fleetdeck::sim::{self, SimConfig};

    let quick = |url: String, n: usize, transport: SimTransport, seed: u64| {
        let mut cfg = SimConfig::new(url, n);
        cfg.transport = transport;
        cfg.secret_key = Some(SECRET.to_string());
        cfg.seed = seed;
        cfg.heartbeat = Duration::from_secs(1);
        cfg.metrics_interval = Duration::from_millis(300);
        cfg.backoff_initial = Duration::from_millis(100);
        cfg.backoff_max = Duration::from_millis(300);
        cfg
    };

    // Server authentication only: the agents trust the test CA.
    let p = pki(false);
    let data = tempfile::tempdir().expect("data");
    let rt = start(&p.files, data.path()).await.expect("starts");
    let ca = p.dir.path().join("ca.pem");
    std::fs::write(&ca, &p.ca.pem).expect("write CA");
    let mut ws = quick(rt.opamp_url(true), 2, SimTransport::Ws, 3);
    ws.tls_ca = Some(ca.clone());
    let mut http = quick(rt.opamp_url(false), 2, SimTransport::Http, 4);
    http.tls_ca = Some(ca.clone());
    let (ws, http) = (
        sim::start(ws).await.expect("wss"),
        sim::start(http).await.expect("https"),
    );
    let ids: Vec<AgentId> = ws
        .agent_ids()
        .iter()
        .chain(http.agent_ids())
        .copied()
        .collect();
    fleet_holds(&rt, &ids).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while rt.telemetry.agents_reporting() < ids.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "own metrics over https from {} of {} agents",
            rt.telemetry.agents_reporting(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ws.shutdown().await;
    http.shutdown().await;
    rt.stop().await;

    // Mutual TLS: a certificate from the client CA gets in; none does not.
    let p = pki(true);
    let data = tempfile::tempdir().expect("data");
    let rt = start(&p.files, data.path()).await.expect("starts");
    let write = |name: &str, text: &str| {
        let path = p.dir.path().join(name);
        std::fs::write(&path, text).expect("write pem");
        path
    };
    let ca = write("ca.pem", &p.ca.pem);
    let (cert, key) = p.ca.leaf(&["agent-1"]);
    let identity = (write("agent.pem", &cert), write("agent-key.pem", &key));
    let mut with = quick(rt.opamp_url(true), 1, SimTransport::Ws, 5);
    with.tls_ca = Some(ca.clone());
    with.tls_identity = Some(identity);
    let mut without = quick(rt.opamp_url(true), 1, SimTransport::Ws, 6);
    without.tls_ca = Some(ca);
    let with = sim::start(with).await.expect("with a certificate");
    let without = sim::start(without).await.expect("without one");
    fleet_holds(&rt, with.agent_ids()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let snap = rt.registry.snapshot().borrow().clone();
    assert!(
        snap.get(&without.agent_ids()[0]).is_none(),
        "an agent without a client certificate must not get in"
    );
    assert!(without.stats().connect_errors > 0, "{}", without.stats());
    with.shutdown().await;
    without.shutdown().await;
    rt.stop().await;
}
