//! What the other replicas changed. Every write transaction notifies the channel
//! `fleetdeck_changes` with what it changed and which process wrote it (PostgreSQL
//! delivers a notification only when its transaction commits, and folds identical ones
//! of one transaction into one). A listener thread, on a connection of its own, hands
//! the other processes' changes to async code within milliseconds of their commit.

use std::time::Duration;

use postgres::Transaction;
use postgres::fallible_iterator::FallibleIterator;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::pool::{Connector, discard};
use crate::store::types::Change;

const CHANNEL: &str = "fleetdeck_changes";
/// How often the listener looks whether anyone still wants its news.
const POLL: Duration = Duration::from_millis(500);
/// Between attempts to reconnect a lost listening connection.
const RETRY: Duration = Duration::from_secs(1);

/// Tells the other replicas, once this transaction commits, that `what` changed.
pub(super) fn notify(
    tx: &mut Transaction<'_>,
    what: Change,
    origin: &str,
) -> Result<(), postgres::Error> {
    let payload = format!("{}:{origin}", what.as_str());
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
    Ok(())
}

/// Starts a listener; it stops when the receiver is dropped. Its first news, once it
/// listens, is [`Change::Everything`] (what was committed before is not announced to it);
/// a listening connection that breaks is reopened, and since notifications sent meanwhile
/// are lost, the first news after that is [`Change::Everything`] again.
pub(super) fn listen(connector: Connector, origin: String) -> UnboundedReceiver<Change> {
    let (tx, rx) = unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name("fleetdeck-pg-listen".into())
        .spawn(move || run(&connector, &origin, &tx));
    if let Err(e) = spawned {
        tracing::error!("cannot start listening for other replicas' changes: {e}");
    }
    rx
}

fn run(connector: &Connector, origin: &str, out: &UnboundedSender<Change>) {
    let mut reconnecting = false;
    let mut said_lost = false;
    while !out.is_closed() {
        let mut client = match connector.connect() {
            Ok(c) => c,
            Err(e) => {
                if !said_lost {
                    tracing::warn!("not hearing other replicas' changes: {e}; retrying");
                    said_lost = true;
                }
                std::thread::sleep(RETRY);
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
            tracing::warn!(location = connector.location(), "LISTEN failed: {e}");
            discard(client);
            std::thread::sleep(RETRY);
            continue;
        }
        if reconnecting {
            tracing::info!(
                location = connector.location(),
                "hearing other replicas' changes again"
            );
        }
        // What was committed before LISTEN took effect (since the caller read the store,
        // or while the connection was lost) was announced to no one here: read it all.
        if out.send(Change::Everything).is_err() {
            return;
        }
        reconnecting = true;
        let lost = loop {
            let mut notes = client.notifications();
            let mut waiting = notes.timeout_iter(POLL);
            match waiting.next() {
                Ok(Some(note)) => {
                    if let Some(change) = parse(note.payload(), origin)
                        && out.send(change).is_err()
                    {
                        break None;
                    }
                }
                Ok(None) if out.is_closed() => break None,
                Ok(None) => {}
                Err(e) => break Some(e),
            }
        };
        discard(client);
        match lost {
            None => return,
            Some(e) => {
                tracing::warn!(
                    location = connector.location(),
                    "lost the connection that hears other replicas' changes: {e}; reconnecting"
                );
                said_lost = true;
            }
        }
    }
}

/// `what:origin`; our own notifications and unknown words are ignored.
fn parse(payload: &str, origin: &str) -> Option<Change> {
    let (what, from) = payload.split_once(':')?;
    if from == origin {
        return None;
    }
    Change::parse(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_processes_changes_are_news() {
        assert_eq!(parse("resources:b7", "a1"), Some(Change::Resources));
        assert_eq!(parse("tokens:b7", "a1"), Some(Change::Tokens));
        assert_eq!(parse("resources:a1", "a1"), None);
        assert_eq!(parse("weather:b7", "a1"), None);
        assert_eq!(parse("garbage", "a1"), None);
    }
}
