//! Picks the container runtime: `--backend`/`HOIST_BACKEND`, `auto` = a Docker engine when one
//! answers, else the bundled native runtime; and says why (`hoist version`, `hoist info`).

use std::sync::Arc;

use super::Backend;
use crate::engine::EngineError;
use crate::runtime::docker::{DockerRuntime, DEFAULT_DOCKER_HOST};
use crate::runtime::native::NativeRuntime;
use crate::runtime::{Runtime, RuntimeError};

/// The runtime in use and how it was chosen.
pub struct Selected {
    pub runtime: Arc<dyn Runtime>,
    /// Why this backend: `--backend docker`, `HOIST_BACKEND=native`, `auto: ...`.
    pub reason: String,
}

pub async fn connect(backend: Backend) -> Result<Arc<dyn Runtime>, EngineError> {
    select(backend).await.map(|s| s.runtime)
}

/// Where `DOCKER_HOST` (or its default) points.
fn docker_endpoint() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string())
}

/// How an explicit backend was asked for: the environment when it says so, else the flag.
fn explicit(name: &str) -> String {
    match std::env::var("HOIST_BACKEND") {
        Ok(v) if v.eq_ignore_ascii_case(name) => format!("HOIST_BACKEND={v}"),
        _ => format!("--backend {name}"),
    }
}

pub async fn select(backend: Backend) -> Result<Selected, EngineError> {
    match backend {
        Backend::Docker => match DockerRuntime::connect().await {
            Ok(docker) => Ok(Selected {
                runtime: Arc::new(docker),
                reason: explicit("docker"),
            }),
            Err(e) => Err(EngineError::runtime("connect to the Docker engine", e)),
        },
        Backend::Auto => match DockerRuntime::connect().await {
            Ok(docker) => Ok(Selected {
                runtime: Arc::new(docker),
                reason: format!("auto: a Docker engine answers at {}", docker_endpoint()),
            }),
            // No engine answers: the bundled runtime is the default then.
            Err(e) => {
                let endpoint = match e {
                    RuntimeError::EngineUnreachable { endpoint, .. } => endpoint,
                    _ => docker_endpoint(),
                };
                Ok(Selected {
                    runtime: native()?,
                    reason: format!("auto: no Docker engine at {endpoint}"),
                })
            }
        },
        Backend::Native => Ok(Selected {
            runtime: native()?,
            reason: explicit("native"),
        }),
    }
}

fn native() -> Result<Arc<dyn Runtime>, EngineError> {
    NativeRuntime::open_default()
        .map(|rt| Arc::new(rt) as Arc<dyn Runtime>)
        .map_err(|e| {
            EngineError::runtime("open the native runtime's data root", e)
                .with_hint("run as root, or point HOIST_ROOT at a writable directory")
        })
}
