//! Filesystem snapshots of the native runtime: each image layer unpacked once into
//! `layers/<chain-id>/` (shared by every container of every image that has it), and a
//! container's rootfs as an overlayfs mount of those layers with its own upper and work
//! directories under `containers/<id>/`.
//!
//! A layer directory appears atomically: it is unpacked into `layers/tmp/` and renamed into
//! place, so a crash leaves either nothing or a complete layer. Mounting and unmounting are
//! idempotent, so a half-created container can always be torn down.
//!
//! Not for: fetching or storing layer blobs (see [`super::store`]), the archive format and
//! its safety checks (see [`super::unpack`]), or anything about running processes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::oci::{Descriptor, ImageConfig};
use super::store::{ImageRecord, ImageStore};
use super::unpack::{unpack_layer_file, UnpackOptions};
use super::ImageError;

fn snap_err(path: &Path, message: impl std::fmt::Display) -> ImageError {
    ImageError::Unpack {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The OCI chain ids of an image's layers, bottom first: `chain(0) = diff_id(0)`,
/// `chain(n) = sha256(chain(n-1) + " " + diff_id(n))`. Identical stacks share ids, so a
/// layer is unpacked once whatever image it came with.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => {
                let mut hasher = Sha256::new();
                hasher.update(format!("{parent} {diff}").as_bytes());
                Digest::from_hasher(hasher)
            }
        };
        out.push(next);
    }
    out
}

/// The chain ids naming the unpacked layers (`layers/<chain-id>`) of an image whose
/// configuration is `config` and layer blobs `layers`, bottom first.
pub fn layer_chain(config: &ImageConfig, layers: &[Descriptor]) -> Vec<Digest> {
    // Configs without diff ids (hand-made images) fall back to the blob digests: still a
    // stable key for the same content.
    let diff_ids: Vec<Digest> = if config.rootfs.diff_ids.len() == layers.len() {
        config.rootfs.diff_ids.clone()
    } else {
        layers.iter().map(|l| l.digest.clone()).collect()
    };
    chain_ids(&diff_ids)
}

/// Makes sure every layer of `record` is unpacked under `layers/`; returns their
/// directories, bottom first.
pub fn ensure_layers(
    store: &ImageStore,
    record: &ImageRecord,
    config: &ImageConfig,
) -> Result<Vec<PathBuf>, ImageError> {
    let chain = layer_chain(config, &record.layers);
    let layers_dir = store.root().join("layers");
    let tmp_dir = layers_dir.join("tmp");
    fs::create_dir_all(&tmp_dir)
        .map_err(|e| snap_err(&tmp_dir, format!("cannot create directory: {e}")))?;
    let mut dirs = Vec::with_capacity(chain.len());
    for (chain, layer) in chain.iter().zip(&record.layers) {
        let dir = layers_dir.join(chain.hex());
        if !dir.is_dir() {
            unpack_atomically(&store.blob_path(&layer.digest), &tmp_dir, &dir)?;
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

fn unpack_atomically(blob: &Path, tmp_dir: &Path, target: &Path) -> Result<(), ImageError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tmp_dir.join(format!(
        "{name}.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&tmp).map_err(|e| snap_err(&tmp, format!("cannot create directory: {e}")))?;
    let options = UnpackOptions {
        overlay: true,
        allow_devices: false,
    };
    let outcome = unpack_layer_file(blob, &tmp, options);
    if let Err(e) = outcome {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, target) {
        let _ = fs::remove_dir_all(&tmp);
        // Another process unpacked the same layer first: theirs is as good as ours.
        if !target.is_dir() {
            return Err(snap_err(
                target,
                format!("cannot move the layer into place: {e}"),
            ));
        }
    }
    Ok(())
}

/// Whether `path` is a mount point (listed in this process's mount table).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(table) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    // Field 5 is the mount point, with spaces and the like octal-escaped.
    table.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|m| unescape_mountinfo(m) == wanted)
    })
}

fn unescape_mountinfo(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The per-container directories of an overlay rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsDirs {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

impl RootfsDirs {
    pub fn under(container_dir: &Path) -> RootfsDirs {
        RootfsDirs {
            upper: container_dir.join("upper"),
            work: container_dir.join("work"),
            merged: container_dir.join("merged"),
        }
    }
}

/// Mounts the overlay rootfs (`lowers` bottom first) on `dirs.merged`, creating the
/// directories; does nothing when it is mounted already.
pub fn mount_rootfs(lowers: &[PathBuf], dirs: &RootfsDirs) -> Result<(), ImageError> {
    for dir in [&dirs.upper, &dirs.work, &dirs.merged] {
        fs::create_dir_all(dir)
            .map_err(|e| snap_err(dir, format!("cannot create directory: {e}")))?;
    }
    if is_mounted(&dirs.merged) {
        return Ok(());
    }
    if lowers.is_empty() {
        return Err(snap_err(&dirs.merged, "the image has no layers to mount"));
    }
    // overlayfs lists the topmost lower directory first.
    let lower: Vec<String> = lowers
        .iter()
        .rev()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dirs.upper.display(),
        dirs.work.display()
    );
    mount(
        Some("overlay"),
        &dirs.merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|e| {
        snap_err(
            &dirs.merged,
            format!("cannot mount the overlay rootfs ({options}): {e}"),
        )
    })
}

/// Unmounts `path` if it is mounted (lazily: a process still inside keeps it alive, the
/// name goes away now).
pub fn unmount(path: &Path) -> Result<(), ImageError> {
    if !is_mounted(path) {
        return Ok(());
    }
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(snap_err(path, format!("cannot unmount: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
    }
}
