//! Configuration → Collector YAML.
//!
//! Component IDs: every key a type's template emits is rewritten to `type/<resource>` (or
//! `type/<resource>__<name>` when the template named it `type/name`). Resource names are
//! `source<i>` for the i-th source, `source<i>__processor<k>` for its processors, `processor<k>`
//! for the fleet-wide processors (a processor given a `name` uses it in place of
//! `processor<k>`: `batch/<name>`, `batch/source0__<name>`), `destination<j>` for an inline destination and the resource's
//! own name for a named `Destination` (its processors: `<name>__processor<k>`).
//!
//! Pipelines: one per signal that has both a source and a destination, named after the signal
//! (`metrics`). All sources of the signal fan in, then the fleet-wide processors run, then all
//! destinations of the signal receive the data. Processors that belong to one source (the source
//! type's own and those attached to it) or to one destination run in a pipeline of their own,
//! `metrics/source0` or `metrics/<destination>`, joined to the signal's pipeline by the `forward`
//! connector (`forward/metrics_in`, `forward/metrics_out`). When a signal has a single source
//! (or destination), its processors are placed directly in the signal's pipeline instead, so
//! simple configurations stay a single pipeline.
//!
//! Connectors: a processor type may emit connectors (`connectors` in a signal block, the
//! signals they produce in `spec.emits`), such as span metrics. Each is an exporter of the
//! pipeline where the processor sits — the signal's pipeline for a fleet-wide processor, the
//! source's or destination's own pipeline for an attached one (which then always gets one, so
//! the connector sees only that source's or destination's data) — and a receiver of the
//! emitted signal's pipeline, next to that signal's sources. A connector never takes a signal
//! it emits (it would feed itself). What it emits needs a destination for that signal.
//!
//! Routes: a processor type with a `route` block, attached to a destination, is that
//! destination's entry in a routing table. When any destination of a signal has one, the
//! signal's pipeline ends in one `routing/<signal>` connector instead of `forward`, every
//! destination gets its own pipeline fed by it, the routed ones under their conditions and
//! the others as `default_pipelines` (what no route matched).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_norway::{Mapping, Value as Yaml};
use sha2::{Digest, Sha256};

use super::config::{
    Configuration, Destination, Parameters, ProcessorRef, processor_name_problems,
};
use super::name::valid_resource_name;
use super::problem::Problem;
use super::registry::{LoadedType, SignalOutput, TypeOutput, TypeRegistry};
use super::secrets::MASK;
use super::types::{Signal, TypeKind, yaml_to_json};

/// Rendered Collector configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub yaml: String,
    /// SHA-256 of `yaml` (the OpAMP `config_hash`).
    pub sha256: [u8; 32],
}

impl Rendered {
    fn new(yaml: String) -> Self {
        let sha256 = Sha256::digest(yaml.as_bytes()).into();
        Rendered { yaml, sha256 }
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Looks up named `Destination` resources.
pub trait DestinationResolver {
    fn destination(&self, name: &str) -> Option<Destination>;
}

/// Resolves nothing: only inline destinations render.
pub struct NoDestinations;

impl DestinationResolver for NoDestinations {
    fn destination(&self, _: &str) -> Option<Destination> {
        None
    }
}

impl DestinationResolver for [Destination] {
    fn destination(&self, name: &str) -> Option<Destination> {
        self.iter().find(|d| d.name() == name).cloned()
    }
}

impl DestinationResolver for Vec<Destination> {
    fn destination(&self, name: &str) -> Option<Destination> {
        self.as_slice().destination(name)
    }
}

impl DestinationResolver for BTreeMap<String, Destination> {
    fn destination(&self, name: &str) -> Option<Destination> {
        self.get(name).cloned()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Render sensitive parameter values as `(sensitive)` (for display, never for agents).
    pub mask_sensitive: bool,
}

/// Renders `cfg` to Collector YAML, or every problem found.
pub fn render(
    cfg: &Configuration,
    types: &TypeRegistry,
    destinations: &dyn DestinationResolver,
) -> Result<Rendered, Vec<Problem>> {
    render_with(cfg, types, destinations, RenderOptions::default())
}

/// Renders with sensitive values masked, for showing to people.
pub fn render_masked(
    cfg: &Configuration,
    types: &TypeRegistry,
    destinations: &dyn DestinationResolver,
) -> Result<Rendered, Vec<Problem>> {
    render_with(
        cfg,
        types,
        destinations,
        RenderOptions {
            mask_sensitive: true,
        },
    )
}

pub fn render_with(
    cfg: &Configuration,
    types: &TypeRegistry,
    destinations: &dyn DestinationResolver,
    opts: RenderOptions,
) -> Result<Rendered, Vec<Problem>> {
    render_inner(cfg, types, destinations, opts).0
}

/// Where each Collector component of a rendered configuration came from: the source,
/// processor or destination the operator placed, by component ID (`otlphttp/backend`).
/// IDs the renderer adds on its own (the `forward` and `routing` connectors that join
/// pipelines) and those of a raw configuration have no place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentMap {
    places: BTreeMap<String, ComponentPlace>,
}

/// One component's place in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentPlace {
    /// The builder step it belongs to: `source`, `processor` or `destination`.
    pub kind: TypeKind,
    /// As the configuration names it: `sources[0] (filelog)`,
    /// `destinations[1] (Destination backend)`, `sources[0].processors[2] (filter)`.
    pub label: String,
    /// The named `Destination` resource it renders, for a destination's own components.
    pub destination: Option<String>,
    /// The place's index in its list (`sources[i]`, `processors[k]`, `destinations[j]`);
    /// for attached processors, the index of the source or destination they belong to.
    pub index: usize,
    /// Attached processors: their index within the source's or destination's list.
    pub attached: Option<usize>,
}

impl ComponentMap {
    pub fn get(&self, id: &str) -> Option<&ComponentPlace> {
        self.places.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ComponentPlace)> {
        self.places.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }
}

/// The [`ComponentMap`] of a configuration, as far as it renders (a configuration with
/// problems maps the parts that evaluated).
pub fn component_map(
    cfg: &Configuration,
    types: &TypeRegistry,
    destinations: &dyn DestinationResolver,
) -> ComponentMap {
    let opts = RenderOptions {
        mask_sensitive: true,
    };
    render_inner(cfg, types, destinations, opts).1
}

fn render_inner(
    cfg: &Configuration,
    types: &TypeRegistry,
    destinations: &dyn DestinationResolver,
    opts: RenderOptions,
) -> (Result<Rendered, Vec<Problem>>, ComponentMap) {
    let label = cfg.label();
    let spec = &cfg.spec;
    if let Some(raw) = &spec.raw {
        return (render_raw(&label, cfg, raw), ComponentMap::default());
    }
    let mut r = Renderer {
        label: label.clone(),
        types,
        opts,
        problems: Vec::new(),
        places: ComponentMap::default(),
    };
    let result = r.render(cfg, destinations);
    (result, r.places)
}

impl Renderer<'_> {
    fn render(
        &mut self,
        cfg: &Configuration,
        destinations: &dyn DestinationResolver,
    ) -> Result<Rendered, Vec<Problem>> {
        let label = self.label.clone();
        let spec = &cfg.spec;
        let r = self;
        if !valid_resource_name(cfg.name()) {
            r.problem(
                Problem::new(
                    &label,
                    format!("metadata.name must be {}", super::name::NAME_RULE),
                )
                .at("metadata.name"),
            );
        }
        let sources = r.sources(cfg);
        let fleet: Vec<Part> =
            r.processors(&spec.processors, None, "spec.processors", "processors");
        let dests = r.destinations(cfg, destinations);
        if spec.sources.iter().all(|s| s.disabled) {
            r.problem(
                Problem::new(
                    &label,
                    "has no sources (add at least one under spec.sources)",
                )
                .at("spec"),
            );
        }
        if spec.destinations.iter().all(|d| d.disabled) {
            r.problem(
                Problem::new(
                    &label,
                    "has no destinations (add at least one under spec.destinations)",
                )
                .at("spec"),
            );
        }
        if !r.problems.is_empty() {
            return Err(std::mem::take(&mut r.problems));
        }
        let doc = r.assemble(&sources, &fleet, &dests);
        if !r.problems.is_empty() {
            return Err(std::mem::take(&mut r.problems));
        }
        serde_norway::to_string(&doc)
            .map(Rendered::new)
            .map_err(|e| vec![Problem::new(&label, format!("cannot write YAML: {e}"))])
    }
}

fn render_raw(label: &str, cfg: &Configuration, raw: &str) -> Result<Rendered, Vec<Problem>> {
    let spec = &cfg.spec;
    let mut problems = Vec::new();
    if !spec.sources.is_empty() || !spec.destinations.is_empty() || !spec.processors.is_empty() {
        problems.push(
            Problem::new(
                label,
                "spec.raw cannot be combined with sources, processors or destinations",
            )
            .at("spec.raw"),
        );
    }
    match serde_norway::from_str::<Yaml>(raw) {
        Ok(Yaml::Mapping(_)) => {}
        Ok(_) => problems.push(
            Problem::new(
                label,
                "spec.raw must be a Collector configuration (a YAML map)",
            )
            .at("spec.raw"),
        ),
        Err(e) => {
            let at = e
                .location()
                .map(|l| format!(" (line {} of spec.raw)", l.line()))
                .unwrap_or_default();
            problems.push(
                Problem::new(label, format!("spec.raw is not valid YAML{at}: {e}")).at("spec.raw"),
            );
        }
    }
    if problems.is_empty() {
        Ok(Rendered::new(raw.to_string()))
    } else {
        Err(problems)
    }
}

/// `spec.sources[2]` → (2, None); `spec.destinations[1].processors[0]` → (1, Some(0)).
fn place_indexes(path: &str) -> (usize, Option<usize>) {
    let numbers: Vec<usize> = path
        .split('[')
        .skip(1)
        .filter_map(|part| part.split(']').next()?.parse().ok())
        .collect();
    match numbers[..] {
        [i] => (i, None),
        [i, k, ..] => (i, Some(k)),
        [] => (0, None),
    }
}

/// One evaluated resource instance.
struct Part {
    output: TypeOutput,
    /// What this part's connectors emit.
    emits: Vec<Signal>,
}

impl Part {
    fn signal(&self, s: Signal) -> Option<&SignalOutput> {
        self.output.get(&s)
    }

    /// Connectors that take signal `s` (never one that would take what it emits).
    fn connectors(&self, s: Signal) -> impl Iterator<Item = &(String, Yaml)> {
        let takes = !self.emits.contains(&s);
        self.signal(s)
            .into_iter()
            .filter(move |_| takes)
            .flat_map(|o| o.connectors.iter())
    }

    fn processors(&self, s: Signal) -> impl Iterator<Item = &(String, Yaml)> {
        self.signal(s).into_iter().flat_map(|o| o.processors.iter())
    }
}

/// A source or destination: its own type plus attached processors.
struct Endpoint {
    /// `sources[0] (hostmetrics)` / `destinations[1] (otlphttp)`, for messages.
    what: String,
    /// Resource name, used for its own pipeline.
    name: String,
    own: Part,
    attached: Vec<Part>,
}

impl Endpoint {
    /// Connectors of the processors attached to this endpoint that take signal `s`.
    fn connectors(&self, s: Signal) -> Vec<&(String, Yaml)> {
        self.attached.iter().flat_map(|p| p.connectors(s)).collect()
    }

    /// The processors that belong to this endpoint for signal `s`, in order. Sources run their
    /// type's processors before attached ones; destinations run attached ones first.
    fn processors(&self, s: Signal, is_source: bool) -> Vec<(String, Yaml)> {
        let own = self.own.processors(s).cloned();
        let attached = self.attached.iter().flat_map(|p| p.processors(s).cloned());
        if is_source {
            own.chain(attached).collect()
        } else {
            attached.chain(own).collect()
        }
    }
}

struct Renderer<'a> {
    label: String,
    types: &'a TypeRegistry,
    opts: RenderOptions,
    problems: Vec<Problem>,
    places: ComponentMap,
}

impl Renderer<'_> {
    fn problem(&mut self, p: Problem) {
        self.problems.push(p);
    }

    /// Looks up a type and evaluates it for one resource.
    fn part(
        &mut self,
        kind: TypeKind,
        type_name: &str,
        params: &Parameters,
        resource: &str,
        what: &str,
        path: &str,
    ) -> Option<Part> {
        let Some(ty) = self.types.get(kind, type_name) else {
            let known = self.types.names(kind).join(", ");
            self.problem(
                Problem::new(
                    format!("{}: {what}", self.label),
                    format!(
                        "unknown {} type {type_name:?} (known: {known})",
                        kind.noun()
                    ),
                )
                .at(format!("{path}.type")),
            );
            return None;
        };
        let ty = ty.clone();
        let mut given = Vec::new();
        for entry in params.entries() {
            match yaml_to_json(&entry.value) {
                Ok(v) => given.push((entry.name, v)),
                Err(m) => self.problem(
                    Problem::new(format!("{}: {what}", self.label), m)
                        .parameter(&entry.name)
                        .at(format!("{path}.parameters{}", entry.path)),
                ),
            }
        }
        let (mut values, problems) = ty.resolve_values(&given);
        let param_path = |name: &str| {
            params
                .entries()
                .into_iter()
                .find(|e| e.name == name)
                .map_or_else(
                    || format!("{path}.parameters"),
                    |e| format!("{path}.parameters{}", e.path),
                )
        };
        let had = problems.len();
        for (name, msg) in problems {
            let p = Problem::new(format!("{}: {what}", self.label), msg)
                .parameter(&name)
                .at(param_path(&name));
            self.problem(p);
        }
        if had > 0 {
            return None;
        }
        if self.opts.mask_sensitive {
            mask_values(&ty, &mut values);
        }
        match ty.evaluate(&values, resource) {
            Ok(output) => {
                self.record_places(kind, what, path, &output);
                Some(Part {
                    output,
                    emits: ty.emits(),
                })
            }
            Err(errors) => {
                for e in errors {
                    let at = e
                        .template_line
                        .map(|t| format!(" template line {t}"))
                        .unwrap_or_default();
                    self.problem(
                        Problem::new(
                            format!("{}: {what}", self.label),
                            format!("{} {}{at}: {}", ty.def.label(), e.path, e.message),
                        )
                        .at(path.to_string()),
                    );
                }
                None
            }
        }
    }

    /// Notes where the components of one evaluated part came from.
    fn record_places(&mut self, kind: TypeKind, what: &str, path: &str, output: &TypeOutput) {
        let (index, attached) = place_indexes(path);
        let destination = what
            .strip_suffix(')')
            .and_then(|w| w.split_once("(Destination "))
            .map(|(_, name)| name.to_string())
            .filter(|_| kind == TypeKind::Destination);
        for out in output.values() {
            let ids = out
                .receivers
                .iter()
                .chain(&out.processors)
                .chain(&out.exporters)
                .chain(&out.connectors);
            for (id, _) in ids {
                self.places
                    .places
                    .entry(id.clone())
                    .or_insert_with(|| ComponentPlace {
                        kind,
                        label: what.to_string(),
                        destination: destination.clone(),
                        index,
                        attached,
                    });
            }
        }
    }

    /// Evaluates a list of processors; `owner` is the source or destination they belong
    /// to (none for the fleet-wide ones), which their resource names start with.
    fn processors(
        &mut self,
        list: &[ProcessorRef],
        owner: Option<&str>,
        path: &str,
        what: &str,
    ) -> Vec<Part> {
        let refused: BTreeSet<usize> = processor_name_problems(list)
            .into_iter()
            .map(|(k, msg)| {
                let p = &list[k];
                self.problem(
                    Problem::new(
                        format!("{}: {what}[{k}] ({})", self.label, p.type_name),
                        msg,
                    )
                    .at(format!("{path}[{k}].name")),
                );
                k
            })
            .collect();
        list.iter()
            .enumerate()
            .filter(|(k, p)| !p.disabled && !refused.contains(k))
            .filter_map(|(k, p)| {
                let name = match owner {
                    None => p.id_name(k),
                    Some(owner) => format!("{owner}__{}", p.id_name(k)),
                };
                self.part(
                    TypeKind::Processor,
                    &p.type_name,
                    &p.parameters,
                    &name,
                    &format!("{what}[{k}] ({})", p.type_name),
                    &format!("{path}[{k}]"),
                )
            })
            .collect()
    }

    fn sources(&mut self, cfg: &Configuration) -> Vec<Endpoint> {
        let mut out = Vec::new();
        for (i, s) in cfg.spec.sources.iter().enumerate() {
            if s.disabled {
                continue;
            }
            let name = format!("source{i}");
            let path = format!("spec.sources[{i}]");
            let what = format!("sources[{i}] ({})", s.type_name);
            let own = self.part(
                TypeKind::Source,
                &s.type_name,
                &s.parameters,
                &name,
                &what,
                &path,
            );
            let attached = self.processors(
                &s.processors,
                Some(&name),
                &format!("{path}.processors"),
                &format!("sources[{i}].processors"),
            );
            if let Some(own) = own {
                out.push(Endpoint {
                    what,
                    name,
                    own,
                    attached,
                });
            }
        }
        out
    }

    fn destinations(
        &mut self,
        cfg: &Configuration,
        resolver: &dyn DestinationResolver,
    ) -> Vec<Endpoint> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (j, d) in cfg.spec.destinations.iter().enumerate() {
            if d.disabled {
                continue;
            }
            let path = format!("spec.destinations[{j}]");
            let (name, type_name, params, mut procs, what) = match (&d.name, &d.type_name) {
                (Some(name), None) => {
                    let Some(res) = resolver.destination(name) else {
                        self.problem(
                            Problem::new(
                                format!("{}: destinations[{j}]", self.label),
                                format!("no Destination named {name:?}"),
                            )
                            .at(format!("{path}.name")),
                        );
                        continue;
                    };
                    if !seen.insert(name.clone()) {
                        self.problem(
                            Problem::new(
                                format!("{}: destinations[{j}]", self.label),
                                format!("Destination {name:?} is listed more than once"),
                            )
                            .at(format!("{path}.name")),
                        );
                        continue;
                    }
                    if !d.parameters.is_empty() {
                        self.problem(Problem::new(format!("{}: destinations[{j}]", self.label), "a named destination takes its parameters from the Destination resource; remove parameters here").at(format!("{path}.parameters")));
                    }
                    if res.spec.disabled {
                        continue;
                    }
                    let what = format!("destinations[{j}] (Destination {name})");
                    (
                        name.clone(),
                        res.spec.type_name.clone(),
                        res.spec.parameters.clone(),
                        res.spec.processors.clone(),
                        what,
                    )
                }
                (None, Some(t)) => (
                    format!("destination{j}"),
                    t.clone(),
                    d.parameters.clone(),
                    Vec::new(),
                    format!("destinations[{j}] ({t})"),
                ),
                _ => {
                    self.problem(Problem::new(format!("{}: destinations[{j}]", self.label), "give either name (a Destination resource) or type (inline), not both or neither").at(path.clone()));
                    continue;
                }
            };
            procs.extend(d.processors.iter().cloned());
            let own = self.part(
                TypeKind::Destination,
                &type_name,
                &params,
                &name,
                &what,
                &path,
            );
            let attached = self.processors(
                &procs,
                Some(&name),
                &format!("{path}.processors"),
                &format!("destinations[{j}].processors"),
            );
            if let Some(own) = own {
                out.push(Endpoint {
                    what,
                    name,
                    own,
                    attached,
                });
            }
        }
        out
    }

    /// Builds the Collector document from evaluated parts.
    fn assemble(&mut self, sources: &[Endpoint], fleet: &[Part], dests: &[Endpoint]) -> Yaml {
        let mut c = Components::default();
        let mut pipelines: BTreeMap<String, Pipeline> = BTreeMap::new();
        let produces =
            |e: &&Endpoint, s: Signal| e.own.signal(s).is_some_and(|o| !o.receivers.is_empty());
        let accepts =
            |e: &&Endpoint, s: Signal| e.own.signal(s).is_some_and(|o| !o.exporters.is_empty());
        // A signal's pipeline is built when it has a source and a destination; connectors
        // placed in it feed the pipelines of the signals they emit.
        let built: Vec<Signal> = Signal::ALL
            .into_iter()
            .filter(|s| {
                sources.iter().any(|e| produces(&e, *s)) && dests.iter().any(|e| accepts(&e, *s))
            })
            .collect();
        let mut derived: BTreeMap<Signal, Vec<String>> = BTreeMap::new();
        for &s in &built {
            let placed = fleet
                .iter()
                .chain(
                    sources
                        .iter()
                        .filter(|e| produces(e, s))
                        .flat_map(|e| &e.attached),
                )
                .chain(
                    dests
                        .iter()
                        .filter(|e| accepts(e, s))
                        .flat_map(|e| &e.attached),
                );
            for part in placed {
                for (id, _) in part.connectors(s) {
                    for e in &part.emits {
                        derived.entry(*e).or_default().push(id.clone());
                    }
                }
            }
        }
        for signal in Signal::ALL {
            let srcs: Vec<&Endpoint> = sources.iter().filter(|e| produces(e, signal)).collect();
            let dsts: Vec<&Endpoint> = dests.iter().filter(|e| accepts(e, signal)).collect();
            let from_connectors = derived.remove(&signal).unwrap_or_default();
            if srcs.is_empty() && from_connectors.is_empty() {
                continue;
            }
            if dsts.is_empty() {
                for s in &srcs {
                    self.problem(Problem::new(
                        format!("{}: {}", self.label, s.what),
                        format!("produces {signal} but no destination accepts {signal}"),
                    ));
                }
                for id in &from_connectors {
                    self.problem(Problem::new(
                        &self.label,
                        format!(
                            "connector {id} produces {signal} but no destination accepts {signal}"
                        ),
                    ));
                }
                continue;
            }
            let main_name = signal.as_str().to_string();
            let mut main = Pipeline::default();
            for part in fleet {
                main.processors
                    .extend(c.add_processors(part.processors(signal)));
                c.add_extensions(part.signal(signal));
                main.exporters
                    .extend(c.add_connectors(part.connectors(signal)));
            }
            // What connectors emit joins here, and must not run through one source's own
            // processors: those stay in the source's pipeline then.
            main.receivers.extend(from_connectors.iter().cloned());
            let single_src = srcs.len() == 1 && from_connectors.is_empty();
            let mut src_pipes = Vec::new();
            for s in &srcs {
                let receivers = c.add_receivers(s.own.signal(signal));
                c.add_extensions(s.own.signal(signal));
                for a in &s.attached {
                    c.add_extensions(a.signal(signal));
                }
                let procs = c.add_processors(s.processors(signal, true).iter());
                let taps = c.add_connectors(s.connectors(signal).into_iter());
                if taps.is_empty() && (procs.is_empty() || single_src) {
                    main.receivers.extend(receivers);
                    let mut p = procs;
                    p.append(&mut main.processors);
                    main.processors = p;
                } else {
                    let mut exporters = vec![format!("forward/{signal}_in")];
                    exporters.extend(taps);
                    src_pipes.push((
                        format!("{signal}/{}", s.name),
                        Pipeline {
                            receivers,
                            processors: procs,
                            exporters,
                        },
                    ));
                }
            }
            if !src_pipes.is_empty() {
                main.receivers.push(format!("forward/{signal}_in"));
                c.connectors.insert(
                    format!("forward/{signal}_in"),
                    Yaml::Mapping(Mapping::new()),
                );
            }
            // Routes attached to destinations: one routing connector feeds every destination's
            // own pipeline, by condition; destinations without a route get what none matched.
            let routes_of = |d: &Endpoint| -> Vec<Yaml> {
                d.attached
                    .iter()
                    .filter_map(|p| p.signal(signal))
                    .flat_map(|o| o.routes.iter().cloned())
                    .collect()
            };
            self.refuse_misplaced_routes(signal, fleet, &srcs);
            let routing = dsts.iter().any(|d| !routes_of(d).is_empty());
            let fan_out = if routing {
                format!("routing/{signal}")
            } else {
                format!("forward/{signal}_out")
            };
            let mut table = Vec::new();
            let mut default_pipelines = Vec::new();
            let single_dst = dsts.len() == 1;
            let mut dst_pipes = Vec::new();
            for d in &dsts {
                let exporters = c.add_exporters(d.own.signal(signal));
                c.add_extensions(d.own.signal(signal));
                for a in &d.attached {
                    c.add_extensions(a.signal(signal));
                }
                let procs = c.add_processors(d.processors(signal, false).iter());
                let taps = c.add_connectors(d.connectors(signal).into_iter());
                if !routing && taps.is_empty() && (procs.is_empty() || single_dst) {
                    main.exporters.extend(exporters);
                    main.processors.extend(procs);
                } else {
                    let name = format!("{signal}/{}", d.name);
                    let routes = routes_of(d);
                    if routes.is_empty() {
                        default_pipelines.push(Yaml::String(name.clone()));
                    }
                    for route in routes {
                        if let Yaml::Mapping(mut entry) = route {
                            entry.insert(
                                "pipelines".into(),
                                Yaml::Sequence(vec![Yaml::String(name.clone())]),
                            );
                            table.push(Yaml::Mapping(entry));
                        }
                    }
                    let mut exporters = exporters;
                    exporters.extend(taps);
                    dst_pipes.push((
                        name,
                        Pipeline {
                            receivers: vec![fan_out.clone()],
                            processors: procs,
                            exporters,
                        },
                    ));
                }
            }
            if !dst_pipes.is_empty() {
                main.exporters.push(fan_out.clone());
                let mut body = Mapping::new();
                if routing {
                    body.insert("error_mode".into(), "ignore".into());
                    body.insert("table".into(), Yaml::Sequence(table));
                    if !default_pipelines.is_empty() {
                        body.insert(
                            "default_pipelines".into(),
                            Yaml::Sequence(default_pipelines),
                        );
                    }
                }
                c.connectors.insert(fan_out, Yaml::Mapping(body));
            }
            for (name, p) in src_pipes
                .into_iter()
                .chain(std::iter::once((main_name, main)))
                .chain(dst_pipes)
            {
                if pipelines.insert(name.clone(), p.dedup()).is_some() {
                    self.problem(Problem::new(
                        &self.label,
                        format!("two pipelines would be named {name:?}; rename the Destination"),
                    ));
                }
            }
        }
        for (id, _) in c.conflicts.drain(..) {
            self.problems.push(Problem::new(&self.label, format!("component {id} is defined twice with different settings; rename the Destination or adjust the type's templates")));
        }
        if pipelines.is_empty() && self.problems.is_empty() {
            self.problem(Problem::new(
                &self.label,
                "no signal has both a source and a destination, so there is nothing to run",
            ));
        }
        c.into_document(pipelines)
    }
}

impl Renderer<'_> {
    /// A route decides what reaches a destination, so it is attached to one; elsewhere it is
    /// refused by name rather than dropped.
    fn refuse_misplaced_routes(&mut self, signal: Signal, fleet: &[Part], srcs: &[&Endpoint]) {
        let has_route = |p: &Part| p.signal(signal).is_some_and(|o| !o.routes.is_empty());
        let mut misplaced: Vec<String> = Vec::new();
        if fleet.iter().any(has_route) {
            misplaced.push("spec.processors".into());
        }
        for s in srcs {
            if s.attached.iter().any(has_route) {
                misplaced.push(format!("the processors of {}", s.what));
            }
        }
        for place in misplaced {
            let p = Problem::new(
                &self.label,
                format!(
                    "a route in {place} decides nothing there: attach it to the destination \
                     it chooses items for"
                ),
            );
            if !self.problems.contains(&p) {
                self.problem(p);
            }
        }
    }
}

/// A copy of `cfg` with the values of sensitive parameters replaced by `(sensitive)`, for API
/// and TUI display of the resource itself (BindPlane's convention).
pub fn mask_configuration(cfg: &Configuration, types: &TypeRegistry) -> Configuration {
    let mut out = cfg.clone();
    super::secrets::visit_sensitive(&mut out, types, &mut |params, name| {
        params.replace(name, Yaml::from(MASK));
    });
    out
}

/// Replaces the values of sensitive string parameters that are set.
fn mask_values(ty: &LoadedType, values: &mut serde_json::Map<String, Json>) {
    for def in ty.def.spec.parameters.iter().filter(|d| d.is_sensitive()) {
        if let Some(v) = values.get_mut(&def.name)
            && v.as_str().is_some_and(|s| !s.is_empty())
        {
            *v = Json::from(MASK);
        }
    }
}

#[derive(Default)]
struct Pipeline {
    receivers: Vec<String>,
    processors: Vec<String>,
    exporters: Vec<String>,
}

impl Pipeline {
    fn dedup(self) -> Self {
        fn uniq(v: Vec<String>) -> Vec<String> {
            let mut seen = BTreeSet::new();
            v.into_iter().filter(|x| seen.insert(x.clone())).collect()
        }
        Pipeline {
            receivers: uniq(self.receivers),
            processors: uniq(self.processors),
            exporters: uniq(self.exporters),
        }
    }

    fn to_yaml(&self) -> Yaml {
        let mut m = Mapping::new();
        let list = |v: &[String]| Yaml::Sequence(v.iter().cloned().map(Yaml::String).collect());
        m.insert("receivers".into(), list(&self.receivers));
        if !self.processors.is_empty() {
            m.insert("processors".into(), list(&self.processors));
        }
        m.insert("exporters".into(), list(&self.exporters));
        Yaml::Mapping(m)
    }
}

/// Component definitions by ID (sorted), with clashes recorded.
#[derive(Default)]
struct Components {
    receivers: BTreeMap<String, Yaml>,
    processors: BTreeMap<String, Yaml>,
    exporters: BTreeMap<String, Yaml>,
    connectors: BTreeMap<String, Yaml>,
    extensions: BTreeMap<String, Yaml>,
    conflicts: Vec<(String, Yaml)>,
}

impl Components {
    fn add_receivers(&mut self, out: Option<&SignalOutput>) -> Vec<String> {
        let items = out.into_iter().flat_map(|o| o.receivers.iter());
        add_all(&mut self.receivers, &mut self.conflicts, items)
    }

    fn add_exporters(&mut self, out: Option<&SignalOutput>) -> Vec<String> {
        let items = out.into_iter().flat_map(|o| o.exporters.iter());
        add_all(&mut self.exporters, &mut self.conflicts, items)
    }

    fn add_processors<'b>(
        &mut self,
        items: impl Iterator<Item = &'b (String, Yaml)>,
    ) -> Vec<String> {
        add_all(&mut self.processors, &mut self.conflicts, items)
    }

    fn add_connectors<'b>(
        &mut self,
        items: impl Iterator<Item = &'b (String, Yaml)>,
    ) -> Vec<String> {
        add_all(&mut self.connectors, &mut self.conflicts, items)
    }

    fn add_extensions(&mut self, out: Option<&SignalOutput>) {
        for (id, body) in out.into_iter().flat_map(|o| o.extensions.iter()) {
            insert_checked(&mut self.extensions, &mut self.conflicts, id, body);
        }
    }

    fn into_document(self, pipelines: BTreeMap<String, Pipeline>) -> Yaml {
        let section = |m: BTreeMap<String, Yaml>| {
            Yaml::Mapping(m.into_iter().map(|(k, v)| (Yaml::String(k), v)).collect())
        };
        let mut doc = Mapping::new();
        doc.insert("receivers".into(), section(self.receivers));
        if !self.processors.is_empty() {
            doc.insert("processors".into(), section(self.processors));
        }
        doc.insert("exporters".into(), section(self.exporters));
        if !self.connectors.is_empty() {
            doc.insert("connectors".into(), section(self.connectors));
        }
        let ext_ids: Vec<Yaml> = self.extensions.keys().cloned().map(Yaml::String).collect();
        if !self.extensions.is_empty() {
            doc.insert("extensions".into(), section(self.extensions));
        }
        let mut service = Mapping::new();
        if !ext_ids.is_empty() {
            service.insert("extensions".into(), Yaml::Sequence(ext_ids));
        }
        service.insert(
            "pipelines".into(),
            Yaml::Mapping(
                pipelines
                    .iter()
                    .map(|(k, p)| (Yaml::String(k.clone()), p.to_yaml()))
                    .collect(),
            ),
        );
        doc.insert("service".into(), Yaml::Mapping(service));
        Yaml::Mapping(doc)
    }
}

fn add_all<'b>(
    map: &mut BTreeMap<String, Yaml>,
    conflicts: &mut Vec<(String, Yaml)>,
    items: impl Iterator<Item = &'b (String, Yaml)>,
) -> Vec<String> {
    items
        .map(|(id, body)| {
            insert_checked(map, conflicts, id, body);
            id.clone()
        })
        .collect()
}

fn insert_checked(
    map: &mut BTreeMap<String, Yaml>,
    conflicts: &mut Vec<(String, Yaml)>,
    id: &str,
    body: &Yaml,
) {
    match map.get(id) {
        Some(existing) if existing != body => conflicts.push((id.to_string(), body.clone())),
        Some(_) => {}
        None => {
            map.insert(id.to_string(), body.clone());
        }
    }
}
