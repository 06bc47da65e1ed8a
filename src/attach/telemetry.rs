//! Sparkline tails of an attached server. The UI asks for the agents it is about to draw
//! (through [`TelemetrySource`]); those are remembered, and once a second
//! [`poll`] fetches their tails from `GET /api/v1/telemetry`, telling the server the
//! fingerprint of what it holds so unchanged tails are not sent again. The fleet's
//! latest values come on the stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cli::client::Client;
use crate::fleet::AgentId;
use crate::fleet::refusals::Refused;
use crate::fleet::stream::Tails as Answer;
use crate::fleet::telemetry::{SERIES_COUNT, Series};
use crate::tui::TelemetrySource;

/// Agents asked for longer ago than this are no longer fetched.
const WANTED_FOR: Duration = Duration::from_secs(3);
/// How often the tails of the agents on screen are fetched.
const EVERY: Duration = Duration::from_secs(1);
/// Agents per request.
const PER_REQUEST: usize = 100;

#[derive(Default)]
struct Held {
    /// The server's fingerprint, our own count of changes, the series.
    series: [Vec<f64>; SERIES_COUNT],
    fingerprint: Option<u64>,
    changes: u64,
    refused: Option<Refused>,
}

#[derive(Default)]
struct Inner {
    agents: HashMap<AgentId, Held>,
    wanted: HashMap<AgentId, (usize, Instant)>,
    fleet: [f64; SERIES_COUNT],
}

/// What the UI reads its sparklines from when attached.
#[derive(Default, Clone)]
pub struct RemoteTelemetry {
    inner: Arc<Mutex<Inner>>,
}

impl RemoteTelemetry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fleet's latest values, from the stream.
    pub fn set_fleet(&self, latest: &[f64]) {
        let mut inner = self.lock();
        for (slot, v) in inner.fleet.iter_mut().zip(latest) {
            *slot = *v;
        }
    }

    fn want(&self, id: &AgentId, n: Option<usize>) {
        let mut inner = self.lock();
        let entry = inner.wanted.entry(*id).or_insert((0, Instant::now()));
        entry.1 = Instant::now();
        if let Some(n) = n {
            entry.0 = entry.0.max(n);
        }
    }

    /// The agents shown lately, with their fingerprints, and the points they need.
    fn wanted(&self) -> (Vec<(AgentId, Option<u64>)>, usize) {
        let mut inner = self.lock();
        inner.wanted.retain(|_, (_, at)| at.elapsed() < WANTED_FOR);
        let points = inner.wanted.values().map(|(n, _)| *n).max().unwrap_or(0);
        let ids = inner
            .wanted
            .keys()
            .map(|id| (*id, inner.agents.get(id).and_then(|h| h.fingerprint)))
            .collect();
        (ids, points)
    }

    fn store(&self, answer: Answer) {
        let mut inner = self.lock();
        for a in answer.agents {
            let held = inner.agents.entry(a.id).or_default();
            for (slot, values) in held.series.iter_mut().zip(a.series) {
                *slot = values;
            }
            held.fingerprint = a.fingerprint;
            held.changes += 1;
            held.refused = a.refused.map(|r| {
                let reason = reason_text(&r.reason);
                r.into_refused(reason)
            });
        }
        // Agents no longer shown are dropped with their tails.
        let Inner { agents, wanted, .. } = &mut *inner;
        agents.retain(|id, _| wanted.contains_key(id));
    }
}

impl TelemetrySource for RemoteTelemetry {
    fn tail(&self, id: &AgentId, series: Series, n: usize, out: &mut Vec<f64>) {
        self.want(id, Some(n));
        out.clear();
        let inner = self.lock();
        if let Some(h) = inner.agents.get(id) {
            let all = &h.series[series.index()];
            out.extend_from_slice(&all[all.len().saturating_sub(n)..]);
        }
    }

    fn fleet_tail(&self, series: Series, n: usize, out: &mut Vec<f64>) {
        out.clear();
        if n > 0 {
            out.push(self.lock().fleet[series.index()]);
        }
    }

    fn refused(&self, id: &AgentId) -> Option<Refused> {
        self.lock().agents.get(id).and_then(|h| h.refused.clone())
    }

    fn fingerprint(&self, id: &AgentId) -> Option<u64> {
        self.want(id, None);
        // Unknown agents are asked again each frame until their tails arrive.
        self.lock().agents.get(id).map(|h| h.changes)
    }
}

/// Reasons the server gave, kept for the life of the process (the UI's type holds a
/// `&'static str`); a server sending more than a few different ones gets a generic text.
fn reason_text(reason: &str) -> &'static str {
    static KNOWN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = known.iter().find(|r| **r == reason) {
        return r;
    }
    if known.len() >= 16 || reason.len() > 200 {
        return "refused";
    }
    let kept: &'static str = Box::leak(reason.to_string().into_boxed_str());
    known.push(kept);
    kept
}

/// Fetches the tails of the agents shown, once a second, until `stop`.
pub async fn poll(client: Arc<Client>, telemetry: RemoteTelemetry, stop: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (ids, points) = telemetry.wanted();
        if ids.is_empty() || points == 0 {
            continue;
        }
        let points = points.min(crate::api::stream::MAX_TAIL_POINTS);
        for chunk in ids.chunks(PER_REQUEST) {
            let list: Vec<String> = chunk
                .iter()
                .map(|(id, fp)| match fp {
                    Some(fp) => format!("{id}:{fp}"),
                    None => id.to_string(),
                })
                .collect();
            let query = [("agents", list.join(",")), ("points", points.to_string())];
            match client.get(&["telemetry"], &query).await {
                Ok(v) => match serde_json::from_value::<Answer>(v) {
                    Ok(answer) => telemetry.store(answer),
                    Err(e) => tracing::debug!(error = %e, "telemetry answer not understood"),
                },
                // The stream says when the server is away; sparklines just wait.
                Err(e) => tracing::debug!(error = %e, "telemetry not fetched"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::stream::{AgentTails, RefusedTail};

    #[test]
    fn what_the_ui_draws_is_asked_for_and_what_comes_back_is_drawn() {
        let t = RemoteTelemetry::default();
        let (shown, gone) = (AgentId([1; 16]), AgentId([2; 16]));
        let mut out = Vec::new();
        // A frame asks for the agent's tails: it is wanted from now on.
        assert_eq!(t.fingerprint(&shown), None);
        t.tail(&shown, Series::ALL[0], 3, &mut out);
        assert!(out.is_empty(), "nothing arrived yet");
        let (wanted, points) = t.wanted();
        assert_eq!((wanted, points), (vec![(shown, None)], 3));
        let mut series = vec![Vec::new(); SERIES_COUNT];
        series[0] = vec![1.0, 2.0, 3.0, 4.0];
        t.store(Answer {
            now: 100,
            points: 3,
            agents: vec![
                AgentTails {
                    id: shown,
                    fingerprint: Some(7),
                    series,
                    refused: Some(RefusedTail {
                        count: 2,
                        reason: "no credentials".into(),
                        first: 90,
                        last: 99,
                    }),
                },
                AgentTails {
                    id: gone,
                    fingerprint: None,
                    series: vec![Vec::new(); SERIES_COUNT],
                    refused: None,
                },
            ],
        });
        t.tail(&shown, Series::ALL[0], 3, &mut out);
        assert_eq!(out, [2.0, 3.0, 4.0], "the newest points, oldest first");
        let r = t.refused(&shown).expect("the refusal");
        assert_eq!((r.count, r.reason), (2, "no credentials"));
        assert_eq!(t.fingerprint(&shown), Some(1), "a new copy to draw");
        // The server's fingerprint goes back with the next request.
        assert_eq!(t.wanted().0, vec![(shown, Some(7))]);
        // An agent no frame asked for is not kept.
        assert!(t.refused(&gone).is_none() && t.fingerprint(&gone).is_none());
        t.set_fleet(&[5.0; SERIES_COUNT]);
        t.fleet_tail(Series::ALL[1], 1, &mut out);
        assert_eq!(out, [5.0]);
    }
}
