//! The cgroup of a native container, read and written through the cgroup files: its
//! processes (for `top`) and its freezer (for `pause`/`unpause`). libcontainer places a
//! container at `/hoist/<lc id>` in every hierarchy (cgroup v1) or in the unified one (v2).
//!
//! Not for: creating or deleting cgroups (libcontainer's, in the monitor).

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::monitor::lc_id;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Whether the host runs cgroup v2 (one unified hierarchy).
pub fn unified() -> bool {
    std::path::Path::new(CGROUP_ROOT)
        .join("cgroup.controllers")
        .exists()
}

/// The container's cgroup directory in the hierarchy of `controller` (v1), or the unified
/// one (v2).
fn dir(controller: &str, id: &str) -> PathBuf {
    let base = PathBuf::from(CGROUP_ROOT);
    let base = if unified() {
        base
    } else {
        base.join(controller)
    };
    base.join("hoist").join(lc_id(id))
}

/// The pids of every process in the container's cgroup.
pub fn pids(id: &str) -> io::Result<Vec<i32>> {
    let path = dir("pids", id).join("cgroup.procs");
    let text = fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Whether the container's cgroup is frozen (or freezing).
pub fn is_frozen(id: &str) -> bool {
    if unified() {
        fs::read_to_string(dir("", id).join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
    } else {
        fs::read_to_string(dir("freezer", id).join("freezer.state"))
            .is_ok_and(|s| matches!(s.trim(), "FROZEN" | "FREEZING"))
    }
}

/// Freezes or thaws the container's processes and waits until the kernel is done.
pub fn set_frozen(id: &str, frozen: bool) -> io::Result<()> {
    let (file, value, state_file, done) = if unified() {
        (
            "cgroup.freeze",
            if frozen { "1" } else { "0" },
            "cgroup.events",
            if frozen { "frozen 1" } else { "frozen 0" },
        )
    } else if frozen {
        ("freezer.state", "FROZEN", "freezer.state", "FROZEN")
    } else {
        ("freezer.state", "THAWED", "freezer.state", "THAWED")
    };
    let dir = dir("freezer", id);
    let path = dir.join(file);
    fs::write(&path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    // Freezing is asynchronous: FREEZING until every task stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = fs::read_to_string(dir.join(state_file)).unwrap_or_default();
        if state.lines().any(|l| l.trim() == done) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{} did not reach {done} within 10 s",
                path.display()
            )));
        }
        if frozen && !unified() {
            // A task forking while freezing can leave it FREEZING: asking again retries.
            let _ = fs::write(&path, value);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
