//! Connections coming and going: heartbeat leases handed to sessions and folded back,
//! disconnects, shutdown, and HTTP agents that stopped polling.

use super::*;

impl Registry {
    /// Takes the heartbeats a session answered for `id` into the agent's state; with
    /// `revoke`, the session must send everything to the registry from now on.
    pub(super) fn fold_lease(&mut self, id: AgentId, revoke: bool) {
        let Some(state) = self.agents.get_mut(&id) else {
            return;
        };
        let Some(lease) = &state.lease else {
            return;
        };
        let beats = lease.take_beats();
        if revoke {
            lease.revoke();
            state.lease = None;
        }
        if let Some(b) = beats {
            state.set_sequence(Some(b.last_seq));
            let v = state.view_mut();
            v.messages += b.count;
            v.last_seen = b.last_seen;
            state.last_heard = Instant::now();
            self.touched(id);
        }
    }

    pub(super) fn fold_leases(&mut self) {
        let mut ids = std::mem::take(&mut self.folding);
        self.beaten.take_into(&mut ids);
        for id in ids.drain(..) {
            self.fold_lease(id, false);
        }
        self.folding = ids;
    }

    /// Lets the session on `conn` answer the agent's plain heartbeats after `seq`, when there
    /// is nothing the registry waits to tell the agent.
    pub(super) fn grant_lease(
        &mut self,
        id: AgentId,
        conn: ConnId,
        seq: u64,
    ) -> Option<Arc<Lease>> {
        let state = self.agents.get_mut(&id)?;
        let on_this_conn = matches!(state.live, Some(Live::Ws(c)) if c == conn);
        let v = &state.view;
        let waiting = state.pending.command.is_some()
            || !state.pending.taps.is_empty()
            || state.assigned.as_ref().is_some_and(|a| {
                v.capabilities.has(Capabilities::ACCEPTS_REMOTE_CONFIG)
                    && delivery::should_send(
                        a,
                        v.remote_config_status.as_deref(),
                        state.conn_gen,
                        state.knows_agent(),
                    )
            });
        if !on_this_conn || waiting || !state.described {
            return None;
        }
        let lease = Arc::new(Lease::new(id, v.capabilities, seq));
        state.lease = Some(lease.clone());
        Some(lease)
    }

    /// Ends the session's lease for `id`, if any, keeping the heartbeats it answered.
    pub(super) fn revoke_lease(&mut self, id: AgentId) {
        self.fold_lease(id, true);
    }

    pub(super) fn mark_disconnected(&mut self, id: AgentId, reason: DisconnectReason) {
        self.revoke_lease(id);
        let Some(state) = self.agents.get_mut(&id) else {
            return;
        };
        if state.live.is_none() {
            return;
        }
        state.set_live(None);
        state.view_mut().disconnected_at = Some(SystemTime::now());
        let last_seq = state.view.sequence_num;
        state.set_sequence(None);
        let goodbye =
            (reason == DisconnectReason::AgentDisconnect).then(|| (Instant::now(), last_seq));
        if goodbye.is_some() || state.rare.is_some() {
            state.rare_mut().goodbye = goodbye;
        }
        if let Some(p) = &self.config.persist {
            p.agent(record_of(&id, state, true));
        }
        self.connected.fetch_sub(1, Ordering::Relaxed);
        let name = state.name();
        self.taps_gone(id);
        self.changed(id);
        self.emit(EventKind::AgentDisconnected { id, name, reason });
    }

    pub(super) fn disconnect_all(&mut self, reason: DisconnectReason) {
        let live: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.live.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in live {
            self.mark_disconnected(id, reason);
        }
        self.conns.clear();
    }

    pub(super) fn expire_http_agents(&mut self) {
        let timeout = self.config.http_agent_timeout;
        let expired: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| {
                matches!(a.live, Some(Live::Http))
                    && a.last_heard.elapsed() > a.http_timeout(timeout)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.mark_disconnected(id, DisconnectReason::HeartbeatTimeout);
        }
        self.check_stalled();
        self.configs.sweep();
        self.components.sweep();
        crate::fleet::text::sweep();
        crate::fleet::health::sweep();
    }
}
