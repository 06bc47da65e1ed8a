//! What the registry does when asked (assign a configuration, restart an agent), when
//! an agent claims a uid that is not its own, when the store must hear of a change, and
//! with the agents it knows from an earlier run.

use super::*;

impl Registry {
    /// Tells an agent that claimed a live uid to take a new one, and remembers it for its
    /// connection; the agent that has the uid keeps its record untouched.
    pub(super) fn rename_newcomer(
        &mut self,
        id: AgentId,
        live: &Live,
        remote_addr: SocketAddr,
        kept_addr: Option<SocketAddr>,
        mut reply: ServerReply,
    ) -> ServerReply {
        let fresh = AgentId::new_v7();
        if let Live::Ws(conn) = live
            && let Some(c) = self.conns.get_mut(conn)
        {
            let mut all = c.renamed.take().map(Vec::from).unwrap_or_default();
            all.push((id, fresh));
            c.renamed = Some(all.into_boxed_slice());
        }
        reply.new_instance_uid = Some(fresh);
        if let Some(state) = self.agents.get_mut(&id) {
            let now = Instant::now();
            let last = state.rare_mut().renamed.replace((remote_addr, now));
            let again = last.is_some_and(|(addr, at)| {
                addr.ip() == remote_addr.ip() && now.duration_since(at) < CLONE_WINDOW
            });
            if again {
                return reply;
            }
        }
        tracing::warn!(agent = %id, new_uid = %fresh, newcomer = %remote_addr,
            kept = ?kept_addr, "instance_uid is used by two live agents; the newcomer is told to use a new uid");
        self.emit(EventKind::DuplicateInstanceUid {
            id,
            remote_addr: Some(remote_addr),
            kept_addr,
            new_uid: fresh,
        });
        reply
    }

    pub(super) fn assign(
        &mut self,
        agents: Vec<AgentId>,
        config: ConfigRef,
        offer: Arc<RemoteConfigOffer>,
        by: AssignedBy,
    ) -> AssignOutcome {
        let rollback = by == AssignedBy::Rollback;
        let mut out = AssignOutcome::default();
        for id in agents {
            let Some(state) = self.agents.get_mut(&id) else {
                out.refused.push((id, CommandError::UnknownAgent(id)));
                continue;
            };
            // No capabilities at all: known from an earlier run and not back yet (every
            // agent reports at least ReportsStatus); the assignment waits for it.
            let unknown = state.view.capabilities.0 == 0;
            if !unknown
                && !state
                    .view
                    .capabilities
                    .has(Capabilities::ACCEPTS_REMOTE_CONFIG)
            {
                out.refused.push((
                    id,
                    CommandError::NotSupported {
                        id,
                        name: state.name(),
                        capability: "AcceptsRemoteConfig",
                    },
                ));
                continue;
            }
            let same = state
                .assigned
                .as_ref()
                .is_some_and(|a| a.config == config && a.offer.hash == offer.hash);
            if same {
                // An operator pushing what a selector sent makes it theirs: the selector
                // leaves it alone from now on.
                if by != AssignedBy::Selector
                    && let Some(a) = state.assigned.as_mut()
                    && a.by_selector
                {
                    a.by_selector = false;
                    state.refresh_config_view();
                }
            } else {
                let before = state.assigned.take();
                let mut a = Assignment::next(config.clone(), offer.clone(), by, before.as_deref());
                // Already running it (e.g. assigned again after a restart of ours).
                delivery::on_report(
                    &mut a,
                    state.view.remote_config_status.as_deref(),
                    state.view.effective_config.as_deref(),
                    state
                        .view
                        .capabilities
                        .has(Capabilities::REPORTS_REMOTE_CONFIG),
                );
                // The attempt this one replaces ends here; this one may be settled already.
                let ended = before.and_then(|b| ApplyAttempt::replaced(id, &b, &config, rollback));
                let settled = ApplyAttempt::settled(id, &a);
                state.assigned = Some(Box::new(a));
                state.refresh_config_view();
                for attempt in ended.into_iter().chain(settled) {
                    self.journal_attempt(attempt);
                }
            }
            out.assigned.push(id);
            self.changed(id);
            // The registry has something to say: heartbeats come back to it.
            self.revoke_lease(id);
            let Some(state) = self.agents.get_mut(&id) else {
                continue;
            };
            if let Some(p) = &self.config.persist {
                // Only the assignment changed: the stored description stays (no need to
                // write 10,000 descriptions again for a push).
                p.agent(record_of(&id, state, false));
            }
            // WebSocket agents get it now; HTTP agents with their next poll.
            let knows_agent = state.knows_agent();
            if let Some(Live::Ws(conn)) = state.live
                && let Some(a) = state.assigned.as_mut()
                && delivery::should_send(
                    a,
                    state.view.remote_config_status.as_deref(),
                    state.conn_gen,
                    knows_agent,
                )
                && let Some(c) = self.conns.get(&conn)
            {
                let push = ServerReply {
                    remote_config: Some(a.offer.clone()),
                    signed: super::report::wants_signatures(&state.view.custom_capabilities),
                    ..ServerReply::ack(id, self.config.capabilities)
                };
                if c.outbox.try_send(Box::new(push)).is_ok() {
                    delivery::mark_sent(a, state.conn_gen);
                    state.refresh_config_view();
                }
            }
        }
        if !out.assigned.is_empty() {
            tracing::info!(config = %config, agents = out.assigned.len(), refused = out.refused.len(),
                "configuration assigned");
        }
        out
    }

    pub(super) fn check_stalled(&mut self) {
        let now = Instant::now();
        let timeout = self.config.stall_timeout;
        let mut stalled = Vec::new();
        for (id, state) in self.agents.iter_mut() {
            if let Some(a) = state.assigned.as_mut()
                && delivery::check_stalled(a, now, timeout)
            {
                state.refresh_config_view();
                stalled.push(*id);
            }
        }
        for id in stalled {
            self.changed(id);
            self.persist_config_state(&id);
            if let Some(state) = self.agents.get(&id)
                && let Some(a) = &state.assigned
            {
                if let Some(attempt) = ApplyAttempt::settled(id, a) {
                    self.journal_attempt(attempt);
                }
                self.emit(config_event(id, state.name(), a.view()));
            }
        }
    }

    /// Asks an agent to restart: at once over WebSocket, with the next poll over HTTP.
    pub(super) fn restart(&mut self, id: AgentId) -> Result<(), CommandError> {
        self.revoke_lease(id);
        let state = self
            .agents
            .get_mut(&id)
            .ok_or(CommandError::UnknownAgent(id))?;
        if !state
            .view
            .capabilities
            .has(Capabilities::ACCEPTS_RESTART_COMMAND)
        {
            return Err(CommandError::NotSupported {
                id,
                name: state.name(),
                capability: "AcceptsRestartCommand",
            });
        }
        match &state.live {
            None => Err(CommandError::Disconnected(id)),
            Some(Live::Http) => {
                state.pending.command = Some(AgentCommand::Restart);
                Ok(())
            }
            Some(Live::Ws(conn)) => {
                let reply = ServerReply {
                    command: Some(AgentCommand::Restart),
                    ..ServerReply::ack(id, self.config.capabilities)
                };
                let sent = self
                    .conns
                    .get(conn)
                    .is_some_and(|c| c.outbox.try_send(Box::new(reply)).is_ok());
                if !sent {
                    state.pending.command = Some(AgentCommand::Restart);
                }
                Ok(())
            }
        }
    }

    /// Offers a new credential: pushed at once over WebSocket, with the next poll over HTTP
    /// (the offer is rebuilt with it either way).
    pub(super) fn offer_credential(
        &mut self,
        id: AgentId,
        credential: crate::fleet::credentials::Issued,
    ) -> Result<(), CommandError> {
        self.revoke_lease(id);
        let capabilities = self.config.capabilities;
        let state = self
            .agents
            .get_mut(&id)
            .ok_or(CommandError::UnknownAgent(id))?;
        let caps = state.view.capabilities;
        if !crate::fleet::credentials::takes_credentials(caps) {
            return Err(CommandError::NotSupported {
                id,
                name: state.name(),
                capability: "AcceptsOpAMPConnectionSettings and ReportsConnectionSettingsStatus",
            });
        }
        state.rare_mut().credential = Some(credential);
        state.offered_settings = None;
        let live = state.live.clone();
        let Some(live) = live else {
            return Err(CommandError::Disconnected(id));
        };
        let Live::Ws(conn) = live else {
            return Ok(()); // the next poll's answer carries the new offer
        };
        let Some(endpoint) = self.conns.get(&conn).map(|c| c.endpoint.clone()) else {
            return Ok(());
        };
        let Some(offer) =
            super::report::settings_offer(&self.config, &id, caps, &endpoint, state.credential())
        else {
            return Ok(());
        };
        state.offered_settings = Some(offer.hash);
        state.settings_for = Some((caps, endpoint));
        let reply = ServerReply {
            connection_settings: Some(Arc::new(offer)),
            ..ServerReply::ack(id, capabilities)
        };
        if let Some(c) = self.conns.get(&conn) {
            // A full outbox: the offer goes with the next answer instead (not marked sent).
            if c.outbox.try_send(Box::new(reply)).is_err()
                && let Some(state) = self.agents.get_mut(&id)
            {
                state.offered_settings = None;
            }
        }
        Ok(())
    }

    /// Disconnects a (revoked) agent now: a WebSocket agent is told why and its
    /// connection closed by its session; an HTTP agent is only marked disconnected (the
    /// listener refuses its next poll). Returns whether it was connected.
    pub(super) fn cut_off(&mut self, id: AgentId, reason: String) -> bool {
        let capabilities = self.config.capabilities;
        let Some(state) = self.agents.get_mut(&id) else {
            return false;
        };
        if let Some(r) = state.rare.as_mut() {
            r.credential = None;
        }
        let Some(live) = state.live.clone() else {
            return false;
        };
        if let Live::Ws(conn) = live
            && let Some(c) = self.conns.get(&conn)
        {
            let reply = ServerReply {
                error: Some(ServerError::Refused(reason)),
                ..ServerReply::ack(id, capabilities)
            };
            let _ = c.outbox.try_send(Box::new(reply));
        }
        self.mark_disconnected(id, DisconnectReason::Revoked);
        true
    }

    /// Writes the agent's record without its description (only what changed with a
    /// configuration state: 10,000 of them for a push).
    pub(super) fn persist_config_state(&self, id: &AgentId) {
        if let (Some(p), Some(state)) = (&self.config.persist, self.agents.get(id)) {
            p.agent(record_of(id, state, false));
        }
    }

    /// Writes an attempt of the agent's apply history as it stands.
    pub(super) fn journal_attempt(&self, attempt: ApplyAttempt) {
        if let Some(p) = &self.config.persist {
            p.attempt(attempt);
        }
    }

    pub(super) fn persist(&self, id: &AgentId) {
        if let (Some(p), Some(state)) = (&self.config.persist, self.agents.get(id)) {
            p.agent(record_of(id, state, true));
        }
    }

    pub(super) fn preload(&mut self, k: KnownAgent) {
        let r = k.record;
        let mut state = AgentState::new(r.id, r.first_seen);
        state.view_mut().last_seen = r.last_seen;
        if !r.labels.is_empty() {
            state.rare_mut().operator_labels = r.labels;
        }
        match r
            .description_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<AgentDescription>(j).ok())
        {
            Some(d) => state.set_description(d),
            None => state.refresh_labels(),
        }
        // Kept so an agent that comes back reporting the same hash need not list again.
        if let Some(c) = r
            .components_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<AvailableComponents>(j).ok())
        {
            state.view_mut().available_components = Some(self.components.intern(c));
        }
        let stored = delivery::Stored::from_json(r.config_state_json.as_deref());
        if let Some(reported) = stored.reported {
            state.view_mut().remote_config_status = Some(Arc::new(reported));
        }
        if let (Some(config), Some(offer)) = (r.assigned, k.offer) {
            let mut a = Assignment::restore(config, offer, stored.assignment);
            // What the agent said last is as true now as before the restart.
            let reported = state.view.remote_config_status.as_deref();
            if delivery::on_report(&mut a, reported, None, true)
                && let Some(attempt) = ApplyAttempt::settled(r.id, &a)
            {
                self.journal_attempt(attempt);
            }
            state.assigned = Some(Box::new(a));
            state.refresh_config_view();
        }
        self.agents.insert(r.id, Box::new(state));
        self.changed(r.id);
    }
}

impl Registry {
    pub(super) fn forget(&mut self, id: AgentId) -> Result<String, CommandError> {
        let state = self.agents.get(&id).ok_or(CommandError::UnknownAgent(id))?;
        let name = state.name();
        if state.live.is_some() {
            return Err(CommandError::StillConnected { id, name });
        }
        self.agents.remove(&id);
        if let Some(p) = &self.config.persist {
            p.forget(id);
        }
        // The next snapshot drops its view.
        self.changed(id);
        self.emit(EventKind::Notice {
            agent: Some(id),
            message: format!("agent {name} forgotten"),
        });
        Ok(name)
    }
}

/// The agent's durable record; `description` false leaves the stored description and
/// component listing as they are.
pub(super) fn record_of(id: &AgentId, s: &AgentState, description: bool) -> AgentRecord {
    AgentRecord {
        id: *id,
        labels: s.operator_labels().clone(),
        assigned: s.assigned.as_ref().map(|a| a.config.clone()),
        description_json: description
            .then(|| serde_json::to_string(&*s.view.description).ok())
            .flatten(),
        components_json: description
            .then(|| serde_json::to_string(s.view.available_components.as_deref()?).ok())
            .flatten(),
        config_state_json: delivery::Stored {
            assignment: s.assigned.as_ref().map(|a| a.saved()),
            reported: s.view.remote_config_status.as_deref().cloned(),
        }
        .to_json(),
        first_seen: s.view.first_seen,
        last_seen: s.view.last_seen,
    }
}
