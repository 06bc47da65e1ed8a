//! Signed configurations. A configuration can make a Collector read any file and send it
//! anywhere, so the supervisor runs only what the server signed: the server keeps an
//! Ed25519 key pair in its data directory (`signing-key`, made on first start, 0600) and
//! signs each configuration's hash (SHA-256 of `collector.yaml`); `fleetdeck agent` checks
//! the signature against the key it trusts before anything runs.
//!
//! On the wire the signature travels as an OpAMP custom message of the capability
//! [`CAPABILITY`] beside the remote configuration, and only to agents that declare that
//! capability, so other clients get the configuration exactly as before.
//!
//! Rotation: `fleetdeck key rotate` keeps the old key as `signing-key.previous` and makes a
//! new one. While the previous key is there, every signature carries an endorsement: the
//! new public key signed by the previous one. A supervisor that trusts the previous key
//! checks the endorsement, moves its trust to the new key and keeps it. `fleetdeck key
//! retire` removes the previous key once every agent has moved.

use std::path::Path;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

/// The custom capability agents declare to be sent signatures.
pub const CAPABILITY: &str = "io.fleetdeck.signed-config";
/// The custom message type carrying one.
pub const MESSAGE_TYPE: &str = "signature";
/// The key file in the server's data directory.
pub const KEY_FILE: &str = "signing-key";
/// The key before the last rotation, kept to endorse the new one.
pub const PREVIOUS_KEY_FILE: &str = "signing-key.previous";
/// What an endorsement signs, before the new key's 32 bytes (never a configuration hash).
const ENDORSEMENT_CONTEXT: &[u8] = b"fleetdeck signing key endorsement\0";
const KEY_PREFIX: &str = "ed25519:";

/// A signature of one configuration hash, as the custom message carries it (JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigSignature {
    /// The signed configuration hash, hex.
    pub config_hash: String,
    /// The signer's public key, `ed25519:` and 64 hex digits.
    pub key: String,
    /// The signature of the 32 hash bytes, 128 hex digits.
    pub sig: String,
    /// After a rotation: `key` endorsed by the key before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endorsed_by: Option<Endorsement>,
}

/// A new signing key vouched for by the previous one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endorsement {
    /// The previous public key, `ed25519:` and 64 hex digits.
    pub key: String,
    /// Its signature of the new public key, 128 hex digits.
    pub sig: String,
}

/// The server's signing key.
pub struct ConfigSigner {
    key: SigningKey,
    /// Set while the key before a rotation is kept.
    endorsement: Option<Endorsement>,
}

impl std::fmt::Debug for ConfigSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigSigner({})", self.public_key())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}

impl ConfigSigner {
    /// The key in `data_dir`, made (0600) the first time, endorsed by the previous key when
    /// a rotation keeps one.
    pub fn load_or_create(data_dir: &Path) -> Result<ConfigSigner, KeyError> {
        let path = data_dir.join(KEY_FILE);
        let key = match read_seed(&path)? {
            Some(seed) => SigningKey::from_bytes(&seed),
            None => {
                let seed: [u8; 32] = rand::random();
                write_seed(&path, &seed)?;
                tracing::info!(path = %path.display(), "made a configuration signing key");
                SigningKey::from_bytes(&seed)
            }
        };
        let previous =
            read_seed(&data_dir.join(PREVIOUS_KEY_FILE))?.map(|s| SigningKey::from_bytes(&s));
        Ok(ConfigSigner::with_previous(key, previous.as_ref()))
    }

    fn with_previous(key: SigningKey, previous: Option<&SigningKey>) -> ConfigSigner {
        let endorsement = previous.map(|old| Endorsement {
            key: public_of(old),
            sig: hex::encode(
                old.sign(&endorsement_message(&key.verifying_key().to_bytes()))
                    .to_bytes(),
            ),
        });
        ConfigSigner { key, endorsement }
    }

    /// Makes a new key and keeps the current one as the previous key, which endorses the
    /// new one until [`ConfigSigner::retire_previous`]. Refused while a previous key is
    /// still kept (agents that have not moved would be lost). Returns (old, new) public keys.
    pub fn rotate(data_dir: &Path) -> Result<(String, String), KeyError> {
        let path = data_dir.join(KEY_FILE);
        let previous = data_dir.join(PREVIOUS_KEY_FILE);
        let fail = |path: &Path, reason: String| KeyError::File {
            path: path.display().to_string(),
            reason,
        };
        if previous.exists() {
            return Err(fail(
                &previous,
                "a rotation is still under way: once every agent has applied a configuration \
                 signed with the new key, `fleetdeck key retire`, then rotate again"
                    .into(),
            ));
        }
        let old_seed =
            read_seed(&path)?.ok_or_else(|| fail(&path, "no signing key to rotate".into()))?;
        // The old key is kept before the new one replaces it: a crash in between leaves
        // both files holding the old key, which signs and endorses itself harmlessly.
        write_seed(&previous, &old_seed)?;
        let new_seed: [u8; 32] = rand::random();
        write_seed(&path, &new_seed)?;
        Ok((
            public_of(&SigningKey::from_bytes(&old_seed)),
            public_of(&SigningKey::from_bytes(&new_seed)),
        ))
    }

    /// Forgets the previous key: signatures stop carrying endorsements. Returns its public
    /// key, or `None` when there was none.
    pub fn retire_previous(data_dir: &Path) -> Result<Option<String>, KeyError> {
        let previous = data_dir.join(PREVIOUS_KEY_FILE);
        let Some(seed) = read_seed(&previous)? else {
            return Ok(None);
        };
        std::fs::remove_file(&previous).map_err(|e| KeyError::File {
            path: previous.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Some(public_of(&SigningKey::from_bytes(&seed))))
    }

    /// The key before the last rotation, while it is kept.
    pub fn previous_key(&self) -> Option<&str> {
        self.endorsement.as_ref().map(|e| e.key.as_str())
    }

    /// From a seed (tests).
    pub fn from_seed(seed: [u8; 32]) -> ConfigSigner {
        ConfigSigner {
            key: SigningKey::from_bytes(&seed),
            endorsement: None,
        }
    }

    /// From a seed, endorsed by the previous seed's key (tests).
    pub fn from_seeds(seed: [u8; 32], previous: [u8; 32]) -> ConfigSigner {
        ConfigSigner::with_previous(
            SigningKey::from_bytes(&seed),
            Some(&SigningKey::from_bytes(&previous)),
        )
    }

    /// `ed25519:` and the public key in hex: what `fleetdeck key show` prints and
    /// `fleetdeck agent --trust-key` takes.
    pub fn public_key(&self) -> String {
        public_of(&self.key)
    }

    pub fn sign(&self, config_hash: &[u8; 32]) -> ConfigSignature {
        ConfigSignature {
            config_hash: hex::encode(config_hash),
            key: self.public_key(),
            sig: hex::encode(self.key.sign(config_hash).to_bytes()),
            endorsed_by: self.endorsement.clone(),
        }
    }
}

fn public_of(key: &SigningKey) -> String {
    format!(
        "{KEY_PREFIX}{}",
        hex::encode(key.verifying_key().to_bytes())
    )
}

fn endorsement_message(new_key: &[u8; 32]) -> Vec<u8> {
    [ENDORSEMENT_CONTEXT, new_key.as_slice()].concat()
}

fn read_seed(path: &Path) -> Result<Option<[u8; 32]>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => hex32(text.trim()).map(Some).ok_or_else(|| KeyError::File {
            path: path.display().to_string(),
            reason: "not a signing key (64 hex digits expected)".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

fn write_seed(path: &Path, seed: &[u8; 32]) -> Result<(), KeyError> {
    crate::private_file::write(path, &format!("{}\n", hex::encode(seed))).map_err(|e| {
        KeyError::File {
            path: path.display().to_string(),
            reason: format!("cannot write it: {e}"),
        }
    })
}

/// The key a signature's endorsement vouches for, when `trusted` made that endorsement:
/// the key an agent that trusts `trusted` should trust from now on.
pub fn endorsed_key(signature: &ConfigSignature, trusted: &str) -> Option<String> {
    let e = signature.endorsed_by.as_ref()?;
    let trusted = parse_public_key(trusted).ok()?;
    if parse_public_key(&e.key).ok()? != trusted {
        return None;
    }
    let new_key = parse_public_key(&signature.key).ok()?;
    let new_bytes = hex32(&new_key[KEY_PREFIX.len()..])?;
    let endorser = VerifyingKey::from_bytes(&hex32(&trusted[KEY_PREFIX.len()..])?).ok()?;
    let sig: [u8; 64] = hex::decode(e.sig.trim()).ok()?.try_into().ok()?;
    endorser
        .verify(
            &endorsement_message(&new_bytes),
            &Signature::from_bytes(&sig),
        )
        .ok()?;
    Some(new_key)
}

/// Why a configuration is refused, in words for the FAILED status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "unsigned configuration refused: this agent runs only configurations signed by the server's key (fleetdeck key show)"
    )]
    Unsigned,
    #[error("configuration signed by {signer}, not by the trusted key {trusted}")]
    OtherKey { signer: String, trusted: String },
    #[error("the configuration's signature does not verify with the trusted key {0}")]
    BadSignature(String),
    #[error("the signature is for another configuration (hash {signed}, received {received})")]
    OtherConfig { signed: String, received: String },
    #[error("the configuration's hash is not the SHA-256 of its collector.yaml")]
    HashMismatch,
    #[error("malformed signature: {0}")]
    Malformed(String),
}

/// A public key as written (`ed25519:` and 64 hex digits), checked.
pub fn parse_public_key(text: &str) -> Result<String, String> {
    let t = text.trim();
    let hexpart = t.strip_prefix(KEY_PREFIX).unwrap_or(t);
    let bytes = hex32(hexpart).ok_or_else(|| {
        format!(
            "'{t}' is not a public key: ed25519: and 64 hex digits, as `fleetdeck key show` prints"
        )
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("'{t}' is not an Ed25519 key: {e}"))?;
    Ok(format!("{KEY_PREFIX}{}", hex::encode(bytes)))
}

/// Checks that `body` is what `hash` names and that `signature` signs that hash with
/// `trusted`. Every way it can fail says which.
pub fn verify(
    body: &[u8],
    hash: &[u8],
    signature: Option<&ConfigSignature>,
    trusted: &str,
) -> Result<(), Refusal> {
    use sha2::{Digest, Sha256};
    let signature = signature.ok_or(Refusal::Unsigned)?;
    if Sha256::digest(body).as_slice() != hash {
        return Err(Refusal::HashMismatch);
    }
    let received = hex::encode(hash);
    if !signature.config_hash.eq_ignore_ascii_case(&received) {
        return Err(Refusal::OtherConfig {
            signed: short(&signature.config_hash),
            received: short(&received),
        });
    }
    let trusted = parse_public_key(trusted).map_err(Refusal::Malformed)?;
    let signer = parse_public_key(&signature.key).map_err(Refusal::Malformed)?;
    if signer != trusted {
        return Err(Refusal::OtherKey { signer, trusted });
    }
    let key_bytes =
        hex32(&trusted[KEY_PREFIX.len()..]).ok_or_else(|| Refusal::Malformed("key".into()))?;
    let key =
        VerifyingKey::from_bytes(&key_bytes).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let sig_bytes: [u8; 64] = hex::decode(signature.sig.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Refusal::Malformed("the signature is not 128 hex digits".into()))?;
    key.verify(hash, &Signature::from_bytes(&sig_bytes))
        .map_err(|_| Refusal::BadSignature(trusted))
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn hash(body: &[u8]) -> [u8; 32] {
        Sha256::digest(body).into()
    }

    #[test]
    fn a_signed_configuration_verifies_and_every_tampering_is_named() {
        let signer = ConfigSigner::from_seed([7; 32]);
        let other = ConfigSigner::from_seed([8; 32]);
        let body = b"receivers: {}\n";
        let h = hash(body);
        let sig = signer.sign(&h);
        let trusted = signer.public_key();
        assert_eq!(verify(body, &h, Some(&sig), &trusted), Ok(()));
        assert_eq!(verify(body, &h, None, &trusted), Err(Refusal::Unsigned));
        // Another body under the same hash, or a signature of another hash.
        assert_eq!(
            verify(b"exporters: {}\n", &h, Some(&sig), &trusted),
            Err(Refusal::HashMismatch)
        );
        let elsewhere = signer.sign(&hash(b"x"));
        assert!(matches!(
            verify(body, &h, Some(&elsewhere), &trusted),
            Err(Refusal::OtherConfig { .. })
        ));
        // Signed by a key this agent does not trust.
        let theirs = other.sign(&h);
        assert!(matches!(
            verify(body, &h, Some(&theirs), &trusted),
            Err(Refusal::OtherKey { .. })
        ));
        // The trusted key's name on another key's signature.
        let forged = ConfigSignature {
            key: trusted.clone(),
            ..theirs
        };
        assert_eq!(
            verify(body, &h, Some(&forged), &trusted),
            Err(Refusal::BadSignature(trusted.clone()))
        );
    }

    #[test]
    fn keys_are_made_once_privately_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let first = ConfigSigner::load_or_create(dir.path()).expect("made");
        let again = ConfigSigner::load_or_create(dir.path()).expect("read");
        assert_eq!(first.public_key(), again.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(KEY_FILE), "not hex").expect("write");
        let err = ConfigSigner::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("signing-key") && err.contains("64 hex"),
            "{err}"
        );
        assert!(parse_public_key(&first.public_key()).is_ok());
        assert!(parse_public_key("ed25519:zz").is_err());
    }

    #[test]
    fn a_rotated_key_is_endorsed_by_the_previous_one_and_nothing_else() {
        let rotated = ConfigSigner::from_seeds([2; 32], [1; 32]);
        let old = ConfigSigner::from_seed([1; 32]).public_key();
        let h = hash(b"receivers: {}\n");
        let sig = rotated.sign(&h);
        assert_eq!(endorsed_key(&sig, &old), Some(rotated.public_key()));
        // Only the previous key's endorsement counts.
        let stranger = ConfigSigner::from_seed([3; 32]).public_key();
        assert_eq!(endorsed_key(&sig, &stranger), None);
        // An endorsement moved onto another key's signature does not carry over.
        let mut moved = ConfigSigner::from_seed([4; 32]).sign(&h);
        moved.endorsed_by = sig.endorsed_by.clone();
        assert_eq!(endorsed_key(&moved, &old), None);
        // Without a rotation there is nothing to follow.
        assert_eq!(
            endorsed_key(&ConfigSigner::from_seed([1; 32]).sign(&h), &old),
            None
        );
    }

    #[test]
    fn rotate_keeps_the_old_key_until_retired_and_refuses_a_second_rotation() {
        let dir = tempfile::tempdir().expect("dir");
        let first = ConfigSigner::load_or_create(dir.path()).expect("made");
        let (old, new) = ConfigSigner::rotate(dir.path()).expect("rotated");
        assert_eq!(old, first.public_key());
        let now = ConfigSigner::load_or_create(dir.path()).expect("loaded");
        assert_eq!(now.public_key(), new);
        assert_eq!(now.previous_key(), Some(old.as_str()));
        let err = ConfigSigner::rotate(dir.path())
            .expect_err("under way")
            .to_string();
        assert!(err.contains("still under way"), "{err}");
        assert_eq!(
            ConfigSigner::retire_previous(dir.path()).expect("retired"),
            Some(old)
        );
        let after = ConfigSigner::load_or_create(dir.path()).expect("loaded");
        assert_eq!(after.previous_key(), None);
        assert!(after.sign(&[0; 32]).endorsed_by.is_none());
        assert_eq!(
            ConfigSigner::retire_previous(dir.path()).expect("none"),
            None
        );
    }
}
