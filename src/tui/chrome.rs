//! What surrounds every view: the header line, the footer line (key hints from the
//! keymap, flash messages, the filter or palette being typed), the palette's completion
//! popup and the help overlay. These belong to the driver, so they read `App`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Widget};

use super::action::Action;
use super::app::{App, Route};
use super::confirm;
use super::flash::FlashLevel;
use super::fmt;
use super::input::Input;
use super::keymap::Context;
use super::link::LinkState;
use super::palette;
use super::telemetry::{Series, Signal};
use super::widgets::fit_segments;
use super::wizard::{self, Wizard};

pub fn header(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    buf.set_style(area, t.header);
    let totals = &app.snapshot.totals;
    let fleet = &app.tails.fleet;
    let sum = |f: fn(Signal) -> Series| -> f64 {
        Signal::ALL.iter().filter_map(|s| fleet.latest(f(*s))).sum()
    };
    let (rate_in, rate_out) = (sum(Series::In), sum(Series::Out));
    let mut warnings = Vec::new();
    if totals.unhealthy > 0 {
        warnings.push(format!("{} unhealthy", totals.unhealthy));
    }
    if totals.config_failed > 0 {
        warnings.push(format!("{} config failed", totals.config_failed));
    }
    if !app.warnings.is_empty() {
        warnings.push(format!("{} settings warnings (?)", app.warnings.len()));
    }
    if app.events.missed > 0 {
        warnings.push(format!("{} events missed", app.events.missed));
    }
    let hs = t.header;
    let mut segs: Vec<(u8, Vec<Span>)> = vec![
        (0, vec![Span::styled(" fleetdeck", hs.patch(t.accent))]),
        (
            7,
            vec![Span::styled(format!("v{}", app.server.version), hs)],
        ),
    ];
    if app.frozen {
        segs.push((1, vec![Span::styled("❄ FROZEN", hs.patch(t.warn))]));
    }
    segs.push((
        2,
        vec![
            Span::styled(format!("{}", totals.connected), hs.patch(t.ok)),
            Span::styled(format!("/{} up", totals.agents), hs),
        ],
    ));
    segs.push((
        5,
        vec![Span::styled(
            format!("in {}/s out {}/s", fmt::rate(rate_in), fmt::rate(rate_out)),
            hs,
        )],
    ));
    if !warnings.is_empty() {
        segs.push((
            3,
            vec![Span::styled(
                format!("⚠ {}", warnings.join(", ")),
                hs.patch(t.warn),
            )],
        ));
    }
    if let Some(link) = &app.link {
        // A lost stream is the first thing to know: what is shown is getting old.
        let lost = match &link.state {
            LinkState::Live => None,
            LinkState::Connecting => Some("connecting…".to_string()),
            LinkState::Lost { since, .. } => Some(format!(
                "stream lost {} ago, reconnecting",
                fmt::age(app.now, *since)
            )),
        };
        if let Some(text) = lost {
            segs.push((1, vec![Span::styled(format!("⚠ {text}"), hs.patch(t.warn))]));
        }
        // Attached: the server is elsewhere, and its address is what matters.
        let style = if link.is_live() {
            hs.patch(t.ok)
        } else {
            hs.patch(t.warn)
        };
        segs.push((
            2,
            vec![
                Span::styled("attached ", hs),
                Span::styled(link.server.clone(), style),
            ],
        ));
    } else {
        segs.push((
            4,
            vec![Span::styled(format!("opamp {}", app.server.listen), hs)],
        ));
        segs.push((
            6,
            vec![Span::styled(format!("api {}", app.server.api_listen), hs)],
        ));
    }
    let line = fit_segments(
        segs,
        usize::from(area.width),
        Span::styled(" │ ", hs.patch(t.muted)),
    );
    line.render(area, buf);
}

pub fn footer(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    buf.set_style(area, t.footer);
    let fs = t.footer;
    if let Some(c) = &app.confirm {
        let segs = confirm::hints(&app.keymap, &c.ask)
            .into_iter()
            .flat_map(|(key, label)| {
                [
                    Span::styled(format!(" {key}"), fs.patch(t.key)),
                    Span::styled(format!(" {label} "), fs),
                ]
            })
            .collect::<Vec<_>>();
        Line::from(segs).render(area, buf);
        return;
    }
    let line = match &app.input {
        Some(Input::Filter { text, .. }) => Line::from(vec![
            Span::styled(" / ", fs.patch(t.key)),
            Span::styled(text.clone(), fs),
            Span::styled("▏", fs.patch(t.accent)),
            Span::styled(
                "  enter keep · esc cancel · text, label=value, status=up, !negate",
                fs.patch(t.muted),
            ),
        ]),
        Some(Input::Palette { text }) => Line::from(vec![
            Span::styled(" : ", fs.patch(t.key)),
            Span::styled(text.clone(), fs),
            Span::styled("▏", fs.patch(t.accent)),
            Span::styled(
                palette::ghost(text, &app.palette_names(text)),
                fs.patch(t.muted),
            ),
        ]),
        None => {
            let builder = app.wizard.as_ref().filter(|_| app.route() == Route::Wizard);
            match (&app.flash, builder) {
                // In the builder the message's style covers the whole line.
                (Some(f), Some(_)) => {
                    Line::styled(format!(" {}", f.text), fs.patch(flash_style(app, f.level)))
                }
                (Some(f), None) => Line::from(Span::styled(
                    format!(" {}", f.text),
                    fs.patch(flash_style(app, f.level)),
                )),
                (None, Some(w)) => builder_hints(app, w, usize::from(area.width)),
                (None, None) => hints(app, usize::from(area.width)),
            }
        }
    };
    line.render(area, buf);
}

/// The builder's footer: the keys of the step shown (see `wizard::draw::hints`). What
/// does not fit gives way by rank; the help key (all the keys) always stays, last, where
/// it works: while a text is edited, `?` is typed.
fn builder_hints<'a>(app: &App, w: &Wizard, width: usize) -> Line<'a> {
    let t = &app.theme;
    let help = app
        .keymap
        .key_for(Action::Help)
        .filter(|_| matches!(w.mode, wizard::Mode::Normal))
        .map(|k| (k.to_string(), Action::Help.hint(), 0));
    let segments = wizard::draw::hints(w)
        .into_iter()
        .chain(help)
        .map(|(key, what, rank)| {
            (
                rank,
                vec![
                    Span::styled(key, t.footer.patch(t.key)),
                    Span::styled(format!(" {what}"), t.footer),
                ],
            )
        })
        .collect();
    let mut line = fit_segments(
        segments,
        width.saturating_sub(1),
        Span::styled("  ", t.footer),
    );
    line.spans.insert(0, Span::styled(" ", t.footer));
    line
}

fn hints<'a>(app: &App, width: usize) -> Line<'a> {
    let t = &app.theme;
    let segs = app
        .keymap
        .hints(&app.contexts())
        .into_iter()
        .enumerate()
        .map(|(i, (key, label))| {
            (
                i as u8,
                vec![
                    Span::styled(key, t.footer.patch(t.key)),
                    Span::styled(format!(" {label}"), t.footer),
                ],
            )
        })
        .collect();
    let mut line = fit_segments(segs, width.saturating_sub(1), Span::styled("  ", t.footer));
    line.spans.insert(0, Span::styled(" ", t.footer));
    line
}

/// Completion candidates above the footer while `:` is open.
pub fn palette_popup(app: &App, body: Rect, buf: &mut Buffer) {
    let Some(Input::Palette { text }) = &app.input else {
        return;
    };
    let t = &app.theme;
    let cands = palette::candidates(text, &app.palette_names(text));
    if cands.is_empty() {
        return;
    }
    let lines: Vec<Line> = cands
        .iter()
        .take(8)
        .map(|c| {
            let word = c.split_whitespace().next().unwrap_or("");
            let desc = palette::COMMANDS
                .iter()
                .find(|(n, _)| *n == word)
                .map(|(_, d)| *d)
                .unwrap_or("");
            let desc = if c.contains(' ') { "" } else { desc };
            Line::from(vec![
                Span::styled(format!(" :{c:<22}"), t.popup.patch(t.key)),
                Span::styled(desc.to_string(), t.popup.patch(t.muted)),
            ])
        })
        .collect();
    let h = lines.len() as u16 + 2;
    let w = 64.min(body.width);
    let area = Rect::new(
        body.x,
        body.bottom().saturating_sub(h),
        w,
        h.min(body.height),
    );
    Clear.render(area, buf);
    Paragraph::new(lines)
        .style(t.popup)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Rounded)
                .border_style(t.popup.patch(t.border))
                .title(Span::styled(
                    " commands · tab completes ",
                    t.popup.patch(t.title),
                )),
        )
        .render(area, buf);
}

/// A question over everything: what would happen, and the keys that answer it (from the
/// keymap).
pub fn confirm(app: &App, ask: &confirm::Ask, body: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let w = 64.min(body.width.saturating_sub(2));
    let inner = usize::from(w.saturating_sub(4)).max(1);
    let mut lines: Vec<Line> = Vec::new();
    for text in &ask.lines {
        for l in fmt::wrap(text, inner) {
            lines.push(Line::styled(format!(" {l}"), t.popup));
        }
    }
    lines.push(Line::default());
    let mut keys = vec![Span::raw(" ")];
    for (i, (key, label)) in confirm::hints(&app.keymap, ask).into_iter().enumerate() {
        if i > 0 {
            keys.push(Span::styled(" · ", t.popup.patch(t.muted)));
        }
        keys.push(Span::styled(key, t.popup.patch(t.key)));
        keys.push(Span::styled(format!(" {label}"), t.popup));
    }
    lines.push(Line::from(keys));
    let h = (lines.len() as u16 + 2).min(body.height);
    let area = Rect::new(
        body.x + (body.width - w) / 2,
        body.y + (body.height - h) / 2,
        w,
        h,
    );
    Clear.render(area, buf);
    Paragraph::new(lines)
        .style(t.popup)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Rounded)
                .border_style(t.popup.patch(t.warn))
                .title(Span::styled(
                    format!(
                        " {} ",
                        fmt::truncate(&ask.title, usize::from(w.saturating_sub(4)))
                    ),
                    t.popup.patch(t.warn),
                )),
        )
        .render(area, buf);
}

/// The `?` overlay: every binding of the current view, grouped, generated from the keymap.
pub fn help(app: &App, scroll: usize, body: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    if !app.warnings.is_empty() {
        lines.push(Line::styled("Settings warnings", t.popup.patch(t.warn)));
        for w in &app.warnings {
            lines.push(Line::styled(format!("  {w}"), t.popup.patch(t.warn)));
        }
        lines.push(Line::default());
    }
    // Only the keys that work here, the view's own first: the Agents keys listed in the
    // builder would promise keys that do nothing there.
    // The keys that answer questions work wherever one is asked. In the builder, the
    // step's own keys come first, under what the step is for.
    let mut contexts = app.contexts();
    if let (Route::Wizard, Some(w)) = (app.route(), &app.wizard) {
        lines.push(Line::styled(
            format!("Step {} {}", w.step.number(), w.step.title()),
            t.popup.patch(t.title),
        ));
        lines.push(Line::styled(format!("  {}", w.step.about()), t.popup));
        lines.push(Line::default());
        contexts = w.step_contexts().to_vec();
        contexts.extend([Context::Wizard, Context::Global]);
    }
    contexts.push(Context::Confirm);
    let w = 72.min(body.width.saturating_sub(2));
    let room = usize::from(w).saturating_sub(24);
    for (ctx, rows) in app.keymap.sections(&contexts) {
        lines.push(Line::styled(ctx.title(), t.popup.patch(t.title)));
        for (keys, desc) in rows {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<20}"), t.popup.patch(t.key)),
                Span::styled(fmt::truncate(desc, room), t.popup),
            ]));
        }
        lines.push(Line::default());
    }
    if app.route() == Route::Agents {
        lines.push(Line::styled("Sparklines", t.popup.patch(t.title)));
        for (what, means) in crate::tui::agents::draw::SPARK_LEGEND {
            lines.push(Line::from(vec![
                Span::styled(format!("  {what:<20}"), t.popup.patch(t.key)),
                Span::styled(fmt::truncate(means, room), t.popup),
            ]));
        }
        lines.push(Line::default());
    }
    lines.push(Line::styled("Commands (:)", t.popup.patch(t.title)));
    for (name, desc) in palette::COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(format!("  :{name:<19}"), t.popup.patch(t.key)),
            Span::styled(fmt::truncate(desc, room), t.popup),
        ]));
    }
    let h = (lines.len() as u16 + 2).min(body.height);
    let area = Rect::new(
        body.x + (body.width - w) / 2,
        body.y + (body.height - h) / 2,
        w,
        h,
    );
    let max_scroll = lines.len().saturating_sub(usize::from(h.saturating_sub(2)));
    let scroll = scroll.min(max_scroll) as u16;
    Clear.render(area, buf);
    let more = if max_scroll > 0 { " · j/k scroll" } else { "" };
    Paragraph::new(lines)
        .style(t.popup)
        .scroll((scroll, 0))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Rounded)
                .border_style(t.popup.patch(t.border))
                .title(Span::styled(
                    format!(" help · any key closes{more} "),
                    t.popup.patch(t.title),
                )),
        )
        .render(area, buf);
}

fn flash_style(app: &App, level: FlashLevel) -> Style {
    match level {
        FlashLevel::Info => app.theme.info,
        FlashLevel::Warn => app.theme.warn,
        FlashLevel::Error => app.theme.err,
    }
}
