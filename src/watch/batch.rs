//! Coalescing: file events arrive one path at a time, often dozens for one save and
//! thousands for a `git checkout`; this turns them into one batch per service, released
//! once the service's paths have been quiet for a short while.
//!
//! hoist's own debounce rather than `notify-debouncer-full`: that crate delays every event
//! by a fixed timeout and tracks renames by file id, while watch needs a per-service window
//! that closes as soon as a burst ends (a single edit is released after `quiet`, not after
//! docker compose's 500 ms) and only needs to know, per path, whether it appeared during the
//! batch. What is on disk when the batch is released decides what happens, which makes an
//! atomic save (write a temporary file, rename it over the original) one change.
//!
//! A batch of one path whose writer is done (it closed the file, or the path was removed)
//! is released after the much shorter `settle`: a single save then costs about a
//! millisecond of waiting, not the whole quiet window, and anything that follows at once
//! (the rename of an atomic save) still joins it.
//!
//! Not for: matching paths to rules ([`super::rules`]) or acting on them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What happened to a path, as far as the event said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// It was created (or renamed into place).
    Created,
    /// Anything else: modified, removed, renamed away, metadata.
    Changed,
}

/// One path of a released batch, resolved against the disk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Exists now: copy it (a directory with what is below it).
    Write(PathBuf),
    /// Gone now, and existed before the batch: delete it in the container.
    Remove(PathBuf),
}

impl Change {
    pub fn path(&self) -> &Path {
        match self {
            Change::Write(p) | Change::Remove(p) => p,
        }
    }
}

#[derive(Debug)]
struct Batch {
    first: Instant,
    last: Instant,
    /// Path -> whether it first appeared in this batch.
    paths: BTreeMap<PathBuf, bool>,
    /// Its only path's writer is done: released after `settle`.
    settled: bool,
}

impl Batch {
    fn due(&self, c: &Coalescer) -> Instant {
        let quiet = if self.settled { c.settle } else { c.quiet };
        (self.last + quiet).min(self.first + c.max_delay)
    }
}

/// Pending batches, one per service.
#[derive(Debug)]
pub struct Coalescer {
    /// A batch is released once no event came for this long...
    quiet: Duration,
    /// ...or once it is this old, so an endless trickle still syncs.
    max_delay: Duration,
    /// The quiet period of a settled single-path batch.
    settle: Duration,
    pending: BTreeMap<String, Batch>,
}

impl Coalescer {
    pub fn new(quiet: Duration, max_delay: Duration) -> Self {
        Coalescer {
            quiet,
            max_delay,
            settle: quiet,
            pending: BTreeMap::new(),
        }
    }

    /// Releases a settled single-path batch after `settle` instead of `quiet`.
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle.min(self.quiet);
        self
    }

    /// Records that the writer of `path` is done with it (closed it after writing, or
    /// removed it). Only a batch holding that path alone settles: a second path means a
    /// burst may be under way.
    pub fn done(&mut self, service: &str, path: &Path) {
        if let Some(batch) = self.pending.get_mut(service) {
            batch.settled = batch.paths.len() == 1 && batch.paths.contains_key(path);
        }
    }

    /// Records that `path` changed for `service` at `now`.
    pub fn add(&mut self, service: &str, path: &Path, seen: Seen, now: Instant) {
        let batch = self
            .pending
            .entry(service.to_string())
            .or_insert_with(|| Batch {
                first: now,
                last: now,
                paths: BTreeMap::new(),
                settled: false,
            });
        batch.last = now;
        // Written again, or another path: not done yet.
        batch.settled = false;
        // Only the first event of a path says whether it existed before the batch.
        if !batch.paths.contains_key(path) {
            batch
                .paths
                .insert(path.to_path_buf(), seen == Seen::Created);
        }
    }

    /// When the earliest pending batch is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.values().map(|b| b.due(self)).min()
    }

    /// Removes and returns the batches due at `now`: service and the paths it saw, each
    /// with whether it appeared during the batch.
    pub fn take_due(&mut self, now: Instant) -> Vec<(String, Vec<(PathBuf, bool)>)> {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, b)| now >= b.due(self))
            .map(|(s, _)| s.clone())
            .collect();
        due.into_iter()
            .filter_map(|s| {
                let batch = self.pending.remove(&s)?;
                Some((s, batch.paths.into_iter().collect()))
            })
            .collect()
    }
}

/// Turns a released batch into changes: what exists is written, what is gone is removed,
/// except paths that appeared and vanished within the batch (an editor's temporary file).
/// A path below another written directory is dropped: copying the directory covers it.
pub fn resolve(paths: &[(PathBuf, bool)], exists: impl Fn(&Path) -> bool) -> Vec<Change> {
    let mut writes = BTreeSet::new();
    let mut removes = BTreeSet::new();
    for (path, created) in paths {
        if exists(path) {
            writes.insert(path.clone());
        } else if !created {
            removes.insert(path.clone());
        }
    }
    // A written path below another written path: the latter is a directory, and copying
    // it covers the former.
    let covered =
        |set: &BTreeSet<PathBuf>, p: &Path| p.ancestors().skip(1).any(|a| set.contains(a));
    let mut out: Vec<Change> = Vec::new();
    for w in &writes {
        if !covered(&writes, w) {
            out.push(Change::Write(w.clone()));
        }
    }
    for r in &removes {
        // Removing a directory removes what was below it.
        if !r.ancestors().skip(1).any(|a| removes.contains(a)) {
            out.push(Change::Remove(r.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_is_one_batch_per_service_released_after_the_quiet_period() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(ms(50), ms(2000));
        for i in 0..200u64 {
            c.add(
                "web",
                Path::new(&format!("/p/f{i}")),
                Seen::Changed,
                t0 + ms(i / 10),
            );
        }
        c.add("api", Path::new("/p/x"), Seen::Changed, t0 + ms(5));
        assert!(c.take_due(t0 + ms(40)).is_empty());
        let due = c.take_due(t0 + ms(56));
        assert_eq!(due.len(), 1, "only api is quiet long enough");
        assert_eq!(due[0].0, "api");
        let due = c.take_due(t0 + ms(70));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, "web");
        assert_eq!(due[0].1.len(), 200);
        assert!(c.next_due().is_none());
    }

    #[test]
    fn a_single_finished_write_settles_early_and_a_second_path_undoes_it() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(ms(30), ms(2000)).with_settle(ms(2));
        c.add("web", Path::new("/p/a"), Seen::Changed, t0);
        c.done("web", Path::new("/p/a"));
        assert_eq!(c.next_due(), Some(t0 + ms(2)));
        // Written again: back to the quiet period until closed again.
        c.add("web", Path::new("/p/a"), Seen::Changed, t0 + ms(1));
        assert_eq!(c.next_due(), Some(t0 + ms(31)));
        c.done("web", Path::new("/p/a"));
        assert_eq!(c.next_due(), Some(t0 + ms(3)));
        // A second path (a burst, or an atomic save's rename) waits for quiet.
        c.add("web", Path::new("/p/b"), Seen::Created, t0 + ms(2));
        c.done("web", Path::new("/p/b"));
        assert_eq!(c.next_due(), Some(t0 + ms(32)));
        assert_eq!(c.take_due(t0 + ms(32)).len(), 1);
    }

    #[test]
    fn a_trickle_is_released_after_the_maximum_delay() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(ms(50), ms(300));
        for i in 0..20u64 {
            c.add("web", Path::new("/p/a"), Seen::Changed, t0 + ms(i * 20));
        }
        assert_eq!(c.next_due(), Some(t0 + ms(300)));
        assert_eq!(c.take_due(t0 + ms(300)).len(), 1);
    }

    #[test]
    fn the_first_event_of_a_path_decides_whether_it_is_new() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(ms(10), ms(100));
        c.add("web", Path::new("/p/old"), Seen::Changed, t0);
        c.add("web", Path::new("/p/old"), Seen::Created, t0);
        c.add("web", Path::new("/p/tmp"), Seen::Created, t0);
        c.add("web", Path::new("/p/tmp"), Seen::Changed, t0);
        let due = c.take_due(t0 + ms(20));
        assert_eq!(
            due[0].1,
            vec![
                (PathBuf::from("/p/old"), false),
                (PathBuf::from("/p/tmp"), true)
            ]
        );
    }

    #[test]
    fn an_atomic_save_is_one_write() {
        // vim/IDE: write `.app.js.tmp123`, rename it over `app.js`.
        let paths = vec![
            (PathBuf::from("/p/app.js"), false),
            (PathBuf::from("/p/app.js.tmp123"), true),
        ];
        let on_disk = |p: &Path| p == Path::new("/p/app.js");
        assert_eq!(
            resolve(&paths, on_disk),
            vec![Change::Write("/p/app.js".into())]
        );
    }

    #[test]
    fn renames_and_deletes_remove_what_was_there() {
        let paths = vec![
            (PathBuf::from("/p/old.js"), false),
            (PathBuf::from("/p/new.js"), true),
            (PathBuf::from("/p/gone"), false),
            (PathBuf::from("/p/gone/a.js"), false),
        ];
        let on_disk = |p: &Path| p == Path::new("/p/new.js");
        assert_eq!(
            resolve(&paths, on_disk),
            vec![
                Change::Write("/p/new.js".into()),
                Change::Remove("/p/gone".into()),
                Change::Remove("/p/old.js".into()),
            ]
        );
    }

    #[test]
    fn files_below_a_written_directory_are_covered_by_it() {
        let paths = vec![
            (PathBuf::from("/p/dir"), true),
            (PathBuf::from("/p/dir/a"), true),
            (PathBuf::from("/p/dir/b"), true),
            (PathBuf::from("/p/other"), false),
        ];
        let all = |_: &Path| true;
        assert_eq!(
            resolve(&paths, all),
            vec![
                Change::Write("/p/dir".into()),
                Change::Write("/p/other".into())
            ]
        );
    }
}
