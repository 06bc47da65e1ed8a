//! Runs the client commands (everything that talks to the management API, plus profiles).

use super::client::Client;
use super::{apply, delete, get, gitops, label, profile, push, restart, rollout, tap, token, top};
use crate::args::Command;

/// Runs one client command to completion on a small runtime of its own.
pub fn run(cmd: Command) -> anyhow::Result<()> {
    if let Command::Profile { action } = cmd {
        return profile::run(action);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(cmd))
}

async fn run_async(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Get {
            client,
            kind,
            name,
            selector,
            history,
            actor,
            limit,
            throughput,
            period,
            signal,
        } => {
            let c = Client::from_args(&client)?;
            let what = get::What {
                kind: &kind,
                name: name.as_deref(),
                selector: selector.as_deref(),
                history,
                actor: actor.as_deref(),
                limit,
                throughput: throughput.then(|| get::Throughput {
                    period: period.as_deref().unwrap_or("1m"),
                    signal: signal.as_deref(),
                }),
            };
            if !throughput && (period.is_some() || signal.is_some()) {
                return Err(super::usage::usage(
                    "--period and --signal go with `get configuration NAME --throughput`",
                ));
            }
            get::run(&c, client.output, what).await
        }
        Command::Apply {
            client,
            files,
            prune,
            dry_run,
        } => {
            let c = Client::from_args(&client)?;
            let how = apply::How { prune, dry_run };
            apply::run(&c, client.output, &files, how).await
        }
        Command::Export { client, dir } => {
            let c = Client::from_args(&client)?;
            gitops::export(&c, &dir).await
        }
        Command::Delete { client, kind, name } => {
            let c = Client::from_args(&client)?;
            delete::run(&c, client.output, &kind, &name).await
        }
        Command::Label {
            client,
            kind,
            id,
            labels,
        } => {
            let c = Client::from_args(&client)?;
            label::run(&c, client.output, &kind, &id, &labels).await
        }
        Command::Push {
            client,
            config,
            agents,
            selector,
            rollout: flags,
        } => {
            let c = Client::from_args(&client)?;
            push::run(
                &c,
                client.output,
                &config,
                &agents,
                selector.as_deref(),
                &flags,
            )
            .await
        }
        Command::Rollout { client, action } => {
            let c = Client::from_args(&client)?;
            rollout::run(&c, client.output, action).await
        }
        Command::Top {
            client,
            what,
            signal,
            period,
            sort,
            limit,
        } => {
            let c = Client::from_args(&client)?;
            let q = top::Query {
                what: &what,
                signal: signal.as_deref(),
                period: &period,
                sort: &sort,
                limit,
            };
            top::run(&c, client.output, q).await
        }
        Command::Key {
            client,
            action,
            data_dir,
        } => {
            if action != "show" {
                return super::keys::signing_key(&action, data_dir);
            }
            let c = Client::from_args(&client)?;
            let answer = c.get(&["signing-key"], &[]).await?;
            match client.output {
                crate::args::OutputFormat::Table => {
                    println!("{}", super::output::text(&answer, "public_key"));
                    Ok(())
                }
                other => super::output::print_value(other, &answer),
            }
        }
        Command::Token { client, action } => {
            let c = Client::from_args(&client)?;
            token::run(&c, client.output, action).await
        }
        Command::Tap {
            client,
            kind,
            id,
            signal,
            pipeline,
            limit,
            follow,
            every,
        } => {
            let c = Client::from_args(&client)?;
            let q = tap::Query {
                kind: &kind,
                id: &id,
                signal: signal.as_deref(),
                pipeline: pipeline.as_deref(),
                limit,
                follow,
                every: std::time::Duration::from_secs(every.max(1)),
            };
            tap::run(&c, client.output, q).await
        }
        Command::Restart { client, kind, id } => {
            let c = Client::from_args(&client)?;
            restart::run(&c, client.output, &kind, &id).await
        }
        Command::RotateCredentials {
            client,
            selector,
            agents,
        } => {
            let c = Client::from_args(&client)?;
            super::credentials::rotate(&c, client.output, selector.as_deref(), &agents).await
        }
        Command::Revoke {
            client,
            kind,
            id,
            undo,
        } => {
            let c = Client::from_args(&client)?;
            super::credentials::revoke(&c, client.output, &kind, &id, undo).await
        }
        other => Err(anyhow::anyhow!(
            "{other:?} is not a client command (main.rs runs it)"
        )),
    }
}
