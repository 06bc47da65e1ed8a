//! The wizard's effects carried out: catalog and rollout calls on spawned tasks whose
//! results come back on a channel as [`WizardMsg`]s, and `$EDITOR` on a temporary file
//! (the run loop suspends the screen around it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{PushTargets, Steer, WizardEffect, WizardMsg};
use crate::catalog::Catalog;
use crate::fleet::selector::Selector;
use crate::pipeline::Resource;
use crate::rollout::{RolloutCmdError, Rollouts, Targets};

/// How often a followed rollout is asked for its state.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// Carries out wizard effects for the run loop.
pub struct WizardIo {
    catalog: Arc<Catalog>,
    rollouts: Rollouts,
    tx: mpsc::Sender<WizardMsg>,
    following: Option<CancellationToken>,
}

impl WizardIo {
    /// The carrier and the receiving end of its results.
    pub fn new(catalog: Arc<Catalog>, rollouts: Rollouts) -> (WizardIo, mpsc::Receiver<WizardMsg>) {
        let (tx, rx) = mpsc::channel(64);
        (
            WizardIo {
                catalog,
                rollouts,
                tx,
                following: None,
            },
            rx,
        )
    }

    /// Starts `effect` in the background. `EditRaw` is not handled here: it needs the
    /// terminal (see [`edit_in_editor`]).
    pub fn spawn(&mut self, effect: WizardEffect) {
        let tx = self.tx.clone();
        let catalog = self.catalog.clone();
        let rollouts = self.rollouts.clone();
        match effect {
            WizardEffect::Load { edit } => {
                tokio::spawn(async move {
                    let _ = tx.send(load(&catalog, edit).await).await;
                });
            }
            WizardEffect::Save(cfg) => {
                tokio::spawn(async move {
                    let result = catalog.apply(Resource::Configuration(*cfg)).await;
                    let _ = tx.send(WizardMsg::Saved(result)).await;
                });
            }
            WizardEffect::Push {
                config,
                version,
                targets,
                options,
                force,
            } => {
                tokio::spawn(async move {
                    let result = match targets {
                        PushTargets::Agents(ids) => Ok(Targets::Agents(ids)),
                        PushTargets::Selector(text) => text
                            .parse::<Selector>()
                            .map(Targets::Selector)
                            .map_err(|e| e.to_string()),
                    };
                    let msg = match result {
                        Ok(targets) => {
                            match rollouts
                                .push(&config, Some(version), targets, options, force)
                                .await
                            {
                                Ok(view) => WizardMsg::Pushed(Ok(view)),
                                // The agents are listed on the push step; the summary will do.
                                Err(RolloutCmdError::MissingComponents(check)) => {
                                    let text = check.to_string();
                                    let first = text.lines().next().unwrap_or_default();
                                    WizardMsg::Lacking(first.trim_end_matches(':').to_string())
                                }
                                Err(e) => WizardMsg::Pushed(Err(e.to_string())),
                            }
                        }
                        Err(e) => WizardMsg::Pushed(Err(e)),
                    };
                    let _ = tx.send(msg).await;
                });
            }
            WizardEffect::Follow { config } => {
                self.stop_following();
                let token = CancellationToken::new();
                self.following = Some(token.clone());
                tokio::spawn(follow(rollouts, config, tx, token));
            }
            WizardEffect::StopFollowing => self.stop_following(),
            WizardEffect::Steer { config, how } => {
                tokio::spawn(async move {
                    let result = match how {
                        Steer::Pause => rollouts.pause(&config).await,
                        Steer::Resume => rollouts.resume(&config).await,
                        Steer::Cancel => rollouts.cancel(&config).await,
                        Steer::Rollback => rollouts.rollback(&config).await,
                    };
                    let _ = tx
                        .send(WizardMsg::Steered(how, result.map_err(|e| e.to_string())))
                        .await;
                });
            }
            WizardEffect::EditRaw { .. } => {
                tracing::warn!("EditRaw reached the background carrier; it needs the terminal");
            }
        }
    }

    fn stop_following(&mut self) {
        if let Some(t) = self.following.take() {
            t.cancel();
        }
    }
}

impl Drop for WizardIo {
    fn drop(&mut self) {
        self.stop_following();
    }
}

async fn load(catalog: &Catalog, edit: Option<String>) -> WizardMsg {
    let configs = match catalog.configurations().await {
        Ok(list) => list
            .into_iter()
            .map(|s| (s.config.name().to_string(), s.version, s.config))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not list configurations for the wizard");
            Vec::new()
        }
    };
    let destinations = match catalog.store().list_kind(crate::catalog::DESTINATION).await {
        Ok(docs) => docs
            .iter()
            .filter_map(|d| serde_json::from_str(&d.spec_json).ok())
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not list destinations for the wizard");
            Vec::new()
        }
    };
    let edit = match edit {
        Some(name) => Some(
            catalog
                .configuration(&name, None)
                .await
                .map(|s| (s.version, Box::new(s.config)))
                .map_err(|e| e.to_string()),
        ),
        None => None,
    };
    WizardMsg::Loaded {
        configs,
        destinations,
        edit,
    }
}

/// Sends the rollout's state whenever it changes, until it finishes or `stop` fires.
async fn follow(
    rollouts: Rollouts,
    config: String,
    tx: mpsc::Sender<WizardMsg>,
    stop: CancellationToken,
) {
    let mut last = String::new();
    loop {
        let result = rollouts.status(&config).await.map_err(|e| e.to_string());
        let seen = match &result {
            Ok(v) => serde_json::to_string(v).unwrap_or_default(),
            Err(e) => e.clone(),
        };
        let finished = matches!(&result, Ok(v) if v.status.finished());
        if seen != last {
            last = seen;
            if tx.send(WizardMsg::Rollout(result)).await.is_err() {
                return;
            }
        }
        if finished {
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
    }
}

/// The editor to run: `$VISUAL`, then `$EDITOR`, then `vi`; split on spaces so values
/// like `code --wait` work.
fn editor_command() -> (String, Vec<String>) {
    let value = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let mut words = value.split_whitespace().map(str::to_string);
    let program = words.next().unwrap_or_else(|| "vi".into());
    (program, words.collect())
}

/// A file only we can read (the text may hold secrets), removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn create(text: &str) -> std::io::Result<TempFile> {
        use std::io::Write;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "fleetdeck-config-{}-{stamp}.yaml",
            std::process::id()
        ));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&path)?;
        f.write_all(text.as_bytes())?;
        Ok(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the editor on `text` and returns what was saved. The caller must have given the
/// terminal back (left raw mode and the alternate screen) and stopped reading keys.
pub async fn edit_in_editor(text: &str) -> Result<String, String> {
    let file =
        TempFile::create(text).map_err(|e| format!("cannot create a temporary file: {e}"))?;
    let (program, args) = editor_command();
    let status = tokio::process::Command::new(&program)
        .args(&args)
        .arg(&file.0)
        .status()
        .await
        .map_err(|e| format!("cannot run editor '{program}' (set $EDITOR): {e}"))?;
    if !status.success() {
        return Err(format!(
            "editor '{program}' exited with {status}; nothing changed"
        ));
    }
    std::fs::read_to_string(&file.0)
        .map_err(|e| format!("cannot read back {}: {e}", file.0.display()))
}
