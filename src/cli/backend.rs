//! Picks the container runtime: `--backend`/`HOIST_BACKEND`, `auto` = a Docker engine when one
//! answers, else the bundled native runtime.

use std::sync::Arc;

use super::Backend;
use crate::engine::EngineError;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::native::NativeRuntime;
use crate::runtime::Runtime;

pub async fn connect(backend: Backend) -> Result<Arc<dyn Runtime>, EngineError> {
    match backend {
        Backend::Docker => match DockerRuntime::connect().await {
            Ok(docker) => Ok(Arc::new(docker)),
            Err(e) => Err(EngineError::runtime("connect to the Docker engine", e)),
        },
        Backend::Auto => match DockerRuntime::connect().await {
            Ok(docker) => Ok(Arc::new(docker)),
            // No engine answers: the bundled runtime is the default then.
            Err(_) => native(),
        },
        Backend::Native => native(),
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
