//! The resource types the builder offers (`:types`): name, kind, signals, description.
//! Its only state is how far it is scrolled (`App::types_scroll`).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, Widget};

use super::widgets::{DrawCx, crumbs, frame_block};
use crate::pipeline::TypeRegistry;

/// The scroll after moving `delta` rows through `len` types shown `rows` at a time.
pub fn scrolled(scroll: usize, delta: isize, len: usize, rows: usize) -> usize {
    let max = len.saturating_sub(rows);
    scroll.min(max).saturating_add_signed(delta).min(max)
}

pub fn render(cx: &DrawCx, list: &TypeRegistry, scroll: usize, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let mut types: Vec<_> = list.iter().collect();
    types.sort_by(|a, b| (a.kind() as u8, a.name()).cmp(&(b.kind() as u8, b.name())));
    let title = crumbs(t, &[format!("Resource types {}", types.len())]);
    let fit = usize::from(area.height.saturating_sub(3));
    let offset = scroll.min(types.len().saturating_sub(fit));
    let rows: Vec<Row> = types
        .iter()
        .skip(offset)
        .take(fit)
        .map(|ty| {
            let signals: Vec<&str> = ty.signals().iter().map(|s| s.as_str()).collect();
            let meta = &ty.def.metadata;
            let desc = meta
                .description
                .clone()
                .or_else(|| meta.display_name.clone())
                .unwrap_or_default();
            Row::new(vec![
                Cell::from(Span::styled(format!(" {}", ty.name()), t.accent)),
                Cell::from(Span::styled(ty.kind().noun(), t.text)),
                Cell::from(Span::styled(signals.join(","), t.muted)),
                Cell::from(Span::styled(desc, t.text)),
            ])
        })
        .collect();
    Table::new(
        rows,
        [
            Constraint::Length(24),
            Constraint::Length(12),
            Constraint::Length(20),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(vec![" NAME", "KIND", "SIGNALS", "DESCRIPTION"]).style(t.table_header))
    .column_spacing(1)
    .block(frame_block(t, title))
    .render(area, buf);
}
