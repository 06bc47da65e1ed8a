//! End to end: a real Collector under `fleetdeck agent` reads a file into a destination
//! that refuses everything; `fleetdeck attach` in tmux opens the configuration's flow (`w`)
//! and shows the source's rate and the destination's failures. Needs tmux and the real
//! Collector (`.ci/run` installs both; outside CI the test says it was skipped).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::collector::*;
use common::tmux::Tmux;
use common::{API_TOKEN, TestServer};
use fleetdeck::fleet::delivery::ApplyState;

#[test]
fn the_flow_shows_a_real_collectors_source_rate_and_its_refusing_destination() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(TestServer::start_with(|s| {
        s.heartbeat_interval = Duration::from_secs(1)
    }));
    let (sink, _received, refuse) = rt.block_on(counting_sink());
    refuse.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    append(&log, "first");
    let mut sup = Supervisor::start(
        &server.ws_url(),
        &otelcol,
        &dir.path().join("agent"),
        &["--name", "flow-1"],
    );
    let id = rt.block_on(connected_agent(&server));
    rt.block_on(push(
        &server,
        &logs_pipeline("flow-logs", &log, &sink),
        "flow-logs",
        id,
    ));
    rt.block_on(wait_state(&server, id, "flow-logs", ApplyState::Applied));
    // Lines at about 20 a second for as long as the test runs.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (log, writing) = (log.clone(), writing.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while writing.load(Ordering::SeqCst) {
                append(&log, &format!("line {n}"));
                n += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let Some(tmux) = Tmux::start_command(
        "flow",
        &format!("attach --server {} --token {API_TOKEN}", server.api_url()),
        &[],
        100,
        30,
    ) else {
        writing.store(false, Ordering::SeqCst);
        return;
    };
    let short = Duration::from_secs(10);
    tmux.wait_for("1/1 up", Duration::from_secs(20));
    tmux.keys(&["2"]);
    tmux.wait_for("flow-logs", short);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Configurations › flow-logs", short);
    tmux.keys(&["w"]);
    tmux.wait_for("FLOW per second over 1m", short);
    // The latest reports: 1m → 5m → 1h → 10s.
    tmux.keys(&["i", "i", "i"]);
    tmux.wait_for("FLOW per second over 10s", short);
    // The Collector reports every 10 s; rates need two reports of each counter.
    let screen = tmux.wait_for("failed", Duration::from_secs(60));
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let mut screen = screen;
    while screen.contains("failed 0/s") || !screen.contains("in ") || screen.contains("in 0/s") {
        assert!(
            std::time::Instant::now() < deadline,
            "the flow never showed the source's rate and the failures:\n{screen}\n{}",
            sup.output()
        );
        std::thread::sleep(Duration::from_millis(500));
        screen = tmux.screen();
    }
    assert!(screen.contains("filelog"), "{screen}");
    assert!(screen.contains("sent 0/s"), "{screen}");
    assert!(screen.contains("sources[0]"), "{screen}");
    writing.store(false, Ordering::SeqCst);
    let _ = writer.join();
    tmux.keys(&["q"]);
    sup.terminate();
    rt.block_on(server.rt.stop());
}
