//! Secret parameter values are sealed at rest: no file of the data directory (the database,
//! its write-ahead log) holds them in clear, while agents, admins and re-applies see them as
//! before; a store written before sealing is sealed at start; `fleetdeck secrets rotate-key`
//! reseals everything with a new key and the old one is dropped; a lost key file stops the
//! server with an error that says so.

mod common;

use std::path::Path;

use common::*;
use fleetdeck::catalog::ApplyStatus;
use fleetdeck::fleet::delivery::ConfigRef;
use fleetdeck::runtime::Runtime;
use fleetdeck::settings::Settings;

const TOKEN: &str = "dt0c01.ATRESTSECRET7f3e21";

const RESOURCES: &str = r#"apiVersion: fleetdeck/v1
kind: Destination
metadata: {name: tenant}
spec:
  type: dynatrace
  parameters: {endpoint: "https://abc123.live.dynatrace.com/api/v2/otlp", api_token: "dt0c01.ATRESTSECRET7f3e21"}
---
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: traced}
spec:
  sources: [{type: otlp}]
  destinations: [{name: tenant}]
"#;

/// The files of `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("data dir") {
        let path = entry.expect("entry").path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).expect("readable");
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            out.push(path.file_name().expect("name").to_string_lossy().into());
        }
    }
    out
}

async fn start(dir: &Path) -> Runtime {
    Runtime::start(&Settings::ephemeral(dir, SECRET))
        .await
        .expect("server starts")
}

async fn apply_all(rt: &Runtime) -> Vec<ApplyStatus> {
    let results = rt
        .catalog
        .apply_text(RESOURCES, None)
        .await
        .expect("parses");
    for r in &results {
        assert!(r.problems.is_empty(), "{results:?}");
    }
    results.into_iter().map(|r| r.status).collect()
}

/// What an agent would be sent for `traced`.
async fn offered_text(rt: &Runtime) -> String {
    let cref = ConfigRef {
        name: "traced".into(),
        version: 1,
    };
    let offer = rt.catalog.offer(&cref).await.expect("offer");
    offer
        .files
        .files
        .values()
        .map(|f| String::from_utf8_lossy(&f.body).into_owned())
        .collect()
}

fn current_key_ids(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("secrets-key"))
        .expect("key file")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn stored_secrets_are_sealed_on_disk_and_work_as_before() {
    let dir = tempfile::tempdir().expect("dir");
    let rt = start(dir.path()).await;
    apply_all(&rt).await;
    assert_eq!(
        files_holding(dir.path(), TOKEN),
        Vec::<String>::new(),
        "no file of the data directory holds the token in clear"
    );
    assert!(
        !files_holding(dir.path(), "sealed:v1:").is_empty(),
        "the sealed form is what is stored"
    );
    assert!(
        offered_text(&rt).await.contains(TOKEN),
        "agents get the real token"
    );
    assert_eq!(
        apply_all(&rt).await,
        [ApplyStatus::Unchanged, ApplyStatus::Unchanged],
        "applying the same again changes nothing"
    );
    // A configuration without secrets stays readable where it is stored (replicas on one
    // database need the key file only for secrets).
    let plain = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: plain}
spec:
  sources: [{type: otlp}]
  destinations: [{type: otlphttp, parameters: {endpoint: "https://plain-sink.example:4318"}}]
"#;
    assert!(
        files_holding(dir.path(), "exporters:").is_empty(),
        "the rendering with the token is sealed whole"
    );
    let results = rt.catalog.apply_text(plain, None).await.expect("applies");
    assert!(results[0].problems.is_empty(), "{results:?}");
    // `exporters:` is in a rendering only (the spec's JSON quotes its keys).
    assert!(
        !files_holding(dir.path(), "exporters:").is_empty(),
        "its rendering has nothing to seal"
    );
    // An admin reads the destination back with its token, ready to apply again.
    let resp = http_client()
        .get(format!("http://{}/api/v1/destinations/tenant", rt.api_addr))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("request");
    let body = resp.text().await.expect("body");
    assert!(body.contains(TOKEN), "{body}");
    rt.stop().await;

    let rt = start(dir.path()).await;
    assert!(offered_text(&rt).await.contains(TOKEN), "after a restart");
    assert_eq!(files_holding(dir.path(), TOKEN), Vec::<String>::new());
    rt.stop().await;
}

#[tokio::test]
async fn a_store_written_before_sealing_is_sealed_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    {
        // As a fleetdeck without sealing wrote it.
        let store = fleetdeck::store::Store::open(dir.path()).expect("store");
        let catalog = fleetdeck::catalog::Catalog::open(store)
            .await
            .expect("catalog");
        let results = catalog.apply_text(RESOURCES, None).await.expect("applies");
        assert!(results.iter().all(|r| r.problems.is_empty()), "{results:?}");
    }
    assert!(
        !files_holding(dir.path(), TOKEN).is_empty(),
        "the old store holds the token in clear"
    );

    let rt = start(dir.path()).await;
    assert_eq!(
        files_holding(dir.path(), TOKEN),
        Vec::<String>::new(),
        "sealed in place at start, the old text overwritten"
    );
    assert!(offered_text(&rt).await.contains(TOKEN));
    rt.stop().await;
}

#[tokio::test]
async fn rotating_the_key_reseals_everything_and_drops_the_old_key() {
    let dir = tempfile::tempdir().expect("dir");
    let rt = start(dir.path()).await;
    apply_all(&rt).await;
    rt.stop().await;
    let old = current_key_ids(dir.path());
    assert_eq!(old.len(), 1, "{old:?}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["secrets", "rotate-key", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("restart the server"), "{stdout}");
    assert_eq!(
        current_key_ids(dir.path()).len(),
        2,
        "both until the reseal"
    );

    let rt = start(dir.path()).await;
    let now = current_key_ids(dir.path());
    assert_eq!(now.len(), 1, "the old key is dropped: {now:?}");
    assert_ne!(now, old);
    assert!(
        files_holding(dir.path(), &format!("sealed:v1:{}:", old[0])).is_empty(),
        "nothing is left sealed with the old key"
    );
    assert!(!files_holding(dir.path(), &format!("sealed:v1:{}:", now[0])).is_empty());
    assert!(offered_text(&rt).await.contains(TOKEN));
    rt.stop().await;
}

#[tokio::test]
async fn a_lost_key_file_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let rt = start(dir.path()).await;
    apply_all(&rt).await;
    rt.stop().await;
    std::fs::remove_file(dir.path().join("secrets-key")).expect("removed");

    let err = Runtime::start(&Settings::ephemeral(dir.path(), SECRET))
        .await
        .err()
        .expect("refuses to start")
        .to_string();
    assert!(
        err.contains("secrets-key") && err.contains("does not hold"),
        "{err}"
    );
}

#[test]
fn rotate_key_refuses_a_directory_that_is_no_data_directory() {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(["secrets", "rotate-key", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("holds no fleetdeck store"), "{stderr}");
    assert!(!dir.path().join("secrets-key").exists(), "nothing written");
}

/// On PostgreSQL the same: what the database holds, read with its own client, has no token.
#[tokio::test]
async fn on_postgresql_the_stored_specs_hold_no_secret_either() {
    let Some(url) = common::pg::database() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = Settings::ephemeral(dir.path(), SECRET);
    settings.store = Some(url.clone());
    let rt = Runtime::start(&settings).await.expect("server starts");
    apply_all(&rt).await;
    assert!(offered_text(&rt).await.contains(TOKEN));
    rt.stop().await;
    // The driver runs a runtime of its own: off this one.
    let specs: Vec<String> = std::thread::spawn(move || {
        let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        db.query("SELECT spec FROM resource_versions", &[])
            .expect("query")
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect()
    })
    .join()
    .expect("reader thread");
    assert!(!specs.is_empty());
    assert!(
        specs.iter().all(|s| !s.contains(TOKEN)),
        "a token in clear: {specs:?}"
    );
    assert!(specs.iter().any(|s| s.contains("sealed:v1:")));
}
