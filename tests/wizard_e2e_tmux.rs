//! End to end: the real binary with a demo fleet of two agents inside tmux. Keys alone
//! build OTLP receiver → batch → OTLP/HTTP exporter in the pipeline builder, save it,
//! push it to both agents and watch both apply it. Needs tmux (`.ci/run` installs
//! it; outside CI the test says it was skipped).

mod common;

use std::time::Duration;

use common::tmux::{EXIT_MARK, Tmux};

#[test]
fn keys_build_a_pipeline_and_push_it_to_two_demo_agents() {
    let data = tempfile::tempdir().expect("temp dir");
    let Some(tmux) = Tmux::start(
        "wizard",
        "--demo --demo-agents 2 --listen 127.0.0.1:0 --api-listen 127.0.0.1:0",
        data.path(),
        120,
        40,
    ) else {
        return;
    };
    let long = Duration::from_secs(25);
    let short = Duration::from_secs(5);
    tmux.wait_for("2/2", long);

    // 1: the OTLP source, found by searching.
    tmux.keys(&["n"]);
    tmux.wait_for("New configuration › 1 Sources", short);
    tmux.keys(&["/"]);
    tmux.type_text("otlp");
    // Enter chooses the best match and goes on.
    tmux.keys(&["Enter"]);
    // 2: its form keeps the defaults.
    tmux.wait_for("› 2 Configure", short);
    tmux.wait_for("Listen address", short);
    // 3: a batch processor.
    tmux.keys(&["n"]);
    tmux.wait_for("› 3 Processors", short);
    tmux.keys(&["a"]);
    tmux.wait_for("add a processor", short);
    tmux.type_text("batch");
    tmux.keys(&["Enter"]);
    tmux.wait_for("added", short);
    // 4: the OTLP/HTTP exporter with its required endpoint.
    tmux.keys(&["n"]);
    tmux.wait_for("› 4 Destinations", short);
    tmux.keys(&["a"]);
    tmux.type_text("otlphttp");
    // Adding it opens the editor of its required endpoint.
    tmux.keys(&["Enter"]);
    tmux.wait_for("enter keep", short);
    tmux.type_text("http://127.0.0.1:4318");
    tmux.keys(&["Enter"]);
    // 5: the review renders it without problems.
    tmux.keys(&["n"]);
    let review = tmux.wait_for("no problems", short);
    assert!(review.contains("otlphttp/"), "{review}");
    // 6: named and saved.
    tmux.keys(&["n"]);
    tmux.wait_for("› 6 Save", short);
    // A name is suggested; this one replaces it.
    tmux.keys(&["C-u"]);
    tmux.type_text("edge-otlp");
    // One Enter names it and saves.
    tmux.keys(&["Enter"]);
    tmux.wait_for("created edge-otlp version 1", short);
    // 7: saved, the builder is on the push step; both agents marked and pushed, the
    // rollout followed until both applied.
    tmux.wait_for("marked agents", short);
    tmux.keys(&["*"]);
    tmux.wait_for("2 of 2 agents marked", short);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Push edge-otlp:1 to 2 agent(s)?", short);
    tmux.keys(&["y"]);
    tmux.wait_for("Rollout of edge-otlp:1", short);
    let done = tmux.wait_for("completed", long);
    assert!(done.contains("2 applied"), "{done}");
    assert_eq!(done.matches("✓ applied").count(), 2, "{done}");

    // Leaving the builder goes back to the agents, which now run edge-otlp.
    tmux.keys(&["Escape"]);
    tmux.wait_for("edge-otlp", short);
    tmux.keys(&["q"]);
    tmux.wait_for("loses its server", short);
    tmux.keys(&["y"]);
    let screen = tmux.wait_for(EXIT_MARK, Duration::from_secs(10));
    assert!(
        screen.contains(&format!("{EXIT_MARK}0]")),
        "exit status:\n{screen}"
    );
}

/// Keys sent to the real binary, counted: navigation keys (named keys and single
/// commands) apart from typed text. Before each key, the screen must show it, so every
/// step is findable from the screen itself.
struct Counted<'a> {
    tmux: &'a Tmux,
    nav: usize,
    typed: usize,
}

impl Counted<'_> {
    /// Presses `key` once `hint` (where the screen offers it) is on screen.
    fn key(&mut self, hint: &str, key: &str) {
        self.tmux.wait_for(hint, Duration::from_secs(5));
        self.tmux.keys(&[key]);
        self.nav += 1;
    }

    fn text(&mut self, text: &str) {
        self.tmux.type_text(text);
        self.typed += text.chars().count();
    }
}

/// The task, OTLP → batch → OTLP/HTTP pushed to two marked agents, timed in keys.
/// It took 23 navigation keys and 39 typed characters; the goal is 15 plus the endpoint
/// (now 15).
#[test]
fn the_otlp_batch_otlphttp_task_in_counted_keys() {
    let data = tempfile::tempdir().expect("temp dir");
    let Some(tmux) = Tmux::start(
        "keycount",
        "--demo --demo-agents 2 --listen 127.0.0.1:0 --api-listen 127.0.0.1:0",
        data.path(),
        80,
        24,
    ) else {
        return;
    };
    tmux.wait_for("2/2", Duration::from_secs(25));
    let mut k = Counted {
        tmux: &tmux,
        nav: 0,
        typed: 0,
    };
    k.key("space mark", "Space");
    k.key("1 marked", "Space");
    k.key("n new", "n");
    k.key("/ search", "/");
    k.text("otlp");
    // Enter chooses the best match and goes on to step 2.
    k.key("enter choose", "Enter");
    k.key("› 2 Configure", "n");
    k.key("a add", "a");
    k.text("batch");
    k.key("enter add", "Enter");
    k.key("n next", "n");
    k.key("a add", "a");
    k.text("otlphttp");
    k.key("enter add", "Enter");
    // Adding it opened the endpoint's editor; its text is not counted.
    tmux.wait_for("enter keep", Duration::from_secs(5));
    tmux.type_text("http://127.0.0.1:4318");
    k.key("enter keep", "Enter");
    k.key("n next", "n");
    // Enter on a review without problems saves under the suggested name, and with agents
    // marked the push is asked at once.
    k.key("enter save", "Enter");
    k.key("Push otlp-to-otlphttp:1 to 2 agent(s)?", "y");
    let done = tmux.wait_for("completed", Duration::from_secs(25));
    assert_eq!(done.matches("✓ applied").count(), 2, "{done}");
    eprintln!(
        "OTLP → batch → OTLP/HTTP to 2 agents: {} navigation keys, {} typed characters \
         besides the endpoint",
        k.nav, k.typed
    );
    // Down from 23 + 39; the goal is 15.
    assert!(k.nav <= 15, "{} navigation keys", k.nav);
    assert!(k.typed <= 17, "{} typed characters", k.typed);
}
