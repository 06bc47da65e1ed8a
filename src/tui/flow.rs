//! A configuration's pipelines drawn as rows of boxes — sources → processors →
//! destinations — with the rate on each edge, a processor's drop share, a destination's
//! failures and queue fill; a silent source, a dropping processor and a failing destination
//! in the theme's warning and error colours, the reason written in the box. Where the boxes
//! do not fit side by side the pipeline folds into a column. Built as lines (pure, from a
//! [`ConfigurationThroughput`]), so the view only scrolls them.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::fmt::{rate, truncate};
use super::theme::Theme;
use crate::fleet::telemetry::Signal;
use crate::throughput::{ComponentThroughput, ConfigurationThroughput, PipelineLayout};

/// Narrowest box drawn side by side; below it the pipeline folds.
const MIN_BOX: usize = 16;
/// Widest box.
const MAX_BOX: usize = 30;
/// The arrow between two columns, with the rate on it.
const ARROW: usize = 9;
/// Left margin of a pipeline's boxes.
const INDENT: usize = 1;
/// A processor dropping more than this share of what it gets is marked.
const DROP_MARK: f64 = 0.01;
/// An exporter queue filled past this share is marked.
const QUEUE_MARK: f64 = 0.5;

/// How a box reads: what it is, its figure, and what is wrong with it (if anything).
#[derive(Debug, Clone)]
struct Boxed {
    title: String,
    main: String,
    note: String,
    note_style: Style,
    border: Style,
    /// Items per second it passes on (the rate on its outgoing edge).
    out: f64,
}

fn signal_of(pipeline: &str) -> Option<Signal> {
    match pipeline.split('/').next()? {
        "logs" => Some(Signal::Logs),
        "metrics" => Some(Signal::Metrics),
        "traces" => Some(Signal::Traces),
        _ => None,
    }
}

/// The short name a box shows: the destination's, else the type in the label's
/// parentheses, else the component ID.
fn short_name(id: &str, row: Option<&ComponentThroughput>) -> String {
    if let Some(d) = row.and_then(|r| r.destination.clone()) {
        return d;
    }
    row.and_then(|r| r.label.as_deref())
        .and_then(|l| l.rsplit_once(" ("))
        .map(|(_, ty)| ty.trim_end_matches(')').to_string())
        .unwrap_or_else(|| id.to_string())
}

/// The place a box came from, e.g. `sources[0]`.
fn place(row: Option<&ComponentThroughput>) -> String {
    row.and_then(|r| r.label.as_deref())
        .map(|l| l.split(" (").next().unwrap_or(l).to_string())
        .unwrap_or_default()
}

fn boxed(t: &Theme, kind: &str, id: &str, row: Option<&ComponentThroughput>) -> Boxed {
    let title = short_name(id, row);
    let Some(r) = row else {
        let joins = id.starts_with("forward/") || id.starts_with("routing/");
        return Boxed {
            title,
            main: if joins {
                "joins pipelines"
            } else {
                "no numbers"
            }
            .to_string(),
            note: String::new(),
            note_style: t.muted,
            border: t.border,
            out: 0.0,
        };
    };
    let (mut note, mut note_style, mut border) = (place(row), t.muted, t.border);
    let mut mark = |text: String, style: Style| {
        note = text;
        note_style = style;
        border = style;
    };
    let main = match kind {
        "receiver" => {
            if r.received <= 0.0 {
                mark("silent".into(), t.warn);
            } else if r.failed > 0.0 {
                mark(format!("failed {}/s", rate(r.failed)), t.err);
            } else if r.refused > 0.0 {
                mark(format!("refused {}/s", rate(r.refused)), t.warn);
            }
            format!("in {}/s", rate(r.received))
        }
        "processor" => {
            let share = if r.received > 0.0 {
                r.dropped / r.received
            } else {
                0.0
            };
            if r.refused > 0.0 {
                mark(format!("refused {}/s", rate(r.refused)), t.warn);
            } else if share > DROP_MARK {
                mark(format!("drops {:.0}%", share * 100.0), t.warn);
            }
            format!("{} → {}/s", rate(r.received), rate(r.out))
        }
        _ => {
            let fill = match (r.queue_size, r.queue_capacity) {
                (Some(s), Some(c)) if c > 0.0 => Some(s / c),
                _ => None,
            };
            if r.failed > 0.0 {
                mark(format!("failed {}/s", rate(r.failed)), t.err);
            } else if let Some(f) = fill.filter(|f| *f >= QUEUE_MARK) {
                mark(format!("queue {:.0}% full", f * 100.0), t.warn);
            } else if let Some(f) = fill {
                note = format!("queue {:.0}%", f * 100.0);
            }
            format!("sent {}/s", rate(r.out))
        }
    };
    Boxed {
        title,
        main,
        note,
        note_style,
        border,
        out: r.out,
    }
}

/// One line of a box `w` cells wide: 0 top (with the title), 1 figure, 2 note, 3 bottom.
fn box_line(t: &Theme, b: &Boxed, line: usize, w: usize) -> Vec<Span<'static>> {
    let inner = w.saturating_sub(2);
    let pad = |s: &str| fit(s, inner);
    match line {
        0 => {
            let title = truncate(&b.title, inner.saturating_sub(1));
            let used = unicode_width::UnicodeWidthStr::width(title.as_str());
            vec![
                Span::styled("┌", b.border),
                Span::styled(title, t.title),
                Span::styled(
                    format!("{}┐", "─".repeat(inner.saturating_sub(used))),
                    b.border,
                ),
            ]
        }
        1 => vec![
            Span::styled("│", b.border),
            Span::styled(pad(&b.main), t.text),
            Span::styled("│", b.border),
        ],
        2 => vec![
            Span::styled("│", b.border),
            Span::styled(pad(&b.note), b.note_style),
            Span::styled("│", b.border),
        ],
        _ => vec![Span::styled(format!("└{}┘", "─".repeat(inner)), b.border)],
    }
}

/// The arrow between two columns on a box's figure line, carrying `items` per second.
fn arrow(t: &Theme, items: f64) -> Span<'static> {
    let label = format!(" {} ", rate(items));
    let body = ARROW - 1;
    let used = unicode_width::UnicodeWidthStr::width(label.as_str()).min(body);
    let left = (body - used) / 2;
    let text = format!(
        "{}{}{}▶",
        "─".repeat(left),
        truncate(&label, body),
        "─".repeat(body - used - left)
    );
    Span::styled(text, if items > 0.0 { t.accent } else { t.muted })
}

const BOX_LINES: usize = 4;

/// Every pipeline of the answer as lines for a view `width` cells wide.
pub fn lines(t: &Theme, answer: &ConfigurationThroughput, width: usize) -> Vec<Line<'static>> {
    lines_of(t, &answer.pipelines, &answer.components, width)
}

/// Pipelines and their components' numbers as lines for a view `width` cells wide.
pub fn lines_of(
    t: &Theme,
    pipelines: &[PipelineLayout],
    components: &[ComponentThroughput],
    width: usize,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if pipelines.is_empty() {
        out.push(Line::from(Span::styled(
            " no pipelines: the configuration has not been rendered for an agent yet",
            t.muted,
        )));
        return out;
    }
    for p in pipelines {
        pipeline(t, components, p, width, &mut out);
        out.push(Line::default());
    }
    out.pop();
    out
}

fn pipeline(
    t: &Theme,
    components: &[ComponentThroughput],
    p: &PipelineLayout,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let signal = signal_of(&p.name);
    let find = |id: &str, kind: &str| {
        components
            .iter()
            .find(|r| r.id == id && r.kind == kind && signal.is_none_or(|s| r.signal == s))
    };
    let mut columns: Vec<Vec<Boxed>> = Vec::new();
    columns.push(
        p.receivers
            .iter()
            .map(|id| boxed(t, "receiver", id, find(id, "receiver")))
            .collect(),
    );
    for id in &p.processors {
        columns.push(vec![boxed(t, "processor", id, find(id, "processor"))]);
    }
    columns.push(
        p.exporters
            .iter()
            .map(|id| boxed(t, "exporter", id, find(id, "exporter")))
            .collect(),
    );
    columns.retain(|c| !c.is_empty());
    out.push(Line::from(vec![
        Span::styled(format!(" {}", p.name), t.header),
        Span::styled(
            format!(
                "  {} → {} → {}",
                p.receivers.len(),
                p.processors.len(),
                p.exporters.len()
            ),
            t.muted,
        ),
    ]));
    let n = columns.len();
    let free = width.saturating_sub(INDENT + (n.saturating_sub(1)) * ARROW + 1);
    let w = (free / n.max(1)).min(MAX_BOX);
    let edge = |c: &Vec<Boxed>| c.iter().map(|b| b.out).sum::<f64>();
    if w >= MIN_BOX {
        // Side by side: each column's boxes stacked, arrows on the first box's figure line.
        let height = columns.iter().map(Vec::len).max().unwrap_or(0) * BOX_LINES;
        for r in 0..height {
            let mut spans = vec![Span::raw(" ".repeat(INDENT))];
            for (i, col) in columns.iter().enumerate() {
                match col.get(r / BOX_LINES) {
                    Some(b) => spans.extend(box_line(t, b, r % BOX_LINES, w)),
                    None => spans.push(Span::raw(" ".repeat(w))),
                }
                if i + 1 < n {
                    if r == 1 {
                        spans.push(arrow(t, edge(col)));
                    } else {
                        spans.push(Span::raw(" ".repeat(ARROW)));
                    }
                }
            }
            out.push(Line::from(spans));
        }
    } else {
        // Folded: a line per component, one column under the other, the edge's rate
        // between them.
        let name_w = width.saturating_sub(INDENT + 4).min(22);
        for (i, col) in columns.iter().enumerate() {
            for b in col {
                out.push(Line::from(vec![
                    Span::raw(" ".repeat(INDENT)),
                    Span::styled("▪ ", b.border),
                    Span::styled(pad_to(&b.title, name_w), t.title),
                    Span::styled(pad_to(&b.main, 14), t.text),
                    Span::styled(
                        truncate(&b.note, width.saturating_sub(INDENT + 2 + name_w + 14)),
                        b.note_style,
                    ),
                ]));
            }
            if i + 1 < n {
                let items = edge(col);
                out.push(Line::from(Span::styled(
                    format!("{}↓ {}/s", " ".repeat(INDENT + 2), rate(items)),
                    if items > 0.0 { t.accent } else { t.muted },
                )));
            }
        }
    }
}

/// `s` cut (ending with `…`) or padded with spaces to exactly `w` cells.
fn fit(s: &str, w: usize) -> String {
    let s = truncate(s, w);
    let used = unicode_width::UnicodeWidthStr::width(s.as_str());
    format!("{s}{}", " ".repeat(w.saturating_sub(used)))
}

/// `s` in a column `w` cells wide, its last cell a space (the gap to the next column).
fn pad_to(s: &str, w: usize) -> String {
    match w {
        0 => String::new(),
        _ => format!("{} ", fit(s, w - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::ColorLevel;

    fn row(id: &str, kind: &str, label: &str, dest: Option<&str>) -> ComponentThroughput {
        ComponentThroughput {
            id: id.into(),
            kind: kind.into(),
            step: None,
            label: Some(label.into()),
            destination: dest.map(str::to_string),
            signal: Signal::Logs,
            received: 0.0,
            out: 0.0,
            refused: 0.0,
            dropped: 0.0,
            failed: 0.0,
            queue_size: None,
            queue_capacity: None,
        }
    }

    fn answer() -> ConfigurationThroughput {
        let mut src = row("filelog/source0", "receiver", "sources[0] (filelog)", None);
        src.received = 40.0;
        src.out = 40.0;
        let mut silent = row("otlp/source1", "receiver", "sources[1] (otlp)", None);
        silent.out = 0.0;
        let mut filter = row(
            "filter/processor0",
            "processor",
            "processors[0] (filter)",
            None,
        );
        (filter.received, filter.out, filter.dropped) = (40.0, 30.0, 10.0);
        let mut good = row(
            "otlphttp/backend",
            "exporter",
            "destinations[0] (Destination backend)",
            Some("backend"),
        );
        (good.received, good.out) = (30.0, 30.0);
        (good.queue_size, good.queue_capacity) = (Some(10.0), Some(1000.0));
        let mut bad = row(
            "otlphttp/broken",
            "exporter",
            "destinations[1] (Destination broken)",
            Some("broken"),
        );
        (bad.received, bad.failed) = (30.0, 30.0);
        ConfigurationThroughput {
            name: "edge".into(),
            period: 60,
            signal: None,
            agents: 3,
            reporting: 3,
            pipelines: vec![PipelineLayout {
                name: "logs".into(),
                receivers: vec!["filelog/source0".into(), "otlp/source1".into()],
                processors: vec!["filter/processor0".into()],
                exporters: vec!["otlphttp/backend".into(), "otlphttp/broken".into()],
            }],
            components: vec![src, silent, filter, good, bad],
        }
    }

    fn text(lines: &[Line]) -> String {
        lines
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn side_by_side_when_it_fits_with_rates_on_the_edges_and_reasons_in_the_boxes() {
        let t = Theme::fallback(ColorLevel::TrueColor);
        let lines = lines(&t, &answer(), 78);
        let shown = text(&lines);
        assert!(shown.starts_with(" logs  2 → 1 → 2\n"), "{shown}");
        assert!(shown.contains("in 40/s"), "{shown}");
        assert!(
            shown.contains("─ 40 ──▶"),
            "the edge carries the sources' rate:\n{shown}"
        );
        assert!(shown.contains("40 → 30/s"), "{shown}");
        assert!(shown.contains("drops 25%"), "{shown}");
        assert!(shown.contains("silent"), "{shown}");
        assert!(shown.contains("failed 30/s"), "{shown}");
        assert!(shown.contains("sent 30/s"), "{shown}");
        assert!(
            lines.iter().all(|l| l.width() <= 78),
            "nothing wider than the view:\n{shown}"
        );
        // The failing destination's box is drawn in the error colour, the silent source's
        // and the dropping processor's in the warning colour.
        let styled = |needle: &str| {
            lines
                .iter()
                .flat_map(|l| &l.spans)
                .find(|s| s.content.contains(needle))
                .map(|s| s.style)
        };
        assert_eq!(styled("failed 30/s"), Some(t.err));
        assert_eq!(styled("silent"), Some(t.warn));
        assert_eq!(styled("drops 25%"), Some(t.warn));
        insta::assert_snapshot!("flow_side_by_side_78", shown);
    }

    #[test]
    fn a_narrow_view_folds_the_pipeline_into_a_column() {
        let t = Theme::fallback(ColorLevel::TrueColor);
        let mut a = answer();
        a.pipelines[0].processors = vec![
            "filter/processor0".into(),
            "batch/processor1".into(),
            "memory_limiter/processor2".into(),
        ];
        let lines = lines(&t, &a, 50);
        let shown = text(&lines);
        assert!(shown.contains("↓ 40/s"), "{shown}");
        assert!(lines.iter().all(|l| l.width() <= 50), "{shown}");
        assert!(
            shown.contains("no numbers"),
            "a processor without numbers says so:\n{shown}"
        );
        insta::assert_snapshot!("flow_folded_50", shown);
    }
}
