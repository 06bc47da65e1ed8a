//! Drawing the Configurations view: the list (configurations with their versions, the
//! agents on each and rollout progress) and one configuration's detail (versions, agents
//! per version with their failures, a diff between two versions, the rollout).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Widget};

use crate::fleet::delivery::ApplyState;
use crate::pipeline::DiffLine;
use crate::rollout::{RolloutStatus, RolloutView};

use super::super::fmt;
use super::super::theme::Theme;
use super::super::widgets::{DrawCx, crumbs, fit, frame_block};
use super::data::{ConfigRow, UnmanagedRow, rollout_line};
use super::{ConfigDetail, ConfigsState, DiffView};

pub fn render(cx: &DrawCx, st: &ConfigsState, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let mut title = crumbs(
        cx.theme,
        &[format!("Configurations {}", st.overview.rows.len())],
    );
    if !st.loaded {
        title.spans.push(Span::styled("loading… ", t.muted));
    }
    if let Some(e) = &st.error {
        title.spans.push(Span::styled(format!("{e} "), t.err));
    }
    let wide = area.width >= 120;
    let mut widths = vec![
        Constraint::Length(22),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(7),
    ];
    let mut head = vec![" NAME", "LATEST", "AGENTS", "APPLIED"];
    if wide {
        widths.extend([Constraint::Length(9), Constraint::Length(8)]);
        head.extend(["IN FLIGHT", "UPDATED"]);
    }
    widths.extend([Constraint::Length(6), Constraint::Fill(1)]);
    head.extend(["FAILED", "ROLLOUT / VERSIONS"]);
    // What the last column gets: the inner width less the fixed ones and their gaps, so
    // a long rollout line ends with `…` (the configuration's detail has it whole).
    let fixed: u16 = widths
        .iter()
        .map(|c| match c {
            Constraint::Length(n) => n + 1,
            _ => 0,
        })
        .sum();
    let last = usize::from(area.width.saturating_sub(2 + fixed));
    let rows_fit = usize::from(area.height.saturating_sub(3));
    let unmanaged_at = st.overview.rows.len();
    let rows: Vec<Row> = (0..st.overview.entries())
        .skip(st.offset)
        .take(rows_fit)
        .map(|i| match st.overview.rows.get(i) {
            Some(r) => config_row(cx, r, wide, i == st.cursor, last),
            None => unmanaged_row(t, &st.overview.unmanaged, wide, i == st.cursor),
        })
        .collect();
    let block = frame_block(cx.theme, title);
    let inner = block.inner(area);
    Table::new(rows, widths)
        .header(Row::new(head).style(t.table_header))
        .column_spacing(1)
        .block(block)
        .render(area, buf);
    // With no stored configuration, say how to make one under the unmanaged row.
    let hint_y = inner.y + 2 + (unmanaged_at + 1).saturating_sub(st.offset) as u16;
    if st.loaded && unmanaged_at == 0 && hint_y + 1 < inner.y + inner.height {
        let new_key = cx
            .keymap
            .key_for(super::super::action::Action::NewConfig)
            .map_or_else(|| ":new".into(), |k| k.to_string());
        Line::styled(
            format!(
                " no stored configurations yet: press {new_key} to build one, or run \
                 `fleetdeck apply -f FILE`"
            ),
            t.muted,
        )
        .render(Rect::new(inner.x, hint_y + 1, inner.width, 1), buf);
    }
}

fn num<'a>(n: usize, style: Style) -> Cell<'a> {
    Cell::from(Line::styled(n.to_string(), style).right_aligned())
}

fn dash<'a>(t: &Theme) -> Cell<'a> {
    Cell::from(Line::styled("–", t.muted).right_aligned())
}

fn config_row<'a>(cx: &DrawCx, r: &ConfigRow, wide: bool, selected: bool, last: usize) -> Row<'a> {
    let t = cx.theme;
    let c = &r.total;
    let mut cells = vec![
        Cell::from(Span::styled(
            format!(
                "{}{}",
                if selected { "›" } else { " " },
                fmt::truncate(&r.name, 21)
            ),
            if r.summary.is_some() {
                t.accent
            } else {
                t.muted
            },
        )),
        match r.latest() {
            Some(v) => Cell::from(Line::styled(format!("v{v}"), t.text).right_aligned()),
            None => Cell::from(Line::styled("gone", t.warn).right_aligned()),
        },
        num(c.agents, t.text),
        num(c.applied, if c.applied > 0 { t.ok } else { t.text }),
    ];
    if wide {
        cells.push(num(
            c.in_flight,
            if c.in_flight > 0 { t.info } else { t.text },
        ));
        cells.push(match &r.summary {
            Some(s) => {
                Cell::from(Line::styled(fmt::age(cx.now, s.updated_at), t.muted).right_aligned())
            }
            None => dash(t),
        });
    }
    cells.push(num(c.failed, if c.failed > 0 { t.err } else { t.text }));
    cells.push(Cell::from(fit(rollout_or_versions(t, r, wide), last)));
    let row = Row::new(cells);
    if selected {
        row.style(t.selection)
    } else {
        row
    }
}

/// The rollout when there is one, else how the agents spread over versions; on wide
/// terminals the first failure follows.
fn rollout_or_versions<'a>(t: &Theme, r: &ConfigRow, wide: bool) -> Line<'a> {
    let mut spans = match &r.rollout {
        Some(ro) if !ro.status.finished() || r.total.agents == 0 => {
            vec![Span::styled(
                rollout_short(ro),
                rollout_style(t, &ro.status),
            )]
        }
        _ => {
            let spread: Vec<String> = r
                .versions
                .iter()
                .map(|(v, c)| format!("v{v}:{}", c.agents))
                .collect();
            if spread.is_empty() {
                vec![Span::styled("no agents", t.muted)]
            } else {
                vec![Span::styled(spread.join(" "), t.text)]
            }
        }
    };
    if wide && let Some((agent, msg)) = &r.first_error {
        spans.push(Span::styled(format!("  {agent}: "), t.muted));
        spans.push(Span::styled(msg.clone(), t.err));
    }
    Line::from(spans)
}

/// `running ph2 40/100 ✗2`.
fn rollout_short(r: &RolloutView) -> String {
    let p = &r.progress;
    let status = match &r.status {
        RolloutStatus::Halted(_) => "halted".to_string(),
        other => other.to_string(),
    };
    let mut s = format!(
        "{status} v{} ph{} {}/{}",
        r.config.version, r.phases_started, p.applied, p.total
    );
    if p.watching > 0 {
        s.push_str(&format!(" ◔{}", p.watching));
    }
    if p.failed > 0 {
        s.push_str(&format!(" ✗{}", p.failed));
    }
    s
}

fn rollout_style(t: &Theme, s: &RolloutStatus) -> Style {
    match s {
        RolloutStatus::Running => t.info,
        RolloutStatus::Completed => t.ok,
        RolloutStatus::Paused | RolloutStatus::Cancelled => t.warn,
        RolloutStatus::Halted(_) | RolloutStatus::RolledBack => t.err,
    }
}

fn unmanaged_row<'a>(t: &Theme, u: &UnmanagedRow, wide: bool, selected: bool) -> Row<'a> {
    let mut cells = vec![
        Cell::from(Span::styled(
            format!("{}local / unmanaged", if selected { "›" } else { " " }),
            t.muted,
        )),
        dash(t),
        num(u.agents, t.text),
        dash(t),
    ];
    if wide {
        cells.extend([dash(t), dash(t)]);
    }
    cells.push(dash(t));
    let mut what = format!("{} run their own config", u.agents);
    if u.remote_elsewhere > 0 {
        what.push_str(&format!(" · {} managed elsewhere", u.remote_elsewhere));
    }
    if u.without_config > 0 {
        what.push_str(&format!(" · {} report none", u.without_config));
    }
    cells.push(Cell::from(Span::styled(what, t.muted)));
    let row = Row::new(cells);
    if selected {
        row.style(t.selection)
    } else {
        row
    }
}

// ----- one configuration -----

pub fn render_detail(cx: &DrawCx, st: &ConfigsState, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let Some(d) = &st.detail else {
        return;
    };
    let block = frame_block(
        cx.theme,
        crumbs(cx.theme, &["Configurations".into(), d.name.clone()]),
    );
    let inner = block.inner(area);
    block.render(area, buf);
    let row = st.overview.rows.iter().find(|r| r.name == d.name);
    let [summary, rollout, panes] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    let w = usize::from(inner.width);
    fit(summary_line(cx, st, row), w).render(summary, buf);
    fit(
        rollout_status_line(t, row.and_then(|r| r.rollout.as_ref())),
        w,
    )
    .render(rollout, buf);
    if let Some(flow) = &d.flow {
        flow_pane(t, flow, panes, buf);
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Length(31), Constraint::Fill(1)]).areas(panes);
    versions_pane(cx, d, row, left, buf);
    match &d.diff {
        Some(diff) => diff_pane(t, d, diff, right, buf),
        None => agents_pane(cx, d, right, buf),
    }
}

fn summary_line<'a>(cx: &DrawCx, st: &ConfigsState, row: Option<&ConfigRow>) -> Line<'a> {
    let t = cx.theme;
    let mut spans = vec![Span::raw(" ")];
    match row.and_then(|r| r.summary.as_ref()) {
        Some(s) => {
            spans.push(Span::styled(format!("v{} latest", s.version), t.title));
            spans.push(Span::styled(
                format!(
                    " · updated {} ago · {} source(s), {} processor(s), {} destination(s)",
                    fmt::age(cx.now, s.updated_at),
                    s.sources,
                    s.processors,
                    s.destinations
                ),
                t.muted,
            ));
            if let Some(desc) = &s.description {
                spans.push(Span::styled(format!(" · {desc}"), t.text));
            }
        }
        None if st.loaded => spans.push(Span::styled(
            "not in the catalog (deleted?); agents still run it",
            t.warn,
        )),
        None => spans.push(Span::styled("loading…", t.muted)),
    }
    Line::from(spans)
}

fn rollout_status_line<'a>(t: &Theme, r: Option<&RolloutView>) -> Line<'a> {
    let Some(r) = r else {
        return Line::styled(" no rollout yet", t.muted);
    };
    let p = &r.progress;
    let mut spans = vec![
        Span::styled(" rollout ", t.muted),
        Span::styled(rollout_line(r), rollout_style(t, &r.status)),
    ];
    // A ten-cell bar of applied (and failed) agents.
    let cells = 10;
    if let Some(ok) = (p.applied * cells).checked_div(p.total) {
        let ok = ok.min(cells);
        let bad = (p.failed * cells).div_ceil(p.total).min(cells - ok);
        spans.push(Span::raw(" "));
        spans.push(Span::styled("█".repeat(ok), t.ok));
        spans.push(Span::styled("█".repeat(bad), t.err));
        spans.push(Span::styled("░".repeat(cells - ok - bad), t.muted));
    }
    Line::from(spans)
}

fn versions_pane(
    cx: &DrawCx,
    d: &ConfigDetail,
    row: Option<&ConfigRow>,
    area: Rect,
    buf: &mut Buffer,
) {
    let t = cx.theme;
    let head = Row::new(vec![" VER", "AGE", "AGENTS", "OK", "FAIL"]).style(t.table_header);
    let widths = [
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Length(4),
    ];
    let rows: Vec<Row> = match &d.versions {
        Some(Ok(vs)) => {
            let fit = usize::from(area.height.saturating_sub(1));
            let offset = (d.cursor + 1).saturating_sub(fit);
            vs.iter()
                .enumerate()
                .skip(offset)
                .take(fit)
                .map(|(i, v)| {
                    let counts = row
                        .and_then(|r| r.versions.iter().find(|(n, _)| *n == v.version))
                        .map(|(_, c)| *c)
                        .unwrap_or_default();
                    let selected = i == d.cursor;
                    let mark = if d.base == Some(v.version) {
                        "◆"
                    } else {
                        " "
                    };
                    let r = Row::new(vec![
                        Cell::from(Span::styled(
                            format!("{}{mark}v{}", if selected { "›" } else { " " }, v.version),
                            t.text,
                        )),
                        Cell::from(
                            Line::styled(fmt::age(cx.now, v.updated_at), t.muted).right_aligned(),
                        ),
                        num(counts.agents, t.text),
                        num(
                            counts.applied,
                            if counts.applied > 0 { t.ok } else { t.muted },
                        ),
                        num(
                            counts.failed,
                            if counts.failed > 0 { t.err } else { t.muted },
                        ),
                    ]);
                    if selected { r.style(t.selection) } else { r }
                })
                .collect()
        }
        Some(Err(e)) => vec![Row::new(vec![Cell::from(Span::styled(
            format!(" {e}"),
            t.err,
        ))])],
        None => vec![Row::new(vec![Cell::from(Span::styled(
            " loading…",
            t.muted,
        ))])],
    };
    Table::new(rows, widths)
        .header(head)
        .column_spacing(1)
        .render(area, buf);
}

fn state_style(t: &Theme, s: ApplyState) -> Style {
    match s {
        ApplyState::Applied => t.ok,
        ApplyState::Failed | ApplyState::Stalled => t.err,
        ApplyState::Pending | ApplyState::Sent | ApplyState::Applying => t.info,
    }
}

fn agents_pane(cx: &DrawCx, d: &ConfigDetail, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let shown: Vec<_> = d.shown_agents().collect();
    let which = match d.selected_version() {
        Some(v) => format!("on v{v}"),
        None => "on any version".into(),
    };
    let title = Line::from(vec![Span::styled(
        format!("AGENT ({} {which})", shown.len()),
        t.table_header,
    )]);
    let [head, list] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    title.render(head, buf);
    if shown.is_empty() {
        Line::styled("no agents run this version", t.muted).render(list, buf);
        return;
    }
    let name_w: u16 = if area.width < 70 { 14 } else { 20 };
    let rows: Vec<Row> = shown
        .iter()
        .skip(d.scroll)
        .take(usize::from(list.height))
        .map(|a| {
            let agent = &cx.snapshot.agents[a.at as usize];
            let mut state = a.state.to_string();
            if a.effective_matches == Some(false) {
                state.push_str(" ≠");
            }
            // What is left of the row for the error (its full text: the agent's detail).
            let room = usize::from(list.width.saturating_sub(name_w + 4 + 9 + 3));
            let detail = if a.error.is_empty() {
                Span::styled(
                    if agent.is_connected() {
                        ""
                    } else {
                        "disconnected"
                    },
                    t.muted,
                )
            } else {
                Span::styled(fmt::truncate(&a.error, room), t.err)
            };
            Row::new(vec![
                Cell::from(Span::styled(
                    fmt::truncate(&agent.name, usize::from(name_w)),
                    t.text,
                )),
                Cell::from(Span::styled(format!("v{}", a.version), t.muted)),
                Cell::from(Span::styled(state, state_style(t, a.state))),
                Cell::from(detail),
            ])
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(name_w),
            Constraint::Length(4),
            Constraint::Length(9),
            Constraint::Fill(1),
        ],
    )
    .column_spacing(1)
    .render(list, buf);
}

/// The pipelines with each component's numbers, over the whole width.
fn flow_pane(t: &Theme, flow: &super::FlowView, area: Rect, buf: &mut Buffer) {
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let period = crate::throughput::period_name(flow.period);
    let mut title = vec![Span::styled(
        format!(" FLOW per second over {period}"),
        t.table_header,
    )];
    let lines: Vec<Line> = match &flow.answer {
        None => vec![Line::styled("loading…", t.muted)],
        Some(Err(e)) => vec![Line::styled(e.clone(), t.err)],
        Some(Ok(answer)) => {
            title.push(Span::styled(
                format!(
                    "  {} agents, {} reporting components",
                    answer.agents, answer.reporting
                ),
                t.muted,
            ));
            super::super::flow::lines(t, answer, usize::from(body.width))
        }
    };
    let rows = usize::from(body.height);
    let scroll = flow.scroll.min(lines.len().saturating_sub(rows));
    Line::from(title).render(head, buf);
    Paragraph::new(
        lines
            .into_iter()
            .skip(scroll)
            .take(rows)
            .collect::<Vec<_>>(),
    )
    .render(body, buf);
}

fn diff_pane(t: &Theme, d: &ConfigDetail, diff: &DiffView, area: Rect, buf: &mut Buffer) {
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let mut title = vec![Span::styled(
        format!("DIFF v{} → v{}", diff.from, diff.to),
        t.table_header,
    )];
    let lines: Vec<Line> = match &diff.lines {
        None => vec![Line::styled("loading…", t.muted)],
        Some(Err(e)) => vec![Line::styled(e.clone(), t.err)],
        Some(Ok(lines)) => {
            let added = lines
                .iter()
                .filter(|l| matches!(l, DiffLine::Added(_)))
                .count();
            let removed = lines
                .iter()
                .filter(|l| matches!(l, DiffLine::Removed(_)))
                .count();
            title.push(Span::styled(format!("  +{added}"), t.ok));
            title.push(Span::styled(format!(" −{removed}"), t.err));
            if added + removed == 0 {
                vec![Line::styled(
                    "the two versions render the same YAML",
                    t.muted,
                )]
            } else {
                lines
                    .iter()
                    .skip(d.scroll)
                    .take(usize::from(body.height))
                    .map(|l| {
                        let style = match l {
                            DiffLine::Added(_) => t.ok,
                            DiffLine::Removed(_) => t.err,
                            DiffLine::Same(_) => t.muted,
                        };
                        Line::styled(format!("{} {}", l.marker(), l.text()), style)
                    })
                    .collect()
            }
        }
    };
    Line::from(title).render(head, buf);
    Paragraph::new(lines).render(body, buf);
}
