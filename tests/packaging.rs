//! What people who deploy fleetdeck install: the systemd units in packaging/systemd (their
//! command lines parse, and `systemd-analyze verify` finds nothing to say where it is
//! available) and the man pages generated from the command-line definitions.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use fleetdeck::args::Cli;

const BIN: &str = env!("CARGO_BIN_EXE_fleetdeck");

fn units() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd");
    let mut units: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("packaging/systemd")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    units.sort();
    assert_eq!(units.len(), 2, "the server's and the agent's: {units:?}");
    units
}

/// The unit's ExecStart as arguments (no quoting is used in ours).
fn exec_start(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn each_units_command_line_is_one_fleetdeck_accepts() {
    for path in units() {
        let text = std::fs::read_to_string(&path).expect("read unit");
        let mut argv = exec_start(&text);
        assert_eq!(argv[0], "/usr/local/bin/fleetdeck", "{}", path.display());
        argv[0] = "fleetdeck".into();
        if let Err(e) = Cli::try_parse_from(&argv) {
            panic!("{}: {argv:?} does not parse: {e}", path.display());
        }
    }
}

#[test]
fn systemd_analyze_verify_finds_nothing_to_say() {
    let found = Command::new("systemd-analyze").arg("--version").output();
    if found.is_err() {
        // Not every machine has systemd; the command lines are checked above anyway.
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for path in units() {
        // The same unit, pointing at binaries that exist here.
        let text = std::fs::read_to_string(&path)
            .expect("read unit")
            .replace("/usr/local/bin/fleetdeck", BIN)
            .replace("/usr/bin/otelcol-contrib", "/bin/true");
        let name = path.file_name().expect("file name");
        let copy = dir.path().join(name);
        std::fs::write(&copy, text).expect("write unit");
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&copy)
            .output()
            .expect("systemd-analyze runs");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{}: {said}",
            path.display()
        );
    }
}

#[test]
fn man_pages_cover_every_command_and_its_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BIN)
        .arg("manpages")
        .arg(dir.path())
        .output()
        .expect("fleetdeck runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let top = std::fs::read_to_string(dir.path().join("fleetdeck.1")).expect("fleetdeck.1");
    for command in [
        "agent", "simulate", "get", "apply", "export", "push", "rollout", "token", "attach",
    ] {
        assert!(top.contains(command), "fleetdeck.1 lacks {command}");
        let page = dir.path().join(format!("fleetdeck-{command}.1"));
        assert!(page.exists(), "no {}", page.display());
    }
    let push = std::fs::read_to_string(dir.path().join("fleetdeck-push.1")).expect("push page");
    for flag in [
        "\\-\\-watch",
        "\\-\\-max\\-export\\-failures",
        "\\-\\-selector",
    ] {
        assert!(push.contains(flag), "fleetdeck-push.1 lacks {flag}");
    }
}
