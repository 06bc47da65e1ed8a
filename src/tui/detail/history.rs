//! The History section's lines: the agent's assignment still in flight (from the
//! snapshot), then every attempt the store keeps, newest first, each failure's message
//! wrapped under it.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::fleet::attempt::{AttemptResult, KEPT_PER_AGENT};
use crate::fleet::snapshot::AgentView;

use super::super::fmt;
use super::super::theme::Theme;
use super::super::widgets::DrawCx;
use super::History;

/// Hex digits of a configuration hash shown (as `fleetdeck get agent --history` does).
const HASH_PREFIX: usize = 12;
/// Widths of the columns after CONFIG: hash, when, result.
const HASH_W: usize = HASH_PREFIX + 2;
const WHEN_W: usize = 6;
const RESULT_W: usize = 13;
/// CONFIG grows to its longest entry, within these.
const CONFIG_MIN: usize = 8;
const CONFIG_MAX: usize = 28;

fn result_look(t: &Theme, r: AttemptResult) -> (&'static str, Style) {
    match r {
        AttemptResult::Applied => ("✓ applied", t.ok),
        AttemptResult::Failed => ("✕ failed", t.err),
        AttemptResult::Stalled => ("! stalled", t.warn),
        AttemptResult::Superseded => ("· superseded", t.muted),
    }
}

/// One row: config, hash, when, result and whether it was rolled back.
struct Row {
    config: String,
    hash: String,
    when: String,
    result: (String, Style),
    rolled_back: bool,
    message: Option<(String, Style)>,
}

pub fn history_lines(
    cx: &DrawCx,
    agent: &AgentView,
    h: &History,
    width: u16,
) -> Vec<Line<'static>> {
    let t = cx.theme;
    let mut rows = Vec::new();
    // The assignment the agent has not answered yet is not in the store: the fleet shows it.
    if let Some(c) = agent.config.as_ref().filter(|c| c.state.in_flight()) {
        rows.push(Row {
            config: format!("{} (in flight)", c.config),
            hash: hex::encode(c.hash).chars().take(HASH_PREFIX).collect(),
            when: fmt::age(cx.now, c.since),
            result: (format!("◌ {}", c.state), t.info),
            rolled_back: false,
            message: None,
        });
    }
    let mut out = Vec::new();
    let attempts = match (&h.loaded, h.agent == Some(agent.id)) {
        (Some(Ok(attempts)), true) => attempts.as_slice(),
        (Some(Err(e)), true) => {
            out.push(Line::styled(
                format!(" cannot read the apply history: {e}"),
                t.err,
            ));
            &[]
        }
        _ => {
            out.push(Line::styled(" reading the apply history…", t.muted));
            &[]
        }
    };
    for a in attempts {
        let (text, style) = result_look(t, a.result);
        let mut config = a.config.to_string();
        if a.rollback {
            config.push_str(" (rollback)");
        }
        rows.push(Row {
            config,
            hash: hex::encode(a.hash).chars().take(HASH_PREFIX).collect(),
            when: fmt::age(cx.now, a.finished_at),
            result: (text.to_string(), style),
            rolled_back: a.rolled_back,
            message: (!a.message.is_empty()).then(|| {
                let style = if a.result == AttemptResult::Failed {
                    t.err
                } else {
                    t.muted
                };
                (a.message.clone(), style)
            }),
        });
    }
    if h.loaded.as_ref().is_some_and(|r| r.is_ok()) {
        let n = attempts.len();
        out.push(Line::styled(
            if n == 0 {
                " no configuration sent to this agent has settled yet".to_string()
            } else {
                format!(
                    " {n} attempt{}, newest first (the last {KEPT_PER_AGENT} are kept)",
                    if n == 1 { "" } else { "s" }
                )
            },
            t.muted,
        ));
    }
    if rows.is_empty() {
        return out;
    }
    out.push(Line::default());
    let config_w = rows
        .iter()
        .map(|r| r.config.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(CONFIG_MIN, CONFIG_MAX)
        + 2;
    out.push(Line::styled(
        format!(
            " {:<config_w$}{:<HASH_W$}{:<WHEN_W$}{:<RESULT_W$}ROLLED BACK",
            "CONFIG", "HASH", "WHEN", "RESULT"
        ),
        t.table_header,
    ));
    // Messages continue under the hash column, wrapped to what is left of the width.
    let indent = 1 + config_w;
    let room = usize::from(width).saturating_sub(indent + 1).max(20);
    for r in rows {
        let config = fmt::truncate(&r.config, config_w - 2);
        let mut spans = vec![
            Span::styled(format!(" {config:<config_w$}"), t.text),
            Span::styled(format!("{:<HASH_W$}", r.hash), t.muted),
            Span::styled(format!("{:<WHEN_W$}", r.when), t.muted),
            Span::styled(format!("{:<RESULT_W$}", r.result.0), r.result.1),
        ];
        if r.rolled_back {
            spans.push(Span::styled("↩ yes", t.warn));
        }
        out.push(Line::from(spans));
        if let Some((message, style)) = r.message {
            for part in fmt::wrap(&message, room) {
                out.push(Line::styled(format!("{:indent$}{part}", ""), style));
            }
        }
    }
    out
}
