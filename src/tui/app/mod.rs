//! The driver: which view has the keyboard (a stack of [`Route`]s), the text being typed
//! in the footer, the help overlay and flash messages, and the state of every view. This
//! file takes what comes from outside (snapshots, events, the clock, the screen size,
//! results of effects); `keys.rs` routes each key, as an [`Action`] from the keymap, to
//! the view shown (`agents`, `detail`, `events`, `configs`, `resource_types`, `wizard`),
//! which changes its own state and may return [`Effect`]s for `effects.rs` to carry out.
//! Everything here is synchronous and pure (the clock is passed in), so it is tested
//! without a terminal.

mod keys;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::fleet::snapshot::{AgentView, FleetSnapshot};
use crate::fleet::{AgentId, FleetEvent};
use crate::pipeline::TypeRegistry;

use super::action::Action;
use super::agents::AgentsState;
use super::configs::{ConfigsMsg, ConfigsState};
use super::confirm::Ask;
use super::detail::{DetailState, FlowLoaded, HistoryLoaded};
use super::effects::{self, Effect};
use super::events::EventsState;
use super::flash::{Flash, FlashLevel, Note};
use super::input::Input;
use super::keymap::{Context, Keymap};
use super::layout;
use super::tap::{TapLoaded, TapState};
use super::telemetry::{Tails, TelemetrySource};
use super::theme::{ColorLevel, Theme};
use super::widgets::{DrawCx, ServerInfo};
use super::wizard::{self, Wizard, WizardEffect, WizardMsg};

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
    /// A tap on the agent (`App::tap` holds it).
    Tap(AgentId),
    /// The fleet's Collector chains (`App::topology` holds them).
    Topology,
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
            Route::Topology => "Topology",
            Route::Detail(_) => "Agent",
            Route::Tap(_) => "Tap",
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
            Route::Tap(_) => &[Context::Tap, Context::Scroll, Context::Global],
            Route::Configs => &[
                Context::Configs,
                Context::List,
                Context::Scroll,
                Context::Global,
            ],
            Route::ConfigDetail => &[Context::Configs, Context::Scroll, Context::Global],
            Route::Events => &[Context::List, Context::Scroll, Context::Global],
            Route::Types | Route::Topology => &[Context::Scroll, Context::Global],
            Route::Wizard => &[
                Context::Wizard,
                Context::WizardForm,
                Context::Scroll,
                Context::Global,
            ],
        }
    }
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
    pub tap: TapState,
    pub help: Option<usize>,
    pub input: Option<Input>,
    pub theme: Theme,
    pub color_level: ColorLevel,
    pub keymap: Keymap,
    pub mouse: bool,
    pub warnings: Vec<String>,
    pub flash: Option<Flash>,
    pub server: ServerInfo,
    /// The server this UI is attached to (`fleetdeck attach`), `None` when the fleet's
    /// server runs in this process.
    pub link: Option<crate::tui::link::Link>,
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
    /// The Collector chains view (`:topology`).
    pub topology: super::topology::TopologyState,
    /// The question on screen, which has the keyboard until answered.
    pub confirm: Option<Confirm>,
    quit: bool,
}

/// A question on screen and what a yes does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub ask: Ask,
    pub then: Then,
}

/// What happens when the user says yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Leave the UI, and with it the server.
    Quit,
    /// Carry these out (restart, forget, steer a rollout).
    Effects(Vec<Effect>),
    /// The builder's own (push, roll back, discard).
    Wizard(wizard::Then),
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
            tap: TapState::default(),
            help: None,
            input: None,
            theme,
            color_level: config.color_level,
            keymap: config.keymap,
            mouse: config.mouse,
            warnings,
            flash: None,
            server: config.server,
            link: None,
            tails: Tails::default(),
            wizard: None,
            types: None,
            redactor: Arc::default(),
            pending: Vec::new(),
            types_scroll: 0,
            topology: Default::default(),
            confirm: None,
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
            // The tap key, for agents that can be tapped only.
            (Route::Detail(id), _) if self.can_tap(id) => vec![
                Context::Detail,
                Context::DetailTap,
                Context::Scroll,
                Context::Global,
            ],
            (route, _) => route.contexts().to_vec(),
        }
    }

    /// Whether agent `id` declares io.fleetdeck.tap.
    pub fn can_tap(&self, id: AgentId) -> bool {
        self.snapshot.get(&id).is_some_and(|a| {
            a.custom_capabilities
                .iter()
                .any(|c| c == crate::fleet::tap::CAPABILITY)
        })
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Quits without asking: the process was told to stop (SIGINT from outside; in the
    /// UI, Ctrl-C is a key and asks).
    pub fn quit_now(&mut self) {
        self.quit = true;
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

    /// Where the fleet shown lives when it is not in this process, and its stream's state.
    pub fn set_link(&mut self, link: Option<crate::tui::link::Link>) {
        self.link = link;
    }

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
            Route::Topology => {
                self.topology.refresh(&self.snapshot);
                self.topology.senders()
            }
            _ => Vec::new(),
        };
        self.tails.copy_from(source, &ids, 1);
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

    /// The result of a wizard effect, from the run loop.
    pub fn wizard_message(&mut self, msg: WizardMsg) -> Vec<Effect> {
        let Some(w) = &mut self.wizard else {
            return Vec::new();
        };
        let effects = w.on_message(msg, &self.snapshot);
        if let Some((ask, then)) = w.take_ask() {
            self.confirm = Some(Confirm {
                ask,
                then: Then::Wizard(then),
            });
        }
        effects.into_iter().map(Effect::Wizard).collect()
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

    /// What the palette completes `text`'s argument from: configuration names (the
    /// catalog's, and those agents run) after `edit`, agent names after `agents`;
    /// nothing while a command word is typed.
    pub fn palette_names(&self, text: &str) -> super::palette::Names {
        let mut names = super::palette::Names::default();
        if text.starts_with("edit ") {
            names.configs = self
                .configs
                .data
                .configs
                .iter()
                .map(|c| c.name.clone())
                .chain(
                    self.snapshot
                        .agents
                        .iter()
                        .filter_map(|a| a.config.as_ref().map(|c| c.config.name.to_string())),
                )
                .collect();
        } else if text.starts_with("agents ") {
            names.agents = self
                .snapshot
                .agents
                .iter()
                .map(|a| a.name.to_string())
                .collect();
        }
        names
    }

    /// Fetches that are due: the list and rollouts when the configurations view is open
    /// (or the palette, which completes their names) and something changed, an agent's
    /// apply history while its History section is shown. The run loop calls this after
    /// everything it handles.
    pub fn due_effects(&mut self, now: SystemTime) -> Vec<Effect> {
        let mut out = std::mem::take(&mut self.pending);
        let open = matches!(
            self.routes.last(),
            Some(Route::Configs | Route::ConfigDetail)
        ) || matches!(self.input, Some(super::input::Input::Palette { .. }));
        out.extend(self.configs.due(now, open).map(Effect::Configs));
        if self.route() == Route::ConfigDetail {
            out.extend(self.configs.flow_due(now).map(Effect::Configs));
        }
        if let Route::Detail(id) = self.route()
            && self.detail.history_due(id, now)
        {
            out.push(Effect::LoadHistory(id));
        }
        if let Route::Detail(id) = self.route()
            && self.detail.flow_due(id, now)
        {
            out.push(Effect::LoadFlow(id));
        }
        // Frozen, the tap stops asking (what it shows stays).
        if let Route::Tap(id) = self.route()
            && !self.frozen
            && let Some(request) = self.tap.due(id, now)
        {
            out.push(Effect::Tap { agent: id, request });
        }
        out
    }

    /// The answer to a tap, for the tap view.
    pub fn tap_loaded(&mut self, msg: TapLoaded) {
        self.tap.loaded(msg);
    }

    /// An agent's apply history, read for the detail's History section.
    /// An agent's pipelines and numbers, read for the detail's Flow section.
    pub fn flow_loaded(&mut self, msg: FlowLoaded) {
        self.detail.flow_loaded(msg);
    }

    pub fn history_loaded(&mut self, msg: HistoryLoaded) {
        self.detail.history_loaded(msg);
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

    pub fn set_filter(&mut self, text: String) {
        let rows = self.agents_rows();
        self.agents.set_filter(text, &self.snapshot, rows);
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

    fn agent_name(&self, id: &crate::fleet::AgentId) -> String {
        self.snapshot
            .get(id)
            .map(|a| a.name.to_string())
            .unwrap_or_else(|| id.to_string())
    }
}
