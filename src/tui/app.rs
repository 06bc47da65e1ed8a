//! The driver: which view has the keyboard (a stack of [`Route`]s), the text being typed
//! in the footer, the help overlay and flash messages. A key becomes an [`Action`]
//! through the keymap, and the driver routes it to the view shown (`agents`, `detail`,
//! `events`, `configs`, `resource_types`, `wizard`), which changes its own state and may
//! return [`Effect`]s for `effects.rs` to carry out. Everything here is synchronous and
//! pure (the clock is passed in), so it is tested without a terminal.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use crate::fleet::snapshot::{AgentView, FleetSnapshot};
use crate::fleet::{AgentId, FleetEvent};
use crate::pipeline::TypeRegistry;

use super::action::Action;
use super::agents::AgentsState;
use super::configs::{ConfigDetail, ConfigsMsg, ConfigsState, Steer};
use super::detail::DetailState;
use super::effects::{self, Effect};
use super::events::EventsState;
use super::flash::{Flash, FlashLevel, Note};
use super::keymap::{Context, KeyChord, Keymap};
use super::telemetry::{Tails, TelemetrySource};
use super::theme::{self, ColorLevel, Theme};
use super::widgets::{DrawCx, ServerInfo};
use super::wizard::{self, Wizard, WizardEffect, WizardMsg};
use super::{detail, layout, palette, resource_types};

/// Deepest navigation stack (k9s-style crumbs stay short).
const MAX_ROUTES: usize = 8;
/// How long a flash message stays in the footer.
const FLASH_FOR: Duration = Duration::from_secs(6);

/// Which view has the keyboard.
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

/// A one-line text field in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `/`: the text so far and the filter it replaces (restored by Esc).
    Filter { text: String, before: String },
    /// `:` command palette.
    Palette { text: String },
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
                Theme::fallback(config.color_level)
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
            events: EventsState::default(),
            detail: DetailState::default(),
            help: None,
            input: None,
            theme,
            color_level: config.color_level,
            keymap: config.keymap,
            mouse: config.mouse,
            warnings,
            flash: None,
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
        self.agents.selected_agent(&self.snapshot)
    }

    /// Ids of the agents in the table, in display order.
    pub fn shown_ids(&self) -> impl Iterator<Item = AgentId> + '_ {
        self.agents.shown_ids(&self.snapshot)
    }

    /// What the views draw with this frame.
    pub fn draw_cx(&self) -> DrawCx<'_> {
        DrawCx {
            theme: &self.theme,
            now: self.now,
            size: self.size,
            snapshot: &self.snapshot,
            tails: &self.tails,
            keymap: &self.keymap,
            server: &self.server,
            redactor: &self.redactor,
        }
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
        self.events.push(event);
        self.keep_cursor_in_view();
    }

    pub fn events_missed(&mut self, n: u64) {
        self.events.missed += n;
    }

    /// Copies the telemetry the next frame shows. Called just before drawing.
    pub fn copy_tails(&mut self, source: &dyn TelemetrySource) {
        let ids = match self.route() {
            Route::Agents => self.agents.on_screen(&self.snapshot, self.size),
            Route::Detail(id) => vec![(id, layout::detail_spark_width(self.size.0))],
            _ => Vec::new(),
        };
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

    // ----- actions, routed to the view shown -----

    pub fn apply(&mut self, action: Action) -> Vec<Effect> {
        let route = self.route();
        let rows = self.agents_rows();
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
            Action::ToggleMark if route == Route::Agents => {
                self.agents.toggle_mark(&self.snapshot, rows)
            }
            Action::MarkAll => self.agents.mark_all(&self.snapshot),
            Action::SortBy(key) => self.agents.sort_by(key, &self.snapshot, rows),
            Action::InvertSort => self.agents.invert_sort(&self.snapshot, rows),
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
            Action::NextSection => self.detail.next_section(true),
            Action::PrevSection => self.detail.next_section(false),
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
            Action::Restart => {
                let ids = self.agents.restart_targets();
                if !ids.is_empty() {
                    return vec![Effect::RestartAgents(ids)];
                }
            }
            Action::Forget if route == Route::Agents => return self.forget(),
            Action::NewConfig => return self.open_wizard(None),
            Action::EditConfig => {
                if let Some(name) = self.selected_config() {
                    return self.open_wizard(Some(name));
                }
            }
            Action::DiffBase if route == Route::ConfigDetail => self.configs.mark_diff_base(),
            Action::Diff if route == Route::ConfigDetail => {
                let base = self.key_name(Action::DiffBase);
                let reply = self.configs.toggle_diff(&base);
                return self.configs_reply(reply);
            }
            Action::PauseRollout => return self.steer(Steer::Pause),
            Action::ResumeRollout => return self.steer(Steer::Resume),
            Action::CancelRollout => return self.steer(Steer::Cancel),
            Action::RollbackRollout => return self.steer(Steer::Rollback),
            Action::Filter
            | Action::ToggleMark
            | Action::Forget
            | Action::DiffBase
            | Action::Diff => {}
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
            let rows = self.agents_rows();
            self.agents.back(&self.snapshot, rows);
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

    /// Enter: opens what the cursor is on, in the view that shows it.
    fn open(&mut self) -> Vec<Effect> {
        match self.route() {
            Route::Agents => {
                if let Some(id) = self.agents.selected {
                    self.detail = DetailState::default();
                    self.push_route(Route::Detail(id));
                }
            }
            Route::Configs => match self.configs.selected(false) {
                Some(name) => {
                    self.configs.detail = Some(ConfigDetail::new(name.clone()));
                    self.push_route(Route::ConfigDetail);
                    self.rebuild_configs();
                    let versions = super::configs::ConfigsEffect::Versions { name };
                    return vec![Effect::Configs(versions)];
                }
                // The last row: agents on their own configuration.
                None => {
                    self.set_filter("config=unset".into());
                    self.push_route(Route::Agents);
                }
            },
            Route::Events => {
                if let Some(id) = self.events.selected_agent() {
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

    /// First press of forget: says what a second press does; the second forgets.
    fn forget(&mut self) -> Vec<Effect> {
        let key = self.key_name(Action::Forget);
        let (id, note) = self
            .agents
            .forget(&self.snapshot, self.now, FLASH_FOR, &key);
        if let Some(note) = note {
            self.note(note);
        }
        id.map(Effect::ForgetAgent).into_iter().collect()
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

    // ----- the configurations view -----

    /// The configuration the cursor is on (list or detail).
    pub fn selected_config(&self) -> Option<String> {
        match self.route() {
            Route::Configs => self.configs.selected(false),
            Route::ConfigDetail => self.configs.selected(true),
            _ => None,
        }
    }

    /// Fetches that are due: the list and rollouts when the configurations view is open
    /// and something changed. The run loop calls this after everything it handles.
    pub fn due_effects(&mut self, now: SystemTime) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.pending);
        let open = matches!(
            self.routes.last(),
            Some(Route::Configs | Route::ConfigDetail)
        );
        out.extend(self.configs.due(now, open).map(Effect::Configs));
        out
    }

    /// The result of a configurations effect, from the run loop.
    pub fn configs_message(&mut self, msg: ConfigsMsg) -> Vec<Effect> {
        let reply = self.configs.message(msg);
        self.configs_reply(reply)
    }

    /// Shows what the configurations view said, rebuilds its list when it asks, and hands
    /// out its effects.
    fn configs_reply(&mut self, reply: super::configs::Reply) -> Vec<Effect> {
        if let Some(note) = reply.note {
            self.note(note);
        }
        if reply.rebuild {
            self.rebuild_configs();
        }
        reply.effects.into_iter().map(Effect::Configs).collect()
    }

    fn steer(&mut self, how: Steer) -> Vec<Effect> {
        match self.selected_config() {
            Some(name) => {
                let reply = self.configs.steer(name, how);
                self.configs_reply(reply)
            }
            None => Vec::new(),
        }
    }

    /// Rebuilds the configurations list (and the open detail's agents) when the
    /// snapshot or the catalog data changed, while one of those views is open.
    fn rebuild_configs(&mut self) {
        if !matches!(self.route(), Route::Configs | Route::ConfigDetail) {
            return;
        }
        if self.configs.rebuild(&self.snapshot) {
            self.keep_cursor_in_view();
        }
        let (w, h) = self.size;
        if let Some(d) = &mut self.configs.detail {
            d.clamp_scroll(layout::config_pane_rows(w, h));
        }
    }

    // ----- the footer: flash messages, theme, filter and palette input -----

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

    fn note(&mut self, note: Note) {
        self.flash(note.level, note.text);
    }

    /// The first key bound to `action`, for messages that name it.
    fn key_name(&self, action: Action) -> String {
        self.keymap
            .key_for(action)
            .map_or_else(|| action.name().to_string(), |k| k.to_string())
    }

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
        let rows = self.agents_rows();
        self.agents.set_filter(text, &self.snapshot, rows);
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

    // ----- moving through the view shown -----

    fn agents_rows(&self) -> usize {
        layout::agents_rows(self.size.0, self.size.1)
    }

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

    fn move_by(&mut self, delta: isize) {
        let (w, h) = self.size;
        let cursor = match self.route() {
            Route::Detail(id) => {
                let section = self.detail.section;
                let rows = layout::detail_rows(w, h);
                let max = detail::draw::max_scroll(&self.draw_cx(), id, section, rows);
                self.detail.scroll_by(delta, max);
                return;
            }
            Route::Types => {
                let len = self
                    .types
                    .get_or_insert_with(|| Arc::new(TypeRegistry::builtin()))
                    .len();
                let rows = layout::list_rows(h);
                self.types_scroll = resource_types::scrolled(self.types_scroll, delta, len, rows);
                return;
            }
            Route::ConfigDetail if delta.unsigned_abs() > 1 => {
                // Pages scroll the agents or the diff; single steps move between versions.
                if let Some(d) = &mut self.configs.detail {
                    d.scroll = d.scroll.saturating_add_signed(delta);
                    d.clamp_scroll(layout::config_pane_rows(w, h));
                }
                return;
            }
            Route::Agents => self.agents.cursor,
            Route::Configs => self.configs.cursor,
            Route::ConfigDetail => self.configs.detail.as_ref().map_or(0, |d| d.cursor),
            Route::Events => self.events.cursor,
            Route::Wizard => 0,
        };
        self.move_cursor_to(cursor.saturating_add_signed(delta));
    }

    fn move_cursor_to(&mut self, target: usize) {
        let rows = self.list_rows();
        match self.route() {
            Route::Agents => self.agents.move_to(target, &self.snapshot, rows),
            Route::Configs => self.configs.move_to(target, rows),
            Route::ConfigDetail => {
                let base = self.key_name(Action::DiffBase);
                let reply = self.configs.move_version_to(target, &base);
                let more = self.configs_reply(reply);
                self.pending.extend(more);
            }
            Route::Events => self.events.move_to(target, rows),
            Route::Detail(_) | Route::Types | Route::Wizard => {}
        }
    }

    fn keep_cursor_in_view(&mut self) {
        let (w, h) = self.size;
        self.agents.keep_in_view(layout::agents_rows(w, h));
        let rows = layout::list_rows(h);
        self.configs.keep_in_view(rows);
        self.events.keep_in_view(rows);
    }

    /// Rebuilds the table order and puts the cursor back on the selected agent.
    fn reindex(&mut self) {
        let rows = self.agents_rows();
        self.agents.reindex(&self.snapshot, rows);
    }
}

impl effects::Ui for App {
    fn flash(&mut self, level: FlashLevel, text: String) {
        App::flash(self, level, text);
    }

    fn wants(&self, effect: &WizardEffect) -> bool {
        App::wants(self, effect)
    }
}
