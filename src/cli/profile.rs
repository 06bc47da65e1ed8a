//! `fleetdeck profile …`: named server URLs and tokens in `profiles.toml` in the config
//! directory (owner-only, since it holds tokens).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::output::Table;
use super::usage::usage;
use crate::args::ProfileAction;

const FILE: &str = "profiles.toml";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// TLS files, kept as absolute paths (a profile is used from any directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Where profiles live: `profiles.toml` in the directory `directories` gives for fleetdeck.
pub fn path() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("", "", "fleetdeck")
        .map(|d| d.config_dir().join(FILE))
        .context("cannot find a home directory to keep CLI profiles in")
}

pub fn load(path: &Path) -> anyhow::Result<Profiles> {
    match fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("{} is not a valid profiles file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Profiles::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the file atomically with mode 0600 (it holds tokens).
pub fn save(path: &Path, profiles: &Profiles) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = toml::to_string(profiles).context("cannot write profiles")?;
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

/// The current profile, if one is chosen.
pub fn current() -> anyhow::Result<Option<(String, Profile)>> {
    let Ok(p) = path() else {
        return Ok(None);
    };
    let profiles = load(&p)?;
    let Some(name) = profiles.current.clone() else {
        return Ok(None);
    };
    match profiles.profiles.get(&name) {
        Some(profile) => Ok(Some((name, profile.clone()))),
        None => Err(anyhow::anyhow!(
            "the current profile '{name}' is not in {}; run `fleetdeck profile use NAME`",
            p.display()
        )),
    }
}

/// The profile called `name`.
pub fn named(name: &str) -> anyhow::Result<Profile> {
    let p = path()?;
    let profiles = load(&p)?;
    profiles.profiles.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = profiles.profiles.keys().map(String::as_str).collect();
        usage(format!(
            "no profile named '{name}' in {} (known: {}); create one with `fleetdeck profile create`",
            p.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// `path` made absolute (and checked to exist), naming `flag` when it does not.
fn absolute(path: &Path, flag: &str) -> anyhow::Result<PathBuf> {
    fs::canonicalize(path).with_context(|| format!("{flag} {}", path.display()))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub fn run(action: ProfileAction) -> anyhow::Result<()> {
    let p = path()?;
    let mut profiles = load(&p)?;
    match action {
        ProfileAction::Create {
            name,
            server,
            token,
            ca,
            client_cert,
            client_key,
        } => {
            if !valid_name(&name) {
                return Err(usage(format!(
                    "profile name '{name}': use letters, digits, '-', '_' and '.'"
                )));
            }
            // Checked now, so a typo does not wait for the first command to show.
            parse_server(&server)?;
            let ca = ca.map(|p| absolute(&p, "--ca")).transpose()?;
            let client_cert = client_cert
                .map(|p| absolute(&p, "--client-cert"))
                .transpose()?;
            let client_key = client_key
                .map(|p| absolute(&p, "--client-key"))
                .transpose()?;
            // The files are read now too: a profile that cannot connect is refused here.
            let identity = client_cert.as_deref().zip(client_key.as_deref());
            crate::client::net::client_config(
                ca.as_deref(),
                identity,
                crate::client::net::TlsFlags::CLI,
            )?;
            let profile = Profile {
                server,
                token,
                ca,
                client_cert,
                client_key,
            };
            let replaced = profiles.profiles.insert(name.clone(), profile).is_some();
            let first = profiles.current.is_none();
            if first {
                profiles.current = Some(name.clone());
            }
            save(&p, &profiles)?;
            println!(
                "profile {name} {}{}",
                if replaced { "updated" } else { "created" },
                if first { " (now current)" } else { "" }
            );
        }
        ProfileAction::Use { name } => {
            if !profiles.profiles.contains_key(&name) {
                return Err(anyhow::anyhow!(
                    "no profile named '{name}' (have: {})",
                    names(&profiles)
                ));
            }
            profiles.current = Some(name.clone());
            save(&p, &profiles)?;
            println!("now using profile {name}");
        }
        ProfileAction::List => {
            let mut t = Table::new(&["CURRENT", "NAME", "SERVER", "TOKEN", "TLS"]);
            for (name, prof) in &profiles.profiles {
                let current = profiles.current.as_deref() == Some(name.as_str());
                let tls = match (&prof.ca, &prof.client_cert) {
                    (Some(_), Some(_)) => "ca, client cert",
                    (Some(_), None) => "ca",
                    (None, Some(_)) => "client cert",
                    (None, None) => "-",
                };
                t.row(vec![
                    if current { "*" } else { "" }.to_string(),
                    name.clone(),
                    prof.server.clone(),
                    if prof.token.is_some() { "set" } else { "-" }.to_string(),
                    tls.to_string(),
                ]);
            }
            t.print();
        }
        ProfileAction::Current => match &profiles.current {
            Some(name) => {
                let server = profiles
                    .profiles
                    .get(name)
                    .map(|p| p.server.as_str())
                    .unwrap_or("(missing)");
                println!("{name}\t{server}");
            }
            None => {
                return Err(anyhow::anyhow!(
                    "no current profile; create one with `fleetdeck profile create NAME --server URL`"
                ));
            }
        },
        ProfileAction::Delete { name } => {
            if profiles.profiles.remove(&name).is_none() {
                return Err(anyhow::anyhow!(
                    "no profile named '{name}' (have: {})",
                    names(&profiles)
                ));
            }
            if profiles.current.as_deref() == Some(name.as_str()) {
                profiles.current = None;
            }
            save(&p, &profiles)?;
            println!("profile {name} deleted");
        }
    }
    Ok(())
}

fn names(p: &Profiles) -> String {
    if p.profiles.is_empty() {
        "none".to_string()
    } else {
        p.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The URL the CLI uses when nothing else says where the server is.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:4321";

pub fn parse_server(server: &str) -> anyhow::Result<Url> {
    let s = server.trim().trim_end_matches('/');
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        usage(format!(
            "'{server}' is not a server URL like {DEFAULT_SERVER}: {e}"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(usage(format!(
            "'{server}': the server is an http:// or https:// URL"
        )));
    }
    Ok(url)
}
