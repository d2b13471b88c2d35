//! The engine's error: what failed, for which resource, and what the user can do.

use std::fmt;

use crate::runtime::RuntimeError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    pub message: String,
    pub hint: Option<String>,
    /// The exit code the CLI should return.
    pub exit_code: i32,
}

impl EngineError {
    pub fn new(message: impl Into<String>) -> Self {
        EngineError {
            message: message.into(),
            hint: None,
            exit_code: 1,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A runtime call that failed while doing `what` (e.g. "create container shop-web-1").
    pub fn runtime(what: &str, err: RuntimeError) -> Self {
        let hint = match &err {
            RuntimeError::EngineUnreachable { hint, .. } => Some(hint.clone()),
            RuntimeError::PortInUse { .. } => {
                Some("stop what uses that port, or change the published port in the compose file".into())
            }
            RuntimeError::Conflict { .. } => Some(
                "a resource with that name exists: remove it, or give the service another container_name".into(),
            ),
            _ => None,
        };
        EngineError {
            message: format!("cannot {what}: {err}"),
            hint,
            exit_code: 1,
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for EngineError {}
