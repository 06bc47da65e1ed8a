//! Entry point: parse the command line and hand off to the matching mode.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fleetdeck::cli::args::{LogFormat, ServerArgs};
use fleetdeck::cli::{Cli, Command};
use fleetdeck::runtime::Runtime;
use fleetdeck::settings::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.server),
        Some(Command::Simulate(args)) => block_on(fleetdeck::sim::run_cli(args)),
        Some(Command::Render { file, types }) => {
            fleetdeck::cli::render::run(&file, types.as_deref())
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "fleetdeck", &mut std::io::stdout());
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("{other:?} is not available yet")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetdeck: {}", describe(&e));
            ExitCode::FAILURE
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
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(fut)
}

/// The server: with the terminal UI when stdout is a terminal, headless otherwise.
fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args)?;
    let headless = args.no_tui || !std::io::stdout().is_terminal();
    if !args.no_tui && !std::io::stdout().is_terminal() {
        eprintln!("fleetdeck: stdout is not a terminal; running headless (--no-tui)");
    }
    if !headless {
        eprintln!("fleetdeck: the terminal UI is not part of this build yet; running headless");
    }
    init_stdout_logging(settings.log_format);
    block_on(async move {
        let rt = Runtime::start(&settings).await?;
        fleetdeck::headless::banner(&settings, &rt);
        let stop = rt.shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            stop.cancel();
        });
        fleetdeck::headless::log_until_shutdown(&rt, Duration::from_secs(30)).await;
        rt.stop().await;
        tracing::info!("stopped");
        Ok(())
    })
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

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
