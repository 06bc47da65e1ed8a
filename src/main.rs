//! Entry point: parse the command line and hand off to the matching mode.

use std::process::ExitCode;

use clap::Parser;
use fleetdeck::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => Err(anyhow::anyhow!("the server is not wired up yet")),
        Some(Command::Simulate(args)) => block_on(fleetdeck::sim::run_cli(args)),
        Some(Command::Render { file, types }) => {
            fleetdeck::cli::render::run(&file, types.as_deref())
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "fleetdeck", &mut std::io::stdout());
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("{other:?} is not available yet")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetdeck: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs an async command on a multi-threaded runtime.
fn block_on(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(fut)
}
