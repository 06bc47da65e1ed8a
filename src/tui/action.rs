//! Everything a key can mean (`Action`) and everything the UI asks of the outside world
//! (`Effect`). Keys map to actions through the keymap; actions change `App` state and may
//! return effects, which the run loop carries out. Nothing here does I/O.

use crate::fleet::AgentId;

/// A column the agents table can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortKey {
    /// The snapshot's own order: by agent id (cheapest, no sort needed).
    #[default]
    Id,
    Name,
    Host,
    Version,
    Status,
    Health,
    Config,
    LastSeen,
}

impl SortKey {
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Name => "name",
            SortKey::Host => "host",
            SortKey::Version => "version",
            SortKey::Status => "status",
            SortKey::Health => "health",
            SortKey::Config => "config",
            SortKey::LastSeen => "last seen",
        }
    }
}

/// A user intent, independent of the key that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Quit at the top level; go back anywhere else.
    Quit,
    /// Quit from anywhere (Ctrl-C).
    ForceQuit,
    Back,
    Help,
    Palette,
    Filter,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    ToggleMark,
    MarkAll,
    SortBy(SortKey),
    InvertSort,
    ViewAgents,
    ViewConfigs,
    ViewEvents,
    NextView,
    PrevView,
    NextSection,
    PrevSection,
    Freeze,
    CycleTheme,
    Restart,
    /// Forget the selected disconnected agent (asks for a second press).
    Forget,
    /// Open the pipeline builder for a new configuration.
    NewConfig,
    /// Open the selected configuration in the pipeline builder.
    EditConfig,
    /// Mark a configuration version as the base of the next diff.
    DiffBase,
    /// Show (or close) the diff between two configuration versions.
    Diff,
    PauseRollout,
    ResumeRollout,
    CancelRollout,
    RollbackRollout,
}

impl Action {
    /// Every action, in the order the help overlay lists them.
    pub const ALL: [Action; 42] = [
        Action::Help,
        Action::Palette,
        Action::Back,
        Action::Quit,
        Action::ForceQuit,
        Action::ViewAgents,
        Action::ViewConfigs,
        Action::ViewEvents,
        Action::NextView,
        Action::PrevView,
        Action::Freeze,
        Action::CycleTheme,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Open,
        Action::Filter,
        Action::ToggleMark,
        Action::MarkAll,
        Action::SortBy(SortKey::Name),
        Action::SortBy(SortKey::Host),
        Action::SortBy(SortKey::Version),
        Action::SortBy(SortKey::Status),
        Action::SortBy(SortKey::Health),
        Action::SortBy(SortKey::Config),
        Action::SortBy(SortKey::LastSeen),
        Action::InvertSort,
        Action::Restart,
        Action::Forget,
        Action::NextSection,
        Action::PrevSection,
        Action::NewConfig,
        Action::EditConfig,
        Action::DiffBase,
        Action::Diff,
        Action::PauseRollout,
        Action::ResumeRollout,
        Action::CancelRollout,
        Action::RollbackRollout,
    ];

    /// The name used in the `[keymap]` table of the settings file.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::ForceQuit => "force_quit",
            Action::Back => "back",
            Action::Help => "help",
            Action::Palette => "palette",
            Action::Filter => "filter",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Open => "open",
            Action::ToggleMark => "mark",
            Action::MarkAll => "mark_all",
            Action::SortBy(SortKey::Id) => "sort_id",
            Action::SortBy(SortKey::Name) => "sort_name",
            Action::SortBy(SortKey::Host) => "sort_host",
            Action::SortBy(SortKey::Version) => "sort_version",
            Action::SortBy(SortKey::Status) => "sort_status",
            Action::SortBy(SortKey::Health) => "sort_health",
            Action::SortBy(SortKey::Config) => "sort_config",
            Action::SortBy(SortKey::LastSeen) => "sort_last_seen",
            Action::InvertSort => "invert_sort",
            Action::ViewAgents => "view_agents",
            Action::ViewConfigs => "view_configs",
            Action::ViewEvents => "view_events",
            Action::NextView => "next_view",
            Action::PrevView => "prev_view",
            Action::NextSection => "next_section",
            Action::PrevSection => "prev_section",
            Action::Freeze => "freeze",
            Action::CycleTheme => "cycle_theme",
            Action::Restart => "restart",
            Action::Forget => "forget",
            Action::NewConfig => "new_config",
            Action::EditConfig => "edit_config",
            Action::DiffBase => "diff_base",
            Action::Diff => "diff",
            Action::PauseRollout => "pause_rollout",
            Action::ResumeRollout => "resume_rollout",
            Action::CancelRollout => "cancel_rollout",
            Action::RollbackRollout => "rollback_rollout",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// One line for the help overlay and the footer.
    pub fn description(self) -> &'static str {
        match self {
            Action::Quit => "quit (back when not at the top)",
            Action::ForceQuit => "quit from anywhere",
            Action::Back => "back / clear marks, then filter",
            Action::Help => "this help",
            Action::Palette => "command palette",
            Action::Filter => "filter: text, label=value, !negate",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first",
            Action::Bottom => "last",
            Action::Open => "open",
            Action::ToggleMark => "mark / unmark",
            Action::MarkAll => "mark all shown",
            Action::SortBy(SortKey::Id) => "sort by id",
            Action::SortBy(SortKey::Name) => "sort by name",
            Action::SortBy(SortKey::Host) => "sort by host",
            Action::SortBy(SortKey::Version) => "sort by version",
            Action::SortBy(SortKey::Status) => "sort by status",
            Action::SortBy(SortKey::Health) => "sort by health",
            Action::SortBy(SortKey::Config) => "sort by config state",
            Action::SortBy(SortKey::LastSeen) => "sort by last seen",
            Action::InvertSort => "invert sort",
            Action::ViewAgents => "agents",
            Action::ViewConfigs => "configurations",
            Action::ViewEvents => "events",
            Action::NextView => "next view",
            Action::PrevView => "previous view",
            Action::NextSection => "next section",
            Action::PrevSection => "previous section",
            Action::Freeze => "freeze / resume live data",
            Action::CycleTheme => "next theme",
            Action::Restart => "restart marked (or selected) agents",
            Action::Forget => "forget a disconnected agent (press twice)",
            Action::NewConfig => "new configuration (pipeline builder)",
            Action::EditConfig => "edit the configuration in the builder",
            Action::DiffBase => "mark a version as the diff base",
            Action::Diff => "diff: marked (or previous) version → selected",
            Action::PauseRollout => "pause the rollout",
            Action::ResumeRollout => "resume a paused or halted rollout",
            Action::CancelRollout => "cancel the rollout",
            Action::RollbackRollout => "roll the rollout back",
        }
    }

    /// A shorter label for the footer hints.
    pub fn hint(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Back => "back",
            Action::Help => "help",
            Action::Palette => "cmd",
            Action::Filter => "filter",
            Action::Open => "open",
            Action::ToggleMark => "mark",
            Action::SortBy(SortKey::Name) => "sort",
            Action::NextView => "view",
            Action::NextSection => "section",
            Action::Freeze => "freeze",
            Action::NewConfig => "new",
            Action::EditConfig => "edit",
            Action::DiffBase => "base",
            Action::Diff => "diff",
            Action::PauseRollout => "pause",
            Action::ResumeRollout => "resume",
            Action::CancelRollout => "cancel",
            Action::RollbackRollout => "rollback",
            other => other.name(),
        }
    }
}

/// Something the UI wants done outside itself. The run loop carries effects out; the
/// state machine only returns them, so it stays testable without a terminal or a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Leave the UI (and stop the server, which the UI was started with).
    Quit,
    /// Ask the agents to restart (OpAMP `ServerToAgentCommand`).
    RestartAgents(Vec<AgentId>),
    /// Forget a decommissioned agent (it is disconnected; the user pressed twice).
    ForgetAgent(AgentId),
    /// Catalog and rollout work for the pipeline builder, carried out by the run loop.
    Wizard(super::wizard::WizardEffect),
    /// Catalog and rollout work for the Configurations view, carried out by the run loop.
    Configs(super::configs::ConfigsEffect),
}
