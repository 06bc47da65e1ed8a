//! Drawing one agent: the section tabs, and each section's lines (Overview with a live
//! side panel on wide terminals, Telemetry charts, the Health tree, the Config as YAML,
//! the apply History).

use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline, Widget};

use crate::fleet::AgentId;
use crate::fleet::agent::ComponentHealth;
use crate::fleet::snapshot::AgentView;
use crate::pipeline::Redactor;

use super::super::fmt;
use super::super::telemetry::{Series, SeriesSet, Signal, signal_label};
use super::super::theme::Theme;

use super::super::widgets::{DrawCx, crumbs, frame_block, spark_style, wrap_lines, yaml_spans};
use super::history::history_lines;
use super::overview::overview_lines;
use super::{DetailState, Section};

/// Width of the live-telemetry column beside the overview on wide terminals.
const SIDE_PANEL: u16 = 44;

pub fn render(cx: &DrawCx, st: &DetailState, id: AgentId, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let section = st.section;
    let Some(agent) = cx.snapshot.get(&id) else {
        let block = frame_block(cx.theme, crumbs(cx.theme, &["Agents".into(), id.short()]));
        Paragraph::new(vec![
            Line::styled(format!(" agent {id} is no longer in the fleet"), t.warn),
            Line::styled(" esc goes back", t.muted),
        ])
        .block(block)
        .render(area, buf);
        return;
    };
    let block = frame_block(
        cx.theme,
        crumbs(
            cx.theme,
            &[
                "Agents".into(),
                agent.name.to_string(),
                section.title().into(),
            ],
        ),
    );
    let inner = block.inner(area);
    block.render(area, buf);
    let [tabs_area, _, body] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    tabs(cx, st, tabs_area, buf);
    let scroll = clamp_scroll(cx, st, agent, body.height);
    match section {
        Section::Telemetry => telemetry_grid(cx, agent, body, buf),
        Section::Overview if body.width >= SIDE_PANEL + 60 => {
            let [left, right] =
                Layout::horizontal([Constraint::Fill(1), Constraint::Length(SIDE_PANEL)])
                    .areas(body);
            let lines = wrap_lines(
                overview_lines(cx, agent, left.width),
                usize::from(left.width),
            );
            scrolled(lines, scroll, left, buf);
            side_panel(cx, agent, right, buf);
        }
        _ => scrolled(section_lines(cx, st, agent, section), scroll, body, buf),
    }
}

fn tabs(cx: &DrawCx, st: &DetailState, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let mut spans = vec![Span::raw(" ")];
    for (i, s) in Section::ALL.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", t.muted));
        }
        if *s == st.section {
            spans.push(Span::styled(format!("[{}]", s.title()), t.selection));
        } else {
            spans.push(Span::styled(format!(" {} ", s.title()), t.muted));
        }
    }
    Line::from(spans).render(area, buf);
}

fn scrolled(lines: Vec<Line<'static>>, scroll: usize, area: Rect, buf: &mut Buffer) {
    let shown: Vec<Line> = lines
        .into_iter()
        .skip(scroll)
        .take(usize::from(area.height))
        .collect();
    Paragraph::new(shown).render(area, buf);
}

fn clamp_scroll(cx: &DrawCx, st: &DetailState, agent: &AgentView, height: u16) -> usize {
    let len = match st.section {
        Section::Telemetry => 0,
        s => section_lines(cx, st, agent, s).len(),
    };
    st.scroll[st.section.index()].min(len.saturating_sub(usize::from(height)))
}

/// How far the section shown can scroll at this height: used by the state machine so
/// that "bottom" and paging stop at the last line.
pub fn max_scroll(cx: &DrawCx, st: &DetailState, id: AgentId, height: usize) -> usize {
    match (cx.snapshot.get(&id), st.section) {
        (Some(_), Section::Telemetry) | (None, _) => 0,
        (Some(a), s) => section_lines(cx, st, a, s).len().saturating_sub(height),
    }
}

/// Columns the overview text gets at this terminal width (beside the side panel when
/// there is room for one).
fn overview_width(terminal_width: u16) -> u16 {
    let inner = terminal_width.saturating_sub(2);
    if inner >= SIDE_PANEL + 60 {
        inner - SIDE_PANEL
    } else {
        inner
    }
}

/// A section's lines, wrapped to the width they are shown in, so nothing is cut.
fn section_lines(
    cx: &DrawCx,
    st: &DetailState,
    agent: &AgentView,
    section: Section,
) -> Vec<Line<'static>> {
    let width = match section {
        Section::Overview => overview_width(cx.size.0),
        _ => cx.size.0.saturating_sub(2),
    };
    wrap_lines(unwrapped_lines(cx, st, agent, section), usize::from(width))
}

fn unwrapped_lines(
    cx: &DrawCx,
    st: &DetailState,
    agent: &AgentView,
    section: Section,
) -> Vec<Line<'static>> {
    match section {
        Section::Overview => overview_lines(cx, agent, overview_width(cx.size.0)),
        Section::Health => health_lines(cx.theme, agent),
        Section::Config => config_lines(cx.theme, agent, cx.redactor),
        Section::History => history_lines(cx, agent, &st.history, cx.size.0.saturating_sub(2)),
        Section::Flow => flow_lines(cx, agent, st),
        Section::Telemetry => Vec::new(),
    }
}

fn health_lines(t: &Theme, a: &AgentView) -> Vec<Line<'static>> {
    let Some(h) = &a.health else {
        return vec![Line::styled(
            " this agent does not report component health",
            t.muted,
        )];
    };
    let mut out = Vec::new();
    health_node(t, &a.name, &h.tree(), "", "", &mut out);
    out
}

fn health_node(
    t: &Theme,
    name: &str,
    h: &ComponentHealth,
    lead: &str,
    child_lead: &str,
    out: &mut Vec<Line<'static>>,
) {
    let (glyph, style) = if h.healthy {
        ("✓", t.ok)
    } else {
        ("✕", t.err)
    };
    let mut spans = vec![
        Span::styled(format!(" {lead}"), t.muted),
        Span::styled(format!("{glyph} "), style),
        Span::styled(name.to_string(), t.text),
    ];
    if !h.status.is_empty() {
        spans.push(Span::styled(format!("  {}", h.status), t.muted));
    }
    if !h.last_error.is_empty() {
        spans.push(Span::styled(format!("  {}", h.last_error), t.err));
    }
    out.push(Line::from(spans));
    let n = h.components.len();
    for (i, (child, ch)) in h.components.iter().enumerate() {
        let last = i + 1 == n;
        let branch = if last { "└─ " } else { "├─ " };
        let cont = if last { "   " } else { "│  " };
        health_node(
            t,
            child,
            ch,
            &format!("{child_lead}{branch}"),
            &format!("{child_lead}{cont}"),
            out,
        );
    }
}

fn config_lines(t: &Theme, a: &AgentView, hide: &Redactor) -> Vec<Line<'static>> {
    let Some(cfg) = &a.effective_config else {
        return vec![Line::styled(
            " this agent does not report its effective configuration",
            t.muted,
        )];
    };
    let mut out = Vec::new();
    let many = cfg.files.len() > 1;
    for (name, file) in &cfg.files {
        if many || !name.is_empty() {
            let ct = if file.content_type.is_empty() {
                String::new()
            } else {
                format!(" ({})", file.content_type)
            };
            out.push(Line::styled(format!(" # {name}{ct}"), t.yaml_comment));
        }
        let body = String::from_utf8_lossy(&file.body);
        let body = hide.mask(&body);
        for (i, line) in body.lines().enumerate() {
            let mut spans = vec![Span::styled(format!("{:>4} ", i + 1), t.muted)];
            spans.extend(yaml_spans(t, line));
            out.push(Line::from(spans));
        }
    }
    out
}

fn series_label(s: Series) -> String {
    match s {
        Series::In(sig) => format!("{} in", signal_label(sig)),
        Series::Out(sig) => format!("{} out", signal_label(sig)),
        Series::Failed(sig) => format!("{} failed", signal_label(sig)),
        Series::Cpu => "cpu".into(),
        Series::Memory => "memory".into(),
    }
}

fn series_value(s: Series, v: Option<f64>) -> String {
    match (s, v) {
        (_, None) => "–".into(),
        // CPU comes in cores; show percent of one core like top does.
        (Series::Cpu, Some(v)) => format!("{:.0}%", v * 100.0),
        (Series::Memory, Some(v)) => fmt::bytes(v),
        (_, Some(v)) => format!("{}/s", fmt::rate(v)),
    }
}

fn series_style(t: &Theme, s: Series) -> Style {
    match s {
        Series::In(sig) | Series::Out(sig) => spark_style(t, sig),
        Series::Failed(_) => t.err,
        Series::Cpu => t.spark_cpu,
        Series::Memory => t.spark_memory,
    }
}

const PANEL_SERIES: [Series; 11] = Series::ALL;

/// One line per series beside the overview: label, sparkline, latest value.
fn side_panel(cx: &DrawCx, agent: &Arc<AgentView>, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let set = cx.tails.agent(&agent.id);
    let block = Block::default()
        .borders(Borders::LEFT)
        .border_style(t.border)
        .title(Span::styled(" live, 1 value/s ", t.muted));
    let inner = block.inner(area);
    block.render(area, buf);
    let spark_w = usize::from(inner.width.saturating_sub(16 + 7));
    let lines: Vec<Line> = PANEL_SERIES
        .iter()
        .map(|s| {
            let values = set.map(|x| x.get(*s)).unwrap_or(&[]);
            Line::from(vec![
                Span::styled(format!(" {:<15}", series_label(*s)), t.muted),
                Span::styled(fmt::spark(values, spark_w), series_style(t, *s)),
                Span::styled(
                    format!(" {:>6}", series_value(*s, values.last().copied())),
                    t.text,
                ),
            ])
        })
        .collect();
    Paragraph::new(lines).render(inner, buf);
}

/// A chart per series: in and out side by side for each signal, then CPU and memory.
fn telemetry_grid(cx: &DrawCx, agent: &Arc<AgentView>, area: Rect, buf: &mut Buffer) {
    let set = cx.tails.agent(&agent.id);
    let pairs = [
        (Series::In(Signal::Logs), Series::Out(Signal::Logs)),
        (Series::In(Signal::Metrics), Series::Out(Signal::Metrics)),
        (Series::In(Signal::Traces), Series::Out(Signal::Traces)),
        (Series::Cpu, Series::Memory),
    ];
    let rows = Layout::vertical([Constraint::Fill(1); 4]).split(area);
    for ((left, right), row) in pairs.iter().zip(rows.iter()) {
        let [l, r] = Layout::horizontal([Constraint::Fill(1); 2]).areas(*row);
        chart(cx, set, *left, l, buf);
        chart(cx, set, *right, r, buf);
    }
}

fn chart(cx: &DrawCx, set: Option<&SeriesSet>, s: Series, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let values = set.map(|x| x.get(s)).unwrap_or(&[]);
    let mut title = vec![
        Span::styled(format!(" {} ", series_label(s)), series_style(t, s)),
        Span::styled(
            format!("{} ", series_value(s, values.last().copied())),
            t.text,
        ),
    ];
    if let Series::Out(sig) = s {
        let failed = set
            .and_then(|x| x.latest(Series::Failed(sig)))
            .unwrap_or(0.0);
        if failed > 0.0 {
            title.push(Span::styled(
                format!("! {} failed/s ", fmt::rate(failed)),
                t.err,
            ));
        }
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Line::from(title));
    let inner = block.inner(area);
    let width = usize::from(inner.width);
    // Newest value at the right edge; scaled to keep fractions visible.
    let pad = width.saturating_sub(values.len());
    let data: Vec<u64> = std::iter::repeat_n(0, pad)
        .chain(
            values[values.len().saturating_sub(width)..]
                .iter()
                .map(|v| (v.max(0.0) * 100.0).round() as u64),
        )
        .collect();
    if values.is_empty() {
        block.render(area, buf);
        Line::styled(" no data", t.muted).render(inner, buf);
        return;
    }
    Sparkline::default()
        .block(block)
        .data(&data)
        .style(series_style(t, s))
        .render(area, buf);
}

/// The agent's pipelines with each component's numbers (from its latest report), or why
/// there are none.
fn flow_lines(cx: &DrawCx, agent: &AgentView, st: &DetailState) -> Vec<Line<'static>> {
    let t = cx.theme;
    let flow = &st.flow;
    let loaded = flow
        .loaded
        .as_ref()
        .filter(|_| flow.agent == Some(agent.id));
    match loaded {
        None => vec![Line::styled("loading…", t.muted)],
        Some(Err(e)) => vec![Line::styled(e.clone(), t.err)],
        Some(Ok(a)) => {
            let mut lines = vec![Line::styled(
                format!(
                    "{} · per second as of its latest report",
                    a.config.as_deref().unwrap_or("no assigned configuration")
                ),
                t.muted,
            )];
            lines.extend(crate::tui::flow::lines_of(
                t,
                &a.pipelines,
                &a.components,
                usize::from(cx.size.0.saturating_sub(2)),
            ));
            lines
        }
    }
}
