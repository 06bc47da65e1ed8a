//! `fleetdeck render -f CONFIG.yaml [--types DIR]`: offline rendering (issue 5).
//!
//! The file may hold several documents: resource types and `Destination` resources in it are
//! used while rendering its configurations. Every configuration is printed, separated by `---`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use crate::pipeline::registry::Origin;
use crate::pipeline::{
    Destination, Problem, Problems, Resource, TypeRegistry, parse_resources, render,
};

/// Prints the Collector YAML for the configuration in `file`; errors name what and where.
pub fn run(file: &Path, types: Option<&Path>) -> anyhow::Result<()> {
    let yaml = render_file(file, types)?;
    print!("{yaml}");
    Ok(())
}

/// Renders every configuration in `file` (the command's work, without printing).
pub fn render_file(file: &Path, types: Option<&Path>) -> anyhow::Result<String> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {shown}"))?;
    let mut registry = match types {
        Some(dir) => TypeRegistry::builtin_with_dir(dir).map_err(fail)?,
        None => TypeRegistry::builtin(),
    };
    let resources = parse_resources(&text, Some(&shown)).map_err(fail)?;
    let mut destinations = BTreeMap::new();
    let mut configs = Vec::new();
    for r in resources {
        match r.resource {
            Resource::Type(t) => registry
                .insert(t)
                .map_err(|ps| fail(ps.into_iter().map(|p| r.origin.place(p)).collect()))?,
            Resource::Destination(d) => {
                destinations.insert(d.name().to_string(), d);
            }
            Resource::Configuration(c) => configs.push((c, r.origin)),
        }
    }
    if configs.is_empty() {
        bail!("{shown}: no Configuration found (kind: Configuration)");
    }
    render_all(&configs, &registry, &destinations)
}

fn render_all(
    configs: &[(crate::pipeline::Configuration, Origin)],
    registry: &TypeRegistry,
    destinations: &BTreeMap<String, Destination>,
) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (cfg, origin) in configs {
        match render(cfg, registry, destinations) {
            Ok(r) => out.push(r.yaml),
            Err(ps) => problems.extend(ps.into_iter().map(|p| origin.place(p))),
        }
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(out.join("---\n"))
}

/// All problems as one error, one per line, after a count.
fn fail(problems: Vec<Problem>) -> anyhow::Error {
    let n = problems.len();
    anyhow::anyhow!(
        "{n} problem{} found:\n{}",
        if n == 1 { "" } else { "s" },
        Problems(problems)
    )
}
