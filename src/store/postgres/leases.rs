//! Which replica drives each rollout: a session advisory lock per rollout, all held on
//! one connection of this process's own. PostgreSQL drops them with that connection, so
//! when a replica dies (kill -9, a lost network) its rollouts are free for the others at
//! once; when our own connection is lost we hold nothing until we take them again.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use postgres::Client;

use super::pool::{Connector, discard};
use crate::store::error::StoreResult;

/// The first key of every rollout lease (the second is a hash of the configuration name).
const ROLLOUT_LEASE: i32 = 0x4644_434C;

pub(super) struct Leases {
    connector: Connector,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    client: Option<Client>,
    held: BTreeSet<String>,
}

impl Leases {
    pub(super) fn new(connector: Connector) -> Leases {
        Leases {
            connector,
            state: Mutex::new(State::default()),
        }
    }

    /// Takes the lease on `name`, or confirms we still hold it (our connection is alive).
    pub(super) fn hold(&self, name: &str) -> StoreResult<bool> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.client.as_ref().is_some_and(|c| c.is_closed()) {
            state.drop_client();
        }
        if state.held.contains(name) {
            // Held as long as the connection lives; a cheap round trip says whether it
            // does.
            let alive = state
                .client
                .as_mut()
                .is_some_and(|c| c.simple_query("SELECT 1").is_ok());
            if alive {
                return Ok(true);
            }
            tracing::warn!(
                location = self.connector.location(),
                "lost the connection holding this replica's rollouts; taking them again"
            );
            state.drop_client();
        }
        if state.client.is_none() {
            let mut client = self.connector.connect()?;
            // The server drops a dead replica's leases once it sees the connection gone:
            // at once after a crash of the process (the kernel closes its sockets), within
            // about 15 s when the whole machine vanishes (these probes, instead of the
            // system's two hours).
            if let Err(e) = client.batch_execute(
                "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; \
                 SET tcp_keepalives_count = 5;",
            ) {
                tracing::debug!("keepalives for the lease connection: {e}");
            }
            state.client = Some(client);
        }
        let Some(client) = state.client.as_mut() else {
            return Ok(false);
        };
        let taken = client.query_one(
            "SELECT pg_try_advisory_lock($1, hashtext($2))",
            &[&ROLLOUT_LEASE, &name],
        );
        match taken {
            Ok(row) => {
                let taken: bool = row.get(0);
                if taken {
                    state.held.insert(name.to_string());
                }
                Ok(taken)
            }
            Err(e) => {
                let err = super::error("take a rollout lease", self.connector.location(), &e);
                state.drop_client();
                Err(err)
            }
        }
    }

    pub(super) fn release(&self, name: &str) -> StoreResult<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.held.remove(name) {
            return Ok(());
        }
        let Some(client) = state.client.as_mut() else {
            return Ok(());
        };
        if let Err(e) = client.execute(
            "SELECT pg_advisory_unlock($1, hashtext($2))",
            &[&ROLLOUT_LEASE, &name],
        ) {
            let err = super::error("release a rollout lease", self.connector.location(), &e);
            state.drop_client();
            return Err(err);
        }
        Ok(())
    }
}

impl State {
    /// Every lease goes with the connection.
    fn drop_client(&mut self) {
        self.held.clear();
        if let Some(client) = self.client.take() {
            discard(client);
        }
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = state.client.take() {
            discard(client);
        }
    }
}
