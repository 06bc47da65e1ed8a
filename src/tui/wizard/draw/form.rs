//! Steps 2–4: the tabs of the forms (with attached processors), the form shown, its
//! notes, and a shared destination shown read-only.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::{inline_editor_text, pair_keys};
use crate::pipeline::builder::FieldValue;
use crate::tui::action::{Action, WizardAction as W};
use crate::tui::fmt::truncate;
use crate::tui::theme::Theme;
use crate::tui::wizard::{Mode, Step, Wizard};

pub(super) fn render(t: &Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let Some(slot) = w.step.slot() else { return };
    let [tabs, name_row, fields, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(2),
    ])
    .areas(area);
    let titles = w.component_titles();
    let mut spans = vec![Span::raw(" ")];
    if titles.is_empty() {
        let add = w.key_of(Action::Wizard(W::Add));
        let hint = match w.step {
            Step::Processors => format!("no processors: {add} adds one (they are optional)"),
            Step::Destinations => format!("no destinations yet: {add} adds one"),
            _ => format!(
                "no sources: {} goes back to choose them",
                w.key_of(Action::Wizard(W::PrevStep))
            ),
        };
        spans.push(Span::styled(hint, t.muted));
    }
    for (i, title) in titles.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", t.muted));
        }
        let here = i == w.component[slot];
        let style = if here && w.processor_focus().is_none() {
            t.selection
        } else {
            t.accent
        };
        spans.push(Span::styled(format!("{} {title}", i + 1), style));
        let attached = match w.step {
            Step::Configure => w.attached_of(i),
            Step::Destinations => w.dest_attached_of(i),
            _ => &[],
        };
        {
            // A source's (or destination's) own processors follow it, numbered under it.
            for (k, a) in attached.iter().enumerate() {
                let style = if here && w.processor_focus() == Some(k) {
                    t.selection
                } else {
                    t.muted
                };
                spans.push(Span::styled(" ▸ ", t.muted));
                spans.push(Span::styled(
                    format!("{}.{} {}", i + 1, k + 1, a.title()),
                    style,
                ));
            }
        }
    }
    Line::from(spans).render(tabs, buf);
    if let Mode::Rename(ed) = &w.mode {
        let mut line = vec![
            Span::styled(format!(" {} ", ed.title), t.key),
            Span::styled(inline_editor_text(ed), t.popup),
        ];
        if let Some(e) = &ed.error {
            line.push(Span::styled(format!("  ✕ {e}"), t.err));
        }
        Line::from(line).render(name_row, buf);
    } else if w.step == Step::Configure && !titles.is_empty() {
        Line::styled(
            truncate(&source_processors_note(w), usize::from(name_row.width)),
            t.info,
        )
        .render(name_row, buf);
    } else if let Some(note) = destination_processors_note(w) {
        Line::styled(truncate(&note, usize::from(name_row.width)), t.info).render(name_row, buf);
    }
    if let Some(a) = w.focused_attached()
        && a.form.is_none()
    {
        Line::styled(
            format!(
                "   ✕ no processor type {:?} is known: kept as written (the review names it); {} removes it",
                a.type_name(),
                w.key_of(Action::Wizard(W::Remove))
            ),
            t.err,
        )
        .render(fields, buf);
        return;
    }
    let Some(c) = w.current() else {
        if w.step == Step::Destinations
            && let Some(d) = w.draft.destinations.get(w.component[slot])
        {
            shared_destination(t, w, d.base_label(), fields, buf);
        }
        return;
    };
    let visible = c.visible(w.advanced);
    let rows = usize::from(fields.height);
    let cursor = w.field_cursor[slot];
    let offset = cursor.saturating_sub(rows.saturating_sub(2));
    let label_w = if fields.width >= 110 { 30 } else { 24 };
    let value_w = usize::from(fields.width).saturating_sub(label_w + 4);
    let mut lines: Vec<Line> = Vec::new();
    if visible.is_empty() {
        lines.push(Line::styled(
            "   this type has no parameters to set",
            t.muted,
        ));
    }
    for (row, i) in visible.iter().enumerate().skip(offset) {
        let f = &c.fields[*i];
        let selected = row == cursor;
        let req = if f.def.required { "*" } else { " " };
        let adv = if f.def.advanced_config { "·" } else { " " };
        let label = format!(
            "{}{req}{adv}{:<label_w$} ",
            if selected { "›" } else { " " },
            truncate(f.label(), label_w)
        );
        let label_style = if selected { t.selection } else { t.text };
        let mut spans = vec![Span::styled(label, label_style)];
        let editing =
            matches!(&w.mode, Mode::Field { field, editor } if field == i && !editor.multiline);
        let value = if editing {
            match &w.mode {
                Mode::Field { editor, .. } => inline_editor_text(editor),
                _ => String::new(),
            }
        } else {
            f.summary()
        };
        let value_style = match &f.value {
            FieldValue::Bool(true) => t.ok,
            FieldValue::Choice(_) | FieldValue::Choices(_) => t.accent,
            _ if editing => t.popup,
            _ => t.text,
        };
        // While a value is typed, it is checked as it stands.
        let problem = match &w.mode {
            Mode::Field { field, editor } if field == i => c.problem_with(*i, &editor.text()),
            _ => c.problem(*i),
        };
        let mut shown = truncate(&value, value_w);
        if let Some(p) = &problem {
            let room = value_w.saturating_sub(shown.chars().count() + 3);
            if room >= 8 {
                spans.push(Span::styled(shown.clone(), value_style));
                spans.push(Span::styled(format!("  ✕ {}", truncate(p, room)), t.err));
                shown.clear();
            }
        }
        if !shown.is_empty() || problem.is_none() {
            spans.push(Span::styled(shown, value_style));
        }
        lines.push(Line::from(spans));
        if lines.len() >= rows {
            break;
        }
    }
    Paragraph::new(lines).render(fields, buf);
    // The field's description and the folded count under the form.
    let mut notes = Vec::new();
    if let Some(i) = w.current_field() {
        let f = &c.fields[i];
        let mut text = format!(" {} ({})", f.name(), f.def.kind.as_str());
        if let Some(d) = &f.def.description {
            text.push_str(": ");
            text.push_str(d);
        }
        if f.def.is_sensitive() {
            text.push_str(" · sensitive: masked everywhere");
        }
        notes.push(Line::styled(
            truncate(&text, usize::from(help.width)),
            t.muted,
        ));
    }
    let folded = c.folded();
    let advanced = w.key_of(Action::Wizard(W::Advanced));
    if folded > 0 && !w.advanced {
        notes.push(Line::styled(
            format!(" ▸ {folded} advanced parameter(s) folded · {advanced} shows them"),
            t.info,
        ));
    } else if w.advanced && folded > 0 {
        notes.push(Line::styled(
            format!(" ▾ advanced parameters shown (·) · {advanced} folds them"),
            t.info,
        ));
    }
    Paragraph::new(notes).render(help, buf);
}

/// The line under step 2's tabs: the processors attached to the source shown, or where
/// the processor shown runs.
fn source_processors_note(w: &Wizard) -> String {
    let i = w.component[0];
    let list = w.attached_of(i);
    let label = w.draft.source_labels().get(i).cloned().unwrap_or_default();
    match w.attached_focus {
        Some(k) => format!(
            " processor {} of {} on {label}: runs only on this source's data · {} reorders",
            k + 1,
            list.len(),
            pair_keys(w, W::MoveUp, W::MoveDown)
        ),
        None if list.is_empty() => format!(
            " no processors on {label} · {} adds one that runs only on this source's data",
            w.key_of(Action::Wizard(W::AddSourceProcessor))
        ),
        None => {
            let names: Vec<String> = list.iter().map(|a| a.title()).collect();
            format!(
                " processors on {label}: {} · {} shows each",
                names.join(", "),
                w.key_of(Action::Wizard(W::NextPart))
            )
        }
    }
}

/// The line under step 4's tabs, for an inline destination with processors: which one
/// is shown, or which it has.
fn destination_processors_note(w: &Wizard) -> Option<String> {
    if w.step != Step::Destinations {
        return None;
    }
    let j = w.component[2];
    let list = w.dest_attached_of(j);
    let label = w.draft.destination_labels().get(j).cloned()?;
    match w.dest_focus {
        Some(k) => Some(format!(
            " processor {} of {} on {label}: runs only on the data sent there · {} reorders",
            k + 1,
            list.len(),
            pair_keys(w, W::MoveUp, W::MoveDown)
        )),
        None if list.is_empty() => None,
        None => {
            let names: Vec<String> = list.iter().map(|a| a.title()).collect();
            Some(format!(
                " processors on {label}: {} · {} shows each",
                names.join(", "),
                w.key_of(Action::Wizard(W::NextPart))
            ))
        }
    }
}

/// A shared destination in step 4: what it is and where it is edited, its parameters
/// shown read-only (sensitive ones masked).
fn shared_destination(t: &Theme, w: &Wizard, name: &str, area: Rect, buf: &mut Buffer) {
    let mut lines = Vec::new();
    let Some(res) = w.shared_destination(name) else {
        lines.push(Line::styled(
            format!("   ✕ the catalog has no Destination named {name:?}: the review lists it as a problem"),
            t.err,
        ));
        lines.push(Line::styled(
            format!(
                "     apply one with fleetdeck apply -f FILE, or remove this reference ({})",
                w.key_of(Action::Wizard(W::Remove))
            ),
            t.muted,
        ));
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(area, buf);
        return;
    };
    let ty = w
        .types
        .get(crate::pipeline::TypeKind::Destination, &res.spec.type_name);
    let title = ty
        .and_then(|ty| ty.def.metadata.display_name.as_deref())
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    lines.push(Line::from(vec![
        Span::styled(format!("   shared destination {name}"), t.accent),
        Span::styled(format!(" · type {}{title}", res.spec.type_name), t.text),
    ]));
    let note = "used by reference: its parameters are not edited here but in the \
                Destination resource, with fleetdeck apply -f FILE (every configuration \
                using it follows)";
    for chunk in crate::tui::fmt::wrap(note, usize::from(area.width).saturating_sub(4)) {
        lines.push(Line::styled(format!("   {chunk}"), t.muted));
    }
    lines.push(Line::default());
    let entries = res.spec.parameters.entries();
    if entries.is_empty() {
        lines.push(Line::styled(
            "   (no parameters set: the type's defaults)",
            t.muted,
        ));
    }
    let width = usize::from(area.width).saturating_sub(30);
    for e in entries {
        let sensitive = ty.is_some_and(|ty| {
            ty.def
                .spec
                .parameters
                .iter()
                .any(|d| d.name == e.name && d.is_sensitive())
        });
        let value = if sensitive {
            "••••••••".to_string()
        } else {
            match &e.value {
                serde_norway::Value::String(s) => s.clone(),
                other => serde_norway::to_string(other)
                    .map(|s| s.trim().replace('\n', " "))
                    .unwrap_or_default(),
            }
        };
        lines.push(Line::from(vec![
            Span::styled(format!("    {:<25} ", truncate(&e.name, 25)), t.text),
            Span::styled(truncate(&value, width), t.muted),
        ]));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(area, buf);
}
