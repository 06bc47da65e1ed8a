//! What one agent message does to the fleet, and the reply it gets.

use super::*;

/// A second live connection taking a uid this often within this window means two
/// different agents share it (cloned VM, bad generator), not a reconnect.
pub(super) const CLONE_TAKEOVERS: usize = 3;
pub(super) const CLONE_WINDOW: Duration = Duration::from_secs(60);

/// Some HTTP clients send one last poll after their goodbye. Within this window such a
/// poll is answered but does not bring the agent back; a full report (a restarted agent
/// answering our ReportFullState) does.
const GOODBYE_GRACE: Duration = Duration::from_secs(5);

/// Whether two remote config statuses say the same (state and hash; a new error message
/// alone is no news).
fn same_status(
    a: Option<&super::super::agent::RemoteConfigStatus>,
    b: Option<&super::super::agent::RemoteConfigStatus>,
) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.state == b.state && a.last_hash == b.last_hash,
        (None, None) => true,
        _ => false,
    }
}

/// A reply that only acknowledges: the session may repeat it for plain heartbeats.
fn is_plain_ack(r: &ServerReply) -> bool {
    !r.report_full_state
        && !r.report_available_components
        && r.remote_config.is_none()
        && r.connection_settings.is_none()
        && r.command.is_none()
        && r.custom_message.is_none()
        && r.new_instance_uid.is_none()
        && r.error.is_none()
}

impl Registry {
    pub(super) fn on_report(&mut self, via: Via, report: AgentReport, wants_lease: bool) -> Answer {
        let id = report.instance_uid;
        let seq = report.sequence_num;
        let conn = match via {
            Via::WebSocket(conn) => Some(conn),
            Via::Http { .. } => None,
        };
        // Whatever a session answered on its own comes first; then the registry decides
        // again whether the session may keep answering.
        self.fold_lease(id, true);
        let reply = self.apply_report(via, report);
        let lease = match conn {
            Some(conn) if wants_lease && is_plain_ack(&reply) => self.grant_lease(id, conn, seq),
            _ => None,
        };
        Answer { reply, lease }
    }

    /// One report, part by part: who sent it and whether it (re)connects with it, what it
    /// says (recorded), the events that makes, and the reply.
    pub(super) fn apply_report(&mut self, via: Via, mut report: AgentReport) -> ServerReply {
        let plain_heartbeat = heartbeat::is_plain_heartbeat(&report);
        let (arrival, mut reply) = match self.arrive(&via, &report) {
            Ok(arrived) => arrived,
            Err(early) => return early,
        };
        let id = arrival.id;
        let disconnect = report.disconnect;
        let settings_hash = report.connection_settings_hash.take();
        if let Some(credential) = report.credential.take()
            && let Some(state) = self.agents.get_mut(&id)
        {
            // A new credential makes a new offer, sent with this reply.
            state.rare_mut().credential = Some(credential);
            state.offered_settings = None;
        }
        if let Some(message) = report.connection_settings_failed.take() {
            self.emit(EventKind::Notice {
                agent: Some(id),
                message: format!(
                    "agent {} could not apply the connection settings offered: {message}",
                    self.name_of(id)
                ),
            });
        }
        let custom = report.custom_message.take();
        let recorded = self.record(&arrival, report, &mut reply);
        if let Some(message) = custom {
            self.tap_answered(id, message);
        }
        if disconnect {
            self.said_goodbye(&arrival);
            return reply;
        }
        reply.report_available_components = recorded.ask_components;
        self.came_in(&arrival, &recorded);
        self.health_news(id, &recorded);
        self.fold_config(id, &recorded);
        self.answer(&arrival, settings_hash.as_deref(), &mut reply);
        if plain_heartbeat && !arrival.connected_now && is_plain_ack(&reply) {
            self.touched(id);
        } else {
            self.changed(id);
        }
        reply
    }

    /// The agent's name as events show it, built only when one is emitted.
    fn name_of(&self, id: AgentId) -> String {
        self.agents
            .get(&id)
            .map(|s| s.name())
            .unwrap_or_else(|| id.short())
    }

    /// Settles who sent the report and over what, before anything it says is recorded:
    /// a goodbye still standing, a uid we told the agent to give up, a live uid claimed from
    /// elsewhere, the agent limit, and whether this (re)connects the agent. `Err` is an
    /// answer to send as it is, with nothing recorded.
    fn arrive(
        &mut self,
        via: &Via,
        report: &AgentReport,
    ) -> Result<(Arrival, ServerReply), ServerReply> {
        let id = report.instance_uid;
        let now = SystemTime::now();
        let known = self.agents.contains_key(&id);
        let (transport, remote_addr, live, endpoint) = match via {
            Via::WebSocket(conn) => {
                let Some(c) = self.conns.get(conn) else {
                    // The session registers before its first report; a missing entry means the
                    // connection closed meanwhile. Answer, but record nothing.
                    return Err(ServerReply::ack(id, self.config.capabilities));
                };
                (
                    Transport::WebSocket,
                    c.remote_addr,
                    Live::Ws(*conn),
                    c.endpoint.clone(),
                )
            }
            Via::Http {
                remote_addr,
                endpoint,
            } => (Transport::Http, *remote_addr, Live::Http, endpoint.clone()),
        };

        let mut reply = ServerReply::ack(id, self.config.capabilities);
        if matches!(via, Via::Http { .. })
            && let Some(st) = self.agents.get(&id)
            && st.live.is_none()
            && let Some((said, goodbye_seq)) = st.goodbye()
            && said.elapsed() < GOODBYE_GRACE
        {
            if report.description.is_none() {
                reply.report_full_state = !report.disconnect;
                return Err(reply);
            }
            // A full report numbered on from the goodbye comes from the process that said
            // it, still finishing (it answered our ReportFullState on its way out): the
            // goodbye stands. A restarted agent numbers its messages afresh.
            if report.sequence_num > goodbye_seq {
                return Err(reply);
            }
        }
        // An agent told to take another uid that kept this one: told again, recorded nowhere.
        if let Live::Ws(conn) = &live
            && let Some(fresh) = self.conns.get(conn).and_then(|c| c.renamed(id))
        {
            reply.new_instance_uid = Some(fresh);
            return Err(reply);
        }
        let state = self
            .agents
            .entry(id)
            .or_insert_with(|| Box::new(AgentState::new(id, now)));

        // A live uid claimed from elsewhere: another connection, or over HTTP another address.
        let claimed_from = match (&state.live, &live) {
            (Some(Live::Ws(old)), Live::Ws(new)) if old == new => None,
            (Some(Live::Ws(old)), _) => self.conns.get(old).map(|c| c.remote_addr),
            (Some(Live::Http), Live::Ws(_)) => state.view.remote_addr,
            (Some(Live::Http), Live::Http) => state
                .view
                .remote_addr
                .filter(|a| a.ip() != remote_addr.ip()),
            (None, _) => None,
        };
        if let Some(kept_addr) = claimed_from {
            match &report.description {
                // Who is it? Nothing is recorded until it says (a reconnecting agent does,
                // in full, and then takes over below).
                None => {
                    reply.report_full_state = !report.disconnect;
                    return Err(reply);
                }
                Some(d) if state.described && !d.same_agent(&state.view.description) => {
                    // Another agent with this uid: one record stays true to the first.
                    return Err(self.rename_newcomer(
                        id,
                        &live,
                        remote_addr,
                        Some(kept_addr),
                        reply,
                    ));
                }
                Some(_) => {}
            }
        }
        let state = self
            .agents
            .get_mut(&id)
            .expect("the entry was inserted above");
        // The agent limit, counted here where every connect is seen one at a time, so it
        // holds exactly; an agent already connected (any transport) keeps its place.
        if state.live.is_none()
            && !report.disconnect
            && let Some(max) = self.config.max_agents
            && self.connected.load(Ordering::Relaxed) >= max
        {
            if !known {
                self.agents.remove(&id);
            }
            reply.error = Some(ServerError::Unavailable {
                message: format!("the server holds its maximum of {max} agents"),
                retry_after: Some(self.config.retry_after),
            });
            return Err(reply);
        }
        let state = self
            .agents
            .get_mut(&id)
            .expect("the entry was inserted above");

        // Connection bookkeeping: is this a (re)connect, or a takeover of a live uid?
        let mut connected_now = false;
        let mut takeover_from: Option<ConnId> = None;
        match (&state.live, &live) {
            (Some(Live::Ws(old)), Live::Ws(new)) if old == new => {}
            (Some(Live::Http), Live::Http) => state.note_poll(),
            // Back after being timed out: that gap tells its pace too.
            (None, Live::Http) if state.view.transport == Some(Transport::Http) => {
                state.note_poll();
                connected_now = true;
            }
            (Some(Live::Ws(old)), _) => {
                takeover_from = Some(*old);
                connected_now = true;
            }
            (Some(Live::Http), Live::Ws(_)) | (None, _) => connected_now = true,
        }
        if let Some(old) = takeover_from {
            let recent = Instant::now();
            let takeovers = &mut state.rare_mut().takeovers;
            takeovers.retain(|t| recent.duration_since(*t) < CLONE_WINDOW);
            takeovers.push(recent);
            if takeovers.len() >= CLONE_TAKEOVERS && !report.disconnect {
                // Two processes alike keep claiming this uid: give the newcomer an identity
                // of its own instead of letting them evict each other forever.
                takeovers.clear();
                let kept_addr = self.conns.get(&old).map(|c| c.remote_addr);
                return Err(self.rename_newcomer(id, &live, remote_addr, kept_addr, reply));
            }
            tracing::info!(agent = %id, %remote_addr,
                "instance_uid reconnected on a new connection; the older connection is released");
            if let Some(c) = self.conns.get_mut(&old) {
                c.agents.retain(|a| *a != id);
            }
        }
        if let Live::Ws(conn) = &live
            && connected_now
            && let Some(c) = self.conns.get_mut(conn)
            && !c.agents.contains(&id)
        {
            c.agents.push(id);
        }
        // Taps asked over the released connection will never be answered there: end
        // their waits now, as a disconnect does (the asker may ask again at once).
        if takeover_from.is_some() {
            self.taps_gone(id);
        }
        let arrival = Arrival {
            id,
            now,
            transport,
            remote_addr,
            live,
            endpoint,
            known,
            connected_now,
        };
        Ok((arrival, reply))
    }

    /// Records what the report says, part by part (a part left out is unchanged, except on
    /// a connection's first full report, which replaces what earlier ones said).
    fn record(
        &mut self,
        arrival: &Arrival,
        report: AgentReport,
        reply: &mut ServerReply,
    ) -> Recorded {
        let id = arrival.id;
        let state = self.agents.get_mut(&id).expect("admitted by arrive");
        // Full state is needed when we don't know the agent or may have missed a message.
        let full_report = report.description.is_some();
        // The first full report on a connection replaces what earlier ones said: a field it
        // leaves out is one the agent no longer has (its process may have restarted).
        let first_full =
            full_report && !report.disconnect && (arrival.connected_now || !state.knows_agent());
        let gap =
            !state.seq_known || report.sequence_num != state.view.sequence_num.wrapping_add(1);
        if (!state.described || gap) && !full_report && !report.disconnect {
            reply.report_full_state = true;
        }
        state.set_sequence(Some(report.sequence_num));

        // Only what the report may change is compared (and copied) before and after.
        let name_before = report.description.as_ref().map(|_| state.name());
        let health_before = report.health.as_ref().and_then(|_| health_of(state));
        let got_health = report.health.is_some();
        // The status this report replaces, shared rather than copied (two reports a push).
        let got_status = report.remote_config_status.is_some() || first_full;
        let got_effective = report.effective_config.is_some() || first_full;
        let rcs_before = state
            .view
            .remote_config_status
            .clone()
            .filter(|_| got_status);
        let mut durable_change = false;

        // Description.
        if let Some(d) = report.description {
            if *state.view.description != d {
                state.set_description(d);
                durable_change = true;
            }
            state.described = true;
        }
        state.last_heard = Instant::now();
        let v = state.view_mut();
        v.capabilities = report.capabilities;
        // Health.
        if let Some(h) = report.health {
            v.health = Some(h);
        }
        // Effective configuration and remote-config status.
        if first_full {
            v.effective_config = report.effective_config.map(|c| self.configs.intern(c));
            v.remote_config_status = report.remote_config_status.map(Arc::new);
        } else {
            if let Some(c) = report.effective_config {
                v.effective_config = Some(self.configs.intern(c));
            }
            if let Some(s) = report.remote_config_status {
                v.remote_config_status = Some(Arc::new(s));
            }
        }
        // Packages and custom capabilities.
        if let Some(p) = report.package_statuses {
            v.package_statuses = Some(Arc::new(p));
        }
        if let Some(c) = report.custom_capabilities {
            v.custom_capabilities = c.into();
        }
        // Available components.
        let mut ask_components = false;
        if let Some(reported) = report.available_components {
            let (changed, ask) = take_components(v, &mut self.components, id, reported);
            durable_change |= changed;
            ask_components = ask;
        }
        // The connection.
        v.messages += 1;
        v.last_seen = arrival.now;
        v.transport = Some(arrival.transport);
        v.remote_addr = Some(arrival.remote_addr);
        Recorded {
            first_full,
            got_health,
            got_status,
            got_effective,
            name_before,
            health_before,
            rcs_before,
            durable_change,
            ask_components,
        }
    }

    /// The agent said goodbye (`agent_disconnect`).
    fn said_goodbye(&mut self, arrival: &Arrival) {
        let id = arrival.id;
        self.dirty.insert(id);
        self.urgent = true;
        let Some(state) = self.agents.get_mut(&id) else {
            return;
        };
        if state.live.is_some() || arrival.connected_now {
            if let Live::Ws(conn) = &arrival.live
                && let Some(c) = self.conns.get_mut(conn)
            {
                c.agents.retain(|a| *a != id);
            }
            // Make sure a connect that happens in the same message is still seen.
            if arrival.connected_now && state.live.is_none() {
                state.view_mut().connected_at = Some(arrival.now);
            }
            self.mark_disconnected(id, DisconnectReason::AgentDisconnect);
        }
    }

    /// Writes down what lasts, and marks the agent connected when this report connects it.
    fn came_in(&mut self, arrival: &Arrival, recorded: &Recorded) {
        let id = arrival.id;
        if recorded.durable_change || arrival.connected_now {
            self.persist(&id);
        }
        let state = self.agents.get_mut(&id).expect("admitted by arrive");
        if arrival.connected_now {
            if state.live.is_none() {
                self.connected.fetch_add(1, Ordering::Relaxed);
            }
            state.set_live(Some(arrival.live.clone()));
            let v = state.view_mut();
            v.connected_at = Some(arrival.now);
            v.disconnected_at = None;
            state.conn_gen += 1;
            self.emit(EventKind::AgentConnected {
                id,
                name: self.name_of(id),
                transport: arrival.transport,
                remote_addr: Some(arrival.remote_addr),
                new: !arrival.known,
            });
        } else if let Some(before) = &recorded.name_before
            && *before != self.name_of(id)
        {
            tracing::debug!(agent = %id, name = %self.name_of(id), "agent renamed");
        }
        let state = self.agents.get_mut(&id).expect("admitted by arrive");
        if recorded.first_full {
            state.full_state_conn = state.conn_gen;
        }
    }

    /// A change of health is an event. A first report that all is well is no news (it would
    /// be one event per agent on every start); a first report of trouble is.
    fn health_news(&mut self, id: AgentId, recorded: &Recorded) {
        if !recorded.got_health {
            return;
        }
        let Some(state) = self.agents.get(&id) else {
            return;
        };
        let health_after = health_of(state);
        let news = match (&recorded.health_before, &health_after) {
            (None, Some((healthy, _))) => !healthy,
            (before, after) => before != after,
        };
        if news && let Some((healthy, last_error)) = health_after {
            self.emit(EventKind::HealthChanged {
                id,
                name: self.name_of(id),
                healthy,
                last_error: last_error.to_string(),
            });
        }
    }

    /// Folds what the agent said about its configuration into its assignment
    /// (`fleet/delivery.rs` holds the rules), keeps it across restarts, and tells readers.
    fn fold_config(&mut self, id: AgentId, recorded: &Recorded) {
        let state = self.agents.get_mut(&id).expect("admitted by arrive");
        let status_changed = recorded.got_status
            && !same_status(
                recorded.rcs_before.as_deref(),
                state.view.remote_config_status.as_deref(),
            );
        let mut assignment_event = None;
        let mut settled = None;
        let mut lost = None;
        let mut assignment_changed = false;
        if let Some(a) = state.assigned.as_mut() {
            let status = state
                .view
                .remote_config_status
                .as_deref()
                .filter(|_| recorded.got_status);
            let effective = state
                .view
                .effective_config
                .as_deref()
                .filter(|_| recorded.got_effective);
            let reports_status = state
                .view
                .capabilities
                .has(Capabilities::REPORTS_REMOTE_CONFIG);
            let before = a.state;
            let said_before = a.settled().map(|(s, m, _)| (s, m.to_string()));
            let folded = if recorded.first_full {
                delivery::on_full_state(a, status, effective, reports_status)
            } else {
                delivery::on_report(a, status, effective, reports_status)
            };
            if folded {
                assignment_changed = true;
                if a.state == ApplyState::Pending && before != ApplyState::Pending {
                    lost = Some((a.config.clone(), before));
                } else if a.state.done() {
                    assignment_event = Some(a.view());
                    // A new word from the agent about it: the attempt's row says it too.
                    if said_before.as_ref().map(|(s, m)| (*s, m.as_str()))
                        != a.settled().map(|(s, m, _)| (s, m))
                    {
                        settled = ApplyAttempt::settled(id, a);
                    }
                }
                state.refresh_config_view();
            }
        }
        if let Some(attempt) = settled {
            self.journal_attempt(attempt);
        }
        if let Some((config, before)) = lost {
            tracing::info!(agent = %id, %config, was = %before,
                "agent reconnected without its assigned configuration; sending it again");
            self.emit(EventKind::Notice {
                agent: Some(id),
                message: format!(
                    "{} reconnected without {config} (it was {before}); sending it again",
                    self.name_of(id)
                ),
            });
        }
        if assignment_changed || status_changed {
            // Where the agent's configuration stands survives a restart of the server.
            self.persist_config_state(&id);
        }
        let state = self.agents.get(&id).expect("admitted by arrive");
        let about_assignment = state
            .assigned
            .as_ref()
            .zip(state.view.remote_config_status.as_ref())
            .is_some_and(|(a, s)| s.last_hash == a.offer.hash);
        if let Some(view) = assignment_event {
            self.emit(config_event(id, self.name_of(id), view));
        } else if status_changed
            && !about_assignment
            && let Some(s) = state.view.remote_config_status.clone()
        {
            self.emit(EventKind::RemoteConfigStatus {
                id,
                name: self.name_of(id),
                state: s.state,
                error_message: s.error_message.clone(),
            });
        }
    }

    /// What the reply carries besides the acknowledgement: connection settings (heartbeat
    /// interval, own-telemetry destination), a command, or the assigned configuration.
    fn answer(&mut self, arrival: &Arrival, settings_hash: Option<&[u8]>, reply: &mut ServerReply) {
        let id = arrival.id;
        let state = self.agents.get_mut(&id).expect("admitted by arrive");
        // The offer only depends on the capabilities and the endpoint: once sent, it is not
        // rebuilt (and hashed) for every message while those stay the same.
        let settings_for = (state.view.capabilities, arrival.endpoint.clone());
        let already_offered =
            state.offered_settings.is_some() && state.settings_for.as_ref() == Some(&settings_for);
        if !already_offered
            && let Some(offer) = settings_offer(
                &self.config,
                &id,
                settings_for.0,
                &settings_for.1,
                state.credential(),
            )
        {
            let agent_has = settings_hash == Some(&offer.hash[..]);
            if state.offered_settings != Some(offer.hash) && !agent_has {
                state.offered_settings = Some(offer.hash);
                state.settings_for = Some(settings_for);
                reply.connection_settings = Some(Arc::new(offer));
            }
        }
        let knows_agent = state.knows_agent();
        if let Some(command) = state.pending.command.take() {
            // A command travels alone (the codec drops everything else), so the rest of
            // this reply waits: the agent comes back after restarting and gets it then.
            reply.command = Some(command);
            state.offered_settings = None;
        } else if state
            .view
            .capabilities
            .has(Capabilities::ACCEPTS_REMOTE_CONFIG)
            && let Some(a) = state.assigned.as_mut()
            && delivery::should_send(
                a,
                state.view.remote_config_status.as_deref(),
                state.conn_gen,
                knows_agent,
            )
        {
            reply.remote_config = Some(a.offer.clone());
            reply.signed = wants_signatures(&state.view.custom_capabilities);
            delivery::mark_sent(a, state.conn_gen);
            state.refresh_config_view();
        }
        self.next_tap_request(id, reply);
    }
}

/// Whether an agent declared it wants configurations signed.
pub(super) fn wants_signatures(custom: &[String]) -> bool {
    custom.iter().any(|c| c == crate::signing::CAPABILITY)
}

/// Who sent a report, over what, and whether it (re)connects the agent.
pub(super) struct Arrival {
    id: AgentId,
    now: SystemTime,
    transport: Transport,
    remote_addr: SocketAddr,
    live: Live,
    endpoint: Arc<str>,
    /// The registry knew the agent before this report.
    known: bool,
    connected_now: bool,
}

/// What recording a report changed, for the events and the reply that follow.
struct Recorded {
    first_full: bool,
    got_health: bool,
    got_status: bool,
    got_effective: bool,
    name_before: Option<String>,
    health_before: Option<(bool, Text)>,
    rcs_before: Option<Arc<super::super::agent::RemoteConfigStatus>>,
    durable_change: bool,
    ask_components: bool,
}

/// Health as events compare it: healthy or not, and the last error.
fn health_of(state: &AgentState) -> Option<(bool, Text)> {
    state
        .view
        .health
        .as_ref()
        .map(|h| (h.healthy(), h.last_error().clone()))
}

/// Takes a components report: a listing replaces the kept one; a hash alone that differs
/// from it makes the kept one unknown until the agent sends the listing (asked for).
/// Returns (the kept listing changed, ask for the listing).
fn take_components(
    v: &mut AgentView,
    interner: &mut ComponentsInterner,
    id: AgentId,
    reported: super::super::components::ReportedComponents,
) -> (bool, bool) {
    match reported.listing {
        Some(listing) => {
            if v.available_components.as_deref() == Some(&listing) {
                return (false, false);
            }
            if !listing.dropped.is_none() {
                tracing::warn!(agent = %id, dropped = %listing.dropped,
                    kept = listing.len(),
                    "component listing held to the limits; entries left out");
            }
            v.available_components = Some(interner.intern(listing));
            (true, false)
        }
        None => {
            let current = v
                .available_components
                .as_ref()
                .is_some_and(|c| c.hash == reported.hash);
            if current {
                (false, false)
            } else {
                // New to us, or changed without a listing: the old one no longer says what
                // the agent runs. Unknown until the agent sends it.
                v.available_components = None;
                (false, true)
            }
        }
    }
}

pub(super) fn config_event(id: AgentId, name: String, status: AgentConfigStatus) -> EventKind {
    EventKind::ConfigStatus {
        id,
        name,
        config: status.config,
        state: status.state,
        error: status.error,
    }
}

pub(super) fn settings_offer(
    config: &RegistryConfig,
    id: &AgentId,
    caps: Capabilities,
    endpoint: &str,
    credential: Option<&str>,
) -> Option<ConnectionSettingsOffer> {
    // Headers only ever carry the agent's own credential, to an agent that takes OpAMP
    // settings: never the fleet secret (an enrolled agent that switched to it would be
    // refused), and none when this server has no credential in hand for the agent.
    let headers: Vec<(String, String)> = credential
        .filter(|_| caps.has(Capabilities::ACCEPTS_OPAMP_CONNECTION_SETTINGS))
        .map(|c| {
            vec![(
                "Authorization".to_string(),
                crate::fleet::credentials::bearer(c),
            )]
        })
        .unwrap_or_default();
    let opamp =
        (caps.has(Capabilities::REPORTS_HEARTBEAT) || !headers.is_empty()).then(|| OpampSettings {
            endpoint: endpoint.to_string(),
            headers,
            heartbeat_interval_seconds: config.heartbeat_interval.as_secs().max(1),
        });
    let own_metrics = if caps.has(Capabilities::REPORTS_OWN_METRICS) {
        config.own_metrics.as_ref().and_then(|f| f(id))
    } else {
        None
    };
    if opamp.is_none() && own_metrics.is_none() {
        return None;
    }
    // The hash covers every part of the offer, so any change produces a new one.
    let mut h = Sha256::new();
    if let Some(o) = &opamp {
        h.update(b"opamp\0");
        h.update(o.endpoint.as_bytes());
        h.update(o.heartbeat_interval_seconds.to_le_bytes());
        for (k, v) in &o.headers {
            h.update(k.as_bytes());
            h.update(b"\0");
            h.update(v.as_bytes());
        }
    }
    if let Some(m) = &own_metrics {
        h.update(b"own_metrics\0");
        h.update(m.endpoint.as_bytes());
        for (k, v) in &m.headers {
            h.update(k.as_bytes());
            h.update(b"\0");
            h.update(v.as_bytes());
        }
    }
    Some(ConnectionSettingsOffer {
        hash: h.finalize().into(),
        opamp,
        own_metrics,
        own_traces: None,
        own_logs: None,
    })
}
