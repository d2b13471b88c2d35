//! Attached `up`: stream the containers' output with `web-1  | ` prefixes until they exit;
//! the first Ctrl-C stops them gracefully, the second kills them; exit codes as docker
//! compose documents them. `up web` follows web alone: its dependencies keep running.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::signals::Interrupts;
use super::up::UpArgs;
use super::CliError;
use crate::engine::labels;
use crate::engine::observe::{parse_time, short_name_of};
use crate::engine::state::{ProjectContext, ProjectState};
use crate::engine::up::services_in_scope;
use crate::engine::Engine;
use crate::runtime::{EventFilter, LabelFilter, LogOptions, ObjectKind, RuntimeEvent};
use crate::ui::logs::LogPrinter;

/// A container's run ended.
struct Exit {
    container: String,
    code: i64,
    /// When, if the runtime said.
    at: Option<SystemTime>,
}

/// Follows the project's containers until they exit; with `until_interrupted` (`up
/// --watch`, whose containers come and go as sources change) until a Ctrl-C instead.
/// `interrupts` listens since before `up` began, so a Ctrl-C at any point stops the
/// containers instead of killing hoist; `began` is when `up` began: events since then are
/// replayed, so a container that exited (or restarted) before following began counts.
pub async fn follow_until_exit(
    engine: &Engine,
    ctx: &ProjectContext,
    args: &UpArgs,
    color: bool,
    interrupts: &mut Interrupts,
    until_interrupted: bool,
    began: SystemTime,
) -> Result<i32, CliError> {
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

    // Runtime events, when the runtime has them, tell each exit and each restart by a
    // `restart:` policy in order; a wait on a restarting container would miss a run that
    // exits before the wait is issued. Without events, one wait per container.
    let mut events = engine
        .runtime
        .events(&EventFilter {
            labels: vec![LabelFilter::equals(labels::PROJECT, ctx.name())],
            kinds: vec![ObjectKind::Container],
            since: Some(began),
        })
        .await
        .ok();
    let by_events = events.is_some();
    let (tx, mut rx) = mpsc::unbounded_channel::<Exit>();
    // What was printed of each container, up to which line time: a follow attached during a
    // restart may miss or repeat a short run's lines, a catch-up at its exit fills the gap.
    let printed: HashMap<String, LogCursor> = names
        .iter()
        .filter(|c| attach.contains(&service_of(c)))
        .map(|c| {
            (
                c.clone(),
                LogCursor {
                    printer: printer.clone(),
                    prefix: shown(c),
                    until: Arc::new(std::sync::Mutex::new(None)),
                },
            )
        })
        .collect();
    let follow = |container: &str| {
        if let Some(cursor) = printed.get(container) {
            cursor.spawn(engine, container, true);
        }
        if !by_events {
            spawn_wait(engine, container, tx.clone());
        }
    };
    // Exits to handle before waiting for more: containers already gone when subscribed.
    let mut pending: VecDeque<Exit> = VecDeque::new();
    let mut active: HashSet<String> = HashSet::new();
    // Containers that exited and that their restart policy is bringing back.
    let mut restarting: HashSet<String> = HashSet::new();
    for container in &names {
        follow(container);
        active.insert(container.clone());
        // Only a container that was down before `up` began has no event to report it.
        if by_events {
            if let Ok(info) = engine.runtime.inspect_container(container).await {
                let finished_before = info
                    .state
                    .finished_at
                    .as_deref()
                    .and_then(|t| parse_time(t, began).ok())
                    .is_some_and(|t| t < began);
                if !info.state.running && !info.state.restarting && finished_before {
                    pending.push_back(Exit {
                        container: container.clone(),
                        code: info.state.exit_code.unwrap_or(-1),
                        at: None,
                    });
                }
            }
        }
    }
    let mut tally = Tally {
        cascade_stop: args.abort_on_container_exit || args.exit_code_from.is_some(),
        abort_on_failure: args.abort_on_container_failure,
        exit_code_from: args.exit_code_from.clone(),
        exit_code: 0,
        aborting: false,
    };
    let mut running = names.len();
    let mut interrupted = 0;
    let mut stopping: Option<tokio::task::JoinHandle<()>> = None;
    while running > 0 || (!tally.aborting && (until_interrupted || !restarting.is_empty())) {
        let exit = match pending.pop_front() {
            Some(exit) => Some(exit),
            None => tokio::select! {
                exit = rx.recv() => exit,
                Some(event) = next_event(&mut events) => {
                    let name = event.attributes.get("name").cloned().unwrap_or_default();
                    let at = UNIX_EPOCH + Duration::from_nanos(u64::try_from(event.time_nanos).unwrap_or(0));
                    match event.action.as_str() {
                        "die" => event.attributes.get("exitCode").map(|c| Exit {
                            container: name,
                            code: c.parse().unwrap_or(-1),
                            at: Some(at),
                        }),
                        // Restarted (by its policy, or by hand): follow it again, from just
                        // after its previous run's last line.
                        "start" if !tally.aborting && names.contains(&name) && !active.contains(&name) => {
                            restarting.remove(&name);
                            running += 1;
                            follow(&name);
                            active.insert(name);
                            None
                        }
                        _ => None,
                    }
                }
                Some(()) = interrupts.next() => {
                    interrupted += 1;
                    if interrupted == 1 {
                        println!("Gracefully stopping... (press Ctrl+C again to force)");
                        tally.aborting = true;
                        stopping = Some(spawn_stop_all(engine, &names, args.timeout));
                    } else {
                        stop_all(engine, &names, args.timeout, true).await;
                        return Ok(0);
                    }
                    None
                }
            },
        };
        let Some(Exit {
            container,
            code,
            at,
        }) = exit
        else {
            continue;
        };
        if !active.remove(&container) {
            continue;
        }
        running -= 1;
        // Let the log stream print the container's last lines first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let (Some(cursor), Some(_)) = (printed.get(&container), at) {
            cursor.catch_up(engine, &container).await;
        }
        printer.event(&shown(&container), &format!("exited with code {code}"));
        // As docker compose: a container its restart policy brings back has not exited for
        // good; it is followed again when it starts.
        if by_events && !tally.aborting && is_restarting(engine, &container).await {
            restarting.insert(container);
            continue;
        }
        if tally.exited(&service_of(&container), code) {
            println!("Aborting on container exit...");
            stopping = Some(spawn_stop_all(engine, &names, args.timeout));
        }
    }
    // The loop may end before the stop it started does (a container counted as gone while
    // it restarts): finish it, still killing on a further Ctrl-C.
    if let Some(stop) = stopping {
        tokio::select! {
            _ = stop => {}
            Some(()) = interrupts.next() => stop_all(engine, &names, args.timeout, true).await,
        }
    }
    // docker compose's documented rule: interrupted by SIGINT or SIGTERM, the containers
    // are stopped and the exit code is 0.
    if interrupted > 0 {
        return Ok(0);
    }
    Ok(tally.exit_code)
}

/// docker compose's rule: with --abort-on-container-exit any exit stops everything, and
/// the exit code is that of --exit-code-from's service, else of the first service that
/// exited; with --abort-on-container-failure, of the first service that failed.
struct Tally {
    cascade_stop: bool,
    abort_on_failure: bool,
    exit_code_from: Option<String>,
    exit_code: i32,
    aborting: bool,
}

impl Tally {
    /// Counts a container of `service` that exited for good; true when that must stop the
    /// others.
    fn exited(&mut self, service: &str, code: i64) -> bool {
        let failed_first = self.abort_on_failure && code != 0 && !self.aborting;
        if failed_first {
            self.exit_code_from = Some(service.to_string());
        }
        let abort = (self.cascade_stop || failed_first) && !self.aborting;
        self.aborting |= abort;
        if self.cascade_stop && self.exit_code_from.is_none() {
            self.exit_code_from = Some(service.to_string());
        }
        if self.exit_code_from.as_deref() == Some(service) {
            self.exit_code = code as i32;
        }
        abort
    }
}

/// `up` interrupted before it finished creating and starting the project. Detached, the
/// project is left as far as it got, and the user is told so. Attached, the containers that
/// already run are stopped as after a Ctrl-C while following them (a second one kills).
/// Either way the exit code is 130, as for any interrupted command.
pub async fn interrupted_up(
    engine: &Engine,
    ctx: &ProjectContext,
    args: &UpArgs,
    interrupts: &mut Interrupts,
) -> Result<i32, CliError> {
    let project = ctx.name();
    if args.detach || args.wait || args.no_start {
        eprintln!(
            "up interrupted: project \"{project}\" is partly created; run `hoist up -d` again to finish it, or `hoist -p {project} down` to remove it"
        );
        return Ok(130);
    }
    println!("Gracefully stopping... (press Ctrl+C again to force)");
    let scope = services_in_scope(ctx, &args.services, args.no_deps);
    let state = ProjectState::observe(engine.runtime.as_ref(), project).await?;
    let names: Vec<String> = scope
        .iter()
        .flat_map(|s| state.service_containers(s))
        .map(|c| c.name().to_string())
        .collect();
    tokio::select! {
        () = stop_all(engine, &names, args.timeout, false) => {}
        Some(()) = interrupts.next() => stop_all(engine, &names, args.timeout, true).await,
    }
    Ok(130)
}

/// One followed container's log output and the time of the last line printed of it.
struct LogCursor {
    printer: Arc<LogPrinter>,
    prefix: String,
    until: Arc<std::sync::Mutex<Option<SystemTime>>>,
}

impl LogCursor {
    /// Streams the container's logs from after the last line printed, in the background.
    fn spawn(&self, engine: &Engine, container: &str, follow: bool) {
        let task = self.print(engine, container, follow);
        tokio::spawn(task);
    }

    /// Prints what the container logged since the last line printed, up to now.
    async fn catch_up(&self, engine: &Engine, container: &str) {
        self.print(engine, container, false).await;
    }

    fn print(
        &self,
        engine: &Engine,
        container: &str,
        follow: bool,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let runtime = engine.runtime.clone();
        let container = container.to_string();
        let (printer, prefix, until) = (
            self.printer.clone(),
            self.prefix.clone(),
            self.until.clone(),
        );
        async move {
            let since = until.lock().ok().and_then(|u| *u);
            // Timestamps always: they order lines across streams (the printer shows them
            // only when asked), and a runtime may take `since` in whole seconds.
            let opts = LogOptions {
                follow,
                timestamps: true,
                since,
                ..LogOptions::default()
            };
            if let Ok(mut stream) = runtime.logs(&container, &opts).await {
                while let Some(Ok(chunk)) = stream.next().await {
                    let stamp = chunk.timestamp.as_deref();
                    let at = stamp.and_then(|s| parse_time(s, SystemTime::now()).ok());
                    let Ok(mut until) = until.lock() else { return };
                    if let (Some(at), Some(last)) = (at, *until) {
                        if at <= last {
                            continue;
                        }
                    }
                    if at.is_some() {
                        *until = at;
                    }
                    let text = String::from_utf8_lossy(&chunk.bytes);
                    printer.line(&prefix, chunk.stream, &text, stamp);
                }
            }
            if follow {
                printer.flush(&prefix);
            }
        }
    }
}

/// Waits for `container` and reports its exit on `tx`.
fn spawn_wait(engine: &Engine, container: &str, tx: mpsc::UnboundedSender<Exit>) {
    let runtime = engine.runtime.clone();
    let container = container.to_string();
    tokio::spawn(async move {
        let code = runtime.wait_container(&container).await.unwrap_or(-1);
        let _ = tx.send(Exit {
            container,
            code,
            at: None,
        });
    });
}

/// Whether the runtime is restarting `container` (or already did) after it exited.
async fn is_restarting(engine: &Engine, container: &str) -> bool {
    engine
        .runtime
        .inspect_container(container)
        .await
        .is_ok_and(|info| info.state.restarting || info.state.running)
}

/// The next runtime event; pending forever once the stream ended or was never opened.
async fn next_event(
    events: &mut Option<BoxStream<'static, crate::runtime::Result<RuntimeEvent>>>,
) -> Option<RuntimeEvent> {
    loop {
        match events.as_mut() {
            Some(stream) => match stream.next().await {
                Some(Ok(event)) => return Some(event),
                Some(Err(_)) | None => *events = None,
            },
            None => return std::future::pending().await,
        }
    }
}

/// Stops the containers in the background, so exits and a second Ctrl-C are still seen.
fn spawn_stop_all(
    engine: &Engine,
    names: &[String],
    timeout: Option<u64>,
) -> tokio::task::JoinHandle<()> {
    let engine = engine.clone();
    let names = names.to_vec();
    tokio::spawn(async move { stop_all(&engine, &names, timeout, false).await })
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
