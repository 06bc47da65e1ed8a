//! Steps 2–4: what the forms belong to — adding processors and destinations (a type, or a
//! shared destination by reference), naming, removing and reordering them.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::pipeline::builder::{Component, DestinationItem};
use crate::pipeline::config::{ProcessorRef, processor_id_taken, processor_name_problem};
use crate::pipeline::registry::LoadedType;
use crate::pipeline::{Destination, TypeKind};

use super::attached::{Attached, Side, processor_ref, processor_title};
use super::{Editor, Level, Mode, Outcome, Step, Wizard};

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

impl Wizard {
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

    pub(super) fn open_add(&mut self, kind: TypeKind) {
        self.mode = Mode::AddType {
            kind,
            query: String::new(),
            cursor: 0,
            searching: false,
        };
    }

    /// The add popup: j/k, arrows, g/G move; `/` searches (so does any other letter, so
    /// `a batch enter` still adds a batch processor); Enter adds; Esc ends the search,
    /// then leaves.
    pub(super) fn add_type_key(
        &mut self,
        kind: TypeKind,
        mut query: String,
        mut cursor: usize,
        mut searching: bool,
        key: &KeyEvent,
    ) -> Outcome {
        use crate::tui::action::Action;
        use crate::tui::keymap::{Context, KeyChord};
        let list = self.add_choices(kind, &query);
        let last = list.len().saturating_sub(1);
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let moving = if searching {
            None
        } else {
            KeyChord::from_event(key).and_then(|k| self.keymap.lookup(&[Context::Scroll], k))
        };
        match (key.code, moving) {
            (KeyCode::Esc, _) if searching => searching = false,
            (KeyCode::Esc, _) => return Outcome::default(),
            (KeyCode::Enter, _) => {
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
                                searching: false,
                            };
                        }
                    }
                    None => {}
                }
                return Outcome::default();
            }
            (KeyCode::Up, _) | (_, Some(Action::Up)) => cursor = cursor.saturating_sub(1),
            (KeyCode::Down, _) | (_, Some(Action::Down)) => cursor = (cursor + 1).min(last),
            (_, Some(Action::PageUp)) => cursor = cursor.saturating_sub(10),
            (_, Some(Action::PageDown)) => cursor = (cursor + 10).min(last),
            (_, Some(Action::Top)) => cursor = 0,
            (_, Some(Action::Bottom)) => cursor = last,
            (KeyCode::Char('/'), _) if !searching => searching = true,
            (KeyCode::Backspace, _) => {
                query.pop();
                cursor = 0;
                searching = true;
            }
            (KeyCode::Char('u'), _) if ctrl => {
                query.clear();
                cursor = 0;
            }
            (KeyCode::Char(c), _) if !ctrl => {
                query.push(c);
                cursor = 0;
                searching = true;
            }
            _ => {}
        }
        self.mode = Mode::AddType {
            kind,
            query,
            cursor,
            searching,
        };
        Outcome::default()
    }

    pub(super) fn add_component(&mut self, t: &LoadedType) {
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
        self.edit_first_required();
    }

    /// Opens the editor of the form's first required field that is still empty (an
    /// OTLP/HTTP destination's endpoint): what comes next anyway, one key sooner.
    pub(super) fn edit_first_required(&mut self) {
        let Some(slot) = self.step.slot() else {
            return;
        };
        let Some(c) = self.current() else {
            return;
        };
        let visible = c.visible(self.advanced);
        let found = visible.iter().enumerate().find(|(_, i)| {
            c.fields[**i].def.required && c.problem(**i).as_deref() == Some("is required")
        });
        if let Some((row, i)) = found.map(|(row, i)| (row, *i)) {
            self.field_cursor[slot] = row;
            self.open_field(Some(i));
        }
    }

    /// Attaches a processor of type `t` to the current source, after the one shown (last
    /// when the source's own form is shown), and shows its form.
    pub(super) fn attach_processor(&mut self, t: &LoadedType) {
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
    pub(super) fn add_shared(&mut self, name: &str) {
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

    pub(super) fn remove_component(&mut self) {
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

    pub(super) fn move_component(&mut self, delta: isize) {
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

    /// `r`: names the source, inline destination or processor shown.
    pub(super) fn open_rename(&mut self, count: usize) {
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

    /// Typing a name for what is shown: kept when no other one of the list has it.
    pub(super) fn rename_key(&mut self, mut ed: Editor, key: &KeyEvent) -> Outcome {
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

    /// Names the current source, inline destination or processor; an empty name clears
    /// it (the type's name labels it again). A name another one of the list already shows
    /// is refused, so labels stay unambiguous; a processor's name ends its component IDs
    /// (`batch/<name>`), so one that cannot be an ID or is another's is refused too.
    pub(super) fn rename_current(&mut self, name: &str) -> Result<(), String> {
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

pub(super) fn title_of(t: &LoadedType) -> String {
    t.def
        .metadata
        .display_name
        .clone()
        .unwrap_or_else(|| t.name().to_string())
}
