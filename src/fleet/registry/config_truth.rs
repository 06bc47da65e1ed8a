//! The property behind the configuration-state model (`fleet::delivery`): whatever
//! happens — pushes, connects, reconnects with or without the agent's state, answers held
//! back, disconnects, restarts of the server on a real store — the state shown for an
//! agent's assignment is what the agent last said about it, and nothing the agent already
//! runs or refused is sent to it again.

use proptest::prelude::*;

use super::*;
use crate::fleet::agent::{Attribute, RemoteConfigState, RemoteConfigStatus};
use crate::fleet::delivery::ApplyState;
use crate::fleet::outbox::{OutboxReceiver, outbox};
use crate::opamp::offer::collector_offer;
use crate::store::{Store, WriteBehind, WriteBehindOptions};

const ID: AgentId = AgentId([7; 16]);
const CAPS: Capabilities = Capabilities(
    Capabilities::REPORTS_STATUS
        | Capabilities::ACCEPTS_REMOTE_CONFIG
        | Capabilities::REPORTS_REMOTE_CONFIG
        | Capabilities::REPORTS_EFFECTIVE_CONFIG,
);

#[derive(Debug, Clone, Copy)]
enum Answer {
    Applying,
    Applied,
    Failed,
}

#[derive(Debug, Clone)]
enum Op {
    /// Assign configuration version `k` (of three).
    Push(u8),
    /// Connect, or reconnect after closing the current connection; `keep_state` false is
    /// a process that restarted without what it had applied. `beat_first`: its first
    /// message is a heartbeat, and its full state follows when the server asks.
    Connect {
        keep_state: bool,
        beat_first: bool,
    },
    Heartbeat,
    /// The agent answers the last configuration it received (if any).
    Answer(Answer),
    Disconnect,
    RestartServer,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3).prop_map(Op::Push),
        3 => (any::<bool>(), any::<bool>())
            .prop_map(|(keep_state, beat_first)| Op::Connect { keep_state, beat_first }),
        1 => Just(Op::Heartbeat),
        2 => Just(Op::Answer(Answer::Applying)),
        4 => Just(Op::Answer(Answer::Applied)),
        2 => Just(Op::Answer(Answer::Failed)),
        2 => Just(Op::Disconnect),
        2 => Just(Op::RestartServer),
    ]
}

fn offer(k: u8) -> Arc<RemoteConfigOffer> {
    Arc::new(collector_offer(&format!(
        "receivers: {{}}\n# version {k}\n"
    )))
}

fn config(k: u8) -> ConfigRef {
    ConfigRef {
        name: "web".into(),
        version: u64::from(k) + 1,
    }
}

/// The agent: what it runs and said, and its connection.
#[derive(Default)]
struct Agent {
    /// Its remote-config status, as it would report it.
    status: Option<RemoteConfigStatus>,
    conn: Option<(ConnId, OutboxReceiver)>,
    seq: u64,
    /// The last configuration received and not yet answered.
    inbox: Option<Arc<RemoteConfigOffer>>,
}

/// What the server should show, from what the agent did: the model's other half.
#[derive(Default)]
struct Expect {
    assigned: Option<u8>,
    /// The agent refused the assigned configuration while it was assigned.
    refused: bool,
    /// It went out on the agent's current (or, offline, last) connection, and the server
    /// has not restarted since.
    sent: bool,
}

impl Expect {
    fn state(&self, agent: &Agent) -> Option<ApplyState> {
        let k = self.assigned?;
        let hash = offer(k).hash;
        let said = agent
            .status
            .as_ref()
            .filter(|s| s.last_hash == hash && s.state != RemoteConfigState::Unset);
        Some(match said.map(|s| s.state) {
            Some(RemoteConfigState::Applying) => ApplyState::Applying,
            Some(RemoteConfigState::Applied) => ApplyState::Applied,
            Some(_) => ApplyState::Failed,
            None if self.refused => ApplyState::Failed,
            None if self.sent => ApplyState::Sent,
            None => ApplyState::Pending,
        })
    }
}

struct Server {
    registry: RegistryHandle,
    writer: WriteBehind,
    store: Store,
    next_conn: ConnId,
}

impl Server {
    async fn start(store: Store) -> Server {
        let mut known = Vec::new();
        for record in store.load_agents().await.expect("stored agents") {
            let offer = record.assigned.as_ref().map(|c| offer(c.version as u8 - 1));
            known.push(KnownAgent { record, offer });
        }
        let writer = WriteBehind::spawn(store.clone(), WriteBehindOptions::default());
        let config = RegistryConfig {
            publish_interval: Duration::from_millis(1),
            capabilities: 0,
            persist: Some(Arc::new(writer.clone())),
            ..Default::default()
        };
        Server {
            registry: spawn_with(config, known, CancellationToken::new()),
            writer,
            store,
            next_conn: 1,
        }
    }
}

fn report(agent: &mut Agent, full: bool) -> AgentReport {
    let seq = agent.seq;
    agent.seq += 1;
    AgentReport {
        instance_uid: ID,
        sequence_num: seq,
        capabilities: CAPS,
        description: full.then(|| AgentDescription {
            identifying: vec![Attribute::string("service.name", "prop")],
            non_identifying: Vec::new(),
        }),
        remote_config_status: agent.status.clone(),
        ..Default::default()
    }
}

/// Takes what the server said to the agent; fails on anything the agent should not get.
fn receive(agent: &mut Agent, reply: Option<&ServerReply>, exp: &Expect) {
    let mut got = Vec::new();
    if let Some(r) = reply.and_then(|r| r.remote_config.clone()) {
        got.push(r);
    }
    if let Some((_, rx)) = agent.conn.as_mut() {
        while let Some(r) = rx.try_recv() {
            if let Some(o) = r.remote_config.clone() {
                got.push(o);
            }
        }
    }
    for o in got {
        let runs = agent.status.as_ref().filter(|s| s.last_hash == o.hash);
        assert!(
            runs.is_none_or(|s| s.state == RemoteConfigState::Applying),
            "sent a configuration the agent reports as {:?}",
            runs.map(|s| s.state)
        );
        assert_eq!(
            exp.assigned.map(|k| offer(k).hash),
            Some(o.hash),
            "only the assigned configuration goes out"
        );
        agent.inbox = Some(o);
    }
}

async fn shown(server: &Server, want: Option<ApplyState>) -> Option<ApplyState> {
    let state = |s: &FleetSnapshot| s.get(&ID).and_then(|a| a.config.as_ref().map(|c| c.state));
    let mut rx = server.registry.snapshot();
    let waited = tokio::time::timeout(Duration::from_secs(2), async {
        rx.wait_for(|s| state(s) == want)
            .await
            .map(|s| state(&s))
            .ok()
    })
    .await;
    match waited {
        Ok(Some(found)) => found,
        _ => state(&server.registry.snapshot().borrow()),
    }
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start(Store::open(dir.path()).expect("store")).await;
    let mut agent = Agent::default();
    let mut exp = Expect::default();
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("address");

    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Push(k) => {
                if exp.assigned != Some(*k) {
                    // A new assignment starts from what the agent says now: one it already
                    // refused stays refused.
                    let refused = agent.status.as_ref().is_some_and(|s| {
                        s.last_hash == offer(*k).hash && s.state == RemoteConfigState::Failed
                    });
                    exp = Expect {
                        assigned: Some(*k),
                        refused,
                        ..Expect::default()
                    };
                }
                let out = server
                    .registry
                    .assign(vec![ID], config(*k), offer(*k))
                    .await
                    .expect("registry");
                if agent.conn.is_some() {
                    receive(&mut agent, None, &exp);
                    exp.sent = true;
                } else if out.assigned.is_empty() {
                    // Never seen: the registry does not know the agent yet.
                    exp.assigned = None;
                }
            }
            Op::Connect {
                keep_state,
                beat_first,
            } => {
                if let Some((conn, _)) = agent.conn.take() {
                    server.registry.closed_ws(conn).await;
                }
                if !keep_state {
                    agent.status = None;
                }
                agent.inbox = None;
                agent.seq = 0;
                let conn = server.next_conn;
                server.next_conn += 1;
                let (tx, rx) = outbox(8);
                server
                    .registry
                    .open_ws(conn, addr, Arc::from("ws://x/v1/opamp"), tx)
                    .await
                    .expect("registry");
                agent.conn = Some((conn, rx));
                if *beat_first {
                    let beat = report(&mut agent, false);
                    let answer = server
                        .registry
                        .report_ws(conn, beat)
                        .await
                        .expect("registry");
                    assert!(
                        answer.reply.remote_config.is_none(),
                        "nothing is sent before the agent's full state"
                    );
                    assert!(answer.reply.report_full_state, "the server asks for it");
                }
                let hello = report(&mut agent, true);
                let answer = server
                    .registry
                    .report_ws(conn, hello)
                    .await
                    .expect("registry");
                exp.sent = exp.assigned.is_some();
                receive(&mut agent, Some(&answer.reply), &exp);
            }
            Op::Heartbeat => {
                if let Some((conn, _)) = &agent.conn {
                    let conn = *conn;
                    let beat = AgentReport {
                        remote_config_status: None,
                        ..report(&mut agent, false)
                    };
                    let answer = server
                        .registry
                        .report_ws(conn, beat)
                        .await
                        .expect("registry");
                    receive(&mut agent, Some(&answer.reply), &exp);
                }
            }
            Op::Answer(a) => {
                if let (Some((conn, _)), Some(o)) = (&agent.conn, agent.inbox.clone()) {
                    let conn = *conn;
                    let state = match a {
                        Answer::Applying => RemoteConfigState::Applying,
                        Answer::Applied => RemoteConfigState::Applied,
                        Answer::Failed => RemoteConfigState::Failed,
                    };
                    if !matches!(a, Answer::Applying) {
                        agent.inbox = None;
                    }
                    agent.status = Some(RemoteConfigStatus {
                        last_hash: o.hash.to_vec(),
                        state,
                        error_message: if matches!(a, Answer::Failed) {
                            "refused".into()
                        } else {
                            String::new()
                        },
                    });
                    if matches!(a, Answer::Failed)
                        && exp.assigned.map(|k| offer(k).hash) == Some(o.hash)
                    {
                        exp.refused = true;
                    }
                    let said = report(&mut agent, false);
                    let answer = server
                        .registry
                        .report_ws(conn, said)
                        .await
                        .expect("registry");
                    receive(&mut agent, Some(&answer.reply), &exp);
                }
            }
            Op::Disconnect => {
                if let Some((conn, _)) = agent.conn.take() {
                    server.registry.closed_ws(conn).await;
                    agent.inbox = None;
                }
            }
            Op::RestartServer => {
                server.registry.shutdown().await;
                server.writer.flush().await.expect("flush");
                let store = server.store.clone();
                let next_conn = server.next_conn;
                server = Server::start(store).await;
                server.next_conn = next_conn;
                agent.conn = None;
                agent.inbox = None;
                exp.sent = false;
            }
        }
        let want = exp.state(&agent);
        let got = shown(&server, want).await;
        assert_eq!(
            got, want,
            "after step {step} ({op:?}) of {ops:?}: shown {got:?}, the agent said {:?}",
            agent.status
        );
    }
    server.registry.shutdown().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_shown_state_is_what_the_agent_last_said(ops in prop::collection::vec(op(), 1..24)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(run(ops));
    }
}
