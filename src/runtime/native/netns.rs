//! Persistent network namespaces, one per container, as `ip netns add` makes them: a thread
//! unshares `CLONE_NEWNET`, brings `lo` up, and bind-mounts its namespace onto a file under
//! `/run/hoist/netns/`. The file outlives the thread and the container's processes, so
//! networking can configure the namespace before the container starts and the container
//! joins it through the OCI spec's namespace path.
//!
//! Not for: bridges, veths, addresses or DNS (the `net` module configures the namespace).

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Where the namespace files live.
pub const NETNS_DIR: &str = "/run/hoist/netns";

/// The namespace file of container `id`.
pub fn netns_path(id: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(id)
}

/// Creates the namespace file `path` with a fresh network namespace whose loopback is up.
/// Idempotent: an existing, mounted file is kept.
pub fn create(path: &Path) -> Result<(), String> {
    if super::snapshot::is_mounted(path) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
    }
    fs::write(path, b"").map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let target = path.to_path_buf();
    // Only this short-lived thread changes namespace; the rest of the process stays put.
    let outcome = std::thread::spawn(move || -> Result<(), String> {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot create a network namespace (unshare): {e}"))?;
        loopback_up()?;
        let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
        mount(
            Some(own.as_str()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            format!(
                "cannot bind the network namespace onto {}: {e}",
                target.display()
            )
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the network namespace thread panicked".to_string()));
    if outcome.is_err() {
        let _ = fs::remove_file(path);
    }
    outcome
}

/// Brings `lo` up in the calling thread's network namespace (SIOCSIFFLAGS).
fn loopback_up() -> Result<(), String> {
    // SAFETY: plain socket/ioctl calls on a zeroed, NUL-terminated ifreq we own.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(format!(
                "cannot open a socket to bring lo up: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let mut result = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req);
        if result == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req);
        }
        let err = std::io::Error::last_os_error();
        libc::close(sock);
        if result != 0 {
            return Err(format!("cannot bring lo up in the new namespace: {err}"));
        }
    }
    Ok(())
}

/// Unmounts and deletes the namespace file; a missing one is fine.
pub fn remove(path: &Path) -> Result<(), String> {
    if super::snapshot::is_mounted(path) {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(format!("cannot unmount {}: {e}", path.display())),
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}
