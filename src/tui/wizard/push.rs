//! Step 7: choosing the targets (marked agents or a label selector), pushing, and
//! following (and steering) the rollout that starts.

use std::collections::BTreeSet;

use crossterm::event::KeyEvent;

use crate::fleet::AgentId;
use crate::fleet::selector::Selector;
use crate::fleet::snapshot::FleetSnapshot;
use crate::rollout::RolloutView;
use crate::tui::action::{Action, WizardAction as W};

use super::{
    Ask, Cx, Editor, Level, Mode, Outcome, PushTargets, SaveState, Steer, Then, Tip, Wizard,
    WizardEffect, WizardMsg,
};
use crate::tui::confirm;

use super::options::{self, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetMode {
    Agents,
    Selector,
}

#[derive(Debug, Clone)]
pub struct TargetsState {
    pub mode: TargetMode,
    pub marks: BTreeSet<AgentId>,
    pub cursor: usize,
    pub offset: usize,
    pub selector: String,
}

#[derive(Debug, Clone)]
pub enum PushState {
    Choosing,
    Starting,
    Following {
        // Boxed: a rollout view is large and the other states carry nothing.
        view: Option<Box<RolloutView>>,
        /// The last error from the rollout service (e.g. a refused pause).
        error: Option<String>,
    },
}

impl Wizard {
    /// The push step's keys: choose targets (marked agents or a selector) and push; then
    /// steer the rollout it started.
    pub(super) fn push_key(&mut self, action: Option<Action>, cx: &Cx) -> Outcome {
        if let PushState::Following { view, .. } = &self.push {
            let Some(config) = view.as_ref().map(|v| v.config.name.to_string()) else {
                return Outcome::default();
            };
            let how = match action {
                Some(Action::PauseRollout) => Steer::Pause,
                Some(Action::ResumeRollout) => Steer::Resume,
                Some(Action::CancelRollout) => Steer::Cancel,
                Some(Action::RollbackRollout) => {
                    let ask = confirm::rollback(&config);
                    return Outcome::ask(ask, Then::Steer(Steer::Rollback));
                }
                _ => return Outcome::default(),
            };
            return Outcome::effect(WizardEffect::Steer { config, how });
        }
        if matches!(self.push, PushState::Starting) {
            // The rollout keys work before the rollout answers: kept, and sent as soon as
            // it has started (a `p` pressed at once used to vanish).
            let how = match action {
                Some(Action::PauseRollout) => Steer::Pause,
                Some(Action::ResumeRollout) => Steer::Resume,
                Some(Action::CancelRollout) => Steer::Cancel,
                Some(Action::RollbackRollout) => {
                    let config = match &self.save {
                        SaveState::Saved { name, .. } => name.clone(),
                        _ => String::new(),
                    };
                    return Outcome::ask(confirm::rollback(&config), Then::Steer(Steer::Rollback));
                }
                _ => return Outcome::default(),
            };
            self.queue_steer(how);
            return Outcome::default();
        }
        let snap = cx.snapshot;
        let t = &mut self.targets;
        let agents = t.mode == TargetMode::Agents;
        match action {
            Some(Action::Wizard(W::Targets)) => {
                t.mode = match t.mode {
                    TargetMode::Agents => TargetMode::Selector,
                    TargetMode::Selector => TargetMode::Agents,
                };
                if t.mode == TargetMode::Selector && t.selector.is_empty() {
                    self.mode = Mode::Selector(Editor::new("", false, false, "Selector".into()));
                }
            }
            Some(Action::Wizard(W::EditSelector)) if !agents => {
                self.mode =
                    Mode::Selector(Editor::new(&t.selector, false, false, "Selector".into()));
            }
            Some(Action::Up) if agents => t.cursor = t.cursor.saturating_sub(1),
            Some(Action::Down) if agents => {
                t.cursor = (t.cursor + 1).min(snap.agents.len().saturating_sub(1))
            }
            Some(Action::Wizard(W::Mark)) if agents => {
                if let Some(a) = snap.agents.get(t.cursor) {
                    if !t.marks.remove(&a.id) {
                        t.marks.insert(a.id);
                    }
                    t.cursor = (t.cursor + 1).min(snap.agents.len().saturating_sub(1));
                }
            }
            Some(Action::Wizard(W::MarkAll)) if agents => {
                if t.marks.len() == snap.agents.len() {
                    t.marks.clear();
                } else {
                    t.marks = snap.agents.iter().map(|a| a.id).collect();
                }
            }
            Some(Action::Wizard(W::Push)) => return self.ask_push(snap),
            Some(Action::Wizard(W::RolloutOptions)) => self.mode = Mode::Options,
            _ => {}
        }
        // The screen's rows less the header, frame, steps, tabs, rollout and count lines.
        let rows = usize::from(cx.size.1.saturating_sub(11)).max(1);
        let t = &mut self.targets;
        if t.cursor < t.offset {
            t.offset = t.cursor;
        } else if t.cursor >= t.offset + rows {
            t.offset = t.cursor + 1 - rows;
        }
        Outcome::default()
    }

    /// The push step's footer (the step's own keys; `back` and `close` follow).
    pub(super) fn push_tips(&self) -> Vec<Tip> {
        let keys: &[Action] = match self.push {
            PushState::Following { .. } | PushState::Starting => &[
                Action::PauseRollout,
                Action::ResumeRollout,
                Action::CancelRollout,
                Action::RollbackRollout,
            ],
            _ => &[
                Action::Wizard(W::Mark),
                Action::Wizard(W::Targets),
                Action::Wizard(W::RolloutOptions),
                Action::Wizard(W::Push),
            ],
        };
        keys.iter().map(|a| Tip::One(*a)).collect()
    }

    /// The rollout options popup: move between options, cycle a choice, type a value
    /// (a digit starts typing at once); Esc or the options key closes it.
    pub(super) fn options_key(&mut self, key: &KeyEvent) -> Outcome {
        use crate::tui::keymap::{Context, KeyChord};
        let action = KeyChord::from_event(key).and_then(|k| {
            self.keymap
                .lookup(&[Context::WizardForm, Context::Scroll, Context::Wizard], k)
        });
        let o = &mut self.options;
        let last = o.fields.len().saturating_sub(1);
        let choice = o
            .fields
            .get(o.cursor)
            .is_some_and(|f| matches!(f.kind, Kind::Choice(_)));
        self.mode = Mode::Options;
        match action {
            Some(Action::Up) => o.cursor = o.cursor.saturating_sub(1),
            Some(Action::Down) => o.cursor = (o.cursor + 1).min(last),
            Some(Action::Top) => o.cursor = 0,
            Some(Action::Bottom) => o.cursor = last,
            Some(Action::Wizard(W::Close | W::RolloutOptions)) => self.mode = Mode::Normal,
            Some(Action::Wizard(W::Toggle | W::NextValue)) if choice => {
                o.fields[o.cursor].cycle(true)
            }
            Some(Action::Wizard(W::PrevValue)) if choice => o.fields[o.cursor].cycle(false),
            Some(Action::Wizard(W::Edit)) if choice => o.fields[o.cursor].cycle(true),
            Some(Action::Wizard(W::Edit)) => self.mode = self.option_editor(""),
            _ => {
                if let crossterm::event::KeyCode::Char(c @ ('0'..='9' | '.')) = key.code
                    && !choice
                {
                    self.mode = self.option_editor(&c.to_string());
                }
            }
        }
        Outcome::default()
    }

    /// An editor for the option under the cursor: its value, or `typed` when a digit
    /// started it.
    fn option_editor(&self, typed: &str) -> Mode {
        let o = &self.options;
        let Some(f) = o.fields.get(o.cursor) else {
            return Mode::Options;
        };
        let text = if typed.is_empty() { &f.text } else { typed };
        Mode::OptionText {
            field: o.cursor,
            editor: Editor::new(text, false, false, f.label.into()),
        }
    }

    /// Typing a rollout option: Enter keeps a valid value, Esc drops the edit.
    pub(super) fn option_text_key(
        &mut self,
        field: usize,
        mut editor: Editor,
        key: &KeyEvent,
    ) -> Outcome {
        self.mode = Mode::Options;
        match editor.key(key) {
            Some(true) => {
                let text = editor.text().trim().to_string();
                if let Some(f) = self.options.fields.get_mut(field) {
                    match f.check(&text) {
                        Ok(()) => f.text = text,
                        Err(e) => {
                            editor.error = Some(e);
                            self.mode = Mode::OptionText { field, editor };
                        }
                    }
                }
            }
            Some(false) => {}
            None => self.mode = Mode::OptionText { field, editor },
        }
        Outcome::default()
    }

    /// Typing the label selector.
    pub(super) fn selector_key(&mut self, mut ed: Editor, key: &KeyEvent) -> Outcome {
        match ed.key(key) {
            Some(true) => self.targets.selector = ed.text().trim().to_string(),
            Some(false) => {}
            None => self.mode = Mode::Selector(ed),
        }
        Outcome::default()
    }

    /// Results of pushing and of following or steering the rollout.
    pub(super) fn push_message(&mut self, msg: WizardMsg) -> Vec<WizardEffect> {
        match msg {
            WizardMsg::Pushed(Ok(view)) => {
                self.say(Level::Ok, format!("rollout of {} started", view.config));
                let config = view.config.name.to_string();
                self.push = PushState::Following {
                    view: Some(Box::new(view)),
                    error: None,
                };
                let mut effects = vec![WizardEffect::Follow {
                    config: config.clone(),
                }];
                if let Some(how) = self.queued_steer.take() {
                    self.say(
                        Level::Info,
                        format!("rollout started; asking to {}", how.verb()),
                    );
                    effects.push(WizardEffect::Steer { config, how });
                }
                return effects;
            }
            WizardMsg::Pushed(Err(e)) => {
                self.queued_steer = None;
                self.push = PushState::Choosing;
                self.say(Level::Error, format!("push refused: {e}"));
            }
            WizardMsg::Lacking(why) => {
                self.queued_steer = None;
                self.push = PushState::Choosing;
                self.refused_for = self.last_push.clone();
                self.say(
                    Level::Warn,
                    format!("push refused: {why} — push again to send it anyway"),
                );
            }
            WizardMsg::Rollout(result) | WizardMsg::Steered(_, result) if !self.following() => {
                drop(result);
            }
            WizardMsg::Rollout(Ok(view)) => self.set_rollout(Some(view), None),
            WizardMsg::Rollout(Err(e)) => self.set_rollout(None, Some(e)),
            WizardMsg::Steered(how, Ok(view)) => {
                self.say(Level::Info, how.outcome(&view));
                self.set_rollout(Some(view), None);
            }
            WizardMsg::Steered(how, Err(e)) => {
                self.set_rollout(None, Some(format!("could not {}: {e}", how.verb())))
            }
            WizardMsg::Loaded { .. } | WizardMsg::Saved(_) | WizardMsg::Edited(_) => {}
        }
        Vec::new()
    }

    /// Enter on the push step: what would be pushed to whom, as a question.
    pub(super) fn ask_push(&mut self, snap: &FleetSnapshot) -> Outcome {
        let Some((config, version, targets, force)) = self.push_plan(snap) else {
            return Outcome::default();
        };
        let (count, who) = match &targets {
            PushTargets::Agents(ids) => {
                let names: Vec<String> = ids
                    .iter()
                    .map(|id| {
                        snap.get(id)
                            .map_or_else(|| id.to_string(), |a| a.name.to_string())
                    })
                    .collect();
                (ids.len(), confirm::names(&names, 3))
            }
            PushTargets::Selector(s) => {
                let n = self.selector_matches(snap).map_or(0, |(n, _)| n);
                (n, format!("every agent matching {s}, now and later"))
            }
        };
        let plan = self
            .options
            .options()
            .map(|o| options::describe(&o, count))
            .unwrap_or_default();
        let mut ask = Ask::new(
            format!("Push {config}:{version} to {count} agent(s)?"),
            "push",
        )
        .line(who)
        .line(plan);
        if force {
            ask = ask.line("Sent even to agents that lack components it uses.");
        }
        Outcome::ask(ask, Then::Push)
    }

    /// How many agents a push would reach now: the marked ones, or those the selector
    /// matches.
    pub fn push_count(&self, snap: &FleetSnapshot) -> usize {
        match self.targets.mode {
            TargetMode::Agents => self.targets.marks.len(),
            TargetMode::Selector => self.selector_matches(snap).map_or(0, |(n, _)| n),
        }
    }

    /// Keeps `how` for the rollout being started, and says so.
    pub(super) fn queue_steer(&mut self, how: Steer) {
        self.queued_steer = Some(how);
        self.say(
            Level::Info,
            format!("will {} as soon as the rollout has started", how.verb()),
        );
    }

    /// The configuration being followed, when a rollout is.
    pub(super) fn followed_config(&self) -> Option<String> {
        match &self.push {
            PushState::Following { view: Some(v), .. } => Some(v.config.name.to_string()),
            _ => None,
        }
    }

    /// Starts the push (the user said yes).
    pub(super) fn push_now(&mut self, snap: &FleetSnapshot) -> Outcome {
        let Some((config, version, targets, force)) = self.push_plan(snap) else {
            return Outcome::default();
        };
        let Ok(options) = self.options.options() else {
            return Outcome::default();
        };
        self.last_push = Some(targets.clone());
        self.push = PushState::Starting;
        Outcome::effect(WizardEffect::Push {
            config,
            version,
            targets,
            options,
            force,
        })
    }

    /// What a push would send to whom, and whether it is forced; `None` after saying
    /// what is missing.
    fn push_plan(&mut self, snap: &FleetSnapshot) -> Option<(String, u64, PushTargets, bool)> {
        let SaveState::Saved { name, version, .. } = &self.save else {
            self.say(Level::Warn, "save the configuration first");
            return None;
        };
        let (name, version) = (name.clone(), *version);
        let targets = match self.targets.mode {
            TargetMode::Agents => {
                if self.targets.marks.is_empty() {
                    let mark = self.key_of(Action::Wizard(W::Mark));
                    let targets = self.key_of(Action::Wizard(W::Targets));
                    self.say(
                        Level::Warn,
                        format!("mark agents with {mark} (or {targets} for a selector)"),
                    );
                    return None;
                }
                PushTargets::Agents(self.targets.marks.iter().copied().collect())
            }
            TargetMode::Selector => match self.selector_matches(snap) {
                Ok((0, _)) => {
                    self.say(Level::Warn, "the selector matches no agents");
                    return None;
                }
                Ok(_) => PushTargets::Selector(self.targets.selector.clone()),
                Err(e) => {
                    self.say(Level::Warn, e);
                    return None;
                }
            },
        };
        if let Err(e) = self.options.options() {
            let key = self.key_of(Action::Wizard(W::RolloutOptions));
            self.say(
                Level::Warn,
                format!("rollout options: {e} ({key} changes them)"),
            );
            return None;
        }
        let force = self.refused_for.as_ref() == Some(&targets);
        Some((name, version, targets, force))
    }

    /// Agents the selector matches: (all, connected), or the parse error.
    pub fn selector_matches(&self, snap: &FleetSnapshot) -> Result<(usize, usize), String> {
        let text = match &self.mode {
            Mode::Selector(e) => e.text(),
            _ => self.targets.selector.clone(),
        };
        let sel: Selector = text
            .parse()
            .map_err(|e: crate::fleet::selector::SelectorError| e.to_string())?;
        if sel.is_empty() {
            return Err("type a selector, e.g. env=prod,tier in (web,edge)".into());
        }
        let hits: Vec<_> = snap
            .agents
            .iter()
            .filter(|a| sel.matches(&a.labels))
            .collect();
        Ok((hits.len(), hits.iter().filter(|a| a.is_connected()).count()))
    }

    pub(super) fn following(&self) -> bool {
        matches!(self.push, PushState::Following { .. })
    }

    pub(super) fn set_rollout(&mut self, view: Option<RolloutView>, err: Option<String>) {
        if let PushState::Following { view: v, error } = &mut self.push {
            if let Some(view) = view {
                *v = Some(Box::new(view));
            }
            *error = err;
        }
    }
}
