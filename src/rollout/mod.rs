//! Config delivery and rollouts: phases, failure thresholds, pause/resume/cancel and
//! rollback. `plan` is the pure state machine; `runner` drives it against the registry.

pub mod plan;
pub mod runner;

pub use plan::{Rollout, RolloutOptions, RolloutStatus};
pub use runner::{RolloutCmdError, RolloutView, Rollouts, Targets};
