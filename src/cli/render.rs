//! `fleetdeck render -f CONFIG.yaml [--types DIR] [--validate-with OTELCOL]`: offline
//! rendering, and optionally a real Collector's own `validate` on the result.
//!
//! The file may hold several documents: resource types and `Destination` resources in it are
//! used while rendering its configurations. Every configuration is printed, separated by `---`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use crate::pipeline::locate::Origin;
use crate::pipeline::{
    Destination, Problem, Problems, Resource, TypeRegistry, parse_resources, render,
};

/// Prints the Collector YAML for the configuration in `file`; errors name what and where.
/// With `validate_with`, each rendered configuration must also pass that Collector's
/// `validate` (a component it lacks, a key it does not know).
pub fn run(file: &Path, types: Option<&Path>, validate_with: Option<&Path>) -> anyhow::Result<()> {
    let rendered = render_each(file, types)?;
    if let Some(otelcol) = validate_with {
        validate_all(&rendered, otelcol)?;
    }
    let yaml: Vec<&str> = rendered.iter().map(|(_, y)| y.as_str()).collect();
    print!("{}", yaml.join("---\n"));
    Ok(())
}

/// Runs `otelcol validate` on each rendered configuration; every rejection is named.
fn validate_all(rendered: &[(String, String)], otelcol: &Path) -> anyhow::Result<()> {
    let mut rejected = Vec::new();
    for (name, yaml) in rendered {
        let path = std::env::temp_dir().join(format!(
            "fleetdeck-render-{}-{}.yaml",
            std::process::id(),
            rejected.len()
        ));
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        let out = std::process::Command::new(otelcol)
            .arg("validate")
            .arg(format!("--config={}", path.display()))
            .stdin(std::process::Stdio::null())
            .output();
        let _ = std::fs::remove_file(&path);
        let out =
            out.with_context(|| format!("cannot run --validate-with {}", otelcol.display()))?;
        if !out.status.success() {
            let message = crate::supervisor::collector::validator_message(&out.stderr, &out.stdout);
            rejected.push(format!("configuration '{name}': {message}"));
        }
    }
    if rejected.is_empty() {
        return Ok(());
    }
    bail!(
        "{} rejected by the Collector's validator ({}):\n{}",
        if rejected.len() == 1 {
            "1 configuration"
        } else {
            "configurations"
        },
        otelcol.display(),
        rejected.join("\n")
    )
}

/// Renders every configuration in `file` (the command's work, without printing).
pub fn render_file(file: &Path, types: Option<&Path>) -> anyhow::Result<String> {
    let rendered = render_each(file, types)?;
    let yaml: Vec<&str> = rendered.iter().map(|(_, y)| y.as_str()).collect();
    Ok(yaml.join("---\n"))
}

/// Each configuration's name and Collector YAML, in file order.
fn render_each(file: &Path, types: Option<&Path>) -> anyhow::Result<Vec<(String, String)>> {
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
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (cfg, origin) in configs {
        match render(cfg, registry, destinations) {
            Ok(r) => out.push((cfg.name().to_string(), r.yaml)),
            Err(ps) => problems.extend(ps.into_iter().map(|p| origin.place(p))),
        }
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(out)
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
