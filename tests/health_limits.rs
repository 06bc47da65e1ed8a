//! An agent reporting an absurd component-health tree over a real WebSocket: the server
//! keeps answering, stores a bounded tree, and the summary still tells the truth.

mod common;

use std::collections::HashMap;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::fleet::health::{Health, MAX_COMPONENTS, MAX_DEPTH};
use fleetdeck::opamp::proto;

fn component(healthy: bool) -> proto::ComponentHealth {
    proto::ComponentHealth {
        healthy,
        status: if healthy {
            "StatusOK"
        } else {
            "StatusPermanentError"
        }
        .into(),
        ..Default::default()
    }
}

/// The agent's health as the server stored it, once it is published.
async fn stored_health(server: &TestServer, uid: AgentId) -> Health {
    let snap = server
        .wait_for("agent with health", |s| {
            s.get(&uid).is_some_and(|a| a.health.is_some())
        })
        .await;
    snap.get(&uid)
        .and_then(|a| a.health.clone())
        .expect("health")
}

#[tokio::test]
async fn a_wide_tree_is_stored_bounded_and_its_unhealthy_count_is_right() {
    let server = TestServer::start().await;
    let mut ws = ws_agent(&server).await;
    let uid = AgentId::new_v7();
    let reported = MAX_COMPONENTS + 1000;
    let children: HashMap<String, proto::ComponentHealth> = (0..reported)
        .map(|i| (format!("receiver:r{i:06}"), component(i % 10 != 0)))
        .collect();
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("otelcol-contrib", "wide-1"));
    hello.health = Some(proto::ComponentHealth {
        healthy: false,
        last_error: "some receivers failed".into(),
        component_health_map: children,
        ..Default::default()
    });
    ws_exchange(&mut ws, &hello).await;

    let health = stored_health(&server, uid).await;
    assert!(!health.healthy());
    assert_eq!(health.last_error(), "some receivers failed");
    let failing = (0..reported).filter(|i| i % 10 == 0).count();
    assert_eq!(
        health.unhealthy_count(),
        failing,
        "counted over the whole report"
    );
    assert_eq!(health.component_count(), MAX_COMPONENTS);
    assert_eq!(health.dropped(), 1000);
    let tree = health.tree();
    assert_eq!(tree.components.len(), MAX_COMPONENTS);
    assert!(tree.components.contains_key("receiver:r000000"));

    // Still answering the agent.
    let ack = ws_exchange(&mut ws, &message(uid, 1)).await;
    assert_eq!(ack.instance_uid, uid.as_bytes().to_vec());
}

#[tokio::test]
async fn the_deepest_tree_the_wire_allows_is_stored_whole() {
    let server = TestServer::start().await;
    let chain = |depth: usize| {
        let mut h = component(false);
        for i in 0..depth {
            let mut parent = component(true);
            parent.component_health_map.insert(format!("c{i}"), h);
            h = parent;
        }
        h
    };

    // prost refuses messages nested deeper than its recursion limit: find the deepest
    // chain it takes.
    let mut ws = ws_agent(&server).await;
    let uid = AgentId::new_v7();
    let mut hello = message(uid, 0);
    hello.agent_description = Some(description("otelcol-contrib", "deep-1"));
    let deepest = (1..MAX_DEPTH)
        .rev()
        .find(|d| {
            use prost::Message;
            let mut m = hello.clone();
            m.health = Some(chain(*d));
            proto::AgentToServer::decode(m.encode_to_vec().as_slice()).is_ok()
        })
        .expect("some depth decodes");
    assert!(
        deepest < MAX_DEPTH,
        "the stored limit is above what the wire allows"
    );
    hello.health = Some(chain(deepest));
    ws_exchange(&mut ws, &hello).await;
    let health = stored_health(&server, uid).await;
    assert_eq!(health.component_count(), deepest, "nothing cut");
    assert_eq!(health.unhealthy_count(), 1, "the deepest one");
    assert_eq!(health.dropped(), 0);
    let mut depth = 0;
    let tree = health.tree();
    let mut at = &tree;
    while let Some(child) = at.components.values().next() {
        depth += 1;
        at = child;
    }
    assert_eq!(depth, deepest);
    assert!(!at.healthy);
}
