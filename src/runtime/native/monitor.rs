//! The per-container monitor: the hoist binary re-executed as `hoist __native-monitor <root>
//! <id>` (see [`dispatch`], called from `main` before any tokio runtime exists), in its own
//! session, so it outlives the `hoist up -d` that started it.
//!
//! It is the container's parent: it mounts the rootfs, forks a short-lived child that calls
//! libcontainer (create + start, `as_sibling`, so the container's init becomes the
//! monitor's child and the child absorbs what libcontainer does to its caller: `dumpable`,
//! `oom_score_adj`), owns the container's stdout/stderr pipes (or, with a TTY, the pty
//! master, which it serves to attach clients: [`super::console`]) and writes them as JSON
//! lines (`{"log","stream","time"}`, Docker's json-file format) to `containers/<id>/container.log`,
//! reaps the exit status, records it in `status.json` (see [`super::state`]), applies the
//! restart policy, and tears down (libcontainer state and cgroups, rootfs mount) once the
//! container is done. It never touches the state database except to auto-remove.
//!
//! libcontainer is only ever called here, in a single-threaded process: called from a
//! multithreaded one it deadlocks (DESIGN.md section 5).
//!
//! Its stdout is a readiness pipe to whoever started it: one line, `ok` once the container
//! runs, or `error: <message>`.
//!
//! Not for: anything the runtime can do without being the container's parent (stop sends
//! the signal itself; logs are read from the file).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};

use super::console::{self, ConsoleSocket, Server};
use super::snapshot::{self, RootfsDirs};
use super::state::{self, MonitorConfig, Restart, RunState, StdinMode};

/// The hidden subcommand that runs a monitor.
pub const MONITOR_COMMAND: &str = "__native-monitor";

/// Marker file: the container was stopped on purpose, do not restart it.
pub const STOP_MARKER: &str = "stop-requested";

/// The log file of a container, in Docker's json-file format.
pub const LOG_FILE: &str = "container.log";

/// Runs a hidden native-runtime subcommand when the process was started as one; returns
/// its exit code. Call first thing in `main`, before any thread exists.
pub fn dispatch() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    let command = args.next()?;
    if command.to_str()? == super::exec::EXEC_COMMAND {
        let (Some(root), Some(id), Some(request)) = (args.next(), args.next(), args.next()) else {
            eprintln!(
                "usage: hoist {} <root> <container id> <request>",
                super::exec::EXEC_COMMAND
            );
            return Some(2);
        };
        state::keep_stores_closed();
        return Some(super::exec::run_helper(
            &PathBuf::from(root),
            &id.to_string_lossy(),
            &request.to_string_lossy(),
        ));
    }
    if command.to_str()? != MONITOR_COMMAND {
        return None;
    }
    let (Some(root), Some(id)) = (args.next(), args.next()) else {
        eprintln!("usage: hoist {MONITOR_COMMAND} <root> <container id>");
        return Some(2);
    };
    let id = id.to_string_lossy().into_owned();
    // No helper threads here, ever: this process forks to call libcontainer.
    state::keep_stores_closed();
    Some(run(&PathBuf::from(root), &id))
}

/// libcontainer's name for container `id`: short, because its directory holds a unix
/// socket and socket paths are limited to 108 bytes.
pub fn lc_id(id: &str) -> String {
    id.chars().take(16).collect()
}

/// libcontainer's state directory under the data root.
pub fn lc_root(root: &Path) -> PathBuf {
    root.join("lc")
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The readiness line to the starter, sent once.
struct Ready(Option<File>);

impl Ready {
    fn send(&mut self, outcome: Result<(), &str>) {
        if let Some(mut f) = self.0.take() {
            let line = match outcome {
                Ok(()) => "ok\n".to_string(),
                Err(e) => format!("error: {}\n", e.replace('\n', " ")),
            };
            let _ = f.write_all(line.as_bytes());
            // fd 1 becomes /dev/null rather than free: a later pipe must not land on it.
            if let Ok(null) = File::open("/dev/null") {
                // SAFETY: dup2 onto the descriptor `f` owns; `f` is then forgotten, so
                // nobody closes the /dev/null now behind fd 1.
                unsafe { libc::dup2(null.as_raw_fd(), 1) };
                std::mem::forget(f);
            }
        }
    }
}

enum RunOutcome {
    StartFailed(String),
    Exited(i64),
}

fn run(root: &Path, id: &str) -> i32 {
    // SAFETY: fd 1 is the readiness pipe our starter gave us; we take sole ownership.
    let mut ready = Ready(Some(unsafe { File::from_raw_fd(1) }));
    let config = match state::read_monitor_config(root, id) {
        Ok(c) => c,
        Err(e) => {
            ready.send(Err(&e));
            return 1;
        }
    };
    let dir = state::container_dir(root, id);
    let mut log = match OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG_FILE))
    {
        Ok(f) => f,
        Err(e) => {
            ready.send(Err(&format!("cannot open the container log: {e}")));
            return 1;
        }
    };
    let previous = state::read_run_state(root, id);
    let mut status = RunState {
        status: "created".to_string(),
        monitor_pid: Some(std::process::id() as i32),
        restart_count: previous.restart_count,
        ..Default::default()
    };
    // `stdin_open` without `stdin_once`: our own write end keeps the process from ever
    // seeing EOF, as with Docker.
    let _stdin_holder = match config.stdin {
        StdinMode::Open => OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join("stdin"))
            .ok(),
        _ => None,
    };
    // Published ports are bound before the container starts: a taken one fails the start.
    let forwarder = match super::wiring::start_forwarder(&dir) {
        Ok(f) => f,
        Err(message) => {
            eprintln!("container {id}: {message}");
            status.status = "exited".to_string();
            status.exit_code = Some(128);
            status.finished_at = Some(now());
            status.error = Some(message.clone());
            let _ = snapshot::unmount(&RootfsDirs::under(&dir).merged);
            let _ = state::write_run_state(root, id, &status);
            ready.send(Err(&message));
            return 1;
        }
    };
    let mut forwarder = forwarder;
    // Before the final state is written: whoever waits for "exited" may start the
    // container again at once, and its new monitor must find the rootfs and the published
    // ports free (a mount it skipped as present would be detached under it).
    let mut release = |dir: &Path| {
        if let Some(f) = forwarder.take() {
            f.stop(dir);
        }
        if let Err(e) = snapshot::unmount(&RootfsDirs::under(dir).merged) {
            eprintln!("container {id}: {e}");
        }
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = Instant::now();
        match run_once(root, id, &config, &mut log, &mut status, &mut ready) {
            RunOutcome::StartFailed(message) => {
                eprintln!("container {id}: {message}");
                status.status = "exited".to_string();
                status.pid = None;
                status.exit_code = Some(128);
                status.finished_at = Some(now());
                status.error = Some(message.clone());
                release(&dir);
                let _ = state::write_run_state(root, id, &status);
                ready.send(Err(&message));
                break;
            }
            RunOutcome::Exited(code) => {
                status.pid = None;
                status.exit_code = Some(code);
                status.finished_at = Some(now());
                if should_restart(&config, code, &status, &dir) {
                    status.status = "restarting".to_string();
                    let _ = state::write_run_state(root, id, &status);
                    cleanup_libcontainer(root, id);
                    // Docker's backoff: doubling from 100 ms, reset after 10 s of running.
                    if started.elapsed() > Duration::from_secs(10) {
                        backoff = Duration::from_millis(100);
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    if dir.join(STOP_MARKER).exists() {
                        status.status = "exited".to_string();
                        release(&dir);
                        let _ = state::write_run_state(root, id, &status);
                        break;
                    }
                    status.restart_count += 1;
                    continue;
                }
                status.status = "exited".to_string();
                cleanup_libcontainer(root, id);
                release(&dir);
                let _ = state::write_run_state(root, id, &status);
                break;
            }
        }
    }
    if config.auto_remove {
        if let Err(e) = super::wiring::detach_all_blocking(root, id) {
            eprintln!("container {id}: detaching from its networks failed: {e}");
        }
        if let Err(e) = super::containers::remove(root, id, true, true) {
            eprintln!("container {id}: auto-remove failed: {e}");
            return 1;
        }
    }
    0
}

fn should_restart(config: &MonitorConfig, code: i64, status: &RunState, dir: &Path) -> bool {
    if dir.join(STOP_MARKER).exists() {
        return false;
    }
    match config.restart {
        Restart::No => false,
        Restart::Always | Restart::UnlessStopped => true,
        Restart::OnFailure(max) => {
            code != 0 && max.is_none_or(|m| status.restart_count < i64::from(m))
        }
    }
}

fn open_stdin(dir: &Path, mode: StdinMode) -> Result<OwnedFd, String> {
    let file = match mode {
        StdinMode::Null => File::open("/dev/null"),
        // Non-blocking open: no writer needs to be there yet; then blocking reads for the
        // process.
        StdinMode::Open | StdinMode::Once => OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dir.join("stdin")),
    }
    .map_err(|e| format!("cannot open the container's stdin: {e}"))?;
    if mode != StdinMode::Null {
        fcntl(file.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty()))
            .map_err(|e| format!("cannot make stdin blocking: {e}"))?;
    }
    Ok(file.into())
}

fn run_once(
    root: &Path,
    id: &str,
    config: &MonitorConfig,
    log: &mut File,
    status: &mut RunState,
    ready: &mut Ready,
) -> RunOutcome {
    let dir = state::container_dir(root, id);
    if let Err(e) = snapshot::mount_rootfs(&config.layers, &RootfsDirs::under(&dir)) {
        return RunOutcome::StartFailed(e.to_string());
    }
    // With a TTY, libcontainer makes the pty inside the container and sends us its master.
    let console = if console::wants_terminal(&dir) {
        let path = lc_root(root).join(format!("{}.console", lc_id(id)));
        let bound = fs::create_dir_all(lc_root(root))
            .map_err(|e| format!("cannot create {}: {e}", lc_root(root).display()))
            .and_then(|()| ConsoleSocket::bind(path));
        match bound {
            Ok(c) => Some(c),
            Err(e) => return RunOutcome::StartFailed(e),
        }
    } else {
        None
    };
    let stdin = match open_stdin(&dir, config.stdin) {
        Ok(fd) => fd,
        Err(e) => return RunOutcome::StartFailed(e),
    };
    let pipes = (|| -> nix::Result<_> {
        Ok((
            pipe2(OFlag::O_CLOEXEC)?,
            pipe2(OFlag::O_CLOEXEC)?,
            pipe2(OFlag::O_CLOEXEC)?,
        ))
    })();
    let ((out_r, out_w), (err_r, err_w), (rep_r, rep_w)) = match pipes {
        Ok(p) => p,
        Err(e) => return RunOutcome::StartFailed(format!("cannot create pipes: {e}")),
    };
    // SAFETY: this process is single-threaded (a fresh exec of hoist that started no
    // threads), so the child may run arbitrary code.
    let child = match unsafe { fork() } {
        Err(e) => return RunOutcome::StartFailed(format!("cannot fork: {e}")),
        Ok(ForkResult::Child) => {
            drop(out_r);
            drop(err_r);
            drop(rep_r);
            let mut report = File::from(rep_w);
            // The terminal is the process's stdio then.
            let stdio = match &console {
                Some(c) => Stdio::Console(c.path()),
                None => Stdio::Pipes(stdin, out_w, err_w),
            };
            let code = match create_and_start(root, id, stdio) {
                Ok(pid) => {
                    let _ = write!(report, "pid:{pid}");
                    0
                }
                Err(e) => {
                    let _ = write!(report, "{e}");
                    1
                }
            };
            drop(report);
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(stdin);
    drop(out_w);
    drop(err_w);
    drop(rep_w);
    let _ = waitpid(child, Some(WaitPidFlag::__WALL));
    let mut report = String::new();
    let _ = File::from(rep_r).read_to_string(&mut report);
    let Some(pid) = report
        .strip_prefix("pid:")
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        cleanup_libcontainer(root, id);
        let message = if report.is_empty() {
            "the libcontainer helper died without a word".to_string()
        } else {
            report
        };
        return RunOutcome::StartFailed(message);
    };
    let pid_of = Pid::from_raw(pid);
    // The terminal, served on the attach socket before anyone hears the container runs.
    let terminal = match console.as_ref().map(|c| {
        let master = console::master_file(c.receive_master()?)?;
        Ok::<_, String>((master, Server::bind(&dir)?))
    }) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            let _ = nix::sys::signal::kill(pid_of, nix::sys::signal::Signal::SIGKILL);
            let _ = reap(pid_of, true);
            cleanup_libcontainer(root, id);
            return RunOutcome::StartFailed(e);
        }
    };
    drop(console);
    status.status = "running".to_string();
    status.pid = Some(pid);
    status.started_at = Some(now());
    status.finished_at = None;
    status.exit_code = None;
    status.error = None;
    if let Err(e) = state::write_run_state(root, id, status) {
        eprintln!("container {id}: cannot record its state: {e}");
    }
    // The health record exists before anyone hears the container runs: a health wait
    // must never see a container with a healthcheck but no health.
    let prober = start_prober(root, id, config);
    ready.send(Ok(()));
    let code = match terminal {
        Some((master, mut server)) => {
            drop((out_r, err_r));
            pump_tty(pid_of, master, &mut server, log)
        }
        None => pump(pid_of, File::from(out_r), File::from(err_r), log),
    };
    if let Some(prober) = prober {
        // It may have been reaped by `pump` already (it only ends on its own on a bad
        // test); then the kill finds nothing.
        let _ = nix::sys::signal::kill(prober, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(prober, None);
    }
    // libcontainer's state and cgroups go after the exit is recorded (see `run`): a
    // waiter learns the exit code without waiting for the cgroup teardown.
    RunOutcome::Exited(code)
}

/// Forks the healthcheck prober of a running container, if it has a healthcheck.
fn start_prober(root: &Path, id: &str, config: &MonitorConfig) -> Option<Pid> {
    config.healthcheck.as_ref()?;
    super::health::record_starting(root, id);
    // SAFETY: this process is single-threaded, so the child may run arbitrary code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => super::health::probe_forever(root, id, config),
        Ok(ForkResult::Parent { child }) => Some(child),
        Err(e) => {
            eprintln!("container {id}: cannot start its healthcheck: {e}");
            None
        }
    }
}

/// The container process's stdio.
enum Stdio<'a> {
    /// stdin, stdout, stderr.
    Pipes(OwnedFd, OwnedFd, OwnedFd),
    /// A pty libcontainer creates, its master sent to this console socket.
    Console(&'a Path),
}

/// libcontainer's part of a start, in the forked child. Returns the container's pid.
fn create_and_start(root: &Path, id: &str, stdio: Stdio<'_>) -> Result<i32, String> {
    let lc_root = lc_root(root);
    fs::create_dir_all(&lc_root)
        .map_err(|e| format!("cannot create {}: {e}", lc_root.display()))?;
    // A crashed earlier run may have left libcontainer's directory behind.
    cleanup_libcontainer(root, id);
    let (bundle, loader) = super::seccomp::launch_bundle(&state::container_dir(root, id))?;
    let builder = ContainerBuilder::new(lc_id(id), SyscallType::default())
        .with_root_path(&lc_root)
        .map_err(|e| format!("libcontainer root {}: {e}", lc_root.display()))?
        .with_executor(loader);
    let builder = match stdio {
        Stdio::Pipes(stdin, stdout, stderr) => builder
            .with_stdin(stdin)
            .with_stdout(stdout)
            .with_stderr(stderr),
        Stdio::Console(socket) => builder.with_console_socket(Some(socket)),
    };
    let mut container = builder
        .as_init(&bundle)
        .with_systemd(false)
        .as_sibling(true)
        .with_detach(true)
        .build()
        .map_err(|e| format!("cannot create the container: {e}"))?;
    container
        .start()
        .map_err(|e| format!("cannot start the container: {e}"))?;
    container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| "libcontainer did not report the container's pid".to_string())
}

/// Deletes libcontainer's state and cgroups of container `id`, if any.
fn cleanup_libcontainer(root: &Path, id: &str) {
    let dir = lc_root(root).join(lc_id(id));
    if !dir.exists() {
        return;
    }
    match Container::load(dir.clone()) {
        Ok(mut c) => {
            if let Err(e) = c.delete(true) {
                eprintln!("container {id}: libcontainer delete: {e}");
                let _ = fs::remove_dir_all(&dir);
            }
        }
        Err(_) => {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

/// Copies the container's output to the log until it exits and its pipes are drained;
/// returns its exit code (128 + signal when killed, as Docker reports).
fn pump(pid: Pid, stdout: File, stderr: File, log: &mut File) -> i64 {
    let mut streams = [Stream::new(stdout, "stdout"), Stream::new(stderr, "stderr")];
    let mut ending = Ending::default();
    loop {
        let open: Vec<usize> = (0..2).filter(|&i| streams[i].open).collect();
        if open.is_empty() || ending.drained() {
            break;
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|&i| PollFd::new(streams[i].file.as_fd(), PollFlags::POLLIN))
            .collect();
        let ready = poll(&mut fds, ending.poll_timeout()).unwrap_or(0);
        let events: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (k, &i) in open.iter().enumerate() {
            if events[k] {
                streams[i].read_into(log, &mut |_| {});
            }
        }
        ending.observe(pid, ready);
    }
    for s in &mut streams {
        s.flush_partial(log);
    }
    ending.code(pid)
}

/// How a container's output ends: its exit code once reaped, then a drain of what its
/// stdio still hold.
#[derive(Default)]
struct Ending {
    exit: Option<i64>,
    /// The last time output came after the exit.
    drained_since: Option<Instant>,
}

impl Ending {
    /// After a poll that found `ready` descriptors: reaps the container if not yet.
    fn observe(&mut self, pid: Pid, ready: i32) {
        if self.exit.is_none() {
            self.exit = reap(pid, false);
            if self.exit.is_some() {
                self.drained_since = Some(Instant::now());
            }
        } else if ready > 0 {
            self.drained_since = Some(Instant::now());
        }
    }

    /// Exited and quiet for a moment: processes outside a pid namespace could hold its
    /// stdio forever, so what is there is read, then reading stops.
    fn drained(&self) -> bool {
        self.exit.is_some()
            && self
                .drained_since
                .is_some_and(|t| t.elapsed() > Duration::from_millis(200))
    }

    fn poll_timeout(&self) -> PollTimeout {
        PollTimeout::from(if self.exit.is_some() { 50u16 } else { 500u16 })
    }

    fn code(self, pid: Pid) -> i64 {
        self.exit.or_else(|| reap(pid, true)).unwrap_or(-1)
    }
}

/// [`pump`] for a container with a TTY: its terminal's output to the log (as stdout, as
/// Docker logs it) and to the attached clients, their input and resizes to the terminal,
/// until it exits and the terminal is drained.
fn pump_tty(pid: Pid, master: File, server: &mut Server, log: &mut File) -> i64 {
    let reader = match master.try_clone() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("terminal: {e}");
            return reap(pid, true).unwrap_or(-1);
        }
    };
    let mut stream = Stream::new(reader, "stdout");
    let mut ending = Ending::default();
    loop {
        if ending.drained() {
            stream.open = false;
        }
        // Over: unless the client that attached before the start is still to come.
        if !stream.open && !server.awaiting_attach() {
            break;
        }
        let server_fds = server.fds();
        let mut fds: Vec<PollFd> = Vec::with_capacity(server_fds.len() + 1);
        if stream.open {
            fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
        }
        fds.extend(
            server_fds
                .iter()
                .map(|f| PollFd::new(*f, PollFlags::POLLIN)),
        );
        let ready = poll(&mut fds, ending.poll_timeout()).unwrap_or(0);
        let mut events: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        drop(server_fds);
        if stream.open && events.remove(0) {
            stream.read_into(log, &mut |bytes| server.broadcast(bytes));
        }
        let printed = console::Printed {
            log,
            partial: &stream.partial,
        };
        server.handle(&events, master.as_fd(), &printed);
        ending.observe(pid, ready);
    }
    stream.flush_partial(log);
    ending.code(pid)
}

/// Reaps our children (libcontainer's intermediate process among them, which has no exit
/// signal: hence `__WALL`); returns the container's exit code once it is among them.
fn reap(pid: Pid, block: bool) -> Option<i64> {
    loop {
        let flags = if block {
            WaitPidFlag::__WALL
        } else {
            WaitPidFlag::__WALL | WaitPidFlag::WNOHANG
        };
        let target = if block { pid } else { Pid::from_raw(-1) };
        match waitpid(target, Some(flags)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Some(i64::from(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Some(128 + sig as i64),
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => return if block { Some(-1) } else { None },
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

struct Stream {
    file: File,
    name: &'static str,
    open: bool,
    partial: Vec<u8>,
}

impl Stream {
    fn new(file: File, name: &'static str) -> Stream {
        Stream {
            file,
            name,
            open: true,
            partial: Vec::new(),
        }
    }

    /// Reads what is there into the log, showing it to `tee` as read.
    fn read_into(&mut self, log: &mut File, tee: &mut dyn FnMut(&[u8])) {
        let mut buf = [0u8; 16 * 1024];
        match self.file.read(&mut buf) {
            Ok(0) => {
                self.open = false;
                self.flush_partial(log);
            }
            Ok(n) => {
                tee(&buf[..n]);
                self.partial.extend_from_slice(&buf[..n]);
                while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.partial.drain(..=pos).collect();
                    write_entry(log, self.name, &line);
                }
                // Docker splits lines longer than 16 KiB into partial entries.
                if self.partial.len() >= 16 * 1024 {
                    let chunk = std::mem::take(&mut self.partial);
                    write_entry(log, self.name, &chunk);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                ) => {}
            // A pty master answers EIO once the container's side is closed.
            Err(_) => {
                self.open = false;
                self.flush_partial(log);
            }
        }
    }

    fn flush_partial(&mut self, log: &mut File) {
        if !self.partial.is_empty() {
            let chunk = std::mem::take(&mut self.partial);
            write_entry(log, self.name, &chunk);
        }
    }
}

/// One json-file log entry; the line's bytes are kept as (lossy) UTF-8, as Docker does.
fn write_entry(log: &mut File, stream: &str, bytes: &[u8]) {
    let entry = serde_json::json!({
        "log": String::from_utf8_lossy(bytes),
        "stream": stream,
        "time": now(),
    });
    let mut line = entry.to_string();
    line.push('\n');
    let _ = log.write_all(line.as_bytes());
}
