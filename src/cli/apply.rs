//! `fleetdeck apply -f FILE|DIR|-`: sends each file's resources to the server and prints
//! what became of each one.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::client::{Body, Client, failure};
use super::gitops;
use super::output::print_value;
use super::usage::usage;
use crate::args::OutputFormat;

/// One input: a display name (used in problems) and its text.
pub struct Input {
    pub name: String,
    pub text: String,
}

/// Files, the `.yaml`/`.yml` files of directories (sorted by name), or stdin for `-`.
pub fn read_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read resources from stdin")?;
            out.push(Input {
                name: "stdin".into(),
                text,
            });
        } else if p.is_dir() {
            let files = yaml_files(p)?;
            if files.is_empty() {
                return Err(usage(format!("{} has no .yaml or .yml files", p.display())));
            }
            for f in files {
                out.push(read_file(&f)?);
            }
        } else {
            out.push(read_file(p)?);
        }
    }
    Ok(out)
}

fn yaml_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        let yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_file(p: &Path) -> anyhow::Result<Input> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(Input {
        name: p.display().to_string(),
        text,
    })
}

/// What apply printed for one resource (or for a file that could not be read).
struct Line {
    label: String,
    status: String,
    problems: Vec<String>,
    /// Why a resource the user did not apply changed with it.
    note: Option<String>,
}

fn lines_of(file: &str, status: StatusCode, body: &Value) -> anyhow::Result<Vec<Line>> {
    if let Some(results) = body.get("results").and_then(Value::as_array) {
        return Ok(results
            .iter()
            .map(|r| Line {
                label: format!(
                    "{}/{}",
                    r.get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("resource")
                        .to_ascii_lowercase(),
                    r.get("name").and_then(Value::as_str).unwrap_or("?")
                ),
                status: r
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                problems: strings(r.get("problems")),
                note: r.get("note").and_then(Value::as_str).map(str::to_string),
            })
            .collect());
    }
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        // The file could not be read as resources at all: nothing in it was applied.
        return Ok(vec![Line {
            label: file.to_string(),
            status: "invalid".into(),
            problems: strings(body.get("problems")),
            note: None,
        }]);
    }
    Err(failure(status, body.clone()).into())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `--prune` and `--dry-run`.
#[derive(Debug, Clone, Copy, Default)]
pub struct How {
    pub prune: bool,
    pub dry_run: bool,
}

pub async fn run(
    client: &Client,
    format: OutputFormat,
    files: &[PathBuf],
    how: How,
) -> anyhow::Result<()> {
    let inputs = read_inputs(files)?;
    // What the files hold, to prune the rest (read before anything is sent).
    let mut wanted = std::collections::BTreeSet::new();
    for input in &inputs {
        match gitops::resources_in(&input.name, &input.text) {
            Ok(found) => wanted.extend(found),
            // Pruning from a file that cannot be read would delete what it holds.
            Err(e) if how.prune => return Err(e.context("nothing was applied or pruned")),
            // Otherwise the server names the problem, as for any invalid file.
            Err(_) => {}
        }
    }
    if how.prune && !wanted.iter().any(|(k, _)| k != gitops::AGENT_LABELS) {
        return Err(usage(
            "--prune compares the server with the files, and the files hold no resources: nothing would be left; refusing",
        ));
    }
    if how.dry_run {
        let doomed = gitops::to_prune(client, &wanted).await?;
        if doomed.is_empty() {
            println!("nothing to prune: the server has no resource the files lack");
        }
        for (kind, name) in &doomed {
            println!("{}/{name} would be pruned", kind.to_ascii_lowercase());
        }
        return Ok(());
    }
    let mut invalid = 0;
    let mut total = 0;
    let mut all = Vec::new();
    for input in inputs {
        if input.text.trim().is_empty() {
            eprintln!("{}: empty, nothing to apply", input.name);
            continue;
        }
        let kinds = gitops::resources_in(&input.name, &input.text).unwrap_or_default();
        if kinds.iter().any(|(k, _)| k == gitops::AGENT_LABELS) {
            if kinds.len() > 1 {
                return Err(usage(format!(
                    "{}: an AgentLabels document goes in a file of its own",
                    input.name
                )));
            }
            for line in gitops::apply_agent_labels(client, &input.name, &input.text).await? {
                if format == OutputFormat::Table {
                    println!("{line}");
                }
                all.push(serde_json::json!({ "file": input.name, "line": line }));
            }
            continue;
        }
        let url = client.url(&["apply"], &[("file", input.name.clone())])?;
        let answer = client
            .call(Method::POST, url, Body::Yaml(input.text))
            .await?;
        let lines = lines_of(&input.name, answer.status, &answer.body)?;
        for l in lines {
            total += 1;
            if l.status == "invalid" {
                invalid += 1;
            }
            if format == OutputFormat::Table {
                match &l.note {
                    Some(note) => println!("{} {} ({note})", l.label, l.status),
                    None => println!("{} {}", l.label, l.status),
                }
                for p in &l.problems {
                    println!("  {p}");
                }
            }
            all.push(serde_json::json!({
                "file": input.name,
                "resource": l.label,
                "status": l.status,
                "problems": l.problems,
                "note": l.note,
            }));
        }
    }
    let mut refused = 0;
    if how.prune && invalid == 0 {
        let doomed = gitops::to_prune(client, &wanted).await?;
        let (lines, n) = gitops::prune(client, &doomed).await?;
        refused = n;
        for line in lines {
            if format == OutputFormat::Table {
                println!("{line}");
            }
            all.push(serde_json::json!({ "pruned": line }));
        }
    }
    if format != OutputFormat::Table {
        print_value(format, &Value::Array(all))?;
    }
    if invalid > 0 {
        let pruning = if how.prune {
            "; nothing was pruned"
        } else {
            ""
        };
        anyhow::bail!("{invalid} of {total} resources are invalid and were not applied{pruning}");
    }
    if refused > 0 {
        anyhow::bail!("{refused} resource(s) could not be pruned (see above)");
    }
    Ok(())
}
