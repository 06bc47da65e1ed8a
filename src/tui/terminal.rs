//! Owning the terminal: raw mode, alternate screen, bracketed paste and (optionally) mouse
//! capture, undone on drop and by a panic hook that restores first and then chains to the
//! previous hook, so a panic message lands on a usable screen.

use std::io::{self, Stdout, stdout};
use std::sync::Once;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Rect, Size};

use super::app::App;
use super::draw;

pub struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    pub fn enter(mouse: bool) -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        let setup = (|| {
            execute!(
                stdout(),
                EnterAlternateScreen,
                EnableBracketedPaste,
                cursor::Hide
            )?;
            if mouse {
                execute!(stdout(), EnableMouseCapture)?;
            }
            let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
            clear(&mut terminal)?;
            Ok(terminal)
        })();
        match setup {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    /// Gives the terminal back for a child program (`$EDITOR`): cooked mode, main screen.
    pub fn suspend(&mut self) -> io::Result<()> {
        restore();
        Ok(())
    }

    /// Takes the terminal again after [`suspend`](Self::suspend) and forces a full redraw.
    /// Mouse capture is not re-enabled here: the editor round trip keeps it off.
    pub fn resume(&mut self) -> io::Result<()> {
        enable_raw_mode()?;
        execute!(
            stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste,
            cursor::Hide
        )?;
        clear(&mut self.terminal)
    }

    pub fn size(&self) -> io::Result<Size> {
        self.terminal.size()
    }

    pub fn draw(&mut self, app: &App) -> io::Result<()> {
        self.terminal
            .draw(|f| {
                let area = f.area();
                draw::render(app, area, f.buffer_mut());
            })
            .map(|_| ())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Clears the screen and makes the next frame draw every cell, without asking the
/// terminal where its cursor is. `Terminal::clear` asks (`ESC [6n`) and waits for the
/// answer through crossterm's shared reader; after the key stream was dropped for the
/// editor, that reader holds a stale wake-up, the wait returns at once with "the cursor
/// position could not be read", and the answer is left on the shell's prompt. A
/// full-screen viewport needs no cursor position: resizing it to the screen's size clears
/// the screen and forgets the last frame.
fn clear(terminal: &mut Terminal<CrosstermBackend<Stdout>>) -> io::Result<()> {
    let size = terminal.size()?;
    terminal.resize(Rect::new(0, 0, size.width, size.height))
}

/// Undoes everything `enter` did. Safe to call more than once.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
}

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
