//! The store tests run against every backend: a test is a function of a [`Site`] (where
//! its database lives), and [`both_backends!`] makes a `#[test]` of it per backend.

use std::sync::Arc;

use fleetdeck::store::{PgStore, SqliteStore, Store, StoreBackend, StoreOptions};

/// Where one test's store lives: a temp data dir for SQLite, a fresh database for
/// PostgreSQL. Opening it again reopens the same data.
pub struct Site {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL URL; `None` for SQLite.
    pub url: Option<String>,
}

impl Site {
    pub fn sqlite() -> Site {
        Site {
            dir: tempfile::tempdir().expect("temp dir"),
            url: None,
        }
    }

    /// `None` when PostgreSQL is missing and this is not CI (the test is skipped).
    pub fn postgres() -> Option<Site> {
        Some(Site {
            dir: tempfile::tempdir().expect("temp dir"),
            url: Some(super::pg::database()?),
        })
    }

    pub fn open(&self) -> Box<dyn StoreBackend> {
        self.open_with(StoreOptions::default())
    }

    pub fn open_with(&self, options: StoreOptions) -> Box<dyn StoreBackend> {
        match &self.url {
            None => Box::new(SqliteStore::open_with(self.dir.path(), options).expect("opens")),
            Some(url) => Box::new(PgStore::open_with(url, options).expect("opens")),
        }
    }

    /// The async handle the server uses, on this site's data.
    pub async fn handle(&self) -> Store {
        Store::open_selected(
            self.url.as_deref(),
            self.dir.path(),
            StoreOptions::default(),
        )
        .await
        .expect("opens")
    }

    /// The async handle over a backend opened with `options`.
    pub async fn handle_with(&self, options: StoreOptions) -> Store {
        Store::open_selected(self.url.as_deref(), self.dir.path(), options)
            .await
            .expect("opens")
    }
}

/// The same store behind an `Arc`, for code that takes a shared backend.
pub fn shared(store: Box<dyn StoreBackend>) -> Arc<dyn StoreBackend> {
    Arc::from(store)
}

/// `both_backends!(sync: a, b; async: c, d)` makes `sqlite::a`, `postgres::a`, … each
/// calling the test function of that name with its site.
#[macro_export]
macro_rules! both_backends {
    (sync: $($sync:ident),* $(,)?; async: $($async:ident),* $(,)?) => {
        mod sqlite {
            use super::common::stores::Site;
            $(
                #[test]
                fn $sync() {
                    super::$sync(&Site::sqlite());
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $async() {
                    super::$async(&Site::sqlite()).await;
                }
            )*
        }
        mod postgres {
            use super::common::stores::Site;
            $(
                #[test]
                fn $sync() {
                    if let Some(site) = Site::postgres() {
                        super::$sync(&site);
                    }
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $async() {
                    if let Some(site) = Site::postgres() {
                        super::$async(&site).await;
                    }
                }
            )*
        }
    };
}
