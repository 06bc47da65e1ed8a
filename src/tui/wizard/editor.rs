//! Text being typed in the builder (a field, a name, the search, the selector) and what
//! has the keyboard on top of the step ([`Mode`]).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use crate::pipeline::TypeKind;

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
    pub(super) fn new(text: &str, multiline: bool, sensitive: bool, title: String) -> Self {
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
    pub(super) fn key(&mut self, key: &KeyEvent) -> Option<bool> {
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
    /// Adding a processor or destination: a type list, moved through with j/k and the
    /// arrows, filtered by what is typed after `/` (or after any other letter).
    AddType {
        kind: TypeKind,
        query: String,
        cursor: usize,
        /// Keys go to the search text (j and k type), until Enter or Esc.
        searching: bool,
    },
    /// Naming the current source or destination (its `displayName`).
    Rename(Editor),
    /// Typing the configuration's name.
    Name(Editor),
    /// Typing the label selector.
    Selector(Editor),
    /// The push step's rollout options (the cursor is `Wizard::options.cursor`).
    Options,
    /// Typing the value of rollout option `field`.
    OptionText {
        field: usize,
        editor: Editor,
    },
}
