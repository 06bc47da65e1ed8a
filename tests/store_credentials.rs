//! Per-agent credentials kept in the store, on both backends: only hashes are written,
//! every state survives reopening, a record is found by any of its hashes, a revocation
//! outlives forgetting the agent, and a second process on the same data sees the first
//! one's credential (what a replica relies on).

mod common;

use common::stores::Site;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleetdeck::fleet::agent::AgentId;
use fleetdeck::fleet::credentials::{
    self, CredentialRecord, CredentialState, Presented, Refusal, Revocation,
};

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn credentials_live_through_enrolment_rotation_and_revocation(site: &Site) {
    let id = AgentId([7; 16]);
    let (first, second) = (credentials::mint(), credentials::mint());
    {
        let store = site.open();
        assert_eq!(store.credential(&id).unwrap(), None);
        // Offered: pending only.
        let kept = store
            .update_credential(&id, &mut |r| {
                credentials::offered(r, id, credentials::hash(&first))
            })
            .unwrap()
            .unwrap();
        assert_eq!(kept.state(), CredentialState::Enrolling);
        // The agent used it.
        store
            .update_credential(&id, &mut |r| {
                r.map(|r| credentials::confirmed(r, credentials::hash(&first), at(1_000)))
            })
            .unwrap();
        // A rotation offered the second one.
        store
            .update_credential(&id, &mut |r| {
                credentials::offered(r, id, credentials::hash(&second))
            })
            .unwrap();
    }
    // Reopened (a restarted server): both are accepted until the new one is used.
    let store = site.open();
    let r = store.credential(&id).unwrap().expect("kept");
    assert_eq!(r.state(), CredentialState::Rotating);
    assert_eq!(r.enrolled_at, Some(at(1_000)));
    for c in [&first, &second] {
        let found = store
            .credential_by_hash(&credentials::hash(c))
            .unwrap()
            .expect("found by hash");
        assert_eq!(found.agent, id);
        assert!(
            credentials::judge(
                id,
                Some(&found),
                Presented::Credential(credentials::hash(c))
            )
            .is_ok()
        );
    }
    store
        .update_credential(&id, &mut |r| {
            r.map(|r| credentials::confirmed(r, credentials::hash(&second), at(2_000)))
        })
        .unwrap();
    let found = store
        .credential_by_hash(&credentials::hash(&first))
        .unwrap()
        .expect("the retired one is still recognised");
    assert_eq!(
        credentials::judge(
            id,
            Some(&found),
            Presented::Credential(credentials::hash(&first))
        ),
        Err(Refusal::Retired { agent: id })
    );
    assert_eq!(
        store
            .credential_by_hash(&credentials::hash(&credentials::mint()))
            .unwrap(),
        None
    );
    // Revoked, then the agent forgotten: the revocation stays.
    store
        .update_credential(&id, &mut |r| {
            let mut r = r.unwrap_or_else(|| CredentialRecord::new(id));
            r.revoked = Some(Revocation {
                at: at(3_000),
                by: "alice".into(),
            });
            Some(r)
        })
        .unwrap();
    store.delete_agents(&[id]).unwrap();
    drop(store);
    let store = site.open();
    let r = store.credential(&id).unwrap().expect("kept");
    assert_eq!(r.state(), CredentialState::Revoked);
    assert_eq!(r.revoked.as_ref().map(|v| v.by.as_str()), Some("alice"));
    assert!(matches!(
        credentials::judge(id, Some(&r), Presented::Enrollment),
        Err(Refusal::Revoked { .. })
    ));
    assert_eq!(store.list_credentials().unwrap(), vec![r]);
}

fn nothing_but_hashes_is_written(site: &Site) {
    let id = AgentId([9; 16]);
    let c = credentials::mint();
    let store = site.open();
    store
        .update_credential(&id, &mut |r| {
            credentials::offered(r, id, credentials::hash(&c))
        })
        .unwrap();
    // A change that decides to write nothing leaves the record as it was.
    let same = store.update_credential(&id, &mut |_| None).unwrap();
    assert_eq!(same, store.credential(&id).unwrap());
    let none = store
        .update_credential(&AgentId([10; 16]), &mut |_| None)
        .unwrap();
    assert_eq!(none, None);
    assert_eq!(store.list_credentials().unwrap().len(), 1);
    drop(store);
    if site.url.is_none() {
        let db = std::fs::read(site.dir.path().join(fleetdeck::store::DB_FILE_NAME)).unwrap();
        let wal = std::fs::read(
            site.dir
                .path()
                .join(format!("{}-wal", fleetdeck::store::DB_FILE_NAME)),
        )
        .unwrap_or_default();
        let secret = &c.as_bytes()[credentials::PREFIX.len()..];
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "the credential itself was written to the database"
            );
        }
    }
}

/// Two processes on one database (replicas): what one writes, the other reads at once.
fn a_credential_minted_by_one_process_is_seen_by_another(site: &Site) {
    let id = AgentId([11; 16]);
    let c = credentials::mint();
    let one = site.open();
    let other = site.open();
    one.update_credential(&id, &mut |r| {
        credentials::offered(r, id, credentials::hash(&c))
    })
    .unwrap();
    let found = other
        .credential_by_hash(&credentials::hash(&c))
        .unwrap()
        .expect("seen by the other");
    assert_eq!(found.agent, id);
}

both_backends!(
    sync: credentials_live_through_enrolment_rotation_and_revocation,
    nothing_but_hashes_is_written,
    a_credential_minted_by_one_process_is_seen_by_another;
    async:
);
