//! `exec` on the native runtime: a command joining a running container's namespaces and
//! cgroup (libcontainer's tenant builder), with the container's environment plus the
//! caller's, a user resolved against the container's own passwd/group files, and a working
//! directory.
//!
//! libcontainer runs in a single-threaded helper, the hoist binary re-executed as
//! `hoist __native-exec <root> <id> <request json>` (see [`run_helper`], dispatched from
//! `main` like the monitor: DESIGN.md section 5). The helper's stdio is the command's stdio
//! and its exit code is the command's, so the async side ([`start`]) only spawns a process
//! and streams pipes (or a pty master with a TTY). The monitor's healthchecks use the same
//! helper synchronously ([`helper_command`]).
//!
//! Not for: `docker exec` sessions surviving the hoist process that started them (exit
//! codes are kept in this process's memory, which is all the CLI and engine need).

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use futures_util::stream;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::containers::{hoist_binary, random_id};
use super::monitor::{lc_id, lc_root};
use super::seccomp;
use super::snapshot::RootfsDirs;
use super::spec;
use super::state::{self, ContainerRecord};
use super::unpack::resolve_in_root;
use crate::runtime::{
    AttachedIo, ExecSession, ExecSpec, ObjectKind, OutputChunk, OutputStream, Result, RuntimeError,
    StdinWriter, TtySize,
};

/// The hidden subcommand that runs one exec.
pub const EXEC_COMMAND: &str = "__native-exec";

/// What the helper runs, passed as one JSON argument.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRequest {
    pub args: Vec<String>,
    /// `KEY=value`, added to (and overriding) the container's environment.
    pub env: Vec<String>,
    pub cwd: String,
    /// Docker's `user[:group]`; the container's user when `None`.
    pub user: Option<String>,
}

impl ExecRequest {
    /// The request for `spec` in container `record`, with Docker's defaults (the
    /// container's user and working directory).
    pub fn for_container(record: &ContainerRecord, spec: &ExecSpec) -> ExecRequest {
        ExecRequest {
            args: spec.cmd.clone(),
            env: spec.env.clone(),
            cwd: spec
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| record.working_dir.clone()),
            user: spec.user.clone().or_else(|| record.user.clone()),
        }
    }
}

/// A `std` command running `request` in container `id` through the helper; the caller
/// sets its stdio.
pub fn helper_command(
    root: &Path,
    id: &str,
    request: &ExecRequest,
) -> Result<std::process::Command> {
    let json = serde_json::to_string(request).map_err(|e| RuntimeError::Other {
        operation: "exec".to_string(),
        message: format!("cannot encode the request: {e}"),
    })?;
    let mut command = std::process::Command::new(hoist_binary()?);
    command.arg(EXEC_COMMAND).arg(root).arg(id).arg(json);
    Ok(command)
}

/// The helper's `main`: runs the request, returns the command's exit code (126 when it
/// could not be started, 127 when it does not exist, as Docker reports).
pub fn run_helper(root: &Path, id: &str, request: &str) -> i32 {
    match helper(root, id, request) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("hoist exec: {message}");
            if message.contains("No such file") || message.contains("not found") {
                127
            } else {
                126
            }
        }
    }
}

fn helper(root: &Path, id: &str, request: &str) -> std::result::Result<i32, String> {
    let request: ExecRequest =
        serde_json::from_str(request).map_err(|e| format!("bad exec request: {e}"))?;
    if request.args.is_empty() {
        return Err("no command given".to_string());
    }
    let rootfs = RootfsDirs::under(&state::container_dir(root, id)).merged;
    let passwd = read_in_root(&rootfs, "etc/passwd");
    let group = read_in_root(&rootfs, "etc/group");
    let user = spec::resolve_user(request.user.as_deref(), &[], &passwd, &group)?;
    let env: HashMap<String, String> = request
        .env
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect();
    // The tenant builder drops the container's seccomp filter: load it ourselves.
    let loader = seccomp::exec_loader(root, &state::container_dir(root, id))?;
    let loading_caps = loader.loading_caps();
    let builder = ContainerBuilder::new(lc_id(id), SyscallType::default())
        .with_root_path(lc_root(root))
        .map_err(|e| format!("libcontainer root: {e}"))?
        .with_executor(loader);
    let pid = builder
        .as_tenant()
        .with_capabilities(loading_caps)
        .with_container_args(request.args.clone())
        .with_env(env)
        .with_cwd(Some(PathBuf::from(&request.cwd)))
        .with_user(Some(user.uid))
        .with_group(Some(user.gid))
        .with_additional_gids(user.additional_gids)
        .with_detach(false)
        .build()
        .map_err(|e| format!("cannot run {:?} in the container: {e}", request.args[0]))?;
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("cannot wait for the command: {e}")),
        }
    }
}

/// A file of the container's root filesystem, empty when missing or unreadable; symlinks
/// resolve inside the root.
/// A file of a container's root (`etc/passwd`), symlinks resolved inside it; empty when
/// absent or unreadable.
pub(crate) fn read_in_root(rootfs: &Path, rel: &str) -> String {
    resolve_in_root(rootfs, Path::new(rel))
        .and_then(std::fs::read_to_string)
        .unwrap_or_default()
}

/// A started exec as this process knows it.
struct Entry {
    exit_code: Arc<Mutex<Option<i64>>>,
    /// The pty master, for resizing, with a TTY.
    pty: Option<Arc<OwnedFd>>,
}

static EXECS: LazyLock<Mutex<HashMap<String, Entry>>> = LazyLock::new(Default::default);

fn exec_failed(message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other {
        operation: "exec".to_string(),
        message: message.to_string(),
    }
}

/// A pty pair for an exec with a TTY: in the container's own devpts (through its init's
/// `/proc/<pid>/root`), so that inside the container the terminal is a `/dev/pts/N` entry
/// (`tty`, `ttyname`) as `docker exec -t` gives it; the host's when that is not reachable.
fn open_pty(root: &Path, id: &str) -> std::io::Result<(OwnedFd, OwnedFd)> {
    if let Some(pid) = state::read_run_state(root, id).pid {
        if let Ok(pair) = container_pty(pid) {
            return Ok(pair);
        }
    }
    let pair = nix::pty::openpty(None, None)?;
    Ok((pair.master, pair.slave))
}

fn container_pty(pid: i32) -> std::io::Result<(OwnedFd, OwnedFd)> {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let master: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(format!("/proc/{pid}/root/dev/pts/ptmx"))?
        .into();
    let unlock: libc::c_int = 0;
    // SAFETY: ioctls on a pty master we own, with the argument types the kernel expects
    // (an int to unlock the peer; open flags for TIOCGPTPEER, which returns a new fd).
    let peer = unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if peer < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor to us.
    Ok((master, unsafe { OwnedFd::from_raw_fd(peer) }))
}

/// Starts `spec` in container `record`, which must be running.
pub async fn start(root: &Path, record: &ContainerRecord, spec: &ExecSpec) -> Result<ExecSession> {
    let run = state::read_run_state(root, &record.id);
    if run.status != "running" {
        let message = if run.status == "paused" {
            "is paused, unpause the container before exec".to_string()
        } else {
            "is not running".to_string()
        };
        return Err(RuntimeError::Conflict {
            kind: ObjectKind::Container,
            name: record.name.clone(),
            message,
        });
    }
    if spec.cmd.is_empty() {
        return Err(exec_failed("no command given"));
    }
    let request = ExecRequest::for_container(record, spec);
    let mut command = tokio::process::Command::from(helper_command(root, &record.id, &request)?);
    let (tx, rx) = mpsc::channel::<Result<OutputChunk>>(64);
    let input: StdinWriter;
    let mut pty = None;
    let mut child = if spec.tty {
        let (master, slave) = open_pty(root, &record.id)
            .map_err(|e| exec_failed(format!("cannot open a pty: {e}")))?;
        let slave = File::from(slave);
        let dup = |f: &File| f.try_clone().map_err(|e| exec_failed(format!("pty: {e}")));
        command
            .stdin(dup(&slave)?)
            .stdout(dup(&slave)?)
            .stderr(slave);
        // SAFETY: setsid and ioctl are async-signal-safe: the command gets the pty as its
        // controlling terminal, as `docker exec -t` gives it.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let master = Arc::new(master);
        let reader = File::from(
            master
                .try_clone()
                .map_err(|e| exec_failed(format!("pty: {e}")))?,
        );
        let writer = File::from(
            master
                .try_clone()
                .map_err(|e| exec_failed(format!("pty: {e}")))?,
        );
        pty = Some(master);
        let child = command
            .spawn()
            .map_err(|e| exec_failed(format!("cannot start the exec helper: {e}")))?;
        tokio::spawn(forward(
            tokio::fs::File::from_std(reader),
            OutputStream::Console,
            tx.clone(),
        ));
        input = if spec.stdin {
            Box::pin(tokio::fs::File::from_std(writer))
        } else {
            Box::pin(tokio::io::sink())
        };
        child
    } else {
        command
            .stdin(if spec.stdin {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(if spec.detach {
                std::process::Stdio::null()
            } else {
                std::process::Stdio::piped()
            })
            .stderr(if spec.detach {
                std::process::Stdio::null()
            } else {
                std::process::Stdio::piped()
            });
        let mut child = command
            .spawn()
            .map_err(|e| exec_failed(format!("cannot start the exec helper: {e}")))?;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward(out, OutputStream::Stdout, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward(err, OutputStream::Stderr, tx.clone()));
        }
        input = match child.stdin.take() {
            Some(stdin) => Box::pin(stdin),
            None => Box::pin(tokio::io::sink()),
        };
        child
    };
    drop(command);
    drop(tx);
    let id = random_id()?;
    let exit_code = Arc::new(Mutex::new(None));
    if let Ok(mut execs) = EXECS.lock() {
        execs.insert(
            id.clone(),
            Entry {
                exit_code: exit_code.clone(),
                pty,
            },
        );
    }
    tokio::spawn(async move {
        let code = match child.wait().await {
            Ok(status) => status
                .code()
                .map(i64::from)
                .or_else(|| {
                    use std::os::unix::process::ExitStatusExt;
                    status.signal().map(|s| 128 + i64::from(s))
                })
                .unwrap_or(-1),
            Err(_) => -1,
        };
        if let Ok(mut slot) = exit_code.lock() {
            *slot = Some(code);
        }
    });
    let output = Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    Ok(ExecSession {
        id,
        io: AttachedIo { output, input },
    })
}

/// Copies one stream of the command to the session until it ends (EOF, or EIO from a pty
/// master once every slave is closed).
async fn forward(
    mut from: impl AsyncRead + Unpin,
    stream: OutputStream,
    tx: mpsc::Sender<Result<OutputChunk>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let chunk = OutputChunk {
                    stream,
                    bytes: Bytes::copy_from_slice(&buf[..n]),
                    timestamp: None,
                };
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn unknown_exec(exec_id: &str) -> RuntimeError {
    RuntimeError::NotFound {
        kind: ObjectKind::Exec,
        name: exec_id.to_string(),
    }
}

/// The exit code of exec `exec_id`, `None` while it runs.
pub fn exit_code(exec_id: &str) -> Result<Option<i64>> {
    let execs = EXECS
        .lock()
        .map_err(|_| exec_failed("exec table poisoned"))?;
    let entry = execs.get(exec_id).ok_or_else(|| unknown_exec(exec_id))?;
    let code = *entry
        .exit_code
        .lock()
        .map_err(|_| exec_failed("exec table poisoned"))?;
    Ok(code)
}

/// Resizes the TTY of exec `exec_id`.
pub fn resize(exec_id: &str, size: TtySize) -> Result<()> {
    let execs = EXECS
        .lock()
        .map_err(|_| exec_failed("exec table poisoned"))?;
    let entry = execs.get(exec_id).ok_or_else(|| unknown_exec(exec_id))?;
    let Some(master) = &entry.pty else {
        return Err(exec_failed(format!("exec {exec_id} has no TTY to resize")));
    };
    let winsize = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, valid for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &winsize) } != 0 {
        return Err(exec_failed(format!(
            "cannot resize the TTY: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}
