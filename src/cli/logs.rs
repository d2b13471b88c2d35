//! `hoist logs`: the output of the services' containers, multiplexed with `web-1  | `
//! prefixes. With `-f` it follows until every container stopped, and picks up containers
//! that start meanwhile (a restart, a `up -d` of another service), as docker compose does.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::target::resolve;
use super::{engine_for, CliError, GlobalArgs};
use crate::engine::observe::{
    container_number, parse_time, project_containers, project_events, short_name, short_name_of,
    ContainerQuery,
};
use crate::engine::EngineError;
use crate::runtime::{LogOptions, Runtime};
use crate::ui::logs::LogPrinter;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct LogsArgs {
    /// Services whose logs to show (default: all)
    pub services: Vec<String>,
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all", value_name = "LINES")]
    pub tail: String,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// index of the container if service has multiple replicas
    #[arg(long, value_name = "INDEX")]
    pub index: Option<u32>,
}

impl LogsArgs {
    fn log_options(&self, now: SystemTime) -> Result<LogOptions, CliError> {
        let tail = match self.tail.as_str() {
            "all" | "-1" | "" => None,
            n => Some(n.parse::<u64>().map_err(|_| {
                CliError::usage(format!(
                    "invalid --tail value \"{n}\": expected a number of lines or \"all\""
                ))
            })?),
        };
        let time = |v: &Option<String>| v.as_deref().map(|v| parse_time(v, now)).transpose();
        Ok(LogOptions {
            follow: self.follow,
            tail,
            since: time(&self.since)?,
            until: time(&self.until)?,
            timestamps: self.timestamps,
            ..LogOptions::default()
        })
    }
}

pub async fn run(global: &GlobalArgs, args: &LogsArgs) -> Result<i32, CliError> {
    let options = args.log_options(SystemTime::now())?;
    let target = resolve(global, &args.services, false)?;
    let engine = engine_for(global).await?;
    let runtime = engine.runtime.clone();
    // Subscribe before listing, so a container starting in between is not missed.
    let mut events = if args.follow {
        Some(project_events(runtime.as_ref(), &target.name, &args.services, None).await?)
    } else {
        None
    };
    let query = ContainerQuery {
        project: target.name.clone(),
        services: args.services.clone(),
        all: true,
        oneoff: false,
    };
    let mut containers = project_containers(runtime.as_ref(), &query).await?;
    if let Some(index) = args.index {
        containers.retain(|c| container_number(c) == index);
    }
    let names: Vec<String> = containers.iter().map(short_name).collect();
    let color = !args.no_color && crate::ui::ansi::stdout_color(global.ansi);
    let printer = Arc::new(LogPrinter::new(
        &names,
        color,
        !args.no_log_prefix,
        args.timestamps,
    ));

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    let mut active: HashSet<String> = HashSet::new();
    for (c, name) in containers.iter().zip(&names) {
        active.insert(c.id.clone());
        spawn_reader(&runtime, &printer, &done_tx, &c.id, name, options.clone());
    }
    while !active.is_empty() {
        tokio::select! {
            done = done_rx.recv() => {
                let Some(id) = done else { break };
                active.remove(&id);
            }
            event = next_event(&mut events) => {
                let Some(event) = event else {
                    events = None;
                    continue;
                };
                let event = event?;
                let wanted = args.index.is_none_or(|i| i == event.number);
                if event.action == "start" && !event.oneoff && wanted && !active.contains(&event.container) {
                    let full = event.attributes.get("name").cloned().unwrap_or_default();
                    let name = short_name_of(&full, &target.name, &event.service);
                    // Only what the new run printed: from the second it started.
                    let since = UNIX_EPOCH
                        + Duration::from_secs(u64::try_from(event.time_nanos / 1_000_000_000).unwrap_or(0));
                    let opts = LogOptions { since: Some(since), tail: None, ..options.clone() };
                    active.insert(event.container.clone());
                    spawn_reader(&runtime, &printer, &done_tx, &event.container, &name, opts);
                }
            }
        }
    }
    printer.flush_all();
    Ok(0)
}

async fn next_event(
    events: &mut Option<
        crate::runtime::BoxStream<
            'static,
            Result<crate::engine::observe::ProjectEvent, EngineError>,
        >,
    >,
) -> Option<Result<crate::engine::observe::ProjectEvent, EngineError>> {
    match events {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// Streams one container's log into the printer; reports its id on `done` when it ends.
fn spawn_reader(
    runtime: &Arc<dyn Runtime>,
    printer: &Arc<LogPrinter>,
    done: &mpsc::UnboundedSender<String>,
    id: &str,
    name: &str,
    options: LogOptions,
) {
    let (runtime, printer, done) = (runtime.clone(), printer.clone(), done.clone());
    let (id, name) = (id.to_string(), name.to_string());
    tokio::spawn(async move {
        match runtime.logs(&id, &options).await {
            Ok(mut stream) => {
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(chunk) => {
                            let text = String::from_utf8_lossy(&chunk.bytes);
                            printer.line(&name, chunk.stream, &text, chunk.timestamp.as_deref());
                        }
                        Err(e) => {
                            eprintln!("cannot read the logs of {name}: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => eprintln!("cannot read the logs of {name}: {e}"),
        }
        printer.flush(&name);
        let _ = done.send(id);
    });
}
