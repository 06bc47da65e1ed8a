//! One agent in detail, in four sections: Overview (identity, attributes, capabilities,
//! remote config status, packages), Telemetry (a chart per signal, CPU and memory), Health
//! (the component tree) and Config (the effective configuration). The state and what keys
//! do to it live here; `draw.rs` draws it.

pub mod draw;
mod overview;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    #[default]
    Overview,
    Telemetry,
    Health,
    Config,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Overview,
        Section::Telemetry,
        Section::Health,
        Section::Config,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Telemetry => "Telemetry",
            Section::Health => "Health",
            Section::Config => "Config",
        }
    }

    pub fn index(self) -> usize {
        Section::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// The section shown and how far each is scrolled.
#[derive(Debug, Default)]
pub struct DetailState {
    pub section: Section,
    pub scroll: [usize; 4],
}

impl DetailState {
    /// The next section (or the previous one), round the four.
    pub fn next_section(&mut self, forward: bool) {
        let at = self.section.index();
        let step = if forward { 1 } else { 3 };
        self.section = Section::ALL[(at + step) % 4];
    }

    /// Scrolls the section shown by `delta` lines, no further than `max`.
    pub fn scroll_by(&mut self, delta: isize, max: usize) {
        let s = &mut self.scroll[self.section.index()];
        *s = (*s).min(max).saturating_add_signed(delta).min(max);
    }
}
