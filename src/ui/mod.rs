//! What the user sees: progress of engine operations and container logs.
//!
//! [`reporter`] picks a [`Reporter`] for `--progress` and `--ansi`: a docker compose style live
//! view on a terminal ([`TtyReporter`]), plain lines ([`PlainReporter`]), JSON lines
//! ([`JsonReporter`]) or nothing. [`LogPrinter`] multiplexes container output with
//! `name  | ` prefixes. [`ansi`] decides when escape sequences are allowed.
//!
//! Not for: engine internals (renderers only see [`ProgressEvent`]s), reading logs from a
//! runtime, or parsing flags (the CLI passes the resolved values).

pub mod ansi;
pub mod json;
pub mod logs;
pub mod plain;
pub mod table;
pub mod template;
pub mod tty;

use std::io::IsTerminal;
use std::sync::Arc;

pub use json::JsonReporter;
pub use logs::LogPrinter;
pub use plain::PlainReporter;
pub use tty::TtyReporter;

use crate::cli::{Ansi, Progress};
use crate::engine::progress::{ProgressEvent, QuietReporter, Reporter};

/// The renderer a `--progress`/`--ansi` pair resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renderer {
    Tty,
    Plain,
    Json,
    Quiet,
}

/// Resolves `--progress` and `--ansi` given whether standard error is a terminal.
///
/// `auto` and `tty` are the live view on a terminal and plain lines elsewhere: indicatif
/// draws nothing off a terminal, and plain lines are more useful than silence (so
/// `--ansi always` colors the live view but cannot conjure one). `--ansi never` rules out
/// the live view: it is all escape sequences.
pub fn choose_renderer(mode: Progress, ansi: Ansi, stderr_is_terminal: bool) -> Renderer {
    match mode {
        Progress::Quiet => Renderer::Quiet,
        Progress::Json => Renderer::Json,
        Progress::Plain => Renderer::Plain,
        Progress::Tty | Progress::Auto if ansi == Ansi::Never || !stderr_is_terminal => {
            Renderer::Plain
        }
        Progress::Tty | Progress::Auto => Renderer::Tty,
    }
}

/// The reporter for `--progress` and `--ansi`, drawing on standard error.
pub fn reporter(mode: Progress, ansi: Ansi) -> Arc<dyn Reporter> {
    let terminal = std::io::stderr().is_terminal();
    match choose_renderer(mode, ansi, terminal) {
        Renderer::Tty => Arc::new(TtyReporter::stderr(ansi::color_enabled(
            ansi,
            terminal,
            ansi::no_color_requested(),
        ))),
        Renderer::Plain => Arc::new(PlainReporter::stderr()),
        Renderer::Json => Arc::new(JsonReporter::stderr()),
        Renderer::Quiet => Arc::new(QuietReporter),
    }
}

/// `Kind name`, the id docker compose shows for a resource.
pub fn resource_id(event: &ProgressEvent) -> String {
    format!("{} {}", event.kind.as_str(), event.name)
}

/// What starts every line of a dry run, as docker compose writes it.
pub const DRY_RUN_PREFIX: &str = "DRY-RUN MODE - ";

/// The label a text renderer shows for a resource: its id, after [`DRY_RUN_PREFIX`] and
/// docker compose's extra space in a dry run (`DRY-RUN MODE -  Container web-1`).
pub fn resource_label(event: &ProgressEvent) -> String {
    if event.dry_run {
        format!("{DRY_RUN_PREFIX} {}", resource_id(event))
    } else {
        resource_id(event)
    }
}

/// `--dry-run`: marks every event as a dry run's and prefixes every message, so each
/// renderer (plain, tty, json) says that nothing really happened.
pub struct DryRunReporter {
    inner: Arc<dyn Reporter>,
}

impl DryRunReporter {
    pub fn new(inner: Arc<dyn Reporter>) -> Self {
        DryRunReporter { inner }
    }
}

impl Reporter for DryRunReporter {
    fn event(&self, mut event: ProgressEvent) {
        event.dry_run = true;
        self.inner.event(event);
    }

    fn message(&self, text: &str) {
        self.inner.message(&format!("{DRY_RUN_PREFIX}{text}"));
    }

    fn finish(&self) {
        self.inner.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::progress::{RecordingReporter, ResourceKind, Status};

    #[test]
    fn dry_run_reporter_marks_events_and_prefixes_messages() {
        let recorded = Arc::new(RecordingReporter::default());
        let reporter = DryRunReporter::new(recorded.clone());
        reporter.event(ProgressEvent::new(
            ResourceKind::Container,
            "shop-web-1",
            Status::Done,
            "Started",
        ));
        reporter.message("Found orphan containers");
        let events = recorded.events.lock().expect("events");
        assert!(events[0].dry_run);
        assert_eq!(
            resource_label(&events[0]),
            "DRY-RUN MODE -  Container shop-web-1"
        );
        assert_eq!(
            recorded.messages.lock().expect("messages")[0],
            "DRY-RUN MODE - Found orphan containers"
        );
    }

    #[test]
    fn auto_is_tty_on_a_terminal_and_plain_elsewhere() {
        assert_eq!(
            choose_renderer(Progress::Auto, Ansi::Auto, true),
            Renderer::Tty
        );
        assert_eq!(
            choose_renderer(Progress::Auto, Ansi::Auto, false),
            Renderer::Plain
        );
    }

    #[test]
    fn ansi_never_rules_out_the_live_view() {
        assert_eq!(
            choose_renderer(Progress::Auto, Ansi::Never, true),
            Renderer::Plain
        );
        assert_eq!(
            choose_renderer(Progress::Tty, Ansi::Never, true),
            Renderer::Plain
        );
    }

    #[test]
    fn explicit_modes_win() {
        assert_eq!(
            choose_renderer(Progress::Tty, Ansi::Auto, true),
            Renderer::Tty
        );
        assert_eq!(
            choose_renderer(Progress::Plain, Ansi::Always, true),
            Renderer::Plain
        );
        assert_eq!(
            choose_renderer(Progress::Json, Ansi::Auto, true),
            Renderer::Json
        );
        assert_eq!(
            choose_renderer(Progress::Quiet, Ansi::Auto, true),
            Renderer::Quiet
        );
    }
}
