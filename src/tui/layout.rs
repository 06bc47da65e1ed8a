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
}

/// Seconds an agents-table sparkline covers: long enough that a change stays in view
/// for a while, however few cells the terminal leaves it.
pub const SPARK_SECONDS: usize = 60;
/// Seconds whose peak sets a row's scale, so a steady rate is drawn against its recent
/// high rather than always full height.
pub const SCALE_SECONDS: usize = 120;

/// Cells of each agents-table sparkline at this terminal width: a few at 80 columns,
/// growing as the terminal widens, within each column set.
pub fn spark_cells(width: u16) -> usize {
    let more =
        |from: u16, per: u16, cap: usize| (usize::from(width.saturating_sub(from) / per)).min(cap);
    match Tier::of(width) {
        Tier::Compact => 4 + more(80, 8, 4),
        Tier::Standard => 6 + more(120, 8, 4),
        Tier::Wide => 6 + more(160, 12, 10),
    }
}

/// Seconds each sparkline cell averages.
pub fn spark_per_cell(cells: usize) -> usize {
    SPARK_SECONDS.div_ceil(cells.max(1))
}

/// Seconds of history the agents table copies per visible agent: what the sparklines
/// show and what sets their scale.
pub fn spark_history(width: u16) -> usize {
    let cells = spark_cells(width);
    (cells * spark_per_cell(cells)).max(SCALE_SECONDS)
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
