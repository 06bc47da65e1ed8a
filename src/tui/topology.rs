//! The fleet's Collector chains (`:topology`): which agent's exporter sends to which agent's
//! receiver, what goes to destinations no agent is, and the sender's outgoing rate — the
//! same links as `fleetdeck get topology` (`fleet::topology`). Worked out from the snapshot
//! by the run loop only when the snapshot changed, never while drawing.

use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, Widget};

use super::telemetry::{Series, Signal, Tails};
use super::widgets::{DrawCx, crumbs, frame_block};
use crate::fleet::FleetSnapshot;
use crate::fleet::topology::{self, Link};

/// The links shown, and which snapshot they were read from.
#[derive(Debug, Default)]
pub struct TopologyState {
    read_from: Option<Arc<FleetSnapshot>>,
    /// Connected agents whose configuration was read.
    pub agents: usize,
    pub links: Vec<Link>,
    /// First row shown.
    pub scroll: usize,
}

impl TopologyState {
    /// Reads the links again when `snap` is not the snapshot they came from.
    pub fn refresh(&mut self, snap: &Arc<FleetSnapshot>) {
        if self
            .read_from
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, snap))
        {
            return;
        }
        (self.agents, self.links) = topology::links(&snap.agents);
        self.read_from = Some(snap.clone());
        self.scroll = self.scroll.min(self.links.len().saturating_sub(1));
    }

    /// The senders, whose latest outgoing rate the frame shows.
    pub fn senders(&self) -> Vec<(crate::fleet::AgentId, usize)> {
        let mut ids: Vec<_> = self.links.iter().map(|l| (l.from, 1)).collect();
        // Links are sorted by name, and two agents may share one: sort by id to dedup.
        ids.sort_unstable_by_key(|(id, _)| *id);
        ids.dedup();
        ids
    }

    pub fn scroll_by(&mut self, delta: isize, rows: usize) {
        let max = self.links.len().saturating_sub(rows);
        self.scroll = self.scroll.min(max).saturating_add_signed(delta).min(max);
    }
}

/// An agent's latest outgoing items per second, all signals.
fn out_rate(tails: &Tails, link: &Link) -> Option<f64> {
    let set = tails.agent(&link.from)?;
    let sum: f64 = Signal::ALL
        .iter()
        .filter_map(|s| set.latest(Series::Out(*s)))
        .sum();
    Some(sum)
}

pub fn render(cx: &DrawCx, state: &TopologyState, tails: &Tails, area: Rect, buf: &mut Buffer) {
    let t = cx.theme;
    let chained = state.links.iter().filter(|l| l.to.is_some()).count();
    let title = crumbs(
        t,
        &[format!(
            "Topology {} agents · {chained} chained · {} external",
            state.agents,
            state.links.len() - chained
        )],
    );
    let fit = usize::from(area.height.saturating_sub(3));
    let offset = state.scroll.min(state.links.len().saturating_sub(fit));
    // Fixed columns, and what is left for FROM and TO (TO gets two thirds): each cut ends
    // with `…`.
    const EXPORTER: u16 = 12;
    const RECEIVER: u16 = 10;
    const RATE: u16 = 10;
    let free = usize::from(
        area.width
            .saturating_sub(2 + EXPORTER + RECEIVER + RATE + 4),
    );
    let from_w = (free / 3).max(8);
    let to_w = free.saturating_sub(from_w).max(8);
    let cut = super::fmt::truncate;
    let mut rows: Vec<Row> = state
        .links
        .iter()
        .skip(offset)
        .take(fit)
        .map(|l| {
            let (to, style) = match &l.to {
                Some((_, name)) if l.matches > 1 => {
                    (format!("→ {name} (1 of {})", l.matches), t.warn)
                }
                Some((_, name)) => (format!("→ {name}"), t.accent),
                None => (format!("↗ {}", l.endpoint), t.muted),
            };
            let rate = match out_rate(tails, l) {
                Some(r) if l.shared_by > 1 => format!("{} /{}", super::fmt::rate(r), l.shared_by),
                Some(r) => super::fmt::rate(r),
                None => "-".into(),
            };
            Row::new(vec![
                Cell::from(Span::styled(
                    cut(&format!(" {}", l.from_name), from_w),
                    t.text,
                )),
                Cell::from(Span::styled(
                    cut(&l.exporter, usize::from(EXPORTER)),
                    t.muted,
                )),
                Cell::from(Span::styled(cut(&to, to_w), style)),
                Cell::from(Span::styled(
                    cut(l.receiver.as_deref().unwrap_or("-"), usize::from(RECEIVER)),
                    t.muted,
                )),
                Cell::from(Span::styled(rate, t.text)),
            ])
        })
        .collect();
    if rows.is_empty() {
        rows.push(Row::new(vec![Cell::from(Span::styled(
            " no connected agent reports an exporter with an endpoint",
            t.muted,
        ))]));
    }
    Table::new(
        rows,
        [
            Constraint::Length(from_w as u16),
            Constraint::Length(EXPORTER),
            Constraint::Length(to_w as u16),
            Constraint::Length(RECEIVER),
            Constraint::Length(RATE),
        ],
    )
    .header(
        Row::new(vec![
            " FROM",
            "EXPORTER",
            "TO (↗ external)",
            "RECEIVER",
            "OUT/s",
        ])
        .style(t.table_header),
    )
    .column_spacing(1)
    .block(frame_block(t, title))
    .render(area, buf);
}
