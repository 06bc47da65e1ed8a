//! The OpAMP protocol layer: wire schema, framing, the codec to domain types, and the
//! server for both transports (WebSocket and plain HTTP) on `/v1/opamp`.
//!
//! prost types do not leave this module except through `proto`, which the simulated
//! agents (`sim/`) use because they speak the protocol from the agent's side.

pub mod proto {
    //! Generated from `proto/opamp.proto` and `proto/anyvalue.proto` by `build.rs`.
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/opamp.proto.v1.rs"));
}

pub mod auth;
pub mod body;
pub mod codec;
pub mod credentials;
pub mod frame;
pub mod offer;
pub mod prescan;
pub mod server;
pub mod wire_health;
pub mod ws;
