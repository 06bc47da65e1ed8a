//! Drawing the builder: a pure function of its state, the fleet snapshot and the theme.
//! This file draws the frame, the progress line, the message line and the footer; each
//! step draws its body in its own file.

mod form;
mod popups;
mod push;
mod review;
mod save;
mod sources;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Widget};

use super::{Editor, Level, Mode, PushState, Step, Tip, Wizard};
use crate::pipeline::TypeKind;
use crate::tui::action::{Action, WizardAction};
use crate::tui::fmt::truncate;
use crate::tui::theme::Theme;
use crate::tui::widgets::{DrawCx, crumbs, frame_block};

/// Draws the wizard into the body area.
pub fn render(cx: &DrawCx, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let head = match &w.editing {
        Some(name) => format!("Edit {name}"),
        None => "New configuration".to_string(),
    };
    let block = frame_block(
        t,
        crumbs(
            t,
            &[head, format!("{} {}", w.step.number(), w.step.title())],
        ),
    );
    let inner = block.inner(area);
    block.render(area, buf);
    let [progress, _, body, message] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    progress_line(t, w, usize::from(progress.width)).render(progress, buf);
    if w.loading {
        Line::styled(" opening the configuration…", t.muted).render(body, buf);
    } else {
        match w.step {
            Step::Sources => sources::render(t, w, body, buf),
            Step::Configure | Step::Processors | Step::Destinations => {
                form::render(t, w, body, buf)
            }
            Step::Review => review::render(t, w, body, buf),
            Step::Save => save::render(t, w, body, buf),
            Step::Push => push::render(t, w, cx.snapshot, body, buf),
        }
    }
    if let Some((level, text)) = &w.message {
        Line::styled(format!(" {text}"), level_style(t, *level)).render(message, buf);
    } else if let Some(first) = w.warnings.first() {
        Line::styled(format!(" ⚠ {first}"), t.warn).render(message, buf);
    }
    popups::render(t, w, w.push_count(cx.snapshot), area, buf);
}

fn level_style(t: &Theme, level: Level) -> Style {
    match level {
        Level::Info => t.info,
        Level::Ok => t.ok,
        Level::Warn => t.warn,
        Level::Error => t.err,
    }
}

/// `1 Sources › 2 Configure › …` with the current step highlighted; when that does not
/// fit, the other steps go by short names (`2✓ Conf`), and only when even those do not,
/// by number.
fn progress_line<'a>(t: &Theme, w: &Wizard, width: usize) -> Line<'a> {
    let len = |short: bool| -> usize {
        1 + Step::ALL
            .iter()
            .map(|s| {
                let title = if short && *s != w.step {
                    s.short_title()
                } else {
                    s.title()
                };
                title.chars().count() + 5
            })
            .sum::<usize>()
    };
    let short = len(false) > width;
    let compact = short && len(true) > width;
    let mut spans = vec![Span::raw(" ")];
    for (i, s) in Step::ALL.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", t.muted));
        }
        // A step behind is ✓ only when complete and valid; ✕ says to go back to it.
        let ok = *s < w.step && w.step_ok(*s);
        let style = if *s == w.step {
            t.selection
        } else if ok {
            t.ok
        } else if *s < w.step {
            t.err
        } else {
            t.muted
        };
        let mark = match (*s < w.step, ok) {
            (true, true) => "✓",
            (true, false) => "✕",
            _ => "",
        };
        let text = if compact && *s != w.step {
            format!("{}{mark}", s.number())
        } else if short && *s != w.step {
            format!("{}{mark} {}", s.number(), s.short_title())
        } else {
            format!("{}{mark} {}", s.number(), s.title())
        };
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

/// ` ⚠ missing on 3 of 12 targets` when targets lack what type `name` needs, shorter
/// when that does not fit in `room` columns, and empty when none lack it.
pub(super) fn lacking_mark(w: &Wizard, kind: TypeKind, name: &str, room: usize) -> String {
    let Some(l) = w.coverage.lacking(kind, name) else {
        return String::new();
    };
    let full = format!(" ⚠ {}", l.text());
    if full.chars().count() <= room {
        full
    } else {
        truncate(&format!(" ⚠ {}", l.short()), room)
    }
}

/// `j/k`: the keys of any two actions that go together.
fn pair_keys_any(w: &Wizard, a: Action, b: Action) -> String {
    format!("{}/{}", w.key_of(a), w.key_of(b))
}

/// `K/J`: the keys of two actions that go together.
pub(super) fn pair_keys(w: &Wizard, a: WizardAction, b: WizardAction) -> String {
    format!(
        "{}/{}",
        w.key_of(Action::Wizard(a)),
        w.key_of(Action::Wizard(b))
    )
}

/// (keys, hint, rank) for a footer entry, from the keymap. When the footer is too narrow,
/// higher ranks give way first: adding processors and moving between steps (1), then
/// moving between forms and folding (2).
fn hint(w: &Wizard, tip: Tip) -> Hint {
    use WizardAction as W;
    let (keys, action) = match tip {
        Tip::One(a) => (w.key_of(a), a),
        Tip::Pair(a, b, sep) => (format!("{}{sep}{}", w.key_of(a), w.key_of(b)), a),
    };
    let rank = match action {
        Action::Wizard(W::AddSourceProcessor | W::NextStep | W::PrevStep | W::Close) => 1,
        Action::Wizard(W::NextPart | W::PrevPart | W::Advanced) => 2,
        _ => 0,
    };
    (keys, action.hint(), rank)
}

/// A footer hint: keys, what they do, and how soon it gives way when space runs out.
pub type Hint = (String, &'static str, u8);

/// A one-line editor's text with a cursor bar, masked when the field is sensitive.
pub(super) fn inline_editor_text(ed: &Editor) -> String {
    let text = ed.text();
    let shown = match ed.area.mask_char() {
        Some(m) => text.chars().map(|_| m).collect(),
        None => text,
    };
    let ratatui_textarea::DataCursor(_, col) = ed.area.cursor();
    let mut out: String = shown.chars().take(col).collect();
    out.push('▏');
    out.extend(shown.chars().skip(col));
    out
}

pub(super) fn popup_block<'a>(t: &Theme, title: String, alarm: bool) -> Block<'a> {
    let style = if alarm {
        t.popup.patch(t.err)
    } else {
        t.popup.patch(t.title)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(t.popup.patch(t.border))
        .title(Span::styled(title, style))
}

pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Footer hints for the wizard's current step and mode. A step's own keys and those every
/// step shares come from the keymap (see `Wizard::step_tips`); popups and text editors
/// name the keys of the widget they show.
pub fn hints(w: &Wizard) -> Vec<Hint> {
    let fixed = |v: &[(&str, &'static str)]| -> Vec<Hint> {
        v.iter().map(|(k, h)| (k.to_string(), *h, 0)).collect()
    };
    let shared = |actions: &[WizardAction]| -> Vec<Hint> {
        actions
            .iter()
            .map(|a| hint(w, Tip::One(Action::Wizard(*a))))
            .collect()
    };
    let step = || -> Vec<Hint> { w.step_tips().into_iter().map(|t| hint(w, t)).collect() };
    use WizardAction as W;
    let mut out: Vec<Hint> = match (&w.mode, w.step) {
        (Mode::Search(_), _) => fixed(&[("enter", "choose"), ("esc", "clear")]),
        (Mode::Field { editor, .. }, _) if editor.multiline => {
            fixed(&[("^s", "keep"), ("esc", "cancel")])
        }
        (Mode::Name(_), _) => fixed(&[("enter", "save"), ("esc", "cancel")]),
        (Mode::Field { .. }, _) | (Mode::Rename(_), _) | (Mode::Selector(_), _) => {
            fixed(&[("enter", "keep"), ("esc", "cancel")])
        }
        (Mode::Pick { .. }, _) => fixed(&[("↑↓", "move"), ("space", "choose"), ("enter", "done")]),
        (Mode::OptionText { .. }, _) => fixed(&[("enter", "keep"), ("esc", "cancel")]),
        (Mode::Options, _) => vec![
            (pair_keys_any(w, Action::Down, Action::Up), "move", 0),
            (w.key_of(Action::Wizard(W::Edit)), "edit", 0),
            (
                pair_keys_any(
                    w,
                    Action::Wizard(W::PrevValue),
                    Action::Wizard(W::NextValue),
                ),
                "choice",
                0,
            ),
            (w.key_of(Action::Wizard(W::Close)), "done", 0),
        ],
        (
            Mode::AddType {
                searching: true, ..
            },
            _,
        ) => fixed(&[("type", "search"), ("enter", "add"), ("esc", "list")]),
        (Mode::AddType { .. }, _) => vec![
            (pair_keys_any(w, Action::Down, Action::Up), "move", 0),
            ("/".into(), "search", 0),
            ("enter".into(), "add", 0),
            ("esc".into(), "cancel", 0),
        ],
        // Following a rollout there is no going back; choosing targets, no next step.
        (Mode::Normal, Step::Push) if matches!(w.push, PushState::Following { .. }) => {
            let mut v = step();
            v.extend(shared(&[W::Close]));
            v
        }
        (Mode::Normal, Step::Push) => {
            let mut v = step();
            v.extend(shared(&[W::PrevStep, W::Close]));
            v
        }
        (Mode::Normal, _) => {
            let mut v = step();
            v.extend(shared(&[W::NextStep, W::PrevStep, W::Close]));
            v
        }
    };
    out.dedup();
    out
}
