//! `fleetdeck render -f CONFIG.yaml [--types DIR]`: offline rendering (issue 5).

use std::path::Path;

/// Prints the Collector YAML for the configuration in `file`; errors name what and where.
pub fn run(file: &Path, _types: Option<&Path>) -> anyhow::Result<()> {
    anyhow::bail!(
        "render is not available yet (cannot render {})",
        file.display()
    )
}
