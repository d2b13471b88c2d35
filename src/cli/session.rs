//! Relays an attached container or exec (`run`, `exec`, `attach`) to hoist's own stdio:
//! standard input to the process, its stdout and stderr to hoist's, the terminal's size to
//! its TTY, and (as the command asks) signals to the process or the detach keys.
//!
//! Not for: raw mode (the caller holds a [`super::terminal::RawMode`] around the session, so
//! it is on before the process starts), nor finding exit codes.
//!
//! Standard input is read on a plain thread, not tokio's blocking pool: a read on a terminal
//! can block forever, and the runtime waits for its blocking tasks when it shuts down.

use std::io::{Read, Write};
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};

use super::detach_keys::DetachKeys;
use super::signals::next_signal;
use super::terminal;
use super::CliError;
use crate::engine::EngineError;
use crate::runtime::{AttachedIo, OutputStream, Runtime};

/// What the session is connected to: resizes and signals go there.
#[derive(Clone, Debug)]
pub enum Target {
    Container(String),
    Exec(String),
}

/// How to relay.
#[derive(Clone, Debug)]
pub struct Relay {
    /// The process has a TTY: forward the terminal size, and leave Ctrl-C to the TTY.
    pub tty: bool,
    /// Forward hoist's standard input.
    pub stdin: bool,
    /// What SIGINT (Ctrl-C) and SIGTERM sent to hoist do.
    pub signals: OnSignal,
    /// Typed on standard input, they end the session ([`Ended::DetachKeys`]); not passed on.
    pub detach_keys: Option<DetachKeys>,
}

/// What a SIGINT or SIGTERM to hoist does during a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnSignal {
    /// `run`, `exec`: without a TTY, a SIGINT goes to the container and a second one kills
    /// it; an exec is abandoned (exit 130). SIGTERM keeps its default disposition.
    Interrupt,
    /// `attach --sig-proxy`: without a TTY, SIGINT and SIGTERM go to the container as they
    /// are; the third ends the session (as the docker CLI gives up after three). With a TTY
    /// they end the session.
    Proxy,
    /// `attach --sig-proxy=false`: SIGINT and SIGTERM end the session.
    Detach,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The process's output ended: it exited, or closed its stdout and stderr.
    Output,
    /// Hoist's stdout or stderr was closed (`| head`); the process may still run.
    OutputClosed,
    /// The user typed the detach keys; the process keeps running.
    DetachKeys,
    /// This signal to hoist ended the session; the process keeps running.
    Signal(i32),
}

/// Relays until the process's output ends, the detach keys are typed, or a signal ends it
/// (as `how.signals` says).
pub async fn relay(
    runtime: &Arc<dyn Runtime>,
    io: AttachedIo,
    target: &Target,
    how: Relay,
) -> Result<Ended, CliError> {
    let AttachedIo { mut output, input } = io;
    let (detach_tx, detach_rx) = oneshot::channel::<()>();
    let mut detach_rx = how.detach_keys.is_some().then_some(detach_rx);
    let forward = how.stdin.then(|| {
        let mut rx = read_stdin();
        let mut input = input;
        let mut scanner = how.detach_keys.as_ref().map(DetachKeys::scanner);
        tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                let (chunk, detach) = match &mut scanner {
                    Some(s) => s.scan(&chunk),
                    None => (chunk, false),
                };
                if input.write_all(&chunk).await.is_err() || input.flush().await.is_err() {
                    return;
                }
                if detach {
                    // The process's stdin stays open: it keeps running, unaware.
                    let _ = detach_tx.send(());
                    return;
                }
            }
            // End of input: the process sees EOF (stdin_once, or the exec's stdin closing).
            let _ = input.shutdown().await;
        })
    });

    let mut winch = if how.tty {
        resize(runtime, target).await;
        signal(SignalKind::window_change()).ok()
    } else {
        None
    };
    let listen_sigint = how.signals != OnSignal::Interrupt || !how.tty;
    let mut sigint = listen_sigint
        .then(|| signal(SignalKind::interrupt()).ok())
        .flatten();
    let mut sigterm = (how.signals != OnSignal::Interrupt)
        .then(|| signal(SignalKind::terminate()).ok())
        .flatten();
    let mut signalled = 0u32;
    let result = loop {
        tokio::select! {
            chunk = output.next() => {
                let Some(chunk) = chunk else { break Ok(Ended::Output) };
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => break Err(CliError::Engine(EngineError::runtime("read the output of the command", e))),
                };
                // A closed stdout (`| head`) ends the session; what the process writes
                // next is of no use to anyone.
                let written = match chunk.stream {
                    OutputStream::Stderr => write_all(&mut std::io::stderr().lock(), &chunk.bytes),
                    _ => write_all(&mut std::io::stdout().lock(), &chunk.bytes),
                };
                if written.is_err() {
                    break Ok(Ended::OutputClosed);
                }
            }
            () = detach_requested(&mut detach_rx) => break Ok(Ended::DetachKeys),
            Some(()) = next_signal(&mut winch) => resize(runtime, target).await,
            Some(()) = next_signal(&mut sigint) => {
                signalled += 1;
                if let Some(end) = on_signal(runtime, target, &how, libc::SIGINT, signalled).await {
                    break end;
                }
            }
            Some(()) = next_signal(&mut sigterm) => {
                signalled += 1;
                if let Some(end) = on_signal(runtime, target, &how, libc::SIGTERM, signalled).await {
                    break end;
                }
            }
        }
    };
    if let Some(task) = forward {
        task.abort();
    }
    result
}

/// Handles the `count`th SIGINT or SIGTERM of the session; `Some` ends it.
async fn on_signal(
    runtime: &Arc<dyn Runtime>,
    target: &Target,
    how: &Relay,
    signo: i32,
    count: u32,
) -> Option<Result<Ended, CliError>> {
    let container = match target {
        Target::Container(name) => Some(name.as_str()),
        Target::Exec(_) => None,
    };
    let name = if signo == libc::SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    };
    match (how.signals, container) {
        // Without a TTY, Ctrl-C reaches hoist, not the process: pass it on (docker's
        // signal proxy), and kill on the second one.
        (OnSignal::Interrupt, Some(container)) => {
            let sig = if count == 1 { name } else { "SIGKILL" };
            let _ = runtime.kill_container(container, sig).await;
            None
        }
        (OnSignal::Interrupt, None) => Some(Err(CliError::Engine(EngineError {
            message: "interrupted".into(),
            hint: None,
            exit_code: 130,
        }))),
        (OnSignal::Proxy, Some(container)) if !how.tty && count < 3 => {
            let _ = runtime.kill_container(container, name).await;
            None
        }
        _ => Some(Ok(Ended::Signal(signo))),
    }
}

/// Resolves when the detach keys were typed; pending forever without detach keys or once
/// standard input ended.
async fn detach_requested(rx: &mut Option<oneshot::Receiver<()>>) {
    if let Some(r) = rx {
        if r.await.is_ok() {
            return;
        }
        *rx = None;
    }
    std::future::pending().await
}

fn write_all(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes)?;
    w.flush()
}

/// Gives the process's TTY the terminal's size; best effort (a process that already exited
/// has no TTY to resize).
async fn resize(runtime: &Arc<dyn Runtime>, target: &Target) {
    let Some(size) = terminal::size() else {
        return;
    };
    let _ = match target {
        Target::Container(name) => runtime.resize_container_tty(name, size).await,
        Target::Exec(id) => runtime.resize_exec(id, size).await,
    };
}

/// Standard input, chunk by chunk, from a thread of its own; the channel closes at EOF.
fn read_stdin() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    let spawned = std::thread::Builder::new()
        .name("hoist-stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => return,
                }
            }
        });
    // No thread: the sender is gone with the closure, so the process sees EOF at once.
    drop(spawned);
    rx
}
