//! The fleet: live agent state with a single owner (the registry), published as
//! immutable snapshots and a stream of events.

pub mod agent;
pub mod events;
pub mod registry;
pub mod snapshot;
pub mod telemetry;

pub use agent::{AgentId, AgentReport, Capabilities, Transport};
pub use events::{EventKind, FleetEvent};
pub use snapshot::{AgentView, FleetSnapshot};
