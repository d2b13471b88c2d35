//! Container events of the native runtime, without a daemon to emit them: a task watches
//! the containers directory and each container's `status.json` (written by its monitor)
//! every [`POLL`], and turns what changed into Docker's events: `create`, `start`, `die`
//! (with `exitCode`), `destroy`. The state database is read only for containers that
//! appear (their name and labels), so a watcher does not compete for its lock.
//!
//! Not for: replaying past events (`since`: there is no event log yet), nor image,
//! network or volume events.

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
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
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

struct Watcher {
    root: PathBuf,
    filter: EventFilter,
    known: HashMap<String, Option<Known>>,
}

impl Watcher {
    fn event(&self, action: &str, id: &str, attributes: &BTreeMap<String, String>) -> RuntimeEvent {
        RuntimeEvent {
            kind: Some(ObjectKind::Container),
            action: action.to_string(),
            id: id.to_string(),
            attributes: attributes.clone(),
            time_nanos: now_nanos(),
        }
    }

    /// One look; `report` is false for the first (the state at subscription time).
    fn poll(&mut self, report: bool) -> Vec<RuntimeEvent> {
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
                    }
                });
                if report {
                    if let Some(k) = &entry {
                        out.push(self.event("create", id, &k.attributes));
                    }
                }
                self.known.insert(id.clone(), entry);
            }
            let run = state::read_run_state(&self.root, id);
            let Some(Some(known)) = self.known.get_mut(id) else {
                continue;
            };
            let before = std::mem::replace(&mut known.run, run.clone());
            if !report {
                continue;
            }
            let attributes = known.attributes.clone();
            let started = run.started_at.is_some() && run.started_at != before.started_at;
            let finished = run.finished_at.is_some() && run.finished_at != before.finished_at;
            let died = |code: Option<i64>| {
                let mut a = attributes.clone();
                a.insert("exitCode".into(), code.unwrap_or(0).to_string());
                self.event("die", id, &a)
            };
            // An exit and a new start between two looks (a quick restart): running now, so
            // the exit was the previous run's and comes first.
            let died_first = started && finished && run.status == "running";
            if died_first {
                out.push(died(run.exit_code));
            }
            if started {
                // A start and exit between two looks still reports both.
                if before.status == "running" && before.finished_at == run.finished_at {
                    out.push(died(before.exit_code));
                }
                out.push(self.event("start", id, &attributes));
            }
            if finished && !died_first {
                out.push(died(run.exit_code));
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
                if report {
                    out.push(self.event("destroy", &id, &known.attributes));
                }
            }
        }
        out
    }

    async fn run(mut self, tx: mpsc::Sender<Result<RuntimeEvent>>) {
        self = match tokio::task::spawn_blocking(move || {
            self.poll(false);
            self
        })
        .await
        {
            Ok(w) => w,
            Err(_) => return,
        };
        loop {
            tokio::time::sleep(POLL).await;
            if tx.is_closed() {
                return;
            }
            let (w, events) = match tokio::task::spawn_blocking(move || {
                let events = self.poll(true);
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
        }
    }
}

/// Container events under `root` from now on.
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
        tokio::spawn(watcher.run(tx));
    } else {
        // Nothing but container events exists yet: a stream that stays open, silent.
        tokio::spawn(async move { tx.closed().await });
    }
    Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}
