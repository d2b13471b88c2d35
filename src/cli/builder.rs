//! `hoist builder prune`: reclaims the build cache, the native builder's cached steps (or
//! the engine's build cache on the docker backend), as `docker builder prune`.

use super::image::{confirmed, print_prune, PruneArgs};
use super::{engine_for, CliError, GlobalArgs};
use crate::engine::EngineError;

#[derive(clap::Args, Debug, Clone)]
pub struct BuilderArgs {
    #[command(subcommand)]
    pub command: BuilderCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum BuilderCommand {
    /// Remove build cache (the steps no tagged image is built on, or with -a all of it)
    #[command(mut_arg("all", |a| a.help("Remove all build cache, not just the dangling steps")))]
    Prune(PruneArgs),
}

pub async fn run(global: &GlobalArgs, args: &BuilderArgs) -> Result<i32, CliError> {
    let BuilderCommand::Prune(prune) = &args.command;
    let warning = if prune.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !confirmed(prune.force, warning)? {
        return Ok(0);
    }
    let engine = engine_for(global).await?;
    let report = engine
        .runtime
        .prune_build_cache(prune.all)
        .await
        .map_err(|e| EngineError::runtime("prune the build cache", e))?;
    print_prune(&report, "Deleted build cache objects:");
    Ok(0)
}
