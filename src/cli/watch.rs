//! `hoist watch` and `hoist up --watch`: bring the services up (unless `--no-up`), then
//! apply their `develop.watch` rules on every change, printing what happened in docker
//! compose's words.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio::sync::oneshot;

use super::signals::Interrupts;
use super::up::UpArgs;
use super::{engine_for, load_context, refuse_dry_run, CliError, GlobalArgs};
use crate::engine::observe::{parse_time, project_containers, short_name_of, ContainerQuery};
use crate::engine::progress::QuietReporter;
use crate::engine::up::UpOptions;
use crate::engine::{Engine, ProjectContext};
use crate::runtime::LogOptions;
use crate::ui::logs::LogPrinter;
use crate::watch::{WatchEvent, WatchOptions, WatchSession};

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
    if refuse_dry_run(global, &engine) {
        return Ok(0);
    }
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
    let session = WatchSession::new(watch_engine, ctx.clone(), opts, Arc::new(print_event))?;
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
    session: WatchSession,
    color: bool,
    interrupts: &mut Interrupts,
) -> Result<i32, CliError> {
    let query = ContainerQuery::new(ctx.name());
    let containers = project_containers(engine.runtime.as_ref(), &query).await?;
    let shown: Vec<(String, String)> = containers
        .iter()
        .map(|c| {
            let service = c
                .labels
                .get(crate::engine::labels::SERVICE)
                .cloned()
                .unwrap_or_default();
            (c.name.clone(), short_name_of(&c.name, ctx.name(), &service))
        })
        .collect();
    let names: Vec<String> = shown.iter().map(|(_, s)| s.clone()).collect();
    let printer = Arc::new(LogPrinter::new(&names, color, true, false));
    println!("Attaching to {}", names.join(", "));
    let mut followers = Vec::new();
    for (container, prefix) in shown {
        let runtime = engine.runtime.clone();
        let printer = printer.clone();
        followers.push(tokio::spawn(async move {
            // A restart ends the log stream; the next one starts at the second of the last
            // line seen (the API's resolution), skipping the lines already printed.
            let mut since: Option<SystemTime> = None;
            let mut last_second = String::new();
            let mut printed: HashSet<String> = HashSet::new();
            loop {
                let opts = LogOptions {
                    follow: true,
                    since,
                    timestamps: true,
                    ..LogOptions::default()
                };
                if let Ok(mut stream) = runtime.logs(&container, &opts).await {
                    while let Some(Ok(chunk)) = stream.next().await {
                        let stamp = chunk.timestamp.clone().unwrap_or_default();
                        let second: String = stamp.chars().take(19).collect();
                        if second != last_second {
                            last_second = second;
                            printed.clear();
                        }
                        if !stamp.is_empty() && !printed.insert(stamp.clone()) {
                            continue;
                        }
                        if let Ok(at) = parse_time(&stamp, SystemTime::now()) {
                            since = Some(at);
                        }
                        let text = String::from_utf8_lossy(&chunk.bytes);
                        printer.line(&prefix, chunk.stream, &text, None);
                    }
                }
                printer.flush(&prefix);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let watch = tokio::spawn(session.run(async {
        let _ = stopped.await;
    }));
    interrupts.next().await;
    println!("Gracefully stopping...");
    let _ = stop.send(());
    let result = watch.await;
    for f in followers {
        f.abort();
    }
    let names: HashSet<String> = containers.into_iter().map(|c| c.name).collect();
    for name in names {
        let _ = engine.runtime.stop_container(&name, None).await;
    }
    match result {
        Ok(Ok(())) => Ok(0),
        Ok(Err(e)) => Err(CliError::Engine(e)),
        Err(_) => Ok(0),
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
