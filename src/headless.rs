//! Headless mode: the same engine as the TUI, reporting through `tracing` instead of a
//! screen — one line per agent connect/disconnect/health change and a periodic summary.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::fleet::events::EventKind;
use crate::runtime::Runtime;
use crate::settings::Settings;

/// Logs the startup banner.
pub fn banner(settings: &Settings, rt: &Runtime) {
    tracing::info!(
        listen = %rt.agent_addr,
        opamp_ws = %rt.opamp_url(true),
        opamp_http = %rt.opamp_url(false),
        public_url = %rt.public_url,
        data_dir = %settings.data_dir.display(),
        "fleetdeck {} is listening for agents", env!("CARGO_PKG_VERSION")
    );
    tracing::info!(
        "agent secret: {} (agents send 'Authorization: Secret-Key <secret>')",
        settings.secret_source
    );
    tracing::info!(
        api = %rt.api_url(),
        "management API; token: {} (clients send 'Authorization: Bearer <token>')",
        settings.api_token_source
    );
}

/// Logs fleet events and a summary every `summary_every` until the runtime shuts down.
pub async fn log_until_shutdown(rt: &Runtime, summary_every: Duration) {
    let mut events = rt.registry.subscribe();
    let snapshot = rt.registry.snapshot();
    let mut summary = tokio::time::interval(summary_every);
    summary.tick().await;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => log_event(&ev.kind),
                Err(RecvError::Lagged(n)) => tracing::warn!(skipped = n, "event log fell behind"),
                Err(RecvError::Closed) => return,
            },
            _ = summary.tick() => {
                let s = snapshot.borrow().clone();
                let t = &s.totals;
                let a = rt.admission();
                tracing::info!(
                    agents = t.agents, connected = t.connected, websocket = t.websocket,
                    http = t.http, unhealthy = t.unhealthy, config_failed = t.config_failed,
                    open_connections = a.open_connections,
                    refused_connections = a.refused_connections,
                    deferred_agents = a.deferred_agents,
                    "fleet summary"
                );
            }
            _ = rt.shutdown.cancelled() => return,
        }
    }
}

fn log_event(kind: &EventKind) {
    match kind {
        EventKind::AgentConnected {
            id,
            name,
            transport,
            remote_addr,
            new,
        } => {
            let addr = remote_addr.map(|a| a.to_string()).unwrap_or_default();
            tracing::info!(agent = %id, %name, %transport, remote = %addr, new, "agent connected")
        }
        EventKind::AgentDisconnected { id, name, reason } => {
            tracing::info!(agent = %id, %name, %reason, "agent disconnected")
        }
        EventKind::HealthChanged {
            id,
            name,
            healthy,
            last_error,
        } => {
            if *healthy {
                tracing::info!(agent = %id, %name, "agent healthy")
            } else {
                tracing::warn!(agent = %id, %name, error = %last_error, "agent unhealthy")
            }
        }
        EventKind::RemoteConfigStatus {
            id,
            name,
            state,
            error_message,
        } => {
            tracing::info!(agent = %id, %name, %state, error = %error_message, "remote config status")
        }
        EventKind::ConfigStatus {
            id,
            name,
            config,
            state,
            error,
        } => {
            if error.is_empty() {
                tracing::info!(agent = %id, %name, %config, %state, "configuration status")
            } else {
                tracing::warn!(agent = %id, %name, %config, %state, %error, "configuration status")
            }
        }
        EventKind::Rollout { config, message } => {
            tracing::info!(%config, "rollout: {message}")
        }
        EventKind::Notice { agent, message } => match agent {
            Some(id) => tracing::warn!(agent = %id, "{message}"),
            None => tracing::warn!("{message}"),
        },
        EventKind::DuplicateInstanceUid { id, remote_addr } => {
            let addr = remote_addr.map(|a| a.to_string()).unwrap_or_default();
            tracing::warn!(agent = %id, remote = %addr, "duplicate instance_uid: assigned a new uid")
        }
    }
}
