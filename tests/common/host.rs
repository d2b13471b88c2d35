//! What the native runtime leaves on the host, read from the kernel's own tables: mounts,
//! processes, network links, iptables rules. The native-backend tests assert on these after
//! `down` (and after a killed `up`), so nothing of a project may outlive it.
//!
//! Not for: objects the runtime itself lists (containers, networks, volumes): ask it.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Mount points under `dir` in the host's mount table, deepest last as the kernel lists them.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let prefix = dir.display().to_string();
    table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Detaches every mount under `dir` (deepest first), so removing `dir` cannot reach
/// through a leftover mount into a bind-mounted host directory or a volume.
pub fn detach_mounts_under(dir: &Path) {
    for mount in mounts_under(dir).iter().rev() {
        if let Ok(path) = std::ffi::CString::new(mount.as_str()) {
            // SAFETY: umount2 takes a NUL-terminated path that outlives the call.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Processes whose command line mentions `needle` (monitors carry the data root).
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!("{name}: {cmdline}"));
            }
        }
    }
    found
}

/// The lines `program args` prints; fails the test when it cannot run or fails.
pub fn command_lines(program: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Names of the host's network links starting with `prefix`.
pub fn links_with_prefix(prefix: &str) -> Vec<String> {
    command_lines("ip", &["-o", "link"])
        .iter()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// Names of the links enslaved to bridge `bridge` (the host ends of its veths).
pub fn ports_of(bridge: &str) -> Vec<String> {
    command_lines("ip", &["-o", "link", "show", "master", bridge])
        .iter()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect()
}

/// The filter and nat tables' rules (`iptables -S`), one per line.
pub fn iptables_rules() -> Vec<String> {
    let mut rules = command_lines("iptables", &["-S"]);
    rules.extend(command_lines("iptables", &["-t", "nat", "-S"]));
    rules
}

/// Whether this process runs as root (the native runtime needs it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
