//! One running Collector process: started with a configuration file, its output kept
//! (the last lines, for error reports) and logged, stopped politely then firmly.
//!
//! No orphans: on Linux the child asks the kernel to kill it when the supervisor dies
//! (`PR_SET_PDEATHSIG`), and its pid is kept in the state directory so a supervisor
//! started after a `kill -9` stops a Collector that somehow survived before starting its own.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::collector::bounded;
use super::state::StateDir;

/// Lines of output kept for error reports.
const TAIL_LINES: usize = 40;
/// A longer line is cut (the Collector's JSON fields can be long).
const MAX_LINE: usize = 1024;
const PID_FILE: &str = "collector.pid";

/// The last lines a process printed, and whether one of them was fatal.
#[derive(Debug, Default)]
pub struct Tail {
    lines: VecDeque<String>,
    fatal: Option<String>,
}

impl Tail {
    fn push(&mut self, line: &str) {
        let line = bounded(line.trim_end(), MAX_LINE);
        if self.fatal.is_none() && is_fatal(&line) {
            self.fatal = Some(line.clone());
        }
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> Vec<String> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines.iter().skip(skip).cloned().collect()
    }
}

/// A log line that means the Collector is going down: a fatal or panic level, a Go
/// panic, or the `Error:` a failed start ends with.
fn is_fatal(line: &str) -> bool {
    line.contains("\tfatal\t")
        || line.contains("\tpanic\t")
        || line.contains("\"level\":\"fatal\"")
        || line.starts_with("panic:")
        || line.starts_with("Error: ")
}

/// The short reason a run ended, from its last lines: the `Error:` line if there is
/// one, else the last few lines.
pub fn failure_reason(tail: &Tail) -> String {
    if let Some(line) = tail.lines.iter().rev().find(|l| l.starts_with("Error: ")) {
        return line.trim_start_matches("Error: ").to_string();
    }
    if let Some(fatal) = &tail.fatal {
        return fatal.clone();
    }
    tail.last(3).join(" | ")
}

pub struct Running {
    child: Child,
    pub pid: u32,
    pub started_ns: u64,
    tail: Arc<Mutex<Tail>>,
}

impl Running {
    /// Starts `binary --config=<each config>` with `env`, recording its pid in `state`.
    pub fn start(
        binary: &Path,
        configs: &[std::path::PathBuf],
        env: &[(String, String)],
        state: &StateDir,
    ) -> std::io::Result<Running> {
        let mut cmd = Command::new(binary);
        cmd.args(configs.iter().map(|c| format!("--config={}", c.display())))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork
        // and exec here.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The supervisor may have died between fork and prctl.
                if libc::getppid() == 1 {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or_default();
        let tail = Arc::new(Mutex::new(Tail::default()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(read_lines(out, tail.clone(), pid));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(read_lines(err, tail.clone(), pid));
        }
        let exe = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
        if let Err(e) = state.write(
            PID_FILE,
            format!("{pid} {}\n", exe.display()).as_bytes(),
            0o644,
        ) {
            tracing::warn!("cannot record the Collector's pid: {e}");
        }
        Ok(Running {
            child,
            pid,
            started_ns: crate::client::core::unix_nanos(),
            tail,
        })
    }

    /// Waits for the process to end (cancel-safe).
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    pub fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a fatal line has been printed.
    pub fn fatal(&self) -> Option<String> {
        self.tail().fatal.clone()
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns how it ended.
    pub async fn stop(mut self, grace: Duration, state: &StateDir) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            state.remove(PID_FILE);
            return Some(status);
        }
        #[cfg(unix)]
        // SAFETY: signalling our own child, whose pid we hold and have not reaped.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = self.child.kill().await;
                self.child.wait().await.ok()
            }
        };
        state.remove(PID_FILE);
        status
    }
}

async fn read_lines(stream: impl AsyncRead + Unpin, tail: Arc<Mutex<Tail>>, pid: u32) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "fleetdeck::collector", pid, "{line}");
        tail.lock().unwrap_or_else(|e| e.into_inner()).push(&line);
    }
}

/// Stops a Collector a previous supervisor left running (it was killed before it could):
/// the pid file names the process and its binary; a pid that now belongs to something
/// else is left alone.
pub async fn stop_leftover(state: &StateDir, binary: &Path) {
    let Ok(Some(text)) = state.read(PID_FILE) else {
        return;
    };
    let text = String::from_utf8_lossy(&text);
    let Some((pid, exe)) = text.trim().split_once(' ') else {
        state.remove(PID_FILE);
        return;
    };
    let Ok(pid) = pid.parse::<i32>() else {
        state.remove(PID_FILE);
        return;
    };
    let ours = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let running = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    if pid > 1 && running.as_deref() == Some(Path::new(exe)) && Path::new(exe) == ours {
        tracing::warn!(
            pid,
            "stopping a Collector left behind by a previous supervisor"
        );
        #[cfg(unix)]
        // SAFETY: plain kill(2) on a pid whose executable we just checked.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        for _ in 0..50 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    state.remove(PID_FILE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_and_the_error() {
        let mut t = Tail::default();
        for i in 0..100 {
            t.push(&format!("line {i}\n"));
        }
        assert_eq!(t.last(2), ["line 98", "line 99"]);
        assert!(t.fatal.is_none());
        t.push("Error: failed to create telemetry providers: bind: address already in use");
        t.push("2026/12/07 collector server run finished with error: …");
        assert_eq!(
            failure_reason(&t),
            "failed to create telemetry providers: bind: address already in use"
        );
        t.push(&"x".repeat(5000));
        assert!(t.last(1)[0].len() <= MAX_LINE + "…".len());
    }

    #[tokio::test]
    async fn a_process_is_started_watched_and_stopped() {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = StateDir::open(tmp.path()).expect("state");
        // `sh -c` with our --config argument as $0: prints, then sleeps.
        let script = tmp.path().join("fake-collector");
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"started with $1\"\nexec sleep 30\n",
        )
        .expect("script");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let configs = [std::path::PathBuf::from("/x.yaml")];
        let run = Running::start(&script, &configs, &[], &state).expect("starts");
        assert!(state.read(PID_FILE).expect("read").is_some());
        let mut seen = false;
        for _ in 0..50 {
            if run.tail().last(1) == ["started with --config=/x.yaml"] {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(seen, "{:?}", run.tail().last(3));
        let status = run.stop(Duration::from_secs(5), &state).await;
        assert!(status.is_some_and(|s| !s.success()));
        assert!(state.read(PID_FILE).expect("read").is_none());
    }
}
