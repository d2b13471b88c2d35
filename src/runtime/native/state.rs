//! What the native runtime remembers about containers, volumes and networks, and how two
//! hoist processes share it.
//!
//! Records (a container's configuration, labels, mounts; volumes; networks are the net
//! module's own tables) live in tables of
//! the state database (redb, next to the image records). redb locks its file while it is
//! open, so no process keeps it open for long: operations go through [`with_store`], which
//! opens the store, runs one or a few transactions, and closes it once the process has not
//! used it for a few milliseconds; a process that finds it busy waits for it. Within one
//! process a mutex serializes the operations so concurrent tasks queue instead of spinning.
//!
//! A container's *process* state (running, pid, exit code, finish time, restart count) is
//! written by its monitor to `containers/<id>/status.json`, atomically (write, rename),
//! never to the database: the monitor runs while other hoist processes hold the database, and
//! a crash of any process at any point leaves either the old or the new status. It is not
//! fsynced: it describes processes, which a power loss ends anyway, and the sync (0.5-1.3 ms
//! here) sat on every start's and every exit's path; after a power loss a status is the old
//! one, or unreadable and read as "created", and in both cases nothing of it runs. A status
//! saying "running" whose processes are gone (a monitor killed with -9, a reboot) reads as
//! exited.
//!
//! Not for: image records (see [`super::store`]), nor deciding what to do with any of this.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::store::ImageStore;
use crate::runtime::{ObjectKind, RuntimeError};

pub const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
pub const VOLUMES: TableDefinition<&str, &[u8]> = TableDefinition::new("volumes");

/// How long a process keeps the store open after its last operation: a burst of calls (an
/// `up` issues dozens) pays for one open, whose fsyncs dominate small operations, while
/// another process waits at most this long once the burst is over.
const KEEP_OPEN: Duration = Duration::from_millis(25);

/// [`KEEP_OPEN`] for a build, whose RUN steps go ~15 ms between store operations while the
/// step's container runs: with 25 ms the store was closed and reopened two to eight times
/// in ten `RUN true` steps (each time four `fdatasync`s and ~1.5 MB read back).
pub const KEEP_OPEN_BUILDING: Duration = Duration::from_millis(100);

/// This process's keep-open time, in milliseconds ([`KEEP_OPEN`] unless raised).
static KEEP_OPEN_MS: AtomicU64 = AtomicU64::new(KEEP_OPEN.as_millis() as u64);

fn keep_open() -> Duration {
    Duration::from_millis(KEEP_OPEN_MS.load(Ordering::Relaxed))
}

/// Keeps stores open at least `time` after their last operation, from now on in this
/// process (the builder raises it for its steps); never lowers it.
pub fn keep_open_at_least(time: Duration) {
    let ms = u64::try_from(time.as_millis()).unwrap_or(u64::MAX);
    KEEP_OPEN_MS.fetch_max(ms, Ordering::Relaxed);
}

struct OpenStore {
    store: ImageStore,
    last_used: Instant,
    opened: Instant,
}

/// After holding a store this long, a process closes it after [`KEEP_OPEN`] of idleness
/// again, whatever [`keep_open_at_least`] set: a build's steps, each a few milliseconds
/// apart, must not keep another hoist process out for the whole build.
const HOLD_RAISED_AT_MOST: Duration = Duration::from_secs(1);

/// Open stores by data root; `None` once caching is off (see [`keep_stores_closed`]).
static STORES: Mutex<Option<HashMap<PathBuf, OpenStore>>> = Mutex::new(None);
static CACHING_OFF: AtomicBool = AtomicBool::new(false);
static CLOSER_RUNNING: AtomicBool = AtomicBool::new(false);

fn stores() -> std::sync::MutexGuard<'static, Option<HashMap<PathBuf, OpenStore>>> {
    STORES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens the store under `root` (or reuses this process's open one), runs `f`; the store
/// is closed [`KEEP_OPEN`] (or what [`keep_open_at_least`] set) after the last operation
/// (see the module doc).
pub fn with_store<T>(
    root: &Path,
    f: impl FnOnce(&ImageStore) -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    let mut guard = stores();
    if CACHING_OFF.load(Ordering::Relaxed) {
        let store = ImageStore::open(root)?;
        return f(&store);
    }
    let map = guard.get_or_insert_with(HashMap::new);
    let entry = match map.entry(root.to_path_buf()) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => v.insert(OpenStore {
            store: ImageStore::open(root)?,
            last_used: Instant::now(),
            opened: Instant::now(),
        }),
    };
    let result = f(&entry.store);
    entry.last_used = Instant::now();
    drop(guard);
    start_closer();
    result
}

/// A thread that closes stores once idle, and ends when none is open.
fn start_closer() {
    if CLOSER_RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("hoist-store-closer".to_string())
        .spawn(|| loop {
            let keep = keep_open();
            std::thread::sleep((keep / 2).min(KEEP_OPEN / 2));
            let mut guard = stores();
            if let Some(map) = guard.as_mut() {
                map.retain(|_, s| {
                    let keep = if s.opened.elapsed() < HOLD_RAISED_AT_MOST {
                        keep
                    } else {
                        KEEP_OPEN
                    };
                    s.last_used.elapsed() < keep
                });
                if !map.is_empty() {
                    continue;
                }
            }
            CLOSER_RUNNING.store(false, Ordering::Release);
            return;
        });
    if spawned.is_err() {
        // Without the closer, nothing may stay open.
        CLOSER_RUNNING.store(false, Ordering::Release);
        close_stores();
    }
}

/// Closes every store this process holds open (cleanly: the next open needs no repair).
/// Call before the process exits.
pub fn close_stores() {
    if let Some(map) = stores().as_mut() {
        map.clear();
    }
}

/// Opens and closes the store on every operation, with no helper thread: for the
/// single-threaded monitor, which forks for libcontainer and must stay thread-free.
pub fn keep_stores_closed() {
    CACHING_OFF.store(true, Ordering::Relaxed);
    close_stores();
}

fn db_err(store: &ImageStore, what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other {
        operation: what.to_string(),
        message: format!(
            "state database {}: {e}",
            store.root().join("state.redb").display()
        ),
    }
}

/// The row `key` of `table`, decoded.
pub fn get<T: DeserializeOwned>(
    store: &ImageStore,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
) -> Result<Option<T>, RuntimeError> {
    let err = |e: &dyn std::fmt::Display| db_err(store, "read state", e);
    let tx = store.database().begin_read().map_err(|e| err(&e))?;
    let t = match tx.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(err(&e)),
    };
    match t.get(key).map_err(|e| err(&e))? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| err(&format!("corrupt row {key}: {e}"))),
    }
}

/// Every row of `table`, decoded, by key.
pub fn all<T: DeserializeOwned>(
    store: &ImageStore,
    table: TableDefinition<&str, &[u8]>,
) -> Result<Vec<(String, T)>, RuntimeError> {
    let err = |e: &dyn std::fmt::Display| db_err(store, "list state", e);
    let tx = store.database().begin_read().map_err(|e| err(&e))?;
    let t = match tx.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(err(&e)),
    };
    let mut out = Vec::new();
    for row in t.iter().map_err(|e| err(&e))? {
        let (k, v) = row.map_err(|e| err(&e))?;
        let value = serde_json::from_slice(v.value())
            .map_err(|e| err(&format!("corrupt row {}: {e}", k.value())))?;
        out.push((k.value().to_string(), value));
    }
    Ok(out)
}

/// Writes `value` under `key`, after `check` (run inside the same write transaction on the
/// table's current rows) allowed it: that is how names stay unique across processes.
pub fn put_checked<T: Serialize + DeserializeOwned>(
    store: &ImageStore,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
    value: &T,
    check: impl FnOnce(&[(String, T)]) -> Result<(), RuntimeError>,
) -> Result<(), RuntimeError> {
    let err = |e: &dyn std::fmt::Display| db_err(store, "write state", e);
    let bytes = serde_json::to_vec(value).map_err(|e| err(&e))?;
    let tx = store.database().begin_write().map_err(|e| err(&e))?;
    {
        let mut t = tx.open_table(table).map_err(|e| err(&e))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|e| err(&e))? {
            let (k, v) = row.map_err(|e| err(&e))?;
            if let Ok(decoded) = serde_json::from_slice(v.value()) {
                rows.push((k.value().to_string(), decoded));
            }
        }
        check(&rows)?;
        t.insert(key, bytes.as_slice()).map_err(|e| err(&e))?;
    }
    tx.commit().map_err(|e| err(&e))
}

/// Writes `value` under `key` unconditionally.
pub fn put<T: Serialize + DeserializeOwned>(
    store: &ImageStore,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
    value: &T,
) -> Result<(), RuntimeError> {
    put_checked(store, table, key, value, |_| Ok(()))
}

/// Deletes the row `key`; returns whether it existed.
pub fn remove(
    store: &ImageStore,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
) -> Result<bool, RuntimeError> {
    let err = |e: &dyn std::fmt::Display| db_err(store, "write state", e);
    let tx = store.database().begin_write().map_err(|e| err(&e))?;
    let existed = {
        let mut t = tx.open_table(table).map_err(|e| err(&e))?;
        let existed = t.remove(key).map_err(|e| err(&e))?.is_some();
        existed
    };
    tx.commit().map_err(|e| err(&e))?;
    Ok(existed)
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/// A mount of a container, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    pub name: Option<String>,
    pub source: String,
    pub destination: String,
    pub read_only: bool,
}

/// `restart:` as the monitor applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Restart {
    No,
    Always,
    UnlessStopped,
    OnFailure(Option<u32>),
}

/// How the container's stdin is wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StdinMode {
    /// `/dev/null`.
    Null,
    /// The `stdin` fifo; the monitor keeps it open, so the process never sees EOF.
    Open,
    /// The `stdin` fifo; EOF reaches the process when the attached client closes it.
    Once,
}

/// Everything the runtime knows about a container besides its process state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// The reference the container was created from, as given.
    pub image: String,
    pub image_id: String,
    /// RFC 3339.
    pub created: String,
    pub created_unix: i64,
    pub labels: BTreeMap<String, String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: Option<String>,
    pub tty: bool,
    pub stdin_open: bool,
    pub mounts: Vec<MountRecord>,
    /// Volumes created for this container only (removed with `rm -v`).
    pub anonymous_volumes: Vec<String>,
    /// Networks the container was created on (recorded; the net module wires them).
    pub networks: BTreeMap<String, Vec<String>>,
    /// The namespace file, `None` with `network_mode: host`.
    pub netns: Option<PathBuf>,
    pub stop_signal: String,
    pub stop_timeout_secs: u64,
}

/// What a monitor needs to run a container, written once at create (`monitor.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorConfig {
    pub id: String,
    /// The image's unpacked layers, bottom first (remounted on every start).
    pub layers: Vec<PathBuf>,
    pub restart: Restart,
    pub stdin: StdinMode,
    pub auto_remove: bool,
    /// The effective healthcheck (see [`super::health::effective`]).
    #[serde(default)]
    pub healthcheck: Option<super::oci::HealthConfig>,
    /// The container's working directory and user, for healthcheck probes.
    #[serde(default)]
    pub working_dir: String,
    #[serde(default)]
    pub user: Option<String>,
}

/// A volume, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub created_at: String,
}

// ---------------------------------------------------------------------------------------
// Process state, written by the monitor
// ---------------------------------------------------------------------------------------

/// A container's process state (`status.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// `created`, `running`, `restarting`, `exited`.
    pub status: String,
    pub pid: Option<i32>,
    pub monitor_pid: Option<i32>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i64>,
    pub restart_count: i64,
    pub error: Option<String>,
}

/// The directory of container `id`.
pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join("containers").join(id)
}

fn alive(pid: Option<i32>) -> bool {
    pid.is_some_and(process_alive)
}

/// Whether process `pid` exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(true)
}

/// The container's process state; `created` when it never started.
pub fn read_run_state(root: &Path, id: &str) -> RunState {
    let path = container_dir(root, id).join("status.json");
    let read = || -> RunState {
        fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| RunState {
                status: "created".to_string(),
                ..Default::default()
            })
    };
    let active = |s: &RunState| matches!(s.status.as_str(), "running" | "restarting");
    let mut state = read();
    // A monitor killed with -9 cannot record anything: what it left says "running" (or
    // "restarting") while nothing runs any more.
    if active(&state) && !alive(state.monitor_pid) && !alive(state.pid) {
        // Or it recorded the exit and went away between our read and the check: a monitor
        // records before it exits, so a second read tells.
        let again = read();
        if !active(&again) {
            return again;
        }
        state = again;
        state.status = "exited".to_string();
        state.exit_code = state.exit_code.or(Some(137));
        state.error = Some("the container's monitor process died".to_string());
    }
    state
}

/// One line of a container's event log (`events.jsonl`): a start or an exit, at the time
/// `status.json` records for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// `start` or `die`.
    pub action: String,
    /// RFC 3339, the `started_at` / `finished_at` of that run.
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

/// The file the monitor's state changes are logged to, for replaying events (`since`).
pub const EVENT_LOG: &str = "events.jsonl";

/// The starts and exits `state` records that `previous` did not.
fn transitions(previous: &RunState, state: &RunState) -> Vec<LoggedEvent> {
    let mut out = Vec::new();
    if let Some(finished) = &state.finished_at {
        if previous.status == "running" && previous.finished_at.as_ref() != Some(finished) {
            out.push(LoggedEvent {
                action: "die".to_string(),
                time: finished.clone(),
                exit_code: state.exit_code,
            });
        }
    }
    if let Some(started) = &state.started_at {
        if state.status == "running" && previous.started_at.as_ref() != Some(started) {
            out.push(LoggedEvent {
                action: "start".to_string(),
                time: started.clone(),
                exit_code: None,
            });
        }
    }
    out
}

/// The events logged for container `id` from byte `offset` on, and the offset after the
/// last complete line.
pub fn read_event_log(root: &Path, id: &str, offset: u64) -> (Vec<LoggedEvent>, u64) {
    use std::io::{Read, Seek, SeekFrom};
    let path = container_dir(root, id).join(EVENT_LOG);
    let mut text = Vec::new();
    let read = fs::File::open(&path).and_then(|mut f| {
        f.seek(SeekFrom::Start(offset))?;
        f.read_to_end(&mut text)
    });
    if read.is_err() {
        return (Vec::new(), offset);
    }
    // A line still being written has no newline yet: it is read next time.
    let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let events = text[..complete]
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect();
    (events, offset + complete as u64)
}

/// Atomically replaces the container's process state, first logging the starts and exits
/// it records to the container's event log (so a watcher that sees the new state can find
/// its events logged).
pub fn write_run_state(root: &Path, id: &str, state: &RunState) -> std::io::Result<()> {
    let dir = container_dir(root, id);
    let previous: RunState = fs::read(dir.join("status.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let logged = transitions(&previous, state);
    if !logged.is_empty() {
        let mut lines = Vec::new();
        for event in &logged {
            serde_json::to_writer(&mut lines, event).map_err(std::io::Error::other)?;
            lines.push(b'\n');
        }
        // One append of whole lines: readers never see half an event.
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(EVENT_LOG))?;
        log.write_all(&lines)?;
    }
    let tmp = dir.join(format!("status.json.{}", std::process::id()));
    let bytes = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    // No fsync: see the module doc.
    fs::File::create(&tmp)?.write_all(&bytes)?;
    fs::rename(&tmp, dir.join("status.json"))
}

/// Reads `monitor.json` of container `id`.
pub fn read_monitor_config(root: &Path, id: &str) -> Result<MonitorConfig, String> {
    let path = container_dir(root, id).join("monitor.json");
    let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("corrupt {}: {e}", path.display()))
}

/// A container record by id, exact name, or unique id prefix.
pub fn find_container(store: &ImageStore, name: &str) -> Result<ContainerRecord, RuntimeError> {
    let name = name.trim_start_matches('/');
    if let Some(r) = get::<ContainerRecord>(store, CONTAINERS, name)? {
        return Ok(r);
    }
    let rows: Vec<ContainerRecord> = all::<ContainerRecord>(store, CONTAINERS)?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    if let Some(r) = rows.iter().find(|r| r.name == name) {
        return Ok(r.clone());
    }
    let matches: Vec<&ContainerRecord> = rows.iter().filter(|r| r.id.starts_with(name)).collect();
    match matches.as_slice() {
        [one] if !name.is_empty() => Ok((*one).clone()),
        [] | [_] => Err(RuntimeError::NotFound {
            kind: ObjectKind::Container,
            name: name.to_string(),
        }),
        _ => Err(RuntimeError::Conflict {
            kind: ObjectKind::Container,
            name: name.to_string(),
            message: "the id prefix matches more than one container; give more of it".into(),
        }),
    }
}
