//! `--progress tty`: docker compose v2's live view on a terminal, drawn with indicatif.
//!
//! ```text
//! [+] Running 2/3
//!  ✔ Network shop_default   Created                         0.1s
//!  ✔ Container shop-db-1    Started                         0.4s
//!  ⠹ Container shop-web-1   Starting                        0.2s
//! ```
//!
//! One line per resource, keyed by (kind, name), in the order resources first appear; labels
//! padded to the longest; elapsed time right-aligned. Each `finish` closes the block (its
//! lines stay on screen) and the next event opens a new one with its own header.
//!
//! Not for: deciding whether a terminal is there (see [`super::reporter`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::ansi::{paint_if, BLUE, GREEN, RED, YELLOW};
use crate::engine::progress::{ProgressEvent, Reporter, ResourceKind, Status};

/// docker compose's spinner frames; one every [`TICK`].
const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const TICK: Duration = Duration::from_millis(100);

/// Makes the draw target for each block: stderr in use, an in-memory terminal in tests.
pub type DrawTargetFactory = Box<dyn Fn() -> ProgressDrawTarget + Send + Sync>;

/// What one resource's line shows. Shared between the reporter (which updates it) and the
/// line's style (which reads it when indicatif redraws).
#[derive(Debug)]
struct LineState {
    label: String,
    status: Status,
    text: String,
    detail: Option<String>,
    progress: Option<(u64, u64)>,
    started: Instant,
    /// Frozen elapsed time once the resource is no longer working.
    ended: Option<Duration>,
}

impl LineState {
    fn elapsed(&self, now: Instant) -> Duration {
        self.ended
            .unwrap_or_else(|| now.saturating_duration_since(self.started))
    }
}

/// Numbers the header shows.
#[derive(Default, Debug)]
struct Counts {
    done: AtomicUsize,
    total: AtomicUsize,
}

/// One live block: a header and a line per resource.
struct Block {
    multi: MultiProgress,
    header: ProgressBar,
    counts: Arc<Counts>,
    /// Width of the longest label, shared by every line's style for padding.
    column: Arc<AtomicUsize>,
    /// Index in `lines` per resource.
    index: HashMap<(ResourceKind, String), usize>,
    /// Lines in the order their resources first appeared.
    lines: Vec<(Arc<Mutex<LineState>>, ProgressBar)>,
    /// Distinguishes this block from later ones, so a ticker thread knows when to stop.
    generation: u64,
}

struct Inner {
    color: bool,
    target: DrawTargetFactory,
    block: Mutex<Option<Block>>,
    generations: AtomicUsize,
}

/// The live view. Every update happens under one lock, so events from many threads never
/// garble it; a single ticker thread per block animates spinners and elapsed times.
pub struct TtyReporter {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the progress display down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TtyReporter {
    /// The live view on standard error.
    pub fn stderr(color: bool) -> Self {
        Self::with_draw_target(color, Box::new(ProgressDrawTarget::stderr))
    }

    /// The live view on targets from `target` (called once per block and per lone message).
    pub fn with_draw_target(color: bool, target: DrawTargetFactory) -> Self {
        TtyReporter {
            inner: Arc::new(Inner {
                color,
                target,
                block: Mutex::new(None),
                generations: AtomicUsize::new(0),
            }),
        }
    }

    /// The text of every line of the current block (header first), as drawn now without
    /// colors: what the terminal shows, independent of terminal width.
    pub fn snapshot(&self) -> Vec<String> {
        let guard = lock(&self.inner.block);
        let Some(block) = guard.as_ref() else {
            return Vec::new();
        };
        let now = Instant::now();
        let column = block.column.load(Ordering::Relaxed);
        let mut out = vec![header_text(&block.counts, false)];
        for (state, _) in &block.lines {
            let state = lock(state);
            let mut line = format!(" {}", line_body(&state, column, false, now));
            let detail = detail_text(&state, false);
            if !detail.is_empty() {
                line.push(' ');
                line.push_str(&detail);
            }
            line.push(' ');
            line.push_str(&elapsed_text(&state, now));
            out.push(line);
        }
        out
    }

    fn open_block(&self) -> Block {
        let inner = &self.inner;
        let generation = inner.generations.fetch_add(1, Ordering::Relaxed) as u64 + 1;
        let multi = MultiProgress::with_draw_target((inner.target)());
        let counts = Arc::new(Counts::default());
        let header = multi.add(ProgressBar::new_spinner());
        let color = inner.color;
        let header_counts = counts.clone();
        let style = ProgressStyle::with_template("{header}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key(
                "header",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&header_text(&header_counts, color));
                },
            );
        header.set_style(style);
        spawn_ticker(Arc::downgrade(&self.inner), generation);
        Block {
            multi,
            header,
            counts,
            column: Arc::new(AtomicUsize::new(0)),
            index: HashMap::new(),
            lines: Vec::new(),
            generation,
        }
    }

    fn new_line(&self, block: &Block, state: Arc<Mutex<LineState>>) -> ProgressBar {
        let color = self.inner.color;
        let (body_state, detail_state, secs_state) = (state.clone(), state.clone(), state);
        let column = block.column.clone();
        // The detail sits in `wide_msg` so indicatif fills (or truncates) the space between
        // it and the elapsed time, which right-aligns the time at the terminal's edge.
        let style = ProgressStyle::with_template(" {body}{wide_msg} {secs}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key(
                "body",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let state = lock(&body_state);
                    let _ = w.write_str(&line_body(
                        &state,
                        column.load(Ordering::Relaxed),
                        color,
                        Instant::now(),
                    ));
                },
            )
            .with_key(
                "secs",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let state = lock(&secs_state);
                    let _ = w.write_str(&elapsed_text(&state, Instant::now()));
                },
            );
        let bar = block.multi.add(ProgressBar::new_spinner());
        bar.set_style(style);
        let detail = detail_text(&lock(&detail_state), color);
        bar.set_message(prefix_space(detail));
        bar
    }
}

/// The detail (with a leading space) or nothing.
fn prefix_space(detail: String) -> String {
    if detail.is_empty() {
        detail
    } else {
        format!(" {detail}")
    }
}

fn header_text(counts: &Counts, color: bool) -> String {
    let done = counts.done.load(Ordering::Relaxed);
    let total = counts.total.load(Ordering::Relaxed);
    let text = format!("[+] Running {done}/{total}");
    if total != 0 && done == total {
        paint_if(color, BLUE, &text)
    } else {
        text
    }
}

/// `⠹ Container shop-web-1   Starting`: icon, padded label, status text.
fn line_body(state: &LineState, column: usize, color: bool, now: Instant) -> String {
    let (icon, code) = match state.status {
        Status::Working => {
            let frame = (state.elapsed(now).as_millis() / TICK.as_millis()) as usize;
            (SPINNER[frame % SPINNER.len()], None)
        }
        Status::Done => ("✔", Some(GREEN)),
        Status::Warning => ("!", Some(YELLOW)),
        Status::Error => ("✘", Some(RED)),
    };
    let (icon, text) = match code {
        Some(code) => (
            paint_if(color, code, icon),
            paint_if(color, code, &state.text),
        ),
        None => (icon.to_string(), state.text.clone()),
    };
    let pad = column.saturating_sub(state.label.chars().count());
    format!("{icon} {}{}  {text}", state.label, " ".repeat(pad))
}

/// The detail, with progress as a percentage; red on errors.
fn detail_text(state: &LineState, color: bool) -> String {
    let mut text = state.detail.clone().unwrap_or_default();
    if let Some((current, total)) = state.progress.filter(|&(_, t)| t > 0) {
        if !text.is_empty() {
            text.push(' ');
        }
        let _ = write!(text, "{}%", current.min(total) * 100 / total);
    }
    if state.status == Status::Error && !text.is_empty() {
        paint_if(color, RED, &text)
    } else {
        text
    }
}

fn elapsed_text(state: &LineState, now: Instant) -> String {
    format!("{:.1}s", state.elapsed(now).as_secs_f64())
}

fn is_finished(status: Status) -> bool {
    matches!(status, Status::Done | Status::Warning)
}

/// Redraws the current block's header and working lines every [`TICK`] until the block
/// closes or the reporter is dropped; one thread per block, not one per line.
fn spawn_ticker(inner: Weak<Inner>, generation: u64) {
    let spawned = std::thread::Builder::new()
        .name("hoist-progress".into())
        .spawn(move || loop {
            std::thread::sleep(TICK);
            let Some(inner) = inner.upgrade() else { return };
            let guard = lock(&inner.block);
            let Some(block) = guard.as_ref().filter(|b| b.generation == generation) else {
                return;
            };
            block.header.tick();
            for (state, bar) in &block.lines {
                if lock(state).status == Status::Working {
                    bar.tick();
                }
            }
        });
    // Without a ticker, spinners stand still but every event still redraws: not worth failing.
    drop(spawned);
}

impl Reporter for TtyReporter {
    fn event(&self, event: ProgressEvent) {
        let mut guard = lock(&self.inner.block);
        if guard.is_none() {
            *guard = Some(self.open_block());
        }
        let Some(block) = guard.as_mut() else { return };
        let now = Instant::now();
        let key = (event.kind, event.name.clone());
        let label = super::resource_label(&event);

        let was_finished;
        let widened = label.chars().count() > block.column.load(Ordering::Relaxed);
        if widened {
            block.column.store(label.chars().count(), Ordering::Relaxed);
        }
        let bar = match block.index.get(&key).and_then(|&i| block.lines.get(i)) {
            Some((state, bar)) => {
                let mut s = lock(state);
                was_finished = is_finished(s.status);
                if let Some(elapsed) = event.elapsed.filter(|_| event.status == Status::Working) {
                    s.started = now.checked_sub(elapsed).unwrap_or(s.started);
                }
                s.ended = match event.status {
                    Status::Working => None,
                    _ => Some(event.elapsed.unwrap_or_else(|| s.elapsed(now))),
                };
                s.status = event.status;
                s.text = event.text;
                s.detail = event.detail;
                s.progress = event.progress;
                let detail = detail_text(&s, self.inner.color);
                drop(s);
                bar.set_message(prefix_space(detail));
                bar.clone()
            }
            None => {
                was_finished = false;
                let started = match event.elapsed {
                    Some(elapsed) => now.checked_sub(elapsed).unwrap_or(now),
                    None => now,
                };
                let ended = match event.status {
                    Status::Working => None,
                    _ => Some(event.elapsed.unwrap_or_default()),
                };
                let state = Arc::new(Mutex::new(LineState {
                    label,
                    status: event.status,
                    text: event.text,
                    detail: event.detail,
                    progress: event.progress,
                    started,
                    ended,
                }));
                let bar = self.new_line(block, state.clone());
                block.counts.total.fetch_add(1, Ordering::Relaxed);
                block.index.insert(key, block.lines.len());
                block.lines.push((state, bar.clone()));
                bar
            }
        };
        let finished = is_finished(event.status);
        if finished && !was_finished {
            block.counts.done.fetch_add(1, Ordering::Relaxed);
        } else if !finished && was_finished {
            block.counts.done.fetch_sub(1, Ordering::Relaxed);
        }
        if widened {
            // Every line pads to the new column: redraw them all.
            for (_, other) in &block.lines {
                other.tick();
            }
        } else {
            bar.tick();
        }
        block.header.tick();
    }

    fn message(&self, text: &str) {
        let guard = lock(&self.inner.block);
        // Above the live view while one is shown; otherwise on a one-off target. Best effort:
        // a closed stderr must not fail the operation.
        let _ = match guard.as_ref() {
            Some(block) => block.multi.println(text),
            None => MultiProgress::with_draw_target((self.inner.target)()).println(text),
        };
    }

    fn finish(&self) {
        let Some(block) = lock(&self.inner.block).take() else {
            return;
        };
        // `finish` forces a last draw; dropping the block afterwards leaves the lines on screen.
        block.header.finish();
        for (_, bar) in &block.lines {
            bar.finish();
        }
    }
}

impl Drop for TtyReporter {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use indicatif::TermLike;

    use super::*;

    /// A tiny terminal: a grid of rows, a cursor, auto-wrap at the width. Enough to replay what
    /// indicatif writes and read the screen back.
    #[derive(Debug, Clone)]
    struct Screen(Arc<Mutex<ScreenState>>);

    #[derive(Debug)]
    struct ScreenState {
        width: usize,
        rows: Vec<Vec<char>>,
        row: usize,
        col: usize,
    }

    impl Screen {
        fn new(width: usize) -> Self {
            Screen(Arc::new(Mutex::new(ScreenState {
                width,
                rows: vec![Vec::new()],
                row: 0,
                col: 0,
            })))
        }

        fn text(&self) -> Vec<String> {
            let s = lock(&self.0);
            let mut rows: Vec<String> = s
                .rows
                .iter()
                .map(|r| r.iter().collect::<String>().trim_end().to_string())
                .collect();
            while rows.last().is_some_and(|r| r.is_empty()) {
                rows.pop();
            }
            rows
        }
    }

    impl ScreenState {
        fn ensure_row(&mut self) {
            while self.rows.len() <= self.row {
                self.rows.push(Vec::new());
            }
        }

        fn put(&mut self, c: char) {
            match c {
                '\r' => self.col = 0,
                '\n' => {
                    self.row += 1;
                    self.col = 0;
                }
                _ => {
                    if self.col >= self.width {
                        self.row += 1;
                        self.col = 0;
                    }
                    self.ensure_row();
                    let row = &mut self.rows[self.row];
                    while row.len() <= self.col {
                        row.push(' ');
                    }
                    row[self.col] = c;
                    self.col += 1;
                }
            }
            self.ensure_row();
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            lock(&self.0).width as u16
        }
        fn height(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, n: usize) -> io::Result<()> {
            let mut s = lock(&self.0);
            s.row = s.row.saturating_sub(n);
            Ok(())
        }
        fn move_cursor_down(&self, n: usize) -> io::Result<()> {
            let mut s = lock(&self.0);
            s.row += n;
            s.ensure_row();
            Ok(())
        }
        fn move_cursor_right(&self, n: usize) -> io::Result<()> {
            lock(&self.0).col += n;
            Ok(())
        }
        fn move_cursor_left(&self, n: usize) -> io::Result<()> {
            let mut s = lock(&self.0);
            s.col = s.col.saturating_sub(n);
            Ok(())
        }
        fn write_line(&self, line: &str) -> io::Result<()> {
            let mut s = lock(&self.0);
            line.chars().for_each(|c| s.put(c));
            s.put('\n');
            Ok(())
        }
        fn write_str(&self, text: &str) -> io::Result<()> {
            let mut s = lock(&self.0);
            text.chars().for_each(|c| s.put(c));
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            let mut s = lock(&self.0);
            s.ensure_row();
            let row = s.row;
            s.rows[row].clear();
            s.col = 0;
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    fn on_screen(screen: &Screen) -> TtyReporter {
        let screen = screen.clone();
        TtyReporter::with_draw_target(
            false,
            Box::new(move || ProgressDrawTarget::term_like(Box::new(screen.clone()))),
        )
    }

    fn ev(kind: ResourceKind, name: &str, status: Status, text: &str, ms: u64) -> ProgressEvent {
        ProgressEvent::new(kind, name, status, text).with_elapsed(Duration::from_millis(ms))
    }

    #[test]
    fn tty_draws_docker_compose_lines_with_padding_and_right_aligned_time() {
        let screen = Screen::new(60);
        let reporter = on_screen(&screen);
        reporter.event(ev(
            ResourceKind::Network,
            "shop_default",
            Status::Working,
            "Creating",
            0,
        ));
        reporter.event(ev(
            ResourceKind::Network,
            "shop_default",
            Status::Done,
            "Created",
            100,
        ));
        reporter.event(ev(
            ResourceKind::Container,
            "shop-web-1",
            Status::Working,
            "Starting",
            0,
        ));
        reporter.event(ev(
            ResourceKind::Container,
            "shop-web-1",
            Status::Done,
            "Started",
            400,
        ));
        reporter.event(
            ev(
                ResourceKind::Container,
                "shop-db-1",
                Status::Error,
                "Error",
                1200,
            )
            .with_detail("port is already allocated"),
        );
        reporter.event(ev(
            ResourceKind::Volume,
            "shop_data",
            Status::Warning,
            "Exists",
            0,
        ));
        reporter.finish();
        assert_eq!(
            screen.text(),
            vec![
                "[+] Running 3/4",
                " ✔ Network shop_default  Created                        0.1s",
                " ✔ Container shop-web-1  Started                        0.4s",
                " ✘ Container shop-db-1   Error port is already allocate 1.2s",
                " ! Volume shop_data      Exists                         0.0s",
            ]
        );
    }

    #[test]
    fn tty_prefixes_dry_run_lines_as_docker_compose_does() {
        let reporter = TtyReporter::with_draw_target(false, Box::new(ProgressDrawTarget::hidden));
        let mut event = ev(
            ResourceKind::Container,
            "shop-web-1",
            Status::Done,
            "Removed",
            0,
        );
        event.dry_run = true;
        reporter.event(event);
        assert_eq!(
            reporter.snapshot()[1],
            " ✔ DRY-RUN MODE -  Container shop-web-1  Removed 0.0s"
        );
    }

    #[test]
    fn tty_snapshot_shows_spinner_while_working_and_counts_done() {
        let reporter = TtyReporter::with_draw_target(false, Box::new(ProgressDrawTarget::hidden));
        reporter.event(ev(
            ResourceKind::Network,
            "shop_default",
            Status::Done,
            "Created",
            0,
        ));
        reporter.event(ProgressEvent::new(
            ResourceKind::Container,
            "shop-web-1",
            Status::Working,
            "Starting",
        ));
        let snap = reporter.snapshot();
        assert_eq!(snap[0], "[+] Running 1/2");
        assert_eq!(snap[1], " ✔ Network shop_default  Created 0.0s");
        assert!(
            SPINNER
                .iter()
                .any(|f| snap[2].starts_with(&format!(" {f} Container shop-web-1  Starting "))),
            "{}",
            snap[2]
        );
        // Going back to working un-counts a done resource.
        reporter.event(ProgressEvent::new(
            ResourceKind::Network,
            "shop_default",
            Status::Working,
            "Recreating",
        ));
        assert_eq!(reporter.snapshot()[0], "[+] Running 0/2");
    }

    #[test]
    fn tty_survives_events_from_many_threads_and_ends_all_done() {
        let screen = Screen::new(80);
        let reporter = Arc::new(on_screen(&screen));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let reporter = reporter.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let name = format!("shop-svc{t}-{i}");
                        reporter.event(ev(
                            ResourceKind::Container,
                            &name,
                            Status::Working,
                            "Creating",
                            0,
                        ));
                        reporter.message(&format!("note from {name}"));
                        reporter.event(ev(
                            ResourceKind::Container,
                            &name,
                            Status::Working,
                            "Starting",
                            0,
                        ));
                        reporter.event(ev(
                            ResourceKind::Container,
                            &name,
                            Status::Done,
                            "Started",
                            300,
                        ));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(reporter.snapshot()[0], "[+] Running 80/80");
        reporter.finish();
        let text = screen.text();
        let start = text
            .iter()
            .position(|l| l == "[+] Running 80/80")
            .unwrap_or_else(|| panic!("no final header in {text:#?}"));
        let lines = &text[start + 1..];
        assert_eq!(lines.len(), 80, "{text:#?}");
        for line in lines {
            assert!(line.starts_with(" ✔ Container shop-svc"), "{line}");
            assert!(line.contains("  Started "), "{line}");
            assert!(line.ends_with(" 0.3s"), "{line}");
            assert_eq!(line.chars().count(), 80, "{line}");
        }
        let notes = text.iter().filter(|l| l.starts_with("note from ")).count();
        assert_eq!(notes, 80);
    }

    #[test]
    fn tty_colors_icons_and_status_when_asked() {
        let state = LineState {
            label: "Container web-1".into(),
            status: Status::Done,
            text: "Started".into(),
            detail: None,
            progress: None,
            started: Instant::now(),
            ended: Some(Duration::ZERO),
        };
        assert_eq!(
            line_body(&state, 20, true, Instant::now()),
            "\x1b[32m✔\x1b[0m Container web-1       \x1b[32mStarted\x1b[0m"
        );
    }

    #[test]
    fn tty_finish_closes_the_block_and_the_next_event_opens_a_new_one() {
        let screen = Screen::new(40);
        let reporter = on_screen(&screen);
        reporter.event(ev(ResourceKind::Volume, "v", Status::Done, "Created", 0));
        reporter.finish();
        reporter.message("between");
        reporter.event(ev(ResourceKind::Volume, "v", Status::Done, "Removed", 0));
        reporter.finish();
        assert_eq!(
            screen.text(),
            vec![
                "[+] Running 1/1",
                " ✔ Volume v  Created                0.0s",
                "between",
                "[+] Running 1/1",
                " ✔ Volume v  Removed                0.0s",
            ]
        );
    }
}
