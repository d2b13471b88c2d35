//! `hoist builder prune`: reclaims the build cache, the native builder's cached steps (or
//! the engine's build cache on the docker backend), as `docker builder prune`.

use super::image::{confirm, print_prune};
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
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct PruneArgs {
    /// Remove all build cache, not just the steps no image is built on
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub async fn run(global: &GlobalArgs, args: &BuilderArgs) -> Result<i32, CliError> {
    let BuilderCommand::Prune(prune) = &args.command;
    let warning = if prune.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !prune.force && !confirm(&format!("{warning}\nAre you sure you want to continue?")) {
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
