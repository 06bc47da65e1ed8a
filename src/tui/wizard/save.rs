//! Step 6: naming the configuration and saving it to the catalog.

use crossterm::event::KeyEvent;

use crate::catalog::{ApplyResult, ApplyStatus};
use crate::pipeline::builder::name_problem;
use crate::tui::action::{Action, WizardAction as W};

use super::{Editor, Level, Mode, Outcome, Tip, Wizard, WizardEffect};

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

impl Wizard {
    /// The save step's keys: name the configuration (when new), save it.
    pub(super) fn save_key(&mut self, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Wizard(W::NameConfig)) if self.editing.is_none() => {
                self.mode = Mode::Name(Editor::new(&self.name, false, false, "Name".into()));
                Outcome::default()
            }
            Some(Action::Wizard(W::Save)) => self.save_now(),
            _ => Outcome::default(),
        }
    }

    /// Saves the configuration, unless it is the stored version unchanged: saving that
    /// again made a new version that renders the same YAML (the builder writes a
    /// configuration in its own form, which the store sees as different text).
    pub(super) fn save_now(&mut self) -> Outcome {
        if let Some(p) = name_problem(&self.name) {
            let key = self.key_of(Action::Wizard(W::NameConfig));
            self.say(Level::Warn, format!("{p} ({key} names it)"));
            return Outcome::default();
        }
        if self.save == SaveState::Saving {
            return Outcome::default();
        }
        if self.keep_unchanged() {
            return Outcome::default();
        }
        self.save = SaveState::Saving;
        Outcome::effect(WizardEffect::Save(Box::new(self.configuration())))
    }

    /// The stored version of an opened configuration nothing was changed in: counted as
    /// saved, so it can be pushed as it is. `false` when there were changes.
    pub(super) fn keep_unchanged(&mut self) -> bool {
        let stored = self
            .editing
            .as_ref()
            .filter(|_| !self.changed())
            .and_then(|name| self.existing.get(name))
            .map(|(version, _)| *version);
        let Some(version) = stored else {
            return false;
        };
        let next = self.key_of(Action::Wizard(W::NextStep));
        self.say(
            Level::Ok,
            format!(
                "{} is unchanged: version {version} as stored · {next}: choose targets and push",
                self.name
            ),
        );
        self.save = SaveState::Saved {
            name: self.name.clone(),
            version,
            status: ApplyStatus::Unchanged,
        };
        true
    }

    /// The save step's footer.
    pub(super) fn save_tips(&self) -> Vec<Tip> {
        let mut v = vec![Tip::One(Action::Wizard(W::Save))];
        if self.editing.is_none() {
            v.push(Tip::One(Action::Wizard(W::NameConfig)));
        }
        v
    }

    /// Typing the configuration's name: kept when it can be one.
    pub(super) fn name_key(&mut self, mut ed: Editor, key: &KeyEvent) -> Outcome {
        match ed.key(key) {
            Some(true) => {
                let name = ed.text().trim().to_string();
                match name_problem(&name) {
                    Some(p) => {
                        ed.error = Some(p);
                        self.mode = Mode::Name(ed);
                    }
                    // Enter names it and saves: one key, as the footer says.
                    None => {
                        self.name = name;
                        self.save = SaveState::NotSaved;
                        return self.save_now();
                    }
                }
            }
            Some(false) => {}
            None => self.mode = Mode::Name(ed),
        }
        Outcome::default()
    }

    /// A name for a new configuration, from what it connects (`otlp-to-otlphttp`), not
    /// taken by a stored one: Enter on the save step keeps it.
    pub(super) fn suggested_name(&self) -> String {
        let d = &self.draft;
        let from = d.sources.first().map(|c| c.type_name.as_str());
        let to = d.destinations.first().map(|x| match x {
            crate::pipeline::builder::DestinationItem::Inline(c) => c.type_name.clone(),
            crate::pipeline::builder::DestinationItem::Named(n) => {
                n.name.clone().unwrap_or_default()
            }
        });
        let base = match (from, to) {
            (Some(f), Some(t)) => format!("{f}-to-{t}"),
            _ => return String::new(),
        };
        let base: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let mut name = base.clone();
        let mut n = 2;
        while self.existing.contains_key(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        if name_problem(&name).is_some() {
            return String::new();
        }
        name
    }

    pub(super) fn saved(&mut self, r: ApplyResult) {
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
                // Saved: on to choosing targets, the only thing left to do here.
                let back = self.key_of(Action::Wizard(W::PrevStep));
                self.say(
                    Level::Ok,
                    format!("{what} · choose targets and push ({back} goes back)"),
                );
                if self.step == super::Step::Save {
                    self.step = super::Step::Push;
                }
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
}
