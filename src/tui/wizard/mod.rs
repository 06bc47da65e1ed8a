//! The step-by-step pipeline builder: sources → their forms → processors →
//! destinations → review → save → push and follow the rollout.
//!
//! [`Wizard`] is a pure state machine: keys in, state changes and [`WizardEffect`]s out.
//! Saving, pushing, steering a rollout and running `$EDITOR` are effects the run loop
//! carries out ([`io`]); their results come back as [`WizardMsg`]s. The form model itself
//! (fields, checks, drafts) is UI-agnostic and lives in [`crate::pipeline::builder`].

pub mod coverage;
pub mod io;
pub mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use crate::catalog::{ApplyResult, ApplyStatus};
use crate::fleet::AgentId;
use crate::fleet::selector::Selector;
use crate::fleet::snapshot::FleetSnapshot;
use crate::pipeline::builder::{
    self, Component, DestinationItem, Draft, FieldValue, matches_search, name_problem,
};
use crate::pipeline::config::{ProcessorRef, processor_id_taken, processor_name_problem};
use crate::pipeline::registry::LoadedType;
use crate::pipeline::{Configuration, Destination, DiffLine, TypeKind, TypeRegistry};
use crate::rollout::RolloutView;
use crate::tui::action::{Action, WizardAction};
use crate::tui::keymap::{Context, KeyChord, Keymap};

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
    /// Start a rollout of `config` at `version`; `force` sends it even to targets that
    /// lack components it uses.
    Push {
        config: String,
        version: u64,
        targets: PushTargets,
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
}

impl Outcome {
    fn effect(e: WizardEffect) -> Self {
        Outcome {
            effects: vec![e],
            close: false,
        }
    }
}

/// A text being typed somewhere in the wizard.
#[derive(Debug, Clone)]
pub struct Editor {
    pub area: TextArea<'static>,
    pub multiline: bool,
    /// Why the last attempt to keep the text was refused.
    pub error: Option<String>,
    pub title: String,
}

impl Editor {
    fn new(text: &str, multiline: bool, sensitive: bool, title: String) -> Self {
        let lines: Vec<String> = if text.is_empty() {
            vec![String::new()]
        } else {
            text.lines().map(str::to_string).collect()
        };
        let mut area = TextArea::new(lines);
        area.move_cursor(ratatui_textarea::CursorMove::Bottom);
        area.move_cursor(ratatui_textarea::CursorMove::End);
        if sensitive {
            area.set_mask_char('•');
        }
        Editor {
            area,
            multiline,
            error: None,
            title,
        }
    }

    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    /// Feeds a key to the text area. Returns `Some(true)` to keep the text, `Some(false)`
    /// to cancel, `None` while typing.
    fn key(&mut self, key: &KeyEvent) -> Option<bool> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => Some(false),
            KeyCode::Enter if !self.multiline => Some(true),
            KeyCode::Char('s') if ctrl => Some(true),
            // As in the palette and shells: clear back to the start of the line.
            KeyCode::Char('u') if ctrl => {
                self.area.delete_line_by_head();
                self.error = None;
                None
            }
            _ => {
                self.area.input(*key);
                self.error = None;
                None
            }
        }
    }
}

/// What has the keyboard on top of the step.
#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    /// Typing the sources search.
    Search(Editor),
    /// Editing field `field` of the current component.
    Field {
        field: usize,
        editor: Editor,
    },
    /// Picking an `enum`/`enums` value for field `field`.
    Pick {
        field: usize,
        cursor: usize,
    },
    /// Adding a processor or destination: a type list filtered as you type.
    AddType {
        kind: TypeKind,
        query: String,
        cursor: usize,
    },
    /// Naming the current source or destination (its `displayName`).
    Rename(Editor),
    /// Typing the configuration's name.
    Name(Editor),
    /// Typing the label selector.
    Selector(Editor),
    /// "Discard your changes?"
    ConfirmDiscard,
}

/// One row of the add popup: a type with a form to fill, or (for destinations) a
/// shared `Destination` resource added by reference.
#[derive(Debug, Clone)]
pub enum AddChoice {
    Type(Arc<LoadedType>),
    Shared {
        name: String,
        type_name: String,
        /// Already in this configuration (a destination is listed once).
        added: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffWith {
    Nothing,
    /// The stored version of the configuration with the same name.
    Previous,
    /// The effective config an agent reports.
    Agent(AgentId),
}

/// The review step's content, computed when it is entered or the draft changes there.
#[derive(Debug, Clone, Default)]
pub struct Review {
    /// The rendered Collector YAML (masked), when it renders.
    pub yaml: Option<String>,
    /// Every problem, naming the component and parameter.
    pub problems: Vec<String>,
    pub diff: Option<Vec<DiffLine>>,
    /// What the diff compares with, or why there is nothing to compare.
    pub diff_title: String,
    /// Which label each rendered ID stands for (`source1 = filelog/2`), when labels
    /// are needed to tell the parts apart.
    pub legend: Option<String>,
    pub scroll: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveState {
    NotSaved,
    Saving,
    Saved {
        name: String,
        version: u64,
        status: ApplyStatus,
    },
    Refused(Vec<String>),
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Ok,
    Warn,
    Error,
}

/// A processor attached to one source or inline destination, as the builder edits it.
/// The owner's `own_processors` stay what is saved; this keeps the form (with text that does not
/// parse yet) between keys and writes it back when it changes.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The form, when the processor's type is known (an unknown one is kept as written).
    pub form: Option<Component>,
    /// What the owner holds for this processor.
    written: ProcessorRef,
    /// The form as it was when `written` was last taken from it.
    synced: Option<Component>,
}

impl Attached {
    fn from_ref(types: &TypeRegistry, r: &ProcessorRef) -> Attached {
        let form = types.get(TypeKind::Processor, &r.type_name).map(|t| {
            let mut c = Component::with_parameters(t, &r.parameters);
            c.display_name = r.name.clone();
            c.disabled = r.disabled;
            c
        });
        Attached {
            synced: form.clone(),
            form,
            written: r.clone(),
        }
    }

    fn new(t: &LoadedType) -> Attached {
        let c = Component::new(t);
        Attached {
            written: processor_ref(&c),
            synced: Some(c.clone()),
            form: Some(c),
        }
    }

    /// Takes what was changed in the form into `written`.
    fn take_changes(&mut self) {
        if self.form != self.synced {
            if let Some(c) = &self.form {
                self.written = processor_ref(c);
            }
            self.synced = self.form.clone();
        }
    }

    pub fn type_name(&self) -> &str {
        &self.written.type_name
    }

    /// The type's display name (with the name given, if any), or its name and that it
    /// is unknown.
    pub fn title(&self) -> String {
        match &self.form {
            Some(c) => processor_title(c),
            None => format!("{} (unknown type)", self.written.type_name),
        }
    }
}

/// A processor's tab: its type's title, and the name given to it.
fn processor_title(c: &Component) -> String {
    match &c.display_name {
        Some(name) => format!("{} · {name}", c.title),
        None => c.title.clone(),
    }
}

fn processor_ref(c: &Component) -> ProcessorRef {
    ProcessorRef {
        type_name: c.type_name.clone(),
        name: c.display_name.clone(),
        parameters: c.parameters(),
        disabled: c.disabled,
    }
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
    pub push: PushState,
    pub message: Option<(Level, String)>,
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
}

/// Which components own the processors a form step edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sources,
    Destinations,
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
            push: PushState::Choosing,
            message: None,
            warnings: Vec::new(),
            keymap: Keymap::default(),
            attached: Vec::new(),
            attached_focus: None,
            dest_attached: Vec::new(),
            dest_focus: None,
            coverage,
            last_push: None,
            refused_for: None,
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

    /// Whether closing now would lose something.
    pub fn changed(&self) -> bool {
        self.configuration() != self.baseline
    }

    /// Source types in the picker, filtered by the search.
    pub fn source_types(&self) -> Vec<Arc<LoadedType>> {
        self.addable_types(TypeKind::Source, &self.search)
    }

    /// Types of `kind` matching `query`: exact names first, then names starting with it,
    /// then the rest by name.
    pub fn addable_types(&self, kind: TypeKind, query: &str) -> Vec<Arc<LoadedType>> {
        let q = query.trim().to_lowercase();
        let mut list: Vec<_> = builder::types_of(&self.types, kind)
            .into_iter()
            .filter(|t| matches_search(t, query))
            .collect();
        list.sort_by_key(|t| (t.name() != q, !t.name().starts_with(&q)));
        list
    }

    /// Choices of the add popup matching `query`: for destinations, the shared ones
    /// stored in the catalog first, then the types — except a type named exactly by the
    /// query, which stays first so typing a type's name and Enter adds that type.
    pub fn add_choices(&self, kind: TypeKind, query: &str) -> Vec<AddChoice> {
        let mut types = self.addable_types(kind, query);
        let q = query.trim().to_lowercase();
        let exact = types.first().is_some_and(|t| t.name() == q);
        let mut out: Vec<AddChoice> = Vec::new();
        if exact {
            out.push(AddChoice::Type(types.remove(0)));
        }
        if kind == TypeKind::Destination {
            let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
            let mut shared: Vec<&Destination> = self
                .destinations
                .iter()
                .filter(|d| {
                    let hay = format!("{} {} shared", d.name(), d.spec.type_name).to_lowercase();
                    words.iter().all(|w| hay.contains(w))
                })
                .collect();
            shared.sort_by(|a, b| a.name().cmp(b.name()));
            out.extend(shared.into_iter().map(|d| AddChoice::Shared {
                name: d.name().to_string(),
                type_name: d.spec.type_name.clone(),
                added: self.draft.has_shared_destination(d.name()),
            }));
        }
        out.extend(types.into_iter().map(AddChoice::Type));
        out
    }

    /// The stored shared destination `name`, if the catalog has it.
    pub fn shared_destination(&self, name: &str) -> Option<&Destination> {
        self.destinations.iter().find(|d| d.name() == name)
    }

    /// Titles of the components the current form step edits: the type's title, with the
    /// label that tells it apart when there is more than one of its type or it was named.
    pub fn component_titles(&self) -> Vec<String> {
        match self.step {
            Step::Configure => {
                let labels = self.draft.source_labels();
                self.draft
                    .sources
                    .iter()
                    .zip(labels)
                    .map(|(c, label)| {
                        tab_title(c, &label, self.draft.source_count(&c.type_name) > 1)
                    })
                    .collect()
            }
            Step::Processors => self.draft.processors.iter().map(processor_title).collect(),
            Step::Destinations => {
                let labels = self.draft.destination_labels();
                let inline = |ty: &str| {
                    self.draft
                        .destinations
                        .iter()
                        .filter(|d| matches!(d, DestinationItem::Inline(c) if c.type_name == ty))
                        .count()
                };
                self.draft
                    .destinations
                    .iter()
                    .zip(labels)
                    .map(|(d, label)| match d {
                        DestinationItem::Inline(c) => {
                            tab_title(c, &label, inline(&c.type_name) > 1)
                        }
                        DestinationItem::Named(_) => {
                            match self.shared_destination(d.base_label()) {
                                Some(res) => format!("{label} (shared {})", res.spec.type_name),
                                None => format!("{label} (shared)"),
                            }
                        }
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// The component whose form is shown (none for a shared destination).
    pub fn current(&self) -> Option<&Component> {
        let slot = self.step.slot()?;
        let i = self.component[slot];
        match self.step {
            Step::Configure => match self.attached_focus {
                None => self.draft.sources.get(i),
                Some(k) => self.attached.get(i)?.get(k)?.form.as_ref(),
            },
            Step::Processors => self.draft.processors.get(i),
            Step::Destinations => match self.dest_focus {
                Some(k) => self.dest_attached.get(i)?.get(k)?.form.as_ref(),
                None => match self.draft.destinations.get(i)? {
                    DestinationItem::Inline(c) => Some(c),
                    DestinationItem::Named(_) => None,
                },
            },
            _ => None,
        }
    }

    /// In step 2 (or 4), the processor of the current source (or destination) that is
    /// shown, if one is.
    pub fn focused_attached(&self) -> Option<&Attached> {
        let side = self.side()?;
        let i = self.component[self.step.slot()?];
        self.lists(side).get(i)?.get(self.focus_of(side)?)
    }

    /// The processors attached to source `i`.
    pub fn attached_of(&self, i: usize) -> &[Attached] {
        self.attached.get(i).map_or(&[], Vec::as_slice)
    }

    /// The processors attached to destination `j` (none for a shared one).
    pub fn dest_attached_of(&self, j: usize) -> &[Attached] {
        self.dest_attached.get(j).map_or(&[], Vec::as_slice)
    }

    /// Which processors of the current form step's component is shown (none: its own
    /// form), in steps 2 and 4.
    pub fn processor_focus(&self) -> Option<usize> {
        self.focus_of(self.side()?)
    }

    /// Whose processors the current step edits.
    fn side(&self) -> Option<Side> {
        match self.step {
            Step::Configure => Some(Side::Sources),
            Step::Destinations => Some(Side::Destinations),
            _ => None,
        }
    }

    fn lists(&self, side: Side) -> &Vec<Vec<Attached>> {
        match side {
            Side::Sources => &self.attached,
            Side::Destinations => &self.dest_attached,
        }
    }

    fn lists_mut(&mut self, side: Side) -> &mut Vec<Vec<Attached>> {
        match side {
            Side::Sources => &mut self.attached,
            Side::Destinations => &mut self.dest_attached,
        }
    }

    fn focus_of(&self, side: Side) -> Option<usize> {
        match side {
            Side::Sources => self.attached_focus,
            Side::Destinations => self.dest_focus,
        }
    }

    fn set_focus(&mut self, side: Side, focus: Option<usize>) {
        match side {
            Side::Sources => self.attached_focus = focus,
            Side::Destinations => self.dest_focus = focus,
        }
    }

    /// The processors component `i` of `side` holds (none for a shared destination).
    fn owned(&self, side: Side, i: usize) -> Option<&Vec<ProcessorRef>> {
        match side {
            Side::Sources => self.draft.sources.get(i).map(|c| &c.own_processors),
            Side::Destinations => match self.draft.destinations.get(i)? {
                DestinationItem::Inline(c) => Some(&c.own_processors),
                DestinationItem::Named(_) => None,
            },
        }
    }

    fn owned_mut(&mut self, side: Side, i: usize) -> Option<&mut Vec<ProcessorRef>> {
        match side {
            Side::Sources => self.draft.sources.get_mut(i).map(|c| &mut c.own_processors),
            Side::Destinations => match self.draft.destinations.get_mut(i)? {
                DestinationItem::Inline(c) => Some(&mut c.own_processors),
                DestinationItem::Named(_) => None,
            },
        }
    }

    fn owner_count(&self, side: Side) -> usize {
        match side {
            Side::Sources => self.draft.sources.len(),
            Side::Destinations => self.draft.destinations.len(),
        }
    }

    /// Brings [`Self::attached`] and [`Self::dest_attached`] in line with the draft: a
    /// component whose processors no longer match what was last written (opened, added,
    /// removed or moved) gets its list rebuilt from the draft; otherwise changes made in
    /// the forms are written to its `own_processors`.
    fn sync_attached(&mut self) {
        for side in [Side::Sources, Side::Destinations] {
            let n = self.owner_count(side);
            self.lists_mut(side).truncate(n);
            for i in 0..n {
                let owned = self.owned(side, i).cloned().unwrap_or_default();
                let in_line = self
                    .lists(side)
                    .get(i)
                    .is_some_and(|list| list.iter().map(|a| &a.written).eq(owned.iter()));
                if in_line {
                    self.write_attached(side, i);
                } else {
                    let list: Vec<Attached> = owned
                        .iter()
                        .map(|r| Attached::from_ref(&self.types, r))
                        .collect();
                    let lists = self.lists_mut(side);
                    if i < lists.len() {
                        lists[i] = list;
                    } else {
                        lists.push(list);
                    }
                }
            }
        }
        self.clamp_focus();
    }

    /// Keeps the processor shown (steps 2 and 4) within its component's list.
    fn clamp_focus(&mut self) {
        for (side, slot) in [(Side::Sources, 0), (Side::Destinations, 2)] {
            let len = self
                .lists(side)
                .get(self.component[slot])
                .map_or(0, Vec::len);
            if self.focus_of(side).is_some_and(|k| k >= len) {
                self.set_focus(side, len.checked_sub(1));
            }
        }
    }

    /// Writes component `i`'s attached processors (with their form changes) to the draft.
    fn write_attached(&mut self, side: Side, i: usize) {
        let refs: Vec<ProcessorRef> = match self.lists_mut(side).get_mut(i) {
            Some(list) => list
                .iter_mut()
                .map(|a| {
                    a.take_changes();
                    a.written.clone()
                })
                .collect(),
            None => return,
        };
        if let Some(owned) = self.owned_mut(side, i) {
            *owned = refs;
        }
    }

    fn current_mut(&mut self) -> Option<&mut Component> {
        let slot = self.step.slot()?;
        let i = self.component[slot];
        match self.step {
            Step::Configure => match self.attached_focus {
                None => self.draft.sources.get_mut(i),
                Some(k) => self.attached.get_mut(i)?.get_mut(k)?.form.as_mut(),
            },
            Step::Processors => self.draft.processors.get_mut(i),
            Step::Destinations => match self.dest_focus {
                Some(k) => self.dest_attached.get_mut(i)?.get_mut(k)?.form.as_mut(),
                None => match self.draft.destinations.get_mut(i)? {
                    DestinationItem::Inline(c) => Some(c),
                    DestinationItem::Named(_) => None,
                },
            },
            _ => None,
        }
    }

    fn component_count(&self) -> usize {
        match self.step {
            Step::Configure => self.draft.sources.len(),
            Step::Processors => self.draft.processors.len(),
            Step::Destinations => self.draft.destinations.len(),
            _ => 0,
        }
    }

    /// The index (into `fields`) of the field under the cursor.
    pub fn current_field(&self) -> Option<usize> {
        let slot = self.step.slot()?;
        let c = self.current()?;
        c.visible(self.advanced)
            .get(self.field_cursor[slot])
            .copied()
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

    /// Pasted text goes into whatever editor is open (one line for one-line editors).
    pub fn paste(&mut self, text: &str) {
        let ed = match &mut self.mode {
            Mode::Search(e)
            | Mode::Field { editor: e, .. }
            | Mode::Name(e)
            | Mode::Rename(e)
            | Mode::Selector(e) => e,
            _ => return,
        };
        if ed.multiline {
            ed.area.insert_str(text);
        } else {
            ed.area.insert_str(text.lines().next().unwrap_or(""));
        }
    }

    fn say(&mut self, level: Level, text: impl Into<String>) {
        self.message = Some((level, text.into()));
    }

    // ----- results of effects -----

    /// Takes the result of an effect; may ask for more (following a started rollout).
    pub fn on_message(&mut self, msg: WizardMsg, snap: &FleetSnapshot) -> Vec<WizardEffect> {
        let effects = self.take_message(msg, snap);
        // An edit from $EDITOR renders anew: what the targets lack may change with it.
        self.coverage
            .refresh(snap, &self.targets, self.review.yaml.as_deref());
        effects
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
            WizardMsg::Saved(result) => self.saved(result),
            WizardMsg::Pushed(Ok(view)) => {
                self.say(Level::Ok, format!("rollout of {} started", view.config));
                let config = view.config.name.to_string();
                self.push = PushState::Following {
                    view: Some(Box::new(view)),
                    error: None,
                };
                return vec![WizardEffect::Follow { config }];
            }
            WizardMsg::Pushed(Err(e)) => {
                self.push = PushState::Choosing;
                self.say(Level::Error, format!("push refused: {e}"));
            }
            WizardMsg::Lacking(why) => {
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
                self.say(
                    Level::Info,
                    format!("asked to {}: {}", how.verb(), view.status),
                );
                self.set_rollout(Some(view), None);
            }
            WizardMsg::Steered(how, Err(e)) => {
                self.set_rollout(None, Some(format!("could not {}: {e}", how.verb())))
            }
            WizardMsg::Edited(Ok(text)) => self.edited(text, snap),
            WizardMsg::Edited(Err(e)) => self.say(Level::Error, e),
        }
        Vec::new()
    }

    fn following(&self) -> bool {
        matches!(self.push, PushState::Following { .. })
    }

    fn set_rollout(&mut self, view: Option<RolloutView>, err: Option<String>) {
        if let PushState::Following { view: v, error } = &mut self.push {
            if let Some(view) = view {
                *v = Some(Box::new(view));
            }
            *error = err;
        }
    }

    fn saved(&mut self, r: ApplyResult) {
        match (r.status, r.version) {
            (ApplyStatus::Invalid, _) | (_, None) => {
                self.say(Level::Error, format!("{} was not saved", r.name));
                self.save = SaveState::Refused(r.problems);
            }
            (status, Some(version)) => {
                let what = match status {
                    ApplyStatus::Created => format!("created {} version {version}", r.name),
                    ApplyStatus::Unchanged => {
                        format!("{} is unchanged: still version {version}", r.name)
                    }
                    _ => format!("saved {} as version {version}", r.name),
                };
                self.say(Level::Ok, format!("{what} · n: choose targets and push"));
                self.baseline = self.configuration();
                self.existing
                    .insert(r.name.clone(), (version, self.baseline.clone()));
                self.save = SaveState::Saved {
                    name: r.name,
                    version,
                    status,
                };
            }
        }
    }

    fn edited(&mut self, text: String, snap: &FleetSnapshot) {
        let before = self.raw_text();
        if text.trim_end() == before.trim_end() {
            self.say(Level::Info, "the editor returned the text unchanged");
            return;
        }
        self.draft.raw = Some(text);
        self.save = SaveState::NotSaved;
        self.refresh_review(snap);
        if self.review.problems.is_empty() {
            self.say(
                Level::Ok,
                "raw configuration checked: it is what will be saved (x drops it)",
            );
        } else {
            self.say(
                Level::Error,
                format!(
                    "{} problem(s) in the edited YAML; e edits again",
                    self.review.problems.len()
                ),
            );
        }
    }

    /// The Collector YAML the editor starts with: the raw text, or the current render
    /// (unmasked, so secrets survive the round trip).
    fn raw_text(&self) -> String {
        if let Some(raw) = &self.draft.raw {
            return raw.clone();
        }
        let mut cfg = self.configuration();
        if cfg.metadata.name.is_empty() {
            cfg.metadata.name = "untitled".into();
        }
        crate::pipeline::render(&cfg, &self.types, &self.destinations)
            .map(|r| r.yaml)
            .unwrap_or_default()
    }

    /// Renders the draft and builds the diff. Pure CPU work, done on entering the review
    /// step (never while drawing).
    pub fn refresh_review(&mut self, snap: &FleetSnapshot) {
        let mut cfg = self.configuration();
        if cfg.metadata.name.is_empty() {
            cfg.metadata.name = "untitled".into();
        }
        let scroll = self.review.scroll;
        let mut review = Review {
            scroll,
            ..Review::default()
        };
        match crate::pipeline::render_masked(&cfg, &self.types, &self.destinations) {
            Ok(r) => review.yaml = Some(r.yaml),
            Err(problems) => review.problems = problems.iter().map(|p| p.to_string()).collect(),
        }
        review.legend = self.legend();
        if self.draft.raw.is_none() && self.draft.sources.is_empty() {
            review
                .problems
                .insert(0, "no sources: step 1 chooses them".into());
        }
        if let Some(yaml) = &review.yaml {
            match self.diff_with {
                DiffWith::Nothing => review.diff_title = "d: compare".into(),
                DiffWith::Previous => match self.existing.get(&self.name) {
                    Some((version, prev)) => {
                        let before =
                            crate::pipeline::render_masked(prev, &self.types, &self.destinations)
                                .map(|r| r.yaml)
                                .unwrap_or_default();
                        review.diff = Some(crate::pipeline::diff(&before, yaml));
                        review.diff_title = format!("diff with {} version {version}", self.name);
                    }
                    None => {
                        review.diff_title = if self.name.is_empty() {
                            "no earlier version (not named yet)".into()
                        } else {
                            format!("{} has no earlier version", self.name)
                        }
                    }
                },
                DiffWith::Agent(id) => match snap.get(&id) {
                    Some(a) => {
                        let body =
                            a.effective_config
                                .as_ref()
                                .and_then(|c| c.main_body())
                                .map(|b| {
                                    let text = String::from_utf8_lossy(b);
                                    self.redactor.mask(&text).into_owned()
                                });
                        match body {
                            Some(before) => {
                                review.diff = Some(crate::pipeline::diff(&before, yaml));
                                review.diff_title =
                                    format!("diff with {}'s effective config", a.name);
                            }
                            None => {
                                review.diff_title =
                                    format!("{} reports no effective config", a.name)
                            }
                        }
                    }
                    None => review.diff_title = format!("agent {id} is gone"),
                },
            }
        }
        self.review = review;
    }

    /// `source<i> = label` for every source and `destination<j> = label` for every inline
    /// destination (the IDs the rendered YAML uses), when some label is not just its type.
    fn legend(&self) -> Option<String> {
        if self.draft.raw.is_some() {
            return None;
        }
        let d = &self.draft;
        let sources = d.sources.iter().map(|c| c.type_name.as_str());
        let dests = d.destinations.iter().map(|x| match x {
            DestinationItem::Inline(c) => Some(c.type_name.as_str()),
            DestinationItem::Named(_) => None,
        });
        let mut parts = Vec::new();
        let mut needed = false;
        for (i, (ty, label)) in sources.zip(d.source_labels()).enumerate() {
            needed |= label != ty;
            parts.push(format!("source{i} = {label}"));
        }
        for (j, (ty, label)) in dests.zip(d.destination_labels()).enumerate() {
            if let Some(ty) = ty {
                needed |= label != ty;
                parts.push(format!("destination{j} = {label}"));
            }
        }
        needed.then(|| parts.join(" · "))
    }

    // ----- keys -----

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

    /// The keymap's meaning of `key` in `contexts`.
    fn action(&self, key: &KeyEvent, contexts: &[Context]) -> Option<WizardAction> {
        let chord = KeyChord::from_event(key)?;
        match self.keymap.lookup(contexts, chord)? {
            Action::Wizard(w) => Some(w),
            _ => None,
        }
    }

    fn mode_key(&mut self, key: &KeyEvent, cx: &Cx) -> Outcome {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal_key(key, cx),
            Mode::ConfirmDiscard => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => Outcome {
                    effects: vec![WizardEffect::StopFollowing],
                    close: true,
                },
                _ => {
                    self.say(Level::Info, "kept your changes");
                    Outcome::default()
                }
            },
            Mode::Search(mut ed) => {
                match ed.key(key) {
                    Some(true) => self.search = ed.text(),
                    Some(false) => self.search.clear(),
                    None => {
                        self.search = ed.text();
                        self.mode = Mode::Search(ed);
                    }
                }
                self.source_cursor = self
                    .source_cursor
                    .min(self.source_types().len().saturating_sub(1));
                Outcome::default()
            }
            Mode::Field { field, mut editor } => {
                match editor.key(key) {
                    Some(true) => {
                        let text = editor.text();
                        let result = match self.current_mut().and_then(|c| c.fields.get_mut(field))
                        {
                            Some(f) => f.set_text(&text),
                            None => Ok(()),
                        };
                        if let Err(e) = result {
                            editor.error = Some(e);
                            self.mode = Mode::Field { field, editor };
                        }
                    }
                    Some(false) => {}
                    None => self.mode = Mode::Field { field, editor },
                }
                self.keep_field_cursor();
                Outcome::default()
            }
            Mode::Pick { field, cursor } => {
                self.pick_key(key, field, cursor);
                self.keep_field_cursor();
                Outcome::default()
            }
            Mode::AddType {
                kind,
                mut query,
                mut cursor,
            } => {
                let list = self.add_choices(kind, &query);
                match key.code {
                    KeyCode::Esc => return Outcome::default(),
                    KeyCode::Enter => {
                        match list.get(cursor) {
                            Some(AddChoice::Type(t)) => self.add_component(t),
                            Some(AddChoice::Shared { name, added, .. }) => {
                                if !*added {
                                    self.add_shared(name);
                                } else {
                                    self.say(
                                        Level::Warn,
                                        format!(
                                            "{name} is already a destination here: a shared destination is listed once"
                                        ),
                                    );
                                    self.mode = Mode::AddType {
                                        kind,
                                        query,
                                        cursor,
                                    };
                                }
                            }
                            None => {}
                        }
                        return Outcome::default();
                    }
                    KeyCode::Up => cursor = cursor.saturating_sub(1),
                    KeyCode::Down => cursor = (cursor + 1).min(list.len().saturating_sub(1)),
                    KeyCode::Backspace => {
                        query.pop();
                        cursor = 0;
                    }
                    KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                        query.push(c);
                        cursor = 0;
                    }
                    _ => {}
                }
                self.mode = Mode::AddType {
                    kind,
                    query,
                    cursor,
                };
                Outcome::default()
            }
            Mode::Rename(mut ed) => {
                match ed.key(key) {
                    Some(true) => {
                        if let Err(e) = self.rename_current(ed.text().trim()) {
                            ed.error = Some(e);
                            self.mode = Mode::Rename(ed);
                        }
                    }
                    Some(false) => {}
                    None => self.mode = Mode::Rename(ed),
                }
                Outcome::default()
            }
            Mode::Name(mut ed) => {
                match ed.key(key) {
                    Some(true) => {
                        let name = ed.text().trim().to_string();
                        match name_problem(&name) {
                            Some(p) => {
                                ed.error = Some(p);
                                self.mode = Mode::Name(ed);
                            }
                            None => {
                                self.name = name;
                                self.save = SaveState::NotSaved;
                            }
                        }
                    }
                    Some(false) => {}
                    None => self.mode = Mode::Name(ed),
                }
                Outcome::default()
            }
            Mode::Selector(mut ed) => {
                match ed.key(key) {
                    Some(true) => self.targets.selector = ed.text().trim().to_string(),
                    Some(false) => {}
                    None => self.mode = Mode::Selector(ed),
                }
                Outcome::default()
            }
        }
    }

    fn normal_key(&mut self, key: &KeyEvent, cx: &Cx) -> Outcome {
        let ch = match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => Some(c),
            _ => None,
        };
        // Keys every step shares.
        match self.action(key, &[Context::Wizard]) {
            Some(WizardAction::Close) => return self.ask_to_close(),
            Some(WizardAction::NextStep) if self.step != Step::Push => return self.forward(cx),
            Some(WizardAction::PrevStep) if self.step > Step::Sources && !self.following() => {
                self.step = self.step.prev();
                self.message = None;
                return Outcome::default();
            }
            _ => {}
        }
        match self.step {
            Step::Sources => self.sources_key(key, ch),
            Step::Configure | Step::Processors | Step::Destinations => self.form_key(key),
            Step::Review => self.review_key(key, ch, cx),
            Step::Save => self.save_key(key, ch),
            Step::Push => self.push_key(key, ch, cx),
        }
    }

    fn ask_to_close(&mut self) -> Outcome {
        if self.following() || !self.changed() {
            return Outcome {
                effects: vec![WizardEffect::StopFollowing],
                close: true,
            };
        }
        self.mode = Mode::ConfirmDiscard;
        Outcome::default()
    }

    /// `n`: the next step, when the current one allows it.
    fn forward(&mut self, cx: &Cx) -> Outcome {
        let raw = self.draft.raw.is_some();
        let refuse = match self.step {
            Step::Sources if self.draft.sources.is_empty() && !raw => {
                Some("choose at least one source (space marks it)")
            }
            Step::Destinations if self.draft.destinations.is_empty() && !raw => {
                Some("add at least one destination (a)")
            }
            Step::Review if !self.review.problems.is_empty() => {
                Some("fix the problems listed first (b goes back to the forms)")
            }
            Step::Save if !matches!(self.save, SaveState::Saved { .. }) => {
                Some("save first (enter)")
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
            Step::Save if self.name.is_empty() => {
                self.mode = Mode::Name(Editor::new("", false, false, "Name".into()))
            }
            _ => {}
        }
        Outcome::default()
    }

    fn sources_key(&mut self, key: &KeyEvent, ch: Option<char>) -> Outcome {
        let list = self.source_types();
        match (key.code, ch) {
            (KeyCode::Up, _) | (_, Some('k')) => {
                self.source_cursor = self.source_cursor.saturating_sub(1)
            }
            (KeyCode::Down, _) | (_, Some('j')) => {
                self.source_cursor = (self.source_cursor + 1).min(list.len().saturating_sub(1))
            }
            (_, Some('/')) => {
                self.mode = Mode::Search(Editor::new(&self.search, false, false, "Search".into()))
            }
            (_, Some(' ')) | (KeyCode::Enter, _) => {
                if let Some(t) = list.get(self.source_cursor) {
                    match self
                        .draft
                        .sources
                        .iter()
                        .rposition(|c| c.type_name == t.name())
                    {
                        Some(i) => self.remove_source(i),
                        None => self.add_source(t),
                    }
                }
            }
            (_, Some('+')) => {
                if let Some(t) = list.get(self.source_cursor) {
                    self.add_source(t);
                }
            }
            _ => {}
        }
        Outcome::default()
    }

    /// Adds a source of type `t`, another one if it is already there (then its form is
    /// the current one in step 2, so it is the one filled next).
    fn add_source(&mut self, t: &LoadedType) {
        self.draft.sources.push(Component::new(t));
        self.draft.raw = None;
        let i = self.draft.sources.len() - 1;
        let count = self.draft.source_count(t.name());
        if count > 1 {
            self.component[0] = i;
            self.attached_focus = None;
            self.field_cursor[0] = 0;
            let label = self.draft.source_labels().swap_remove(i);
            self.say(
                Level::Info,
                format!(
                    "added {label}: {count} {} sources, each with its own form",
                    t.name()
                ),
            );
        } else {
            self.message = None;
        }
    }

    fn remove_source(&mut self, i: usize) {
        let labels = self.draft.source_labels();
        let c = self.draft.sources.remove(i);
        if i < self.attached.len() {
            self.attached.remove(i);
        }
        self.draft.raw = None;
        if self.component[0] >= i {
            self.attached_focus = None;
        }
        self.component[0] = self.component[0].min(self.draft.sources.len().saturating_sub(1));
        let left = self.draft.source_count(&c.type_name);
        if left > 0 {
            self.say(
                Level::Info,
                format!(
                    "removed {} ({left} {} left; x in step 2 removes a chosen one)",
                    labels[i], c.type_name
                ),
            );
        } else {
            self.message = None;
        }
    }

    /// Names the current source, inline destination or processor; an empty name clears
    /// it (the type's name labels it again). A name another one of the list already shows
    /// is refused, so labels stay unambiguous; a processor's name ends its component IDs
    /// (`batch/<name>`), so one that cannot be an ID or is another's is refused too.
    fn rename_current(&mut self, name: &str) -> Result<(), String> {
        let Some(slot) = self.step.slot() else {
            return Ok(());
        };
        let i = self.component[slot];
        let labels = match (self.step, self.processor_focus()) {
            (Step::Configure | Step::Destinations, Some(k)) => {
                let list = self.focused_list();
                let refs: Vec<ProcessorRef> = list.iter().map(|a| a.written.clone()).collect();
                let titles: Vec<String> = list.iter().map(Attached::title).collect();
                processor_rename_problem(&refs, &titles, k, name)?;
                Vec::new()
            }
            (Step::Configure, None) => self.draft.source_labels(),
            (Step::Processors, _) => {
                let refs: Vec<ProcessorRef> =
                    self.draft.processors.iter().map(processor_ref).collect();
                let titles = self.component_titles();
                processor_rename_problem(&refs, &titles, i, name)?;
                Vec::new()
            }
            (Step::Destinations, _) => self.draft.destination_labels(),
            _ => return Ok(()),
        };
        if !name.is_empty() && labels.iter().enumerate().any(|(j, l)| j != i && l == name) {
            return Err(format!("{name:?} already names another one here"));
        }
        let Some(c) = self.current_mut() else {
            return Ok(());
        };
        c.display_name = (!name.is_empty()).then(|| name.to_string());
        let said = match (name.is_empty(), c.kind) {
            (true, TypeKind::Processor) => {
                "name cleared: its IDs are named after its place again".to_string()
            }
            (true, _) => "name cleared: labelled by its type".to_string(),
            (false, TypeKind::Processor) => {
                format!("named {name}: its components are {}/{name}", c.type_name)
            }
            (false, _) => format!("named {name}"),
        };
        self.say(Level::Info, said);
        Ok(())
    }

    fn form_key(&mut self, key: &KeyEvent) -> Outcome {
        use WizardAction as W;
        let Some(slot) = self.step.slot() else {
            return Outcome::default();
        };
        let count = self.component_count();
        let visible = self
            .current()
            .map(|c| c.visible(self.advanced))
            .unwrap_or_default();
        let field = visible.get(self.field_cursor[slot]).copied();
        let last = visible.len().saturating_sub(1);
        let chord = KeyChord::from_event(key);
        let action = chord.and_then(|k| {
            self.keymap
                .lookup(&[Context::WizardForm, Context::Scroll], k)
        });
        let cursor = &mut self.field_cursor[slot];
        match action {
            Some(Action::Up) => *cursor = cursor.saturating_sub(1),
            Some(Action::Down) => *cursor = (*cursor + 1).min(last),
            Some(Action::Top) => *cursor = 0,
            Some(Action::Bottom) => *cursor = last,
            Some(Action::Wizard(W::NextPart)) if count > 0 => self.next_part(1),
            Some(Action::Wizard(W::PrevPart)) if count > 0 => self.next_part(-1),
            Some(Action::Wizard(W::Advanced)) => {
                self.advanced = !self.advanced;
                self.say(
                    Level::Info,
                    if self.advanced {
                        "showing advanced parameters"
                    } else {
                        "advanced parameters folded"
                    },
                );
            }
            Some(Action::Wizard(W::Add)) if self.step != Step::Configure => {
                let kind = if self.step == Step::Processors {
                    TypeKind::Processor
                } else {
                    TypeKind::Destination
                };
                self.open_add(kind);
            }
            Some(Action::Wizard(W::AddSourceProcessor)) if self.can_attach() => {
                self.open_add(TypeKind::Processor)
            }
            Some(Action::Wizard(W::Rename)) => self.open_rename(count),
            Some(Action::Wizard(W::Remove)) if count > 0 => self.remove_component(),
            Some(Action::Wizard(W::MoveUp)) => self.move_component(-1),
            Some(Action::Wizard(W::MoveDown)) => self.move_component(1),
            Some(Action::Wizard(W::PrevValue)) => self.with_field(field, |f| match f.value {
                FieldValue::Bool(_) => f.toggle(),
                _ => f.cycle(-1),
            }),
            Some(Action::Wizard(W::NextValue)) => self.with_field(field, |f| match f.value {
                FieldValue::Bool(_) => f.toggle(),
                _ => f.cycle(1),
            }),
            Some(Action::Wizard(W::Toggle)) => self.with_field(field, |f| f.toggle()),
            Some(Action::Wizard(W::Edit)) => self.open_field(field),
            _ => {}
        }
        self.keep_field_cursor();
        Outcome::default()
    }

    fn open_add(&mut self, kind: TypeKind) {
        self.mode = Mode::AddType {
            kind,
            query: String::new(),
            cursor: 0,
        };
    }

    /// `r`: names the source, inline destination or processor shown.
    fn open_rename(&mut self, count: usize) {
        match self.current() {
            Some(c) => {
                let title = match c.kind {
                    TypeKind::Processor => format!(
                        "Name for this processor, as in {}/<name> (empty: none)",
                        c.type_name
                    ),
                    kind => format!("Name for this {} (empty: none)", kind.noun()),
                };
                let text = c.display_name.clone().unwrap_or_default();
                self.mode = Mode::Rename(Editor::new(&text, false, false, title));
            }
            None if self.focused_attached().is_some() => self.say(
                Level::Info,
                "a processor of an unknown type is kept as written: it cannot be named here",
            ),
            None if count > 0 => self.say(
                Level::Info,
                "a shared destination is named and edited as its own resource (fleetdeck apply)",
            ),
            None => {}
        }
    }

    /// Tab / shift-tab: the next (or previous) form. In steps 2 and 4 each source (or
    /// destination) is followed by the processors attached to it.
    fn next_part(&mut self, delta: isize) {
        let Some(slot) = self.step.slot() else { return };
        let count = self.component_count();
        if count == 0 {
            return;
        }
        self.field_cursor[slot] = 0;
        let Some(side) = self.side() else {
            let step = if delta > 0 { 1 } else { count - 1 };
            self.component[slot] = (self.component[slot] + step) % count;
            return;
        };
        // Every (component, shown processor) pair in order, with the current one's place.
        let lists = self.lists(side);
        let parts: Vec<(usize, Option<usize>)> = (0..count)
            .flat_map(|i| {
                let n = lists.get(i).map_or(0, Vec::len);
                std::iter::once((i, None)).chain((0..n).map(move |k| (i, Some(k))))
            })
            .collect();
        let here = (self.component[slot], self.focus_of(side));
        let at = parts.iter().position(|p| *p == here).unwrap_or(0);
        let n = parts.len();
        let next = if delta > 0 {
            (at + 1) % n
        } else {
            (at + n - 1) % n
        };
        let (i, focus) = parts[next];
        self.component[slot] = i;
        self.set_focus(side, focus);
    }

    /// The processors of the component shown in step 2 or 4.
    fn focused_list(&self) -> &[Attached] {
        let Some(side) = self.side() else { return &[] };
        let i = self.component[self.step.slot().unwrap_or(0)];
        self.lists(side).get(i).map_or(&[], Vec::as_slice)
    }

    /// Whether `p` can attach a processor here: to a source, or an inline destination.
    fn can_attach(&self) -> bool {
        match self.side() {
            Some(side) => self
                .owned(side, self.component[self.step.slot().unwrap_or(0)])
                .is_some(),
            None => false,
        }
    }

    fn with_field(&mut self, field: Option<usize>, f: impl FnOnce(&mut builder::Field)) {
        if let Some(i) = field
            && let Some(fld) = self.current_mut().and_then(|c| c.fields.get_mut(i))
        {
            f(fld);
        }
    }

    /// Enter on a field: a text editor, a pick list, or a toggle.
    fn open_field(&mut self, field: Option<usize>) {
        let Some(i) = field else { return };
        let Some(f) = self.current().and_then(|c| c.fields.get(i)) else {
            return;
        };
        match &f.value {
            FieldValue::Bool(_) => self.with_field(field, |f| f.toggle()),
            FieldValue::Choice(c) => {
                let cursor = f.def.valid_values.iter().position(|v| v == c).unwrap_or(0);
                self.mode = Mode::Pick { field: i, cursor };
            }
            FieldValue::Choices(_) => {
                self.mode = Mode::Pick {
                    field: i,
                    cursor: 0,
                }
            }
            _ => {
                let title = match f.def.kind {
                    crate::pipeline::types::ParamType::Strings => {
                        format!("{} · one item per line", f.label())
                    }
                    crate::pipeline::types::ParamType::Map => {
                        format!("{} · one key=value per line", f.label())
                    }
                    _ => f.label().to_string(),
                };
                let editor = Editor::new(
                    &f.editor_text(),
                    f.is_multiline(),
                    f.def.is_sensitive(),
                    title,
                );
                self.mode = Mode::Field { field: i, editor };
            }
        }
    }

    fn pick_key(&mut self, key: &KeyEvent, field: usize, mut cursor: usize) {
        let Some(f) = self.current().and_then(|c| c.fields.get(field)) else {
            return;
        };
        let valid = f.def.valid_values.clone();
        let multi = matches!(f.value, FieldValue::Choices(_));
        match key.code {
            KeyCode::Esc => return,
            KeyCode::Up | KeyCode::Char('k') => cursor = cursor.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                cursor = (cursor + 1).min(valid.len().saturating_sub(1))
            }
            KeyCode::Char(' ') if multi => {
                if let Some(v) = valid.get(cursor) {
                    let v = v.clone();
                    self.with_field(Some(field), |f| f.toggle_choice(&v));
                }
            }
            KeyCode::Enter if multi => return,
            KeyCode::Enter | KeyCode::Char(' ') => {
                if let Some(v) = valid.get(cursor) {
                    let v = v.clone();
                    self.with_field(Some(field), |f| f.choose(&v));
                }
                return;
            }
            _ => {}
        }
        self.mode = Mode::Pick { field, cursor };
    }

    fn keep_field_cursor(&mut self) {
        if let Some(slot) = self.step.slot() {
            let n = self
                .current()
                .map(|c| c.visible(self.advanced).len())
                .unwrap_or(0);
            self.field_cursor[slot] = self.field_cursor[slot].min(n.saturating_sub(1));
            let count = self.component_count();
            self.component[slot] = self.component[slot].min(count.saturating_sub(1));
        }
        self.clamp_focus();
    }

    fn add_component(&mut self, t: &LoadedType) {
        if self.side().is_some() && t.kind() == TypeKind::Processor {
            return self.attach_processor(t);
        }
        let c = Component::new(t);
        match self.step {
            Step::Processors => {
                self.draft.processors.push(c);
                self.component[1] = self.draft.processors.len() - 1;
                self.field_cursor[1] = 0;
            }
            Step::Destinations => {
                self.draft.destinations.push(DestinationItem::Inline(c));
                self.component[2] = self.draft.destinations.len() - 1;
                self.field_cursor[2] = 0;
                self.dest_focus = None;
            }
            _ => {}
        }
        self.draft.raw = None;
        self.say(Level::Info, format!("added {}", title_of(t)));
    }

    /// Attaches a processor of type `t` to the current source, after the one shown (last
    /// when the source's own form is shown), and shows its form.
    fn attach_processor(&mut self, t: &LoadedType) {
        let (Some(side), Some(slot)) = (self.side(), self.step.slot()) else {
            return;
        };
        let i = self.component[slot];
        if self.owned(side, i).is_none() {
            return;
        }
        let (label, whose) = match side {
            Side::Sources => (self.draft.source_labels(), "source"),
            Side::Destinations => (self.draft.destination_labels(), "destination"),
        };
        let label = label.get(i).cloned().unwrap_or_default();
        let focus = self.focus_of(side);
        let Some(list) = self.lists_mut(side).get_mut(i) else {
            return;
        };
        let at = focus.map_or(list.len(), |k| (k + 1).min(list.len()));
        list.insert(at, Attached::new(t));
        self.write_attached(side, i);
        self.draft.raw = None;
        self.set_focus(side, Some(at));
        self.field_cursor[slot] = 0;
        self.say(
            Level::Info,
            format!(
                "added {} to {label}: it runs only on this {whose}'s data",
                title_of(t)
            ),
        );
    }

    /// Adds the shared destination `name` by reference: its parameters stay in the
    /// `Destination` resource.
    fn add_shared(&mut self, name: &str) {
        self.draft.add_shared_destination(name);
        self.draft.raw = None;
        self.component[2] = self.draft.destinations.len() - 1;
        self.field_cursor[2] = 0;
        self.dest_focus = None;
        self.say(
            Level::Info,
            format!("added shared destination {name} (its parameters: fleetdeck apply)"),
        );
    }

    fn remove_component(&mut self) {
        let Some(slot) = self.step.slot() else { return };
        let i = self.component[slot];
        // Named by the tab's title, so which of two of one type went is clear.
        let titles = self.component_titles();
        let removed = match self.step {
            _ if self.processor_focus().is_some() => self.detach_processor(),
            Step::Configure if i < self.draft.sources.len() => {
                self.draft.sources.remove(i);
                if i < self.attached.len() {
                    self.attached.remove(i);
                }
                titles.get(i).cloned()
            }
            Step::Processors if i < self.draft.processors.len() => {
                Some(processor_title(&self.draft.processors.remove(i)))
            }
            Step::Destinations if i < self.draft.destinations.len() => {
                self.draft.destinations.remove(i);
                if i < self.dest_attached.len() {
                    self.dest_attached.remove(i);
                }
                titles.get(i).cloned()
            }
            _ => None,
        };
        if let Some(t) = removed {
            self.say(Level::Info, format!("removed {t}"));
        }
        self.field_cursor[slot] = 0;
        self.keep_field_cursor();
    }

    fn move_component(&mut self, delta: isize) {
        if self.processor_focus().is_some() {
            return self.move_attached(delta);
        }
        let Some(slot) = self.step.slot() else { return };
        let i = self.component[slot];
        let Some(j) = i.checked_add_signed(delta) else {
            return;
        };
        let swapped = match self.step {
            Step::Configure if j < self.draft.sources.len() => {
                self.draft.sources.swap(i, j);
                if j < self.attached.len() {
                    self.attached.swap(i, j);
                }
                true
            }
            Step::Processors if j < self.draft.processors.len() => {
                self.draft.processors.swap(i, j);
                true
            }
            Step::Destinations if j < self.draft.destinations.len() => {
                self.draft.destinations.swap(i, j);
                if j < self.dest_attached.len() {
                    self.dest_attached.swap(i, j);
                }
                true
            }
            _ => false,
        };
        if swapped {
            self.component[slot] = j;
        }
    }

    /// Removes the processor shown from its source or destination; returns what to call
    /// it.
    fn detach_processor(&mut self) -> Option<String> {
        let side = self.side()?;
        let i = self.component[self.step.slot()?];
        let k = self.focus_of(side)?;
        let label = match side {
            Side::Sources => self.draft.source_labels(),
            Side::Destinations => self.draft.destination_labels(),
        }
        .get(i)?
        .clone();
        let list = self.lists_mut(side).get_mut(i)?;
        if k >= list.len() {
            return None;
        }
        let gone = list.remove(k);
        let left = list.len();
        self.write_attached(side, i);
        self.set_focus(side, left.checked_sub(1).map(|last| k.min(last)));
        Some(format!("{} from {label}", gone.title()))
    }

    /// Moves the processor shown one place earlier or later among its owner's.
    fn move_attached(&mut self, delta: isize) {
        let (Some(side), Some(slot)) = (self.side(), self.step.slot()) else {
            return;
        };
        let i = self.component[slot];
        let Some(k) = self.focus_of(side) else { return };
        let Some(list) = self.lists_mut(side).get_mut(i) else {
            return;
        };
        let Some(j) = k.checked_add_signed(delta).filter(|j| *j < list.len()) else {
            return;
        };
        list.swap(k, j);
        self.write_attached(side, i);
        self.set_focus(side, Some(j));
    }

    fn review_key(&mut self, key: &KeyEvent, ch: Option<char>, cx: &Cx) -> Outcome {
        let page = usize::from(cx.size.1.saturating_sub(8)).max(1);
        let r = &mut self.review;
        match (key.code, ch) {
            (KeyCode::Up, _) | (_, Some('k')) => r.scroll = r.scroll.saturating_sub(1),
            (KeyCode::Down, _) | (_, Some('j')) => r.scroll += 1,
            (KeyCode::PageUp, _) => r.scroll = r.scroll.saturating_sub(page),
            (KeyCode::PageDown, _) | (_, Some(' ')) => r.scroll += page,
            (KeyCode::Home, _) | (_, Some('g')) => r.scroll = 0,
            (KeyCode::End, _) | (_, Some('G')) => r.scroll = usize::MAX / 2,
            (_, Some('d')) => {
                self.diff_with = match self.diff_with {
                    DiffWith::Nothing => DiffWith::Previous,
                    DiffWith::Previous => match agents_with_config(cx.snapshot).first() {
                        Some(id) => DiffWith::Agent(*id),
                        None => DiffWith::Nothing,
                    },
                    DiffWith::Agent(_) => DiffWith::Nothing,
                };
                self.review.scroll = 0;
                self.refresh_review(cx.snapshot);
            }
            (_, Some(c @ ('[' | ']'))) => {
                if let DiffWith::Agent(id) = self.diff_with {
                    let ids = agents_with_config(cx.snapshot);
                    if !ids.is_empty() {
                        let at = ids.iter().position(|x| *x == id).unwrap_or(0);
                        let next = if c == ']' { at + 1 } else { at + ids.len() - 1 } % ids.len();
                        self.diff_with = DiffWith::Agent(ids[next]);
                        self.refresh_review(cx.snapshot);
                    }
                }
            }
            (_, Some('e')) => {
                return Outcome::effect(WizardEffect::EditRaw {
                    text: self.raw_text(),
                });
            }
            (_, Some('x')) if self.draft.raw.is_some() => {
                self.draft.raw = None;
                self.refresh_review(cx.snapshot);
                self.say(Level::Info, "raw YAML dropped: the built pipeline is back");
            }
            _ => {}
        }
        Outcome::default()
    }

    fn save_key(&mut self, key: &KeyEvent, ch: Option<char>) -> Outcome {
        match (key.code, ch) {
            (_, Some('r')) if self.editing.is_none() => {
                self.mode = Mode::Name(Editor::new(&self.name, false, false, "Name".into()));
                Outcome::default()
            }
            (KeyCode::Enter, _) | (_, Some('s')) => {
                if let Some(p) = name_problem(&self.name) {
                    self.say(Level::Warn, format!("{p} (r names it)"));
                    return Outcome::default();
                }
                if self.save == SaveState::Saving {
                    return Outcome::default();
                }
                self.save = SaveState::Saving;
                Outcome::effect(WizardEffect::Save(Box::new(self.configuration())))
            }
            _ => Outcome::default(),
        }
    }

    fn push_key(&mut self, key: &KeyEvent, ch: Option<char>, cx: &Cx) -> Outcome {
        if let PushState::Following { view, .. } = &self.push {
            let Some(config) = view.as_ref().map(|v| v.config.name.to_string()) else {
                return Outcome::default();
            };
            let how = match ch {
                Some('p') => Steer::Pause,
                Some('r') => Steer::Resume,
                Some('c') => Steer::Cancel,
                Some('R') => Steer::Rollback,
                _ => return Outcome::default(),
            };
            return Outcome::effect(WizardEffect::Steer { config, how });
        }
        if matches!(self.push, PushState::Starting) {
            return Outcome::default();
        }
        let snap = cx.snapshot;
        let t = &mut self.targets;
        match (key.code, ch) {
            (KeyCode::Tab, _) | (KeyCode::BackTab, _) => {
                t.mode = match t.mode {
                    TargetMode::Agents => TargetMode::Selector,
                    TargetMode::Selector => TargetMode::Agents,
                };
                if t.mode == TargetMode::Selector && t.selector.is_empty() {
                    self.mode = Mode::Selector(Editor::new("", false, false, "Selector".into()));
                }
            }
            (_, Some('/')) | (_, Some('e')) if t.mode == TargetMode::Selector => {
                self.mode =
                    Mode::Selector(Editor::new(&t.selector, false, false, "Selector".into()));
            }
            (KeyCode::Up, _) | (_, Some('k')) if t.mode == TargetMode::Agents => {
                t.cursor = t.cursor.saturating_sub(1)
            }
            (KeyCode::Down, _) | (_, Some('j')) if t.mode == TargetMode::Agents => {
                t.cursor = (t.cursor + 1).min(snap.agents.len().saturating_sub(1))
            }
            (_, Some(' ')) if t.mode == TargetMode::Agents => {
                if let Some(a) = snap.agents.get(t.cursor) {
                    if !t.marks.remove(&a.id) {
                        t.marks.insert(a.id);
                    }
                    t.cursor = (t.cursor + 1).min(snap.agents.len().saturating_sub(1));
                }
            }
            (_, Some('*')) if t.mode == TargetMode::Agents => {
                if t.marks.len() == snap.agents.len() {
                    t.marks.clear();
                } else {
                    t.marks = snap.agents.iter().map(|a| a.id).collect();
                }
            }
            (KeyCode::Enter, _) | (_, Some('p')) => return self.push_now(snap),
            _ => {}
        }
        let rows = usize::from(cx.size.1.saturating_sub(10)).max(1);
        let t = &mut self.targets;
        if t.cursor < t.offset {
            t.offset = t.cursor;
        } else if t.cursor >= t.offset + rows {
            t.offset = t.cursor + 1 - rows;
        }
        Outcome::default()
    }

    fn push_now(&mut self, snap: &FleetSnapshot) -> Outcome {
        let SaveState::Saved { name, version, .. } = &self.save else {
            self.say(Level::Warn, "save the configuration first");
            return Outcome::default();
        };
        let targets = match self.targets.mode {
            TargetMode::Agents => {
                if self.targets.marks.is_empty() {
                    self.say(
                        Level::Warn,
                        "mark agents with space (or tab for a selector)",
                    );
                    return Outcome::default();
                }
                PushTargets::Agents(self.targets.marks.iter().copied().collect())
            }
            TargetMode::Selector => match self.selector_matches(snap) {
                Ok((0, _)) => {
                    self.say(Level::Warn, "the selector matches no agents");
                    return Outcome::default();
                }
                Ok(_) => PushTargets::Selector(self.targets.selector.clone()),
                Err(e) => {
                    self.say(Level::Warn, e);
                    return Outcome::default();
                }
            },
        };
        let config = name.clone();
        let force = self.refused_for.as_ref() == Some(&targets);
        self.last_push = Some(targets.clone());
        self.push = PushState::Starting;
        Outcome {
            effects: vec![WizardEffect::Push {
                config: config.clone(),
                version: *version,
                targets,
                force,
            }],
            close: false,
        }
    }
}

/// Why processor `k` of `list` (tabs titled `titles`) cannot be named `name` (empty:
/// the name is cleared, which is always allowed).
fn processor_rename_problem(
    list: &[ProcessorRef],
    titles: &[String],
    k: usize,
    name: &str,
) -> Result<(), String> {
    if name.is_empty() {
        return Ok(());
    }
    if let Some(p) = processor_name_problem(name) {
        return Err(p);
    }
    match processor_id_taken(list, k, name) {
        Some(j) => {
            let ty = list.get(k).map_or("", |p| p.type_name.as_str());
            let other = titles.get(j).map_or("", String::as_str);
            Err(format!(
                "{ty}/{name} is already the ID of processor {} ({other}): each {ty} processor needs its own name",
                j + 1
            ))
        }
        None => Ok(()),
    }
}

/// A form tab: the type's title, plus the label when the title alone is ambiguous or
/// the user named the component.
fn tab_title(c: &Component, label: &str, repeated: bool) -> String {
    if repeated || label != c.type_name {
        format!("{} · {label}", c.title)
    } else {
        c.title.clone()
    }
}

fn title_of(t: &LoadedType) -> String {
    t.def
        .metadata
        .display_name
        .clone()
        .unwrap_or_else(|| t.name().to_string())
}

/// Agents reporting an effective config, in snapshot order.
fn agents_with_config(snap: &FleetSnapshot) -> Vec<AgentId> {
    snap.agents
        .iter()
        .filter(|a| {
            a.effective_config
                .as_ref()
                .and_then(|c| c.main_body())
                .is_some()
        })
        .map(|a| a.id)
        .collect()
}
