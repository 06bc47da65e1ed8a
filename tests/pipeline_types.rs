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
