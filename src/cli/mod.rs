//! The command line: one module per client command (the arguments of every command are in `crate::args`).

pub mod apply;
pub mod client;
pub mod credentials;
pub mod delete;
pub mod dispatch;
pub mod events;
pub mod get;
pub mod gitops;
pub mod keys;
pub mod label;
pub mod manpages;
pub mod output;
pub mod profile;
pub mod push;
pub mod render;
pub mod restart;
pub mod rollout;
pub mod tap;
pub mod throughput;
pub mod token;
pub mod top;
pub mod usage;
