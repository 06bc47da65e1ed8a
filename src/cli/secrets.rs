//! `fleetdeck secrets rotate-key`: a new key for the secrets sealed at rest. It works on the
//! server's data directory, not through the API: the key must never travel.

use anyhow::Context;

use crate::args::SecretsAction;
use crate::sealing::{KEY_FILE, Sealer};

pub fn run(action: SecretsAction) -> anyhow::Result<()> {
    match action {
        SecretsAction::RotateKey { data_dir } => {
            let dir = match data_dir {
                Some(d) => d,
                None => crate::settings::default_data_dir()
                    .context("no home directory to find the data directory in: give --data-dir")?,
            };
            let db = dir.join(crate::store::DB_FILE_NAME);
            if !db.exists() {
                anyhow::bail!(
                    "{} holds no fleetdeck store ({}): is it the server's data directory? (--data-dir)",
                    dir.display(),
                    crate::store::DB_FILE_NAME
                );
            }
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
