//! OTLP/HTTP receiver for the agents' own telemetry.
//!
//! Mounted on the agent listener next to `/v1/opamp`:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use fleetdeck::fleet::{FleetSnapshot, telemetry::TelemetryStore};
//! # use fleetdeck::otlp::{self, OtlpState};
//! # let (_tx, fleet) = tokio::sync::watch::channel(Arc::new(FleetSnapshot::default()));
//! # let agent_secret = b"from the data dir";
//! let telemetry = TelemetryStore::new();          // shared with the TUI and the API
//! let state = OtlpState::new(agent_secret, fleet, telemetry.clone());
//! let app: axum::Router = axum::Router::new()     // the OpAMP routes, `.with_state(..)` applied
//!     .merge(otlp::router(state));
//! ```
//!
//! Credentials: `Authorization: Bearer <token>` with the per-agent token from
//! [`token::issue`] (what the own-telemetry offers carry), or the fleet-wide agent secret as
//! `Bearer <secret>` / `Secret-Key <secret>`, in which case each resource is attributed by its
//! `service.instance.id` (see [`ingest`]). Anything else is refused with 401.
//!
//! Bodies: `application/x-protobuf` or `application/json`, optionally `Content-Encoding: gzip`;
//! replies use the request's format. Errors: 400 malformed (the message says where), 401,
//! 405 wrong method, 413 too large (also when gzip would inflate past the limit), 415 other
//! content types or encodings.
//!
//! The Collector self-metrics become per-agent rates in [`crate::fleet::telemetry`]; logs and
//! traces are accepted and counted.

pub mod collector_metrics;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod names;
pub mod offer;
pub mod stats;
pub mod tap;
pub mod token;
pub mod wire;

pub use http::{Limits, OtlpState, router};
pub use ingest::Sender;
pub use offer::TelemetryOffer;
pub use stats::{OtlpCounters, OtlpStats};
