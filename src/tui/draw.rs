//! Drawing the whole screen: the header, the view that has the keyboard, the footer, and
//! the overlays (palette completions, help). `render` is a pure function of `App` (which
//! already holds the snapshot, the copied telemetry tails and the clock): no I/O, no
//! waiting, no locks. Each view draws itself from its own state and a `DrawCx`.

use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::app::{App, Route};
use super::input::Input;
use super::{agents, chrome, configs, detail, events, layout, resource_types, wizard};
use crate::pipeline::TypeRegistry;

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
    let cx = app.draw_cx();
    match app.route() {
        Route::Agents => agents::draw::render(&cx, &app.agents, &app.events, body, buf),
        Route::Detail(id) => detail::draw::render(&cx, &app.detail, id, body, buf),
        Route::Tap(id) => super::tap::draw::render(&cx, &app.tap, id, body, buf),
        Route::Configs => configs::draw::render(&cx, &app.configs, body, buf),
        Route::ConfigDetail => configs::draw::render_detail(&cx, &app.configs, body, buf),
        Route::Events => events::draw::render_view(&cx, &app.events, body, buf),
        Route::Types => {
            let types = app
                .types
                .clone()
                .unwrap_or_else(|| Arc::new(TypeRegistry::builtin()));
            resource_types::render(&cx, &types, app.types_scroll, body, buf)
        }
        Route::Topology => super::topology::render(&cx, &app.topology, &app.tails, body, buf),
        Route::Wizard => {
            if let Some(w) = &app.wizard {
                wizard::draw::render(&cx, w, body, buf);
            }
        }
    }
    chrome::footer(app, footer, buf);
    if matches!(app.input, Some(Input::Palette { .. })) {
        chrome::palette_popup(app, body, buf);
    }
    if let Some(scroll) = app.help {
        chrome::help(app, scroll, body, buf);
    }
    if let Some(c) = &app.confirm {
        chrome::confirm(app, &c.ask, body, buf);
    }
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
