//! Processors attached to one source, edited in the builder's step 2: added, edited with
//! the same forms as step 3, reordered and removed, and what the review renders and the
//! save sends follows each change.

mod seed;

use std::sync::Arc;

use fleetdeck::pipeline::{Configuration, Destination, TypeRegistry};
use fleetdeck::tui::testing::{
    configuration_saved_as, pipeline_processors, press, render_text, set_wizard_field,
    to_wizard_field, type_text, wizard as wiz,
};
use fleetdeck::tui::wizard::{Mode, Step, WizardEffect, WizardMsg};
use fleetdeck::tui::{App, Effect, Keymap};
use seed::builder_app;

fn app() -> App {
    builder_app(Keymap::default())
}

/// The builder in step 2 with one OTLP source.
fn otlp_source(a: &mut App) {
    press(a, &["n", "/"]);
    type_text(a, "otlp");
    press(a, &["enter"]);
    assert_eq!(wiz(a).step, Step::Configure);
}

/// `p` in step 2: attaches a processor of type `name` to the source shown.
fn attach(a: &mut App, name: &str) {
    press(a, &["p"]);
    type_text(a, name);
    press(a, &["enter"]);
}

/// From step 2: no fleet-wide processor, an OTLP/HTTP destination, then the review.
fn to_review(a: &mut App) {
    press(a, &["n", "n", "a"]);
    type_text(a, "otlphttp");
    // Adding it opens its required endpoint.
    press(a, &["enter"]);
    type_text(a, "https://collector.example.net:4318");
    press(a, &["enter", "n"]);
    assert_eq!(wiz(a).step, Step::Review);
}

fn yaml(a: &App) -> String {
    let w = wiz(a);
    assert!(w.review.problems.is_empty(), "{:?}", w.review.problems);
    w.review.yaml.clone().unwrap_or_default()
}

#[test]
fn a_processor_added_to_one_source_is_edited_rendered_and_saved() {
    let mut a = app();
    otlp_source(&mut a);
    attach(&mut a, "batch");
    let w = wiz(&a);
    assert_eq!(
        w.attached_focus,
        Some(0),
        "the new processor's form is shown"
    );
    assert_eq!(w.current().map(|c| c.type_name.as_str()), Some("batch"));
    let screen = render_text(&a);
    assert!(screen.contains("1.1 Batch"), "{screen}");
    assert!(
        screen.contains("processor 1 of 1 on otlp: runs only on this source's data"),
        "{screen}"
    );
    // A value that does not parse is named on the field, then fixed.
    set_wizard_field(&mut a, "send_batch_size", "lots");
    let w = wiz(&a);
    let c = w.current().expect("the batch form");
    let i = w.current_field().expect("a field");
    assert!(
        c.problem(i)
            .unwrap_or_default()
            .contains("not a whole number"),
        "{:?}",
        c.problem(i)
    );
    set_wizard_field(&mut a, "send_batch_size", "512");
    set_wizard_field(&mut a, "timeout", "2s");
    // Tab goes back to the source's own form; the processor stays with it.
    press(&mut a, &["tab"]);
    assert_eq!(wiz(&a).attached_focus, None);
    assert_eq!(
        wiz(&a).current().map(|c| c.type_name.as_str()),
        Some("otlp")
    );
    to_review(&mut a);
    let yaml = yaml(&a);
    assert!(yaml.contains("batch/source0__processor0:"), "{yaml}");
    assert!(yaml.contains("send_batch_size: 512"), "{yaml}");
    assert!(yaml.contains("timeout: 2s"), "{yaml}");
    assert_eq!(
        pipeline_processors(&yaml, "metrics"),
        ["batch/source0__processor0"]
    );
    let cfg = configuration_saved_as(&mut a, "edge-batched");
    let procs = &cfg.spec.sources[0].processors;
    assert_eq!(procs.len(), 1, "{procs:?}");
    assert_eq!(procs[0].type_name, "batch");
    assert_eq!(
        procs[0].parameters.get("send_batch_size"),
        Some(&serde_norway::Value::Number(512.into()))
    );
    assert!(cfg.spec.processors.is_empty(), "not a fleet-wide processor");
}

#[test]
fn a_bad_value_in_a_source_processor_is_named_in_the_review() {
    let mut a = app();
    otlp_source(&mut a);
    attach(&mut a, "batch");
    set_wizard_field(&mut a, "send_batch_size", "lots");
    press(&mut a, &["n", "n", "a"]);
    type_text(&mut a, "otlphttp");
    // Adding it opens its required endpoint.
    press(&mut a, &["enter"]);
    type_text(&mut a, "https://collector.example.net:4318");
    press(&mut a, &["enter", "n"]);
    let w = wiz(&a);
    let problems = w.review.problems.join("\n");
    assert!(
        problems.contains("sources[0].processors[0]") && problems.contains("send_batch_size"),
        "{problems}"
    );
    press(&mut a, &["n"]);
    assert_eq!(wiz(&a).step, Step::Review, "the problem blocks saving");
}

#[test]
fn source_processors_are_reordered_and_removed_and_the_yaml_follows() {
    let mut a = app();
    otlp_source(&mut a);
    attach(&mut a, "batch");
    attach(&mut a, "memory_limiter");
    let titles = |a: &App| -> Vec<String> {
        wiz(a)
            .attached_of(0)
            .iter()
            .map(|p| p.type_name().to_string())
            .collect()
    };
    assert_eq!(titles(&a), ["batch", "memory_limiter"]);
    to_review(&mut a);
    assert_eq!(
        pipeline_processors(&yaml(&a), "metrics"),
        [
            "batch/source0__processor0",
            "memory_limiter/source0__processor1"
        ]
    );
    // Back to step 2: the memory limiter is still shown; K moves it first.
    press(&mut a, &["b", "b", "b"]);
    assert_eq!(wiz(&a).step, Step::Configure);
    press(&mut a, &["K"]);
    assert_eq!(titles(&a), ["memory_limiter", "batch"]);
    assert_eq!(wiz(&a).attached_focus, Some(0), "the moved one stays shown");
    press(&mut a, &["n", "n", "n"]);
    assert_eq!(
        pipeline_processors(&yaml(&a), "metrics"),
        [
            "memory_limiter/source0__processor0",
            "batch/source0__processor1"
        ]
    );
    // x on a processor removes it, not the source.
    press(&mut a, &["b", "b", "b", "x"]);
    let w = wiz(&a);
    assert_eq!(titles(&a), ["batch"]);
    assert_eq!(w.draft.sources.len(), 1);
    assert!(
        w.message
            .as_ref()
            .is_some_and(|(_, m)| m == "removed Memory limiter from otlp"),
        "{:?}",
        w.message
    );
    press(&mut a, &["n", "n", "n"]);
    assert_eq!(
        pipeline_processors(&yaml(&a), "metrics"),
        ["batch/source0__processor0"]
    );
}

#[test]
fn each_of_two_sources_keeps_its_own_processors() {
    let mut a = app();
    press(&mut a, &["n", "/"]);
    type_text(&mut a, "filelog");
    press(&mut a, &["enter", "b", "+", "n"]);
    // Step 2 opens on the second filelog; give the first one a processor.
    press(&mut a, &["[", "g", "enter", "ctrl+u"]);
    type_text(&mut a, "/var/log/nginx/*.log");
    press(&mut a, &["ctrl+s"]);
    attach(&mut a, "batch");
    press(&mut a, &["tab"]);
    let w = wiz(&a);
    assert_eq!((w.component[0], w.attached_focus), (1, None));
    press(&mut a, &["g", "enter", "ctrl+u"]);
    type_text(&mut a, "/var/log/app/*.log");
    press(&mut a, &["ctrl+s"]);
    // Moving the second source first takes nothing of the first's.
    press(&mut a, &["K"]);
    let w = wiz(&a);
    assert!(w.attached_of(0).is_empty());
    assert_eq!(w.attached_of(1).len(), 1);
    press(&mut a, &["n", "n", "a"]);
    type_text(&mut a, "otlphttp");
    // Adding it opens its required endpoint.
    press(&mut a, &["enter"]);
    type_text(&mut a, "https://collector.example.net:4318");
    press(&mut a, &["enter", "n"]);
    let yaml = yaml(&a);
    // Two sources: the one with a processor gets a pipeline of its own.
    let doc: serde_norway::Value = serde_norway::from_str(&yaml).expect("parses");
    let own = &doc["service"]["pipelines"]["logs/source1"];
    assert_eq!(
        own["processors"][0].as_str(),
        Some("batch/source1__processor0"),
        "{yaml}"
    );
    assert!(
        doc["service"]["pipelines"]["logs/source0"].is_null(),
        "{yaml}"
    );
    let cfg = configuration_saved_as(&mut a, "two-logs");
    assert!(cfg.spec.sources[0].processors.is_empty());
    assert_eq!(cfg.spec.sources[1].processors[0].type_name, "batch");
}

#[test]
fn an_opened_configuration_shows_its_source_processors_and_saves_edits() {
    let text = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: hosts\nspec:\n  sources:\n    - type: hostmetrics\n      processors:\n        - type: batch\n          parameters:\n            - {name: timeout, value: 5s}\n        - type: resourcedetection\n  destinations:\n    - type: otlphttp\n      parameters: {endpoint: \"https://c:4318\"}\n";
    let cfg: Configuration = serde_norway::from_str(text).expect("parses");
    let mut a = app();
    press(&mut a, &[":"]);
    type_text(&mut a, "edit hosts");
    press(&mut a, &["enter"]);
    a.wizard_message(WizardMsg::Loaded {
        configs: vec![("hosts".into(), 1, cfg.clone())],
        destinations: Vec::<Destination>::new(),
        edit: Some(Ok((1, Box::new(cfg.clone())))),
    });
    press(&mut a, &["n"]);
    let w = wiz(&a);
    assert_eq!(w.step, Step::Configure);
    assert!(!w.changed(), "opening changes nothing");
    let screen = render_text(&a);
    assert!(
        screen.contains("1.1 Batch") && screen.contains("1.2 Resource detection"),
        "{screen}"
    );
    // Tab reaches the batch form, with the value written in the configuration.
    press(&mut a, &["tab"]);
    to_wizard_field(&mut a, "timeout");
    let w = wiz(&a);
    let c = w.current().expect("batch form");
    assert_eq!(
        c.fields[w.current_field().unwrap_or(0)].summary(),
        "5s",
        "the written value is in the form"
    );
    // Back and forth changes nothing; an edit does.
    press(&mut a, &["tab", "tab", "tab"]);
    assert!(!wiz(&a).changed());
    set_wizard_field(&mut a, "timeout", "10s");
    assert!(wiz(&a).changed());
    press(&mut a, &["n", "n", "n"]);
    let yaml = yaml(&a);
    assert!(yaml.contains("timeout: 10s"), "{yaml}");
    press(&mut a, &["n"]);
    assert!(
        matches!(wiz(&a).mode, Mode::Normal),
        "editing keeps its name"
    );
    let effects = press(&mut a, &["enter"]);
    let Some(Effect::Wizard(WizardEffect::Save(saved))) = effects.first() else {
        panic!("expected a save, got {effects:?}");
    };
    let procs = &saved.spec.sources[0].processors;
    assert_eq!(procs.len(), 2);
    assert_eq!(
        procs[0].parameters.get("timeout"),
        Some(&serde_norway::Value::from("10s"))
    );
    assert_eq!(
        procs[1], cfg.spec.sources[0].processors[1],
        "the one not edited is kept as written"
    );
}

#[test]
fn a_sensitive_parameter_of_a_source_processor_is_masked() {
    let mut types = TypeRegistry::builtin();
    types
        .load_text(
            "apiVersion: fleetdeck/v1\nkind: ProcessorType\nmetadata:\n  name: tagger\n  displayName: Tagger\nspec:\n  parameters:\n    - name: token\n      label: Token\n      type: string\n      required: true\n      options: {sensitive: true}\n  logs+metrics+traces:\n    processors: |\n      - attributes:\n          actions:\n            - {key: token, value: \"{{ .token }}\", action: upsert}\n",
            Some("tagger.yaml"),
        )
        .expect("the test type loads");
    let mut a = app();
    a.set_types(Arc::new(types));
    otlp_source(&mut a);
    attach(&mut a, "tagger");
    let screen = render_text(&a);
    assert!(screen.contains("is required"), "{screen}");
    to_wizard_field(&mut a, "token");
    press(&mut a, &["enter"]);
    type_text(&mut a, "s3cr3t-value");
    let screen = render_text(&a);
    assert!(
        !screen.contains("s3cr3t-value"),
        "typed secret shown:\n{screen}"
    );
    press(&mut a, &["enter"]);
    let screen = render_text(&a);
    assert!(!screen.contains("s3cr3t-value"), "{screen}");
    assert!(screen.contains("••••••••"), "{screen}");
    to_review(&mut a);
    let yaml = yaml(&a);
    assert!(!yaml.contains("s3cr3t-value"), "{yaml}");
    assert!(yaml.contains("(sensitive)"), "{yaml}");
    let cfg = configuration_saved_as(&mut a, "tagged");
    assert_eq!(
        cfg.spec.sources[0].processors[0].parameters.get("token"),
        Some(&serde_norway::Value::from("s3cr3t-value")),
        "the saved configuration keeps the real value"
    );
}

#[test]
fn a_source_processor_is_named_and_its_ids_use_the_name() {
    let mut a = app();
    otlp_source(&mut a);
    attach(&mut a, "batch");
    attach(&mut a, "batch");
    // The second batch is shown: name it, then try to give the first the same name.
    press(&mut a, &["r"]);
    assert!(
        matches!(wiz(&a).mode, Mode::Rename(_)),
        "a name editor opens"
    );
    type_text(&mut a, "early");
    press(&mut a, &["enter"]);
    let screen = render_text(&a);
    assert!(screen.contains("1.2 Batch · early"), "{screen}");
    press(&mut a, &["shift+tab", "r"]);
    type_text(&mut a, "early");
    press(&mut a, &["enter"]);
    let Mode::Rename(ed) = &wiz(&a).mode else {
        panic!("a name already used keeps the editor open")
    };
    let why = ed.error.clone().unwrap_or_default();
    assert!(
        why.contains("batch/early is already the ID of processor 2"),
        "{why}"
    );
    assert!(render_text(&a).contains("✕ batch/early"), "shown in place");
    press(&mut a, &["esc"]);
    assert_eq!(wiz(&a).current().and_then(|c| c.display_name.clone()), None);
    to_review(&mut a);
    let yaml = yaml(&a);
    assert_eq!(
        pipeline_processors(&yaml, "metrics"),
        ["batch/source0__processor0", "batch/source0__early"]
    );
    let cfg = configuration_saved_as(&mut a, "named-early");
    let names: Vec<Option<&str>> = cfg.spec.sources[0]
        .processors
        .iter()
        .map(|p| p.name.as_deref())
        .collect();
    assert_eq!(names, [None, Some("early")]);
}

#[test]
fn builder_keys_follow_the_keymap_and_the_footer_shows_them() {
    let table: toml::Table = toml::from_str(r#"wizard_add_source_processor = "P""#).expect("toml");
    let mut a = app();
    otlp_source(&mut a);
    if let Some(w) = a.wizard.as_mut() {
        w.keymap = Keymap::with_overrides(&table, "fleetdeck.toml");
    }
    let screen = render_text(&a);
    assert!(screen.contains("P add processor"), "{screen}");
    assert!(screen.contains("P adds one"), "{screen}");
    press(&mut a, &["p"]);
    assert!(matches!(wiz(&a).mode, Mode::Normal), "p is no longer bound");
    press(&mut a, &["P"]);
    type_text(&mut a, "batch");
    press(&mut a, &["enter"]);
    assert_eq!(wiz(&a).attached_of(0).len(), 1);
}

#[test]
fn a_source_processor_of_an_unknown_type_is_kept_shown_and_removable() {
    let text = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: odd\nspec:\n  sources:\n    - type: otlp\n      processors:\n        - type: nonesuch\n          parameters: {x: 1}\n  destinations:\n    - type: otlphttp\n      parameters: {endpoint: \"https://c:4318\"}\n";
    let cfg: Configuration = serde_norway::from_str(text).expect("parses");
    let mut a = app();
    press(&mut a, &[":"]);
    type_text(&mut a, "edit odd");
    press(&mut a, &["enter"]);
    a.wizard_message(WizardMsg::Loaded {
        configs: vec![("odd".into(), 1, cfg.clone())],
        destinations: Vec::<Destination>::new(),
        edit: Some(Ok((1, Box::new(cfg.clone())))),
    });
    press(&mut a, &["n", "n", "n", "n"]);
    let problems = wiz(&a).review.problems.join("\n");
    assert!(problems.contains("nonesuch"), "{problems}");
    press(&mut a, &["b", "b", "b", "tab"]);
    let screen = render_text(&a);
    assert!(screen.contains("1.1 nonesuch (unknown type)"), "{screen}");
    assert!(screen.contains("kept as written"), "{screen}");
    press(&mut a, &["x"]);
    assert!(wiz(&a).attached_of(0).is_empty());
    press(&mut a, &["n", "n", "n"]);
    assert!(yaml(&a).contains("otlp/source0"));
}
