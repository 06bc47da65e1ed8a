//! The agents table. Rows are built only for the visible window of the cached order;
//! columns depend on the width tier; every state has a glyph and a word, not only colour.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
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

/// What the table's sparkline columns show, for the help (`?`).
pub const SPARK_LEGEND: [(&str, &str); 4] = [
    (
        "▁▃▅█",
        "each signal's rate over the last minute, a few s a cell",
    ),
    (
        "height",
        "against the row's peak over 2 min (s: one for all rows)",
    ),
    ("!", "the agent failed to send some of that signal"),
    ("–", "the agent has reported no telemetry yet"),
];

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

/// The table's columns at terminal width `width`: more of them, and longer sparklines,
/// as it widens. NAME takes what the longest name shown needs (up to 3/5 of the room
/// the fixed columns leave), so CONFIG gets the rest for `name:version state`.
fn columns(width: u16, longest_name: usize) -> Vec<(Col, &'static str, Constraint)> {
    let mut cols = fixed_columns(width);
    let fixed: u16 = cols
        .iter()
        .map(|(_, _, c)| match c {
            Constraint::Length(n) => *n + 1,
            _ => 1,
        })
        .sum();
    let room = width.saturating_sub(2 + fixed);
    let want = u16::try_from(longest_name + 2).unwrap_or(u16::MAX);
    let name = want.min(room * 3 / 5).max(room.min(12));
    cols[0].2 = Constraint::Length(name);
    cols
}

fn fixed_columns(width: u16) -> Vec<(Col, &'static str, Constraint)> {
    let tier = Tier::of(width);
    let cells = layout::spark_cells(width) as u16;
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
        (Col::SignalInOut(s), title, Length(2 * (cells + 5) + 1))
    };
    let n = cells + 5;
    let mut cols = vec![(Col::Name, "NAME", Fill(1))];
    if tier != Tier::Compact {
        cols.push((Col::Host, "SERVICE", Fill(1)));
        cols.push((Col::Version, "VERSION", Length(8)));
    }
    cols.push((Col::Status, "STATUS", Length(6)));
    cols.push((Col::Health, "HEALTH", Length(6)));
    cols.push((Col::Config, "CONFIG", Fill(2)));
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
    if st.shared_scale {
        line.spans.push(Span::styled("scale:shared ", t.muted));
    }
    if !st.marks.is_empty() {
        line.spans.push(Span::styled(
            format!("{} marked ", st.marks.len()),
            t.marked,
        ));
    }
    line
}

/// How each row's sparklines are drawn: cells, seconds per cell, and the scale.
struct Sparks {
    cells: usize,
    per_cell: usize,
    /// One scale per signal for every row shown, when the user asked for it.
    shared: Option<[f64; 3]>,
}

fn table(cx: &DrawCx, st: &AgentsState, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let block = frame_block(cx.theme, title(cx, st));
    let rows_fit = usize::from(area.height.saturating_sub(3));
    let start = st.offset.min(st.index.len());
    let visible = &st.index.visible()[start..];
    let shown: Vec<&AgentView> = visible
        .iter()
        .take(rows_fit)
        .map(|pos| &*cx.snapshot.agents[*pos as usize])
        .collect();
    let longest = shown
        .iter()
        .map(|a| a.name.chars().count())
        .max()
        .unwrap_or(0);
    let cols = columns(area.width, longest);
    let cells = layout::spark_cells(cx.size.0);
    let sparks = Sparks {
        cells,
        per_cell: layout::spark_per_cell(cells),
        shared: st.shared_scale.then(|| shared_scale(cx, &shown)),
    };
    // The widths the table will give each column, so text is cut with `…` to fit.
    let inner_width = area.width.saturating_sub(2);
    let widths: Vec<u16> = Layout::horizontal(cols.iter().map(|(_, _, w)| *w))
        .flex(Flex::Start)
        .spacing(1)
        .split(Rect::new(0, 0, inner_width, 1))
        .iter()
        .map(|r| r.width)
        .collect();
    let rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(i, agent)| {
            let selected = start + i == st.cursor;
            agent_row(cx, st, agent, &cols, &widths, &sparks, selected)
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
        let msg = if cx.snapshot.agents.is_empty() && cx.server.public_url.is_empty() {
            // Attached to a server elsewhere: its agent address is not known here.
            "no agents yet on this server: point a collector's OpAMP extension at its \
             agent listener (/v1/opamp)"
                .to_string()
        } else if cx.snapshot.agents.is_empty() {
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

/// The largest rate per signal over the rows shown (in and out), in the scale window.
fn shared_scale(cx: &DrawCx, shown: &[&AgentView]) -> [f64; 3] {
    let mut max = [0.0_f64; 3];
    for a in shown {
        let Some(set) = cx.tails.agent(&a.id) else {
            continue;
        };
        for (i, s) in Signal::ALL.iter().enumerate() {
            for series in [Series::In(*s), Series::Out(*s)] {
                max[i] = max[i].max(fmt::peak(set.get(series), layout::SCALE_SECONDS));
            }
        }
    }
    max
}

fn agent_row<'a>(
    cx: &DrawCx,
    st: &AgentsState,
    a: &AgentView,
    cols: &[(Col, &'static str, Constraint)],
    widths: &[u16],
    sparks: &Sparks,
    selected: bool,
) -> Row<'a> {
    let t = cx.theme;
    let tails = cx.tails.agent(&a.id);
    let marked = st.marks.contains(&a.id);
    let base = if a.is_connected() { t.text } else { t.muted };
    let cells: Vec<Cell> = cols
        .iter()
        .zip(widths.iter().map(|w| usize::from(*w)))
        .map(|((col, _, _), width)| match col {
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
                    Span::styled(fmt::truncate(&a.name, width.saturating_sub(2)), style),
                ]))
            }
            Col::Host => Cell::from(Span::styled(
                fmt::truncate(a.description.service_name().unwrap_or_default(), width),
                base,
            )),
            Col::Version => Cell::from(Span::styled(fmt::truncate(&a.version, width), base)),
            Col::Status => status_cell(t, a),
            Col::Health => health_cell(t, a),
            Col::Config => config_cell(t, a, width),
            Col::SignalIn(s) => signal_cell(t, tails, *s, sparks, false),
            Col::SignalInOut(s) => signal_cell(t, tails, *s, sparks, true),
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

/// `web-tier:3 ✓ applied`: which configuration, which version, and where the agent is
/// with it (the word goes first when room is short, then the name is cut with `…`, so
/// the version and state stay). Agents fleetdeck assigned nothing say what they run.
fn config_cell<'a>(t: &Theme, a: &AgentView, width: usize) -> Cell<'a> {
    use crate::fleet::delivery::ApplyState as S;
    let Some(c) = &a.config else {
        let (text, style) = match a.remote_config_status.as_ref().map(|s| s.state) {
            Some(RemoteConfigState::Applied) => ("✓ applied", t.ok),
            Some(RemoteConfigState::Applying) => ("◌ applying", t.info),
            Some(RemoteConfigState::Failed) => ("✕ failed", t.err),
            Some(RemoteConfigState::Unset) | None if a.effective_config.is_some() => {
                ("· local", t.muted)
            }
            _ => ("· none", t.muted),
        };
        return Cell::from(Span::styled(fmt::truncate(text, width), style));
    };
    let (glyph, word, style) = match c.state {
        S::Applied => ("✓", "applied", t.ok),
        S::Applying => ("◌", "applying", t.info),
        S::Sent => ("◌", "sent", t.info),
        S::Pending => ("·", "pending", t.muted),
        S::Failed => ("✕", "failed", t.err),
        S::Stalled => ("⧖", "stalled", t.warn),
    };
    let version = format!(":{}", c.config.version);
    let full = format!("{}{version} {glyph} {word}", c.config.name);
    let text = if full.chars().count() <= width {
        full
    } else {
        let tail = format!("{version} {glyph}");
        let room = width.saturating_sub(tail.chars().count());
        format!("{}{tail}", fmt::truncate(&c.config.name, room))
    };
    Cell::from(Span::styled(text, style))
}

/// `▂▃▅▇ 1.2k` (and the same for "out" on wide terminals): the last minute, each cell a
/// few seconds' mean, against the row's peak over two minutes (or the peak of every row
/// shown, with the shared scale). A `!` instead of the space means the agent failed to
/// send some of that signal. The help explains both.
fn signal_cell<'a>(
    t: &Theme,
    tails: Option<&SeriesSet>,
    s: Signal,
    sparks: &Sparks,
    with_out: bool,
) -> Cell<'a> {
    let style = spark_style(t, s);
    let width = sparks.cells;
    let Some(set) = tails else {
        return Cell::from(Span::styled(format!("{:width$} –", ""), t.muted));
    };
    let failed = set.latest(Series::Failed(s)).unwrap_or(0.0) > 0.0;
    // In and out of one agent share a scale, so their heights compare.
    let scale = match sparks.shared {
        Some(max) => max[Signal::ALL.iter().position(|x| *x == s).unwrap_or(0)],
        None => {
            let peak = |series| fmt::peak(set.get(series), layout::SCALE_SECONDS);
            let out = if with_out { peak(Series::Out(s)) } else { 0.0 };
            peak(Series::In(s)).max(out)
        }
    };
    let part = |series: Series| -> Vec<Span<'a>> {
        let values = set.get(series);
        let rate = match values.last() {
            Some(v) => fmt::rate(*v),
            None => "–".into(),
        };
        vec![
            Span::styled(
                fmt::spark_scaled(values, width, sparks.per_cell, scale),
                style,
            ),
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
