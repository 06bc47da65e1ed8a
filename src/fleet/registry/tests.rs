//! The registry driven through its handle: health events, copy-on-write snapshots,
//! component listings (also across a restart of the store) and heartbeat leases.

use super::*;
use crate::fleet::agent::ComponentHealth;
use crate::fleet::components::ComponentKind;
use crate::fleet::health::Health;

const CAPS: Capabilities =
    Capabilities(Capabilities::REPORTS_STATUS | Capabilities::ACCEPTS_RESTART_COMMAND);

fn beat(id: AgentId, seq: u64) -> AgentReport {
    AgentReport {
        instance_uid: id,
        sequence_num: seq,
        capabilities: CAPS,
        ..Default::default()
    }
}

fn hello(id: AgentId, host: &str) -> AgentReport {
    AgentReport {
        description: Some(AgentDescription {
            identifying: vec![super::super::agent::Attribute::string("host.name", host)],
            non_identifying: Vec::new(),
        }),
        ..beat(id, 0)
    }
}

async fn wait_for(
    rx: &mut watch::Receiver<Arc<FleetSnapshot>>,
    pred: impl Fn(&FleetSnapshot) -> bool,
) -> Arc<FleetSnapshot> {
    let found = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| pred(s)))
        .await
        .expect("snapshot within 5 s")
        .expect("registry running");
    found.clone()
}

fn consistent(s: &FleetSnapshot) {
    assert!(
        s.agents.windows(2).all(|w| w[0].id < w[1].id),
        "sorted by id"
    );
    assert_eq!(s.totals, FleetSnapshot::totals_of(&s.agents));
}

#[tokio::test]
async fn health_events_say_what_changed_not_that_all_is_well_at_first() {
    let registry = spawn(RegistryConfig::default(), CancellationToken::new());
    let mut events = registry.subscribe();
    let (outbox, _unread) = super::super::outbox::outbox(4);
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    registry
        .open_ws(1, addr, Arc::from("ws://x/v1/opamp"), outbox)
        .await
        .unwrap();
    let (fine, sick) = (AgentId([1; 16]), AgentId([2; 16]));
    let healthy = ComponentHealth {
        healthy: true,
        ..Default::default()
    };
    let with_health = |report: AgentReport, h: &ComponentHealth| AgentReport {
        health: Some(Health::new(h)),
        ..report
    };
    registry
        .report_ws(1, with_health(hello(fine, "fine"), &healthy))
        .await
        .unwrap();
    registry
        .report_ws(
            1,
            with_health(hello(sick, "sick"), &ComponentHealth::default()),
        )
        .await
        .unwrap();
    registry
        .report_ws(1, with_health(beat(sick, 1), &healthy))
        .await
        .unwrap();
    let mut changes = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let EventKind::HealthChanged { id, healthy, .. } = ev.kind {
            changes.push((id, healthy));
        }
    }
    assert_eq!(changes, vec![(sick, false), (sick, true)]);
}

/// A registry publishing every 10 ms with WebSocket connection 1 open; the outbox's
/// reading end is returned so the connection stays open.
async fn publishing_every_10ms_with_connection_1()
-> (RegistryHandle, super::super::outbox::OutboxReceiver) {
    let config = RegistryConfig {
        publish_interval: Duration::from_millis(10),
        ..Default::default()
    };
    let registry = spawn(config, CancellationToken::new());
    let (outbox, unread) = super::super::outbox::outbox(4);
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    registry
        .open_ws(1, addr, Arc::from("ws://x/v1/opamp"), outbox)
        .await
        .unwrap();
    (registry, unread)
}

#[tokio::test]
async fn snapshots_change_in_place_only_when_nobody_holds_them() {
    let (registry, _unread) = publishing_every_10ms_with_connection_1().await;
    let (a, b, c) = (AgentId([1; 16]), AgentId([3; 16]), AgentId([2; 16]));
    let mut rx = registry.snapshot();
    registry.report_ws(1, hello(a, "a")).await.unwrap();
    registry.report_ws(1, hello(b, "b")).await.unwrap();
    let held = wait_for(&mut rx, |s| s.totals.connected == 2).await;
    consistent(&held);

    // A new agent between the two, and one turning unhealthy.
    registry.report_ws(1, hello(c, "c")).await.unwrap();
    let mut sick = beat(a, 1);
    sick.health = Some(Health::new(&ComponentHealth::default()));
    registry.report_ws(1, sick).await.unwrap();
    let now = wait_for(&mut rx, |s| s.totals.unhealthy == 1 && s.agents.len() == 3).await;
    consistent(&now);
    assert_eq!(
        now.agents
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "c", "b"]
    );
    assert_eq!(held.agents.len(), 2, "a held snapshot never changes");
    assert_eq!(held.get(&a).and_then(|v| v.healthy()), None);
    drop((held, now));

    registry.closed_ws(1).await;
    let gone = wait_for(&mut rx, |s| s.totals.connected == 0).await;
    consistent(&gone);
    assert_eq!(gone.totals.agents, 3);
    assert_eq!(gone.totals.unhealthy, 1);
}

#[tokio::test]
async fn the_published_view_is_the_registrys_own_and_never_changes_under_a_reader() {
    let (registry, _unread) = publishing_every_10ms_with_connection_1().await;
    let id = AgentId([7; 16]);
    let mut rx = registry.snapshot();
    registry.report_ws(1, hello(id, "h7")).await.unwrap();
    let first = wait_for(&mut rx, |s| s.get(&id).is_some()).await;
    let view = first.get(&id).unwrap().clone();
    assert_eq!(
        Arc::strong_count(&view),
        3,
        "held by the snapshot, the registry and this test: one view, not a copy"
    );
    assert_eq!((view.name.as_str(), view.host.as_str()), ("h7", "h7"));
    assert!(view.is_connected());

    // Changes after the publish go to a copy; the reader's view stays as it was.
    registry.report_ws(1, beat(id, 1)).await.unwrap();
    let mut sick = beat(id, 2);
    sick.health = Some(Health::new(&ComponentHealth::default()));
    registry.report_ws(1, sick).await.unwrap();
    let later = wait_for(&mut rx, |s| {
        s.get(&id).is_some_and(|v| v.healthy() == Some(false))
    })
    .await;
    assert_eq!(
        (view.messages, view.sequence_num, view.healthy()),
        (1, 0, None)
    );
    let now = later.get(&id).unwrap();
    assert_eq!((now.messages, now.sequence_num), (3, 2));

    // The connection state follows the connection, and the sequence is forgotten.
    registry.closed_ws(1).await;
    let gone = wait_for(&mut rx, |s| s.totals.connected == 0).await;
    let v = gone.get(&id).unwrap();
    assert_eq!(v.connection, Connection::Disconnected);
    assert!(v.disconnected_at.is_some());
    assert_eq!(v.sequence_num, 0);
    assert!(
        later.get(&id).unwrap().is_connected(),
        "held views never change"
    );
}

fn listing(hash: u8, receivers: &[&str]) -> AvailableComponents {
    AvailableComponents::from_entries(
        vec![hash; 4],
        receivers.iter().map(|r| ("receivers", *r, "v0.135.0")),
    )
}

fn with_components(
    report: AgentReport,
    hash: u8,
    listing: Option<AvailableComponents>,
) -> AgentReport {
    AgentReport {
        available_components: Some(super::super::components::ReportedComponents {
            hash: vec![hash; 4],
            listing,
        }),
        ..report
    }
}

#[tokio::test]
async fn a_component_listing_is_kept_and_asked_for_when_only_its_hash_is_known() {
    let (registry, _unread) = publishing_every_10ms_with_connection_1().await;
    let mut rx = registry.snapshot();
    let (a, b) = (AgentId([1; 16]), AgentId([2; 16]));
    let has_filelog = |s: &FleetSnapshot, id: &AgentId| {
        s.get(id)
            .and_then(|v| v.available_components.clone())
            .map(|c| c.has(ComponentKind::Receiver, "filelog"))
    };

    // Listed at first: kept, nothing to ask, and two agents of one build share it.
    let first = with_components(hello(a, "a"), 1, Some(listing(1, &["filelog"])));
    let answer = registry.report_ws(1, first).await.unwrap();
    assert!(!answer.reply.report_available_components);
    let second = with_components(hello(b, "b"), 1, Some(listing(1, &["filelog"])));
    registry.report_ws(1, second).await.unwrap();
    let snap = wait_for(&mut rx, |s| has_filelog(s, &b) == Some(true)).await;
    assert_eq!(has_filelog(&snap, &a), Some(true));
    let (la, lb) = (
        snap.get(&a).unwrap().available_components.clone().unwrap(),
        snap.get(&b).unwrap().available_components.clone().unwrap(),
    );
    assert!(Arc::ptr_eq(&la, &lb), "one listing for one build");

    // The same hash alone: nothing changes, nothing is asked.
    let answer = registry
        .report_ws(1, with_components(beat(a, 1), 1, None))
        .await
        .unwrap();
    assert!(!answer.reply.report_available_components);
    assert!(answer.lease.is_some(), "a plain answer");

    // A new hash without its listing: unknown until the agent sends it, and asked for.
    let answer = registry
        .report_ws(1, with_components(beat(a, 2), 2, None))
        .await
        .unwrap();
    assert!(answer.reply.report_available_components);
    assert!(answer.lease.is_none(), "the registry waits for the listing");
    wait_for(&mut rx, |s| has_filelog(s, &a).is_none()).await;
    let answer = registry
        .report_ws(
            1,
            with_components(beat(a, 3), 2, Some(listing(2, &["otlp"]))),
        )
        .await
        .unwrap();
    assert!(!answer.reply.report_available_components);
    wait_for(&mut rx, |s| has_filelog(s, &a) == Some(false)).await;

    // An agent we only know the hash of, from its first message.
    let c = AgentId([3; 16]);
    let answer = registry
        .report_ws(1, with_components(hello(c, "c"), 9, None))
        .await
        .unwrap();
    assert!(answer.reply.report_available_components);
}

#[tokio::test]
async fn a_component_listing_outlives_a_restart_of_the_server() {
    let id = AgentId([4; 16]);
    let record = AgentRecord {
        id,
        labels: BTreeMap::new(),
        assigned: None,
        description_json: None,
        components_json: serde_json::to_string(&listing(5, &["filelog"])).ok(),
        config_state_json: None,
        first_seen: SystemTime::now(),
        last_seen: SystemTime::now(),
    };
    let config = RegistryConfig {
        publish_interval: Duration::from_millis(10),
        ..Default::default()
    };
    let known = vec![KnownAgent {
        record,
        offer: None,
    }];
    let registry = spawn_with(config, known, CancellationToken::new());
    let mut rx = registry.snapshot();
    let snap = wait_for(&mut rx, |s| s.get(&id).is_some()).await;
    let kept = snap.get(&id).unwrap().available_components.clone();
    assert!(kept.is_some_and(|c| c.has(ComponentKind::Receiver, "filelog")));

    // Back with the same hash: no need to list again.
    let (outbox, _unread) = super::super::outbox::outbox(4);
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    registry
        .open_ws(1, addr, Arc::from("ws://x/v1/opamp"), outbox)
        .await
        .unwrap();
    let answer = registry
        .report_ws(1, with_components(hello(id, "h4"), 5, None))
        .await
        .unwrap();
    assert!(!answer.reply.report_available_components);
}

#[tokio::test]
async fn a_lease_ends_when_the_registry_has_something_to_say() {
    let registry = spawn(RegistryConfig::default(), CancellationToken::new());
    // An outbox nobody reads, with room for one message.
    let (outbox, _unread) = super::super::outbox::outbox(1);
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    registry
        .open_ws(1, addr, Arc::from("ws://x/v1/opamp"), outbox)
        .await
        .unwrap();
    let id = AgentId([5; 16]);
    let mut hello = beat(id, 0);
    hello.description = Some(AgentDescription {
        identifying: vec![super::super::agent::Attribute::string("host.name", "h1")],
        non_identifying: Vec::new(),
    });
    let answer = registry.report_ws(1, hello).await.unwrap();
    assert_eq!(answer.reply, ServerReply::ack(id, 0));
    let lease = answer.lease.expect("nothing to say to a described agent");
    assert!(registry.heartbeat(&lease, &beat(id, 1)));

    // A restart that fits the outbox goes out at once, and the lease ends anyway.
    registry.restart(id).await.unwrap();
    assert!(lease.is_revoked());
    assert!(!registry.heartbeat(&lease, &beat(id, 2)));
    let answer = registry.report_ws(1, beat(id, 2)).await.unwrap();
    assert!(!answer.reply.report_full_state, "no gap: 1 was counted");
    let lease = answer.lease.expect("a new lease");

    // A restart that waits (full outbox) comes with the next message the session
    // forwards, since the lease no longer covers it.
    registry.restart(id).await.unwrap();
    assert!(!registry.heartbeat(&lease, &beat(id, 3)));
    let answer = registry.report_ws(1, beat(id, 3)).await.unwrap();
    assert_eq!(answer.reply.command, Some(AgentCommand::Restart));
    assert!(
        answer.lease.is_none(),
        "no lease with a command in the reply"
    );
    assert_eq!(registry.messages_total(), 4);

    let mut snap = registry.snapshot();
    let seen = snap
        .wait_for(|s| s.get(&id).is_some_and(|a| a.sequence_num == 3))
        .await
        .unwrap()
        .get(&id)
        .map(|a| a.messages);
    assert_eq!(seen, Some(4), "the session-answered heartbeat is counted");
}

/// A journal that keeps what the registry writes, as the store would (an attempt written
/// again replaces the earlier write).
#[derive(Default)]
struct Kept {
    attempts: std::sync::Mutex<BTreeMap<(AgentId, SystemTime), ApplyAttempt>>,
}

impl AgentJournal for Kept {
    fn agent(&self, _: AgentRecord) {}
    fn attempt(&self, a: ApplyAttempt) {
        let mut kept = self.attempts.lock().unwrap();
        kept.insert((a.agent, a.assigned_at), a);
    }
    fn forget(&self, id: AgentId) {
        self.attempts
            .lock()
            .unwrap()
            .retain(|(agent, _), _| *agent != id);
    }
}

impl Kept {
    /// Newest first, as the history shows them.
    fn history(&self) -> Vec<ApplyAttempt> {
        self.attempts
            .lock()
            .unwrap()
            .values()
            .rev()
            .cloned()
            .collect()
    }
}

#[tokio::test]
async fn every_assignment_is_an_attempt_ending_applied_failed_superseded_or_rolled_back() {
    use crate::fleet::agent::{RemoteConfigState, RemoteConfigStatus};
    use crate::fleet::attempt::AttemptResult;
    use crate::opamp::offer::collector_offer;

    let kept = Arc::new(Kept::default());
    let config = RegistryConfig {
        persist: Some(kept.clone()),
        ..RegistryConfig::default()
    };
    let registry = spawn(config, CancellationToken::new());
    let (outbox, _pushed) = super::super::outbox::outbox(16);
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    registry
        .open_ws(1, addr, Arc::from("ws://x/v1/opamp"), outbox)
        .await
        .unwrap();
    let id = AgentId([5; 16]);
    let caps = Capabilities(
        CAPS.0 | Capabilities::ACCEPTS_REMOTE_CONFIG | Capabilities::REPORTS_REMOTE_CONFIG,
    );
    let mut seq = 0;
    let mut say = |state: Option<(&RemoteConfigOffer, RemoteConfigState, &str)>| {
        seq += 1;
        AgentReport {
            capabilities: caps,
            remote_config_status: state.map(|(o, state, err)| RemoteConfigStatus {
                last_hash: o.hash.to_vec(),
                state,
                error_message: err.into(),
            }),
            ..beat(id, seq)
        }
    };
    let hello = AgentReport {
        capabilities: caps,
        ..hello(id, "web-1")
    };
    registry.report_ws(1, hello).await.unwrap();
    let web = |v: u64| ConfigRef {
        name: "web".into(),
        version: v,
    };
    let offer = |v: u64| Arc::new(collector_offer(&format!("v: {v}\n")));

    // v1 applied, v2 refused.
    registry.assign(vec![id], web(1), offer(1)).await.unwrap();
    let applied = say(Some((&offer(1), RemoteConfigState::Applied, "")));
    registry.report_ws(1, applied).await.unwrap();
    registry.assign(vec![id], web(2), offer(2)).await.unwrap();
    let refused = say(Some((&offer(2), RemoteConfigState::Failed, "bad exporter")));
    registry.report_ws(1, refused).await.unwrap();
    // v3 replaced by v4 before the agent said a word about it.
    registry.assign(vec![id], web(3), offer(3)).await.unwrap();
    registry.assign(vec![id], web(4), offer(4)).await.unwrap();
    let applied = say(Some((&offer(4), RemoteConfigState::Applied, "")));
    registry.report_ws(1, applied).await.unwrap();
    // A rollout sends it back to v1: v4 is rolled back, and the way back is an attempt.
    registry
        .roll_back(vec![id], web(1), offer(1))
        .await
        .unwrap();
    let back = say(Some((&offer(1), RemoteConfigState::Applied, "")));
    registry.report_ws(1, back).await.unwrap();

    let summary: Vec<(u64, AttemptResult, bool, bool)> = kept
        .history()
        .iter()
        .map(|a| (a.config.version, a.result, a.rolled_back, a.rollback))
        .collect();
    assert_eq!(
        summary,
        [
            (1, AttemptResult::Applied, false, true),
            (4, AttemptResult::Applied, true, false),
            (3, AttemptResult::Superseded, false, false),
            (2, AttemptResult::Failed, false, false),
            (1, AttemptResult::Applied, false, false),
        ]
    );
    let history = kept.history();
    assert_eq!(history[3].message, "bad exporter");
    assert_eq!(history[3].hash, offer(2).hash);
    assert_eq!(
        history[2].message,
        "replaced by web:4 before the agent answered"
    );
    assert!(
        history
            .windows(2)
            .all(|w| w[0].assigned_at > w[1].assigned_at)
    );

    // Forgetting the agent takes its history with it.
    registry.closed_ws(1).await;
    let mut rx = registry.snapshot();
    wait_for(&mut rx, |s| {
        s.get(&id)
            .is_some_and(|a| a.connection == Connection::Disconnected)
    })
    .await;
    registry.forget(id).await.unwrap();
    assert!(kept.history().is_empty());
}
