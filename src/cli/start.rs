//! `hoist start`.

use super::{engine_for, load_context, CliError, GlobalArgs};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct StartArgs {
    /// Services to start (default: all), after what they depend on
    pub services: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: &StartArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let engine = engine_for(global).await?;
    let result = engine.start_services(&ctx, &args.services).await;
    engine.reporter.finish();
    result?;
    Ok(0)
}
