//! Popups over a step: multi-line editors, pick lists, the type picker. (Questions such
//! as "discard the changes?" are the app's, drawn over everything.) Their keys belong to the widget shown, so their titles name them.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use super::{centered, inline_editor_text, lacking_mark, popup_block};
use crate::pipeline::builder::FieldValue;
use crate::tui::fmt::truncate;
use crate::tui::theme::Theme;
use crate::tui::wizard::{AddChoice, Mode, Wizard};

/// The rollout options: one row per option (the one being typed checked as it is typed),
/// the help of the one under the cursor, and what the push would do with them.
fn options(t: &Theme, w: &Wizard, targets: usize, area: Rect, buf: &mut Buffer) {
    let o = &w.options;
    let pop = centered(area, 72, o.fields.len() as u16 + 7);
    let inner = usize::from(pop.width).saturating_sub(2);
    let mut lines = Vec::new();
    let mut problem = None;
    for (i, f) in o.fields.iter().enumerate() {
        let (value, error) = match &w.mode {
            Mode::OptionText { field, editor } if *field == i => {
                let error = editor
                    .error
                    .clone()
                    .or_else(|| f.check(&editor.text()).err());
                (inline_editor_text(editor), error)
            }
            _ => (f.text.clone(), f.check(&f.text).err()),
        };
        let value = match f.kind {
            crate::tui::wizard::options::Kind::Choice(_) => format!("‹ {value} ›"),
            _ => value,
        };
        let mark = if error.is_some() { "✕" } else { "✓" };
        let style = if i == o.cursor { t.selection } else { t.popup };
        let text = format!(" {mark} {:<20} {value}", f.label);
        lines.push(Line::styled(truncate(&text, inner), style));
        if i == o.cursor {
            problem = error;
        }
    }
    lines.push(Line::default());
    let help = match (&problem, o.fields.get(o.cursor)) {
        (Some(e), _) => Line::styled(truncate(&format!(" ✕ {e}"), inner), t.popup.patch(t.err)),
        (None, Some(f)) => Line::styled(
            truncate(&format!(" {}", f.help), inner),
            t.popup.patch(t.muted),
        ),
        (None, None) => Line::default(),
    };
    lines.push(help);
    lines.push(Line::default());
    lines.push(Line::styled(
        truncate(
            &format!(" {} agent(s): {}", targets, o.summary(targets)),
            inner,
        ),
        t.popup.patch(t.info),
    ));
    Clear.render(pop, buf);
    Paragraph::new(lines)
        .style(t.popup)
        .block(popup_block(t, " rollout options ".into(), false))
        .render(pop, buf);
}

/// Popups over the step: multi-line editors, pick lists, the type picker.
/// `targets` is how many agents a push would reach now (for the options' phases).
pub(super) fn render(t: &Theme, w: &Wizard, targets: usize, area: Rect, buf: &mut Buffer) {
    match &w.mode {
        Mode::Options | Mode::OptionText { .. } => options(t, w, targets, area, buf),
        Mode::Field { editor, .. } if editor.multiline => {
            let pop = centered(area, 76, 16);
            Clear.render(pop, buf);
            let mut ta = editor.area.clone();
            let mut title = format!(" {} · ^s keep · esc cancel ", editor.title);
            if let Some(e) = &editor.error {
                title = format!(" ✕ {e} ");
            }
            ta.set_block(popup_block(t, title, editor.error.is_some()));
            ta.set_style(t.popup);
            ta.set_cursor_line_style(Style::default());
            (&ta).render(pop, buf);
        }
        Mode::Pick { field, cursor } => {
            let Some(f) = w.current().and_then(|c| c.fields.get(*field)) else {
                return;
            };
            let multi = matches!(f.value, FieldValue::Choices(_));
            let lines: Vec<Line> = f
                .def
                .valid_values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let on = match &f.value {
                        FieldValue::Choice(c) => c == v,
                        FieldValue::Choices(cs) => cs.contains(v),
                        _ => false,
                    };
                    let mark = match (multi, on) {
                        (true, true) => "[x]",
                        (true, false) => "[ ]",
                        (false, true) => "(•)",
                        (false, false) => "( )",
                    };
                    let style = if i == *cursor { t.selection } else { t.popup };
                    Line::styled(format!(" {mark} {v}"), style)
                })
                .collect();
            let hint = if multi {
                "space toggles · enter done"
            } else {
                "enter picks · esc cancel"
            };
            let pop = centered(area, 44, lines.len() as u16 + 2);
            Clear.render(pop, buf);
            Paragraph::new(lines)
                .style(t.popup)
                .block(popup_block(t, format!(" {} · {hint} ", f.label()), false))
                .render(pop, buf);
        }
        Mode::AddType {
            kind,
            query,
            cursor,
            searching,
        } => {
            let list = w.add_choices(*kind, query);
            // Where shared destinations come from, when the catalog has none yet.
            let note =
                if *kind == crate::pipeline::TypeKind::Destination && w.destinations.is_empty() {
                    Line::styled(
                        " no shared destinations stored (kind: Destination, fleetdeck apply)",
                        t.popup.patch(t.muted),
                    )
                } else {
                    Line::default()
                };
            let search = if *searching || !query.is_empty() {
                Line::from(vec![
                    Span::styled(" search ", t.popup.patch(t.key)),
                    Span::styled(query.clone(), t.popup),
                    Span::styled(if *searching { "▏" } else { "" }, t.popup.patch(t.accent)),
                ])
            } else {
                Line::styled(" / searches (or type a name)", t.popup.patch(t.muted))
            };
            let mut lines = vec![search, note];
            let pop = centered(area, 72, 18);
            let rows = usize::from(pop.height).saturating_sub(4);
            let offset = cursor.saturating_sub(rows.saturating_sub(1));
            let inner = usize::from(pop.width).saturating_sub(2);
            for (i, choice) in list.iter().enumerate().skip(offset).take(rows) {
                let (name, about, type_name) = match choice {
                    AddChoice::Type(ty) => (
                        ty.name(),
                        ty.def.metadata.display_name.clone().unwrap_or_default(),
                        ty.name(),
                    ),
                    AddChoice::Shared {
                        name,
                        type_name,
                        added,
                    } => (
                        name.as_str(),
                        format!(
                            "shared · {type_name}{}",
                            if *added { " · added" } else { "" }
                        ),
                        type_name.as_str(),
                    ),
                };
                let style = match choice {
                    _ if i == *cursor => t.selection,
                    AddChoice::Shared { added: true, .. } => t.popup.patch(t.muted),
                    AddChoice::Shared { .. } => t.popup.patch(t.accent),
                    AddChoice::Type(_) => t.popup,
                };
                // The mark keeps its room and ends the row; the description gives way.
                let mark = lacking_mark(w, *kind, type_name, inner.saturating_sub(22));
                let text = format!(" {name:<20} {about}");
                let text = if mark.is_empty() {
                    truncate(&text, inner)
                } else {
                    let room = inner.saturating_sub(mark.chars().count());
                    let text = truncate(&text, room);
                    format!("{text:<room$}")
                };
                let mut spans = vec![Span::styled(text, style)];
                if !mark.is_empty() {
                    spans.push(Span::styled(mark, style.patch(t.warn)));
                }
                lines.push(Line::from(spans));
            }
            if list.is_empty() {
                lines.push(Line::styled(" nothing matches", t.popup.patch(t.muted)));
            }
            Clear.render(pop, buf);
            Paragraph::new(lines)
                .style(t.popup)
                .block(popup_block(
                    t,
                    if *searching {
                        format!(" add a {} · ↑↓ · enter adds · esc: list ", kind.noun())
                    } else {
                        format!(
                            " add a {} · j/k ↑↓ · / search · enter adds · esc ",
                            kind.noun()
                        )
                    },
                    false,
                ))
                .render(pop, buf);
        }
        _ => {}
    }
}
