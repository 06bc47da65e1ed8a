//! `rotate-credentials` and `revoke agent` as a user runs them, against a server and a raw
//! agent polling over plain HTTP: enrolled on its first poll, offered a new credential by a
//! rotation and moved to it, refused (403) from its next poll once revoked, and the
//! mistakes a user can make answered with what to do.

mod common;

use std::time::Duration;

use common::*;
use fleetdeck::fleet::AgentId;
use fleetdeck::opamp::proto;
use prost::Message as _;

/// An agent that takes credentials: accepts OpAMP connection settings and reports their
/// status.
const TAKES: u64 = CAPS | 0x100 | 0x8000;

fn poll(id: AgentId, seq: u64) -> proto::AgentToServer {
    proto::AgentToServer {
        capabilities: TAKES,
        agent_description: Some(description("polling", "host-p")),
        ..message(id, seq)
    }
}

/// One OpAMP POST as `id` with `auth`: the HTTP status and the decoded answer.
async fn post(server: &TestServer, id: AgentId, seq: u64, auth: &str) -> (u16, Option<String>) {
    let resp = http_post(
        &server.http_url(),
        poll(id, seq).encode_to_vec(),
        &[
            ("Authorization", auth),
            ("Content-Type", "application/x-protobuf"),
        ],
    )
    .await;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    let offered = proto::ServerToAgent::decode(body.as_ref())
        .ok()
        .and_then(|m| m.connection_settings?.opamp?.headers)
        .and_then(|h| {
            h.headers
                .into_iter()
                .find(|h| h.key.eq_ignore_ascii_case("authorization"))
        })
        .and_then(|h| h.value.strip_prefix("Bearer ").map(str::to_string));
    (status, offered)
}

async fn cli(server: &TestServer, args: &[&str]) -> common::cli::CliOut {
    common::cli::run(&server.api_url(), API_TOKEN, args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_and_revoke_from_the_command_line_with_an_http_agent() {
    let server = TestServer::start_with(|s| s.heartbeat_interval = Duration::from_secs(1)).await;
    let id = AgentId::new_v7();
    let secret = format!("Secret-Key {SECRET}");

    // Enrolled on its first poll; the same credential while it has not used it.
    let (status, first) = post(&server, id, 0, &secret).await;
    assert_eq!(status, 200);
    let first = first.expect("a credential offered");
    let first_auth = format!("Bearer {first}");
    assert_eq!(post(&server, id, 1, &first_auth).await.0, 200);
    assert_eq!(post(&server, id, 2, &secret).await.0, 403, "enrolled now");
    let shown = cli(&server, &["get", "agent", &id.to_string()]).await;
    shown.ok();
    assert!(shown.stdout.contains("credential: enrolled"), "{shown}");

    // Rotated by id: the next poll is offered a new one; the old one works until it is used.
    let out = cli(
        &server,
        &["rotate-credentials", "--agents", &id.to_string()],
    )
    .await;
    out.ok();
    assert!(out.stdout.contains("offered"), "{out}");
    let (status, second) = post(&server, id, 3, &first_auth).await;
    assert_eq!(status, 200);
    let second = second.expect("a new credential offered");
    assert_ne!(second, first);
    let shown = cli(&server, &["get", "agent", &id.to_string(), "-o", "json"]).await;
    assert!(shown.stdout.contains("\"rotating\""), "{shown}");
    let second_auth = format!("Bearer {second}");
    assert_eq!(post(&server, id, 4, &second_auth).await.0, 200);
    assert_eq!(post(&server, id, 5, &first_auth).await.0, 401, "retired");

    // Revoked: marked disconnected at once, refused from its next poll.
    let out = cli(&server, &["revoke", "agent", &id.to_string()]).await;
    out.ok();
    assert!(out.stdout.contains("revoked"), "{out}");
    server
        .wait_for("the revoked agent is disconnected", |s| {
            s.get(&id).is_some_and(|a| !a.is_connected())
        })
        .await;
    assert_eq!(post(&server, id, 6, &second_auth).await.0, 403);
    assert_eq!(post(&server, id, 7, &secret).await.0, 403);

    // Mistakes: no agents named (usage, exit 2), lifting what is not revoked (409).
    let out = cli(&server, &["rotate-credentials"]).await;
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("--selector"), "{out}");
    let other = AgentId::new_v7();
    assert_eq!(post(&server, other, 0, &secret).await.0, 200);
    let out = cli(&server, &["revoke", "agent", &other.to_string(), "--undo"]).await;
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("is not revoked"), "{out}");
    let out = cli(&server, &["revoke", "configuration", "web"]).await;
    assert_eq!(out.code, 2, "{out}");
}
