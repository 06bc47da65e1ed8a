//! What every view draws with: [`DrawCx`] (the theme, the clock, the screen size, the
//! fleet and the telemetry copied for this frame) and the pieces views share — the
//! bordered frame with its breadcrumb title, segments that give way when a line is too
//! narrow, sparkline colours and YAML colouring. Views draw from their own state and a
//! `DrawCx`, never from the driver (`App`), so each can be read on its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};
use unicode_width::UnicodeWidthStr;

use super::keymap::Keymap;
use super::telemetry::{Signal, Tails};
use super::theme::Theme;
use crate::fleet::snapshot::FleetSnapshot;
use crate::pipeline::Redactor;

/// What the header and the empty-fleet hint show about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The agent listener (OpAMP and OTLP).
    pub listen: SocketAddr,
    /// The management API listener.
    pub api_listen: SocketAddr,
    /// The URL agents are told to use (`--public-url`).
    pub public_url: String,
    /// Where the agent secret is stored, so the hint can point at it.
    pub secret_file: PathBuf,
    pub version: String,
}

/// Everything a view reads besides its own state, borrowed for one frame.
#[derive(Clone, Copy)]
pub struct DrawCx<'a> {
    pub theme: &'a Theme,
    pub now: SystemTime,
    /// The terminal size (width, height).
    pub size: (u16, u16),
    pub snapshot: &'a FleetSnapshot,
    /// Telemetry copied for the agents on screen.
    pub tails: &'a Tails,
    /// For key names in hints ("n creates one").
    pub keymap: &'a Keymap,
    pub server: &'a ServerInfo,
    /// Hides known secrets in effective configurations agents report.
    pub redactor: &'a Redactor,
}

/// A bordered block with a breadcrumb title, as every view uses.
pub fn frame_block<'a>(t: &Theme, title: Line<'a>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(t.border)
        .title(title)
}

/// `Agents › edge-01 › Config`, styled.
pub fn crumbs<'a>(t: &Theme, parts: &[String]) -> Line<'a> {
    let mut spans = vec![Span::raw(" ")];
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", t.muted));
        }
        let style = if i + 1 == parts.len() {
            t.title
        } else {
            t.accent
        };
        spans.push(Span::styled(p.clone(), style));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// Keeps the segments that fit, most important first (lower rank), and shows the kept
/// ones in their given order; a segment is dropped whole rather than cut.
pub fn fit_segments<'a>(
    segments: Vec<(u8, Vec<Span<'a>>)>,
    width: usize,
    sep: Span<'a>,
) -> Line<'a> {
    let sep_w = sep.content.width();
    let widths: Vec<usize> = segments
        .iter()
        .map(|(_, seg)| seg.iter().map(|s| s.content.width()).sum())
        .collect();
    let mut by_rank: Vec<usize> = (0..segments.len()).collect();
    by_rank.sort_by_key(|i| segments[*i].0);
    let mut keep = vec![false; segments.len()];
    let mut used = 0;
    for i in by_rank {
        let extra = if used == 0 { 0 } else { sep_w };
        if used + extra + widths[i] <= width {
            keep[i] = true;
            used += extra + widths[i];
        }
    }
    let mut spans: Vec<Span<'a>> = Vec::new();
    for (i, (_, seg)) in segments.into_iter().enumerate() {
        if keep[i] {
            if !spans.is_empty() {
                spans.push(sep.clone());
            }
            spans.extend(seg);
        }
    }
    Line::from(spans)
}

/// `line` cut to `width` cells, ending with `…` when something was cut (so a cut text
/// never looks whole); styles are kept.
pub fn fit(line: Line<'_>, width: usize) -> Line<'_> {
    if line.width() <= width {
        return line;
    }
    let mut left = width.saturating_sub(1);
    let mut spans = Vec::new();
    let mut last = line.style;
    for span in line.spans {
        if left == 0 {
            break;
        }
        last = span.style;
        let w = span.content.width();
        if w <= left {
            left -= w;
            spans.push(span);
            continue;
        }
        let mut text = String::new();
        for c in span.content.chars() {
            let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if cw > left {
                break;
            }
            left -= cw;
            text.push(c);
        }
        spans.push(Span::styled(text, span.style));
        left = 0;
    }
    if width > 0 {
        spans.push(Span::styled("…", last));
    }
    Line::from(spans).style(line.style)
}

/// `lines` wrapped to `width` cells: each line longer than that goes on below, indented
/// a little deeper than it started, so everything shown can be read in full (styles are
/// kept).
pub fn wrap_lines(lines: Vec<Line<'static>>, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if line.width() <= width || width < 8 {
            out.push(line);
            continue;
        }
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        let indent = text
            .chars()
            .take_while(|c| *c == ' ')
            .count()
            .min(width / 2)
            + 2;
        let mut current: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        for span in line.spans {
            let mut piece = String::new();
            for c in span.content.chars() {
                let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if used + cw > width {
                    if !piece.is_empty() {
                        current.push(Span::styled(std::mem::take(&mut piece), span.style));
                    }
                    out.push(Line::from(std::mem::take(&mut current)).style(line.style));
                    current.push(Span::raw(" ".repeat(indent)));
                    used = indent;
                }
                piece.push(c);
                used += cw;
            }
            if !piece.is_empty() {
                current.push(Span::styled(piece, span.style));
            }
        }
        if !current.is_empty() {
            out.push(Line::from(current).style(line.style));
        }
    }
    out
}

/// The colour of a signal's sparklines.
pub fn spark_style(t: &Theme, s: Signal) -> Style {
    match s {
        Signal::Logs => t.spark_logs,
        Signal::Metrics => t.spark_metrics,
        Signal::Traces => t.spark_traces,
    }
}

/// Light YAML colouring: comments, keys, and the rest as text.
pub fn yaml_spans(t: &Theme, line: &str) -> Vec<Span<'static>> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return vec![Span::styled(line.to_string(), t.yaml_comment)];
    }
    let indent = &line[..line.len() - trimmed.len()];
    let body = trimmed.strip_prefix("- ").map_or(trimmed, |b| b);
    let dash = if body.len() != trimmed.len() {
        "- "
    } else {
        ""
    };
    match body.split_once(':') {
        Some((key, rest))
            if !key.is_empty()
                && !key.contains(' ')
                && (rest.is_empty() || rest.starts_with(' ')) =>
        {
            vec![
                Span::raw(format!("{indent}{dash}")),
                Span::styled(format!("{key}:"), t.yaml_key),
                Span::styled(rest.to_string(), t.text),
            ]
        }
        _ => vec![Span::styled(line.to_string(), t.text)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn cut_lines_end_with_an_ellipsis_and_wrapped_ones_keep_everything() {
        let line = Line::from(vec![Span::raw("error: "), Span::raw("connection refused")]);
        assert_eq!(text(&fit(line.clone(), 12)), "error: conn…");
        assert_eq!(text(&fit(line.clone(), 40)), "error: connection refused");
        let wrapped = wrap_lines(vec![line], 12);
        let all: Vec<String> = wrapped.iter().map(text).collect();
        assert_eq!(all, ["error: conne", "  ction refu", "  sed"]);
    }
}
