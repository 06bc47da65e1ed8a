//! Configurations assigned by their selectors: an agent whose labels match a
//! configuration's `spec.selector.matchLabels` is sent that configuration when it appears
//! and whenever its labels change, through the same delivery path as a push.
//!
//! The rules, in order:
//! 1. An operator's decision stands: an agent pushed a configuration (by `push`, a rollout
//!    or its rollback) is left alone; only agents with no configuration, or one a selector
//!    sent, are considered.
//! 2. Of the configurations whose selectors match, the most specific wins (most labels in
//!    `matchLabels`); on a tie, the name that sorts first. Each agent with such an overlap
//!    gets one notice naming the configurations and the winner.
//! 3. An agent already on the winning configuration keeps its version: new versions reach
//!    agents through a rollout (`push --selector`), never all at once by themselves. A new
//!    agent, or one whose labels now select another configuration, gets the latest version.
//! 4. When no selector matches any more, the agent keeps what it has.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::fleet::AgentId;
use crate::fleet::agent::Capabilities;
use crate::fleet::delivery::ConfigRef;
use crate::fleet::events::EventKind;
use crate::fleet::registry::RegistryHandle;
use crate::fleet::selector::Selector;
use crate::fleet::snapshot::AgentView;

/// Fleet changes are looked at no more often than this (a burst of 10,000 connections is
/// one pass, not 10,000).
const SETTLE: Duration = Duration::from_millis(300);

/// One configuration's selector and the version new agents get.
#[derive(Debug, Clone)]
pub struct Rule {
    pub config: ConfigRef,
    pub selector: Selector,
    /// Labels in `matchLabels`: the more, the more specific.
    pub specificity: usize,
}

/// The rules in the order they win: most specific first, then by name.
pub fn order(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort_by(|a, b| {
        b.specificity
            .cmp(&a.specificity)
            .then_with(|| a.config.name.cmp(&b.config.name))
    });
    rules
}

/// What the selectors say about one agent: the configuration it should be on, and the
/// other configurations that matched too (an overlap, for the notice).
pub fn choose<'a>(rules: &'a [Rule], agent: &AgentView) -> Option<(&'a Rule, Vec<&'a Rule>)> {
    let mut matching = rules.iter().filter(|r| r.selector.matches(&agent.labels));
    let winner = matching.next()?;
    Some((winner, matching.collect()))
}

/// The configuration to send `agent` now, if any (rules 1, 3 and 4).
pub fn decide<'a>(winner: &'a Rule, agent: &AgentView) -> Option<&'a ConfigRef> {
    let caps = agent.capabilities;
    // Capabilities unknown (0) means known from an earlier run and not back yet: the
    // assignment then waits for it. One that says it cannot take a configuration is skipped.
    if caps.0 != 0 && !caps.has(Capabilities::ACCEPTS_REMOTE_CONFIG) {
        return None;
    }
    match &agent.config {
        Some(c) if c.origin != "selector" => None,
        Some(c) if c.config.name == winner.config.name => None,
        _ => Some(&winner.config),
    }
}

/// Starts the task that keeps agents on the configurations their labels select.
pub fn spawn(registry: RegistryHandle, catalog: Arc<Catalog>, cancel: CancellationToken) {
    tokio::spawn(run(registry, catalog, cancel));
}

async fn run(registry: RegistryHandle, catalog: Arc<Catalog>, cancel: CancellationToken) {
    let mut fleet = registry.snapshot();
    let mut changes = catalog.changes();
    let mut rules = load_rules(&catalog).await;
    // The overlap each agent was last told about, so it is told once.
    let mut warned: HashMap<AgentId, Vec<Arc<str>>> = HashMap::new();
    loop {
        if !rules.is_empty() {
            assign(&registry, &catalog, &rules, &mut warned).await;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = fleet.changed() => if r.is_err() { return },
            r = changes.changed() => {
                if r.is_err() {
                    return;
                }
                rules = load_rules(&catalog).await;
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(SETTLE) => {}
        }
        if changes.has_changed().unwrap_or(false) {
            changes.borrow_and_update();
            rules = load_rules(&catalog).await;
        }
        fleet.borrow_and_update();
    }
}

/// Every configuration with a non-empty selector, in winning order.
async fn load_rules(catalog: &Catalog) -> Vec<Rule> {
    let configs = match catalog.configurations().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "configurations could not be read; selectors wait");
            return Vec::new();
        }
    };
    let rules = configs
        .into_iter()
        .filter_map(|stored| {
            let labels = stored.config.spec.selector.as_ref()?.match_labels.clone();
            (!labels.is_empty()).then(|| Rule {
                config: stored.cref(),
                selector: Selector::from_match_labels(&labels),
                specificity: labels.len(),
            })
        })
        .collect();
    order(rules)
}

/// One pass over the fleet: sends each agent what its labels select, grouped by version.
async fn assign(
    registry: &RegistryHandle,
    catalog: &Catalog,
    rules: &[Rule],
    warned: &mut HashMap<AgentId, Vec<Arc<str>>>,
) {
    let snapshot = registry.snapshot().borrow().clone();
    let mut to_send: BTreeMap<ConfigRef, Vec<AgentId>> = BTreeMap::new();
    let mut seen = HashSet::with_capacity(warned.len());
    for agent in &snapshot.agents {
        let Some((winner, others)) = choose(rules, agent) else {
            continue;
        };
        if !others.is_empty() {
            seen.insert(agent.id);
            let names: Vec<Arc<str>> = others.iter().map(|r| r.config.name.clone()).collect();
            if warned.get(&agent.id) != Some(&names) {
                registry.publish_event(EventKind::Notice {
                    agent: Some(agent.id),
                    message: overlap_notice(&agent.name, winner, &others),
                });
                warned.insert(agent.id, names);
            }
        }
        if let Some(config) = decide(winner, agent) {
            to_send.entry(config.clone()).or_default().push(agent.id);
        }
    }
    warned.retain(|id, _| seen.contains(id));
    for (config, agents) in to_send {
        let offer = match catalog.offer(&config).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(config = %config, error = %e,
                    "a selected configuration cannot be offered; its agents wait");
                continue;
            }
        };
        match registry
            .assign_by_selector(agents, config.clone(), offer)
            .await
        {
            Ok(outcome) => {
                let sent = outcome.assigned.len();
                if sent > 0 {
                    tracing::info!(config = %config, agents = sent, "assigned by its selector");
                    registry.publish_event(EventKind::Rollout {
                        config: config.clone(),
                        message: format!(
                            "assigned by its selector to {sent} agent{}",
                            if sent == 1 { "" } else { "s" }
                        ),
                    });
                }
                for (id, why) in outcome.refused.iter().take(3) {
                    tracing::warn!(config = %config, agent = %id, error = %why,
                        "selector could not assign");
                }
            }
            Err(_) => return,
        }
    }
}

fn overlap_notice(agent: &str, winner: &Rule, others: &[&Rule]) -> String {
    let names: Vec<String> = others
        .iter()
        .map(|r| format!("'{}'", r.config.name))
        .collect();
    format!(
        "{agent}: the selectors of '{}' and {} both match; '{}' wins ({})",
        winner.config.name,
        names.join(", "),
        winner.config.name,
        if others.iter().all(|o| o.specificity < winner.specificity) {
            "more labels in its selector"
        } else {
            "as many labels; its name sorts first"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, labels: &[(&str, &str)]) -> Rule {
        let map: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Rule {
            config: ConfigRef {
                name: name.into(),
                version: 1,
            },
            selector: Selector::from_match_labels(&map),
            specificity: map.len(),
        }
    }

    #[test]
    fn the_most_specific_selector_wins_then_the_first_name() {
        let rules = order(vec![
            rule("web", &[("tier", "web")]),
            rule("web-prod", &[("tier", "web"), ("env", "prod")]),
            rule("all-web", &[("tier", "web")]),
        ]);
        let names: Vec<&str> = rules.iter().map(|r| &*r.config.name).collect();
        assert_eq!(names, ["web-prod", "all-web", "web"]);
        let notice = overlap_notice("web-1", &rules[0], &[&rules[1], &rules[2]]);
        assert_eq!(
            notice,
            "web-1: the selectors of 'web-prod' and 'all-web', 'web' both match; 'web-prod' wins (more labels in its selector)"
        );
        let tie = overlap_notice("web-2", &rules[1], &[&rules[2]]);
        assert!(
            tie.ends_with("(as many labels; its name sorts first)"),
            "{tie}"
        );
    }
}
