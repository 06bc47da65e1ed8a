//! The real `fleetdeck` binary as a user runs it against a test server: a private home,
//! nothing else from the environment, the server and token given.

use std::process::Stdio;
use std::time::Duration;

/// What a run printed, and how it ended.
pub struct CliOut {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for CliOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl CliOut {
    /// Asserts it succeeded, showing everything it printed when not.
    pub fn ok(&self) -> &CliOut {
        assert_eq!(self.code, 0, "{self}");
        self
    }
}

/// Runs `fleetdeck ARGS` against the management API at `api` with `token`; 30 s at most.
pub async fn run(api: &str, token: &str, args: &[&str]) -> CliOut {
    let home = tempfile::tempdir().expect("home");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("FLEETDECK_SERVER", api)
        .env("FLEETDECK_API_TOKEN", token)
        .env("COLUMNS", "200")
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("the CLI finishes within 30 s")
        .expect("the CLI runs");
    CliOut {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
