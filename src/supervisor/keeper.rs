//! The keeper owns the Collector process and its configuration files. It takes commands
//! (apply this configuration, restart, send own metrics there) and publishes a
//! [`View`] of what is true now: the process's health, the configuration it runs and the
//! status of the last remote configuration.
//!
//! Applying: add the supervisor's own file, run the Collector's validator, swap, restart,
//! and call it APPLIED only after the process stayed up through the settle window with no
//! fatal line. A configuration that kills the process is rolled back to the last good one.
//! The server connection plays no part: a Collector keeps running (and is restarted after
//! a crash, with backoff) whether or not the server can be reached.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::collector::{CollectorBinary, Verdict};
use super::config::{OwnPart, own_file};
use super::process::{Running, failure_reason, stop_leftover};
use super::state::{Saved, StateDir};
use crate::client::core::unix_nanos;
use crate::client::{MetricsTarget, RemoteState, RemoteStatus};

/// The server's configuration as it runs, and the supervisor's part beside it.
pub const COLLECTOR_FILE: &str = "collector.yaml";
pub const OWN_FILE: &str = "supervisor.yaml";
/// A configuration being applied.
const PENDING_FILE: &str = "pending.yaml";
/// How long the Collector gets to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Crash restarts wait from 1 s doubling up to this.
const MAX_CRASH_BACKOFF: Duration = Duration::from_secs(60);
/// A run this long resets the crash backoff.
const STABLE_RUN: Duration = Duration::from_secs(60);

pub enum Command {
    /// A new remote configuration: its body, or why it could not be read from the offer.
    Apply {
        hash: Vec<u8>,
        body: Result<Option<Vec<u8>>, String>,
    },
    Restart,
    Metrics(Option<MetricsTarget>),
    Identity(String),
    Shutdown,
}

/// The process as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessHealth {
    pub up: bool,
    pub pid: Option<u32>,
    /// When it started (up) or stopped (down), Unix ns.
    pub since_ns: u64,
    pub restarts: u32,
    /// "exit status 1", "signal 9", …
    pub last_exit: Option<String>,
    pub last_error: String,
    /// One phrase: running, starting, crashed, no configuration, …
    pub status: String,
}

/// The files a Collector runs with: the server's, as it was sent, then the supervisor's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub collector: String,
    pub own: String,
}

/// What is true now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    pub health: ProcessHealth,
    /// The configuration the process runs, if any.
    pub effective: Option<Arc<Files>>,
    pub remote: Option<RemoteState>,
}

pub struct KeeperConfig {
    pub binary: CollectorBinary,
    pub state: StateDir,
    pub own: OwnPart,
    /// The operator's own configuration, run until the server sends one.
    pub bootstrap: Option<Vec<u8>>,
    pub settle: Duration,
    /// The tap receiver, told which pipelines each configuration runs (`own.tap` is
    /// where they export to it).
    pub tap: Option<Arc<super::tap::TapHub>>,
}

/// The last configuration that ran well.
#[derive(Clone)]
struct Good {
    body: Vec<u8>,
}

pub struct Keeper {
    cfg: KeeperConfig,
    saved: Saved,
    good: Option<Good>,
    /// The files the process runs now.
    running: Option<Arc<Files>>,
    process: Option<Running>,
    health: ProcessHealth,
    crash_backoff: Duration,
    restart_at: Option<Instant>,
    view: watch::Sender<View>,
}

/// Starts the keeper; returns its command channel and the view.
pub async fn start(
    cfg: KeeperConfig,
) -> Result<
    (
        mpsc::Sender<Command>,
        watch::Receiver<View>,
        tokio::task::JoinHandle<()>,
    ),
    super::state::StateError,
> {
    let mut saved = cfg.state.load()?;
    let mut cfg = cfg;
    if saved.metrics.is_some() && cfg.own.metrics.is_none() {
        // The last destination the server offered, until it offers again.
        cfg.own.metrics = saved.metrics.clone();
    }
    let good = match cfg.state.read("good.yaml")? {
        Some(body) => Some(Good { body }),
        None => cfg.bootstrap.clone().map(|body| Good { body }),
    };
    if good.is_none() {
        saved.good_hash = None;
    }
    let (view_tx, view_rx) = watch::channel(View {
        remote: saved.remote.clone(),
        ..View::default()
    });
    let (tx, rx) = mpsc::channel(32);
    let keeper = Keeper {
        cfg,
        saved,
        good,
        running: None,
        process: None,
        health: ProcessHealth {
            status: "starting".into(),
            since_ns: unix_nanos(),
            ..Default::default()
        },
        crash_backoff: Duration::from_secs(1),
        restart_at: None,
        view: view_tx,
    };
    let task = tokio::spawn(keeper.run(rx));
    Ok((tx, view_rx, task))
}

impl Keeper {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        stop_leftover(&self.cfg.state, &self.cfg.binary.path).await;
        self.launch_good().await;
        self.resume().await;
        loop {
            let restart_at = self.restart_at;
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Shutdown) | None => break,
                    Some(cmd) => self.command(cmd).await,
                },
                status = async {
                    match self.process.as_mut() {
                        Some(p) => p.wait().await,
                        None => std::future::pending().await,
                    }
                } => self.crashed(status.ok()),
                _ = async {
                    match restart_at {
                        Some(at) => sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.restart_at = None;
                    self.launch_good().await;
                }
            }
        }
        if let Some(p) = self.process.take() {
            p.stop(STOP_GRACE, &self.cfg.state).await;
        }
    }

    /// A supervisor stopped in the middle of an apply (killed, or the machine went down)
    /// finishes it now: the configuration was kept as `pending.yaml`. Without it, the
    /// status is forgotten, so the server's next offer of that hash is taken again.
    async fn resume(&mut self) {
        let Some(remote) = self
            .saved
            .remote
            .clone()
            .filter(|r| r.status == RemoteStatus::Applying)
        else {
            return;
        };
        match self.cfg.state.read(PENDING_FILE) {
            Ok(Some(body)) => {
                tracing::info!("finishing a configuration that was being applied when we stopped");
                self.apply(remote.hash, Ok(Some(body))).await;
            }
            _ => {
                self.saved.remote = None;
                self.persist();
                self.publish();
            }
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Apply { hash, body } => self.apply(hash, body).await,
            Command::Restart => {
                tracing::info!("restarting the Collector (server's command)");
                self.health.restarts += 1;
                self.launch_good().await;
            }
            Command::Metrics(target) => {
                if target == self.cfg.own.metrics {
                    return;
                }
                self.cfg.own.metrics = target.clone();
                self.saved.metrics = target;
                self.persist();
                // The own part changed: the same configuration runs again with it.
                self.launch_good().await;
            }
            Command::Identity(id) => {
                self.cfg.own.instance_id = id;
                self.launch_good().await;
            }
            Command::Shutdown => {}
        }
    }

    fn persist(&self) {
        if let Err(e) = self.cfg.state.save(&self.saved) {
            tracing::error!("cannot save the supervisor's state: {e}");
        }
    }

    fn set_remote(&mut self, hash: &[u8], status: RemoteStatus, error: impl Into<String>) {
        let remote = RemoteState {
            hash: hash.to_vec(),
            status,
            error: error.into(),
        };
        self.saved.remote = Some(remote);
        self.persist();
        self.publish();
    }

    fn publish(&self) {
        let view = View {
            health: self.health.clone(),
            effective: self.running.clone(),
            remote: self.saved.remote.clone(),
        };
        self.view.send_if_modified(|v| {
            let changed = *v != view;
            *v = view;
            changed
        });
    }

    /// Starts (or restarts) the last good configuration; the reason is logged on failure.
    async fn launch_good(&mut self) {
        self.restart_at = None;
        let Some(good) = self.good.clone() else {
            self.stop().await;
            self.health.status = "waiting for a configuration".into();
            self.publish();
            return;
        };
        let files = match self.files_for(&good.body) {
            Ok(f) => f,
            Err(e) => {
                self.health.status = "cannot run the last good configuration".into();
                self.health.last_error = e.to_string();
                self.publish();
                return;
            }
        };
        if let Err(e) = self.launch(files).await {
            self.health.last_error = e;
            self.schedule_restart();
        }
        self.publish();
    }

    /// The server's configuration and our own file to run beside it.
    fn files_for(&self, body: &[u8]) -> Result<Files, super::config::MergeError> {
        let own = own_file(body, &self.cfg.own)?;
        // own_file has checked that the body is UTF-8.
        let collector = String::from_utf8_lossy(body).into_owned();
        Ok(Files { collector, own })
    }

    /// Stops what runs and starts `files` in its place.
    async fn launch(&mut self, files: Files) -> Result<(), String> {
        self.stop().await;
        let state = &self.cfg.state;
        state
            .write(COLLECTOR_FILE, files.collector.as_bytes(), 0o600)
            .and_then(|()| state.write(OWN_FILE, files.own.as_bytes(), 0o600))
            .map_err(|e| e.to_string())?;
        let env = self.cfg.own.env();
        let configs = [state.path(COLLECTOR_FILE), state.path(OWN_FILE)];
        let run = Running::start(&self.cfg.binary.path, &configs, &env, state)
            .map_err(|e| format!("cannot start {}: {e}", self.cfg.binary.path.display()))?;
        if let Some(hub) = &self.cfg.tap {
            let tapped = self.cfg.own.tap.as_ref().map_or_else(Vec::new, |_| {
                super::config::tappable_pipelines(files.collector.as_bytes())
            });
            hub.running(tapped);
        }
        tracing::info!(pid = run.pid, "Collector started");
        self.health.up = true;
        self.health.pid = Some(run.pid);
        self.health.since_ns = run.started_ns;
        self.health.status = "running".into();
        self.running = Some(Arc::new(files));
        self.process = Some(run);
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            let status = p.stop(STOP_GRACE, &self.cfg.state).await;
            self.health.up = false;
            self.health.pid = None;
            self.health.since_ns = unix_nanos();
            self.health.status = "stopped".into();
            if let Some(s) = status {
                self.health.last_exit = Some(exit_text(&s));
            }
        }
    }

    /// The process ended by itself: record why and restart it later, with backoff.
    fn crashed(&mut self, status: Option<std::process::ExitStatus>) {
        let Some(process) = self.process.take() else {
            return;
        };
        let ran = Duration::from_nanos(unix_nanos().saturating_sub(process.started_ns));
        let reason = failure_reason(&process.tail());
        let exit = status.map_or_else(|| "unknown exit".to_string(), |s| exit_text(&s));
        tracing::warn!(pid = process.pid, "the Collector exited ({exit}): {reason}");
        self.cfg.state.remove("collector.pid");
        if ran >= STABLE_RUN {
            self.crash_backoff = Duration::from_secs(1);
        }
        self.health.up = false;
        self.health.pid = None;
        self.health.since_ns = unix_nanos();
        self.health.restarts += 1;
        self.health.last_exit = Some(exit.clone());
        self.health.last_error = reason;
        self.health.status = format!("crashed ({exit})");
        self.schedule_restart();
        self.publish();
    }

    fn schedule_restart(&mut self) {
        let wait = self.crash_backoff;
        self.crash_backoff = (self.crash_backoff * 2).min(MAX_CRASH_BACKOFF);
        self.restart_at = Some(Instant::now() + wait);
        self.health.status = format!("{}; restarting in {}s", self.health.status, wait.as_secs());
    }

    async fn apply(&mut self, hash: Vec<u8>, body: Result<Option<Vec<u8>>, String>) {
        let body = match body {
            Ok(Some(b)) => b,
            Ok(None) => match self.cfg.bootstrap.clone() {
                Some(b) => b,
                None => {
                    return self.set_remote(
                        &hash,
                        RemoteStatus::Failed,
                        "the server sent an empty configuration and this agent has no --collector-config of its own to return to",
                    );
                }
            },
            Err(e) => return self.set_remote(&hash, RemoteStatus::Failed, e),
        };
        // Kept until the apply ends, so a supervisor killed meanwhile can finish it.
        if let Err(e) = self.cfg.state.write(PENDING_FILE, &body, 0o600) {
            return self.set_remote(&hash, RemoteStatus::Failed, format!("not applied: {e}"));
        }
        self.set_remote(&hash, RemoteStatus::Applying, "");
        self.apply_checked(hash, body).await;
        self.cfg.state.remove(PENDING_FILE);
    }

    /// The rest of [`Keeper::apply`]: validate, swap, settle, and keep or roll back.
    async fn apply_checked(&mut self, hash: Vec<u8>, body: Vec<u8>) {
        let started = Instant::now();
        let files = match self.files_for(&body) {
            Ok(f) => f,
            Err(e) => return self.set_remote(&hash, RemoteStatus::Failed, e.to_string()),
        };
        let state = self.cfg.state.clone();
        let written = state
            .write("candidate.yaml", files.collector.as_bytes(), 0o600)
            .and_then(|()| state.write("candidate-supervisor.yaml", files.own.as_bytes(), 0o600));
        if let Err(e) = written {
            return self.set_remote(&hash, RemoteStatus::Failed, format!("not applied: {e}"));
        }
        let candidates = [
            state.path("candidate.yaml"),
            state.path("candidate-supervisor.yaml"),
        ];
        let verdict = self
            .cfg
            .binary
            .validate(&candidates, &self.cfg.own.env())
            .await;
        state.remove("candidate.yaml");
        state.remove("candidate-supervisor.yaml");
        let validated = started.elapsed();
        match verdict {
            Ok(Verdict::Valid) => {}
            Ok(Verdict::Invalid(message)) => {
                tracing::warn!("the Collector's validator rejected a configuration: {message}");
                return self.set_remote(
                    &hash,
                    RemoteStatus::Failed,
                    format!("rejected by the Collector's validator: {message}"),
                );
            }
            Err(e) => {
                return self.set_remote(&hash, RemoteStatus::Failed, format!("not validated: {e}"));
            }
        }
        let previous = self.good.clone();
        if let Err(e) = self.launch(files).await {
            self.set_remote(&hash, RemoteStatus::Failed, e);
            return self.launch_good().await;
        }
        let launched = started.elapsed();
        self.publish();
        match self.settle().await {
            Ok(()) => {
                tracing::info!(
                    validate_ms = validated.as_millis() as u64,
                    restart_ms = (launched - validated).as_millis() as u64,
                    settle_ms = (started.elapsed() - launched).as_millis() as u64,
                    "configuration applied"
                );
                if let Err(e) = state.write("good.yaml", &body, 0o600) {
                    tracing::error!("cannot keep the applied configuration: {e}");
                }
                self.good = Some(Good { body });
                self.saved.good_hash = Some(hash.clone());
                self.crash_backoff = Duration::from_secs(1);
                self.set_remote(&hash, RemoteStatus::Applied, "");
            }
            Err(why) => {
                let back = match &previous {
                    Some(_) => "rolled back to the last good configuration",
                    None => "no earlier configuration to roll back to",
                };
                tracing::warn!("configuration failed after start ({why}); {back}");
                self.health.restarts += 1;
                self.good = previous;
                self.set_remote(&hash, RemoteStatus::Failed, format!("{why}; {back}"));
                self.launch_good().await;
            }
        }
    }

    /// Watches a just-started process through the settle window.
    async fn settle(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + self.cfg.settle;
        let Some(process) = self.process.as_mut() else {
            return Err("the Collector did not start".into());
        };
        loop {
            if let Some(line) = process.fatal() {
                return Err(format!("the Collector logged a fatal error: {line}"));
            }
            tokio::select! {
                status = process.wait() => {
                    // Let the output readers catch the last lines.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let exit = status.map(|s| exit_text(&s)).unwrap_or_else(|e| e.to_string());
                    let reason = failure_reason(&process.tail());
                    self.health.last_exit = Some(exit.clone());
                    self.health.last_error = reason.clone();
                    self.process = None;
                    self.cfg.state.remove("collector.pid");
                    return Err(format!(
                        "the Collector exited ({exit}) within {}s of starting with it: {reason}",
                        self.cfg.settle.as_secs_f64()
                    ));
                }
                _ = sleep_until(deadline) => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }
}

fn exit_text(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("signal {sig}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "exited".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in Collector: `validate` refuses configurations that say REJECT, and a run
    /// of one that says CRASH ends at once with an `Error:` line.
    fn fake_collector(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("fake-otelcol");
        let script = r#"#!/bin/sh
case "$1" in
  validate)
    f="${2#--config=}"
    if grep -q REJECT "$f"; then echo "Error: 'receivers' has invalid keys: REJECT" >&2; exit 1; fi
    exit 0;;
  --config=*)
    f="${1#--config=}"
    if grep -q CRASH "$f"; then echo "Error: cannot start: CRASH asked for" >&2; exit 1; fi
    exec sleep 60;;
esac
"#;
        std::fs::write(&path, script).expect("script");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        path
    }

    async fn keeper(
        dir: &std::path::Path,
        bootstrap: Option<&str>,
    ) -> (
        mpsc::Sender<Command>,
        watch::Receiver<View>,
        tokio::task::JoinHandle<()>,
    ) {
        start(KeeperConfig {
            binary: CollectorBinary::new(fake_collector(dir)),
            state: StateDir::open(&dir.join("state")).expect("state"),
            own: OwnPart {
                instance_id: "test".into(),
                metrics: None,
                ca_file: None,
                tap: None,
            },
            bootstrap: bootstrap.map(|b| b.as_bytes().to_vec()),
            settle: Duration::from_millis(500),
            tap: None,
        })
        .await
        .expect("keeper starts")
    }

    async fn until(
        view: &mut watch::Receiver<View>,
        what: &str,
        pred: impl Fn(&View) -> bool,
    ) -> View {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = view.borrow_and_update().clone();
            if pred(&v) {
                return v;
            }
            assert!(
                tokio::time::timeout_at(deadline, view.changed())
                    .await
                    .is_ok(),
                "timed out waiting for {what}; last view {v:?}"
            );
        }
    }

    fn status(v: &View) -> Option<(Vec<u8>, RemoteStatus)> {
        v.remote.as_ref().map(|r| (r.hash.clone(), r.status))
    }

    #[tokio::test]
    async fn applies_refuses_and_rolls_back() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (tx, mut view, task) = keeper(tmp.path(), Some("receivers: {}\n")).await;
        until(&mut view, "the bootstrap runs", |v| v.health.up).await;
        let apply = |hash: u8, body: &str| Command::Apply {
            hash: vec![hash],
            body: Ok(Some(body.as_bytes().to_vec())),
        };
        tx.send(apply(1, "exporters: {}\n")).await.expect("send");
        let v = until(&mut view, "applied", |v| {
            status(v) == Some((vec![1], RemoteStatus::Applied))
        })
        .await;
        assert!(
            v.effective
                .as_deref()
                .is_some_and(|e| e.collector.contains("exporters"))
        );
        let good_pid = v.health.pid;

        tx.send(apply(2, "receivers: {REJECT: 1}\n"))
            .await
            .expect("send");
        let v = until(&mut view, "refused", |v| {
            status(v) == Some((vec![2], RemoteStatus::Failed))
        })
        .await;
        let error = &v.remote.as_ref().expect("status").error;
        assert!(error.contains("has invalid keys: REJECT"), "{error}");
        assert_eq!(
            v.health.pid, good_pid,
            "the running Collector was not touched"
        );

        tx.send(apply(3, "receivers: {CRASH: 1}\n"))
            .await
            .expect("send");
        let v = until(&mut view, "rolled back", |v| {
            status(v) == Some((vec![3], RemoteStatus::Failed)) && v.health.up
        })
        .await;
        let error = &v.remote.as_ref().expect("status").error;
        assert!(error.contains("cannot start: CRASH asked for"), "{error}");
        assert!(error.contains("rolled back"), "{error}");
        assert!(
            v.effective
                .as_deref()
                .is_some_and(|e| e.collector.contains("exporters")),
            "{v:?}"
        );

        // What was applied and what failed is still known after a restart of the keeper.
        tx.send(Command::Shutdown).await.expect("send");
        task.await.expect("keeper ends");
        let (tx, mut view, task) = keeper(tmp.path(), None).await;
        let v = until(&mut view, "the last good one runs again", |v| v.health.up).await;
        assert!(
            v.effective
                .as_deref()
                .is_some_and(|e| e.collector.contains("exporters"))
        );
        assert_eq!(status(&v), Some((vec![3], RemoteStatus::Failed)));
        tx.send(Command::Shutdown).await.expect("send");
        task.await.expect("keeper ends");
    }

    #[tokio::test]
    async fn an_apply_cut_short_by_a_kill_is_finished_at_the_next_start() {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = StateDir::open(&tmp.path().join("state")).expect("state");
        // What a supervisor killed during the settle window leaves behind.
        state
            .save(&Saved {
                remote: Some(RemoteState {
                    hash: vec![7],
                    status: RemoteStatus::Applying,
                    error: String::new(),
                }),
                ..Saved::default()
            })
            .expect("save");
        state
            .write(PENDING_FILE, b"exporters: {resumed: {}}\n", 0o600)
            .expect("pending");
        let (tx, mut view, task) = keeper(tmp.path(), None).await;
        let v = until(&mut view, "the cut-short apply finished", |v| {
            status(v) == Some((vec![7], RemoteStatus::Applied))
        })
        .await;
        assert!(
            v.effective
                .as_deref()
                .is_some_and(|e| e.collector.contains("resumed"))
        );
        assert!(state.read(PENDING_FILE).expect("read").is_none());
        assert!(state.read("good.yaml").expect("read").is_some());
        tx.send(Command::Shutdown).await.expect("send");
        task.await.expect("keeper ends");
    }

    #[tokio::test]
    async fn a_crashing_collector_is_restarted_with_backoff_not_in_a_loop() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (tx, mut view, task) = keeper(tmp.path(), Some("receivers: {CRASH: 1}\n")).await;
        let v = until(&mut view, "a crash", |v| v.health.restarts >= 1).await;
        assert!(!v.health.up);
        assert!(v.health.last_error.contains("CRASH asked for"), "{v:?}");
        assert!(v.health.status.contains("restarting in"), "{v:?}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let restarts = view.borrow().health.restarts;
        // 1 s, then 2 s, then 4 s between attempts: a hot loop would count hundreds.
        assert!(
            (1..=3).contains(&restarts),
            "{restarts} restarts in about 3 s"
        );
        tx.send(Command::Shutdown).await.expect("send");
        task.await.expect("keeper ends");
    }
}
