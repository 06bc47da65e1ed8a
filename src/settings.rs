//! Settings: flags > `FLEETDECK_*` environment (both through clap) > `fleetdeck.toml` >
//! defaults. Also owns the data directory and the secrets generated into it.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::args::{LogFormat, ServerArgs};
use crate::listen::tls::TlsFiles;
use crate::redact::{redact, redact_opt, url_without_password};

pub const DEFAULT_LISTEN: &str = "0.0.0.0:4320";
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:4321";
const SECRET_FILE: &str = "agent-secret";
const TOKEN_FILE: &str = "api-token";
/// New agents taken on at once when many connect together.
pub const DEFAULT_MAX_NEW_AGENTS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings file {path} is not valid: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error("setting '{key}' in {path}: {message}")]
    BadValue {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
    #[error("cannot find a home directory to keep data in; pass --data-dir")]
    NoHome,
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or create {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is empty; delete it to have a new secret generated")]
    EmptySecret { path: PathBuf },
    #[error(
        "{from}: '{given}' is not a store fleetdeck knows; give a postgres:// URL \
         (postgres://user:password@host:5432/dbname), or sqlite for the file in the data dir"
    )]
    BadStore { from: String, given: String },
    #[error("{what} must not be 0")]
    Zero { what: &'static str },
    #[error(
        "TLS needs both a certificate and a key: {missing} is not set (--{flag} or '{key}' in the settings file)"
    )]
    TlsIncomplete {
        missing: &'static str,
        flag: &'static str,
        key: &'static str,
    },
}

/// `[agent]` in fleetdeck.toml. Every key is optional.
#[derive(derive_more::Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFileSettings {
    pub server: Option<String>,
    pub collector: Option<PathBuf>,
    pub collector_config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[debug("{}", redact_opt(secret_key))]
    pub secret_key: Option<String>,
    pub transport: Option<String>,
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Seconds a new configuration must run without trouble to count as applied.
    pub settle: Option<u64>,
    /// Heartbeat interval in seconds.
    pub heartbeat: Option<u64>,
    /// The server's signing key, or a file holding it.
    pub trust_key: Option<String>,
    /// Run configurations that come unsigned.
    pub allow_unsigned: Option<bool>,
    /// `false`: do not tap the Collector's pipelines (`--no-tap`).
    pub tap: Option<bool>,
}

/// The log filter from `FLEETDECK_LOG` (default `info`), with the log sources that would
/// print credentials capped: tungstenite traces every WebSocket frame's payload, and the
/// frames we send carry the agent secret and per-agent tokens in connection settings offers.
pub fn log_filter() -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLEETDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Only needed (and only added) when something may log at trace; added to an `info`
    // filter it would turn tungstenite's debug lines on.
    if filter.max_level_hint() < Some(tracing_subscriber::filter::LevelFilter::TRACE) {
        return filter;
    }
    match "tungstenite::protocol=debug".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    }
}

/// `fleetdeck.toml`. Every key is optional.
#[derive(derive_more::Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub listen: Option<String>,
    pub api_listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    #[debug("{:?}", store.as_deref().map(url_without_password))]
    pub store: Option<String>,
    #[debug("{}", redact_opt(secret_key))]
    pub secret_key: Option<String>,
    #[debug("{}", redact_opt(api_token))]
    pub api_token: Option<String>,
    pub theme: Option<String>,
    pub log_format: Option<LogFormat>,
    pub heartbeat_interval: Option<u64>,
    pub http_agent_timeout: Option<u64>,
    pub stall_timeout: Option<u64>,
    pub max_message_size: Option<usize>,
    pub max_agents: Option<usize>,
    pub max_new_agents: Option<usize>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    /// Terminal UI settings (`mouse`, `keymap`), handed to the TUI as they are.
    pub tui: Option<toml::Table>,
    /// `fleetdeck agent`'s settings.
    pub agent: Option<AgentFileSettings>,
}

/// Where a secret came from, so the banner can say where to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `--secret-key` or its environment variable.
    Given,
    /// The settings file.
    File(PathBuf),
    /// Read from the data dir.
    Stored(PathBuf),
    /// Generated now into the data dir.
    Generated(PathBuf),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Given => f.write_str("the command line or environment"),
            SecretSource::File(p) => write!(f, "settings file {}", p.display()),
            SecretSource::Stored(p) => write!(f, "{}", p.display()),
            SecretSource::Generated(p) => write!(f, "{} (generated now)", p.display()),
        }
    }
}

#[derive(derive_more::Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub api_listen: SocketAddr,
    /// Base URL agents reach us at, without a trailing slash.
    pub public_url: String,
    pub data_dir: PathBuf,
    /// A PostgreSQL URL for the store; `None`: the SQLite file in the data dir.
    #[debug("{:?}", store.as_deref().map(url_without_password))]
    pub store: Option<String>,
    #[debug("{}", redact(secret_key))]
    pub secret_key: String,
    pub secret_source: SecretSource,
    #[debug("{}", redact(api_token))]
    pub api_token: String,
    pub api_token_source: SecretSource,
    pub theme: Option<String>,
    pub log_format: LogFormat,
    pub heartbeat_interval: Duration,
    pub http_agent_timeout: Duration,
    /// A configuration sent without an answer for this long is shown as stalled.
    pub stall_timeout: Duration,
    pub max_message_size: usize,
    pub max_agents: Option<usize>,
    /// New agents taken on at once (a reconnect storm); 0 = no limit.
    pub max_new_agents: usize,
    /// Certificate and key for wss:// and https://; plain ws:// and http:// when `None`.
    pub tls: Option<TlsFiles>,
    pub tui: toml::Table,
    /// The settings file that was read, if any.
    pub config_file: Option<PathBuf>,
}

/// The default settings file location (`fleetdeck.toml` in the config dir).
pub fn default_config_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "fleetdeck")
        .map(|d| d.config_dir().join("fleetdeck.toml"))
}

/// Where the server keeps its data when neither a flag nor the settings file says.
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "fleetdeck").map(|d| d.data_dir().to_path_buf())
}

impl Settings {
    /// Resolves the server's settings from the command line (and environment) and the file.
    pub fn resolve(args: &ServerArgs) -> Result<Settings, SettingsError> {
        let (file, file_path) = load_file(args.config.as_deref())?;
        let at = file_path.clone().unwrap_or_default();
        let addr = |flag: Option<SocketAddr>,
                    file_value: &Option<String>,
                    key: &'static str,
                    default: &str|
         -> Result<SocketAddr, SettingsError> {
            if let Some(a) = flag {
                return Ok(a);
            }
            let text = file_value.as_deref().unwrap_or(default);
            text.parse().map_err(|e| SettingsError::BadValue {
                path: at.clone(),
                key,
                message: format!("'{text}' is not an address like 0.0.0.0:4320 ({e})"),
            })
        };
        let listen = addr(args.listen, &file.listen, "listen", DEFAULT_LISTEN)?;
        let api_listen = addr(
            args.api_listen,
            &file.api_listen,
            "api_listen",
            DEFAULT_API_LISTEN,
        )?;
        let data_dir = match args.data_dir.clone().or(file.data_dir.clone()) {
            Some(d) => d,
            None => default_data_dir().ok_or(SettingsError::NoHome)?,
        };
        ensure_private_dir(&data_dir)?;
        let store = store_url(args.store.as_deref(), file.store.as_deref(), &at)?;

        let (secret_key, secret_source) = secret(
            args.secret_key.clone(),
            file.secret_key.clone(),
            file_path.as_deref(),
            &data_dir.join(SECRET_FILE),
        )?;
        let (api_token, api_token_source) = secret(
            args.api_token.clone(),
            file.api_token.clone(),
            file_path.as_deref(),
            &data_dir.join(TOKEN_FILE),
        )?;

        let heartbeat = args
            .heartbeat_interval
            .or(file.heartbeat_interval)
            .unwrap_or(30);
        if heartbeat == 0 {
            return Err(SettingsError::Zero {
                what: "heartbeat_interval",
            });
        }
        let http_timeout = file
            .http_agent_timeout
            .unwrap_or(heartbeat.saturating_mul(3));
        let stall = args.stall_timeout.or(file.stall_timeout).unwrap_or(60);
        if stall == 0 {
            return Err(SettingsError::Zero {
                what: "stall_timeout",
            });
        }
        let max_message_size = args
            .max_message_size
            .or(file.max_message_size)
            .unwrap_or(4 * 1024 * 1024);
        if max_message_size == 0 {
            return Err(SettingsError::Zero {
                what: "max_message_size",
            });
        }
        let tls = tls_files(args, &file)?;
        let public_url = args
            .public_url
            .clone()
            .or(file.public_url.clone())
            .unwrap_or_else(|| default_public_url(listen, tls.is_some()))
            .trim_end_matches('/')
            .to_string();

        Ok(Settings {
            listen,
            api_listen,
            public_url,
            data_dir,
            store,
            secret_key,
            secret_source,
            api_token,
            api_token_source,
            theme: args.theme.clone().or(file.theme.clone()),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            heartbeat_interval: Duration::from_secs(heartbeat),
            http_agent_timeout: Duration::from_secs(http_timeout.max(1)),
            stall_timeout: Duration::from_secs(stall),
            max_message_size,
            max_agents: args.max_agents.or(file.max_agents),
            max_new_agents: args
                .max_new_agents
                .or(file.max_new_agents)
                .unwrap_or(DEFAULT_MAX_NEW_AGENTS),
            tls,
            tui: file.tui.unwrap_or_default(),
            config_file: file_path,
        })
    }

    /// Settings for tests and embedded use: loopback, port 0, secrets given.
    pub fn ephemeral(data_dir: &Path, secret_key: &str) -> Settings {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: String::new(),
            data_dir: data_dir.to_path_buf(),
            store: None,
            secret_key: secret_key.to_string(),
            secret_source: SecretSource::Given,
            api_token: format!("{secret_key}-api"),
            api_token_source: SecretSource::Given,
            theme: None,
            log_format: LogFormat::Text,
            heartbeat_interval: Duration::from_secs(30),
            http_agent_timeout: Duration::from_secs(90),
            stall_timeout: Duration::from_secs(60),
            max_message_size: 4 * 1024 * 1024,
            max_agents: None,
            max_new_agents: DEFAULT_MAX_NEW_AGENTS,
            tls: None,
            tui: toml::Table::new(),
            config_file: None,
        }
    }
}

/// The store from `--store`/`FLEETDECK_STORE`, else the settings file's `store`:
/// a postgres:// URL, or `sqlite` (or nothing) for the file in the data dir.
fn store_url(
    given: Option<&str>,
    in_file: Option<&str>,
    file_path: &Path,
) -> Result<Option<String>, SettingsError> {
    let (value, from) = match (given, in_file) {
        (Some(v), _) => (v, "--store (or FLEETDECK_STORE)".to_string()),
        (None, Some(v)) => (v, format!("'store' in {}", file_path.display())),
        (None, None) => return Ok(None),
    };
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("sqlite") {
        return Ok(None);
    }
    if !crate::store::is_postgres_url(value) {
        return Err(SettingsError::BadStore {
            from,
            given: url_without_password(value),
        });
    }
    Ok(Some(value.to_string()))
}

/// The TLS files from flags/environment, else the settings file; certificate and key come
/// together or not at all.
fn tls_files(args: &ServerArgs, file: &FileSettings) -> Result<Option<TlsFiles>, SettingsError> {
    let cert = args.tls_cert.clone().or(file.tls_cert.clone());
    let key = args.tls_key.clone().or(file.tls_key.clone());
    let client_ca = args.tls_client_ca.clone().or(file.tls_client_ca.clone());
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert,
            key,
            client_ca,
        })),
        (None, None) if client_ca.is_none() => Ok(None),
        (None, _) => Err(SettingsError::TlsIncomplete {
            missing: "the certificate",
            flag: "tls-cert",
            key: "tls_cert",
        }),
        (Some(_), None) => Err(SettingsError::TlsIncomplete {
            missing: "the key",
            flag: "tls-key",
            key: "tls_key",
        }),
    }
}

/// Agents on other hosts cannot reach 0.0.0.0; point them at this host's loopback unless
/// told otherwise with `--public-url`.
fn default_public_url(listen: SocketAddr, tls: bool) -> String {
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        match listen {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}", listen.port())
}

pub fn load_file(
    explicit: Option<&Path>,
) -> Result<(FileSettings, Option<PathBuf>), SettingsError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match default_config_file() {
            Some(p) if p.exists() => p,
            _ => return Ok((FileSettings::default(), None)),
        },
    };
    let text = fs::read_to_string(&path).map_err(|source| SettingsError::ReadFile {
        path: path.clone(),
        source,
    })?;
    let parsed = toml::from_str(&text).map_err(|e| SettingsError::BadFile {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok((parsed, Some(path)))
}

fn ensure_private_dir(dir: &Path) -> Result<(), SettingsError> {
    let err = |source| SettingsError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(SettingsError::DataDir {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "it exists and is not a directory",
            ),
        });
    }
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    // Private whatever existed before: it holds the agent secret, the API token and the
    // store, whose configurations carry credentials.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Best effort for a directory another user owns: the store says so when it opens.
        let mode = fs::metadata(dir).map_err(err)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode & 0o700));
        }
    }
    Ok(())
}

/// A secret from the flag/env, else the settings file, else the data dir, else a new one
/// generated into the data dir with mode 0600. There is never a compiled-in default.
fn secret(
    given: Option<String>,
    in_file: Option<String>,
    file_path: Option<&Path>,
    stored: &Path,
) -> Result<(String, SecretSource), SettingsError> {
    if let Some(s) = given.filter(|s| !s.is_empty()) {
        return Ok((s, SecretSource::Given));
    }
    if let Some(s) = in_file.filter(|s| !s.is_empty()) {
        return Ok((
            s,
            SecretSource::File(file_path.unwrap_or(Path::new("")).to_path_buf()),
        ));
    }
    let err = |source| SettingsError::SecretFile {
        path: stored.to_path_buf(),
        source,
    };
    match fs::read_to_string(stored) {
        Ok(text) => {
            let s = text.trim().to_string();
            if s.is_empty() {
                return Err(SettingsError::EmptySecret {
                    path: stored.to_path_buf(),
                });
            }
            Ok((s, SecretSource::Stored(stored.to_path_buf())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = generate_secret();
            crate::private_file::write(stored, &format!("{s}\n")).map_err(err)?;
            Ok((s, SecretSource::Generated(stored.to_path_buf())))
        }
        Err(e) => Err(err(e)),
    }
}

fn generate_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> ServerArgs {
        ServerArgs {
            data_dir: Some(dir.to_path_buf()),
            config: Some(dir.join("none.toml")),
            ..ServerArgs::default()
        }
    }

    #[test]
    fn secrets_are_generated_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = args(dir.path());
        a.config = None;
        let s1 = Settings::resolve(&a).unwrap();
        assert!(matches!(s1.secret_source, SecretSource::Generated(_)));
        assert_eq!(s1.secret_key.len(), 48);
        let s2 = Settings::resolve(&a).unwrap();
        assert_eq!(s2.secret_key, s1.secret_key, "the stored secret is reused");
        assert!(matches!(s2.secret_source, SecretSource::Stored(_)));
        assert_ne!(s1.api_token, s1.secret_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleetdeck.toml");
        fs::write(
            &file,
            "listen = \"127.0.0.1:5000\"\nsecret_key = \"from-file\"\nheartbeat_interval = 10\n",
        )
        .unwrap();
        let mut a = args(dir.path());
        a.config = Some(file.clone());
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.listen, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(s.secret_key, "from-file");
        assert_eq!(s.heartbeat_interval, Duration::from_secs(10));
        assert_eq!(s.http_agent_timeout, Duration::from_secs(30));
        assert_eq!(s.public_url, "http://127.0.0.1:5000");
        a.listen = Some("127.0.0.1:6000".parse().unwrap());
        a.secret_key = Some("from-flag".into());
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.listen.port(), 6000);
        assert_eq!(s.secret_key, "from-flag");
    }

    #[test]
    fn the_store_comes_from_the_flag_or_the_file_and_sqlite_stays_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleetdeck.toml");
        let mut a = args(dir.path());
        a.config = Some(file.clone());
        fs::write(&file, "").unwrap();
        assert_eq!(
            Settings::resolve(&a).unwrap().store,
            None,
            "SQLite by default"
        );
        fs::write(&file, "store = \"postgres://fleet:pw@db/fleet\"\n").unwrap();
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.store.as_deref(), Some("postgres://fleet:pw@db/fleet"));
        let shown = format!("{s:?}");
        assert!(
            shown.contains("postgres://fleet:***@db/fleet") && !shown.contains(":pw@"),
            "{shown}"
        );
        a.store = Some("sqlite".into());
        assert_eq!(Settings::resolve(&a).unwrap().store, None, "the flag wins");
        a.store = Some("postgresql://other/fleet".into());
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.store.as_deref(), Some("postgresql://other/fleet"));
        a.store = Some("mysql://root:pw@db/fleet".into());
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(
            e.contains("--store") && e.contains("mysql://root:***@db/fleet"),
            "{e}"
        );
        a.store = None;
        fs::write(&file, "store = \"/var/lib/fleet.db\"\n").unwrap();
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(
            e.contains("'store' in") && e.contains("fleetdeck.toml"),
            "{e}"
        );
    }

    #[test]
    fn tls_files_come_from_flags_or_the_file_and_need_both_cert_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleetdeck.toml");
        let mut a = args(dir.path());
        a.config = Some(file.clone());
        fs::write(
            &file,
            "tls_cert = \"/etc/fd/cert.pem\"\ntls_key = \"/etc/fd/key.pem\"\n",
        )
        .unwrap();
        let s = Settings::resolve(&a).unwrap();
        let tls = s.tls.expect("tls from the file");
        assert_eq!(tls.cert, PathBuf::from("/etc/fd/cert.pem"));
        assert_eq!(tls.client_ca, None);
        assert!(s.public_url.starts_with("https://"), "{}", s.public_url);

        a.tls_client_ca = Some("/etc/fd/ca.pem".into());
        a.tls_key = Some("/flag/key.pem".into());
        let tls = Settings::resolve(&a).unwrap().tls.unwrap();
        assert_eq!(tls.key, PathBuf::from("/flag/key.pem"));
        assert_eq!(tls.client_ca, Some(PathBuf::from("/etc/fd/ca.pem")));

        fs::write(&file, "tls_cert = \"/etc/fd/cert.pem\"\n").unwrap();
        let e = Settings::resolve(&args_with(&file, dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--tls-key") && e.contains("tls_key"), "{e}");
        fs::write(&file, "tls_client_ca = \"/etc/fd/ca.pem\"\n").unwrap();
        let e = Settings::resolve(&args_with(&file, dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--tls-cert"), "{e}");
        fs::write(&file, "").unwrap();
        let s = Settings::resolve(&args_with(&file, dir.path())).unwrap();
        assert!(s.tls.is_none() && s.public_url.starts_with("http://"));
    }

    fn args_with(file: &Path, dir: &Path) -> ServerArgs {
        ServerArgs {
            config: Some(file.to_path_buf()),
            ..args(dir)
        }
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleetdeck.toml");
        fs::write(
            &file,
            "secret_key = \"file-secret-1\"\napi_token = \"file-token-2\"\n",
        )
        .unwrap();
        let parsed: FileSettings = toml::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
        let mut a = args_with(&file, dir.path());
        let s = Settings::resolve(&a).unwrap();
        a.secret_key = Some("flag-secret-3".into());
        a.api_token = Some("flag-token-4".into());
        let listener = crate::opamp::server::ListenerConfig {
            secret: s.secret_key.as_str().into(),
            ..Default::default()
        };
        let cli = crate::args::Cli::try_parse_from([
            "fleetdeck",
            "--secret-key",
            "flag-secret-3",
            "get",
            "agents",
            "--token",
            "flag-token-4",
        ])
        .unwrap();
        let profile = crate::args::Cli::try_parse_from([
            "fleetdeck",
            "profile",
            "create",
            "p",
            "--server",
            "http://x",
            "--token",
            "flag-token-4",
        ])
        .unwrap();
        let shown = format!("{s:?} {parsed:?} {a:?} {listener:?} {cli:?} {profile:?}");
        for secret in [
            "file-secret-1",
            "file-token-2",
            "flag-secret-3",
            "flag-token-4",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("secret_key: <redacted>"), "{shown}");
        assert!(shown.contains("token: Some(<redacted>)"), "{shown}");
    }

    #[test]
    fn bad_files_and_values_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleetdeck.toml");
        let mut a = args(dir.path());
        a.config = Some(file.clone());
        fs::write(&file, "listen = \"nowhere\"\n").unwrap();
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(
            e.contains("'listen'") && e.contains("fleetdeck.toml"),
            "{e}"
        );
        fs::write(&file, "lisen = 1\n").unwrap();
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("lisen") && e.contains("fleetdeck.toml"), "{e}");
        fs::write(&file, "heartbeat_interval = 0\n").unwrap();
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("heartbeat_interval"), "{e}");
        a.config = Some(dir.path().join("missing.toml"));
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("missing.toml"), "{e}");
    }
}
