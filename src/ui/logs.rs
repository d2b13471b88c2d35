//! Container log multiplexing for `up` (attached) and `logs`: `web-1  | text`, the name padded
//! to the longest and colored per container in docker compose's order.
//!
//! Chunks from a runtime are not line-aligned, so partial lines are held per container and
//! stream until their newline arrives (or [`LogPrinter::flush`]). Standard error lines go to
//! the same output as standard output, as docker compose prints them.
//!
//! Not for: fetching logs (the runtime streams them) or deciding colors from flags (the caller
//! passes the resolved `color`; see [`super::ansi`]).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use super::ansi::paint;
use crate::runtime::OutputStream;

/// docker compose's rainbow: cyan, yellow, green, magenta, blue, then their bright variants.
const PALETTE: [&str; 10] = [
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
];

struct Presenter {
    /// Index in [`PALETTE`], assigned in the order names are first seen.
    color: usize,
}

struct State {
    out: Box<dyn Write + Send>,
    presenters: HashMap<String, Presenter>,
    /// Longest name seen, in characters.
    width: usize,
    /// Text after the last newline, per (name, stream), with the timestamp of its first chunk.
    partial: HashMap<(String, OutputStream), (String, Option<String>)>,
}

/// Prints container output with a per-container prefix. Thread-safe: each line is written
/// whole, so output of concurrent containers never mixes within a line.
pub struct LogPrinter {
    color: bool,
    prefix: bool,
    timestamps: bool,
    state: Mutex<State>,
}

impl LogPrinter {
    /// A printer to standard output. `names` fixes the color order and the padding; names not
    /// listed are added when first seen (and widen the padding from then on).
    pub fn new(names: &[String], color: bool, prefix: bool, timestamps: bool) -> Self {
        Self::with_output(
            names,
            color,
            prefix,
            timestamps,
            Box::new(std::io::stdout()),
        )
    }

    /// Like [`LogPrinter::new`], writing to `out`.
    pub fn with_output(
        names: &[String],
        color: bool,
        prefix: bool,
        timestamps: bool,
        out: Box<dyn Write + Send>,
    ) -> Self {
        let mut state = State {
            out,
            presenters: HashMap::new(),
            width: 0,
            partial: HashMap::new(),
        };
        for name in names {
            state.register(name);
        }
        LogPrinter {
            color,
            prefix,
            timestamps,
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicked writer thread leaves usable state behind; keep printing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints the complete lines in `text` (a chunk of `name`'s output) and keeps the rest
    /// until its newline arrives. `timestamp` is the chunk's, when the runtime gave one; with
    /// timestamps on and none given, the time of printing is used.
    pub fn line(&self, name: &str, stream: OutputStream, text: &str, timestamp: Option<&str>) {
        let mut state = self.lock();
        state.register(name);
        let key = (name.to_string(), stream);
        let mut pending = state.partial.remove(&key);
        let mut rest = text;
        while let Some(newline) = rest.find('\n') {
            let (head, tail) = (&rest[..newline], &rest[newline + 1..]);
            let (line, stamp) = match pending.take() {
                Some((mut buffered, stamp)) => {
                    buffered.push_str(head);
                    (buffered, stamp)
                }
                None => (head.to_string(), timestamp.map(str::to_string)),
            };
            self.write(&mut state, name, &line, stamp.as_deref());
            rest = tail;
        }
        if !rest.is_empty() {
            let entry =
                pending.get_or_insert_with(|| (String::new(), timestamp.map(str::to_string)));
            entry.0.push_str(rest);
        }
        if let Some(pending) = pending {
            state.partial.insert(key, pending);
        }
        let _ = state.out.flush();
    }

    /// Prints what is held for `name` (every stream) as complete lines: the container ended
    /// or its stream closed without a final newline.
    pub fn flush(&self, name: &str) {
        let mut state = self.lock();
        self.flush_locked(&mut state, name);
        let _ = state.out.flush();
    }

    /// [`LogPrinter::flush`] for every container.
    pub fn flush_all(&self) {
        let mut state = self.lock();
        let mut names: Vec<String> = state.partial.keys().map(|(n, _)| n.clone()).collect();
        names.sort();
        names.dedup();
        for name in names {
            self.flush_locked(&mut state, &name);
        }
        let _ = state.out.flush();
    }

    fn flush_locked(&self, state: &mut State, name: &str) {
        for stream in [
            OutputStream::Stdout,
            OutputStream::Stderr,
            OutputStream::Console,
            OutputStream::Stdin,
        ] {
            if let Some((line, stamp)) = state.partial.remove(&(name.to_string(), stream)) {
                self.write(state, name, &line, stamp.as_deref());
            }
        }
    }

    /// A status line about a container, in its color: `web-1 exited with code 0`. Held
    /// partial output of that container is printed first, so the order stays true.
    pub fn event(&self, name: &str, text: &str) {
        let mut state = self.lock();
        state.register(name);
        self.flush_locked(&mut state, name);
        let line = format!("{name} {text}");
        let line = match state.presenters.get(name) {
            Some(p) if self.color => paint(PALETTE[p.color], &line),
            _ => line,
        };
        let _ = writeln!(state.out, "{line}");
        let _ = state.out.flush();
    }

    fn write(&self, state: &mut State, name: &str, line: &str, timestamp: Option<&str>) {
        // TTY containers end lines with \r\n; the \r would only garble files and pipes.
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut out = String::new();
        if self.prefix {
            let pad = state.width.saturating_sub(name.chars().count());
            let prefix = format!("{name}{} | ", " ".repeat(pad + 1));
            match state.presenters.get(name) {
                Some(p) if self.color => out.push_str(&paint(PALETTE[p.color], &prefix)),
                _ => out.push_str(&prefix),
            }
        }
        if self.timestamps {
            match timestamp {
                Some(stamp) => out.push_str(stamp),
                None => out.push_str(&rfc3339_now()),
            }
            out.push(' ');
        }
        out.push_str(line);
        // Logs are best effort: a closed stdout (`| head`) must not fail the command.
        let _ = writeln!(state.out, "{out}");
    }
}

impl State {
    fn register(&mut self, name: &str) {
        if self.presenters.contains_key(name) {
            return;
        }
        let color = self.presenters.len() % PALETTE.len();
        self.presenters
            .insert(name.to_string(), Presenter { color });
        self.width = self.width.max(name.chars().count());
    }
}

/// The current UTC time as RFC 3339 with nanoseconds, the format of docker's log timestamps.
fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs(), now.subsec_nanos())
}

/// Unix seconds and nanoseconds as RFC 3339 UTC with nanoseconds.
pub fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::plain::tests::Captured;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn printer(
        list: &[&str],
        color: bool,
        prefix: bool,
        timestamps: bool,
    ) -> (LogPrinter, Captured) {
        let out = Captured::default();
        let p = LogPrinter::with_output(
            &names(list),
            color,
            prefix,
            timestamps,
            Box::new(out.clone()),
        );
        (p, out)
    }

    #[test]
    fn log_prefix_pads_names_to_the_longest() {
        let (p, out) = printer(&["web-1", "db-1", "worker-1"], false, true, false);
        p.line("web-1", OutputStream::Stdout, "listening on :80\n", None);
        p.line("worker-1", OutputStream::Stdout, "ready\n", None);
        p.line("db-1", OutputStream::Stderr, "warning: no password\n", None);
        assert_eq!(
            out.text(),
            "web-1     | listening on :80\n\
             worker-1  | ready\n\
             db-1      | warning: no password\n"
        );
    }

    #[test]
    fn log_colors_follow_docker_compose_order_and_wrap_to_bright() {
        let list: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
        let out = Captured::default();
        let p = LogPrinter::with_output(&list, true, true, false, Box::new(out.clone()));
        for name in &list {
            p.line(name, OutputStream::Stdout, "x\n", None);
        }
        let expected: String = list
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let code = PALETTE[i % PALETTE.len()];
                let pad = if name.len() == 2 { "   " } else { "  " };
                format!("\x1b[{code}m{name}{pad}| \x1b[0mx\n")
            })
            .collect();
        assert_eq!(out.text(), expected);
        assert!(out
            .text()
            .starts_with("\x1b[36ms0   | \x1b[0mx\n\x1b[33ms1   | "));
        assert!(out.text().contains("\x1b[36;1ms5   | "));
    }

    #[test]
    fn log_partial_lines_wait_for_their_newline_per_container() {
        let (p, out) = printer(&["web-1", "db-1"], false, true, false);
        p.line("web-1", OutputStream::Stdout, "GET /ind", None);
        p.line("db-1", OutputStream::Stdout, "checkpoint st", None);
        assert_eq!(out.text(), "");
        p.line("web-1", OutputStream::Stdout, "ex.html 200\nGET /a", None);
        p.line("db-1", OutputStream::Stdout, "arting\n", None);
        p.line("web-1", OutputStream::Stdout, "pp.js 200\n\n", None);
        p.line("web-1", OutputStream::Stdout, "tail without newline", None);
        p.event("web-1", "exited with code 0");
        assert_eq!(
            out.text(),
            "web-1  | GET /index.html 200\n\
             db-1   | checkpoint starting\n\
             web-1  | GET /app.js 200\n\
             web-1  | \n\
             web-1  | tail without newline\n\
             web-1 exited with code 0\n"
        );
    }

    #[test]
    fn log_stdout_and_stderr_partials_do_not_merge() {
        let (p, out) = printer(&["app"], false, true, false);
        p.line("app", OutputStream::Stdout, "out-", None);
        p.line("app", OutputStream::Stderr, "err-line\n", None);
        p.line("app", OutputStream::Stdout, "line\r\n", None);
        assert_eq!(out.text(), "app  | err-line\napp  | out-line\n");
    }

    #[test]
    fn log_no_prefix_and_no_color_print_bare_text() {
        let (p, out) = printer(&["web-1"], true, false, false);
        p.line("web-1", OutputStream::Stdout, "hello\nworld\n", None);
        assert_eq!(out.text(), "hello\nworld\n");
        let (p, out) = printer(&["web-1"], false, true, false);
        p.event("web-1", "exited with code 137");
        assert_eq!(out.text(), "web-1 exited with code 137\n");
    }

    #[test]
    fn log_timestamps_come_from_the_first_chunk_of_a_line() {
        let (p, out) = printer(&["web-1"], false, true, true);
        p.line(
            "web-1",
            OutputStream::Stdout,
            "par",
            Some("2024-05-01T10:00:00.000000001Z"),
        );
        p.line(
            "web-1",
            OutputStream::Stdout,
            "tial\nnext\n",
            Some("2024-05-01T10:00:01.000000000Z"),
        );
        assert_eq!(
            out.text(),
            "web-1  | 2024-05-01T10:00:00.000000001Z partial\n\
             web-1  | 2024-05-01T10:00:01.000000000Z next\n"
        );
    }

    #[test]
    fn log_names_not_listed_are_added_and_widen_the_padding() {
        let (p, out) = printer(&["a"], false, true, false);
        p.line("a", OutputStream::Stdout, "1\n", None);
        p.line("longer", OutputStream::Stdout, "2\n", None);
        p.line("a", OutputStream::Stdout, "3\n", None);
        assert_eq!(out.text(), "a  | 1\nlonger  | 2\na       | 3\n");
    }

    #[test]
    fn rfc3339_formats_utc_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_714_557_600, 0), "2024-05-01T10:00:00.000000000Z");
        let now = rfc3339_now();
        assert_eq!(now.len(), 30, "{now}");
    }
}
