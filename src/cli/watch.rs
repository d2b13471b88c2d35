//! `hoist watch` and `hoist up --watch`: bring the services up (unless `--no-up`), then
//! apply their `develop.watch` rules on every change, printing what happened in docker
//! compose's words.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::signals::Interrupts;
use super::up::UpArgs;
use super::{engine_for, load_context, CliError, GlobalArgs};
use crate::engine::progress::QuietReporter;
use crate::engine::up::UpOptions;
use crate::engine::{Engine, ProjectContext};
use crate::watch::{sync, WatchEvent, WatchOptions, WatchSession};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct WatchArgs {
    /// Services to watch (default: every service with develop.watch rules)
    pub services: Vec<String>,
    /// Do not build & start services before watching
    #[arg(long)]
    pub no_up: bool,
    /// Prune dangling images on rebuild
    #[arg(long)]
    pub prune: bool,
    /// Hide build output
    #[arg(long)]
    pub quiet: bool,
    /// Poll the file system for changes instead of relying on file events (network and
    /// VM-shared file systems are polled automatically)
    #[arg(long)]
    pub poll: bool,
}

pub async fn run(global: &GlobalArgs, args: &WatchArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let engine = engine_for(global).await?;
    // The rules are checked before anything starts: a broken rule changes nothing.
    let opts = WatchOptions {
        services: args.services.clone(),
        poll: args.poll,
        prune: args.prune,
        ..WatchOptions::default()
    };
    let watch_engine = if args.quiet {
        Engine::new(engine.runtime.clone(), Arc::new(QuietReporter), None)
    } else {
        engine.clone()
    };
    let mut session = WatchSession::new(watch_engine, ctx.clone(), opts, Arc::new(print_event))?;
    // A dry run must not write: it keeps the archive path, which the dry-run runtime pretends.
    if !global.dry_run {
        session = with_backend_sync(&engine, session).await;
    }
    let mut interrupts = Interrupts::listen();
    if !args.no_up {
        let up = UpOptions {
            services: session.service_names(),
            ..UpOptions::default()
        };
        let result = engine.up(&ctx, &up).await;
        engine.reporter.finish();
        result?;
    }
    session
        .run(async {
            interrupts.next().await;
        })
        .await?;
    Ok(0)
}

/// `up --watch`, before anything starts: the session, so a broken rule fails `up` early.
/// It watches the named services that have rules (every such service when none is named).
pub fn session_for_up(
    engine: &Engine,
    ctx: &ProjectContext,
    args: &UpArgs,
) -> Result<WatchSession, CliError> {
    let mut services: Vec<String> = args
        .services
        .iter()
        .filter(|name| {
            ctx.project
                .services
                .get(*name)
                .and_then(|s| s.develop.as_ref())
                .is_some_and(|d| !d.watch.is_empty())
        })
        .cloned()
        .collect();
    if services.is_empty() {
        // None named has rules: the session's error says which one lacks them.
        services = args.services.clone();
    }
    let opts = WatchOptions {
        services,
        ..WatchOptions::default()
    };
    Ok(WatchSession::new(
        engine.clone(),
        ctx.clone(),
        opts,
        Arc::new(print_event),
    )?)
}

/// `up --watch` once the project is up: the services' logs, followed across the restarts
/// and recreations watch causes, and the watch itself, until Ctrl-C.
pub async fn follow_and_watch(
    engine: &Engine,
    ctx: &ProjectContext,
    args: &UpArgs,
    session: WatchSession,
    color: bool,
    interrupts: &mut Interrupts,
    began: std::time::SystemTime,
) -> Result<i32, CliError> {
    // `up --watch` returns before watching in a dry run: the direct path is safe here.
    let session = with_backend_sync(engine, session).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let watch = tokio::spawn(session.run(async {
        let _ = stopped.await;
    }));
    // Containers restarted or recreated by the watch are followed again, without repeating
    // lines, until Ctrl-C stops them.
    let followed =
        super::attach::follow_until_exit(engine, ctx, args, color, interrupts, true, began).await;
    let _ = stop.send(());
    let watched = watch.await;
    let code = followed?;
    match watched {
        Ok(Err(e)) => Err(CliError::Engine(e)),
        _ => Ok(code),
    }
}

/// `session` syncing through the backend's direct path when it has one (the native runtime
/// writes into the containers' file systems).
async fn with_backend_sync(engine: &Engine, session: WatchSession) -> WatchSession {
    match sync::for_backend(engine.runtime.as_ref()).await {
        Some(files) => session.with_file_sync(files),
        None => session,
    }
}

/// docker compose's watch lines; failures go to stderr.
fn print_event(event: WatchEvent) {
    match event {
        WatchEvent::Watching { polling, .. } => {
            if let Some(reason) = polling {
                println!("Polling for changes: {reason}");
            }
            println!("Watch enabled");
        }
        WatchEvent::Syncing { service, changes } => {
            let what = if changes == 1 {
                "1 change was".to_string()
            } else {
                format!("{changes} changes were")
            };
            println!("Syncing service \"{service}\" after {what} detected");
        }
        WatchEvent::Synced { .. } | WatchEvent::Restarted { .. } => {}
        WatchEvent::Executed {
            service,
            container,
            command,
            exit_code,
            output,
        } => {
            for line in output.lines() {
                println!("{container}  | {line}");
            }
            if exit_code != 0 {
                eprintln!(
                    "service \"{service}\": \"{command}\" exited with code {exit_code} in {container}"
                );
            }
        }
        WatchEvent::Restarting { service, reason } => {
            println!("Restarting service \"{service}\" after changes were detected ({reason})");
        }
        WatchEvent::Rebuilding { service, reason } => {
            println!("Rebuilding service \"{service}\" after changes were detected ({reason})...");
        }
        WatchEvent::Rebuilt { service, .. } => {
            println!("service \"{service}\" successfully built");
        }
        WatchEvent::Failed {
            service,
            action,
            error,
        } => eprintln!("Error: {action} of service \"{service}\" failed: {error}"),
        WatchEvent::WatcherError { message } => {
            eprintln!("WARN file watcher: {message}; changes may have been missed")
        }
    }
}
