//! `hoist down`.

use std::time::Duration;

use super::{engine_for, load_context, CliError, GlobalArgs};
use crate::compose::discover::is_valid_project_name;
use crate::engine::down::{DownOptions, RemoveImages};
use crate::engine::ProjectContext;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove images used by services. "local" removes only images that don't have a custom tag
    #[arg(long, value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

pub async fn run(global: &GlobalArgs, args: &DownArgs) -> Result<i32, CliError> {
    // Like docker compose, `-p NAME down` works without a compose file: everything labelled
    // with the project goes.
    let (ctx, without_file) = match load_context(global, &[]) {
        Ok(ctx) => (ctx, false),
        Err(err) => match global
            .project_name
            .as_deref()
            .filter(|n| is_valid_project_name(n))
        {
            Some(name) => (ProjectContext::named(name), true),
            None => return Err(err),
        },
    };
    let engine = engine_for(global).await?;
    let opts = DownOptions {
        remove_orphans: args.remove_orphans || without_file,
        volumes: args.volumes,
        rmi: match args.rmi.as_deref() {
            Some("all") => Some(RemoveImages::All),
            Some(_) => Some(RemoveImages::Local),
            None => None,
        },
        timeout: args.timeout.map(Duration::from_secs),
        all_volumes: without_file,
    };
    let result = engine.down(&ctx, &opts).await;
    engine.reporter.finish();
    result?;
    Ok(0)
}
