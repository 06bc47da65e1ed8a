//! The pipeline builder as a pure state machine: keys in, state and effects out, no
//! terminal and no server (effects are checked, and their results fed back by hand).

mod seed;

use std::sync::Arc;

use fleetdeck::catalog::ApplyStatus;
use fleetdeck::pipeline::builder::FieldValue;
use fleetdeck::pipeline::{Configuration, TypeKind};
use fleetdeck::tui::testing::{created, press, save_as, type_text, wizard as wiz};
use fleetdeck::tui::wizard::{
    DiffWith, Mode, PushState, PushTargets, SaveState, Step, TargetMode, WizardEffect, WizardMsg,
};
use fleetdeck::tui::{App, Effect, Keymap};
use seed::builder_app;

fn app() -> App {
    builder_app(Keymap::default())
}

fn wizard_effects(effects: Vec<Effect>) -> Vec<WizardEffect> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Wizard(w) => Some(w),
            _ => None,
        })
        .collect()
}

/// Keys only: OTLP receiver → batch → OTLP/HTTP exporter, up to the review step.
fn build_otlp_pipeline(a: &mut App) {
    let opened = wizard_effects(press(a, &["n"]));
    assert_eq!(opened, vec![WizardEffect::Load { edit: None }]);
    press(a, &["/"]);
    type_text(a, "otlp");
    press(a, &["enter"]);
    assert_eq!(wiz(a).step, Step::Configure);
    press(a, &["n", "a"]);
    type_text(a, "batch");
    press(a, &["enter", "n", "a"]);
    type_text(a, "otlphttp");
    // Adding it opens its required endpoint.
    press(a, &["enter"]);
    type_text(a, "https://collector.example.net:4318");
    press(a, &["enter", "n"]);
}

#[test]
fn n_opens_the_builder_and_keys_alone_build_a_pipeline() {
    let mut a = app();
    build_otlp_pipeline(&mut a);
    let w = wiz(&a);
    assert_eq!(w.step, Step::Review);
    assert!(w.review.problems.is_empty(), "{:?}", w.review.problems);
    let yaml = w.review.yaml.as_deref().unwrap_or_default();
    for want in [
        "otlp/",
        "batch/",
        "otlphttp/",
        "https://collector.example.net:4318",
    ] {
        assert!(yaml.contains(want), "{want} missing from:\n{yaml}");
    }
    let cfg = w.configuration();
    assert_eq!(cfg.spec.sources[0].type_name, "otlp");
    assert_eq!(cfg.spec.processors[0].type_name, "batch");
    assert_eq!(
        cfg.spec.destinations[0].type_name.as_deref(),
        Some("otlphttp")
    );
}

#[test]
fn saving_names_the_configuration_and_asks_the_catalog() {
    let mut a = app();
    build_otlp_pipeline(&mut a);
    press(&mut a, &["n"]);
    assert_eq!(wiz(&a).step, Step::Save);
    assert!(
        matches!(wiz(&a).mode, Mode::Name(_)),
        "an unnamed configuration asks for a name at once"
    );
    // It suggests one from what it connects; Enter would keep it.
    match &wiz(&a).mode {
        Mode::Name(ed) => assert_eq!(ed.text(), "otlp-to-otlphttp"),
        other => panic!("the name editor, got {other:?}"),
    }
    press(&mut a, &["ctrl+u"]);
    type_text(&mut a, "edge otlp");
    press(&mut a, &["enter"]);
    match &wiz(&a).mode {
        Mode::Name(ed) => assert!(ed.error.as_deref().unwrap_or("").contains("letters")),
        other => panic!("a bad name keeps the editor open, got {other:?}"),
    }
    press(&mut a, &["ctrl+u"]);
    for _ in 0..10 {
        press(&mut a, &["backspace"]);
    }
    type_text(&mut a, "edge-otlp");
    // One Enter names it and saves.
    let effects = wizard_effects(press(&mut a, &["enter"]));
    assert_eq!(wiz(&a).name, "edge-otlp");
    let [WizardEffect::Save(cfg)] = effects.as_slice() else {
        panic!("expected one save, got {effects:?}");
    };
    assert_eq!(cfg.metadata.name, "edge-otlp");
    assert_eq!(wiz(&a).save, SaveState::Saving);
    // Pushing is refused until the catalog says it is saved.
    press(&mut a, &["n"]);
    assert_eq!(wiz(&a).step, Step::Save);
    // Saved, the builder moves on to choosing targets by itself.
    a.wizard_message(WizardMsg::Saved(created("edge-otlp")));
    assert_eq!(wiz(&a).step, Step::Push);
}

#[test]
fn back_and_forward_keep_every_input() {
    let mut a = app();
    build_otlp_pipeline(&mut a);
    let before = wiz(&a).configuration();
    press(&mut a, &["b", "b", "b", "b"]);
    assert_eq!(wiz(&a).step, Step::Sources);
    press(&mut a, &["n", "n", "n", "n"]);
    assert_eq!(wiz(&a).step, Step::Review);
    assert_eq!(wiz(&a).configuration(), before);
    assert!(wiz(&a).review.problems.is_empty());
}

#[test]
fn escape_asks_before_discarding_changes() {
    let mut a = app();
    // Nothing changed yet: Esc just closes.
    press(&mut a, &["n", "esc"]);
    assert!(a.wizard.is_none());
    press(&mut a, &["n", "space", "esc"]);
    let asked = a.confirm.as_ref().expect("asks before discarding");
    assert!(asked.ask.lines[0].contains("not saved"), "{asked:?}");
    let screen = fleetdeck::tui::testing::render_text(&a);
    assert!(screen.contains("Leave the builder?"), "{screen}");
    assert!(screen.contains("y discard"), "{screen}");
    assert!(screen.contains("esc cancel"), "{screen}");
    press(&mut a, &["k"]);
    assert!(a.confirm.is_some(), "other keys leave the question up");
    press(&mut a, &["esc"]);
    assert!(a.confirm.is_none());
    assert!(a.wizard.is_some(), "esc keeps editing, input intact");
    assert_eq!(wiz(&a).draft.sources.len(), 1);
    // Ctrl-C in the builder asks too (it would drop the work and stop the server).
    press(&mut a, &["ctrl+c"]);
    assert!(!a.should_quit());
    let asked = a.confirm.as_ref().expect("ctrl-c asks");
    assert!(
        asked.ask.lines.iter().any(|l| l.contains("not saved")),
        "{asked:?}"
    );
    press(&mut a, &["esc"]);
    let effects = wizard_effects(press(&mut a, &["esc", "y"]));
    assert!(a.wizard.is_none());
    assert_eq!(effects, vec![WizardEffect::StopFollowing]);
    assert_eq!(
        a.route(),
        fleetdeck::tui::app::Route::Agents,
        "back where it was opened"
    );
}

#[test]
fn steps_refuse_to_go_on_without_what_they_need() {
    let mut a = app();
    press(&mut a, &["n", "n"]);
    assert_eq!(wiz(&a).step, Step::Sources, "no source chosen");
    press(&mut a, &["space", "n", "n", "n"]);
    assert_eq!(wiz(&a).step, Step::Destinations, "processors are optional");
    press(&mut a, &["n"]);
    assert_eq!(wiz(&a).step, Step::Destinations, "no destination yet");
    press(&mut a, &["a"]);
    type_text(&mut a, "otlphttp");
    press(&mut a, &["enter", "esc", "n"]);
    assert_eq!(wiz(&a).step, Step::Review);
    let problems = wiz(&a).review.problems.join("\n");
    assert!(
        problems.contains("endpoint") && problems.contains("required"),
        "{problems}"
    );
    press(&mut a, &["n"]);
    assert_eq!(wiz(&a).step, Step::Review, "problems block saving");
}

#[test]
fn forms_hide_irrelevant_fields_fold_advanced_ones_and_validate_inline() {
    let mut a = app();
    press(&mut a, &["n", "/"]);
    type_text(&mut a, "otlp");
    press(&mut a, &["enter"]);
    let labels = |a: &App| -> Vec<String> {
        let w = wiz(a);
        let c = w.current().expect("a component");
        c.visible(w.advanced)
            .iter()
            .map(|i| c.fields[*i].def.name.clone())
            .collect()
    };
    assert!(labels(&a).contains(&"grpc_port".to_string()));
    // enable_grpc is the third field: space turns it off and grpc_port disappears.
    press(&mut a, &["j", "j", "space"]);
    assert!(!labels(&a).contains(&"grpc_port".to_string()));
    // An int field refuses words inline.
    let http = labels(&a)
        .iter()
        .position(|n| n == "http_port")
        .expect("http_port");
    press(&mut a, &["g"]);
    for _ in 0..http {
        press(&mut a, &["j"]);
    }
    press(&mut a, &["enter", "backspace", "backspace"]);
    type_text(&mut a, "xx");
    press(&mut a, &["enter"]);
    let w = wiz(&a);
    let c = w.current().expect("a component");
    let i = w.current_field().expect("a field");
    assert_eq!(c.fields[i].def.name, "http_port");
    assert!(
        c.problem(i)
            .unwrap_or_default()
            .contains("not a whole number"),
        "{:?}",
        c.problem(i)
    );
    // Advanced parameters are folded until A.
    press(&mut a, &["b"]);
    press(&mut a, &["/"]);
    press(&mut a, &["ctrl+u"]);
    for _ in 0..4 {
        press(&mut a, &["backspace"]);
    }
    type_text(&mut a, "filelog");
    press(&mut a, &["enter", "tab"]);
    let w = wiz(&a);
    let c = w.current().expect("filelog");
    assert_eq!(c.type_name, "filelog");
    let folded = c.folded();
    let shown = c.visible(false).len();
    assert!(folded > 0, "filelog has advanced parameters");
    press(&mut a, &["A"]);
    let w = wiz(&a);
    assert_eq!(
        w.current().map(|c| c.visible(true).len()),
        Some(shown + folded)
    );
}

#[test]
fn pick_lists_choose_enum_values_and_toggle_enums() {
    let mut a = app();
    press(&mut a, &["n", "/"]);
    type_text(&mut a, "otlp");
    press(&mut a, &["enter"]);
    // telemetry_types (enums) is the first field: drop Logs.
    press(&mut a, &["enter", "space", "enter"]);
    let w = wiz(&a);
    let c = w.current().expect("otlp");
    assert_eq!(
        c.fields[0].value,
        FieldValue::Choices(vec!["Metrics".into(), "Traces".into()])
    );
    // Destinations: compression is an enum; pick "none" from its list.
    press(&mut a, &["n", "n", "a"]);
    type_text(&mut a, "otlphttp");
    press(&mut a, &["enter", "esc"]);
    let w = wiz(&a);
    let c = w.current().expect("otlphttp");
    let at = c
        .visible(false)
        .iter()
        .position(|i| c.fields[*i].def.name == "compression")
        .expect("compression shown");
    for _ in 0..at {
        press(&mut a, &["j"]);
    }
    press(&mut a, &["enter", "j", "j", "j", "enter"]);
    let c = wiz(&a).current().expect("otlphttp");
    let f = c
        .fields
        .iter()
        .find(|f| f.def.name == "compression")
        .expect("field");
    assert_eq!(f.value, FieldValue::Choice("none".into()));
}

#[test]
fn maps_are_edited_as_lines_and_bad_lines_are_refused_in_place() {
    let mut a = app();
    press(&mut a, &["n", "space", "n", "n", "n", "a"]);
    type_text(&mut a, "otlphttp");
    press(&mut a, &["enter", "esc"]);
    let w = wiz(&a);
    let c = w.current().expect("otlphttp");
    let at = c
        .visible(false)
        .iter()
        .position(|i| c.fields[*i].def.name == "headers")
        .expect("headers shown");
    for _ in 0..at {
        press(&mut a, &["j"]);
    }
    press(&mut a, &["enter"]);
    type_text(&mut a, "x-team=edge");
    press(&mut a, &["enter"]);
    type_text(&mut a, "oops");
    press(&mut a, &["ctrl+s"]);
    match &wiz(&a).mode {
        Mode::Field { editor, .. } => {
            assert!(editor.error.as_deref().unwrap_or("").contains("line 2"))
        }
        other => panic!("the editor stays open on a bad line, got {other:?}"),
    }
    press(
        &mut a,
        &["backspace", "backspace", "backspace", "backspace"],
    );
    type_text(&mut a, "x-env=prod");
    press(&mut a, &["ctrl+s"]);
    let c = wiz(&a).current().expect("otlphttp");
    let f = c
        .fields
        .iter()
        .find(|f| f.def.name == "headers")
        .expect("headers");
    assert_eq!(
        f.value,
        FieldValue::Pairs(vec![
            ("x-team".into(), "edge".into()),
            ("x-env".into(), "prod".into())
        ])
    );
}

#[test]
fn processors_are_added_reordered_and_removed() {
    let mut a = app();
    press(&mut a, &["n", "space", "n", "n"]);
    for name in ["batch", "memory_limiter", "resourcedetection"] {
        press(&mut a, &["a"]);
        type_text(&mut a, name);
        press(&mut a, &["enter"]);
    }
    let order = |a: &App| -> Vec<String> {
        wiz(a)
            .draft
            .processors
            .iter()
            .map(|c| c.type_name.clone())
            .collect()
    };
    assert_eq!(order(&a), ["batch", "memory_limiter", "resourcedetection"]);
    // The last added is current: move it to the front, then remove the batch.
    press(&mut a, &["K", "K"]);
    assert_eq!(order(&a), ["resourcedetection", "batch", "memory_limiter"]);
    press(&mut a, &["tab", "x"]);
    assert_eq!(order(&a), ["resourcedetection", "memory_limiter"]);
}

#[test]
fn an_existing_configuration_opens_with_its_values_and_diffs_against_itself() {
    let mut a = app();
    a.set_types(Arc::new(fleetdeck::pipeline::TypeRegistry::builtin()));
    let text = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: web\nspec:\n  sources:\n    - type: otlp\n      parameters: {http_port: 4319}\n  destinations:\n    - type: otlphttp\n      parameters: {endpoint: \"https://old:4318\"}\n";
    let cfg: Configuration = serde_norway::from_str(text).unwrap();
    let effects = wizard_effects(press(&mut a, &[":"]).into_iter().collect());
    assert!(effects.is_empty());
    type_text(&mut a, "edit web");
    let effects = wizard_effects(press(&mut a, &["enter"]));
    assert_eq!(
        effects,
        vec![WizardEffect::Load {
            edit: Some("web".into())
        }]
    );
    assert!(wiz(&a).loading);
    a.wizard_message(WizardMsg::Loaded {
        configs: vec![("web".into(), 3, cfg.clone())],
        destinations: Vec::new(),
        edit: Some(Ok((3, Box::new(cfg)))),
    });
    let w = wiz(&a);
    assert!(!w.loading);
    assert!(!w.changed(), "opening is not a change");
    assert_eq!(w.draft.sources[0].type_name, "otlp");
    // Change the endpoint, then review: the diff is against version 3.
    press(&mut a, &["n", "n", "n", "enter", "ctrl+u"]);
    type_text(&mut a, "https://new:4318");
    press(&mut a, &["enter", "n"]);
    let w = wiz(&a);
    assert_eq!(w.diff_with, DiffWith::Previous);
    assert!(w.review.diff_title.contains("web version 3"));
    let diff = w.review.diff.as_ref().expect("a diff");
    let changed: Vec<String> = diff
        .iter()
        .filter(|l| l.marker() != ' ')
        .map(|l| format!("{}{}", l.marker(), l.text().trim()))
        .collect();
    assert!(
        changed
            .iter()
            .any(|l| l.starts_with('-') && l.contains("old")),
        "{changed:?}"
    );
    assert!(
        changed
            .iter()
            .any(|l| l.starts_with('+') && l.contains("new")),
        "{changed:?}"
    );
    // The name of an edited configuration stays.
    press(&mut a, &["n"]);
    assert!(matches!(wiz(&a).mode, Mode::Normal));
    assert_eq!(wiz(&a).name, "web");
}

#[test]
fn the_review_diffs_against_an_agents_effective_config() {
    let mut a = app();
    build_otlp_pipeline(&mut a);
    press(&mut a, &["d"]);
    let w = wiz(&a);
    let DiffWith::Agent(id) = w.diff_with else {
        panic!("d moves on to an agent, got {:?}", w.diff_with);
    };
    let name = a
        .snapshot
        .get(&id)
        .map(|x| x.name.clone())
        .unwrap_or_default();
    assert!(
        w.review.diff_title.contains(name.as_str()),
        "{}",
        w.review.diff_title
    );
    assert!(w.review.diff.is_some());
    press(&mut a, &["]"]);
    assert_ne!(
        wiz(&a).diff_with,
        DiffWith::Agent(id),
        "] picks the next agent"
    );
    press(&mut a, &["d"]);
    assert_eq!(wiz(&a).diff_with, DiffWith::Nothing);
    assert!(wiz(&a).review.diff.is_none());
}

#[test]
fn e_hands_the_yaml_to_the_editor_and_checks_what_comes_back() {
    let mut a = app();
    build_otlp_pipeline(&mut a);
    let effects = wizard_effects(press(&mut a, &["e"]));
    let [WizardEffect::EditRaw { text }] = effects.as_slice() else {
        panic!("expected EditRaw, got {effects:?}");
    };
    assert!(text.contains("receivers:"), "{text}");
    // Broken YAML comes back: it is kept (to fix with e) and its problem is listed.
    a.wizard_message(WizardMsg::Edited(Ok("receivers: [".into())));
    let w = wiz(&a);
    assert!(w.draft.raw.is_some());
    assert!(
        w.review
            .problems
            .iter()
            .any(|p| p.contains("not valid YAML")),
        "{:?}",
        w.review.problems
    );
    let fixed = text.replace("4318", "4320");
    a.wizard_message(WizardMsg::Edited(Ok(fixed.clone())));
    let w = wiz(&a);
    assert!(w.review.problems.is_empty(), "{:?}", w.review.problems);
    assert_eq!(w.configuration().spec.raw.as_deref(), Some(fixed.as_str()));
    // x drops the raw text and the built pipeline is back.
    press(&mut a, &["x"]);
    assert!(wiz(&a).configuration().spec.raw.is_none());
    assert_eq!(wiz(&a).configuration().spec.sources.len(), 1);
}

fn saved(a: &mut App) {
    build_otlp_pipeline(a);
    save_as(a, "edge-otlp");
    press(a, &["n"]);
}

#[test]
fn targets_are_marked_agents_or_a_selector_with_a_live_count() {
    let mut a = app();
    // Agents marked in the agents view come along.
    press(&mut a, &["space", "space"]);
    let marked: Vec<_> = a.agents.marks.iter().copied().collect();
    saved(&mut a);
    assert_eq!(wiz(&a).targets.marks.len(), 2);
    // Enter asks, naming what goes where; y pushes.
    assert!(wizard_effects(press(&mut a, &["enter"])).is_empty());
    let asked = a.confirm.clone().expect("a push asks first");
    assert_eq!(asked.ask.title, "Push edge-otlp:1 to 2 agent(s)?");
    press(&mut a, &["esc"]);
    assert!(
        matches!(wiz(&a).push, PushState::Choosing),
        "esc: not pushed"
    );
    press(&mut a, &["enter"]);
    let effects = wizard_effects(press(&mut a, &["y"]));
    let [
        WizardEffect::Push {
            config,
            version,
            targets,
            force: false,
            ..
        },
    ] = effects.as_slice()
    else {
        panic!("expected a push, got {effects:?}");
    };
    assert_eq!((config.as_str(), *version), ("edge-otlp", 1));
    let PushTargets::Agents(ids) = targets else {
        panic!("marked agents")
    };
    let mut want = marked.clone();
    want.sort();
    assert_eq!(ids, &want);
    assert!(matches!(wiz(&a).push, PushState::Starting));

    // The selector counts matches as it is typed.
    let mut a = app();
    saved(&mut a);
    press(&mut a, &["tab"]);
    assert_eq!(wiz(&a).targets.mode, TargetMode::Selector);
    type_text(&mut a, "env=prod");
    let prod = a
        .snapshot
        .agents
        .iter()
        .filter(|x| x.labels.get("env").map(|v| v.as_str()) == Some("prod"))
        .count();
    assert!(prod > 0);
    assert_eq!(wiz(&a).selector_matches(&a.snapshot).map(|m| m.0), Ok(prod));
    type_text(&mut a, ",tier in (");
    assert!(wiz(&a).selector_matches(&a.snapshot).is_err());
    press(&mut a, &["ctrl+u"]);
    type_text(&mut a, "env=nowhere");
    press(&mut a, &["enter", "enter"]);
    assert!(a.confirm.is_none(), "nothing to ask about");
    assert!(
        matches!(wiz(&a).push, PushState::Choosing),
        "a selector matching nothing is not pushed"
    );
    press(&mut a, &["/", "ctrl+u"]);
    type_text(&mut a, "env=prod");
    let effects = wizard_effects(press(&mut a, &["enter", "enter", "y"]));
    assert!(
        matches!(effects.as_slice(), [WizardEffect::Push { targets: PushTargets::Selector(s), .. }] if s == "env=prod"),
        "{effects:?}"
    );
}

#[test]
fn the_push_takes_phases_failures_tolerated_and_rollback_like_the_push_command() {
    use fleetdeck::rollout::RolloutOptions;
    use fleetdeck::rollout::plan::RollbackPolicy;
    use fleetdeck::tui::testing::render_text;
    let mut a = app();
    press(&mut a, &["ctrl+a"]);
    saved(&mut a);
    let n = a.snapshot.agents.len();
    let screen = render_text(&a);
    assert!(
        screen.contains("rollout: phases 3, 9 · halt on 1st failure · roll back failed"),
        "the push step says how it will roll out: {screen}"
    );
    // o opens the options; a value is typed over, checked as it is typed.
    press(&mut a, &["o"]);
    assert!(matches!(wiz(&a).mode, Mode::Options));
    press(&mut a, &["enter", "ctrl+u"]);
    type_text(&mut a, "0");
    let screen = render_text(&a);
    assert!(screen.contains("✕ at least 1"), "{screen}");
    press(&mut a, &["enter"]);
    assert!(
        matches!(wiz(&a).mode, Mode::OptionText { .. }),
        "an invalid value is not kept"
    );
    press(&mut a, &["backspace"]);
    type_text(&mut a, "2");
    press(&mut a, &["enter"]);
    // Growth 1: equal phases; a digit starts typing at once.
    press(&mut a, &["j", "1", "enter"]);
    // Two failures tolerated, every agent rolled back when it halts.
    press(&mut a, &["j", "j", "2", "enter", "j", "l", "esc"]);
    assert!(matches!(wiz(&a).mode, Mode::Normal));
    let screen = render_text(&a);
    assert!(
        screen.contains("rollout: phases 2, 2, 2, 2, 2 … (6 phases) · tolerate 2 failure(s)"),
        "{screen}"
    );
    assert_eq!(n, 12);
    press(&mut a, &["enter"]);
    let asked = a.confirm.clone().expect("asks");
    assert!(
        asked
            .ask
            .lines
            .iter()
            .any(|l| l.contains("roll back all reached")),
        "{asked:?}"
    );
    let effects = wizard_effects(press(&mut a, &["y"]));
    let [WizardEffect::Push { options, .. }] = effects.as_slice() else {
        panic!("a push: {effects:?}");
    };
    // Field by field: RolloutOptions gains more (the telemetry watch) on other branches.
    assert_eq!(
        (
            options.initial,
            options.multiplier,
            options.max_per_phase,
            options.max_failures,
            options.rollback
        ),
        (2, 1.0, 1000, 2, RollbackPolicy::All)
    );
    let defaults = RolloutOptions::default();
    assert_eq!(options.max_per_phase, defaults.max_per_phase);
}

#[test]
fn a_push_to_targets_that_lack_components_says_so_and_forces_only_when_asked_again() {
    use fleetdeck::tui::testing::render_text;
    let mut a = app();
    saved(&mut a);
    // The web tier runs a minimal build without the OTLP receiver.
    press(&mut a, &["tab"]);
    type_text(&mut a, "tier=web");
    press(&mut a, &["enter"]);
    let web: Vec<String> = a
        .snapshot
        .agents
        .iter()
        .filter(|x| x.labels.get("tier").map(|v| v.as_str()) == Some("web"))
        .map(|x| x.name.to_string())
        .collect();
    assert!(!web.is_empty());
    let check = wiz(&a).coverage.push_check.clone().expect("checked");
    assert_eq!(check.lacking.len(), web.len());
    let screen = render_text(&a);
    assert!(
        screen.contains(&format!(
            "⚠ {} of {} chosen would fail: {}: missing receiver 'otlp'",
            web.len(),
            web.len(),
            check.lacking[0].name
        )),
        "{screen}"
    );

    // The server refuses; the same push again is forced.
    let push = |a: &mut App| match wizard_effects(press(a, &["enter", "y"])).as_slice() {
        [WizardEffect::Push { force, .. }] => *force,
        other => panic!("expected a push, got {other:?}"),
    };
    assert!(!push(&mut a));
    a.wizard_message(WizardMsg::Lacking("2 of 2 target agents would fail".into()));
    assert!(matches!(wiz(&a).push, PushState::Choosing));
    let said = wiz(&a).message.clone().map(|m| m.1).unwrap_or_default();
    assert!(said.contains("push again to send it anyway"), "{said}");
    assert!(push(&mut a), "the same targets again: forced");

    // Other targets are asked about afresh.
    a.wizard_message(WizardMsg::Lacking("refused".into()));
    press(&mut a, &["/", "ctrl+u"]);
    type_text(&mut a, "env=prod");
    press(&mut a, &["enter"]);
    assert!(!push(&mut a));
}

#[test]
fn a_started_rollout_is_followed_and_can_be_steered() {
    use fleetdeck::fleet::delivery::ConfigRef;
    use fleetdeck::rollout::plan::{AgentProgress, AgentStep, Progress};
    use fleetdeck::rollout::{RolloutOptions, RolloutStatus, RolloutView};
    let mut a = app();
    press(&mut a, &["space"]);
    saved(&mut a);
    press(&mut a, &["enter", "y"]);
    let id = a.snapshot.agents[0].id;
    let view = RolloutView {
        started_at: None,
        config: ConfigRef {
            name: "edge-otlp".into(),
            version: 1,
        },
        status: RolloutStatus::Running,
        phases_started: 1,
        progress: Progress {
            total: 1,
            in_flight: 1,
            ..Progress::default()
        },
        options: RolloutOptions::default(),
        agents: vec![AgentProgress {
            id,
            step: AgentStep::InFlight,
            previous: None,
            phase: Some(0),
            failed: false,
            error: None,
            ..Default::default()
        }],
    };
    // p pressed before the rollout has answered is kept, said, and sent once it has.
    assert!(wizard_effects(press(&mut a, &["p"])).is_empty());
    let said = wiz(&a).message.clone().map(|m| m.1).unwrap_or_default();
    assert!(
        said.contains("will pause as soon as the rollout has started"),
        "{said}"
    );
    let more = wizard_effects(a.wizard_message(WizardMsg::Pushed(Ok(view.clone()))));
    assert_eq!(
        more,
        vec![
            WizardEffect::Follow {
                config: "edge-otlp".into()
            },
            WizardEffect::Steer {
                config: "edge-otlp".into(),
                how: fleetdeck::tui::wizard::Steer::Pause
            }
        ]
    );
    // Pausing is at once; rolling back asks first.
    let effects = wizard_effects(press(&mut a, &["p", "R"]));
    assert_eq!(effects.len(), 1);
    let asked = a.confirm.clone().expect("rollback asks");
    assert_eq!(asked.ask.title, "Roll back the rollout of edge-otlp?");
    let effects = [effects, wizard_effects(press(&mut a, &["y"]))].concat();
    assert_eq!(
        effects,
        vec![
            WizardEffect::Steer {
                config: "edge-otlp".into(),
                how: fleetdeck::tui::wizard::Steer::Pause
            },
            WizardEffect::Steer {
                config: "edge-otlp".into(),
                how: fleetdeck::tui::wizard::Steer::Rollback
            },
        ]
    );
    let mut failed = view;
    failed.agents[0].step = AgentStep::Failed("exporter otlphttp: bad endpoint".into());
    a.wizard_message(WizardMsg::Rollout(Ok(failed)));
    let PushState::Following { view: Some(v), .. } = &wiz(&a).push else {
        panic!("following");
    };
    assert!(matches!(v.agents[0].step, AgentStep::Failed(_)));
    // Leaving while following does not ask (everything is saved) and stops following.
    let effects = wizard_effects(press(&mut a, &["esc"]));
    assert_eq!(effects, vec![WizardEffect::StopFollowing]);
    assert!(a.wizard.is_none());
}

#[test]
fn the_palette_opens_the_builder_and_edit_needs_a_name() {
    let mut a = app();
    press(&mut a, &[":"]);
    type_text(&mut a, "new");
    let effects = wizard_effects(press(&mut a, &["enter"]));
    assert_eq!(effects, vec![WizardEffect::Load { edit: None }]);
    assert_eq!(wiz(&a).step, Step::Sources);
    let mut a = app();
    press(&mut a, &[":"]);
    type_text(&mut a, "edit");
    press(&mut a, &["enter"]);
    assert!(a.wizard.is_none());
    assert!(
        a.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("needs a configuration name"))
    );
}

#[test]
fn sources_are_searchable_by_signal() {
    let mut a = app();
    press(&mut a, &["n", "/"]);
    type_text(&mut a, "traces");
    let names: Vec<String> = wiz(&a)
        .source_types()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    assert!(names.contains(&"otlp".to_string()), "{names:?}");
    assert!(!names.contains(&"hostmetrics".to_string()), "{names:?}");
    let types = wiz(&a).types.clone();
    assert!(names.iter().all(|n| {
        types
            .get(TypeKind::Source, n)
            .is_some_and(|t| t.signals().iter().any(|s| s.as_str() == "traces"))
            || n.contains("traces")
    }));
}

// ----- several sources of one type, shared destinations -----

use fleetdeck::catalog::Catalog;
use fleetdeck::pipeline::Destination;
use fleetdeck::pipeline::builder::DestinationItem;
use fleetdeck::pipeline::config::DestinationRef;
use fleetdeck::store::{Store, StoreOptions};
use fleetdeck::tui::wizard::AddChoice;

/// A real catalog (SQLite in a temporary directory) holding the shared destination
/// `central`.
async fn catalog_with_central() -> (tempfile::TempDir, Catalog, Destination) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_async(dir.path(), StoreOptions::default())
        .await
        .expect("store");
    let catalog = Catalog::open(store).await.expect("catalog");
    let text = "apiVersion: fleetdeck/v1\nkind: Destination\nmetadata:\n  name: central\nspec:\n  type: otlphttp\n  parameters:\n    endpoint: https://central.example.net:4318\n";
    let applied = catalog.apply_text(text, None).await.expect("parses");
    assert_eq!(applied[0].status, ApplyStatus::Created, "{applied:?}");
    let central: Destination = serde_norway::from_str(text).expect("destination");
    (dir, catalog, central)
}

fn loaded(a: &mut App, destinations: Vec<Destination>) {
    a.wizard_message(WizardMsg::Loaded {
        configs: Vec::new(),
        destinations,
        edit: None,
    });
}

/// The multi-line editor of the current form's first field (`include` for filelog).
fn set_include(a: &mut App, path: &str) {
    press(a, &["g", "enter", "ctrl+u"]);
    type_text(a, path);
    press(a, &["ctrl+s"]);
}

fn save_effect(a: &mut App) -> Configuration {
    let effects = wizard_effects(press(a, &["enter"]));
    match effects.as_slice() {
        [WizardEffect::Save(cfg)] => (**cfg).clone(),
        other => panic!("expected one save, got {other:?}"),
    }
}

#[test]
fn one_source_type_is_added_twice_each_with_its_own_form_and_name() {
    let mut a = app();
    press(&mut a, &["n", "/"]);
    type_text(&mut a, "filelog");
    press(&mut a, &["enter", "b", "+"]);
    let w = wiz(&a);
    assert_eq!(w.draft.source_labels(), ["filelog", "filelog/2"]);
    assert!(
        w.message
            .as_ref()
            .is_some_and(|(_, m)| m.contains("added filelog/2")),
        "{:?}",
        w.message
    );
    // Step 2 opens on the one just added; each has its own form.
    press(&mut a, &["n"]);
    assert_eq!(
        wiz(&a).component_titles(),
        ["Files · filelog", "Files · filelog/2"]
    );
    set_include(&mut a, "/var/log/app/*.log");
    press(&mut a, &["tab"]);
    set_include(&mut a, "/var/log/nginx/*.log");
    // The first is named; a name the other already shows is refused in place.
    press(&mut a, &["r"]);
    type_text(&mut a, "filelog/2");
    press(&mut a, &["enter"]);
    match &wiz(&a).mode {
        Mode::Rename(ed) => assert!(
            ed.error.as_deref().unwrap_or("").contains("already names"),
            "{:?}",
            ed.error
        ),
        other => panic!("a clashing name keeps the editor open, got {other:?}"),
    }
    press(&mut a, &["ctrl+u"]);
    type_text(&mut a, "nginx");
    press(&mut a, &["enter"]);
    assert_eq!(wiz(&a).draft.source_labels(), ["nginx", "filelog"]);
    press(&mut a, &["n", "n", "a"]);
    type_text(&mut a, "otlphttp");
    // Adding it opens its required endpoint.
    press(&mut a, &["enter"]);
    type_text(&mut a, "https://collector.example.net:4318");
    press(&mut a, &["enter", "n"]);
    let w = wiz(&a);
    assert_eq!(w.step, Step::Review);
    assert!(w.review.problems.is_empty(), "{:?}", w.review.problems);
    assert_eq!(
        w.review.legend.as_deref(),
        Some("source0 = nginx · source1 = filelog · destination0 = otlphttp")
    );
    let yaml = w.review.yaml.clone().unwrap_or_default();
    for want in [
        "filelog/source0:",
        "filelog/source1:",
        "/var/log/nginx/*.log",
        "/var/log/app/*.log",
    ] {
        assert!(yaml.contains(want), "{want} missing from:\n{yaml}");
    }
    press(&mut a, &["n", "ctrl+u"]);
    type_text(&mut a, "two-logs");
    let cfg = save_effect(&mut a);
    let s = &cfg.spec.sources;
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|x| x.type_name == "filelog"));
    assert_eq!(s[0].display_name.as_deref(), Some("nginx"));
    assert_eq!(s[1].display_name, None);
    let include = |i: usize| serde_norway::to_string(s[i].parameters.get("include").unwrap());
    assert!(include(0).unwrap().contains("nginx"));
    assert!(include(1).unwrap().contains("app"));
    // What is saved renders on its own, each source under its own ID.
    let types = wiz(&a).types.clone();
    let none: Vec<Destination> = Vec::new();
    let rendered = fleetdeck::pipeline::render(&cfg, &types, &none).expect("renders");
    assert_eq!(
        rendered.yaml.matches("filelog/source0").count(),
        2,
        "{}",
        rendered.yaml
    );
    assert_eq!(
        rendered.yaml.matches("filelog/source1").count(),
        2,
        "{}",
        rendered.yaml
    );
}

#[test]
fn space_on_a_type_chosen_twice_removes_the_last_one() {
    let mut a = app();
    press(&mut a, &["n", "/"]);
    type_text(&mut a, "filelog");
    press(&mut a, &["enter", "b", "+", "+"]);
    assert_eq!(wiz(&a).draft.sources.len(), 3);
    press(&mut a, &["space"]);
    let w = wiz(&a);
    assert_eq!(w.draft.source_labels(), ["filelog", "filelog/2"]);
    assert!(
        w.message
            .as_ref()
            .is_some_and(|(_, m)| m.contains("removed filelog/3")),
        "{:?}",
        w.message
    );
    press(&mut a, &["space", "space"]);
    assert!(wiz(&a).draft.sources.is_empty());
    // In step 2, x removes the one shown and says which it was.
    press(&mut a, &["space", "+", "+", "n", "x"]);
    let w = wiz(&a);
    assert_eq!(w.draft.source_labels(), ["filelog", "filelog/2"]);
    assert!(
        w.message
            .as_ref()
            .is_some_and(|(_, m)| m == "removed Files · filelog/3"),
        "{:?}",
        w.message
    );
}

#[tokio::test]
async fn a_shared_destination_is_picked_and_saved_by_reference() {
    let (_dir, catalog, central) = catalog_with_central().await;
    let mut a = app();
    press(&mut a, &["n"]);
    loaded(&mut a, vec![central]);
    press(&mut a, &["/"]);
    type_text(&mut a, "otlp");
    press(&mut a, &["enter", "n", "n", "a"]);
    // The shared destinations come first in the add list, with their type.
    let choices = wiz(&a).add_choices(TypeKind::Destination, "");
    assert!(
        matches!(&choices[0], AddChoice::Shared { name, type_name, added: false } if name == "central" && type_name == "otlphttp"),
        "{choices:?}"
    );
    type_text(&mut a, "central");
    press(&mut a, &["enter"]);
    let w = wiz(&a);
    assert!(
        matches!(&w.draft.destinations[..], [DestinationItem::Named(r)] if r.name.as_deref() == Some("central"))
    );
    assert_eq!(w.component_titles(), ["central (shared otlphttp)"]);
    assert!(
        w.current().is_none(),
        "a shared destination has no form here"
    );
    // It is listed once.
    press(&mut a, &["a"]);
    type_text(&mut a, "central");
    press(&mut a, &["enter"]);
    assert!(matches!(wiz(&a).mode, Mode::AddType { .. }));
    assert_eq!(wiz(&a).draft.destinations.len(), 1);
    press(&mut a, &["esc", "n"]);
    let w = wiz(&a);
    assert!(w.review.problems.is_empty(), "{:?}", w.review.problems);
    let yaml = w.review.yaml.clone().unwrap_or_default();
    assert!(
        yaml.contains("otlphttp/central:") && yaml.contains("https://central.example.net:4318"),
        "the review resolves the shared destination:\n{yaml}"
    );
    press(&mut a, &["n", "ctrl+u"]);
    type_text(&mut a, "edge");
    let cfg = save_effect(&mut a);
    assert_eq!(
        cfg.spec.destinations,
        vec![DestinationRef {
            name: Some("central".into()),
            type_name: None,
            display_name: None,
            parameters: Default::default(),
            processors: Vec::new(),
            disabled: false,
        }]
    );
    let result = catalog
        .apply(fleetdeck::pipeline::Resource::Configuration(cfg))
        .await;
    assert_eq!(result.status, ApplyStatus::Created, "{result:?}");
}

#[tokio::test]
async fn an_opened_configuration_with_shared_and_repeated_parts_saves_unchanged() {
    let (_dir, catalog, central) = catalog_with_central().await;
    let text = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: logs\nspec:\n  sources:\n    - type: filelog\n      parameters: {include: [/var/log/nginx/*.log]}\n    - type: filelog\n      displayName: app\n      parameters: {include: [/var/log/app/*.log], start_at: beginning}\n  processors:\n    - type: batch\n  destinations:\n    - name: central\n";
    let applied = catalog.apply_text(text, None).await.expect("parses");
    assert_eq!(applied[0].status, ApplyStatus::Created, "{applied:?}");
    let stored = catalog.configuration("logs", None).await.expect("stored");
    let mut a = app();
    press(&mut a, &[":"]);
    type_text(&mut a, "edit logs");
    press(&mut a, &["enter"]);
    a.wizard_message(WizardMsg::Loaded {
        configs: vec![("logs".into(), stored.version, stored.config.clone())],
        destinations: vec![central],
        edit: Some(Ok((stored.version, Box::new(stored.config.clone())))),
    });
    let w = wiz(&a);
    assert!(!w.changed(), "opening is not a change");
    assert_eq!(w.draft.source_labels(), ["filelog", "app"]);
    assert!(matches!(
        &w.draft.destinations[..],
        [DestinationItem::Named(_)]
    ));
    press(&mut a, &["n", "n", "n", "n"]);
    let w = wiz(&a);
    assert_eq!(w.step, Step::Review);
    assert!(w.review.problems.is_empty(), "{:?}", w.review.problems);
    let diff = w
        .review
        .diff
        .as_ref()
        .expect("a diff with the stored version");
    assert!(diff.iter().all(|l| l.marker() == ' '), "nothing changed");
    press(&mut a, &["n"]);
    // Nothing changed: it counts as saved at the stored version, Enter saves nothing
    // (a new version that renders the same YAML is what it made), and it can be pushed.
    assert_eq!(
        wiz(&a).save,
        SaveState::Saved {
            name: "logs".into(),
            version: stored.version,
            status: ApplyStatus::Unchanged
        }
    );
    assert!(wizard_effects(press(&mut a, &["enter"])).is_empty());
    press(&mut a, &["n"]);
    assert_eq!(wiz(&a).step, Step::Push, "pushed as stored, without a save");
    // And what the builder holds is the stored configuration.
    let cfg = wiz(&a).configuration();
    assert_eq!(cfg, stored.config);
    let result = catalog
        .apply(fleetdeck::pipeline::Resource::Configuration(cfg))
        .await;
    assert_eq!(result.status, ApplyStatus::Unchanged, "{result:?}");
    assert_eq!(result.version, Some(stored.version));
}

#[test]
fn inline_destinations_of_one_type_are_told_apart_and_shared_ones_keep_their_name() {
    let mut a = app();
    press(&mut a, &["n"]);
    let central: Destination = serde_norway::from_str(
        "apiVersion: fleetdeck/v1\nkind: Destination\nmetadata: {name: central}\nspec: {type: otlphttp, parameters: {endpoint: \"https://c:4318\"}}\n",
    )
    .expect("destination");
    loaded(&mut a, vec![central]);
    press(&mut a, &["space", "n", "n", "n"]);
    for _ in 0..2 {
        press(&mut a, &["a"]);
        type_text(&mut a, "otlphttp");
        press(&mut a, &["enter", "esc"]);
    }
    assert_eq!(
        wiz(&a).component_titles(),
        [
            "OpenTelemetry (OTLP/HTTP) · otlphttp",
            "OpenTelemetry (OTLP/HTTP) · otlphttp/2"
        ]
    );
    press(&mut a, &["r"]);
    type_text(&mut a, "backup");
    press(&mut a, &["enter", "a"]);
    type_text(&mut a, "central");
    press(&mut a, &["enter", "r"]);
    let w = wiz(&a);
    assert!(
        matches!(w.mode, Mode::Normal),
        "a shared destination is not renamed here"
    );
    assert!(
        w.message
            .as_ref()
            .is_some_and(|(_, m)| m.contains("fleetdeck apply")),
        "{:?}",
        w.message
    );
    assert_eq!(
        w.draft.destination_labels(),
        ["otlphttp", "backup", "central"]
    );
    let cfg = w.configuration();
    let names: Vec<_> = cfg
        .spec
        .destinations
        .iter()
        .map(|d| (d.display_name.as_deref(), d.name.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            (None, None),
            (Some("backup"), None),
            (None, Some("central"))
        ]
    );
}

/// Which types the targets lack components for, against the seeded fleet.
mod coverage {
    use fleetdeck::fleet::AgentId;
    use fleetdeck::pipeline::{TypeKind, TypeRegistry};
    use fleetdeck::tui::wizard::coverage::{Coverage, Lacking};
    use fleetdeck::tui::wizard::{TargetMode, TargetsState};

    use super::seed;

    fn targets(mode: TargetMode, marks: &[AgentId], selector: &str) -> TargetsState {
        TargetsState {
            mode,
            marks: marks.iter().copied().collect(),
            cursor: 0,
            offset: 0,
            selector: selector.into(),
        }
    }

    #[test]
    fn a_type_is_marked_by_the_targets_that_lack_its_components() {
        // Seeded: edge and db agents report nothing, web agents a minimal build, the
        // others a fuller one (no kafka); 1 in 11 is disconnected.
        let snap = seed::fleet(24, 1);
        let types = TypeRegistry::builtin();
        let mut c = Coverage::new(&types);
        c.refresh(&snap, &targets(TargetMode::Agents, &[], ""), None);
        let connected_reporting = snap
            .agents
            .iter()
            .filter(|a| a.is_connected() && a.available_components.is_some())
            .count();
        let web_connected = snap
            .agents
            .iter()
            .filter(|a| a.is_connected() && a.labels.get("tier").is_some_and(|t| t == "web"))
            .count();
        let host = c
            .lacking(TypeKind::Source, "hostmetrics")
            .expect("web lacks it");
        assert_eq!(
            host,
            Lacking {
                missing: web_connected,
                of: connected_reporting,
                chosen: false
            }
        );
        assert_eq!(
            host.text(),
            format!("missing on {web_connected} of {connected_reporting} agents")
        );
        assert_eq!(
            c.lacking(TypeKind::Source, "filelog"),
            None,
            "every build has it"
        );
        assert_eq!(c.lacking(TypeKind::Destination, "otlphttp"), None);
        let kafka = c
            .lacking(TypeKind::Source, "kafka")
            .expect("no build has it");
        assert_eq!(kafka.missing, connected_reporting);

        // Chosen targets: only they count; agents that report nothing are never lacking.
        let web = snap
            .agents
            .iter()
            .find(|a| a.labels.get("tier").is_some_and(|t| t == "web"))
            .map(|a| a.id)
            .expect("a web agent");
        let edge = snap
            .agents
            .iter()
            .find(|a| a.labels.get("tier").is_some_and(|t| t == "edge"))
            .map(|a| a.id)
            .expect("an edge agent");
        c.refresh(&snap, &targets(TargetMode::Agents, &[web, edge], ""), None);
        let host = c
            .lacking(TypeKind::Source, "hostmetrics")
            .expect("web lacks it");
        assert_eq!(host.text(), "missing on 1 of 1 targets");
        assert_eq!(c.push_check, None, "nothing rendered yet");
        let yaml = "receivers:\n  hostmetrics/source0: {}\nexporters:\n  otlphttp/d0: {}\n";
        let targets_now = targets(TargetMode::Agents, &[web, edge], "");
        c.refresh(&snap, &targets_now, Some(yaml));
        let check = c.push_check.clone().expect("checked against the targets");
        assert_eq!((check.checked, check.unknown), (1, 1));
        assert_eq!(check.lacking.len(), 1);
        assert_eq!(check.lacking[0].id, web);
        c.refresh(
            &snap,
            &targets(TargetMode::Selector, &[], "tier=edge"),
            None,
        );
        assert_eq!(c.lacking(TypeKind::Source, "hostmetrics"), None);
    }
}

#[test]
fn add_popups_move_with_j_and_k_search_after_slash_and_rank_type_names_first() {
    use fleetdeck::pipeline::TypeKind;
    use fleetdeck::tui::wizard::AddChoice;
    let mut a = app();
    press(&mut a, &["n", "space", "n", "n", "n", "a"]);
    assert_eq!(wiz(&a).step, Step::Destinations);
    // j and k move through the list; they do not type.
    press(&mut a, &["j", "j", "k"]);
    match &wiz(&a).mode {
        Mode::AddType {
            query,
            cursor,
            searching,
            ..
        } => assert_eq!((query.as_str(), *cursor, *searching), ("", 1, false)),
        other => panic!("the add popup, got {other:?}"),
    }
    // `/` searches; then j is a letter like any other.
    press(&mut a, &["/"]);
    type_text(&mut a, "httpj");
    press(&mut a, &["backspace"]);
    // A type whose name holds the text comes before one that only mentions it.
    let names: Vec<String> = wiz(&a)
        .add_choices(TypeKind::Destination, "http")
        .iter()
        .filter_map(|c| match c {
            AddChoice::Type(t) => Some(t.name().to_string()),
            AddChoice::Shared { .. } => None,
        })
        .collect();
    let at = |n: &str| names.iter().position(|x| x == n);
    assert_eq!(
        names.first().map(String::as_str),
        Some("otlphttp"),
        "{names:?}"
    );
    if let Some(d) = at("dynatrace") {
        assert!(d > 0, "{names:?}");
    }
    press(&mut a, &["enter"]);
    assert_eq!(wiz(&a).draft.destinations.len(), 1);
    assert!(matches!(wiz(&a).mode, Mode::Normal | Mode::Field { .. }));
}

#[test]
fn help_and_the_breadcrumb_name_the_step_shown() {
    use fleetdeck::tui::testing::render_text;
    let mut a = app();
    press(&mut a, &["n"]);
    a.resize(80, 24);
    let screen = render_text(&a);
    assert!(
        screen.contains("1 Sources › 2 Conf › 3 Proc › 4 Dest › 5 Rev › 6 Save › 7 Push"),
        "every step has a name, even at 80 columns: {screen}"
    );
    press(&mut a, &["?"]);
    let help = render_text(&a);
    assert!(help.contains("Step 1 Sources"), "{help}");
    assert!(help.contains("choose the source type"), "{help}");
    let mut a = app();
    build_otlp_pipeline(&mut a);
    assert_eq!(wiz(&a).step, Step::Review);
    press(&mut a, &["?"]);
    let help = render_text(&a);
    assert!(help.contains("Step 5 Review"), "{help}");
    assert!(
        help.contains("edit the Collector YAML in $EDITOR"),
        "{help}"
    );
    assert!(!help.contains("Step 1 Sources"), "{help}");
}

#[test]
fn an_endpoint_is_checked_as_typed_and_the_breadcrumb_marks_the_step_until_it_is_valid() {
    use fleetdeck::tui::testing::render_text;
    let mut a = app();
    press(&mut a, &["n", "/"]);
    type_text(&mut a, "otlp");
    press(&mut a, &["enter", "n", "n", "a"]);
    type_text(&mut a, "otlphttp");
    // Adding it opens its required endpoint.
    press(&mut a, &["enter"]);
    type_text(&mut a, "collector.example.net");
    let screen = render_text(&a);
    assert!(
        screen.contains("expected host:port, or a URL"),
        "checked while typing: {screen}"
    );
    press(&mut a, &["enter", "n"]);
    assert_eq!(wiz(&a).step, Step::Review);
    assert!(!wiz(&a).step_ok(Step::Destinations));
    let screen = render_text(&a);
    assert!(
        screen.contains("4✕ Destinations") || screen.contains("4✕ Dest"),
        "{screen}"
    );
    assert!(screen.contains("3✓"), "{screen}");
    press(&mut a, &["b", "enter", "ctrl+u"]);
    type_text(&mut a, "https://collector.example.net:4318");
    press(&mut a, &["enter", "n"]);
    assert!(wiz(&a).step_ok(Step::Destinations));
    let screen = render_text(&a);
    assert!(screen.contains("4✓"), "{screen}");
}

#[test]
fn page_down_in_the_review_shows_the_next_line_after_the_last_one_shown() {
    use fleetdeck::tui::testing::render_text;
    let mut a = app();
    build_otlp_pipeline(&mut a);
    a.resize(80, 24);
    let yaml: Vec<String> = wiz(&a)
        .review
        .yaml
        .clone()
        .unwrap_or_default()
        .lines()
        .map(|l| format!("   {l}"))
        .collect();
    assert!(yaml.len() > 30, "long enough to page");
    // The YAML lines on screen, as indices into the YAML.
    let shown = |a: &App| -> Vec<usize> {
        let screen = render_text(a);
        let rows: Vec<String> = screen
            .lines()
            .filter_map(|l| l.strip_prefix('│'))
            .map(|l| l.trim_end_matches('│').trim_end().to_string())
            .collect();
        let scroll = wiz(a).review.scroll;
        rows.iter()
            .filter_map(|r| {
                (scroll..yaml.len())
                    .find(|i| yaml[*i].trim_end() == r.as_str() && !r.trim().is_empty())
            })
            .collect()
    };
    let before = shown(&a);
    press(&mut a, &["pgdn"]);
    let after = shown(&a);
    let last = *before.last().expect("lines shown");
    assert_eq!(
        after.first().copied(),
        Some(last + 1),
        "{before:?} then {after:?}"
    );
    // Paging past the end stops at the last page, and one page up comes straight back.
    press(&mut a, &["pgdn", "pgdn", "pgdn", "pgdn", "pgup"]);
    let back = wiz(&a).review.scroll;
    press(&mut a, &["pgdn", "pgup"]);
    assert_eq!(wiz(&a).review.scroll, back);
}
