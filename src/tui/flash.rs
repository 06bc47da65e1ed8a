//! The one-line message the footer shows for a few seconds after something happened
//! (a theme changed, a rollout was paused, a key needs pressing twice).

use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashLevel {
    Info,
    Warn,
    Error,
}

/// The message shown, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub level: FlashLevel,
    pub until: SystemTime,
}

/// A message a view asks the footer to show; the driver decides for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub level: FlashLevel,
    pub text: String,
}

impl Note {
    pub fn info(text: impl Into<String>) -> Note {
        Note {
            level: FlashLevel::Info,
            text: text.into(),
        }
    }

    pub fn warn(text: impl Into<String>) -> Note {
        Note {
            level: FlashLevel::Warn,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Note {
        Note {
            level: FlashLevel::Error,
            text: text.into(),
        }
    }
}
