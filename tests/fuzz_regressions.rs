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
fn websocket_frame_corpus_replays_cleanly() {
    assert!(replay("ws_frames", harness::ws_frames) >= 3);
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

/// Runs `f` on a thread with the stack a tokio worker gets (2 MiB), where the API and the
/// catalog parse templates; a stack overflow there aborts the whole server.
fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("no panic")
}

/// Finding: deeply nested `{{if}}` blocks or parentheses overflowed the stack in the
/// template parser (process abort). Now refused with the line and the limit.
#[test]
fn deeply_nested_templates_are_refused_not_a_stack_overflow() {
    use fleetdeck::pipeline::template::render_str;
    let data = serde_json::json!({"on": true});
    let ifs = |n: usize| format!("{}x{}", "{{if .on}}".repeat(n), "{{end}}".repeat(n));
    let parens = |n: usize| format!("{{{{ {}.on{} }}}}", "(".repeat(n), ")".repeat(n));
    let else_ifs = |n: usize| {
        format!(
            "{{{{if false}}}}{}{{{{else}}}}x{{{{end}}}}",
            "{{else if false}}".repeat(n)
        )
    };

    // Real templates nest a few levels and keep working.
    let d = data.clone();
    let shallow = on_worker_stack(move || {
        (
            render_str(&ifs(50), &d),
            render_str(&parens(50), &d),
            render_str(&else_ifs(50), &d),
        )
    });
    assert_eq!(shallow.0.as_deref(), Ok("x"));
    assert_eq!(shallow.1.as_deref(), Ok("true"));
    assert_eq!(shallow.2.as_deref(), Ok("x"));

    for src in [ifs(20_000), parens(20_000), else_ifs(20_000)] {
        let d = data.clone();
        let e = on_worker_stack(move || render_str(&src, &d)).expect_err("refused");
        assert!(e.message.contains("nests deeper than"), "{e}");
        assert_eq!(e.line, 1, "{e}");
    }
}

/// The same finding through resource-type loading, as `fleetdeck apply` reaches it: the
/// problem names the type and template, and nothing crashes.
#[test]
fn a_resource_type_with_a_hostile_template_is_a_problem_not_a_crash() {
    let template = format!(
        "{}x{}",
        "{{if .on}}".repeat(20_000),
        "{{end}}".repeat(20_000)
    );
    let yaml = format!(
        "apiVersion: fleetdeck/v1\nkind: ProcessorType\nmetadata: {{name: deep}}\nspec:\n  \
         parameters: [{{name: on, type: bool, default: true}}]\n  logs:\n    processors: '{template}'\n"
    );
    let problems = on_worker_stack(move || {
        fleetdeck::pipeline::parse_resources(&yaml, Some("deep.yaml"))
            .err()
            .map(|ps| fleetdeck::pipeline::Problems(ps).to_string())
    })
    .expect("refused");
    assert!(
        problems.contains("deep") && problems.contains("nests deeper than"),
        "{problems}"
    );
}
