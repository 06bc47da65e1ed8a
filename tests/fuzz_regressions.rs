//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) and every input that once crashed a
//! fuzz target (`fuzz/regressions/<target>/`) through the fuzz targets' own code, on stable
//! Rust, so a finding that was fixed stays fixed. The crash inputs also get a test each
//! below stating what the user sees instead of the crash.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| Some(e.ok()?.path())).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs `target` on every kept input; returns how many there were.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut n = 0;
    for kind in ["corpus", "regressions"] {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{} crashes {target}", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn websocket_payload_corpus_replays_cleanly() {
    assert!(replay("ws_payload", harness::ws_payload) >= 3);
}

#[test]
fn http_body_corpus_replays_cleanly() {
    assert!(replay("http_body", harness::http_body) >= 3);
}

#[test]
fn otlp_metrics_corpus_replays_cleanly() {
    assert!(replay("otlp_metrics", harness::otlp_metrics) >= 2);
}

#[test]
fn resources_corpus_replays_cleanly() {
    assert!(replay("resources", harness::resources) >= 3);
}

#[test]
fn template_corpus_replays_cleanly() {
    assert!(replay("template", harness::template) >= 3);
}
