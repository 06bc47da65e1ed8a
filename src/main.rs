//! Entry point: parse the command line and hand off to the matching mode.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fleetdeck::args::{Cli, Command};
use fleetdeck::args::{LogFormat, ServerArgs};
use fleetdeck::runtime::Runtime;
use fleetdeck::settings::Settings;

fn main() -> ExitCode {
    one_malloc_arena();
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.server),
        Some(Command::Simulate(args)) => block_on(fleetdeck::sim::run_cli(args)),
        Some(Command::Agent(args)) => {
            init_stderr_logging();
            block_on(fleetdeck::supervisor::run_cli(args))
        }
        Some(Command::Render {
            file,
            types,
            validate_with,
        }) => fleetdeck::cli::render::run(&file, types.as_deref(), validate_with.as_deref()),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "fleetdeck", &mut std::io::stdout());
            Ok(())
        }
        Some(Command::Manpages { dir }) => fleetdeck::cli::manpages::write(&dir),
        Some(Command::Secrets { action }) => fleetdeck::cli::keys::run(action),
        Some(Command::Attach { client, profile }) => attach(&cli.server, &client, profile),
        Some(client_command) => fleetdeck::cli::dispatch::run(client_command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetdeck: {}", describe(&e));
            ExitCode::from(fleetdeck::cli::usage::exit_code(&e))
        }
    }
}

/// The error and its causes on one line, skipping a cause its parent already quotes (our
/// errors name their cause in their own message).
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Runs an async command on a multi-threaded runtime.
fn block_on(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(fut);
    // Tasks still running (a connection mid-handshake, a blocking store call) do not hold
    // the process: what had to be saved was saved by the stop itself.
    rt.shutdown_timeout(Duration::from_secs(3));
    result
}

/// The server: with the terminal UI when stdout is a terminal, headless otherwise.
fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args)?;
    let tty = std::io::stdout().is_terminal();
    let headless = args.no_tui || !tty;
    if !args.no_tui && !tty {
        eprintln!("fleetdeck: stdout is not a terminal; running headless (--no-tui)");
    }
    // While the UI owns the screen, logs go to a file; the guard flushes it on exit.
    let (_log_guard, log_file) = if headless {
        init_stdout_logging(settings.log_format);
        (None, None)
    } else {
        let (guard, path) = init_file_logging(&settings)?;
        (Some(guard), Some(path))
    };
    block_on(async move {
        // Signals are hooked before the banner says we are up, so a SIGTERM sent the moment
        // the banner appears still shuts down cleanly instead of killing the process.
        let signals = ShutdownSignals::install();
        let rt = Runtime::start(&settings).await?;
        let events = rt.registry.subscribe();
        if headless {
            fleetdeck::headless::banner(&settings, &rt);
        }
        let demo = if args.demo {
            tracing::info!(agents = args.demo_agents, "starting the demo fleet");
            let collector = fleetdeck::demo::find_collector(args.collector.as_deref());
            Some(fleetdeck::demo::start(&rt, &settings, args.demo_agents, collector).await?)
        } else {
            None
        };
        let stop = rt.shutdown.clone();
        tokio::spawn(async move {
            signals.wait().await;
            tracing::info!("shutting down");
            stop.cancel();
        });
        let ui = if headless {
            fleetdeck::headless::log_until_shutdown(&rt, events, Duration::from_secs(30)).await;
            Ok(())
        } else {
            drop(events);
            run_tui(&rt, &settings).await
        };
        rt.shutdown.cancel();
        if let Some(demo) = demo {
            demo.shutdown().await;
        }
        rt.stop().await;
        tracing::info!("stopped");
        if let Some(path) = log_file {
            eprintln!("fleetdeck stopped; the log is in {}", path.display());
        }
        ui
    })
}

/// `fleetdeck attach`: the terminal UI on a server elsewhere. The server and token are
/// resolved as for every client command; settings (theme, keys) come from this user's
/// `fleetdeck.toml`, as for `fleetdeck` itself.
fn attach(
    server: &ServerArgs,
    client: &fleetdeck::args::ClientArgs,
    profile: Option<String>,
) -> anyhow::Result<()> {
    use fleetdeck::tui::TuiSettings;
    let c = fleetdeck::cli::client::Client::from_args_and_profile(client, profile.as_deref())?;
    let (file, path) = fleetdeck::settings::load_file(server.config.as_deref())?;
    let tui = file.tui.clone().unwrap_or_default();
    let settings = TuiSettings {
        theme: server.theme.clone().or(file.theme.clone()),
        keymap: tui
            .get("keymap")
            .and_then(|k| k.as_table())
            .cloned()
            .unwrap_or_default(),
        mouse: tui.get("mouse").and_then(|m| m.as_bool()).unwrap_or(false),
        origin: path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "defaults".to_string()),
        warnings: Vec::new(),
    };
    block_on(fleetdeck::attach::run(c, settings))
}

/// The terminal UI over a running server.
async fn run_tui(rt: &Runtime, settings: &Settings) -> anyhow::Result<()> {
    use fleetdeck::settings::SecretSource;
    use fleetdeck::tui::{ServerInfo, TuiContext, TuiSettings};
    let secret_file = match &settings.secret_source {
        SecretSource::Stored(p) | SecretSource::Generated(p) => p.clone(),
        _ => settings.data_dir.join("agent-secret"),
    };
    let tui = &settings.tui;
    let ctx = TuiContext {
        snapshot: rt.registry.snapshot(),
        events: rt.registry.subscribe(),
        telemetry: std::sync::Arc::new(rt.telemetry.clone()),
        server_info: ServerInfo {
            listen: rt.agent_addr,
            api_listen: rt.api_addr,
            public_url: rt.public_url.clone(),
            secret_file,
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
        settings: TuiSettings {
            theme: settings.theme.clone(),
            keymap: tui
                .get("keymap")
                .and_then(|k| k.as_table())
                .cloned()
                .unwrap_or_default(),
            mouse: tui.get("mouse").and_then(|m| m.as_bool()).unwrap_or(false),
            origin: settings
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "defaults".to_string()),
            warnings: Vec::new(),
        },
        shutdown: rt.shutdown.clone(),
        services: std::sync::Arc::new(
            fleetdeck::tui::Local::new(
                rt.registry.clone(),
                rt.catalog.clone(),
                rt.rollouts.clone(),
            )
            .with_telemetry(rt.telemetry.clone()),
        ),
        link: None,
    };
    fleetdeck::tui::run(ctx).await
}

/// Logs to `fleetdeck.log` in the data dir (non-blocking writer).
fn init_file_logging(
    settings: &Settings,
) -> anyhow::Result<(
    tracing_appender::non_blocking::WorkerGuard,
    std::path::PathBuf,
)> {
    let path = settings.data_dir.join("fleetdeck.log");
    let file = fleetdeck::logfile::RotatingFile::open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open the log file {}: {e}", path.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = fleetdeck::settings::log_filter();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .init();
    Ok((guard, path))
}

fn init_stdout_logging(format: LogFormat) {
    let filter = fleetdeck::settings::log_filter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// `fleetdeck agent` logs to stderr, like the Collector it runs (and journald takes both).
fn init_stderr_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(fleetdeck::settings::log_filter())
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// glibc gives each thread that allocates its own arena; with thousands of connections served
/// by every worker, each arena keeps its own free lists and fragments on its own. One arena
/// held 0.4 KiB less per idle agent at 10,000 agents with the same CPU per heartbeat
/// (BENCHMARKS.md). Set before any thread starts.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocator settings, and no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// SIGINT and SIGTERM, registered when created (tokio's `ctrl_c()` would only register
/// on its first poll, leaving a window where the default action kills the process).
struct ShutdownSignals {
    #[cfg(unix)]
    hooks: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let hooks = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some((int, term)),
                _ => None,
            };
            Self { hooks }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.hooks {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
