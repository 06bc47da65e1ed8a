//! The push step's rollout options, as `fleetdeck push` takes them (phases: first size,
//! growth, largest; failures tolerated; what is rolled back), as a small form: one text
//! per option, checked as it is typed, turned into [`RolloutOptions`] when pushing.
//!
//! Adding an option is one entry in [`Options::new`] (its label, help, kind and the value
//! it starts from) and one arm in [`Options::options`] (where it goes).

use crate::rollout::RolloutOptions;
use crate::rollout::plan::RollbackPolicy;
use crate::rollout::watch::{self, WatchPolicy};

/// What an option's text may hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A whole number, at least `min`; `all` means no limit when `all` is set.
    Count { min: usize, all: bool },
    /// A number, at least `min` (a growth factor).
    Number { min: f64 },
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A duration (`60s`, `2m`), or `off`.
    Window,
    /// A percentage (`1%`, `50`).
    Percent,
}

/// Where an option goes in [`RolloutOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Initial,
    Multiplier,
    MaxPerPhase,
    MaxFailures,
    Rollback,
    Watch,
    MaxExportFailures,
    MaxThroughputDrop,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub key: Key,
    pub label: &'static str,
    /// One line shown under the form for the field under the cursor.
    pub help: &'static str,
    pub kind: Kind,
    pub text: String,
}

impl Field {
    /// Whether `text` is a valid value, and if not why (as shown while typing).
    pub fn check(&self, text: &str) -> Result<(), String> {
        let text = text.trim();
        match self.kind {
            Kind::Count { min, all } => {
                if all && text == "all" {
                    return Ok(());
                }
                match text.parse::<usize>() {
                    Ok(n) if n >= min => Ok(()),
                    Ok(_) => Err(format!("at least {min}")),
                    Err(_) if all => Err("a whole number, or all".into()),
                    Err(_) => Err("a whole number".into()),
                }
            }
            Kind::Number { min } => match text.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= min => Ok(()),
                Ok(_) => Err(format!("at least {min}")),
                Err(_) => Err("a number, e.g. 2 or 1.5".into()),
            },
            Kind::Choice(words) => {
                if words.contains(&text) {
                    Ok(())
                } else {
                    Err(format!("one of {}", words.join(", ")))
                }
            }
            Kind::Window if text == "off" => Ok(()),
            Kind::Window => {
                let secs = watch::parse_window(text).map_err(|_| "e.g. 60s, 2m, or off")?;
                let range = watch::MIN_WINDOW_SECS..=watch::MAX_WINDOW_SECS;
                if range.contains(&secs) {
                    Ok(())
                } else {
                    Err(format!(
                        "{}s to {}m, or off",
                        watch::MIN_WINDOW_SECS,
                        watch::MAX_WINDOW_SECS / 60
                    ))
                }
            }
            Kind::Percent => watch::parse_percent(text)
                .map(|_| ())
                .map_err(|_| "0% to 100%".into()),
        }
    }

    /// The next (or previous) word of a choice; other kinds stay as they are.
    pub fn cycle(&mut self, forward: bool) {
        if let Kind::Choice(words) = self.kind {
            let at = words.iter().position(|w| *w == self.text).unwrap_or(0);
            let n = words.len();
            let next = if forward { at + 1 } else { at + n - 1 } % n;
            self.text = words[next].to_string();
        }
    }

    fn count(&self) -> usize {
        match self.text.trim() {
            "all" => usize::MAX,
            t => t.parse().unwrap_or(0),
        }
    }
}

/// The options being chosen, and which one the cursor is on.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub fields: Vec<Field>,
    pub cursor: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options::new(&RolloutOptions::default())
    }
}

const ROLLBACK: &[&str] = &["failed", "all", "none"];

fn count_text(n: usize) -> String {
    if n == usize::MAX {
        "all".into()
    } else {
        n.to_string()
    }
}

impl Options {
    pub fn new(o: &RolloutOptions) -> Options {
        let field = |key, label, help, kind, text: String| Field {
            key,
            label,
            help,
            kind,
            text,
        };
        let watched = o.watch;
        let defaults = WatchPolicy::for_window(60);
        let policy = match o.rollback {
            RollbackPolicy::Failed => "failed",
            RollbackPolicy::All => "all",
            RollbackPolicy::None => "none",
        };
        Options {
            fields: vec![
                field(
                    Key::Initial,
                    "First phase",
                    "agents in the first phase (all: every target at once)",
                    Kind::Count { min: 1, all: true },
                    count_text(o.initial),
                ),
                field(
                    Key::Multiplier,
                    "Growth",
                    "each phase is this many times the one before (1: equal phases)",
                    Kind::Number { min: 1.0 },
                    format!("{}", o.multiplier),
                ),
                field(
                    Key::MaxPerPhase,
                    "Largest phase",
                    "no phase is larger than this (all: no limit)",
                    Kind::Count { min: 1, all: true },
                    count_text(o.max_per_phase),
                ),
                field(
                    Key::MaxFailures,
                    "Failures tolerated",
                    "failed or stalled agents before the rollout halts (0: the first halts it)",
                    Kind::Count { min: 0, all: false },
                    o.max_failures.to_string(),
                ),
                field(
                    Key::Rollback,
                    "On halt, roll back",
                    "failed: the agents that failed · all: every agent reached · none: leave it",
                    Kind::Choice(ROLLBACK),
                    policy.into(),
                ),
                field(
                    Key::Watch,
                    "Watch telemetry",
                    "after applying, watch each agent this long (60s, 2m); off: apply errors only",
                    Kind::Window,
                    watched.map_or_else(|| "off".into(), |w| format!("{}s", w.window_secs)),
                ),
                field(
                    Key::MaxExportFailures,
                    "Max export failures",
                    "while watched: highest share of items failing to export",
                    Kind::Percent,
                    watch::percent(
                        watched.map_or(defaults.max_export_failures, |w| w.max_export_failures),
                    ),
                ),
                field(
                    Key::MaxThroughputDrop,
                    "Max throughput drop",
                    "while watched: largest fall of items sent against the agent's rate before",
                    Kind::Percent,
                    watch::percent(
                        watched.map_or(defaults.max_throughput_drop, |w| w.max_throughput_drop),
                    ),
                ),
            ],
            cursor: 0,
        }
    }

    /// The options, or the first field that is not valid and why.
    pub fn options(&self) -> Result<RolloutOptions, String> {
        let mut o = RolloutOptions::default();
        let mut w = WatchPolicy::for_window(0);
        let mut watched = false;
        for f in &self.fields {
            f.check(&f.text)
                .map_err(|e| format!("{}: {e}", f.label.to_lowercase()))?;
            match f.key {
                Key::Initial => o.initial = f.count(),
                Key::Multiplier => o.multiplier = f.text.trim().parse().unwrap_or(1.0),
                Key::MaxPerPhase => o.max_per_phase = f.count(),
                Key::MaxFailures => o.max_failures = f.count(),
                Key::Rollback => {
                    o.rollback = match f.text.trim() {
                        "all" => RollbackPolicy::All,
                        "none" => RollbackPolicy::None,
                        _ => RollbackPolicy::Failed,
                    }
                }
                Key::Watch => {
                    if let Ok(secs) = watch::parse_window(f.text.trim()) {
                        w.window_secs = secs;
                        watched = true;
                    }
                }
                Key::MaxExportFailures => {
                    w.max_export_failures = watch::parse_percent(&f.text).unwrap_or(0.05)
                }
                Key::MaxThroughputDrop => {
                    w.max_throughput_drop = watch::parse_percent(&f.text).unwrap_or(0.5)
                }
            }
        }
        o.watch = watched.then_some(w);
        Ok(o)
    }

    /// What a push with these options does to `targets` agents, in one line:
    /// `phases 3, 9 · halt on 1st failure · roll back failed`.
    pub fn summary(&self, targets: usize) -> String {
        match self.options() {
            Ok(o) => describe(&o, targets),
            Err(e) => format!("✕ {e}"),
        }
    }
}

/// `phases 3, 15, 100 · halt on 1st failure · roll back failed`.
pub fn describe(o: &RolloutOptions, targets: usize) -> String {
    let phases = phase_sizes(o, targets);
    let shown: Vec<String> = phases.iter().take(5).map(ToString::to_string).collect();
    let more = if phases.len() > 5 {
        format!(" … ({} phases)", phases.len())
    } else {
        String::new()
    };
    let phases = match phases.len() {
        0 => "no agents".to_string(),
        1 => "one phase".to_string(),
        _ => format!("phases {}{more}", shown.join(", ")),
    };
    let halt = match o.max_failures {
        0 => "halt on 1st failure".to_string(),
        n => format!("tolerate {n} failure(s)"),
    };
    let back = match o.rollback {
        RollbackPolicy::Failed => "roll back failed",
        RollbackPolicy::All => "roll back all reached",
        RollbackPolicy::None => "no rollback",
    };
    let watch = o.watch.map_or_else(String::new, |w| {
        format!(
            " · watch {}s (failures ≤{}, drop ≤{})",
            w.window_secs,
            watch::percent(w.max_export_failures),
            watch::percent(w.max_throughput_drop)
        )
    });
    format!("{phases} · {halt} · {back}{watch}")
}

/// The size of each phase for `targets` agents.
pub fn phase_sizes(o: &RolloutOptions, targets: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = targets;
    let mut k = 0;
    while left > 0 && k < 1000 {
        let n = o.phase_size(k).min(left);
        out.push(n);
        left -= n;
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_push_commands() {
        let f = Options::default();
        assert_eq!(f.options(), Ok(RolloutOptions::default()));
        assert_eq!(
            f.summary(20),
            "phases 3, 15, 2 · halt on 1st failure · roll back failed"
        );
    }

    #[test]
    fn each_text_is_checked_as_typed_and_named_when_wrong() {
        let mut f = Options::default();
        assert_eq!(f.fields[0].check("0"), Err("at least 1".into()));
        assert_eq!(f.fields[0].check("x"), Err("a whole number, or all".into()));
        assert_eq!(f.fields[0].check("all"), Ok(()));
        assert_eq!(f.fields[1].check("0.5"), Err("at least 1".into()));
        assert_eq!(f.fields[1].check("1.5"), Ok(()));
        assert_eq!(f.fields[3].check("-1"), Err("a whole number".into()));
        f.fields[3].text = "two".into();
        assert_eq!(
            f.options(),
            Err("failures tolerated: a whole number".into())
        );
        f.fields[3].text = "2".into();
        f.fields[0].text = "all".into();
        f.fields[4].cycle(true);
        let o = f.options().expect("valid");
        assert_eq!((o.initial, o.max_failures), (usize::MAX, 2));
        assert_eq!(o.rollback, RollbackPolicy::All);
        assert_eq!(
            describe(&o, 7),
            "one phase · tolerate 2 failure(s) · roll back all reached"
        );
    }

    #[test]
    fn watching_telemetry_is_off_until_a_window_is_given() {
        let mut f = Options::default();
        let at = |f: &Options, k: Key| f.fields.iter().position(|x| x.key == k).expect("field");
        let (win, fails, drop) = (
            at(&f, Key::Watch),
            at(&f, Key::MaxExportFailures),
            at(&f, Key::MaxThroughputDrop),
        );
        assert_eq!(f.options().expect("valid").watch, None);
        assert_eq!(f.fields[win].check("5s"), Err("20s to 30m, or off".into()));
        assert_eq!(
            f.fields[win].check("soon"),
            Err("e.g. 60s, 2m, or off".into())
        );
        assert_eq!(f.fields[fails].check("150%"), Err("0% to 100%".into()));
        f.fields[win].text = "2m".into();
        f.fields[fails].text = "1%".into();
        f.fields[drop].text = "30%".into();
        let o = f.options().expect("valid");
        assert_eq!(
            o.watch,
            Some(WatchPolicy {
                window_secs: 120,
                max_export_failures: 0.01,
                max_throughput_drop: 0.3
            })
        );
        assert!(describe(&o, 3).ends_with(" · watch 120s (failures ≤1%, drop ≤30%)"));
        // The form shows options it was given back as they were.
        assert_eq!(Options::new(&o).options(), Ok(o));
    }
}
