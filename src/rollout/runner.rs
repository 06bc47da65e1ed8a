//! Drives rollouts: starts phases through the registry, watches agents' apply states in the
//! fleet snapshot (the snapshot, not the event stream, is the source of truth, so a burst of
//! 10,000 answers cannot be missed), persists every rollout, and resumes unfinished ones
//! after a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::components::{ComponentCheck, check_targets, used_components};
use super::plan::{
    Action, AgentProgress, AgentStep, Progress, Rollout, RolloutError, RolloutOptions,
    RolloutStatus,
};
use super::watch::{self, Traffic, Verdict, WatchFigures, WatchPolicy};
use crate::catalog::{Catalog, CatalogError};
use crate::fleet::AgentId;
use crate::fleet::delivery::{ApplyState, ConfigRef};
use crate::fleet::events::EventKind;
use crate::fleet::registry::{KnownAgent, RegistryHandle};
use crate::fleet::selector::Selector;
use crate::fleet::telemetry::{Series, Signal, TelemetryStore, WindowMeans, now_sec};
use crate::store::{self, Store};

/// Which agents a rollout is for.
#[derive(Debug, Clone)]
pub enum Targets {
    Agents(Vec<AgentId>),
    Selector(Selector),
}

#[derive(Debug, thiserror::Error)]
pub enum RolloutCmdError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    State(#[from] RolloutError),
    #[error("no rollout for configuration '{0}'")]
    NoRollout(String),
    #[error("no agents selected{0}")]
    NoTargets(String),
    #[error("unknown agent(s): {0}")]
    UnknownAgents(String),
    #[error("a rollout of {0} is running; pause or cancel it first")]
    Busy(ConfigRef),
    #[error("{0}\npush with --force to send it anyway (API: \"force\": true)")]
    MissingComponents(ComponentCheck),
    #[error("the rollout service has stopped")]
    Stopped,
    #[error(
        "the rollout of '{0}' is driven by another fleetdeck replica on this database; \
         steer it there (it moves here if that replica goes away)"
    )]
    DrivenElsewhere(String),
}

/// A rollout as readers see it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RolloutView {
    pub config: ConfigRef,
    pub status: RolloutStatus,
    pub phases_started: usize,
    /// When it was started, in Unix seconds.
    pub started_at: Option<u64>,
    pub progress: Progress,
    pub options: RolloutOptions,
    pub agents: Vec<AgentProgress>,
}

impl RolloutView {
    /// The view with every agent; those inside their watch window carry the figures
    /// measured so far.
    fn of(r: &Rollout, telemetry: &TelemetryStore) -> Self {
        let mut agents = r.agents.clone();
        if let Some(policy) = &r.options.watch {
            let now = now_sec();
            for a in agents.iter_mut().filter(|a| a.step == AgentStep::Watching) {
                a.watch = Some(measure(telemetry, policy, a, now));
            }
        }
        RolloutView {
            agents,
            ..RolloutView::summary_of(r)
        }
    }

    /// The view without the per-agent list (which, for a rollout to 10,000 agents, is
    /// most of the work of answering).
    fn summary_of(r: &Rollout) -> Self {
        RolloutView {
            config: r.config.clone(),
            status: r.status.clone(),
            phases_started: r.phases_started,
            started_at: r.started_at,
            progress: r.progress(),
            options: r.options.clone(),
            agents: Vec::new(),
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, RolloutCmdError>>;

#[derive(Debug, Clone, Copy)]
enum Steer {
    Pause,
    Resume,
    Cancel,
    Rollback,
}

enum Cmd {
    Start {
        config: String,
        version: Option<u64>,
        targets: Targets,
        options: RolloutOptions,
        force: bool,
        reply: Reply<RolloutView>,
    },
    Steer {
        config: String,
        how: Steer,
        reply: Reply<RolloutView>,
    },
    Status {
        config: String,
        with_agents: bool,
        reply: Reply<RolloutView>,
    },
    List {
        reply: oneshot::Sender<Vec<RolloutView>>,
    },
}

/// Handle to the rollout service; cheap to clone.
#[derive(Clone)]
pub struct Rollouts {
    tx: mpsc::Sender<Cmd>,
}

impl Rollouts {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Cmd) -> Result<T, RolloutCmdError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| RolloutCmdError::Stopped)?;
        rx.await.map_err(|_| RolloutCmdError::Stopped)?
    }

    /// Starts rolling `config` (latest version unless given) out to `targets`; refused
    /// when targets lack components the configuration uses.
    pub async fn start(
        &self,
        config: &str,
        version: Option<u64>,
        targets: Targets,
        options: RolloutOptions,
    ) -> Result<RolloutView, RolloutCmdError> {
        self.push(config, version, targets, options, false).await
    }

    /// [`Rollouts::start`], with `force` sending it even to targets that lack components
    /// it uses (an operator who knows better, e.g. a build about to be upgraded).
    pub async fn push(
        &self,
        config: &str,
        version: Option<u64>,
        targets: Targets,
        options: RolloutOptions,
        force: bool,
    ) -> Result<RolloutView, RolloutCmdError> {
        let config = config.to_string();
        self.ask(|reply| Cmd::Start {
            config,
            version,
            targets,
            options,
            force,
            reply,
        })
        .await
    }

    async fn steer(&self, config: &str, how: Steer) -> Result<RolloutView, RolloutCmdError> {
        let config = config.to_string();
        self.ask(|reply| Cmd::Steer { config, how, reply }).await
    }

    pub async fn pause(&self, config: &str) -> Result<RolloutView, RolloutCmdError> {
        self.steer(config, Steer::Pause).await
    }

    pub async fn resume(&self, config: &str) -> Result<RolloutView, RolloutCmdError> {
        self.steer(config, Steer::Resume).await
    }

    pub async fn cancel(&self, config: &str) -> Result<RolloutView, RolloutCmdError> {
        self.steer(config, Steer::Cancel).await
    }

    pub async fn rollback(&self, config: &str) -> Result<RolloutView, RolloutCmdError> {
        self.steer(config, Steer::Rollback).await
    }

    pub async fn status(&self, config: &str) -> Result<RolloutView, RolloutCmdError> {
        let config = config.to_string();
        self.ask(|reply| Cmd::Status {
            config,
            with_agents: true,
            reply,
        })
        .await
    }

    /// Like [`Rollouts::status`], with `agents` left empty: the counts only.
    pub async fn summary(&self, config: &str) -> Result<RolloutView, RolloutCmdError> {
        let config = config.to_string();
        self.ask(|reply| Cmd::Status {
            config,
            with_agents: false,
            reply,
        })
        .await
    }

    pub async fn list(&self) -> Result<Vec<RolloutView>, RolloutCmdError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::List { reply })
            .await
            .map_err(|_| RolloutCmdError::Stopped)?;
        rx.await.map_err(|_| RolloutCmdError::Stopped)
    }
}

pub struct RunnerConfig {
    /// How often in-flight agents are checked and phases advanced.
    pub tick: Duration,
    /// Shortest time between two writes of one rollout's progress (status changes are
    /// written at once).
    pub persist_every: Duration,
    /// How often the leases of the rollouts driven here are confirmed, and those of
    /// rollouts no replica drives are taken (replicas on PostgreSQL).
    pub lease_check: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            tick: Duration::from_millis(50),
            persist_every: Duration::from_secs(1),
            lease_check: Duration::from_secs(2),
        }
    }
}

struct Active {
    rollout: Rollout,
    dirty: bool,
    persisted_at: Option<Instant>,
    /// Finished, nothing in flight and saved: steps skip it until it is steered again
    /// (a long-lived server keeps one per configuration, each with the whole fleet).
    settled: bool,
}

struct Runner {
    registry: RegistryHandle,
    telemetry: TelemetryStore,
    catalog: Arc<Catalog>,
    store: Store,
    config: RunnerConfig,
    active: BTreeMap<String, Active>,
    /// Stored rollouts whose state cannot be read: said once, never resumed.
    unreadable: BTreeSet<String>,
}

/// A stored unfinished rollout to drive here, if this process gets its lease (another
/// replica may drive it) and its state reads.
async fn resume(
    store: &Store,
    rec: &store::RolloutRecord,
    unreadable: &mut BTreeSet<String>,
) -> Option<Active> {
    if unreadable.contains(&rec.config_name) {
        return None;
    }
    match store.hold_rollout(&rec.config_name).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::warn!(config = %rec.config_name, error = %e,
                "cannot take the rollout's lease; trying again");
            return None;
        }
    }
    match serde_json::from_str::<Rollout>(&rec.state_json) {
        Ok(rollout) => Some(Active {
            rollout,
            dirty: false,
            persisted_at: None,
            settled: false,
        }),
        Err(e) => {
            tracing::warn!(config = %rec.config_name, error = %e,
                "stored rollout state is unreadable; it is not resumed");
            unreadable.insert(rec.config_name.clone());
            let _ = store.release_rollout(&rec.config_name).await;
            None
        }
    }
}

/// Loads unfinished rollouts from the store and starts the service.
pub async fn spawn(
    registry: RegistryHandle,
    telemetry: TelemetryStore,
    catalog: Arc<Catalog>,
    config: RunnerConfig,
    cancel: CancellationToken,
) -> Result<Rollouts, store::StoreError> {
    let store = catalog.store().clone();
    let mut active = BTreeMap::new();
    let mut unreadable = BTreeSet::new();
    for rec in store.list_unfinished_rollouts().await? {
        if let Some(a) = resume(&store, &rec, &mut unreadable).await {
            tracing::info!(config = %a.rollout.config, status = %a.rollout.status,
                "resuming a rollout after restart");
            active.insert(rec.config_name, a);
        }
    }
    let (tx, rx) = mpsc::channel(64);
    let runner = Runner {
        registry,
        telemetry,
        catalog,
        store,
        config,
        active,
        unreadable,
    };
    tokio::spawn(runner.run(rx, cancel));
    Ok(Rollouts { tx })
}

/// One line for the events pane: who was sent a configuration they lack components for.
fn forced_note(check: &ComponentCheck) -> String {
    let named: Vec<String> = check
        .lacking
        .iter()
        .take(3)
        .map(|a| a.to_string())
        .collect();
    let more = check.lacking.len().saturating_sub(named.len());
    format!(
        "pushed with force to {} agent{} lacking components it uses ({}{})",
        check.lacking.len(),
        if check.lacking.len() == 1 { "" } else { "s" },
        named.join("; "),
        if more > 0 {
            format!("; {more} more")
        } else {
            String::new()
        }
    )
}

fn store_status(s: &RolloutStatus) -> store::RolloutStatus {
    match s {
        RolloutStatus::Running => store::RolloutStatus::Running,
        RolloutStatus::Paused => store::RolloutStatus::Paused,
        RolloutStatus::Halted(_) => store::RolloutStatus::Halted,
        RolloutStatus::Completed => store::RolloutStatus::Completed,
        RolloutStatus::Cancelled => store::RolloutStatus::Cancelled,
        RolloutStatus::RolledBack => store::RolloutStatus::RolledBack,
    }
}

impl Runner {
    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A new snapshot is looked at as soon as it is published, so the last agent's answer
        // ends a phase without waiting for the tick; the tick covers time passing alone
        // (phase waits, stalls) and restarts after every step.
        let mut fleet = self.registry.snapshot();
        let mut fleet_open = true;
        let mut leases = tokio::time::interval(self.config.lease_check);
        leases.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        leases.tick().await;
        loop {
            tokio::select! {
                _ = leases.tick() => self.check_leases().await,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd).await,
                    None => break,
                },
                changed = fleet.changed(), if fleet_open => {
                    fleet_open = changed.is_ok();
                    self.step().await;
                    tick.reset();
                }
                _ = tick.tick() => self.step().await,
                _ = cancel.cancelled() => break,
            }
        }
        // Keep the latest progress for the next start.
        for name in self.active.keys().cloned().collect::<Vec<_>>() {
            self.persist(&name, true).await;
        }
    }

    async fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Start {
                config,
                version,
                targets,
                options,
                force,
                reply,
            } => {
                let r = self.start(&config, version, targets, options, force).await;
                let _ = reply.send(r);
            }
            Cmd::Steer { config, how, reply } => {
                let r = self.steer(&config, how).await;
                let _ = reply.send(r);
            }
            Cmd::Status {
                config,
                with_agents,
                reply,
            } => {
                let view = |r: &Rollout| {
                    if with_agents {
                        RolloutView::of(r, &self.telemetry)
                    } else {
                        RolloutView::summary_of(r)
                    }
                };
                let r = match self.active.get(&config) {
                    Some(a) => Ok(view(&a.rollout)),
                    // Driven by another replica: as it last stored it.
                    None => self
                        .driven_elsewhere()
                        .await
                        .into_iter()
                        .find(|r| r.config.name.as_ref() == config.as_str())
                        .map(|r| view(&r))
                        .ok_or(RolloutCmdError::NoRollout(config)),
                };
                let _ = reply.send(r);
            }
            Cmd::List { reply } => {
                let mut all: Vec<RolloutView> = self
                    .active
                    .values()
                    .map(|a| RolloutView::of(&a.rollout, &self.telemetry))
                    .collect();
                for r in self.driven_elsewhere().await {
                    all.push(RolloutView::of(&r, &self.telemetry));
                }
                let _ = reply.send(all);
            }
        }
    }

    async fn start(
        &mut self,
        name: &str,
        version: Option<u64>,
        targets: Targets,
        options: RolloutOptions,
        force: bool,
    ) -> Result<RolloutView, RolloutCmdError> {
        let stored = self.catalog.configuration(name, version).await?;
        let cref = stored.cref();
        if let Some(a) = self.active.get(name)
            && a.rollout.status == RolloutStatus::Running
        {
            return Err(RolloutCmdError::Busy(a.rollout.config.clone()));
        }
        // One replica drives a configuration's rollouts at a time.
        match self.store.hold_rollout(name).await {
            Ok(true) => {}
            Ok(false) => return Err(RolloutCmdError::DrivenElsewhere(name.to_string())),
            Err(e) => return Err(RolloutCmdError::Catalog(e.into())),
        }
        // Make sure the offer renders before touching any agent.
        self.catalog.offer(&cref).await?;
        let snapshot = self.registry.snapshot().borrow().clone();
        let ids: Vec<AgentId> = match targets {
            Targets::Agents(ids) => {
                let unknown: Vec<String> = ids
                    .iter()
                    .filter(|id| snapshot.get(id).is_none())
                    .map(|id| id.to_string())
                    .collect();
                if !unknown.is_empty() {
                    return Err(RolloutCmdError::UnknownAgents(unknown.join(", ")));
                }
                ids
            }
            Targets::Selector(sel) => {
                let ids: Vec<AgentId> = snapshot
                    .agents
                    .iter()
                    .filter(|a| sel.matches(&a.labels))
                    .map(|a| a.id)
                    .collect();
                if ids.is_empty() {
                    return Err(RolloutCmdError::NoTargets(format!(" by '{sel}'")));
                }
                ids
            }
        };
        if ids.is_empty() {
            return Err(RolloutCmdError::NoTargets(String::new()));
        }
        // A Collector refuses a configuration naming a type it was not built with: say
        // which targets would, before any of them is sent it.
        match used_components(&stored.rendered) {
            Ok(used) => {
                let targets = ids.iter().filter_map(|id| snapshot.get(id).map(|a| &**a));
                let check = check_targets(&used, targets);
                if !check.is_clear() {
                    if !force {
                        return Err(RolloutCmdError::MissingComponents(check));
                    }
                    tracing::warn!(config = %cref, lacking = check.lacking.len(),
                        "pushed with force to agents that lack components it uses");
                    self.registry.publish_event(EventKind::Rollout {
                        config: cref.clone(),
                        message: forced_note(&check),
                    });
                }
            }
            Err(e) => tracing::warn!(config = %cref, error = %e,
                "cannot check the targets' components; pushing without the check"),
        }
        // Each agent's way back: the version it runs now, if it applied one of ours.
        let targets = ids
            .into_iter()
            .map(|id| {
                let previous = snapshot
                    .get(&id)
                    .and_then(|a| a.config.as_ref())
                    .filter(|c| c.state == ApplyState::Applied && c.config != cref)
                    .map(|c| c.config.clone());
                (id, previous)
            })
            .collect();
        let mut rollout = Rollout::new(cref.clone(), targets, options);
        rollout.started_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs());
        let actions = rollout.advance();
        self.active.insert(
            name.to_string(),
            Active {
                rollout,
                dirty: true,
                persisted_at: None,
                settled: false,
            },
        );
        self.execute(name, actions).await;
        self.persist(name, true).await;
        Ok(RolloutView::of(&self.active[name].rollout, &self.telemetry))
    }

    async fn steer(&mut self, name: &str, how: Steer) -> Result<RolloutView, RolloutCmdError> {
        if !self.active.contains_key(name)
            && self
                .driven_elsewhere()
                .await
                .iter()
                .any(|r| r.config.name.as_ref() == name)
        {
            return Err(RolloutCmdError::DrivenElsewhere(name.to_string()));
        }
        let a = self
            .active
            .get_mut(name)
            .ok_or_else(|| RolloutCmdError::NoRollout(name.to_string()))?;
        let actions = match how {
            Steer::Pause => a.rollout.pause()?,
            Steer::Resume => a.rollout.resume()?,
            Steer::Cancel => a.rollout.cancel()?,
            Steer::Rollback => a.rollout.rollback()?,
        };
        a.dirty = true;
        a.settled = false;
        self.execute(name, actions).await;
        self.persist(name, true).await;
        Ok(RolloutView::of(&self.active[name].rollout, &self.telemetry))
    }

    /// Feeds in-flight agents' states from the snapshot, advances phases, persists.
    async fn step(&mut self) {
        if self.active.is_empty() {
            return;
        }
        let snapshot = self.registry.snapshot().borrow().clone();
        let names: Vec<String> = self.active.keys().cloned().collect();
        for name in names {
            let Some(a) = self.active.get_mut(&name) else {
                continue;
            };
            if a.settled {
                continue;
            }
            // A finished rollout still records the answers of agents it had already sent
            // the version to (e.g. when it was rolled back before they replied).
            if a.rollout.status.finished() && a.rollout.in_flight().next().is_none() {
                if a.dirty {
                    // A save that failed is tried again, at most once per `persist_every`.
                    self.persist(&name, false).await;
                } else {
                    a.settled = true;
                    if let Err(e) = self.store.release_rollout(&name).await {
                        tracing::warn!(config = %name, error = %e, "cannot release the rollout's lease");
                    }
                }
                continue;
            }
            let status_before = a.rollout.status.clone();
            let progress_before = a.rollout.progress();
            let cref = a.rollout.config.clone();
            let observations: Vec<(AgentId, ApplyState, String)> = a
                .rollout
                .in_flight()
                .filter_map(|id| {
                    let c = snapshot.get(&id)?.config.as_ref()?;
                    (c.config == cref && c.state.done()).then(|| (id, c.state, c.error.clone()))
                })
                .collect();
            let mut actions = a.rollout.observe_all(
                observations
                    .iter()
                    .map(|(id, state, error)| (*id, *state, error.as_str())),
            );
            if let Some(policy) = a.rollout.options.watch {
                let verdicts = watch_step(&mut a.rollout, &self.telemetry, &policy, now_sec());
                for (id, verdict, figures) in verdicts {
                    if let Verdict::Unhealthy(why) = &verdict {
                        let name = snapshot
                            .get(&id)
                            .map_or_else(|| id.to_string(), |ag| ag.name.to_string());
                        tracing::warn!(config = %cref, agent = %name, "{why}");
                        self.registry.publish_event(EventKind::Rollout {
                            config: cref.clone(),
                            message: format!("{name} unhealthy after applying: {why}"),
                        });
                    }
                    actions.extend(a.rollout.judge(id, verdict, figures));
                }
            }
            actions.extend(a.rollout.advance());
            let changed =
                a.rollout.status != status_before || a.rollout.progress() != progress_before;
            a.dirty |= changed;
            let urgent = a.rollout.status != status_before;
            self.execute(&name, actions).await;
            self.persist(&name, urgent).await;
        }
    }

    async fn execute(&mut self, name: &str, actions: Vec<Action>) {
        for action in actions {
            let rollback = matches!(action, Action::RollBack { .. });
            match action {
                Action::Note(note) => {
                    let (config, message) = describe(&note);
                    self.registry
                        .publish_event(EventKind::Rollout { config, message });
                }
                Action::Assign { config, agents } | Action::RollBack { config, agents } => {
                    if !rollback && let Some(a) = self.active.get_mut(name) {
                        // When each was sent it: the watch compares with the rate before.
                        let now = now_sec();
                        for id in &agents {
                            if let Some(p) = a.rollout.agent_mut(*id) {
                                p.sent_at = Some(now);
                            }
                        }
                    }
                    let refused = match self.catalog.offer(&config).await {
                        Ok(offer) => {
                            let sent = if rollback {
                                self.registry.roll_back(agents, config.clone(), offer).await
                            } else {
                                self.registry.assign(agents, config.clone(), offer).await
                            };
                            match sent {
                                Ok(outcome) => outcome
                                    .refused
                                    .into_iter()
                                    .map(|(id, e)| (id, e.to_string()))
                                    .collect(),
                                Err(_) => return,
                            }
                        }
                        Err(e) => agents
                            .into_iter()
                            .map(|id| (id, e.to_string()))
                            .collect::<Vec<_>>(),
                    };
                    // Agents the configuration cannot go to count as failures of the
                    // rollout's own version (rollbacks just leave them where they are).
                    if let Some(a) = self.active.get_mut(name)
                        && a.rollout.config == config
                    {
                        let mut more = Vec::new();
                        for (id, reason) in refused {
                            more.extend(a.rollout.observe(id, ApplyState::Failed, &reason));
                        }
                        a.dirty = true;
                        Box::pin(self.execute(name, more)).await;
                    }
                }
            }
        }
    }

    /// The rollout's agents this registry has never seen (they were connected to the
    /// replica that drove it), taken in from the store, so that they are sent what the
    /// rollout sends them when they connect here rather than counted as failures.
    async fn adopt_targets(&self, rollout: &Rollout) {
        let snapshot = self.registry.snapshot().borrow().clone();
        let mut known = Vec::new();
        for id in rollout.agents.iter().map(|p| p.id) {
            if snapshot.get(&id).is_some() {
                continue;
            }
            let record = match self.store.get_agent(id).await {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(agent = %id, error = %e, "cannot read a rollout agent's record");
                    continue;
                }
            };
            let offer = match &record.assigned {
                Some(c) => self.catalog.offer(c).await.ok(),
                None => None,
            };
            known.push(KnownAgent { record, offer });
        }
        if known.is_empty() {
            return;
        }
        match self.registry.adopt(known).await {
            Ok(n) => tracing::info!(config = %rollout.config, agents = n,
                "took in the rollout's agents from the store"),
            Err(e) => tracing::warn!(error = %e, "cannot take in the rollout's agents"),
        }
    }

    /// Unfinished rollouts another replica drives, as last stored (none on SQLite).
    async fn driven_elsewhere(&self) -> Vec<Rollout> {
        let Ok(stored) = self.store.list_unfinished_rollouts().await else {
            return Vec::new();
        };
        stored
            .into_iter()
            .filter(|rec| !self.active.contains_key(&rec.config_name))
            .filter_map(|rec| serde_json::from_str::<Rollout>(&rec.state_json).ok())
            .collect()
    }

    /// Drops the rollouts whose lease this process lost (another replica drives them
    /// now), and takes over the unfinished ones no replica holds (theirs went away).
    async fn check_leases(&mut self) {
        let driven: Vec<String> = self
            .active
            .iter()
            .filter(|(_, a)| !a.settled && !a.rollout.status.finished())
            .map(|(n, _)| n.clone())
            .collect();
        for name in driven {
            match self.store.hold_rollout(&name).await {
                Ok(true) => {}
                Ok(false) | Err(_) => {
                    tracing::warn!(config = %name,
                        "lost the rollout's lease: another replica drives it now");
                    self.active.remove(&name);
                }
            }
        }
        let stored = match self.store.list_unfinished_rollouts().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "cannot look for rollouts to take over");
                return;
            }
        };
        for rec in stored {
            if self.active.contains_key(&rec.config_name) {
                continue;
            }
            if let Some(a) = resume(&self.store, &rec, &mut self.unreadable).await {
                self.adopt_targets(&a.rollout).await;
                let config = a.rollout.config.clone();
                tracing::warn!(config = %config, status = %a.rollout.status,
                    "taking over a rollout no replica drives any more");
                self.registry.publish_event(EventKind::Rollout {
                    config: config.clone(),
                    message: "taken over by this replica (the one driving it went away)"
                        .to_string(),
                });
                // What the other replica had sent is this registry's assignment too: else
                // it would never tell the rollout how those in flight fare, nor show the
                // applied ones on it. Its delivery rules send nothing to an agent that
                // reports running (or applying) it, so no agent is sent it twice.
                let sent: Vec<AgentId> = a
                    .rollout
                    .agents
                    .iter()
                    .filter(|p| {
                        matches!(
                            p.step,
                            AgentStep::InFlight | AgentStep::Watching | AgentStep::Applied
                        )
                    })
                    .map(|p| p.id)
                    .collect();
                let name = rec.config_name;
                self.active.insert(name.clone(), a);
                if !sent.is_empty() {
                    let offer = match self.catalog.offer(&config).await {
                        Ok(offer) => offer,
                        Err(e) => {
                            tracing::warn!(config = %config, error = %e,
                                "cannot offer the rollout's configuration after taking it over");
                            continue;
                        }
                    };
                    if let Err(e) = self.registry.assign(sent, config, offer).await {
                        tracing::warn!(error = %e, "cannot assign the rollout's agents here");
                    }
                }
            }
        }
    }

    async fn persist(&mut self, name: &str, now: bool) {
        let every = self.config.persist_every;
        let Some(a) = self.active.get_mut(name) else {
            return;
        };
        if !a.dirty {
            return;
        }
        if !now && a.persisted_at.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        let json = match serde_json::to_string(&a.rollout) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(config = %a.rollout.config, error = %e, "cannot serialise rollout");
                return;
            }
        };
        let status = store_status(&a.rollout.status);
        match self.store.put_rollout(name, status, &json).await {
            Ok(_) => {
                a.dirty = false;
                a.persisted_at = Some(Instant::now());
            }
            Err(e) => {
                tracing::error!(config = %a.rollout.config, error = %e,
                    "rollout progress could not be saved; will retry")
            }
        }
    }
}

/// Stamps agents that have just applied, and judges those whose watch window is over.
/// Returns the verdicts for the caller to record (and announce).
fn watch_step(
    rollout: &mut Rollout,
    telemetry: &TelemetryStore,
    policy: &WatchPolicy,
    now: u64,
) -> Vec<(AgentId, Verdict, WatchFigures)> {
    let mut due = Vec::new();
    for a in rollout
        .agents
        .iter_mut()
        .filter(|a| a.step == AgentStep::Watching)
    {
        let applied_at = *a.applied_at.get_or_insert(now);
        if now >= applied_at + policy.window_secs {
            let figures = measure(telemetry, policy, a, now);
            due.push((a.id, watch::judge(policy, &figures), figures));
        }
    }
    due
}

/// What the telemetry store says about one watched agent: its outgoing traffic before it
/// was sent the new version, and over the judged part of its window so far (the whole
/// window until the judged part begins, so the view has figures from the start).
fn measure(
    telemetry: &TelemetryStore,
    policy: &WatchPolicy,
    agent: &AgentProgress,
    now: u64,
) -> WatchFigures {
    let applied_at = agent.applied_at.unwrap_or(now);
    let sent_at = agent.sent_at.unwrap_or(applied_at);
    let window = |from: u64, to: u64| {
        telemetry
            .window_at(now, &agent.id, from, to)
            .filter(|w| w.seconds > 0)
    };
    let traffic = |w: WindowMeans| Traffic {
        sent: Signal::ALL.iter().map(|s| w.mean(Series::Out(*s))).sum(),
        failed: Signal::ALL.iter().map(|s| w.mean(Series::Failed(*s))).sum(),
    };
    let (b_from, b_to) = policy.baseline(sent_at);
    let judged = policy.judged_from(applied_at);
    let from = if now > judged { judged } else { applied_at };
    WatchFigures {
        before: window(b_from, b_to).map(traffic),
        // Reports from before it applied describe the old configuration: without one
        // since, there is nothing to say about the new one.
        after: window(from, now)
            .filter(|w| w.last_report >= applied_at)
            .map(traffic),
    }
}

fn describe(note: &super::plan::RolloutNote) -> (ConfigRef, String) {
    use super::plan::RolloutNote as N;
    match note {
        N::PhaseStarted {
            config,
            phase,
            agents,
        } => (
            config.clone(),
            format!("phase {phase} started on {agents} agent(s)"),
        ),
        N::Halted { config, reason, .. } => (config.clone(), format!("halted: {reason}")),
        N::RolledBack {
            config,
            agents,
            without_previous,
        } => {
            let extra = if *without_previous > 0 {
                format!(" ({without_previous} had no earlier version to return to)")
            } else {
                String::new()
            };
            (
                config.clone(),
                format!("rolled back {agents} agent(s) to their previous version{extra}"),
            )
        }
        N::Completed {
            config,
            applied,
            failed,
        } => (
            config.clone(),
            format!("completed: {applied} applied, {failed} failed"),
        ),
        N::Paused { config } => (config.clone(), "paused".into()),
        N::Resumed { config } => (config.clone(), "resumed".into()),
        N::Cancelled { config } => (config.clone(), "cancelled".into()),
    }
}
