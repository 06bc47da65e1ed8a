//! Plain heartbeats are answered by the WebSocket session under a lease from the registry:
//! agents must not notice, and the fleet view must still learn of every heartbeat.

mod common;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::snapshot::Connection;
use fleetdeck::opamp::proto;

const FULL_STATE: u64 = 0x1;

/// An agent that has said who it is and taken the connection settings: what follows are
/// plain heartbeats.
async fn described_agent(server: &TestServer, ws: &mut Ws, uid: AgentId) {
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("otelcol-contrib", "edge-7"));
    hello.health = Some(proto::ComponentHealth {
        healthy: true,
        ..Default::default()
    });
    let first = ws_exchange(ws, &hello).await;
    assert_eq!(first.flags & FULL_STATE, 0);
    server
        .wait_for("agent listed", |s| s.get(&uid).is_some())
        .await;
}

#[tokio::test]
async fn heartbeats_answered_by_the_session_look_the_same_and_are_counted() {
    let server = TestServer::start().await;
    let mut ws = ws_agent(&server).await;
    let uid = AgentId::new_v7();
    described_agent(&server, &mut ws, uid).await;
    let before = server.rt.registry.messages_total();

    for seq in 1..=20 {
        let ack = ws_exchange(&mut ws, &message(uid, seq)).await;
        assert_eq!(ack.instance_uid, uid.as_bytes().to_vec(), "heartbeat {seq}");
        assert_eq!(ack.flags & FULL_STATE, 0, "heartbeat {seq}");
        assert_eq!(
            ack.capabilities,
            server.rt.registry.capabilities(),
            "heartbeat {seq}"
        );
        assert!(ack.remote_config.is_none() && ack.connection_settings.is_none());
    }
    assert_eq!(server.rt.registry.messages_total(), before + 20);

    // The registry folds the session's counts in: sequence, message count, last seen.
    let snap = server
        .wait_for("heartbeats folded in", |s| {
            s.get(&uid).is_some_and(|a| a.sequence_num == 20)
        })
        .await;
    let agent = snap.get(&uid).expect("listed");
    assert_eq!(agent.messages, 21);
    assert_eq!(agent.connection, Connection::Connected);
    assert!(agent.last_seen >= agent.connected_at.expect("connected"));

    // A gap after session-answered heartbeats still asks for the full state.
    let gap = ws_exchange(&mut ws, &message(uid, 23)).await;
    assert_eq!(gap.flags & FULL_STATE, FULL_STATE, "gap → ReportFullState");
    // A status change after heartbeats reaches the registry.
    let mut sick = message(uid, 24);
    sick.health = Some(proto::ComponentHealth {
        healthy: false,
        last_error: "exporter down".into(),
        ..Default::default()
    });
    ws_exchange(&mut ws, &sick).await;
    server
        .wait_for("health change seen", |s| {
            s.get(&uid).is_some_and(|a| a.healthy() == Some(false))
        })
        .await;
    // And heartbeats after it are the session's again, still counted: 1 + 20 + 2 + 3.
    for seq in 25..=27 {
        let ack = ws_exchange(&mut ws, &message(uid, seq)).await;
        assert_eq!(ack.flags & FULL_STATE, 0);
    }
    server
        .wait_for("later heartbeats folded in", |s| {
            s.get(&uid)
                .is_some_and(|a| a.sequence_num == 27 && a.messages == 26)
        })
        .await;
    server.rt.stop().await;
}

#[tokio::test]
async fn a_command_during_session_answered_heartbeats_still_arrives() {
    let server = TestServer::start().await;
    let mut ws = ws_agent(&server).await;
    let uid = AgentId::new_v7();
    let mut hello = message(uid, 0);
    hello.capabilities |= 0x400; // AcceptsRestartCommand
    hello.agent_description = Some(description("otelcol-contrib", "edge-8"));
    ws_exchange(&mut ws, &hello).await;
    for seq in 1..=3 {
        let mut beat = message(uid, seq);
        beat.capabilities = hello.capabilities;
        ws_exchange(&mut ws, &beat).await;
    }
    server
        .rt
        .registry
        .restart(uid)
        .await
        .expect("restart accepted");
    let pushed = ws_recv(&mut ws).await;
    assert_eq!(pushed.instance_uid, uid.as_bytes().to_vec());
    assert_eq!(
        pushed.command.map(|c| c.r#type),
        Some(proto::CommandType::Restart as i32)
    );
    server.rt.stop().await;
}
