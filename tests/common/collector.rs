//! A real Collector (otelcol-contrib from `../shared/peers/otelcol.sh`) under a real
//! `fleetdeck agent` process, for the tests that need one.
//!
//! The Collector is found through `FLEETDECK_OTELCOL` or in `~/.cache/fleet-peers`; the
//! tests say `SKIPPED` without it, and fail under CI (where `.ci/run` installs it).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::delivery::ApplyState;
use fleetdeck::rollout::plan::RollbackPolicy;
use fleetdeck::rollout::{RolloutOptions, Targets};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message as _;

use super::{SECRET, TestServer};

pub fn otelcol() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLEETDECK_OTELCOL").map(PathBuf::from)
        && p.is_file()
    {
        return Some(p);
    }
    let lib = dirs_home()?.join(".cache/fleet-peers/otelcol-venv/lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|py| {
        let bin = py
            .path()
            .join("site-packages/otel_collector/bin/otelcol-contrib_linux_amd64");
        bin.is_file().then_some(bin)
    })
}

pub fn dirs_home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// The Collector, or `None` after saying why (a failure under CI).
pub fn need_otelcol() -> Option<PathBuf> {
    let found = otelcol();
    if found.is_none() {
        let msg =
            "otelcol-contrib not found (run ../shared/peers/otelcol.sh or set FLEETDECK_OTELCOL)";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// A running `fleetdeck agent` process, killed when dropped.
pub struct Supervisor {
    pub child: Child,
    pub log: PathBuf,
}

impl Supervisor {
    pub fn start(server: &str, otelcol: &Path, state: &Path, extra: &[&str]) -> Supervisor {
        let log = state.with_extension(format!("log{}", rand_suffix()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
            .args(["agent", "--server", server, "--collector"])
            .arg(otelcol)
            .arg("--state-dir")
            .arg(state)
            .args(["--secret-key", SECRET, "--settle", "2", "--heartbeat", "1"])
            .args(["--label", "tier=real"])
            .args(extra)
            .env(
                "FLEETDECK_LOG",
                "info,fleetdeck::client=debug,fleetdeck::supervisor=debug",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Supervisor { child, log }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.terminate();
    }
}

pub fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default()
}

/// Appends a line to a file, as an application writing its log does.
pub fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// A loopback OTLP/HTTP receiver that keeps the bodies of the log records it gets.
pub struct Sink {
    pub url: String,
    pub lines: Arc<Mutex<Vec<String>>>,
}

pub async fn sink() -> Sink {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = lines.clone();
    let app = axum::Router::new().route(
        "/v1/logs",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                let gzipped = headers
                    .get("content-encoding")
                    .is_some_and(|v| v.as_bytes() == b"gzip");
                let raw = if gzipped {
                    let mut out = Vec::new();
                    let _ = std::io::Read::read_to_end(
                        &mut flate2::read::GzDecoder::new(&body[..]),
                        &mut out,
                    );
                    out
                } else {
                    body.to_vec()
                };
                if let Ok(req) = ExportLogsServiceRequest::decode(raw.as_slice()) {
                    let mut kept = kept.lock().unwrap();
                    for rl in req.resource_logs {
                        for sl in rl.scope_logs {
                            for rec in sl.log_records {
                                if let Some(any_value::Value::StringValue(s)) =
                                    rec.body.and_then(|b| b.value)
                                {
                                    kept.push(s);
                                }
                            }
                        }
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Sink { url, lines }
}

impl Sink {
    pub fn has(&self, line: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|l| l == line)
    }

    pub async fn wait_for(&self, line: &str) {
        self.wait_for_or(line, String::new).await
    }

    /// [`Sink::wait_for`], saying `context()` (e.g. the supervisor's log) on failure.
    pub async fn wait_for_or(&self, line: &str, context: impl Fn() -> String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !self.has(line) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the sink never received {line:?}; it has {:?}\n{}",
                self.lines.lock().unwrap(),
                context()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A filelog → batch → otlphttp pipeline built from fleetdeck's own resource types.
pub fn logs_pipeline(name: &str, log: &Path, sink: &str) -> String {
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: {name}\nspec:\n  sources:\n    - type: filelog\n      parameters: {{include: [\"{}\"], start_at: beginning}}\n  processors:\n    - type: batch\n  destinations:\n    - type: otlphttp\n      parameters: {{endpoint: \"{sink}\"}}\n",
        log.display()
    )
}

pub async fn push(server: &TestServer, yaml: &str, name: &str, id: AgentId) {
    let results = server
        .rt
        .catalog
        .apply_text(yaml, None)
        .await
        .expect("parses");
    assert!(results[0].problems.is_empty(), "{results:?}");
    let opts = RolloutOptions {
        initial: 1,
        rollback: RollbackPolicy::None,
        ..Default::default()
    };
    server
        .rt
        .rollouts
        .start(name, None, Targets::Agents(vec![id]), opts)
        .await
        .expect("rollout starts");
}

pub async fn wait_state(server: &TestServer, id: AgentId, name: &str, state: ApplyState) -> String {
    let snap = server
        .wait_for(&format!("{name} {state:?}"), |s| {
            s.get(&id)
                .and_then(|a| a.config.as_ref())
                .is_some_and(|c| &*c.config.name == name && c.state == state)
        })
        .await;
    snap.get(&id)
        .and_then(|a| a.config.as_ref())
        .map(|c| c.error.to_string())
        .unwrap_or_default()
}

pub async fn connected_agent(server: &TestServer) -> AgentId {
    let snap = server
        .wait_for("the supervised Collector connects", |s| {
            s.agents.iter().any(|a| a.is_connected())
        })
        .await;
    snap.agents
        .iter()
        .find(|a| a.is_connected())
        .map(|a| a.id)
        .unwrap()
}

/// An OTLP/HTTP logs endpoint that counts records, and answers 400 (a permanent error the
/// exporter does not retry) once told to refuse.
pub async fn counting_sink() -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (count, refuse) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let (c, r) = (count.clone(), refuse.clone());
    let app = axum::Router::new().route(
        "/v1/logs",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (c, r) = (c.clone(), r.clone());
            async move {
                use prost::Message as _;
                if r.load(Ordering::SeqCst) {
                    return (axum::http::StatusCode::BAD_REQUEST, Vec::new());
                }
                let mut raw = Vec::new();
                let _ = std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&body[..]),
                    &mut raw,
                );
                let req = opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest::decode(
                    if raw.is_empty() { &body[..] } else { &raw[..] },
                );
                let n: usize = req
                    .map(|r| {
                        r.resource_logs
                            .iter()
                            .flat_map(|rl| &rl.scope_logs)
                            .map(|sl| sl.log_records.len())
                            .sum()
                    })
                    .unwrap_or(0);
                c.fetch_add(n as u64, Ordering::SeqCst);
                (axum::http::StatusCode::OK, Vec::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, count, refuse)
}
