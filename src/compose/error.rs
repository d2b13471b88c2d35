//! The loader's error type: every problem in a compose project is reported with the file, line
//! and column, the key path and what was expected, e.g.
//! `compose.yaml:12:7: services.web.ports[0]: "80:80:80" is not a valid port mapping`.

use std::fmt;
use std::sync::Arc;

use super::yaml::Mark;

/// Where in which file a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub mark: Mark,
}

/// A compose project that cannot be loaded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub location: Option<Location>,
    /// Key path such as `services.web.ports[0]`; empty when the problem is the file itself.
    pub path: String,
    pub message: String,
    /// What the user can do about it, printed on its own line.
    pub hint: Option<String>,
}

impl LoadError {
    pub fn new(message: impl Into<String>) -> Self {
        LoadError {
            location: None,
            path: String::new(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, file: &Arc<str>, mark: Mark) -> Self {
        if self.location.is_none() {
            self.location = Some(Location {
                file: file.clone(),
                mark,
            });
        }
        self
    }

    pub fn in_file(mut self, file: &Arc<str>) -> Self {
        if self.location.is_none() {
            self.location = Some(Location {
                file: file.clone(),
                mark: Mark::default(),
            });
        }
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        if self.path.is_empty() {
            self.path = path.into();
        }
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            if loc.mark.line == 0 {
                write!(f, "{}: ", loc.file)?;
            } else {
                write!(f, "{}:{}:{}: ", loc.file, loc.mark.line, loc.mark.col)?;
            }
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// The closest candidate to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
