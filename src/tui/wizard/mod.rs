//! The step-by-step pipeline builder: sources → their forms → processors →
//! destinations → review → save → push and follow the rollout.
//!
//! [`Wizard`] is a pure state machine: keys in, state changes and [`WizardEffect`]s out.
//! This file is the driver: the steps, the keys every step shares, and routing a key to
//! the step shown. Each step has its own file for its keys (`sources`, `form` and `parts`
//! for steps 2–4, `review`, `save`, `push`) and one under `draw/` for its drawing; a
//! step's keys and footer come from the keymap (`Context::Wizard*`). Saving, pushing,
//! steering a rollout and running `$EDITOR` are effects carried out outside ([`io`]);
//! their results come back as [`WizardMsg`]s. The form model itself (fields, checks,
//! drafts) is UI-agnostic and lives in [`crate::pipeline::builder`].

pub mod attached;
pub mod coverage;
pub mod draw;
pub mod editor;
mod form;
pub mod io;
pub mod options;
pub mod parts;
pub mod push;
pub mod review;
pub mod save;
mod sources;

use std::collections::BTreeMap;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent};

use crate::catalog::ApplyResult;
use crate::fleet::AgentId;
use crate::fleet::snapshot::FleetSnapshot;
use crate::pipeline::builder::Draft;
use crate::pipeline::{Configuration, Destination, TypeRegistry};
use crate::rollout::{RolloutOptions, RolloutView};
pub use crate::tui::action::Steer;
use crate::tui::action::{Action, WizardAction as W};
pub use crate::tui::confirm::Ask;
use crate::tui::keymap::{Context, KeyChord, Keymap};

pub use attached::Attached;
pub use editor::{Editor, Mode};
pub use parts::AddChoice;
pub use push::{PushState, TargetMode, TargetsState};
pub use review::{DiffWith, Review};
pub use save::SaveState;

/// The wizard's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Sources,
    Configure,
    Processors,
    Destinations,
    Review,
    Save,
    Push,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Sources,
        Step::Configure,
        Step::Processors,
        Step::Destinations,
        Step::Review,
        Step::Save,
        Step::Push,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Step::Sources => "Sources",
            Step::Configure => "Configure",
            Step::Processors => "Processors",
            Step::Destinations => "Destinations",
            Step::Review => "Review",
            Step::Save => "Save",
            Step::Push => "Push",
        }
    }

    /// The name when the breadcrumb is short of room.
    pub fn short_title(self) -> &'static str {
        match self {
            Step::Sources => "Src",
            Step::Configure => "Conf",
            Step::Processors => "Proc",
            Step::Destinations => "Dest",
            Step::Review => "Rev",
            Step::Save => "Save",
            Step::Push => "Push",
        }
    }

    /// What the step is for, at the top of its help.
    pub fn about(self) -> &'static str {
        match self {
            Step::Sources => "choose where telemetry comes from (one or more source types)",
            Step::Configure => "fill in each source's form; processors for one source only",
            Step::Processors => "processors every source's data goes through, in order",
            Step::Destinations => "where the telemetry goes, each with its form",
            Step::Review => "the Collector YAML, its problems and a diff; $EDITOR edits it",
            Step::Save => "name the configuration and store it in the catalog",
            Step::Push => "choose agents, set how it rolls out, push and follow it",
        }
    }

    pub fn number(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0) + 1
    }

    fn next(self) -> Step {
        Step::ALL[self.number().min(Step::ALL.len() - 1)]
    }

    fn prev(self) -> Step {
        Step::ALL[self.number().saturating_sub(2)]
    }

    /// The component list a form step edits.
    fn slot(self) -> Option<usize> {
        match self {
            Step::Configure => Some(0),
            Step::Processors => Some(1),
            Step::Destinations => Some(2),
            _ => None,
        }
    }
}

/// What the run loop must do for the wizard.
#[derive(Debug, Clone, PartialEq)]
pub enum WizardEffect {
    /// Fetch the stored configurations and named destinations (and, when editing, the
    /// configuration `edit`).
    Load {
        edit: Option<String>,
    },
    /// `catalog.apply` this configuration.
    Save(Box<Configuration>),
    /// Start a rollout of `config` at `version` with `options`; `force` sends it even to
    /// targets that lack components it uses.
    Push {
        config: String,
        version: u64,
        targets: PushTargets,
        options: RolloutOptions,
        force: bool,
    },
    /// Report the rollout of `config` as it changes, until told to stop.
    Follow {
        config: String,
    },
    StopFollowing,
    Steer {
        config: String,
        how: Steer,
    },
    /// Suspend the screen and edit `text` in `$EDITOR`.
    EditRaw {
        text: String,
    },
}

// Configurations hold YAML values, whose equality is reflexive (serde_norway says so).
impl Eq for WizardEffect {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushTargets {
    Agents(Vec<AgentId>),
    Selector(String),
}

/// Results of effects, fed back by the run loop.
#[derive(Debug, Clone)]
pub enum WizardMsg {
    Loaded {
        /// Latest version of every stored configuration.
        configs: Vec<(String, u64, Configuration)>,
        destinations: Vec<Destination>,
        /// The configuration to edit, or why it could not be read.
        edit: Option<Result<(u64, Box<Configuration>), String>>,
    },
    Saved(ApplyResult),
    Pushed(Result<RolloutView, String>),
    /// The push was refused: targets lack components the configuration uses (the
    /// refusal's first line). The same push again forces it.
    Lacking(String),
    Rollout(Result<RolloutView, String>),
    Steered(Steer, Result<RolloutView, String>),
    Edited(Result<String, String>),
}

/// What the outside world lends the wizard for one key: the fleet and the screen size.
pub struct Cx<'a> {
    pub snapshot: &'a FleetSnapshot,
    pub size: (u16, u16),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub effects: Vec<WizardEffect>,
    /// Leave the wizard.
    pub close: bool,
    /// A question for the user first; the answer yes comes back as [`Wizard::confirmed`].
    pub ask: Option<(Ask, Then)>,
}

impl Outcome {
    fn effect(e: WizardEffect) -> Self {
        Outcome {
            effects: vec![e],
            ..Outcome::default()
        }
    }

    fn close() -> Self {
        Outcome {
            effects: vec![WizardEffect::StopFollowing],
            close: true,
            ask: None,
        }
    }

    fn ask(ask: Ask, then: Then) -> Self {
        Outcome {
            ask: Some((ask, then)),
            ..Outcome::default()
        }
    }
}

/// What the builder does once the user said yes to its question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Leave, dropping the unsaved changes.
    Discard,
    /// Push as the push step stands now.
    Push,
    Steer(Steer),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Ok,
    Warn,
    Error,
}

/// A footer entry of a step: the keys of one action, or of two that go together
/// (`K/J reorder`), joined by the character given. Keys and labels come from the keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tip {
    One(Action),
    Pair(Action, Action, char),
}

#[derive(Debug, Clone)]
pub struct Wizard {
    pub types: Arc<TypeRegistry>,
    pub step: Step,
    pub draft: Draft,
    /// The configuration name (fixed when editing an existing one).
    pub name: String,
    /// Set when an existing configuration was opened.
    pub editing: Option<String>,
    /// Waiting for the configuration being opened.
    pub loading: bool,
    /// What "unchanged" means for the discard question: as opened, or as last saved.
    baseline: Configuration,
    /// Latest stored version of every configuration, by name.
    pub existing: BTreeMap<String, (u64, Configuration)>,
    pub destinations: Vec<Destination>,
    /// Hides known secrets in what agents report (their effective configs carry them).
    pub redactor: Arc<crate::pipeline::Redactor>,
    // Step 1.
    pub search: String,
    pub source_cursor: usize,
    // Steps 2–4: the current component and field per step.
    pub component: [usize; 3],
    pub field_cursor: [usize; 3],
    pub advanced: bool,
    pub mode: Mode,
    pub review: Review,
    pub diff_with: DiffWith,
    pub save: SaveState,
    pub targets: TargetsState,
    /// How the push rolls out (phases, failures tolerated, rollback).
    pub options: options::Options,
    pub push: PushState,
    pub message: Option<(Level, String)>,
    /// A question a message (not a key) raised, for the app to ask next.
    pending_ask: Option<(Ask, Then)>,
    pub warnings: Vec<String>,
    /// Keys → actions (the app's, with the user's overrides, once `with_keymap` is called).
    pub keymap: Keymap,
    /// The processors attached to each source, by source position (see [`Attached`]).
    pub attached: Vec<Vec<Attached>>,
    /// In step 2: which of the current source's processors is shown (none: its own form).
    pub attached_focus: Option<usize>,
    /// The processors attached to each destination, by position (always none for a
    /// shared destination: its processors belong to the `Destination` resource).
    pub dest_attached: Vec<Vec<Attached>>,
    /// In step 4: which of the current destination's processors is shown.
    pub dest_focus: Option<usize>,
    /// Which types some targets lack components for (see [`coverage`]).
    pub coverage: coverage::Coverage,
    /// The targets of the last push asked for, and of the last refused because they
    /// lack components: pushing to the same again forces it.
    last_push: Option<PushTargets>,
    refused_for: Option<PushTargets>,
    /// A rollout key pressed while the push was starting, sent once it has.
    queued_steer: Option<Steer>,
}

impl Wizard {
    /// A new configuration; `marked` agents are pre-chosen as targets.
    pub fn new(types: Arc<TypeRegistry>, marked: impl IntoIterator<Item = AgentId>) -> Wizard {
        let draft = Draft::default();
        let baseline = draft.to_configuration("");
        let coverage = coverage::Coverage::new(&types);
        Wizard {
            types,
            step: Step::Sources,
            draft,
            name: String::new(),
            editing: None,
            loading: false,
            baseline,
            existing: BTreeMap::new(),
            destinations: Vec::new(),
            redactor: Arc::default(),
            search: String::new(),
            source_cursor: 0,
            component: [0; 3],
            field_cursor: [0; 3],
            advanced: false,
            mode: Mode::Normal,
            review: Review::default(),
            diff_with: DiffWith::Previous,
            save: SaveState::NotSaved,
            targets: TargetsState {
                mode: TargetMode::Agents,
                marks: marked.into_iter().collect(),
                cursor: 0,
                offset: 0,
                selector: String::new(),
            },
            options: options::Options::default(),
            push: PushState::Choosing,
            message: None,
            pending_ask: None,
            warnings: Vec::new(),
            keymap: Keymap::default(),
            attached: Vec::new(),
            attached_focus: None,
            dest_attached: Vec::new(),
            dest_focus: None,
            coverage,
            last_push: None,
            refused_for: None,
            queued_steer: None,
        }
    }

    /// Uses `keymap` (the user's bindings) for the builder's keys and footer.
    pub fn with_keymap(mut self, keymap: Keymap) -> Wizard {
        self.keymap = keymap;
        self
    }

    /// Opens configuration `name` for editing (its content arrives with `Loaded`).
    pub fn edit(
        types: Arc<TypeRegistry>,
        name: &str,
        marked: impl IntoIterator<Item = AgentId>,
    ) -> Wizard {
        let mut w = Wizard::new(types, marked);
        w.name = name.to_string();
        w.editing = Some(name.to_string());
        w.loading = true;
        w
    }

    /// The effect to run when the wizard opens.
    pub fn start(&self) -> WizardEffect {
        WizardEffect::Load {
            edit: self.editing.clone(),
        }
    }

    /// The configuration as it stands.
    pub fn configuration(&self) -> Configuration {
        self.draft.to_configuration(&self.name)
    }

    /// Whether step `step` is complete: what it asks for is there and every field of its
    /// forms is valid (the breadcrumb marks it ✓ only then).
    pub fn step_ok(&self, step: Step) -> bool {
        fn forms_ok<'a>(
            mut forms: impl Iterator<Item = &'a crate::pipeline::builder::Component>,
        ) -> bool {
            forms.all(|c| c.problems().is_empty())
        }
        let raw = self.draft.raw.is_some();
        match step {
            Step::Sources => raw || !self.draft.sources.is_empty(),
            Step::Configure => forms_ok(
                self.draft.sources.iter().chain(
                    self.attached
                        .iter()
                        .flatten()
                        .filter_map(|a| a.form.as_ref()),
                ),
            ),
            Step::Processors => forms_ok(self.draft.processors.iter()),
            Step::Destinations => {
                (raw || !self.draft.destinations.is_empty())
                    && forms_ok(
                        self.draft
                            .destinations
                            .iter()
                            .filter_map(|d| match d {
                                crate::pipeline::builder::DestinationItem::Inline(c) => Some(c),
                                crate::pipeline::builder::DestinationItem::Named(_) => None,
                            })
                            .chain(
                                self.dest_attached
                                    .iter()
                                    .flatten()
                                    .filter_map(|a| a.form.as_ref()),
                            ),
                    )
            }
            Step::Review => self.review.problems.is_empty(),
            Step::Save => matches!(self.save, SaveState::Saved { .. }),
            Step::Push => self.following(),
        }
    }

    /// Whether closing now would lose something.
    pub fn changed(&self) -> bool {
        self.configuration() != self.baseline
    }

    /// Pasted text goes into whatever editor is open (one line for one-line editors).
    pub fn paste(&mut self, text: &str) {
        let ed = match &mut self.mode {
            Mode::Search(e)
            | Mode::Field { editor: e, .. }
            | Mode::Name(e)
            | Mode::Rename(e)
            | Mode::Selector(e)
            | Mode::OptionText { editor: e, .. } => e,
            _ => return,
        };
        if ed.multiline {
            ed.area.insert_str(text);
        } else {
            ed.area.insert_str(text.lines().next().unwrap_or(""));
        }
    }

    pub(super) fn say(&mut self, level: Level, text: impl Into<String>) {
        self.message = Some((level, text.into()));
    }

    /// Takes the result of an effect; may ask for more (following a started rollout).
    pub fn on_message(&mut self, msg: WizardMsg, snap: &FleetSnapshot) -> Vec<WizardEffect> {
        let effects = self.take_message(msg, snap);
        // An edit from $EDITOR renders anew: what the targets lack may change with it.
        self.coverage
            .refresh(snap, &self.targets, self.review.yaml.as_deref());
        effects
    }

    /// The question the last message raised, once.
    pub fn take_ask(&mut self) -> Option<(Ask, Then)> {
        self.pending_ask.take()
    }

    fn take_message(&mut self, msg: WizardMsg, snap: &FleetSnapshot) -> Vec<WizardEffect> {
        match msg {
            WizardMsg::Loaded {
                configs,
                destinations,
                edit,
            } => {
                self.existing = configs
                    .into_iter()
                    .map(|(name, version, cfg)| (name, (version, cfg)))
                    .collect();
                self.destinations = destinations;
                if let Some(result) = edit {
                    self.loading = false;
                    match result {
                        Ok((version, cfg)) => {
                            let (draft, warnings) = Draft::from_configuration(&cfg, &self.types);
                            self.draft = draft;
                            self.baseline = self.configuration();
                            self.warnings = warnings;
                            self.say(
                                Level::Info,
                                format!("editing {} version {version}", cfg.name()),
                            );
                        }
                        Err(e) => self.say(Level::Error, e),
                    }
                }
                self.sync_attached();
                if self.step == Step::Review {
                    self.refresh_review(snap);
                }
            }
            WizardMsg::Saved(result) => {
                let was_saving = self.step == Step::Save;
                self.saved(result);
                // Saved with agents already marked: the push is the next thing to do, so
                // ask it straight away (Esc stays on the push step to change targets or
                // phases).
                if was_saving
                    && self.step == Step::Push
                    && self.targets.mode == push::TargetMode::Agents
                    && !self.targets.marks.is_empty()
                {
                    self.pending_ask = self.ask_push(snap).ask;
                }
            }
            msg @ (WizardMsg::Pushed(_)
            | WizardMsg::Lacking(_)
            | WizardMsg::Rollout(_)
            | WizardMsg::Steered(..)) => return self.push_message(msg),
            WizardMsg::Edited(Ok(text)) => self.edited(text, snap),
            WizardMsg::Edited(Err(e)) => self.say(Level::Error, e),
        }
        Vec::new()
    }

    pub fn handle_key(&mut self, key: &KeyEvent, cx: &Cx) -> Outcome {
        if self.loading && !matches!(key.code, KeyCode::Esc) {
            return Outcome::default();
        }
        self.sync_attached();
        let out = self.mode_key(key, cx);
        self.sync_attached();
        self.coverage
            .refresh(cx.snapshot, &self.targets, self.review.yaml.as_deref());
        out
    }

    /// Takes a new fleet snapshot into account (the marks of types targets lack).
    pub fn set_snapshot(&mut self, snap: &FleetSnapshot) {
        self.coverage
            .refresh(snap, &self.targets, self.review.yaml.as_deref());
    }

    fn mode_key(&mut self, key: &KeyEvent, cx: &Cx) -> Outcome {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(key, cx),
            Mode::Search(ed) => self.search_key(ed, key),
            Mode::Field { field, editor } => self.field_key(field, editor, key),
            Mode::Pick { field, cursor } => {
                self.pick_key(key, field, cursor);
                self.keep_field_cursor();
                Outcome::default()
            }
            Mode::AddType {
                kind,
                query,
                cursor,
                searching,
            } => self.add_type_key(kind, query, cursor, searching, key),
            Mode::Rename(ed) => self.rename_key(ed, key),
            Mode::Name(ed) => self.name_key(ed, key),
            Mode::Selector(ed) => self.selector_key(ed, key),
            Mode::Options => self.options_key(key),
            Mode::OptionText { field, editor } => self.option_text_key(field, editor, key),
        }
    }

    fn normal_key(&mut self, key: &KeyEvent, cx: &Cx) -> Outcome {
        let chord = KeyChord::from_event(key);
        let lookup = |contexts: &[Context]| chord.and_then(|k| self.keymap.lookup(contexts, k));
        // Keys every step shares.
        match lookup(&[Context::Wizard]) {
            Some(Action::Wizard(W::Close)) => return self.ask_to_close(),
            Some(Action::Wizard(W::NextStep)) if self.step != Step::Push => {
                return self.forward(cx);
            }
            Some(Action::Wizard(W::PrevStep)) if self.step > Step::Sources && !self.following() => {
                self.step = self.step.prev();
                self.message = None;
                return Outcome::default();
            }
            _ => {}
        }
        let action = lookup(self.step_contexts());
        match self.step {
            Step::Sources => self.sources_key(action),
            Step::Configure | Step::Processors | Step::Destinations => self.form_key(action),
            Step::Review => self.review_key(action, cx),
            Step::Save => self.save_key(action),
            Step::Push => self.push_key(action, cx),
        }
    }

    /// The keymap contexts of the step shown, besides `Wizard` (the keys all steps share).
    pub fn step_contexts(&self) -> &'static [Context] {
        match self.step {
            Step::Sources => &[Context::WizardSources, Context::Scroll],
            Step::Configure | Step::Processors | Step::Destinations => {
                &[Context::WizardForm, Context::Scroll]
            }
            Step::Review => &[Context::WizardReview, Context::Scroll],
            Step::Save => &[Context::WizardSave],
            Step::Push if self.following() || matches!(self.push, PushState::Starting) => {
                &[Context::WizardFollow]
            }
            Step::Push => &[Context::WizardPush, Context::Scroll],
        }
    }

    /// Every keymap context that applies now, most specific first, for the help.
    pub fn contexts(&self) -> Vec<Context> {
        let mut out = vec![Context::Wizard];
        out.extend_from_slice(self.step_contexts());
        out.push(Context::Global);
        out
    }

    /// The first key bound to `action`, as messages and the footer name it.
    pub fn key_of(&self, action: Action) -> String {
        self.keymap
            .key_for(action)
            .map_or_else(|| "?".to_string(), |k| k.to_string())
    }

    /// The footer entries of the step shown (keys from the keymap), before the keys all
    /// steps share.
    pub fn step_tips(&self) -> Vec<Tip> {
        match self.step {
            Step::Sources => self.sources_tips(),
            Step::Configure | Step::Processors | Step::Destinations => self.form_tips(),
            Step::Review => self.review_tips(),
            Step::Save => self.save_tips(),
            Step::Push => self.push_tips(),
        }
    }

    fn ask_to_close(&mut self) -> Outcome {
        if self.following() || !self.changed() {
            return Outcome::close();
        }
        Outcome::ask(self.discard_question(), Then::Discard)
    }

    /// Whether leaving now drops work: changes not saved (the rollout being followed is
    /// safe in the catalog).
    pub fn unsaved(&self) -> bool {
        !self.following() && self.changed()
    }

    /// "Discard the changes?", naming the configuration.
    pub fn discard_question(&self) -> Ask {
        let what = if self.name.is_empty() {
            "the new configuration".to_string()
        } else {
            self.name.clone()
        };
        Ask::new("Leave the builder?", "discard").line(format!(
            "The changes to {what} are not saved and will be lost."
        ))
    }

    /// The user said yes to the builder's question.
    pub fn confirmed(&mut self, then: Then, cx: &Cx) -> Outcome {
        match then {
            Then::Discard => Outcome::close(),
            Then::Push => self.push_now(cx.snapshot),
            Then::Steer(how) => match self.followed_config() {
                Some(config) => Outcome::effect(WizardEffect::Steer { config, how }),
                None if matches!(self.push, PushState::Starting) => {
                    self.queue_steer(how);
                    Outcome::default()
                }
                None => Outcome::default(),
            },
        }
    }

    /// The user said no: say what was kept.
    pub fn declined(&mut self, then: Then) {
        let text = match then {
            Then::Discard => "kept your changes",
            Then::Push => "not pushed",
            Then::Steer(_) => "the rollout goes on as it was",
        };
        self.say(Level::Info, text);
    }

    /// The next step, when the current one allows it.
    fn forward(&mut self, cx: &Cx) -> Outcome {
        let raw = self.draft.raw.is_some();
        let key = |a| self.key_of(Action::Wizard(a));
        let refuse = match self.step {
            Step::Sources if self.draft.sources.is_empty() && !raw => Some(format!(
                "choose at least one source ({} marks it)",
                key(W::Choose)
            )),
            Step::Destinations if self.draft.destinations.is_empty() && !raw => {
                Some(format!("add at least one destination ({})", key(W::Add)))
            }
            Step::Review if !self.review.problems.is_empty() => Some(format!(
                "fix the problems listed first ({} goes back to the forms)",
                key(W::PrevStep)
            )),
            Step::Save if !matches!(self.save, SaveState::Saved { .. }) => {
                Some(format!("save first ({})", key(W::Save)))
            }
            _ => None,
        };
        if let Some(why) = refuse {
            self.say(Level::Warn, why);
            return Outcome::default();
        }
        self.message = None;
        self.step = self.step.next();
        if raw && self.step < Step::Review {
            self.step = Step::Review;
        }
        match self.step {
            Step::Review => self.refresh_review(cx.snapshot),
            Step::Save => {
                // Saved, then changed again: that save is not what would be pushed.
                if matches!(self.save, SaveState::Saved { .. }) && self.changed() {
                    self.save = SaveState::NotSaved;
                }
                if self.name.is_empty() {
                    let suggested = self.suggested_name();
                    self.mode = Mode::Name(Editor::new(&suggested, false, false, "Name".into()))
                } else if !matches!(self.save, SaveState::Saved { .. }) {
                    self.keep_unchanged();
                }
            }
            _ => {}
        }
        Outcome::default()
    }
}
