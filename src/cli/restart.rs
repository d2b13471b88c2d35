//! `hoist restart`.

use std::time::Duration;

use super::{engine_for, load_context, CliError, GlobalArgs};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RestartArgs {
    /// Services to restart (default: all)
    pub services: Vec<String>,
    /// Don't restart dependent services
    #[arg(long)]
    pub no_deps: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

pub async fn run(global: &GlobalArgs, args: &RestartArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let engine = engine_for(global).await?;
    let timeout = args.timeout.map(Duration::from_secs);
    let result = engine
        .restart_services(&ctx, &args.services, timeout, args.no_deps)
        .await;
    engine.reporter.finish();
    result?;
    Ok(0)
}
