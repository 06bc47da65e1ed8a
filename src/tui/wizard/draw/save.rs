//! Step 6: the name, what the catalog holds under it, and what saving did.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::inline_editor_text;
use crate::tui::action::{Action, WizardAction as W};
use crate::tui::theme::Theme;
use crate::tui::wizard::{Mode, SaveState, Wizard};

pub(super) fn render(t: &Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let mut lines = Vec::new();
    let name = match &w.mode {
        Mode::Name(ed) => Span::styled(inline_editor_text(ed), t.popup),
        _ if w.name.is_empty() => Span::styled(
            format!(
                "(not named · {} names it)",
                w.key_of(Action::Wizard(W::NameConfig))
            ),
            t.warn,
        ),
        _ => Span::styled(w.name.clone(), t.accent),
    };
    lines.push(Line::from(vec![Span::styled(" Name        ", t.key), name]));
    if let Mode::Name(ed) = &w.mode
        && let Some(e) = &ed.error
    {
        lines.push(Line::styled(format!("             ✕ {e}"), t.err));
    }
    let exists = w.existing.get(&w.name);
    let what = match exists {
        Some((v, _)) => format!("exists at version {v}: saving makes a new version if it changed"),
        None if w.name.is_empty() => "choose a name".into(),
        None => "a new configuration".into(),
    };
    lines.push(Line::from(vec![
        Span::styled(" Catalog     ", t.key),
        Span::styled(what, t.text),
    ]));
    let d = &w.draft;
    let content = if d.raw.is_some() {
        "raw Collector YAML (edited)".to_string()
    } else {
        format!(
            "{} source(s) · {} processor(s) · {} destination(s)",
            d.sources.len(),
            d.processors.len(),
            d.destinations.len()
        )
    };
    lines.push(Line::from(vec![
        Span::styled(" Pipeline    ", t.key),
        Span::styled(content, t.text),
    ]));
    lines.push(Line::default());
    match &w.save {
        SaveState::NotSaved => lines.push(Line::styled(
            format!(
                " {} saves it to the catalog",
                w.key_of(Action::Wizard(W::Save))
            ),
            t.muted,
        )),
        SaveState::Saving => lines.push(Line::styled(" saving…", t.info)),
        SaveState::Saved {
            name,
            version,
            status,
        } => lines.push(Line::styled(
            format!(
                " ✓ {name} version {version} ({status}) · {}: choose agents and push",
                w.key_of(Action::Wizard(W::NextStep))
            ),
            t.ok,
        )),
        SaveState::Refused(problems) => {
            lines.push(Line::styled(" ✕ the catalog refused it:", t.err));
            for p in problems {
                lines.push(Line::styled(format!("   • {p}"), t.err));
            }
        }
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(area, buf);
}
