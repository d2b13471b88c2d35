//! Interrupts as the commands see them: Ctrl-C (SIGINT) and SIGTERM, listened to from the
//! moment a command may leave something half-done, so neither kills hoist by the default
//! disposition.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// SIGINT and SIGTERM, one listener for the whole command, so a signal arriving while an
/// earlier one is handled is not lost.
pub struct Interrupts {
    sigint: Option<Signal>,
    sigterm: Option<Signal>,
}

impl Interrupts {
    pub fn listen() -> Interrupts {
        Interrupts {
            sigint: signal(SignalKind::interrupt()).ok(),
            sigterm: signal(SignalKind::terminate()).ok(),
        }
    }

    /// The next SIGINT or SIGTERM; pending forever when neither could be listened to.
    pub async fn next(&mut self) -> Option<()> {
        tokio::select! {
            r = next_signal(&mut self.sigint) => r,
            r = next_signal(&mut self.sigterm) => r,
        }
    }
}

/// The next delivery of `s`; pending forever when it could not be listened to.
pub async fn next_signal(s: &mut Option<Signal>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
