//! The processors attached to one source or inline destination (steps 2 and 4): their
//! forms, which of them is shown, and keeping them in line with the draft.

use crate::pipeline::TypeKind;
use crate::pipeline::TypeRegistry;
use crate::pipeline::builder::{Component, DestinationItem};
use crate::pipeline::config::ProcessorRef;
use crate::pipeline::registry::LoadedType;

use super::{Step, Wizard};

/// A processor attached to one source or inline destination, as the builder edits it.
/// The owner's `own_processors` stay what is saved; this keeps the form (with text that does not
/// parse yet) between keys and writes it back when it changes.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The form, when the processor's type is known (an unknown one is kept as written).
    pub form: Option<Component>,
    /// What the owner holds for this processor.
    pub(super) written: ProcessorRef,
    /// The form as it was when `written` was last taken from it.
    synced: Option<Component>,
}

impl Attached {
    pub(super) fn from_ref(types: &TypeRegistry, r: &ProcessorRef) -> Attached {
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

    pub(super) fn new(t: &LoadedType) -> Attached {
        let c = Component::new(t);
        Attached {
            written: processor_ref(&c),
            synced: Some(c.clone()),
            form: Some(c),
        }
    }

    /// Takes what was changed in the form into `written`.
    pub(super) fn take_changes(&mut self) {
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
pub(super) fn processor_title(c: &Component) -> String {
    match &c.display_name {
        Some(name) => format!("{} · {name}", c.title),
        None => c.title.clone(),
    }
}

pub(super) fn processor_ref(c: &Component) -> ProcessorRef {
    ProcessorRef {
        type_name: c.type_name.clone(),
        name: c.display_name.clone(),
        parameters: c.parameters(),
        disabled: c.disabled,
    }
}

/// Which components own the processors a form step edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Sources,
    Destinations,
}

impl Wizard {
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
    pub(super) fn side(&self) -> Option<Side> {
        match self.step {
            Step::Configure => Some(Side::Sources),
            Step::Destinations => Some(Side::Destinations),
            _ => None,
        }
    }

    pub(super) fn lists(&self, side: Side) -> &Vec<Vec<Attached>> {
        match side {
            Side::Sources => &self.attached,
            Side::Destinations => &self.dest_attached,
        }
    }

    pub(super) fn lists_mut(&mut self, side: Side) -> &mut Vec<Vec<Attached>> {
        match side {
            Side::Sources => &mut self.attached,
            Side::Destinations => &mut self.dest_attached,
        }
    }

    pub(super) fn focus_of(&self, side: Side) -> Option<usize> {
        match side {
            Side::Sources => self.attached_focus,
            Side::Destinations => self.dest_focus,
        }
    }

    pub(super) fn set_focus(&mut self, side: Side, focus: Option<usize>) {
        match side {
            Side::Sources => self.attached_focus = focus,
            Side::Destinations => self.dest_focus = focus,
        }
    }

    /// The processors component `i` of `side` holds (none for a shared destination).
    pub(super) fn owned(&self, side: Side, i: usize) -> Option<&Vec<ProcessorRef>> {
        match side {
            Side::Sources => self.draft.sources.get(i).map(|c| &c.own_processors),
            Side::Destinations => match self.draft.destinations.get(i)? {
                DestinationItem::Inline(c) => Some(&c.own_processors),
                DestinationItem::Named(_) => None,
            },
        }
    }

    pub(super) fn owned_mut(&mut self, side: Side, i: usize) -> Option<&mut Vec<ProcessorRef>> {
        match side {
            Side::Sources => self.draft.sources.get_mut(i).map(|c| &mut c.own_processors),
            Side::Destinations => match self.draft.destinations.get_mut(i)? {
                DestinationItem::Inline(c) => Some(&mut c.own_processors),
                DestinationItem::Named(_) => None,
            },
        }
    }

    pub(super) fn owner_count(&self, side: Side) -> usize {
        match side {
            Side::Sources => self.draft.sources.len(),
            Side::Destinations => self.draft.destinations.len(),
        }
    }

    /// Brings [`Self::attached`] and [`Self::dest_attached`] in line with the draft: a
    /// component whose processors no longer match what was last written (opened, added,
    /// removed or moved) gets its list rebuilt from the draft; otherwise changes made in
    /// the forms are written to its `own_processors`.
    pub(super) fn sync_attached(&mut self) {
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
    pub(super) fn clamp_focus(&mut self) {
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
    pub(super) fn write_attached(&mut self, side: Side, i: usize) {
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

    /// The processors of the component shown in step 2 or 4.
    pub(super) fn focused_list(&self) -> &[Attached] {
        let Some(side) = self.side() else { return &[] };
        let i = self.component[self.step.slot().unwrap_or(0)];
        self.lists(side).get(i).map_or(&[], Vec::as_slice)
    }

    /// Whether `p` can attach a processor here: to a source, or an inline destination.
    pub(super) fn can_attach(&self) -> bool {
        match self.side() {
            Some(side) => self
                .owned(side, self.component[self.step.slot().unwrap_or(0)])
                .is_some(),
            None => false,
        }
    }

    /// Removes the processor shown from its source or destination; returns what to call
    /// it.
    pub(super) fn detach_processor(&mut self) -> Option<String> {
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
    pub(super) fn move_attached(&mut self, delta: isize) {
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
}
