//! Where effects leave the UI. The state machine only returns [`Effect`]s; this is the one
//! place that carries them out, through [`Services`] (the fleet in this process, or a
//! server the UI is attached to): commands to agents, catalog, rollout and apply-history
//! reads on spawned tasks whose results come back on channels, and `$EDITOR` (handed back
//! to the run loop, which owns the terminal).
//!
//! The `match` in [`Carrier::carry_out`] names every variant, so a new kind of effect does
//! not compile until it is carried out here.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::configs::{ConfigsEffect, ConfigsMsg};
use super::detail::{FlowLoaded, HistoryLoaded};
use super::flash::FlashLevel;
use super::services::{Local, Services};
use super::tap::TapLoaded;
use super::wizard::io::WizardIo;
use super::wizard::{WizardEffect, WizardMsg};
use crate::catalog::Catalog;
use crate::fleet::AgentId;
use crate::fleet::registry::RegistryHandle;
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
    /// Read an agent's pipelines and per-component numbers (its detail's Flow section).
    LoadFlow(AgentId),
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
    /// The agent's name as the fleet shows it (its id when unknown), for messages.
    fn agent_name(&self, id: &AgentId) -> String;
}

/// Carries out effects with the services the UI was given.
pub struct Carrier {
    services: Arc<dyn Services>,
    wizard: WizardIo,
    configs: mpsc::Sender<ConfigsMsg>,
    history: mpsc::Sender<HistoryLoaded>,
    flow: mpsc::Sender<FlowLoaded>,
    tap: mpsc::Sender<TapLoaded>,
}

/// Where the results of background work arrive, for the run loop to feed back to the app.
pub struct Results {
    pub wizard: mpsc::Receiver<WizardMsg>,
    pub configs: mpsc::Receiver<ConfigsMsg>,
    pub history: mpsc::Receiver<HistoryLoaded>,
    pub flow: mpsc::Receiver<FlowLoaded>,
    pub tap: mpsc::Receiver<TapLoaded>,
}

impl Carrier {
    /// A carrier for the fleet in this process.
    pub fn new(
        registry: RegistryHandle,
        catalog: Arc<Catalog>,
        rollouts: Rollouts,
    ) -> (Carrier, Results) {
        Carrier::with(Arc::new(Local::new(registry, catalog, rollouts)))
    }

    /// A carrier for whichever fleet `services` reach.
    pub fn with(services: Arc<dyn Services>) -> (Carrier, Results) {
        let (wizard, wizard_rx) = WizardIo::new(services.clone());
        let (configs, configs_rx) = mpsc::channel(16);
        let (history, history_rx) = mpsc::channel(4);
        let (flow, flow_rx) = mpsc::channel(4);
        let (tap, tap_rx) = mpsc::channel(4);
        let carrier = Carrier {
            services,
            wizard,
            configs,
            history,
            flow,
            tap,
        };
        let results = Results {
            wizard: wizard_rx,
            configs: configs_rx,
            history: history_rx,
            flow: flow_rx,
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
                    tokio::spawn(restart(self.services.clone(), ids));
                }
                Effect::ForgetAgent(id) => {
                    ui.flash(FlashLevel::Info, "forgetting the agent requested".into());
                    let name = ui.agent_name(&id);
                    tokio::spawn(forget(self.services.clone(), id, name));
                }
                Effect::LoadHistory(id) => {
                    let reply = self.services.history(id);
                    let tx = self.history.clone();
                    tokio::spawn(async move {
                        let result = reply.await;
                        // The UI has gone when the channel is closed; nothing is left to tell.
                        let _ = tx.send(HistoryLoaded { agent: id, result }).await;
                    });
                }
                Effect::LoadFlow(id) => {
                    let reply = self.services.agent_throughput(id);
                    let tx = self.flow.clone();
                    tokio::spawn(async move {
                        let result = reply.await;
                        let _ = tx.send(FlowLoaded { agent: id, result }).await;
                    });
                }
                Effect::Tap { agent, request } => {
                    let pipeline = request.pipeline.clone();
                    let reply = self.services.tap(agent, request);
                    let tx = self.tap.clone();
                    tokio::spawn(async move {
                        let result = reply.await;
                        let _ = tx
                            .send(TapLoaded {
                                agent,
                                pipeline,
                                result,
                            })
                            .await;
                    });
                }
                Effect::Configs(c) => {
                    super::configs::io::spawn(c, self.services.clone(), self.configs.clone())
                }
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

/// Asks each agent to restart; a refusal becomes a notice in the events.
async fn restart(services: Arc<dyn Services>, ids: Vec<AgentId>) {
    for id in ids {
        if let Err(e) = services.restart(id).await {
            services.refused(id, format!("restart refused: {e}"));
        }
    }
}

/// Forgets a disconnected agent (the rollout service says no while a rollout uses it); a
/// refusal becomes a notice in the events.
async fn forget(services: Arc<dyn Services>, id: AgentId, name: String) {
    if let Err(e) = services.forget(id, name).await {
        services.refused(id, format!("not forgotten: {e}"));
    }
}
