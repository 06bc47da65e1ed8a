//! The supervisor as a [`Driver`] of the shared OpAMP client: it hands what the server
//! sends to the keeper and reports the keeper's [`View`] back.

use std::collections::HashMap;
use std::future::Future;

use tokio::sync::{mpsc, watch};

use super::keeper::{COLLECTOR_FILE, Command, OWN_FILE, View};
use super::state::StateDir;
use crate::client::core::{COLLECTOR_CAPABILITIES, kv};
use crate::client::{
    ClientCore, Driver, Managed, MetricsTarget, Parts, RemoteOffer, RemoteStatus, Restarted,
};
use crate::fleet::agent::{AgentId, Capabilities};
use crate::opamp::proto;

/// The non-identifying attribute that carries `--name`.
pub const NAME_ATTRIBUTE: &str = "fleetdeck.agent.name";

/// Who the agent says it is.
#[derive(Debug, Clone)]
pub struct About {
    /// The distribution (`buildinfo.command` of `otelcol components`).
    pub service_name: String,
    pub service_version: String,
    pub host_name: String,
    pub os_type: String,
    pub os_description: String,
    pub arch: String,
    pub name: Option<String>,
    pub labels: Vec<(String, String)>,
}

pub struct SupervisorAgent {
    cmds: mpsc::Sender<Command>,
    view: watch::Receiver<View>,
    /// The view as last reported.
    shown: View,
    about: About,
    components: Option<proto::AvailableComponents>,
    state: StateDir,
    trust: Trust,
    /// Where taps are answered from (`None`: this agent is not tapped).
    tap: Option<std::sync::Arc<super::tap::TapHub>>,
}

/// Which configurations the supervisor runs: signed by `key` (or, without one, by the key
/// pinned in the state directory, or the first key it sees), and unsigned ones only when
/// allowed.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub key: Option<String>,
    pub allow_unsigned: bool,
}

/// The state directory's file holding the key pinned on first use, or followed through a
/// rotation the trusted key endorsed.
pub const PINNED_KEY_FILE: &str = "trusted-key";
/// Beside it after a rotation followed from a `--trust-key` key: that key, so the pinned
/// successor is trusted only while the flag still names the key it descends from.
pub const PINNED_ROOT_FILE: &str = "trusted-key.root";

impl SupervisorAgent {
    pub fn new(
        cmds: mpsc::Sender<Command>,
        view: watch::Receiver<View>,
        about: About,
        components: Option<proto::AvailableComponents>,
        state: StateDir,
    ) -> Self {
        let shown = view.borrow().clone();
        SupervisorAgent {
            cmds,
            view,
            shown,
            about,
            components,
            state,
            trust: Trust::default(),
            tap: None,
        }
    }

    /// Answers taps from `hub`, and declares io.fleetdeck.tap.
    pub fn with_tap(mut self, hub: Option<std::sync::Arc<super::tap::TapHub>>) -> Self {
        self.tap = hub;
        self
    }

    pub fn with_trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self
    }

    /// Whether the offer may run: its signature checked against the trusted key. Returns
    /// why not, for the FAILED status.
    fn refusal(&self, offer: &RemoteOffer, body: &[u8]) -> Option<String> {
        use crate::signing::{self, Refusal};
        if offer.signature.is_none() && self.trust.allow_unsigned {
            tracing::warn!("running an unsigned configuration (--allow-unsigned)");
            return None;
        }
        let read = |file: &str| {
            self.state
                .read(file)
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        };
        let pinned = read(PINNED_KEY_FILE);
        let trusted = match &self.trust.key {
            // A key the flag's key endorsed (or its successors) stays trusted over restarts.
            Some(flag) => match pinned {
                Some(p) if read(PINNED_ROOT_FILE).as_deref() == Some(flag.as_str()) => p,
                _ => flag.clone(),
            },
            None => match pinned {
                Some(p) => p,
                None => {
                    let Some(sig) = &offer.signature else {
                        return Some(Refusal::Unsigned.to_string());
                    };
                    // Trust on first use: the key of the first signed configuration, kept.
                    let key = match signing::parse_public_key(&sig.key) {
                        Ok(k) => k,
                        Err(e) => return Some(Refusal::Malformed(e).to_string()),
                    };
                    tracing::warn!(key = %key,
                        "no --trust-key: pinning the key of the first signed configuration; check it against `fleetdeck key show` on the server");
                    if let Err(e) = self.state.write(PINNED_KEY_FILE, key.as_bytes(), 0o600) {
                        return Some(format!("cannot keep the pinned key: {e}"));
                    }
                    key
                }
            },
        };
        let refused = match signing::verify(body, &offer.hash, offer.signature.as_ref(), &trusted) {
            Ok(()) => return None,
            Err(r) => r,
        };
        // The server rotated its key: follow it when the key we trust endorsed the new one.
        let next = match (&refused, offer.signature.as_ref()) {
            (Refusal::OtherKey { .. }, Some(sig)) => signing::endorsed_key(sig, &trusted),
            _ => None,
        };
        let Some(next) = next else {
            return Some(refused.to_string());
        };
        if let Err(r) = signing::verify(body, &offer.hash, offer.signature.as_ref(), &next) {
            return Some(r.to_string());
        }
        let kept = self
            .state
            .write(PINNED_KEY_FILE, next.as_bytes(), 0o600)
            .and_then(|()| match &self.trust.key {
                Some(flag) => self.state.write(PINNED_ROOT_FILE, flag.as_bytes(), 0o600),
                None => Ok(()),
            });
        if let Err(e) = kept {
            return Some(format!("cannot keep the rotated key {next}: {e}"));
        }
        tracing::warn!(from = %trusted, to = %next,
            "the server rotated its signing key; the new key, endorsed by the one trusted, is trusted from now on");
        None
    }

    fn send(&self, core: &mut ClientCore, cmd: Command, hash: Option<&[u8]>) {
        if self.cmds.try_send(cmd).is_err()
            && let Some(hash) = hash
        {
            core.set_remote(
                hash,
                RemoteStatus::Failed,
                "the supervisor is busy or stopping; send the configuration again",
            );
        }
    }
}

impl Managed for SupervisorAgent {
    fn custom_capabilities(&self) -> Vec<String> {
        let mut caps = vec![crate::signing::CAPABILITY.to_string()];
        if self.tap.is_some() {
            caps.push(crate::fleet::tap::CAPABILITY.to_string());
        }
        caps
    }

    fn capabilities(&self) -> u64 {
        // AcceptsOpAMPConnectionSettings for its own credential (kept in the state
        // directory); the endpoint stays the one it was started with.
        let mut caps = COLLECTOR_CAPABILITIES
            | Capabilities::ACCEPTS_OPAMP_CONNECTION_SETTINGS
            | Capabilities::REPORTS_CONNECTION_SETTINGS_STATUS;
        if self.components.is_some() {
            caps |= Capabilities::REPORTS_AVAILABLE_COMPONENTS;
        }
        caps
    }

    fn description(&self, uid: AgentId) -> proto::AgentDescription {
        let a = &self.about;
        let mut non_identifying = vec![
            kv("host.name", &a.host_name),
            kv("os.type", &a.os_type),
            kv("os.description", &a.os_description),
            kv("host.arch", &a.arch),
        ];
        if let Some(name) = &a.name {
            non_identifying.push(kv(NAME_ATTRIBUTE, name));
        }
        non_identifying.extend(a.labels.iter().map(|(k, v)| kv(k, v)));
        proto::AgentDescription {
            identifying_attributes: vec![
                kv("service.name", &a.service_name),
                kv("service.version", &a.service_version),
                kv("service.instance.id", &uid.to_string()),
            ],
            non_identifying_attributes: non_identifying,
        }
    }

    /// The agent is as healthy as its Collector process; the process is the one child,
    /// with its pid, restarts and last exit in its status.
    fn health(&self) -> proto::ComponentHealth {
        let h = &self.shown.health;
        let mut attributes = vec![proto::KeyValue {
            key: "process.restarts".into(),
            value: Some(proto::AnyValue {
                value: Some(proto::any_value::Value::IntValue(i64::from(h.restarts))),
            }),
        }];
        if let Some(pid) = h.pid {
            attributes.push(proto::KeyValue {
                key: "process.pid".into(),
                value: Some(proto::AnyValue {
                    value: Some(proto::any_value::Value::IntValue(i64::from(pid))),
                }),
            });
        }
        if let Some(exit) = &h.last_exit {
            attributes.push(kv("process.last_exit", exit));
        }
        // The same facts in the status text, for views that show no attributes.
        let mut detail = h.status.clone();
        if let Some(pid) = h.pid {
            detail.push_str(&format!(" · pid {pid}"));
        }
        detail.push_str(&format!(" · {} restarts", h.restarts));
        if let Some(exit) = &h.last_exit {
            detail.push_str(&format!(" · last exit: {exit}"));
        }
        let process = proto::ComponentHealth {
            healthy: h.up,
            start_time_unix_nano: if h.up { h.since_ns } else { 0 },
            last_error: h.last_error.clone(),
            status: detail,
            status_time_unix_nano: h.since_ns,
            component_health_map: HashMap::new(),
            attributes,
        };
        proto::ComponentHealth {
            healthy: h.up,
            start_time_unix_nano: if h.up { h.since_ns } else { 0 },
            last_error: h.last_error.clone(),
            status: h.status.clone(),
            status_time_unix_nano: h.since_ns,
            component_health_map: HashMap::from([(
                format!("process:{}", self.about.service_name),
                process,
            )]),
            attributes: Vec::new(),
        }
    }

    /// Both files the process runs with, each under the name it has on disk.
    fn effective_config(&self) -> proto::EffectiveConfig {
        let file = |text: &str| proto::AgentConfigFile {
            body: text.as_bytes().to_vec(),
            content_type: "text/yaml".to_string(),
        };
        let files = self
            .shown
            .effective
            .as_ref()
            .map(|f| {
                HashMap::from([
                    (COLLECTOR_FILE.to_string(), file(&f.collector)),
                    (OWN_FILE.to_string(), file(&f.own)),
                ])
            })
            .unwrap_or_default();
        proto::EffectiveConfig {
            config_map: Some(proto::AgentConfigMap { config_map: files }),
        }
    }

    fn available_components(&self) -> Option<proto::AvailableComponents> {
        self.components.clone()
    }
}

impl Driver for SupervisorAgent {
    type Wake = ();

    fn offer(&mut self, core: &mut ClientCore, mut offer: RemoteOffer) {
        let body = offer.collector_yaml();
        // Nothing runs that was not verified (an empty map runs our own configuration).
        if let Ok(Some(yaml)) = &body
            && let Some(why) = self.refusal(&offer, yaml)
        {
            tracing::error!("configuration refused: {why}");
            core.set_remote(&offer.hash, RemoteStatus::Failed, why);
            return;
        }
        core.set_remote(&offer.hash, RemoteStatus::Applying, "");
        let hash = offer.hash.clone();
        self.send(
            core,
            Command::Apply {
                hash: offer.hash,
                body,
            },
            Some(&hash),
        );
    }

    fn metrics_target(&mut self, target: Option<MetricsTarget>) {
        let _ = self.cmds.try_send(Command::Metrics(target));
    }

    fn new_uid(&mut self, uid: AgentId) {
        tracing::warn!(%uid, "the server assigned this agent a new instance uid");
        if let Err(e) = self.state.set_instance_uid(uid) {
            tracing::error!("cannot keep the new instance uid: {e}");
        }
        let _ = self.cmds.try_send(Command::Identity(uid.to_string()));
    }

    fn credential(&mut self, credential: Option<&str>) {
        // Kept before the agent reconnects with it: a supervisor restarted in between
        // uses it (the server accepts it until the agent has moved to it).
        if let Err(e) = self.state.set_credential(credential) {
            tracing::error!("cannot keep the agent's credential in the state directory: {e}");
        }
    }

    fn wake(&mut self) -> impl Future<Output = ()> + Send {
        let view = &mut self.view;
        async move {
            if view.changed().await.is_err() {
                // The keeper is gone (shutting down): nothing more will change.
                std::future::pending::<()>().await;
            }
        }
    }

    async fn on_wake(&mut self, core: &mut ClientCore, _: ()) {
        let now = self.view.borrow_and_update().clone();
        let parts = Parts {
            health: now.health != self.shown.health,
            effective: now.effective != self.shown.effective,
            ..Parts::default()
        };
        core.changed(parts);
        if now.remote != self.shown.remote
            && let Some(r) = &now.remote
        {
            core.set_remote(&r.hash, r.status, r.error.clone());
        }
        self.shown = now;
    }

    fn tap(&mut self, request: crate::fleet::tap::TapRequest) -> crate::fleet::tap::TapAnswer {
        match &self.tap {
            Some(hub) => hub.answer(&request),
            None => crate::fleet::tap::TapAnswer::refused(
                request.id,
                "taps are off on this agent (--no-tap)",
            ),
        }
    }

    async fn restart(&mut self, _core: &mut ClientCore) -> Restarted {
        let _ = self.cmds.send(Command::Restart).await;
        Restarted::InPlace
    }
}
