//! Drawing the fleet's event stream: the full scrollable view, and the pane of the
//! newest events under the agents table on tall terminals.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::fleet::agent::RemoteConfigState;
use crate::fleet::{EventKind, FleetEvent};

use super::super::fmt;
use super::super::theme::Theme;
use super::super::widgets::{DrawCx, crumbs, fit, frame_block, wrap_lines};
use super::EventsState;

/// Glyph, style and text for one event.
fn describe(t: &Theme, e: &FleetEvent) -> (&'static str, Style, String) {
    match &e.kind {
        EventKind::AgentConnected {
            name,
            transport,
            remote_addr,
            new,
            ..
        } => {
            let from = remote_addr
                .map(|a| format!(" from {a}"))
                .unwrap_or_default();
            let new = if *new { " (new agent)" } else { "" };
            (
                "●",
                t.ok,
                format!("{name} connected over {transport}{from}{new}"),
            )
        }
        EventKind::AgentDisconnected { name, reason, .. } => {
            ("○", t.warn, format!("{name} disconnected: {reason}"))
        }
        EventKind::HealthChanged {
            name,
            healthy,
            last_error,
            ..
        } => {
            if *healthy {
                ("✓", t.ok, format!("{name} is healthy again"))
            } else if last_error.is_empty() {
                ("✕", t.err, format!("{name} is unhealthy"))
            } else {
                ("✕", t.err, format!("{name} is unhealthy: {last_error}"))
            }
        }
        EventKind::RemoteConfigStatus {
            name,
            state,
            error_message,
            ..
        } => match state {
            RemoteConfigState::Failed => (
                "✕",
                t.err,
                format!("{name} failed to apply its configuration: {error_message}"),
            ),
            RemoteConfigState::Applied => ("✓", t.ok, format!("{name} applied its configuration")),
            RemoteConfigState::Applying => {
                ("◌", t.info, format!("{name} is applying a configuration"))
            }
            RemoteConfigState::Unset => {
                ("·", t.muted, format!("{name} has no remote configuration"))
            }
        },
        EventKind::ConfigStatus {
            name,
            config,
            state,
            error,
            ..
        } => {
            use crate::fleet::delivery::ApplyState;
            match state {
                ApplyState::Applied => ("✓", t.ok, format!("{name} applied {config}")),
                ApplyState::Failed | ApplyState::Stalled if !error.is_empty() => {
                    ("✕", t.err, format!("{name} {state} {config}: {error}"))
                }
                ApplyState::Failed | ApplyState::Stalled => {
                    ("✕", t.err, format!("{name} {state} {config}"))
                }
                _ => ("◌", t.info, format!("{name} {state} {config}")),
            }
        }
        EventKind::Rollout { config, message } => {
            ("»", t.info, format!("rollout {config}: {message}"))
        }
        EventKind::Notice { message, .. } => ("⚠", t.warn, message.clone()),
        EventKind::Audit {
            actor,
            action,
            detail,
        } => (
            "✎",
            t.muted,
            if detail.is_empty() {
                format!("{actor}: {action}")
            } else {
                format!("{actor}: {action}: {detail}")
            },
        ),
        EventKind::DuplicateInstanceUid {
            id,
            remote_addr,
            kept_addr,
            new_uid,
        } => {
            let at = |a: &Option<std::net::SocketAddr>| {
                a.map(|a| a.to_string()).unwrap_or_else(|| "?".into())
            };
            (
                "⚠",
                t.warn,
                format!(
                    "instance uid {id} used by two agents: {} keeps it, {} told to use {new_uid}",
                    at(kept_addr),
                    at(remote_addr)
                ),
            )
        }
    }
}

fn event_line<'a>(cx: &DrawCx, e: &FleetEvent, selected: bool) -> Line<'a> {
    let t = cx.theme;
    let (glyph, style, text) = describe(t, e);
    let cursor = if selected { "›" } else { " " };
    let line = Line::from(vec![
        Span::styled(format!("{cursor}{} ", fmt::clock(e.at)), t.muted),
        Span::styled(format!("{glyph} "), style),
        Span::styled(text, t.text),
    ]);
    if selected {
        line.style(t.selection)
    } else {
        line
    }
}

pub fn render_view(cx: &DrawCx, ev: &EventsState, area: Rect, buf: &mut Buffer) {
    let mut title = crumbs(cx.theme, &[format!("Events {}", ev.items.len())]);
    if ev.missed > 0 {
        title.spans.push(Span::styled(
            format!("{} missed while busy ", ev.missed),
            cx.theme.warn,
        ));
    }
    if ev.follow {
        title.spans.push(Span::styled("following ", cx.theme.muted));
    }
    let block = frame_block(cx.theme, title);
    let inner = block.inner(area);
    block.render(area, buf);
    if ev.items.is_empty() {
        Line::styled(" no events yet", cx.theme.muted).render(inner, buf);
        return;
    }
    let header = Line::styled(" TIME     EVENT (UTC)", cx.theme.table_header);
    header.render(Rect::new(inner.x, inner.y, inner.width, 1), buf);
    let rows = usize::from(inner.height.saturating_sub(1));
    let width = usize::from(inner.width);
    // The event under the cursor is shown whole, wrapped; the others are cut with `…`.
    let mut lines: Vec<Line> = Vec::with_capacity(rows + 4);
    let mut cursor_end = 0;
    for (i, e) in ev.items.iter().enumerate().skip(ev.offset).take(rows) {
        if i == ev.cursor {
            lines.extend(wrap_lines(vec![event_line(cx, e, true)], width));
            cursor_end = lines.len();
        } else {
            lines.push(fit(event_line(cx, e, false), width));
        }
    }
    // Its wrapped lines stay on screen: rows above it give way.
    let drop = cursor_end.saturating_sub(rows);
    let lines: Vec<Line> = lines.into_iter().skip(drop).take(rows).collect();
    Paragraph::new(lines).render(
        Rect::new(
            inner.x,
            inner.y + 1,
            inner.width,
            inner.height.saturating_sub(1),
        ),
        buf,
    );
}

/// The newest events, below the agents table.
pub fn render_pane(cx: &DrawCx, ev: &EventsState, area: Rect, buf: &mut Buffer) {
    let block = frame_block(cx.theme, crumbs(cx.theme, &["Recent events".into()]));
    let inner = block.inner(area);
    block.render(area, buf);
    let rows = usize::from(inner.height);
    let items = &ev.items;
    let lines: Vec<Line> = items
        .iter()
        .skip(items.len().saturating_sub(rows))
        .map(|e| fit(event_line(cx, e, false), usize::from(inner.width)))
        .collect();
    if lines.is_empty() {
        Line::styled(" no events yet", cx.theme.muted).render(inner, buf);
    } else {
        Paragraph::new(lines).render(inner, buf);
    }
}
