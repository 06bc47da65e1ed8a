//! Immutable views of the fleet, published by the registry on a `watch` channel.
//! Readers (TUI, API, headless logger) never lock the registry: they hold an `Arc`
//! of the latest snapshot for as long as they like.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use super::agent::{
    AgentDescription, AgentId, Capabilities, ConfigMap, PackageStatuses, RemoteConfigStatus,
    Transport,
};
use super::components::AvailableComponents;
use super::health::Health;
use super::labels::Labels;
use super::text::Text;

/// Whether the agent is currently reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Connection {
    Connected,
    Disconnected,
}

/// Everything a reader may show about one agent. The registry keeps this very `Arc` as its
/// record of the agent and changes it copy-on-write: a published view never changes, and an
/// agent unchanged since the last snapshot exists once, shared by the registry and every
/// snapshot since.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AgentView {
    pub id: AgentId,
    /// Display name: `host.name`, else `service.name`, else the short id. These strings
    /// are the description's own, shared.
    pub name: Text,
    pub host: Text,
    pub version: Text,
    pub os: Text,
    pub description: Arc<AgentDescription>,
    pub capabilities: Capabilities,
    pub connection: Connection,
    pub transport: Option<Transport>,
    pub remote_addr: Option<SocketAddr>,
    /// Shared with the registry; [`Health::tree`] decodes the whole tree.
    pub health: Option<Health>,
    /// Shared between agents that report the same body.
    pub effective_config: Option<Arc<ConfigMap>>,
    /// Shared with the registry.
    pub remote_config_status: Option<Arc<RemoteConfigStatus>>,
    pub package_statuses: Option<Arc<PackageStatuses>>,
    pub custom_capabilities: Arc<[String]>,
    /// The component types the agent last listed (kept across restarts of ours); `None`
    /// while unknown. Shared between agents that list the same.
    pub available_components: Option<Arc<AvailableComponents>>,
    /// Labels from the description merged with operator-set labels (operator wins).
    /// Shared with the registry and the agent's other views until the labels change.
    pub labels: Labels,
    #[serde(serialize_with = "super::unix_time::secs")]
    pub first_seen: SystemTime,
    #[serde(serialize_with = "super::unix_time::secs")]
    pub last_seen: SystemTime,
    /// When the current (or last) connection began.
    #[serde(serialize_with = "super::unix_time::opt_secs")]
    pub connected_at: Option<SystemTime>,
    #[serde(serialize_with = "super::unix_time::opt_secs")]
    pub disconnected_at: Option<SystemTime>,
    pub sequence_num: u64,
    /// Messages received from this agent since the server started.
    pub messages: u64,
    /// The configuration assigned to this agent and where it is with it.
    pub config: Option<super::delivery::AgentConfigStatus>,
}

/// The custom capabilities of the many agents that report none, shared (an `Arc` of
/// nothing still allocates).
pub fn no_custom_capabilities() -> Arc<[String]> {
    static NONE: LazyLock<Arc<[String]>> = LazyLock::new(|| Arc::from(Vec::new()));
    NONE.clone()
}

impl AgentView {
    /// A connected agent known only by its id: a base for the registry, tests and fixtures,
    /// so they write `AgentView { name: .., ..AgentView::blank(id) }` and survive new fields.
    pub fn blank(id: AgentId) -> AgentView {
        let now = SystemTime::now();
        AgentView {
            id,
            name: Text::unshared(&id.short()),
            host: Text::default(),
            version: Text::default(),
            os: Text::default(),
            description: Arc::default(),
            capabilities: Capabilities::default(),
            connection: Connection::Connected,
            transport: None,
            remote_addr: None,
            health: None,
            effective_config: None,
            remote_config_status: None,
            package_statuses: None,
            custom_capabilities: no_custom_capabilities(),
            available_components: None,
            labels: Labels::default(),
            first_seen: now,
            last_seen: now,
            connected_at: None,
            disconnected_at: None,
            sequence_num: 0,
            messages: 0,
            config: None,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connection == Connection::Connected
    }

    /// `Some(true)` healthy, `Some(false)` unhealthy, `None` when the agent reports no health.
    pub fn healthy(&self) -> Option<bool> {
        self.health.as_ref().map(Health::healthy)
    }
}

/// Counters over the whole fleet, computed when the snapshot is built.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FleetTotals {
    pub agents: usize,
    pub connected: usize,
    pub unhealthy: usize,
    pub config_failed: usize,
    pub websocket: usize,
    pub http: usize,
}

impl FleetTotals {
    /// Adds one agent to the counters.
    pub fn count(&mut self, a: &AgentView) {
        self.add(a, true);
    }

    /// Takes away an agent counted earlier (its view is being replaced).
    pub fn uncount(&mut self, a: &AgentView) {
        self.add(a, false);
    }

    fn add(&mut self, a: &AgentView, plus: bool) {
        let step = |n: &mut usize, yes: bool| {
            if yes {
                *n = if plus { *n + 1 } else { n.saturating_sub(1) };
            }
        };
        let connected = a.is_connected();
        step(&mut self.agents, true);
        step(&mut self.connected, connected);
        step(
            &mut self.websocket,
            connected && a.transport == Some(Transport::WebSocket),
        );
        step(
            &mut self.http,
            connected && a.transport == Some(Transport::Http),
        );
        step(&mut self.unhealthy, a.healthy() == Some(false));
        step(
            &mut self.config_failed,
            a.remote_config_status
                .as_ref()
                .is_some_and(|s| s.state == super::agent::RemoteConfigState::Failed),
        );
    }
}

/// The fleet at one moment. Agents are sorted by id, so lookups are a binary search.
#[derive(Debug, Clone, Default)]
pub struct FleetSnapshot {
    /// Increases with every published snapshot.
    pub version: u64,
    pub taken_at: Option<SystemTime>,
    pub agents: Vec<Arc<AgentView>>,
    pub totals: FleetTotals,
}

impl FleetSnapshot {
    pub fn get(&self, id: &AgentId) -> Option<&Arc<AgentView>> {
        self.agents
            .binary_search_by(|a| a.id.cmp(id))
            .ok()
            .map(|i| &self.agents[i])
    }

    pub fn totals_of(agents: &[Arc<AgentView>]) -> FleetTotals {
        let mut t = FleetTotals::default();
        for a in agents {
            t.count(a);
        }
        t
    }
}
