//! The wizard's effects carried out: calls on the [`Services`] on spawned tasks whose
//! results come back on a channel as [`WizardMsg`]s, and `$EDITOR` on a temporary file
//! (the run loop suspends the screen around it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{PushTargets, WizardEffect, WizardMsg};
use crate::fleet::selector::Selector;
use crate::rollout::Targets;
use crate::tui::services::{PushRefused, Services};

/// How often a followed rollout is asked for its state.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// Carries out wizard effects for the run loop.
pub struct WizardIo {
    services: Arc<dyn Services>,
    tx: mpsc::Sender<WizardMsg>,
    following: Option<CancellationToken>,
}

impl WizardIo {
    /// The carrier and the receiving end of its results.
    pub fn new(services: Arc<dyn Services>) -> (WizardIo, mpsc::Receiver<WizardMsg>) {
        let (tx, rx) = mpsc::channel(64);
        (
            WizardIo {
                services,
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
        let services = self.services.clone();
        match effect {
            WizardEffect::Load { edit } => {
                tokio::spawn(async move {
                    let _ = tx.send(load(services.as_ref(), edit).await).await;
                });
            }
            WizardEffect::Save(cfg) => {
                tokio::spawn(async move {
                    let msg = match services.save(*cfg).await {
                        Ok(result) => WizardMsg::Saved(result),
                        // The server could not be asked: the builder says so like a
                        // refused push, and its work stays.
                        Err(e) => WizardMsg::Saved(crate::catalog::ApplyResult {
                            kind: crate::catalog::CONFIGURATION.into(),
                            name: String::new(),
                            status: crate::catalog::ApplyStatus::Invalid,
                            version: None,
                            problems: vec![e],
                            note: None,
                        }),
                    };
                    let _ = tx.send(msg).await;
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
                            match services
                                .push(config, version, targets, options, force)
                                .await
                            {
                                Ok(view) => WizardMsg::Pushed(Ok(view)),
                                // The agents are listed on the push step; the summary will do.
                                Err(PushRefused::Lacking(first)) => WizardMsg::Lacking(first),
                                Err(PushRefused::Other(e)) => WizardMsg::Pushed(Err(e)),
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
                tokio::spawn(follow(services, config, tx, token));
            }
            WizardEffect::StopFollowing => self.stop_following(),
            WizardEffect::Steer { config, how } => {
                tokio::spawn(async move {
                    let result = services.steer(config, how).await;
                    let _ = tx.send(WizardMsg::Steered(how, result)).await;
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

async fn load(services: &dyn Services, edit: Option<String>) -> WizardMsg {
    let configs = match services.configurations().await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "could not list configurations for the wizard");
            Vec::new()
        }
    };
    let destinations = match services.destinations().await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "could not list destinations for the wizard");
            Vec::new()
        }
    };
    let edit = match edit {
        Some(name) => Some(services.configuration(name).await),
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
    services: Arc<dyn Services>,
    config: String,
    tx: mpsc::Sender<WizardMsg>,
    stop: CancellationToken,
) {
    let mut last = String::new();
    loop {
        let result = services.rollout(config.clone()).await;
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
