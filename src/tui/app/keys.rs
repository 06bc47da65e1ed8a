//! Where a key goes: a terminal event becomes an [`Action`] through the keymap (or text
//! in the footer's field, or a key for the builder), and each action is routed to the
//! view shown — moving through it, opening what the cursor is on, or asking that view to
//! change — or handled here when it is the driver's (navigation, help, palette, quit).

use std::sync::Arc;

use crossterm::event::{Event, KeyEvent, MouseButton, MouseEvent, MouseEventKind};

use crate::pipeline::TypeRegistry;

use super::super::action::Action;
use super::super::configs::{ConfigDetail, ConfigsEffect, Steer};
use super::super::confirm::{self, Answer, Ask};
use super::super::detail::{self, DetailState};
use super::super::effects::Effect;
use super::super::flash::FlashLevel;
use super::super::input::{self, Input, Typed};
use super::super::keymap::{Context, KeyChord};
use super::super::theme;
use super::super::wizard;
use super::super::{layout, palette, resource_types};
use super::{App, Confirm, MAX_ROUTES, Route, Then};
use crate::fleet::AgentId;

impl App {
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
                let typed = input::paste(&mut self.input, text);
                self.typed(typed)
            }
            _ => Vec::new(),
        }
    }

    pub fn handle_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let Some(chord) = KeyChord::from_event(key) else {
            return Vec::new();
        };
        if self.confirm.is_some() {
            return self.confirm_key(chord);
        }
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
            let mut field = self.input.take();
            let typed = input::key(&mut field, key, |text| self.palette_names(text));
            self.input = field;
            return self.typed(typed);
        }
        if let Some(scroll) = self.help {
            self.help_key(scroll, chord);
            return Vec::new();
        }
        match self.keymap.lookup(&self.contexts(), chord) {
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

    pub fn apply(&mut self, action: Action) -> Vec<Effect> {
        let route = self.route();
        let rows = self.agents_rows();
        match action {
            Action::ForceQuit => return self.ask_quit(),
            Action::Quit if self.routes.len() == 1 => return self.ask_quit(),
            Action::Quit | Action::Back => self.back(),
            Action::Help => self.help = Some(0),
            Action::Palette => {
                self.input = Some(Input::Palette {
                    text: String::new(),
                });
                // Configuration names for `:edit` come from the catalog: read it now.
                self.configs.stale = true;
            }
            Action::Filter if route == Route::Agents => {
                self.input = Some(Input::Filter {
                    text: self.agents.filter_text.clone(),
                    before: self.agents.filter_text.clone(),
                })
            }
            Action::Filter if matches!(route, Route::Tap(_)) => {
                self.input = Some(Input::Filter {
                    text: self.tap.search.clone(),
                    before: self.tap.search.clone(),
                })
            }
            Action::Tap => {
                if let Route::Detail(id) = route
                    && self.can_tap(id)
                {
                    self.tap = super::super::tap::TapState::open(id);
                    self.push_route(Route::Tap(id));
                    // Asked at once, not with the next frame.
                    let due = self.due_tap();
                    self.pending.extend(due);
                }
            }
            Action::TapPipeline if matches!(route, Route::Tap(_)) => {
                if let Some(name) = self.tap.next_pipeline() {
                    self.flash(FlashLevel::Info, format!("tapping {name}"));
                    let due = self.due_tap();
                    self.pending.extend(due);
                }
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
            Action::SharedScale if route == Route::Agents => {
                self.agents.shared_scale = !self.agents.shared_scale;
                let text = if self.agents.shared_scale {
                    "sparklines: one scale per signal for every row shown"
                } else {
                    "sparklines: each row on its own scale"
                };
                self.flash(FlashLevel::Info, text.into());
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
                    let names: Vec<String> = ids.iter().map(|id| self.agent_name(*id)).collect();
                    let ask = Ask::new(format!("Restart {} agent(s)?", ids.len()), "restart")
                        .line(confirm::names(&names, 3))
                        .line(
                            "Each stops and starts its collector; its telemetry pauses meanwhile.",
                        );
                    self.ask(ask, Then::Effects(vec![Effect::RestartAgents(ids)]));
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
            Action::Flow if route == Route::ConfigDetail => self.configs.toggle_flow(),
            Action::FlowPeriod if route == Route::ConfigDetail => {
                match self.configs.next_flow_period() {
                    Some(period) => self.note(super::super::flash::Note::info(format!(
                        "flow: per second over {period}"
                    ))),
                    None => {
                        let key = self.key_name(Action::Flow);
                        self.note(super::super::flash::Note::info(format!(
                            "{key} shows the flow first"
                        )));
                    }
                }
            }
            Action::PauseRollout => return self.steer(Steer::Pause),
            Action::ResumeRollout => return self.steer(Steer::Resume),
            Action::CancelRollout => return self.steer(Steer::Cancel),
            Action::RollbackRollout => return self.steer(Steer::Rollback),
            Action::Filter
            | Action::TapPipeline
            | Action::ToggleMark
            | Action::Forget
            | Action::DiffBase
            | Action::Diff
            | Action::Flow
            | Action::FlowPeriod
            | Action::Accept
            | Action::Decline
            | Action::SharedScale => {}
            // The builder takes its keys itself (`wizard_key`), before the keymap.
            Action::Wizard(_) => {}
        }
        std::mem::take(&mut self.pending)
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.quit = true;
        vec![Effect::Quit]
    }

    /// Quitting stops the server this UI runs in: with agents connected, or unsaved
    /// work in the builder, ask first and say what is lost. Attached to a server
    /// elsewhere, the fleet keeps its server: only unsaved work is asked about.
    fn ask_quit(&mut self) -> Vec<Effect> {
        let connected = if self.link.is_some() {
            0
        } else {
            self.snapshot.totals.connected
        };
        let unsaved = self.wizard.as_ref().is_some_and(|w| w.unsaved());
        if connected == 0 && !unsaved {
            return self.quit();
        }
        let mut ask = Ask::new("Quit fleetdeck?", "quit");
        if connected > 0 {
            ask = ask.line(format!(
                "The fleet loses its server: {connected} connected agent(s) keep running \
                 what they run, but nothing manages them until fleetdeck runs again."
            ));
        }
        if unsaved {
            ask = ask.line("The configuration in the builder is not saved.");
        }
        self.ask(ask, Then::Quit);
        Vec::new()
    }

    fn ask(&mut self, ask: Ask, then: Then) {
        self.confirm = Some(Confirm { ask, then });
    }

    /// A key while a question is shown: it has the keyboard until answered.
    fn confirm_key(&mut self, chord: KeyChord) -> Vec<Effect> {
        let Some(c) = self.confirm.take() else {
            return Vec::new();
        };
        if chord == KeyChord::ctrl('c') {
            // Ctrl-C twice quits, as in a shell; over another question it asks to quit.
            return if c.then == Then::Quit {
                self.quit()
            } else {
                self.ask_quit()
            };
        }
        match confirm::answer(&self.keymap, chord) {
            Answer::Yes => self.accepted(c.then),
            Answer::No => {
                match c.then {
                    Then::Wizard(t) => {
                        if let Some(w) = &mut self.wizard {
                            w.declined(t);
                        }
                    }
                    Then::Quit | Then::Effects(_) => {
                        self.flash(FlashLevel::Info, "nothing done".into())
                    }
                }
                Vec::new()
            }
            Answer::Undecided => {
                self.confirm = Some(c);
                Vec::new()
            }
        }
    }

    fn accepted(&mut self, then: Then) -> Vec<Effect> {
        match then {
            Then::Quit => self.quit(),
            Then::Effects(effects) => effects,
            Then::Wizard(t) => {
                let Some(w) = &mut self.wizard else {
                    return Vec::new();
                };
                let cx = wizard::Cx {
                    snapshot: &self.snapshot,
                    size: self.size,
                };
                let out = w.confirmed(t, &cx);
                self.wizard_outcome(out)
            }
        }
    }

    fn agent_name(&self, id: AgentId) -> String {
        self.snapshot
            .get(&id)
            .map_or_else(|| id.to_string(), |a| a.name.to_string())
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

    pub(super) fn push_route(&mut self, route: Route) {
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
                    let versions = ConfigsEffect::Versions { name };
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
            Route::Types
            | Route::Topology
            | Route::Detail(_)
            | Route::Tap(_)
            | Route::ConfigDetail
            | Route::Wizard => {}
        }
        Vec::new()
    }

    /// The tap's request, if one is due now.
    fn due_tap(&mut self) -> Option<Effect> {
        let Route::Tap(id) = self.route() else {
            return None;
        };
        let request = self.tap.due(id, self.now)?;
        Some(Effect::Tap { agent: id, request })
    }

    /// Forgetting a disconnected agent, after asking.
    fn forget(&mut self) -> Vec<Effect> {
        match self.agents.forget_target(&self.snapshot) {
            Ok(Some((id, name))) => {
                let ask = Ask::new(format!("Forget {name}?"), "forget")
                    .line("It leaves the fleet and the store, with its history.")
                    .line("If it connects again, it comes back as a new agent.");
                self.ask(ask, Then::Effects(vec![Effect::ForgetAgent(id)]));
            }
            Ok(None) => {}
            Err(note) => self.note(note),
        }
        Vec::new()
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
        self.wizard_outcome(out)
    }

    /// What the builder asked for: a question, leaving, effects.
    fn wizard_outcome(&mut self, out: wizard::Outcome) -> Vec<Effect> {
        if let Some((ask, then)) = out.ask {
            self.ask(ask, Then::Wizard(then));
        }
        if out.close {
            self.wizard = None;
            self.back();
        }
        out.effects.into_iter().map(Effect::Wizard).collect()
    }

    fn steer(&mut self, how: Steer) -> Vec<Effect> {
        let Some(name) = self.selected_config() else {
            return Vec::new();
        };
        let reply = self.configs.steer(name.clone(), how);
        let effects = self.configs_reply(reply);
        // A rollback sends agents back: asked first, like a push.
        if how == Steer::Rollback && !effects.is_empty() {
            self.ask(confirm::rollback(&name), Then::Effects(effects));
            return Vec::new();
        }
        effects
    }

    /// What was typed in the footer's text field.
    fn typed(&mut self, typed: Typed) -> Vec<Effect> {
        match typed {
            Typed::Filter(text) if matches!(self.route(), Route::Tap(_)) => {
                self.tap.set_search(text)
            }
            Typed::Filter(text) => self.set_filter(text),
            Typed::Command(text) => return self.run_command(&text),
            Typed::Nothing => {}
        }
        Vec::new()
    }

    fn run_command(&mut self, text: &str) -> Vec<Effect> {
        match palette::parse(text) {
            Ok(palette::Command::Agents) => self.go_to(Route::Agents),
            Ok(palette::Command::Agent(name)) => {
                // The name as typed, or the one agent whose name starts with it.
                let exact = self.snapshot.agents.iter().find(|a| *a.name == *name);
                let mut starting = self
                    .snapshot
                    .agents
                    .iter()
                    .filter(|a| a.name.starts_with(&name));
                let found = exact.or_else(|| match (starting.next(), starting.next()) {
                    (Some(one), None) => Some(one),
                    _ => None,
                });
                match found.map(|a| a.id) {
                    Some(id) => {
                        self.go_to(Route::Agents);
                        self.detail = DetailState::default();
                        self.push_route(Route::Detail(id));
                    }
                    None => self.flash(FlashLevel::Error, format!("no agent named {name}")),
                }
            }
            Ok(palette::Command::Configs) => self.go_to(Route::Configs),
            Ok(palette::Command::Events) => self.go_to(Route::Events),
            Ok(palette::Command::Types) => self.go_to(Route::Types),
            Ok(palette::Command::Topology) => self.go_to(Route::Topology),
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
            Ok(palette::Command::Quit) => return self.ask_quit(),
            Ok(palette::Command::Nothing) => {}
            Err(e) => self.flash(FlashLevel::Error, e),
        }
        Vec::new()
    }

    pub(super) fn agents_rows(&self) -> usize {
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
            Route::Detail(_) | Route::Tap(_) => layout::detail_rows(w, h),
            Route::Types | Route::Topology | Route::Wizard => 1,
        }
    }

    fn move_by(&mut self, delta: isize) {
        let (w, h) = self.size;
        let cursor = match self.route() {
            Route::Detail(id) => {
                let rows = layout::detail_rows(w, h);
                let max = detail::draw::max_scroll(&self.draw_cx(), &self.detail, id, rows);
                self.detail.scroll_by(delta, max);
                return;
            }
            Route::Tap(id) => {
                let rows = layout::detail_rows(w, h) + 2;
                let max =
                    super::super::tap::draw::max_scroll(&self.draw_cx(), &self.tap, id, w, rows);
                self.tap.scroll_by(delta, max);
                return;
            }
            Route::Topology => {
                self.topology.scroll_by(delta, layout::list_rows(h));
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
            Route::ConfigDetail
                if self
                    .configs
                    .detail
                    .as_ref()
                    .is_some_and(|d| d.flow.is_some()) =>
            {
                // The flow scrolls; versions stay as they are.
                let len = self
                    .configs
                    .detail
                    .as_ref()
                    .and_then(|d| d.flow.as_ref()?.answer.as_ref()?.as_ref().ok())
                    .map_or(0, |a| {
                        let width = usize::from(w.saturating_sub(2));
                        super::super::flow::lines(&self.theme, a, width).len()
                    });
                let rows = layout::config_pane_rows(w, h);
                if let Some(f) = self.configs.detail.as_mut().and_then(|d| d.flow.as_mut()) {
                    f.scroll = f
                        .scroll
                        .saturating_add_signed(delta)
                        .min(len.saturating_sub(rows));
                }
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
            Route::Detail(_) | Route::Tap(_) | Route::Types | Route::Topology | Route::Wizard => {}
        }
    }
}
