//! Direct writes into a running container's file system from the host, for `hoist watch`'s
//! `sync` on the native runtime: no archive, no helper process, no daemon in between.
//!
//! A container path resolves as `cp` resolves it ([`super::copy`]): under the overlay's
//! merged dir (mounted on the host while the container runs, and the very file system the
//! container sees), or under the host source of the volume or bind mount serving it (the
//! deepest mount wins); symlinks resolve inside that root ([`resolve_in_root`]), and the
//! last component is replaced, never followed, so a symlink the container made cannot send
//! a write or a delete outside it. A file is written to a temporary name beside its target
//! and renamed over it: the container never reads a half-written file.
//!
//! Not for: stopped containers (their rootfs is not mounted; the next start would hide what
//! was written), tmpfs mounts (they live in the container's mount namespace only), or
//! deciding what to copy (`crate::watch`).

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::copy::{components, mount_for, root_for};
use super::snapshot::{self, RootfsDirs};
use super::state::{self, ContainerRecord};
use super::unpack::{ensure_dir, remove_any, resolve_in_root};
use crate::runtime::{ObjectKind, Result, RuntimeError};

/// A running container's file system as the host reaches it.
pub struct LiveRoot {
    record: ContainerRecord,
    merged: PathBuf,
    /// `read_only: true`: the container sees its root mounted read-only, though the
    /// overlay on the host is writable.
    read_only_root: bool,
}

impl LiveRoot {
    /// The record of container `name` (name or id) under data root `root`, for [`Self::of`]:
    /// the one step that reads the state database, so callers syncing often keep it.
    pub fn find(root: &Path, name: &str) -> Result<ContainerRecord> {
        state::with_store(root, |store| state::find_container(store, name))
    }

    /// The file system of container `record` under data root `root`; it must be running
    /// (a conflict error otherwise, also when the record is stale: the container is gone).
    pub fn of(root: &Path, record: ContainerRecord) -> Result<LiveRoot> {
        let dir = state::container_dir(root, &record.id);
        let merged = RootfsDirs::under(&dir).merged;
        let status = state::read_run_state(root, &record.id).status;
        if !matches!(status.as_str(), "running" | "paused") || !snapshot::is_mounted(&merged) {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: record.name.clone(),
                message: "is not running: files are synced into running containers only".into(),
            });
        }
        let read_only_root = read_only_root(&dir.join("config.json"));
        Ok(LiveRoot {
            record,
            merged,
            read_only_root,
        })
    }

    fn failed(&self, what: &str, target: &str, message: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Other {
            operation: format!("{what} {target} in container {}", self.record.name),
            message: message.to_string(),
        }
    }

    /// Where container path `target` is on the host, refusing a place the container cannot
    /// be written through: a read-only mount or root, a tmpfs. Returns the resolved parent
    /// directory and the last component (`None` for a mount point or the root itself).
    fn locate(&self, what: &str, target: &str) -> Result<(PathBuf, Option<String>)> {
        let parts = components(target);
        let served = mount_for(&self.record, &parts);
        let depth = served.map_or(0, |m| components(&m.destination).len());
        // mount_for leaves tmpfs out: one at least as deep hides whatever else serves it.
        if let Some(tmpfs) = self.record.mounts.iter().find(|m| {
            let dest = components(&m.destination);
            m.kind == "tmpfs" && parts.starts_with(&dest) && dest.len() >= depth
        }) {
            return Err(self.failed(
                what,
                target,
                format!(
                    "{} is a tmpfs mount, which only the container's own mount namespace \
                     sees; sync to the container's writable file system or a volume instead",
                    tmpfs.destination
                ),
            ));
        }
        match served {
            Some(m) if m.read_only => {
                return Err(self.failed(
                    what,
                    target,
                    format!(
                        "{} is mounted read-only; the target must be on the container's \
                         writable file system (mount it read-write, or change the rule's \
                         `target`)",
                        m.destination
                    ),
                ))
            }
            None if self.read_only_root => {
                return Err(self.failed(
                    what,
                    target,
                    "the container's root file system is read-only (read_only: true); the \
                     target must be on its writable file system: a read-write volume or bind \
                     mount, or drop read_only",
                ))
            }
            _ => {}
        }
        let (base, rest) = root_for(&self.record, &self.merged, &parts);
        let Some((last, parent)) = rest.split_last() else {
            return Ok((base, None));
        };
        let parent: PathBuf = parent.iter().collect();
        let dir = resolve_in_root(&base, &parent).map_err(|e| self.failed(what, target, e))?;
        Ok((dir, Some(last.clone())))
    }

    /// Writes host file, directory or symlink `host` at container path `target`, owned by
    /// `uid:gid`, keeping its mode and modification time. Missing parents are created (as
    /// root, mode 0755, as an archive extraction creates them). A `host` that vanished is
    /// skipped: the next batch removes it.
    pub fn write(&self, target: &str, host: &Path, uid: u32, gid: u32) -> Result<()> {
        let meta = match fs::symlink_metadata(host) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.failed("read", &host.display().to_string(), e)),
        };
        let (dir, last) = self.locate("write", target)?;
        let fail = |e: io::Error| self.failed("write", target, e);
        ensure_dir(&dir).map_err(fail)?;
        let Some(last) = last else {
            // The target is a mount point or the root: only a directory fits there.
            if meta.is_dir() {
                return set_owner_and_mode(&dir, uid, gid, meta.mode()).map_err(fail);
            }
            return Err(fail(io::Error::other(
                "a file cannot replace a mount point or the root directory",
            )));
        };
        let dest = dir.join(&last);
        let kind = meta.file_type();
        if kind.is_dir() {
            let existing = fs::symlink_metadata(&dest);
            match existing {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&dest).map_err(fail)?;
                    fs::create_dir(&dest).map_err(fail)?;
                }
                Err(_) => fs::create_dir(&dest).map_err(fail)?,
            }
            set_owner_and_mode(&dest, uid, gid, meta.mode()).map_err(fail)
        } else if kind.is_symlink() {
            let link = match fs::read_link(host) {
                Ok(l) => l,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(fail(e)),
            };
            let tmp = dir.join(temp_name(&last));
            remove_any(&tmp).map_err(fail)?;
            std::os::unix::fs::symlink(&link, &tmp).map_err(fail)?;
            std::os::unix::fs::lchown(&tmp, Some(uid), Some(gid)).map_err(fail)?;
            rename_over(&tmp, &dest).map_err(fail)
        } else if kind.is_file() {
            let mut source = match fs::File::open(host) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(fail(e)),
            };
            let tmp = dir.join(temp_name(&last));
            remove_any(&tmp).map_err(fail)?;
            // O_EXCL: never opens through a symlink planted at the temporary name.
            let written = (|| {
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)?;
                io::copy(&mut source, &mut out)?;
                // chown first: it clears set-id bits that chmod then sets again.
                std::os::unix::fs::fchown(&out, Some(uid), Some(gid))?;
                out.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
                if let Ok(mtime) = meta.modified() {
                    out.set_modified(mtime)?;
                }
                Ok(())
            })();
            if let Err(e) = written.and_then(|()| rename_over(&tmp, &dest)) {
                let _ = fs::remove_file(&tmp);
                return Err(fail(e));
            }
            Ok(())
        } else {
            // Sockets, fifos and devices have no place in a source tree.
            Ok(())
        }
    }

    /// Deletes container path `target` and everything below it; a missing one is fine. A
    /// mount point keeps its directory (the mount stays) and loses its content.
    pub fn remove(&self, target: &str) -> Result<()> {
        let (dir, last) = self.locate("remove", target)?;
        let fail = |e: io::Error| self.failed("remove", target, e);
        let Some(last) = last else {
            if components(target).is_empty() {
                return Err(fail(io::Error::other(
                    "refusing to empty the root directory",
                )));
            }
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(fail(e)),
            };
            for entry in entries {
                remove_any(&entry.map_err(fail)?.path()).map_err(fail)?;
            }
            return Ok(());
        };
        remove_any(&dir.join(last)).map_err(fail)
    }
}

/// Whether the runtime spec at `path` mounts the root read-only (`root.readonly`).
fn read_only_root(path: &Path) -> bool {
    fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|spec| spec.pointer("/root/readonly").and_then(|v| v.as_bool()))
        .unwrap_or(false)
}

/// The temporary name a file is written under before it is renamed over `name`.
fn temp_name(name: &str) -> String {
    format!(".{name}.hoist-sync-{}", std::process::id())
}

fn set_owner_and_mode(path: &Path, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
}

/// Renames `tmp` over `dest`; a directory in the way is removed first (rename cannot
/// replace one with a file).
fn rename_over(tmp: &Path, dest: &Path) -> io::Result<()> {
    if fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(dest)?;
    }
    fs::rename(tmp, dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::native::state::MountRecord;

    fn record(mounts: Vec<MountRecord>) -> ContainerRecord {
        ContainerRecord {
            id: "c0ffee".into(),
            name: "proj-app-1".into(),
            image: String::new(),
            image_id: String::new(),
            created: String::new(),
            created_unix: 0,
            labels: Default::default(),
            entrypoint: vec![],
            cmd: vec![],
            env: vec![],
            working_dir: "/".into(),
            user: None,
            tty: false,
            stdin_open: false,
            mounts,
            anonymous_volumes: vec![],
            networks: Default::default(),
            netns: None,
            stop_signal: "SIGTERM".into(),
            stop_timeout_secs: 10,
        }
    }

    fn mount(kind: &str, source: &Path, destination: &str, read_only: bool) -> MountRecord {
        MountRecord {
            kind: kind.into(),
            name: None,
            source: source.display().to_string(),
            destination: destination.into(),
            read_only,
        }
    }

    /// A root over plain directories: `locate`, `write` and `remove` need no mount.
    fn live(dir: &Path, mounts: Vec<MountRecord>, read_only_root: bool) -> LiveRoot {
        let merged = dir.join("merged");
        fs::create_dir_all(&merged).expect("mkdir");
        LiveRoot {
            record: record(mounts),
            merged,
            read_only_root,
        }
    }

    fn own() -> (u32, u32) {
        // SAFETY: no preconditions.
        unsafe { (libc::geteuid(), libc::getegid()) }
    }

    #[test]
    fn files_land_under_the_root_or_the_deepest_mount_with_their_mode() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vol = dir.path().join("vol");
        fs::create_dir_all(&vol).expect("mkdir");
        let live = live(
            dir.path(),
            vec![mount("bind", &vol, "/app/data", false)],
            false,
        );
        let host = dir.path().join("script.sh");
        fs::write(&host, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&host, fs::Permissions::from_mode(0o750)).expect("chmod");
        let (uid, gid) = own();
        live.write("/app/bin/run.sh", &host, uid, gid)
            .expect("writes");
        live.write("/app/data/x.sh", &host, uid, gid)
            .expect("writes");
        let on_root = dir.path().join("merged/app/bin/run.sh");
        assert_eq!(fs::read_to_string(&on_root).expect("read"), "#!/bin/sh\n");
        let mode = fs::metadata(&on_root).expect("stat").mode() & 0o777;
        assert_eq!(mode, 0o750);
        assert!(
            vol.join("x.sh").is_file(),
            "the bind mount's source gets it"
        );
        assert!(!dir.path().join("merged/app/data/x.sh").exists());
        // No temporary file is left beside it.
        let names: Vec<_> = fs::read_dir(dir.path().join("merged/app/bin"))
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["run.sh"]);

        live.remove("/app/bin").expect("removes");
        assert!(!dir.path().join("merged/app/bin").exists());
        live.remove("/app/bin").expect("a missing target is fine");
        // The mount point itself keeps its directory.
        live.remove("/app/data").expect("empties the mount");
        assert!(vol.is_dir() && fs::read_dir(&vol).expect("ls").next().is_none());
    }

    #[test]
    fn a_container_symlink_cannot_send_a_write_or_delete_outside() {
        let dir = tempfile::tempdir().expect("temp dir");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).expect("mkdir");
        fs::write(outside.join("victim"), "keep").expect("write");
        let live = live(dir.path(), vec![], false);
        let merged = dir.path().join("merged");
        // The container made /app a symlink to the host's directory, and /app2/victim a
        // symlink to the host file.
        std::os::unix::fs::symlink(&outside, merged.join("app")).expect("symlink");
        fs::create_dir_all(merged.join("app2")).expect("mkdir");
        std::os::unix::fs::symlink(outside.join("victim"), merged.join("app2/victim"))
            .expect("symlink");
        let host = dir.path().join("new");
        fs::write(&host, "new").expect("write");
        let (uid, gid) = own();
        live.write("/app/victim", &host, uid, gid).expect("writes");
        live.write("/app2/victim", &host, uid, gid).expect("writes");
        assert_eq!(
            fs::read_to_string(outside.join("victim")).expect("read"),
            "keep"
        );
        // The absolute symlink resolved inside the root instead.
        let inside = merged.join(outside.strip_prefix("/").expect("absolute"));
        assert_eq!(
            fs::read_to_string(inside.join("victim")).expect("read"),
            "new"
        );
        assert!(fs::symlink_metadata(merged.join("app2/victim"))
            .expect("stat")
            .is_file());
        live.remove("/app/victim").expect("removes");
        assert!(outside.join("victim").exists());
    }

    #[test]
    fn read_only_places_are_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vol = dir.path().join("vol");
        fs::create_dir_all(&vol).expect("mkdir");
        let host = dir.path().join("f");
        fs::write(&host, "x").expect("write");
        let ro_mount = live(dir.path(), vec![mount("bind", &vol, "/conf", true)], false);
        let err = ro_mount
            .write("/conf/a", &host, 0, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/conf is mounted read-only"), "{err}");
        assert!(err.contains("writable"), "{err}");
        assert!(ro_mount.remove("/conf/a").is_err());

        let ro_root = live(
            dir.path(),
            vec![
                mount("volume", &vol, "/data", false),
                mount("tmpfs", Path::new(""), "/run", false),
            ],
            true,
        );
        let err = ro_root
            .write("/app/a", &host, 0, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("read-only (read_only: true)"), "{err}");
        ro_root
            .write("/data/a", &host, own().0, own().1)
            .expect("a read-write volume on a read-only root is writable");
        let err = ro_root
            .write("/run/a", &host, 0, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tmpfs"), "{err}");
    }

    #[test]
    fn the_runtime_spec_says_whether_the_root_is_read_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.json");
        fs::write(&path, r#"{"root": {"path": "/x", "readonly": true}}"#).expect("write");
        assert!(read_only_root(&path));
        fs::write(&path, r#"{"root": {"path": "/x", "readonly": false}}"#).expect("write");
        assert!(!read_only_root(&path));
        assert!(!read_only_root(&dir.path().join("missing.json")));
    }
}
