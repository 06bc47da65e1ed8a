//! The command line, as the design's contract table gives it: the shape of every command,
//! parsed by clap. The work is elsewhere: client verbs in `cli/`, `agent` in `supervisor/`,
//! `simulate` in `sim/`, the server in `runtime` (with `tui/` or `headless`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::redact::redact_opt;

#[derive(Debug, Parser)]
#[command(
    name = "fleetdeck",
    version,
    about = "Manage fleets of OpenTelemetry Collectors: an OpAMP server, a terminal UI and a CLI.",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub server: ServerArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings for running the server (the default command). Flags win over
/// `FLEETDECK_*` environment variables, which win over `fleetdeck.toml`.
#[derive(derive_more::Debug, Clone, Args, Default)]
pub struct ServerArgs {
    /// Run headless: structured logs on stdout, no terminal UI.
    #[arg(long)]
    pub no_tui: bool,

    /// Start a simulated fleet in the same process (what a new user runs first).
    #[arg(long)]
    pub demo: bool,

    /// How many simulated agents `--demo` starts.
    #[arg(long, default_value_t = 25, requires = "demo")]
    pub demo_agents: usize,

    /// A Collector binary for `--demo` to supervise beside the simulated fleet (default:
    /// otelcol-contrib or otelcol on PATH).
    #[arg(long, env = "FLEETDECK_COLLECTOR")]
    pub collector: Option<PathBuf>,

    /// Agent listener: OpAMP on /v1/opamp, OTLP/HTTP on /v1/{metrics,logs,traces}.
    #[arg(long, env = "FLEETDECK_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Management API listener.
    #[arg(long, env = "FLEETDECK_API_LISTEN")]
    pub api_listen: Option<SocketAddr>,

    /// Base URL agents can reach us at (used in own-telemetry offers).
    #[arg(long, env = "FLEETDECK_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Where the store, the agent secret and the API token live.
    #[arg(long, env = "FLEETDECK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Where the store lives: a postgres:// URL (replicas share one database), or
    /// `sqlite` for the embedded file in the data dir (the default).
    #[arg(long, env = "FLEETDECK_STORE", hide_env_values = true)]
    #[debug("{:?}", store.as_deref().map(crate::redact::url_without_password))]
    pub store: Option<String>,

    /// Secret agents must present (`Authorization: Secret-Key <k>` or `Bearer <k>`).
    #[arg(long, env = "FLEETDECK_SECRET_KEY", hide_env_values = true)]
    #[debug("{}", redact_opt(secret_key))]
    pub secret_key: Option<String>,

    /// Bearer token for the management API.
    #[arg(long, env = "FLEETDECK_API_TOKEN", hide_env_values = true)]
    #[debug("{}", redact_opt(api_token))]
    pub api_token: Option<String>,

    /// Colour theme for the terminal UI (dark, light, high-contrast, mono, or a file name).
    #[arg(long, env = "FLEETDECK_THEME")]
    pub theme: Option<String>,

    /// Settings file (default: fleetdeck.toml in the config directory).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,

    /// Log format in headless mode.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,

    /// Heartbeat interval offered to agents, in seconds (never 0).
    #[arg(long)]
    pub heartbeat_interval: Option<u64>,

    /// Seconds a pushed configuration may go unanswered before it shows as stalled.
    #[arg(long)]
    pub stall_timeout: Option<u64>,

    /// Largest OpAMP or OTLP message accepted, in bytes (after decompression).
    #[arg(long)]
    pub max_message_size: Option<usize>,

    /// Most agents held at once; new ones beyond it get 503 with Retry-After.
    #[arg(long)]
    pub max_agents: Option<usize>,

    /// New agents taken on at once when many connect together (after a restart); the rest
    /// get 503 with a Retry-After of a few seconds. 0 = no limit. [default: 1024]
    #[arg(long)]
    pub max_new_agents: Option<usize>,

    /// PEM certificate chain: serve wss:// and https:// (needs --tls-key).
    #[arg(long, env = "FLEETDECK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of the TLS certificate.
    #[arg(long, env = "FLEETDECK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificates: clients must present a certificate issued by one of them.
    #[arg(long, env = "FLEETDECK_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SimTransport {
    #[default]
    Ws,
    Http,
}

/// Where a client command finds the management API.
#[derive(derive_more::Debug, Clone, Args, Default)]
pub struct ClientArgs {
    /// Management API URL (overrides the current profile).
    #[arg(long, env = "FLEETDECK_SERVER", global = true)]
    pub server: Option<String>,

    /// API token (overrides the current profile).
    #[arg(
        long,
        env = "FLEETDECK_API_TOKEN",
        hide_env_values = true,
        global = true
    )]
    #[debug("{}", redact_opt(token))]
    pub token: Option<String>,

    /// Output format for listings.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t,
        global = true
    )]
    pub output: OutputFormat,

    /// CA certificate (PEM) to trust for an https:// server (default: the system's roots).
    #[arg(long, env = "FLEETDECK_CA", global = true)]
    pub ca: Option<PathBuf>,

    /// Client certificate (PEM) for a server that asks for one (with --client-key).
    #[arg(
        long,
        env = "FLEETDECK_CLIENT_CERT",
        global = true,
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,

    /// Private key (PEM) of --client-cert.
    #[arg(
        long,
        env = "FLEETDECK_CLIENT_KEY",
        global = true,
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run simulated agents against any OpAMP server.
    Simulate(SimulateArgs),
    /// Supervise a stock OpenTelemetry Collector and manage it over OpAMP.
    Agent(AgentArgs),
    /// List or show agents, configurations, destinations, resource types, rollouts, events,
    /// tokens, or the topology (which agent exports to which).
    Get {
        #[command(flatten)]
        client: ClientArgs,
        /// agents | configs | destinations | types | rollouts | events | tokens
        kind: String,
        /// Show one instead of listing (for rollouts: the configuration's name).
        name: Option<String>,
        /// Label selector for agents (k=v, k!=v, k in (a,b), k, !k).
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// With `get agent NAME`: its apply history, newest first (each configuration
        /// version sent to it and what became of it).
        #[arg(long)]
        history: bool,
        /// With `get events`: only the changes made with this API token.
        #[arg(long, value_name = "TOKEN_NAME")]
        actor: Option<String>,
        /// With `get events`: how many, newest first (default 50).
        #[arg(long)]
        limit: Option<usize>,
        /// With `get configuration NAME` (or `get agent ID`): each component's items per
        /// second (in, out, refused, dropped, failed, queue), under the names the
        /// configuration gives them.
        #[arg(long)]
        throughput: bool,
        /// With `--throughput`: the period (10s is the agents' latest reports).
        #[arg(long, value_parser = ["10s", "1m", "5m", "1h"])]
        period: Option<String>,
        /// With `--throughput`: only this signal.
        #[arg(long, value_parser = ["logs", "metrics", "traces"])]
        signal: Option<String>,
    },
    /// The busiest agents, configurations or destinations by their own telemetry (items per
    /// second, mean over the period), as `kubectl top` reads.
    Top {
        #[command(flatten)]
        client: ClientArgs,
        /// agents | configurations | destinations
        what: String,
        /// Only this signal (default: all three summed).
        #[arg(long, value_parser = ["logs", "metrics", "traces"])]
        signal: Option<String>,
        #[arg(long, default_value = "5m", value_parser = ["10s", "1m", "5m", "1h"])]
        period: String,
        /// What to sort by, busiest first.
        #[arg(long, default_value = "out", value_parser = ["in", "out", "failed"])]
        sort: String,
        /// Rows to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// The server's configuration signing key: `key show` prints the public key that
    /// `fleetdeck agent --trust-key` pins; `key rotate` (on the server's machine) makes a new
    /// key that the old one endorses, so agents follow it; `key retire` drops the old key
    /// once they have.
    Key {
        #[command(flatten)]
        client: ClientArgs,
        /// show | rotate | retire
        #[arg(value_parser = ["show", "rotate", "retire"])]
        action: String,
        /// The server's data directory (rotate and retire; default: the server's default).
        #[arg(long, env = "FLEETDECK_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Make or revoke named API tokens (viewer, operator, admin); list them with
    /// `get tokens`.
    Token {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Create or update resources from YAML files, a directory, or `-` for stdin.
    Apply {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(short = 'f', long = "file", required = true)]
        files: Vec<PathBuf>,
        /// Also delete the configurations, destinations and resource types the server has
        /// and the files do not (resources in use are kept and named).
        #[arg(long)]
        prune: bool,
        /// With --prune: list what would be deleted; apply and delete nothing.
        #[arg(long, requires = "prune")]
        dry_run: bool,
    },
    /// Write every stored resource, and the agents' operator labels, as files that `apply
    /// -f DIR` reads back unchanged (a Git folder for the fleet).
    Export {
        #[command(flatten)]
        client: ClientArgs,
        dir: PathBuf,
    },
    /// Delete a resource (refused while it is in use), or forget a disconnected agent
    /// (`delete agent ID|NAME`).
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        kind: String,
        name: String,
    },
    /// Set or remove (k-) server-side labels on an agent.
    Label {
        #[command(flatten)]
        client: ClientArgs,
        /// Must be `agent`.
        kind: String,
        id: String,
        labels: Vec<String>,
    },
    /// Print the Collector YAML a configuration renders to (offline).
    Render {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Extra resource types to load besides the built-in ones.
        #[arg(long)]
        types: Option<PathBuf>,
        /// Also run this Collector's `validate` on the result (exit 1 if it rejects it).
        #[arg(long, value_name = "OTELCOL")]
        validate_with: Option<PathBuf>,
    },
    /// Assign a configuration to agents and roll it out.
    Push {
        #[command(flatten)]
        client: ClientArgs,
        /// Configuration to roll out.
        // Its own id: the global `--config FILE` already uses `config`.
        #[arg(id = "config_name", value_name = "CONFIG")]
        config: String,
        /// Agents by id, short id or name, comma-separated.
        #[arg(long, value_delimiter = ',', conflicts_with = "selector")]
        agents: Vec<String>,
        /// Label selector choosing the agents (k=v, k!=v, k in (a,b), k, !k).
        #[arg(long)]
        selector: Option<String>,
        #[command(flatten)]
        rollout: RolloutFlags,
    },
    /// Follow or steer a configuration's rollout.
    Rollout {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        action: RolloutAction,
    },
    /// Show the newest items (log records, metric points, spans) one pipeline of an
    /// agent handles, asked for over OpAMP (agents supervised by `fleetdeck agent`).
    Tap {
        #[command(flatten)]
        client: ClientArgs,
        /// Must be `agent`.
        kind: String,
        /// The agent: id, short id or name.
        id: String,
        /// logs | metrics | traces: the first pipeline of that signal.
        #[arg(long)]
        signal: Option<String>,
        /// The pipeline, as the Collector names it (`logs/filelog`); default: the first.
        #[arg(long)]
        pipeline: Option<String>,
        /// Items to show (at most 1000; an answer also stops at 64 KiB).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Keep watching: print new items as they come, until Ctrl-C.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Seconds between two looks while following.
        #[arg(long, default_value_t = 2, requires = "follow")]
        every: u64,
    },
    /// Open the terminal UI on a running server, local or remote (e.g. over SSH).
    ///
    /// The fleet arrives live over the API's stream and every command goes through the
    /// API, with the token's role. Quitting leaves the server and its fleet running.
    /// Server, token and TLS files are found as for every client command (flags >
    /// FLEETDECK_* > the profile named here, else the current one > the local server).
    Attach {
        #[command(flatten)]
        client: ClientArgs,
        /// A profile to attach with instead of the current one (`fleetdeck profile list`).
        profile: Option<String>,
    },
    /// Ask an agent to restart.
    Restart {
        #[command(flatten)]
        client: ClientArgs,
        /// Must be `agent`.
        kind: String,
        id: String,
    },
    /// Give agents new credentials of their own. Connected agents are offered theirs at
    /// once and reconnect with it; the others get theirs when they next connect. Until an
    /// agent has connected with the new one, its old one still works; then it is refused.
    #[command(name = "rotate-credentials")]
    RotateCredentials {
        #[command(flatten)]
        client: ClientArgs,
        /// Label selector (`k=v,k2!=v2`; '' selects every agent).
        #[arg(long, short = 'l')]
        selector: Option<String>,
        /// Agent ids or names (comma-separated), instead of or beside a selector.
        #[arg(long, value_delimiter = ',')]
        agents: Vec<String>,
    },
    /// Revoke an agent: it is disconnected at once and refused from then on, whatever it
    /// presents (its credential, or the fleet secret under the same instance uid).
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        /// Must be `agent`.
        kind: String,
        /// The agent's id (a revoked agent that was forgotten is named by its full id).
        id: String,
        /// Lift the revocation: the agent's credentials are forgotten and it enrolls again
        /// with the fleet secret, as a new agent would.
        #[arg(long)]
        undo: bool,
    },
    /// Manage CLI profiles (server URL and token).
    Profile {
        #[command(subcommand)]
        action: ProfileAction,
    },
    /// The keys that seal secret parameters at rest (`<data dir>/secrets-key`).
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Write man pages generated from these definitions: fleetdeck.1 and one per command
    /// (fleetdeck-push.1, …) into DIR.
    Manpages { dir: PathBuf },
}

/// How `push` phases its rollout (defaults: the server's, 3 agents first, ×5 per phase,
/// halt at the first failure and roll the failed agents back).
#[derive(Debug, Clone, Args, Default)]
pub struct RolloutFlags {
    /// Configuration version to roll out (default: the latest).
    #[arg(long = "config-version")]
    pub config_version: Option<u64>,
    /// Agents in the first phase.
    #[arg(long)]
    pub initial: Option<usize>,
    /// Each phase is this many times the previous one (at least 1).
    #[arg(long)]
    pub multiplier: Option<f64>,
    /// No phase is larger than this.
    #[arg(long)]
    pub max_per_phase: Option<usize>,
    /// Failures tolerated before the rollout halts.
    #[arg(long)]
    pub max_failures: Option<usize>,
    /// What to roll back when the rollout halts.
    #[arg(long, value_enum)]
    pub rollback: Option<RollbackFlag>,
    /// Send to every target at once (one phase).
    #[arg(long, conflicts_with_all = ["initial", "multiplier", "max_per_phase"])]
    pub all_at_once: bool,
    /// Watch each agent's own telemetry this long after it applied (e.g. 60s, 2m): one
    /// whose exports fail or whose throughput falls counts as failed.
    #[arg(long, value_name = "DURATION", value_parser = crate::rollout::watch::parse_window)]
    pub watch: Option<u64>,
    /// With --watch: highest share of items failing to export (default 5%).
    #[arg(long, requires = "watch", value_name = "PERCENT",
          value_parser = crate::rollout::watch::parse_percent)]
    pub max_export_failures: Option<f64>,
    /// With --watch: largest fall of outgoing throughput against the agent's own rate
    /// before the change (default 50%).
    #[arg(long, requires = "watch", value_name = "PERCENT",
          value_parser = crate::rollout::watch::parse_percent)]
    pub max_throughput_drop: Option<f64>,
    /// Push even to agents whose reported components lack a type the configuration uses
    /// (otherwise refused, naming them).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RollbackFlag {
    None,
    Failed,
    All,
}

#[derive(Debug, Subcommand)]
pub enum RolloutAction {
    Status {
        /// The configuration whose rollout this is.
        #[arg(id = "config_name", value_name = "CONFIG")]
        config: String,
    },
    Pause {
        /// The configuration whose rollout this is.
        #[arg(id = "config_name", value_name = "CONFIG")]
        config: String,
    },
    Resume {
        /// The configuration whose rollout this is.
        #[arg(id = "config_name", value_name = "CONFIG")]
        config: String,
    },
    Cancel {
        /// The configuration whose rollout this is.
        #[arg(id = "config_name", value_name = "CONFIG")]
        config: String,
    },
    Rollback {
        /// The configuration whose rollout this is.
        #[arg(id = "config_name", value_name = "CONFIG")]
        config: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Make a token; it is printed once (the server keeps only its hash).
    Create {
        name: String,
        /// viewer: read; operator: also push, rollout actions, restart, labels; admin:
        /// also resources and tokens.
        #[arg(long, value_parser = ["viewer", "operator", "admin"])]
        role: String,
    },
    /// Revoke a token: requests with it are refused from now on.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Add a new key to the server's data directory. The server's next start seals every
    /// stored secret with it, then drops the older keys. Run it on the server's machine.
    RotateKey {
        /// The server's data directory (default: the server's default).
        #[arg(long, env = "FLEETDECK_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(derive_more::Debug, Subcommand)]
pub enum ProfileAction {
    Create {
        name: String,
        #[arg(long)]
        server: String,
        #[arg(long)]
        #[debug("{}", redact_opt(token))]
        token: Option<String>,
        /// CA certificate (PEM) to trust for this https:// server.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Client certificate (PEM) for a server that asks for one (with --client-key).
        #[arg(long, requires = "client_key")]
        client_cert: Option<PathBuf>,
        /// Private key (PEM) of --client-cert.
        #[arg(long, requires = "client_cert")]
        client_key: Option<PathBuf>,
    },
    Use {
        name: String,
    },
    List,
    Current,
    Delete {
        name: String,
    },
}

#[derive(derive_more::Debug, Clone, Args)]
pub struct SimulateArgs {
    /// OpAMP server URL, e.g. ws://127.0.0.1:4320/v1/opamp or http://…. Given several
    /// times (replicas), agents are spread over the URLs and move to the next when theirs
    /// goes away, as behind a load balancer.
    #[arg(long, required = true)]
    pub server: Vec<String>,
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    #[arg(long, value_enum, default_value_t)]
    pub transport: SimTransport,
    #[arg(long, env = "FLEETDECK_SECRET_KEY", hide_env_values = true)]
    #[debug("{}", redact_opt(secret_key))]
    pub secret_key: Option<String>,
    /// Fraction of agents (0..1) that reject every configuration.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// New connections per second while ramping up (0 = all at once).
    #[arg(long, default_value_t = 0.0)]
    pub ramp: f64,
    /// Source address range to spread connections over, e.g. 127.0.0.2-127.0.0.40.
    #[arg(long)]
    pub source_ips: Option<String>,
    /// Heartbeat interval in seconds until the server offers one.
    #[arg(long, default_value_t = 30)]
    pub heartbeat: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Seed for names and per-agent behaviour, so runs are reproducible.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Index of the first agent (run several processes with one seed: 0, 10000, …).
    #[arg(long, default_value_t = 0)]
    pub first_index: usize,
    /// gzip request bodies on the HTTP transport.
    #[arg(long)]
    pub gzip: bool,
    /// Agents take the per-agent credentials the server offers (they declare
    /// ReportsConnectionSettingsStatus beside AcceptsOpAMPConnectionSettings) and reconnect
    /// with them; kept in memory only, so a later run with the same seed (the same
    /// instance uids) is refused its enrollment: use another --seed.
    #[arg(long)]
    pub accept_credentials: bool,
    /// Seconds between own-metrics pushes, once the server offers a destination
    /// (0: never push, e.g. to measure idle agents).
    #[arg(long, default_value_t = 10)]
    pub metrics_interval: u64,
    /// Longest simulated Collector restart after a new configuration, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub apply_delay_ms: u64,
    /// PEM CA certificates to trust for wss:// and https:// (default: the system's); also
    /// used for the agents' own metrics.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate every simulated agent presents (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(derive_more::Debug, Clone, Args)]
pub struct AgentArgs {
    /// OpAMP server URL: ws://HOST:4320/v1/opamp, wss://…, or http(s)://… with --transport http.
    #[arg(long)]
    pub server: Option<String>,
    /// The Collector binary to supervise (otelcol-contrib, otelcol, …).
    #[arg(long, env = "FLEETDECK_COLLECTOR")]
    pub collector: Option<PathBuf>,
    /// A Collector configuration to run until the server sends one.
    #[arg(long)]
    pub collector_config: Option<PathBuf>,
    /// Where the identity, the last good configuration and the state live
    /// [default: <platform data dir>/agent].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// A name for this agent, shown by the server instead of the host name.
    #[arg(long)]
    pub name: Option<String>,
    /// A label the server's selectors can match (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Secret the server expects (`Authorization: Secret-Key <k>`).
    #[arg(long, env = "FLEETDECK_SECRET_KEY", hide_env_values = true)]
    #[debug("{}", redact_opt(secret_key))]
    pub secret_key: Option<String>,
    /// WebSocket (default) or plain HTTP polling.
    #[arg(long, value_enum)]
    pub transport: Option<SimTransport>,
    /// PEM CA certificates to trust for wss:// and https:// (default: the system's).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate for servers that require one (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a new configuration must run without trouble before it counts as applied
    /// [default: 5].
    #[arg(long)]
    pub settle: Option<u64>,
    /// Heartbeat interval in seconds [default: 30].
    #[arg(long)]
    pub heartbeat: Option<u64>,
    /// The server's configuration signing key (`fleetdeck key show`), or a file holding
    /// it. Without it the first signed configuration's key is pinned, with a warning.
    #[arg(long, value_name = "KEY|FILE")]
    pub trust_key: Option<String>,
    /// Run configurations that come unsigned (servers that do not sign); signed ones
    /// are still checked.
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Do not tap the Collector's pipelines (`fleetdeck tap`): no exporter to the
    /// supervisor is added to them, and the agent does not declare io.fleetdeck.tap.
    #[arg(long)]
    pub no_tap: bool,
    /// Settings file (default: fleetdeck.toml in the config directory).
    #[arg(long)]
    pub config: Option<PathBuf>,
}
