//! The seam between the UI and the fleet it manages. [`Services`] is everything the UI's
//! effects ask of the rest of fleetdeck; the UI never knows which implementation it talks
//! to:
//! - [`Local`]: the server runs in this process (`fleetdeck`, `fleetdeck --demo`): calls
//!   on the registry, the catalog and the rollout service;
//! - `attach::Remote` (outside the TUI): a server elsewhere (`fleetdeck attach`), through
//!   its management API.
//!
//! Each call returns a boxed future the carrier runs on a task of its own, with errors as
//! the text the footer shows.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::action::Steer;
use super::configs::data::{ConfigSummary, VersionInfo, summary_of, version_of};
use crate::catalog::{ApplyResult, Catalog};
use crate::fleet::attempt::{ApplyAttempt, KEPT_PER_AGENT};
use crate::fleet::registry::RegistryHandle;
use crate::fleet::tap::{TapAnswer, TapRequest};
use crate::fleet::telemetry::TelemetryStore;
use crate::fleet::{AgentId, EventKind};
use crate::pipeline::{Configuration, Destination, DiffLine, Redactor, Resource, TypeRegistry};
use crate::rollout::{RolloutCmdError, RolloutOptions, RolloutView, Rollouts, Targets};
use crate::throughput::{AgentThroughput, ConfigurationThroughput};

/// An answer to come, or why there is none.
pub type Reply<T> = BoxFuture<'static, Result<T, String>>;

/// Why a push was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRefused {
    /// Targets lack components the configuration uses: the refusal's first line. The
    /// same push again with `force` goes ahead.
    Lacking(String),
    Other(String),
}

/// What the UI asks of the fleet's server, wherever it runs.
pub trait Services: Send + Sync {
    /// Asks the agent to restart.
    fn restart(&self, id: AgentId) -> Reply<()>;
    /// Forgets a disconnected agent; `name` is for messages.
    fn forget(&self, id: AgentId, name: String) -> Reply<()>;
    /// Tells the operator a command was refused: a notice in the events pane.
    fn refused(&self, id: AgentId, message: String);
    /// The agent's apply history, newest first.
    fn history(&self, id: AgentId) -> Reply<Vec<ApplyAttempt>>;
    /// The newest items of one of the agent's pipelines, known secrets masked.
    fn tap(&self, id: AgentId, request: TapRequest) -> Reply<TapAnswer>;
    /// The resource types the builder offers, when known.
    fn types(&self) -> Option<Arc<TypeRegistry>>;
    /// The secret values to hide in what agents report.
    fn redactor(&self) -> Arc<Redactor>;

    /// The latest version of each stored configuration, as the Configurations view lists it.
    fn summaries(&self) -> Reply<Vec<ConfigSummary>>;
    /// Every rollout.
    fn rollouts(&self) -> Reply<Vec<RolloutView>>;
    fn versions(&self, name: String) -> Reply<Vec<VersionInfo>>;
    fn diff(&self, name: String, from: u64, to: u64) -> Reply<Vec<DiffLine>>;
    fn steer(&self, name: String, how: Steer) -> Reply<RolloutView>;

    /// The latest version of every stored configuration, for the builder.
    fn configurations(&self) -> Reply<Vec<(String, u64, Configuration)>>;
    /// The stored destinations, for the builder.
    fn destinations(&self) -> Reply<Vec<Destination>>;
    /// The latest version of one configuration.
    fn configuration(&self, name: String) -> Reply<(u64, Box<Configuration>)>;
    /// Stores a configuration (a new version when it changed).
    fn save(&self, config: Configuration) -> Reply<ApplyResult>;
    fn push(
        &self,
        config: String,
        version: u64,
        targets: Targets,
        options: RolloutOptions,
        force: bool,
    ) -> BoxFuture<'static, Result<RolloutView, PushRefused>>;
    /// The configuration's rollout as it stands.
    fn rollout(&self, config: String) -> Reply<RolloutView>;
    /// A configuration's pipelines and each component's numbers over `period` seconds.
    fn throughput(&self, config: String, period: u64) -> Reply<ConfigurationThroughput>;
    /// One agent's pipelines and each component's numbers as of its latest report.
    fn agent_throughput(&self, id: AgentId) -> Reply<AgentThroughput>;
}

/// The fleet in this process.
#[derive(Clone)]
pub struct Local {
    pub registry: RegistryHandle,
    pub catalog: Arc<Catalog>,
    pub rollouts: Rollouts,
    /// The agents' own telemetry, for per-component numbers (none: not shown).
    pub telemetry: Option<TelemetryStore>,
}

impl Local {
    pub fn new(registry: RegistryHandle, catalog: Arc<Catalog>, rollouts: Rollouts) -> Local {
        Local {
            registry,
            catalog,
            rollouts,
            telemetry: None,
        }
    }

    /// With the telemetry store the per-component numbers come from.
    pub fn with_telemetry(mut self, telemetry: TelemetryStore) -> Local {
        self.telemetry = Some(telemetry);
        self
    }
}

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

async fn steer_local(rollouts: &Rollouts, name: &str, how: Steer) -> Result<RolloutView, String> {
    match how {
        Steer::Pause => rollouts.pause(name).await,
        Steer::Resume => rollouts.resume(name).await,
        Steer::Cancel => rollouts.cancel(name).await,
        Steer::Rollback => rollouts.rollback(name).await,
    }
    .map_err(text)
}

impl Services for Local {
    fn restart(&self, id: AgentId) -> Reply<()> {
        let registry = self.registry.clone();
        async move { registry.restart(id).await.map_err(text) }.boxed()
    }

    fn forget(&self, id: AgentId, name: String) -> Reply<()> {
        let (registry, rollouts) = (self.registry.clone(), self.rollouts.clone());
        async move {
            crate::rollout::forget_agent(&registry, &rollouts, id, &name)
                .await
                .map(|_| ())
                .map_err(text)
        }
        .boxed()
    }

    fn refused(&self, id: AgentId, message: String) {
        self.registry.publish_event(EventKind::Notice {
            agent: Some(id),
            message,
        });
    }

    fn history(&self, id: AgentId) -> Reply<Vec<ApplyAttempt>> {
        let catalog = self.catalog.clone();
        async move {
            catalog
                .store()
                .agent_history(id, KEPT_PER_AGENT)
                .await
                .map_err(text)
        }
        .boxed()
    }

    fn tap(&self, id: AgentId, request: TapRequest) -> Reply<TapAnswer> {
        let (registry, catalog) = (self.registry.clone(), self.catalog.clone());
        async move {
            let mut answer = registry.tap(id, request).await.map_err(text)?;
            let redactor = catalog.redactor();
            answer.mask_strings(&|text| match redactor.mask(text) {
                std::borrow::Cow::Owned(m) => Some(m),
                std::borrow::Cow::Borrowed(_) => None,
            });
            Ok(answer)
        }
        .boxed()
    }

    fn types(&self) -> Option<Arc<TypeRegistry>> {
        Some(self.catalog.types())
    }

    fn redactor(&self) -> Arc<Redactor> {
        self.catalog.redactor()
    }

    fn summaries(&self) -> Reply<Vec<ConfigSummary>> {
        let catalog = self.catalog.clone();
        async move {
            let configs = catalog
                .configurations()
                .await
                .map_err(|e| format!("cannot list configurations: {e}"))?;
            Ok(configs.iter().map(summary_of).collect())
        }
        .boxed()
    }

    fn rollouts(&self) -> Reply<Vec<RolloutView>> {
        let rollouts = self.rollouts.clone();
        async move {
            rollouts
                .list()
                .await
                .map_err(|e| format!("cannot list rollouts: {e}"))
        }
        .boxed()
    }

    fn versions(&self, name: String) -> Reply<Vec<VersionInfo>> {
        let catalog = self.catalog.clone();
        async move {
            let vs = catalog.versions(&name).await.map_err(text)?;
            Ok(vs.iter().map(version_of).collect())
        }
        .boxed()
    }

    fn diff(&self, name: String, from: u64, to: u64) -> Reply<Vec<DiffLine>> {
        let catalog = self.catalog.clone();
        async move { catalog.diff(&name, from, to).await.map_err(text) }.boxed()
    }

    fn steer(&self, name: String, how: Steer) -> Reply<RolloutView> {
        let rollouts = self.rollouts.clone();
        async move { steer_local(&rollouts, &name, how).await }.boxed()
    }

    fn configurations(&self) -> Reply<Vec<(String, u64, Configuration)>> {
        let catalog = self.catalog.clone();
        async move {
            let list = catalog.configurations().await.map_err(text)?;
            Ok(list
                .into_iter()
                .map(|s| (s.config.name().to_string(), s.version, s.config))
                .collect())
        }
        .boxed()
    }

    fn destinations(&self) -> Reply<Vec<Destination>> {
        let catalog = self.catalog.clone();
        async move {
            let docs = catalog
                .store()
                .list_kind(crate::catalog::DESTINATION)
                .await
                .map_err(text)?;
            Ok(docs
                .iter()
                .filter_map(|d| serde_json::from_str(&d.spec_json).ok())
                .collect())
        }
        .boxed()
    }

    fn configuration(&self, name: String) -> Reply<(u64, Box<Configuration>)> {
        let catalog = self.catalog.clone();
        async move {
            catalog
                .configuration(&name, None)
                .await
                .map(|s| (s.version, Box::new(s.config)))
                .map_err(text)
        }
        .boxed()
    }

    fn save(&self, config: Configuration) -> Reply<ApplyResult> {
        let catalog = self.catalog.clone();
        async move { Ok(catalog.apply(Resource::Configuration(config)).await) }.boxed()
    }

    fn push(
        &self,
        config: String,
        version: u64,
        targets: Targets,
        options: RolloutOptions,
        force: bool,
    ) -> BoxFuture<'static, Result<RolloutView, PushRefused>> {
        let rollouts = self.rollouts.clone();
        async move {
            match rollouts
                .push(&config, Some(version), targets, options, force)
                .await
            {
                Ok(view) => Ok(view),
                Err(RolloutCmdError::MissingComponents(check)) => {
                    let text = check.to_string();
                    let first = text.lines().next().unwrap_or_default();
                    Err(PushRefused::Lacking(
                        first.trim_end_matches(':').to_string(),
                    ))
                }
                Err(e) => Err(PushRefused::Other(e.to_string())),
            }
        }
        .boxed()
    }

    fn rollout(&self, config: String) -> Reply<RolloutView> {
        let rollouts = self.rollouts.clone();
        async move { rollouts.status(&config).await.map_err(text) }.boxed()
    }

    fn throughput(&self, config: String, period: u64) -> Reply<ConfigurationThroughput> {
        let (catalog, fleet) = (self.catalog.clone(), self.registry.snapshot());
        let telemetry = self.telemetry.clone();
        async move {
            let telemetry = telemetry.ok_or("this UI has no access to the agents' telemetry")?;
            let snapshot = fleet.borrow().clone();
            crate::throughput::configuration(&catalog, &snapshot, &telemetry, &config, period, None)
                .await
                .map_err(text)
        }
        .boxed()
    }

    fn agent_throughput(&self, id: AgentId) -> Reply<AgentThroughput> {
        let (catalog, fleet) = (self.catalog.clone(), self.registry.snapshot());
        let telemetry = self.telemetry.clone();
        async move {
            let telemetry = telemetry.ok_or("this UI has no access to the agents' telemetry")?;
            let agent = fleet
                .borrow()
                .get(&id)
                .cloned()
                .ok_or("the agent is no longer in the fleet")?;
            Ok(crate::throughput::agent(&catalog, &agent, &telemetry).await)
        }
        .boxed()
    }
}
