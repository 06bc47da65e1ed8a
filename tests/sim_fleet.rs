//! Simulated agents against our real OpAMP server on 127.0.0.1:0, over both transports.

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::events::{DisconnectReason, EventKind};
use fleetdeck::fleet::snapshot::Connection;
use fleetdeck::fleet::{AgentId, Transport};
use fleetdeck::runtime::Runtime;
use fleetdeck::settings::Settings;
use fleetdeck::sim::{self, SimConfig};

/// A fleet with short timings so a test sees heartbeats and reconnects in seconds.
fn quick(url: String, agents: usize, transport: SimTransport) -> SimConfig {
    let mut cfg = SimConfig::new(url, agents);
    cfg.transport = transport;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 7;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.apply_delay = Duration::from_millis(50);
    cfg.restart_delay = Duration::from_millis(200);
    cfg.backoff_initial = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_millis(400);
    cfg
}

async fn one_second_heartbeats() -> TestServer {
    TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await
}

async fn listed_and_heartbeating(transport: SimTransport, url: impl Fn(&TestServer) -> String) {
    let server = one_second_heartbeats().await;
    let fleet = sim::start(quick(url(&server), 6, transport))
        .await
        .expect("fleet starts");
    let ids: Vec<AgentId> = fleet.agent_ids().to_vec();
    let want = match transport {
        SimTransport::Ws => Transport::WebSocket,
        SimTransport::Http => Transport::Http,
    };
    let snap = server
        .wait_for("all six agents listed as otelcol-contrib", |s| {
            ids.iter().all(|id| {
                s.get(id).is_some_and(|a| {
                    a.description.service_name() == Some("otelcol-contrib")
                        && a.connection == Connection::Connected
                        && a.transport == Some(want)
                })
            })
        })
        .await;
    let agent = snap.get(&ids[0]).expect("listed");
    assert!(!agent.host.is_empty() && !agent.version.is_empty());
    assert!(agent.labels.contains_key("region"), "{:?}", agent.labels);
    assert_eq!(
        agent.labels.get("service.instance.id").map(|v| v.as_str()),
        Some(ids[0].to_string().as_str())
    );
    assert!(agent.capabilities.has(0x400), "AcceptsRestartCommand");
    let health = agent.health.as_ref().expect("health reported").tree();
    assert!(health.healthy);
    assert!(
        health.components.contains_key("pipeline:metrics"),
        "{:?}",
        health.components.keys()
    );
    assert!(agent.effective_config.is_some());

    // The server offered a 1 s heartbeat; a few seconds later every agent has sent more.
    let before: Vec<u64> = ids
        .iter()
        .map(|id| snap.get(id).map_or(0, |a| a.messages))
        .collect();
    server
        .wait_for("heartbeats from every agent", |s| {
            ids.iter()
                .zip(&before)
                .all(|(id, b)| s.get(id).is_some_and(|a| a.messages >= b + 2))
        })
        .await;
    assert!(fleet.stats().connected == 6);

    // Shutting down says goodbye: agents are marked gone because they said so.
    let mut events = server.rt.registry.subscribe();
    let summary = fleet.shutdown().await;
    assert!(summary.messages_sent >= 18, "{summary}");
    let mut goodbyes = 0;
    while goodbyes < 6 {
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("disconnect events")
            .expect("event");
        if let EventKind::AgentDisconnected { reason, .. } = ev.kind {
            assert_eq!(reason, DisconnectReason::AgentDisconnect);
            goodbyes += 1;
        }
    }
    server.rt.stop().await;
}

#[tokio::test]
async fn websocket_agents_are_listed_and_heartbeat() {
    listed_and_heartbeating(SimTransport::Ws, |s| s.ws_url()).await;
}

#[tokio::test]
async fn http_agents_are_listed_and_poll() {
    listed_and_heartbeating(SimTransport::Http, |s| s.http_url()).await;
}

#[tokio::test]
async fn restart_command_brings_the_agent_back_as_a_new_process() {
    let server = one_second_heartbeats().await;
    let fleet = sim::start(quick(server.ws_url(), 2, SimTransport::Ws))
        .await
        .expect("fleet starts");
    let id = fleet.agent_ids()[1];
    let snap = server
        .wait_for("agent healthy", |s| {
            s.get(&id).is_some_and(|a| a.health.is_some())
        })
        .await;
    let started = snap
        .get(&id)
        .and_then(|a| a.health.as_ref())
        .map(|h| h.tree().start_time_unix_nano)
        .expect("start time");

    server
        .rt
        .registry
        .restart(id)
        .await
        .expect("restart accepted");
    server
        .wait_for("agent back with a later start time", |s| {
            s.get(&id).is_some_and(|a| {
                a.is_connected()
                    && a.health
                        .as_ref()
                        .is_some_and(|h| h.tree().start_time_unix_nano > started)
            })
        })
        .await;
    assert_eq!(fleet.stats().restarts, 1);
    fleet.shutdown().await;
    server.rt.stop().await;
}

async fn reconnects_after_server_restart(transport: SimTransport) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::ephemeral(dir.path(), SECRET);
    settings.heartbeat_interval = Duration::from_secs(1);
    let first = Runtime::start(&settings).await.expect("server starts");
    let url = first.opamp_url(transport == SimTransport::Ws);
    settings.listen = first.agent_addr;
    let fleet = sim::start(quick(url, 4, transport))
        .await
        .expect("fleet starts");
    let ids = fleet.agent_ids().to_vec();
    let all_connected = |rt: &Runtime| {
        let mut rx = rt.registry.snapshot();
        let ids = ids.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    let s = rx.borrow_and_update().clone();
                    if ids.iter().all(|id| {
                        s.get(id).is_some_and(|a| {
                            a.is_connected()
                                && a.description.service_name() == Some("otelcol-contrib")
                        })
                    }) {
                        return;
                    }
                    if rx.changed().await.is_err() {
                        return;
                    }
                }
            })
            .await
            .is_ok()
        }
    };
    assert!(
        all_connected(&first).await,
        "agents connect to the first server"
    );
    first.stop().await;

    // Same address, fresh memory: the agents find it again and describe themselves.
    let second = Runtime::start(&settings).await.expect("server restarts");
    assert!(
        all_connected(&second).await,
        "agents reconnect to the restarted server"
    );
    assert!(fleet.stats().reconnects >= 4);
    fleet.shutdown().await;
    second.stop().await;
}

#[tokio::test]
async fn websocket_agents_reconnect_after_server_restart() {
    reconnects_after_server_restart(SimTransport::Ws).await;
}

#[tokio::test]
async fn http_agents_reconnect_after_server_restart() {
    reconnects_after_server_restart(SimTransport::Http).await;
}

#[tokio::test]
async fn wrong_secret_is_refused_and_retried_without_listing() {
    let server = one_second_heartbeats().await;
    let mut cfg = quick(server.ws_url(), 2, SimTransport::Ws);
    cfg.secret_key = Some("wrong".into());
    let fleet = sim::start(cfg).await.expect("fleet starts");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let stats = fleet.stats();
    assert_eq!(stats.connected, 0);
    assert!(stats.connect_errors >= 2, "{stats}");
    assert!(server.rt.registry.snapshot().borrow().agents.is_empty());
    fleet.shutdown().await;
    server.rt.stop().await;
}

#[tokio::test]
async fn same_seed_gives_the_same_agents_across_runs() {
    let server = one_second_heartbeats().await;
    let a = sim::start(quick(server.ws_url(), 3, SimTransport::Ws))
        .await
        .expect("fleet");
    let ids = a.agent_ids().to_vec();
    a.shutdown().await;
    let b = sim::start(quick(server.ws_url(), 3, SimTransport::Ws))
        .await
        .expect("fleet");
    assert_eq!(b.agent_ids(), ids.as_slice());
    server
        .wait_for("the same three agents, connected again", |s| {
            s.agents.len() == 3
                && ids
                    .iter()
                    .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    b.shutdown().await;
    server.rt.stop().await;
}

/// Two copies of one simulated fleet (the same seed: the same uids and descriptions, as
/// cloned VMs would be) against one server: the uids are claimed back and forth until the
/// server tells the newcomers to take uids of their own, which our client does; then every
/// agent is listed once, connected, and stays so.
#[tokio::test]
async fn cloned_agents_are_given_uids_of_their_own_and_settle() {
    let server = one_second_heartbeats().await;
    let mut events = server.rt.registry.subscribe();
    let a = sim::start(quick(server.ws_url(), 2, SimTransport::Ws))
        .await
        .expect("fleet starts");
    let ids = a.agent_ids().to_vec();
    server
        .wait_for("the first copy connected", |s| s.totals.connected == 2)
        .await;
    let b = sim::start(quick(server.ws_url(), 2, SimTransport::Ws))
        .await
        .expect("the clone starts");
    assert_eq!(b.agent_ids(), &ids[..], "a clone: the same uids");
    let snap = server
        .wait_for("four agents, each connected once", |s| {
            s.totals.connected == 4 && s.totals.agents == 4
        })
        .await;
    for id in &ids {
        assert!(snap.get(id).is_some_and(|a| a.is_connected()));
    }
    // Settled: no more claims after a few heartbeats.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut renamed = std::collections::HashSet::new();
    while let Ok(ev) = events.try_recv() {
        if let EventKind::DuplicateInstanceUid { id, .. } = ev.kind {
            renamed.insert(id);
        }
    }
    assert_eq!(
        renamed,
        ids.iter().copied().collect(),
        "each clone renamed once"
    );
    let snap = server.rt.registry.snapshot().borrow().clone();
    assert_eq!((snap.totals.agents, snap.totals.connected), (4, 4));
    a.shutdown().await;
    b.shutdown().await;
    server.rt.stop().await;
}

/// At `--max-agents`, agents already connected keep their place: 20 HTTP agents at a
/// limit of 20 stay connected poll after poll, and a 21st is turned away (503).
#[tokio::test]
async fn http_agents_at_the_limit_keep_their_place() {
    let server = TestServer::start_with(|s| {
        s.heartbeat_interval = Duration::from_secs(1);
        s.max_agents = Some(20);
    })
    .await;
    let fleet = sim::start(quick(server.http_url(), 20, SimTransport::Http))
        .await
        .expect("fleet starts");
    server
        .wait_for("twenty connected", |s| s.totals.connected == 20)
        .await;
    let mut events = server.rt.registry.subscribe();
    let mut extra = quick(server.http_url(), 1, SimTransport::Http);
    extra.seed = 99;
    let newcomer = sim::start(extra).await.expect("the extra agent starts");
    // Several polls of every agent.
    let mut rx = server.rt.registry.snapshot();
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
        let connected = rx.borrow().totals.connected;
        assert!(connected <= 20, "{connected} connected at a limit of 20");
    }
    assert_eq!(rx.borrow().totals.connected, 20);
    while let Ok(ev) = events.try_recv() {
        if let EventKind::AgentDisconnected { name, reason, .. } = ev.kind {
            panic!("{name} was dropped ({reason}) although it had its place");
        }
    }
    let extra_id = newcomer.agent_ids()[0];
    assert!(
        rx.borrow().get(&extra_id).is_none(),
        "the 21st is not listed"
    );
    newcomer.shutdown().await;
    fleet.shutdown().await;
    server.rt.stop().await;
}

/// The limit holds exactly when many agents arrive at once: 60 WebSocket agents at a
/// limit of 25 never make more than 25 connected.
#[tokio::test]
async fn a_burst_of_agents_never_exceeds_the_limit() {
    let server = TestServer::start_with(|s| s.max_agents = Some(25)).await;
    let mut rx = server.rt.registry.snapshot();
    let fleet = sim::start(quick(server.ws_url(), 60, SimTransport::Ws))
        .await
        .expect("fleet starts");
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    let mut most = 0;
    while tokio::time::Instant::now() < until {
        let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
        most = most.max(rx.borrow().totals.connected);
    }
    assert_eq!(most, 25, "the limit, reached and never passed");
    fleet.shutdown().await;
    server.rt.stop().await;
}

/// `--server` given twice: agents are spread over both servers and, when one goes away,
/// its agents move to the other, as agents behind a load balancer would.
async fn spread_over_two_servers_and_move_when_one_goes(transport: SimTransport) {
    let a = one_second_heartbeats().await;
    let b = one_second_heartbeats().await;
    let url = |s: &TestServer| match transport {
        SimTransport::Ws => s.ws_url(),
        SimTransport::Http => s.http_url(),
    };
    let mut cfg = quick(url(&a), 6, transport);
    cfg.more_servers = vec![url(&b)];
    let fleet = sim::start(cfg).await.expect("fleet starts");
    let ids: Vec<AgentId> = fleet.agent_ids().to_vec();
    let on = |s: &fleetdeck::fleet::FleetSnapshot, id: &AgentId| {
        s.get(id).is_some_and(|x| x.is_connected())
    };
    let on_a: Vec<AgentId> = ids.iter().step_by(2).copied().collect();
    let on_b: Vec<AgentId> = ids.iter().skip(1).step_by(2).copied().collect();
    a.wait_for("every other agent on A", |s| {
        on_a.iter().all(|id| on(s, id))
    })
    .await;
    b.wait_for("the others on B", |s| on_b.iter().all(|id| on(s, id)))
        .await;

    let TestServer { rt, dir: _dir } = a;
    rt.stop().await;
    let moved = std::time::Instant::now();
    b.wait_for("A's agents moved to B", |s| ids.iter().all(|id| on(s, id)))
        .await;
    eprintln!("A's agents were on B {:?} after A stopped", moved.elapsed());
    let stats = fleet.shutdown().await;
    assert!(stats.reconnects >= on_a.len() as u64, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_agents_spread_over_two_servers_and_move_when_one_goes() {
    spread_over_two_servers_and_move_when_one_goes(SimTransport::Ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_agents_spread_over_two_servers_and_move_when_one_goes() {
    spread_over_two_servers_and_move_when_one_goes(SimTransport::Http).await;
}
