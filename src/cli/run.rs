//! `hoist run`: a one-off container of a service, attached to the user's terminal (or
//! pipes), whose exit code becomes hoist's.

use std::io::IsTerminal;
use std::sync::Arc;

use super::session::{self, OnSignal, Relay, Target};
use super::terminal::RawMode;
use super::{engine_for, load_context, CliError, GlobalArgs};
use crate::compose::model::split_shell_words;
use crate::engine::progress::{ProgressEvent, ResourceKind, Status};
use crate::engine::run::{OneOffContainer, RunOptions};
use crate::engine::up::{BuildPolicy, PullPolicy};
use crate::engine::{Engine, EngineError};
use crate::runtime::{AttachOptions, Runtime};

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Build image before starting container
    #[arg(long)]
    pub build: bool,
    /// Add Linux capabilities
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Override the entrypoint of the image
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY[=VAL]")]
    pub env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long, default_value_t = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub interactive: bool,
    /// Add or override a label
    #[arg(short = 'l', long = "label", value_name = "KEY=VAL")]
    pub labels: Vec<String>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Pull image before running
    #[arg(long, value_parser = ["always", "missing", "never", "policy"], default_value = "policy")]
    pub pull: String,
    /// Pull without printing progress information
    #[arg(long)]
    pub quiet_pull: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long)]
    pub service_ports: bool,
    /// Use the service's network useAliases in the network(s) the container connects to
    #[arg(long)]
    pub use_aliases: bool,
    /// Run as specified username or uid
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "VOLUME")]
    pub volumes: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// The service to run a one-off container of
    pub service: String,
    /// The command to run instead of the service's, and its arguments
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

impl RunArgs {
    /// The engine's options; `tty`: whether to allocate a TTY.
    pub fn options(&self, tty: bool) -> Result<RunOptions, CliError> {
        let entrypoint = self
            .entrypoint
            .as_deref()
            .map(split_shell_words)
            .transpose()
            .map_err(|e| CliError::usage(format!("invalid --entrypoint: {e}")))?;
        let labels = self
            .labels
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.clone(), String::new()),
            })
            .collect();
        Ok(RunOptions {
            service: self.service.clone(),
            command: self.command.clone(),
            entrypoint,
            env: env_pairs(&self.env),
            volumes: self.volumes.clone(),
            publish: self.publish.clone(),
            service_ports: self.service_ports,
            no_deps: self.no_deps,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            labels,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            tty,
            interactive: self.interactive,
            detach: self.detach,
            remove: self.rm,
            name: self.name.clone(),
            use_aliases: self.use_aliases,
            build: if self.build {
                BuildPolicy::Always
            } else {
                BuildPolicy::Missing
            },
            pull: match self.pull.as_str() {
                "always" => PullPolicy::Always,
                "missing" => PullPolicy::Missing,
                "never" => PullPolicy::Never,
                _ => PullPolicy::Service,
            },
            remove_orphans: self.remove_orphans,
        })
    }
}

/// `-e KEY=VAL` as given; a bare `-e KEY` takes hoist's own value of KEY, or is dropped
/// when KEY is unset (as `docker run -e` does).
pub(super) fn env_pairs(entries: &[String]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter_map(|e| match e.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(e).ok().map(|v| (e.clone(), v)),
        })
        .collect()
}

/// A TTY when not refused with `-T` and the user is at a terminal (both ends), as docker
/// compose auto-detects it.
pub(super) fn want_tty(no_tty: bool) -> bool {
    !no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

pub async fn run(global: &GlobalArgs, args: &RunArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, std::slice::from_ref(&args.service))?;
    let tty = want_tty(args.no_tty);
    let opts = args.options(tty)?;
    let engine = engine_for(global).await?;
    let created = engine.create_oneoff(&ctx, &opts).await;
    // The progress view must be done drawing before the container's output starts.
    engine.reporter.finish();
    let container = created?;
    let runtime = engine.runtime.clone();
    if args.detach {
        runtime
            .start_container(&container.name)
            .await
            .map_err(|e| EngineError::runtime(&format!("start container {}", container.name), e))?;
        println!("{}", container.name);
        return Ok(0);
    }
    if global.dry_run {
        return dry_run_attached(&engine, &container, args.rm).await;
    }
    let result = attached(&runtime, &container).await;
    if args.rm {
        // Anonymous volumes go with it, as with `docker run --rm`.
        if let Err(e) = runtime.remove_container(&container.name, true, true).await {
            if !e.is_not_found() {
                eprintln!("cannot remove container {}: {e}", container.name);
            }
        }
    }
    result
}

/// `run` without `-d` under `--dry-run`: nothing runs, so there is no output to relay and
/// no terminal to attach (the dry-run runtime refuses attach). Walks the same steps (start,
/// wait, `--rm`) and reports each one instead.
async fn dry_run_attached(engine: &Engine, c: &OneOffContainer, rm: bool) -> Result<i32, CliError> {
    let container =
        |text: &str| ProgressEvent::new(ResourceKind::Container, &c.name, Status::Done, text);
    engine.reporter.event(container("Created"));
    engine.start_container(&c.name).await?;
    let code = engine
        .runtime
        .wait_container(&c.name)
        .await
        .map_err(|e| EngineError::runtime(&format!("wait for container {}", c.name), e))?;
    engine.reporter.event(container("Exited"));
    if rm {
        engine.remove_container(&c.name, None, true).await?;
    }
    engine.reporter.finish();
    Ok(exit_code(code))
}

/// Attaches, starts, relays until the container's output ends; returns its exit code.
async fn attached(runtime: &Arc<dyn Runtime>, c: &OneOffContainer) -> Result<i32, CliError> {
    let options = AttachOptions {
        stdin: c.stdin_open,
        ..AttachOptions::default()
    };
    // Attached before start, so not a byte of output is missed.
    let io = runtime
        .attach_container(&c.name, &options)
        .await
        .map_err(|e| EngineError::runtime(&format!("attach to container {}", c.name), e))?;
    let raw = RawMode::enable_if(c.tty)?;
    runtime
        .start_container(&c.name)
        .await
        .map_err(|e| EngineError::runtime(&format!("start container {}", c.name), e))?;
    let how = Relay {
        tty: c.tty,
        stdin: c.stdin_open,
        signals: OnSignal::Interrupt,
        detach_keys: None,
    };
    let relayed = session::relay(runtime, io, &Target::Container(c.name.clone()), how).await;
    drop(raw);
    relayed?;
    let code = runtime
        .wait_container(&c.name)
        .await
        .map_err(|e| EngineError::runtime(&format!("wait for container {}", c.name), e))?;
    Ok(exit_code(code))
}

/// A process exit code as hoist's own (out-of-range values become 255, like a shell's).
pub(super) fn exit_code(code: i64) -> i32 {
    i32::try_from(code)
        .ok()
        .filter(|c| (0..=255).contains(c))
        .unwrap_or(255)
}
