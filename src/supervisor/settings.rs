//! The supervisor's settings: flags win over `FLEETDECK_*` environment variables, which
//! win over the `[agent]` section of fleetdeck.toml, which wins over the defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::args::{AgentArgs, SimTransport};
use crate::redact::redact_opt;
use crate::settings::AgentFileSettings;

#[derive(derive_more::Debug, Clone)]
pub struct AgentSettings {
    pub server: String,
    pub collector: PathBuf,
    pub collector_config: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub name: Option<String>,
    pub labels: Vec<(String, String)>,
    #[debug("{}", redact_opt(secret_key))]
    pub secret_key: Option<String>,
    pub transport: SimTransport,
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub settle: Duration,
    pub heartbeat: Duration,
    /// The signing key configurations must carry (`ed25519:…`); `None`: pin the first.
    pub trust_key: Option<String>,
    pub allow_unsigned: bool,
    /// Tap the Collector's pipelines (`fleetdeck tap`); off with `--no-tap`.
    pub tap: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentSettingsError {
    #[error("{0}")]
    File(#[from] crate::settings::SettingsError),
    #[error("no server: give --server ws://HOST:4320/v1/opamp (or `server` under [agent] in {0})")]
    NoServer(String),
    #[error(
        "no Collector: give --collector PATH (or FLEETDECK_COLLECTOR, or `collector` under [agent])"
    )]
    NoCollector,
    #[error("the Collector {0} does not exist or is not a file")]
    CollectorMissing(PathBuf),
    #[error("--label {0:?}: expected KEY=VALUE")]
    BadLabel(String),
    #[error("--trust-key: {0}")]
    TrustKey(String),
    #[error("[agent] transport {0:?}: expected ws or http")]
    BadTransport(String),
    #[error("--tls-cert and --tls-key go together")]
    HalfIdentity,
    #[error("no state directory: give --state-dir (no platform data directory was found)")]
    NoStateDir,
}

impl AgentSettings {
    pub fn resolve(args: &AgentArgs) -> Result<AgentSettings, AgentSettingsError> {
        let (file, path) = crate::settings::load_file(args.config.as_deref())?;
        let file = file.agent.unwrap_or_default();
        Self::merge(args, file, path)
    }

    fn merge(
        args: &AgentArgs,
        file: AgentFileSettings,
        file_path: Option<PathBuf>,
    ) -> Result<AgentSettings, AgentSettingsError> {
        let server = args.server.clone().or(file.server).ok_or_else(|| {
            AgentSettingsError::NoServer(
                file_path.map_or_else(|| "fleetdeck.toml".to_string(), |p| p.display().to_string()),
            )
        })?;
        let collector = args
            .collector
            .clone()
            .or(file.collector)
            .ok_or(AgentSettingsError::NoCollector)?;
        if !collector.is_file() {
            return Err(AgentSettingsError::CollectorMissing(collector));
        }
        let mut labels = file.labels;
        for pair in &args.labels {
            let (k, v) = pair
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| AgentSettingsError::BadLabel(pair.clone()))?;
            labels.insert(k.trim().to_string(), v.trim().to_string());
        }
        let transport = match (args.transport, file.transport.as_deref()) {
            (Some(t), _) => t,
            (None, None) => SimTransport::Ws,
            (None, Some("ws")) => SimTransport::Ws,
            (None, Some("http")) => SimTransport::Http,
            (None, Some(other)) => return Err(AgentSettingsError::BadTransport(other.into())),
        };
        let tls_cert = args.tls_cert.clone().or(file.tls_cert);
        let tls_key = args.tls_key.clone().or(file.tls_key);
        if tls_cert.is_some() != tls_key.is_some() {
            return Err(AgentSettingsError::HalfIdentity);
        }
        let state_dir = args
            .state_dir
            .clone()
            .or(file.state_dir)
            .or_else(|| {
                directories::ProjectDirs::from("", "", "fleetdeck")
                    .map(|d| d.data_dir().join("agent"))
            })
            .ok_or(AgentSettingsError::NoStateDir)?;
        Ok(AgentSettings {
            server,
            collector,
            collector_config: args.collector_config.clone().or(file.collector_config),
            state_dir,
            name: args.name.clone().or(file.name),
            labels: labels.into_iter().collect(),
            secret_key: args.secret_key.clone().or(file.secret_key),
            transport,
            tls_ca: args.tls_ca.clone().or(file.tls_ca),
            tls_cert,
            tls_key,
            settle: Duration::from_secs(args.settle.or(file.settle).unwrap_or(5).max(1)),
            heartbeat: Duration::from_secs(args.heartbeat.or(file.heartbeat).unwrap_or(30).max(1)),
            trust_key: args
                .trust_key
                .clone()
                .or(file.trust_key)
                .map(|k| trust_key(&k))
                .transpose()
                .map_err(AgentSettingsError::TrustKey)?,
            allow_unsigned: args.allow_unsigned || file.allow_unsigned.unwrap_or(false),
            tap: !args.no_tap && file.tap.unwrap_or(true),
        })
    }
}

/// A key as given, or read from the file it names.
fn trust_key(given: &str) -> Result<String, String> {
    let path = std::path::Path::new(given.trim());
    let text = if path.is_file() {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        given.to_string()
    };
    crate::signing::parse_public_key(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;
    use std::collections::BTreeMap;

    fn args(extra: &[&str]) -> AgentArgs {
        let mut argv = vec!["fleetdeck", "agent"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Some(Command::Agent(a))) => a,
            other => panic!("not an agent command: {other:?}"),
        }
    }

    #[test]
    fn flags_win_over_the_file_and_labels_merge() {
        let tmp = tempfile::NamedTempFile::new().expect("tmp");
        let collector = tmp.path().to_str().expect("utf-8");
        let a = args(&[
            "--server",
            "ws://127.0.0.1:4320/v1/opamp",
            "--collector",
            collector,
            "--label",
            "tier=web",
            "--settle",
            "2",
        ]);
        let file = AgentFileSettings {
            server: Some("ws://elsewhere:1/v1/opamp".into()),
            labels: BTreeMap::from([("env".into(), "prod".into()), ("tier".into(), "db".into())]),
            transport: Some("http".into()),
            ..Default::default()
        };
        let s = AgentSettings::merge(&a, file, None).expect("valid");
        assert_eq!(s.server, "ws://127.0.0.1:4320/v1/opamp");
        assert_eq!(
            s.labels,
            vec![("env".into(), "prod".into()), ("tier".into(), "web".into())]
        );
        assert_eq!(s.transport, SimTransport::Http);
        assert_eq!(s.settle, Duration::from_secs(2));
    }

    #[test]
    fn missing_pieces_are_named() {
        let e = AgentSettings::merge(&args(&[]), AgentFileSettings::default(), None).unwrap_err();
        assert!(e.to_string().contains("--server"), "{e}");
        let e = AgentSettings::merge(
            &args(&["--server", "ws://x:1", "--collector", "/no/such/otelcol"]),
            AgentFileSettings::default(),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("/no/such/otelcol"), "{e}");
        let tmp = tempfile::NamedTempFile::new().expect("tmp");
        let collector = tmp.path().to_str().expect("utf-8");
        let e = AgentSettings::merge(
            &args(&[
                "--server",
                "ws://x:1",
                "--collector",
                collector,
                "--label",
                "novalue",
            ]),
            AgentFileSettings::default(),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"novalue\""), "{e}");
    }
}
