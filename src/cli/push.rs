//! `hoist push`.

use std::sync::Arc;

use super::{engine_for, load_context, CliError, GlobalArgs};
use crate::engine::images::PushOptions;
use crate::engine::progress::QuietReporter;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PushArgs {
    /// Services whose images to push (default: all with build and image)
    pub services: Vec<String>,
    /// Push what it can and ignores images with push failures
    #[arg(long)]
    pub ignore_push_failures: bool,
    /// Also push images of services declared as dependencies
    #[arg(long)]
    pub include_deps: bool,
    /// Push without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
}

pub async fn run(global: &GlobalArgs, args: &PushArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let mut engine = engine_for(global).await?;
    if args.quiet {
        engine.reporter = Arc::new(QuietReporter);
    }
    let opts = PushOptions {
        services: args.services.clone(),
        include_deps: args.include_deps,
        ignore_failures: args.ignore_push_failures,
    };
    let result = engine.push_services(&ctx, &opts).await;
    engine.reporter.finish();
    result?;
    Ok(0)
}
