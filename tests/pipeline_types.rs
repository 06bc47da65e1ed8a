//! Every shipped resource type loads, renders with its defaults to a well-formed Collector
//! config, and the built-in list matches the `resource-types/` directory.

use std::collections::BTreeSet;

use fleetdeck::pipeline::TypeRegistry;

#[test]
fn every_builtin_type_loads() {
    let (reg, problems) = TypeRegistry::load_builtin();
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        problems.is_empty(),
        "built-in types rejected:\n{}",
        shown.join("\n")
    );
    assert!(reg.len() >= 30, "only {} built-in types", reg.len());
}

#[test]
fn builtin_index_lists_every_file_in_the_directory() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/resource-types");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    let embedded: BTreeSet<String> = TypeRegistry::builtin_files()
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    assert_eq!(on_disk, embedded);
}

mod every_type_renders {
    use fleetdeck::pipeline::config::{
        ConfigurationSpec, DestinationRef, Metadata, ProcessorRef, SourceRef,
    };
    use fleetdeck::pipeline::registry::LoadedType;
    use fleetdeck::pipeline::types::ParamType;
    use fleetdeck::pipeline::{
        Configuration, NoDestinations, Parameters, TypeKind, TypeRegistry, render,
    };
    use serde_norway::{Mapping, Value};

    /// A plausible value for each required parameter, so the type renders.
    fn required_values(ty: &LoadedType) -> Parameters {
        let mut m = Mapping::new();
        let defaults = ty.default_values();
        let needed = |p: &&fleetdeck::pipeline::types::ParameterDef| {
            p.required && p.default.is_none() && p.is_relevant(&defaults)
        };
        for p in ty.def.spec.parameters.iter().filter(needed) {
            let v: Value = match (p.kind, p.name.as_str()) {
                (ParamType::Yaml, _) => {
                    let sample = match ty.kind() {
                        TypeKind::Source => "- otlp/raw:\n    protocols:\n      grpc: {}",
                        TypeKind::Processor => "- batch/raw: {}",
                        TypeKind::Destination => "- debug/raw: {}",
                    };
                    Value::from(sample)
                }
                (ParamType::Enums, _) => {
                    Value::Sequence(p.valid_values.iter().cloned().map(Value::from).collect())
                }
                (ParamType::Enum, _) => Value::from(p.valid_values[0].clone()),
                (ParamType::Strings, _) => Value::Sequence(vec![Value::from("example.net:1234")]),
                (ParamType::Int, _) => Value::from(1),
                (ParamType::Bool, _) => Value::from(true),
                (ParamType::Map, _) => serde_norway::from_str("{k: v}").unwrap(),
                (ParamType::Timezone, _) => Value::from("UTC"),
                (ParamType::Duration, _) => Value::from("5s"),
                (ParamType::String, "header") => Value::from("time,level,message"),
                (ParamType::String, _) => Value::from("example"),
            };
            m.insert(Value::from(p.name.clone()), v);
        }
        Parameters::Map(m)
    }

    fn config(
        sources: Vec<SourceRef>,
        processors: Vec<ProcessorRef>,
        destinations: Vec<DestinationRef>,
    ) -> Configuration {
        Configuration {
            api_version: "fleetdeck/v1".into(),
            kind: "Configuration".into(),
            metadata: Metadata {
                name: "check".into(),
                ..Default::default()
            },
            spec: ConfigurationSpec {
                sources,
                processors,
                destinations,
                ..Default::default()
            },
        }
    }

    fn source(t: &str, parameters: Parameters) -> SourceRef {
        SourceRef {
            type_name: t.into(),
            display_name: None,
            parameters,
            processors: vec![],
            disabled: false,
        }
    }

    fn dest(t: &str, parameters: Parameters) -> DestinationRef {
        DestinationRef {
            name: None,
            type_name: Some(t.into()),
            display_name: None,
            parameters,
            processors: vec![],
            disabled: false,
        }
    }

    /// otlp source limited to the given signals.
    fn otlp_source(signals: &[fleetdeck::pipeline::Signal]) -> SourceRef {
        let names: Vec<Value> = signals
            .iter()
            .map(|s| {
                let mut n = s.as_str().to_string();
                n[..1].make_ascii_uppercase();
                Value::from(n)
            })
            .collect();
        let mut m = Mapping::new();
        m.insert("telemetry_types".into(), Value::Sequence(names));
        source("otlp", Parameters::Map(m))
    }

    /// Every pipeline entry names a defined component; every listed extension is defined.
    fn assert_well_formed(yaml: &str, what: &str) {
        let doc: Value = serde_norway::from_str(yaml)
            .unwrap_or_else(|e| panic!("{what}: output is not YAML: {e}\n{yaml}"));
        let pipelines = doc["service"]["pipelines"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{what}: no pipelines\n{yaml}"));
        assert!(!pipelines.is_empty(), "{what}: no pipelines");
        for (name, p) in pipelines {
            for (list, section) in [
                ("receivers", "receivers"),
                ("processors", "processors"),
                ("exporters", "exporters"),
            ] {
                for id in p[list].as_sequence().into_iter().flatten() {
                    let id = id.as_str().unwrap();
                    let defined =
                        doc[section].get(id).is_some() || doc["connectors"].get(id).is_some();
                    assert!(
                        defined,
                        "{what}: pipeline {name:?} uses {id} which is not defined\n{yaml}"
                    );
                }
            }
            assert!(
                !p["receivers"].as_sequence().unwrap().is_empty(),
                "{what}: {name:?} has no receivers"
            );
            assert!(
                !p["exporters"].as_sequence().unwrap().is_empty(),
                "{what}: {name:?} has no exporters"
            );
        }
        for id in doc["service"]["extensions"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            assert!(
                doc["extensions"].get(id.as_str().unwrap()).is_some(),
                "{what}: extension {id:?} not defined"
            );
        }
    }

    #[test]
    fn each_type_renders_with_defaults_into_a_complete_config() {
        let reg = TypeRegistry::builtin();
        let mut checked = 0;
        for ty in reg.iter() {
            let name = ty.name();
            let params = required_values(ty);
            let cfg = match ty.kind() {
                TypeKind::Source => config(
                    vec![source(name, params)],
                    vec![],
                    vec![dest("debug", Parameters::default())],
                ),
                // A route belongs on a destination.
                TypeKind::Processor if ty.is_route() => {
                    let mut d = dest("debug", Parameters::default());
                    d.processors = vec![ProcessorRef {
                        type_name: name.into(),
                        name: None,
                        parameters: params,
                        disabled: false,
                    }];
                    config(
                        vec![otlp_source(&fleetdeck::pipeline::Signal::ALL)],
                        vec![],
                        vec![d],
                    )
                }
                TypeKind::Processor => config(
                    vec![otlp_source(&fleetdeck::pipeline::Signal::ALL)],
                    vec![ProcessorRef {
                        type_name: name.into(),
                        name: None,
                        parameters: params,
                        disabled: false,
                    }],
                    vec![dest("debug", Parameters::default())],
                ),
                TypeKind::Destination => config(
                    vec![otlp_source(&ty.signals())],
                    vec![],
                    vec![dest(name, params)],
                ),
            };
            let what = ty.def.label();
            let rendered = render(&cfg, &reg, &NoDestinations).unwrap_or_else(|ps| {
                panic!(
                    "{what} does not render: {}",
                    ps.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            });
            assert_well_formed(&rendered.yaml, &what);
            checked += 1;
        }
        assert!(checked >= 30);
    }
}

/// What each built-in type needs from a Collector build, as the builder marks it.
#[test]
fn a_types_default_components_are_what_it_renders_to() {
    use fleetdeck::pipeline::TypeKind;
    use fleetdeck::pipeline::types::Section;
    let reg = TypeRegistry::builtin();
    let of = |kind, name: &str| {
        reg.get(kind, name)
            .unwrap_or_else(|| panic!("built-in {name}"))
            .default_component_types()
    };
    let owned = |v: &[(Section, &str)]| -> Vec<(Section, String)> {
        v.iter().map(|(s, t)| (*s, t.to_string())).collect()
    };
    assert_eq!(
        of(TypeKind::Source, "hostmetrics"),
        owned(&[(Section::Receivers, "hostmetrics")])
    );
    assert_eq!(
        of(TypeKind::Processor, "batch"),
        owned(&[(Section::Processors, "batch")])
    );
    assert_eq!(
        of(TypeKind::Destination, "otlphttp"),
        owned(&[(Section::Exporters, "otlphttp")])
    );
    // A filter without conditions renders nothing: its templates say what it can emit.
    assert_eq!(
        of(TypeKind::Processor, "filter"),
        owned(&[(Section::Processors, "filter")])
    );
    // Every built-in type needs at least one component with its defaults.
    for ty in reg.iter() {
        // A connector-only type (span metrics) or a route needs a connector, which is not a
        // section.
        if !ty.emits().is_empty() || ty.is_route() {
            assert!(!ty.default_connector_types().is_empty(), "{}", ty.name());
            continue;
        }
        if ty.name() != "custom" {
            assert!(
                !ty.default_component_types().is_empty(),
                "{} {}",
                ty.kind().noun(),
                ty.name()
            );
        }
    }
}
