//! A tap on one agent: the newest items one of its pipelines handles, asked for again
//! every couple of seconds while shown (only what came since the last answer), newest
//! first, searchable with `/`. `p` moves to the agent's next pipeline; freezing stops
//! the asking. The state and what keys do to it live here; `draw.rs` draws it.

pub mod draw;

use std::time::{Duration, SystemTime};

use crate::fleet::AgentId;
use crate::fleet::tap::{DEFAULT_LIMIT, TapAnswer, TapItem, TapPipeline, TapRequest, TapSignal};

/// How often the tap asks again while it is shown.
const REFRESH: Duration = Duration::from_secs(2);
/// An answer that has not come for this long is asked for again (the registry answers
/// every tap within 70 s, even when the agent does not).
const GIVE_UP: Duration = Duration::from_secs(80);
/// Items kept on screen; older ones go.
pub const KEPT: usize = 1000;

/// The tap shown: whose, which pipeline, the items so far and what the user searches.
#[derive(Debug, Default)]
pub struct TapState {
    pub agent: Option<AgentId>,
    /// The pipeline asked for (`None`: the agent's first, until an answer names it).
    pub pipeline: Option<String>,
    pub signal: Option<TapSignal>,
    /// Every pipeline the agent taps, from its last answer.
    pub pipelines: Vec<TapPipeline>,
    /// Newest first.
    pub items: Vec<TapItem>,
    /// Why the last ask got no answer, if it did not.
    pub error: Option<String>,
    /// What the agent noted with its last answer.
    pub note: Option<String>,
    /// Items the agent left out of its answers (limits).
    pub left_out: usize,
    /// Lowercase text an item must contain to be shown.
    pub search: String,
    /// First line shown.
    pub scroll: usize,
    /// When it was last asked, and whether that answer is still awaited.
    asked: Option<(SystemTime, bool)>,
    /// Answers received so far (0: still waiting for the first).
    pub answers: u64,
}

/// The answer to a tap the UI asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct TapLoaded {
    pub agent: AgentId,
    /// The pipeline it was asked for (`None`: the agent's first).
    pub pipeline: Option<String>,
    pub result: Result<TapAnswer, String>,
}

impl TapState {
    /// A fresh tap of agent `id`.
    pub fn open(id: AgentId) -> Self {
        TapState {
            agent: Some(id),
            ..TapState::default()
        }
    }

    /// The request to send now, if one is due: never asked, or answered longer than a
    /// refresh ago, or awaited past [`GIVE_UP`]. Noted as asked.
    pub fn due(&mut self, id: AgentId, now: SystemTime) -> Option<TapRequest> {
        if self.agent != Some(id) {
            *self = TapState::open(id);
        }
        let since = |at: SystemTime| now.duration_since(at).unwrap_or_default();
        let due = match self.asked {
            None => true,
            Some((at, true)) => since(at) >= GIVE_UP,
            Some((at, false)) => since(at) >= REFRESH,
        };
        if !due {
            return None;
        }
        self.asked = Some((now, true));
        Some(TapRequest {
            id: 0,
            signal: None,
            pipeline: self.pipeline.clone(),
            limit: DEFAULT_LIMIT,
            after: self.items.first().map(|i| i.seq),
        })
    }

    /// An answer: its items go on top of those shown (they are newer), for the pipeline
    /// shown; an answer about another agent or pipeline is dropped.
    pub fn loaded(&mut self, msg: TapLoaded) {
        if self.agent != Some(msg.agent) || msg.pipeline != self.pipeline {
            return;
        }
        if let Some((_, waiting)) = &mut self.asked {
            *waiting = false;
        }
        match msg.result {
            Ok(answer) => {
                self.error = None;
                self.answers += 1;
                if self.pipeline.is_none() {
                    self.pipeline = answer.pipeline.clone();
                }
                self.signal = answer.signal;
                self.pipelines = answer.pipelines;
                self.note = answer.error;
                self.left_out += answer.left_out;
                let mut items = answer.items;
                items.reverse();
                let added = items.len();
                items.append(&mut self.items);
                items.truncate(KEPT);
                self.items = items;
                // What the reader looks at stays put when new items arrive above it.
                if self.scroll > 0 {
                    self.scroll += added * 4;
                }
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// The next pipeline the agent taps (round them all): asked at once, from scratch.
    pub fn next_pipeline(&mut self) -> Option<String> {
        if self.pipelines.is_empty() {
            return None;
        }
        let at = self
            .pipelines
            .iter()
            .position(|p| Some(&p.name) == self.pipeline.as_ref())
            .map_or(0, |i| (i + 1) % self.pipelines.len());
        let name = self.pipelines[at].name.clone();
        self.pipeline = Some(name.clone());
        self.signal = Some(self.pipelines[at].signal);
        self.items.clear();
        self.left_out = 0;
        self.scroll = 0;
        self.asked = None;
        self.note = None;
        Some(name)
    }

    pub fn set_search(&mut self, text: String) {
        self.search = text.to_lowercase();
        self.scroll = 0;
    }

    /// The items the search lets through, newest first.
    pub fn shown(&self) -> impl Iterator<Item = &TapItem> {
        self.items
            .iter()
            .filter(|i| self.search.is_empty() || i.haystack().contains(&self.search))
    }

    pub fn scroll_by(&mut self, delta: isize, max: usize) {
        self.scroll = self.scroll.min(max).saturating_add_signed(delta).min(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: u64, body: &str) -> TapItem {
        TapItem {
            seq,
            body: Some(serde_json::Value::from(body)),
            ..TapItem::default()
        }
    }

    fn answer(items: Vec<TapItem>) -> TapAnswer {
        TapAnswer {
            pipeline: Some("logs/a".into()),
            signal: Some(TapSignal::Logs),
            pipelines: vec![
                TapPipeline {
                    name: "logs/a".into(),
                    signal: TapSignal::Logs,
                    batches: 1,
                    last_unix_nano: 0,
                },
                TapPipeline {
                    name: "metrics".into(),
                    signal: TapSignal::Metrics,
                    batches: 0,
                    last_unix_nano: 0,
                },
            ],
            items,
            ..TapAnswer::default()
        }
    }

    #[test]
    fn asks_for_what_is_newer_and_keeps_the_newest_on_top() {
        let id = AgentId([1; 16]);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let mut st = TapState::open(id);
        let first = st.due(id, t0).expect("due at once");
        assert_eq!((first.pipeline.clone(), first.after), (None, None));
        assert!(st.due(id, t0 + Duration::from_secs(5)).is_none(), "awaited");
        st.loaded(TapLoaded {
            agent: id,
            pipeline: None,
            result: Ok(answer(vec![item(1, "a"), item(2, "b")])),
        });
        assert_eq!(st.pipeline.as_deref(), Some("logs/a"));
        assert!(st.due(id, t0 + Duration::from_secs(1)).is_none(), "not yet");
        let next = st.due(id, t0 + Duration::from_secs(3)).expect("refresh");
        assert_eq!(
            (next.pipeline.as_deref(), next.after),
            (Some("logs/a"), Some(2))
        );
        st.loaded(TapLoaded {
            agent: id,
            pipeline: Some("logs/a".into()),
            result: Ok(answer(vec![item(3, "c timeout")])),
        });
        let seqs: Vec<u64> = st.items.iter().map(|i| i.seq).collect();
        assert_eq!(seqs, vec![3, 2, 1]);
        st.set_search("TIMEOUT".into());
        assert_eq!(st.shown().count(), 1);
        assert_eq!(st.next_pipeline().as_deref(), Some("metrics"));
        assert!(st.items.is_empty());
        // a late answer about the pipeline left behind is dropped
        st.loaded(TapLoaded {
            agent: id,
            pipeline: Some("logs/a".into()),
            result: Ok(answer(vec![item(4, "d")])),
        });
        assert!(st.items.is_empty());
    }
}
