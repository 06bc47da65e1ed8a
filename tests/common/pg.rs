//! A real PostgreSQL for tests: one server per test binary, started on first use in a temp
//! dir on a free loopback port — as `nobody` when the tests run as root, since PostgreSQL
//! refuses to run as root — and stopped by a watchdog once the test binary has exited.
//! Each test gets a database of its own.
//!
//! The binaries are found on PATH or under /usr/lib/postgresql/*/bin. Without them the
//! tests that need PostgreSQL say `SKIPPED`, except under CI (`CI` set), where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

struct Server {
    port: u16,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The superuser the tests connect as (trust authentication on loopback).
pub const USER: &str = "fleetdeck";

/// A fresh, empty database's URL, or `None` (with a line saying so) when PostgreSQL is not
/// installed and this is not CI. Blocking; safe to call from async tests.
pub fn database() -> Option<String> {
    // The driver runs a runtime of its own, which cannot start on a runtime thread.
    std::thread::spawn(database_blocking)
        .join()
        .expect("the PostgreSQL helper thread")
}

fn database_blocking() -> Option<String> {
    let server = match SERVER.get_or_init(start) {
        Ok(s) => s,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL is needed under CI: {why}"
            );
            eprintln!("SKIPPED: {why}");
            return None;
        }
    };
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&server.url("postgres"), postgres::NoTls)
        .expect("connect to the test PostgreSQL");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    Some(server.url(&name))
}

/// A URL on the test server with a password in it (trust authentication ignores it), to
/// check it is never shown.
pub fn with_password(url: &str, password: &str) -> String {
    url.replacen(&format!("{USER}@"), &format!("{USER}:{password}@"), 1)
}

impl Server {
    fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }
}

/// The directory holding `initdb` and `postgres`, if they are installed.
pub fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|d| d.join("initdb").is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

fn start() -> Result<Server, String> {
    let bin = bin_dir().ok_or(
        "PostgreSQL is not installed (initdb and postgres not on PATH or under \
         /usr/lib/postgresql/*/bin; apt-get install postgresql)",
    )?;
    let dir = std::env::temp_dir().join(format!("fleetdeck-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: geteuid only reads the process's credentials.
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        chown_to_nobody(&dir)?;
    }
    let run_as = |program: &Path| -> Command {
        if as_root {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "nobody", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    };
    let data = dir.join("data");
    let out = run_as(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))?;
    // The watchdog: PostgreSQL runs while this test binary does, then is stopped and
    // its directory removed. Its output goes to a file, never to the test's pipes (an
    // open pipe would keep the test run waiting).
    let script = r#"
        "$0/postgres" -D "$1/data" -p "$2" -k "$1" -c listen_addresses=127.0.0.1 \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=300 >"$1/server.log" 2>&1 &
        pg=$!
        while [ -d "/proc/$3" ] && kill -0 "$pg" 2>/dev/null; do sleep 1; done
        kill -INT "$pg" 2>/dev/null; wait "$pg"; rm -rf "$1"
    "#;
    run_as(Path::new("/bin/sh"))
        .arg("-c")
        .arg(script)
        .arg(&bin)
        .arg(&dir)
        .arg(port.to_string())
        .arg(std::process::id().to_string())
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    let server = Server { port };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match postgres::Client::connect(&server.url("postgres"), postgres::NoTls) {
            Ok(_) => return Ok(server),
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                return Err(format!("postgres did not come up: {e}\n{log}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn chown_to_nobody(dir: &Path) -> Result<(), String> {
    let name = std::ffi::CString::new("nobody").map_err(|e| e.to_string())?;
    // SAFETY: getpwnam reads the user database; the pointer is used before any other call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err("there is no user 'nobody' to run PostgreSQL as".into());
    }
    // SAFETY: `pw` is not null and points at getpwnam's static entry, read at once.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))
}
