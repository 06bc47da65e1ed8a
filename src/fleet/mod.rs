//! The fleet: live agent state with a single owner (the registry), published as
//! immutable snapshots and a stream of events.

pub mod agent;
pub mod attempt;
pub mod components;
pub mod credentials;
pub mod delivery;
pub mod events;
pub mod health;
pub mod heartbeat;
pub mod hex_bytes;
pub mod labels;
pub mod outbound;
pub mod outbox;
pub mod record;
pub mod refusals;
pub mod registry;
pub mod report;
pub mod selector;
pub mod snapshot;
pub mod stream;
pub mod tap;
pub mod telemetry;
pub mod text;
pub mod topology;
pub mod unix_time;

pub use agent::{AgentId, Capabilities, Transport};
pub use events::{EventKind, FleetEvent};
pub use health::Health;
pub use labels::Labels;
pub use report::AgentReport;
pub use snapshot::{AgentView, FleetSnapshot};
