//! The footer's one-line text field: the agents filter after `/` (applied as it is
//! typed, restored by Esc) and the command palette after `:` (run by Enter, completed by
//! Tab). Typing here bypasses the keymap: these are letters, not commands.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::palette;

/// What is being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `/`: the text so far and the filter it replaces (restored by Esc).
    Filter { text: String, before: String },
    /// `:` command palette.
    Palette { text: String },
}

/// What a key or a paste in the field comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    Nothing,
    /// The agents filter is now this text.
    Filter(String),
    /// Run this palette command.
    Command(String),
}

/// Feeds a key to the field (`None` when nothing is being typed). Enter and Esc close it.
/// `names` gives what Tab completes arguments from (asked only when it is needed).
pub fn key(
    input: &mut Option<Input>,
    key: &KeyEvent,
    names: impl FnOnce(&str) -> palette::Names,
) -> Typed {
    let Some(field) = input else {
        return Typed::Nothing;
    };
    let text = match field {
        Input::Filter { text, .. } | Input::Palette { text } => text,
    };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => {
            return match input.take() {
                Some(Input::Filter { before, .. }) => Typed::Filter(before),
                _ => Typed::Nothing,
            };
        }
        KeyCode::Enter => {
            return match input.take() {
                Some(Input::Palette { text }) => Typed::Command(text),
                _ => Typed::Nothing,
            };
        }
        KeyCode::Tab => {
            if let Some(Input::Palette { text }) = input
                && let Some(done) = palette::complete(text, &names(text))
            {
                *text = done;
            }
            return Typed::Nothing;
        }
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char('u') if ctrl => text.clear(),
        KeyCode::Char('w') if ctrl => {
            let keep = text.trim_end().rfind(' ').map_or(0, |i| i + 1);
            text.truncate(keep);
        }
        KeyCode::Char(c) if !ctrl => text.push(c),
        _ => return Typed::Nothing,
    }
    edited(input)
}

/// Pasted text goes into the field (its first line's end trimmed).
pub fn paste(input: &mut Option<Input>, pasted: &str) -> Typed {
    match input {
        Some(Input::Filter { text, .. } | Input::Palette { text }) => {
            text.push_str(pasted.trim_end_matches(['\r', '\n']));
            edited(input)
        }
        None => Typed::Nothing,
    }
}

/// The filter applies as it is typed.
fn edited(input: &Option<Input>) -> Typed {
    match input {
        Some(Input::Filter { text, .. }) => Typed::Filter(text.clone()),
        _ => Typed::Nothing,
    }
}
