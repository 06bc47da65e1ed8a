//! Steps 2–4 share one form: the sources' forms (and processors attached to them), the
//! processors, the destinations (and theirs). This file moves through fields and forms and
//! edits values; `parts` adds, names, removes and reorders what the forms belong to.

use crossterm::event::{KeyCode, KeyEvent};

use crate::pipeline::TypeKind;
use crate::pipeline::builder::{self, Component, DestinationItem, FieldValue};
use crate::tui::action::{Action, WizardAction as W};

use super::attached::processor_title;
use super::{Editor, Level, Mode, Outcome, Step, Tip, Wizard};

impl Wizard {
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

    pub(super) fn current_mut(&mut self) -> Option<&mut Component> {
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

    pub(super) fn component_count(&self) -> usize {
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

    /// Steps 2–4's keys: move between fields and forms, edit, add, name, remove, reorder.
    pub(super) fn form_key(&mut self, action: Option<Action>) -> Outcome {
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

    /// Steps 2–4's footer.
    pub(super) fn form_tips(&self) -> Vec<Tip> {
        let one = |a| Tip::One(Action::Wizard(a));
        let reorder = Tip::Pair(Action::Wizard(W::MoveUp), Action::Wizard(W::MoveDown), '/');
        // A shared destination, or a processor of an unknown type: nothing to edit.
        if self.current().is_none()
            && (self.step == Step::Destinations || self.focused_attached().is_some())
        {
            let mut v = vec![one(W::NextPart)];
            if self.step == Step::Destinations {
                v.push(one(W::Add));
            }
            if !self.component_titles().is_empty() {
                v.extend([one(W::Remove), reorder]);
            }
            return v;
        }
        let mut v = vec![one(W::Edit), one(W::Toggle), one(W::NextPart)];
        match self.step {
            Step::Configure => v.push(one(W::AddSourceProcessor)),
            Step::Destinations => v.extend([one(W::Add), one(W::AddSourceProcessor)]),
            _ => v.push(one(W::Add)),
        }
        v.extend([one(W::Rename), one(W::Remove), reorder, one(W::Advanced)]);
        v
    }

    /// Tab / shift-tab: the next (or previous) form. In steps 2 and 4 each source (or
    /// destination) is followed by the processors attached to it.
    pub(super) fn next_part(&mut self, delta: isize) {
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

    pub(super) fn with_field(&mut self, field: Option<usize>, f: impl FnOnce(&mut builder::Field)) {
        if let Some(i) = field
            && let Some(fld) = self.current_mut().and_then(|c| c.fields.get_mut(i))
        {
            f(fld);
        }
    }

    /// Enter on a field: a text editor, a pick list, or a toggle.
    pub(super) fn open_field(&mut self, field: Option<usize>) {
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

    /// Typing a field's value: kept on Enter (or ^s) when it parses, else the editor says why.
    pub(super) fn field_key(
        &mut self,
        field: usize,
        mut editor: Editor,
        key: &KeyEvent,
    ) -> Outcome {
        match editor.key(key) {
            Some(true) => {
                let text = editor.text();
                let result = match self.current_mut().and_then(|c| c.fields.get_mut(field)) {
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

    pub(super) fn pick_key(&mut self, key: &KeyEvent, field: usize, mut cursor: usize) {
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

    pub(super) fn keep_field_cursor(&mut self) {
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
