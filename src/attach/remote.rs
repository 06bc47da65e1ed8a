//! The UI's [`Services`] when attached: each call is a request to the server's
//! management API, through the CLI's client (its TLS and token). Answers are read back
//! into the types the views already take.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::catalog::ApplyResult;
use crate::cli::client::{Body, Client};
use crate::fleet::attempt::{ApplyAttempt, AttemptResult};
use crate::fleet::delivery::ConfigRef;
use crate::fleet::tap::{TapAnswer, TapPipeline, TapRequest};
use crate::fleet::{AgentId, EventKind, FleetEvent};
use crate::pipeline::{Configuration, Destination, DiffLine, Redactor, Resource, TypeRegistry};
use crate::rollout::{RolloutOptions, RolloutView, Targets};
use crate::tui::action::Steer;
use crate::tui::configs::data::{ConfigSummary, VersionInfo};
use crate::tui::services::{PushRefused, Reply, Services};

/// A server elsewhere, through its API.
pub struct Remote {
    client: Arc<Client>,
    /// Where the UI's events come from: refusals are told there, as the local fleet does.
    events: broadcast::Sender<FleetEvent>,
    /// The server's resource types, once read ([`Remote::refresh_types`]).
    types: std::sync::Mutex<Option<Arc<TypeRegistry>>>,
}

impl Remote {
    pub fn new(client: Arc<Client>, events: broadcast::Sender<FleetEvent>) -> Remote {
        Remote {
            client,
            events,
            types: std::sync::Mutex::new(None),
        }
    }

    /// Reads the server's resource types (the built-in ones with those applied to it
    /// layered over them), for the builders opened from now on.
    pub async fn refresh_types(&self) -> anyhow::Result<()> {
        let list = self.client.get(&["types"], &[]).await?;
        let mut registry = TypeRegistry::builtin();
        let applied: Vec<String> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["builtin"] == false)
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect();
        for name in applied {
            let detail = self.client.get(&["types", &name], &[]).await?;
            for item in detail["items"].as_array().into_iter().flatten() {
                if item["builtin"] == true {
                    continue;
                }
                let def: crate::pipeline::ResourceType =
                    decode(item["definition"].clone(), "resource type")?;
                if let Err(problems) = registry.insert(def) {
                    tracing::debug!(type_name = %name, ?problems, "a server's type does not load here");
                }
            }
        }
        *self
            .types
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(registry));
        Ok(())
    }

    /// Runs `f` with the client on a future the carrier can spawn; errors become text.
    fn call<T, F, Fut>(&self, f: F) -> Reply<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        let client = self.client.clone();
        async move { f(client).await.map_err(|e| format!("{e:#}")) }.boxed()
    }
}

fn time(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn decode<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> anyhow::Result<T> {
    serde_json::from_value(v)
        .map_err(|e| anyhow::anyhow!("the server's {what} is not understood: {e}"))
}

/// A configuration's detail: its version, when it changed, and the resource itself.
#[derive(Deserialize)]
struct Detail {
    version: u64,
    updated_at: u64,
    resource: Configuration,
}

async fn names(client: &Client, kind: &str) -> anyhow::Result<Vec<String>> {
    let list = client.get(&[kind], &[]).await?;
    Ok(list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Every configuration, each read whole (the list shows only parts of each).
async fn configurations(client: &Client) -> anyhow::Result<Vec<Detail>> {
    let mut out = Vec::new();
    for name in names(client, "configurations").await? {
        let v = client.get(&["configurations", &name], &[]).await?;
        out.push(decode::<Detail>(v, "configuration")?);
    }
    Ok(out)
}

/// An apply attempt as `GET /agents/{id}/history` lists it.
#[derive(Deserialize)]
struct Attempt {
    config: ConfigRef,
    hash: String,
    result: String,
    message: String,
    assigned_at: u64,
    finished_at: u64,
    rolled_back: bool,
    rollback: bool,
}

impl Attempt {
    fn into_attempt(self, agent: AgentId) -> ApplyAttempt {
        let mut hash = [0u8; 32];
        if let Ok(b) = hex::decode(&self.hash)
            && b.len() == 32
        {
            hash.copy_from_slice(&b);
        }
        let result = AttemptResult::ALL
            .into_iter()
            .find(|r| r.as_str() == self.result)
            .unwrap_or(AttemptResult::Superseded);
        ApplyAttempt {
            agent,
            config: self.config,
            hash,
            result,
            message: self.message,
            assigned_at: time(self.assigned_at),
            finished_at: time(self.finished_at),
            rolled_back: self.rolled_back,
            rollback: self.rollback,
        }
    }
}

/// A tap as `GET /agents/{id}/tap` answers it.
#[derive(Deserialize)]
struct TapView {
    pipeline: Option<String>,
    signal: Option<crate::fleet::tap::TapSignal>,
    pipelines: Vec<TapPipeline>,
    items: Vec<crate::fleet::tap::TapItem>,
    left_out: usize,
    #[serde(default)]
    note: Option<String>,
}

fn steer_path(how: Steer) -> &'static str {
    match how {
        Steer::Pause => "pause",
        Steer::Resume => "resume",
        Steer::Cancel => "cancel",
        Steer::Rollback => "rollback",
    }
}

impl Services for Remote {
    fn restart(&self, id: AgentId) -> Reply<()> {
        self.call(move |c| async move {
            let url = c.url(&["agents", &id.to_string(), "restart"], &[])?;
            c.ok(Method::POST, url, Body::None).await.map(|_| ())
        })
    }

    fn forget(&self, id: AgentId, _name: String) -> Reply<()> {
        self.call(move |c| async move {
            let url = c.url(&["agents", &id.to_string()], &[])?;
            c.ok(Method::DELETE, url, Body::None).await.map(|_| ())
        })
    }

    fn refused(&self, id: AgentId, message: String) {
        let _ = self.events.send(FleetEvent::now(EventKind::Notice {
            agent: Some(id),
            message,
        }));
    }

    fn history(&self, id: AgentId) -> Reply<Vec<ApplyAttempt>> {
        self.call(move |c| async move {
            let v = c.get(&["agents", &id.to_string(), "history"], &[]).await?;
            let items: Vec<Attempt> = decode(v["items"].clone(), "apply history")?;
            Ok(items.into_iter().map(|a| a.into_attempt(id)).collect())
        })
    }

    fn tap(&self, id: AgentId, request: TapRequest) -> Reply<TapAnswer> {
        self.call(move |c| async move {
            let mut query = vec![("limit", request.limit.to_string())];
            if let Some(p) = &request.pipeline {
                query.push(("pipeline", p.clone()));
            }
            if let Some(s) = request.signal {
                query.push(("signal", s.to_string()));
            }
            if let Some(after) = request.after {
                query.push(("after", after.to_string()));
            }
            let v = c.get(&["agents", &id.to_string(), "tap"], &query).await?;
            let t: TapView = decode(v, "tap")?;
            Ok(TapAnswer {
                id: request.id,
                pipeline: t.pipeline,
                signal: t.signal,
                pipelines: t.pipelines,
                items: t.items,
                left_out: t.left_out,
                error: t.note,
            })
        })
    }

    /// The server's types once read; until then the builder offers the built-in ones.
    fn types(&self) -> Option<Arc<TypeRegistry>> {
        self.types
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The server masks secrets in what it sends.
    fn redactor(&self) -> Arc<Redactor> {
        Arc::default()
    }

    fn summaries(&self) -> Reply<Vec<ConfigSummary>> {
        self.call(|c| async move {
            let list = configurations(&c)
                .await
                .map_err(|e| e.context("cannot list configurations"))?;
            Ok(list
                .into_iter()
                .map(|d| {
                    let spec = &d.resource.spec;
                    ConfigSummary {
                        name: d.resource.name().to_string(),
                        version: d.version,
                        description: d.resource.metadata.description.clone(),
                        updated_at: time(d.updated_at),
                        sources: spec.sources.len(),
                        processors: spec.processors.len(),
                        destinations: spec.destinations.len(),
                    }
                })
                .collect())
        })
    }

    fn rollouts(&self) -> Reply<Vec<RolloutView>> {
        self.call(|c| async move {
            let v = c.get(&["rollouts"], &[]).await?;
            decode(v["items"].clone(), "rollout list")
        })
    }

    fn versions(&self, name: String) -> Reply<Vec<VersionInfo>> {
        self.call(move |c| async move {
            #[derive(Deserialize)]
            struct V {
                version: u64,
                updated_at: u64,
                #[serde(default)]
                lines: usize,
            }
            let v = c.get(&["configurations", &name, "versions"], &[]).await?;
            let items: Vec<V> = decode(v["items"].clone(), "version list")?;
            Ok(items
                .into_iter()
                .map(|v| VersionInfo {
                    version: v.version,
                    updated_at: time(v.updated_at),
                    lines: v.lines,
                })
                .collect())
        })
    }

    fn diff(&self, name: String, from: u64, to: u64) -> Reply<Vec<DiffLine>> {
        self.call(move |c| async move {
            #[derive(Deserialize)]
            struct L {
                op: String,
                text: String,
            }
            let query = [("from", from.to_string()), ("to", to.to_string())];
            let v = c.get(&["configurations", &name, "diff"], &query).await?;
            let lines: Vec<L> = decode(v["lines"].clone(), "diff")?;
            Ok(lines
                .into_iter()
                .map(|l| match l.op.as_str() {
                    "+" => DiffLine::Added(l.text),
                    "-" => DiffLine::Removed(l.text),
                    _ => DiffLine::Same(l.text),
                })
                .collect())
        })
    }

    fn steer(&self, name: String, how: Steer) -> Reply<RolloutView> {
        self.call(move |c| async move {
            let url = c.url(&["rollouts", &name, steer_path(how)], &[])?;
            let v = c.ok(Method::POST, url, Body::None).await?;
            decode(v, "rollout")
        })
    }

    fn configurations(&self) -> Reply<Vec<(String, u64, Configuration)>> {
        self.call(|c| async move {
            Ok(configurations(&c)
                .await?
                .into_iter()
                .map(|d| (d.resource.name().to_string(), d.version, d.resource))
                .collect())
        })
    }

    fn destinations(&self) -> Reply<Vec<Destination>> {
        self.call(|c| async move {
            let mut out = Vec::new();
            for name in names(&c, "destinations").await? {
                let v = c.get(&["destinations", &name], &[]).await?;
                out.push(decode(v["resource"].clone(), "destination")?);
            }
            Ok(out)
        })
    }

    fn configuration(&self, name: String) -> Reply<(u64, Box<Configuration>)> {
        self.call(move |c| async move {
            let v = c.get(&["configurations", &name], &[]).await?;
            let d: Detail = decode(v, "configuration")?;
            Ok((d.version, Box::new(d.resource)))
        })
    }

    fn save(&self, config: Configuration) -> Reply<ApplyResult> {
        self.call(move |c| async move {
            let name = config.name().to_string();
            let yaml = Resource::Configuration(config).to_yaml()?;
            let url = c.url(&["apply"], &[])?;
            // A refusal (422) carries the per-resource results too.
            let answer = c.call(Method::POST, url, Body::Yaml(yaml)).await?;
            let results: Vec<ApplyResult> = match answer.body.get("results") {
                Some(r) => decode(r.clone(), "apply result")?,
                None => {
                    return Err(crate::cli::client::failure(answer.status, answer.body).into());
                }
            };
            results
                .into_iter()
                .find(|r| r.name == name)
                .ok_or_else(|| anyhow::anyhow!("the server's answer does not name {name}"))
        })
    }

    fn push(
        &self,
        config: String,
        version: u64,
        targets: Targets,
        options: RolloutOptions,
        force: bool,
    ) -> BoxFuture<'static, Result<RolloutView, PushRefused>> {
        let client = self.client.clone();
        async move {
            let mut body = json!({
                "config": config,
                "version": version,
                "options": options,
                "force": force,
            });
            match targets {
                Targets::Agents(ids) => {
                    body["agents"] = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().into()
                }
                Targets::Selector(s) => body["selector"] = s.to_string().into(),
            }
            let url = client
                .url(&["rollouts"], &[])
                .map_err(|e| PushRefused::Other(e.to_string()))?;
            let answer = client
                .call(Method::POST, url, Body::Json(body))
                .await
                .map_err(|e| PushRefused::Other(format!("{e:#}")))?;
            if answer.status.is_success() {
                return decode(answer.body, "rollout")
                    .map_err(|e| PushRefused::Other(e.to_string()));
            }
            // Targets lacking components: the server names them; the same push with
            // `force` goes ahead.
            if answer.body.get("lacking").is_some() {
                let text = answer.body["error"].as_str().unwrap_or_default();
                let first = text.lines().next().unwrap_or_default();
                return Err(PushRefused::Lacking(
                    first.trim_end_matches(':').to_string(),
                ));
            }
            Err(PushRefused::Other(
                crate::cli::client::failure(answer.status, answer.body).message,
            ))
        }
        .boxed()
    }

    fn rollout(&self, config: String) -> Reply<RolloutView> {
        self.call(move |c| async move {
            let v = c.get(&["rollouts", &config], &[]).await?;
            decode(v, "rollout")
        })
    }

    fn throughput(
        &self,
        config: String,
        period: u64,
    ) -> Reply<crate::throughput::ConfigurationThroughput> {
        self.call(move |c| async move {
            let period = crate::throughput::period_name(period);
            let v = c
                .get(
                    &["configurations", &config, "throughput"],
                    &[("period", period.to_string())],
                )
                .await?;
            decode(v, "throughput")
        })
    }

    fn agent_throughput(&self, id: AgentId) -> Reply<crate::throughput::AgentThroughput> {
        self.call(move |c| async move {
            let v = c
                .get(&["agents", &id.to_string(), "throughput"], &[])
                .await?;
            decode(v, "agent throughput")
        })
    }
}
