//! The container init for `init: true` (what Docker's `docker-init`, tini, is to
//! `docker run --init`): a static executable embedded in hoist, written once into the data
//! root and bind-mounted read-only at `/sbin/docker-init`, where the container's command
//! runs under it (`/sbin/docker-init -- <command>`). Its source is `hoist_init.rs`.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where Docker mounts its init, and so where images and users expect it.
pub const INIT_PATH: &str = "/sbin/docker-init";

const BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hoist-init"));

/// The init executable under `root`, written (atomically) by the first container that
/// needs it; named by hoist's version and the binary's size, so an upgrade writes its own.
pub fn ensure(root: &Path) -> io::Result<PathBuf> {
    let dir = root.join("bin");
    let path = dir.join(format!(
        "hoist-init-{}-{}",
        env!("CARGO_PKG_VERSION"),
        BINARY.len()
    ));
    if fs::metadata(&path).is_ok_and(|m| m.len() == BINARY.len() as u64) {
        return Ok(path);
    }
    fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(".hoist-init.{}", std::process::id()));
    fs::write(&tmp, BINARY)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
    fs::rename(&tmp, &path)?;
    Ok(path)
}
