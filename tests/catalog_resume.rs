//! A destination change and the re-renders it causes are separate commits: after a crash
//! between them (kill -9 while 300 configurations were being re-rendered left 245 stale
//! for good), the next start re-renders what is stale.

use fleetdeck::catalog::Catalog;
use fleetdeck::pipeline::parse_resources;
use fleetdeck::store::Store;

fn destination(endpoint: &str) -> String {
    format!(
        "apiVersion: fleetdeck/v1\nkind: Destination\nmetadata: {{name: central}}\nspec:\n  type: otlphttp\n  parameters: {{endpoint: \"{endpoint}\"}}\n"
    )
}

fn configuration(name: &str) -> String {
    format!(
        "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata: {{name: {name}}}\nspec:\n  sources: [{{type: otlp}}]\n  destinations: [{{name: central}}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configurations_left_stale_by_a_crash_are_re_rendered_at_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let catalog = Catalog::open(Store::open(dir.path()).unwrap())
            .await
            .unwrap();
        let mut text = destination("https://old.example.net:4318");
        for n in 0..5 {
            text.push_str("---\n");
            text.push_str(&configuration(&format!("edge-{n}")));
        }
        catalog.apply_text(&text, None).await.expect("applied");
        // The destination changes, and the process dies before any re-render: only the
        // destination's new version is committed.
        let changed = parse_resources(&destination("https://new.example.net:4318"), None)
            .expect("parses")
            .remove(0)
            .resource;
        catalog.apply(changed).await;
        for c in catalog.configurations().await.unwrap() {
            assert!(
                c.rendered.contains("old.example.net"),
                "stale, as a crash leaves it"
            );
        }
    }
    let catalog = Catalog::open(Store::open(dir.path()).unwrap())
        .await
        .unwrap();
    let configs = catalog.configurations().await.unwrap();
    assert_eq!(configs.len(), 5);
    for c in configs {
        assert!(
            c.rendered.contains("new.example.net") && !c.rendered.contains("old.example.net"),
            "{} version {} is current:\n{}",
            c.config.metadata.name,
            c.version,
            c.rendered
        );
        assert_eq!(c.version, 2, "one new version each");
    }
    // A start with nothing stale changes nothing.
    drop(catalog);
    let catalog = Catalog::open(Store::open(dir.path()).unwrap())
        .await
        .unwrap();
    assert!(
        catalog
            .configurations()
            .await
            .unwrap()
            .iter()
            .all(|c| c.version == 2)
    );
}
