//! The busybox rootfs tarball the native-backend tests import as their base image (no
//! registry is reachable): Debian's static busybox, its applets as symlinks, /tmp, and
//! passwd/group files with a non-root user.
//!
//! Not for: Docker-backend tests (see `mod.rs`'s busybox image).

use std::path::{Path, PathBuf};
use std::process::Command;

const BUSYBOX: &str = "/bin/busybox";

/// A rootfs tarball of Debian's static busybox: the binary, its applets as symlinks, /tmp,
/// and passwd/group files with a non-root user.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let binary = std::fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("these tests need {BUSYBOX} ({e}): apt-get install -y busybox-static")
    });
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("run busybox --list");
    let mut tar = tar::Builder::new(Vec::new());
    let add_dir = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_cksum();
        tar.append_data(&mut h, path, &[][..]).expect("tar dir");
    };
    for (d, mode) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
    ] {
        add_dir(&mut tar, d, mode);
    }
    add_dir(&mut tar, "srv/data", 0o755);
    let file = |tar: &mut tar::Builder<Vec<u8>>, path: &str, content: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        tar.append_data(&mut h, path, content).expect("tar file");
    };
    file(&mut tar, "bin/busybox", &binary, 0o755);
    file(
        &mut tar,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
        0o644,
    );
    file(
        &mut tar,
        "etc/group",
        b"root:x:0:\nwww:x:33:\nstaff:x:50:www\n",
        0o644,
    );
    // Content a new volume on /srv/data is filled with.
    file(&mut tar, "srv/data/seed.txt", b"from the image\n", 0o644);
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("tar link");
    }
    let path = dir.join("busybox-rootfs.tar");
    std::fs::write(&path, tar.into_inner().expect("finish tar")).expect("write rootfs tar");
    path
}
