//! How client commands print: tables that fit the terminal, or JSON / YAML documents.

use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::args::OutputFormat;

const GAP: usize = 3;
/// No column is squeezed below this (or its header), so every column stays readable.
const MIN_COLUMN: usize = 6;

/// Columns of text with headers; long cells are cut with `…` to fit the width.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines no wider than `width` (when given and reachable).
    pub fn render(&self, width: Option<usize>) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().take(n).enumerate() {
                widths[i] = widths[i].max(cell_text(c).width());
            }
        }
        if let Some(max) = width {
            fit(
                &mut widths,
                &self.headers,
                max.saturating_sub(GAP * n.saturating_sub(1)),
            );
        }
        let mut out = String::new();
        for cells in std::iter::once(&self.headers).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                let c = cells.get(i).map(|c| cell_text(c)).unwrap_or_default();
                let text = truncate(&c, *w);
                line.push_str(&text);
                if i + 1 < n {
                    line.push_str(&" ".repeat(w - text.width() + GAP));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render(terminal_width()));
    }
}

/// Tabs and newlines would break the columns.
fn cell_text(c: &str) -> String {
    c.replace(['\n', '\t', '\r'], " ")
}

/// Narrows the last column first (free text: labels, descriptions), then the widest ones,
/// until the sum fits `room` or no column can give more.
fn fit(widths: &mut [usize], headers: &[String], room: usize) {
    let floor: Vec<usize> = headers
        .iter()
        .zip(widths.iter())
        .map(|(h, w)| (*w).min(h.width().max(MIN_COLUMN)))
        .collect();
    let mut total: usize = widths.iter().sum();
    if let (Some(last), Some(min)) = (widths.last_mut(), floor.last()) {
        let give = (total.saturating_sub(room)).min(*last - min);
        *last -= give;
        total -= give;
    }
    while total > room {
        let widest = (0..widths.len())
            .filter(|&i| widths[i] > floor[i])
            .max_by_key(|&i| (widths[i], std::cmp::Reverse(i)));
        let Some(i) = widest else { break };
        widths[i] -= 1;
        total -= 1;
    }
}

/// Cuts `s` to `width` columns, ending with `…` when something was cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(ch);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// `COLUMNS` when set, else the terminal's width; `None` when stdout is not a terminal
/// (pipes get whole rows, like kubectl).
pub fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0))
}

/// Prints a value as JSON or YAML (tables are built by each command).
pub fn print_value(format: OutputFormat, v: &Value) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json | OutputFormat::Table => {
            println!("{}", serde_json::to_string_pretty(v)?)
        }
        OutputFormat::Yaml => print!("{}", yaml(v)?),
    }
    Ok(())
}

pub fn yaml(v: &Value) -> anyhow::Result<String> {
    Ok(serde_norway::to_string(v)?)
}

/// Prints YAML documents separated by `---`, ready for `fleetdeck apply -f -`.
pub fn print_documents(docs: &[String]) {
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            println!("---");
        }
        print!("{d}");
        if !d.ends_with('\n') {
            println!();
        }
    }
}

/// `12s`, `5m`, `3h`, `2d` since a Unix time in seconds.
pub fn age(unix: u64) -> String {
    if unix == 0 {
        return "-".to_string();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let s = now.saturating_sub(unix);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// A string member, or `-`.
pub fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => "-".to_string(),
    }
}

/// `k=v,k2=v2` from a JSON object.
pub fn labels(v: Option<&Value>) -> String {
    let Some(Value::Object(m)) = v else {
        return String::new();
    };
    m.iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&["ID", "NAME", "LABELS"]);
        t.row(vec![
            "a1b2c3d4".into(),
            "otelcol-contrib".into(),
            "env=prod,region=eu-west-1,tier=web,team=observability".into(),
        ]);
        t.row(vec!["e5f6a7b8".into(), "edge".into(), "env=dev".into()]);
        t
    }

    #[test]
    fn wide_terminals_get_whole_cells() {
        let out = sample().render(Some(200));
        assert!(out.contains("team=observability"), "{out}");
        assert!(!out.contains('…'));
        assert_eq!(out.lines().count(), 3);
    }

    #[test]
    fn narrow_terminals_cut_the_widest_column_first() {
        let out = sample().render(Some(50));
        for line in out.lines() {
            assert!(line.width() <= 50, "{line:?} is {} wide", line.width());
        }
        assert!(
            out.contains("otelcol-contrib"),
            "narrow columns keep their text: {out}"
        );
        assert!(out.contains('…'), "{out}");
    }

    #[test]
    fn columns_never_shrink_below_their_header_or_a_floor() {
        let out = sample().render(Some(5));
        let header = out.lines().next().unwrap();
        assert!(header.contains("ID") && header.contains("NAME") && header.contains("LABELS"));
    }

    #[test]
    fn truncation_counts_display_width() {
        assert_eq!(truncate("日本語テキスト", 7), "日本語…");
        assert_eq!(truncate("short", 10), "short");
    }
}
