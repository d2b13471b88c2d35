//! Progress events: the engine says what happens to each resource; a [`Reporter`] (the `ui`
//! module: live view on a terminal, plain lines, JSON lines, or nothing) shows it.

use std::time::Duration;

/// The kind of resource an event is about, as docker compose names them in its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Network,
    Volume,
    Image,
    Container,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Network => "Network",
            ResourceKind::Volume => "Volume",
            ResourceKind::Image => "Image",
            ResourceKind::Container => "Container",
        }
    }
}

/// Where a resource's operation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Under way (spinner): "Creating", "Starting", "Waiting", "Pulling"...
    Working,
    /// Finished: "Created", "Started", "Healthy", "Removed"...
    Done,
    /// Finished with a warning the user should read.
    Warning,
    /// Failed; `detail` says why.
    Error,
}

/// One change in one resource's state.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressEvent {
    pub kind: ResourceKind,
    /// The resource's name: `shop_default`, `shop-web-1`, `nginx:alpine`.
    pub name: String,
    pub status: Status,
    /// Short state text in docker compose's words: "Creating", "Created", "Started".
    pub text: String,
    /// Extra detail: an error message, a pull layer, a build step.
    pub detail: Option<String>,
    /// Bytes or steps done out of a total, when known.
    pub progress: Option<(u64, u64)>,
    /// Time since this resource's operation began.
    pub elapsed: Option<Duration>,
    /// The command runs with `--dry-run`: nothing really happened (renderers say so).
    pub dry_run: bool,
}

impl ProgressEvent {
    pub fn new(
        kind: ResourceKind,
        name: impl Into<String>,
        status: Status,
        text: impl Into<String>,
    ) -> Self {
        ProgressEvent {
            kind,
            name: name.into(),
            status,
            text: text.into(),
            detail: None,
            progress: None,
            elapsed: None,
            dry_run: false,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_elapsed(mut self, elapsed: Duration) -> Self {
        self.elapsed = Some(elapsed);
        self
    }
}

/// Receives progress events. Called from engine tasks: implementations must be cheap and
/// thread-safe. `finish` is called once when the operation ends (stop spinners, flush).
pub trait Reporter: Send + Sync {
    fn event(&self, event: ProgressEvent);

    /// A line of free text that is not about one resource (warnings, summaries).
    fn message(&self, text: &str);

    fn finish(&self) {}
}

/// Discards everything (`--progress quiet`, tests).
pub struct QuietReporter;

impl Reporter for QuietReporter {
    fn event(&self, _event: ProgressEvent) {}
    fn message(&self, _text: &str) {}
}

/// Keeps every event, for tests that check what the engine did.
#[derive(Default)]
pub struct RecordingReporter {
    pub events: std::sync::Mutex<Vec<ProgressEvent>>,
    pub messages: std::sync::Mutex<Vec<String>>,
}

impl Reporter for RecordingReporter {
    fn event(&self, event: ProgressEvent) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }

    fn message(&self, text: &str) {
        if let Ok(mut messages) = self.messages.lock() {
            messages.push(text.to_string());
        }
    }
}
