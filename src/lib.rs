//! fleetdeck: an OpAMP server, a terminal UI and a kubectl-style CLI for fleets of
//! OpenTelemetry Collectors.
//!
//! Layers, in the direction data flows:
//! `opamp` (sockets, codec) → `fleet` (registry, snapshots, events) ← `otlp` (agents' own
//! telemetry); `pipeline` (pure rendering) and `store` (durable facts) beside them;
//! `rollout`, `api`, `cli`, `sim`, `headless` on top; `tui` reads snapshots and events.
//! The agent end: `client` (one OpAMP client) driven by `sim` (simulated Collectors) or
//! `supervisor` (`fleetdeck agent`, a real Collector process).

pub mod access;
pub mod api;
pub mod args;
pub mod attach;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod demo;
pub mod fleet;
pub mod headless;
pub mod listen;
pub mod logfile;
pub mod opamp;
pub mod otlp;
pub mod pipeline;
pub mod private_file;
pub mod redact;
pub mod replica;
pub mod rollout;
pub mod runtime;
pub mod sealing;
pub mod settings;
pub mod signing;
pub mod sim;
pub mod store;
pub mod supervisor;
pub mod throughput;
pub mod tui;
