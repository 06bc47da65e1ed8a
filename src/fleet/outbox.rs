//! The queue through which the registry speaks first to a WebSocket agent (a pushed
//! configuration, a restart), one per connection.
//!
//! Every connected agent keeps one for as long as it is connected and it is nearly always
//! empty, so it is kept small: a bounded tokio `mpsc` channel allocated about 800 bytes per
//! connection (its shared state and a first block of 32 slots); this is a short locked
//! queue, a count and a waker, and it allocates room for messages only once one is queued.
//! The session looks at it after every message it handles, so an empty outbox is seen
//! from the count alone, without a lock.
//!
//! When the registry lets go of an outbox while its session lives, the server is going
//! away (the registry stops on shutdown): the session learns it here, from `recv` returning
//! `None`, instead of every idle connection also waiting on the shutdown token (72 bytes of
//! waiter in each session's task).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use super::outbound::ServerReply;

struct Shared {
    queue: Mutex<VecDeque<Box<ServerReply>>>,
    /// How many messages the queue holds.
    queued: AtomicUsize,
    /// The session waiting for a message.
    waker: AtomicWaker,
    capacity: usize,
    /// The session is gone: nothing queued will be read.
    closed: AtomicBool,
    /// Registry ends still held; at zero nothing more will ever be queued.
    senders: AtomicUsize,
}

/// The registry's end: queues without waiting.
pub struct OutboxSender(Arc<Shared>);

/// The session's end.
pub struct OutboxReceiver(Arc<Shared>);

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    #[error("the agent's outbox is full")]
    Full,
    #[error("the agent's connection is gone")]
    Closed,
}

/// A queue holding at most `capacity` (at least 1) messages.
pub fn outbox(capacity: usize) -> (OutboxSender, OutboxReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        queued: AtomicUsize::new(0),
        waker: AtomicWaker::new(),
        capacity: capacity.max(1),
        closed: AtomicBool::new(false),
        senders: AtomicUsize::new(1),
    });
    (OutboxSender(shared.clone()), OutboxReceiver(shared))
}

impl OutboxSender {
    /// Queues `msg` unless the outbox is full or its session has ended.
    pub fn try_send(&self, msg: Box<ServerReply>) -> Result<(), OutboxError> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(OutboxError::Closed);
        }
        {
            let mut queue = self.0.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.len() >= self.0.capacity {
                return Err(OutboxError::Full);
            }
            queue.push_back(msg);
            self.0.queued.store(queue.len(), Ordering::Release);
        }
        self.0.waker.wake();
        Ok(())
    }
}

impl Clone for OutboxSender {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        OutboxSender(self.0.clone())
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.waker.wake();
        }
    }
}

impl OutboxReceiver {
    /// The next queued message, waiting for one; `None` once the registry has let go of
    /// the outbox and everything queued was taken. Cancel-safe: a message is only taken
    /// from the queue when it is returned.
    pub async fn recv(&mut self) -> Option<Box<ServerReply>> {
        std::future::poll_fn(|cx| {
            if let Some(msg) = self.pop() {
                return Poll::Ready(Some(msg));
            }
            self.0.waker.register(cx.waker());
            // A message queued (or the last sender dropped) before the registration would
            // have woken nobody: look again.
            match self.pop() {
                Some(msg) => Poll::Ready(Some(msg)),
                None if self.0.senders.load(Ordering::Acquire) == 0 => Poll::Ready(None),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// The next queued message, if one is waiting (tests read what a push queued).
    #[cfg(test)]
    pub fn try_recv(&mut self) -> Option<Box<ServerReply>> {
        self.pop()
    }

    fn pop(&self) -> Option<Box<ServerReply>> {
        if self.0.queued.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut queue = self.0.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let msg = queue.pop_front();
        self.0.queued.store(queue.len(), Ordering::Release);
        if queue.is_empty() && queue.capacity() > 0 {
            // Back to no allocation at all while idle.
            *queue = VecDeque::new();
        }
        msg
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        let mut queue = self.0.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::AgentId;
    use std::time::Duration;

    fn reply(n: u8) -> Box<ServerReply> {
        Box::new(ServerReply::ack(AgentId([n; 16]), 0))
    }

    #[tokio::test]
    async fn delivers_in_order_up_to_its_capacity() {
        let (tx, mut rx) = outbox(2);
        tx.try_send(reply(1)).unwrap();
        tx.try_send(reply(2)).unwrap();
        assert_eq!(tx.try_send(reply(3)), Err(OutboxError::Full));
        assert_eq!(rx.recv().await.unwrap().instance_uid, AgentId([1; 16]));
        assert_eq!(rx.recv().await.unwrap().instance_uid, AgentId([2; 16]));
        tx.try_send(reply(4)).unwrap();
        assert_eq!(rx.recv().await.unwrap().instance_uid, AgentId([4; 16]));
    }

    #[tokio::test]
    async fn a_waiting_session_wakes_when_a_message_is_queued() {
        let (tx, mut rx) = outbox(4);
        let waiter = tokio::spawn(async move { rx.recv().await.unwrap().instance_uid });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.try_send(reply(7)).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(got, AgentId([7; 16]));
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_nothing() {
        let (tx, mut rx) = outbox(4);
        // A wait abandoned (as when another select! branch wins) ...
        let _ = tokio::time::timeout(Duration::from_millis(10), rx.recv()).await;
        tx.try_send(reply(9)).unwrap();
        // ... does not swallow the message queued afterwards.
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("delivered")
            .unwrap();
        assert_eq!(got.instance_uid, AgentId([9; 16]));
    }

    /// The registry letting go (shutdown) wakes a waiting session with `None`, after it
    /// has taken what was queued; a clone still held keeps the outbox open.
    #[tokio::test]
    async fn a_session_learns_when_the_registry_lets_go() {
        let (tx, mut rx) = outbox(4);
        let second = tx.clone();
        tx.try_send(reply(3)).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await.unwrap().instance_uid, AgentId([3; 16]));
        assert!(
            tokio::time::timeout(Duration::from_millis(20), rx.recv())
                .await
                .is_err(),
            "open while a sender is held"
        );
        let waiter = tokio::spawn(async move { rx.recv().await.is_none() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(second);
        let ended = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert!(ended, "recv returns None once no sender is left");
    }

    #[test]
    fn nothing_is_queued_once_the_session_is_gone() {
        let (tx, rx) = outbox(4);
        drop(rx);
        assert_eq!(tx.try_send(reply(1)), Err(OutboxError::Closed));
    }
}
