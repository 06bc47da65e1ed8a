//! Step 5: problems, the legend of rendered IDs, and the YAML or its diff, scrolled.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::pipeline::DiffLine;
use crate::tui::action::{Action, WizardAction as W};
use crate::tui::theme::Theme;
use crate::tui::widgets::yaml_spans;
use crate::tui::wizard::Wizard;

pub(super) fn render(t: &Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let r = &w.review;
    let mut lines: Vec<Line> = Vec::new();
    if r.problems.is_empty() {
        lines.push(Line::styled(
            format!(
                " ✓ no problems: {} goes on to save",
                w.key_of(Action::Wizard(W::NextStep))
            ),
            t.ok,
        ));
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
    let compare = w.key_of(Action::Wizard(W::Compare));
    let title = match (&r.yaml, &r.diff) {
        (None, _) => String::new(),
        (Some(_), Some(_)) => format!(" {}{raw} · {compare}: next comparison", r.diff_title),
        (Some(_), None) if r.diff_title.is_empty() => {
            format!(" Collector YAML, secrets masked{raw} · {compare}: compare")
        }
        (Some(_), None) => format!(" Collector YAML, secrets masked{raw} · {}", r.diff_title),
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
