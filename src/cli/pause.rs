//! `hoist pause` and `hoist unpause`.

use super::{engine_for, load_context, CliError, GlobalArgs};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PauseArgs {
    /// Services to pause (default: all)
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct UnpauseArgs {
    /// Services to unpause (default: all)
    pub services: Vec<String>,
}

pub async fn pause(global: &GlobalArgs, args: &PauseArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let engine = engine_for(global).await?;
    let result = engine.pause_services(&ctx, &args.services).await;
    engine.reporter.finish();
    result?;
    Ok(0)
}

pub async fn unpause(global: &GlobalArgs, args: &UnpauseArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let engine = engine_for(global).await?;
    let result = engine.unpause_services(&ctx, &args.services).await;
    engine.reporter.finish();
    result?;
    Ok(0)
}
