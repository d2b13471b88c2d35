//! The native builder's layer cache: for each step it ran, the image state the step left
//! (configuration and layers), keyed by everything the step's result depends on.
//!
//! A step's key covers its parent's key (or, for a stage's first step, the base image's
//! configuration digest), the instruction after substitution, the build args in scope,
//! the platform, and for `COPY`/`ADD` the content digest of the files it takes (never
//! their times). So an unchanged step is found again and costs a lookup, and a change
//! misses that step and every one after it, as Docker users expect.
//!
//! Entries live in the state database next to the image records (redb, one transaction
//! each); the layers they name are blobs of the content store.
//!
//! Not for: running steps or deciding when to use the cache (`--no-cache`): the builder.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::build::mounts::Sharing;
use crate::runtime::native::digest::Digest;
use crate::runtime::native::oci::{Descriptor, ImageConfig};
use crate::runtime::native::ImageError;

/// Cache entries by key (hex); values are serde_json-encoded [`CachedState`]s.
const BUILD_CACHE: TableDefinition<&str, &[u8]> = TableDefinition::new("build_cache");

/// Bumped when what a key covers, or how a step runs, changes: old entries then miss.
const KEY_VERSION: &str = "hoist-build-cache-v1";

/// The image state after a step: what the next step starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedState {
    pub config: ImageConfig,
    /// Layer blobs, bottom first.
    pub layers: Vec<Descriptor>,
}

/// What a step's key is made of.
#[derive(Debug, Clone, Copy)]
pub struct StepKey<'a> {
    /// The previous step's key, or the base image's configuration digest.
    pub parent: &'a Digest,
    /// The instruction after substitution, in a canonical form.
    pub instruction: &'a str,
    /// Build args in scope with their values, sorted by name.
    pub args: &'a [(String, String)],
    /// `os/arch[/variant]` the step builds for.
    pub platform: &'a str,
    /// The content digest of the files a `COPY`/`ADD` takes.
    pub content: Option<&'a Digest>,
}

impl StepKey<'_> {
    pub fn digest(&self) -> Digest {
        let mut h = Sha256::new();
        let mut field = |label: &str, value: &[u8]| {
            // Length-prefixed, so no two different keys hash the same bytes.
            h.update(label.as_bytes());
            h.update((value.len() as u64).to_le_bytes());
            h.update(value);
        };
        field("version", KEY_VERSION.as_bytes());
        field("parent", self.parent.to_string().as_bytes());
        field("instruction", self.instruction.as_bytes());
        for (k, v) in self.args {
            field("arg", format!("{k}={v}").as_bytes());
        }
        field("platform", self.platform.as_bytes());
        if let Some(content) = self.content {
            field("content", content.to_string().as_bytes());
        }
        Digest::from_hasher(h)
    }
}

/// The cache over one state database.
pub struct BuildCache<'a> {
    db: &'a Database,
}

fn cache_err(e: impl std::fmt::Display) -> ImageError {
    ImageError::Store {
        path: "build cache".into(),
        message: e.to_string(),
    }
}

impl<'a> BuildCache<'a> {
    pub fn new(db: &'a Database) -> BuildCache<'a> {
        BuildCache { db }
    }

    /// The state a step with `key` left, if it ran before.
    pub fn get(&self, key: &Digest) -> Result<Option<CachedState>, ImageError> {
        let tx = self.db.begin_read().map_err(cache_err)?;
        let table = match tx.open_table(BUILD_CACHE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(cache_err(e)),
        };
        let Some(value) = table.get(key.hex()).map_err(cache_err)? else {
            return Ok(None);
        };
        // An entry this version cannot read is a miss, not an error: the step runs again.
        Ok(serde_json::from_slice(value.value()).ok())
    }

    /// Records the state a step left.
    pub fn put(&self, key: &Digest, state: &CachedState) -> Result<(), ImageError> {
        let value = serde_json::to_vec(state).map_err(cache_err)?;
        let mut tx = self.db.begin_write().map_err(cache_err)?;
        // No fsync of its own: the build's final (durable) image commit persists it, and a
        // crash before that only loses entries, which then miss and re-run.
        tx.set_durability(redb::Durability::None);
        {
            let mut table = tx.open_table(BUILD_CACHE).map_err(cache_err)?;
            table
                .insert(key.hex(), value.as_slice())
                .map_err(cache_err)?;
        }
        tx.commit().map_err(cache_err)
    }

    /// Every layer digest an entry still needs (what a prune must keep).
    pub fn layers_in_use(&self) -> Result<Vec<Digest>, ImageError> {
        let tx = self.db.begin_read().map_err(cache_err)?;
        let table = match tx.open_table(BUILD_CACHE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(cache_err(e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(cache_err)? {
            let (_, value) = row.map_err(cache_err)?;
            if let Ok(state) = serde_json::from_slice::<CachedState>(value.value()) {
                out.extend(state.layers.into_iter().map(|d| d.digest));
            }
        }
        out.sort_by_key(|d| d.to_string());
        out.dedup();
        Ok(out)
    }

    /// Forgets every entry (`builder prune`); returns how many there were.
    pub fn clear(&self) -> Result<usize, ImageError> {
        let tx = self.db.begin_write().map_err(cache_err)?;
        let removed = {
            let mut table = tx.open_table(BUILD_CACHE).map_err(cache_err)?;
            let keys: Vec<String> = table
                .iter()
                .map_err(cache_err)?
                .filter_map(Result::ok)
                .map(|(k, _)| k.value().to_string())
                .collect();
            for k in &keys {
                table.remove(k.as_str()).map_err(cache_err)?;
            }
            keys.len()
        };
        tx.commit().map_err(cache_err)?;
        Ok(removed)
    }
}

/// `builder prune`: forgets build cache entries and deletes the layer blobs only they
/// kept. Without `all`, entries whose layers all belong to an image in the store stay
/// (they cost no space, and keep rebuilding those images fast); with `all`, every entry
/// goes, and so do the `RUN --mount=type=cache` directories. Returns the bytes reclaimed.
/// Unpacked layer directories are left to the image prune (a container may use them).
pub fn prune(root: &Path, all: bool) -> Result<u64, crate::runtime::RuntimeError> {
    use std::collections::HashSet;
    let mut reclaimed = crate::runtime::native::state::with_store(root, |store| {
        let mut in_images: HashSet<Digest> = HashSet::new();
        for (_, record) in store.images()? {
            in_images.extend(record.layers.iter().map(|l| l.digest.clone()));
        }
        let db = store.database();
        let tx = db.begin_write().map_err(cache_err)?;
        let mut dropped: HashSet<Digest> = HashSet::new();
        let mut kept: HashSet<Digest> = HashSet::new();
        {
            let mut table = tx.open_table(BUILD_CACHE).map_err(cache_err)?;
            let mut remove = Vec::new();
            for row in table.iter().map_err(cache_err)? {
                let (key, value) = row.map_err(cache_err)?;
                let layers: Vec<Digest> = serde_json::from_slice::<CachedState>(value.value())
                    .map(|s| s.layers.into_iter().map(|l| l.digest).collect())
                    .unwrap_or_default();
                if all || !layers.iter().all(|d| in_images.contains(d)) {
                    remove.push(key.value().to_string());
                    dropped.extend(layers);
                } else {
                    kept.extend(layers);
                }
            }
            for key in &remove {
                table.remove(key.as_str()).map_err(cache_err)?;
            }
        }
        tx.commit().map_err(cache_err)?;
        let mut bytes = 0;
        for digest in dropped {
            if in_images.contains(&digest) || kept.contains(&digest) {
                continue;
            }
            let path = store.blob_path(&digest);
            if let Ok(meta) = fs::metadata(&path) {
                if fs::remove_file(&path).is_ok() {
                    bytes += meta.len();
                }
            }
        }
        Ok(bytes)
    })?;
    let mounts = root.join(MOUNTS_DIR);
    if all && mounts.is_dir() {
        reclaimed += tree_size(&mounts);
        fs::remove_dir_all(&mounts).map_err(|e| crate::runtime::RuntimeError::Other {
            operation: "builder prune".to_string(),
            message: format!("cannot remove {}: {e}", mounts.display()),
        })?;
    }
    Ok(reclaimed)
}

/// Bytes of the regular files under `dir`.
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => tree_size(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

/// Where cache mounts live, under the data root.
const MOUNTS_DIR: &str = "build-cache-mounts";

/// The host directory of the `RUN --mount=type=cache` with `id` (under the data root, so
/// it persists across builds and `builder prune --all` can reclaim it).
pub fn mount_dir(root: &Path, id: &str) -> PathBuf {
    root.join(MOUNTS_DIR).join(Digest::of(id.as_bytes()).hex())
}

/// Makes the cache mount directory `dir` ready for one step: creates it (owned `uid:gid`,
/// `mode`) the first time; with `sharing=locked` waits for other builds using it (the
/// returned file holds the lock until dropped); with `sharing=private` a build finding it
/// in use gets the fresh directory `private()` instead.
pub fn acquire_mount(
    dir: &Path,
    sharing: Sharing,
    uid: u32,
    gid: u32,
    mode: u32,
    private: impl FnOnce() -> PathBuf,
) -> std::io::Result<(PathBuf, Option<File>)> {
    let create = |d: &Path| -> std::io::Result<()> {
        if !d.is_dir() {
            fs::create_dir_all(d)?;
            std::os::unix::fs::lchown(d, Some(uid), Some(gid))?;
            fs::set_permissions(d, fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    };
    let data = dir.join("data");
    create(&data)?;
    if sharing == Sharing::Shared {
        return Ok((data, None));
    }
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    let op = if sharing == Sharing::Locked {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    let rc = unsafe { libc::flock(lock.as_raw_fd(), op) };
    if rc == 0 {
        return Ok((data, Some(lock)));
    }
    let e = std::io::Error::last_os_error();
    if sharing == Sharing::Private && e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        let fresh = private();
        create(&fresh)?;
        return Ok((fresh, None));
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(
        parent: &Digest,
        instruction: &str,
        args: &[(String, String)],
        content: Option<&Digest>,
    ) -> Digest {
        StepKey {
            parent,
            instruction,
            args,
            platform: "linux/amd64",
            content,
        }
        .digest()
    }

    #[test]
    fn keys_change_with_each_input_and_only_then() {
        let base = Digest::of(b"base config");
        let args = vec![("VERSION".to_string(), "1".to_string())];
        let k = key(&base, "RUN make", &args, None);
        assert_eq!(k, key(&base, "RUN make", &args, None));
        assert_ne!(k, key(&Digest::of(b"other base"), "RUN make", &args, None));
        assert_ne!(k, key(&base, "RUN make install", &args, None));
        assert_ne!(
            k,
            key(&base, "RUN make", &[("VERSION".into(), "2".into())], None)
        );
        assert_ne!(
            k,
            key(&base, "RUN make", &args, Some(&Digest::of(b"files")))
        );
        // Field boundaries matter: "a" + "bc" is not "ab" + "c".
        assert_ne!(
            key(&base, "RUN a", &[("b".into(), "c".into())], None),
            key(&base, "RUN ab", &[("".into(), "c".into())], None)
        );
    }

    #[test]
    fn entries_round_trip_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("state.redb")).unwrap();
        let cache = BuildCache::new(&db);
        let k = Digest::of(b"k");
        assert_eq!(cache.get(&k).unwrap(), None);
        assert!(cache.layers_in_use().unwrap().is_empty());
        let layer = Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: Digest::of(b"layer"),
            size: 5,
            platform: None,
        };
        let mut config = ImageConfig::default();
        config.config.cmd = Some(vec!["sh".into()]);
        let state = CachedState {
            config,
            layers: vec![layer.clone()],
        };
        cache.put(&k, &state).unwrap();
        assert_eq!(cache.get(&k).unwrap(), Some(state));
        assert_eq!(cache.layers_in_use().unwrap(), vec![layer.digest]);
        assert_eq!(cache.clear().unwrap(), 1);
        assert_eq!(cache.get(&k).unwrap(), None);
    }

    #[test]
    fn prune_keeps_what_images_use_and_all_takes_cache_mounts_too() {
        use crate::runtime::native::state;
        use crate::runtime::native::store::ImageRecord;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let desc = |data: &[u8]| Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: Digest::of(data),
            size: data.len() as u64,
            platform: None,
        };
        let (a, b) = (desc(b"layer a"), desc(b"layer bb"));
        let entry = |layers: Vec<Descriptor>| CachedState {
            config: ImageConfig::default(),
            layers,
        };
        state::with_store(root, |store| {
            store.write_blob(&a.digest, b"layer a")?;
            store.write_blob(&b.digest, b"layer bb")?;
            store.write_blob(&Digest::of(b"m"), b"m")?;
            store.write_blob(&Digest::of(b"c"), b"c")?;
            let record = ImageRecord {
                manifest_digest: Digest::of(b"m"),
                index_digest: None,
                config: desc(b"c"),
                layers: vec![a.clone()],
            };
            store.put_image("docker.io/x/y:latest", &record)?;
            let cache = BuildCache::new(store.database());
            cache.put(&Digest::of(b"k1"), &entry(vec![a.clone()]))?;
            cache.put(&Digest::of(b"k2"), &entry(vec![a.clone(), b.clone()]))?;
            Ok(())
        })
        .unwrap();
        let mount = mount_dir(root, "npm").join("data");
        fs::create_dir_all(&mount).unwrap();
        fs::write(mount.join("f"), "12345").unwrap();

        assert_eq!(prune(root, false).unwrap(), 8, "blob b only");
        state::with_store(root, |store| {
            assert!(store.has_blob(&a.digest) && !store.has_blob(&b.digest));
            let cache = BuildCache::new(store.database());
            assert!(cache.get(&Digest::of(b"k1"))?.is_some());
            assert!(cache.get(&Digest::of(b"k2"))?.is_none());
            Ok(())
        })
        .unwrap();
        assert_eq!(prune(root, true).unwrap(), 5, "the cache mount's file");
        assert!(!mount.exists());
        state::with_store(root, |store| {
            assert!(store.has_blob(&a.digest), "an image's layer stays");
            assert!(BuildCache::new(store.database())
                .get(&Digest::of(b"k1"))?
                .is_none());
            Ok(())
        })
        .unwrap();
        state::close_stores();
    }
}
