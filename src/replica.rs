//! Replicas on one PostgreSQL database: what this process keeps in memory about what is
//! stored (resource types, the secrets to hide, the API tokens) is read again when
//! another replica commits a change, within milliseconds (LISTEN/NOTIFY, see
//! `store/postgres/changes.rs`), and an agent another replica revoked is disconnected here
//! if it is connected here. On the SQLite file there is no one else, and nothing runs.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::access::Tokens;
use crate::catalog::Catalog;
use crate::fleet::registry::RegistryHandle;
use crate::opamp::credentials::AgentAuth;
use crate::store::{Change, Store};

/// What a replica keeps in memory and must hear about.
pub struct Followers {
    pub catalog: Arc<Catalog>,
    pub tokens: Tokens,
    pub registry: RegistryHandle,
    pub agent_auth: Arc<AgentAuth>,
}

/// Follows the other replicas' changes until `shutdown`.
pub fn follow(store: &Store, followers: Followers, shutdown: CancellationToken) {
    let Some(changes) = store.watch_changes() else {
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = apply_changes(changes, &followers) => {}
        }
    });
}

/// Disconnects the agents connected here that another replica revoked.
async fn cut_off_revoked(f: &Followers) -> Result<(), String> {
    f.agent_auth
        .reload_revoked()
        .await
        .map_err(|e| e.to_string())?;
    let records = f.agent_auth.records().await.map_err(|e| e.to_string())?;
    let snap = f.registry.snapshot().borrow().clone();
    for a in snap.agents.iter().filter(|a| a.is_connected()) {
        if let Some(rev) = records.get(&a.id).and_then(|r| r.revoked.as_ref()) {
            tracing::warn!(agent = %a.id, by = %rev.by, "agent revoked on another replica; disconnecting it");
            f.registry
                .cut_off(a.id, format!("agent {} was revoked by {}", a.id, rev.by))
                .await;
        }
    }
    Ok(())
}

async fn apply_changes(mut changes: UnboundedReceiver<Change>, f: &Followers) {
    let (catalog, tokens) = (&f.catalog, &f.tokens);
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
        if any(Change::Revocations)
            && let Err(e) = cut_off_revoked(f).await
        {
            tracing::warn!("cannot read another replica's revocations: {e}");
        }
    }
}
