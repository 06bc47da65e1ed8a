//! The Configurations view's effects carried out: calls on the [`Services`] on spawned
//! tasks, their results sent back as [`ConfigsMsg`]s. Drawing never waits on these.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::data::{CatalogData, ConfigsEffect, ConfigsMsg};
use crate::tui::services::Services;

/// Starts `effect` on its own task; the result arrives on `tx`.
pub fn spawn(effect: ConfigsEffect, services: Arc<dyn Services>, tx: mpsc::Sender<ConfigsMsg>) {
    tokio::spawn(async move {
        let msg = run(effect, services.as_ref()).await;
        // The UI has gone when the channel is closed; nothing is left to tell.
        let _ = tx.send(msg).await;
    });
}

/// Carries out one effect and returns its result (what [`spawn`] sends).
pub async fn run(effect: ConfigsEffect, services: &dyn Services) -> ConfigsMsg {
    match effect {
        ConfigsEffect::Refresh => ConfigsMsg::Refreshed(refresh(services).await),
        ConfigsEffect::Versions { name } => {
            let result = services.versions(name.clone()).await;
            ConfigsMsg::Versions { name, result }
        }
        ConfigsEffect::Diff { name, from, to } => {
            let result = services.diff(name.clone(), from, to).await;
            ConfigsMsg::Diff {
                name,
                from,
                to,
                result,
            }
        }
        ConfigsEffect::Steer { name, how } => {
            let result = services.steer(name.clone(), how).await;
            ConfigsMsg::Steered { name, how, result }
        }
        ConfigsEffect::Throughput { name, period } => {
            let result = services.throughput(name.clone(), period).await;
            ConfigsMsg::Throughput {
                name,
                period,
                result,
            }
        }
    }
}

async fn refresh(services: &dyn Services) -> Result<CatalogData, String> {
    let configs = services.summaries().await?;
    let rollouts = services.rollouts().await?;
    Ok(CatalogData { configs, rollouts })
}
