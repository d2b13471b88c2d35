//! `hoist wait`: block until the services' containers stop; exits with their exit code.

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::target::resolve;
use super::{engine_for, CliError, GlobalArgs};
use crate::engine::down::DownOptions;
use crate::engine::observe::{project_containers, ContainerQuery};
use crate::engine::EngineError;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct WaitArgs {
    /// Services to wait for
    #[arg(required = true)]
    pub services: Vec<String>,
    /// Drops project when the first container stops
    #[arg(long)]
    pub down_project: bool,
}

pub async fn run(global: &GlobalArgs, args: &WaitArgs) -> Result<i32, CliError> {
    // Taking the project down needs its model (dependency order, networks).
    let target = resolve(global, &args.services, args.down_project)?;
    let engine = engine_for(global).await?;
    let query = ContainerQuery {
        project: target.name.clone(),
        services: args.services.clone(),
        all: false,
        oneoff: true,
    };
    let containers = project_containers(engine.runtime.as_ref(), &query).await?;
    if containers.is_empty() {
        return Err(CliError::Engine(EngineError::new(format!(
            "no running containers for services {} of project \"{}\"",
            args.services.join(", "),
            target.name
        ))));
    }
    let mut waits: FuturesUnordered<_> = containers
        .iter()
        .map(|c| {
            let runtime = engine.runtime.clone();
            let (id, name) = (c.id.clone(), c.name.clone());
            async move { (name, runtime.wait_container(&id).await) }
        })
        .collect();
    let mut code = 0;
    while let Some((name, result)) = waits.next().await {
        code =
            result.map_err(|e| EngineError::runtime(&format!("wait for container {name}"), e))?;
        if args.down_project {
            drop(waits);
            if let Some(ctx) = &target.ctx {
                let result = engine.down(ctx, &DownOptions::default()).await;
                engine.reporter.finish();
                result?;
            }
            break;
        }
    }
    Ok(i32::try_from(code).unwrap_or(1))
}
