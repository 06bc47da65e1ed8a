//! `e` in the review runs `$EDITOR` on a private temporary file and reads back what was
//! saved. A real program stands in for the editor (`sed -i`, which edits in place as an
//! editor would); one test per binary, since it sets the process environment.

use fleetdeck::tui::wizard::io::edit_in_editor;

#[tokio::test]
async fn the_editor_edits_a_temporary_file_and_its_result_comes_back() {
    // SAFETY: this test binary has a single test, so nothing reads the environment
    // concurrently.
    unsafe {
        std::env::remove_var("VISUAL");
        std::env::set_var("EDITOR", "sed -i s/4318/4320/");
    }
    let edited = edit_in_editor("exporters:\n  otlphttp:\n    endpoint: http://x:4318\n")
        .await
        .expect("sed edits the file");
    assert_eq!(
        edited,
        "exporters:\n  otlphttp:\n    endpoint: http://x:4320\n"
    );

    // An editor that fails changes nothing and says which program it was.
    unsafe { std::env::set_var("EDITOR", "false") };
    let err = edit_in_editor("a: 1\n").await.unwrap_err();
    assert!(
        err.contains("'false'") && err.contains("nothing changed"),
        "{err}"
    );

    unsafe { std::env::set_var("EDITOR", "/nonexistent/editor-xyz") };
    let err = edit_in_editor("a: 1\n").await.unwrap_err();
    assert!(err.contains("cannot run editor"), "{err}");

    // The temporary files are gone afterwards.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("fleetdeck-config-{}-", std::process::id()))
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
