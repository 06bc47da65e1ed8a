//! The agent end of OpAMP: one client used by the simulator (simulated Collectors, `sim/`)
//! and by `fleetdeck agent` (a real Collector process, `supervisor/`).
//!
//! - `core`: the transport-free protocol state (sequence numbers, status compression,
//!   remote configuration status) and the [`Managed`] trait through which an agent reports;
//! - `session`: connections over WebSocket or plain HTTP, heartbeats, polls and
//!   reconnects, driving a [`Driver`];
//! - `net`: server URLs, source addresses, TLS;
//! - `backoff`: reconnect pacing that honours Retry-After and retry_info;
//! - `stats`: counters.
//!
//! It never imports the server's `fleet` registry: only the id type and the protobuf.

pub mod backoff;
pub mod core;
pub mod net;
pub mod session;
pub mod stats;

pub use core::{
    CONFIG_FILE, ClientCore, Managed, MetricsTarget, OfferedCredential, Parts, RemoteOffer,
    RemoteState, RemoteStatus, UseCredential,
};
pub use net::Link;
pub use session::{Driver, Restarted, run_agent, run_agent_over};
pub use stats::{ClientStats, StatsSnapshot};
