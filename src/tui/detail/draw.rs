//! Drawing one agent: the section tabs, and each section's lines (Overview with a live
//! side panel on wide terminals, Telemetry charts, the Health tree, the Config as YAML).

use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline, Widget};

use crate::fleet::AgentId;
use crate::fleet::agent::{Attribute, ComponentHealth, PackageState, RemoteConfigState};
use crate::fleet::components::ComponentKind;
use crate::fleet::snapshot::AgentView;
use crate::pipeline::Redactor;

use super::super::fmt;
use super::super::telemetry::{Series, SeriesSet, Signal, signal_label};
use super::super::theme::Theme;
use super::super::widgets::spark_style;
use super::super::widgets::{DrawCx, crumbs, frame_block, yaml_spans};
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
    let scroll = clamp_scroll(cx, st, agent, section, body.height);
    match section {
        Section::Telemetry => telemetry_grid(cx, agent, body, buf),
        Section::Overview if body.width >= SIDE_PANEL + 60 => {
            let [left, right] =
                Layout::horizontal([Constraint::Fill(1), Constraint::Length(SIDE_PANEL)])
                    .areas(body);
            scrolled(overview_lines(cx, agent, left.width), scroll, left, buf);
            side_panel(cx, agent, right, buf);
        }
        _ => scrolled(section_lines(cx, agent, section), scroll, body, buf),
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

fn clamp_scroll(
    cx: &DrawCx,
    st: &DetailState,
    agent: &AgentView,
    section: Section,
    height: u16,
) -> usize {
    let len = match section {
        Section::Telemetry => 0,
        s => section_lines(cx, agent, s).len(),
    };
    st.scroll[Section::ALL.iter().position(|s| *s == section).unwrap_or(0)]
        .min(len.saturating_sub(usize::from(height)))
}

/// How far a section can scroll at this height: used by the state machine so that
/// "bottom" and paging stop at the last line.
pub fn max_scroll(cx: &DrawCx, id: AgentId, section: Section, height: usize) -> usize {
    match (cx.snapshot.get(&id), section) {
        (Some(_), Section::Telemetry) | (None, _) => 0,
        (Some(a), s) => section_lines(cx, a, s).len().saturating_sub(height),
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

fn section_lines(cx: &DrawCx, agent: &AgentView, section: Section) -> Vec<Line<'static>> {
    match section {
        Section::Overview => overview_lines(cx, agent, overview_width(cx.size.0)),
        Section::Health => health_lines(cx.theme, agent),
        Section::Config => config_lines(cx.theme, agent, cx.redactor),
        Section::Telemetry => Vec::new(),
    }
}

fn kv(t: &Theme, key: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!(" {key:<14}"), t.muted)];
    spans.extend(value);
    Line::from(spans)
}

fn heading(t: &Theme, text: &str) -> Line<'static> {
    Line::styled(format!(" {text}"), t.title)
}

fn attributes(t: &Theme, attrs: &[Attribute], out: &mut Vec<Line<'static>>) {
    if attrs.is_empty() {
        out.push(Line::styled("   (none)", t.muted));
    }
    for a in attrs {
        out.push(Line::from(vec![
            Span::styled(format!("   {:<28} ", a.key), t.yaml_key),
            Span::styled(a.value.to_string(), t.text),
        ]));
    }
}

/// Long messages (errors) continue on indented lines instead of being cut off.
fn kv_wrapped(
    t: &Theme,
    key: &str,
    lead: Span<'static>,
    text: &str,
    style: Style,
    width: u16,
    out: &mut Vec<Line<'static>>,
) {
    let avail = usize::from(width).saturating_sub(16 + lead.width()).max(20);
    let mut parts = fmt::wrap(text, avail).into_iter();
    let first = parts.next().unwrap_or_default();
    out.push(kv(t, key, vec![lead, Span::styled(first, style)]));
    for rest in parts {
        out.push(Line::styled(format!("{:15}{rest}", ""), style));
    }
}

/// What the agent can run: one line per kind, cut to the width with how many more there
/// are (the API and `fleetdeck get agent -o yaml` list them all).
fn components(t: &Theme, a: &AgentView, width: u16, out: &mut Vec<Line<'static>>) {
    out.push(Line::default());
    let Some(c) = &a.available_components else {
        out.push(heading(t, "Components"));
        out.push(Line::styled("   (not reported)", t.muted));
        return;
    };
    let version = c
        .common_version()
        .map(|v| format!(" · {v}"))
        .unwrap_or_default();
    out.push(heading(
        t,
        &format!("Components ({} types{version})", c.len()),
    ));
    const LEAD: usize = 3 + 12;
    let room = usize::from(width).saturating_sub(LEAD + 1).max(20);
    for kind in ComponentKind::ALL {
        let Some(list) = c.by_kind.get(&kind).filter(|l| !l.is_empty()) else {
            continue;
        };
        let mut shown = String::new();
        let mut count = 0;
        for (i, comp) in list.iter().enumerate() {
            let left = list.len() - i - 1;
            let more = if left > 0 {
                format!(" +{left} more").len()
            } else {
                0
            };
            let sep = usize::from(!shown.is_empty());
            if shown.len() + sep + comp.type_name.len() + more > room {
                break;
            }
            if sep == 1 {
                shown.push(' ');
            }
            shown.push_str(&comp.type_name);
            count += 1;
        }
        let mut spans = vec![
            Span::styled(format!("   {:<12}", kind.section()), t.yaml_key),
            Span::styled(shown, t.text),
        ];
        if count < list.len() {
            spans.push(Span::styled(
                format!(" +{} more", list.len() - count),
                t.muted,
            ));
        }
        out.push(Line::from(spans));
    }
    if !c.dropped.is_none() {
        out.push(Line::styled(
            format!("   ⚠ left out of the report: {}", c.dropped),
            t.warn,
        ));
    }
}

fn overview_lines(cx: &DrawCx, a: &AgentView, width: u16) -> Vec<Line<'static>> {
    let t = cx.theme;
    let now = cx.now;
    let mut out = Vec::new();
    out.push(kv(
        t,
        "Agent",
        vec![
            Span::styled(a.name.to_string(), t.accent),
            Span::styled(format!("  {}", a.id), t.muted),
        ],
    ));
    let status = if a.is_connected() {
        let via = a
            .transport
            .map(|t| format!(" over {t}"))
            .unwrap_or_default();
        let from = a
            .remote_addr
            .map(|r| format!(" from {r}"))
            .unwrap_or_default();
        let since = a
            .connected_at
            .map(|c| format!(", for {}", fmt::age(now, c)))
            .unwrap_or_default();
        vec![
            Span::styled("● connected", t.ok),
            Span::raw(format!("{via}{from}{since}")),
        ]
    } else {
        let since = a
            .disconnected_at
            .map(|d| format!(" {} ago", fmt::age(now, d)))
            .unwrap_or_default();
        vec![Span::styled(format!("○ disconnected{since}"), t.err)]
    };
    out.push(kv(t, "Status", status));
    out.push(kv(
        t,
        "Last seen",
        vec![Span::raw(format!(
            "{} ago · first seen {} ago · seq {} · {} messages",
            fmt::age(now, a.last_seen),
            fmt::age(now, a.first_seen),
            a.sequence_num,
            a.messages
        ))],
    ));
    out.push(kv(
        t,
        "Host",
        vec![Span::raw(format!(
            "{} · {} · version {}",
            a.host, a.os, a.version
        ))],
    ));
    match &a.health {
        Some(h) if h.healthy() => out.push(kv(
            t,
            "Health",
            vec![Span::styled(
                format!("✓ healthy ({} components)", h.component_count()),
                t.ok,
            )],
        )),
        Some(h) => {
            let lead = Span::styled(
                format!(
                    "✕ unhealthy · {} of {} components failing{}",
                    h.unhealthy_count(),
                    h.component_count(),
                    if h.last_error().is_empty() { "" } else { ": " }
                ),
                t.err,
            );
            kv_wrapped(t, "Health", lead, h.last_error(), t.err, width, &mut out);
        }
        None => out.push(kv(
            t,
            "Health",
            vec![Span::styled("· not reported", t.muted)],
        )),
    }
    match &a.remote_config_status {
        None => out.push(kv(
            t,
            "Remote config",
            vec![Span::styled("· no remote configuration", t.muted)],
        )),
        Some(s) => {
            let hash = if s.last_hash.is_empty() {
                String::new()
            } else {
                format!(
                    "hash {} ",
                    hex::encode(&s.last_hash[..s.last_hash.len().min(6)])
                )
            };
            let (text, style) = match s.state {
                RemoteConfigState::Applied => ("✓ applied ", t.ok),
                RemoteConfigState::Applying => ("◌ applying ", t.info),
                RemoteConfigState::Failed => ("✕ failed ", t.err),
                RemoteConfigState::Unset => ("· unset ", t.muted),
            };
            out.push(kv(
                t,
                "Remote config",
                vec![Span::styled(text, style), Span::styled(hash, t.muted)],
            ));
            if !s.error_message.is_empty() {
                let lead = Span::styled("", t.err);
                kv_wrapped(t, "  error", lead, &s.error_message, t.err, width, &mut out);
            }
        }
    }
    let effective = match &a.effective_config {
        Some(cfg) => {
            let names: Vec<&str> = cfg.files.keys().map(String::as_str).collect();
            vec![Span::raw(format!(
                "{} · {} (Config tab)",
                names.join(", "),
                fmt::bytes(cfg.total_bytes() as f64)
            ))]
        }
        None => vec![Span::styled("· not reported", t.muted)],
    };
    out.push(kv(t, "Effective", effective));
    if let Some(r) = cx.tails.refused(&a.id) {
        out.push(kv(
            t,
            "Own telemetry",
            vec![Span::styled(
                format!(
                    "✕ refused: {} ({} requests, last {} ago)",
                    r.reason,
                    r.count,
                    fmt::age(now, r.last)
                ),
                t.err,
            )],
        ));
    }
    if !a.labels.is_empty() {
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(kv(
            t,
            "Labels",
            vec![Span::styled(labels.join(" "), t.info)],
        ));
    }
    out.push(Line::default());
    out.push(heading(t, "Identifying attributes"));
    attributes(t, &a.description.identifying, &mut out);
    out.push(heading(t, "Non-identifying attributes"));
    attributes(t, &a.description.non_identifying, &mut out);
    out.push(Line::default());
    out.push(heading(
        t,
        &format!("Capabilities ({:#x})", a.capabilities.0),
    ));
    let names = a.capabilities.names();
    for pair in names.chunks(2) {
        let cells: String = pair.iter().map(|n| format!("✓ {n:<34}")).collect();
        out.push(Line::styled(format!("   {}", cells.trim_end()), t.text));
    }
    if !a.custom_capabilities.is_empty() {
        out.push(kv(
            t,
            "  custom",
            vec![Span::raw(a.custom_capabilities.join(", "))],
        ));
    }
    components(t, a, width, &mut out);
    out.push(Line::default());
    out.push(heading(t, "Packages"));
    match &a.package_statuses {
        None => out.push(Line::styled("   (not reported)", t.muted)),
        Some(p) => {
            if !p.error_message.is_empty() {
                out.push(Line::styled(format!("   ✕ {}", p.error_message), t.err));
            }
            if p.packages.is_empty() {
                out.push(Line::styled("   (none)", t.muted));
            }
            for (name, s) in &p.packages {
                let (state, style) = match s.state {
                    PackageState::Installed => ("✓ installed", t.ok),
                    PackageState::InstallPending => ("◌ pending", t.info),
                    PackageState::Installing => ("◌ installing", t.info),
                    PackageState::Downloading => ("◌ downloading", t.info),
                    PackageState::InstallFailed => ("✕ failed", t.err),
                };
                let pct = s
                    .download_percent
                    .map(|p| format!(" {p:.0}%"))
                    .unwrap_or_default();
                let mut spans = vec![
                    Span::styled(format!("   {name:<20} "), t.yaml_key),
                    Span::raw(format!(
                        "{} → {}  ",
                        or_dash(&s.agent_has_version),
                        or_dash(&s.server_offered_version)
                    )),
                    Span::styled(format!("{state}{pct}"), style),
                ];
                if !s.error_message.is_empty() {
                    spans.push(Span::styled(format!(": {}", s.error_message), t.err));
                }
                out.push(Line::from(spans));
            }
        }
    }
    out
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "–" } else { s }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::components::AvailableComponents;
    use crate::tui::theme::ColorLevel;

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn a_long_kind_is_cut_to_the_width_with_how_many_more() {
        let t = Theme::builtin("mono", ColorLevel::None).expect("built-in theme");
        let types: Vec<String> = (0..30).map(|i| format!("receiver{i:02}")).collect();
        let listing = AvailableComponents::from_entries(
            vec![1],
            types
                .iter()
                .map(|r| ("receivers", r.as_str(), "v1"))
                .chain([("exporters", "otlphttp", "v1")]),
        );
        let mut agent = AgentView::blank(AgentId([1; 16]));
        agent.available_components = Some(std::sync::Arc::new(listing));
        let mut out = Vec::new();
        components(&t, &agent, 60, &mut out);
        let shown = text(&out);
        assert_eq!(shown[1], " Components (31 types · v1)");
        assert_eq!(
            shown[2],
            "   receivers   receiver00 receiver01 receiver02 +27 more"
        );
        assert!(shown[2].chars().count() <= 60, "{}", shown[2]);
        assert_eq!(shown[3], "   exporters   otlphttp");

        agent.available_components = None;
        let mut out = Vec::new();
        components(&t, &agent, 60, &mut out);
        assert_eq!(text(&out)[2], "   (not reported)");
    }
}
