//! `cp` on the native runtime: tar archives into and out of a container's filesystem, as
//! Docker's archive API exchanges them.
//!
//! Paths resolve inside the container's root as the container sees it: under the overlay
//! merged dir, or under a volume's or bind mount's host source when the path is inside one
//! (the deepest mount wins), with symlinks resolved against that root so a container's
//! symlink can never point a copy outside it ([`resolve_in_root`]). A stopped container's
//! rootfs is mounted for the copy and unmounted after.
//!
//! Not for: following the path's own last symlink (the engine asks again for the target,
//! as with Docker), or tmpfs mounts (they live in the container's mount namespace only).

use std::io::Cursor;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

use super::snapshot::{self, RootfsDirs};
use super::state::{self, ContainerRecord, MountRecord};
use super::unpack::{resolve_in_root, unpack_layer, UnpackOptions};
use crate::runtime::{ObjectKind, Result, RuntimeError};

fn failed(
    operation: &str,
    record: &ContainerRecord,
    message: impl std::fmt::Display,
) -> RuntimeError {
    RuntimeError::Other {
        operation: format!("{operation} container {}", record.name),
        message: message.to_string(),
    }
}

fn not_found(record: &ContainerRecord, path: &str) -> RuntimeError {
    RuntimeError::NotFound {
        kind: ObjectKind::Container,
        name: format!(
            "{}:{path} (no such file or directory in the container)",
            record.name
        ),
    }
}

/// The container's rootfs mounted for the duration of a copy (only unmounted by us when
/// we mounted it).
struct Rootfs {
    merged: PathBuf,
    ours: bool,
}

impl Rootfs {
    fn open(root: &Path, record: &ContainerRecord) -> Result<Rootfs> {
        let dirs = RootfsDirs::under(&state::container_dir(root, &record.id));
        if snapshot::is_mounted(&dirs.merged) {
            return Ok(Rootfs {
                merged: dirs.merged,
                ours: false,
            });
        }
        let config = state::read_monitor_config(root, &record.id)
            .map_err(|e| failed("copy files of", record, e))?;
        snapshot::mount_rootfs(&config.layers, &dirs)?;
        Ok(Rootfs {
            merged: dirs.merged,
            ours: true,
        })
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        if self.ours {
            if let Err(e) = snapshot::unmount(&self.merged) {
                eprintln!("warning: {e}");
            }
        }
    }
}

/// The normal components of container path `path`, refusing `..` above the root.
pub(super) fn components(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts
}

/// The mount serving container path `parts`, if a volume or bind mount does.
pub(super) fn mount_for<'a>(
    record: &'a ContainerRecord,
    parts: &[String],
) -> Option<&'a MountRecord> {
    record
        .mounts
        .iter()
        .filter(|m| m.kind != "tmpfs" && !m.source.is_empty())
        .filter(|m| parts.starts_with(&components(&m.destination)))
        .max_by_key(|m| components(&m.destination).len())
}

/// The host directory serving container path `parts` and the rest of the path below it.
pub(super) fn root_for(
    record: &ContainerRecord,
    merged: &Path,
    parts: &[String],
) -> (PathBuf, Vec<String>) {
    match mount_for(record, parts) {
        Some(m) => (
            PathBuf::from(&m.source),
            parts[components(&m.destination).len()..].to_vec(),
        ),
        None => (merged.to_path_buf(), parts.to_vec()),
    }
}

/// Resolves container path `path` on the host; the last component is not followed.
fn host_path(record: &ContainerRecord, merged: &Path, path: &str) -> Result<PathBuf> {
    let parts = components(path);
    let (base, rest) = root_for(record, merged, &parts);
    let Some((last, parent)) = rest.split_last() else {
        return Ok(base);
    };
    let parent: PathBuf = parent.iter().collect();
    let dir =
        resolve_in_root(&base, &parent).map_err(|e| failed("resolve a path in", record, e))?;
    Ok(dir.join(last))
}

/// Extracts `tar` into directory `path` of the container.
pub fn copy_to(root: &Path, record: &ContainerRecord, path: &str, tar: &Bytes) -> Result<()> {
    let rootfs = Rootfs::open(root, record)?;
    let parts = components(path);
    if mount_for(record, &parts).is_some_and(|m| m.read_only) {
        return Err(failed(
            "copy into",
            record,
            format!("{path} is on a read-only mount: mount it read-write to copy into it"),
        ));
    }
    let (base, rest) = root_for(record, &rootfs.merged, &parts);
    let rest: PathBuf = rest.iter().collect();
    // The destination itself may be a symlink to a directory: followed, inside the root.
    let dest = resolve_in_root(&base, &rest).map_err(|e| failed("copy into", record, e))?;
    if !dest.is_dir() {
        return Err(not_found(record, path));
    }
    let report = unpack_layer(
        Cursor::new(tar.as_ref()),
        &dest,
        UnpackOptions {
            overlay: false,
            allow_devices: false,
        },
    )
    .map_err(|e| failed("copy into", record, e))?;
    if !report.refused.is_empty() {
        let list: Vec<String> = report
            .refused
            .iter()
            .map(|r| format!("{} ({})", r.path, r.reason))
            .collect();
        return Err(failed(
            "copy into",
            record,
            format!(
                "the archive has entries that would land outside {path}: {}",
                list.join(", ")
            ),
        ));
    }
    Ok(())
}

/// A tar of container path `path` (a file, a directory with its content, or a symlink
/// itself), named by its last component as Docker names it.
pub fn copy_from(root: &Path, record: &ContainerRecord, path: &str) -> Result<Bytes> {
    let rootfs = Rootfs::open(root, record)?;
    let host = host_path(record, &rootfs.merged, path)?;
    let meta = std::fs::symlink_metadata(&host).map_err(|_| not_found(record, path))?;
    let name = components(path).pop().unwrap_or_else(|| ".".to_string());
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let result = if meta.is_dir() {
        builder.append_dir_all(&name, &host)
    } else {
        builder.append_path_with_name(&host, &name)
    };
    result
        .and_then(|()| builder.into_inner())
        .map(Bytes::from)
        .map_err(|e| failed("copy from", record, format!("{}: {e}", host.display())))
}
