//! Agent credentials across two fleetdeck servers on one PostgreSQL database: a credential
//! minted by one replica lets the agent in on the other (and moving to it there retires the
//! fleet secret for its uid everywhere); a revocation made on one replica disconnects the
//! agent connected to the other, which refuses it from then on.
//! PostgreSQL from `tests/common/pg.rs`: SKIPPED without it, failing under CI.

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::opamp::proto;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message;

/// An agent that takes credentials: accepts OpAMP connection settings and reports
/// their status.
const TAKES: u64 = CAPS | 0x100 | 0x8000;

async fn replica(url: &str) -> TestServer {
    let url = url.to_string();
    TestServer::start_with(move |s| {
        s.store = Some(url);
        s.heartbeat_interval = Duration::from_secs(1);
    })
    .await
}

fn hello(id: AgentId, seq: u64) -> proto::AgentToServer {
    proto::AgentToServer {
        capabilities: TAKES,
        agent_description: Some(description("replicated", "host-r")),
        ..message(id, seq)
    }
}

/// The credential in an answer's OpAMP connection settings.
fn offered(reply: &proto::ServerToAgent) -> Option<String> {
    reply
        .connection_settings
        .as_ref()?
        .opamp
        .as_ref()?
        .headers
        .as_ref()?
        .headers
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case("authorization"))?
        .value
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

/// Reads frames until the server closes; returns the close code and the last error message.
async fn until_closed(ws: &mut Ws) -> (Option<u16>, Option<String>) {
    let (mut code, mut error) = (None, None);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        match msg {
            Message::Binary(data) => {
                if let Some(e) = proto::ServerToAgent::decode(&data[1..])
                    .ok()
                    .and_then(|m| m.error_response)
                {
                    error = Some(e.error_message);
                }
            }
            Message::Close(frame) => {
                code = frame.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    (code, error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_minted_on_one_replica_works_on_the_other_and_a_revocation_reaches_it() {
    let Some(url) = common::pg::database() else {
        return;
    };
    let a = replica(&url).await;
    let b = replica(&url).await;
    let id = AgentId::new_v7();

    // Enrolled on A: offered a credential.
    let mut on_a = ws_agent(&a).await;
    let reply = ws_exchange(&mut on_a, &hello(id, 0)).await;
    let credential = offered(&reply).expect("a credential offered on enrollment");
    let _ = on_a.close(None).await;

    // Used on B: let in, and that is the agent's credential from now on.
    let mut on_b = ws_connect(&b.ws_url(), Some(&format!("Bearer {credential}")))
        .await
        .expect("B lets A's credential in");
    let reply = ws_exchange(&mut on_b, &hello(id, 0)).await;
    assert!(reply.error_response.is_none(), "{reply:?}");
    b.wait_for("the agent connected on B", |s| {
        s.get(&id).is_some_and(|a| a.is_connected())
    })
    .await;
    // So A no longer takes the fleet secret for it.
    let mut again = ws_agent(&a).await;
    let mut frame = vec![0u8];
    hello(id, 0).encode(&mut frame).unwrap();
    again.send(Message::Binary(frame.into())).await.unwrap();
    let (code, error) = until_closed(&mut again).await;
    assert_eq!(code, Some(1008));
    assert!(
        error
            .as_deref()
            .unwrap_or("")
            .contains("must connect with it"),
        "{error:?}"
    );

    // Revoked on A while connected to B: B disconnects it and refuses it.
    let resp = http_client()
        .post(format!("{}/api/v1/agents/{id}/revoke", a.api_url()))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (code, error) = until_closed(&mut on_b).await;
    assert_eq!(code, Some(1008), "B closed the revoked agent's connection");
    assert!(
        error.as_deref().unwrap_or("").contains("revoked by admin"),
        "{error:?}"
    );
    b.wait_for("B shows it disconnected", |s| {
        s.get(&id).is_some_and(|a| !a.is_connected())
    })
    .await;
    let refused = ws_connect(&b.ws_url(), Some(&format!("Bearer {credential}"))).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|_| "a connection")),
    }
}
