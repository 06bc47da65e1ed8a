//! Everything a key can mean: [`Action`] (and the builder's [`WizardAction`]), with
//! the names users rebind them by, and the few words views share about it ([`SortKey`],
//! [`Steer`]). Keys map to actions through the keymap; the driver routes actions to the
//! view shown. This file names no other part of the UI, so every part may name it.

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

/// What a key means in the pipeline builder. Only the builder acts on these; they are
/// in the keymap (context `Wizard` for every step, one more context per step) so its
/// footer and the help come from the same table as the keys, and users can rebind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WizardAction {
    /// The next step (when the current one allows it).
    NextStep,
    PrevStep,
    /// Leave the builder (asking first when something would be lost).
    Close,
    /// Edit the field under the cursor: a text editor, a pick list or a toggle.
    Edit,
    Toggle,
    PrevValue,
    NextValue,
    /// The next form of the step: component, or a processor attached to a source.
    NextPart,
    PrevPart,
    /// Add a processor or destination (steps 3 and 4).
    Add,
    /// Attach a processor to the source shown (step 2).
    AddSourceProcessor,
    Rename,
    Remove,
    MoveUp,
    MoveDown,
    Advanced,
    /// Step 1: choose the source type under the cursor, or drop it when chosen.
    Choose,
    /// Step 1: one more source of the type under the cursor.
    AddAnother,
    /// Step 1: search the source types.
    Search,
    /// Review: what the YAML is compared with (stored version, an agent, nothing).
    Compare,
    /// Review: compare with the previous (next) agent.
    PrevAgent,
    NextAgent,
    /// Review: edit the Collector YAML in `$EDITOR`.
    EditRaw,
    /// Review: drop the edited YAML for the built pipeline.
    DropRaw,
    /// Save: store the configuration in the catalog.
    Save,
    /// Save: name the configuration.
    NameConfig,
    /// Push: mark or unmark the agent under the cursor.
    Mark,
    /// Push: mark every agent, or none.
    MarkAll,
    /// Push: marked agents or a label selector.
    Targets,
    /// Push: edit the label selector.
    EditSelector,
    /// Push: start the rollout to the targets.
    Push,
    /// Push: the rollout's phases, failures tolerated and rollback.
    RolloutOptions,
}

impl WizardAction {
    pub const ALL: [WizardAction; 32] = [
        WizardAction::NextStep,
        WizardAction::PrevStep,
        WizardAction::Close,
        WizardAction::Edit,
        WizardAction::Toggle,
        WizardAction::PrevValue,
        WizardAction::NextValue,
        WizardAction::NextPart,
        WizardAction::PrevPart,
        WizardAction::Add,
        WizardAction::AddSourceProcessor,
        WizardAction::Rename,
        WizardAction::Remove,
        WizardAction::MoveUp,
        WizardAction::MoveDown,
        WizardAction::Advanced,
        WizardAction::Choose,
        WizardAction::AddAnother,
        WizardAction::Search,
        WizardAction::Compare,
        WizardAction::PrevAgent,
        WizardAction::NextAgent,
        WizardAction::EditRaw,
        WizardAction::DropRaw,
        WizardAction::Save,
        WizardAction::NameConfig,
        WizardAction::Mark,
        WizardAction::MarkAll,
        WizardAction::Targets,
        WizardAction::EditSelector,
        WizardAction::Push,
        WizardAction::RolloutOptions,
    ];

    fn name(self) -> &'static str {
        match self {
            WizardAction::NextStep => "wizard_next",
            WizardAction::PrevStep => "wizard_back",
            WizardAction::Close => "wizard_close",
            WizardAction::Edit => "wizard_edit",
            WizardAction::Toggle => "wizard_toggle",
            WizardAction::PrevValue => "wizard_prev_value",
            WizardAction::NextValue => "wizard_next_value",
            WizardAction::NextPart => "wizard_next_part",
            WizardAction::PrevPart => "wizard_prev_part",
            WizardAction::Add => "wizard_add",
            WizardAction::AddSourceProcessor => "wizard_add_source_processor",
            WizardAction::Rename => "wizard_rename",
            WizardAction::Remove => "wizard_remove",
            WizardAction::MoveUp => "wizard_move_up",
            WizardAction::MoveDown => "wizard_move_down",
            WizardAction::Advanced => "wizard_advanced",
            WizardAction::Choose => "wizard_choose",
            WizardAction::AddAnother => "wizard_add_another",
            WizardAction::Search => "wizard_search",
            WizardAction::Compare => "wizard_compare",
            WizardAction::PrevAgent => "wizard_prev_agent",
            WizardAction::NextAgent => "wizard_next_agent",
            WizardAction::EditRaw => "wizard_edit_raw",
            WizardAction::DropRaw => "wizard_drop_raw",
            WizardAction::Save => "wizard_save",
            WizardAction::NameConfig => "wizard_name_config",
            WizardAction::Mark => "wizard_mark",
            WizardAction::MarkAll => "wizard_mark_all",
            WizardAction::Targets => "wizard_targets",
            WizardAction::EditSelector => "wizard_edit_selector",
            WizardAction::Push => "wizard_push",
            WizardAction::RolloutOptions => "wizard_rollout_options",
        }
    }

    fn description(self) -> &'static str {
        match self {
            WizardAction::NextStep => "next step",
            WizardAction::PrevStep => "previous step",
            WizardAction::Close => "close the builder (asks before discarding)",
            WizardAction::Edit => "edit the field (text, pick list or toggle)",
            WizardAction::Toggle => "toggle a yes/no field, next value of a choice",
            WizardAction::PrevValue => "previous value of a choice",
            WizardAction::NextValue => "next value of a choice",
            WizardAction::NextPart => "next form (steps 2 and 4: processors too)",
            WizardAction::PrevPart => "previous form",
            WizardAction::Add => "add a processor or destination",
            WizardAction::AddSourceProcessor => "add a processor to the source/destination shown",
            WizardAction::Rename => "name the source, processor or destination shown",
            WizardAction::Remove => "remove what is shown",
            WizardAction::MoveUp => "move what is shown earlier",
            WizardAction::MoveDown => "move what is shown later",
            WizardAction::Advanced => "show / fold advanced parameters",
            WizardAction::Choose => "choose the source type (again: drop it)",
            WizardAction::AddAnother => "one more source of this type",
            WizardAction::Search => "search by name, description or signal",
            WizardAction::Compare => "compare with: stored version, an agent, nothing",
            WizardAction::PrevAgent => "compare with the previous agent",
            WizardAction::NextAgent => "compare with the next agent",
            WizardAction::EditRaw => "edit the Collector YAML in $EDITOR",
            WizardAction::DropRaw => "drop the edited YAML (back to the built pipeline)",
            WizardAction::Save => "save to the catalog",
            WizardAction::NameConfig => "name the configuration",
            WizardAction::Mark => "mark / unmark the agent",
            WizardAction::MarkAll => "mark every agent, or none",
            WizardAction::Targets => "marked agents or a label selector",
            WizardAction::EditSelector => "edit the label selector",
            WizardAction::Push => "push to the targets (asks first)",
            WizardAction::RolloutOptions => "rollout options: phases, failures, rollback",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            WizardAction::NextStep => "next",
            WizardAction::PrevStep => "back",
            WizardAction::Close => "close",
            WizardAction::Edit => "edit",
            WizardAction::Toggle => "toggle",
            WizardAction::PrevValue => "prev value",
            WizardAction::NextValue => "next value",
            WizardAction::NextPart => "next part",
            WizardAction::PrevPart => "prev part",
            WizardAction::Add => "add",
            WizardAction::AddSourceProcessor => "add processor",
            WizardAction::Rename => "name",
            WizardAction::Remove => "remove",
            WizardAction::MoveUp | WizardAction::MoveDown => "reorder",
            WizardAction::Advanced => "advanced",
            WizardAction::Choose => "choose",
            WizardAction::AddAnother => "add another",
            WizardAction::Search => "search",
            WizardAction::Compare => "diff",
            WizardAction::PrevAgent | WizardAction::NextAgent => "agent",
            WizardAction::EditRaw => "$EDITOR",
            WizardAction::DropRaw => "drop raw",
            WizardAction::Save => "save",
            WizardAction::NameConfig => "rename",
            WizardAction::Mark => "mark",
            WizardAction::MarkAll => "all",
            WizardAction::Targets => "selector",
            WizardAction::EditSelector => "selector",
            WizardAction::Push => "push",
            WizardAction::RolloutOptions => "options",
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
    /// Agents' sparklines: each row's own scale, or one for all rows.
    SharedScale,
    Restart,
    /// Forget the selected disconnected agent (asks first).
    Forget,
    /// Tap the agent shown: the newest items one of its pipelines handles.
    Tap,
    /// In a tap: the agent's next pipeline.
    TapPipeline,
    /// Open the pipeline builder for a new configuration.
    NewConfig,
    /// Open the selected configuration in the pipeline builder.
    EditConfig,
    /// Mark a configuration version as the base of the next diff.
    DiffBase,
    /// Show (or close) the diff between two configuration versions.
    Diff,
    /// Show (or close) a configuration's pipelines with each component's numbers.
    Flow,
    /// The next period the flow's numbers are averaged over.
    FlowPeriod,
    PauseRollout,
    ResumeRollout,
    CancelRollout,
    RollbackRollout,
    /// Answer yes to the question shown (quit, restart, push…).
    Accept,
    /// Answer no: the question goes, nothing happens.
    Decline,
    /// A key of the pipeline builder (handled by the builder, never by `App::apply`).
    Wizard(WizardAction),
}

impl Action {
    /// Every action but the builder's (those are [`WizardAction::ALL`]).
    pub const ALL: [Action; 49] = [
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
        Action::SharedScale,
        Action::Restart,
        Action::Forget,
        Action::Tap,
        Action::TapPipeline,
        Action::NextSection,
        Action::PrevSection,
        Action::NewConfig,
        Action::EditConfig,
        Action::DiffBase,
        Action::Diff,
        Action::Flow,
        Action::FlowPeriod,
        Action::PauseRollout,
        Action::ResumeRollout,
        Action::CancelRollout,
        Action::RollbackRollout,
        Action::Accept,
        Action::Decline,
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
            Action::SharedScale => "shared_scale",
            Action::Restart => "restart",
            Action::Forget => "forget",
            Action::Tap => "tap",
            Action::TapPipeline => "tap_pipeline",
            Action::NewConfig => "new_config",
            Action::EditConfig => "edit_config",
            Action::DiffBase => "diff_base",
            Action::Diff => "diff",
            Action::Flow => "flow",
            Action::FlowPeriod => "flow_period",
            Action::PauseRollout => "pause_rollout",
            Action::ResumeRollout => "resume_rollout",
            Action::CancelRollout => "cancel_rollout",
            Action::RollbackRollout => "rollback_rollout",
            Action::Accept => "yes",
            Action::Decline => "no",
            Action::Wizard(w) => w.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        let builder = WizardAction::ALL.into_iter().map(Action::Wizard);
        Action::ALL
            .into_iter()
            .chain(builder)
            .find(|a| a.name() == name)
    }

    /// One line for the help overlay and the footer.
    pub fn description(self) -> &'static str {
        match self {
            Action::Quit => "quit, or back in a sub-view (asks first)",
            Action::ForceQuit => "quit from anywhere (asks first)",
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
            Action::SharedScale => "sparkline scale: shared by all rows / per row",
            Action::Restart => "restart marked or selected agents (asks first)",
            Action::Forget => "forget a disconnected agent (asks first)",
            Action::Tap => "tap: the newest items a pipeline of the agent handles",
            Action::TapPipeline => "the agent's next pipeline",
            Action::NewConfig => "new configuration (pipeline builder)",
            Action::EditConfig => "edit the configuration in the builder",
            Action::DiffBase => "mark a version as the diff base",
            Action::Diff => "diff: marked (or previous) version → selected",
            Action::Flow => {
                "flow: the pipelines with each component's rate, drops, failures, queue"
            }
            Action::FlowPeriod => "flow: next period (10s, 1m, 5m, 1h)",
            Action::PauseRollout => "pause the rollout",
            Action::ResumeRollout => "resume a paused or halted rollout",
            Action::CancelRollout => "cancel the rollout",
            Action::RollbackRollout => "roll the rollout back (asks first)",
            Action::Accept => "yes: do what the question says",
            Action::Decline => "no: leave things as they are",
            Action::Wizard(w) => w.description(),
        }
    }

    /// A shorter label for the footer hints.
    pub fn hint(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Back => "back",
            Action::Help => "help",
            Action::Palette => "cmd",
            // Footers show the two together: `j/k scroll`.
            Action::Up | Action::Down => "scroll",
            Action::Filter => "filter",
            Action::Open => "open",
            Action::ToggleMark => "mark",
            Action::SortBy(SortKey::Name) => "sort",
            Action::NextView => "view",
            Action::NextSection => "section",
            Action::Freeze => "freeze",
            Action::SharedScale => "scale",
            Action::TapPipeline => "pipeline",
            Action::NewConfig => "new",
            Action::EditConfig => "edit",
            Action::DiffBase => "base",
            Action::Diff => "diff",
            Action::Flow => "flow",
            Action::FlowPeriod => "period",
            Action::PauseRollout => "pause",
            Action::ResumeRollout => "resume",
            Action::CancelRollout => "cancel",
            Action::RollbackRollout => "rollback",
            Action::Accept => "yes",
            Action::Decline => "cancel",
            Action::Wizard(w) => w.hint(),
            other => other.name(),
        }
    }
}

/// What the user asks of a rollout, in the Configurations view or the builder's push step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steer {
    Pause,
    Resume,
    Cancel,
    Rollback,
}

impl Steer {
    pub fn verb(self) -> &'static str {
        match self {
            Steer::Pause => "pause",
            Steer::Resume => "resume",
            Steer::Cancel => "cancel",
            Steer::Rollback => "roll back",
        }
    }

    /// What asking did, as the rollout now says: a rollback that reached no agent says
    /// so rather than "rolled back".
    pub fn outcome(self, view: &crate::rollout::RolloutView) -> String {
        let n = view.progress.rolled_back;
        match self {
            Steer::Rollback if n == 0 => {
                "nothing to roll back: no agent had an earlier version to go back to; \
                 the rollout is stopped"
                    .to_string()
            }
            Steer::Rollback => format!("{n} agent(s) rolled back"),
            _ => format!("rollout {} ({})", self.done(), view.status),
        }
    }

    /// The past tense, for confirmations.
    pub fn done(self) -> &'static str {
        match self {
            Steer::Pause => "paused",
            Steer::Resume => "resumed",
            Steer::Cancel => "cancelled",
            Steer::Rollback => "rolled back",
        }
    }
}
