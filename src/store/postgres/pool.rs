//! A small pool of blocking PostgreSQL connections.
//!
//! The store's methods run on tokio's blocking pool, one call per thread, so a pool is a
//! list of idle clients behind a mutex: a call takes one (or opens one, up to `max`),
//! and gives it back when done. A client whose connection broke is dropped, and the next
//! call opens a fresh one, so a database restart costs the calls in flight, not the
//! server.
//!
//! `postgres::Client` owns a small tokio runtime of its own; dropping one inside an async
//! context panics, so clients are always dropped on a plain thread (see [`discard`]).

use std::str::FromStr;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use postgres::config::Host;
use postgres::{Client, Config, NoTls};

use crate::store::error::{StoreError, StoreResult};

/// How long a call waits for a connection when all are busy.
const CHECKOUT_WAIT: Duration = Duration::from_secs(30);
/// Used unless the URL gives `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Pool {
    connector: Connector,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Client>,
    /// Clients open, idle or lent out.
    open: usize,
}

/// Opens connections of the pool's settings; cheap to clone (the change listener keeps
/// one to reconnect with).
#[derive(Clone)]
pub(super) struct Connector {
    config: Config,
    location: String,
}

impl Connector {
    /// A new connection, outside any pool.
    pub(super) fn connect(&self) -> StoreResult<Client> {
        self.config
            .connect(NoTls)
            .map_err(|e| StoreError::Unreachable {
                location: self.location.clone(),
                detail: super::detail(&e),
            })
    }

    pub(super) fn location(&self) -> &str {
        &self.location
    }
}

/// A lent client; goes back to the pool when dropped.
pub(super) struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl Pool {
    /// Parses the URL; connects nothing yet.
    pub(super) fn new(url: &str, max: usize) -> StoreResult<Pool> {
        let mut config = Config::from_str(url).map_err(|e| StoreError::BadStoreUrl {
            given: crate::redact::url_without_password(url),
            detail: e.to_string(),
        })?;
        if config.get_hosts().is_empty() {
            return Err(StoreError::BadStoreUrl {
                given: crate::redact::url_without_password(url),
                detail: "no host given".into(),
            });
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("fleetdeck");
        }
        // A replica whose peer vanished without closing learns it from the kernel.
        config.keepalives(true);
        Ok(Pool {
            connector: Connector {
                location: location(&config),
                config,
            },
            max: max.max(1),
            state: Mutex::new(PoolState::default()),
            freed: Condvar::new(),
        })
    }

    /// The database as messages name it: never the password.
    pub(super) fn location(&self) -> &str {
        self.connector.location()
    }

    pub(super) fn connector(&self) -> &Connector {
        &self.connector
    }

    pub(super) fn get(&self) -> StoreResult<Conn<'_>> {
        let deadline = Instant::now() + CHECKOUT_WAIT;
        let mut state = self.lock();
        loop {
            while let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                    discard(client);
                    continue;
                }
                return Ok(Conn {
                    pool: self,
                    client: Some(client),
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connector.connect() {
                    Ok(client) => Ok(Conn {
                        pool: self,
                        client: Some(client),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Postgres {
                    operation: "take a database connection".into(),
                    location: self.location().to_string(),
                    detail: format!(
                        "all {} connections stayed busy for {} s",
                        self.max,
                        CHECKOUT_WAIT.as_secs()
                    ),
                });
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // The state is two plain fields, consistent after every statement.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        discard_all(idle);
    }
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Only taken in Drop.
        self.client
            .as_ref()
            .expect("a lent connection holds its client")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a lent connection holds its client")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut state = self.pool.lock();
        if client.is_closed() {
            state.open -= 1;
            drop(state);
            discard(client);
        } else {
            state.idle.push(client);
            drop(state);
        }
        self.pool.freed.notify_one();
    }
}

/// Drops a client on a plain thread: its runtime must not be dropped on a runtime thread.
pub(super) fn discard(client: Client) {
    discard_all(vec![client]);
}

fn discard_all(clients: Vec<Client>) {
    if clients.is_empty() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("fleetdeck-pg-close".into())
        .spawn(move || drop(clients))
        .map(|t| t.join());
}

/// `postgres://user@host:port/dbname` from the parsed settings: whatever form the URL
/// had, the password is not in it.
fn location(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}:{port}", dir.display()),
            }
        })
        .collect();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or_default();
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_never_shows_the_password() {
        for url in [
            "postgres://fleet:hunter2@db.example:6543/fleet",
            "postgresql://fleet@db.example:6543/fleet?password=hunter2",
            "host=db.example port=6543 user=fleet password=hunter2 dbname=fleet",
        ] {
            let pool = Pool::new(url, 2).unwrap();
            assert_eq!(pool.location(), "postgres://fleet@db.example:6543/fleet");
        }
    }

    #[test]
    fn a_url_that_does_not_parse_is_named_without_its_password() {
        let err = Pool::new("postgres://fleet:hunter2@db/fleet?sslmode=sometimes", 2)
            .err()
            .expect("refused");
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("postgres://fleet:***@db/fleet"), "{text}");
    }
}
