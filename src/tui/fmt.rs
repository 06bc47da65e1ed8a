//! Small text formatters shared by the views: rates, sizes, ages, clock times,
//! sparkline strings and truncation. All pure; times are relative to a given "now".

use std::time::{SystemTime, UNIX_EPOCH};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A rate in at most four characters: `7`, `2.5`, `999`, `1.2k`, `48k`, `3.1M`.
pub fn rate(v: f64) -> String {
    // Not `max(0.0)`: an empty sum is -0.0, which printed as "-0" (and NaN counts as 0).
    let v = if v > 0.0 { v } else { 0.0 };
    if v < 10.0 && v.fract() != 0.0 {
        format!("{v:.1}")
    } else if v < 1_000.0 {
        format!("{v:.0}")
    } else {
        let (scaled, unit) = if v < 1e6 {
            (v / 1e3, 'k')
        } else if v < 1e9 {
            (v / 1e6, 'M')
        } else {
            (v / 1e9, 'G')
        };
        if scaled < 9.95 {
            format!("{scaled:.1}{unit}")
        } else {
            format!("{:.0}{unit}", scaled.min(999.0))
        }
    }
}

/// Bytes in at most five characters: `512B`, `12K`, `1.2M`, `3.4G`.
pub fn bytes(v: f64) -> String {
    let units = ['B', 'K', 'M', 'G', 'T'];
    let mut v = v.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit < units.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit > 0 && v < 9.95 {
        format!("{v:.1}{}", units[unit])
    } else {
        format!("{v:.0}{}", units[unit])
    }
}

/// How long ago `then` was, in one unit: `0s`, `42s`, `5m`, `3h`, `12d`.
pub fn age(now: SystemTime, then: SystemTime) -> String {
    let secs = now.duration_since(then).map(|d| d.as_secs()).unwrap_or(0);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// Wall-clock time of day, UTC: `14:03:27`.
pub fn clock(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// A sparkline of exactly `width` cells from the newest values, scaled to their maximum.
/// Missing history is blank, so a new agent's line grows in from the right.
pub fn spark(values: &[f64], width: usize) -> String {
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().fold(0.0_f64, f64::max);
    let mut out = String::with_capacity(width * 3);
    out.extend(std::iter::repeat_n(' ', width - tail.len()));
    for v in tail {
        let level = if max > 0.0 {
            ((v.max(0.0) / max) * 7.0).round() as usize
        } else {
            0
        };
        out.push(BARS[level.min(7)]);
    }
    out
}

/// A sparkline of `cells` cells over the newest values: each cell is the mean of
/// `per_cell` values (the last cell ends with the newest), drawn against `max` (a scale
/// the caller picks over a longer window, so a steady rate is not always full height and
/// a change stays visible while it is in the window). Missing history is blank.
pub fn spark_scaled(values: &[f64], cells: usize, per_cell: usize, max: f64) -> String {
    let per_cell = per_cell.max(1);
    let mut out: Vec<char> = Vec::with_capacity(cells);
    let mut end = values.len();
    for _ in 0..cells {
        if end == 0 {
            out.push(' ');
            continue;
        }
        let start = end.saturating_sub(per_cell);
        let chunk = &values[start..end];
        let mean = chunk.iter().sum::<f64>() / chunk.len() as f64;
        let level = if max > 0.0 {
            ((mean.max(0.0) / max) * 7.0).round() as usize
        } else {
            0
        };
        out.push(BARS[level.min(7)]);
        end = start;
    }
    out.iter().rev().collect()
}

/// The largest of the newest `window` values (0 when there are none).
pub fn peak(values: &[f64], window: usize) -> f64 {
    values[values.len().saturating_sub(window)..]
        .iter()
        .copied()
        .fold(0.0_f64, f64::max)
}

/// Cuts `s` to `width` display cells, ending with `…` when something was cut.
pub fn truncate(s: &str, width: usize) -> String {
    let total: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Splits `text` into lines of at most `width` cells at spaces; a word longer than a
/// line is cut.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let sep = usize::from(!line.is_empty());
        if !line.is_empty() && line.width() + sep + word.width() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.width() > width {
            let head = truncate(&line, width + 1);
            let head: String = head.chars().take(head.chars().count() - 1).collect();
            let rest = line[head.len()..].to_string();
            lines.push(head);
            line = rest;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_fit_four_cells() {
        for (v, want) in [
            (0.0, "0"),
            (2.5, "2.5"),
            (999.0, "999"),
            (1234.0, "1.2k"),
            (48_000.0, "48k"),
            (3_100_000.0, "3.1M"),
            (-5.0, "0"),
            (-0.0, "0"),
            (f64::NAN, "0"),
        ] {
            assert_eq!(rate(v), want);
        }
        assert_eq!(bytes(512.0 * 1024.0 * 1024.0), "512M");
        assert_eq!(bytes(1.5 * 1024.0 * 1024.0 * 1024.0), "1.5G");
    }

    #[test]
    fn ages_and_clock() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(age(t0 + Duration::from_secs(42), t0), "42s");
        assert_eq!(age(t0 + Duration::from_secs(7200), t0), "2h");
        assert_eq!(age(t0, t0 + Duration::from_secs(5)), "0s");
        assert_eq!(clock(t0), "22:13:20");
    }

    #[test]
    fn scaled_sparklines_average_each_cell_and_keep_a_longer_scale() {
        // Steady traffic under an earlier peak is not drawn full height.
        let mut v = vec![100.0; 10];
        v.extend([50.0; 8]);
        assert_eq!(spark_scaled(&v, 4, 2, peak(&v, 18)), "▅▅▅▅");
        // A drop a few seconds ago stays visible next to the steady rate.
        let mut v = vec![80.0; 12];
        v.extend([20.0, 20.0, 80.0, 80.0]);
        assert_eq!(spark_scaled(&v, 4, 4, 80.0), "███▅");
        assert_eq!(spark_scaled(&v[12..], 4, 4, 80.0), "   ▅");
        assert_eq!(spark_scaled(&[], 3, 5, 0.0), "   ");
        assert_eq!(peak(&[1.0, 9.0, 2.0], 2), 9.0);
        assert_eq!(peak(&[1.0, 9.0, 2.0], 1), 2.0);
    }

    #[test]
    fn sparklines_scale_to_their_maximum_and_grow_from_the_right() {
        assert_eq!(spark(&[0.0, 1.0, 2.0], 5), "  ▁▅█");
        assert_eq!(spark(&[5.0; 8], 4), "████");
        assert_eq!(spark(&[0.0, 0.0], 2), "▁▁");
        assert_eq!(truncate("edge-collector-01", 8), "edge-co…");
        assert_eq!(truncate("short", 8), "short");
        assert_eq!(
            wrap("connection refused by peer", 12),
            ["connection", "refused by", "peer"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
    }
}
