//! Sensitive parameter values: where they are in a configuration, and a [`Redactor`] that
//! hides them in any text shown to people — rendered YAML of any version, diffs, and the
//! effective configurations agents report back (which carry the secrets they were sent).

use std::borrow::Cow;

use serde_norway::Value as Yaml;

use super::config::{Configuration, Destination, Parameters, ProcessorRef};
use super::registry::TypeRegistry;
use super::types::TypeKind;

/// What sensitive parameters render to in masked output.
pub const MASK: &str = "(sensitive)";

/// Calls `f` with each set parameter of `cfg` that its type marks sensitive (the parameter
/// list it is written in, and its name). Parameters of unknown types are skipped.
pub fn visit_sensitive(
    cfg: &mut Configuration,
    types: &TypeRegistry,
    f: &mut dyn FnMut(&mut Parameters, &str),
) {
    let mut each = |kind: TypeKind, type_name: &str, params: &mut Parameters| {
        let Some(ty) = types.get(kind, type_name) else {
            return;
        };
        for def in ty.def.spec.parameters.iter().filter(|d| d.is_sensitive()) {
            if params.get(&def.name).is_some() {
                f(params, &def.name);
            }
        }
    };
    let processors = |list: &mut Vec<ProcessorRef>,
                      each: &mut dyn FnMut(TypeKind, &str, &mut Parameters)| {
        for p in list.iter_mut() {
            each(TypeKind::Processor, &p.type_name, &mut p.parameters);
        }
    };
    for s in &mut cfg.spec.sources {
        each(TypeKind::Source, &s.type_name, &mut s.parameters);
        processors(&mut s.processors, &mut each);
    }
    processors(&mut cfg.spec.processors, &mut each);
    for d in &mut cfg.spec.destinations {
        if let Some(t) = d.type_name.clone() {
            each(TypeKind::Destination, &t, &mut d.parameters);
        }
        processors(&mut d.processors, &mut each);
    }
}

/// The sensitive values written in a configuration (inline destinations included; named
/// destinations are resources of their own: [`destination_secrets`]).
pub fn configuration_secrets(cfg: &Configuration, types: &TypeRegistry) -> Vec<String> {
    let mut scratch = cfg.clone();
    let mut out = Vec::new();
    visit_sensitive(&mut scratch, types, &mut |params, name| {
        if let Some(v) = params.get(name) {
            strings_in(v, &mut out);
        }
    });
    out
}

/// The sensitive values written in a `Destination` resource.
pub fn destination_secrets(d: &Destination, types: &TypeRegistry) -> Vec<String> {
    let Some(ty) = types.get(TypeKind::Destination, &d.spec.type_name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for def in ty.def.spec.parameters.iter().filter(|p| p.is_sensitive()) {
        if let Some(v) = d.spec.parameters.get(&def.name) {
            strings_in(v, &mut out);
        }
    }
    for p in &d.spec.processors {
        if let Some(ty) = types.get(TypeKind::Processor, &p.type_name) {
            for def in ty.def.spec.parameters.iter().filter(|d| d.is_sensitive()) {
                if let Some(v) = p.parameters.get(&def.name) {
                    strings_in(v, &mut out);
                }
            }
        }
    }
    out
}

/// Replaces every string inside the sensitive parameters of a configuration (inline
/// destinations included) or of a destination with `f` of it: how secrets are sealed
/// before a resource is stored.
pub fn map_sensitive_strings(
    resource: &mut super::Resource,
    types: &TypeRegistry,
    f: &dyn Fn(&str) -> String,
) {
    let mut apply = |params: &mut Parameters, name: &str| {
        if let Some(mut v) = params.get(name).cloned() {
            map_strings(&mut v, f);
            params.replace(name, v);
        }
    };
    match resource {
        super::Resource::Configuration(c) => visit_sensitive(c, types, &mut apply),
        super::Resource::Destination(d) => {
            let each = |kind: TypeKind, type_name: &str, params: &mut Parameters| {
                let Some(ty) = types.get(kind, type_name) else {
                    return;
                };
                for def in ty.def.spec.parameters.iter().filter(|d| d.is_sensitive()) {
                    apply(params, &def.name);
                }
            };
            let type_name = d.spec.type_name.clone();
            each(TypeKind::Destination, &type_name, &mut d.spec.parameters);
            for p in &mut d.spec.processors {
                each(TypeKind::Processor, &p.type_name, &mut p.parameters);
            }
        }
        super::Resource::Type(_) => {}
    }
}

fn map_strings(v: &mut Yaml, f: &dyn Fn(&str) -> String) {
    match v {
        Yaml::String(s) => *s = f(s),
        Yaml::Sequence(items) => items.iter_mut().for_each(|i| map_strings(i, f)),
        Yaml::Mapping(m) => m.values_mut().for_each(|i| map_strings(i, f)),
        Yaml::Tagged(t) => map_strings(&mut t.value, f),
        Yaml::Null | Yaml::Bool(_) | Yaml::Number(_) => {}
    }
}

fn strings_in(v: &Yaml, out: &mut Vec<String>) {
    match v {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Sequence(items) => items.iter().for_each(|i| strings_in(i, out)),
        Yaml::Mapping(m) => m.values().for_each(|i| strings_in(i, out)),
        Yaml::Tagged(t) => strings_in(&t.value, out),
        Yaml::Null | Yaml::Bool(_) | Yaml::Number(_) => {}
    }
}

/// Hides known secret values in text. Values shorter than [`Redactor::MIN_LEN`] are not
/// looked for: masking every `on` or `1` would wreck the text and such a value protects
/// nothing anyway.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is hidden whole.
    secrets: Vec<String>,
}

// Never the values themselves: a Debug print of whatever holds this must not leak them.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub const MIN_LEN: usize = 4;

    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = values
            .into_iter()
            .filter(|s| s.chars().count() >= Self::MIN_LEN && s != MASK)
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The values looked for.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// `text` with every known secret replaced by `(sensitive)`.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::parse_resources;

    fn one(text: &str) -> crate::pipeline::Resource {
        parse_resources(text, None)
            .expect("parses")
            .remove(0)
            .resource
    }

    #[test]
    fn secrets_of_inline_and_named_destinations_are_found() {
        let types = TypeRegistry::builtin();
        let crate::pipeline::Resource::Configuration(cfg) = one(r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: c}
spec:
  sources: [{type: otlp}]
  destinations:
    - type: dynatrace
      parameters: {endpoint: "https://abc.live.dynatrace.com/api/v2/otlp", api_token: dt0c01.SECRET}
"#)
        else {
            panic!("a configuration");
        };
        assert_eq!(configuration_secrets(&cfg, &types), vec!["dt0c01.SECRET"]);

        let crate::pipeline::Resource::Destination(d) = one(r#"apiVersion: fleetdeck/v1
kind: Destination
metadata: {name: dt}
spec:
  type: dynatrace
  parameters: {endpoint: "https://x", api_token: dt0c01.OTHER}
"#)
        else {
            panic!("a destination");
        };
        assert_eq!(destination_secrets(&d, &types), vec!["dt0c01.OTHER"]);
    }

    #[test]
    fn the_redactor_hides_every_occurrence_longest_first_and_skips_tiny_values() {
        let r = Redactor::new(["abcd".to_string(), "abcdef".into(), "on".into()]);
        assert_eq!(
            r.mask("Api-Token abcdef; again abcd; on"),
            "Api-Token (sensitive); again (sensitive); on"
        );
        assert!(matches!(r.mask("nothing here"), Cow::Borrowed(_)));
        assert!(Redactor::new(Vec::<String>::new()).is_empty());
    }
}
