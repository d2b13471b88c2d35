//! The terminal of a `tty: true` container: libcontainer creates the pty inside the
//! container and hands its master to the monitor over a console socket
//! ([`ConsoleSocket`]); the monitor keeps it, logs what it prints, and serves attach over
//! the unix socket `tty` in the container's directory ([`Server`]). The runtime's side of
//! that socket is [`attach`] and [`resize`].
//!
//! On the socket a client sends frames, `[kind: u8][length: u16 BE][payload]`: [`ATTACH`]
//! (subscribe to the output, sent first by an attaching client) or [`ATTACH_LOGS`] (the
//! same, after the output printed so far), [`INPUT`] (keystrokes for the pty) and
//! [`RESIZE`] (rows, cols as u16 BE). The monitor sends an attached client the terminal's
//! raw output, and closes the connection when the container exits.
//!
//! An [`ATTACH_LOGS`] client first gets the seam, `[log length: u64 BE][partial length: u32
//! BE][partial]`: the output until then is the first `log length` bytes of the container's
//! log (whole lines) followed by `partial` (the line being printed, not logged yet). The
//! monitor is single-threaded, so nothing is printed between that and the live output: the
//! client replays the log up to there and not a byte is lost or repeated (Docker's attach
//! with `logs=1`).
//!
//! An attach made before the container starts (`docker run` attaches first) leaves the
//! marker [`ATTACH_WANTED`]: that run's monitor keeps what the terminal printed until the
//! first client attaches, and waits a little for it at exit, so not a byte is missed.
//!
//! Not for: containers without a TTY (their stdio are pipes, see [`super::monitor`]).

use std::fs::File;
use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::runtime::{OutputChunk, OutputStream, TtySize};

/// The attach socket's name in the container directory.
pub const SOCKET: &str = "tty";
/// Marker in the container directory: a client attached before the start.
pub const ATTACH_WANTED: &str = "tty-attach-wanted";

pub const INPUT: u8 = 0;
pub const RESIZE: u8 = 1;
pub const ATTACH: u8 = 2;
pub const ATTACH_LOGS: u8 = 3;

/// Output kept for a client that attached before the start, at most.
const PENDING_LIMIT: usize = 1 << 20;
/// How long a monitor whose run was attached before the start waits for that client.
const ATTACH_GRACE: Duration = Duration::from_secs(2);

/// One frame of the client-to-monitor protocol.
pub fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(3 + payload.len());
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload[..usize::from(len)]);
    out
}

fn resize_frame(size: TtySize) -> Vec<u8> {
    let mut payload = size.rows.to_be_bytes().to_vec();
    payload.extend_from_slice(&size.cols.to_be_bytes());
    frame(RESIZE, &payload)
}

/// Sets the window size of the pty `master`.
fn set_size(master: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, valid for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The socket libcontainer sends the pty master to. It is bound in libcontainer's
/// short-named state directory: socket paths are limited to 108 bytes.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    pub fn bind(path: PathBuf) -> Result<ConsoleSocket, String> {
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(|e| format!("cannot bind the console socket {}: {e}", path.display()))?;
        Ok(ConsoleSocket { listener, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master libcontainer sent (it does so while creating the container, so it
    /// is there once the create returned).
    pub fn receive_master(&self) -> Result<OwnedFd, String> {
        let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(5000u16)).unwrap_or(0) == 0 {
            return Err("libcontainer sent no terminal for the container".to_string());
        }
        let (stream, _) = self
            .listener
            .accept()
            .map_err(|e| format!("cannot accept the console socket: {e}"))?;
        let mut name = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| format!("cannot receive the terminal: {e}"))?;
        for cmsg in msg
            .cmsgs()
            .map_err(|e| format!("bad console message: {e}"))?
        {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just installed `fd` in this process for us.
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err("the console message carried no terminal".to_string())
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

struct Client {
    stream: UnixStream,
    /// Bytes received and not yet a whole frame.
    partial: Vec<u8>,
    /// Sent [`ATTACH`] or [`ATTACH_LOGS`]: gets the output.
    attached: bool,
}

/// What the terminal printed so far, as the monitor holds it: the log file (whole lines)
/// and the line being printed. An [`ATTACH_LOGS`] client gets where one ends and the other
/// begins.
pub struct Printed<'a> {
    pub log: &'a File,
    pub partial: &'a [u8],
}

impl Printed<'_> {
    fn seam(&self) -> io::Result<Vec<u8>> {
        let logged = self.log.metadata()?.len();
        let partial = &self.partial[..self.partial.len().min(u32::MAX as usize)];
        let mut seam = logged.to_be_bytes().to_vec();
        seam.extend_from_slice(&(partial.len() as u32).to_be_bytes());
        seam.extend_from_slice(partial);
        Ok(seam)
    }
}

/// The monitor's end of the attach socket of one run of a tty container.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    /// Output kept for the client that attached before the start, until it comes.
    pending: Option<Vec<u8>>,
    started: Instant,
}

impl Server {
    /// Binds `<dir>/tty`; `dir` is the container's directory.
    pub fn bind(dir: &Path) -> Result<Server, String> {
        let path = dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| {
            format!(
                "cannot bind the attach socket {} ({} bytes; at most 107 fit): {e}",
                path.display(),
                path.as_os_str().len()
            )
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("attach socket: {e}"))?;
        let wanted = std::fs::remove_file(dir.join(ATTACH_WANTED)).is_ok();
        Ok(Server {
            listener,
            path,
            clients: Vec::new(),
            pending: wanted.then(Vec::new),
            started: Instant::now(),
        })
    }

    /// The descriptors to poll for reading: the listener, then each client.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut fds = vec![self.listener.as_fd()];
        fds.extend(self.clients.iter().map(|c| c.stream.as_fd()));
        fds
    }

    /// Acts on the descriptors [`Self::fds`] listed that are ready: accepts clients, and
    /// passes their input and resizes to the pty `master`; `printed` is what the terminal
    /// printed so far.
    pub fn handle(&mut self, ready: &[bool], master: BorrowedFd<'_>, printed: &Printed<'_>) {
        if ready.first().copied().unwrap_or(false) {
            while let Ok((stream, _)) = self.listener.accept() {
                // Blocking, with a bound: a client that stops reading is dropped rather
                // than stalling the container's output.
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
                self.clients.push(Client {
                    stream,
                    partial: Vec::new(),
                    attached: false,
                });
            }
        }
        let mut gone = Vec::new();
        for (i, client) in self.clients.iter_mut().enumerate() {
            if !ready.get(i + 1).copied().unwrap_or(false) {
                continue;
            }
            let mut buf = [0u8; 4096];
            match client.stream.read(&mut buf) {
                Ok(0) | Err(_) => gone.push(i),
                Ok(n) => {
                    client.partial.extend_from_slice(&buf[..n]);
                    if serve_frames(client, master, &mut self.pending, printed).is_err() {
                        gone.push(i);
                    }
                }
            }
        }
        for i in gone.into_iter().rev() {
            self.clients.remove(i);
        }
    }

    /// Sends terminal output to the attached clients (or keeps it for the expected one).
    pub fn broadcast(&mut self, bytes: &[u8]) {
        if let Some(kept) = &mut self.pending {
            if kept.len() + bytes.len() <= PENDING_LIMIT {
                kept.extend_from_slice(bytes);
            }
        }
        self.clients
            .retain_mut(|c| !c.attached || c.stream.write_all(bytes).is_ok());
    }

    /// Whether the client that attached before the start has yet to come, within
    /// [`ATTACH_GRACE`] of the start: the container's end then waits for it.
    pub fn awaiting_attach(&self) -> bool {
        self.pending.is_some() && self.started.elapsed() < ATTACH_GRACE
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Applies a client's whole frames: input to the pty, resizes, its subscription. The first
/// [`ATTACH`] client gets what was `kept` for it since the start; an [`ATTACH_LOGS`] client
/// the seam of what was `printed`. An error is a client gone.
fn serve_frames(
    client: &mut Client,
    master: BorrowedFd<'_>,
    kept: &mut Option<Vec<u8>>,
    printed: &Printed<'_>,
) -> io::Result<()> {
    while client.partial.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([client.partial[1], client.partial[2]]));
        if client.partial.len() < 3 + len {
            return Ok(());
        }
        let frame: Vec<u8> = client.partial.drain(..3 + len).collect();
        let payload = &frame[3..];
        match frame[0] {
            ATTACH if !client.attached => {
                client.attached = true;
                if let Some(kept) = kept.take() {
                    client.stream.write_all(&kept)?;
                }
            }
            ATTACH_LOGS if !client.attached => {
                client.attached = true;
                client.stream.write_all(&printed.seam()?)?;
            }
            // Dropped if the terminal's input buffer is full: the program is not reading.
            INPUT => {
                let _ = nix::unistd::write(master, payload);
            }
            RESIZE if payload.len() == 4 => {
                let rows = u16::from_be_bytes([payload[0], payload[1]]);
                let cols = u16::from_be_bytes([payload[2], payload[3]]);
                let _ = set_size(master, rows, cols);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether the runtime spec in `bundle` asks for a terminal (`process.terminal`).
pub fn wants_terminal(bundle: &Path) -> bool {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|s| s.pointer("/process/terminal").and_then(|v| v.as_bool()))
        .unwrap_or(false)
}

/// A pty master as a [`File`], non-blocking (input must never stall the monitor).
pub fn master_file(master: OwnedFd) -> Result<File, String> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags =
        fcntl(master.as_raw_fd(), FcntlArg::F_GETFL).map_err(|e| format!("terminal flags: {e}"))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(master.as_raw_fd(), FcntlArg::F_SETFL(flags))
        .map_err(|e| format!("terminal flags: {e}"))?;
    Ok(File::from(master))
}

// ---------------------------------------------------------------------------------------
// The runtime's side
// ---------------------------------------------------------------------------------------

/// Attaches to the terminal of the container in `dir`, connecting as soon as its monitor
/// serves it: called before the start, it leaves [`ATTACH_WANTED`] so nothing printed
/// meanwhile is lost. With `logs`, what the container printed before comes first: the log
/// up to the seam its monitor gives (see the module doc), or, with no monitor left to
/// serve the terminal, the whole log. `running` says whether a connection can still come
/// (the container is created, starting or running). The output ends when the container
/// exits.
pub fn attach(
    dir: PathBuf,
    stdin: bool,
    logs: bool,
    running: impl Fn() -> bool + Send + 'static,
) -> io::Result<crate::runtime::AttachedIo> {
    use futures_util::stream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    use crate::runtime::{RuntimeError, StdinWriter};

    let path = dir.join(SOCKET);
    // A replaying client needs nothing kept for it: the log has it all.
    if !logs && !path.exists() {
        File::create(dir.join(ATTACH_WANTED))?;
    }
    let log = dir.join(super::monitor::LOG_FILE);
    let (tx, rx) = mpsc::channel::<crate::runtime::Result<OutputChunk>>(64);
    let (writer, mut keys) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let stream = loop {
            match tokio::net::UnixStream::connect(&path).await {
                Ok(s) => break s,
                Err(_) if !tx.is_closed() && running() => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                // The monitor wrote the last line before it stopped serving the terminal.
                Err(_) if logs => {
                    super::logs::replay(&log, u64::MAX, &tx).await;
                    return;
                }
                Err(e) => {
                    if running() {
                        let _ = tx
                            .send(Err(RuntimeError::Other {
                                operation: "attach".to_string(),
                                message: format!("cannot connect to {}: {e}", path.display()),
                            }))
                            .await;
                    }
                    return;
                }
            }
        };
        let (mut from, mut to) = stream.into_split();
        let subscribe = if logs { ATTACH_LOGS } else { ATTACH };
        if to.write_all(&frame(subscribe, &[])).await.is_err() {
            return;
        }
        let input = async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = keys.read(&mut buf).await {
                if n == 0 || to.write_all(&frame(INPUT, &buf[..n])).await.is_err() {
                    break;
                }
            }
            // The input ended: the output goes on until the container exits.
            std::future::pending::<()>().await;
        };
        let output = async move {
            if logs {
                let Ok((logged, partial)) = read_seam(&mut from).await else {
                    return;
                };
                // The live output is read on meanwhile: the monitor never waits for a replay.
                let (live_tx, mut live) = mpsc::unbounded_channel();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from.read(&mut buf).await {
                        if live_tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                });
                if !super::logs::replay(&log, logged, &tx).await {
                    return;
                }
                if !partial.is_empty() && tx.send(Ok(console_chunk(&partial))).await.is_err() {
                    return;
                }
                while let Some(bytes) = live.recv().await {
                    if tx.send(Ok(console_chunk(&bytes))).await.is_err() {
                        return;
                    }
                }
                return;
            }
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = from.read(&mut buf).await {
                if n == 0 || tx.send(Ok(console_chunk(&buf[..n]))).await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            () = input => {}
            () = output => {}
        }
    });
    let input: StdinWriter = if stdin {
        Box::pin(writer)
    } else {
        Box::pin(tokio::io::sink())
    };
    let output = Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    Ok(crate::runtime::AttachedIo { output, input })
}

fn console_chunk(bytes: &[u8]) -> OutputChunk {
    OutputChunk {
        stream: OutputStream::Console,
        bytes: bytes::Bytes::copy_from_slice(bytes),
        timestamp: None,
    }
}

/// The seam an [`ATTACH_LOGS`] client gets first: the log length, and the partial line.
async fn read_seam(from: &mut (impl tokio::io::AsyncRead + Unpin)) -> io::Result<(u64, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let logged = from.read_u64().await?;
    let len = from.read_u32().await?;
    let mut partial = vec![0u8; len as usize];
    from.read_exact(&mut partial).await?;
    Ok((logged, partial))
}

/// Resizes the terminal of the running container in `dir` (waiting up to a second for
/// its monitor to serve it, as right after a start).
pub async fn resize(dir: &Path, size: TtySize) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let path = dir.join(SOCKET);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut stream = loop {
        match tokio::net::UnixStream::connect(&path).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e),
        }
    };
    stream.write_all(&resize_frame(size)).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_kind_length_and_payload() {
        assert_eq!(frame(INPUT, b"hi"), vec![INPUT, 0, 2, b'h', b'i']);
        assert_eq!(
            resize_frame(TtySize {
                rows: 40,
                cols: 120
            }),
            vec![RESIZE, 0, 4, 0, 40, 0, 120]
        );
        assert_eq!(frame(ATTACH, &[]), vec![ATTACH, 0, 0]);
    }

    #[test]
    fn a_client_subscribes_types_and_resizes_the_terminal() {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let (a, b) = UnixStream::pair().expect("socketpair");
        let mut client = Client {
            stream: a,
            partial: Vec::new(),
            attached: false,
        };
        drop(b);
        let log = tempfile::tempfile().expect("log file");
        let printed = Printed {
            log: &log,
            partial: b"",
        };
        let mut bytes = frame(ATTACH, &[]);
        bytes.extend(frame(RESIZE, &[0, 30, 0, 90]));
        bytes.extend(frame(INPUT, b"ls\n"));
        // Split mid-frame: the rest waits for the next read.
        client.partial.extend_from_slice(&bytes[..bytes.len() - 2]);
        serve_frames(&mut client, pty.master.as_fd(), &mut None, &printed).expect("served");
        assert!(client.attached);
        assert_eq!(client.partial.len(), 4);
        client.partial.extend_from_slice(&bytes[bytes.len() - 2..]);
        serve_frames(&mut client, pty.master.as_fd(), &mut None, &printed).expect("served");
        assert!(client.partial.is_empty());
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one `winsize` to the pointer, valid for the call.
        assert_eq!(
            unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut size) },
            0
        );
        assert_eq!((size.ws_row, size.ws_col), (30, 90));
        let mut typed = [0u8; 3];
        File::from(pty.slave)
            .read_exact(&mut typed)
            .expect("the input reached the terminal");
        assert_eq!(&typed, b"ls\n");
    }

    #[test]
    fn a_replaying_client_gets_the_seam_and_a_plain_one_what_was_kept() {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let mut log = tempfile::tempfile().expect("log file");
        log.write_all(b"{\"log\":\"one\\n\"}\n").expect("log line");
        let printed = Printed {
            log: &log,
            partial: b"tw",
        };
        let client = |stream| Client {
            stream,
            partial: Vec::new(),
            attached: false,
        };
        let mut kept = Some(b"one\ntw".to_vec());

        let (a, mut replaying_end) = UnixStream::pair().expect("socketpair");
        let mut replaying = client(a);
        replaying.partial = frame(ATTACH_LOGS, &[]);
        serve_frames(&mut replaying, pty.master.as_fd(), &mut kept, &printed).expect("served");
        assert!(replaying.attached);
        let mut seam = [0u8; 14];
        replaying_end.read_exact(&mut seam).expect("the seam");
        assert_eq!(u64::from_be_bytes(seam[..8].try_into().unwrap()), 16);
        assert_eq!(&seam[8..], &[0, 0, 0, 2, b't', b'w']);
        // What was kept since the start is for the plain client that asked for it.
        assert!(kept.is_some());

        let (b, mut plain_end) = UnixStream::pair().expect("socketpair");
        let mut plain = client(b);
        plain.partial = frame(ATTACH, &[]);
        serve_frames(&mut plain, pty.master.as_fd(), &mut kept, &printed).expect("served");
        let mut got = [0u8; 6];
        plain_end.read_exact(&mut got).expect("what was kept");
        assert_eq!(&got, b"one\ntw");
        assert!(kept.is_none());
    }
}
