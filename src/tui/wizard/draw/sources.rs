//! Step 1: the source types, searchable, with how many of each are chosen.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::lacking_mark;
use crate::pipeline::TypeKind;
use crate::tui::action::{Action, WizardAction as W};
use crate::tui::fmt::truncate;
use crate::tui::theme::Theme;
use crate::tui::wizard::{Mode, Wizard};

pub(super) fn render(t: &Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let [search, list, chosen] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut line = vec![Span::styled(" search ", t.key)];
    match &w.mode {
        Mode::Search(ed) => {
            line.push(Span::styled(ed.text(), t.text));
            line.push(Span::styled("▏", t.accent));
        }
        _ if w.search.is_empty() => line.push(Span::styled(
            format!(
                "{} by name, description or signal (logs, metrics, traces)",
                w.key_of(Action::Wizard(W::Search))
            ),
            t.muted,
        )),
        _ => line.push(Span::styled(w.search.clone(), t.text)),
    }
    Line::from(line).render(search, buf);
    let types = w.source_types();
    let rows = usize::from(list.height);
    let offset = w.source_cursor.saturating_sub(rows.saturating_sub(1));
    let width = usize::from(list.width);
    let wide = width >= 100;
    let lines: Vec<Line> = types
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows)
        .map(|(i, ty)| {
            let count = w.draft.source_count(ty.name());
            let on = count > 0;
            let signals: String = ty
                .signals()
                .iter()
                .map(|s| &s.as_str()[..1])
                .collect::<Vec<_>>()
                .join("");
            let display = ty.def.metadata.display_name.clone().unwrap_or_default();
            // Wide terminals show the category the list is grouped by.
            let category = if wide {
                format!(
                    "{:<14} ",
                    truncate(ty.def.metadata.category.as_deref().unwrap_or("-"), 14)
                )
            } else {
                String::new()
            };
            let text = format!(
                "{} {} {:<16} {:<4} {category}{:<30}",
                if i == w.source_cursor { "›" } else { " " },
                match count {
                    0 => "[ ]".to_string(),
                    1 => "[x]".to_string(),
                    n => format!("[{n}]"),
                },
                truncate(ty.name(), 16),
                signals,
                truncate(&display, 30)
            );
            let style = if i == w.source_cursor {
                t.selection
            } else if on {
                t.ok
            } else {
                t.text
            };
            let used = text.chars().count();
            let mark = lacking_mark(w, TypeKind::Source, ty.name(), width.saturating_sub(used));
            let mut spans = vec![Span::styled(text, style)];
            // The description gives way to the mark, which ends the row.
            let room = width.saturating_sub(used + 1 + mark.chars().count());
            if wide && room > 8 {
                let desc = ty.def.metadata.description.clone().unwrap_or_default();
                let desc = truncate(&desc, room);
                let pad = if mark.is_empty() { 0 } else { room };
                spans.push(Span::styled(format!(" {desc:<pad$}"), style));
            }
            if !mark.is_empty() {
                spans.push(Span::styled(mark, style.patch(t.warn)));
            }
            Line::from(spans)
        })
        .collect();
    if lines.is_empty() {
        Line::styled("   no source type matches the search", t.muted).render(list, buf);
    } else {
        Paragraph::new(lines).render(list, buf);
    }
    let names = w.draft.source_labels();
    let text = if names.is_empty() {
        " none chosen yet (l = logs, m = metrics, t = traces)".to_string()
    } else {
        format!(" chosen: {}", names.join(", "))
    };
    Line::styled(truncate(&text, usize::from(chosen.width)), t.accent).render(chosen, buf);
}
