//! Hostile parameter values (newlines, `: `, flow syntax, quotes, `{{`) cannot change the
//! structure of what any built-in type renders: each is refused by type, or refused as a
//! structure change, or renders to the same shape as an ordinary value.

use fleetdeck::pipeline::TypeRegistry;
use fleetdeck::pipeline::registry::{LoadedType, TypeOutput};
use fleetdeck::pipeline::types::ParamType;
use serde_json::{Value as Json, json};
use serde_norway::Value as Yaml;

const HOSTILE: &[&str] = &[
    "1s\n- filelog:\n    include: [/etc/shadow]",
    "1s\n  extra: true",
    "a: b",
    "x, /etc/shadow",
    "{evil: 1}",
    "[a, b]",
    "\"quoted\": x",
    "'single",
    "{{ .secret }}",
    "a #comment",
    "- item",
    "*alias",
    "&anchor x",
    "!!map {}",
    "| block",
    "x\r\ny: 1",
];

/// Structure without scalars or key names, as the renderer's guard sees it.
#[derive(Debug, PartialEq)]
enum Shape {
    Scalar,
    Map(Vec<(String, Shape)>),
    List(Vec<Shape>),
}

/// Key names are kept here (stricter than the guard) except where the value under test
/// may be a key itself (a map parameter's keys).
fn shape(y: &Yaml, keys: bool) -> Shape {
    match y {
        Yaml::Mapping(m) => Shape::Map(
            m.iter()
                .map(|(k, v)| {
                    let name = if keys {
                        k.as_str().unwrap_or("?").to_string()
                    } else {
                        String::new()
                    };
                    (name, shape(v, keys))
                })
                .collect(),
        ),
        Yaml::Sequence(s) => Shape::List(s.iter().map(|v| shape(v, keys)).collect()),
        Yaml::Tagged(t) => shape(&t.value, keys),
        _ => Shape::Scalar,
    }
}

fn shape_of(out: &TypeOutput, keys: bool) -> Vec<Shape> {
    let mut shapes = Vec::new();
    for (signal, o) in out {
        for section in [
            &o.receivers,
            &o.processors,
            &o.exporters,
            &o.extensions,
            &o.connectors,
        ] {
            let list = section
                .iter()
                .map(|(id, body)| Shape::Map(vec![(format!("{signal:?}/{id}"), shape(body, keys))]))
                .collect();
            shapes.push(Shape::List(list));
        }
        shapes.push(Shape::List(
            o.routes
                .iter()
                .map(|r| Shape::Map(vec![(format!("{signal:?}/route"), shape(r, keys))]))
                .collect(),
        ));
    }
    shapes
}

/// Whether a string value appears in a key of what was rendered.
fn used_as_key(out: &TypeOutput, value: &Json) -> bool {
    fn walk(y: &Yaml, needle: &str) -> bool {
        match y {
            Yaml::Mapping(m) => m
                .iter()
                .any(|(k, v)| k.as_str().is_some_and(|k| k.contains(needle)) || walk(v, needle)),
            Yaml::Sequence(s) => s.iter().any(|v| walk(v, needle)),
            Yaml::Tagged(t) => walk(&t.value, needle),
            _ => false,
        }
    }
    let Some(needle) = value.as_str() else {
        return false;
    };
    out.values().any(|o| {
        [
            &o.receivers,
            &o.processors,
            &o.exporters,
            &o.extensions,
            &o.connectors,
        ]
        .into_iter()
        .flatten()
        .any(|(_, body)| walk(body, needle))
            || o.routes.iter().any(|r| walk(r, needle))
    })
}

/// Values for the required parameters, so every type renders.
fn required(ty: &LoadedType) -> Vec<(String, Json)> {
    let defaults = ty.default_values();
    ty.def
        .spec
        .parameters
        .iter()
        .filter(|p| p.required && p.default.is_none() && p.is_relevant(&defaults))
        .map(|p| {
            let v = match p.kind {
                ParamType::Yaml => json!("- debug/raw: {}"),
                ParamType::Enums => json!(p.valid_values),
                ParamType::Enum => json!(p.valid_values[0]),
                ParamType::Strings => json!(["example.net:1234"]),
                ParamType::Int => json!(1),
                ParamType::Bool => json!(true),
                ParamType::Map => json!({"k": "v"}),
                ParamType::Timezone => json!("UTC"),
                ParamType::Duration => json!("5s"),
                ParamType::String => json!("example"),
            };
            (p.name.clone(), v)
        })
        .collect()
}

fn with(base: &[(String, Json)], name: &str, value: Json) -> Vec<(String, Json)> {
    let mut given: Vec<(String, Json)> = base.iter().filter(|(n, _)| n != name).cloned().collect();
    given.push((name.to_string(), value));
    given
}

#[test]
fn hostile_values_never_change_what_a_builtin_type_renders() {
    let (reg, problems) = TypeRegistry::load_builtin();
    assert!(problems.is_empty());
    let mut tried = 0;
    let mut refused = 0;
    let mut rendered_same = 0;
    for ty in reg.iter() {
        let base = required(ty);
        let defaults = ty.default_values();
        for p in &ty.def.spec.parameters {
            if !p.is_relevant(&defaults) {
                continue;
            }
            // A CSV header is a list of names: an ordinary one has a comma.
            let benign = if p.name == "header" {
                "benign,names"
            } else {
                "benign"
            };
            let forms: Vec<(Json, Json, bool)> = match p.kind {
                ParamType::String | ParamType::Duration => HOSTILE
                    .iter()
                    .map(|h| (json!(h), json!(benign), true))
                    .collect(),
                ParamType::Strings => HOSTILE
                    .iter()
                    .map(|h| (json!([h]), json!(["benign"]), true))
                    .collect(),
                ParamType::Map => HOSTILE
                    .iter()
                    .flat_map(|h| {
                        [
                            (json!({"k": h}), json!({"k": "benign"}), true),
                            (json!({*h: "v"}), json!({"benign": "v"}), false),
                        ]
                    })
                    .collect(),
                _ => continue,
            };
            for (hostile, benign, keys) in forms {
                tried += 1;
                let (values, problems) = ty.resolve_values(&with(&base, &p.name, hostile.clone()));
                if !problems.is_empty() {
                    refused += 1;
                    continue;
                }
                let Ok(out) = ty.evaluate(&values, "r") else {
                    refused += 1;
                    continue;
                };
                let (good, _) = ty.resolve_values(&with(&base, &p.name, benign));
                let Ok(expected) = ty.evaluate(&good, "r") else {
                    // The benign value is not valid here either (a URL field, say): only
                    // the refusal of the hostile one matters, and it was not refused.
                    panic!(
                        "{} {}: {hostile} rendered while an ordinary value does not",
                        ty.def.metadata.name, p.name
                    );
                };
                // A value the type writes as a key (count's metric name) changes that key's
                // name, as a map parameter's keys do: then only the structure must hold.
                let keys = keys && !used_as_key(&out, &hostile);
                assert_eq!(
                    shape_of(&out, keys),
                    shape_of(&expected, keys),
                    "{} parameter {} = {hostile}: the structure changed",
                    ty.def.metadata.name,
                    p.name
                );
                rendered_same += 1;
            }
        }
    }
    assert!(tried > 500, "only {tried} hostile values tried");
    assert!(
        refused > 0 && rendered_same > 0,
        "{refused} refused, {rendered_same} same"
    );
}

/// The three parameters that were written unquoted: their values are durations now, and
/// an injected receiver is refused by type.
#[test]
fn duration_parameters_take_durations_only() {
    let reg = TypeRegistry::builtin();
    for (ty, param) in [
        ("batch", "timeout"),
        ("memory_limiter", "check_interval"),
        ("resourcedetection", "timeout"),
    ] {
        let t = reg
            .get(fleetdeck::pipeline::TypeKind::Processor, ty)
            .expect("built in");
        let def = t.def.parameter(param).expect("parameter");
        assert_eq!(def.kind, ParamType::Duration, "{ty}.{param}");
        let (_, problems) = t.resolve_values(&[(
            param.to_string(),
            json!("1s\n- filelog:\n    include: [/etc/shadow]"),
        )]);
        assert!(
            problems
                .iter()
                .any(|(_, m)| m.contains("expected a duration")),
            "{ty}.{param}: {problems:?}"
        );
        for good in ["200ms", "1m30s", "1.5s", "0"] {
            let (_, problems) = t.resolve_values(&[(param.to_string(), json!(good))]);
            assert!(problems.is_empty(), "{ty}.{param} = {good}: {problems:?}");
        }
    }
}

/// A type of the user's own whose template writes a string unquoted: a value that would
/// add structure is refused naming the parameter, whatever the template; ordinary values
/// (a URL with its colons, a path) render as before, and so does the same value quoted.
#[test]
fn a_users_type_that_forgets_to_quote_cannot_be_injected_into() {
    let mut reg = TypeRegistry::empty();
    reg.load_text(
        r#"apiVersion: fleetdeck/v1
kind: ProcessorType
metadata: {name: careless}
spec:
  parameters:
    - {name: note, type: string, default: none}
    - {name: paths, type: strings, default: []}
    - {name: quoted, type: string, default: x}
  logs:
    processors: |
      - attributes:
          note: {{ .note }}
          include: [{{ join ", " .paths }}]
          quoted: {{ .quoted | quote }}
"#,
        Some("careless.yaml"),
    )
    .expect("the type loads");
    let t = reg
        .get(fleetdeck::pipeline::TypeKind::Processor, "careless")
        .expect("loaded");
    let eval = |given: &[(&str, Json)]| {
        let given: Vec<(String, Json)> = given
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        let (values, problems) = t.resolve_values(&given);
        assert!(problems.is_empty(), "{problems:?}");
        t.evaluate(&values, "r")
    };
    for (name, value) in [
        (
            "note",
            json!("x\n  actions: [{key: secret, action: delete}]"),
        ),
        ("note", json!("{a: 1}")),
        ("paths", json!(["a", "b, /etc/shadow"])),
        ("paths", json!(["[x]"])),
    ] {
        let errors = eval(&[(name, value.clone())]).expect_err("refused");
        let text = format!("{errors:?}");
        assert!(
            text.contains(&format!(
                "the value of parameter {name} would change the structure"
            )),
            "{name} = {value}: {text}"
        );
    }
    for (name, value) in [
        ("note", json!("https://collector.example.net:4318/v1/logs")),
        ("paths", json!(["/var/log/*.log", "C:/logs"])),
        ("quoted", json!("a: b\n- c: {d}")),
    ] {
        assert!(eval(&[(name, value.clone())]).is_ok(), "{name} = {value}");
    }
}
