//! The builder opened from the App: the user's key bindings apply inside it, and `?` shows
//! the help with the builder's own keys.

mod seed;

use fleetdeck::tui::testing::{press, render_text, type_text, wizard as wiz};
use fleetdeck::tui::wizard::{Mode, Step};
use fleetdeck::tui::{App, Keymap};
use seed::builder_app;

fn app_with_keys(overrides: &str) -> App {
    let table: toml::Table = toml::from_str(overrides).expect("toml");
    builder_app(Keymap::with_overrides(&table, "fleetdeck.toml"))
}

/// `n` from the agents view, then an OTLP source and step 2.
fn otlp_source(a: &mut App) {
    press(a, &["n", "/"]);
    type_text(a, "otlp");
    press(a, &["enter"]);
    assert_eq!(wiz(a).step, Step::Configure);
}

/// The last line of the screen: the builder's footer.
fn footer(a: &App) -> String {
    render_text(a)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_rebinding_in_the_settings_applies_inside_the_builder() {
    let mut a = app_with_keys(
        r#"
wizard_add_source_processor = "P"
wizard_rename = "R"
"#,
    );
    otlp_source(&mut a);
    let f = footer(&a);
    assert!(f.contains("P add processor") && f.contains("R name"), "{f}");
    assert!(!f.contains("p add processor"), "{f}");
    press(&mut a, &["r"]);
    assert!(matches!(wiz(&a).mode, Mode::Normal), "r is no longer bound");
    press(&mut a, &["P"]);
    type_text(&mut a, "batch");
    press(&mut a, &["enter"]);
    assert_eq!(wiz(&a).attached_of(0).len(), 1);
    press(&mut a, &["R"]);
    assert!(matches!(wiz(&a).mode, Mode::Rename(_)), "R names it");
    // The same App without the rebinding shows the default keys.
    let mut plain = app_with_keys("");
    otlp_source(&mut plain);
    let f = footer(&plain);
    assert!(f.contains("p add processor") && f.contains("r name"), "{f}");
}

#[test]
fn question_mark_in_the_builder_lists_its_keys_and_any_key_closes_it() {
    let mut a = app_with_keys("");
    otlp_source(&mut a);
    press(&mut a, &["?"]);
    assert_eq!(a.help, Some(0));
    let screen = render_text(&a);
    for line in [
        "close the builder (asks before discarding)",
        "Pipeline builder forms",
        "name the source, processor or destination shown",
        "add a processor to the source/destination shown",
    ] {
        assert!(screen.contains(line), "no {line:?} in the help:\n{screen}");
    }
    // The builder's keys come first, and the agent list's, which do nothing here, not at all.
    assert!(
        screen.contains("Pipeline builder") && !screen.contains("sort by name"),
        "the builder's help starts with its own keys and lists no agent-list keys:\n{screen}"
    );
    // It scrolls; the key that closes it does nothing else.
    press(&mut a, &["j", "j"]);
    assert_eq!(a.help, Some(2));
    press(&mut a, &["n"]);
    assert_eq!(a.help, None);
    assert_eq!(wiz(&a).step, Step::Configure, "n only closed the help");
    press(&mut a, &["?", "esc"]);
    assert_eq!(a.help, None);
    assert!(a.wizard.is_some(), "esc closed the help, not the builder");
}

#[test]
fn question_mark_is_typed_when_a_text_is_being_edited() {
    let mut a = app_with_keys("");
    press(&mut a, &["n", "/"]);
    type_text(&mut a, "?");
    assert_eq!(a.help, None);
    assert_eq!(wiz(&a).search, "?");
}

#[test]
fn a_rebound_help_key_opens_the_help_in_the_builder() {
    let mut a = app_with_keys(r#"help = "F1""#);
    press(&mut a, &["n", "?"]);
    assert_eq!(a.help, None, "? is no longer help");
    press(&mut a, &["f1"]);
    assert_eq!(a.help, Some(0));
}

#[test]
fn every_step_takes_its_keys_and_footer_from_the_keymap() {
    let mut a = app_with_keys(
        r#"
wizard_choose = "x"
wizard_search = "s"
wizard_compare = "c"
wizard_save = "w"
"#,
    );
    // Step 1: the rebound keys choose and search; the footer names them.
    press(&mut a, &["n"]);
    let f = footer(&a);
    assert!(f.contains("x choose") && f.contains("s search"), "{f}");
    press(&mut a, &["space"]);
    assert!(wiz(&a).draft.sources.is_empty(), "space no longer chooses");
    press(&mut a, &["s"]);
    assert!(matches!(wiz(&a).mode, Mode::Search(_)));
    type_text(&mut a, "otlp");
    // Enter chooses the best match and goes on; back in step 1, the rebound key drops and
    // chooses it.
    press(&mut a, &["enter"]);
    assert_eq!(wiz(&a).draft.sources.len(), 1);
    press(&mut a, &["b", "x"]);
    assert!(wiz(&a).draft.sources.is_empty(), "x dropped it");
    press(&mut a, &["x"]);
    assert_eq!(wiz(&a).draft.sources.len(), 1);
    // The review: its footer and help list its own keys.
    press(&mut a, &["n", "n", "n", "a"]);
    type_text(&mut a, "otlphttp");
    // Adding it opens its required endpoint.
    press(&mut a, &["enter"]);
    type_text(&mut a, "https://collector.example.net:4318");
    press(&mut a, &["enter", "n"]);
    assert_eq!(wiz(&a).step, Step::Review);
    assert!(footer(&a).contains("c diff"), "{}", footer(&a));
    press(&mut a, &["?"]);
    let help = render_text(&a);
    assert!(
        help.contains("Pipeline builder review") && !help.contains("Pipeline builder forms"),
        "the help lists the review's keys, not the forms':\n{help}"
    );
    // Esc closes the help; the save step opens on the name, which Esc leaves unnamed.
    press(&mut a, &["esc", "n", "esc"]);
    assert_eq!(wiz(&a).step, Step::Save);
    assert!(footer(&a).contains("w save"), "{}", footer(&a));
}
