//! The commands that change the server's keys on its own machine, not through the API (a
//! private key must never travel): `fleetdeck secrets rotate-key` (the secrets sealed at
//! rest) and `fleetdeck key rotate|retire` (the configuration signing key).

use std::path::PathBuf;

use anyhow::Context;

use crate::args::SecretsAction;
use crate::sealing::{KEY_FILE, Sealer};
use crate::signing::ConfigSigner;

/// The server's data directory as given, else its default; refused when it holds no store
/// (a typo must not make keys somewhere else).
fn data_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match given {
        Some(d) => d,
        None => crate::settings::default_data_dir()
            .context("no home directory to find the data directory in: give --data-dir")?,
    };
    if !dir.join(crate::store::DB_FILE_NAME).exists() {
        anyhow::bail!(
            "{} holds no fleetdeck store ({}): is it the server's data directory? (--data-dir)",
            dir.display(),
            crate::store::DB_FILE_NAME
        );
    }
    Ok(dir)
}

/// `fleetdeck key rotate|retire`.
pub fn signing_key(action: &str, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = data_dir(dir)?;
    match action {
        "rotate" => {
            let (old, new) = ConfigSigner::rotate(&dir)?;
            println!(
                "new signing key {new}\nendorsed by the previous key {old}; restart the server: \
                 agents that trust the previous key move to the new one with the next \
                 configuration they get. Once every agent has applied one, `fleetdeck key retire`."
            );
        }
        "retire" => match ConfigSigner::retire_previous(&dir)? {
            Some(old) => println!(
                "previous signing key {old} removed; restart the server. Agents that still \
                 trust it now refuse new configurations until given the new key (--trust-key)."
            ),
            None => println!("no previous signing key: nothing to retire"),
        },
        other => anyhow::bail!("key {other}: the actions are show, rotate and retire"),
    }
    Ok(())
}

pub fn run(action: SecretsAction) -> anyhow::Result<()> {
    match action {
        SecretsAction::RotateKey { data_dir: given } => {
            let dir = data_dir(given)?;
            let id = Sealer::rotate(&dir)?;
            println!(
                "added key {id} to {}; restart the server: it seals every stored secret with \
                 the new key, then drops the older keys",
                dir.join(KEY_FILE).display()
            );
            Ok(())
        }
    }
}
