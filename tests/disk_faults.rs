//! Disk faults as the operator sees them, through the built binary: a data dir that cannot
//! be used stops the start with one clear line and exit code 1; a store that cannot grow at
//! run time (the process's file-size limit, which behaves like a full disk for SQLite and
//! needs no privileges) is reported once, agents stay served, and the database is intact
//! for the next start.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::headless::{Headless, command, command_of, empty_config, ws_url};

const SECRET: &str = "disk-fault-secret";

fn server(data: &Path, config: &Path) -> Command {
    command(data, config, SECRET)
}

#[test]
fn a_data_dir_that_is_a_file_stops_the_start_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").expect("file");
    let out = server(&file, &empty_config(dir.path()))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot use data directory") && err.contains("not-a-dir"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(std::fs::read(&file).expect("still there"), b"x");
}

#[test]
fn a_data_dir_on_a_path_through_a_file_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("file");
    let out = server(&file.join("data"), &empty_config(dir.path()))
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("plain-file/data"), "{err}");
    // The cause is said once, not once per error layer.
    let cause = "Not a directory";
    assert_eq!(err.matches(cause).count(), 1, "{err}");
}

/// The binary, copied where an unprivileged user can run it (the target dir may be under
/// /root, mode 0700).
fn reachable_binary(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let exe = dir.join("fleetdeck");
    std::fs::copy(env!("CARGO_BIN_EXE_fleetdeck"), &exe).expect("copy binary");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    exe
}

#[test]
fn a_read_only_data_dir_stops_the_start_with_a_clear_error_and_is_left_alone() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let top = tempfile::tempdir().expect("temp dir");
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    mode(top.path(), 0o755);
    let data = top.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let config = empty_config(top.path());
    mode(&config, 0o644);
    let exe = reachable_binary(top.path());
    mode(&data, 0o555);

    let mut cmd = command_of(&exe, &data, &config, SECRET);
    cmd.env("FLEETDECK_API_TOKEN", "token");
    // Root ignores permission bits: run as "nobody" so the read-only dir really is one.
    if std::fs::metadata(top.path()).expect("meta").uid() == 0 {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().expect("runs");
    mode(&data, 0o755);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&data.display().to_string()) && err.contains("write access"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let left: Vec<_> = std::fs::read_dir(&data).expect("list").collect();
    assert!(
        left.is_empty(),
        "nothing is created in a read-only dir: {left:?}"
    );
}

#[test]
fn a_store_that_cannot_grow_is_reported_once_and_agents_stay_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = empty_config(dir.path());

    let mut cmd = server(&data, &config);
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Writes past the limit fail with EFBIG instead of killing the process, as a
            // full disk fails them with ENOSPC.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 128 * 1024,
                rlim_max: 128 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut running = Headless::spawn(cmd, false);
    let url = ws_url(&running.wait_for_line("listening for agents"));

    // Enough agents that their records and events pass the limit at the first flush; they
    // heartbeat every second for 6 s, so the store is retried several times meanwhile.
    let sim = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args([
            "simulate",
            "--server",
            &url,
            "--agents",
            "200",
            "--duration",
            "6",
        ])
        .args(["--heartbeat", "1", "--secret-key", SECRET])
        .stdin(Stdio::null())
        .output()
        .expect("simulator runs");
    let sim_out = String::from_utf8_lossy(&sim.stderr);
    assert!(sim.status.success(), "{sim_out}");
    running.wait_for_line("cannot write to the store");

    // Let a few more flush intervals fail before stopping.
    std::thread::sleep(Duration::from_secs(3));
    let (status, log) = running.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert_eq!(
        log.matches("cannot write to the store").count(),
        1,
        "reported more than once:\n{log}"
    );
    // Each agent's connect is a line, or, past the first ones in a second, part of a count.
    let listed = log.matches("agent connected").count();
    let counted: usize = log
        .lines()
        .filter_map(|l| l.split("more_connected=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    let connected = listed + counted;
    assert!(connected >= 200, "only {connected} agents served:\n{log}");

    // The database survived: the next start, without the limit, opens it and serves.
    let mut again = Headless::spawn(server(&data, &config), false);
    again.wait_for_line("listening for agents");
    let (status, log) = again.stop();
    assert!(status.success(), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}
