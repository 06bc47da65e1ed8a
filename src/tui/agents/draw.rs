//! The agents table. Rows are built only for the visible window of the cached order;
//! columns depend on the width tier; every state has a glyph and a word, not only colour.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, Widget};

use crate::fleet::agent::RemoteConfigState;
use crate::fleet::snapshot::AgentView;

use super::super::events::{self, EventsState};
use super::super::fmt;
use super::super::layout::{self, Tier};
use super::super::telemetry::{Series, SeriesSet, Signal};
use super::super::theme::Theme;
use super::super::widgets::{DrawCx, crumbs, frame_block, spark_style};
use super::AgentsState;

#[derive(Clone, Copy)]
enum Col {
    Name,
    Host,
    Version,
    Status,
    Health,
    Config,
    SignalIn(Signal),
    SignalInOut(Signal),
    Cpu,
    Memory,
    Seen,
}

fn columns(tier: Tier) -> Vec<(Col, &'static str, Constraint)> {
    use Constraint::{Fill, Length};
    let sig = |s: Signal, w| match s {
        Signal::Logs => (Col::SignalIn(s), "LOGS/s", Length(w)),
        Signal::Metrics => (Col::SignalIn(s), "METRICS/s", Length(w)),
        Signal::Traces => (Col::SignalIn(s), "TRACES/s", Length(w)),
    };
    let inout = |s: Signal| {
        let title = match s {
            Signal::Logs => "LOGS in/out /s",
            Signal::Metrics => "METRICS in/out /s",
            Signal::Traces => "TRACES in/out /s",
        };
        (Col::SignalInOut(s), title, Length(23))
    };
    let n = tier.spark_width() as u16 + 5;
    let mut cols = vec![(Col::Name, "NAME", Fill(2))];
    if tier != Tier::Compact {
        cols.push((Col::Host, "SERVICE", Fill(1)));
        cols.push((Col::Version, "VERSION", Length(8)));
    }
    cols.push((Col::Status, "STATUS", Length(6)));
    cols.push((Col::Health, "HEALTH", Length(6)));
    cols.push((Col::Config, "CONFIG", Length(10)));
    for s in Signal::ALL {
        cols.push(if tier == Tier::Wide {
            inout(s)
        } else {
            sig(s, n)
        });
    }
    if tier != Tier::Compact {
        cols.push((Col::Cpu, "CPU", Length(4)));
        cols.push((Col::Memory, "MEM", Length(5)));
    }
    cols.push((Col::Seen, "SEEN", Length(4)));
    cols
}

pub fn render(cx: &DrawCx, st: &AgentsState, recent: &EventsState, area: Rect, buf: &mut Buffer) {
    let (table_area, pane) = if layout::has_events_pane(cx.size.1) {
        let [a, b] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(layout::EVENTS_PANE_HEIGHT),
        ])
        .areas(area);
        (a, Some(b))
    } else {
        (area, None)
    };
    table(cx, st, table_area, buf);
    if let Some(pane) = pane {
        events::draw::render_pane(cx, recent, pane, buf);
    }
}

fn title(cx: &DrawCx, st: &AgentsState) -> Line<'static> {
    let t = cx.theme;
    let mut line = crumbs(
        cx.theme,
        &[format!(
            "Agents {}/{}",
            st.index.len(),
            cx.snapshot.agents.len()
        )],
    );
    if !st.filter_text.is_empty() {
        line.spans
            .push(Span::styled(format!("/{} ", st.filter_text), t.info));
    }
    if st.sort != super::super::action::SortKey::Id {
        let arrow = if st.descending { "▼" } else { "▲" };
        line.spans.push(Span::styled(
            format!("sort:{}{arrow} ", st.sort.label()),
            t.muted,
        ));
    }
    if !st.marks.is_empty() {
        line.spans.push(Span::styled(
            format!("{} marked ", st.marks.len()),
            t.marked,
        ));
    }
    line
}

fn table(cx: &DrawCx, st: &AgentsState, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let tier = Tier::of(cx.size.0);
    let cols = columns(tier);
    let block = frame_block(cx.theme, title(cx, st));
    let rows_fit = usize::from(area.height.saturating_sub(3));
    let start = st.offset.min(st.index.len());
    let visible = &st.index.visible()[start..];
    let rows: Vec<Row> = visible
        .iter()
        .take(rows_fit)
        .enumerate()
        .map(|(i, pos)| {
            let agent = &cx.snapshot.agents[*pos as usize];
            let selected = start + i == st.cursor;
            agent_row(cx, st, agent, &cols, tier, selected)
        })
        .collect();
    let header = Row::new(
        cols.iter()
            .map(|(_, title, _)| Cell::from(*title))
            .collect::<Vec<_>>(),
    )
    .style(t.table_header);
    let widths: Vec<Constraint> = cols.iter().map(|(_, _, w)| *w).collect();
    if rows.is_empty() {
        let msg = if cx.snapshot.agents.is_empty() {
            format!(
                "no agents yet: point a collector's OpAMP extension at {}/v1/opamp \
                 (secret key in {})",
                cx.server.public_url.trim_end_matches('/'),
                cx.server.secret_file.display()
            )
        } else {
            "no agent matches the filter (esc clears it)".to_string()
        };
        let inner = block.inner(area);
        block.render(area, buf);
        Table::new(Vec::<Row>::new(), widths)
            .header(header)
            .column_spacing(1)
            .render(inner, buf);
        if inner.height > 3 {
            ratatui::widgets::Paragraph::new(Line::styled(msg, t.muted))
                .wrap(ratatui::widgets::Wrap { trim: true })
                .render(
                    Rect::new(inner.x + 1, inner.y + 2, inner.width.saturating_sub(2), 3),
                    buf,
                );
        }
        return;
    }
    Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .block(block)
        .render(area, buf);
}

fn agent_row<'a>(
    cx: &DrawCx,
    st: &AgentsState,
    a: &AgentView,
    cols: &[(Col, &'static str, Constraint)],
    tier: Tier,
    selected: bool,
) -> Row<'a> {
    let t = cx.theme;
    let tails = cx.tails.agent(&a.id);
    let marked = st.marks.contains(&a.id);
    let base = if a.is_connected() { t.text } else { t.muted };
    let cells: Vec<Cell> = cols
        .iter()
        .map(|(col, _, _)| match col {
            Col::Name => {
                // Cursor and mark are glyphs too, so they survive monochrome terminals.
                let cursor = if selected { "›" } else { " " };
                let mark = if marked {
                    Span::styled(format!("{cursor}✓"), t.marked)
                } else {
                    Span::raw(format!("{cursor} "))
                };
                let style = if marked { base.patch(t.marked) } else { base };
                Cell::from(Line::from(vec![
                    mark,
                    Span::styled(a.name.to_string(), style),
                ]))
            }
            Col::Host => Cell::from(Span::styled(
                a.description.service_name().unwrap_or_default().to_string(),
                base,
            )),
            Col::Version => Cell::from(Span::styled(a.version.to_string(), base)),
            Col::Status => status_cell(t, a),
            Col::Health => health_cell(t, a),
            Col::Config => config_cell(t, a),
            Col::SignalIn(s) => signal_cell(t, tails, *s, tier.spark_width(), false),
            Col::SignalInOut(s) => signal_cell(t, tails, *s, tier.spark_width(), true),
            Col::Cpu => latest_cell(tails, Series::Cpu, |v| format!("{:.0}%", v * 100.0), base),
            Col::Memory => latest_cell(tails, Series::Memory, fmt::bytes, base),
            Col::Seen => Cell::from(Span::styled(fmt::age(cx.now, a.last_seen), t.muted)),
        })
        .collect();
    let row = Row::new(cells);
    if selected {
        row.style(t.selection)
    } else {
        row
    }
}

fn status_cell<'a>(t: &Theme, a: &AgentView) -> Cell<'a> {
    if a.is_connected() {
        Cell::from(Span::styled("● up", t.ok))
    } else {
        Cell::from(Span::styled("○ down", t.err))
    }
}

fn health_cell<'a>(t: &Theme, a: &AgentView) -> Cell<'a> {
    match &a.health {
        Some(h) if h.healthy() => Cell::from(Span::styled("✓ ok", t.ok)),
        Some(h) => {
            let n = h.unhealthy_count();
            let text = if n > 0 {
                format!("✕ {n}")
            } else {
                "✕ bad".into()
            };
            Cell::from(Span::styled(text, t.err))
        }
        None => Cell::from(Span::styled("· n/a", t.muted)),
    }
}

fn config_cell<'a>(t: &Theme, a: &AgentView) -> Cell<'a> {
    let (text, style) = match a.remote_config_status.as_ref().map(|s| s.state) {
        Some(RemoteConfigState::Applied) => ("✓ applied", t.ok),
        Some(RemoteConfigState::Applying) => ("◌ applying", t.info),
        Some(RemoteConfigState::Failed) => ("✕ failed", t.err),
        Some(RemoteConfigState::Unset) | None if a.effective_config.is_some() => {
            ("· local", t.muted)
        }
        _ => ("· none", t.muted),
    };
    Cell::from(Span::styled(text, style))
}

/// `▂▃▅▇ 1.2k` (and the same for "out" on wide terminals). A `!` instead of the space
/// means the agent failed to send some of that signal.
fn signal_cell<'a>(
    t: &Theme,
    tails: Option<&SeriesSet>,
    s: Signal,
    width: usize,
    with_out: bool,
) -> Cell<'a> {
    let style = spark_style(t, s);
    let Some(set) = tails else {
        return Cell::from(Span::styled(format!("{:width$} –", ""), t.muted));
    };
    let failed = set.latest(Series::Failed(s)).unwrap_or(0.0) > 0.0;
    let part = |series: Series| -> Vec<Span<'a>> {
        let values = set.get(series);
        let rate = match values.last() {
            Some(v) => fmt::rate(*v),
            None => "–".into(),
        };
        vec![
            Span::styled(fmt::spark(values, width), style),
            if failed && (matches!(series, Series::Out(_)) || !with_out) {
                Span::styled("!", t.err)
            } else {
                Span::raw(" ")
            },
            Span::styled(format!("{rate:>4}"), if failed { t.err } else { t.text }),
        ]
    };
    let mut spans = part(Series::In(s));
    if with_out {
        spans.push(Span::raw(" "));
        spans.extend(part(Series::Out(s)));
    }
    Cell::from(Line::from(spans))
}

fn latest_cell<'a>(
    tails: Option<&SeriesSet>,
    series: Series,
    format: impl Fn(f64) -> String,
    style: Style,
) -> Cell<'a> {
    let text = tails
        .and_then(|s| s.latest(series))
        .map(format)
        .unwrap_or_else(|| "–".into());
    Cell::from(Line::styled(text, style).right_aligned())
}
