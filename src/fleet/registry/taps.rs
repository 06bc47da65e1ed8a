//! Taps in flight: a request goes to the agent (at once over WebSocket, with its next
//! poll over HTTP), its answer comes back in a later report, and whoever asked waits on a
//! oneshot. Every wait ends: with the answer, when the agent disconnects, or when the
//! sweep finds it past its deadline.

use super::*;
use crate::fleet::report::CustomMessage;
use crate::fleet::tap::{
    self, ANSWER_TYPE, MAX_ANSWER_WAIT, MAX_PENDING, MAX_PENDING_PER_AGENT, REQUEST_TYPE,
    TapAnswer, TapError, TapRequest, WS_ANSWER_WAIT,
};

pub(super) type TapReply = oneshot::Sender<Result<TapAnswer, TapError>>;

/// One tap waiting for its answer.
pub(super) struct PendingTap {
    agent: AgentId,
    name: String,
    deadline: Instant,
    /// How long it may wait, in seconds, for the message when it times out.
    wait_secs: u64,
    /// Said when it times out: why it may have taken long.
    why_slow: &'static str,
    reply: TapReply,
}

/// Every tap waiting for an answer, by request id.
#[derive(Default)]
pub(super) struct Taps {
    next_id: u64,
    waiting: HashMap<u64, PendingTap>,
}

impl Registry {
    /// Sends `request` to agent `id`; `reply` gets the answer or why there is none.
    pub(super) fn tap(&mut self, id: AgentId, mut request: TapRequest, reply: TapReply) {
        let Some(state) = self.agents.get(&id) else {
            let _ = reply.send(Err(TapError::UnknownAgent(id.to_string())));
            return;
        };
        let who = || (id.to_string(), state.name());
        if !state
            .view
            .custom_capabilities
            .iter()
            .any(|c| c == tap::CAPABILITY)
        {
            let (id, name) = who();
            let _ = reply.send(Err(TapError::NotSupported { id, name }));
            return;
        }
        let live = match &state.live {
            None => {
                let (id, name) = who();
                let _ = reply.send(Err(TapError::Disconnected { id, name }));
                return;
            }
            Some(l) => l.clone(),
        };
        let for_agent = self.taps.waiting.values().filter(|t| t.agent == id).count();
        if for_agent >= MAX_PENDING_PER_AGENT || self.taps.waiting.len() >= MAX_PENDING {
            let (id, name) = who();
            let _ = reply.send(Err(TapError::Busy { id, name }));
            return;
        }
        self.taps.next_id += 1;
        request.id = self.taps.next_id;
        let (wait, why_slow) = match live {
            Live::Ws(_) => (WS_ANSWER_WAIT, ""),
            Live::Http => {
                let poll = match state.poll_gap_ms {
                    0 => self.config.heartbeat_interval,
                    ms => Duration::from_millis(u64::from(ms)),
                };
                (
                    (poll + WS_ANSWER_WAIT).clamp(WS_ANSWER_WAIT, MAX_ANSWER_WAIT),
                    " (it polls over HTTP and hears the request only with its next poll)",
                )
            }
        };
        let message = CustomMessage {
            capability: tap::CAPABILITY.to_string(),
            r#type: REQUEST_TYPE.to_string(),
            data: serde_json::to_vec(&request).unwrap_or_default(),
        };
        self.taps.waiting.insert(
            request.id,
            PendingTap {
                agent: id,
                name: state.name(),
                deadline: Instant::now() + wait,
                wait_secs: wait.as_secs(),
                why_slow,
                reply,
            },
        );
        // Over WebSocket it goes now; if the outbox is full, or over HTTP, it waits for
        // the agent's next message (whose heartbeat then comes to the registry).
        let sent = match live {
            Live::Ws(conn) => self.conns.get(&conn).is_some_and(|c| {
                let push = ServerReply {
                    custom_message: Some(Box::new(message.clone())),
                    ..ServerReply::ack(id, self.config.capabilities)
                };
                c.outbox.try_send(Box::new(push)).is_ok()
            }),
            Live::Http => false,
        };
        if !sent {
            self.revoke_lease(id);
            if let Some(state) = self.agents.get_mut(&id) {
                state.pending.taps.push(message);
            }
        }
    }

    /// An agent's custom message: the answer to a tap of ours, handed to whoever waits.
    pub(super) fn tap_answered(&mut self, from: AgentId, message: CustomMessage) {
        if message.capability != tap::CAPABILITY || message.r#type != ANSWER_TYPE {
            return;
        }
        let answer: Result<TapAnswer, String> =
            serde_json::from_slice(&message.data).map_err(|e| e.to_string());
        let id = match &answer {
            Ok(a) => Some(a.id),
            // Unreadable: it answers this agent's oldest tap, if it has one.
            Err(_) => self
                .taps
                .waiting
                .iter()
                .filter(|(_, t)| t.agent == from)
                .map(|(id, _)| *id)
                .min(),
        };
        let Some(pending) = id
            .filter(|id| self.taps.waiting.get(id).is_some_and(|t| t.agent == from))
            .and_then(|id| self.taps.waiting.remove(&id))
        else {
            tracing::debug!(agent = %from, "a tap answer nobody waits for (late, or not ours)");
            return;
        };
        let result = match answer {
            Ok(a) => match &a.error {
                // No pipeline chosen: the agent refused (the message says why).
                Some(message) if a.pipeline.is_none() => Err(TapError::Refused {
                    id: from.to_string(),
                    name: pending.name,
                    message: message.clone(),
                }),
                _ => Ok(a),
            },
            Err(e) => Err(TapError::Refused {
                id: from.to_string(),
                name: pending.name,
                message: format!("its answer could not be read: {e}"),
            }),
        };
        let _ = pending.reply.send(result);
    }

    /// The next tap request waiting for agent `id`, for the reply being built (none when
    /// the reply carries a signature, which takes the custom message's place).
    pub(super) fn next_tap_request(&mut self, id: AgentId, reply: &mut ServerReply) {
        if reply.command.is_some() || (reply.signed && reply.remote_config.is_some()) {
            return;
        }
        if let Some(state) = self.agents.get_mut(&id)
            && !state.pending.taps.is_empty()
        {
            reply.custom_message = Some(Box::new(state.pending.taps.remove(0)));
        }
    }

    /// The agent went away: every tap waiting for it is answered so.
    pub(super) fn taps_gone(&mut self, id: AgentId) {
        if let Some(state) = self.agents.get_mut(&id) {
            state.pending.taps.clear();
        }
        let ids: Vec<u64> = self
            .taps
            .waiting
            .iter()
            .filter(|(_, t)| t.agent == id)
            .map(|(k, _)| *k)
            .collect();
        for k in ids {
            if let Some(t) = self.taps.waiting.remove(&k) {
                let _ = t.reply.send(Err(TapError::Gone {
                    id: id.to_string(),
                    name: t.name,
                }));
            }
        }
    }

    /// Taps past their deadline are answered so; those whose asker left are dropped.
    pub(super) fn expire_taps(&mut self) {
        let now = Instant::now();
        let ids: Vec<u64> = self
            .taps
            .waiting
            .iter()
            .filter(|(_, t)| t.deadline <= now || t.reply.is_closed())
            .map(|(k, _)| *k)
            .collect();
        for k in ids {
            if let Some(t) = self.taps.waiting.remove(&k) {
                let _ = t.reply.send(Err(TapError::Timeout {
                    id: t.agent.to_string(),
                    name: t.name,
                    secs: t.wait_secs,
                    why: t.why_slow.to_string(),
                }));
            }
        }
    }
}
