//! The built-in catalogue: every type says what it is, where its documentation is and which
//! category it belongs to; every key a type can write into Collector YAML is one the
//! component knows (the key trees in `resource-types/upstream/`, derived from
//! opentelemetry-collector(-contrib) v0.135.0); and the types whose components the real
//! Collector from `../shared/peers/otelcol.sh` contains pass its own `validate`.
//!
//! The Collector is found through `FLEETDECK_OTELCOL` or in `~/.cache/fleet-peers`; that test
//! says `SKIPPED` without it, and fails under CI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fleetdeck::pipeline::TypeRegistry;
use fleetdeck::pipeline::registry::{LoadedType, TypeOutput};
use fleetdeck::pipeline::types::{CATEGORIES, ParamType, ParameterDef, Section};
use serde_json::{Map, Value as Json, json};
use serde_norway::Value as Yaml;

const UPSTREAM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/resource-types/upstream");

/// Types that paste the user's own YAML: nothing to check against.
fn is_free_form(ty: &LoadedType) -> bool {
    ty.def
        .spec
        .parameters
        .iter()
        .any(|p| p.kind == ParamType::Yaml && p.required)
}

#[test]
fn the_catalogue_has_a_hundred_types_each_described_categorised_and_documented() {
    let reg = TypeRegistry::builtin();
    assert!(reg.len() >= 100, "only {} built-in types", reg.len());
    let mut missing = Vec::new();
    for ty in reg.iter() {
        let m = &ty.def.metadata;
        let what = ty.def.label();
        if m.display_name.as_deref().unwrap_or("").is_empty() {
            missing.push(format!("{what}: no displayName"));
        }
        if m.description.as_deref().unwrap_or("").len() < 10 {
            missing.push(format!("{what}: no description"));
        }
        match m.category.as_deref() {
            Some(c) if CATEGORIES.contains(&c) => {}
            other => missing.push(format!(
                "{what}: category {other:?} is not one of CATEGORIES"
            )),
        }
        if !m
            .documentation
            .iter()
            .any(|d| d.url.starts_with("https://"))
        {
            missing.push(format!("{what}: no documentation link"));
        }
        for p in &ty.def.spec.parameters {
            if p.label.as_deref().unwrap_or("").is_empty() {
                missing.push(format!("{what}: parameter {} has no label", p.name));
            }
            if p.required && p.default.is_some() {
                missing.push(format!(
                    "{what}: parameter {} is required but has a default",
                    p.name
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn upstream_links_point_at_the_pinned_release() {
    let reg = TypeRegistry::builtin();
    for ty in reg.iter() {
        for d in &ty.def.metadata.documentation {
            if d.url.starts_with("https://github.com/open-telemetry/") {
                assert!(
                    d.url.contains("/v0.135.0/"),
                    "{}: {} is not pinned to v0.135.0",
                    ty.def.label(),
                    d.url
                );
            }
        }
    }
}

// ---- key trees ---------------------------------------------------------------------------

/// A component's allowed key paths: `a.b`, `*` for any map key, `x[]` for the items of a
/// list of maps, a final `**` for anything below.
#[derive(Debug, Default)]
struct KeyTree {
    patterns: Vec<Vec<String>>,
}

impl KeyTree {
    fn parse(text: &str, origin: &str) -> Result<KeyTree, String> {
        let mut tree = KeyTree::default();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (prefix, include) = match line.split_once('@') {
                Some((p, inc)) => (p.trim_end_matches('.'), Some(inc)),
                None => (line, None),
            };
            let prefix: Vec<String> = if prefix.is_empty() {
                Vec::new()
            } else {
                prefix.split('.').map(str::to_string).collect()
            };
            match include {
                None => tree.patterns.push(prefix),
                Some(name) => {
                    let path = format!("{UPSTREAM}/shared/{name}.keys");
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("{origin} line {}: cannot read {path}: {e}", n + 1))?;
                    let inner = KeyTree::parse(&text, &path)?;
                    for p in inner.patterns {
                        let mut full = prefix.clone();
                        full.extend(p);
                        tree.patterns.push(full);
                    }
                }
            }
        }
        if tree.patterns.is_empty() {
            return Err(format!("{origin}: no keys"));
        }
        Ok(tree)
    }

    fn load(kind: &str, component: &str) -> Result<KeyTree, String> {
        let path = format!("{UPSTREAM}/{kind}/{component}.keys");
        let text = std::fs::read_to_string(&path).map_err(|_| {
            format!("no key tree for {kind} {component} (resource-types/upstream/{kind}/{component}.keys)")
        })?;
        KeyTree::parse(&text, &path)
    }

    /// Whether `path` is a key the component knows: a pattern matches it whole, or it is a
    /// prefix of a pattern (a map or list left empty), or a `**` pattern covers it.
    fn allows(&self, path: &[String]) -> bool {
        self.patterns.iter().any(|pat| {
            let mut i = 0;
            for seg in pat {
                if seg == "**" {
                    return true;
                }
                let Some(have) = path.get(i) else {
                    return true;
                };
                let ok = seg == have
                    || seg == "*"
                    || (seg == "*[]" && have.ends_with("[]"))
                    || (seg.ends_with("[]") && have == seg.trim_end_matches("[]"));
                if !ok {
                    return false;
                }
                i += 1;
            }
            i == path.len()
        })
    }
}

/// Every leaf key path in `body`: scalars, empty maps, lists of scalars.
fn key_paths(body: &Yaml, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match body {
        Yaml::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    other => serde_norway::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                prefix.push(key);
                key_paths(v, prefix, out);
                prefix.pop();
            }
        }
        Yaml::Sequence(items) if items.iter().any(|i| matches!(i, Yaml::Mapping(_))) => {
            let last = prefix.pop().unwrap_or_default();
            prefix.push(format!("{last}[]"));
            for item in items {
                key_paths(item, prefix, out);
            }
            prefix.pop();
            prefix.push(last);
        }
        Yaml::Tagged(t) => key_paths(&t.value, prefix, out),
        _ => out.push(prefix.clone()),
    }
}

/// Components whose key trees are not written yet: their keys are not checked. The list only
/// shrinks; a new type's component needs its tree.
const NOT_YET_CHECKED: &[(&str, &str)] = &[];

#[test]
fn components_waiting_for_a_key_tree_have_none_yet() {
    for (kind, component) in NOT_YET_CHECKED {
        assert!(
            KeyTree::load(kind, component).is_err(),
            "{kind} {component} has a key tree now: take it off NOT_YET_CHECKED"
        );
    }
}

fn kind_dir(s: Section) -> &'static str {
    match s {
        Section::Receivers => "receiver",
        Section::Processors => "processor",
        Section::Exporters => "exporter",
        Section::Extensions => "extension",
    }
}

/// Keys in `out` that the components' trees do not know, as `exporter otlphttp: a.b`.
fn unknown_keys(
    out: &TypeOutput,
    trees: &mut BTreeMap<(String, String), Result<KeyTree, String>>,
) -> Vec<String> {
    let mut bad = BTreeSet::new();
    for signal_out in out.values() {
        // A route is an entry of the routing connector's table, which the renderer writes.
        if !signal_out.routes.is_empty() {
            let key = ("connector".to_string(), "routing".to_string());
            let tree = trees
                .entry(key)
                .or_insert_with(|| KeyTree::load("connector", "routing"));
            match tree {
                Ok(tree) => {
                    for route in &signal_out.routes {
                        let mut paths = Vec::new();
                        key_paths(route, &mut vec!["table[]".to_string()], &mut paths);
                        for p in paths.iter().filter(|p| !tree.allows(p)) {
                            bad.insert(format!("connector routing: {}", p.join(".")));
                        }
                    }
                }
                Err(e) => {
                    bad.insert(e.clone());
                }
            }
        }
        let lists = Section::ALL
            .into_iter()
            .map(|s| (kind_dir(s), signal_out.section(s)))
            .chain(std::iter::once((
                "connector",
                signal_out.connectors.as_slice(),
            )));
        for (kind, list) in lists {
            for (id, body) in list {
                let component = id.split('/').next().unwrap_or(id).to_string();
                let kind = kind.to_string();
                let tree = trees
                    .entry((kind.clone(), component.clone()))
                    .or_insert_with(|| KeyTree::load(&kind, &component));
                let tree = match tree {
                    Ok(t) => t,
                    Err(_) if NOT_YET_CHECKED.contains(&(kind.as_str(), component.as_str())) => {
                        continue;
                    }
                    Err(e) => {
                        bad.insert(e.clone());
                        continue;
                    }
                };
                let mut paths = Vec::new();
                key_paths(body, &mut Vec::new(), &mut paths);
                for p in paths {
                    if !p.is_empty() && !tree.allows(&p) {
                        bad.insert(format!("{kind} {component}: {}", p.join(".")));
                    }
                }
            }
        }
    }
    bad.into_iter().collect()
}

/// A value of the parameter's type that a user could give, chosen so the Collector accepts
/// it too (a URL for an endpoint, a path for a file).
fn sample(p: &ParameterDef) -> Json {
    let name = p.name.as_str();
    let default = p.default_value().unwrap_or(Json::Null);
    match p.kind {
        ParamType::Bool => json!(true),
        ParamType::Int => match default.as_i64() {
            Some(d) if d > 0 => json!(d),
            _ => json!(100_000),
        },
        ParamType::Duration => match default.as_str() {
            Some(d) if d != "0s" && d != "0" => default.clone(),
            _ => json!("5s"),
        },
        ParamType::Timezone => json!("Europe/Berlin"),
        ParamType::Enum => default
            .as_str()
            .filter(|s| !s.is_empty())
            .map_or_else(|| json!(p.valid_values[0]), |s| json!(s)),
        ParamType::Enums => json!(p.valid_values),
        ParamType::Map => json!({"team": "platform"}),
        ParamType::Yaml => default,
        ParamType::Strings => {
            if name.contains("path") || name == "include" || name == "exclude" {
                json!(["/var/log/app/*.log"])
            } else if name.contains("endpoint") || name.contains("broker") || name.contains("host")
            {
                json!(["collector.example.net:4317"])
            } else if name.contains("statement") || name.contains("condition") {
                json!(["attributes[\"x\"] == \"y\""])
            } else {
                json!(["sample-1", "sample-2"])
            }
        }
        ParamType::String => {
            let s = if name == "header" {
                "time,level,message"
            } else if name.contains("regex") || name.contains("pattern") {
                "^(?P<message>.*)$"
            } else if name.ends_with("_file") || name.contains("path") || name.contains("directory")
            {
                "/var/lib/fleetdeck-check/file"
            } else if name.contains("endpoint") || name.contains("url") {
                match default.as_str() {
                    Some(d) if !d.is_empty() => d,
                    _ => "https://collector.example.net:4318",
                }
            } else if name.contains("statement") || name.contains("condition") {
                "attributes[\"x\"] == \"y\""
            } else {
                match default.as_str() {
                    Some(d) if !d.is_empty() => d,
                    _ => "sample",
                }
            };
            json!(s)
        }
    }
}

/// Value sets that between them take every branch a type's templates have: defaults (with
/// required values), every parameter set, every enum value, every switch off.
fn value_sets(ty: &LoadedType) -> Vec<(String, Map<String, Json>)> {
    let params = &ty.def.spec.parameters;
    let mut defaults = ty.default_values();
    for p in params.iter().filter(|p| p.required) {
        defaults.insert(p.name.clone(), sample(p));
    }
    let mut all = defaults.clone();
    for p in params {
        all.insert(p.name.clone(), sample(p));
    }
    let mut sets = vec![
        ("defaults".to_string(), defaults),
        ("all set".into(), all.clone()),
    ];
    let mut off = all.clone();
    for p in params.iter().filter(|p| p.kind == ParamType::Bool) {
        off.insert(p.name.clone(), json!(false));
    }
    sets.push(("switches off".into(), off));
    for p in params {
        match p.kind {
            ParamType::Enum => {
                for v in &p.valid_values {
                    let mut s = all.clone();
                    s.insert(p.name.clone(), json!(v));
                    sets.push((format!("{} = {v}", p.name), s));
                }
            }
            ParamType::Enums => {
                for v in &p.valid_values {
                    let mut s = all.clone();
                    s.insert(p.name.clone(), json!([v]));
                    sets.push((format!("{} = [{v}]", p.name), s));
                }
            }
            _ => {}
        }
    }
    // What a user can give: a parameter that does not apply keeps its default.
    let defaults = ty.default_values();
    for (_, set) in &mut sets {
        for _ in 0..3 {
            for p in params {
                if !p.is_relevant(set) {
                    let d = defaults.get(&p.name).cloned().unwrap_or(Json::Null);
                    set.insert(p.name.clone(), d);
                }
            }
        }
    }
    sets
}

#[test]
fn every_key_a_builtin_type_writes_is_one_the_collector_component_knows() {
    let reg = TypeRegistry::builtin();
    let mut trees = BTreeMap::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for ty in reg.iter().filter(|t| !is_free_form(t)) {
        for (case, values) in value_sets(ty) {
            match ty.evaluate(&values, "check") {
                Ok(out) => {
                    for k in unknown_keys(&out, &mut trees) {
                        problems.push(format!("{} ({case}): {k}", ty.def.label()));
                    }
                    checked += 1;
                }
                // Required values alone may not be enough (a password or a key file): the
                // type says so in its own words, and the "all set" case must render.
                Err(errors)
                    if case == "defaults"
                        && errors.iter().all(|e| e.message.starts_with("fail:")) => {}
                Err(errors) => problems.push(format!(
                    "{} ({case}) does not render: {}",
                    ty.def.label(),
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", e.path, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            }
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 300, "only {checked} renders checked");
}

#[test]
fn a_key_the_component_does_not_know_is_reported_with_its_path() {
    let tree = KeyTree::parse(
        "endpoint\ntls.@configtls.client\nheaders.*\npolicies[].name\nattributes.**\n",
        "test",
    )
    .unwrap();
    let body: Yaml = serde_norway::from_str(
        "endpont: x\nendpoint: y\ntls: {insecure: true, ca_fil: z}\nheaders: {a: b}\n\
         policies: [{name: a, typ: b}]\nattributes: {deep: {er: 1}}\n",
    )
    .unwrap();
    let mut paths = Vec::new();
    key_paths(&body, &mut Vec::new(), &mut paths);
    let bad: Vec<String> = paths
        .iter()
        .filter(|p| !tree.allows(p))
        .map(|p| p.join("."))
        .collect();
    assert_eq!(bad, ["endpont", "tls.ca_fil", "policies[].typ"]);
}

#[test]
fn every_key_tree_names_the_pinned_version_and_its_source() {
    let mut count = 0;
    for kind in [
        "receiver",
        "processor",
        "exporter",
        "connector",
        "extension",
        "shared",
    ] {
        let dir = Path::new(UPSTREAM).join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let head: String = text.lines().take(3).collect::<Vec<_>>().join("\n");
            assert!(
                head.contains("v0.135.0") && head.contains(".go"),
                "{}: the first lines must name the upstream version and file",
                path.display()
            );
            KeyTree::parse(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
            count += 1;
        }
    }
    assert!(count > 20, "only {count} key trees");
}

// ---- the real Collector ------------------------------------------------------------------

fn otelcol() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLEETDECK_OTELCOL").map(PathBuf::from)
        && p.is_file()
    {
        return Some(p);
    }
    let lib = PathBuf::from(std::env::var_os("HOME")?).join(".cache/fleet-peers/otelcol-venv/lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|py| {
        let bin = py
            .path()
            .join("site-packages/otel_collector/bin/otelcol-contrib_linux_amd64");
        bin.is_file().then_some(bin)
    })
}

fn need_otelcol() -> Option<PathBuf> {
    let found = otelcol();
    if found.is_none() {
        let msg =
            "otelcol-contrib not found (run ../shared/peers/otelcol.sh or set FLEETDECK_OTELCOL)";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// The component types a Collector build contains, from `otelcol components`.
fn components_of(otelcol: &Path) -> BTreeSet<(String, String)> {
    let out = std::process::Command::new(otelcol)
        .arg("components")
        .output()
        .expect("run otelcol components");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut kind = String::new();
    let mut set = BTreeSet::new();
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            kind = line.trim_end_matches(':').trim_end_matches('s').to_string();
        } else if let Some(name) = line.trim().strip_prefix("- name: ") {
            set.insert((kind.clone(), name.to_string()));
        }
    }
    set
}

#[test]
fn types_the_real_collector_contains_pass_its_validate_with_every_parameter_set() {
    let Some(otelcol) = need_otelcol() else {
        return;
    };
    let has = components_of(&otelcol);
    assert!(
        has.contains(&("receiver".into(), "filelog".into())),
        "{has:?}"
    );
    let reg = TypeRegistry::builtin();
    let dir = tempfile::tempdir().unwrap();
    let mut validated = BTreeSet::new();
    for ty in reg.iter().filter(|t| !is_free_form(t)) {
        for (case, values) in value_sets(ty) {
            let Ok(out) = ty.evaluate(&values, "check") else {
                continue;
            };
            let used: BTreeSet<(String, String)> = out
                .values()
                .flat_map(|o| {
                    Section::ALL.into_iter().flat_map(move |s| {
                        o.section(s).iter().map(move |(id, _)| {
                            let c = id.split('/').next().unwrap_or(id);
                            (kind_dir(s).to_string(), c.to_string())
                        })
                    })
                })
                .collect();
            if used.is_empty() || !used.is_subset(&has) {
                continue;
            }
            let yaml = standalone_config(&out);
            let file = dir.path().join("c.yaml");
            std::fs::write(&file, &yaml).unwrap();
            let run = std::process::Command::new(&otelcol)
                .arg("validate")
                .arg(format!("--config={}", file.display()))
                .output()
                .expect("run otelcol validate");
            assert!(
                run.status.success(),
                "{} ({case}) is refused by the Collector:\n{}\n{yaml}",
                ty.def.label(),
                String::from_utf8_lossy(&run.stderr)
            );
            validated.insert(ty.def.label());
        }
    }
    for want in [
        "SourceType filelog",
        "ProcessorType batch",
        "ProcessorType memory_limiter",
        "DestinationType otlphttp",
    ] {
        assert!(
            validated.contains(want),
            "{want} was not validated: {validated:?}"
        );
    }
}

/// One type's components in a runnable config: the missing ends are the build's filelog
/// receiver and otlphttp exporter.
fn standalone_config(out: &TypeOutput) -> String {
    let mut doc = serde_norway::Mapping::new();
    let mut pipelines = serde_norway::Mapping::new();
    let mut sections: BTreeMap<&str, serde_norway::Mapping> = BTreeMap::new();
    for (signal, o) in out {
        // The build receives logs only (filelog): other signals need the type's own receiver.
        if o.receivers.is_empty() && signal.as_str() != "logs" {
            continue;
        }
        let mut ids = BTreeMap::new();
        for s in [Section::Receivers, Section::Processors, Section::Exporters] {
            let list: Vec<Yaml> = o
                .section(s)
                .iter()
                .map(|(id, body)| {
                    sections
                        .entry(s.as_str())
                        .or_default()
                        .insert(Yaml::from(id.clone()), body.clone());
                    Yaml::from(id.clone())
                })
                .collect();
            ids.insert(s.as_str(), list);
        }
        if ids["receivers"].is_empty() {
            sections.entry("receivers").or_default().insert(
                Yaml::from("filelog/in"),
                serde_norway::from_str("include: [/var/log/fleetdeck-check.log]").unwrap(),
            );
            ids.insert("receivers", vec![Yaml::from("filelog/in")]);
        }
        if ids["exporters"].is_empty() {
            sections.entry("exporters").or_default().insert(
                Yaml::from("otlphttp/out"),
                serde_norway::from_str("endpoint: http://127.0.0.1:4318").unwrap(),
            );
            ids.insert("exporters", vec![Yaml::from("otlphttp/out")]);
        }
        let mut p = serde_norway::Mapping::new();
        for (k, v) in ids {
            if !v.is_empty() {
                p.insert(Yaml::from(k), Yaml::Sequence(v));
            }
        }
        pipelines.insert(Yaml::from(signal.as_str()), Yaml::Mapping(p));
    }
    for (k, v) in sections {
        doc.insert(Yaml::from(k), Yaml::Mapping(v));
    }
    let mut service = serde_norway::Mapping::new();
    service.insert(Yaml::from("pipelines"), Yaml::Mapping(pipelines));
    doc.insert(Yaml::from("service"), Yaml::Mapping(service));
    serde_norway::to_string(&doc).unwrap()
}
