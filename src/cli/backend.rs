//! Picks the container runtime: `--backend`/`HOIST_BACKEND`, `auto` = a Docker engine when one
//! answers, else the bundled native runtime.

use std::sync::Arc;

use super::Backend;
use crate::engine::EngineError;
use crate::runtime::docker::DockerRuntime;
use crate::runtime::Runtime;

pub async fn connect(backend: Backend) -> Result<Arc<dyn Runtime>, EngineError> {
    match backend {
        Backend::Docker | Backend::Auto => match DockerRuntime::connect().await {
            Ok(docker) => Ok(Arc::new(docker)),
            Err(e) => {
                let mut err = EngineError::runtime("connect to the Docker engine", e);
                if backend == Backend::Auto {
                    err = err.with_hint(
                        "start Docker, or set DOCKER_HOST; the bundled native runtime is not available in this build yet",
                    );
                }
                Err(err)
            }
        },
        Backend::Native => Err(EngineError::new(
            "the native runtime is not available in this build yet",
        )
        .with_hint("use --backend docker (or HOIST_BACKEND=docker) with a running Docker engine")),
    }
}
