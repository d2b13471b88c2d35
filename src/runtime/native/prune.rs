//! Reclaiming disk in the native runtime's data root: `image prune`, `builder prune`, and
//! the garbage collection both end with, which deletes every blob (`blobs/sha256/`) and
//! unpacked layer (`layers/<chain-id>/`) nothing references any more.
//!
//! What references content: image records (manifest, index, config, layers), build cache
//! entries (layers), containers (their image's config, and the layer directories their
//! overlay mounts, as `monitor.json` lists them) and any overlay mounted right now (its
//! `lowerdir=` in the mount table: a build step's container, a `cp` mount). The collection
//! runs inside one open of the state database, which other hoist processes wait for, so no
//! record can appear half-way. A layer directory is renamed into `layers/tmp/` before it is
//! deleted, so a crash never leaves a partial layer under its chain id. A build stores a
//! step's layer a moment before the cache entry naming it, in separate transactions, and a
//! container create finds its image a while before its record names it: builds hold
//! [`BuildLock`] shared for their whole run, creates from finding the image to committing
//! the record, and a prune holds it exclusively, so a prune waits for them (and they for
//! it) instead of deleting what they are about to reference.
//!
//! Not for: deciding what `rm` untags (see the runtime), nor the build cache's keys.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::archive::is_untagged_key;
use super::containers::familiar;
use super::digest::Digest;
use super::snapshot::layer_chain;
use super::state::{self, ContainerRecord, CONTAINERS};
use super::store::{written_by_live_process, ImageRecord, ImageStore};
use crate::build::cache::BuildCache;
use crate::runtime::{ImagePruneFilters, PruneReport, Result, RuntimeError};

/// `build.lock` under the data root: shared by each build and container create, exclusive
/// for a prune.
pub struct BuildLock {
    _lock: nix::fcntl::Flock<fs::File>,
}

impl BuildLock {
    /// Waits for the lock: `exclusive` for a prune, shared for a build.
    pub fn acquire(root: &Path, exclusive: bool) -> Result<BuildLock> {
        fs::create_dir_all(root).map_err(|e| io_err(root, e))?;
        let path = root.join("build.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let mode = if exclusive {
            nix::fcntl::FlockArg::LockExclusive
        } else {
            nix::fcntl::FlockArg::LockShared
        };
        nix::fcntl::Flock::lock(file, mode)
            .map(|lock| BuildLock { _lock: lock })
            .map_err(|(_, e)| io_err(&path, format!("cannot lock: {e}")))
    }
}

/// Names the native builder gives the images of its RUN steps while they run.
pub const BUILD_STEP_DOMAIN: &str = "hoist-build.invalid/";

fn io_err(path: &Path, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other {
        operation: "prune".to_string(),
        message: format!("{}: {e}", path.display()),
    }
}

/// Config digests (image ids) of the images some container was created from.
fn images_in_use(store: &ImageStore) -> Result<HashSet<String>> {
    Ok(state::all::<ContainerRecord>(store, CONTAINERS)?
        .into_iter()
        .map(|(_, c)| c.image_id)
        .collect())
}

/// `image prune`: dangling images (no name) no container uses are removed, with `all` every
/// image no container uses, of those `filters` admit (by the creation time and labels of
/// their configuration); then the content nothing references is deleted.
pub fn prune_images(
    store: &ImageStore,
    all: bool,
    filters: &ImagePruneFilters,
) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    let in_use = images_in_use(store)?;
    for (name, record) in store.images()? {
        // Dangling: loaded without a name, or a build step's image a crashed build left.
        let dangling = is_untagged_key(&name) || name.starts_with(BUILD_STEP_DOMAIN);
        if (all || dangling)
            && !in_use.contains(&record.config.digest.to_string())
            && admitted(store, &record, filters)
        {
            store.remove_image(&name)?;
            report.untagged.push(familiar(&name));
        }
    }
    collect_garbage(store, &mut report)?;
    Ok(report)
}

/// Whether `filters` let `record` go; an image whose configuration cannot be read is kept
/// when there are filters (what they would say cannot be told).
fn admitted(store: &ImageStore, record: &ImageRecord, filters: &ImagePruneFilters) -> bool {
    if *filters == ImagePruneFilters::default() {
        return true;
    }
    let Ok(config) = store.image_config(record) else {
        return false;
    };
    let created = config
        .created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(SystemTime::from);
    passes(filters, created, &config.config.labels.unwrap_or_default())
}

/// Whether an image created at `created` (unknown: the epoch, as Docker takes it) with
/// `labels` passes `filters`, with Docker's semantics: every `label` must match, and an
/// image matching every `label!` is kept.
fn passes(
    filters: &ImagePruneFilters,
    created: Option<SystemTime>,
    labels: &BTreeMap<String, String>,
) -> bool {
    if let Some((_, until)) = &filters.until {
        if created.unwrap_or(std::time::UNIX_EPOCH) >= *until {
            return false;
        }
    }
    if !filters.labels.iter().all(|l| l.matches(labels)) {
        return false;
    }
    let not = &filters.not_labels;
    not.is_empty() || !not.iter().all(|l| l.matches(labels))
}

/// `builder prune`: forgets the build cache entries no tagged image is built on (their
/// layers are not the bottom of any image's), or with `all` every entry and the cache
/// mounts' directories; then deletes the content nothing references any more.
pub fn prune_build_cache(store: &ImageStore, all: bool) -> Result<PruneReport> {
    let cache = BuildCache::new(store.database());
    let images = store.images()?;
    let mut doomed = Vec::new();
    for (key, entry) in cache.entries()? {
        let used = !all
            && images.iter().any(|(name, record)| {
                !name.starts_with(BUILD_STEP_DOMAIN)
                    && record.layers.len() >= entry.layers.len()
                    && record.layers[..entry.layers.len()] == entry.layers[..]
            });
        if !used {
            doomed.push(key);
        }
    }
    cache.remove(&doomed)?;
    // The blobs and layers this frees count in the space reclaimed; the list names the
    // cache records, as `docker builder prune` does.
    let mut collected = PruneReport::default();
    collect_garbage(store, &mut collected)?;
    // `RUN --mount=type=cache` directories go with `-a` (no build runs: we hold the lock).
    let mounts = store.root().join(crate::build::cache::MOUNTS_DIR);
    if all && mounts.is_dir() {
        collected.reclaimed_bytes += tree_size(&mounts);
        fs::remove_dir_all(&mounts).map_err(|e| io_err(&mounts, e))?;
    }
    Ok(PruneReport {
        untagged: Vec::new(),
        deleted: doomed,
        reclaimed_bytes: collected.reclaimed_bytes,
    })
}

/// Deletes unreferenced blobs and layer directories, adding them to `report`.
pub fn collect_garbage(store: &ImageStore, report: &mut PruneReport) -> Result<()> {
    let root = store.root().to_path_buf();
    let mut blobs: HashSet<Digest> = HashSet::new();
    let mut layers: HashSet<String> = HashSet::new();
    let mut keep_every_layer = false;
    for (_, record) in store.images()? {
        blobs.insert(record.manifest_digest.clone());
        blobs.extend(record.index_digest.clone());
        blobs.insert(record.config.digest.clone());
        blobs.extend(record.layers.iter().map(|l| l.digest.clone()));
        // An unreadable config keeps everything the record names; only its layer
        // directories cannot be named, and a container using them lists them below.
        if let Ok(config) = store.image_config(&record) {
            layers.extend(
                layer_chain(&config, &record.layers)
                    .iter()
                    .map(|c| c.hex().to_string()),
            );
        }
    }
    for (_, entry) in BuildCache::new(store.database()).entries()? {
        blobs.extend(entry.layers.iter().map(|l| l.digest.clone()));
        layers.extend(
            layer_chain(&entry.config, &entry.layers)
                .iter()
                .map(|c| c.hex().to_string()),
        );
    }
    for (_, container) in state::all::<ContainerRecord>(store, CONTAINERS)? {
        if let Ok(id) = container.image_id.parse::<Digest>() {
            blobs.insert(id);
        }
        match state::read_monitor_config(&root, &container.id) {
            Ok(config) => layers.extend(config.layers.iter().filter_map(|p| dir_name(p))),
            // Which layers it mounts cannot be told: delete no layer directory this time.
            Err(_) => keep_every_layer = true,
        }
    }
    layers.extend(mounted_lowers());

    let mut reclaimed = 0u64;
    let mut deleted_blobs = Vec::new();
    for (digest, size) in store.blobs()? {
        if !blobs.contains(&digest) {
            store.delete_blob(&digest)?;
            reclaimed += size;
            report.deleted.push(digest.to_string());
            deleted_blobs.push(digest);
        }
    }
    // A later push must not offer to mount what this store no longer has a record of.
    store.forget_blob_sources(&deleted_blobs)?;
    let layers_dir = root.join("layers");
    let tmp = layers_dir.join("tmp");
    let listed = if keep_every_layer {
        None
    } else {
        fs::read_dir(&layers_dir).ok()
    };
    if let Some(entries) = listed {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "tmp" || layers.contains(&name) {
                continue;
            }
            let path = entry.path();
            let size = tree_size(&path);
            fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
            let doomed = tmp.join(format!("{name}.{}.gc", std::process::id()));
            fs::rename(&path, &doomed).map_err(|e| io_err(&path, e))?;
            fs::remove_dir_all(&doomed).map_err(|e| io_err(&doomed, e))?;
            reclaimed += size;
            report.deleted.push(format!("sha256:{name}"));
        }
    }
    // Leftovers of unpacks (and collections) that crashed half-way.
    if let Ok(entries) = fs::read_dir(&tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !written_by_live_process(&name) {
                reclaimed += tree_size(&entry.path());
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    report.reclaimed_bytes += reclaimed;
    Ok(())
}

fn dir_name(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// Chain ids of the layer directories some overlay mounted now uses as a lower.
fn mounted_lowers() -> Vec<String> {
    let Ok(table) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in table.lines() {
        // The super options follow the ` - <fstype> <source> ` separator.
        let Some((_, tail)) = line.split_once(" - ") else {
            continue;
        };
        let mut fields = tail.split(' ');
        if fields.next() != Some("overlay") {
            continue;
        }
        let options = fields.nth(1).unwrap_or("");
        for option in options.split(',') {
            if let Some(lowers) = option.strip_prefix("lowerdir=") {
                out.extend(
                    lowers
                        .split(':')
                        .filter_map(|l| dir_name(&PathBuf::from(l))),
                );
            }
        }
    }
    out
}

/// Bytes of the regular files under `path` (what deleting it gives back, hard links
/// aside).
pub fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return if meta.is_file() { meta.len() } else { 0 };
    }
    fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| tree_size(&e.path())).sum::<u64>())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prune_s_lock_keeps_builds_out_until_it_is_released() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let prune = BuildLock::acquire(dir.path(), true).unwrap();
        let built = Arc::new(AtomicBool::new(false));
        let build = {
            let (root, built) = (dir.path().to_path_buf(), built.clone());
            std::thread::spawn(move || {
                let _shared = BuildLock::acquire(&root, false).unwrap();
                built.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            !built.load(Ordering::SeqCst),
            "the build waited for the prune"
        );
        drop(prune);
        build.join().unwrap();
        assert!(built.load(Ordering::SeqCst));
        // Builds share it.
        let _a = BuildLock::acquire(dir.path(), false).unwrap();
        let _b = BuildLock::acquire(dir.path(), false).unwrap();
    }

    #[test]
    fn filters_admit_images_as_docker_s_prune_does() {
        use crate::runtime::LabelFilter;
        let at = |s| Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        let labels: BTreeMap<String, String> = [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]
        .into();
        let none = BTreeMap::new();
        let until = ImagePruneFilters {
            until: Some(("100".to_string(), at(100).unwrap())),
            ..Default::default()
        };
        assert!(passes(&until, at(99), &none));
        assert!(!passes(&until, at(100), &none));
        assert!(passes(&until, None, &none), "no creation time: the epoch");
        let label = |l: Vec<LabelFilter>, n: Vec<LabelFilter>| ImagePruneFilters {
            labels: l,
            not_labels: n,
            ..Default::default()
        };
        assert!(passes(
            &label(vec![LabelFilter::has("a")], vec![]),
            None,
            &labels
        ));
        assert!(passes(
            &label(
                vec![LabelFilter::has("a"), LabelFilter::equals("b", "2")],
                vec![]
            ),
            None,
            &labels
        ));
        assert!(!passes(
            &label(
                vec![LabelFilter::has("a"), LabelFilter::equals("b", "3")],
                vec![]
            ),
            None,
            &labels
        ));
        assert!(!passes(
            &label(vec![LabelFilter::has("a")], vec![]),
            None,
            &none
        ));
        // label!: kept only when every one matches.
        let not_a = label(vec![], vec![LabelFilter::equals("a", "1")]);
        assert!(!passes(&not_a, None, &labels));
        assert!(passes(&not_a, None, &none));
        let not_both = label(vec![], vec![LabelFilter::has("a"), LabelFilter::has("z")]);
        assert!(passes(&not_both, None, &labels));
    }

    #[test]
    fn tree_size_counts_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/a"), b"12345").unwrap();
        fs::write(dir.path().join("b"), b"67").unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("link")).unwrap();
        assert_eq!(tree_size(dir.path()), 7);
    }

    #[test]
    fn unreferenced_blobs_go_and_referenced_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let layer = Digest::of(b"layer tar");
        store.write_blob(&layer, b"layer tar").unwrap();
        let record = super::super::import::commit_image(
            &store,
            br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#,
            vec![super::super::oci::Descriptor {
                media_type: "application/vnd.oci.image.layer.v1.tar".to_string(),
                digest: layer.clone(),
                size: 9,
                platform: None,
            }],
        )
        .unwrap();
        store
            .put_image("docker.io/library/kept:1", &record)
            .unwrap();
        let orphan = Digest::of(b"orphan");
        store.write_blob(&orphan, b"orphan").unwrap();
        fs::create_dir_all(dir.path().join("layers/abc")).unwrap();
        fs::write(dir.path().join("layers/abc/f"), b"1234").unwrap();

        let report = prune_images(&store, false, &ImagePruneFilters::default()).unwrap();
        assert_eq!(report.reclaimed_bytes, 6 + 4);
        assert!(report.untagged.is_empty());
        assert!(!store.has_blob(&orphan));
        assert!(store.has_blob(&layer) && store.has_blob(&record.manifest_digest));
        assert!(!dir.path().join("layers/abc").exists());

        let report = prune_images(&store, true, &ImagePruneFilters::default()).unwrap();
        assert_eq!(report.untagged, vec!["kept:1".to_string()]);
        assert!(!store.has_blob(&layer));
        assert!(store.blobs().unwrap().is_empty());
    }
}
