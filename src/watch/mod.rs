//! Live reload: `develop.watch`. Host paths are watched with `notify` (inotify, or polling
//! where native events are not delivered); changes are coalesced per service and turned into
//! the rule's action: copy files into the containers (`sync`), restart them (`restart`,
//! `sync+restart`), run a command after syncing (`sync+exec`), or rebuild the image and
//! recreate the containers (`rebuild`).
//!
//! Everything goes through the [`crate::runtime::Runtime`] trait and the [`crate::engine`]'s
//! build and converge steps, so watch works on any backend; [`sync::FileSync`] is the seam
//! where a backend can offer a faster direct write. What happens is reported as
//! [`WatchEvent`]s; the CLI prints them.
//!
//! Not for: backend details, printing, or loading compose files.

pub mod batch;
pub mod rules;
pub mod session;
pub mod sync;

use std::time::Duration;

pub use session::{WatchOptions, WatchSession};

/// Something the watch did, for the CLI to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The watchers are in place.
    Watching {
        services: Vec<String>,
        /// Why polling is used, when it is.
        polling: Option<String>,
    },
    /// `changes` paths changed for `service`'s sync rules; files are being copied.
    Syncing {
        service: String,
        changes: usize,
    },
    /// The copy finished: `written` entries uploaded, `removed` deleted, in each container.
    Synced {
        service: String,
        written: usize,
        removed: usize,
        elapsed: Duration,
    },
    /// A `sync+exec` command ran in `container`.
    Executed {
        service: String,
        container: String,
        command: String,
        exit_code: i64,
        output: String,
    },
    /// The service's containers restart because of `reason` (the first changed path).
    Restarting {
        service: String,
        reason: String,
    },
    Restarted {
        service: String,
        elapsed: Duration,
    },
    /// The service's image is rebuilt because of `reason`.
    Rebuilding {
        service: String,
        reason: String,
    },
    /// Rebuilt and its containers recreated.
    Rebuilt {
        service: String,
        elapsed: Duration,
    },
    /// An action failed; the previous containers keep running.
    Failed {
        service: String,
        action: String,
        error: String,
    },
    /// The file watcher reported a problem (events may have been lost).
    WatcherError {
        message: String,
    },
}
