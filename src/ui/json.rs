//! `--progress json`: one JSON object per line on standard error, for tools.
//!
//! The fields are stable; absent values are left out rather than written as `null`:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `id` | string | `"<Kind> <name>"`, e.g. `"Container shop-web-1"` (docker compose's id) |
//! | `kind` | string | `Network`, `Volume`, `Image` or `Container` |
//! | `name` | string | the resource's name |
//! | `state` | string | `working`, `done`, `warning` or `error` |
//! | `status` | string | docker compose's word for it: `Creating`, `Started`... |
//! | `text` | string | detail: an error message, a pull layer; absent when none |
//! | `current`, `total` | integers | steps or bytes done out of a total; absent when unknown |
//! | `elapsed_ms` | integer | time the engine measured for this resource; absent when unknown |
//! | `dry_run` | boolean | `true` under `--dry-run`: nothing really happened; absent otherwise |
//!
//! A message that is about no resource is `{"tail":true,"text":"..."}`, as docker compose
//! writes its closing messages; under `--dry-run` its text starts with `DRY-RUN MODE - `.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use crate::engine::progress::{ProgressEvent, Reporter, Status};

#[derive(Serialize)]
struct EventLine<'a> {
    id: String,
    kind: &'static str,
    name: &'a str,
    state: &'static str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    elapsed_ms: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
}

#[derive(Serialize)]
struct TailLine<'a> {
    tail: bool,
    text: &'a str,
}

/// The lowercase state name used in JSON output.
pub fn state_name(status: Status) -> &'static str {
    match status {
        Status::Working => "working",
        Status::Done => "done",
        Status::Warning => "warning",
        Status::Error => "error",
    }
}

/// The JSON object (without newline) for one event.
pub fn json_line(event: &ProgressEvent) -> String {
    let line = EventLine {
        id: super::resource_id(event),
        kind: event.kind.as_str(),
        name: &event.name,
        state: state_name(event.status),
        status: &event.text,
        text: event.detail.as_deref(),
        current: event.progress.map(|(current, _)| current),
        total: event.progress.map(|(_, total)| total),
        elapsed_ms: event
            .elapsed
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        dry_run: event.dry_run,
    };
    // Serializing plain strings and integers cannot fail; fall back to a valid object anyway.
    serde_json::to_string(&line).unwrap_or_else(|_| "{}".to_string())
}

/// Writes one JSON object per event or message; see the module docs for the fields.
pub struct JsonReporter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonReporter {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        JsonReporter {
            out: Mutex::new(out),
        }
    }

    /// JSON progress on standard error.
    pub fn stderr() -> Self {
        Self::new(Box::new(std::io::stderr()))
    }

    fn write_line(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // Best effort, like the plain renderer: progress never fails the operation.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

impl Reporter for JsonReporter {
    fn event(&self, event: ProgressEvent) {
        self.write_line(&json_line(&event));
    }

    fn message(&self, text: &str) {
        let line = serde_json::to_string(&TailLine { tail: true, text })
            .unwrap_or_else(|_| "{}".to_string());
        self.write_line(&line);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::progress::ResourceKind;
    use crate::ui::plain::tests::Captured;

    #[test]
    fn json_prints_one_object_per_line_with_stable_fields() {
        let out = Captured::default();
        let reporter = JsonReporter::new(Box::new(out.clone()));
        reporter.event(ProgressEvent::new(
            ResourceKind::Container,
            "shop-web-1",
            Status::Working,
            "Starting",
        ));
        reporter.event(
            ProgressEvent::new(
                ResourceKind::Container,
                "shop-web-1",
                Status::Done,
                "Started",
            )
            .with_elapsed(Duration::from_millis(412)),
        );
        let mut pull = ProgressEvent::new(
            ResourceKind::Image,
            "nginx:alpine",
            Status::Working,
            "Pulling",
        )
        .with_detail("layer 3f2a \"base\"");
        pull.progress = Some((512, 2048));
        reporter.event(pull);
        reporter.event(
            ProgressEvent::new(ResourceKind::Volume, "shop_data", Status::Error, "Error")
                .with_detail("permission denied"),
        );
        reporter.message("All done");
        assert_eq!(
            out.text(),
            concat!(
                r#"{"id":"Container shop-web-1","kind":"Container","name":"shop-web-1","state":"working","status":"Starting"}"#,
                "\n",
                r#"{"id":"Container shop-web-1","kind":"Container","name":"shop-web-1","state":"done","status":"Started","elapsed_ms":412}"#,
                "\n",
                r#"{"id":"Image nginx:alpine","kind":"Image","name":"nginx:alpine","state":"working","status":"Pulling","text":"layer 3f2a \"base\"","current":512,"total":2048}"#,
                "\n",
                r#"{"id":"Volume shop_data","kind":"Volume","name":"shop_data","state":"error","status":"Error","text":"permission denied"}"#,
                "\n",
                r#"{"tail":true,"text":"All done"}"#,
                "\n",
            )
        );
        for line in out.text().lines() {
            assert!(
                serde_json::from_str::<serde_json::Value>(line).is_ok(),
                "{line}"
            );
        }
    }

    #[test]
    fn json_marks_dry_run_events() {
        let mut event = ProgressEvent::new(
            ResourceKind::Container,
            "shop-web-1",
            Status::Done,
            "Created",
        );
        event.dry_run = true;
        assert_eq!(
            json_line(&event),
            r#"{"id":"Container shop-web-1","kind":"Container","name":"shop-web-1","state":"done","status":"Created","dry_run":true}"#
        );
    }
}
