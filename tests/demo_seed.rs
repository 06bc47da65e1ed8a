//! `--demo` seeds its sample configurations once. On later starts it leaves them alone:
//! re-applying them made a new version on every start and rolled the sample out over
//! what the user had saved and pushed.

use fleetdeck::catalog::{ApplyStatus, Catalog};
use fleetdeck::store::{Store, StoreOptions};

#[tokio::test]
async fn the_demo_seeds_its_samples_once_and_keeps_the_users_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_async(dir.path(), StoreOptions::default())
        .await
        .expect("store");
    let catalog = Catalog::open(store).await.expect("catalog");
    let first = fleetdeck::demo::seed_samples(&catalog).await;
    assert_eq!(first, ["web-tier", "api-debug"]);
    // The user changes web-tier (version 2).
    let mine = "apiVersion: fleetdeck/v1\nkind: Configuration\nmetadata:\n  name: web-tier\nspec:\n  sources:\n    - type: otlp\n  destinations:\n    - type: debug\n";
    let applied = catalog.apply_text(mine, None).await.expect("parses");
    assert_eq!(applied[0].status, ApplyStatus::Configured);
    // The next demo start seeds nothing (so it rolls nothing out) and makes no version.
    let again = fleetdeck::demo::seed_samples(&catalog).await;
    assert!(again.is_empty(), "{again:?}");
    let web = catalog
        .configuration("web-tier", None)
        .await
        .expect("stored");
    assert_eq!(web.version, 2, "still the user's version");
    let debug = catalog
        .configuration("api-debug", None)
        .await
        .expect("stored");
    assert_eq!(debug.version, 1);
}
