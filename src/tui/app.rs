//! The UI state machine: keys → actions → state transitions → effects. Everything here
//! is synchronous and pure (the clock is passed in), so it is tested without a terminal.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use crate::fleet::snapshot::{AgentView, FleetSnapshot};
use crate::fleet::{AgentId, FleetEvent};

use super::ServerInfo;
use super::action::{Action, Effect, SortKey};
use super::configs::{self, CatalogData, ConfigAgent, ConfigsEffect, ConfigsMsg, Overview};
use super::filter::Filter;
use super::index::AgentIndex;
use super::keymap::{Context, KeyChord, Keymap};
use super::layout;
use super::palette;
use super::telemetry::{Tails, TelemetrySource};
use super::theme::{self, ColorLevel, Theme};
use super::wizard::{self, Wizard, WizardEffect, WizardMsg};
use crate::pipeline::TypeRegistry;

/// Most events kept for the events pane.
pub const EVENT_HISTORY: usize = 2000;
/// Deepest navigation stack (k9s-style crumbs stay short).
const MAX_ROUTES: usize = 8;
/// How long a flash message stays in the footer.
const FLASH_FOR: Duration = Duration::from_secs(6);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Agents,
    Configs,
    Events,
    Types,
    Detail(AgentId),
    /// One configuration (`App::configs.detail` holds which).
    ConfigDetail,
    /// The pipeline builder (`App::wizard` holds its state).
    Wizard,
}

impl Route {
    pub fn title(self) -> &'static str {
        match self {
            Route::Agents => "Agents",
            Route::Configs => "Configurations",
            Route::Events => "Events",
            Route::Types => "Resource types",
            Route::Detail(_) => "Agent",
            Route::ConfigDetail => "Configuration",
            Route::Wizard => "Pipeline builder",
        }
    }

    /// Keymap contexts, most specific first.
    pub fn contexts(self) -> &'static [Context] {
        match self {
            Route::Agents => &[
                Context::Agents,
                Context::List,
                Context::Scroll,
                Context::Global,
            ],
            Route::Detail(_) => &[Context::Detail, Context::Scroll, Context::Global],
            Route::Configs => &[
                Context::Configs,
                Context::List,
                Context::Scroll,
                Context::Global,
            ],
            Route::ConfigDetail => &[Context::Configs, Context::Scroll, Context::Global],
            Route::Events => &[Context::List, Context::Scroll, Context::Global],
            Route::Types => &[Context::Scroll, Context::Global],
            Route::Wizard => &[
                Context::Wizard,
                Context::WizardForm,
                Context::Scroll,
                Context::Global,
            ],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    #[default]
    Overview,
    Telemetry,
    Health,
    Config,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Overview,
        Section::Telemetry,
        Section::Health,
        Section::Config,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Telemetry => "Telemetry",
            Section::Health => "Health",
            Section::Config => "Config",
        }
    }

    fn index(self) -> usize {
        Section::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// A one-line text field in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `/`: the text so far and the filter it replaces (restored by Esc).
    Filter { text: String, before: String },
    /// `:` command palette.
    Palette { text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashLevel {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub level: FlashLevel,
    pub until: SystemTime,
}

#[derive(Debug, Default)]
pub struct AgentsState {
    pub index: AgentIndex,
    pub sort: SortKey,
    pub descending: bool,
    pub filter_text: String,
    filter: Filter,
    pub selected: Option<AgentId>,
    pub cursor: usize,
    pub offset: usize,
    pub marks: HashSet<AgentId>,
}

/// How often the configurations and rollouts are fetched at most.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct ConfigsState {
    /// The last catalog and rollout data fetched.
    pub data: CatalogData,
    /// Whether any fetch has answered yet.
    pub loaded: bool,
    /// Why the last fetch failed.
    pub error: Option<String>,
    /// The list as last built, and from what (snapshot, data generation).
    pub overview: Overview,
    built_for: Option<(usize, u64, u64)>,
    data_gen: u64,
    pub cursor: usize,
    pub offset: usize,
    /// Something changed that the data may not show yet.
    stale: bool,
    fetching: bool,
    fetched_at: Option<SystemTime>,
    pub detail: Option<ConfigDetail>,
}

impl Default for ConfigsState {
    fn default() -> Self {
        ConfigsState {
            data: CatalogData::default(),
            loaded: false,
            error: None,
            overview: Overview::default(),
            built_for: None,
            data_gen: 0,
            cursor: 0,
            offset: 0,
            stale: true,
            fetching: false,
            fetched_at: None,
            detail: None,
        }
    }
}

/// The detail of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDetail {
    pub name: String,
    /// Every stored version, newest first (`None` while loading).
    pub versions: Option<Result<Vec<configs::VersionInfo>, String>>,
    /// The selected version (index into `versions`).
    pub cursor: usize,
    /// The version marked as the base of the next diff.
    pub base: Option<u64>,
    /// The diff being shown instead of the agents.
    pub diff: Option<DiffView>,
    /// The agents running this configuration, failures first.
    pub agents: Vec<ConfigAgent>,
    agents_for: Option<(usize, u64)>,
    /// Scroll of the right-hand pane (agents or diff).
    pub scroll: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiffView {
    pub from: u64,
    pub to: u64,
    /// `None` while loading.
    pub lines: Option<Result<Vec<crate::pipeline::DiffLine>, String>>,
}

impl ConfigDetail {
    fn new(name: String) -> Self {
        ConfigDetail {
            name,
            versions: None,
            cursor: 0,
            base: None,
            diff: None,
            agents: Vec::new(),
            agents_for: None,
            scroll: 0,
        }
    }

    /// The selected version number.
    pub fn selected_version(&self) -> Option<u64> {
        match &self.versions {
            Some(Ok(vs)) => vs.get(self.cursor).map(|v| v.version),
            _ => None,
        }
    }

    /// The agents shown for the selected version (all of them before versions load).
    pub fn shown_agents(&self) -> impl Iterator<Item = &ConfigAgent> {
        let v = self.selected_version();
        self.agents
            .iter()
            .filter(move |a| v.is_none_or(|v| a.version == v))
    }

    fn versions_len(&self) -> usize {
        match &self.versions {
            Some(Ok(vs)) => vs.len(),
            _ => 0,
        }
    }
}

#[derive(Debug, Default)]
pub struct EventsState {
    pub items: VecDeque<FleetEvent>,
    /// Events the broadcast dropped because we lagged behind.
    pub missed: u64,
    pub cursor: usize,
    pub offset: usize,
    /// Keep the newest event in view as events arrive.
    pub follow: bool,
}

#[derive(Debug, Default)]
pub struct DetailState {
    pub section: Section,
    pub scroll: [usize; 4],
}

/// What the UI starts with.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub server: ServerInfo,
    pub theme: String,
    pub color_level: ColorLevel,
    pub keymap: Keymap,
    pub mouse: bool,
    /// Problems found while loading settings, shown in the header and the help.
    pub warnings: Vec<String>,
}

pub struct App {
    pub snapshot: Arc<FleetSnapshot>,
    /// The newest snapshot while frozen.
    held: Option<Arc<FleetSnapshot>>,
    pub frozen: bool,
    pub now: SystemTime,
    pub size: (u16, u16),
    routes: Vec<Route>,
    pub agents: AgentsState,
    pub configs: ConfigsState,
    pub events: EventsState,
    pub detail: DetailState,
    pub help: Option<usize>,
    pub input: Option<Input>,
    pub theme: Theme,
    pub color_level: ColorLevel,
    pub keymap: Keymap,
    pub mouse: bool,
    pub warnings: Vec<String>,
    pub flash: Option<Flash>,
    /// The agent a first press of "forget" chose, and until when a second press counts.
    forget_armed: Option<(AgentId, SystemTime)>,
    pub server: ServerInfo,
    pub tails: Tails,
    /// The pipeline builder, while it is open.
    pub wizard: Option<Wizard>,
    /// Resource types the builder offers (the catalog's, set by the run loop; the
    /// built-in ones when nothing set them).
    pub types: Option<Arc<TypeRegistry>>,
    /// Hides known secrets in effective configurations agents report (set by the run loop
    /// from the catalog).
    pub redactor: Arc<crate::pipeline::Redactor>,
    /// Effects produced outside a key's handling (e.g. the diff following the
    /// cursor), handed out by [`App::due_effects`].
    pending: Vec<Effect>,
    /// First row shown in the resource types list.
    pub types_scroll: usize,
    quit: bool,
}

impl App {
    pub fn new(config: AppConfig, snapshot: Arc<FleetSnapshot>, now: SystemTime) -> Self {
        let mut warnings = config.warnings;
        warnings.extend(config.keymap.warnings.iter().cloned());
        let theme = match Theme::builtin(&config.theme, config.color_level) {
            Ok(t) => t,
            Err(e) => {
                warnings.push(format!("{e}; using dark"));
                fallback_theme(config.color_level)
            }
        };
        let mut app = App {
            snapshot,
            held: None,
            frozen: false,
            now,
            size: (80, 24),
            routes: vec![Route::Agents],
            agents: AgentsState::default(),
            configs: ConfigsState::default(),
            events: EventsState {
                follow: true,
                ..EventsState::default()
            },
            detail: DetailState::default(),
            help: None,
            input: None,
            theme,
            color_level: config.color_level,
            keymap: config.keymap,
            mouse: config.mouse,
            warnings,
            flash: None,
            forget_armed: None,
            server: config.server,
            tails: Tails::default(),
            wizard: None,
            types: None,
            redactor: Arc::default(),
            pending: Vec::new(),
            types_scroll: 0,
            quit: false,
        };
        app.reindex();
        app
    }

    pub fn route(&self) -> Route {
        self.routes.last().copied().unwrap_or(Route::Agents)
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The keymap contexts of what has the keyboard, most specific first: the view's, or
    /// in the builder, those of the step shown.
    pub fn contexts(&self) -> Vec<Context> {
        match (self.route(), &self.wizard) {
            (Route::Wizard, Some(w)) => w.contexts(),
            (route, _) => route.contexts().to_vec(),
        }
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn selected_agent(&self) -> Option<&Arc<AgentView>> {
        self.agents.selected.and_then(|id| self.snapshot.get(&id))
    }

    /// Ids of the agents in the table, in display order.
    pub fn shown_ids(&self) -> impl Iterator<Item = AgentId> + '_ {
        self.agents
            .index
            .visible()
            .iter()
            .map(|i| self.snapshot.agents[*i as usize].id)
    }

    // ----- inputs from the outside world -----

    pub fn set_now(&mut self, now: SystemTime) {
        self.now = now;
        if self.flash.as_ref().is_some_and(|f| f.until <= now) {
            self.flash = None;
        }
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.size = (width, height);
        self.keep_cursor_in_view();
    }

    /// A new fleet snapshot. The selection stays on the same agent id wherever the
    /// re-sorted, re-filtered list puts it, at the same height on screen when possible.
    pub fn set_snapshot(&mut self, snap: Arc<FleetSnapshot>) {
        if self.frozen {
            self.held = Some(snap);
            return;
        }
        self.snapshot = snap;
        if let Some(w) = &mut self.wizard {
            w.set_snapshot(&self.snapshot);
        }
        self.reindex();
        self.rebuild_configs();
    }

    pub fn push_event(&mut self, event: FleetEvent) {
        use crate::fleet::EventKind as K;
        if matches!(event.kind, K::Rollout { .. } | K::ConfigStatus { .. }) {
            self.configs.stale = true;
        }
        let ev = &mut self.events;
        if ev.items.len() == EVENT_HISTORY {
            ev.items.pop_front();
            ev.cursor = ev.cursor.saturating_sub(1);
        }
        ev.items.push_back(event);
        if ev.follow {
            ev.cursor = ev.items.len() - 1;
        }
        self.keep_cursor_in_view();
    }

    pub fn events_missed(&mut self, n: u64) {
        self.events.missed += n;
    }

    /// Copies the telemetry the next frame shows. Called just before drawing.
    pub fn copy_tails(&mut self, source: &dyn TelemetrySource) {
        let (w, h) = self.size;
        let mut ids: Vec<(AgentId, usize)> = Vec::new();
        match self.route() {
            Route::Agents => {
                let n = layout::Tier::of(w).spark_width();
                let rows = layout::agents_rows(w, h);
                ids.extend(
                    self.agents.index.visible()[self.agents.offset.min(self.agents.index.len())..]
                        .iter()
                        .take(rows)
                        .map(|i| (self.snapshot.agents[*i as usize].id, n)),
                );
            }
            Route::Detail(id) => ids.push((id, layout::detail_spark_width(w))),
            _ => {}
        }
        self.tails.copy_from(source, &ids, 1);
    }

    /// A terminal event. Returns what the run loop must do.
    pub fn handle_event(&mut self, event: &Event) -> Vec<Effect> {
        match event {
            Event::Key(key) => self.handle_key(key),
            Event::Resize(w, h) => {
                self.resize(*w, *h);
                Vec::new()
            }
            Event::Mouse(m) if self.mouse => self.handle_mouse(m),
            Event::Paste(text) if self.route() == Route::Wizard => {
                if let Some(w) = &mut self.wizard {
                    w.paste(text);
                }
                Vec::new()
            }
            Event::Paste(text) => {
                if let Some(Input::Filter { text: t, .. } | Input::Palette { text: t }) =
                    &mut self.input
                {
                    t.push_str(text.trim_end_matches(['\r', '\n']));
                    self.after_input_edit();
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let Some(chord) = KeyChord::from_event(key) else {
            return Vec::new();
        };
        if chord == KeyChord::ctrl('c') {
            return self.apply(Action::ForceQuit);
        }
        if self.route() == Route::Wizard {
            if let Some(scroll) = self.help {
                self.help_key(scroll, chord);
                return Vec::new();
            }
            // `?` opens the help unless a text is being typed in the builder.
            let typing = self
                .wizard
                .as_ref()
                .is_some_and(|w| !matches!(w.mode, wizard::Mode::Normal));
            if !typing && self.keymap.lookup(&self.contexts(), chord) == Some(Action::Help) {
                self.help = Some(0);
                return Vec::new();
            }
            return self.wizard_key(key);
        }
        if self.input.is_some() {
            return self.edit_input(key);
        }
        if let Some(scroll) = self.help {
            self.help_key(scroll, chord);
            return Vec::new();
        }
        match self.keymap.lookup(self.route().contexts(), chord) {
            Some(action) => self.apply(action),
            None => Vec::new(),
        }
    }

    /// The help overlay takes every key: scroll it, or close it.
    fn help_key(&mut self, scroll: usize, chord: KeyChord) {
        match self.keymap.lookup(&[Context::Scroll], chord) {
            Some(Action::Down) => self.help = Some(scroll + 1),
            Some(Action::Up) => self.help = Some(scroll.saturating_sub(1)),
            _ => self.help = None,
        }
    }

    fn handle_mouse(&mut self, m: &MouseEvent) -> Vec<Effect> {
        match m.kind {
            MouseEventKind::ScrollDown => self.apply(Action::Down),
            MouseEventKind::ScrollUp => self.apply(Action::Up),
            MouseEventKind::Down(MouseButton::Left) => {
                let (w, h) = self.size;
                let top = layout::table_first_row_y(w, h);
                if m.row >= top && self.route() == Route::Agents {
                    let row = usize::from(m.row - top);
                    if row < layout::agents_rows(w, h) {
                        self.move_cursor_to(self.agents.offset + row);
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    // ----- actions -----

    pub fn apply(&mut self, action: Action) -> Vec<Effect> {
        let route = self.route();
        match action {
            Action::ForceQuit => return self.quit(),
            Action::Quit if self.routes.len() == 1 => return self.quit(),
            Action::Quit | Action::Back => self.back(),
            Action::Help => self.help = Some(0),
            Action::Palette => {
                self.input = Some(Input::Palette {
                    text: String::new(),
                })
            }
            Action::Filter if route == Route::Agents => {
                self.input = Some(Input::Filter {
                    text: self.agents.filter_text.clone(),
                    before: self.agents.filter_text.clone(),
                })
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.page() as isize)),
            Action::PageDown => self.move_by(self.page() as isize),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Open => return self.open(),
            Action::ToggleMark => self.toggle_mark(),
            Action::MarkAll => {
                let ids: Vec<AgentId> = self.shown_ids().collect();
                self.agents.marks.extend(ids);
            }
            Action::SortBy(key) => {
                if self.agents.sort == key {
                    self.agents.descending = !self.agents.descending;
                } else {
                    self.agents.sort = key;
                    self.agents.descending = false;
                }
                self.reindex();
            }
            Action::InvertSort => {
                self.agents.descending = !self.agents.descending;
                self.reindex();
            }
            Action::ViewAgents => self.go_to(Route::Agents),
            Action::ViewConfigs => self.go_to(Route::Configs),
            Action::ViewEvents => self.go_to(Route::Events),
            Action::NextView | Action::PrevView => {
                const CYCLE: [Route; 3] = [Route::Agents, Route::Configs, Route::Events];
                let root = self.routes.first().copied().unwrap_or(Route::Agents);
                let at = CYCLE.iter().position(|r| *r == root).unwrap_or(0);
                let step = if action == Action::NextView { 1 } else { 2 };
                self.go_to(CYCLE[(at + step) % 3]);
            }
            Action::NextSection | Action::PrevSection => {
                let at = self.detail.section.index();
                let step = if action == Action::NextSection { 1 } else { 3 };
                self.detail.section = Section::ALL[(at + step) % 4];
            }
            Action::Freeze => {
                self.frozen = !self.frozen;
                if !self.frozen
                    && let Some(snap) = self.held.take()
                {
                    self.set_snapshot(snap);
                }
            }
            Action::CycleTheme => {
                let names: Vec<&str> = theme::builtin_names().collect();
                let at = names
                    .iter()
                    .position(|n| *n == self.theme.name)
                    .unwrap_or(0);
                self.set_theme(names[(at + 1) % names.len()]);
            }
            Action::Restart => return self.restart(),
            Action::Forget => return self.forget(),
            Action::NewConfig => return self.open_wizard(None),
            Action::EditConfig => {
                if let Some(name) = self.selected_config() {
                    return self.open_wizard(Some(name));
                }
            }
            Action::DiffBase => self.mark_diff_base(),
            Action::Diff => return self.toggle_diff(),
            Action::PauseRollout => return self.steer(configs::Steer::Pause),
            Action::ResumeRollout => return self.steer(configs::Steer::Resume),
            Action::CancelRollout => return self.steer(configs::Steer::Cancel),
            Action::RollbackRollout => return self.steer(configs::Steer::Rollback),
            Action::Filter => {}
            // The builder takes its keys itself (`wizard_key`), before the keymap.
            Action::Wizard(_) => {}
        }
        std::mem::take(&mut self.pending)
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.quit = true;
        vec![Effect::Quit]
    }

    fn back(&mut self) {
        if self.routes.len() > 1 {
            self.routes.pop();
            self.keep_cursor_in_view();
        } else if self.route() == Route::Agents {
            if !self.agents.marks.is_empty() {
                self.agents.marks.clear();
            } else if !self.agents.filter_text.is_empty() {
                self.set_filter(String::new());
            }
        }
    }

    fn go_to(&mut self, route: Route) {
        self.routes.clear();
        self.routes.push(route);
        if route == Route::Configs {
            self.configs.stale = true;
            self.rebuild_configs();
        }
        self.keep_cursor_in_view();
    }

    fn push_route(&mut self, route: Route) {
        if self.routes.len() == MAX_ROUTES {
            self.routes.remove(1);
        }
        self.routes.push(route);
    }

    fn open(&mut self) -> Vec<Effect> {
        match self.route() {
            Route::Agents => {
                if let Some(id) = self.agents.selected {
                    self.detail = DetailState::default();
                    self.push_route(Route::Detail(id));
                }
            }
            Route::Configs => match self.configs.overview.rows.get(self.configs.cursor) {
                Some(row) => {
                    let name = row.name.clone();
                    self.configs.detail = Some(ConfigDetail::new(name.clone()));
                    self.push_route(Route::ConfigDetail);
                    self.rebuild_configs();
                    return vec![Effect::Configs(ConfigsEffect::Versions { name })];
                }
                // The last row: agents on their own configuration.
                None => {
                    self.set_filter("config=unset".into());
                    self.push_route(Route::Agents);
                }
            },
            Route::Events => {
                let id = self
                    .events
                    .items
                    .get(self.events.cursor)
                    .and_then(event_agent);
                if let Some(id) = id {
                    if self.snapshot.get(&id).is_some() {
                        self.detail = DetailState::default();
                        self.push_route(Route::Detail(id));
                    } else {
                        self.flash(FlashLevel::Warn, format!("agent {id} is gone"));
                    }
                }
            }
            Route::Types | Route::Detail(_) | Route::ConfigDetail | Route::Wizard => {}
        }
        Vec::new()
    }

    // ----- the pipeline builder -----

    /// Uses these resource types for builders opened from now on.
    pub fn set_types(&mut self, types: Arc<TypeRegistry>) {
        self.types = Some(types);
    }

    /// The secrets to hide, as the catalog knows them now.
    pub fn set_redactor(&mut self, redactor: Arc<crate::pipeline::Redactor>) {
        if let Some(w) = &mut self.wizard {
            w.redactor = redactor.clone();
        }
        self.redactor = redactor;
    }

    /// Opens the builder: a new configuration, or `edit` from the catalog. Agents marked
    /// in the agents view become its first targets.
    pub fn open_wizard(&mut self, edit: Option<String>) -> Vec<Effect> {
        let types = self
            .types
            .get_or_insert_with(|| Arc::new(TypeRegistry::builtin()))
            .clone();
        let marks = self.agents.marks.iter().copied();
        let mut w = match &edit {
            Some(name) => Wizard::edit(types, name, marks),
            None => Wizard::new(types, marks),
        }
        .with_keymap(self.keymap.clone());
        w.set_snapshot(&self.snapshot);
        let start = w.start();
        self.wizard = Some(w);
        if self.route() != Route::Wizard {
            self.push_route(Route::Wizard);
        }
        vec![Effect::Wizard(start)]
    }

    fn wizard_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let Some(w) = &mut self.wizard else {
            self.back();
            return Vec::new();
        };
        let cx = wizard::Cx {
            snapshot: &self.snapshot,
            size: self.size,
        };
        let out = w.handle_key(key, &cx);
        if out.close {
            self.wizard = None;
            self.back();
        }
        out.effects.into_iter().map(Effect::Wizard).collect()
    }

    /// The result of a wizard effect, from the run loop.
    pub fn wizard_message(&mut self, msg: WizardMsg) -> Vec<Effect> {
        let Some(w) = &mut self.wizard else {
            return Vec::new();
        };
        w.on_message(msg, &self.snapshot)
            .into_iter()
            .map(Effect::Wizard)
            .collect()
    }

    /// Whether an effect belongs to a builder that is still open.
    pub fn wants(&self, effect: &WizardEffect) -> bool {
        self.wizard.is_some() || matches!(effect, WizardEffect::StopFollowing)
    }

    fn toggle_mark(&mut self) {
        if self.route() != Route::Agents {
            return;
        }
        if let Some(id) = self.agents.selected {
            if !self.agents.marks.remove(&id) {
                self.agents.marks.insert(id);
            }
            self.move_by(1);
        }
    }

    /// First press: says what a second press does. Second press on the same agent within
    /// a few seconds: forgets it. Connected agents are not offered (they would come back).
    fn forget(&mut self) -> Vec<Effect> {
        if self.route() != Route::Agents {
            return Vec::new();
        }
        let Some(id) = self.agents.selected else {
            return Vec::new();
        };
        let Some(agent) = self.snapshot.get(&id) else {
            return Vec::new();
        };
        if agent.is_connected() {
            self.forget_armed = None;
            self.flash(
                FlashLevel::Warn,
                format!(
                    "{} is connected: only disconnected agents can be forgotten",
                    agent.name
                ),
            );
            return Vec::new();
        }
        let armed = self
            .forget_armed
            .take()
            .is_some_and(|(armed, until)| armed == id && self.now <= until);
        if armed {
            let name = agent.name.clone();
            self.flash(FlashLevel::Info, format!("forgetting {name}"));
            return vec![Effect::ForgetAgent(id)];
        }
        let name = agent.name.clone();
        self.forget_armed = Some((id, self.now + FLASH_FOR));
        self.flash(
            FlashLevel::Warn,
            format!("press D again to forget {name}: it leaves the fleet and the store"),
        );
        Vec::new()
    }

    fn restart(&mut self) -> Vec<Effect> {
        let mut ids: Vec<AgentId> = if self.agents.marks.is_empty() {
            self.agents.selected.into_iter().collect()
        } else {
            self.agents.marks.iter().copied().collect()
        };
        ids.sort();
        if ids.is_empty() {
            return Vec::new();
        }
        vec![Effect::RestartAgents(ids)]
    }

    pub fn set_theme(&mut self, name: &str) {
        if self.color_level == ColorLevel::None && name != "mono" {
            self.flash(FlashLevel::Info, "NO_COLOR is set: keeping mono".into());
            return;
        }
        match Theme::builtin(name, self.color_level) {
            Ok(t) => {
                self.flash(FlashLevel::Info, format!("theme: {}", t.name));
                self.theme = t;
            }
            Err(e) => self.flash(FlashLevel::Error, e.to_string()),
        }
    }

    pub fn flash(&mut self, level: FlashLevel, text: String) {
        self.flash = Some(Flash {
            text,
            level,
            until: self.now + FLASH_FOR,
        });
    }

    // ----- filter and palette input -----

    fn edit_input(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let Some(input) = &mut self.input else {
            return Vec::new();
        };
        let text = match input {
            Input::Filter { text, .. } | Input::Palette { text } => text,
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                if let Some(Input::Filter { before, .. }) = self.input.take() {
                    self.set_filter(before);
                }
                return Vec::new();
            }
            KeyCode::Enter => {
                return match self.input.take() {
                    Some(Input::Palette { text }) => self.run_command(&text),
                    _ => Vec::new(),
                };
            }
            KeyCode::Tab => {
                if let Some(Input::Palette { text }) = &mut self.input
                    && let Some(done) = palette::complete(text)
                {
                    *text = done;
                }
                return Vec::new();
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char('w') if ctrl => {
                let keep = text.trim_end().rfind(' ').map_or(0, |i| i + 1);
                text.truncate(keep);
            }
            KeyCode::Char(c) if !ctrl => text.push(c),
            _ => return Vec::new(),
        }
        self.after_input_edit();
        Vec::new()
    }

    /// The filter applies as you type.
    fn after_input_edit(&mut self) {
        if let Some(Input::Filter { text, .. }) = &self.input {
            let text = text.clone();
            self.set_filter(text);
        }
    }

    pub fn set_filter(&mut self, text: String) {
        self.agents.filter = Filter::parse(&text);
        self.agents.filter_text = text;
        self.reindex();
    }

    fn run_command(&mut self, text: &str) -> Vec<Effect> {
        match palette::parse(text) {
            Ok(palette::Command::Agents) => self.go_to(Route::Agents),
            Ok(palette::Command::Configs) => self.go_to(Route::Configs),
            Ok(palette::Command::Events) => self.go_to(Route::Events),
            Ok(palette::Command::Types) => self.go_to(Route::Types),
            Ok(palette::Command::Help) => self.help = Some(0),
            Ok(palette::Command::Theme(name)) => self.set_theme(&name),
            Ok(palette::Command::New) => return self.open_wizard(None),
            Ok(palette::Command::Edit(name)) => {
                let name = name.or_else(|| self.selected_config());
                match name {
                    Some(n) => return self.open_wizard(Some(n)),
                    None => {
                        self.flash(FlashLevel::Error, ":edit needs a configuration name".into())
                    }
                }
            }
            Ok(palette::Command::Quit) => return self.quit(),
            Ok(palette::Command::Nothing) => {}
            Err(e) => self.flash(FlashLevel::Error, e),
        }
        Vec::new()
    }

    // ----- lists and selection -----

    /// Rows one page moves.
    fn page(&self) -> usize {
        self.list_rows().saturating_sub(1).max(1)
    }

    fn list_rows(&self) -> usize {
        let (w, h) = self.size;
        match self.route() {
            Route::Agents => layout::agents_rows(w, h),
            Route::Configs | Route::Events => layout::list_rows(h),
            Route::ConfigDetail => layout::config_versions_rows(w, h),
            Route::Detail(_) => layout::detail_rows(w, h),
            Route::Types | Route::Wizard => 1,
        }
    }

    fn list_len(&self) -> usize {
        match self.route() {
            Route::Agents => self.agents.index.len(),
            Route::Configs => self.configs.overview.entries(),
            Route::ConfigDetail => self
                .configs
                .detail
                .as_ref()
                .map_or(0, ConfigDetail::versions_len),
            Route::Events => self.events.items.len(),
            Route::Detail(_) | Route::Types | Route::Wizard => 0,
        }
    }

    fn move_by(&mut self, delta: isize) {
        if let Route::Detail(id) = self.route() {
            let (w, h) = self.size;
            let section = self.detail.section;
            let max =
                super::views::detail::max_scroll(self, id, section, layout::detail_rows(w, h));
            let s = &mut self.detail.scroll[section.index()];
            *s = (*s).min(max).saturating_add_signed(delta).min(max);
            return;
        }
        if self.route() == Route::Types {
            let len = self
                .types
                .get_or_insert_with(|| Arc::new(TypeRegistry::builtin()))
                .len();
            let max = len.saturating_sub(layout::list_rows(self.size.1));
            self.types_scroll = self
                .types_scroll
                .min(max)
                .saturating_add_signed(delta)
                .min(max);
            return;
        }
        if self.route() == Route::ConfigDetail
            && matches!(delta.unsigned_abs(), n if n > 1)
            && let Some(d) = &mut self.configs.detail
        {
            // Pages scroll the agents or the diff; single steps move between versions.
            d.scroll = d.scroll.saturating_add_signed(delta);
            self.clamp_detail_scroll();
            return;
        }
        let cursor = match self.route() {
            Route::Agents => self.agents.cursor,
            Route::Configs => self.configs.cursor,
            Route::ConfigDetail => self.configs.detail.as_ref().map_or(0, |d| d.cursor),
            Route::Events => self.events.cursor,
            _ => 0,
        };
        self.move_cursor_to(cursor.saturating_add_signed(delta));
    }

    fn move_cursor_to(&mut self, target: usize) {
        let len = self.list_len();
        let rows = self.list_rows();
        let cursor = target.min(len.saturating_sub(1));
        match self.route() {
            Route::Agents => {
                let st = &mut self.agents;
                st.cursor = cursor;
                st.offset = scrolled(st.offset, cursor, rows, len);
                st.selected = st
                    .index
                    .visible()
                    .get(cursor)
                    .map(|i| self.snapshot.agents[*i as usize].id);
            }
            Route::Configs => {
                let st = &mut self.configs;
                st.cursor = cursor;
                st.offset = scrolled(st.offset, cursor, rows, len);
            }
            Route::ConfigDetail => {
                if let Some(d) = &mut self.configs.detail
                    && d.cursor != cursor
                {
                    d.cursor = cursor;
                    d.scroll = 0;
                    // The diff follows the selection: base (or previous) → selected.
                    if d.diff.is_some() {
                        d.diff = None;
                        let more = self.toggle_diff();
                        self.pending.extend(more);
                    }
                }
            }
            Route::Events => {
                let st = &mut self.events;
                st.cursor = cursor;
                st.offset = scrolled(st.offset, cursor, rows, len);
                st.follow = cursor + 1 >= len;
            }
            _ => {}
        }
    }

    fn keep_cursor_in_view(&mut self) {
        let (w, h) = self.size;
        let st = &mut self.agents;
        st.offset = scrolled(
            st.offset,
            st.cursor,
            layout::agents_rows(w, h),
            st.index.len(),
        );
        let rows = layout::list_rows(h);
        let c = &mut self.configs;
        c.offset = scrolled(c.offset, c.cursor, rows, c.overview.entries());
        let e = &mut self.events;
        e.offset = scrolled(e.offset, e.cursor, rows, e.items.len());
    }

    /// Rebuilds the table order and puts the cursor back on the selected agent.
    fn reindex(&mut self) {
        let (w, h) = self.size;
        let rows = layout::agents_rows(w, h);
        let st = &mut self.agents;
        let screen_row = st.cursor.saturating_sub(st.offset);
        st.index
            .update(&self.snapshot, st.sort, st.descending, &st.filter);
        let len = st.index.len();
        let found = st
            .selected
            .and_then(|id| {
                self.snapshot
                    .agents
                    .binary_search_by(|a| a.id.cmp(&id))
                    .ok()
            })
            .and_then(|pos| st.index.position_of(pos));
        st.cursor = found.unwrap_or(st.cursor).min(len.saturating_sub(1));
        // Keep the selected row at the same height on screen when the list moves under it.
        let max_offset = len.saturating_sub(rows);
        st.offset = st.cursor.saturating_sub(screen_row).min(max_offset);
        st.offset = scrolled(st.offset, st.cursor, rows, len);
        st.selected = st
            .index
            .visible()
            .get(st.cursor)
            .map(|i| self.snapshot.agents[*i as usize].id);
    }

    /// Rebuilds the configurations list (and the open detail's agents) when the
    /// snapshot or the catalog data changed, while one of those views is open.
    fn rebuild_configs(&mut self) {
        if !matches!(self.route(), Route::Configs | Route::ConfigDetail) {
            return;
        }
        let snap_key = (Arc::as_ptr(&self.snapshot) as usize, self.snapshot.version);
        let key = (snap_key.0, snap_key.1, self.configs.data_gen);
        if self.configs.built_for != Some(key) {
            self.configs.overview = configs::overview(&self.snapshot, &self.configs.data);
            self.configs.built_for = Some(key);
            let len = self.configs.overview.entries();
            self.configs.cursor = self.configs.cursor.min(len.saturating_sub(1));
            self.keep_cursor_in_view();
        }
        if let Some(d) = &mut self.configs.detail
            && d.agents_for != Some(snap_key)
        {
            d.agents = configs::agents_of(&self.snapshot, &d.name);
            d.agents_for = Some(snap_key);
        }
        self.clamp_detail_scroll();
    }

    fn clamp_detail_scroll(&mut self) {
        let (w, h) = self.size;
        let rows = layout::config_pane_rows(w, h);
        if let Some(d) = &mut self.configs.detail {
            let len = match &d.diff {
                Some(DiffView {
                    lines: Some(Ok(lines)),
                    ..
                }) => lines.len(),
                Some(_) => 0,
                None => d.shown_agents().count(),
            };
            d.scroll = d.scroll.min(len.saturating_sub(rows));
        }
    }

    // ----- the configurations view -----

    /// The configuration the cursor is on (list or detail).
    pub fn selected_config(&self) -> Option<String> {
        match self.route() {
            Route::Configs => self
                .configs
                .overview
                .rows
                .get(self.configs.cursor)
                .map(|r| r.name.clone()),
            Route::ConfigDetail => self.configs.detail.as_ref().map(|d| d.name.clone()),
            _ => None,
        }
    }

    /// Fetches that are due: the list and rollouts when the configurations view is open
    /// and something changed, at most once per [`REFRESH_EVERY`], one at a time. The
    /// run loop calls this after everything it handles.
    pub fn due_effects(&mut self, now: SystemTime) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.pending);
        let c = &mut self.configs;
        let open = matches!(
            self.routes.last(),
            Some(Route::Configs | Route::ConfigDetail)
        );
        // A running rollout moves even when no event says so (phases start on timers).
        let moving = c.data.rollouts.iter().any(|r| !r.status.finished());
        let recent = c
            .fetched_at
            .is_some_and(|t| now.duration_since(t).unwrap_or_default() < REFRESH_EVERY);
        if open && (c.stale || moving) && !c.fetching && !recent {
            c.stale = false;
            c.fetching = true;
            c.fetched_at = Some(now);
            out.push(Effect::Configs(ConfigsEffect::Refresh));
        }
        out
    }

    /// The result of a configurations effect, from the run loop.
    pub fn configs_message(&mut self, msg: ConfigsMsg) -> Vec<Effect> {
        match msg {
            ConfigsMsg::Refreshed(result) => {
                self.configs.fetching = false;
                self.configs.loaded = true;
                match result {
                    Ok(data) => {
                        self.configs.data = data;
                        self.configs.data_gen += 1;
                        self.configs.error = None;
                    }
                    Err(e) => self.configs.error = Some(e),
                }
                self.rebuild_configs();
                return self.reload_versions_if_newer();
            }
            ConfigsMsg::Versions { name, result } => {
                if let Some(d) = &mut self.configs.detail
                    && d.name == name
                {
                    let result = result.map(|mut vs| {
                        vs.sort_by_key(|v| std::cmp::Reverse(v.version));
                        vs
                    });
                    // Stay on the same version when a newer one arrives above it.
                    let selected = d.selected_version();
                    d.versions = Some(result);
                    d.cursor = match (selected, &d.versions) {
                        (Some(v), Some(Ok(vs))) => {
                            vs.iter().position(|x| x.version == v).unwrap_or(0)
                        }
                        _ => d.cursor.min(d.versions_len().saturating_sub(1)),
                    };
                }
            }
            ConfigsMsg::Diff {
                name,
                from,
                to,
                result,
            } => {
                if let Some(d) = &mut self.configs.detail
                    && d.name == name
                    && let Some(diff) = &mut d.diff
                    && (diff.from, diff.to) == (from, to)
                {
                    diff.lines = Some(result);
                }
            }
            ConfigsMsg::Steered { name, how, result } => match result {
                Ok(view) => {
                    self.flash(
                        FlashLevel::Info,
                        format!("{name}: rollout {} ({})", how.done(), view.status),
                    );
                    let rollouts = &mut self.configs.data.rollouts;
                    match rollouts
                        .iter_mut()
                        .find(|r| r.config.name == view.config.name)
                    {
                        Some(r) => *r = view,
                        None => rollouts.push(view),
                    }
                    self.configs.data_gen += 1;
                    self.configs.stale = true;
                    self.rebuild_configs();
                }
                Err(e) => self.flash(
                    FlashLevel::Error,
                    format!("{name}: cannot {} the rollout: {e}", how.verb()),
                ),
            },
        }
        Vec::new()
    }

    /// The open detail's versions again when the catalog lists a newer one.
    fn reload_versions_if_newer(&self) -> Vec<Effect> {
        let Some(d) = &self.configs.detail else {
            return Vec::new();
        };
        let latest = self
            .configs
            .data
            .configs
            .iter()
            .find(|c| c.name == d.name)
            .map(|c| c.version);
        let known = match &d.versions {
            Some(Ok(vs)) => vs.first().map(|v| v.version),
            // Still loading, or failed: a reopen asks again.
            _ => return Vec::new(),
        };
        if latest > known {
            vec![Effect::Configs(ConfigsEffect::Versions {
                name: d.name.clone(),
            })]
        } else {
            Vec::new()
        }
    }

    fn mark_diff_base(&mut self) {
        if let Some(d) = &mut self.configs.detail
            && self.routes.last() == Some(&Route::ConfigDetail)
            && let Some(v) = d.selected_version()
        {
            d.base = if d.base == Some(v) { None } else { Some(v) };
        }
    }

    /// Opens the diff from the marked version (or the one before the selected) to the
    /// selected one, or closes it.
    fn toggle_diff(&mut self) -> Vec<Effect> {
        if self.route() != Route::ConfigDetail {
            return Vec::new();
        }
        let Some(d) = &mut self.configs.detail else {
            return Vec::new();
        };
        if d.diff.take().is_some() {
            d.scroll = 0;
            return Vec::new();
        }
        let Some(Ok(versions)) = &d.versions else {
            return Vec::new();
        };
        let Some(to) = versions.get(d.cursor).map(|v| v.version) else {
            return Vec::new();
        };
        let from = d
            .base
            .filter(|b| *b != to)
            .or_else(|| versions.get(d.cursor + 1).map(|v| v.version));
        let Some(from) = from else {
            self.flash(
                FlashLevel::Info,
                format!("v{to} is the first version: mark another with space to diff"),
            );
            return Vec::new();
        };
        d.diff = Some(DiffView {
            from,
            to,
            lines: None,
        });
        d.scroll = 0;
        vec![Effect::Configs(ConfigsEffect::Diff {
            name: d.name.clone(),
            from,
            to,
        })]
    }

    fn steer(&mut self, how: configs::Steer) -> Vec<Effect> {
        let Some(name) = self.selected_config() else {
            return Vec::new();
        };
        let rollout = self
            .configs
            .data
            .rollouts
            .iter()
            .find(|r| *r.config.name == *name);
        match rollout {
            None => {
                self.flash(
                    FlashLevel::Info,
                    format!("{name} has no rollout to {}", how.verb()),
                );
                Vec::new()
            }
            Some(r) if !configs::can_steer(&r.status, how) => {
                let status = r.status.to_string();
                self.flash(
                    FlashLevel::Info,
                    format!("{name}: the rollout is {status}; cannot {}", how.verb()),
                );
                Vec::new()
            }
            Some(_) => vec![Effect::Configs(ConfigsEffect::Steer { name, how })],
        }
    }
}

/// The offset that keeps `cursor` inside a window of `rows` over `len` items.
fn scrolled(offset: usize, cursor: usize, rows: usize, len: usize) -> usize {
    let rows = rows.max(1);
    let mut offset = offset.min(len.saturating_sub(rows));
    if cursor < offset {
        offset = cursor;
    } else if cursor >= offset + rows {
        offset = cursor + 1 - rows;
    }
    offset
}

pub fn event_agent(e: &FleetEvent) -> Option<AgentId> {
    use crate::fleet::EventKind as K;
    match &e.kind {
        K::AgentConnected { id, .. }
        | K::AgentDisconnected { id, .. }
        | K::HealthChanged { id, .. }
        | K::RemoteConfigStatus { id, .. }
        | K::ConfigStatus { id, .. }
        | K::DuplicateInstanceUid { id, .. } => Some(*id),
        K::Rollout { .. } => None,
        K::Notice { agent, .. } => *agent,
    }
}

fn fallback_theme(level: ColorLevel) -> Theme {
    Theme::builtin("dark", level)
        .or_else(|_| Theme::builtin("mono", level))
        .unwrap_or_else(|_| mono_fallback())
}

/// A theme with no styles at all, for the impossible case that the embedded files fail.
fn mono_fallback() -> Theme {
    use ratatui::style::Style;
    let s = Style::default();
    Theme {
        name: "plain".into(),
        text: s,
        muted: s,
        accent: s,
        title: s,
        border: s,
        header: s,
        footer: s,
        key: s,
        table_header: s,
        selection: s.add_modifier(ratatui::style::Modifier::REVERSED),
        marked: s,
        ok: s,
        warn: s,
        err: s,
        info: s,
        spark_logs: s,
        spark_metrics: s,
        spark_traces: s,
        spark_cpu: s,
        spark_memory: s,
        yaml_key: s,
        yaml_comment: s,
        popup: s,
    }
}
