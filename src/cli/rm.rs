//! `hoist rm`: removes stopped service containers, after asking (unless `-f`).

use std::io::{BufRead, IsTerminal, Write};

use super::{engine_for, load_context, CliError, GlobalArgs};
use crate::engine::EngineError;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RmArgs {
    /// Services whose containers to remove (default: all)
    pub services: Vec<String>,
    /// Don't ask to confirm removal
    #[arg(short, long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
}

pub async fn run(global: &GlobalArgs, args: &RmArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let engine = engine_for(global).await?;
    if args.stop {
        let stopped = engine.stop_services(&ctx, &args.services, None).await;
        engine.reporter.finish();
        stopped?;
    }
    let names = engine.stopped_containers(&ctx, &args.services).await?;
    if names.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    let question = format!("Going to remove {}", names.join(", "));
    if args.force {
        println!("{question}");
    } else if !confirm(&question)? {
        return Ok(0);
    }
    let result = engine.remove_containers(&names, args.volumes).await;
    engine.reporter.finish();
    result?;
    Ok(0)
}

/// Asks on the terminal; off a terminal nobody can answer, so removal needs `-f`.
pub(super) fn confirm(question: &str) -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(EngineError::new(format!(
            "{question}: not removing without confirmation, standard input is not a terminal"
        ))
        .with_hint("pass -f to remove without asking")
        .into());
    }
    print!("{question}\nAre you sure? [yN] ");
    // The prompt must show before we block on the answer.
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| EngineError::new(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}
