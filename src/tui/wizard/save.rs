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
            Some(Action::Wizard(W::Save)) => {
                if let Some(p) = name_problem(&self.name) {
                    let key = self.key_of(Action::Wizard(W::NameConfig));
                    self.say(Level::Warn, format!("{p} ({key} names it)"));
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
                let next = self.key_of(Action::Wizard(W::NextStep));
                self.say(
                    Level::Ok,
                    format!("{what} · {next}: choose targets and push"),
                );
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
