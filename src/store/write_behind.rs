//! Write-behind for agent records, apply attempts and events.
//!
//! The registry calls [`WriteBehind::agent`] / [`WriteBehind::attempt`] /
//! [`WriteBehind::event`] as often as it likes (they only touch an in-memory buffer); a
//! background task writes what accumulated in one transaction every `interval`, or sooner
//! when the buffer grows past `max_batch`. Agent records are coalesced by id (attempts by
//! agent and attempt), so a heartbeat storm becomes one row write per agent per interval. Events are bounded: past `max_pending_events` the oldest are dropped
//! (and counted), so a store that cannot keep up never grows memory without bound.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use super::error::{StoreError, StoreResult};
use super::handle::Store;
use super::types::{NewEvent, WriteBatch};
use crate::fleet::agent::AgentId;
use crate::fleet::attempt::ApplyAttempt;
use crate::fleet::record::{AgentJournal, AgentRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBehindOptions {
    /// Longest time a record waits in memory.
    pub interval: Duration,
    /// Flush early once this many agent records or events are waiting.
    pub max_batch: usize,
    /// Oldest events are dropped beyond this many waiting.
    pub max_pending_events: usize,
}

impl Default for WriteBehindOptions {
    fn default() -> Self {
        WriteBehindOptions {
            interval: Duration::from_secs(1),
            max_batch: 10_000,
            max_pending_events: 50_000,
        }
    }
}

/// What one flush wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    pub agents: usize,
    pub attempts: usize,
    pub events: usize,
    /// Events dropped because the buffer was full since the previous flush.
    pub dropped_events: u64,
}

/// An attempt's name: its agent and when it was assigned.
type AttemptKey = (AgentId, std::time::SystemTime);

#[derive(Default)]
struct Pending {
    agents: HashMap<AgentId, AgentRecord>,
    forget: HashSet<AgentId>,
    /// Unlike `forget`, not undone by a newer record: the history before the forget goes
    /// even when the agent is back; attempts written since stay (they come after it).
    forget_history: HashSet<AgentId>,
    attempts: HashMap<AttemptKey, ApplyAttempt>,
    events: VecDeque<NewEvent>,
    dropped_events: u64,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
    options: WriteBehindOptions,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push_event(pending: &mut Pending, event: NewEvent, cap: usize) {
        pending.events.push_back(event);
        while pending.events.len() > cap {
            pending.events.pop_front();
            pending.dropped_events += 1;
        }
    }

    fn take(&self) -> (WriteBatch, u64) {
        let (mut batch, dropped) = {
            let mut p = self.lock();
            let batch = WriteBatch {
                agents: p.agents.drain().map(|(_, rec)| rec).collect(),
                events: p.events.drain(..).collect(),
                forget: p.forget.drain().collect(),
                forget_history: p.forget_history.drain().collect(),
                attempts: p.attempts.drain().map(|(_, a)| a).collect(),
            };
            (batch, std::mem::take(&mut p.dropped_events))
        };
        // In key order, SQLite walks the agents' index once instead of jumping around
        // it (10,000 records of a push read pages back from the file in random order).
        batch.agents.sort_unstable_by_key(|r| r.id);
        (batch, dropped)
    }

    /// Put back what a failed flush took, without overwriting newer records.
    fn restore(&self, batch: WriteBatch, dropped: u64) {
        let mut p = self.lock();
        for rec in batch.agents {
            // Not one forgotten since, nor one written again since.
            if !p.forget.contains(&rec.id) {
                p.agents.entry(rec.id).or_insert(rec);
            }
        }
        for id in batch.forget {
            if !p.agents.contains_key(&id) {
                p.forget.insert(id);
            }
        }
        for a in batch.attempts {
            // Not one whose agent was forgotten since, nor one written again since.
            if !p.forget_history.contains(&a.agent) {
                p.attempts.entry((a.agent, a.assigned_at)).or_insert(a);
            }
        }
        // Its deletes still come before every attempt now waiting (they came after them).
        p.forget_history.extend(batch.forget_history);
        let newer: Vec<NewEvent> = p.events.drain(..).collect();
        for e in batch.events.into_iter().chain(newer) {
            Shared::push_event(&mut p, e, self.options.max_pending_events);
        }
        p.dropped_events += dropped;
    }
}

enum Command {
    Flush(oneshot::Sender<StoreResult<FlushStats>>),
    Close(oneshot::Sender<StoreResult<FlushStats>>),
}

/// Handle to the write-behind task. Cloning shares the same buffer and task.
#[derive(Clone)]
pub struct WriteBehind {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

impl WriteBehind {
    /// Start the background task on the current tokio runtime.
    pub fn spawn(store: Store, options: WriteBehindOptions) -> WriteBehind {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            options,
        });
        let (commands, rx) = mpsc::channel(16);
        tokio::spawn(run(store, Arc::clone(&shared), rx));
        WriteBehind { shared, commands }
    }

    /// Remember the latest state of an agent; replaces any record for it still waiting
    /// (keeping its description and component listing when the new record leaves them as
    /// they are).
    pub fn agent(&self, mut record: AgentRecord) {
        let waiting = {
            let mut p = self.shared.lock();
            p.forget.remove(&record.id);
            match p.agents.entry(record.id) {
                Entry::Occupied(mut waiting) => {
                    if record.description_json.is_none() {
                        record.description_json = waiting.get_mut().description_json.take();
                    }
                    if record.components_json.is_none() {
                        record.components_json = waiting.get_mut().components_json.take();
                    }
                    waiting.insert(record);
                }
                Entry::Vacant(slot) => {
                    slot.insert(record);
                }
            }
            p.agents.len()
        };
        if waiting >= self.shared.options.max_batch {
            self.shared.wake.notify_one();
        }
    }

    /// Remember an attempt of an agent's apply history as it stands; replaces the same
    /// attempt still waiting.
    pub fn attempt(&self, attempt: ApplyAttempt) {
        let waiting = {
            let mut p = self.shared.lock();
            p.attempts
                .insert((attempt.agent, attempt.assigned_at), attempt);
            p.attempts.len()
        };
        if waiting >= self.shared.options.max_batch {
            self.shared.wake.notify_one();
        }
    }

    /// Delete an agent's record and apply history (in order with what was written before
    /// it: a record or attempt still in flight cannot bring them back).
    pub fn forget(&self, id: AgentId) {
        {
            let mut p = self.shared.lock();
            p.agents.remove(&id);
            p.forget.insert(id);
            p.attempts.retain(|(agent, _), _| *agent != id);
            p.forget_history.insert(id);
        }
        self.shared.wake.notify_one();
    }

    /// Queue an event for the history.
    pub fn event(&self, event: NewEvent) {
        let waiting = {
            let mut p = self.shared.lock();
            Shared::push_event(&mut p, event, self.shared.options.max_pending_events);
            p.events.len()
        };
        if waiting >= self.shared.options.max_batch {
            self.shared.wake.notify_one();
        }
    }

    /// Write everything waiting now; returns when it is committed.
    pub async fn flush(&self) -> StoreResult<FlushStats> {
        self.request(Command::Flush).await
    }

    /// Write everything waiting and stop the task. Call on shutdown.
    pub async fn close(self) -> StoreResult<FlushStats> {
        self.request(Command::Close).await
    }

    async fn request(
        &self,
        make: fn(oneshot::Sender<StoreResult<FlushStats>>) -> Command,
    ) -> StoreResult<FlushStats> {
        let stopped = || StoreError::Task {
            operation: "write-behind flush".into(),
            detail: "the write-behind task has stopped".into(),
        };
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

async fn run(store: Store, shared: Arc<Shared>, mut commands: mpsc::Receiver<Command>) {
    // The first flush is one interval from now (a plain `interval` would tick at once).
    let first = tokio::time::Instant::now() + shared.options.interval;
    let mut ticker = tokio::time::interval_at(first, shared.options.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut log = FlushLog::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => log.record(flush_once(&store, &shared).await),
            _ = shared.wake.notified() => log.record(flush_once(&store, &shared).await),
            command = commands.recv() => match command {
                Some(Command::Flush(reply)) => {
                    let _ = reply.send(flush_once(&store, &shared).await);
                }
                Some(Command::Close(reply)) => {
                    let _ = reply.send(flush_once(&store, &shared).await);
                    return;
                }
                // Every handle is gone: write what is left and stop.
                None => {
                    log.record(flush_once(&store, &shared).await);
                    return;
                }
            },
        }
    }
}

async fn flush_once(store: &Store, shared: &Shared) -> StoreResult<FlushStats> {
    let (batch, dropped) = shared.take();
    if batch.is_empty() {
        return Ok(FlushStats {
            dropped_events: dropped,
            ..FlushStats::default()
        });
    }
    let stats = FlushStats {
        agents: batch.agents.len(),
        attempts: batch.attempts.len(),
        events: batch.events.len(),
        dropped_events: dropped,
    };
    // The batch comes back from the blocking task so a failed write (disk full, lock
    // timeout) is retried next time without copying every flush.
    let backend = Arc::clone(store.backend());
    let joined = tokio::task::spawn_blocking(move || {
        let result = backend.write_batch(&batch);
        (batch, result)
    })
    .await;
    match joined {
        Ok((_, Ok(()))) => Ok(stats),
        Ok((batch, Err(e))) => {
            shared.restore(batch, dropped);
            Err(e)
        }
        Err(join) => Err(StoreError::Task {
            operation: "write-behind flush".into(),
            detail: join.to_string(),
        }),
    }
}

/// Logs flush outcomes without flooding: a store that keeps failing (disk full, read-only)
/// is retried every interval but reported once when it starts failing, again only if the
/// error changes, and once when writes work again.
#[derive(Default)]
struct FlushLog {
    /// The kind of error being reported and how many flushes in a row have failed.
    failing: Option<(std::mem::Discriminant<StoreError>, u64)>,
}

impl FlushLog {
    fn record(&mut self, result: StoreResult<FlushStats>) {
        match result {
            Ok(stats) => {
                if let Some((_, failures)) = self.failing.take() {
                    tracing::info!(
                        failed_flushes = failures,
                        "store writes work again; the held-back agent records and events are written"
                    );
                }
                if stats.dropped_events > 0 {
                    tracing::warn!(
                        dropped = stats.dropped_events,
                        "event history could not keep up; oldest events dropped"
                    );
                }
            }
            Err(e) => {
                // The message carries batch sizes that change every time; the kind does not.
                let kind = std::mem::discriminant(&e);
                match &mut self.failing {
                    Some((same, failures)) if *same == kind => *failures += 1,
                    _ => {
                        tracing::error!(
                            error = %e,
                            "cannot write to the store; agents are still served, their records \
                             are held in memory and retried every interval (logged once)"
                        );
                        self.failing = Some((kind, 1));
                    }
                }
            }
        }
    }
}
impl AgentJournal for WriteBehind {
    fn agent(&self, record: AgentRecord) {
        WriteBehind::agent(self, record);
    }

    fn attempt(&self, attempt: ApplyAttempt) {
        WriteBehind::attempt(self, attempt);
    }

    fn forget(&self, id: AgentId) {
        WriteBehind::forget(self, id);
    }
}
