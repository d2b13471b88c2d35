//! When to print ANSI escape sequences, and the few colors hoist prints.
//!
//! Not for: layout (the renderers own it) or detecting anything beyond "is this stream a
//! terminal" and `NO_COLOR`.

use std::io::IsTerminal;

use crate::cli::Ansi;

/// Green: a resource reached its goal.
pub(crate) const GREEN: &str = "32";
/// Yellow: finished with a warning.
pub(crate) const YELLOW: &str = "33";
/// Red: failed.
pub(crate) const RED: &str = "31";
/// Blue: the progress header once everything is done (docker compose's choice).
pub(crate) const BLUE: &str = "34";

/// Whether to color output on a stream, given `--ansi`, whether the stream is a terminal and
/// whether `NO_COLOR` asks for no color. `always` wins over `NO_COLOR`: it is an explicit flag.
pub fn color_enabled(ansi: Ansi, is_terminal: bool, no_color: bool) -> bool {
    match ansi {
        Ansi::Never => false,
        Ansi::Always => true,
        Ansi::Auto => is_terminal && !no_color,
    }
}

/// `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether to color what goes to standard output (container logs).
pub fn stdout_color(ansi: Ansi) -> bool {
    color_enabled(ansi, std::io::stdout().is_terminal(), no_color_requested())
}

/// Whether to color what goes to standard error (progress).
pub fn stderr_color(ansi: Ansi) -> bool {
    color_enabled(ansi, std::io::stderr().is_terminal(), no_color_requested())
}

/// `text` wrapped in the SGR sequence `code` and a reset.
pub(crate) fn paint(code: &str, text: &str) -> String {
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `text` painted when `color` is on, as is otherwise.
pub(crate) fn paint_if(color: bool, code: &str, text: &str) -> String {
    if color {
        paint(code, text)
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_disables_color_even_on_a_terminal() {
        assert!(!color_enabled(Ansi::Never, true, false));
    }

    #[test]
    fn always_forces_color_off_a_terminal_and_over_no_color() {
        assert!(color_enabled(Ansi::Always, false, true));
    }

    #[test]
    fn auto_follows_the_terminal_and_no_color() {
        assert!(color_enabled(Ansi::Auto, true, false));
        assert!(!color_enabled(Ansi::Auto, false, false));
        assert!(!color_enabled(Ansi::Auto, true, true));
    }

    #[test]
    fn paint_wraps_in_sgr_and_reset() {
        assert_eq!(paint("36;1", "web"), "\x1b[36;1mweb\x1b[0m");
        assert_eq!(paint_if(false, "36", "web"), "web");
    }
}
