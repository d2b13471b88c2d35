//! The engine: a loaded compose project (desired state) against the containers, networks and
//! volumes a runtime reports (observed state, found through compose labels) gives a plan of
//! actions; applying it drives the [`crate::runtime::Runtime`] in dependency order with
//! bounded parallelism, and reports progress as [`progress::ProgressEvent`]s.
//!
//! Not for: printing (the `ui` module renders events), parsing compose files, or knowing
//! which backend it drives.

pub mod convert;
pub mod copy;
pub mod down;
pub mod error;
pub mod images;
pub mod labels;
pub mod lifecycle;
pub mod observe;
pub mod progress;
pub mod run;
mod specs;
pub mod state;
pub mod up;

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::runtime::Runtime;

pub use error::EngineError;
use progress::{ProgressEvent, Reporter, ResourceKind, Status};
pub use state::{ProjectContext, ProjectState};

/// Drives one runtime; cheap to clone (tasks hold their own handle).
#[derive(Clone)]
pub struct Engine {
    pub runtime: Arc<dyn Runtime>,
    pub reporter: Arc<dyn Reporter>,
    /// Bounds how many container operations run at once (`--parallel`).
    permits: Arc<Semaphore>,
}

impl Engine {
    /// `parallel`: the most operations at once; `None` picks a multiple of the cores.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        reporter: Arc<dyn Reporter>,
        parallel: Option<usize>,
    ) -> Engine {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let limit = parallel
            .filter(|n| *n > 0)
            .unwrap_or(cores * 8)
            .min(Semaphore::MAX_PERMITS);
        Engine {
            runtime,
            reporter,
            permits: Arc::new(Semaphore::new(limit)),
        }
    }

    fn progress(
        &self,
        kind: ResourceKind,
        name: &str,
        status: Status,
        text: &str,
        detail: Option<String>,
    ) {
        let mut event = ProgressEvent::new(kind, name, status, text);
        event.detail = detail;
        self.reporter.event(event);
    }

    fn done(&self, kind: ResourceKind, name: &str, text: &str, start: Instant) {
        self.reporter.event(
            ProgressEvent::new(kind, name, Status::Done, text).with_elapsed(start.elapsed()),
        );
    }
}
