//! Secret parameter values sealed at rest. A configuration's or destination's sensitive
//! parameters (passwords, API keys, tokens) are stored encrypted, so the database files
//! (and their WAL, and a copied backup) hold no credentials in clear.
//!
//! The keys live in `secrets-key` in the data directory (0600, beside `agent-secret`):
//! one line per key, `<id> <64 hex digits>`; the last line seals, every line opens. A
//! sealed value is the string `sealed:v1:<key id>:<hex of nonce, ciphertext and tag>`,
//! AES-256-GCM-SIV under a nonce derived from the value (HMAC-SHA-256), so one value seals
//! to the same text each time: applying a resource again stays "unchanged", and the only
//! thing the sealed form tells is whether two secrets are equal.
//!
//! Rotation: `fleetdeck secrets rotate-key` appends a new key; the next start of the
//! server seals every stored value with it, then drops the older keys from the file.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM_SIV, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use hmac::{KeyInit, Mac};

/// The key file in the data directory.
pub const KEY_FILE: &str = "secrets-key";
const PREFIX: &str = "sealed:v1:";
const HEADER: &str = "# fleetdeck: keys sealing secret parameters at rest. The last line seals; \
every line opens. Keep a copy with your backups: without it the stored secrets are lost.\n";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("{path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error(
        "a secret sealed with key '{id}' cannot be opened: {path} does not hold that key (was the file replaced or lost?)"
    )]
    UnknownKey { id: String, path: PathBuf },
    #[error("a sealed secret (key '{id}') is damaged or was not sealed with that key")]
    Damaged { id: String },
}

struct Key {
    id: String,
    bytes: [u8; 32],
}

/// The keys of one data directory.
pub struct Sealer {
    path: PathBuf,
    /// Oldest first; the last one seals.
    keys: Vec<Key>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        write!(f, "Sealer({}, keys {ids:?})", self.path.display())
    }
}

impl Sealer {
    /// The keys in `data_dir`, a first one made (0600) when there is no file yet.
    pub fn load_or_create(data_dir: &Path) -> Result<Sealer, SealError> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let sealer = Sealer {
                    path: path.clone(),
                    keys: vec![new_key()],
                };
                sealer.save()?;
                tracing::info!(path = %path.display(), "made a key sealing stored secrets");
                Ok(sealer)
            }
            Err(e) => Err(SealError::KeyFile {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// A sealer over a fixed key that is never written anywhere (tests).
    pub fn ephemeral(bytes: [u8; 32]) -> Sealer {
        Sealer {
            path: PathBuf::from("(in memory)"),
            keys: vec![Key {
                id: key_id(&bytes),
                bytes,
            }],
        }
    }

    fn parse(path: &Path, text: &str) -> Result<Sealer, SealError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| SealError::KeyFile {
                path: path.to_path_buf(),
                reason: format!("line {}: {why}", n + 1),
            };
            let (id, hex_key) = line
                .split_once(' ')
                .ok_or_else(|| bad("expected '<id> <64 hex digits>'"))?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_key.trim(), &mut bytes)
                .map_err(|_| bad("the key is not 64 hex digits"))?;
            if id != key_id(&bytes) {
                return Err(bad(&format!(
                    "the id '{id}' does not match its key (expected '{}')",
                    key_id(&bytes)
                )));
            }
            keys.push(Key {
                id: id.to_owned(),
                bytes,
            });
        }
        if keys.is_empty() {
            return Err(SealError::KeyFile {
                path: path.to_path_buf(),
                reason: "holds no key".into(),
            });
        }
        Ok(Sealer {
            path: path.to_path_buf(),
            keys,
        })
    }

    fn save(&self) -> Result<(), SealError> {
        let mut text = String::from(HEADER);
        for k in &self.keys {
            text.push_str(&format!("{} {}\n", k.id, hex::encode(k.bytes)));
        }
        crate::private_file::write(&self.path, &text).map_err(|e| SealError::KeyFile {
            path: self.path.clone(),
            reason: format!("cannot write it: {e}"),
        })
    }

    /// Where the keys are kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.current().id
    }

    /// How many keys the file holds (more than one between a rotation and the reseal).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    fn current(&self) -> &Key {
        // `parse` and the constructors never leave the list empty.
        &self.keys[self.keys.len() - 1]
    }

    /// Adds a new key that seals from now on; the older ones still open.
    pub fn rotate(data_dir: &Path) -> Result<String, SealError> {
        let mut sealer = Self::load_or_create(data_dir)?;
        let key = new_key();
        let id = key.id.clone();
        sealer.keys.push(key);
        sealer.save()?;
        Ok(id)
    }

    /// Drops every key but the current one from the file (once nothing stored is sealed
    /// with them). This sealer keeps them in memory until it is dropped.
    pub fn retire_old_keys(&self) -> Result<usize, SealError> {
        let old = self.keys.len() - 1;
        if old == 0 {
            return Ok(0);
        }
        let current = self.current();
        let kept = Sealer {
            path: self.path.clone(),
            keys: vec![Key {
                id: current.id.clone(),
                bytes: current.bytes,
            }],
        };
        kept.save()?;
        Ok(old)
    }

    /// `value` sealed with the current key; the same value gives the same text.
    pub fn seal(&self, value: &str) -> String {
        let key = self.current();
        let nonce_bytes = derive_nonce(&key.bytes, value.as_bytes());
        let mut buf = value.as_bytes().to_vec();
        let sealed = aead_key(&key.bytes).seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(key.id.as_bytes()),
            &mut buf,
        );
        // Sealing only fails for inputs longer than the cipher allows (about 64 GiB).
        if sealed.is_err() {
            buf.clear();
        }
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        format!("{PREFIX}{}:{}", key.id, hex::encode(out))
    }

    /// Whether `value` is sealed with the key that seals now.
    pub fn sealed_with_current(&self, value: &str) -> bool {
        value
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current().id)
    }

    /// The value of a sealed string; any other string is returned as it is.
    pub fn open(&self, value: &str) -> Result<String, SealError> {
        let Some(rest) = value.strip_prefix(PREFIX) else {
            return Ok(value.to_owned());
        };
        let (id, hex_body) = rest.split_once(':').unwrap_or((rest, ""));
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey {
                id: id.to_owned(),
                path: self.path.clone(),
            })?;
        let damaged = || SealError::Damaged { id: id.to_owned() };
        let mut body = hex::decode(hex_body).map_err(|_| damaged())?;
        if body.len() < NONCE_LEN {
            return Err(damaged());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&body[..NONCE_LEN]);
        let plain = aead_key(&key.bytes)
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.id.as_bytes()),
                &mut body[NONCE_LEN..],
            )
            .map_err(|_| damaged())?;
        String::from_utf8(plain.to_vec()).map_err(|_| damaged())
    }

    /// Opens every sealed string inside a JSON value, in place.
    pub fn open_json(&self, value: &mut serde_json::Value) -> Result<(), SealError> {
        match value {
            serde_json::Value::String(s) if s.starts_with(PREFIX) => {
                *s = self.open(s)?;
            }
            serde_json::Value::Array(items) => {
                for v in items {
                    self.open_json(v)?;
                }
            }
            serde_json::Value::Object(map) => {
                for v in map.values_mut() {
                    self.open_json(v)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Whether a JSON text holds any sealed string (cheap: no parse).
pub fn has_sealed(json: &str) -> bool {
    json.contains(PREFIX)
}

fn new_key() -> Key {
    let bytes: [u8; 32] = rand::random();
    Key {
        id: key_id(&bytes),
        bytes,
    }
}

/// A short name for a key that does not reveal it: the first 8 hex digits of a hash.
fn key_id(bytes: &[u8; 32]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest([b"fleetdeck secrets key id".as_slice(), bytes].concat());
    format!("k{}", hex::encode(&digest[..4]))
}

fn derive_nonce(key: &[u8; 32], value: &[u8]) -> [u8; NONCE_LEN] {
    // A key of its own for the nonce, so the cipher key never feeds HMAC directly.
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"fleetdeck nonce\0");
    mac.update(value);
    let tag = mac.finalize().into_bytes();
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&tag[..NONCE_LEN]);
    nonce
}

fn aead_key(bytes: &[u8; 32]) -> LessSafeKey {
    // A 32-byte key is always a valid AES-256 key.
    let unbound = UnboundKey::new(&AES_256_GCM_SIV, bytes)
        .unwrap_or_else(|_| unreachable!("32 bytes is an AES-256 key"));
    LessSafeKey::new(unbound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_seals_to_the_same_text_and_opens_again() {
        let s = Sealer::ephemeral([7; 32]);
        let sealed = s.seal("hunter2");
        assert!(sealed.starts_with("sealed:v1:k"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            s.seal("hunter2"),
            sealed,
            "deterministic: re-applies stay unchanged"
        );
        assert_ne!(s.seal("hunter3"), sealed);
        assert_eq!(s.open(&sealed).expect("opens"), "hunter2");
        assert_eq!(s.open("plain").expect("as is"), "plain");
    }

    #[test]
    fn a_wrong_key_or_a_changed_byte_is_a_clear_error() {
        let a = Sealer::ephemeral([1; 32]);
        let b = Sealer::ephemeral([2; 32]);
        let sealed = a.seal("token");
        let err = b.open(&sealed).expect_err("other key").to_string();
        assert!(
            err.contains(a.current_id()) && err.contains("does not hold"),
            "{err}"
        );
        let mut bent = sealed.clone();
        let last = bent.pop().expect("non-empty");
        bent.push(if last == '0' { '1' } else { '0' });
        let err = a.open(&bent).expect_err("tampered").to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(a.open("sealed:v1:").is_err());
    }

    #[test]
    fn the_key_file_is_private_rotates_and_retires() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Sealer::load_or_create(dir.path()).expect("made");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(first.path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let old = first.seal("pw");
        let new_id = Sealer::rotate(dir.path()).expect("rotated");
        let both = Sealer::load_or_create(dir.path()).expect("reloaded");
        assert_eq!(both.key_count(), 2);
        assert_eq!(both.current_id(), new_id);
        assert_eq!(both.open(&old).expect("old key still opens"), "pw");
        assert!(!both.sealed_with_current(&old));
        let resealed = both.seal("pw");
        assert!(both.sealed_with_current(&resealed));
        assert_eq!(both.retire_old_keys().expect("retired"), 1);
        let after = Sealer::load_or_create(dir.path()).expect("reloaded");
        assert_eq!(after.key_count(), 1);
        assert!(after.open(&old).is_err(), "the retired key is gone");
        assert_eq!(after.open(&resealed).expect("opens"), "pw");
    }

    #[test]
    fn a_broken_key_file_names_the_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(KEY_FILE), "# c\nk1 nothex\n").expect("write");
        let err = Sealer::load_or_create(dir.path())
            .expect_err("broken")
            .to_string();
        assert!(err.contains(KEY_FILE) && err.contains("line 2"), "{err}");
    }
}
