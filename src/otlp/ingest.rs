//! Attributing decoded data to fleet agents and storing it.
//!
//! A request is attributed by its credential:
//! - a per-agent token ([`super::token`]) names the agent; everything in the request is its,
//!   except a resource whose `service.instance.id` names another agent of the fleet that is
//!   connected over the same OpAMP WebSocket connection (a supervisor of several
//!   Collectors reporting theirs under one token): that resource is the other agent's. A
//!   resource naming an agent on another connection is refused (a token speaks only for
//!   its own connection); one naming no fleet agent (a Collector's own random id) stays the
//!   token's agent's;
//! - the fleet-wide agent secret (the key agents use for OpAMP) names no agent, so each
//!   resource must carry `service.instance.id` equal to its agent's instance UID, as UUID text
//!   (what the OpenTelemetry supervisor sets for the Collector it runs).
//!
//! Either way the agent must be in the current fleet snapshot; data for any other agent, or
//! a resource without a usable `service.instance.id`, is counted and dropped, and the reply's
//! `partial_success` says how many items were rejected and why.

use crate::fleet::telemetry::TelemetryStore;
use crate::fleet::{AgentId, FleetSnapshot};

use super::metrics::MetricsBatch;
use super::stats::{Counter, OtlpStats};

/// Who sent a request, from its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// A per-agent token.
    Agent(AgentId),
    /// The fleet-wide agent secret: resources name their agents.
    Fleet,
}

/// Items of a request that were not accepted, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejected {
    pub count: u64,
    /// An agent that is not in the fleet (the first one met).
    pub unknown: Option<AgentId>,
    /// Items from resources without a UUID `service.instance.id`.
    pub unattributed: u64,
    /// Items naming an agent the token does not speak for: (the token's, the named).
    pub foreign: Option<(AgentId, AgentId)>,
    pub foreign_items: u64,
}

impl Rejected {
    fn unknown_agent(&mut self, id: AgentId, n: u64) {
        self.count += n;
        self.unknown.get_or_insert(id);
    }

    fn no_instance(&mut self, n: u64) {
        self.count += n;
        self.unattributed += n;
    }

    fn not_spoken_for(&mut self, token: AgentId, named: AgentId, n: u64) {
        self.count += n;
        self.foreign_items += n;
        self.foreign.get_or_insert((token, named));
    }

    /// The `error_message` of a partial success; empty when nothing was rejected.
    pub fn message(&self, items: &str) -> String {
        let mut parts = Vec::new();
        if let Some(id) = self.unknown {
            parts.push(format!(
                "{} {items} dropped: agent {id} is not in this fleet (it must be connected over OpAMP first)",
                self.count - self.unattributed - self.foreign_items
            ));
        }
        if let Some((token, named)) = self.foreign {
            parts.push(format!(
                "{} {items} dropped: they name agent {named}, which the token of agent {token} \
                 does not speak for (only agents on its own OpAMP connection)",
                self.foreign_items
            ));
        }
        if self.unattributed > 0 {
            parts.push(format!(
                "{} {items} dropped: with the fleet secret, each resource needs the attribute \
                 service.instance.id set to its agent's instance UID (a UUID)",
                self.unattributed
            ));
        }
        parts.join("; ")
    }
}

/// Whose a resource's data is.
enum Owner {
    Agent(AgentId),
    /// Not in the fleet.
    Unknown(AgentId),
    /// No usable `service.instance.id` with the fleet secret.
    NoInstance,
    /// Names an agent the token's agent does not speak for.
    Foreign {
        token: AgentId,
        named: AgentId,
    },
}

/// Resolves which fleet agent a resource belongs to.
fn owner_of(sender: Sender, instance: Option<AgentId>, fleet: &FleetSnapshot) -> Owner {
    let id = match (sender, instance) {
        (Sender::Fleet, None) => return Owner::NoInstance,
        (Sender::Fleet, Some(id)) => id,
        (Sender::Agent(token), Some(named)) if named != token => {
            let (Some(a), Some(b)) = (fleet.get(&token), fleet.get(&named)) else {
                // A name that is no fleet agent (a Collector's own random id): the data
                // is the token's agent's, as it always was.
                return match fleet.get(&token) {
                    Some(_) => Owner::Agent(token),
                    None => Owner::Unknown(token),
                };
            };
            let same_connection = a.is_connected()
                && b.is_connected()
                && a.transport == Some(crate::fleet::Transport::WebSocket)
                && b.transport == a.transport
                && a.remote_addr.is_some()
                && a.remote_addr == b.remote_addr;
            return if same_connection {
                Owner::Agent(named)
            } else {
                Owner::Foreign { token, named }
            };
        }
        (Sender::Agent(token), _) => token,
    };
    match fleet.get(&id) {
        Some(_) => Owner::Agent(id),
        None => Owner::Unknown(id),
    }
}

impl Rejected {
    fn owner(&mut self, owner: Owner, n: u64) -> Option<AgentId> {
        match owner {
            Owner::Agent(id) => return Some(id),
            Owner::Unknown(id) => self.unknown_agent(id, n),
            Owner::NoInstance => self.no_instance(n),
            Owner::Foreign { token, named } => self.not_spoken_for(token, named, n),
        }
        None
    }
}

/// Stores a decoded metrics request; returns what was rejected.
pub fn ingest_metrics(
    now: u64,
    sender: Sender,
    batch: &mut MetricsBatch,
    fleet: &FleetSnapshot,
    store: &TelemetryStore,
    stats: &OtlpStats,
) -> Rejected {
    batch.resolve_components(store);
    let batch = &*batch;
    let mut rejected = Rejected::default();
    let store_samples = |id: AgentId, samples: &[crate::fleet::telemetry::Sample], points| {
        let outcome = store.ingest_at(now, &id, samples);
        store.refusals().accepted(&id);
        stats.add(Counter::MetricPoints, points);
        stats.add(Counter::StaleSamples, outcome.stale as u64);
        stats.add(Counter::OverLimitSamples, outcome.over_limit as u64);
    };
    // One agent's token and nothing naming another agent (nearly always): all resources
    // at once, so its streams are updated in one go.
    let all_its_own = match sender {
        Sender::Agent(token) => batch.resources.iter().all(|r| {
            r.instance
                .is_none_or(|i| i == token || fleet.get(&i).is_none())
        }),
        Sender::Fleet => false,
    };
    if let (Sender::Agent(token), true) = (sender, all_its_own) {
        match rejected.owner(owner_of(sender, None, fleet), batch.points()) {
            Some(id) => store_samples(id, &batch.samples, batch.points()),
            None => debug_assert!(fleet.get(&token).is_none()),
        }
    } else {
        for r in &batch.resources {
            if let Some(id) = rejected.owner(owner_of(sender, r.instance, fleet), r.points) {
                store_samples(id, batch.samples_of(r), r.points);
            }
        }
    }
    stats.add(Counter::UnknownAgentPoints, rejected.count);
    rejected
}

/// Counts log records or spans per resource (`(service.instance.id, items)`); nothing is
/// stored for them yet, but the attribution rules are the same as for metrics.
pub fn attribute_items(
    sender: Sender,
    resources: impl IntoIterator<Item = (Option<AgentId>, u64)>,
    fleet: &FleetSnapshot,
) -> (u64, Rejected) {
    let mut accepted = 0;
    let mut rejected = Rejected::default();
    for (instance, n) in resources {
        if rejected
            .owner(owner_of(sender, instance, fleet), n)
            .is_some()
        {
            accepted += n;
        }
    }
    (accepted, rejected)
}
