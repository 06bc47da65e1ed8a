//! What the supervisor asks the Collector binary itself: its version, the components it
//! was built with (`otelcol components`) and whether it accepts a configuration
//! (`otelcol validate`). Each is a short-lived child process with a deadline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::client::core::kv;
use crate::opamp::proto;

/// How long `--version`, `components` and `validate` may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of a validator's message we report (the server shows it to operators).
const MAX_MESSAGE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("cannot run the Collector {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the Collector {path} did not answer `{args}` within {QUERY_TIMEOUT:?}")]
    Timeout { path: PathBuf, args: String },
    #[error("the Collector {path} answered `{args}` with something unexpected: {reason}")]
    Unexpected {
        path: PathBuf,
        args: String,
        reason: String,
    },
}

/// One Collector binary on disk.
#[derive(Debug, Clone)]
pub struct CollectorBinary {
    pub path: PathBuf,
}

/// What `otelcol components` says, reduced to what OpAMP carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Components {
    /// The distribution's name (`buildinfo.command`, e.g. `otelcontribcol`).
    pub command: String,
    pub version: String,
    /// `receivers`, `processors`, … → type → Go module (`path vX.Y.Z`).
    pub by_kind: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(serde::Deserialize)]
struct ComponentsDoc {
    #[serde(default)]
    buildinfo: BuildInfo,
    #[serde(flatten)]
    kinds: BTreeMap<String, serde_norway::Value>,
}

#[derive(Default, serde::Deserialize)]
struct BuildInfo {
    #[serde(default)]
    command: String,
    #[serde(default)]
    version: String,
}

/// The component kinds a Collector configuration has, as `components` names them.
pub const KINDS: [&str; 5] = [
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "extensions",
];

impl Components {
    /// Reads the YAML `otelcol components` prints.
    pub fn parse(text: &str) -> Result<Components, String> {
        let doc: ComponentsDoc = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let mut by_kind = BTreeMap::new();
        for kind in KINDS {
            let mut types = BTreeMap::new();
            if let Some(serde_norway::Value::Sequence(items)) = doc.kinds.get(kind) {
                for item in items {
                    let field = |k: &str| item.get(k).and_then(|v| v.as_str()).unwrap_or("");
                    if !field("name").is_empty() {
                        types.insert(field("name").to_string(), field("module").to_string());
                    }
                }
            }
            by_kind.insert(kind.to_string(), types);
        }
        Ok(Components {
            command: doc.buildinfo.command,
            version: doc.buildinfo.version,
            by_kind,
        })
    }

    /// The OpAMP form: a map per kind keyed by type, each with the Go module split into
    /// `code.namespace` and `code.version`, and a hash over all of it.
    pub fn to_proto(&self) -> proto::AvailableComponents {
        let mut hasher = Sha256::new();
        let components = self
            .by_kind
            .iter()
            .map(|(kind, types)| {
                let sub = types
                    .iter()
                    .map(|(name, module)| {
                        hasher.update(format!("{kind}\0{name}\0{module}\n"));
                        let (namespace, version) =
                            module.split_once(' ').unwrap_or((module.as_str(), ""));
                        let details = proto::ComponentDetails {
                            metadata: vec![
                                kv("code.namespace", namespace),
                                kv("code.version", version),
                            ],
                            sub_component_map: Default::default(),
                        };
                        (name.clone(), details)
                    })
                    .collect();
                let details = proto::ComponentDetails {
                    metadata: Vec::new(),
                    sub_component_map: sub,
                };
                (kind.clone(), details)
            })
            .collect();
        proto::AvailableComponents {
            components,
            hash: hasher.finalize().to_vec(),
        }
    }

    /// Whether the binary has a component of `kind` and `type`.
    pub fn has(&self, kind: &str, type_name: &str) -> bool {
        self.by_kind
            .get(kind)
            .is_some_and(|t| t.contains_key(type_name))
    }
}

/// How a `validate` run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// The validator's own words (the part after `Error:`, trimmed and bounded).
    Invalid(String),
}

impl CollectorBinary {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CollectorBinary { path: path.into() }
    }

    async fn run(
        &self,
        args: &[&str],
        env: &[(String, String)],
    ) -> Result<std::process::Output, BinaryError> {
        let mut cmd = Command::new(&self.path);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|source| BinaryError::Spawn {
            path: self.path.clone(),
            source,
        })?;
        match tokio::time::timeout(QUERY_TIMEOUT, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(source)) => Err(BinaryError::Spawn {
                path: self.path.clone(),
                source,
            }),
            Err(_) => Err(BinaryError::Timeout {
                path: self.path.clone(),
                args: args.join(" "),
            }),
        }
    }

    /// The version `--version` prints (its last word, e.g. `0.135.0-dev`).
    pub async fn version(&self) -> Result<String, BinaryError> {
        let out = self.run(&["--version"], &[]).await?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .last()
            .filter(|_| out.status.success())
            .map(str::to_string)
            .ok_or_else(|| BinaryError::Unexpected {
                path: self.path.clone(),
                args: "--version".into(),
                reason: format!("exit {}, output {:?}", out.status, text.trim()),
            })
    }

    pub async fn components(&self) -> Result<Components, BinaryError> {
        let out = self.run(&["components"], &[]).await?;
        let unexpected = |reason: String| BinaryError::Unexpected {
            path: self.path.clone(),
            args: "components".into(),
            reason,
        };
        if !out.status.success() {
            return Err(unexpected(format!("exit {}", out.status)));
        }
        Components::parse(&String::from_utf8_lossy(&out.stdout)).map_err(unexpected)
    }

    /// Runs the Collector's own validator on `configs`, merged as a run merges them
    /// (with the environment the Collector will run with, so `${env:…}` references
    /// resolve the same way).
    pub async fn validate(
        &self,
        configs: &[std::path::PathBuf],
        env: &[(String, String)],
    ) -> Result<Verdict, BinaryError> {
        let args: Vec<String> = std::iter::once("validate".to_string())
            .chain(configs.iter().map(|c| format!("--config={}", c.display())))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run(&args, env).await?;
        if out.status.success() {
            return Ok(Verdict::Valid);
        }
        Ok(Verdict::Invalid(validator_message(
            &out.stderr,
            &out.stdout,
        )))
    }
}

/// The useful part of what a failed `validate` printed: the first `Error:` paragraph
/// without the Go log prefix and the repeated copy, bounded in size.
pub fn validator_message(stderr: &[u8], stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(if stderr.is_empty() { stdout } else { stderr });
    let start = text.find("Error: ").map_or(0, |i| i + "Error: ".len());
    let rest = &text[start..];
    // Go's log line repeats the message after a timestamp; stop there.
    let end = rest
        .find("\n20")
        .filter(|i| rest[i + 1..].contains(" collector server run finished"))
        .unwrap_or(rest.len());
    let message: String = rest[..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    bounded(&message, MAX_MESSAGE)
}

/// At most `max` bytes of `s`, cut at a character boundary and marked when cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENTS: &str = "buildinfo:\n    command: otelcontribcol\n    version: 0.135.0-dev\nreceivers:\n    - name: filelog\n      module: github.com/x/filelogreceiver v0.135.0\n      stability:\n        logs: Beta\nprocessors:\n    - name: batch\n      module: go.opentelemetry.io/collector/processor/batchprocessor v0.135.0\nexporters:\n    - name: otlphttp\n      module: go.opentelemetry.io/collector/exporter/otlphttpexporter v0.135.0\nconnectors: []\nextensions: []\nproviders:\n    - scheme: env\n      module: x v1\n";

    #[test]
    fn components_become_the_opamp_map() {
        let c = Components::parse(COMPONENTS).expect("parses");
        assert_eq!(
            (c.command.as_str(), c.version.as_str()),
            ("otelcontribcol", "0.135.0-dev")
        );
        assert!(c.has("receivers", "filelog") && c.has("exporters", "otlphttp"));
        assert!(!c.has("receivers", "otlp") && !c.has("providers", "env"));
        let p = c.to_proto();
        let filelog = &p.components["receivers"].sub_component_map["filelog"];
        let meta: Vec<_> = filelog.metadata.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(meta, ["code.namespace", "code.version"]);
        assert!(p.components["extensions"].sub_component_map.is_empty());
        assert_eq!(p.hash.len(), 32);
        // the hash changes with the components
        let mut other = c.clone();
        other
            .by_kind
            .get_mut("receivers")
            .map(|r| r.remove("filelog"));
        assert_ne!(other.to_proto().hash, p.hash);
    }

    #[test]
    fn garbage_components_output_is_an_error() {
        assert!(Components::parse("receivers: [").is_err());
    }

    #[test]
    fn validator_message_keeps_the_first_error() {
        let stderr = b"Error: failed to get config: cannot unmarshal the configuration: decoding failed due to the following error(s):\n\n'receivers' error reading configuration for \"filelog\": decoding failed due to the following error(s):\n\n'' has invalid keys: bogus_key\n2026/12/07 13:40:29 collector server run finished with error: failed to get config: same again\n";
        let m = validator_message(stderr, b"");
        assert!(m.starts_with("failed to get config"), "{m}");
        assert!(m.ends_with("'' has invalid keys: bogus_key"), "{m}");
        assert!(!m.contains("run finished"), "{m}");
        assert_eq!(bounded("ééé", 3), "é…");
    }
}
