//! Config delivery and rollouts: phases, failure thresholds, pause/resume/cancel and
//! rollback. `plan` is the pure state machine; the runner drives it against the registry.

pub mod plan;

pub use plan::{Rollout, RolloutOptions, RolloutStatus};
