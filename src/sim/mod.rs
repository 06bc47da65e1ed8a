//! Simulated agents that speak real OpAMP over the network (issue 3).

pub mod agent;
pub mod collector;
pub mod identity;

use crate::cli::args::SimulateArgs;

/// `fleetdeck simulate`: runs until the duration ends or Ctrl-C.
pub async fn run_cli(args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("simulate is not available yet (server {})", args.server)
}
