//! Attributing decoded data to fleet agents and storing it.
//!
//! A request is attributed by its credential:
//! - a per-agent token ([`super::token`]) names the agent; everything in the request is its;
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

    /// The `error_message` of a partial success; empty when nothing was rejected.
    pub fn message(&self, items: &str) -> String {
        let mut parts = Vec::new();
        if let Some(id) = self.unknown {
            parts.push(format!(
                "{} {items} dropped: agent {id} is not in this fleet (it must be connected over OpAMP first)",
                self.count - self.unattributed
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

/// Resolves which fleet agent a resource belongs to.
fn agent_of(
    sender: Sender,
    instance: Option<AgentId>,
    fleet: &FleetSnapshot,
) -> Result<AgentId, Option<AgentId>> {
    let id = match sender {
        Sender::Agent(id) => id,
        Sender::Fleet => instance.ok_or(None)?,
    };
    match fleet.get(&id) {
        Some(_) => Ok(id),
        None => Err(Some(id)),
    }
}

/// Stores a decoded metrics request; returns what was rejected.
pub fn ingest_metrics(
    now: u64,
    sender: Sender,
    batch: &MetricsBatch,
    fleet: &FleetSnapshot,
    store: &TelemetryStore,
    stats: &OtlpStats,
) -> Rejected {
    let mut rejected = Rejected::default();
    let store_samples = |id: AgentId, samples: &[crate::fleet::telemetry::Sample], points| {
        let outcome = store.ingest_at(now, &id, samples);
        store.refusals().accepted(&id);
        stats.add(Counter::MetricPoints, points);
        stats.add(Counter::StaleSamples, outcome.stale as u64);
        stats.add(Counter::OverLimitSamples, outcome.over_limit as u64);
    };
    match sender {
        // One agent: all resources at once, so its streams are updated in one go.
        Sender::Agent(_) => match agent_of(sender, None, fleet) {
            Ok(id) => store_samples(id, &batch.samples, batch.points()),
            Err(id) => rejected.unknown_agent(id.unwrap_or_default(), batch.points()),
        },
        Sender::Fleet => {
            for r in &batch.resources {
                match agent_of(sender, r.instance, fleet) {
                    Ok(id) => store_samples(id, batch.samples_of(r), r.points),
                    Err(Some(id)) => rejected.unknown_agent(id, r.points),
                    Err(None) => rejected.no_instance(r.points),
                }
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
        match agent_of(sender, instance, fleet) {
            Ok(_) => accepted += n,
            Err(Some(id)) => rejected.unknown_agent(id, n),
            Err(None) => rejected.no_instance(n),
        }
    }
    (accepted, rejected)
}
