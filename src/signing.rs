//! Signed configurations. A configuration can make a Collector read any file and send it
//! anywhere, so the supervisor runs only what the server signed: the server keeps an
//! Ed25519 key pair in its data directory (`signing-key`, made on first start, 0600) and
//! signs each configuration's hash (SHA-256 of `collector.yaml`); `fleetdeck agent` checks
//! the signature against the key it trusts before anything runs.
//!
//! On the wire the signature travels as an OpAMP custom message of the capability
//! [`CAPABILITY`] beside the remote configuration, and only to agents that declare that
//! capability, so other clients get the configuration exactly as before.

use std::path::Path;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

/// The custom capability agents declare to be sent signatures.
pub const CAPABILITY: &str = "io.fleetdeck.signed-config";
/// The custom message type carrying one.
pub const MESSAGE_TYPE: &str = "signature";
/// The key file in the server's data directory.
pub const KEY_FILE: &str = "signing-key";
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
}

/// The server's signing key.
pub struct ConfigSigner {
    key: SigningKey,
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
    /// The key in `data_dir`, made (0600) the first time.
    pub fn load_or_create(data_dir: &Path) -> Result<ConfigSigner, KeyError> {
        let path = data_dir.join(KEY_FILE);
        let fail = |reason: String| KeyError::File {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let seed = hex32(text.trim())
                    .ok_or_else(|| fail("not a signing key (64 hex digits expected)".into()))?;
                Ok(ConfigSigner {
                    key: SigningKey::from_bytes(&seed),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed: [u8; 32] = rand::random();
                crate::private_file::write(&path, &format!("{}\n", hex::encode(seed)))
                    .map_err(|e| fail(format!("cannot write it: {e}")))?;
                tracing::info!(path = %path.display(), "made a configuration signing key");
                Ok(ConfigSigner {
                    key: SigningKey::from_bytes(&seed),
                })
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// From a seed (tests).
    pub fn from_seed(seed: [u8; 32]) -> ConfigSigner {
        ConfigSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// `ed25519:` and the public key in hex: what `fleetdeck key show` prints and
    /// `fleetdeck agent --trust-key` takes.
    pub fn public_key(&self) -> String {
        format!(
            "{KEY_PREFIX}{}",
            hex::encode(self.key.verifying_key().to_bytes())
        )
    }

    pub fn sign(&self, config_hash: &[u8; 32]) -> ConfigSignature {
        ConfigSignature {
            config_hash: hex::encode(config_hash),
            key: self.public_key(),
            sig: hex::encode(self.key.sign(config_hash).to_bytes()),
        }
    }
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
}
