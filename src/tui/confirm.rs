//! Questions asked before what cannot be taken back: quitting the process that is the
//! fleet's server, restarting agents, rolling back, pushing, forgetting an agent, leaving
//! unsaved work. One key accepts, Esc declines; both come from the keymap's `Confirm`
//! context, so the popup, the footer and the help name the keys the user bound.

use super::action::Action;
use super::keymap::{Context, KeyChord, Keymap};

/// What is asked: a question, what accepting it does, and the verb the footer puts after
/// the accepting key (`y quit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub title: String,
    pub lines: Vec<String>,
    pub verb: &'static str,
}

impl Ask {
    pub fn new(title: impl Into<String>, verb: &'static str) -> Ask {
        Ask {
            title: title.into(),
            lines: Vec::new(),
            verb,
        }
    }

    pub fn line(mut self, text: impl Into<String>) -> Ask {
        self.lines.push(text.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// Any other key: the question stays, so a key meant for the view below is not
    /// taken as an answer.
    Undecided,
}

/// What `key` answers.
pub fn answer(keymap: &Keymap, key: KeyChord) -> Answer {
    match keymap.lookup(&[Context::Confirm], key) {
        Some(Action::Accept) => Answer::Yes,
        Some(Action::Decline) => Answer::No,
        _ => Answer::Undecided,
    }
}

/// `(key, label)` pairs for the footer and the popup: `y quit`, `esc cancel`.
pub fn hints(keymap: &Keymap, ask: &Ask) -> Vec<(String, &'static str)> {
    let key = |a: Action| {
        keymap
            .key_for(a)
            .map_or_else(|| a.name().into(), |k| k.to_string())
    };
    vec![
        (key(Action::Accept), ask.verb),
        (key(Action::Decline), Action::Decline.hint()),
    ]
}

/// Rolling back a rollout, from the Configurations view or the builder.
pub fn rollback(config: &str) -> Ask {
    Ask::new(format!("Roll back the rollout of {config}?"), "roll back")
        .line("Agents it reached go back to the configuration they ran before.")
}

/// `a, b, c and 4 more`: names in a question, never a screenful.
pub fn names<S: AsRef<str>>(names: &[S], shown: usize) -> String {
    let mut text = names
        .iter()
        .take(shown)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > shown {
        text.push_str(&format!(" and {} more", names.len() - shown));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_of_names_are_cut_with_a_count() {
        assert_eq!(names(&["a", "b"], 3), "a, b");
        assert_eq!(names(&["a", "b", "c", "d", "e"], 3), "a, b, c and 2 more");
    }

    #[test]
    fn y_accepts_esc_declines_and_other_keys_wait() {
        let map = Keymap::default();
        assert_eq!(answer(&map, KeyChord::ch('y')), Answer::Yes);
        assert_eq!(
            answer(&map, KeyChord::plain(crossterm::event::KeyCode::Esc)),
            Answer::No
        );
        assert_eq!(answer(&map, KeyChord::ch('j')), Answer::Undecided);
    }
}
