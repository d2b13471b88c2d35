//! The host terminal for interactive `run`, `exec` and `attach`: raw mode (so keystrokes, Ctrl-C
//! included, go to the container's TTY unprocessed) and the window size.
//!
//! Not for: relaying container I/O (`session`), or anything when standard input is not a
//! terminal.
//!
//! Raw mode is restored by [`RawMode`]'s `Drop`, and also by a panic hook, so a panic on any
//! thread or an early `?` return never leaves the user's shell without echo.

use std::io;
use std::sync::{Mutex, Once};

use crate::engine::EngineError;
use crate::runtime::TtySize;

/// The settings to put back, while raw mode is on. Shared with the panic hook.
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);
static PANIC_HOOK: Once = Once::new();

/// Raw mode on standard input's terminal until dropped.
#[derive(Debug)]
pub struct RawMode {
    _private: (),
}

impl RawMode {
    /// Puts standard input's terminal in raw mode.
    pub fn enable() -> io::Result<RawMode> {
        let fd = libc::STDIN_FILENO;
        // SAFETY: termios is plain data; tcgetattr fills it or fails without touching it.
        let mut original: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut original) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = original;
        // SAFETY: cfmakeraw only edits the struct it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        if let Ok(mut saved) = SAVED.lock() {
            *saved = Some(original);
        }
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        // SAFETY: fd 0 is open (tcgetattr succeeded) and `raw` is a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            let err = io::Error::last_os_error();
            if let Ok(mut saved) = SAVED.lock() {
                *saved = None;
            }
            return Err(err);
        }
        Ok(RawMode { _private: () })
    }

    /// Raw mode when `wanted` (the session has a TTY to type into), else nothing.
    pub fn enable_if(wanted: bool) -> Result<Option<RawMode>, EngineError> {
        if !wanted {
            return Ok(None);
        }
        RawMode::enable()
            .map(Some)
            .map_err(|e| EngineError::new(format!("cannot put the terminal in raw mode: {e}")))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts back the settings saved by [`RawMode::enable`], once.
fn restore() {
    // A poisoned lock still holds the settings; the terminal matters more than the panic.
    let mut saved = match SAVED.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(original) = saved.take() {
        // SAFETY: `original` came from tcgetattr on the same fd.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &original) };
    }
}

/// The size of the terminal on standard output (else standard input), if there is one.
pub fn size() -> Option<TtySize> {
    [libc::STDOUT_FILENO, libc::STDIN_FILENO]
        .into_iter()
        .find_map(|fd| {
            // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails.
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0;
            (ok && ws.ws_row > 0 && ws.ws_col > 0).then_some(TtySize {
                rows: ws.ws_row,
                cols: ws.ws_col,
            })
        })
}
