//! Drawing. `render` is a pure function of `App` (which already holds the snapshot, the
//! copied telemetry tails and the clock): no I/O, no waiting, no locks.

mod agents;
mod chrome;
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
    buf.set_style(area, app.theme.text);
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
        Route::Events => events::render_view(app, body, buf),
        Route::Types => types(app, body, buf),
        Route::Wizard => {
            if let Some(w) = &app.wizard {
                super::wizard::view::render(app, w, body, buf);
            }
        }
    }
    match (&app.wizard, app.route()) {
        (Some(w), Route::Wizard) => super::wizard::view::footer(app, w, footer, buf),
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

fn types(app: &App, area: Rect, buf: &mut Buffer) {
    let block = frame_block(app, crumbs(app, &["Resource types".into()]));
    let text = vec![
        Line::from("No resource types are loaded in this session."),
        Line::styled(
            "Source, processor and destination types appear here once the server's \
             type registry is connected to the terminal UI.",
            app.theme.muted,
        ),
    ];
    Paragraph::new(text)
        .block(block)
        .wrap(Wrap { trim: true })
        .render(area, buf);
}
