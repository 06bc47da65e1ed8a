//! Drawing a tap: a summary of what is tapped and how it goes, the agent's pipelines,
//! then the items newest first, each as a few lines (as `fleetdeck tap` prints them).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::TapState;
use crate::fleet::AgentId;
use crate::fleet::tap::now_unix_nano;

use super::super::widgets::{DrawCx, crumbs, frame_block, wrap_lines};

/// Lines above the items.
const HEAD: usize = 3;

pub fn render(cx: &DrawCx, st: &TapState, id: AgentId, area: Rect, buf: &mut Buffer) {
    let name = cx
        .snapshot
        .get(&id)
        .map_or_else(|| id.short(), |a| a.name.to_string());
    let block = frame_block(
        cx.theme,
        crumbs(cx.theme, &["Agents".into(), name, "Tap".into()]),
    );
    let inner = block.inner(area);
    block.render(area, buf);
    let lines = wrap_lines(lines(cx, st, id), usize::from(inner.width));
    let rows = usize::from(inner.height);
    let body = lines.len().saturating_sub(HEAD);
    let scroll = st
        .scroll
        .min(body.saturating_sub(rows.saturating_sub(HEAD)));
    let shown: Vec<Line> = lines
        .iter()
        .take(HEAD)
        .cloned()
        .chain(lines.iter().skip(HEAD + scroll).cloned())
        .take(rows)
        .collect();
    Paragraph::new(shown).render(inner, buf);
}

/// How far the tap scrolls with `rows` lines for the items.
pub fn max_scroll(cx: &DrawCx, st: &TapState, id: AgentId, width: u16, rows: usize) -> usize {
    let n = wrap_lines(lines(cx, st, id), usize::from(width.saturating_sub(2))).len();
    n.saturating_sub(HEAD)
        .saturating_sub(rows.saturating_sub(HEAD))
}

fn lines(cx: &DrawCx, st: &TapState, id: AgentId) -> Vec<Line<'static>> {
    let t = cx.theme;
    let connected = cx.snapshot.get(&id).is_some_and(|a| a.is_connected());
    let shown: Vec<_> = st.shown().collect();
    let mut status = vec![
        Span::styled(" pipeline ", t.muted),
        Span::styled(
            st.pipeline.clone().unwrap_or_else(|| "(the first)".into()),
            t.accent,
        ),
    ];
    if let Some(s) = st.signal {
        status.push(Span::styled(format!(" ({s})"), t.muted));
    }
    status.push(Span::styled(
        format!(
            " · {} item{} newest first",
            st.items.len(),
            if st.items.len() == 1 { "" } else { "s" }
        ),
        t.text,
    ));
    if !st.search.is_empty() {
        status.push(Span::styled(
            format!(" · {} match “{}”", shown.len(), st.search),
            t.info,
        ));
    }
    if st.left_out > 0 {
        status.push(Span::styled(
            format!(" · {} left out (limits)", st.left_out),
            t.muted,
        ));
    }
    let mut out = vec![Line::from(status)];
    let second = match (&st.error, connected) {
        (Some(e), _) => Line::styled(format!(" {e}"), t.err),
        (None, false) => Line::styled(" the agent is disconnected: nothing new comes", t.warn),
        (None, true) if st.answers == 0 => Line::styled(" asking the agent…", t.muted),
        (None, true) => Line::styled(
            " following: asked again every 2 s (f freezes)".to_string(),
            t.muted,
        ),
    };
    out.push(second);
    let now = now_unix_nano();
    let pipes: Vec<Span> = st
        .pipelines
        .iter()
        .flat_map(|p| {
            let style = if Some(&p.name) == st.pipeline.as_ref() {
                t.accent
            } else {
                t.text
            };
            let last = if p.last_unix_nano == 0 {
                "idle".to_string()
            } else {
                format!(
                    "{}s ago",
                    now.saturating_sub(p.last_unix_nano) / 1_000_000_000
                )
            };
            [
                Span::styled(format!(" {}", p.name), style),
                Span::styled(format!(" ({} batches, {last})", p.batches), t.muted),
            ]
        })
        .collect();
    let mut third = vec![Span::styled(" taps:", t.muted)];
    third.extend(pipes);
    out.push(Line::from(third));
    if let Some(note) = &st.note {
        out.push(Line::styled(format!(" note: {note}"), t.warn));
    }
    if shown.is_empty() && st.answers > 0 {
        out.push(Line::styled(
            if st.search.is_empty() {
                " nothing went through this pipeline yet (since the Collector started with its configuration)"
            } else {
                " no item matches the search"
            },
            t.muted,
        ));
    }
    for item in shown {
        for (i, l) in item.lines().into_iter().enumerate() {
            let style = if i == 0 { t.title } else { t.text };
            out.push(Line::styled(format!(" {l}"), style));
        }
    }
    out
}
