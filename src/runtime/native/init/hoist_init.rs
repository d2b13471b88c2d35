//! hoist's container init (`init: true`, mounted as `/sbin/docker-init` as Docker mounts
//! tini): PID 1 of the container, it runs `-- <command>` as its child in a process group of
//! its own (the terminal's foreground group when there is one), forwards every signal it
//! gets to that child, reaps every process that exits in the container (orphans included),
//! and exits with the child's status (`128 + signal` when a signal ended it).
//!
//! Built by `build.rs` as a standalone static executable (std only, glibc linked
//! statically) so that it runs in any image, with or without a libc; embedded in hoist.

use std::ffi::c_int;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// glibc's `sigset_t`: 1024 bits.
#[repr(C)]
struct SigSet([u64; 16]);

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

const SIG_BLOCK: c_int = 0;
const SIG_SETMASK: c_int = 2;
const WNOHANG: c_int = 1;
const SIGCHLD: c_int = 17;
const SIGTTIN: c_int = 21;
const SIGTTOU: c_int = 22;
const SIG_IGN: usize = 1;
const SIG_DFL: usize = 0;
/// Signals a process cannot wait for: they mean a fault of its own.
const SYNCHRONOUS: [c_int; 5] = [4, 5, 7, 8, 11]; // SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV

extern "C" {
    fn sigfillset(set: *mut SigSet) -> c_int;
    fn sigdelset(set: *mut SigSet, signum: c_int) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigtimedwait(set: *const SigSet, info: *mut [u8; 128], timeout: *const Timespec) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn setpgid(pid: c_int, pgid: c_int) -> c_int;
    fn tcsetpgrp(fd: c_int, pgrp: c_int) -> c_int;
    fn getpid() -> c_int;
    fn isatty(fd: c_int) -> c_int;
    fn signal(signum: c_int, handler: usize) -> usize;
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("docker-init (hoist): usage: docker-init -- <command> [args...]");
        std::process::exit(1);
    }
    // Every asynchronous signal waits for the loop below; the child gets the old mask.
    let mut all = SigSet([0; 16]);
    let mut old = SigSet([0; 16]);
    unsafe {
        sigfillset(&mut all);
        for s in SYNCHRONOUS {
            sigdelset(&mut all, s);
        }
        sigprocmask(SIG_BLOCK, &all, &mut old);
    }
    let old_mask = old.0;
    let mut command = Command::new(&args[0]);
    command.args(&args[1..]);
    unsafe {
        command.pre_exec(move || {
            // Its own process group, in the terminal's foreground when there is one
            // (ignoring SIGTTOU, which taking the foreground from the background raises).
            setpgid(0, 0);
            if isatty(0) == 1 {
                signal(SIGTTOU, SIG_IGN);
                signal(SIGTTIN, SIG_IGN);
                tcsetpgrp(0, getpid());
                signal(SIGTTOU, SIG_DFL);
                signal(SIGTTIN, SIG_DFL);
            }
            let mask = SigSet(old_mask);
            sigprocmask(SIG_SETMASK, &mask, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = match command.spawn() {
        Ok(child) => child.id() as c_int,
        Err(e) => {
            eprintln!("docker-init (hoist): cannot run {}: {e}", args[0]);
            std::process::exit(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
        }
    };
    let timeout = Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    loop {
        let mut info = [0u8; 128];
        let sig = unsafe { sigtimedwait(&all, &mut info, &timeout) };
        if sig > 0 && sig != SIGCHLD {
            unsafe {
                kill(child, sig);
            }
        }
        // Reap everything that exited; the child's end is the container's.
        loop {
            let mut status: c_int = 0;
            let pid = unsafe { waitpid(-1, &mut status, WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == child {
                let code = if status & 0x7f == 0 {
                    (status >> 8) & 0xff
                } else {
                    128 + (status & 0x7f)
                };
                std::process::exit(code);
            }
        }
    }
}
