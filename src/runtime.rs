//! Wires the server together: the fleet registry, the agent listener (OpAMP + health) and,
//! as they arrive, the OTLP receiver, store and API. The TUI, headless mode, `--demo` and
//! tests all start the same engine through [`Runtime::start`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::api;
use crate::catalog::{Catalog, CatalogError};
use crate::fleet::AgentId;
use crate::fleet::events::{EventKind, FleetEvent, History};
use crate::fleet::outbound::TelemetryDestination;
use crate::fleet::registry::{self, KnownAgent, OwnTelemetryOffer, RegistryConfig, RegistryHandle};
use crate::fleet::telemetry::TelemetryStore;
use crate::listen::admission::{self, Admission, AdmissionConfig};
use crate::listen::tls::{Acceptor, TlsError};
use crate::opamp::codec::server_caps;
use crate::opamp::server::{self, AgentListener, ListenerConfig};
use crate::otlp::{self, OtlpState, OtlpStats};
use crate::rollout::Rollouts;
use crate::rollout::runner::{self as rollout_runner, RunnerConfig};
use crate::settings::Settings;
use crate::store::{NewEvent, Store, StoreError, WriteBehind, WriteBehindOptions};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen for agents on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen for the management API on {addr}: {source}")]
    ApiBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("stored secrets cannot be sealed: {0}")]
    Secrets(#[from] crate::sealing::SealError),
}

/// A running server. Dropping it does not stop it; call [`Runtime::stop`].
pub struct Runtime {
    pub registry: RegistryHandle,
    pub catalog: Arc<Catalog>,
    pub rollouts: Rollouts,
    pub store: Store,
    /// The agents' own telemetry as rates per agent (sparklines, API).
    pub telemetry: TelemetryStore,
    pub otlp_stats: Arc<OtlpStats>,
    write_behind: WriteBehind,
    /// Where agents connect (the real port when the settings asked for port 0).
    pub agent_addr: SocketAddr,
    /// Where the management API listens (the real port when the settings asked for port 0).
    pub api_addr: SocketAddr,
    pub shutdown: CancellationToken,
    /// Base URL agents reach us at (the settings' public URL, or one built from the
    /// bound address when none was given or it named port 0).
    pub public_url: String,
    /// The TLS acceptor both listeners use, when the settings name a certificate.
    pub tls: Option<Acceptor>,
    listener: AgentListener,
    server: JoinHandle<std::io::Result<()>>,
    api_server: JoinHandle<std::io::Result<()>>,
}

/// What we truthfully offer: we take status and effective configs, deliver remote
/// configuration, and offer connection settings (heartbeat interval, own telemetry).
pub const SERVER_CAPABILITIES: u64 = server_caps::ACCEPTS_STATUS
    | server_caps::ACCEPTS_EFFECTIVE_CONFIG
    | server_caps::OFFERS_REMOTE_CONFIG
    | server_caps::OFFERS_CONNECTION_SETTINGS;

impl Runtime {
    pub async fn start(settings: &Settings) -> Result<Runtime, StartError> {
        let shutdown = CancellationToken::new();
        // Bad TLS files are found before anything is opened or bound.
        let tls = settings
            .tls
            .as_ref()
            .map(Acceptor::from_files)
            .transpose()?;
        let store = Store::open_selected(
            settings.store.as_deref(),
            &settings.data_dir,
            Default::default(),
        )
        .await?;
        // Secret parameters are sealed at rest with keys beside the agent secret (replicas
        // on one database share the file).
        let sealer = crate::sealing::Sealer::load_or_create(&settings.data_dir)?;
        let store = store.with_sealer(Arc::new(sealer));
        let write_behind = WriteBehind::spawn(store.clone(), WriteBehindOptions::default());
        let catalog = Arc::new(Catalog::open(store.clone()).await?);
        match crate::signing::ConfigSigner::load_or_create(&settings.data_dir) {
            Ok(signer) => catalog.set_signer(Arc::new(signer)),
            // Without its key the server still serves agents that do not ask for
            // signatures; supervisors that do will refuse what it sends, and say why.
            Err(e) => tracing::error!("configurations will not be signed: {e}"),
        }
        let known = known_agents(&store, &catalog).await?;
        let tcp = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: settings.listen,
                source,
            })?;
        let agent_addr = tcp.local_addr().map_err(|source| StartError::Bind {
            addr: settings.listen,
            source,
        })?;
        let api_tcp = TcpListener::bind(settings.api_listen)
            .await
            .map_err(|source| StartError::ApiBind {
                addr: settings.api_listen,
                source,
            })?;
        let api_addr = api_tcp.local_addr().map_err(|source| StartError::ApiBind {
            addr: settings.api_listen,
            source,
        })?;
        let public_url = if settings.public_url.is_empty() || settings.public_url.ends_with(":0") {
            let host = if agent_addr.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], agent_addr.port()))
            } else {
                agent_addr
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{host}")
        } else {
            settings.public_url.clone()
        };
        let telemetry = TelemetryStore::new();
        let own_metrics: OwnTelemetryOffer = {
            let secret = settings.secret_key.clone();
            let public_url = public_url.clone();
            Arc::new(move |id: &AgentId| {
                let offer =
                    otlp::offer::TelemetryOffer::own_metrics(&public_url, secret.as_bytes(), id);
                Some(TelemetryDestination {
                    endpoint: offer.endpoint,
                    headers: offer.headers,
                })
            })
        };
        // The fleet secret enrolls agents; each then gets a credential of its own, kept
        // (as a hash) in the store every replica shares.
        let agent_auth = Arc::new(crate::opamp::credentials::AgentAuth::with_credentials(
            settings.secret_key.as_str(),
            Arc::new(store.clone()),
        ));
        if let Err(e) = agent_auth.reload_revoked().await {
            tracing::warn!("cannot read the revoked agents: {e}");
        }
        let registry = registry::spawn_with(
            RegistryConfig {
                heartbeat_interval: settings.heartbeat_interval,
                http_agent_timeout: settings.http_agent_timeout,
                stall_timeout: settings.stall_timeout,
                max_agents: settings.max_agents,
                capabilities: SERVER_CAPABILITIES,
                persist: Some(Arc::new(write_behind.clone())),
                history: Some(keep_history(write_behind.clone())),
                own_metrics: Some(own_metrics),
                ..RegistryConfig::default()
            },
            known,
            shutdown.child_token(),
        );
        let rollouts = rollout_runner::spawn(
            registry.clone(),
            telemetry.clone(),
            catalog.clone(),
            RunnerConfig::default(),
            shutdown.child_token(),
        )
        .await?;
        crate::rollout::selectors::spawn(registry.clone(), catalog.clone(), shutdown.child_token());
        crate::throughput::spawn(
            telemetry.clone(),
            registry.snapshot(),
            catalog.clone(),
            shutdown.child_token(),
        );
        // Thousands of agents need thousands of descriptors; the connection budget is
        // worked out from whatever limit we end up with.
        let file_limit = admission::raise_open_file_limit();
        let admission = Admission::new(AdmissionConfig {
            max_connections: admission::connection_budget(file_limit),
            max_new_agents: settings.max_new_agents,
            ..AdmissionConfig::default()
        });
        let events = registry.clone();
        admission.set_notifier(Arc::new(move |message| {
            events.publish_event(EventKind::Notice {
                agent: None,
                message,
            })
        }));
        tracing::debug!(
            open_file_limit = file_limit.unwrap_or(0),
            max_connections = admission.config().max_connections,
            "agent connection budget"
        );
        let listener = AgentListener::new(
            registry.clone(),
            ListenerConfig {
                admission: admission.clone(),
                secret: settings.secret_key.as_str().into(),
                credentials: Some(agent_auth.clone()),
                max_message_size: settings.max_message_size,
                max_agents: settings.max_agents,
                tls: tls.is_some(),
                ..ListenerConfig::default()
            },
        );
        let mut otlp_state = OtlpState::new(
            settings.secret_key.as_bytes(),
            registry.snapshot(),
            telemetry.clone(),
        );
        let known = admission.clone();
        otlp_state.on_authenticated = Some(Arc::new(move |remote| known.authenticated(remote)));
        let revoked = agent_auth.clone();
        otlp_state.revoked = Some(Arc::new(move |id| revoked.is_revoked(id)));
        let otlp_stats = otlp_state.stats.clone();
        let app = listener.router().merge(otlp::router(otlp_state));
        let server = tokio::spawn(server::run(
            tcp,
            admission,
            tls.clone(),
            app,
            shutdown.clone(),
        ));
        let api_admission = crate::listen::tls::unlimited();
        let tokens = crate::access::Tokens::load(store.clone(), &settings.api_token).await?;
        crate::replica::follow(
            &store,
            crate::replica::Followers {
                catalog: catalog.clone(),
                tokens: tokens.clone(),
                registry: registry.clone(),
                agent_auth: agent_auth.clone(),
            },
            shutdown.child_token(),
        );
        let api_app = api::router(api::ApiState {
            registry: registry.clone(),
            catalog: catalog.clone(),
            rollouts: rollouts.clone(),
            store: store.clone(),
            telemetry: telemetry.clone(),
            tokens,
            admission: api_admission.clone(),
            write_behind: Some(write_behind.clone()),
            shutdown: shutdown.child_token(),
            agent_auth: agent_auth.clone(),
        });
        let api_server = tokio::spawn(crate::listen::tls::serve(
            api_tcp,
            tls.clone(),
            api_admission,
            api_app,
            shutdown.clone(),
        ));
        Ok(Runtime {
            registry,
            catalog,
            rollouts,
            store,
            telemetry,
            otlp_stats,
            write_behind,
            agent_addr,
            api_addr,
            shutdown,
            public_url,
            tls,
            listener,
            server,
            api_server,
        })
    }

    /// The agent listener's admission figures (connections held and refused, newcomers
    /// deferred).
    pub fn admission(&self) -> crate::listen::admission::AdmissionStats {
        self.listener.admission()
    }

    /// The management API's base URL on this machine, e.g. `http://127.0.0.1:4321/api/v1`
    /// (`https://` when serving TLS).
    pub fn api_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let addr = if self.api_addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], self.api_addr.port()))
        } else {
            self.api_addr
        };
        format!("{scheme}://{addr}/api/v1")
    }

    /// The OpAMP URL for agents on this machine, e.g. `ws://127.0.0.1:4320/v1/opamp`
    /// (`wss://`/`https://` when serving TLS).
    pub fn opamp_url(&self, websocket: bool) -> String {
        let scheme = match (websocket, self.tls.is_some()) {
            (true, false) => "ws",
            (true, true) => "wss",
            (false, false) => "http",
            (false, true) => "https",
        };
        let addr = if self.agent_addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], self.agent_addr.port()))
        } else {
            self.agent_addr
        };
        format!("{scheme}://{addr}{}", server::OPAMP_PATH)
    }

    /// Stops cleanly: WebSocket agents get a close frame, the registry marks everyone
    /// disconnected and publishes a last snapshot.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.listener.wait_sessions(Duration::from_secs(5)).await;
        // Every step is bounded: a stop that hangs is worse than one that says what it
        // could not finish (SIGTERM must end the process).
        if tokio::time::timeout(Duration::from_secs(5), self.registry.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("the fleet registry did not stop within 5 s; stopping anyway");
        }
        // Let the history task see the last events, then write everything down.
        tokio::time::sleep(Duration::from_millis(20)).await;
        match tokio::time::timeout(Duration::from_secs(10), self.write_behind.close()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not write the last agent records and events")
            }
            Err(_) => tracing::error!(
                "the last agent records and events were not written within 10 s; stopping anyway"
            ),
        }
        match tokio::time::timeout(Duration::from_secs(5), self.server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "agent listener ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "agent listener task failed"),
            _ => {}
        }
        match tokio::time::timeout(Duration::from_secs(5), self.api_server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "API listener ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "API listener task failed"),
            _ => {}
        }
    }
}

/// Agents from earlier runs, with the offers for their assigned configurations.
async fn known_agents(store: &Store, catalog: &Catalog) -> Result<Vec<KnownAgent>, StartError> {
    let mut out = Vec::new();
    for record in store.load_agents().await? {
        let offer = match &record.assigned {
            Some(c) => {
                let cref = c.clone();
                match catalog.offer(&cref).await {
                    Ok(o) => Some(o),
                    Err(e) => {
                        tracing::warn!(agent = %record.id, config = %cref, error = %e,
                            "assigned configuration is gone; the agent keeps what it runs");
                        None
                    }
                }
            }
            None => None,
        };
        out.push(KnownAgent { record, offer });
    }
    Ok(out)
}

/// Hands every fleet event to the stored history (written behind, in batches). Only the
/// entry is built here, on the sender's thread; the write happens in the next batch.
fn keep_history(write_behind: WriteBehind) -> History {
    Arc::new(move |ev: &FleetEvent| write_behind.event(history_entry(ev)))
}

fn history_entry(ev: &FleetEvent) -> NewEvent {
    let (kind, agent) = match &ev.kind {
        EventKind::AgentConnected { id, .. } => ("agent_connected", Some(*id)),
        EventKind::AgentDisconnected { id, .. } => ("agent_disconnected", Some(*id)),
        EventKind::HealthChanged { id, .. } => ("health_changed", Some(*id)),
        EventKind::RemoteConfigStatus { id, .. } => ("remote_config_status", Some(*id)),
        EventKind::ConfigStatus { id, .. } => ("config_status", Some(*id)),
        EventKind::Rollout { .. } => ("rollout", None),
        EventKind::Notice { agent, .. } => ("notice", *agent),
        EventKind::Audit { .. } => ("audit", None),
        EventKind::DuplicateInstanceUid { id, .. } => ("duplicate_instance_uid", Some(*id)),
    };
    NewEvent {
        at: ev.at,
        kind: kind.to_string(),
        agent,
        payload_json: serde_json::to_string(&ev.kind).unwrap_or_default(),
    }
}
