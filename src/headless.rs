//! Headless mode: the same engine as the TUI, reporting through `tracing` instead of a
//! screen — one line per agent connect/disconnect (the first 50 each second; the rest of that
//! second as a count, so a restart's 19,000 reconnects do not flood the log), per health
//! change, and a periodic summary.
//! Configuration statuses are many (one per agent per push): each one that went well is
//! logged at debug, failures at warn, and at info a count per configuration once a second.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::TryRecvError;

use crate::fleet::delivery::{ApplyState, ConfigRef};
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
        store = %rt.store.location(),
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
/// `events` is subscribed before the banner is logged, so nothing that happens once
/// someone has read the banner (an agent connecting, a limit reached) goes unlogged.
pub async fn log_until_shutdown(
    rt: &Runtime,
    mut events: tokio::sync::broadcast::Receiver<crate::fleet::FleetEvent>,
    summary_every: Duration,
) {
    let snapshot = rt.registry.snapshot();
    let mut summary = tokio::time::interval(summary_every);
    summary.tick().await;
    let mut statuses = StatusTally::default();
    let mut comings = ComingsAndGoings::default();
    let mut tally_every = tokio::time::interval(Duration::from_secs(1));
    tally_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Events are read in batches, not as each is sent: this loop runs on the thread that
    // waits for the server, and waking that thread for each of the 10,000 events of a push
    // costs the server a system call each.
    let mut read = tokio::time::interval(READ_EVENTS_EVERY);
    read.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = read.tick() => if !read_events(&mut events, &mut statuses, &mut comings) {
                return;
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
            _ = tally_every.tick() => {
                read_events(&mut events, &mut statuses, &mut comings);
                statuses.flush();
                comings.flush();
            }
            _ = rt.shutdown.cancelled() => {
                read_events(&mut events, &mut statuses, &mut comings);
                statuses.flush();
                comings.flush();
                return;
            }
        }
    }
}

/// Logs and counts the events waiting; false once the registry is gone.
fn read_events(
    events: &mut Receiver<crate::fleet::FleetEvent>,
    statuses: &mut StatusTally,
    comings: &mut ComingsAndGoings,
) -> bool {
    loop {
        match events.try_recv() {
            Ok(ev) => {
                statuses.count(&ev.kind);
                if comings.one_by_one(&ev.kind) {
                    log_event(&ev.kind);
                }
            }
            Err(TryRecvError::Lagged(n)) => tracing::warn!(skipped = n, "event log fell behind"),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Closed) => return false,
        }
    }
}

/// How late an event may be logged. A push to 10,000 agents sends 10,000 events in about
/// a second, against a buffer of 4,096.
const READ_EVENTS_EVERY: Duration = Duration::from_millis(50);

/// Connects and disconnects listed one by one in a second, before the rest of that second's
/// are only counted: a restart brings thousands back at once.
const ONE_BY_ONE_PER_SECOND: usize = 50;

/// Agents coming and going: the first ones each second get a line each, the rest a count.
#[derive(Debug, Default, PartialEq, Eq)]
struct ComingsAndGoings {
    listed: usize,
    more_connected: usize,
    more_disconnected: usize,
}

impl ComingsAndGoings {
    /// Whether this event gets its own line (anything but a connect or disconnect does).
    fn one_by_one(&mut self, kind: &EventKind) -> bool {
        let connected = match kind {
            EventKind::AgentConnected { .. } => true,
            EventKind::AgentDisconnected { .. } => false,
            _ => return true,
        };
        if self.listed < ONE_BY_ONE_PER_SECOND {
            self.listed += 1;
            return true;
        }
        if connected {
            self.more_connected += 1;
        } else {
            self.more_disconnected += 1;
        }
        false
    }

    fn flush(&mut self) {
        let ComingsAndGoings {
            more_connected,
            more_disconnected,
            ..
        } = std::mem::take(self);
        if more_connected + more_disconnected > 0 {
            tracing::info!(
                more_connected,
                more_disconnected,
                "more agents connected and disconnected in the last second than are listed"
            );
        }
    }
}

/// Configuration statuses seen since the last flush, per configuration version.
#[derive(Debug, Default, PartialEq, Eq)]
struct StatusTally(BTreeMap<String, StateCounts>);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct StateCounts {
    applied: usize,
    failed: usize,
    stalled: usize,
}

impl StatusTally {
    fn count(&mut self, kind: &EventKind) {
        let EventKind::ConfigStatus { config, state, .. } = kind else {
            return;
        };
        let c = self.0.entry(config_label(config)).or_default();
        match state {
            ApplyState::Applied => c.applied += 1,
            ApplyState::Failed => c.failed += 1,
            ApplyState::Stalled => c.stalled += 1,
            ApplyState::Pending | ApplyState::Sent | ApplyState::Applying => {}
        }
    }

    /// Logs one line per configuration that agents reported on, then starts over.
    fn flush(&mut self) {
        for (config, c) in std::mem::take(&mut self.0) {
            if c != StateCounts::default() {
                tracing::info!(%config, applied = c.applied, failed = c.failed, stalled = c.stalled,
                    "configuration statuses in the last second");
            }
        }
    }
}

fn config_label(c: &ConfigRef) -> String {
    c.to_string()
}

/// A status that went well is one of thousands after a push: debug. Anything else: warn.
fn status_is_routine(state: ApplyState, error: &str) -> bool {
    error.is_empty() && matches!(state, ApplyState::Applied | ApplyState::Applying)
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
            let routine = *state != crate::fleet::agent::RemoteConfigState::Failed
                && error_message.is_empty();
            if routine {
                tracing::debug!(agent = %id, %name, %state, "remote config status")
            } else {
                tracing::warn!(agent = %id, %name, %state, error = %error_message, "remote config status")
            }
        }
        EventKind::ConfigStatus {
            id,
            name,
            config,
            state,
            error,
        } => {
            if status_is_routine(*state, error) {
                tracing::debug!(agent = %id, %name, %config, %state, "configuration status")
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
        EventKind::Audit {
            actor,
            action,
            detail,
        } => {
            tracing::info!(%actor, "audit: {action}{}{detail}", if detail.is_empty() { "" } else { ": " })
        }
        EventKind::DuplicateInstanceUid {
            id,
            remote_addr,
            kept_addr,
            new_uid,
        } => {
            let addr =
                |a: &Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
            tracing::warn!(agent = %id, remote = %addr(remote_addr), kept = %addr(kept_addr),
                %new_uid, "duplicate instance_uid: the newcomer was assigned a new uid")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::AgentId;

    fn status(config: &str, state: ApplyState) -> EventKind {
        EventKind::ConfigStatus {
            id: AgentId([1; 16]),
            name: "a".into(),
            config: ConfigRef {
                name: config.into(),
                version: 2,
            },
            state,
            error: String::new(),
        }
    }

    #[test]
    fn the_first_comings_and_goings_each_second_are_listed_the_rest_counted() {
        let came = EventKind::AgentConnected {
            id: AgentId([1; 16]),
            name: "a".into(),
            transport: crate::fleet::Transport::WebSocket,
            remote_addr: None,
            new: false,
        };
        let went = EventKind::AgentDisconnected {
            id: AgentId([1; 16]),
            name: "a".into(),
            reason: crate::fleet::events::DisconnectReason::ConnectionClosed,
        };
        let mut c = ComingsAndGoings::default();
        let listed = (0..ONE_BY_ONE_PER_SECOND + 30)
            .filter(|_| c.one_by_one(&came))
            .count();
        assert_eq!(listed, ONE_BY_ONE_PER_SECOND);
        assert!(!c.one_by_one(&went));
        assert!(
            c.one_by_one(&status("web", ApplyState::Failed)),
            "other events always"
        );
        assert_eq!((c.more_connected, c.more_disconnected), (30, 1));
        c.flush();
        assert_eq!(c, ComingsAndGoings::default());
        assert!(c.one_by_one(&came), "a new second lists again");
    }

    #[test]
    fn statuses_are_counted_per_configuration_until_flushed() {
        let mut t = StatusTally::default();
        for _ in 0..3 {
            t.count(&status("web", ApplyState::Applied));
        }
        t.count(&status("web", ApplyState::Failed));
        t.count(&status("edge", ApplyState::Stalled));
        t.count(&EventKind::Notice {
            agent: None,
            message: "not a status".into(),
        });
        let web = t.0.get(&config_label(&ConfigRef {
            name: "web".into(),
            version: 2,
        }));
        assert_eq!(
            web,
            Some(&StateCounts {
                applied: 3,
                failed: 1,
                stalled: 0
            })
        );
        assert_eq!(t.0.len(), 2);
        t.flush();
        assert_eq!(t, StatusTally::default(), "a flush starts over");
    }

    #[test]
    fn only_statuses_that_went_well_are_routine() {
        assert!(status_is_routine(ApplyState::Applied, ""));
        assert!(!status_is_routine(ApplyState::Failed, "bad exporter"));
        assert!(!status_is_routine(ApplyState::Stalled, ""));
        assert!(!status_is_routine(
            ApplyState::Applied,
            "warning from the agent"
        ));
    }
}
