//! Step 7: choosing the targets, then the rollout followed live.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::inline_editor_text;
use crate::fleet::snapshot::FleetSnapshot;
use crate::rollout::plan::AgentStep;
use crate::tui::action::{Action, WizardAction as W};
use crate::tui::fmt::truncate;
use crate::tui::theme::Theme;
use crate::tui::wizard::{Mode, PushState, TargetMode, Wizard};

pub(super) fn render(t: &Theme, w: &Wizard, snap: &FleetSnapshot, area: Rect, buf: &mut Buffer) {
    match &w.push {
        PushState::Following { view, error } => follow(t, snap, view.as_deref(), error, area, buf),
        PushState::Starting => Line::styled(" starting the rollout…", t.info).render(area, buf),
        PushState::Choosing => targets(t, w, snap, area, buf),
    }
}

fn targets(t: &Theme, w: &Wizard, snap: &FleetSnapshot, area: Rect, buf: &mut Buffer) {
    let tg = &w.targets;
    // What push would be refused for, agent by agent, when the chosen targets lack
    // components the configuration uses.
    let lacking = w
        .coverage
        .push_check
        .as_ref()
        .filter(|c| !c.is_clear())
        .map(|c| {
            let names: Vec<String> = c.lacking.iter().take(4).map(ToString::to_string).collect();
            let more = c.lacking.len().saturating_sub(names.len());
            format!(
                " ⚠ {} of {} chosen would fail: {}{}",
                c.lacking.len(),
                c.checked + c.unknown,
                names.join("; "),
                if more > 0 {
                    format!("; {more} more")
                } else {
                    String::new()
                }
            )
        });
    let [tabs, plan, line, warn, list] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(u16::from(lacking.is_some())),
        Constraint::Fill(1),
    ])
    .areas(area);
    if let Some(text) = lacking {
        Line::styled(truncate(&text, usize::from(warn.width)), t.warn).render(warn, buf);
    }
    let tab =
        |on: bool, text: &'static str| Span::styled(text, if on { t.selection } else { t.muted });
    Line::from(vec![
        Span::raw(" "),
        tab(tg.mode == TargetMode::Agents, " marked agents "),
        Span::raw(" "),
        tab(tg.mode == TargetMode::Selector, " label selector "),
        Span::styled(
            format!("  {} switches", w.key_of(Action::Wizard(W::Targets))),
            t.muted,
        ),
    ])
    .render(tabs, buf);
    // How the push will roll out, before it is asked for.
    let summary = w.options.summary(w.push_count(snap));
    let style = if w.options.options().is_ok() {
        t.muted
    } else {
        t.warn
    };
    let tail = format!(" · {} changes", w.key_of(Action::Wizard(W::RolloutOptions)));
    let room = usize::from(plan.width).saturating_sub(tail.chars().count());
    Line::from(vec![
        Span::styled(truncate(&format!(" rollout: {summary}"), room), style),
        Span::styled(tail, t.muted),
    ])
    .render(plan, buf);
    let rows = usize::from(list.height);
    let wide = list.width >= 110;
    match tg.mode {
        TargetMode::Agents => {
            Line::styled(
                format!(
                    " {} of {} agents marked · {} marks · {} all/none · {} pushes",
                    tg.marks.len(),
                    snap.agents.len(),
                    w.key_of(Action::Wizard(W::Mark)),
                    w.key_of(Action::Wizard(W::MarkAll)),
                    w.key_of(Action::Wizard(W::Push)),
                ),
                t.info,
            )
            .render(line, buf);
            let lines: Vec<Line> = snap
                .agents
                .iter()
                .enumerate()
                .skip(tg.offset)
                .take(rows)
                .map(|(i, a)| {
                    let marked = tg.marks.contains(&a.id);
                    let status = if a.is_connected() { "up" } else { "down" };
                    let config = a
                        .config
                        .as_ref()
                        .map(|c| format!("{} {}", c.config, c.state))
                        .unwrap_or_else(|| "–".into());
                    let labels: Vec<String> =
                        a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let mut text = format!(
                        "{}{} {:<22} {:<5} {:<22}",
                        if i == tg.cursor { "›" } else { " " },
                        if marked { "[x]" } else { "[ ]" },
                        truncate(&a.name, 22),
                        status,
                        truncate(&config, 22),
                    );
                    let room = usize::from(list.width).saturating_sub(text.chars().count() + 1);
                    if wide || room > 10 {
                        text.push(' ');
                        text.push_str(&truncate(&labels.join(","), room));
                    }
                    let style = if i == tg.cursor {
                        t.selection
                    } else if marked {
                        t.marked
                    } else {
                        t.text
                    };
                    Line::styled(text, style)
                })
                .collect();
            Paragraph::new(lines).render(list, buf);
        }
        TargetMode::Selector => {
            let shown = match &w.mode {
                Mode::Selector(ed) => inline_editor_text(ed),
                _ if tg.selector.is_empty() => format!(
                    "{} types a selector",
                    w.key_of(Action::Wizard(W::EditSelector))
                ),
                _ => tg.selector.clone(),
            };
            let (count, style) = match w.selector_matches(snap) {
                Ok((n, up)) => (format!("  → matches {n} agent(s), {up} connected"), t.ok),
                Err(e) => (format!("  {e}"), t.warn),
            };
            Line::from(vec![
                Span::styled(" selector ", t.key),
                Span::styled(shown, t.text),
                Span::styled(count, style),
            ])
            .render(line, buf);
            let sel: Option<crate::fleet::selector::Selector> = match &w.mode {
                Mode::Selector(ed) => ed.text().parse().ok(),
                _ => tg.selector.parse().ok(),
            };
            let lines: Vec<Line> = sel
                .filter(|s| !s.is_empty())
                .map(|s| {
                    snap.agents
                        .iter()
                        .filter(|a| s.matches(&a.labels))
                        .take(rows)
                        .map(|a| {
                            let labels: Vec<String> =
                                a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            Line::styled(
                                truncate(
                                    &format!("   {:<22} {}", a.name, labels.join(",")),
                                    usize::from(list.width),
                                ),
                                t.text,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Paragraph::new(lines).render(list, buf);
        }
    }
}

fn follow(
    t: &Theme,
    snap: &FleetSnapshot,
    view: Option<&crate::rollout::RolloutView>,
    error: &Option<String>,
    area: Rect,
    buf: &mut Buffer,
) {
    let Some(v) = view else {
        Line::styled(" waiting for the rollout's state…", t.info).render(area, buf);
        return;
    };
    let p = &v.progress;
    let status_style = match &v.status {
        crate::rollout::RolloutStatus::Completed => t.ok,
        crate::rollout::RolloutStatus::Halted(_) | crate::rollout::RolloutStatus::RolledBack => {
            t.err
        }
        crate::rollout::RolloutStatus::Paused | crate::rollout::RolloutStatus::Cancelled => t.warn,
        crate::rollout::RolloutStatus::Running => t.info,
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!(" Rollout of {} ", v.config), t.title),
            Span::styled(format!("{}", v.status), status_style),
            Span::styled(format!(" · phase {}", v.phases_started), t.muted),
        ]),
        Line::from(vec![
            Span::styled(format!(" {} applied", p.applied), t.ok),
            Span::styled(format!(" · {} in flight", p.in_flight), t.info),
            Span::styled(format!(" · {} waiting", p.waiting), t.muted),
            Span::styled(
                format!(" · {} failed", p.failed),
                if p.failed > 0 { t.err } else { t.muted },
            ),
            // Only when some were: "0 rolled back" read as if a rollback had happened.
            Span::styled(
                if p.rolled_back > 0 {
                    format!(" · {} rolled back", p.rolled_back)
                } else {
                    String::new()
                },
                t.muted,
            ),
            Span::styled(format!(" · of {}", p.total), t.text),
        ]),
        bar(
            t,
            p.applied,
            p.failed,
            p.total,
            usize::from(area.width).saturating_sub(2),
        ),
    ];
    if let Some(e) = error {
        lines.push(Line::styled(format!(" ✕ {e}"), t.err));
    }
    lines.push(Line::styled(
        format!(
            " {:<24} {:<12} {:<6} {}",
            "AGENT", "STEP", "PHASE", "MESSAGE"
        ),
        t.table_header,
    ));
    let room = usize::from(area.height).saturating_sub(lines.len());
    // Failures first: they are what an operator needs to see.
    let mut agents: Vec<_> = v.agents.iter().collect();
    agents.sort_by_key(|a| {
        !(a.failed || matches!(a.step, AgentStep::Failed(_) | AgentStep::Stalled))
    });
    for a in agents.into_iter().take(room) {
        let name = snap
            .get(&a.id)
            .map(|x| x.name.to_string())
            .unwrap_or_else(|| a.id.short());
        let (step, style, msg) = match &a.step {
            AgentStep::Waiting => ("waiting", t.muted, String::new()),
            AgentStep::InFlight => ("applying", t.info, String::new()),
            AgentStep::Watching => (
                "◔ watching",
                t.info,
                a.watch.map(|w| w.describe()).unwrap_or_default(),
            ),
            AgentStep::Applied => ("✓ applied", t.ok, String::new()),
            AgentStep::Failed(e) => ("✕ failed", t.err, e.clone()),
            AgentStep::Stalled => ("✕ stalled", t.err, "no answer from the agent".into()),
            AgentStep::RolledBack => (
                "↩ rolled back",
                t.warn,
                a.error
                    .as_ref()
                    .map(|e| format!("after failing: {e}"))
                    .unwrap_or_default(),
            ),
            AgentStep::Skipped => ("skipped", t.muted, String::new()),
        };
        let phase = a
            .phase
            .map(|p| (p + 1).to_string())
            .unwrap_or_else(|| "–".into());
        lines.push(Line::styled(
            truncate(
                &format!(
                    " {:<24} {:<12} {:<6} {msg}",
                    truncate(&name, 24),
                    step,
                    phase
                ),
                usize::from(area.width),
            ),
            style,
        ));
    }
    Paragraph::new(lines).render(area, buf);
}

/// A progress bar: applied in the ok colour, failed in the error colour.
fn bar<'a>(t: &Theme, applied: usize, failed: usize, total: usize, width: usize) -> Line<'a> {
    let total = total.max(1);
    let ok = applied * width / total;
    let bad = failed * width / total;
    let rest = width.saturating_sub(ok + bad);
    Line::from(vec![
        Span::raw(" "),
        Span::styled("█".repeat(ok), t.ok),
        Span::styled("█".repeat(bad), t.err),
        Span::styled("░".repeat(rest), t.muted),
    ])
}
