//! Processors attached to one inline destination, edited in the builder's step 4 the way
//! a source's are in step 2: added, edited, named, reordered and removed, rendered and
//! saved; a shared destination's processors stay in its `Destination` resource.

mod seed;

use fleetdeck::pipeline::{Configuration, Destination};
use fleetdeck::tui::testing::{
    configuration_saved_as, pipeline_processors, press, render_text, set_wizard_field, type_text,
    wizard as wiz,
};
use fleetdeck::tui::wizard::{Mode, Step, WizardMsg};
use fleetdeck::tui::{App, Keymap};
use seed::builder_app;

fn app() -> App {
    builder_app(Keymap::default())
}

/// The builder at step 4 with an OTLP source and an inline OTLP/HTTP destination.
fn at_an_otlphttp_destination() -> App {
    let mut a = app();
    press(&mut a, &["n", "/"]);
    type_text(&mut a, "otlp");
    press(&mut a, &["enter", "n", "n", "a"]);
    type_text(&mut a, "otlphttp");
    // Adding it opens its required endpoint.
    press(&mut a, &["enter"]);
    type_text(&mut a, "https://collector.example.net:4318");
    press(&mut a, &["enter"]);
    assert_eq!(wiz(&a).step, Step::Destinations);
    a
}

#[test]
fn a_processor_added_to_a_destination_is_edited_named_rendered_and_saved() {
    let mut a = at_an_otlphttp_destination();
    press(&mut a, &["p"]);
    type_text(&mut a, "batch");
    press(&mut a, &["enter"]);
    let w = wiz(&a);
    assert_eq!(w.dest_focus, Some(0), "the new processor's form is shown");
    assert_eq!(w.current().map(|c| c.type_name.as_str()), Some("batch"));
    set_wizard_field(&mut a, "timeout", "2s");
    press(&mut a, &["r"]);
    type_text(&mut a, "out");
    press(&mut a, &["enter"]);
    let screen = render_text(&a);
    assert!(screen.contains("1.1 Batch · out"), "{screen}");
    assert!(
        screen.contains("processor 1 of 1 on otlphttp: runs only on the data sent there"),
        "{screen}"
    );
    // Tab goes back to the destination's own form, which kept its endpoint.
    press(&mut a, &["tab"]);
    let w = wiz(&a);
    assert_eq!(w.dest_focus, None);
    assert_eq!(w.current().map(|c| c.type_name.as_str()), Some("otlphttp"));
    press(&mut a, &["n"]);
    let w = wiz(&a);
    assert_eq!(w.step, Step::Review);
    assert!(w.review.problems.is_empty(), "{:?}", w.review.problems);
    let yaml = w.review.yaml.clone().unwrap_or_default();
    assert_eq!(
        pipeline_processors(&yaml, "metrics"),
        ["batch/destination0__out"]
    );
    assert!(yaml.contains("timeout: 2s"), "{yaml}");
    let cfg = configuration_saved_as(&mut a, "batched-out");
    let procs = &cfg.spec.destinations[0].processors;
    assert_eq!(procs.len(), 1, "{procs:?}");
    assert_eq!(procs[0].name.as_deref(), Some("out"));
    assert_eq!(
        procs[0].parameters.get("timeout"),
        Some(&serde_norway::Value::from("2s"))
    );
    assert!(cfg.spec.processors.is_empty(), "not a fleet-wide processor");
}

const OPENED: &str = r#"apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: two-out}
spec:
  sources: [{type: otlp}]
  destinations:
    - type: otlphttp
      parameters: {endpoint: "https://c:4318"}
      processors:
        - {type: batch, parameters: {timeout: 5s}}
        - {type: resourcedetection}
    - name: central
"#;

fn central() -> Destination {
    serde_norway::from_str(
        "apiVersion: fleetdeck/v1\nkind: Destination\nmetadata: {name: central}\nspec:\n  type: debug\n",
    )
    .expect("parses")
}

#[test]
fn an_opened_destinations_processors_are_shown_reordered_and_removed() {
    let cfg: Configuration = serde_norway::from_str(OPENED).expect("parses");
    let mut a = app();
    press(&mut a, &[":"]);
    type_text(&mut a, "edit two-out");
    press(&mut a, &["enter"]);
    a.wizard_message(WizardMsg::Loaded {
        configs: vec![("two-out".into(), 1, cfg.clone())],
        destinations: vec![central()],
        edit: Some(Ok((1, Box::new(cfg.clone())))),
    });
    press(&mut a, &["n", "n", "n"]);
    let w = wiz(&a);
    assert_eq!(w.step, Step::Destinations);
    assert!(!w.changed(), "opening changes nothing");
    let screen = render_text(&a);
    assert!(
        screen.contains("1.1 Batch") && screen.contains("1.2 Resource detection"),
        "{screen}"
    );
    assert!(
        screen.contains("processors on otlphttp: Batch, Resource detection"),
        "{screen}"
    );
    // Tab visits each processor, then the shared destination, which takes none here.
    press(&mut a, &["tab"]);
    assert_eq!(wiz(&a).dest_focus, Some(0));
    press(&mut a, &["J"]);
    let order = |a: &App| -> Vec<String> {
        wiz(a).configuration().spec.destinations[0]
            .processors
            .iter()
            .map(|p| p.type_name.clone())
            .collect()
    };
    assert_eq!(order(&a), ["resourcedetection", "batch"]);
    assert_eq!(wiz(&a).dest_focus, Some(1), "the moved one stays shown");
    press(&mut a, &["x"]);
    assert_eq!(order(&a), ["resourcedetection"]);
    assert_eq!(
        wiz(&a).message.as_ref().map(|(_, m)| m.as_str()),
        Some("removed Batch from otlphttp")
    );
    assert_eq!(wiz(&a).dest_focus, Some(0), "the one left is shown");
    press(&mut a, &["tab"]);
    let w = wiz(&a);
    assert_eq!((w.component[2], w.dest_focus), (1, None), "the shared one");
    press(&mut a, &["p"]);
    assert!(
        matches!(wiz(&a).mode, Mode::Normal),
        "no processor is added to a shared destination here"
    );
    let saved = wiz(&a).configuration();
    assert!(saved.spec.destinations[1].processors.is_empty());
    assert_eq!(saved.spec.destinations[1].name.as_deref(), Some("central"));
}

/// At 80 columns step 4 has more keys than fit: the footer keeps the step's own keys
/// (remove and reorder included) in a tighter form and points to `?` for the rest, rather
/// than silently cutting off its end.
#[test]
fn the_step_4_footer_fits_80_columns_without_losing_its_editing_keys() {
    let mut a = at_an_otlphttp_destination();
    fleetdeck::tui::testing::resize(&mut a, 80, 24);
    let mut screen = fleetdeck::tui::testing::Screen::new(80, 24);
    screen.draw(&a);
    let text = screen.text();
    let footer = text.lines().last().unwrap_or_default().to_string();
    for key in ["x ", "K/J ", "? "] {
        assert!(
            footer.contains(key),
            "no {key:?} in the 80-column footer: {footer:?}"
        );
    }
}
