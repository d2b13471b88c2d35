//! `hoist exec`: a command in a service's running container, attached to the user's terminal
//! (or pipes); its exit code becomes hoist's.

use std::time::Duration;

use super::run::{env_pairs, exit_code, want_tty};
use super::session::{self, OnSignal, Relay, Target};
use super::terminal::RawMode;
use super::{engine_for, load_context, CliError, GlobalArgs};
use crate::engine::EngineError;
use crate::runtime::ExecSpec;

#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY[=VAL]")]
    pub env: Vec<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub index: u32,
    /// Disable pseudo-TTY allocation. By default `hoist exec` allocates a TTY.
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// Run the command as this user
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// The service whose container runs the command
    pub service: String,
    /// The command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: &ExecArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, std::slice::from_ref(&args.service))?;
    let engine = engine_for(global).await?;
    // `--index 0` (the default) is the first replica, as in docker compose.
    let index = args.index.max(1);
    let container = engine.exec_target(&ctx, &args.service, index).await?;
    let tty = !args.detach && want_tty(args.no_tty);
    let spec = ExecSpec {
        cmd: args.command.clone(),
        env: env_pairs(&args.env)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
        tty,
        stdin: !args.detach,
        privileged: args.privileged,
        detach: args.detach,
    };
    let runtime = engine.runtime.clone();
    let raw = RawMode::enable_if(tty)?;
    let session = runtime
        .exec(&container, &spec)
        .await
        .map_err(|e| EngineError::runtime(&format!("exec in container {container}"), e))?;
    if args.detach {
        // The command keeps running; nobody reads its output.
        return Ok(0);
    }
    let target = Target::Exec(session.id.clone());
    let how = Relay {
        tty,
        stdin: true,
        signals: OnSignal::Interrupt,
        detach_keys: None,
    };
    let relayed = session::relay(&runtime, session.io, &target, how).await;
    drop(raw);
    relayed?;
    // The output ends when the process closes its stdio; the engine records its exit code
    // a moment later.
    let mut delay = Duration::from_millis(5);
    loop {
        let code = runtime
            .exec_exit_code(&session.id)
            .await
            .map_err(|e| EngineError::runtime("read the exit code of the command", e))?;
        if let Some(code) = code {
            return Ok(exit_code(code));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}
