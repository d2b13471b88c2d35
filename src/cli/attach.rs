//! Attached `up`: stream every service container's output with `name  | ` prefixes until the
//! containers exit; the first Ctrl-C stops them gracefully, the second kills them.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
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
    let scope = services_in_scope(ctx, &args.services, args.no_deps);
    let attach: Vec<String> = scope
        .iter()
        .filter(|s| args.attach.is_empty() || args.attach.contains(s))
        .filter(|s| !args.no_attach.contains(s))
        .cloned()
        .collect();
    let state = ProjectState::observe(engine.runtime.as_ref(), ctx.name()).await?;
    let containers: Vec<(String, String)> = scope
        .iter()
        .flat_map(|s| {
            state
                .service_containers(s)
                .into_iter()
                .map(|c| (c.name().to_string(), c.service.clone()))
        })
        .collect();
    let names: Vec<String> = containers.iter().map(|(c, _)| c.clone()).collect();
    // Log prefixes use docker compose's short names (`web-1`).
    let short = |container: &str, service: &str| short_name_of(container, ctx.name(), service);
    let prefixes: Vec<String> = containers.iter().map(|(c, s)| short(c, s)).collect();
    let printer = Arc::new(LogPrinter::new(
        &prefixes,
        color,
        !args.no_log_prefix,
        args.timestamps,
    ));
    println!("Attaching to {}", prefixes.join(", "));

    let (tx, mut rx) = mpsc::unbounded_channel::<Note>();
    for (container, service) in &containers {
        if attach.contains(service) {
            let runtime = engine.runtime.clone();
            let printer = printer.clone();
            let container = container.clone();
            let prefix = short(&container, service);
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

    let abort = args.abort_on_container_exit || args.exit_code_from.is_some();
    let mut exit_code = 0;
    let mut running = containers.len();
    let mut interrupts = 0;
    loop {
        if running == 0 {
            break;
        }
        tokio::select! {
            note = rx.recv() => {
                let Some(Note::Exited { container, service, code }) = note else { break };
                running -= 1;
                // Let the log stream print the container's last lines first.
                tokio::time::sleep(Duration::from_millis(50)).await;
                printer.event(&short_name_of(&container, ctx.name(), &service), &format!("exited with code {code}"));
                let chosen = args.exit_code_from.as_deref().is_none_or(|s| s == service);
                let failed = code != 0;
                if (abort || (args.abort_on_container_failure && failed)) && chosen {
                    exit_code = code as i32;
                    println!("Aborting on container exit...");
                    stop_all(engine, &names, args.timeout, false).await;
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => {
                interrupts += 1;
                if interrupts == 1 {
                    println!("Gracefully stopping... (press Ctrl+C again to force)");
                    let engine = engine.clone();
                    let names = names.clone();
                    let timeout = args.timeout;
                    tokio::spawn(async move { stop_all(&engine, &names, timeout, false).await });
                    exit_code = 130;
                } else {
                    stop_all(engine, &names, args.timeout, true).await;
                    return Ok(130);
                }
            }
        }
    }
    Ok(exit_code)
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
