//! Wires the server together: the fleet registry, the agent listener (OpAMP + health) and,
//! as they arrive, the OTLP receiver, store and API. The TUI, headless mode, `--demo` and
//! tests all start the same engine through [`Runtime::start`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::fleet::registry::{self, RegistryConfig, RegistryHandle};
use crate::opamp::codec::server_caps;
use crate::opamp::server::{self, AgentListener, ListenerConfig};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen for agents on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server. Dropping it does not stop it; call [`Runtime::stop`].
pub struct Runtime {
    pub registry: RegistryHandle,
    /// Where agents connect (the real port when the settings asked for port 0).
    pub agent_addr: SocketAddr,
    pub shutdown: CancellationToken,
    /// Base URL agents reach us at (the settings' public URL, or one built from the
    /// bound address when none was given or it named port 0).
    pub public_url: String,
    listener: AgentListener,
    server: JoinHandle<std::io::Result<()>>,
}

/// What we truthfully offer at this stage: we take status and effective configs, and we
/// offer connection settings (heartbeat interval, own-telemetry destinations).
pub const SERVER_CAPABILITIES: u64 = server_caps::ACCEPTS_STATUS
    | server_caps::ACCEPTS_EFFECTIVE_CONFIG
    | server_caps::OFFERS_CONNECTION_SETTINGS;

impl Runtime {
    pub async fn start(settings: &Settings) -> Result<Runtime, StartError> {
        let shutdown = CancellationToken::new();
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
        let registry = registry::spawn(
            RegistryConfig {
                heartbeat_interval: settings.heartbeat_interval,
                http_agent_timeout: settings.http_agent_timeout,
                capabilities: SERVER_CAPABILITIES,
                agent_auth_headers: vec![(
                    "Authorization".to_string(),
                    format!("Secret-Key {}", settings.secret_key),
                )],
                ..RegistryConfig::default()
            },
            shutdown.child_token(),
        );
        let listener = AgentListener::new(
            registry.clone(),
            ListenerConfig {
                secret: settings.secret_key.as_str().into(),
                max_message_size: settings.max_message_size,
                max_agents: settings.max_agents,
                ..ListenerConfig::default()
            },
            shutdown.clone(),
        );
        let public_url = if settings.public_url.is_empty() || settings.public_url.ends_with(":0") {
            let host = if agent_addr.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], agent_addr.port()))
            } else {
                agent_addr
            };
            format!("http://{host}")
        } else {
            settings.public_url.clone()
        };
        let app = listener.router();
        let server = tokio::spawn(server::run(tcp, app, shutdown.clone()));
        Ok(Runtime {
            registry,
            agent_addr,
            shutdown,
            public_url,
            listener,
            server,
        })
    }

    /// The OpAMP URL for agents on this machine, e.g. `ws://127.0.0.1:4320/v1/opamp`.
    pub fn opamp_url(&self, websocket: bool) -> String {
        let scheme = if websocket { "ws" } else { "http" };
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
        self.registry.shutdown().await;
        match tokio::time::timeout(Duration::from_secs(5), self.server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "agent listener ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "agent listener task failed"),
            _ => {}
        }
    }
}
