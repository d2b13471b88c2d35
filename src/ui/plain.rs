//! `--progress plain`: one line per event, for logs and CI. Never moves the cursor.

use std::io::Write;
use std::sync::Mutex;

use crate::engine::progress::{ProgressEvent, Reporter};

/// Writes `Container shop-web-1  Started` (and ` <detail>` when there is one) per event, and
/// messages as they are. Each line is written whole under a lock, so events from many
/// threads never interleave within a line.
pub struct PlainReporter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl PlainReporter {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        PlainReporter {
            out: Mutex::new(out),
        }
    }

    /// Plain progress on standard error.
    pub fn stderr() -> Self {
        Self::new(Box::new(std::io::stderr()))
    }

    fn write_line(&self, line: &str) {
        // A poisoned lock only means another thread panicked mid-write; the writer is still usable.
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // Progress output is best effort: a closed stderr must not fail the operation.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// The plain text of one event: `Kind name  Text` then ` detail` when present (after
/// `DRY-RUN MODE -  ` in a dry run).
pub fn plain_line(event: &ProgressEvent) -> String {
    let mut line = format!("{}  {}", super::resource_label(event), event.text);
    if let Some(detail) = event.detail.as_deref().filter(|d| !d.is_empty()) {
        line.push(' ');
        line.push_str(detail);
    }
    line
}

impl Reporter for PlainReporter {
    fn event(&self, event: ProgressEvent) {
        self.write_line(&plain_line(&event));
    }

    fn message(&self, text: &str) {
        self.write_line(text);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::engine::progress::{ResourceKind, Status};

    /// A `Write` whose bytes a test can read back after handing it to a reporter.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(pub Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub(crate) fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_prints_one_line_per_event_in_docker_compose_words() {
        let out = Captured::default();
        let reporter = PlainReporter::new(Box::new(out.clone()));
        reporter.event(ProgressEvent::new(
            ResourceKind::Network,
            "shop_default",
            Status::Working,
            "Creating",
        ));
        reporter.event(ProgressEvent::new(
            ResourceKind::Network,
            "shop_default",
            Status::Done,
            "Created",
        ));
        reporter.event(ProgressEvent::new(
            ResourceKind::Container,
            "shop-web-1",
            Status::Done,
            "Started",
        ));
        reporter.event(
            ProgressEvent::new(ResourceKind::Container, "shop-db-1", Status::Error, "Error")
                .with_detail("port 5432 is already allocated"),
        );
        reporter.message("WARN a summary line");
        reporter.finish();
        assert_eq!(
            out.text(),
            "Network shop_default  Creating\n\
             Network shop_default  Created\n\
             Container shop-web-1  Started\n\
             Container shop-db-1  Error port 5432 is already allocated\n\
             WARN a summary line\n"
        );
    }

    #[test]
    fn plain_lines_stay_whole_under_concurrent_events() {
        let out = Captured::default();
        let reporter = Arc::new(PlainReporter::new(Box::new(out.clone())));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let reporter = reporter.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        reporter.event(ProgressEvent::new(
                            ResourceKind::Container,
                            format!("c{t}-{i}"),
                            Status::Working,
                            "Starting",
                        ));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = out.text();
        assert_eq!(text.lines().count(), 400);
        assert!(text
            .lines()
            .all(|l| l.starts_with("Container c") && l.ends_with("  Starting")));
    }

    #[test]
    fn plain_prefixes_dry_run_events_as_docker_compose_does() {
        let mut event = ProgressEvent::new(
            ResourceKind::Network,
            "shop_default",
            Status::Done,
            "Created",
        );
        event.dry_run = true;
        assert_eq!(
            plain_line(&event),
            "DRY-RUN MODE -  Network shop_default  Created"
        );
    }
}
