//! `hoist pull`.

use std::sync::Arc;

use super::{engine_for, load_context, CliError, GlobalArgs};
use crate::engine::images::PullOptions;
use crate::engine::progress::QuietReporter;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PullArgs {
    /// Services whose images to pull (default: all)
    pub services: Vec<String>,
    /// Ignore images that can be built
    #[arg(long)]
    pub ignore_buildable: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Also pull services declared as dependencies
    #[arg(long)]
    pub include_deps: bool,
    /// Apply pull policy ("missing"|"always")
    #[arg(long, value_parser = ["missing", "always"])]
    pub policy: Option<String>,
    /// Pull without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
}

pub async fn run(global: &GlobalArgs, args: &PullArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let mut engine = engine_for(global).await?;
    if args.quiet {
        engine.reporter = Arc::new(QuietReporter);
    }
    let opts = PullOptions {
        services: args.services.clone(),
        include_deps: args.include_deps,
        ignore_failures: args.ignore_pull_failures,
        policy: args.policy.clone(),
        ignore_buildable: args.ignore_buildable,
    };
    let result = engine.pull_services(&ctx, &opts).await;
    engine.reporter.finish();
    result?;
    Ok(0)
}
