//! The terminal UI: the only code that names ratatui or crossterm.
//!
//! Data flows one way: the fleet registry publishes snapshots on a `watch` and events on
//! a `broadcast`; the loop here swaps them into [`App`], marks the screen dirty and draws
//! at most ~30 times a second. Keys become [`Action`]s through the [`Keymap`]; `App`
//! routes them to the view shown, which may return [`Effect`]s that [`effects`] carries
//! out. Drawing ([`draw::render`]) is a pure function of `App`. The TUI part of
//! ARCHITECTURE.md maps the folders and which file may name which.

pub mod action;
pub mod agents;
pub mod app;
pub mod chrome;
pub mod configs;
pub mod confirm;
pub mod detail;
pub mod draw;
pub mod effects;
pub mod events;
pub mod flash;
pub mod flow;
pub mod fmt;
pub mod input;
pub mod keymap;
pub mod layout;
pub mod link;
pub mod palette;
pub mod resource_types;
pub mod services;
pub mod svg;
pub mod tap;
pub mod telemetry;
mod terminal;
pub mod testing;
pub mod theme;
pub mod topology;
pub mod widgets;
pub mod wizard;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::fleet::{FleetEvent, FleetSnapshot};

pub use action::{Action, SortKey};
pub use app::{App, AppConfig};
pub use effects::Effect;
pub use keymap::Keymap;
pub use link::{Link, LinkState};
pub use services::{Local, Services};
pub use telemetry::{StoreAt, TelemetrySource};
pub use theme::{ColorLevel, Theme};
pub use widgets::ServerInfo;

/// Frames are drawn only when something changed, and at most this often.
const FRAME: Duration = Duration::from_millis(33);

/// The `[tui]` part of the settings.
#[derive(Debug, Clone, Default)]
pub struct TuiSettings {
    /// `dark` (default), `light`, `high-contrast` or `mono`. `NO_COLOR` forces `mono`.
    pub theme: Option<String>,
    /// Action name → key or list of keys, e.g. `quit = "x"`.
    pub keymap: toml::Table,
    /// Capture the mouse (wheel scrolls, click selects). Off by default so the terminal's
    /// own text selection keeps working.
    pub mouse: bool,
    /// Where these settings came from (a file path), for warnings.
    pub origin: String,
    /// Problems already found while reading the settings, shown in the UI.
    pub warnings: Vec<String>,
}

/// Everything the UI needs from the rest of the program. The same UI runs on the fleet
/// in this process and on one it is attached to (`fleetdeck attach`): what differs is
/// who fills the snapshot `watch`, the event `broadcast` and the telemetry, and which
/// [`Services`] carry out effects.
pub struct TuiContext {
    pub snapshot: watch::Receiver<Arc<FleetSnapshot>>,
    pub events: broadcast::Receiver<FleetEvent>,
    /// Sparkline tails (the live store, or what an attached server sent).
    pub telemetry: Arc<dyn TelemetrySource + Send + Sync>,
    pub server_info: ServerInfo,
    pub settings: TuiSettings,
    /// Cancelled by the UI when the user quits; the UI also stops when it is cancelled.
    pub shutdown: CancellationToken,
    /// Commands to agents, configurations, rollouts: what effects are carried out with.
    pub services: Arc<dyn Services>,
    /// Set when the fleet is on another server: which, and whether its stream is live.
    pub link: Option<watch::Receiver<Link>>,
}

/// Runs the UI until the user quits or `shutdown` is cancelled. Takes over the terminal
/// (raw mode, alternate screen) and restores it on return, on error and on panic.
/// Nothing may print to stdout or stderr meanwhile: send logs to a file.
pub async fn run(ctx: TuiContext) -> anyhow::Result<()> {
    let keymap = Keymap::with_overrides(&ctx.settings.keymap, &ctx.settings.origin);
    let config = AppConfig {
        server: ctx.server_info.clone(),
        theme: ctx.settings.theme.clone().unwrap_or_else(|| "dark".into()),
        color_level: ColorLevel::from_env(),
        keymap,
        mouse: ctx.settings.mouse,
        warnings: ctx.settings.warnings.clone(),
    };
    let snapshot = ctx.snapshot.borrow().clone();
    let mut app = App::new(config, snapshot, SystemTime::now());
    if let Some(types) = ctx.services.types() {
        app.set_types(types);
    }
    if let Some(link) = &ctx.link {
        app.set_link(Some(link.borrow().clone()));
    }
    let mut term = terminal::TerminalGuard::enter(ctx.settings.mouse)?;
    let size = term.size()?;
    app.resize(size.width, size.height);
    let result = event_loop(&mut app, &mut term, ctx).await;
    drop(term);
    result
}

async fn event_loop(
    app: &mut App,
    term: &mut terminal::TerminalGuard,
    mut ctx: TuiContext,
) -> anyhow::Result<()> {
    let mut input = crossterm::event::EventStream::new();
    let (mut carrier, mut results) = effects::Carrier::with(ctx.services.clone());
    let mut link = ctx.link.take();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut read_events = tokio::time::interval(FRAME);
    read_events.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut snapshots_open, mut events_open) = (true, true);
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    loop {
        if app.should_quit() {
            ctx.shutdown.cancel();
            return Ok(());
        }
        let due = app.due_effects(SystemTime::now());
        carrier.carry_out(app, due);
        let now = Instant::now();
        let next_frame = last_draw.map_or(now, |t| t + FRAME);
        if dirty && now >= next_frame {
            app.set_now(SystemTime::now());
            app.copy_tails(ctx.telemetry.as_ref());
            app.set_redactor(ctx.services.redactor());
            term.draw(app)?;
            dirty = false;
            last_draw = Some(now);
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(()),
            // SIGINT from outside (in raw mode Ctrl-C is a key, which asks first).
            _ = tokio::signal::ctrl_c() => app.quit_now(),
            ev = input.next() => match ev {
                Some(Ok(ev)) => {
                    // Types applied meanwhile show up in the next builder opened.
                    if let Some(types) = ctx.services.types() {
                        app.set_types(types);
                    }
                    let effects = app.handle_event(&ev);
                    if let Some(text) = carrier.carry_out(app, effects) {
                        // The editor needs the terminal and stdin: stop reading keys
                        // (dropping the stream stops crossterm's reader thread), hand the
                        // screen over, and take it back afterwards.
                        drop(input);
                        let mut edited = match term.suspend() {
                            Ok(()) => wizard::io::edit_in_editor(&text).await,
                            Err(e) => Err(format!("cannot leave the screen for the editor: {e}")),
                        };
                        // The server runs in this process: a screen that cannot be taken
                        // back is a message, never the end of the fleet's server.
                        if let Err(e) = term.resume() {
                            tracing::warn!(error = %e, "taking the screen back from the editor");
                            if let Err(e) = term.resume() {
                                edited = Err(format!("the screen could not be taken back from the editor: {e}"));
                            }
                        }
                        input = crossterm::event::EventStream::new();
                        let more = app.wizard_message(wizard::WizardMsg::Edited(edited));
                        carrier.carry_out(app, more);
                    }
                    dirty = true;
                }
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("reading the terminal")),
                None => return Ok(()),
            },
            changed = async { link.as_mut()?.changed().await.ok() }, if link.is_some() => {
                match (changed, &link) {
                    (Some(()), Some(l)) => app.set_link(Some(l.borrow().clone())),
                    // The stream reader has gone: the last state stays shown.
                    _ => link = None,
                }
                dirty = true;
            }
            changed = ctx.snapshot.changed(), if snapshots_open => match changed {
                Ok(()) => {
                    let snap = ctx.snapshot.borrow_and_update().clone();
                    app.set_snapshot(snap);
                    dirty = true;
                }
                Err(_) => snapshots_open = false,
            },
            // Read in batches: a push to 10,000 agents sends 10,000 events within a second,
            // and waking this thread for each costs the registry's thread a system call.
            _ = read_events.tick(), if events_open => loop {
                match ctx.events.try_recv() {
                    Ok(ev) => app.push_event(ev),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => app.events_missed(n),
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Closed) => {
                        events_open = false;
                        break;
                    }
                }
                dirty = true;
            },
            Some(msg) = results.wizard.recv() => {
                let more = app.wizard_message(msg);
                carrier.carry_out(app, more);
                dirty = true;
            }
            Some(msg) = results.configs.recv() => {
                let more = app.configs_message(msg);
                carrier.carry_out(app, more);
                dirty = true;
            }
            Some(msg) = results.history.recv() => {
                app.history_loaded(msg);
                dirty = true;
            }
            Some(msg) = results.flow.recv() => {
                app.flow_loaded(msg);
                dirty = true;
            }
            Some(msg) = results.tap.recv() => {
                app.tap_loaded(msg);
                dirty = true;
            }
            // Ages, clocks and sparklines move every second even when nothing else does.
            _ = tick.tick() => dirty = true,
            _ = tokio::time::sleep_until(next_frame.into()), if dirty => {}
        }
    }
}
