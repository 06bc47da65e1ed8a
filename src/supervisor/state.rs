//! The state directory: what a supervisor must remember across its own restarts.
//!
//! | file | holds |
//! |---|---|
//! | `instance-uid` | the agent's identity, generated once (or assigned by the server) |
//! | `state.json` | the last remote configuration status, the last good configuration's hash and the own-metrics destination (mode 0600: it holds the server's token) |
//! | `good.yaml` | the last good configuration as the server sent it |
//! | `collector.yaml`, `supervisor.yaml` | what the Collector runs: `good.yaml` as it is, and the supervisor's part |
//! | `pending.yaml` | a configuration being applied, so an apply cut short is finished at the next start |
//! | `candidate.yaml`, `candidate-supervisor.yaml` | a configuration being validated |
//! | `credential` | the agent's own credential, offered by the server (mode 0600); without it the agent connects with `--secret-key` and is enrolled |
//! | `collector.pid` | the running Collector, so a supervisor killed with -9 is followed by one that stops it |
//!
//! Every file is written to a temporary name, synced and renamed over the old one, so a
//! crash or a full disk leaves the previous version whole.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::client::{MetricsTarget, RemoteState};
use crate::fleet::agent::AgentId;

/// The file holding the agent's own credential.
pub const CREDENTIAL_FILE: &str = "credential";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
}

/// Durable facts kept in `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// What the server was last told about its remote configuration.
    pub remote: Option<RemoteState>,
    /// Hash of `good.yaml` when it came from the server (None: the local `--config`).
    #[serde(default, with = "opt_hex")]
    pub good_hash: Option<Vec<u8>>,
    pub metrics: Option<MetricsTarget>,
}

mod opt_hex {
    pub fn serialize<S: serde::Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = serde::Deserialize::deserialize(d)?;
        s.map(|s| hex::decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// Opens (creating, mode 0700) the directory.
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        let io = |source| StateError::Io {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The agent's uid: read, or generated (UUIDv7) and kept on first start.
    pub fn instance_uid(&self) -> Result<AgentId, StateError> {
        let path = self.path("instance-uid");
        match fs::read_to_string(&path) {
            Ok(text) => {
                let uuid = uuid::Uuid::parse_str(text.trim()).map_err(|e| StateError::Damaged {
                    path: path.clone(),
                    reason: format!("not a UUID ({e}); remove it to get a new identity"),
                })?;
                Ok(AgentId(*uuid.as_bytes()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let uid = AgentId(*uuid::Uuid::now_v7().as_bytes());
                self.set_instance_uid(uid)?;
                Ok(uid)
            }
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    pub fn set_instance_uid(&self, uid: AgentId) -> Result<(), StateError> {
        let text = format!("{}\n", uuid::Uuid::from_bytes(uid.0));
        self.write("instance-uid", text.as_bytes(), 0o644)
    }

    /// The agent's own credential, when the server gave it one.
    pub fn credential(&self) -> Result<Option<String>, StateError> {
        Ok(self
            .read(CREDENTIAL_FILE)?
            .and_then(|b| String::from_utf8(b).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    }

    /// Keeps the credential to connect with (`None`: back to the enrollment secret).
    pub fn set_credential(&self, credential: Option<&str>) -> Result<(), StateError> {
        match credential {
            Some(c) => self.write(CREDENTIAL_FILE, format!("{c}\n").as_bytes(), 0o600),
            None => {
                self.remove(CREDENTIAL_FILE);
                Ok(())
            }
        }
    }

    pub fn load(&self) -> Result<Saved, StateError> {
        let path = self.path("state.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StateError::Damaged {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Saved::default()),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    pub fn save(&self, saved: &Saved) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(saved).map_err(|e| StateError::Damaged {
            path: self.path("state.json"),
            reason: e.to_string(),
        })?;
        self.write("state.json", &bytes, 0o600)
    }

    /// Reads a file of the directory; `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.path(name);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    pub fn remove(&self, name: &str) {
        let _ = fs::remove_file(self.path(name));
    }

    /// Replaces `name` atomically: a temporary file, synced, renamed, directory synced.
    pub fn write(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), StateError> {
        let path = self.path(name);
        let tmp = self.path(&format!(".{name}.tmp"));
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let result = (|| {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(mode);
            }
            let mut file = options.open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            fs::File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RemoteStatus;

    #[test]
    fn identity_and_state_survive_a_reopen() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = StateDir::open(&tmp.path().join("agent")).expect("open");
        let uid = dir.instance_uid().expect("uid");
        let saved = Saved {
            remote: Some(RemoteState {
                hash: vec![1, 2],
                status: RemoteStatus::Failed,
                error: "rejected".into(),
            }),
            good_hash: Some(vec![3]),
            metrics: None,
        };
        dir.save(&saved).expect("save");
        let again = StateDir::open(&tmp.path().join("agent")).expect("reopen");
        assert_eq!(again.instance_uid().expect("uid"), uid);
        assert_eq!(again.load().expect("load"), saved);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(again.path("state.json"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn damaged_files_are_named() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = StateDir::open(tmp.path()).expect("open");
        fs::write(dir.path("instance-uid"), "not a uuid").expect("write");
        fs::write(dir.path("state.json"), "{").expect("write");
        let e = dir.instance_uid().unwrap_err().to_string();
        assert!(e.contains("instance-uid is damaged"), "{e}");
        let e = dir.load().unwrap_err().to_string();
        assert!(e.contains("state.json is damaged"), "{e}");
    }
}
