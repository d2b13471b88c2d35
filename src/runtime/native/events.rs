//! Container events of the native runtime, without a daemon to emit them: a task watches
//! the containers directory, each container's event log (`events.jsonl`, appended by
//! [`state::write_run_state`] for every start and exit its monitor records) and its
//! `status.json`, every [`POLL`], and turns what changed into Docker's events: `create`,
//! `start`, `die` (with `exitCode`), `destroy`. Starts and exits come from the log, so a
//! container that restarts several times between two looks still reports each run, in
//! order and with the time it happened; `status.json` adds what no log line can say (a
//! monitor killed with -9). With `since`, the logged starts and exits (and the creations)
//! of the containers that exist are replayed first. The state database is read only for
//! containers that appear (their name and labels), so a watcher does not compete for its
//! lock.
//!
//! Not for: image, network or volume events; replaying the events of containers removed
//! since (their log goes with them).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::stream;
use tokio::sync::mpsc;

use super::state::{self, ContainerRecord, RunState, CONTAINERS};
use crate::runtime::{BoxStream, EventFilter, ObjectKind, Result, RuntimeEvent};

/// How often the watcher looks.
const POLL: Duration = Duration::from_millis(50);

struct Known {
    attributes: BTreeMap<String, String>,
    run: RunState,
    /// How far the event log was read.
    offset: u64,
    /// Time of the last start or exit reported, so no source reports one twice.
    last: i64,
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

/// Nanoseconds since the epoch of an RFC 3339 time (0 when unreadable).
fn nanos_of(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

fn container_ids(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("containers"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default()
}

/// The record of container `id`, once committed.
fn lookup(root: &Path, id: &str) -> Option<ContainerRecord> {
    state::with_store(root, |store| {
        state::get::<ContainerRecord>(store, CONTAINERS, id)
    })
    .ok()
    .flatten()
}

/// What a look reports.
#[derive(Clone, Copy)]
enum Look {
    /// The first look: nothing is reported, except what happened since this time (nanos).
    Subscribe { since: Option<i64> },
    /// Every later look: everything that changed since the previous one.
    Follow,
}

struct Watcher {
    root: PathBuf,
    filter: EventFilter,
    known: HashMap<String, Option<Known>>,
}

fn event(
    action: &str,
    id: &str,
    attributes: &BTreeMap<String, String>,
    time_nanos: i64,
) -> RuntimeEvent {
    RuntimeEvent {
        kind: Some(ObjectKind::Container),
        action: action.to_string(),
        id: id.to_string(),
        attributes: attributes.clone(),
        time_nanos,
    }
}

fn die(id: &str, known: &Known, code: Option<i64>, time_nanos: i64) -> RuntimeEvent {
    let mut a = known.attributes.clone();
    a.insert("exitCode".into(), code.unwrap_or(0).to_string());
    event("die", id, &a, time_nanos)
}

impl Known {
    /// Reports `action` at `time` unless it is not newer than the last one reported (or,
    /// at subscription, older than `since`); moves `last` on either way.
    fn report(
        &mut self,
        look: Look,
        time: i64,
        make: impl FnOnce(&Known) -> RuntimeEvent,
    ) -> Option<RuntimeEvent> {
        if time <= self.last {
            return None;
        }
        self.last = time;
        let wanted = match look {
            Look::Follow => true,
            Look::Subscribe { since } => since.is_some_and(|s| time >= s),
        };
        wanted.then(|| make(self))
    }
}

impl Watcher {
    /// One look at every container.
    fn poll(&mut self, look: Look) -> Vec<RuntimeEvent> {
        let mut out = Vec::new();
        let ids = container_ids(&self.root);
        for id in &ids {
            if !self.known.contains_key(id) {
                // A directory appears before its record is committed: try again later.
                let Some(record) = lookup(&self.root, id) else {
                    continue;
                };
                let wanted = self.filter.labels.iter().all(|l| l.matches(&record.labels));
                let entry = wanted.then(|| {
                    let mut attributes = record.labels.clone();
                    attributes.insert("name".to_string(), record.name.clone());
                    attributes.insert("image".to_string(), record.image.clone());
                    Known {
                        attributes,
                        run: RunState {
                            status: "created".to_string(),
                            ..Default::default()
                        },
                        offset: 0,
                        last: 0,
                    }
                });
                if let Some(k) = &entry {
                    let created = match look {
                        Look::Follow => Some(now_nanos()),
                        Look::Subscribe { since } => Some(nanos_of(&record.created))
                            .filter(|t| since.is_some_and(|s| *t >= s)),
                    };
                    if let Some(t) = created {
                        out.push(event("create", id, &k.attributes, t));
                    }
                }
                self.known.insert(id.clone(), entry);
            }
            let Some(Some(known)) = self.known.get_mut(id) else {
                continue;
            };
            // The log first: every start and exit, in order.
            let (logged, offset) = state::read_event_log(&self.root, id, known.offset);
            known.offset = offset;
            for e in logged {
                let time = nanos_of(&e.time);
                let reported = match e.action.as_str() {
                    "start" => {
                        known.run.status = "running".to_string();
                        known.run.started_at = Some(e.time.clone());
                        known.report(look, time, |k| event("start", id, &k.attributes, time))
                    }
                    "die" => {
                        known.run.status = "exited".to_string();
                        known.run.finished_at = Some(e.time.clone());
                        known.run.exit_code = e.exit_code;
                        known.report(look, time, |k| die(id, k, e.exit_code, time))
                    }
                    _ => None,
                };
                out.extend(reported);
            }
            // Then what the state file says beyond the log.
            let run = state::read_run_state(&self.root, id);
            let before = std::mem::replace(&mut known.run, run.clone());
            if run.started_at.is_some() && run.started_at != before.started_at {
                let time = nanos_of(run.started_at.as_deref().unwrap_or_default());
                // A start and exit between two looks still reports both.
                if before.status == "running" && before.finished_at == run.finished_at {
                    let code = before.exit_code;
                    out.extend(known.report(look, time - 1, |k| die(id, k, code, time - 1)));
                }
                out.extend(known.report(look, time, |k| event("start", id, &k.attributes, time)));
            }
            if run.finished_at.is_some() && run.finished_at != before.finished_at {
                let time = nanos_of(run.finished_at.as_deref().unwrap_or_default());
                out.extend(known.report(look, time, |k| die(id, k, run.exit_code, time)));
            } else if before.status == "running" && run.status == "exited" {
                // Its monitor was killed: no exit was recorded, the process is gone.
                let time = now_nanos();
                out.extend(known.report(look, time, |k| die(id, k, run.exit_code, time)));
            }
        }
        let gone: Vec<String> = self
            .known
            .keys()
            .filter(|k| !ids.contains(k))
            .cloned()
            .collect();
        for id in gone {
            if let Some(Some(known)) = self.known.remove(&id) {
                if matches!(look, Look::Follow) {
                    out.push(event("destroy", &id, &known.attributes, now_nanos()));
                }
            }
        }
        // Replayed events of several containers, in the order they happened.
        out.sort_by_key(|e| e.time_nanos);
        out
    }

    async fn run(mut self, since: Option<i64>, tx: mpsc::Sender<Result<RuntimeEvent>>) {
        let mut look = Look::Subscribe { since };
        loop {
            let (w, events) = match tokio::task::spawn_blocking(move || {
                let events = self.poll(look);
                (self, events)
            })
            .await
            {
                Ok(r) => r,
                Err(_) => return,
            };
            self = w;
            for e in events {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            look = Look::Follow;
            tokio::time::sleep(POLL).await;
            if tx.is_closed() {
                return;
            }
        }
    }
}

/// Container events under `root` from now on, after those since `filter.since`.
pub fn watch(root: &Path, filter: &EventFilter) -> BoxStream<'static, Result<RuntimeEvent>> {
    let (tx, rx) = mpsc::channel(256);
    let containers_wanted =
        filter.kinds.is_empty() || filter.kinds.contains(&ObjectKind::Container);
    if containers_wanted {
        let watcher = Watcher {
            root: root.to_path_buf(),
            filter: filter.clone(),
            known: HashMap::new(),
        };
        let since = filter
            .since
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        tokio::spawn(watcher.run(since, tx));
    } else {
        // Nothing but container events exists yet: a stream that stays open, silent.
        tokio::spawn(async move { tx.closed().await });
    }
    Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}
