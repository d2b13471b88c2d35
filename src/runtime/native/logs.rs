//! Reading a native container's log (`containers/<id>/container.log`, Docker's json-file
//! format written by the monitor): tail, since/until, stream selection, timestamps, and
//! following the file until the container stops.
//!
//! Not for: writing the log (see [`super::monitor`]).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::stream;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;

use super::state;
use crate::runtime::{BoxStream, LogOptions, OutputChunk, OutputStream, Result, RuntimeError};

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// The whole recorded log (then `tail` applies).
    Beginning,
    /// Only what is written from now on (attach).
    Now,
}

/// The byte offset reading starts at. For [`From::Now`] it is the log's length when the
/// stream is asked for, taken before returning: the reader task may first run after the
/// caller has started the container, and output written in between belongs to the attach.
/// The log is only ever appended to, so the offset stays valid.
fn start_offset(path: &Path, from: From) -> u64 {
    match from {
        From::Beginning => 0,
        From::Now => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    }
}

fn parse(line: &str) -> Option<(OutputStream, String, String, SystemTime)> {
    let e: Entry = serde_json::from_str(line).ok()?;
    let stream = match e.stream.as_str() {
        "stderr" => OutputStream::Stderr,
        _ => OutputStream::Stdout,
    };
    let time = chrono::DateTime::parse_from_rfc3339(&e.time).ok()?;
    Some((stream, e.log, e.time, SystemTime::from(time)))
}

struct Reader {
    root: PathBuf,
    id: String,
    options: LogOptions,
    /// Keep following while the container is merely created (attach before start).
    through_created: bool,
}

impl Reader {
    fn wanted(&self, stream: OutputStream, time: SystemTime) -> bool {
        let by_stream = match stream {
            OutputStream::Stderr => self.options.stderr,
            _ => self.options.stdout,
        };
        by_stream && self.options.since.is_none_or(|s| time >= s)
    }

    fn past_until(&self, time: SystemTime) -> bool {
        self.options.until.is_some_and(|u| time > u)
    }

    fn chunk(&self, stream: OutputStream, log: String, time: String) -> OutputChunk {
        OutputChunk {
            stream,
            bytes: Bytes::from(log),
            timestamp: self.options.timestamps.then_some(time),
        }
    }

    /// Whether more output can still come.
    fn active(&self) -> bool {
        let dir = state::container_dir(&self.root, &self.id);
        if !dir.exists() {
            return false;
        }
        match state::read_run_state(&self.root, &self.id).status.as_str() {
            "running" | "restarting" => true,
            "created" => self.through_created,
            _ => false,
        }
    }

    async fn run(self, offset: u64, tx: mpsc::Sender<Result<OutputChunk>>) {
        let path = log_path(&self.root, &self.id);
        let file = loop {
            match tokio::fs::File::open(&path).await {
                Ok(f) => break Some(f),
                Err(_) if self.options.follow && self.active() => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(_) => break None,
            }
        };
        let Some(mut file) = file else { return };
        if offset > 0 {
            if let Err(e) = file.seek(std::io::SeekFrom::Start(offset)).await {
                let _ = tx.send(Err(read_err(&path, e))).await;
                return;
            }
        }
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        // The recorded part, with `tail` applied.
        let mut backlog: VecDeque<OutputChunk> = VecDeque::new();
        let mut pending = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) => break,
                Ok(_) if !line.ends_with('\n') => {
                    pending = line.clone();
                    break;
                }
                Ok(_) => {
                    if let Some((stream, log, time, at)) = parse(line.trim_end()) {
                        if self.past_until(at) {
                            break;
                        }
                        if self.wanted(stream, at) {
                            backlog.push_back(self.chunk(stream, log, time));
                            if let Some(n) = self.options.tail {
                                while backlog.len() as u64 > n {
                                    backlog.pop_front();
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(read_err(&path, e))).await;
                    return;
                }
            }
        }
        for chunk in backlog {
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
        if !self.options.follow {
            return;
        }
        let mut finishing = false;
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) => {
                    if finishing {
                        return;
                    }
                    // One more read after the container is gone: the monitor records the
                    // exit only after writing its last line.
                    if !self.active() {
                        finishing = true;
                        continue;
                    }
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
                Ok(_) => {
                    pending.push_str(&line);
                    if !pending.ends_with('\n') {
                        continue;
                    }
                    let full = std::mem::take(&mut pending);
                    if let Some((stream, log, time, at)) = parse(full.trim_end()) {
                        if self.past_until(at) {
                            return;
                        }
                        if self.wanted(stream, at)
                            && tx.send(Ok(self.chunk(stream, log, time))).await.is_err()
                        {
                            return;
                        }
                    }
                    finishing = false;
                }
                Err(e) => {
                    let _ = tx.send(Err(read_err(&path, e))).await;
                    return;
                }
            }
        }
    }
}

fn log_path(root: &Path, id: &str) -> PathBuf {
    state::container_dir(root, id).join(super::monitor::LOG_FILE)
}

fn read_err(path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Other {
        operation: "read container logs".to_string(),
        message: format!("{}: {e}", path.display()),
    }
}

/// Sends what the first `end` bytes of the log `path` recorded, entry by entry, as
/// terminal output (a TTY attach with logs replays it before the live output, see
/// [`super::console::attach`]). False when the receiver is gone.
pub async fn replay(path: &Path, end: u64, tx: &mpsc::Sender<Result<OutputChunk>>) -> bool {
    use tokio::io::AsyncReadExt;
    let file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        // Nothing printed yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
        Err(e) => {
            let _ = tx.send(Err(read_err(path, e))).await;
            return false;
        }
    };
    let mut reader = BufReader::new(file.take(end));
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            // A line the monitor is still writing is not part of the replay.
            Ok(0) => return true,
            Ok(_) if !line.ends_with('\n') => return true,
            Ok(_) => {
                let Some((_, log, _, _)) = parse(line.trim_end()) else {
                    continue;
                };
                let chunk = OutputChunk {
                    stream: OutputStream::Console,
                    bytes: Bytes::from(log),
                    timestamp: None,
                };
                if tx.send(Ok(chunk)).await.is_err() {
                    return false;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(read_err(path, e))).await;
                return false;
            }
        }
    }
}

/// A stream of container `id`'s log under `root`.
pub fn stream_logs(
    root: &Path,
    id: &str,
    options: &LogOptions,
    from: From,
    through_created: bool,
) -> BoxStream<'static, Result<OutputChunk>> {
    let (tx, rx) = mpsc::channel(256);
    let reader = Reader {
        root: root.to_path_buf(),
        id: id.to_string(),
        options: options.clone(),
        through_created,
    };
    let offset = start_offset(&log_path(root, id), from);
    tokio::spawn(reader.run(offset, tx));
    Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}
