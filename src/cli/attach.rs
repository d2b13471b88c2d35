//! Attached `up`: stream the containers' output with `web-1  | ` prefixes until they exit;
//! the first Ctrl-C stops them gracefully, the second kills them; exit codes as docker
//! compose documents them. `up web` follows web alone: its dependencies keep running.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use super::up::UpArgs;
use super::CliError;
use crate::engine::observe::short_name_of;
use crate::engine::state::{ProjectContext, ProjectState};
use crate::engine::up::services_in_scope;
use crate::engine::Engine;
use crate::runtime::LogOptions;
use crate::ui::logs::LogPrinter;

enum Note {
    Exited {
        container: String,
        service: String,
        code: i64,
    },
}

pub async fn follow_until_exit(
    engine: &Engine,
    ctx: &ProjectContext,
    args: &UpArgs,
    color: bool,
) -> Result<i32, CliError> {
    // Listen before anything is printed: a Ctrl-C from then on must stop the containers,
    // not kill hoist by the default disposition. One listener for the whole session, so a
    // signal arriving while an exit is handled is not lost.
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut sigterm = signal(SignalKind::terminate()).ok();
    let scope = services_in_scope(ctx, &args.services, args.no_deps);
    // As docker compose: `up web` follows web alone; its dependencies keep running, their
    // logs shown only with --attach-dependencies (or --attach).
    let targets: Vec<String> = if args.services.is_empty() {
        scope.clone()
    } else {
        args.services.clone()
    };
    let attach: Vec<String> = scope
        .iter()
        .filter(|s| {
            if !args.attach.is_empty() {
                args.attach.contains(s)
            } else {
                args.attach_dependencies || targets.contains(s)
            }
        })
        .filter(|s| !args.no_attach.contains(s))
        .cloned()
        .collect();
    let state = ProjectState::observe(engine.runtime.as_ref(), ctx.name()).await?;
    let containers: Vec<(String, String)> = scope
        .iter()
        .filter(|s| {
            targets.contains(s)
                || attach.contains(s)
                || args.exit_code_from.as_deref() == Some(s.as_str())
        })
        .flat_map(|s| {
            state
                .service_containers(s)
                .into_iter()
                .map(|c| (c.name().to_string(), c.service.clone()))
        })
        .collect();
    let names: Vec<String> = containers.iter().map(|(c, _)| c.clone()).collect();
    // docker compose prefixes lines with the container name minus `<project>-` (`web-1`).
    let service_of = |container: &str| {
        containers
            .iter()
            .find(|(c, _)| c == container)
            .map_or("", |(_, s)| s.as_str())
            .to_string()
    };
    let shown = |container: &str| short_name_of(container, ctx.name(), &service_of(container));
    let shown_names: Vec<String> = names.iter().map(|n| shown(n)).collect();
    let printer = Arc::new(LogPrinter::new(
        &shown_names,
        color,
        !args.no_log_prefix,
        args.timestamps,
    ));
    println!("Attaching to {}", shown_names.join(", "));

    let (tx, mut rx) = mpsc::unbounded_channel::<Note>();
    for (container, service) in &containers {
        if attach.contains(service) {
            let runtime = engine.runtime.clone();
            let printer = printer.clone();
            let container = container.clone();
            let prefix = shown(&container);
            let timestamps = args.timestamps;
            tokio::spawn(async move {
                let opts = LogOptions {
                    follow: true,
                    timestamps,
                    ..LogOptions::default()
                };
                if let Ok(mut stream) = runtime.logs(&container, &opts).await {
                    while let Some(Ok(chunk)) = stream.next().await {
                        let text = String::from_utf8_lossy(&chunk.bytes);
                        printer.line(&prefix, chunk.stream, &text, chunk.timestamp.as_deref());
                    }
                }
                printer.flush(&prefix);
            });
        }
        let runtime = engine.runtime.clone();
        let tx = tx.clone();
        let (container, service) = (container.clone(), service.clone());
        tokio::spawn(async move {
            let code = runtime.wait_container(&container).await.unwrap_or(-1);
            let _ = tx.send(Note::Exited {
                container,
                service,
                code,
            });
        });
    }
    drop(tx);

    // docker compose's rule: with --abort-on-container-exit any exit stops everything, and
    // the exit code is that of --exit-code-from's service, else of the first service that
    // exited; with --abort-on-container-failure, of the first service that failed.
    let cascade_stop = args.abort_on_container_exit || args.exit_code_from.is_some();
    let mut exit_code_from = args.exit_code_from.clone();
    let mut exit_code = 0;
    let mut aborting = false;
    let mut running = containers.len();
    let mut interrupts = 0;
    while running > 0 {
        tokio::select! {
            note = rx.recv() => {
                let Some(Note::Exited { container, service, code }) = note else { break };
                running -= 1;
                // Let the log stream print the container's last lines first.
                tokio::time::sleep(Duration::from_millis(50)).await;
                printer.event(&shown(&container), &format!("exited with code {code}"));
                let failed_first = args.abort_on_container_failure && code != 0 && !aborting;
                if failed_first {
                    exit_code_from = Some(service.clone());
                }
                if (cascade_stop || failed_first) && !aborting {
                    aborting = true;
                    println!("Aborting on container exit...");
                    spawn_stop_all(engine, &names, args.timeout);
                }
                if cascade_stop && exit_code_from.is_none() {
                    exit_code_from = Some(service.clone());
                }
                if exit_code_from.as_deref() == Some(service.as_str()) {
                    exit_code = code as i32;
                }
            }
            Some(()) = next_signal(&mut sigint, &mut sigterm) => {
                interrupts += 1;
                if interrupts == 1 {
                    println!("Gracefully stopping... (press Ctrl+C again to force)");
                    aborting = true;
                    spawn_stop_all(engine, &names, args.timeout);
                } else {
                    stop_all(engine, &names, args.timeout, true).await;
                    return Ok(0);
                }
            }
        }
    }
    // docker compose's documented rule: interrupted by SIGINT or SIGTERM, the containers
    // are stopped and the exit code is 0.
    if interrupts > 0 {
        return Ok(0);
    }
    Ok(exit_code)
}

/// The next SIGINT or SIGTERM; pending forever when neither could be listened to.
async fn next_signal(sigint: &mut Option<Signal>, sigterm: &mut Option<Signal>) -> Option<()> {
    let int = async {
        match sigint {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    let term = async {
        match sigterm {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = int => r,
        r = term => r,
    }
}

/// Stops the containers in the background, so exits and a second Ctrl-C are still seen.
fn spawn_stop_all(engine: &Engine, names: &[String], timeout: Option<u64>) {
    let engine = engine.clone();
    let names = names.to_vec();
    tokio::spawn(async move { stop_all(&engine, &names, timeout, false).await });
}

async fn stop_all(engine: &Engine, names: &[String], timeout: Option<u64>, kill: bool) {
    let timeout = timeout.map(Duration::from_secs);
    let stops = names.iter().map(|n| {
        let runtime = engine.runtime.clone();
        async move {
            if kill {
                let _ = runtime.kill_container(n, "SIGKILL").await;
            } else {
                let _ = runtime.stop_container(n, timeout).await;
            }
        }
    });
    futures_util::future::join_all(stops).await;
}
