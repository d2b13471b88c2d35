//! Waiting for a container's state to change, woken by the kernel instead of sleeping in a
//! loop: a process's exit makes its pidfd readable, so a wait for a container to stop
//! sleeps on the pidfds of its process and of its monitor, and once one of them has exited
//! re-reads the state the monitor is about to record in short, growing steps.
//!
//! A plain sleep loop wakes late by up to its longest sleep (20 ms before this module),
//! which a `run --rm` paid twice (for the exit, then for the monitor's teardown) and a build
//! once per `RUN` step. inotify on the container directory would see the status rename
//! itself, but closing an inotify instance waits for an SRCU grace period (up to 16 ms
//! measured here), more than it saves. Every wait still re-reads the state at least every
//! [`RECHECK`], so a missed wake-up costs that much latency, never a hang.
//!
//! Not for: deciding what a state means (see [`super::state`]).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::state::{self, RunState};

/// The longest a wait goes without re-reading the state itself.
pub const RECHECK: Duration = Duration::from_millis(50);

/// The first and the longest pause between reads of a state the monitor is about to
/// change (its container has exited; recording that takes it about a millisecond). The
/// pauses double up to [`RECHECK`]: a monitor that never records (stuck, or a zombie
/// not reaped yet) is not polled every few milliseconds for long.
const SETTLE_FIRST: Duration = Duration::from_micros(200);
const SETTLE_MAX: Duration = RECHECK;

/// How long a wait sleeps between checks when it has no pidfd to sleep on (a kernel
/// before 5.3).
const FALLBACK_SLEEP: Duration = Duration::from_millis(5);

/// Opens a pidfd for `pid`: `Ok(None)` when the process is gone already, `Err` when the
/// kernel has no pidfds (before 5.3) or refuses.
fn pidfd_open(pid: i32) -> std::io::Result<Option<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ESRCH) => Ok(None),
            _ => Err(e),
        };
    }
    let fd = RawFd::try_from(fd).map_err(std::io::Error::other)?;
    // SAFETY: the descriptor was just returned to us and is owned by nobody else.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// The processes a state names, as something to wait on.
enum Processes {
    /// pidfds of those that exist (they may have exited, unreaped).
    Live(Vec<OwnedFd>),
    /// All of them are gone entirely: the state is about to change.
    Gone,
    /// None to wait on (never started, restarting, or no pidfds): sleep and re-read.
    Unknown,
}

fn processes(run: &RunState) -> Processes {
    let pids: Vec<i32> = [run.pid, run.monitor_pid]
        .into_iter()
        .flatten()
        .filter(|p| *p > 0)
        .collect();
    let mut fds = Vec::new();
    for &pid in &pids {
        match pidfd_open(pid) {
            Ok(Some(fd)) => fds.push(fd),
            // Gone: the other one (a container whose monitor was killed) is waited on.
            Ok(None) => {}
            Err(_) => return Processes::Unknown,
        }
    }
    match (pids.is_empty(), fds.is_empty()) {
        (true, _) => Processes::Unknown,
        (false, true) => Processes::Gone,
        (false, false) => Processes::Live(fds),
    }
}

/// `timeout` in whole milliseconds for poll(2), rounded up: a sub-millisecond rest of a
/// deadline must not become a zero timeout polled in a loop.
fn poll_timeout(timeout: Duration) -> PollTimeout {
    let ms = timeout.as_micros().div_ceil(1000).max(1);
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::NONE)
}

/// Blocks until one of `fds` is readable (its process exited) or `timeout`; returns
/// whether one was.
fn poll_exit(fds: &[OwnedFd], timeout: Duration) -> bool {
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
        .collect();
    let ms = poll_timeout(timeout);
    match poll(&mut polled, ms) {
        Ok(n) => n > 0,
        Err(_) => {
            std::thread::sleep(timeout.min(FALLBACK_SLEEP));
            false
        }
    }
}

/// Pauses between reads of a state that is about to change: short at first, growing.
struct Settle(Duration);

impl Settle {
    fn new() -> Settle {
        Settle(SETTLE_FIRST)
    }

    fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(SETTLE_MAX);
        now
    }
}

/// Blocks until the status of container `id` under `root` satisfies `done` or `deadline`
/// passes; returns the last status read and whether it satisfied `done`.
pub fn until_status(
    root: &Path,
    id: &str,
    deadline: Instant,
    done: impl Fn(&RunState) -> bool,
) -> (RunState, bool) {
    let mut settle = Settle::new();
    loop {
        let run = state::read_run_state(root, id);
        if done(&run) {
            return (run, true);
        }
        let now = Instant::now();
        if now >= deadline {
            return (run, false);
        }
        let left = deadline - now;
        let exited = match processes(&run) {
            Processes::Live(fds) => poll_exit(&fds, left.min(RECHECK)),
            Processes::Gone => true,
            Processes::Unknown => {
                std::thread::sleep(left.min(settle.next()));
                continue;
            }
        };
        if exited {
            std::thread::sleep(left.min(settle.next()));
        }
    }
}

/// A pidfd owned, as tokio's registration wants a raw descriptor.
struct PidFd(OwnedFd);

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// [`until_status`] for async code, without a deadline: a future, so a task waiting on it
/// can be cancelled (a `select!` on Ctrl-C) and holds no thread.
pub async fn until_status_async(
    root: &Path,
    id: &str,
    done: impl Fn(&RunState) -> bool,
) -> RunState {
    let mut settle = Settle::new();
    loop {
        let run = state::read_run_state(root, id);
        if done(&run) {
            return run;
        }
        let fds = match processes(&run) {
            Processes::Live(fds) => fds,
            Processes::Gone | Processes::Unknown => {
                tokio::time::sleep(settle.next()).await;
                continue;
            }
        };
        let mut registered = Vec::new();
        for fd in fds {
            // SAFETY: `PidFd` keeps the descriptor open for as long as the AsyncFd holding
            // it lives, and nothing else closes or registers it.
            match unsafe { AsyncFd::register_with_interest(PidFd(fd), Interest::READABLE) } {
                Ok(async_fd) => registered.push(async_fd),
                Err(_) => break,
            }
        }
        if registered.is_empty() {
            tokio::time::sleep(settle.next()).await;
            continue;
        }
        let any_exit =
            futures_util::future::select_all(registered.iter().map(|fd| Box::pin(fd.readable())));
        if tokio::time::timeout(RECHECK, any_exit).await.is_ok() {
            tokio::time::sleep(settle.next()).await;
        }
    }
}

/// Blocks until process `pid` has exited (or is a zombie) or `deadline` passes; returns
/// whether it has exited.
pub fn process_exit(pid: i32, deadline: Instant) -> bool {
    let pidfd = match pidfd_open(pid) {
        Ok(None) => return true,
        Ok(Some(fd)) => Some(fd),
        Err(_) => None,
    };
    loop {
        if !state::process_alive(pid) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let slice = (deadline - now).min(RECHECK);
        match &pidfd {
            Some(fd) => {
                poll_exit(std::slice::from_ref(fd), slice);
            }
            None => std::thread::sleep(slice.min(FALLBACK_SLEEP)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_exit_is_seen_as_it_happens() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.05")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let started = Instant::now();
        assert!(process_exit(pid, started + Duration::from_secs(5)));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(40), "{waited:?}");
        let _ = child.wait();
        // Gone (reaped) now: answered at once.
        assert!(process_exit(pid, Instant::now()));
    }

    #[test]
    fn a_process_that_lives_on_is_waited_for_until_the_deadline() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let started = Instant::now();
        assert!(!process_exit(
            child.id() as i32,
            started + Duration::from_millis(30)
        ));
        assert!(started.elapsed() >= Duration::from_millis(30));
        let _ = child.kill();
        let _ = child.wait();
    }

    /// A stand-in monitor: a process that runs, then the status it leaves once it exited.
    fn running_then_exited(root: &Path, id: &str) -> std::thread::JoinHandle<()> {
        std::fs::create_dir_all(state::container_dir(root, id)).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("0.03")
            .spawn()
            .unwrap();
        let running = RunState {
            status: "running".to_string(),
            pid: Some(child.id() as i32),
            // This process plays the monitor, which outlives its container.
            monitor_pid: Some(std::process::id() as i32),
            ..Default::default()
        };
        state::write_run_state(root, id, &running).unwrap();
        let root = root.to_path_buf();
        let id = id.to_string();
        std::thread::spawn(move || {
            let code = child.wait().unwrap().code();
            let exited = RunState {
                status: "exited".to_string(),
                exit_code: code.map(i64::from),
                ..Default::default()
            };
            state::write_run_state(&root, &id, &exited).unwrap();
        })
    }

    #[test]
    fn a_wait_for_a_status_wakes_when_the_process_exits_and_the_status_follows() {
        let root = tempfile::tempdir().unwrap();
        let monitor = running_then_exited(root.path(), "c1");
        let (run, done) = until_status(
            root.path(),
            "c1",
            Instant::now() + Duration::from_secs(5),
            |s| s.status == "exited",
        );
        monitor.join().unwrap();
        assert!(done);
        assert_eq!(run.exit_code, Some(0));
    }

    #[tokio::test]
    async fn the_async_wait_for_a_status_wakes_the_same_way() {
        let root = tempfile::tempdir().unwrap();
        let monitor = running_then_exited(root.path(), "c2");
        let run = tokio::time::timeout(
            Duration::from_secs(5),
            until_status_async(root.path(), "c2", |s| s.status == "exited"),
        )
        .await
        .expect("the wait ends once the status says exited");
        monitor.join().unwrap();
        assert_eq!(run.exit_code, Some(0));
    }

    #[test]
    fn a_status_that_never_comes_ends_the_wait_at_its_deadline() {
        let root = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let (run, done) = until_status(
            root.path(),
            "never-started",
            started + Duration::from_millis(30),
            |s| s.status == "exited",
        );
        assert!(!done);
        assert_eq!(run.status, "created");
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
