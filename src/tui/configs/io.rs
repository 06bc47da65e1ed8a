//! The Configurations view's effects carried out: catalog and rollout calls on spawned
//! tasks, their results sent back as [`ConfigsMsg`]s. Drawing never waits on these.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::data::{CatalogData, ConfigsEffect, ConfigsMsg, Steer, summary_of, version_of};
use crate::catalog::Catalog;
use crate::rollout::Rollouts;

/// Starts `effect` on its own task; the result arrives on `tx`.
pub fn spawn(
    effect: ConfigsEffect,
    catalog: Arc<Catalog>,
    rollouts: Rollouts,
    tx: mpsc::Sender<ConfigsMsg>,
) {
    tokio::spawn(async move {
        let msg = run(effect, &catalog, &rollouts).await;
        // The UI has gone when the channel is closed; nothing is left to tell.
        let _ = tx.send(msg).await;
    });
}

/// Carries out one effect and returns its result (what [`spawn`] sends).
pub async fn run(effect: ConfigsEffect, catalog: &Catalog, rollouts: &Rollouts) -> ConfigsMsg {
    match effect {
        ConfigsEffect::Refresh => ConfigsMsg::Refreshed(refresh(catalog, rollouts).await),
        ConfigsEffect::Versions { name } => {
            let result = catalog
                .versions(&name)
                .await
                .map(|vs| vs.iter().map(version_of).collect())
                .map_err(|e| e.to_string());
            ConfigsMsg::Versions { name, result }
        }
        ConfigsEffect::Diff { name, from, to } => {
            let result = catalog
                .diff(&name, from, to)
                .await
                .map_err(|e| e.to_string());
            ConfigsMsg::Diff {
                name,
                from,
                to,
                result,
            }
        }
        ConfigsEffect::Steer { name, how } => {
            let result = match how {
                Steer::Pause => rollouts.pause(&name).await,
                Steer::Resume => rollouts.resume(&name).await,
                Steer::Cancel => rollouts.cancel(&name).await,
                Steer::Rollback => rollouts.rollback(&name).await,
            }
            .map_err(|e| e.to_string());
            ConfigsMsg::Steered { name, how, result }
        }
    }
}

async fn refresh(catalog: &Catalog, rollouts: &Rollouts) -> Result<CatalogData, String> {
    let configs = catalog
        .configurations()
        .await
        .map_err(|e| format!("cannot list configurations: {e}"))?;
    let rollouts = rollouts
        .list()
        .await
        .map_err(|e| format!("cannot list rollouts: {e}"))?;
    Ok(CatalogData {
        configs: configs.iter().map(summary_of).collect(),
        rollouts,
    })
}
