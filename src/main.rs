//! Entry point: parse the command line and hand off to the matching mode.

use clap::Parser;
use fleetdeck::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => {
            eprintln!("fleetdeck: the server is not wired up yet");
            std::process::ExitCode::FAILURE
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "fleetdeck", &mut std::io::stdout());
            std::process::ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("fleetdeck: {other:?} is not available yet");
            std::process::ExitCode::FAILURE
        }
    }
}
