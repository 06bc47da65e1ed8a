//! Step 1: choosing source types (one or more of each).

use std::sync::Arc;

use crossterm::event::KeyEvent;

use crate::pipeline::TypeKind;
use crate::pipeline::builder::{self, Component, matches_search};
use crate::pipeline::registry::LoadedType;
use crate::tui::action::{Action, WizardAction as W};

use super::{Editor, Level, Mode, Outcome, Tip, Wizard};

impl Wizard {
    /// Source types in the picker, filtered by the search.
    pub fn source_types(&self) -> Vec<Arc<LoadedType>> {
        self.addable_types(TypeKind::Source, &self.search)
    }

    /// Types of `kind` matching `query`: the type named so first, then names starting
    /// with it, then names holding it (`http` finds otlphttp before a type that only
    /// mentions HTTP in its description), then the rest. Within each, the types every
    /// target can run come before those some lack, then by category (the catalogue's
    /// order: host, files and logs, …), then by name.
    pub fn addable_types(&self, kind: TypeKind, query: &str) -> Vec<Arc<LoadedType>> {
        let q = query.trim().to_lowercase();
        let mut list: Vec<_> = builder::types_of(&self.types, kind)
            .into_iter()
            .filter(|t| matches_search(t, query))
            .collect();
        let rank = |name: &str| {
            if q.is_empty() || name == q {
                0
            } else if name.starts_with(&q) {
                1
            } else if name.contains(&q) {
                2
            } else {
                3
            }
        };
        let lacking = |t: &LoadedType| self.coverage.lacking(kind, t.name()).is_some();
        list.sort_by_cached_key(|t| {
            (
                rank(t.name()),
                lacking(t),
                category_rank(t),
                t.name().to_string(),
            )
        });
        list
    }

    /// Step 1's keys: move, choose (or drop) a type, add another of it, search.
    pub(super) fn sources_key(&mut self, action: Option<Action>) -> Outcome {
        let list = self.source_types();
        match action {
            Some(Action::Up) => self.source_cursor = self.source_cursor.saturating_sub(1),
            Some(Action::Down) => {
                self.source_cursor = (self.source_cursor + 1).min(list.len().saturating_sub(1))
            }
            Some(Action::Wizard(W::Search)) => {
                self.mode = Mode::Search(Editor::new(&self.search, false, false, "Search".into()))
            }
            Some(Action::Wizard(W::Choose)) => {
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
            Some(Action::Wizard(W::AddAnother)) => {
                if let Some(t) = list.get(self.source_cursor) {
                    self.add_source(t);
                }
            }
            _ => {}
        }
        Outcome::default()
    }

    /// Step 1's footer.
    pub(super) fn sources_tips(&self) -> Vec<Tip> {
        [W::Choose, W::AddAnother, W::Search]
            .map(|a| Tip::One(Action::Wizard(a)))
            .to_vec()
    }

    /// Typing the search: the list follows as you type, the best match highlighted; Enter
    /// chooses it and goes on to step 2 (as a picker does; Space in the list chooses
    /// several), Esc clears the search.
    pub(super) fn search_key(&mut self, mut ed: Editor, key: &KeyEvent) -> Outcome {
        let before = self.search.clone();
        match ed.key(key) {
            Some(true) => {
                self.search = ed.text();
                let list = self.source_types();
                let at = self.source_cursor.min(list.len().saturating_sub(1));
                if let Some(t) = list.get(at)
                    && !self.search.trim().is_empty()
                {
                    if self.draft.source_count(t.name()) == 0 {
                        self.add_source(t);
                    }
                    self.step = super::Step::Configure;
                    return Outcome::default();
                }
            }
            Some(false) => self.search.clear(),
            None => {
                self.search = ed.text();
                self.mode = Mode::Search(ed);
            }
        }
        if self.search != before {
            // The best match comes first: highlight it.
            self.source_cursor = 0;
        }
        self.source_cursor = self
            .source_cursor
            .min(self.source_types().len().saturating_sub(1));
        Outcome::default()
    }

    /// Adds a source of type `t`, another one if it is already there (then its form is
    /// the current one in step 2, so it is the one filled next).
    pub(super) fn add_source(&mut self, t: &LoadedType) {
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

    pub(super) fn remove_source(&mut self, i: usize) {
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
                    "removed {} ({left} {} left; {} in step 2 removes a chosen one)",
                    labels[i],
                    c.type_name,
                    self.key_of(Action::Wizard(W::Remove))
                ),
            );
        } else {
            self.message = None;
        }
    }
}

/// Where a type's category comes in the catalogue's order (types without one last).
pub fn category_rank(t: &LoadedType) -> usize {
    let cats = crate::pipeline::types::CATEGORIES;
    t.def
        .metadata
        .category
        .as_deref()
        .and_then(|c| cats.iter().position(|x| *x == c))
        .unwrap_or(cats.len())
}
