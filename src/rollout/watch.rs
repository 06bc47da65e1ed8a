//! Rollouts that watch the fleet's telemetry: an agent that applied the new version counts
//! as a success only if, over a watch window after APPLIED, it keeps exporting. Apply
//! errors catch a configuration the Collector refuses; this catches one it accepts and then
//! cannot deliver with (a wrong endpoint, an expired token, a filter that drops everything).
//!
//! Everything here is pure: the runner reads the figures from the telemetry store and
//! stamps the times; [`judge`] turns them into a verdict.

use serde::{Deserialize, Serialize};

/// Longest watch window: the telemetry store keeps an hour, and the rate before the
/// change must still be in it when the window ends.
pub const MAX_WINDOW_SECS: u64 = 1800;
/// Shortest window: two reports of a Collector at its default 10-second interval.
pub const MIN_WINDOW_SECS: u64 = 20;

/// When an agent that applied the new version counts as healthy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchPolicy {
    /// How long to watch each agent after it applied, in seconds.
    pub window_secs: u64,
    /// Highest tolerated share of items that failed to export (0.01 is 1 %).
    #[serde(default = "default_failures")]
    pub max_export_failures: f64,
    /// Largest tolerated fall of the outgoing rate against the agent's own rate before the
    /// change (0.5 is 50 %; 1 accepts anything).
    #[serde(default = "default_drop")]
    pub max_throughput_drop: f64,
}

fn default_failures() -> f64 {
    0.05
}

fn default_drop() -> f64 {
    0.5
}

impl WatchPolicy {
    /// A policy with the default thresholds (5 % export failures, a 50 % drop).
    pub fn for_window(window_secs: u64) -> WatchPolicy {
        WatchPolicy {
            window_secs,
            max_export_failures: default_failures(),
            max_throughput_drop: default_drop(),
        }
    }

    /// What is wrong with it, if anything, naming the field.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if !(MIN_WINDOW_SECS..=MAX_WINDOW_SECS).contains(&self.window_secs) {
            return Some((
                "window_secs",
                format!(
                    "the watch window must be {MIN_WINDOW_SECS}-{MAX_WINDOW_SECS} seconds, got {}",
                    self.window_secs
                ),
            ));
        }
        for (field, v) in [
            ("max_export_failures", self.max_export_failures),
            ("max_throughput_drop", self.max_throughput_drop),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Some((field, format!("{field} is a share from 0 to 1, got {v}")));
            }
        }
        None
    }

    /// The part of the window the verdict is taken over: its second half. A Collector that
    /// restarts with the new configuration takes a report or two before its rates say
    /// anything about it, and until then the rate from before the change still holds.
    pub fn judged_from(&self, applied_at: u64) -> u64 {
        applied_at + self.window_secs / 2
    }

    /// Where the rate before the change is taken from: the window's length (at least a
    /// minute) up to the second the new version was sent.
    pub fn baseline(&self, sent_at: u64) -> (u64, u64) {
        let span = self.window_secs.max(60);
        (sent_at.saturating_sub(span), sent_at.saturating_sub(1))
    }
}

/// An agent's outgoing traffic over a span of seconds, summed over the signals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Mean items sent per second.
    pub sent: f64,
    /// Mean items per second that failed to export.
    pub failed: f64,
}

impl Traffic {
    /// Share of the items it tried to export that failed (0 when it tried none).
    pub fn failure_share(&self) -> f64 {
        let tried = self.sent + self.failed;
        if tried > 0.0 {
            self.failed / tried
        } else {
            0.0
        }
    }
}

/// What the telemetry store says about one agent around the change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WatchFigures {
    /// Before the new version was sent; `None` when the agent reported nothing then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Traffic>,
    /// Over the judged part of the window; `None` when it reported nothing in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Traffic>,
}

impl WatchFigures {
    /// Fall of the outgoing rate against the rate before (0 when it did not fall, `None`
    /// when there is nothing to compare with).
    pub fn drop_share(&self) -> Option<f64> {
        let before = self.before?.sent;
        if before <= 0.0 {
            return None;
        }
        let after = self.after.map_or(0.0, |t| t.sent);
        Some(((before - after) / before).max(0.0))
    }

    /// One line for people: "sent 0/s (was 312/s), export failures 100%".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.after, self.before) {
            (Some(a), Some(b)) => {
                parts.push(format!("sent {}/s (was {}/s)", rate(a.sent), rate(b.sent)))
            }
            (Some(a), None) => parts.push(format!("sent {}/s", rate(a.sent))),
            (None, Some(b)) => parts.push(format!(
                "no telemetry since the change (sent {}/s before)",
                rate(b.sent)
            )),
            (None, None) => parts.push("no telemetry".to_string()),
        }
        if let Some(a) = self.after {
            parts.push(format!("export failures {}", percent(a.failure_share())));
        }
        parts.join(", ")
    }
}

/// What the watch concluded about one agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Healthy,
    /// Why, with the figures, for the events pane and the rollout view.
    Unhealthy(String),
    /// The agent reports no telemetry, so there is nothing to judge: it counts as applied
    /// and the view says it was not watched.
    Unwatched,
}

/// The verdict of `policy` on `figures`.
pub fn judge(policy: &WatchPolicy, figures: &WatchFigures) -> Verdict {
    let Some(after) = figures.after else {
        return match figures.before {
            // It reported before and went silent: its own telemetry broke with the change,
            // or the Collector is not running.
            Some(b) if b.sent > 0.0 => Verdict::Unhealthy(format!(
                "{}, more than the {} drop tolerated",
                figures.describe(),
                percent(policy.max_throughput_drop)
            )),
            _ => Verdict::Unwatched,
        };
    };
    let failures = after.failure_share();
    if failures > policy.max_export_failures {
        return Verdict::Unhealthy(format!(
            "{}, more than the {} export failures tolerated",
            figures.describe(),
            percent(policy.max_export_failures)
        ));
    }
    if let Some(drop) = figures.drop_share()
        && drop > policy.max_throughput_drop
    {
        return Verdict::Unhealthy(format!(
            "{}: a {} drop, more than the {} tolerated",
            figures.describe(),
            percent(drop),
            percent(policy.max_throughput_drop)
        ));
    }
    Verdict::Healthy
}

/// A watch window as people write it: `90`, `90s`, `2m`, `1m30s`, `1h` (seconds when no
/// unit is given).
pub fn parse_window(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || format!("'{text}' is not a duration (e.g. 60s, 2m, 1m30s)");
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(secs);
    }
    let (mut total, mut rest) = (0u64, t);
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A share written as a percentage, `1%`, `0.5%` or `50` (percent either way), as 0..=1.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        Ok(_) => Err(format!("'{text}' is not a percentage from 0% to 100%")),
        Err(_) => Err(format!("'{text}' is not a percentage (e.g. 1% or 0.5%)")),
    }
}

/// "0.5%", "12%", "100%".
pub fn percent(share: f64) -> String {
    let p = (share * 1000.0).round() / 10.0;
    if p != 0.0 && p.abs() < 10.0 && p.fract() != 0.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

fn rate(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> WatchPolicy {
        WatchPolicy {
            window_secs: 60,
            max_export_failures: 0.01,
            max_throughput_drop: 0.5,
        }
    }

    fn traffic(sent: f64, failed: f64) -> Option<Traffic> {
        Some(Traffic { sent, failed })
    }

    #[test]
    fn an_agent_that_keeps_exporting_is_healthy() {
        let f = WatchFigures {
            before: traffic(300.0, 0.0),
            after: traffic(280.0, 1.0),
        };
        assert_eq!(judge(&policy(), &f), Verdict::Healthy);
    }

    #[test]
    fn export_failures_over_the_threshold_are_named_with_the_figures() {
        let f = WatchFigures {
            before: traffic(300.0, 0.0),
            after: traffic(0.0, 310.0),
        };
        let Verdict::Unhealthy(why) = judge(&policy(), &f) else {
            panic!("failing every export must be unhealthy");
        };
        assert_eq!(
            why,
            "sent 0/s (was 300/s), export failures 100%, more than the 1% export failures tolerated"
        );
    }

    #[test]
    fn a_fall_in_throughput_past_the_share_is_unhealthy_and_a_rise_is_not() {
        let fell = WatchFigures {
            before: traffic(300.0, 0.0),
            after: traffic(100.0, 0.0),
        };
        let Verdict::Unhealthy(why) = judge(&policy(), &fell) else {
            panic!("a 67% drop is more than 50%");
        };
        assert!(why.contains("a 67% drop"), "{why}");
        let rose = WatchFigures {
            before: traffic(100.0, 0.0),
            after: traffic(900.0, 0.0),
        };
        assert_eq!(judge(&policy(), &rose), Verdict::Healthy);
        let tolerant = WatchPolicy {
            max_throughput_drop: 1.0,
            ..policy()
        };
        assert_eq!(judge(&tolerant, &fell), Verdict::Healthy);
    }

    #[test]
    fn silence_after_the_change_is_a_full_drop_and_silence_throughout_is_unwatched() {
        let silent = WatchFigures {
            before: traffic(50.0, 0.0),
            after: None,
        };
        let Verdict::Unhealthy(why) = judge(&policy(), &silent) else {
            panic!("an agent that stopped reporting is not healthy");
        };
        assert!(why.starts_with("no telemetry since the change"), "{why}");
        assert_eq!(
            judge(&policy(), &WatchFigures::default()),
            Verdict::Unwatched
        );
        // No traffic before: nothing to compare a drop with, failures still count.
        let new = WatchFigures {
            before: None,
            after: traffic(10.0, 0.0),
        };
        assert_eq!(judge(&policy(), &new), Verdict::Healthy);
    }

    #[test]
    fn policies_out_of_range_name_their_field() {
        let short = WatchPolicy {
            window_secs: 5,
            ..policy()
        };
        assert_eq!(short.problem().map(|p| p.0), Some("window_secs"));
        let odd = WatchPolicy {
            max_export_failures: 1.5,
            ..policy()
        };
        assert_eq!(odd.problem().map(|p| p.0), Some("max_export_failures"));
        assert_eq!(policy().problem(), None);
    }

    #[test]
    fn windows_and_percentages_parse_as_written() {
        assert_eq!(parse_window("90"), Ok(90));
        assert_eq!(parse_window("60s"), Ok(60));
        assert_eq!(parse_window("2m"), Ok(120));
        assert_eq!(parse_window("1m30s"), Ok(90));
        assert_eq!(parse_window("1h"), Ok(3600));
        for bad in ["", "m", "10x", "1.5m", "-3s"] {
            let err = parse_window(bad).unwrap_err();
            assert!(err.contains("not a duration"), "{bad}: {err}");
        }
        assert_eq!(parse_percent("1%"), Ok(0.01));
        assert_eq!(parse_percent("50"), Ok(0.5));
        assert_eq!(parse_percent(" 0.5 %"), Ok(0.005));
        assert!(parse_percent("150%").unwrap_err().contains("0% to 100%"));
        assert!(
            parse_percent("lots")
                .unwrap_err()
                .contains("not a percentage")
        );
    }

    #[test]
    fn percentages_read_naturally() {
        assert_eq!(percent(0.005), "0.5%");
        assert_eq!(percent(0.01), "1%");
        assert_eq!(percent(0.6667), "67%");
        assert_eq!(percent(1.0), "100%");
    }
}
