//! The terminal UI (issue 7): the only code that names ratatui or crossterm.
