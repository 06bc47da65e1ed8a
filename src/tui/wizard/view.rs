//! Drawing the wizard: a pure function of its state, the fleet snapshot and the theme.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Widget, Wrap};

use super::{
    AddChoice, DiffWith, Editor, Level, Mode, PushState, SaveState, Step, TargetMode, Wizard,
};
use crate::fleet::snapshot::FleetSnapshot;
use crate::pipeline::builder::FieldValue;
use crate::pipeline::{DiffLine, TypeKind};
use crate::rollout::plan::AgentStep;
use crate::tui::action::{Action, WizardAction};
use crate::tui::app::App;
use crate::tui::fmt::truncate;
use crate::tui::theme::Theme;
use crate::tui::views::chrome::fit_segments;
use crate::tui::views::detail::yaml_spans;
use crate::tui::views::{crumbs, frame_block};

/// Draws the wizard into the body area.
pub fn render(app: &App, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let head = match &w.editing {
        Some(name) => format!("Edit {name}"),
        None => "New configuration".to_string(),
    };
    let block = frame_block(
        app,
        crumbs(
            app,
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
            Step::Sources => sources(t, w, body, buf),
            Step::Configure | Step::Processors | Step::Destinations => form(t, w, body, buf),
            Step::Review => review(t, w, body, buf),
            Step::Save => save(t, w, body, buf),
            Step::Push => push(t, w, &app.snapshot, body, buf),
        }
    }
    if let Some((level, text)) = &w.message {
        Line::styled(format!(" {text}"), level_style(t, *level)).render(message, buf);
    } else if let Some(first) = w.warnings.first() {
        Line::styled(format!(" ⚠ {first}"), t.warn).render(message, buf);
    }
    overlays(t, w, area, buf);
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
/// fit, only the current step keeps its title.
fn progress_line<'a>(t: &Theme, w: &Wizard, width: usize) -> Line<'a> {
    let full: usize = 1 + Step::ALL.iter().map(|s| s.title().len() + 5).sum::<usize>();
    let compact = full > width;
    let mut spans = vec![Span::raw(" ")];
    for (i, s) in Step::ALL.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", t.muted));
        }
        let style = if *s == w.step {
            t.selection
        } else if *s < w.step {
            t.ok
        } else {
            t.muted
        };
        let mark = if *s < w.step { "✓" } else { "" };
        let text = if compact && *s != w.step {
            format!("{}{mark}", s.number())
        } else {
            format!("{}{mark} {}", s.number(), s.title())
        };
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

fn sources(t: &Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
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
            "/ by name, description or signal (logs, metrics, traces)",
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
            let text = format!(
                "{} {} {:<16} {:<4} {:<30}",
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

/// ` ⚠ missing on 3 of 12 targets` when targets lack what type `name` needs, shorter
/// when that does not fit in `room` columns, and empty when none lack it.
fn lacking_mark(w: &Wizard, kind: TypeKind, name: &str, room: usize) -> String {
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

fn form(t: &Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
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
        let hint = match w.step {
            Step::Processors => "no processors: a adds one (they are optional)",
            Step::Destinations => "no destinations yet: a adds one",
            _ => "no sources: b goes back to choose them",
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
                key_of(w, WizardAction::Remove)
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
        let problem = c.problem(*i);
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
    if folded > 0 && !w.advanced {
        notes.push(Line::styled(
            format!(" ▸ {folded} advanced parameter(s) folded · A shows them"),
            t.info,
        ));
    } else if w.advanced && folded > 0 {
        notes.push(Line::styled(
            " ▾ advanced parameters shown (·) · A folds them",
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
            pair_keys(w, WizardAction::MoveUp, WizardAction::MoveDown)
        ),
        None if list.is_empty() => format!(
            " no processors on {label} · {} adds one that runs only on this source's data",
            key_of(w, WizardAction::AddSourceProcessor)
        ),
        None => {
            let names: Vec<String> = list.iter().map(|a| a.title()).collect();
            format!(
                " processors on {label}: {} · {} shows each",
                names.join(", "),
                key_of(w, WizardAction::NextPart)
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
            pair_keys(w, WizardAction::MoveUp, WizardAction::MoveDown)
        )),
        None if list.is_empty() => None,
        None => {
            let names: Vec<String> = list.iter().map(|a| a.title()).collect();
            Some(format!(
                " processors on {label}: {} · {} shows each",
                names.join(", "),
                key_of(w, WizardAction::NextPart)
            ))
        }
    }
}

/// The first key bound to a builder action, as the footer shows it.
fn key_of(w: &Wizard, a: WizardAction) -> String {
    w.keymap
        .key_for(Action::Wizard(a))
        .map_or_else(|| "?".to_string(), |k| k.to_string())
}

/// `K/J`: the keys of two actions that go together.
fn pair_keys(w: &Wizard, a: WizardAction, b: WizardAction) -> String {
    format!("{}/{}", key_of(w, a), key_of(w, b))
}

/// (keys, hint, rank) for a builder action, from the keymap. When the footer is too
/// narrow, higher ranks give way first: adding processors and moving between steps (1),
/// then moving between forms and folding (2).
fn hint(w: &Wizard, a: WizardAction) -> Hint {
    use WizardAction as W;
    let rank = match a {
        W::AddSourceProcessor | W::NextStep | W::PrevStep | W::Close => 1,
        W::NextPart | W::PrevPart | W::Advanced => 2,
        _ => 0,
    };
    (key_of(w, a), Action::Wizard(a).hint(), rank)
}

/// A footer hint: keys, what they do, and how soon it gives way when space runs out.
pub type Hint = (String, &'static str, u8);

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
            "     apply one with fleetdeck apply -f FILE, or remove this reference (x)",
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

/// A one-line editor's text with a cursor bar, masked when the field is sensitive.
fn inline_editor_text(ed: &Editor) -> String {
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

fn review(t: &Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let r = &w.review;
    let mut lines: Vec<Line> = Vec::new();
    if r.problems.is_empty() {
        lines.push(Line::styled(" ✓ no problems: n goes on to save", t.ok));
    } else {
        lines.push(Line::styled(
            format!(
                " ✕ {} problem(s) — fix them before saving:",
                r.problems.len()
            ),
            t.err,
        ));
        for p in &r.problems {
            for (i, chunk) in crate::tui::fmt::wrap(p, usize::from(area.width).saturating_sub(5))
                .into_iter()
                .enumerate()
            {
                let lead = if i == 0 { "   • " } else { "     " };
                lines.push(Line::styled(format!("{lead}{chunk}"), t.err));
            }
        }
    }
    if let Some(legend) = &r.legend {
        for chunk in crate::tui::fmt::wrap(legend, usize::from(area.width).saturating_sub(3)) {
            lines.push(Line::styled(format!(" {chunk}"), t.muted));
        }
    }
    let raw = if w.draft.raw.is_some() {
        " · raw (edited)"
    } else {
        ""
    };
    let title = match (&r.yaml, &r.diff) {
        (None, _) => String::new(),
        (Some(_), Some(_)) => format!(" {}{raw} · d: next comparison", r.diff_title),
        (Some(_), None) => format!(
            " Collector YAML, secrets masked{raw} · {}",
            if r.diff_title.is_empty() {
                "d: compare"
            } else {
                &r.diff_title
            }
        ),
    };
    if !title.is_empty() {
        lines.push(Line::styled(title, t.title));
    }
    let head = lines.len();
    let mut body: Vec<Line> = Vec::new();
    match (&r.yaml, &r.diff) {
        (Some(_), Some(diff)) => {
            let changed = diff
                .iter()
                .filter(|l| !matches!(l, DiffLine::Same(_)))
                .count();
            if changed == 0 {
                body.push(Line::styled("   (no differences)", t.muted));
            }
            for l in diff {
                let style = match l {
                    DiffLine::Added(_) => t.ok,
                    DiffLine::Removed(_) => t.err,
                    DiffLine::Same(_) => t.muted,
                };
                body.push(Line::styled(format!(" {} {}", l.marker(), l.text()), style));
            }
        }
        (Some(yaml), None) => {
            for l in yaml.lines() {
                let mut spans = vec![Span::raw("   ")];
                spans.extend(yaml_spans(t, l));
                body.push(Line::from(spans));
            }
        }
        (None, _) => {}
    }
    let room = usize::from(area.height).saturating_sub(head);
    let max = body.len().saturating_sub(room);
    let scroll = r.scroll.min(max);
    lines.extend(body.into_iter().skip(scroll).take(room));
    Paragraph::new(lines).render(area, buf);
}

fn save(t: &Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let mut lines = Vec::new();
    let name = match &w.mode {
        Mode::Name(ed) => Span::styled(inline_editor_text(ed), t.popup),
        _ if w.name.is_empty() => Span::styled("(not named · r names it)", t.warn),
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
        SaveState::NotSaved => lines.push(Line::styled(" enter saves it to the catalog", t.muted)),
        SaveState::Saving => lines.push(Line::styled(" saving…", t.info)),
        SaveState::Saved {
            name,
            version,
            status,
        } => lines.push(Line::styled(
            format!(" ✓ {name} version {version} ({status}) · n: choose agents and push"),
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

fn push(t: &Theme, w: &Wizard, snap: &FleetSnapshot, area: Rect, buf: &mut Buffer) {
    match &w.push {
        PushState::Following { view, error } => follow(t, snap, view.as_deref(), error, area, buf),
        PushState::Starting => Line::styled(" starting the rollout…", t.info).render(area, buf),
        PushState::Choosing => targets(t, w, snap, area, buf),
    }
}

fn targets(t: &Theme, w: &Wizard, snap: &FleetSnapshot, area: Rect, buf: &mut Buffer) {
    let tg = &w.targets;
    // What push would be refused for, agent by agent, when the chosen targets lack
    // components the configuration uses.
    let lacking = w
        .coverage
        .push_check
        .as_ref()
        .filter(|c| !c.is_clear())
        .map(|c| {
            let names: Vec<String> = c.lacking.iter().take(4).map(ToString::to_string).collect();
            let more = c.lacking.len().saturating_sub(names.len());
            format!(
                " ⚠ {} of {} chosen would fail: {}{}",
                c.lacking.len(),
                c.checked + c.unknown,
                names.join("; "),
                if more > 0 {
                    format!("; {more} more")
                } else {
                    String::new()
                }
            )
        });
    let [tabs, line, warn, list] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(u16::from(lacking.is_some())),
        Constraint::Fill(1),
    ])
    .areas(area);
    if let Some(text) = lacking {
        Line::styled(truncate(&text, usize::from(warn.width)), t.warn).render(warn, buf);
    }
    let tab =
        |on: bool, text: &'static str| Span::styled(text, if on { t.selection } else { t.muted });
    Line::from(vec![
        Span::raw(" "),
        tab(tg.mode == TargetMode::Agents, " marked agents "),
        Span::raw(" "),
        tab(tg.mode == TargetMode::Selector, " label selector "),
        Span::styled("  tab switches", t.muted),
    ])
    .render(tabs, buf);
    let rows = usize::from(list.height);
    let wide = list.width >= 110;
    match tg.mode {
        TargetMode::Agents => {
            Line::styled(
                format!(
                    " {} of {} agents marked · space marks · * all/none · enter pushes",
                    tg.marks.len(),
                    snap.agents.len()
                ),
                t.info,
            )
            .render(line, buf);
            let lines: Vec<Line> = snap
                .agents
                .iter()
                .enumerate()
                .skip(tg.offset)
                .take(rows)
                .map(|(i, a)| {
                    let marked = tg.marks.contains(&a.id);
                    let status = if a.is_connected() { "up" } else { "down" };
                    let config = a
                        .config
                        .as_ref()
                        .map(|c| format!("{} {}", c.config, c.state))
                        .unwrap_or_else(|| "–".into());
                    let labels: Vec<String> =
                        a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let mut text = format!(
                        "{}{} {:<22} {:<5} {:<22}",
                        if i == tg.cursor { "›" } else { " " },
                        if marked { "[x]" } else { "[ ]" },
                        truncate(&a.name, 22),
                        status,
                        truncate(&config, 22),
                    );
                    let room = usize::from(list.width).saturating_sub(text.chars().count() + 1);
                    if wide || room > 10 {
                        text.push(' ');
                        text.push_str(&truncate(&labels.join(","), room));
                    }
                    let style = if i == tg.cursor {
                        t.selection
                    } else if marked {
                        t.marked
                    } else {
                        t.text
                    };
                    Line::styled(text, style)
                })
                .collect();
            Paragraph::new(lines).render(list, buf);
        }
        TargetMode::Selector => {
            let shown = match &w.mode {
                Mode::Selector(ed) => inline_editor_text(ed),
                _ if tg.selector.is_empty() => "/ types a selector".into(),
                _ => tg.selector.clone(),
            };
            let (count, style) = match w.selector_matches(snap) {
                Ok((n, up)) => (format!("  → matches {n} agent(s), {up} connected"), t.ok),
                Err(e) => (format!("  {e}"), t.warn),
            };
            Line::from(vec![
                Span::styled(" selector ", t.key),
                Span::styled(shown, t.text),
                Span::styled(count, style),
            ])
            .render(line, buf);
            let sel: Option<crate::fleet::selector::Selector> = match &w.mode {
                Mode::Selector(ed) => ed.text().parse().ok(),
                _ => tg.selector.parse().ok(),
            };
            let lines: Vec<Line> = sel
                .filter(|s| !s.is_empty())
                .map(|s| {
                    snap.agents
                        .iter()
                        .filter(|a| s.matches(&a.labels))
                        .take(rows)
                        .map(|a| {
                            let labels: Vec<String> =
                                a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            Line::styled(
                                truncate(
                                    &format!("   {:<22} {}", a.name, labels.join(",")),
                                    usize::from(list.width),
                                ),
                                t.text,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Paragraph::new(lines).render(list, buf);
        }
    }
}

fn follow(
    t: &Theme,
    snap: &FleetSnapshot,
    view: Option<&crate::rollout::RolloutView>,
    error: &Option<String>,
    area: Rect,
    buf: &mut Buffer,
) {
    let Some(v) = view else {
        Line::styled(" waiting for the rollout's state…", t.info).render(area, buf);
        return;
    };
    let p = &v.progress;
    let status_style = match &v.status {
        crate::rollout::RolloutStatus::Completed => t.ok,
        crate::rollout::RolloutStatus::Halted(_) | crate::rollout::RolloutStatus::RolledBack => {
            t.err
        }
        crate::rollout::RolloutStatus::Paused | crate::rollout::RolloutStatus::Cancelled => t.warn,
        crate::rollout::RolloutStatus::Running => t.info,
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!(" Rollout of {} ", v.config), t.title),
            Span::styled(format!("{}", v.status), status_style),
            Span::styled(format!(" · phase {}", v.phases_started), t.muted),
        ]),
        Line::from(vec![
            Span::styled(format!(" {} applied", p.applied), t.ok),
            Span::styled(format!(" · {} in flight", p.in_flight), t.info),
            Span::styled(format!(" · {} waiting", p.waiting), t.muted),
            Span::styled(
                format!(" · {} failed", p.failed),
                if p.failed > 0 { t.err } else { t.muted },
            ),
            Span::styled(format!(" · {} rolled back", p.rolled_back), t.muted),
            Span::styled(format!(" · of {}", p.total), t.text),
        ]),
        bar(
            t,
            p.applied,
            p.failed,
            p.total,
            usize::from(area.width).saturating_sub(2),
        ),
    ];
    if let Some(e) = error {
        lines.push(Line::styled(format!(" ✕ {e}"), t.err));
    }
    lines.push(Line::styled(
        format!(
            " {:<24} {:<12} {:<6} {}",
            "AGENT", "STEP", "PHASE", "MESSAGE"
        ),
        t.table_header,
    ));
    let room = usize::from(area.height).saturating_sub(lines.len());
    // Failures first: they are what an operator needs to see.
    let mut agents: Vec<_> = v.agents.iter().collect();
    agents.sort_by_key(|a| {
        !(a.failed || matches!(a.step, AgentStep::Failed(_) | AgentStep::Stalled))
    });
    for a in agents.into_iter().take(room) {
        let name = snap
            .get(&a.id)
            .map(|x| x.name.to_string())
            .unwrap_or_else(|| a.id.short());
        let (step, style, msg) = match &a.step {
            AgentStep::Waiting => ("waiting", t.muted, String::new()),
            AgentStep::InFlight => ("applying", t.info, String::new()),
            AgentStep::Applied => ("✓ applied", t.ok, String::new()),
            AgentStep::Failed(e) => ("✕ failed", t.err, e.clone()),
            AgentStep::Stalled => ("✕ stalled", t.err, "no answer from the agent".into()),
            AgentStep::RolledBack => (
                "↩ rolled back",
                t.warn,
                a.error
                    .as_ref()
                    .map(|e| format!("after failing: {e}"))
                    .unwrap_or_default(),
            ),
            AgentStep::Skipped => ("skipped", t.muted, String::new()),
        };
        let phase = a
            .phase
            .map(|p| (p + 1).to_string())
            .unwrap_or_else(|| "–".into());
        lines.push(Line::styled(
            truncate(
                &format!(
                    " {:<24} {:<12} {:<6} {msg}",
                    truncate(&name, 24),
                    step,
                    phase
                ),
                usize::from(area.width),
            ),
            style,
        ));
    }
    Paragraph::new(lines).render(area, buf);
}

/// A progress bar: applied in the ok colour, failed in the error colour.
fn bar<'a>(t: &Theme, applied: usize, failed: usize, total: usize, width: usize) -> Line<'a> {
    let total = total.max(1);
    let ok = applied * width / total;
    let bad = failed * width / total;
    let rest = width.saturating_sub(ok + bad);
    Line::from(vec![
        Span::raw(" "),
        Span::styled("█".repeat(ok), t.ok),
        Span::styled("█".repeat(bad), t.err),
        Span::styled("░".repeat(rest), t.muted),
    ])
}

/// Popups over the step: multi-line editors, pick lists, the type picker, the discard
/// question.
fn overlays(t: &Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    match &w.mode {
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
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(" search ", t.popup.patch(t.key)),
                    Span::styled(query.clone(), t.popup),
                    Span::styled("▏", t.popup.patch(t.accent)),
                ]),
                note,
            ];
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
                    format!(
                        " add a {} · type to search · ↑↓ · enter adds · esc ",
                        kind.noun()
                    ),
                    false,
                ))
                .render(pop, buf);
        }
        Mode::ConfirmDiscard => {
            let pop = centered(area, 50, 5);
            Clear.render(pop, buf);
            Paragraph::new(vec![
                Line::styled(" Discard the changes to this configuration?", t.popup),
                Line::default(),
                Line::styled(
                    " y discards · any other key keeps editing",
                    t.popup.patch(t.muted),
                ),
            ])
            .style(t.popup)
            .block(popup_block(t, " unsaved changes ".into(), true))
            .render(pop, buf);
        }
        _ => {}
    }
}

fn popup_block<'a>(t: &Theme, title: String, alarm: bool) -> Block<'a> {
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

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Footer hints for the wizard's current step and mode. The keys of the form steps and
/// of moving between steps come from the keymap.
pub fn hints(w: &Wizard) -> Vec<Hint> {
    use WizardAction as W;
    let fixed = |v: &[(&str, &'static str)]| -> Vec<Hint> {
        v.iter().map(|(k, h)| (k.to_string(), *h, 0)).collect()
    };
    let common = vec![
        hint(w, W::NextStep),
        hint(w, W::PrevStep),
        hint(w, W::Close),
    ];
    let reorder = (
        pair_keys(w, W::MoveUp, W::MoveDown),
        Action::Wizard(W::MoveUp).hint(),
        0,
    );
    let mut out: Vec<Hint> = match (&w.mode, w.step) {
        (Mode::Search(_), _) => fixed(&[("enter", "keep"), ("esc", "clear")]),
        (Mode::Field { editor, .. }, _) if editor.multiline => {
            fixed(&[("^s", "keep"), ("esc", "cancel")])
        }
        (Mode::Field { .. }, _)
        | (Mode::Name(_), _)
        | (Mode::Rename(_), _)
        | (Mode::Selector(_), _) => fixed(&[("enter", "keep"), ("esc", "cancel")]),
        (Mode::Pick { .. }, _) => fixed(&[("↑↓", "move"), ("space", "choose"), ("enter", "done")]),
        (Mode::AddType { .. }, _) => {
            fixed(&[("type", "search"), ("enter", "add"), ("esc", "cancel")])
        }
        (Mode::ConfirmDiscard, _) => fixed(&[("y", "discard"), ("other", "keep")]),
        (Mode::Normal, Step::Sources) => {
            let mut v = fixed(&[("space", "choose"), ("+", "add another"), ("/", "search")]);
            v.extend(common);
            v
        }
        (Mode::Normal, Step::Configure | Step::Processors | Step::Destinations)
            if w.current().is_none()
                && (w.step == Step::Destinations || w.focused_attached().is_some()) =>
        {
            // A shared destination, or a processor of an unknown type: nothing to edit.
            let mut v = vec![hint(w, W::NextPart)];
            if w.step == Step::Destinations {
                v.push(hint(w, W::Add));
            }
            if !w.component_titles().is_empty() {
                v.extend([hint(w, W::Remove), reorder]);
            }
            v.extend(common);
            v
        }
        (Mode::Normal, Step::Configure | Step::Processors | Step::Destinations) => {
            let mut v = vec![hint(w, W::Edit), hint(w, W::Toggle), hint(w, W::NextPart)];
            match w.step {
                Step::Configure => v.push(hint(w, W::AddSourceProcessor)),
                Step::Destinations => {
                    v.push(hint(w, W::Add));
                    v.push(hint(w, W::AddSourceProcessor));
                }
                _ => v.push(hint(w, W::Add)),
            }
            v.push(hint(w, W::Rename));
            v.extend([hint(w, W::Remove), reorder, hint(w, W::Advanced)]);
            v.extend(common);
            v
        }
        (Mode::Normal, Step::Review) => {
            let mut v = fixed(&[("j/k", "scroll"), ("d", "diff"), ("e", "$EDITOR")]);
            if matches!(w.diff_with, DiffWith::Agent(_)) {
                v.extend(fixed(&[("[ ]", "agent")]));
            }
            v.extend(common);
            v
        }
        (Mode::Normal, Step::Save) => {
            let mut v = fixed(&[("enter", "save")]);
            if w.editing.is_none() {
                v.extend(fixed(&[("r", "rename")]));
            }
            v.extend(common);
            v
        }
        (Mode::Normal, Step::Push) => match &w.push {
            PushState::Following { .. } => {
                let mut v = fixed(&[
                    ("p", "pause"),
                    ("r", "resume"),
                    ("c", "cancel"),
                    ("R", "rollback"),
                ]);
                v.push(hint(w, W::Close));
                v
            }
            _ => {
                let mut v = fixed(&[("space", "mark"), ("tab", "selector"), ("enter", "push")]);
                v.extend([hint(w, W::PrevStep), hint(w, W::Close)]);
                v
            }
        },
    };
    out.dedup();
    out
}

/// The footer while the wizard is open: a flash message, else the wizard's keys.
pub fn footer(app: &App, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    buf.set_style(area, t.footer);
    if let Some(f) = &app.flash {
        let style = match f.level {
            crate::tui::app::FlashLevel::Info => t.info,
            crate::tui::app::FlashLevel::Warn => t.warn,
            crate::tui::app::FlashLevel::Error => t.err,
        };
        Line::styled(format!(" {}", f.text), t.footer.patch(style)).render(area, buf);
        return;
    }
    // What does not fit gives way by rank; the help key (all the keys) always stays, last,
    // where it works: while a text is edited, `?` is typed.
    let help = app
        .keymap
        .key_for(Action::Help)
        .filter(|_| matches!(w.mode, Mode::Normal))
        .map(|k| (k.to_string(), Action::Help.hint(), 0));
    let segments = hints(w)
        .into_iter()
        .chain(help)
        .map(|(key, what, rank)| {
            (
                rank,
                vec![
                    Span::styled(key, t.footer.patch(t.key)),
                    Span::styled(format!(" {what}"), t.footer),
                ],
            )
        })
        .collect();
    let mut line = fit_segments(
        segments,
        usize::from(area.width).saturating_sub(1),
        Span::styled("  ", t.footer),
    );
    line.spans.insert(0, Span::styled(" ", t.footer));
    line.render(area, buf);
}
