//! Config delivery and rollouts: phases, failure thresholds, pause/resume/cancel and
//! rollback. `plan` is the pure state machine; `runner` drives it against the registry.

pub mod components;
pub mod plan;
pub mod runner;
pub mod selectors;
pub mod watch;

pub use plan::{Rollout, RolloutOptions, RolloutStatus};
pub use runner::{RolloutCmdError, RolloutView, Rollouts, Targets};
pub use watch::WatchPolicy;

use crate::fleet::AgentId;
use crate::fleet::registry::{CommandError, RegistryHandle};

/// Why an agent could not be forgotten.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    #[error("agent {name} ({id}) is part of {rollouts}: cancel or finish it first")]
    InRollout {
        id: AgentId,
        name: String,
        rollouts: String,
    },
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Rollouts(#[from] RolloutCmdError),
}

/// Forgets a decommissioned agent, unless an unfinished rollout still counts on it (it
/// would wait for the agent forever) or it is connected (the registry refuses: it would
/// come straight back). Returns the name it had.
pub async fn forget_agent(
    registry: &RegistryHandle,
    rollouts: &Rollouts,
    id: AgentId,
    name: &str,
) -> Result<String, ForgetError> {
    let using: Vec<String> = rollouts
        .list()
        .await?
        .into_iter()
        .filter(|r| !r.status.finished() && r.agents.iter().any(|a| a.id == id))
        .map(|r| format!("rollout of {} ({})", r.config, r.status))
        .collect();
    if !using.is_empty() {
        return Err(ForgetError::InRollout {
            id,
            name: name.to_string(),
            rollouts: using.join(", "),
        });
    }
    Ok(registry.forget(id).await?)
}
