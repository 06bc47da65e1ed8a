//! The command line: argument shapes (`args`) and one module per client command.

pub mod apply;
pub mod args;
pub mod client;
pub mod delete;
pub mod dispatch;
pub mod get;
pub mod label;
pub mod output;
pub mod profile;
pub mod push;
pub mod render;
pub mod restart;
pub mod rollout;
pub mod usage;

pub use args::{Cli, Command};
