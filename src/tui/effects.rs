//! Where effects leave the UI. The state machine only returns [`Effect`]s; this is the one
//! place that carries them out: commands to agents through the fleet registry, catalog,
//! rollout and apply-history reads on spawned tasks whose results come back on channels,
//! and `$EDITOR`
//! (handed back to the run loop, which owns the terminal).
//!
//! The `match` in [`Carrier::carry_out`] names every variant, so a new kind of effect does
//! not compile until it is carried out here.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::configs::{ConfigsEffect, ConfigsMsg};
use super::detail::HistoryLoaded;
use super::flash::FlashLevel;
use super::tap::TapLoaded;
use super::wizard::io::WizardIo;
use super::wizard::{WizardEffect, WizardMsg};
use crate::catalog::Catalog;
use crate::fleet::attempt::KEPT_PER_AGENT;
use crate::fleet::registry::RegistryHandle;
use crate::fleet::{AgentId, EventKind};
use crate::rollout::Rollouts;

/// Something the UI wants done outside itself. Views and the driver only return these,
/// so they stay testable without a terminal or a server; [`Carrier`] carries them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Leave the UI (and stop the server, which the UI was started with).
    Quit,
    /// Ask the agents to restart (OpAMP `ServerToAgentCommand`).
    RestartAgents(Vec<AgentId>),
    /// Forget a decommissioned agent (it is disconnected; the user pressed twice).
    ForgetAgent(AgentId),
    /// Read an agent's apply history from the store (its detail shows it).
    LoadHistory(AgentId),
    /// Ask an agent for the newest items of a pipeline (the tap view shows them).
    Tap {
        agent: AgentId,
        request: crate::fleet::tap::TapRequest,
    },
    /// Catalog and rollout work for the pipeline builder.
    Wizard(WizardEffect),
    /// Catalog and rollout work for the Configurations view.
    Configs(ConfigsEffect),
}

/// What carrying out effects needs from the UI (`App`): to say what was asked, and
/// whether the builder an effect came from is still open.
pub trait Ui {
    fn flash(&mut self, level: FlashLevel, text: String);
    fn wants(&self, effect: &WizardEffect) -> bool;
}

/// Carries out effects with the services the UI was given.
pub struct Carrier {
    registry: RegistryHandle,
    catalog: Arc<Catalog>,
    rollouts: Rollouts,
    wizard: WizardIo,
    configs: mpsc::Sender<ConfigsMsg>,
    history: mpsc::Sender<HistoryLoaded>,
    tap: mpsc::Sender<TapLoaded>,
}

/// Where the results of background work arrive, for the run loop to feed back to the app.
pub struct Results {
    pub wizard: mpsc::Receiver<WizardMsg>,
    pub configs: mpsc::Receiver<ConfigsMsg>,
    pub history: mpsc::Receiver<HistoryLoaded>,
    pub tap: mpsc::Receiver<TapLoaded>,
}

impl Carrier {
    pub fn new(
        registry: RegistryHandle,
        catalog: Arc<Catalog>,
        rollouts: Rollouts,
    ) -> (Carrier, Results) {
        let (wizard, wizard_rx) = WizardIo::new(catalog.clone(), rollouts.clone());
        let (configs, configs_rx) = mpsc::channel(16);
        let (history, history_rx) = mpsc::channel(4);
        let (tap, tap_rx) = mpsc::channel(4);
        let carrier = Carrier {
            registry,
            catalog,
            rollouts,
            wizard,
            configs,
            history,
            tap,
        };
        let results = Results {
            wizard: wizard_rx,
            configs: configs_rx,
            history: history_rx,
            tap: tap_rx,
        };
        (carrier, results)
    }

    /// Carries out `effects`. Returns the text to open in `$EDITOR`, which the caller runs
    /// with the terminal handed over.
    pub fn carry_out(&mut self, ui: &mut impl Ui, effects: Vec<Effect>) -> Option<String> {
        let mut edit = None;
        for effect in effects {
            match effect {
                // The run loop sees `App::should_quit` and leaves.
                Effect::Quit => {}
                Effect::RestartAgents(ids) => {
                    ui.flash(
                        FlashLevel::Info,
                        format!("restart of {} agent(s) requested", ids.len()),
                    );
                    tokio::spawn(restart(self.registry.clone(), ids));
                }
                Effect::ForgetAgent(id) => {
                    ui.flash(FlashLevel::Info, "forgetting the agent requested".into());
                    tokio::spawn(forget(self.registry.clone(), self.rollouts.clone(), id));
                }
                Effect::LoadHistory(id) => {
                    tokio::spawn(load_history(self.catalog.clone(), id, self.history.clone()));
                }
                Effect::Tap { agent, request } => {
                    tokio::spawn(tap(
                        self.registry.clone(),
                        self.catalog.clone(),
                        agent,
                        request,
                        self.tap.clone(),
                    ));
                }
                Effect::Configs(c) => super::configs::io::spawn(
                    c,
                    self.catalog.clone(),
                    self.rollouts.clone(),
                    self.configs.clone(),
                ),
                Effect::Wizard(WizardEffect::EditRaw { text }) => edit = Some(text),
                Effect::Wizard(w) => {
                    if ui.wants(&w) {
                        self.wizard.spawn(w);
                    }
                }
            }
        }
        edit
    }
}

/// Reads an agent's apply history from the store the catalog keeps its resources in.
async fn load_history(catalog: Arc<Catalog>, agent: AgentId, tx: mpsc::Sender<HistoryLoaded>) {
    let result = catalog
        .store()
        .agent_history(agent, KEPT_PER_AGENT)
        .await
        .map_err(|e| e.to_string());
    // The UI has gone when the channel is closed; nothing is left to tell.
    let _ = tx.send(HistoryLoaded { agent, result }).await;
}

/// Asks an agent for the newest items of a pipeline; known secret values are masked as
/// everywhere else (keys that name a secret were masked by the agent).
async fn tap(
    registry: RegistryHandle,
    catalog: Arc<Catalog>,
    agent: AgentId,
    request: crate::fleet::tap::TapRequest,
    tx: mpsc::Sender<TapLoaded>,
) {
    let pipeline = request.pipeline.clone();
    let result = registry
        .tap(agent, request)
        .await
        .map(|mut answer| {
            let redactor = catalog.redactor();
            answer.mask_strings(&|text| match redactor.mask(text) {
                std::borrow::Cow::Owned(m) => Some(m),
                std::borrow::Cow::Borrowed(_) => None,
            });
            answer
        })
        .map_err(|e| e.to_string());
    let _ = tx
        .send(TapLoaded {
            agent,
            pipeline,
            result,
        })
        .await;
}

/// Asks each agent to restart; a refusal becomes a notice in the events.
async fn restart(registry: RegistryHandle, ids: Vec<AgentId>) {
    for id in ids {
        if let Err(e) = registry.restart(id).await {
            refused(&registry, id, format!("restart refused: {e}"));
        }
    }
}

/// Forgets a disconnected agent (the rollout service says no while a rollout uses it); a
/// refusal becomes a notice in the events.
async fn forget(registry: RegistryHandle, rollouts: Rollouts, id: AgentId) {
    let name = registry
        .snapshot()
        .borrow()
        .get(&id)
        .map(|a| a.name.to_string())
        .unwrap_or_else(|| id.to_string());
    if let Err(e) = crate::rollout::forget_agent(&registry, &rollouts, id, &name).await {
        refused(&registry, id, format!("not forgotten: {e}"));
    }
}

fn refused(registry: &RegistryHandle, id: AgentId, message: String) {
    registry.publish_event(EventKind::Notice {
        agent: Some(id),
        message,
    });
}
