//! `hoist kill`.

use super::{engine_for, load_context, CliError, GlobalArgs};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct KillArgs {
    /// Services to kill (default: all)
    pub services: Vec<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// SIGNAL to send to the container
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
}

pub async fn run(global: &GlobalArgs, args: &KillArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let engine = engine_for(global).await?;
    let result = engine
        .kill_services(&ctx, &args.services, &args.signal, args.remove_orphans)
        .await;
    if let Ok(0) = result {
        engine.reporter.message("no container to kill");
    }
    engine.reporter.finish();
    result?;
    Ok(0)
}
