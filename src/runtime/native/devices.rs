//! Host devices in native containers, as Docker gives them: `devices:` entries
//! (`/dev/fuse`, `/dev/sda:/dev/xvda:r`, a directory standing for every device below it)
//! and, for `privileged`, every device of the host's `/dev`, with the cgroup letting the
//! container use any device. libcontainer creates the nodes in the container's `/dev` and
//! writes the cgroup rules from what [`Device::spec_entries`] gives it.
//!
//! Not for: the devices every container has (`/dev/null`, `/dev/tty`…; libcontainer adds
//! those itself).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::runtime::DeviceMapping;

/// One device node to create in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Where it appears in the container.
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The cgroup access: `r`, `w`, `m` in any combination.
    pub access: String,
}

impl Device {
    /// The `linux.devices` entry and the `linux.resources.devices` rule allowing it.
    pub fn spec_entries(&self) -> (Value, Value) {
        let kind = self.kind.to_string();
        (
            json!({"path": self.path, "type": kind, "major": self.major, "minor": self.minor,
                   "fileMode": self.mode & 0o777, "uid": self.uid, "gid": self.gid}),
            json!({"allow": true, "type": kind, "major": self.major, "minor": self.minor,
                   "access": self.access}),
        )
    }
}

/// The device at `path` (symlinks followed, as Docker does), or `None` when it is not a
/// character or block device.
fn device_at(path: &Path, in_container: String, access: &str) -> std::io::Result<Option<Device>> {
    let meta = fs::metadata(path)?;
    let kind = if meta.file_type().is_char_device() {
        'c'
    } else if meta.file_type().is_block_device() {
        'b'
    } else {
        return Ok(None);
    };
    let rdev = meta.rdev();
    Ok(Some(Device {
        path: in_container,
        kind,
        major: nix::sys::stat::major(rdev),
        minor: nix::sys::stat::minor(rdev),
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        access: access.to_string(),
    }))
}

/// Every device below `dir` (recursively), mapped under `target`; directories Docker
/// skips in the host's `/dev` are skipped (`skip`).
fn devices_below(
    dir: &Path,
    target: &str,
    access: &str,
    skip: &[&str],
    out: &mut Vec<Device>,
) -> std::io::Result<()> {
    // An entry that goes away or cannot be read while listing (a device unplugged) is
    // skipped, not the rest of the directory.
    for entry in fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let inside = format!("{}/{name}", target.trim_end_matches('/'));
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !skip.contains(&name.as_str()) {
                let _ = devices_below(&path, &inside, access, &[], out);
            }
        } else if kind.is_char_device() || kind.is_block_device() {
            if let Ok(Some(device)) = device_at(&path, inside, access) {
                out.push(device);
            }
        }
    }
    Ok(())
}

/// The devices of `devices:` entries: a device as is, a directory as every device below
/// it. A path that does not exist or is neither is an error naming it.
fn mapped(mappings: &[DeviceMapping]) -> Result<Vec<Device>, String> {
    let mut out = Vec::new();
    for m in mappings {
        let host = PathBuf::from(&m.host_path);
        let target = if m.container_path.is_empty() {
            m.host_path.clone()
        } else {
            m.container_path.clone()
        };
        if !target.starts_with('/') {
            return Err(format!(
                "device {}: the path in the container, {target}, must be absolute",
                m.host_path
            ));
        }
        let access = if m.permissions.is_empty() {
            "rwm"
        } else {
            m.permissions.as_str()
        };
        if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(format!(
                "device {}: permissions {access:?} must be made of r, w and m",
                m.host_path
            ));
        }
        let meta = fs::metadata(&host).map_err(|e| {
            format!(
                "device {}: {e}; name a device of this host (ls -l {})",
                m.host_path, m.host_path
            )
        })?;
        if meta.is_dir() {
            devices_below(&host, &target, access, &[], &mut out)
                .map_err(|e| format!("device directory {}: {e}", m.host_path))?;
            continue;
        }
        match device_at(&host, target, access)
            .map_err(|e| format!("device {}: {e}", m.host_path))?
        {
            Some(device) => out.push(device),
            None => {
                return Err(format!(
                    "device {} is not a character or block device",
                    m.host_path
                ))
            }
        }
    }
    Ok(out)
}

/// The devices of a container: its `devices:` entries, after every device of the host's
/// `/dev` when `privileged`. One node per path: a later entry replaces an earlier one, as
/// in Docker, so a mapping wins over the host's device of the same path.
pub fn for_container(mappings: &[DeviceMapping], privileged: bool) -> Result<Vec<Device>, String> {
    let mut out = if privileged {
        host_devices()
    } else {
        Vec::new()
    };
    out.extend(mapped(mappings)?);
    let mut seen = std::collections::BTreeSet::new();
    out.reverse();
    out.retain(|d| seen.insert(d.path.clone()));
    out.reverse();
    Ok(out)
}

/// Every device of the host's `/dev`, for a privileged container: what runc's
/// `HostDevices` lists (`/dev/pts`, `/dev/shm`, `/dev/mqueue`, `/dev/fd` and the
/// container's own console are not taken from the host).
fn host_devices() -> Vec<Device> {
    let mut out = Vec::new();
    // A /dev that cannot be read lists what could be (none at worst): privileged still
    // gets every capability and the open device cgroup.
    let _ = devices_below(
        Path::new("/dev"),
        "/dev",
        "rwm",
        &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"],
        &mut out,
    );
    out.retain(|d| d.path != "/dev/console");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(host: &str, container: &str, permissions: &str) -> DeviceMapping {
        DeviceMapping {
            host_path: host.to_string(),
            container_path: container.to_string(),
            permissions: permissions.to_string(),
        }
    }

    #[test]
    fn a_mapped_device_keeps_its_numbers_under_its_new_path() {
        let devices = mapped(&[mapping("/dev/null", "/dev/mynull", "r")]).unwrap();
        assert_eq!(devices.len(), 1);
        let d = &devices[0];
        assert_eq!((d.kind, d.major, d.minor), ('c', 1, 3));
        assert_eq!(d.path, "/dev/mynull");
        let (node, rule) = d.spec_entries();
        assert_eq!(node["type"], "c");
        assert_eq!(rule["access"], "r");
        assert_eq!(rule["allow"], true);
    }

    #[test]
    fn a_path_mapped_twice_keeps_the_last_mapping() {
        let devices = for_container(
            &[
                mapping("/dev/null", "/dev/x", "r"),
                mapping("/dev/zero", "/dev/x", "rw"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!((devices[0].minor, devices[0].access.as_str()), (5, "rw"));
        // Privileged: the host's /dev/null, replaced by a mapping to the same path.
        let devices = for_container(&[mapping("/dev/zero", "/dev/null", "r")], true).unwrap();
        let null: Vec<&Device> = devices.iter().filter(|d| d.path == "/dev/null").collect();
        assert_eq!(null.len(), 1);
        assert_eq!((null[0].minor, null[0].access.as_str()), (5, "r"));
        let e = mapped(&[mapping("/dev/null", "dev/x", "")]).unwrap_err();
        assert!(e.contains("must be absolute"), "{e}");
    }

    #[test]
    fn what_is_not_a_device_is_refused_with_its_path() {
        let e = mapped(&[mapping("/etc/hostname", "", "")]).unwrap_err();
        assert!(
            e.contains("/etc/hostname is not a character or block device"),
            "{e}"
        );
        let e = mapped(&[mapping("/dev/no-such-device", "", "")]).unwrap_err();
        assert!(e.contains("/dev/no-such-device"), "{e}");
        let e = mapped(&[mapping("/dev/null", "", "rx")]).unwrap_err();
        assert!(e.contains("r, w and m"), "{e}");
    }

    #[test]
    fn the_hosts_devices_are_listed_without_pts_or_the_console() {
        let devices = host_devices();
        assert!(devices.iter().any(|d| d.path == "/dev/null"));
        assert!(!devices.iter().any(|d| d.path.starts_with("/dev/pts/")));
        assert!(!devices.iter().any(|d| d.path == "/dev/console"));
    }
}
