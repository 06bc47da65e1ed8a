//! `fleetdeck simulate --accept-credentials`: simulated agents enroll with the fleet secret,
//! move to credentials of their own, and follow a rotation, over WebSocket and plain HTTP;
//! without the flag they keep the fleet secret and are given nothing.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use fleetdeck::args::SimTransport;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::credentials::{CredentialBook, CredentialRecord, CredentialState};
use fleetdeck::sim::{self, SimConfig};

fn config(url: String, agents: usize, transport: SimTransport, accept: bool) -> SimConfig {
    let mut cfg = SimConfig::new(url, agents);
    cfg.transport = transport;
    cfg.secret_key = Some(SECRET.to_string());
    cfg.seed = 11;
    cfg.heartbeat = Duration::from_secs(1);
    cfg.backoff_initial = Duration::from_millis(100);
    cfg.backoff_max = Duration::from_millis(400);
    cfg.accept_credentials = accept;
    cfg
}

/// Polls the store (a blocking read, off the runtime) until `done` holds.
async fn wait_records(
    server: &TestServer,
    what: &str,
    done: impl Fn(&HashMap<AgentId, CredentialRecord>) -> bool,
) -> HashMap<AgentId, CredentialRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let store_side = {
            let server_store = server.rt.store.clone();
            tokio::task::spawn_blocking(move || server_store.credentials().unwrap())
                .await
                .unwrap()
        };
        let now: HashMap<_, _> = store_side.into_iter().map(|r| (r.agent, r)).collect();
        if done(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {now:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn enroll_and_rotate(transport: SimTransport) {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let url = server.rt.opamp_url(transport == SimTransport::Ws);
    let fleet = sim::start(config(url, 3, transport, true))
        .await
        .expect("fleet starts");
    let ids = fleet.agent_ids().to_vec();
    let enrolled = wait_records(&server, "every agent enrolled", |r| {
        ids.iter().all(|id| {
            r.get(id)
                .is_some_and(|c| c.state() == CredentialState::Enrolled)
        })
    })
    .await;
    server
        .wait_for("all connected on their credentials", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;

    let answer: serde_json::Value = http_client()
        .post(format!("{}/api/v1/credentials/rotate", server.api_url()))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "selector": "" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["offered"; 3], "{answer}");
    wait_records(&server, "every agent on a new credential", |r| {
        ids.iter().all(|id| {
            r.get(id).is_some_and(|c| {
                c.state() == CredentialState::Enrolled
                    && c.current != enrolled[id].current
                    && c.retired == enrolled[id].current
            })
        })
    })
    .await;
    server
        .wait_for("all connected after the rotation", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    fleet.shutdown().await;
    server.rt.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_agents_enroll_and_rotate_over_websocket() {
    enroll_and_rotate(SimTransport::Ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_agents_enroll_and_rotate_over_http() {
    enroll_and_rotate(SimTransport::Http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_agents_keep_the_fleet_secret() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let fleet = sim::start(config(server.ws_url(), 2, SimTransport::Ws, false))
        .await
        .expect("fleet starts");
    let ids = fleet.agent_ids().to_vec();
    server
        .wait_for("both connected", |s| {
            ids.iter()
                .all(|id| s.get(id).is_some_and(|a| a.is_connected()))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let store = server.rt.store.clone();
    let kept = tokio::task::spawn_blocking(move || store.credentials().unwrap())
        .await
        .unwrap();
    assert!(kept.is_empty(), "nothing minted: {kept:#?}");
    fleet.shutdown().await;
    server.rt.stop().await;
}
