//! One `hoist watch`: the file watchers, the coalescing loop and the actions, until the
//! caller's shutdown future resolves.
//!
//! Not for: bringing the project up first or printing (the CLI does both), nor matching or
//! packing logic, which live in [`super::rules`], [`super::batch`] and [`super::sync`].

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::batch::{self, Change, Coalescer, Seen};
use super::rules::{self, Rule, ServiceRules};
use super::sync::{self, ArchiveSync, Entry, FileSync, Owner};
use super::WatchEvent;
use crate::compose::model::WatchAction;
use crate::engine::observe::{project_containers, ContainerQuery};
use crate::engine::up::{BuildPolicy, UpOptions};
use crate::engine::{Engine, EngineError, ProjectContext};
use crate::runtime::{ContainerStatus, ExecSpec};

/// Receives what the watch does; called from the watch task, keep it cheap.
pub type EventSink = Arc<dyn Fn(WatchEvent) + Send + Sync>;

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Services to watch; empty: every service with `develop.watch` rules.
    pub services: Vec<String>,
    /// Poll the file system instead of relying on native events.
    pub poll: bool,
    pub poll_interval: Duration,
    /// After a rebuild, remove the service's previous image if nothing uses it.
    pub prune: bool,
    /// A batch is released once its paths were quiet this long.
    pub quiet: Duration,
    /// ... or once it is this old.
    pub max_delay: Duration,
    /// A batch of one path whose writer closed or removed it is released after this.
    pub settle: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            services: Vec::new(),
            poll: false,
            poll_interval: Duration::from_millis(100),
            prune: false,
            // Short enough to stay well under docker compose's 500 ms, long enough that an
            // editor's save (temp file, rename, chmod) and a checkout's burst are one batch.
            quiet: Duration::from_millis(30),
            max_delay: Duration::from_secs(2),
            // Room for what follows a save at once (the rename of an atomic save), far
            // below what anyone notices.
            settle: Duration::from_millis(2),
        }
    }
}

/// A watch over the services of one project.
pub struct WatchSession {
    engine: Engine,
    ctx: ProjectContext,
    services: Vec<ServiceRules>,
    opts: WatchOptions,
    files: Arc<dyn FileSync>,
    sink: EventSink,
    /// Owner of synced files, by container id.
    owners: HashMap<String, Owner>,
    /// Each service's running containers (id, name), as last listed, and when.
    listed: HashMap<String, (Instant, Vec<(String, String)>)>,
}

/// How long a listing of a service's containers is used for syncs (see
/// [`WatchSession::sync_targets`]).
const LISTED_FRESH: Duration = Duration::from_secs(2);

impl WatchSession {
    /// Checks the rules of the selected services; fails with a message naming the service
    /// and rule when one cannot work (missing path, `rebuild` without `build:`...).
    pub fn new(
        engine: Engine,
        ctx: ProjectContext,
        opts: WatchOptions,
        sink: EventSink,
    ) -> Result<WatchSession, EngineError> {
        let services = rules::compile(&ctx, &opts.services)?;
        let files = Arc::new(ArchiveSync::new(engine.runtime.clone()));
        Ok(WatchSession {
            engine,
            ctx,
            services,
            opts,
            files,
            sink,
            owners: HashMap::new(),
            listed: HashMap::new(),
        })
    }

    /// Uses `files` to reach the containers' file systems instead of archive uploads (a
    /// backend with direct access offers one).
    pub fn with_file_sync(mut self, files: Arc<dyn FileSync>) -> WatchSession {
        self.files = files;
        self
    }

    /// The watched services.
    pub fn service_names(&self) -> Vec<String> {
        self.services.iter().map(|s| s.service.clone()).collect()
    }

    /// Runs `initial_sync` rules, then watches until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let roots = watch_roots(&self.services);
        let polling = if self.opts.poll {
            Some("--poll was given".to_string())
        } else {
            roots.iter().find_map(|(root, _)| polling_reason(root))
        };
        let handler = move |res: notify::Result<notify::Event>| {
            let _ = tx.send(res);
        };
        let mut watcher: Box<dyn Watcher + Send> = match &polling {
            Some(_) => {
                // notify's poller keeps mtimes in whole seconds: without comparing contents
                // a second edit within the same second as the first would be missed.
                let config = notify::Config::default()
                    .with_poll_interval(self.opts.poll_interval)
                    .with_compare_contents(true);
                Box::new(notify::PollWatcher::new(handler, config).map_err(watcher_error)?)
            }
            None => Box::new(
                notify::RecommendedWatcher::new(handler, notify::Config::default())
                    .map_err(watcher_error)?,
            ),
        };
        for (root, mode) in &roots {
            let watched = match (&polling, mode) {
                // Native events: directory by directory, leaving ignored trees out.
                (None, RecursiveMode::Recursive) => {
                    watch_tree(watcher.as_mut(), root, &self.services)
                }
                _ => watcher.watch(root, *mode),
            };
            watched.map_err(|e| {
                EngineError::new(format!("cannot watch {}: {e}", root.display()))
                    .with_hint("raise fs.inotify.max_user_watches, or use --poll")
            })?;
        }
        let trees: Vec<PathBuf> = match polling {
            Some(_) => Vec::new(),
            None => roots
                .iter()
                .filter(|(_, m)| *m == RecursiveMode::Recursive)
                .map(|(p, _)| p.clone())
                .collect(),
        };
        (self.sink)(WatchEvent::Watching {
            services: self.service_names(),
            polling,
        });
        self.initial_sync().await;

        let mut coalescer =
            Coalescer::new(self.opts.quiet, self.opts.max_delay).with_settle(self.opts.settle);
        tokio::pin!(shutdown);
        loop {
            let due = coalescer.next_due();
            let sleep = async {
                match due {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                event = rx.recv() => match event {
                    Some(Ok(event)) => {
                        self.watch_new_directories(watcher.as_mut(), &trees, &event);
                        self.record(&mut coalescer, &event);
                    }
                    Some(Err(e)) => (self.sink)(WatchEvent::WatcherError { message: e.to_string() }),
                    None => break,
                },
                () = sleep => {
                    let due = coalescer.take_due(Instant::now());
                    // Ctrl-C during a long action (a rebuild) ends the watch at once. An
                    // interrupted build changes nothing; an interrupted recreate is left as
                    // Ctrl-C during `up` leaves it, and the next `hoist up` converges it.
                    let actions = async {
                        for (service, paths) in due {
                            self.apply(&service, &paths).await;
                        }
                    };
                    tokio::select! {
                        () = actions => {}
                        () = &mut shutdown => break,
                    }
                }
            }
        }
        drop(watcher);
        Ok(())
    }

    /// A directory created or moved into a watched tree gets its own watches (inotify is
    /// not recursive). Files written into it before that are not lost: the batch copies
    /// the whole directory.
    fn watch_new_directories(
        &self,
        watcher: &mut dyn Watcher,
        trees: &[PathBuf],
        event: &notify::Event,
    ) {
        if !matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
        ) {
            return;
        }
        for path in &event.paths {
            let is_dir = path.symlink_metadata().is_ok_and(|m| m.is_dir());
            if !is_dir || !trees.iter().any(|t| path.starts_with(t)) {
                continue;
            }
            if self.services.iter().all(|s| s.skips_tree(path)) {
                continue;
            }
            if let Err(e) = watch_tree(watcher, path, &self.services) {
                (self.sink)(WatchEvent::WatcherError {
                    message: format!("cannot watch {}: {e}", path.display()),
                });
            }
        }
    }

    /// Adds an event's paths to the batches of the services they concern.
    fn record(&self, coalescer: &mut Coalescer, event: &notify::Event) {
        let closed = matches!(
            event.kind,
            EventKind::Access(AccessKind::Close(AccessMode::Write))
        );
        if matches!(event.kind, EventKind::Access(_)) && !closed {
            return;
        }
        let now = Instant::now();
        for (i, path) in event.paths.iter().enumerate() {
            let seen = seen_of(event.kind, i);
            for service in &self.services {
                if !service.matches(path) {
                    continue;
                }
                // A close changes nothing on disk: it says the write before it is whole.
                if !closed {
                    coalescer.add(&service.service, path, seen, now);
                }
                if closed || matches!(event.kind, EventKind::Remove(_)) {
                    coalescer.done(&service.service, path);
                }
            }
        }
    }

    /// `initial_sync: true` rules copy their whole path once, before watching.
    async fn initial_sync(&mut self) {
        let work: Vec<(ServiceRules, Vec<usize>)> = self
            .services
            .iter()
            .map(|s| {
                let rules = s
                    .rules
                    .iter()
                    .filter(|r| r.initial_sync && r.syncs())
                    .map(|r| r.index)
                    .collect::<Vec<_>>();
                (s.clone(), rules)
            })
            .filter(|(_, r)| !r.is_empty())
            .collect();
        for (service, indexes) in work {
            let sync_rules: Vec<&Rule> = service
                .rules
                .iter()
                .filter(|r| indexes.contains(&r.index))
                .collect();
            let changes: Vec<Change> = sync_rules
                .iter()
                .map(|r| Change::Write(r.path.clone()))
                .collect();
            if let Err(e) = self.sync(&service, &changes, &sync_rules).await {
                self.failed(&service.service, "initial sync", &e);
            }
        }
    }

    /// Acts on one released batch of one service.
    async fn apply(&mut self, service_name: &str, paths: &[(PathBuf, bool)]) {
        let Some(service) = self
            .services
            .iter()
            .find(|s| s.service == service_name)
            .cloned()
        else {
            return;
        };
        let changes = batch::resolve(paths, |p| p.symlink_metadata().is_ok());
        let mut fired = BTreeSet::new();
        for change in &changes {
            fired.extend(service.rules_for(change.path()).map(|r| r.index));
        }
        let fired: Vec<&Rule> = service
            .rules
            .iter()
            .filter(|r| fired.contains(&r.index))
            .collect();
        let Some(first) = changes.first() else {
            return;
        };
        let reason = self.shown_path(first.path());
        // A rebuild recreates the containers from the new image: syncing or restarting
        // them as well would be wasted work.
        if fired.iter().any(|r| r.action == WatchAction::Rebuild) {
            self.rebuild(service_name, reason).await;
            return;
        }
        let sync_rules: Vec<&Rule> = fired.iter().copied().filter(|r| r.syncs()).collect();
        if !sync_rules.is_empty() {
            if let Err(e) = self.sync(&service, &changes, &sync_rules).await {
                self.failed(service_name, "sync", &e);
                return;
            }
        }
        for rule in fired.iter().filter(|r| r.action == WatchAction::SyncExec) {
            self.exec(service_name, rule).await;
        }
        if fired
            .iter()
            .any(|r| matches!(r.action, WatchAction::Restart | WatchAction::SyncRestart))
        {
            self.restart(service_name, reason).await;
            self.listed.remove(service_name);
        }
    }

    /// A path for messages: relative to the project directory when inside it.
    fn shown_path(&self, path: &Path) -> String {
        match rules::relative(&self.ctx.working_dir, path) {
            Some(rel) if !rel.is_empty() => rel,
            _ => path.display().to_string(),
        }
    }

    fn failed(&self, service: &str, action: &str, error: &EngineError) {
        (self.sink)(WatchEvent::Failed {
            service: service.to_string(),
            action: action.to_string(),
            error: error.to_string(),
        });
    }

    /// The service's running containers.
    async fn running(&self, service: &str) -> Result<Vec<(String, String)>, EngineError> {
        let query = ContainerQuery {
            project: self.ctx.name().to_string(),
            services: vec![service.to_string()],
            all: false,
            oneoff: false,
        };
        let list = project_containers(self.engine.runtime.as_ref(), &query).await?;
        Ok(list
            .into_iter()
            .filter(|c| c.status == ContainerStatus::Running)
            .map(|c| (c.id, c.name))
            .collect())
    }

    /// Copies what `changes` wrote and deletes what they removed, for each of `sync_rules`,
    /// into every running container of the service.
    async fn sync(
        &mut self,
        service: &ServiceRules,
        changes: &[Change],
        sync_rules: &[&Rule],
    ) -> Result<(), EngineError> {
        let start = Instant::now();
        let mut entries: Vec<Entry> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        let mut counted = 0;
        for change in changes {
            let mut counts = false;
            for rule in sync_rules.iter().filter(|r| r.covers(change.path())) {
                if service.is_ignored(change.path()) {
                    continue;
                }
                let Some(target) = rule.target_of(change.path()) else {
                    continue;
                };
                counts = true;
                match change {
                    Change::Write(path) => {
                        let keep = |p: &Path| !service.is_ignored(p) && rule.covers(p);
                        entries.extend(sync::expand(path, &target, &keep));
                    }
                    Change::Remove(_) => removed.push(target),
                }
            }
            counted += usize::from(counts);
        }
        if counted == 0 {
            return Ok(());
        }
        (self.sink)(WatchEvent::Syncing {
            service: service.service.clone(),
            changes: counted,
        });
        let (containers, cached) = self.sync_targets(&service.service).await?;
        let copied = self.copy_into(&containers, &entries, &removed).await;
        match copied {
            // The service's containers changed since they were listed: list them again.
            Err(_) if cached => {
                self.listed.remove(&service.service);
                let (containers, _) = self.sync_targets(&service.service).await?;
                self.copy_into(&containers, &entries, &removed).await?;
            }
            other => other?,
        }
        (self.sink)(WatchEvent::Synced {
            service: service.service.clone(),
            written: entries.len(),
            removed: removed.len(),
            elapsed: start.elapsed(),
        });
        Ok(())
    }

    /// The service's running containers to sync into, and whether the list is a recent
    /// one kept from before rather than fresh. Listing costs more than a small sync on
    /// the native runtime (a state-database open), so a list is kept for
    /// [`LISTED_FRESH`]; the watch's own restarts and rebuilds drop it.
    async fn sync_targets(
        &mut self,
        service: &str,
    ) -> Result<(Vec<(String, String)>, bool), EngineError> {
        if let Some((at, list)) = self.listed.get(service) {
            if at.elapsed() < LISTED_FRESH {
                return Ok((list.clone(), true));
            }
        }
        let list = self.running(service).await?;
        if list.is_empty() {
            return Err(EngineError::new(format!(
                "service \"{service}\" has no running container to sync into"
            ))
            .with_hint("start it (hoist up -d), or run hoist watch without --no-up"));
        }
        self.listed
            .insert(service.to_string(), (Instant::now(), list.clone()));
        Ok((list, false))
    }

    /// Deletes `removed` and writes `entries` in each of `containers` (id, name).
    async fn copy_into(
        &mut self,
        containers: &[(String, String)],
        entries: &[Entry],
        removed: &[String],
    ) -> Result<(), EngineError> {
        for (id, name) in containers {
            let owner = match self.owners.get(id) {
                Some(o) => *o,
                None => {
                    let o = sync::container_owner(self.engine.runtime.as_ref(), id).await;
                    self.owners.insert(id.clone(), o);
                    o
                }
            };
            // Deletions first: a file replaced by a directory of the same name (or the
            // reverse) must be gone before the new one is extracted.
            if !removed.is_empty() {
                self.files.remove(name, removed).await?;
            }
            if !entries.is_empty() {
                self.files.write(name, entries, owner).await?;
            }
        }
        Ok(())
    }

    /// Runs a `sync+exec` rule's command in each running container of the service.
    async fn exec(&self, service: &str, rule: &Rule) {
        let Some(hook) = &rule.exec else {
            return;
        };
        let containers = match self.running(service).await {
            Ok(c) => c,
            Err(e) => return self.failed(service, "exec", &e),
        };
        let spec = ExecSpec {
            cmd: hook.command.0.clone(),
            env: hook
                .environment
                .0
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect(),
            user: hook.user.clone(),
            working_dir: hook.working_dir.clone(),
            privileged: hook.privileged,
            ..ExecSpec::default()
        };
        let command = spec.cmd.join(" ");
        for (_, name) in containers {
            match self.engine.runtime.exec_collect(&name, &spec).await {
                Ok(out) => {
                    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
                    output.push_str(&String::from_utf8_lossy(&out.stderr));
                    (self.sink)(WatchEvent::Executed {
                        service: service.to_string(),
                        container: name,
                        command: command.clone(),
                        exit_code: out.exit_code,
                        output,
                    });
                }
                Err(e) => self.failed(
                    service,
                    "exec",
                    &EngineError::runtime(&format!("run \"{command}\" in {name}"), e),
                ),
            }
        }
    }

    async fn restart(&self, service: &str, reason: String) {
        let start = Instant::now();
        (self.sink)(WatchEvent::Restarting {
            service: service.to_string(),
            reason,
        });
        let result = self
            .engine
            .restart_services(&self.ctx, &[service.to_string()], None, true)
            .await;
        // Closes the progress block, so a live view does not keep spinning between changes.
        self.engine.reporter.finish();
        match result {
            Ok(()) => (self.sink)(WatchEvent::Restarted {
                service: service.to_string(),
                elapsed: start.elapsed(),
            }),
            Err(e) => self.failed(service, "restart", &e),
        }
    }

    /// Builds the service's image; only when that worked are its containers recreated, so
    /// a broken build leaves the running ones alone.
    async fn rebuild(&mut self, service: &str, reason: String) {
        let start = Instant::now();
        (self.sink)(WatchEvent::Rebuilding {
            service: service.to_string(),
            reason,
        });
        let Some(config) = self.ctx.project.services.get(service) else {
            return;
        };
        let image = self.ctx.image_of(service);
        let previous = self
            .engine
            .runtime
            .inspect_image(&image)
            .await
            .ok()
            .map(|i| i.id);
        let built = self.engine.build_service(&self.ctx, service, config).await;
        self.engine.reporter.finish();
        let built = match built {
            Ok(id) => id,
            Err(e) => {
                let e = EngineError {
                    hint: Some(
                        "the running containers were kept; fix the build and save again".into(),
                    ),
                    ..e
                };
                return self.failed(service, "rebuild", &e);
            }
        };
        let up = UpOptions {
            services: vec![service.to_string()],
            no_deps: true,
            build: BuildPolicy::Never,
            ..UpOptions::default()
        };
        let recreated = self.engine.up(&self.ctx, &up).await;
        self.engine.reporter.finish();
        if let Err(e) = recreated {
            return self.failed(service, "rebuild", &e);
        }
        // New containers: they and their owners are looked up again.
        self.owners.clear();
        self.listed.remove(service);
        if self.opts.prune {
            if let Some(old) = previous.filter(|old| *old != built) {
                // In use by another service or container: keeping it is right.
                let _ = self.engine.runtime.remove_image(&old, false).await;
            }
        }
        (self.sink)(WatchEvent::Rebuilt {
            service: service.to_string(),
            elapsed: start.elapsed(),
        });
    }
}

/// Watches `dir` and every directory below it that some service needs, one inotify watch
/// each. A subdirectory that vanished during the walk is skipped; anything else (the
/// watch limit) is an error.
fn watch_tree(
    watcher: &mut dyn Watcher,
    dir: &Path,
    services: &[ServiceRules],
) -> notify::Result<()> {
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    let Ok(children) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for child in children.flatten() {
        // Symlinked directories are not followed, as `docker build` does not follow them.
        if !child.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = child.path();
        if services.iter().all(|s| s.skips_tree(&path)) {
            continue;
        }
        match watch_tree(watcher, &path, services) {
            Err(e) if vanished(&e) => {}
            other => other?,
        }
    }
    Ok(())
}

fn vanished(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::PathNotFound => true,
        notify::ErrorKind::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// Whether the `index`th path of an event of `kind` appeared (created, or renamed into place).
fn seen_of(kind: EventKind, index: usize) -> Seen {
    match kind {
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Seen::Created,
        // `Both` lists the old path, then the new one.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if index == 1 => Seen::Created,
        _ => Seen::Changed,
    }
}

fn watcher_error(e: notify::Error) -> EngineError {
    EngineError::new(format!("cannot start the file watcher: {e}"))
        .with_hint("use --poll to watch by polling instead")
}

/// What to watch: each rule's directory recursively, a file rule's parent directory alone
/// (editors replace files by renaming, which a watch on the file itself would lose).
/// Roots below another recursive root are left out.
fn watch_roots(services: &[ServiceRules]) -> Vec<(PathBuf, RecursiveMode)> {
    let mut roots: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    for rule in services.iter().flat_map(|s| &s.rules) {
        let root = if rule.path.is_dir() {
            (rule.path.clone(), RecursiveMode::Recursive)
        } else {
            match rule.path.parent() {
                Some(p) => (p.to_path_buf(), RecursiveMode::NonRecursive),
                None => continue,
            }
        };
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    let recursive: Vec<PathBuf> = roots
        .iter()
        .filter(|(_, m)| *m == RecursiveMode::Recursive)
        .map(|(p, _)| p.clone())
        .collect();
    roots.retain(|(p, _)| !recursive.iter().any(|r| r != p && p.starts_with(r)));
    roots
}

/// Why native events cannot be trusted under `path`: file systems whose changes are made
/// elsewhere (network shares, VM shares through 9p, virtiofs or vboxsf) do not deliver
/// inotify events for them.
fn polling_reason(path: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a properly sized,
    // writable statfs buffer for the duration of the call.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    let kind = match stat.f_type as i64 {
        0x6969 => "NFS",
        0x517B | 0xFF53_4D42 | 0xFE53_4D42 => "SMB/CIFS",
        0x0102_1997 => "9p",
        0x6573_5546 => "FUSE (virtiofs, sshfs...)",
        0x786F_4256 => "vboxsf",
        _ => return None,
    };
    Some(format!(
        "{} is on {kind}, where file events are not delivered; polling",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_and_renames_into_place_are_new_paths() {
        use notify::event::{CreateKind, DataChange, RemoveKind};
        assert_eq!(
            seen_of(EventKind::Create(CreateKind::File), 0),
            Seen::Created
        );
        let to = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert_eq!(seen_of(to, 0), Seen::Created);
        let both = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert_eq!(
            (seen_of(both, 0), seen_of(both, 1)),
            (Seen::Changed, Seen::Created)
        );
        let from = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        assert_eq!(seen_of(from, 0), Seen::Changed);
        let data = EventKind::Modify(ModifyKind::Data(DataChange::Content));
        assert_eq!(seen_of(data, 0), Seen::Changed);
        assert_eq!(
            seen_of(EventKind::Remove(RemoveKind::File), 0),
            Seen::Changed
        );
    }

    #[test]
    fn directories_are_watched_recursively_and_files_through_their_parent() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/lib")).expect("mkdir");
        std::fs::write(root.join("package.json"), "{}").expect("write");
        let yaml = "services:\n  web:\n    image: x\n    develop:\n      watch:\n        - {path: ./src, action: sync, target: /app}\n        - {path: ./src/lib, action: restart}\n        - {path: ./package.json, action: restart}\n";
        std::fs::write(root.join("compose.yaml"), yaml).expect("write");
        let opts = crate::compose::load::LoadOptions {
            working_dir: root.to_path_buf(),
            interpolate: true,
            project_name: Some("roots".into()),
            ..Default::default()
        };
        let loaded = crate::compose::load::load(&opts).expect("loads");
        let ctx = ProjectContext::from_loaded(&loaded);
        let services = rules::compile(&ctx, &[]).expect("compiles");
        let roots = watch_roots(&services);
        let project = &ctx.working_dir;
        assert_eq!(
            roots,
            vec![
                (project.join("src"), RecursiveMode::Recursive),
                (project.clone(), RecursiveMode::NonRecursive),
            ]
        );
    }

    #[test]
    fn a_local_directory_needs_no_polling() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fs_type = polling_reason(dir.path());
        // The test machines keep temp dirs on local disks; a share here would be a setup error.
        assert_eq!(fs_type, None);
    }
}
