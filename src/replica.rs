//! Replicas on one PostgreSQL database: what this process keeps in memory about what is
//! stored (resource types, the secrets to hide, the API tokens) is read again when
//! another replica commits a change, within milliseconds (LISTEN/NOTIFY, see
//! `store/postgres/changes.rs`). On the SQLite file there is no one else, and nothing runs.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::access::Tokens;
use crate::catalog::Catalog;
use crate::store::{Change, Store};

/// Follows the other replicas' changes until `shutdown`.
pub fn follow(store: &Store, catalog: Arc<Catalog>, tokens: Tokens, shutdown: CancellationToken) {
    let Some(changes) = store.watch_changes() else {
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = apply_changes(changes, &catalog, &tokens) => {}
        }
    });
}

async fn apply_changes(mut changes: UnboundedReceiver<Change>, catalog: &Catalog, tokens: &Tokens) {
    while let Some(first) = changes.recv().await {
        // A burst of commits is read again once.
        let mut pending = vec![first];
        while let Ok(more) = changes.try_recv() {
            pending.push(more);
        }
        let any = |c: Change| pending.contains(&c) || pending.contains(&Change::Everything);
        if any(Change::Resources)
            && let Err(e) = catalog.reload().await
        {
            tracing::warn!("cannot read another replica's resource changes: {e}");
        }
        if any(Change::Tokens)
            && let Err(e) = tokens.reload().await
        {
            tracing::warn!("cannot read another replica's token changes: {e}");
        }
    }
}
