//! `fleetdeck manpages DIR`: man pages generated from the command-line definitions, so
//! they cannot drift from `--help`.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::args::Cli;

/// Writes `fleetdeck.1` and `fleetdeck-<command>.1` for each command into `dir`.
pub fn write(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let top = Cli::command().name("fleetdeck");
    let mut written = vec![page(dir, "fleetdeck", top.clone())?];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("fleetdeck-{}", sub.get_name());
        let cmd = sub.clone().name(name.clone());
        written.push(page(dir, &name, cmd)?);
    }
    println!("wrote {} man pages to {}", written.len(), dir.display());
    Ok(())
}

fn page(dir: &Path, name: &str, cmd: clap::Command) -> anyhow::Result<String> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut roff)
        .with_context(|| format!("cannot render the man page of {name}"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, roff).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(name.to_string())
}
