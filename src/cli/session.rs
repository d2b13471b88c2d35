//! Relays an attached container or exec (`run`, `exec`) to hoist's own stdio: standard input
//! to the process, its stdout and stderr to hoist's, the terminal's size to its TTY.
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
use tokio::sync::mpsc;

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
#[derive(Clone, Copy, Debug)]
pub struct Relay {
    /// The process has a TTY: forward the terminal size, and leave Ctrl-C to the TTY.
    pub tty: bool,
    /// Forward hoist's standard input.
    pub stdin: bool,
}

/// Relays until the process's output ends (it exited, or closed its stdout and stderr).
pub async fn relay(
    runtime: &Arc<dyn Runtime>,
    io: AttachedIo,
    target: &Target,
    how: Relay,
) -> Result<(), CliError> {
    let AttachedIo { mut output, input } = io;
    let forward = how.stdin.then(|| {
        let mut rx = read_stdin();
        let mut input = input;
        tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                if input.write_all(&chunk).await.is_err() || input.flush().await.is_err() {
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
    let mut sigint = if how.tty {
        None
    } else {
        signal(SignalKind::interrupt()).ok()
    };
    let mut interrupts = 0u32;
    let result = loop {
        tokio::select! {
            chunk = output.next() => {
                let Some(chunk) = chunk else { break Ok(()) };
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
                    break Ok(());
                }
            }
            Some(()) = next_signal(&mut winch) => resize(runtime, target).await,
            // Without a TTY, Ctrl-C reaches hoist, not the process: pass it on (docker's
            // signal proxy), and kill on the second one.
            Some(()) = next_signal(&mut sigint) => {
                interrupts += 1;
                if let Target::Container(name) = target {
                    let sig = if interrupts == 1 { "SIGINT" } else { "SIGKILL" };
                    let _ = runtime.kill_container(name, sig).await;
                } else {
                    break Err(CliError::Engine(EngineError {
                        message: "interrupted".into(),
                        hint: None,
                        exit_code: 130,
                    }));
                }
            }
        }
    };
    if let Some(task) = forward {
        task.abort();
    }
    result
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
