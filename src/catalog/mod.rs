//! The resources operators manage — resource types, configurations and named
//! destinations — checked by `pipeline`, kept with every version by `store`.
//!
//! A stored configuration version carries the Collector YAML it rendered to at apply time,
//! so a version is immutable: what an agent was sent as `web:3` is exactly what `web:3`
//! is, whatever happens to types or destinations later.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::fleet::delivery::ConfigRef;
use crate::fleet::outbound::RemoteConfigOffer;
use crate::opamp::offer::collector_offer;
use crate::pipeline::{
    self, Configuration, Destination, DestinationResolver, Problem, Redactor, Resource, TypeKind,
    TypeRegistry,
};
use crate::store::{ApplyOutcome, ResourceDoc, Store, StoreError};

mod kinds;
pub use kinds::{CONFIGURATION, DESTINATION, canonical_kind};

const TYPE_KINDS: [TypeKind; 3] = [TypeKind::Source, TypeKind::Processor, TypeKind::Destination];

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no configuration named '{0}'")]
    NoConfiguration(String),
    #[error("configuration '{name}' has no version {version}")]
    NoVersion { name: String, version: u64 },
    #[error("stored {kind} '{name}' version {version} cannot be read: {message}")]
    Corrupt {
        kind: String,
        name: String,
        version: u64,
        message: String,
    },
    #[error("{0}")]
    Invalid(pipeline::Problems),
}

/// What `apply` did with one resource (the words `fleetdeck apply` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyStatus {
    Created,
    Configured,
    Unchanged,
    Invalid,
}

impl std::fmt::Display for ApplyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApplyStatus::Created => "created",
            ApplyStatus::Configured => "configured",
            ApplyStatus::Unchanged => "unchanged",
            ApplyStatus::Invalid => "invalid",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResult {
    pub kind: String,
    pub name: String,
    pub status: ApplyStatus,
    /// The version that is now the latest (absent when invalid).
    pub version: Option<u64>,
    /// Every problem found, each naming the resource and parameter.
    pub problems: Vec<String>,
    /// Why this resource changed when it was not the one applied (a configuration
    /// re-rendered because a destination or type it uses changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A configuration version as stored.
#[derive(Debug, Clone)]
pub struct StoredConfig {
    pub config: Configuration,
    pub version: u64,
    /// The Collector YAML this version renders to.
    pub rendered: String,
    pub doc: ResourceDoc,
}

impl StoredConfig {
    pub fn cref(&self) -> ConfigRef {
        ConfigRef {
            name: self.config.name().into(),
            version: self.version,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct ConfigDoc {
    configuration: Configuration,
    rendered: String,
}

pub struct Catalog {
    store: Store,
    types: RwLock<Arc<TypeRegistry>>,
    offers: Mutex<HashMap<ConfigRef, Arc<RemoteConfigOffer>>>,
    /// Every sensitive value in any stored version of a configuration or destination, to
    /// hide them wherever text is shown (old versions' secrets stay hidden too).
    redactor: RwLock<Arc<Redactor>>,
    /// Counts changes to what is stored (an apply that changed something, a delete), so
    /// whoever acts on configurations (selectors) can look again.
    changes: tokio::sync::watch::Sender<u64>,
    /// Signs every offer (set once at start; offers made before carry no signature).
    signer: std::sync::OnceLock<Arc<crate::signing::ConfigSigner>>,
}

struct Destinations(BTreeMap<String, Destination>);

impl DestinationResolver for Destinations {
    fn destination(&self, name: &str) -> Option<Destination> {
        self.0.get(name).cloned()
    }
}

impl Catalog {
    /// Opens the catalog: built-in types, then user types from the store over them.
    pub async fn open(store: Store) -> Result<Catalog, CatalogError> {
        let types = load_types(&store).await?;
        let catalog = Catalog {
            store,
            types: RwLock::new(Arc::new(types)),
            offers: Mutex::new(HashMap::new()),
            redactor: RwLock::new(Arc::new(Redactor::default())),
            changes: tokio::sync::watch::Sender::new(0),
            signer: std::sync::OnceLock::new(),
        };
        catalog.seal_stored().await?;
        catalog.refresh_redactor().await?;
        catalog.resume_rerendering().await;
        Ok(catalog)
    }

    /// Re-renders, at start, every configuration whose stored rendering no longer matches
    /// its types and destinations: a change and the re-renders it causes are separate
    /// commits, so a crash between them would otherwise leave configurations stale for
    /// good (applying the change again says "unchanged"). Nothing happens when all match.
    async fn resume_rerendering(&self) {
        let done = self
            .rerender_configurations("a resource it uses (re-rendering resumed at start)")
            .await;
        for r in &done {
            tracing::warn!(configuration = %r.name, version = ?r.version, status = ?r.status,
                "configuration re-rendered at start: a resource it uses had changed without it");
        }
    }

    /// Reads again what another replica may have changed in the store: the user's
    /// resource types and every stored secret; then tells whoever acts on
    /// configurations (selectors) to look again.
    pub async fn reload(&self) -> Result<(), CatalogError> {
        let types = load_types(&self.store).await?;
        match self.types.write() {
            Ok(mut t) => *t = Arc::new(types),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(types),
        }
        self.refresh_redactor().await?;
        self.changed();
        Ok(())
    }

    /// What hides the secrets of every stored configuration and destination version.
    pub fn redactor(&self) -> Arc<Redactor> {
        match self.redactor.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the redactor from every stored version (at open, and when a resource type
    /// changes, since a type decides which parameters are sensitive).
    async fn refresh_redactor(&self) -> Result<(), CatalogError> {
        let types = self.types();
        let mut secrets = Vec::new();
        for kind in [CONFIGURATION, DESTINATION] {
            for latest in self.store.list_kind(kind).await? {
                for doc in self.store.list_versions(kind, &latest.name).await? {
                    secrets.extend(secrets_of_doc(&doc, &types));
                }
            }
        }
        self.set_redactor(Redactor::new(secrets));
        Ok(())
    }

    /// Adds the secrets of a resource just stored.
    fn learn_secrets(&self, resource: &Resource) {
        let types = self.types();
        let new = match resource {
            Resource::Configuration(c) => pipeline::secrets::configuration_secrets(c, &types),
            Resource::Destination(d) => pipeline::secrets::destination_secrets(d, &types),
            Resource::Type(_) => return,
        };
        if new.is_empty() {
            return;
        }
        let known = self.redactor();
        self.set_redactor(Redactor::new(known.secrets().iter().cloned().chain(new)));
    }

    fn set_redactor(&self, r: Redactor) {
        match self.redactor.write() {
            Ok(mut g) => *g = Arc::new(r),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(r),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The resource types in force (built-in plus applied).
    pub fn types(&self) -> Arc<TypeRegistry> {
        match self.types.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Parses and applies a multi-document YAML text. Unparsable text changes nothing.
    pub async fn apply_text(
        &self,
        text: &str,
        file: Option<&str>,
    ) -> Result<Vec<ApplyResult>, Vec<Problem>> {
        let parsed = pipeline::parse_resources(text, file)?;
        let mut out = Vec::new();
        for p in parsed {
            let changed = match &p.resource {
                Resource::Configuration(_) => None,
                Resource::Destination(d) => Some(format!("destination '{}'", d.metadata.name)),
                Resource::Type(t) => Some(format!("{} '{}'", t.kind.kind_name(), t.metadata.name)),
            };
            let result = self.apply(p.resource).await;
            let stored_anew = matches!(
                result.status,
                ApplyStatus::Created | ApplyStatus::Configured
            );
            out.push(result);
            if let Some(cause) = changed.filter(|_| stored_anew) {
                out.extend(self.rerender_configurations(&cause).await);
            }
        }
        Ok(out)
    }

    /// Signs every offer from now on with `signer`.
    pub fn set_signer(&self, signer: Arc<crate::signing::ConfigSigner>) {
        let _ = self.signer.set(signer);
    }

    /// The public key offers are signed with, if they are.
    pub fn signing_key(&self) -> Option<String> {
        self.signer.get().map(|s| s.public_key())
    }

    /// The key before the last rotation, while it still endorses the new one.
    pub fn previous_signing_key(&self) -> Option<String> {
        self.signer
            .get()
            .and_then(|s| s.previous_key().map(str::to_owned))
    }

    /// Notified after every change to what is stored.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Validates and stores one resource; a new version only when it changed.
    pub async fn apply(&self, resource: Resource) -> ApplyResult {
        let result = self.apply_one(resource).await;
        if matches!(
            result.status,
            ApplyStatus::Created | ApplyStatus::Configured
        ) {
            self.changed();
        }
        result
    }

    async fn apply_one(&self, resource: Resource) -> ApplyResult {
        let kind = resource.kind().to_string();
        let name = resource.name().to_string();
        let invalid = |problems: Vec<String>| ApplyResult {
            kind: kind.clone(),
            // An invalid name may be any length: the answer shows it cut.
            name: crate::pipeline::name::cut_name(&name).into_owned(),
            status: ApplyStatus::Invalid,
            version: None,
            problems,
            note: None,
        };
        let stored = match &resource {
            Resource::Type(def) => {
                let mut next = (*self.types()).clone();
                if let Err(problems) = next.insert(def.clone()) {
                    return invalid(strings(problems));
                }
                let destinations = match self.destinations().await {
                    Ok(d) => d,
                    Err(e) => return invalid(vec![e.to_string()]),
                };
                let broken = self.configurations_broken_by(&next, &destinations).await;
                if !broken.is_empty() {
                    return invalid(broken);
                }
                let labels = BTreeMap::new();
                let json = match serde_json::to_string(def) {
                    Ok(j) => j,
                    Err(e) => return invalid(vec![e.to_string()]),
                };
                let outcome = self.store.apply(&kind, &name, &json, labels).await;
                if outcome.is_ok()
                    && let Ok(mut t) = self.types.write()
                {
                    *t = Arc::new(next);
                }
                outcome
            }
            Resource::Destination(d) => {
                if self
                    .types()
                    .get(TypeKind::Destination, &d.spec.type_name)
                    .is_none()
                {
                    return invalid(vec![format!(
                        "{}: unknown destination type '{}'",
                        d.label(),
                        d.spec.type_name
                    )]);
                }
                let mut destinations = match self.destinations().await {
                    Ok(d) => d,
                    Err(e) => return invalid(vec![e.to_string()]),
                };
                destinations.0.insert(name.clone(), d.clone());
                let broken = self
                    .configurations_broken_by(&self.types(), &destinations)
                    .await;
                if !broken.is_empty() {
                    return invalid(broken);
                }
                let json = match self.sealed_json(&resource, None, false) {
                    Ok(j) => j,
                    Err(e) => return invalid(vec![e]),
                };
                self.store
                    .apply(&kind, &name, &json, d.metadata.labels.clone())
                    .await
            }
            Resource::Configuration(c) => {
                let rendered = match self.render(c).await {
                    Ok(r) => r,
                    Err(CatalogError::Invalid(p)) => return invalid(strings(p.0)),
                    Err(e) => return invalid(vec![e.to_string()]),
                };
                let destinations = self.destinations().await.ok();
                let secret = self.has_secrets(c, destinations.as_ref());
                let json = match self.sealed_json(&resource, Some(rendered.yaml), secret) {
                    Ok(j) => j,
                    Err(e) => return invalid(vec![e]),
                };
                self.store
                    .apply(&kind, &name, &json, c.metadata.labels.clone())
                    .await
            }
        };
        if let Ok(outcome) = &stored
            && !matches!(outcome, ApplyOutcome::Unchanged { .. })
        {
            match &resource {
                Resource::Type(_) => {
                    if let Err(e) = self.refresh_redactor().await {
                        tracing::error!(error = %e, "cannot re-read secrets after a type change");
                    }
                }
                other => self.learn_secrets(other),
            }
        }
        match stored {
            Ok(outcome) => ApplyResult {
                kind,
                name,
                status: match outcome {
                    ApplyOutcome::Created { .. } => ApplyStatus::Created,
                    ApplyOutcome::Configured { .. } => ApplyStatus::Configured,
                    ApplyOutcome::Unchanged { .. } => ApplyStatus::Unchanged,
                },
                version: Some(outcome.version()),
                problems: Vec::new(),
                note: None,
            },
            Err(e) => invalid(vec![e.to_string()]),
        }
    }

    /// Whether a configuration's rendering holds secrets: its own sensitive values or
    /// those of the shared destinations it uses (`None`: the destinations could not be
    /// read, so it may).
    fn has_secrets(&self, c: &Configuration, destinations: Option<&Destinations>) -> bool {
        let types = self.types();
        if !pipeline::secrets::configuration_secrets(c, &types).is_empty() {
            return true;
        }
        let named: Vec<&str> = c
            .spec
            .destinations
            .iter()
            .filter(|d| d.type_name.is_none())
            .filter_map(|d| d.name.as_deref())
            .collect();
        if named.is_empty() {
            return false;
        }
        match destinations {
            Some(all) => named.iter().any(|n| {
                all.0
                    .get(*n)
                    .is_some_and(|d| !pipeline::secrets::destination_secrets(d, &types).is_empty())
            }),
            // Unknown: sealing costs nothing but readability.
            None => true,
        }
    }

    /// The JSON a configuration (with its rendering) or destination is stored as: with a
    /// sealer, its sensitive parameter values sealed, and a configuration's rendering
    /// sealed whole when it holds secrets (its own or its destinations'). A configuration
    /// without any stays readable, so replicas on one database need the key file only
    /// where there are secrets.
    fn sealed_json(
        &self,
        resource: &Resource,
        rendered: Option<String>,
        rendered_secret: bool,
    ) -> Result<String, String> {
        let mut resource = resource.clone();
        let mut rendered = rendered.unwrap_or_default();
        if let Some(sealer) = self.store.sealer() {
            let types = self.types();
            pipeline::secrets::map_sensitive_strings(&mut resource, &types, &|v| sealer.seal(v));
            if rendered_secret {
                rendered = sealer.seal(&rendered);
            }
        }
        let json = match resource {
            Resource::Configuration(configuration) => serde_json::to_string(&ConfigDoc {
                configuration,
                rendered,
            }),
            Resource::Destination(d) => serde_json::to_string(&d),
            Resource::Type(t) => serde_json::to_string(&t),
        };
        json.map_err(|e| e.to_string())
    }

    /// Seals, at start, every stored secret not sealed with the current key: values stored
    /// before sealing existed, and after `fleetdeck secrets rotate-key` everything sealed
    /// with an older key; then drops the older keys. A version that cannot be read is left
    /// as it is (it is reported where it is read) and the older keys are kept.
    async fn seal_stored(&self) -> Result<(), CatalogError> {
        let Some(sealer) = self.store.sealer().cloned() else {
            return Ok(());
        };
        let mut rewrites = Vec::new();
        let mut unreadable = 0usize;
        // Read once for every version, not once per configuration version.
        let destinations = self.destinations().await.ok();
        for kind in [CONFIGURATION, DESTINATION] {
            for latest in self.store.list_kind(kind).await? {
                for raw in self.store.list_versions_sealed(kind, &latest.name).await? {
                    match self.resealed(&sealer, &raw, destinations.as_ref()) {
                        Ok(Some(spec_json)) => rewrites.push(crate::store::SpecRewrite {
                            kind: raw.kind.clone(),
                            name: raw.name.clone(),
                            version: raw.version,
                            spec_json,
                        }),
                        Ok(None) => {}
                        Err(e) => {
                            unreadable += 1;
                            tracing::error!(kind = %raw.kind, name = %raw.name,
                                version = raw.version, error = %e, "stored secrets not resealed");
                        }
                    }
                }
            }
        }
        let count = self.store.rewrite_specs(rewrites).await?;
        if count > 0 {
            tracing::info!(
                versions = count,
                key = sealer.current_id(),
                "sealed stored secrets with the current key"
            );
        }
        if unreadable == 0 && sealer.key_count() > 1 {
            match sealer.retire_old_keys() {
                Ok(n) => tracing::info!(retired = n, path = %sealer.path().display(),
                    "older secret keys dropped: nothing stored is sealed with them"),
                Err(e) => tracing::warn!(error = %e, "older secret keys not dropped"),
            }
        }
        Ok(())
    }

    /// The spec `raw` should be stored as when it differs from what is stored.
    fn resealed(
        &self,
        sealer: &crate::sealing::Sealer,
        raw: &ResourceDoc,
        destinations: Option<&Destinations>,
    ) -> Result<Option<String>, String> {
        let stored: serde_json::Value =
            serde_json::from_str(&raw.spec_json).map_err(|e| e.to_string())?;
        let mut opened = stored.clone();
        sealer.open_json(&mut opened).map_err(|e| e.to_string())?;
        let (resource, rendered, secret) = if raw.kind == CONFIGURATION {
            let doc: ConfigDoc = serde_json::from_value(opened).map_err(|e| e.to_string())?;
            // A rendering sealed before stays sealed (what it held is not re-derived here).
            let secret = stored["rendered"]
                .as_str()
                .is_some_and(crate::sealing::has_sealed)
                || self.has_secrets(&doc.configuration, destinations);
            (
                Resource::Configuration(doc.configuration),
                Some(doc.rendered),
                secret,
            )
        } else {
            let d: Destination = serde_json::from_value(opened).map_err(|e| e.to_string())?;
            (Resource::Destination(d), None, false)
        };
        let json = self.sealed_json(&resource, rendered, secret)?;
        let fresh: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        Ok((fresh != stored).then_some(json))
    }

    /// Problems of the configurations that render today but would not with these types and
    /// destinations: a change that breaks a configuration is refused, naming it.
    async fn configurations_broken_by(
        &self,
        types: &TypeRegistry,
        destinations: &Destinations,
    ) -> Vec<String> {
        let (Ok(configs), Ok(today)) = (self.configurations().await, self.destinations().await)
        else {
            return Vec::new();
        };
        let types_today = self.types();
        let mut broken = Vec::new();
        for c in configs {
            // One that is already broken is not this change's doing.
            if pipeline::render(&c.config, &types_today, &today).is_err() {
                continue;
            }
            if let Err(problems) = pipeline::render(&c.config, types, destinations) {
                broken.push(format!(
                    "configuration '{}' would no longer render with this change:",
                    c.config.name()
                ));
                broken.extend(problems.iter().map(|p| format!("  {p}")));
            }
        }
        broken
    }

    /// After a destination or type changed: every configuration whose Collector YAML is now
    /// different gets a new version (its older versions keep what agents were sent).
    async fn rerender_configurations(&self, cause: &str) -> Vec<ApplyResult> {
        let configs = match self.configurations().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot list configurations to re-render them");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for stored in configs {
            let Ok(rendered) = self.render(&stored.config).await else {
                continue;
            };
            if rendered.yaml == stored.rendered {
                continue;
            }
            let mut result = self
                .apply(Resource::Configuration(stored.config.clone()))
                .await;
            result.note = Some(format!(
                "re-rendered because {cause} changed; push it to roll the change out"
            ));
            out.push(result);
        }
        out
    }

    /// Renders a configuration against the current types and stored destinations.
    pub async fn render(&self, c: &Configuration) -> Result<pipeline::Rendered, CatalogError> {
        let destinations = self.destinations().await?;
        pipeline::render(c, &self.types(), &destinations)
            .map_err(|p| CatalogError::Invalid(pipeline::Problems(p)))
    }

    /// Where each component of a configuration version came from (see
    /// [`pipeline::ComponentMap`]), under the current types and destinations.
    pub async fn component_map(
        &self,
        cref: &ConfigRef,
    ) -> Result<pipeline::ComponentMap, CatalogError> {
        let stored = self.configuration(&cref.name, Some(cref.version)).await?;
        let destinations = self.destinations().await?;
        Ok(pipeline::component_map(
            &stored.config,
            &self.types(),
            &destinations,
        ))
    }

    /// Renders with sensitive parameters masked, for people to read.
    pub async fn render_masked(
        &self,
        c: &Configuration,
    ) -> Result<pipeline::Rendered, CatalogError> {
        let destinations = self.destinations().await?;
        pipeline::render_masked(c, &self.types(), &destinations)
            .map_err(|p| CatalogError::Invalid(pipeline::Problems(p)))
    }

    async fn destinations(&self) -> Result<Destinations, CatalogError> {
        let mut map = BTreeMap::new();
        for doc in self.store.list_kind(DESTINATION).await? {
            let d: Destination = parse_doc(&doc)?;
            map.insert(doc.name.clone(), d);
        }
        Ok(Destinations(map))
    }

    /// A configuration at `version`, or its latest version.
    pub async fn configuration(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> Result<StoredConfig, CatalogError> {
        let doc = match version {
            Some(v) => self
                .store
                .get_version(CONFIGURATION, name, v)
                .await?
                .ok_or_else(|| CatalogError::NoVersion {
                    name: name.to_string(),
                    version: v,
                })?,
            None => self
                .store
                .get(CONFIGURATION, name)
                .await?
                .ok_or_else(|| CatalogError::NoConfiguration(name.to_string()))?,
        };
        stored_config(doc)
    }

    /// Every version of a configuration, oldest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<StoredConfig>, CatalogError> {
        let docs = self.store.list_versions(CONFIGURATION, name).await?;
        if docs.is_empty() {
            return Err(CatalogError::NoConfiguration(name.to_string()));
        }
        docs.into_iter().map(stored_config).collect()
    }

    /// The latest version of every configuration, by name.
    pub async fn configurations(&self) -> Result<Vec<StoredConfig>, CatalogError> {
        self.store
            .list_kind(CONFIGURATION)
            .await?
            .into_iter()
            .map(stored_config)
            .collect()
    }

    /// What agents are sent for a configuration version (cached; versions never change).
    pub async fn offer(&self, cref: &ConfigRef) -> Result<Arc<RemoteConfigOffer>, CatalogError> {
        if let Some(o) = self.lock_offers().get(cref) {
            return Ok(o.clone());
        }
        let stored = self.configuration(&cref.name, Some(cref.version)).await?;
        let mut offer = collector_offer(&stored.rendered);
        if let Some(signer) = self.signer.get() {
            offer.signature = Some(Arc::new(signer.sign(&offer.hash)));
        }
        let offer = Arc::new(offer);
        self.lock_offers().insert(cref.clone(), offer.clone());
        Ok(offer)
    }

    fn lock_offers(&self) -> std::sync::MutexGuard<'_, HashMap<ConfigRef, Arc<RemoteConfigOffer>>> {
        match self.offers.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The Collector YAML a stored version was sent as, with its secrets hidden: rendered
    /// again masked when that still gives the same YAML (exact masking), else the stored
    /// text with every known secret hidden (its destinations or types changed since).
    pub async fn masked_rendering(&self, stored: &StoredConfig) -> String {
        if let Ok(now) = self.render(&stored.config).await
            && now.yaml == stored.rendered
            && let Ok(masked) = self.render_masked(&stored.config).await
        {
            return masked.yaml;
        }
        self.redactor().mask(&stored.rendered).into_owned()
    }

    /// Line diff of the rendered YAML between two versions.
    pub async fn diff(
        &self,
        name: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<pipeline::DiffLine>, CatalogError> {
        let a = self.configuration(name, Some(from)).await?;
        let b = self.configuration(name, Some(to)).await?;
        let hide = self.redactor();
        Ok(pipeline::diff(
            &hide.mask(&a.rendered),
            &hide.mask(&b.rendered),
        ))
    }

    /// Deletes a resource unless `in_use` names who still uses it.
    pub async fn delete(
        &self,
        kind: &str,
        name: &str,
        in_use: Vec<String>,
    ) -> Result<(), CatalogError> {
        self.store
            .delete(kind, name, move |_doc: &ResourceDoc| {
                if in_use.is_empty() {
                    Ok(())
                } else {
                    Err(format!("used by {}", in_use.join(", ")))
                }
            })
            .await?;
        if TypeKind::from_kind_name(kind).is_some() {
            // Rebuild the registry without it (a built-in of the same name comes back).
            let types = load_types(&self.store).await?;
            if let Ok(mut t) = self.types.write() {
                *t = Arc::new(types);
            }
        }
        self.changed();
        Ok(())
    }
}

/// Built-in types, with the user's stored types over them.
async fn load_types(store: &Store) -> Result<TypeRegistry, CatalogError> {
    // The built-ins never change in a process: parsed once, not on every reload (another
    // replica's change reloads the types).
    static BUILTIN: std::sync::OnceLock<TypeRegistry> = std::sync::OnceLock::new();
    let mut types = BUILTIN.get_or_init(TypeRegistry::builtin).clone();
    for kind in TYPE_KINDS {
        for doc in store.list_kind(kind.kind_name()).await? {
            let def = parse_doc::<pipeline::ResourceType>(&doc)?;
            if let Err(problems) = types.insert(def) {
                // A type that was valid when applied but no longer loads (e.g. after an
                // upgrade changed a built-in helper) is skipped, loudly.
                tracing::warn!(kind = %doc.kind, name = %doc.name,
                    problems = %pipeline::Problems(problems), "stored resource type skipped");
            }
        }
    }
    Ok(types)
}

fn strings(problems: Vec<Problem>) -> Vec<String> {
    problems.into_iter().map(|p| p.to_string()).collect()
}

fn parse_doc<T: serde::de::DeserializeOwned>(doc: &ResourceDoc) -> Result<T, CatalogError> {
    serde_json::from_str(&doc.spec_json).map_err(|e| CatalogError::Corrupt {
        kind: doc.kind.clone(),
        name: doc.name.clone(),
        version: doc.version,
        message: e.to_string(),
    })
}

/// The sensitive values in one stored version; an unreadable one contributes none (it is
/// reported where it is read).
fn secrets_of_doc(doc: &ResourceDoc, types: &TypeRegistry) -> Vec<String> {
    if doc.kind == CONFIGURATION {
        parse_doc::<ConfigDoc>(doc)
            .map(|c| pipeline::secrets::configuration_secrets(&c.configuration, types))
            .unwrap_or_default()
    } else {
        parse_doc::<Destination>(doc)
            .map(|d| pipeline::secrets::destination_secrets(&d, types))
            .unwrap_or_default()
    }
}

fn stored_config(doc: ResourceDoc) -> Result<StoredConfig, CatalogError> {
    let parsed: ConfigDoc = parse_doc(&doc)?;
    Ok(StoredConfig {
        config: parsed.configuration,
        version: doc.version,
        rendered: parsed.rendered,
        doc,
    })
}
