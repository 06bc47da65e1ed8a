//! What the management API's live stream (`GET /api/v1/stream`) carries, in both
//! directions of its life: the server builds these from snapshots and events, and
//! `fleetdeck attach` turns them back into the snapshots and events the TUI reads.
//!
//! The stream starts with the whole fleet once ([`StreamMessage::Full`]), then sends only
//! the agents that changed ([`StreamMessage::Changes`]), a few times a second at most. An
//! agent unchanged since the last message is not sent again, so a fleet of 100,000 agents
//! costs what changes in it, not its size. Events come in batches, and once a second the
//! fleet's latest throughput, which the header shows. Per-agent sparkline points are not
//! pushed (a TUI shows a screenful of agents): `GET /api/v1/telemetry` answers for the
//! agents on screen.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::agent::{
    AgentDescription, AgentId, Capabilities, ComponentHealth, ConfigMap, PackageStatuses,
    RemoteConfigStatus, Transport,
};
use super::components::AvailableComponents;
use super::delivery::{AgentConfigStatus, ApplyState, ConfigRef};
use super::events::FleetEvent;
use super::health::Health;
use super::labels::Labels;
use super::snapshot::{AgentView, Connection, FleetSnapshot, no_custom_capabilities};
use super::telemetry::SERIES_COUNT;
use super::text::Text;

/// One message of the stream; the SSE event name is [`StreamMessage::name`] and the data
/// this, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamMessage {
    /// Every agent, sorted by id: the first message. A large fleet comes in parts of
    /// [`FULL_PART`] agents, each but the last with `more` set; the parts make one
    /// snapshot.
    Full {
        version: u64,
        agents: Vec<StreamedAgent>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        more: bool,
    },
    /// The agents that changed since the previous message, and the ids that left.
    Changes {
        version: u64,
        changed: Vec<StreamedAgent>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removed: Vec<AgentId>,
    },
    /// Fleet events in order; `missed` counts those dropped for this reader in a burst.
    Events {
        events: Vec<FleetEvent>,
        #[serde(default, skip_serializing_if = "is_zero")]
        missed: u64,
    },
    /// The fleet's latest value of each telemetry series (in `Series::ALL` order), once a
    /// second; also tells the reader the stream is alive.
    Fleet { now: u64, latest: Vec<f64> },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl StreamMessage {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            StreamMessage::Full { .. } => "full",
            StreamMessage::Changes { .. } => "changes",
            StreamMessage::Events { .. } => "events",
            StreamMessage::Fleet { .. } => "fleet",
        }
    }
}

/// An agent as the stream carries it: the fields of [`AgentView`], times in Unix
/// milliseconds, the operator's labels apart (the rest come from the description).
///
/// The heavy parts (description, health tree, effective config, available components)
/// are left out of a change when they are what was sent for the agent before, and a
/// `same_*` flag says so: an agent whose heartbeat moved its `last_seen` costs a few
/// hundred bytes, not kilobytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamedAgent {
    pub id: AgentId,
    pub name: Text,
    pub host: Text,
    pub version: Text,
    pub os: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Arc<AgentDescription>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_description: bool,
    pub capabilities: Capabilities,
    pub connection: Connection,
    pub transport: Option<Transport>,
    pub remote_addr: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ComponentHealth>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_health: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_config: Option<ConfigMap>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_effective_config: bool,
    pub remote_config_status: Option<RemoteConfigStatus>,
    pub package_statuses: Option<PackageStatuses>,
    pub custom_capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_components: Option<AvailableComponents>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_available_components: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operator_labels: BTreeMap<String, String>,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub connected_at_ms: Option<u64>,
    pub disconnected_at_ms: Option<u64>,
    pub sequence_num: u64,
    pub messages: u64,
    pub config: Option<StreamedConfig>,
}

/// [`AgentConfigStatus`] on the stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamedConfig {
    pub config: ConfigRef,
    pub hash: String,
    pub state: ApplyState,
    pub error: String,
    pub effective_matches: Option<bool>,
    pub since_ms: u64,
    pub origin: String,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn time(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

impl StreamedAgent {
    /// `a` for the stream; `before` is the view of it sent last (its effective config is
    /// not sent again when it is the same).
    pub fn of(a: &AgentView, before: Option<&AgentView>) -> StreamedAgent {
        // `Arc`'s equality looks at the pointer first: unchanged parts cost nothing here.
        let same_description = before.is_some_and(|b| b.description == a.description);
        let same_health = before.is_some_and(|b| b.health.is_some() && b.health == a.health);
        let same_config = before.is_some_and(|b| {
            b.effective_config.is_some() && b.effective_config == a.effective_config
        });
        let same_components = before.is_some_and(|b| {
            b.available_components.is_some() && b.available_components == a.available_components
        });
        StreamedAgent {
            id: a.id,
            name: a.name.clone(),
            host: a.host.clone(),
            version: a.version.clone(),
            os: a.os.clone(),
            description: (!same_description).then(|| a.description.clone()),
            same_description,
            capabilities: a.capabilities,
            connection: a.connection,
            transport: a.transport,
            remote_addr: a.remote_addr,
            health: if same_health {
                None
            } else {
                a.health.as_ref().map(Health::tree)
            },
            same_health,
            effective_config: if same_config {
                None
            } else {
                a.effective_config.as_deref().cloned()
            },
            same_effective_config: same_config,
            remote_config_status: a.remote_config_status.as_deref().cloned(),
            package_statuses: a.package_statuses.as_deref().cloned(),
            custom_capabilities: a.custom_capabilities.to_vec(),
            available_components: if same_components {
                None
            } else {
                a.available_components.as_deref().cloned()
            },
            same_available_components: same_components,
            operator_labels: a.labels.operator_map(),
            first_seen_ms: ms(a.first_seen),
            last_seen_ms: ms(a.last_seen),
            connected_at_ms: a.connected_at.map(ms),
            disconnected_at_ms: a.disconnected_at.map(ms),
            sequence_num: a.sequence_num,
            messages: a.messages,
            config: a.config.as_ref().map(|c| StreamedConfig {
                config: c.config.clone(),
                hash: hex::encode(c.hash),
                state: c.state,
                error: c.error.clone(),
                effective_matches: c.effective_matches,
                since_ms: ms(c.since),
                origin: c.origin.to_string(),
            }),
        }
    }

    /// The view the reader shows; `before` is the view it had of the agent (its effective
    /// config stands when the stream says it is the same).
    pub fn into_view(self, before: Option<&AgentView>) -> AgentView {
        let effective_config = if self.same_effective_config {
            before.and_then(|b| b.effective_config.clone())
        } else {
            self.effective_config.map(Arc::new)
        };
        let description = match (self.description, before) {
            (Some(d), _) => d,
            (None, Some(b)) if self.same_description => b.description.clone(),
            (None, _) => Arc::default(),
        };
        let health = if self.same_health {
            before.and_then(|b| b.health.clone())
        } else {
            self.health.as_ref().map(Health::new)
        };
        let available_components = if self.same_available_components {
            before.and_then(|b| b.available_components.clone())
        } else {
            self.available_components.map(Arc::new)
        };
        let labels = Labels::new(description.clone(), &self.operator_labels);
        let custom_capabilities = if self.custom_capabilities.is_empty() {
            no_custom_capabilities()
        } else {
            Arc::from(self.custom_capabilities)
        };
        AgentView {
            id: self.id,
            name: self.name,
            host: self.host,
            version: self.version,
            os: self.os,
            description,
            capabilities: self.capabilities,
            connection: self.connection,
            transport: self.transport,
            remote_addr: self.remote_addr,
            health,
            effective_config,
            remote_config_status: self.remote_config_status.map(Arc::new),
            package_statuses: self.package_statuses.map(Arc::new),
            custom_capabilities,
            available_components,
            labels,
            first_seen: time(self.first_seen_ms),
            last_seen: time(self.last_seen_ms),
            connected_at: self.connected_at_ms.map(time),
            disconnected_at: self.disconnected_at_ms.map(time),
            sequence_num: self.sequence_num,
            messages: self.messages,
            config: self.config.map(|c| {
                let mut hash = [0u8; 32];
                // A hash that does not decode shows as zeros; it is only compared.
                if let Ok(bytes) = hex::decode(&c.hash)
                    && bytes.len() == 32
                {
                    hash.copy_from_slice(&bytes);
                }
                AgentConfigStatus {
                    config: c.config,
                    hash,
                    state: c.state,
                    error: c.error,
                    effective_matches: c.effective_matches,
                    since: time(c.since_ms),
                    origin: if c.origin == "selector" {
                        "selector"
                    } else {
                        "push"
                    },
                }
            }),
        }
    }
}

/// The messages that take a reader from `before` to `now`: the agents whose view is not
/// the one sent before (the registry shares unchanged views between snapshots, so this
/// is a pointer comparison for nearly all of them) and the ids that left. `None` when
/// nothing changed.
pub fn changes(before: &FleetSnapshot, now: &FleetSnapshot) -> Option<StreamMessage> {
    let (mut changed, mut removed) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    let (old, new) = (&before.agents, &now.agents);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.id == n.id => {
                if !Arc::ptr_eq(o, n) {
                    changed.push(StreamedAgent::of(n, Some(o)));
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.id < n.id => {
                removed.push(o.id);
                i += 1;
            }
            (Some(o), None) => {
                removed.push(o.id);
                i += 1;
            }
            (_, Some(n)) => {
                changed.push(StreamedAgent::of(n, None));
                j += 1;
            }
            (None, None) => break,
        }
    }
    if changed.is_empty() && removed.is_empty() {
        return None;
    }
    Some(StreamMessage::Changes {
        version: now.version,
        changed,
        removed,
    })
}

/// Agents per part of a [`StreamMessage::Full`]: a message stays a few megabytes
/// whatever the fleet's size, on both ends.
pub const FULL_PART: usize = 1000;

/// The whole fleet in one message (tests, small fleets).
pub fn full(now: &FleetSnapshot) -> StreamMessage {
    StreamMessage::Full {
        version: now.version,
        agents: now
            .agents
            .iter()
            .map(|a| StreamedAgent::of(a, None))
            .collect(),
        more: false,
    }
}

/// The whole fleet in parts of at most `per` agents, built one at a time as they are
/// taken (at least one part, empty for an empty fleet).
pub fn full_parts(now: &FleetSnapshot, per: usize) -> impl Iterator<Item = StreamMessage> + '_ {
    let per = per.max(1);
    let parts = now.agents.len().div_ceil(per).max(1);
    (0..parts).map(move |i| StreamMessage::Full {
        version: now.version,
        agents: now
            .agents
            .iter()
            .skip(i * per)
            .take(per)
            .map(|a| StreamedAgent::of(a, None))
            .collect(),
        more: i + 1 < parts,
    })
}

/// A reader of one stream: gathers the parts of the whole fleet, then applies changes.
#[derive(Debug, Default)]
pub struct Follower {
    parts: Vec<StreamedAgent>,
}

impl Follower {
    /// Applies `msg` to `held`: the new snapshot, or `None` while nothing changed (or the
    /// whole fleet is still arriving).
    pub fn apply(&mut self, held: &FleetSnapshot, msg: StreamMessage) -> Option<FleetSnapshot> {
        match msg {
            StreamMessage::Full {
                version,
                agents,
                more,
            } => {
                self.parts.extend(agents);
                if more {
                    return None;
                }
                let agents = std::mem::take(&mut self.parts);
                apply(
                    held,
                    StreamMessage::Full {
                        version,
                        agents,
                        more: false,
                    },
                )
            }
            other => apply(held, other),
        }
    }
}

/// The reader's side: applies one message to the fleet it holds and returns the new
/// snapshot (`None` for messages that do not change the fleet).
pub fn apply(held: &FleetSnapshot, msg: StreamMessage) -> Option<FleetSnapshot> {
    let (version, agents) = match msg {
        StreamMessage::Full {
            version, agents, ..
        } => {
            let mut views: Vec<Arc<AgentView>> = agents
                .into_iter()
                .map(|a| {
                    let before = held.get(&a.id).map(|b| b.as_ref());
                    Arc::new(a.into_view(before))
                })
                .collect();
            views.sort_by_key(|a| a.id);
            views.dedup_by(|a, b| a.id == b.id);
            (version, views)
        }
        StreamMessage::Changes {
            version,
            mut changed,
            removed,
        } => {
            // Both sides sorted by id: one walk, the unchanged agents shared as they are.
            changed.sort_by_key(|a| a.id);
            let removed: std::collections::HashSet<AgentId> = removed.into_iter().collect();
            let mut out = Vec::with_capacity(held.agents.len() + changed.len());
            let mut held_iter = held.agents.iter().peekable();
            for a in changed {
                while let Some(h) = held_iter.next_if(|h| h.id < a.id) {
                    if !removed.contains(&h.id) {
                        out.push(h.clone());
                    }
                }
                let before = held_iter.next_if(|h| h.id == a.id);
                out.push(Arc::new(a.into_view(before.map(|b| b.as_ref()))));
            }
            out.extend(held_iter.filter(|h| !removed.contains(&h.id)).cloned());
            out.dedup_by(|a, b| a.id == b.id);
            (version, out)
        }
        StreamMessage::Events { .. } | StreamMessage::Fleet { .. } => return None,
    };
    Some(FleetSnapshot {
        version,
        taken_at: Some(SystemTime::now()),
        totals: FleetSnapshot::totals_of(&agents),
        agents,
    })
}

/// The tails `GET /api/v1/telemetry` answers with for one agent: points per series in
/// `Series::ALL` order, oldest first, one a second up to `now`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentTails {
    pub id: AgentId,
    /// Changes whenever the tails could read differently; a reader that sends it back in
    /// `known` is not sent the same tails again.
    pub fingerprint: Option<u64>,
    pub series: Vec<Vec<f64>>,
    /// The agent's own telemetry refused lately (no or wrong credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<RefusedTail>,
}

/// [`super::refusals::Refused`] on the wire: times in Unix seconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefusedTail {
    pub count: u64,
    pub reason: String,
    pub first: u64,
    pub last: u64,
}

impl RefusedTail {
    pub fn of(r: &super::refusals::Refused) -> RefusedTail {
        let secs = |t: SystemTime| ms(t) / 1000;
        RefusedTail {
            count: r.count,
            reason: r.reason.to_string(),
            first: secs(r.first),
            last: secs(r.last),
        }
    }

    /// Back to what the UI shows; `reason` is the text that stands for this one's.
    pub fn into_refused(self, reason: &'static str) -> super::refusals::Refused {
        super::refusals::Refused {
            count: self.count,
            reason,
            first: time(self.first * 1000),
            last: time(self.last * 1000),
        }
    }
}

/// The answer of `GET /api/v1/telemetry`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tails {
    /// The second the tails end at (Unix seconds).
    pub now: u64,
    pub points: usize,
    /// Agents whose tails changed since the fingerprint the reader gave (all, without one).
    pub agents: Vec<AgentTails>,
}

/// How many series each tail set holds.
pub const SERIES: usize = SERIES_COUNT;

#[cfg(test)]
mod tests {
    use super::*;

    fn view(n: u8, name: &str) -> Arc<AgentView> {
        Arc::new(AgentView {
            name: Text::unshared(name),
            ..AgentView::blank(AgentId([n; 16]))
        })
    }

    fn snap(version: u64, agents: Vec<Arc<AgentView>>) -> FleetSnapshot {
        FleetSnapshot {
            version,
            taken_at: None,
            totals: FleetSnapshot::totals_of(&agents),
            agents,
        }
    }

    fn names(s: &FleetSnapshot) -> Vec<String> {
        s.agents.iter().map(|a| a.name.to_string()).collect()
    }

    #[test]
    fn a_reader_follows_the_fleet_through_json_with_only_changed_agents_sent() {
        let (a, b, c) = (view(1, "a"), view(2, "b"), view(3, "c"));
        let first = snap(1, vec![a.clone(), b.clone(), c.clone()]);
        let through_json = |m: &StreamMessage| -> StreamMessage {
            serde_json::from_str(&serde_json::to_string(m).unwrap()).unwrap()
        };
        let held = apply(&FleetSnapshot::default(), through_json(&full(&first))).unwrap();
        assert_eq!(names(&held), ["a", "b", "c"]);
        // b changes, c leaves, d arrives; a is the same Arc and is not sent.
        let b2 = Arc::new(AgentView {
            connection: Connection::Disconnected,
            ..(*b).clone()
        });
        let d = view(4, "d");
        let second = snap(2, vec![a.clone(), b2, d]);
        let msg = changes(&first, &second).unwrap();
        match &msg {
            StreamMessage::Changes {
                changed, removed, ..
            } => {
                let sent: Vec<&str> = changed.iter().map(|a| a.name.as_str()).collect();
                assert_eq!(sent, ["b", "d"]);
                assert_eq!(removed, &[c.id]);
            }
            other => panic!("{other:?}"),
        }
        let held = apply(&held, through_json(&msg)).unwrap();
        assert_eq!(names(&held), ["a", "b", "d"]);
        assert_eq!(held.totals.connected, 2);
        assert_eq!(held.version, 2);
        assert!(changes(&second, &second).is_none());
    }

    #[test]
    fn heavy_parts_are_sent_once_and_kept_while_only_a_heartbeat_changes() {
        let tree = ComponentHealth {
            healthy: false,
            last_error: Text::unshared("exporter failing"),
            status: Text::unshared("StatusRecoverableError"),
            ..ComponentHealth::default()
        };
        let a = Arc::new(AgentView {
            health: Some(Health::new(&tree)),
            effective_config: Some(Arc::new(ConfigMap::default())),
            ..(*view(1, "a")).clone()
        });
        let first = snap(1, vec![a.clone()]);
        let held = apply(&FleetSnapshot::default(), full(&first)).unwrap();
        // A heartbeat: a new view sharing every heavy part.
        let beat = Arc::new(AgentView {
            last_seen: a.last_seen + Duration::from_secs(5),
            messages: a.messages + 1,
            ..(*a).clone()
        });
        let second = snap(2, vec![beat]);
        let msg = changes(&first, &second).unwrap();
        let json = serde_json::to_string(&msg).unwrap();
        assert!(!json.contains("exporter failing"), "{json}");
        let StreamMessage::Changes { changed, .. } = &msg else {
            panic!("{msg:?}")
        };
        assert!(changed[0].same_health && changed[0].same_description);
        assert!(changed[0].same_effective_config);
        let held = apply(&held, serde_json::from_str(&json).unwrap()).unwrap();
        let shown = held.get(&a.id).unwrap();
        assert_eq!(shown.health, a.health, "the health sent first stands");
        assert_eq!(shown.effective_config, a.effective_config);
        assert_eq!(shown.messages, a.messages + 1);
        assert_eq!(held.totals.unhealthy, 1);
    }

    #[test]
    fn a_large_fleet_comes_in_parts_that_make_one_snapshot() {
        let agents: Vec<Arc<AgentView>> = (1..=25).map(|n| view(n, &format!("a{n:02}"))).collect();
        let whole = snap(3, agents);
        let parts: Vec<StreamMessage> = full_parts(&whole, 10).collect();
        assert_eq!(parts.len(), 3);
        let mut follower = Follower::default();
        let held = FleetSnapshot::default();
        assert!(follower.apply(&held, parts[0].clone()).is_none());
        assert!(follower.apply(&held, parts[1].clone()).is_none());
        let got = follower
            .apply(&held, parts[2].clone())
            .expect("the whole fleet");
        assert_eq!(names(&got), names(&whole));
        assert_eq!(got.version, 3);
        let empty: Vec<StreamMessage> = full_parts(&FleetSnapshot::default(), 10).collect();
        assert!(
            matches!(&empty[..], [StreamMessage::Full { agents, more: false, .. }] if agents.is_empty())
        );
    }
}
