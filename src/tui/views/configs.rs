//! Configurations as the fleet reports them (see `tui::configs` for why it is built
//! from agent reports for now).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, Widget};

use super::super::app::App;
use super::super::configs::{ConfigOrigin, ConfigRow};
use super::{crumbs, frame_block};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let st = &app.configs;
    let mut title = crumbs(app, &[format!("Configurations {}", st.rows.len())]);
    title
        .spans
        .push(Span::styled("as reported by agents ", t.muted));
    let wide = area.width >= 120;
    let mut widths = vec![Constraint::Length(7), Constraint::Length(12)];
    let mut head = vec![" ORIGIN", "HASH"];
    if wide {
        widths.push(Constraint::Length(16));
        head.push("NAME");
    }
    widths.extend([
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Fill(1),
    ]);
    head.extend([
        "AGENTS",
        "UP",
        "APPLIED",
        "APPLYING",
        "FAILED",
        "LAST ERROR",
    ]);
    let rows_fit = usize::from(area.height.saturating_sub(3));
    let rows: Vec<Row> = st
        .rows
        .iter()
        .enumerate()
        .skip(st.offset)
        .take(rows_fit)
        .map(|(i, r)| config_row(app, r, wide, i == st.cursor))
        .collect();
    let empty = rows.is_empty();
    let block = frame_block(app, title);
    let inner = block.inner(area);
    Table::new(rows, widths)
        .header(Row::new(head).style(t.table_header))
        .column_spacing(1)
        .block(block)
        .render(area, buf);
    if empty && inner.height > 2 {
        Line::styled(" no agents, so no configurations yet", t.muted)
            .render(Rect::new(inner.x, inner.y + 2, inner.width, 1), buf);
    }
}

fn config_row<'a>(app: &App, r: &ConfigRow, wide: bool, selected: bool) -> Row<'a> {
    let t = &app.theme;
    let remote = r.origin == ConfigOrigin::Remote;
    let count = |n: usize, style| {
        if remote {
            Cell::from(Line::styled(n.to_string(), style).right_aligned())
        } else {
            Cell::from(Line::styled("–", t.muted).right_aligned())
        }
    };
    let mut cells = vec![
        Cell::from(Span::styled(
            format!(
                "{}{}",
                if selected { "›" } else { " " },
                if remote { "remote" } else { "local" }
            ),
            if remote { t.accent } else { t.muted },
        )),
        Cell::from(Span::styled(r.short_hash(), t.text)),
    ];
    if wide {
        cells.push(Cell::from(Span::styled(
            r.name.clone().unwrap_or_else(|| "–".into()),
            t.muted,
        )));
    }
    cells.extend([
        Cell::from(Line::styled(r.agents.to_string(), t.text).right_aligned()),
        Cell::from(Line::styled(r.connected.to_string(), t.text).right_aligned()),
        count(r.applied, t.ok),
        count(r.applying, t.info),
        count(r.failed, if r.failed > 0 { t.err } else { t.text }),
        Cell::from(match &r.last_error {
            Some((agent, msg)) => Line::from(vec![
                Span::styled(format!("{agent}: "), t.muted),
                Span::styled(msg.clone(), t.err),
            ]),
            None => Line::default(),
        }),
    ]);
    let row = Row::new(cells);
    if selected {
        row.style(t.selection)
    } else {
        row
    }
}
