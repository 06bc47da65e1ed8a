//! The command line: argument shapes (`args`) and one module per client command.

pub mod args;
pub mod render;

pub use args::{Cli, Command};
