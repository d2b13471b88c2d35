//! `hoist stop`.

use std::time::Duration;

use super::{engine_for, load_context, CliError, GlobalArgs};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct StopArgs {
    /// Services to stop (default: all), dependents first
    pub services: Vec<String>,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

pub async fn run(global: &GlobalArgs, args: &StopArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let engine = engine_for(global).await?;
    let timeout = args.timeout.map(Duration::from_secs);
    let result = engine.stop_services(&ctx, &args.services, timeout).await;
    engine.reporter.finish();
    result?;
    Ok(0)
}
