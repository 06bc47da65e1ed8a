//! What the registry keeps per agent and per WebSocket connection, and the interners that
//! let many agents share one copy of what they report alike. The registry (`super`) owns
//! all of it and changes it; nothing here knows about messages or timers.

use super::*;

pub(super) struct WsConn {
    pub(super) remote_addr: SocketAddr,
    pub(super) endpoint: Arc<str>,
    pub(super) outbox: OutboxSender,
    /// Nearly always one agent: kept inline, without an allocation per connection.
    pub(super) agents: SmallVec<[AgentId; 1]>,
    /// Uids this connection's agent was told to leave (it claimed another agent's), with
    /// the uid it was given; nearly always none.
    pub(super) renamed: Option<Box<[(AgentId, AgentId)]>>,
}

impl WsConn {
    pub(super) fn renamed(&self, id: AgentId) -> Option<AgentId> {
        self.renamed
            .as_ref()?
            .iter()
            .find(|(from, _)| *from == id)
            .map(|(_, to)| *to)
    }
}

#[derive(Debug, Clone)]
pub(super) enum Live {
    Ws(ConnId),
    Http,
}

/// What waits to be said to an agent: the latest of each kind, merged. HTTP agents get it
/// with the answer to their next poll; WebSocket agents at once, unless their outbox is full.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) command: Option<AgentCommand>,
    /// Tap requests not sent yet, oldest first (at most a few: see `taps.rs`).
    pub(super) taps: Vec<crate::fleet::report::CustomMessage>,
}

/// The longest an HTTP agent's own polling interval stretches its timeout.
pub(super) const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(3600);
/// The polling interval assumed for an HTTP agent that takes no heartbeat offer, until
/// its own is seen: opamp-go's default.
pub(super) const ASSUMED_POLL: Duration = Duration::from_secs(30);
/// Posts closer together than this answer a reply that asked for more; they say nothing
/// about how often the agent polls.
pub(super) const REPLY_IN_A_ROW: Duration = Duration::from_millis(500);

/// Parts of an agent's state that most agents never have: boxed, so that they cost the
/// others one pointer.
#[derive(Default)]
pub(super) struct Rare {
    /// Recent takeovers of this uid by a second live connection, for clone detection.
    pub(super) takeovers: Vec<Instant>,
    /// The last newcomer told to leave this uid, and when: an HTTP newcomer that keeps
    /// the uid asks again with every poll, and is reported once a minute, not each time.
    pub(super) renamed: Option<(SocketAddr, Instant)>,
    /// When the agent last said goodbye (`agent_disconnect`), and that message's number.
    pub(super) goodbye: Option<(Instant, u64)>,
    /// Labels set by operators; they win over labels from the description.
    pub(super) operator_labels: BTreeMap<String, String>,
    /// The credential offered to the agent in its OpAMP connection settings (minted by
    /// this server while it runs; after a restart the offer carries none).
    pub(super) credential: Option<crate::fleet::credentials::Issued>,
}

/// What the registry keeps about one agent. Everything readers see lives in `view`, the
/// very `Arc` the published snapshot holds: it is changed copy-on-write (the first change
/// after a publish copies it, later ones before the next publish change the copy), so an
/// agent that did not change since the last snapshot exists once. The rest is the
/// registry's own bookkeeping.
pub(super) struct AgentState {
    pub(super) view: Arc<AgentView>,
    /// False until we have received a description from this agent.
    pub(super) described: bool,
    /// Whether `view.sequence_num` is the last number heard on this connection; false
    /// means any next message may follow a gap.
    pub(super) seq_known: bool,
    pub(super) live: Option<Live>,
    pub(super) last_heard: Instant,
    /// Hash of the connection settings we last sent; an unchanged offer is not resent.
    pub(super) offered_settings: Option<[u8; 32]>,
    pub(super) pending: Pending,
    /// Counts this agent's connections, so a configuration goes out once per connection.
    pub(super) conn_gen: u64,
    /// The connection (`conn_gen`) on which the agent's first full report arrived: until
    /// it has on the current one, what the agent runs is unknown and nothing is sent.
    pub(super) full_state_conn: u64,
    /// Boxed: most agents of an idle fleet have none, and the box costs them one pointer.
    pub(super) assigned: Option<Box<Assignment>>,
    /// What few agents have, out of line.
    pub(super) rare: Option<Box<Rare>>,
    /// What `offered_settings` was computed from; while it holds, the offer is not rebuilt.
    pub(super) settings_for: Option<(Capabilities, Arc<str>)>,
    /// The session answering this agent's plain heartbeats, if any.
    pub(super) lease: Option<Arc<Lease>>,
    /// An HTTP agent's polling interval as observed, in ms (the longest recent gap,
    /// decaying), so one that polls slower than the offered heartbeat is not timed out.
    pub(super) poll_gap_ms: u32,
}

/// Labels from the description's string attributes, with operator labels winning (named
/// for the benchmark's heap breakdown).
pub(super) fn merged_labels(
    d: &Arc<AgentDescription>,
    operator: &BTreeMap<String, String>,
) -> Labels {
    Labels::new(d.clone(), operator)
}

impl AgentState {
    pub(super) fn new(id: AgentId, now: SystemTime) -> Self {
        AgentState {
            view: Arc::new(AgentView {
                connection: Connection::Disconnected,
                first_seen: now,
                last_seen: now,
                ..AgentView::blank(id)
            }),
            described: false,
            seq_known: false,
            live: None,
            last_heard: Instant::now(),
            poll_gap_ms: 0,
            offered_settings: None,
            pending: Pending::default(),
            conn_gen: 0,
            full_state_conn: 0,
            assigned: None,
            rare: None,
            settings_for: None,
            lease: None,
        }
    }

    /// The view, to change: copied first when the published snapshot still shares it.
    pub(super) fn view_mut(&mut self) -> &mut AgentView {
        Arc::make_mut(&mut self.view)
    }

    pub(super) fn name(&self) -> String {
        self.view.name.to_string()
    }

    /// Takes a new description with what the view derives from it (name, host, version,
    /// OS, labels).
    pub(super) fn set_description(&mut self, d: AgentDescription) {
        let d = Arc::new(d);
        let labels = merged_labels(&d, self.operator_labels());
        let v = self.view_mut();
        v.name = display_text(&d, &v.id);
        v.host = d.get_text("host.name").cloned().unwrap_or_default();
        v.version = d.get_text("service.version").cloned().unwrap_or_default();
        v.os = d.get_text("os.type").cloned().unwrap_or_default();
        v.description = d;
        v.labels = labels;
    }

    /// Another poll from a live HTTP agent: the gap since the last one raises the
    /// observed interval at once and lowers it slowly. Quick re-posts after a reply that
    /// asks for more are not polls and are left out.
    pub(super) fn note_poll(&mut self) {
        let gap = self.last_heard.elapsed();
        if gap < REPLY_IN_A_ROW {
            return;
        }
        let gap = u32::try_from(gap.as_millis()).unwrap_or(u32::MAX);
        self.poll_gap_ms = gap.max(self.poll_gap_ms - self.poll_gap_ms / 4);
    }

    /// How long this HTTP agent may stay silent: the configured timeout, or three of its
    /// own polling intervals when it polls slower (it did not take the heartbeat offer),
    /// never more than [`MAX_HTTP_TIMEOUT`]. Until its pace is seen, one that takes no
    /// connection settings is assumed to poll every [`ASSUMED_POLL`].
    pub(super) fn http_timeout(&self, configured: Duration) -> Duration {
        let gap = if self.poll_gap_ms > 0 {
            Duration::from_millis(u64::from(self.poll_gap_ms))
        } else if self
            .view
            .capabilities
            .has(Capabilities::ACCEPTS_OPAMP_CONNECTION_SETTINGS)
        {
            Duration::ZERO
        } else {
            ASSUMED_POLL
        };
        configured.max((gap * 3).min(MAX_HTTP_TIMEOUT))
    }

    pub(super) fn refresh_labels(&mut self) {
        let labels = merged_labels(&self.view.description, self.operator_labels());
        self.view_mut().labels = labels;
    }

    /// Sets how the agent is reached, keeping the view's connection state in step.
    pub(super) fn set_live(&mut self, live: Option<Live>) {
        let connection = if live.is_some() {
            Connection::Connected
        } else {
            Connection::Disconnected
        };
        self.live = live;
        if self.view.connection != connection {
            self.view_mut().connection = connection;
        }
    }

    /// Shows the assignment's current state in the view (left alone when it is unchanged).
    pub(super) fn refresh_config_view(&mut self) {
        let config = self.assigned.as_ref().map(|a| a.view());
        if self.view.config != config {
            self.view_mut().config = config;
        }
    }

    /// Records the agent's sequence number; `None` when a gap can no longer be seen.
    pub(super) fn set_sequence(&mut self, seq: Option<u64>) {
        self.seq_known = seq.is_some();
        self.view_mut().sequence_num = seq.unwrap_or(0);
    }

    /// Labels set by operators; they win over labels from the description.
    /// What the agent runs is known on its current connection (its full state arrived).
    pub(super) fn knows_agent(&self) -> bool {
        self.live.is_some() && self.conn_gen > 0 && self.full_state_conn == self.conn_gen
    }

    pub(super) fn operator_labels(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.rare.as_ref().map_or(&NONE, |r| &r.operator_labels)
    }

    pub(super) fn credential(&self) -> Option<&str> {
        self.rare
            .as_ref()
            .and_then(|r| r.credential.as_ref())
            .map(|c| &*c.0)
    }

    pub(super) fn goodbye(&self) -> Option<(Instant, u64)> {
        self.rare.as_ref().and_then(|r| r.goodbye)
    }

    pub(super) fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }
}

/// `service.name`s that stock Collector builds report: the same on every host of a fleet,
/// so they tell no two agents apart and a name need not carry them.
const DISTRIBUTION_NAMES: &[&str] = &[
    "otelcol",
    "otelcol-contrib",
    "otelcol-k8s",
    "otelcol-otlp",
    "otelcol-ebpf-profiler",
    "otelcorecol",
    "otelcontribcol",
    "io.opentelemetry.collector",
    "observiq-otel-collector",
];

/// What people call an agent: the name its supervisor was given (`fleetdeck agent
/// --name`); else, when its `service.name` is its own (not a stock distribution's), that
/// service name then its host (`gateway@edge-1`), so several agents one client runs on one
/// host read apart; else its host; else its service name; else the short id. Shares the
/// description's own text where the name is one attribute.
pub(super) fn display_text(d: &AgentDescription, id: &AgentId) -> Text {
    let non_empty = |key| d.get_text(key).filter(|t| !t.is_empty());
    if let Some(own) = non_empty("fleetdeck.agent.name") {
        return own.clone();
    }
    let service = non_empty("service.name");
    let host = non_empty("host.name");
    match (service, host) {
        (Some(s), Some(h)) if !DISTRIBUTION_NAMES.contains(&s.as_str()) => {
            Text::unshared(&format!("{s}@{h}"))
        }
        (_, Some(h)) => h.clone(),
        (Some(s), None) => s.clone(),
        (None, None) => Text::unshared(&id.short()),
    }
}

/// Shares identical values (e.g. the same effective config reported by 10,000 agents).
#[derive(Default)]
pub(super) struct Interner {
    pub(super) by_hash: HashMap<[u8; 32], Arc<ConfigMap>>,
}

impl Interner {
    pub(super) fn intern(&mut self, value: ConfigMap) -> Arc<ConfigMap> {
        let mut h = Sha256::new();
        for (name, file) in &value.files {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((file.content_type.len() as u64).to_le_bytes());
            h.update(file.content_type.as_bytes());
            h.update((file.body.len() as u64).to_le_bytes());
            h.update(&file.body);
        }
        let key: [u8; 32] = h.finalize().into();
        self.by_hash
            .entry(key)
            .or_insert_with(|| Arc::new(value))
            .clone()
    }

    /// Drops values nobody but the interner holds any more.
    pub(super) fn sweep(&mut self) {
        self.by_hash.retain(|_, v| Arc::strong_count(v) > 1);
    }
}

/// Shares identical component listings: a fleet runs a handful of Collector builds. Keyed
/// by the listing's content, not the agent's hash, so no agent can pass its listing off as
/// another's.
#[derive(Default)]
pub(super) struct ComponentsInterner {
    pub(super) by_content: HashMap<[u8; 32], Arc<AvailableComponents>>,
}

impl ComponentsInterner {
    pub(super) fn intern(&mut self, value: AvailableComponents) -> Arc<AvailableComponents> {
        let Ok(json) = serde_json::to_vec(&value) else {
            return Arc::new(value);
        };
        let key: [u8; 32] = Sha256::digest(&json).into();
        self.by_content
            .entry(key)
            .or_insert_with(|| Arc::new(value))
            .clone()
    }

    pub(super) fn sweep(&mut self) {
        self.by_content.retain(|_, v| Arc::strong_count(v) > 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::agent::Attribute;

    fn named(attrs: &[(&str, &str)]) -> String {
        let d = AgentDescription {
            identifying: attrs
                .iter()
                .map(|(k, v)| Attribute::string(*k, *v))
                .collect(),
            non_identifying: Vec::new(),
        };
        let id: AgentId = "0193f0c2a1b27c3d8e4f5a6b7c8d9e0f".parse().expect("uid");
        display_text(&d, &id).to_string()
    }

    #[test]
    fn agents_one_client_runs_on_one_host_read_apart() {
        let on_edge = |service| named(&[("service.name", service), ("host.name", "edge-1")]);
        assert_eq!(on_edge("gateway"), "gateway@edge-1");
        assert_eq!(on_edge("node-agent"), "node-agent@edge-1");
    }

    #[test]
    fn a_stock_collector_is_named_by_its_host_and_a_given_name_wins() {
        assert_eq!(
            named(&[("service.name", "otelcol-contrib"), ("host.name", "web-1")]),
            "web-1"
        );
        assert_eq!(
            named(&[
                ("service.name", "gateway"),
                ("host.name", "edge-1"),
                ("fleetdeck.agent.name", "edge-gw"),
            ]),
            "edge-gw"
        );
        assert_eq!(named(&[("service.name", "gateway")]), "gateway");
        assert_eq!(named(&[("host.name", "")]), "7c8d9e0f", "the short id");
    }
}
