//! Screen geometry shared by the state machine (page sizes, mouse hits) and render, so
//! both agree on how many rows a view has at a given terminal size.

/// Smallest terminal the UI draws in; below it a "too small" screen explains why.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
/// From this height the agents view shows the newest events under the table.
const EVENTS_PANE_FROM: u16 = 36;
pub const EVENTS_PANE_HEIGHT: u16 = 8;

/// Column sets for the agents table by terminal width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// 80–119 columns: name, status, health, config, three "in" sparklines, last seen.
    Compact,
    /// 120–159: adds host, version, CPU and memory.
    Standard,
    /// 160 and up: adds "out" sparklines and longer sparklines.
    Wide,
}

impl Tier {
    pub fn of(width: u16) -> Tier {
        match width {
            0..=119 => Tier::Compact,
            120..=159 => Tier::Standard,
            _ => Tier::Wide,
        }
    }

    /// Values per sparkline cell (one per second).
    pub fn spark_width(self) -> usize {
        match self {
            Tier::Compact => 4,
            Tier::Standard => 6,
            Tier::Wide => 6,
        }
    }
}

pub fn too_small(width: u16, height: u16) -> bool {
    width < MIN_WIDTH || height < MIN_HEIGHT
}

pub fn has_events_pane(height: u16) -> bool {
    height >= EVENTS_PANE_FROM
}

/// Agent rows the table shows: the body minus borders, the column header and the
/// events pane.
pub fn agents_rows(_width: u16, height: u16) -> usize {
    let pane = if has_events_pane(height) {
        EVENTS_PANE_HEIGHT
    } else {
        0
    };
    usize::from(height.saturating_sub(2 + 2 + 1 + pane))
}

/// Screen row of the first agent row (header line, border, column header).
pub fn table_first_row_y(_width: u16, _height: u16) -> u16 {
    3
}

/// Rows of the configurations and events lists.
pub fn list_rows(height: u16) -> usize {
    usize::from(height.saturating_sub(2 + 2 + 1))
}

/// Lines of the detail view's scrolling text (below its section tabs).
pub fn detail_rows(_width: u16, height: u16) -> usize {
    usize::from(height.saturating_sub(2 + 2 + 2))
}

/// Values in each chart of the detail view's Telemetry section (two charts a row).
pub fn detail_spark_width(width: u16) -> usize {
    usize::from((width.saturating_sub(2) / 2).saturating_sub(2))
}

/// Lines above the panes of a configuration's detail: summary and rollout.
const CONFIG_SUMMARY_LINES: u16 = 2;

/// Rows of the versions list in a configuration's detail (below its column header).
pub fn config_versions_rows(_width: u16, height: u16) -> usize {
    usize::from(height.saturating_sub(2 + 2 + CONFIG_SUMMARY_LINES + 1))
}

/// Rows of the agents or diff pane in a configuration's detail.
pub fn config_pane_rows(width: u16, height: u16) -> usize {
    config_versions_rows(width, height)
}

/// The offset that keeps `cursor` inside a window of `rows` over `len` items.
pub fn scrolled(offset: usize, cursor: usize, rows: usize, len: usize) -> usize {
    let rows = rows.max(1);
    let mut offset = offset.min(len.saturating_sub(rows));
    if cursor < offset {
        offset = cursor;
    } else if cursor >= offset + rows {
        offset = cursor + 1 - rows;
    }
    offset
}
