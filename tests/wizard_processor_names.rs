//! Naming the fleet-wide processors in the builder's step 3: `r` names the one shown, its
//! components become `type/<name>` in the review, a name that cannot be an ID or is
//! another processor's is refused in place, and the name survives saving and reopening.

mod seed;

use fleetdeck::pipeline::Destination;
use fleetdeck::tui::testing::{
    configuration_saved_as, pipeline_processors, press, render_text, type_text, wizard as wiz,
};
use fleetdeck::tui::wizard::{Mode, Step, WizardMsg};
use fleetdeck::tui::{App, Keymap};
use seed::builder_app;

fn app() -> App {
    builder_app(Keymap::default())
}

/// A new builder in step 3 with an OTLP source and two batch processors, the second shown.
fn two_batches(a: &mut App) {
    press(a, &["n", "/"]);
    type_text(a, "otlp");
    press(a, &["enter", "n"]);
    assert_eq!(wiz(a).step, Step::Processors);
    for _ in 0..2 {
        press(a, &["a"]);
        type_text(a, "batch");
        press(a, &["enter"]);
    }
    assert_eq!(wiz(a).component[1], 1);
}

/// `r`, the name, enter: returns why it was refused, if it was (the editor stays open).
fn rename(a: &mut App, name: &str) -> Option<String> {
    press(a, &["r"]);
    assert!(
        matches!(wiz(a).mode, Mode::Rename(_)),
        "a name editor opens"
    );
    press(a, &["ctrl+u"]);
    type_text(a, name);
    press(a, &["enter"]);
    match &wiz(a).mode {
        Mode::Rename(ed) => Some(ed.error.clone().unwrap_or_default()),
        _ => None,
    }
}

/// From step 3: an OTLP/HTTP destination, then the review's YAML.
fn review_yaml(a: &mut App) -> String {
    press(a, &["n", "a"]);
    type_text(a, "otlphttp");
    // Adding it opens its required endpoint.
    press(a, &["enter"]);
    type_text(a, "https://collector.example.net:4318");
    press(a, &["enter", "n"]);
    let w = wiz(a);
    assert_eq!(w.step, Step::Review);
    assert!(w.review.problems.is_empty(), "{:?}", w.review.problems);
    w.review.yaml.clone().unwrap_or_default()
}

#[test]
fn a_named_processor_renders_as_type_slash_name_and_is_saved_with_it() {
    let mut a = app();
    two_batches(&mut a);
    assert_eq!(rename(&mut a, "fast"), None);
    let w = wiz(&a);
    assert_eq!(
        w.message.as_ref().map(|(_, m)| m.as_str()),
        Some("named fast: its components are batch/fast")
    );
    let screen = render_text(&a);
    assert!(screen.contains("2 Batch · fast"), "{screen}");
    let yaml = review_yaml(&mut a);
    assert!(yaml.contains("batch/fast:"), "{yaml}");
    assert_eq!(
        pipeline_processors(&yaml, "metrics"),
        ["batch/processor0", "batch/fast"]
    );
    let cfg = configuration_saved_as(&mut a, "named-batch");
    assert_eq!(cfg.spec.processors[0].name, None);
    assert_eq!(cfg.spec.processors[1].name.as_deref(), Some("fast"));
}

#[test]
fn a_name_another_processor_has_or_that_cannot_be_an_id_is_refused_in_place() {
    let mut a = app();
    two_batches(&mut a);
    assert_eq!(rename(&mut a, "fast"), None);
    press(&mut a, &["shift+tab"]);
    let why = rename(&mut a, "fast").expect("a duplicate is refused");
    assert!(
        why.contains("batch/fast is already the ID of processor 2 (Batch · fast)"),
        "{why}"
    );
    let screen = render_text(&a);
    assert!(
        screen.contains("✕ batch/fast is already the ID"),
        "{screen}"
    );
    // The first batch is processor0 by its place: the second cannot take that ID either.
    press(&mut a, &["esc", "tab"]);
    let why = rename(&mut a, "processor0").expect("the place-made ID is taken");
    assert!(
        why.contains("batch/processor0 is already the ID of processor 1"),
        "{why}"
    );
    let why = rename(&mut a, "two words").expect("not an ID");
    assert!(why.contains("must be 1 to 128 letters, digits"), "{why}");
    press(&mut a, &["esc"]);
    // Nothing refused was kept; an empty name clears the one given.
    let names: Vec<Option<String>> = wiz(&a)
        .draft
        .processors
        .iter()
        .map(|c| c.display_name.clone())
        .collect();
    assert_eq!(names, [None, Some("fast".to_string())]);
    assert_eq!(rename(&mut a, ""), None);
    assert_eq!(wiz(&a).draft.processors[1].display_name, None);
    // Another type may use the same name: filter/fast is not batch/fast.
    press(&mut a, &["a"]);
    type_text(&mut a, "filter");
    press(&mut a, &["enter"]);
    assert_eq!(rename(&mut a, "processor0"), None);
}

#[test]
fn a_saved_name_is_shown_when_the_configuration_is_reopened() {
    let mut a = app();
    two_batches(&mut a);
    assert_eq!(rename(&mut a, "fast"), None);
    review_yaml(&mut a);
    let cfg = configuration_saved_as(&mut a, "named-batch");
    let mut a = app();
    press(&mut a, &[":"]);
    type_text(&mut a, "edit named-batch");
    press(&mut a, &["enter"]);
    a.wizard_message(WizardMsg::Loaded {
        configs: vec![("named-batch".into(), 1, cfg.clone())],
        destinations: Vec::<Destination>::new(),
        edit: Some(Ok((1, Box::new(cfg.clone())))),
    });
    press(&mut a, &["n", "n"]);
    let w = wiz(&a);
    assert_eq!(w.step, Step::Processors);
    assert!(!w.changed(), "opening changes nothing");
    assert_eq!(w.configuration(), cfg, "the name round-trips");
    let screen = render_text(&a);
    assert!(screen.contains("2 Batch · fast"), "{screen}");
    press(&mut a, &["n", "n"]);
    let yaml = wiz(&a).review.yaml.clone().unwrap_or_default();
    assert!(yaml.contains("batch/fast:"), "{yaml}");
}
