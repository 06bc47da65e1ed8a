//! Who may do what through the management API: named tokens, each with a role.
//!
//! - `viewer` reads everything (agents, resources with secrets masked, rollouts, events).
//! - `operator` also steers the fleet: push, rollout actions, restart, labels, rotating
//!   agent credentials.
//! - `admin` also changes what is stored: apply and delete resources, forget and revoke
//!   agents, and manage tokens.
//!
//! The token in the data directory's `api-token` file (or `--api-token`) is the admin
//! token named `admin`; it exists before any other and cannot be revoked through the API
//! (change the file). Named tokens are made by the server (`fdt_` and 43 random
//! characters), shown once, and kept only as a SHA-256: a copy of the database does not
//! hand out access.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, TokenRecord};

/// The name the token from the `api-token` file acts under.
pub const BOOTSTRAP_NAME: &str = "admin";

/// What a token may do; each role includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether a token with this role may do what `needed` is required for.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    /// What the role may do, for error messages and `get tokens`.
    pub fn scope(self) -> &'static str {
        match self {
            Role::Viewer => "read",
            Role::Operator => "read, push, rollout actions, restart, labels, credential rotation",
            Role::Admin => "everything, including resources and tokens",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("'{s}' is not a role (viewer, operator or admin)"))
    }
}

/// Who made a request: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: Arc<str>,
    pub role: Role,
}

/// A fresh token: `fdt_` and 32 random bytes in URL-safe base64 (no padding).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("fdt_{}", base64url(&bytes))
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token name: 1-63 of `a-z 0-9 - _ .`, starting with a letter or digit (it appears in
/// events and URLs).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a token name: 1-63 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit"
        ))
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// The named tokens in the store, by hash.
async fn named_tokens(store: &Store) -> Result<HashMap<String, Actor>, StoreError> {
    let mut named = HashMap::new();
    for t in store.list_tokens().await? {
        match t.role.parse::<Role>() {
            Ok(role) => {
                named.insert(
                    t.hash,
                    Actor {
                        name: t.name.into(),
                        role,
                    },
                );
            }
            Err(e) => tracing::warn!(token = %t.name, "stored token ignored: {e}"),
        }
    }
    Ok(named)
}

/// The tokens the API accepts, looked up by hash; the store is the truth, this the cache.
#[derive(Clone)]
pub struct Tokens {
    bootstrap_hash: Arc<str>,
    named: Arc<RwLock<HashMap<String, Actor>>>,
    store: Store,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    BadName(String),
    #[error("a token named '{0}' exists; revoke it first or choose another name")]
    Exists(String),
    #[error("no token named '{0}'")]
    NoSuchToken(String),
    #[error(
        "'{BOOTSTRAP_NAME}' is the token in the server's api-token file; change the file to replace it"
    )]
    Bootstrap,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Tokens {
    /// Loads the named tokens; `bootstrap` is the token from the api-token file.
    pub async fn load(store: Store, bootstrap: &str) -> Result<Tokens, StoreError> {
        let named = named_tokens(&store).await?;
        Ok(Tokens {
            bootstrap_hash: token_hash(bootstrap).into(),
            named: Arc::new(RwLock::new(named)),
            store,
        })
    }

    /// Reads the named tokens again (another replica made or revoked one).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let named = named_tokens(&self.store).await?;
        *self.write() = named;
        Ok(())
    }

    /// Who presents `token`, if anyone. Comparing hashes, not tokens, keeps the time taken
    /// unrelated to how much of a guess was right.
    pub fn actor(&self, token: &str) -> Option<Actor> {
        let hash = token_hash(token);
        if hash == *self.bootstrap_hash {
            return Some(Actor {
                name: BOOTSTRAP_NAME.into(),
                role: Role::Admin,
            });
        }
        self.read().get(&hash).cloned()
    }

    /// Makes a token; returns it (the only time it is seen).
    pub async fn create(&self, name: &str, role: Role) -> Result<String, TokenError> {
        check_name(name).map_err(TokenError::BadName)?;
        if name == BOOTSTRAP_NAME {
            return Err(TokenError::Bootstrap);
        }
        let token = new_token();
        let record = TokenRecord {
            name: name.to_string(),
            role: role.as_str().to_string(),
            hash: token_hash(&token),
            created_at: std::time::SystemTime::now(),
        };
        if !self.store.create_token(record.clone()).await? {
            return Err(TokenError::Exists(name.to_string()));
        }
        self.write().insert(
            record.hash,
            Actor {
                name: name.into(),
                role,
            },
        );
        Ok(token)
    }

    /// Revokes a token: requests with it fail from now on.
    pub async fn revoke(&self, name: &str) -> Result<(), TokenError> {
        if name == BOOTSTRAP_NAME {
            return Err(TokenError::Bootstrap);
        }
        if !self.store.delete_token(name).await? {
            return Err(TokenError::NoSuchToken(name.to_string()));
        }
        self.write().retain(|_, a| &*a.name != name);
        Ok(())
    }

    /// Every named token as stored (never the tokens themselves).
    pub async fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        Ok(self.store.list_tokens().await?)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Actor>> {
        self.named.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Actor>> {
        self.named.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below_them() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert!(!Role::Operator.allows(Role::Admin));
        assert_eq!("Operator".parse::<Role>(), Ok(Role::Operator));
        assert!("root".parse::<Role>().unwrap_err().contains("not a role"));
    }

    #[test]
    fn tokens_are_long_random_and_kept_only_as_a_hash() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("fdt_") && a.len() == 4 + 43, "{a}");
        assert!(
            a[4..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        let h = token_hash(&a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&a[4..]));
    }

    #[test]
    fn base64url_matches_the_standard_alphabet() {
        assert_eq!(base64url(b"Ma"), "TWE");
        assert_eq!(base64url(b"Man"), "TWFu");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn token_names_are_short_and_plain() {
        assert!(check_name("ci-deploy.prod_1").is_ok());
        for bad in ["", "-x", "Has Caps", "a/b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
