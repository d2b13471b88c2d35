//! The host-wide roll of native instances (one per data root, see [`super::state::init`]),
//! so that a data root deleted while its networks existed (`rm -rf` of a test's temp
//! `HOIST_ROOT`, a crashed test) does not leave its bridges, veths and iptables rules on
//! the host forever: nobody would open that root again to repair them.
//!
//! Each instance that opens the host network writes two things, in this order:
//! - `<data root>/network-instance`, its instance id: the witness that the root lives;
//! - `/run/hoist/instances/<instance id>`, JSON naming the data root and the mount
//!   namespace it was seen in.
//!
//! An instance is dead when its record says so: the record's mount namespace is ours (a
//! path seen in another one, a private `/tmp` say, cannot be judged from here) and its
//! data root's witness is missing or names another instance (the root was deleted, or
//! deleted and made again as a new instance). A record without a readable witness for any
//! other reason (permissions, I/O) is left alone. Since the witness is written before the
//! record, and both under the host lock that the sweeps take, a live instance is never
//! seen with a record and no witness. `/run` is a tmpfs, so the roll resets at boot, with
//! the bridges it describes.
//!
//! Not for: deleting the kernel objects (see [`super::HostNetwork::repair`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::NetError;

/// Where the records live.
pub const INSTANCES_DIR: &str = "/run/hoist/instances";
/// The witness file in a data root.
pub const WITNESS: &str = "network-instance";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    data_root: PathBuf,
    /// `/proc/self/ns/mnt` of the process that wrote the record (`mnt:[<inode>]`).
    mount_ns: String,
}

fn mount_ns() -> String {
    fs::read_link("/proc/self/ns/mnt")
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn state_err(path: &Path, what: &str, e: io::Error) -> NetError {
    NetError::State {
        message: format!("cannot {what} {}: {e}", path.display()),
    }
}

/// Writes `content` to `path` through a temporary file and a rename: a reader sees the old
/// content or the new, never half of it.
fn write_atomically(path: &Path, content: &[u8]) -> Result<(), NetError> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    fs::write(&tmp, content).map_err(|e| state_err(&tmp, "write", e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        state_err(path, "write", e)
    })
}

/// Records `instance` as the instance of data root `data_root` in the roll `dir`: its
/// witness first, then its record, each only when missing or different (one read each
/// when nothing changed). Call under the host lock.
pub fn register(dir: &Path, instance: &str, data_root: &Path) -> Result<(), NetError> {
    let data_root = fs::canonicalize(data_root).map_err(|e| state_err(data_root, "resolve", e))?;
    let witness = data_root.join(WITNESS);
    if fs::read_to_string(&witness).ok().as_deref() != Some(instance) {
        write_atomically(&witness, instance.as_bytes())?;
    }
    let record = Record {
        data_root,
        mount_ns: mount_ns(),
    };
    let path = dir.join(instance);
    let current = fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Record>(&b).ok());
    if current.as_ref() != Some(&record) {
        fs::create_dir_all(dir).map_err(|e| state_err(dir, "create", e))?;
        let json = serde_json::to_vec(&record).map_err(|e| NetError::State {
            message: format!("cannot encode the instance record: {e}"),
        })?;
        write_atomically(&path, &json)?;
    }
    Ok(())
}

/// The instances of the roll `dir`, other than `own`, whose records say they are dead
/// (see the module doc).
pub fn dead(dir: &Path, own: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let ours = mount_ns();
    let mut dead: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| !id.starts_with('.') && id != own)
        .filter(|id| {
            let Some(record) = fs::read(dir.join(id))
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
            else {
                return false;
            };
            record.mount_ns == ours && witness_gone(&record.data_root, id)
        })
        .collect();
    dead.sort();
    dead
}

/// Whether the data root's witness is missing or names another instance than `id`.
fn witness_gone(data_root: &Path, id: &str) -> bool {
    match fs::read_to_string(data_root.join(WITNESS)) {
        Ok(witness) => witness != id,
        Err(e) => e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory,
    }
}

/// Deletes the record of `instance` (its kernel objects are gone).
pub fn forget(dir: &Path, instance: &str) -> Result<(), NetError> {
    let path = dir.join(instance);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(state_err(&path, "remove", e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_dead_once_its_data_root_is_deleted_or_taken_over() {
        let host = tempfile::tempdir().unwrap();
        let roll = host.path().join("instances");
        let (a, b) = (host.path().join("a"), host.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        register(&roll, "aaaa", &a).unwrap();
        register(&roll, "bbbb", &b).unwrap();
        // Registering again changes nothing.
        register(&roll, "aaaa", &a).unwrap();
        assert_eq!(fs::read_to_string(a.join(WITNESS)).unwrap(), "aaaa");
        assert!(dead(&roll, "aaaa").is_empty());

        fs::remove_dir_all(&a).unwrap();
        assert_eq!(dead(&roll, "bbbb"), vec!["aaaa".to_string()]);
        // An instance never judges itself.
        assert!(dead(&roll, "aaaa").is_empty());

        // b's root is made again as a new instance: the old one is dead.
        register(&roll, "cccc", &b).unwrap();
        assert_eq!(dead(&roll, "cccc"), vec!["aaaa", "bbbb"]);
        forget(&roll, "aaaa").unwrap();
        forget(&roll, "aaaa").unwrap();
        assert_eq!(dead(&roll, "cccc"), vec!["bbbb"]);
    }

    #[test]
    fn records_from_another_mount_namespace_or_unreadable_ones_are_left_alone() {
        let host = tempfile::tempdir().unwrap();
        let roll = host.path().join("instances");
        fs::create_dir_all(&roll).unwrap();
        let elsewhere = Record {
            data_root: host.path().join("private-tmp-root"),
            mount_ns: "mnt:[1]".to_string(),
        };
        fs::write(roll.join("dddd"), serde_json::to_vec(&elsewhere).unwrap()).unwrap();
        fs::write(roll.join("eeee"), b"not json").unwrap();
        fs::write(roll.join(".ffff.1.tmp"), b"{}").unwrap();
        assert!(dead(&roll, "own").is_empty());
    }
}
