//! Drawing. `render` is a pure function of `App` (which already holds the snapshot, the
//! copied telemetry tails and the clock): no I/O, no waiting, no locks.

mod agents;
pub(crate) mod chrome;
mod configs;
pub mod detail;
mod events;

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Widget, Wrap};

use super::app::{App, Route};
use super::layout;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area == buf.area {
        // The whole screen: straight over the cells, without per-cell index checks.
        for c in &mut buf.content {
            c.set_style(app.theme.text);
        }
    } else {
        buf.set_style(area, app.theme.text);
    }
    if layout::too_small(area.width, area.height) {
        too_small(app, area, buf);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    chrome::header(app, header, buf);
    match app.route() {
        Route::Agents => agents::render(app, body, buf),
        Route::Detail(id) => detail::render(app, id, body, buf),
        Route::Configs => configs::render(app, body, buf),
        Route::ConfigDetail => configs::render_detail(app, body, buf),
        Route::Events => events::render_view(app, body, buf),
        Route::Types => types(app, body, buf),
        Route::Wizard => {
            if let Some(w) = &app.wizard {
                super::wizard::draw::render(app, w, body, buf);
            }
        }
    }
    match (&app.wizard, app.route()) {
        (Some(w), Route::Wizard) => super::wizard::draw::footer(app, w, footer, buf),
        _ => chrome::footer(app, footer, buf),
    }
    if matches!(app.input, Some(super::app::Input::Palette { .. })) {
        chrome::palette_popup(app, body, buf);
    }
    if let Some(scroll) = app.help {
        chrome::help(app, scroll, body, buf);
    }
}

/// A bordered block with a breadcrumb title, as every view uses.
pub(crate) fn frame_block<'a>(app: &App, title: Line<'a>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(app.theme.border)
        .title(title)
}

/// `Agents › edge-01 › Config`, styled.
pub(crate) fn crumbs<'a>(app: &App, parts: &[String]) -> Line<'a> {
    let mut spans = vec![Span::raw(" ")];
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", app.theme.muted));
        }
        let style = if i + 1 == parts.len() {
            app.theme.title
        } else {
            app.theme.accent
        };
        spans.push(Span::styled(p.clone(), style));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

fn too_small(app: &App, area: Rect, buf: &mut Buffer) {
    let (w, h) = (area.width, area.height);
    let lines = vec![
        Line::styled("terminal too small", app.theme.err),
        Line::from(format!(
            "need {}×{}, have {w}×{h}",
            layout::MIN_WIDTH,
            layout::MIN_HEIGHT
        )),
        Line::styled("enlarge the window, or press q to quit", app.theme.muted),
    ];
    let top = area.y + h.saturating_sub(3) / 2;
    let inner = Rect::new(area.x, top, w, 3.min(h));
    Paragraph::new(lines)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(inner, buf);
}

/// The resource types the builder offers: name, kind, signals, description.
fn types(app: &App, area: Rect, buf: &mut Buffer) {
    use ratatui::widgets::{Cell, Row, Table};
    let t = &app.theme;
    let list = app
        .types
        .clone()
        .unwrap_or_else(|| std::sync::Arc::new(crate::pipeline::TypeRegistry::builtin()));
    let mut types: Vec<_> = list.iter().collect();
    types.sort_by(|a, b| (a.kind() as u8, a.name()).cmp(&(b.kind() as u8, b.name())));
    let title = crumbs(app, &[format!("Resource types {}", types.len())]);
    let fit = usize::from(area.height.saturating_sub(3));
    let offset = app.types_scroll.min(types.len().saturating_sub(fit));
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
    .block(frame_block(app, title))
    .render(area, buf);
}
