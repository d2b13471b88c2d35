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
//! step's layer a moment before the cache entry naming it, in separate transactions: builds
//! hold [`BuildLock`] shared for their whole run and a prune holds it exclusively, so a
//! prune waits for running builds (and they for it) instead of deleting their fresh layers.
//!
//! Not for: deciding what `rm` untags (see the runtime), nor the build cache's keys.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::containers::familiar;
use super::digest::Digest;
use super::snapshot::layer_chain;
use super::state::{self, ContainerRecord, CONTAINERS};
use super::store::{written_by_live_process, ImageStore};
use crate::build::cache::BuildCache;
use crate::runtime::{PruneReport, Result, RuntimeError};

/// `build.lock` under the data root: shared by each build, exclusive for a prune.
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

/// `image prune`: with `all`, every image no container uses is untagged first (a build
/// step's image too); then the content nothing references is deleted.
pub fn prune_images(store: &ImageStore, all: bool) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    if all {
        let in_use = images_in_use(store)?;
        for (name, record) in store.images()? {
            if !in_use.contains(&record.config.digest.to_string()) {
                store.remove_image(&name)?;
                report.untagged.push(familiar(&name));
            }
        }
    }
    collect_garbage(store, &mut report)?;
    Ok(report)
}

/// `builder prune`: forgets the build cache entries no tagged image is built on (their
/// layers are not the bottom of any image's), or with `all` every entry; then deletes the
/// content nothing references any more.
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
        if let Ok(config) = state::read_monitor_config(&root, &container.id) {
            layers.extend(config.layers.iter().filter_map(|p| dir_name(p)));
        }
    }
    layers.extend(mounted_lowers());

    let mut reclaimed = 0u64;
    for (digest, size) in store.blobs()? {
        if !blobs.contains(&digest) {
            store.delete_blob(&digest)?;
            reclaimed += size;
            report.deleted.push(digest.to_string());
        }
    }
    let layers_dir = root.join("layers");
    let tmp = layers_dir.join("tmp");
    if let Ok(entries) = fs::read_dir(&layers_dir) {
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

        let report = prune_images(&store, false).unwrap();
        assert_eq!(report.reclaimed_bytes, 6 + 4);
        assert!(report.untagged.is_empty());
        assert!(!store.has_blob(&orphan));
        assert!(store.has_blob(&layer) && store.has_blob(&record.manifest_digest));
        assert!(!dir.path().join("layers/abc").exists());

        let report = prune_images(&store, true).unwrap();
        assert_eq!(report.untagged, vec!["kept:1".to_string()]);
        assert!(!store.has_blob(&layer));
        assert!(store.blobs().unwrap().is_empty());
    }
}
