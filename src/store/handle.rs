//! The async handle the tokio server uses. Every call runs the blocking backend on
//! tokio's blocking pool, so no database work ever happens on a runtime thread.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::StoreBackend;
use super::error::{StoreError, StoreResult};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::types::{
    ApplyOutcome, Change, EventQuery, NewEvent, ResourceDoc, RolloutRecord, RolloutStatus,
    SpecRewrite, StoreOptions, StoredEvent, TokenRecord, WriteBatch,
};
use crate::fleet::agent::AgentId;
use crate::fleet::attempt::ApplyAttempt;
use crate::fleet::record::AgentRecord;
use crate::sealing::Sealer;

/// Cheap to clone; all clones share one backend.
///
/// With a [`Sealer`], every resource read comes back with its sealed secrets opened, so
/// readers never see the sealed form; writers seal (the catalog knows which values are
/// secret).
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn StoreBackend>,
    sealer: Option<Arc<Sealer>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.backend.location())
            .finish()
    }
}

impl Store {
    /// Open the SQLite store in `data_dir` (blocking: call it at startup, before or
    /// outside the runtime, or use [`Store::open_async`]).
    pub fn open(data_dir: impl AsRef<Path>) -> StoreResult<Store> {
        Ok(Store::from_backend(Arc::new(SqliteStore::open(data_dir)?)))
    }

    /// [`Store::open`] from async code.
    pub async fn open_async(
        data_dir: impl AsRef<Path>,
        options: StoreOptions,
    ) -> StoreResult<Store> {
        let dir = data_dir.as_ref().to_path_buf();
        let sqlite = tokio::task::spawn_blocking(move || SqliteStore::open_with(dir, options))
            .await
            .map_err(|e| StoreError::Task {
                operation: "open store".into(),
                detail: e.to_string(),
            })??;
        Ok(Store::from_backend(Arc::new(sqlite)))
    }

    /// The store `--store` names: PostgreSQL for a `postgres://` URL, else (`None`) the
    /// SQLite file in `data_dir`. Opened on the blocking pool.
    pub async fn open_selected(
        store: Option<&str>,
        data_dir: impl AsRef<Path>,
        options: StoreOptions,
    ) -> StoreResult<Store> {
        let Some(url) = store else {
            return Store::open_async(data_dir, options).await;
        };
        if !super::is_postgres_url(url) {
            return Err(StoreError::BadStoreUrl {
                given: crate::redact::url_without_password(url),
                detail: "expected a postgres:// URL (or no --store, for the SQLite file in the \
                         data directory)"
                    .into(),
            });
        }
        let url = url.to_string();
        let pg = tokio::task::spawn_blocking(move || PgStore::open_with(&url, options))
            .await
            .map_err(|e| StoreError::Task {
                operation: "open store".into(),
                detail: e.to_string(),
            })??;
        Ok(Store::from_backend(Arc::new(pg)))
    }

    /// Wrap any backend (e.g. a store opened with options of its own).
    pub fn from_backend(backend: Arc<dyn StoreBackend>) -> Store {
        Store {
            backend,
            sealer: None,
        }
    }

    /// Opens sealed secrets on every read with these keys.
    pub fn with_sealer(mut self, sealer: Arc<Sealer>) -> Store {
        self.sealer = Some(sealer);
        self
    }

    /// The keys that seal secrets, when this store seals them.
    pub fn sealer(&self) -> Option<&Arc<Sealer>> {
        self.sealer.as_ref()
    }

    /// The document with its sealed secrets opened.
    fn opened(&self, mut doc: ResourceDoc) -> StoreResult<ResourceDoc> {
        let Some(sealer) = &self.sealer else {
            return Ok(doc);
        };
        if !crate::sealing::has_sealed(&doc.spec_json) {
            return Ok(doc);
        }
        let unreadable = |detail: String| StoreError::Sealed {
            kind: doc.kind.clone(),
            name: doc.name.clone(),
            version: doc.version,
            detail,
        };
        let mut spec: serde_json::Value =
            serde_json::from_str(&doc.spec_json).map_err(|e| unreadable(e.to_string()))?;
        sealer
            .open_json(&mut spec)
            .map_err(|e| unreadable(e.to_string()))?;
        doc.spec_json = spec.to_string();
        Ok(doc)
    }

    fn opened_all(&self, docs: Vec<ResourceDoc>) -> StoreResult<Vec<ResourceDoc>> {
        docs.into_iter().map(|d| self.opened(d)).collect()
    }

    /// The blocking backend, for code that is already off the runtime.
    pub fn backend(&self) -> &Arc<dyn StoreBackend> {
        &self.backend
    }

    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// What other replicas on the same database change from now on (see
    /// [`StoreBackend::watch_changes`]); `None` on the SQLite file.
    pub fn watch_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Change>> {
        self.backend.watch_changes()
    }

    async fn run<T, F>(&self, operation: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn StoreBackend) -> StoreResult<T> + Send + 'static,
    {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || f(backend.as_ref()))
            .await
            .map_err(|e| StoreError::Task {
                operation: operation.into(),
                detail: e.to_string(),
            })?
    }

    pub async fn apply(
        &self,
        kind: impl Into<String>,
        name: impl Into<String>,
        spec_json: impl Into<String>,
        labels: BTreeMap<String, String>,
    ) -> StoreResult<ApplyOutcome> {
        let (kind, name, spec) = (kind.into(), name.into(), spec_json.into());
        self.run("apply", move |b| b.apply(&kind, &name, &spec, &labels))
            .await
    }

    pub async fn get(&self, kind: &str, name: &str) -> StoreResult<Option<ResourceDoc>> {
        let (kind, name) = (kind.to_owned(), name.to_owned());
        let doc = self.run("get", move |b| b.get(&kind, &name)).await?;
        doc.map(|d| self.opened(d)).transpose()
    }

    pub async fn get_version(
        &self,
        kind: &str,
        name: &str,
        version: u64,
    ) -> StoreResult<Option<ResourceDoc>> {
        let (kind, name) = (kind.to_owned(), name.to_owned());
        let doc = self
            .run("get version", move |b| b.get_version(&kind, &name, version))
            .await?;
        doc.map(|d| self.opened(d)).transpose()
    }

    pub async fn list_versions(&self, kind: &str, name: &str) -> StoreResult<Vec<ResourceDoc>> {
        let docs = self.list_versions_sealed(kind, name).await?;
        self.opened_all(docs)
    }

    /// [`Store::list_versions`] as stored, secrets still sealed.
    pub async fn list_versions_sealed(
        &self,
        kind: &str,
        name: &str,
    ) -> StoreResult<Vec<ResourceDoc>> {
        let (kind, name) = (kind.to_owned(), name.to_owned());
        self.run("list versions", move |b| b.list_versions(&kind, &name))
            .await
    }

    pub async fn list_kind(&self, kind: &str) -> StoreResult<Vec<ResourceDoc>> {
        let kind = kind.to_owned();
        let docs = self.run("list kind", move |b| b.list_kind(&kind)).await?;
        self.opened_all(docs)
    }

    /// Replaces the spec text of stored versions (to seal their secrets).
    pub async fn rewrite_specs(&self, rewrites: Vec<SpecRewrite>) -> StoreResult<usize> {
        self.run("rewrite specs", move |b| b.rewrite_specs(&rewrites))
            .await
    }

    /// Delete after `guard` (the caller's in-use check) accepted the latest version.
    pub async fn delete<G>(&self, kind: &str, name: &str, guard: G) -> StoreResult<ResourceDoc>
    where
        G: Fn(&ResourceDoc) -> Result<(), String> + Send + 'static,
    {
        let (kind, name) = (kind.to_owned(), name.to_owned());
        let doc = self
            .run("delete", move |b| b.delete(&kind, &name, &guard))
            .await?;
        self.opened(doc)
    }

    pub async fn write_batch(&self, batch: WriteBatch) -> StoreResult<()> {
        self.run("write batch", move |b| b.write_batch(&batch))
            .await
    }

    pub async fn write_agents(&self, agents: Vec<AgentRecord>) -> StoreResult<()> {
        self.run("write agents", move |b| b.write_agents(&agents))
            .await
    }

    pub async fn load_agents(&self) -> StoreResult<Vec<AgentRecord>> {
        self.run("load agents", |b| b.load_agents()).await
    }

    pub async fn get_agent(&self, id: AgentId) -> StoreResult<Option<AgentRecord>> {
        self.run("get agent", move |b| b.get_agent(&id)).await
    }

    pub async fn delete_agents(&self, ids: Vec<AgentId>) -> StoreResult<usize> {
        self.run("delete agents", move |b| b.delete_agents(&ids))
            .await
    }

    /// The agent's apply history, newest first, at most `limit` attempts.
    pub async fn agent_history(&self, id: AgentId, limit: usize) -> StoreResult<Vec<ApplyAttempt>> {
        self.run("read apply history", move |b| b.agent_history(&id, limit))
            .await
    }

    pub async fn append_events(&self, events: Vec<NewEvent>) -> StoreResult<()> {
        self.run("append events", move |b| b.append_events(&events))
            .await
    }

    pub async fn query_events(&self, query: EventQuery) -> StoreResult<Vec<StoredEvent>> {
        self.run("query events", move |b| b.query_events(&query))
            .await
    }

    pub async fn put_rollout(
        &self,
        config_name: &str,
        status: RolloutStatus,
        state_json: impl Into<String>,
    ) -> StoreResult<u64> {
        let (name, state) = (config_name.to_owned(), state_json.into());
        self.run("put rollout", move |b| b.put_rollout(&name, status, &state))
            .await
    }

    pub async fn get_rollout(&self, config_name: &str) -> StoreResult<Option<RolloutRecord>> {
        let name = config_name.to_owned();
        self.run("get rollout", move |b| b.get_rollout(&name)).await
    }

    pub async fn list_unfinished_rollouts(&self) -> StoreResult<Vec<RolloutRecord>> {
        self.run("list unfinished rollouts", |b| b.list_unfinished_rollouts())
            .await
    }

    pub async fn delete_rollout(&self, config_name: &str) -> StoreResult<bool> {
        let name = config_name.to_owned();
        self.run("delete rollout", move |b| b.delete_rollout(&name))
            .await
    }

    /// See [`StoreBackend::hold_rollout`].
    pub async fn hold_rollout(&self, config_name: &str) -> StoreResult<bool> {
        let name = config_name.to_owned();
        self.run("hold rollout", move |b| b.hold_rollout(&name))
            .await
    }

    /// See [`StoreBackend::release_rollout`].
    pub async fn release_rollout(&self, config_name: &str) -> StoreResult<()> {
        let name = config_name.to_owned();
        self.run("release rollout", move |b| b.release_rollout(&name))
            .await
    }

    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.run("list tokens", |b| b.list_tokens()).await
    }

    pub async fn create_token(&self, token: TokenRecord) -> StoreResult<bool> {
        self.run("create token", move |b| b.create_token(&token))
            .await
    }

    pub async fn delete_token(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.run("delete token", move |b| b.delete_token(&name))
            .await
    }
}

/// The fleet's credential rules keep their records here; every call blocks, so callers
/// run it on the blocking pool (`opamp::credentials` does).
impl crate::fleet::credentials::CredentialBook for Store {
    fn credential(
        &self,
        agent: &AgentId,
    ) -> Result<Option<crate::fleet::credentials::CredentialRecord>, String> {
        self.backend.credential(agent).map_err(|e| e.to_string())
    }

    fn credential_by_hash(
        &self,
        h: &crate::fleet::credentials::CredentialHash,
    ) -> Result<Option<crate::fleet::credentials::CredentialRecord>, String> {
        self.backend
            .credential_by_hash(h)
            .map_err(|e| e.to_string())
    }

    fn update_credential(
        &self,
        agent: &AgentId,
        change: &mut dyn FnMut(
            Option<crate::fleet::credentials::CredentialRecord>,
        ) -> Option<crate::fleet::credentials::CredentialRecord>,
    ) -> Result<Option<crate::fleet::credentials::CredentialRecord>, String> {
        self.backend
            .update_credential(agent, change)
            .map_err(|e| e.to_string())
    }

    fn credentials(&self) -> Result<Vec<crate::fleet::credentials::CredentialRecord>, String> {
        self.backend.list_credentials().map_err(|e| e.to_string())
    }
}
