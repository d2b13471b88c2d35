//! Command-line interface, shaped like `docker compose` v2: the same global flags, commands
//! and exit codes. One file per subcommand; each turns its arguments into plain options for
//! the library and prints the result. Nothing below this module prints.

mod attach;
mod attach_cmd;
mod backend;
mod build;
mod builder;
pub mod config;
mod cp;
mod detach_keys;
mod down;
mod events;
mod exec;
mod image;
mod images;
mod info;
mod kill;
mod logs;
mod ls;
mod pause;
mod port;
mod ps;
mod pull;
mod push;
mod restart;
mod rm;
mod run;
mod session;
mod signals;
mod start;
mod stop;
mod target;
mod terminal;
mod top;
mod up;
mod version;
mod wait;
mod watch;

use std::io::Read;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::compose::error::LoadError;
use crate::compose::load::{load, LoadOptions, Loaded};
use crate::engine::{Engine, EngineError, ProjectContext};

/// A compose-first multi-container orchestrator: runs compose.yaml projects on a Docker engine
/// or on its bundled runtime.
#[derive(Parser, Debug)]
#[command(name = "hoist", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts, as `docker compose` defines them. `-f` and `-p` are given
/// before the command; the others may also follow it.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Compose configuration files (repeatable; `-` reads standard input)
    // `-f` and `-p` go before the command, as in docker compose, so that commands keep
    // their own `-f` (`logs -f`, `rm -f`) and `-p` (`run -p 8080:80`).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long, global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Enable a profile (repeatable)
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Alternate environment files (repeatable; later files win)
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// How to show progress
    #[arg(long, global = true, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// When to print ANSI control characters
    #[arg(long, global = true, value_enum, default_value_t = Ansi::Auto)]
    pub ansi: Ansi,
    /// Show what would be done without changing anything
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Maximum number of operations run in parallel (-1: unlimited)
    #[arg(long, global = true, env = "COMPOSE_PARALLEL_LIMIT", default_value_t = -1, allow_negative_numbers = true)]
    pub parallel: i64,
    /// Container runtime: a Docker engine, the bundled native runtime, or whichever answers
    #[arg(long, global = true, value_enum, env = "HOIST_BACKEND", default_value_t = Backend::Auto)]
    pub backend: Backend,
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    #[default]
    Auto,
    Tty,
    Plain,
    Json,
    Quiet,
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ansi {
    Never,
    Always,
    #[default]
    Auto,
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    #[default]
    Auto,
    Docker,
    Native,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Attach local standard input, output, and error streams to a service's running container
    Attach(attach_cmd::AttachArgs),
    /// Build or rebuild services
    Build(build::BuildArgs),
    /// Manage the build cache (`builder prune`)
    Builder(builder::BuilderArgs),
    /// Parse, resolve and render the compose file in canonical format
    Config(config::ConfigArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(cp::CpArgs),
    /// Creates containers for a service
    Create(up::CreateArgs),
    /// Stop and remove containers, networks
    Down(down::DownArgs),
    /// Receive real time events from containers
    Events(events::EventsArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Manage images of the backend in use (ls, pull, push, rm, prune, inspect, tag, load, save, import)
    Image(image::ImageArgs),
    /// List images used by the created containers
    Images(images::ImagesArgs),
    /// Display the backend in use, where its data lives, and what it holds
    Info(info::InfoArgs),
    /// Force stop service containers
    Kill(kill::KillArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// List running compose projects
    Ls(ls::LsArgs),
    /// Pause services
    Pause(pause::PauseArgs),
    /// Print the public port for a port binding
    Port(port::PortArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Pull service images
    Pull(pull::PullArgs),
    /// Push service images
    Push(push::PushArgs),
    /// Restart service containers
    Restart(restart::RestartArgs),
    /// Removes stopped service containers
    Rm(rm::RmArgs),
    /// Run a one-off command on a service
    Run(run::RunArgs),
    /// Start services
    Start(start::StartArgs),
    /// Stop services
    Stop(stop::StopArgs),
    /// Display the running processes
    Top(top::TopArgs),
    /// Unpause services
    Unpause(pause::UnpauseArgs),
    /// Create and start containers
    Up(up::UpArgs),
    /// Show the hoist version and the backend in use
    Version(version::VersionArgs),
    /// Block until containers of all (or specified) services stop.
    Wait(wait::WaitArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(watch::WatchArgs),
}

/// Why a command failed, and the exit code it returns.
#[derive(Debug)]
pub enum CliError {
    Load(LoadError),
    Engine(EngineError),
    /// Arguments that clap accepted but that make no sense together.
    Usage(String),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Engine(e) => e.exit_code,
            CliError::Load(_) => 1,
            CliError::Usage(_) => 2,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Load(e) => e.fmt(f),
            CliError::Engine(e) => e.fmt(f),
            CliError::Usage(m) => f.write_str(m),
        }
    }
}

impl From<LoadError> for CliError {
    fn from(e: LoadError) -> Self {
        CliError::Load(e)
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        CliError::Engine(e)
    }
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Config(args) => config::run(&cli.global, args).map_err(CliError::from),
        command => async_main(&cli.global, command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{err}");
            err.exit_code()
        }
    }
}

/// Commands that talk to a runtime run on a tokio runtime built only for them, so `config`
/// starts no threads.
fn async_main(global: &GlobalArgs, command: &Command) -> Result<i32, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            CliError::Engine(EngineError::new(format!(
                "cannot start the async runtime: {e}"
            )))
        })?;
    rt.block_on(async {
        match command {
            Command::Up(args) => up::run(global, args).await,
            Command::Create(args) => up::create(global, args).await,
            Command::Down(args) => down::run(global, args).await,
            Command::Run(args) => run::run(global, args).await,
            Command::Exec(args) => exec::run(global, args).await,
            Command::Attach(args) => attach_cmd::run(global, args).await,
            Command::Build(args) => build::run(global, args).await,
            Command::Builder(args) => builder::run(global, args).await,
            Command::Info(args) => info::run(global, args).await,
            Command::Version(args) => version::run(global, args).await,
            Command::Kill(args) => kill::run(global, args).await,
            Command::Pause(args) => pause::pause(global, args).await,
            Command::Pull(args) => pull::run(global, args).await,
            Command::Push(args) => push::run(global, args).await,
            Command::Restart(args) => restart::run(global, args).await,
            Command::Rm(args) => rm::run(global, args).await,
            Command::Start(args) => start::run(global, args).await,
            Command::Stop(args) => stop::run(global, args).await,
            Command::Unpause(args) => pause::unpause(global, args).await,
            Command::Cp(args) => cp::run(global, args).await,
            Command::Events(args) => events::run(global, args).await,
            Command::Image(args) => image::run(global, args).await,
            Command::Images(args) => images::run(global, args).await,
            Command::Logs(args) => logs::run(global, args).await,
            Command::Ls(args) => ls::run(global, args).await,
            Command::Port(args) => port::run(global, args).await,
            Command::Ps(args) => ps::run(global, args).await,
            Command::Top(args) => top::run(global, args).await,
            Command::Wait(args) => wait::run(global, args).await,
            Command::Watch(args) => watch::run(global, args).await,
            Command::Config(_) => Ok(0),
        }
    })
}

/// Loads the project for a command that names `services`.
pub fn load_context(global: &GlobalArgs, services: &[String]) -> Result<ProjectContext, CliError> {
    let opts = load_options(global, services)?;
    let loaded = load_project(&opts)?;
    Ok(ProjectContext::from_loaded(&loaded))
}

/// An engine on the selected backend, reporting progress as `--progress`/`--ansi` ask.
/// With `--dry-run`, the runtime changes nothing (reads still reach it) and every progress
/// line says so, so each command runs its normal code path, as docker compose does.
pub async fn engine_for(global: &GlobalArgs) -> Result<Engine, CliError> {
    let mut runtime = backend::connect(global.backend).await?;
    let mut reporter = crate::ui::reporter(global.progress, global.ansi);
    if global.dry_run {
        runtime = std::sync::Arc::new(crate::runtime::dry_run::DryRunRuntime::new(runtime));
        reporter = std::sync::Arc::new(crate::ui::DryRunReporter::new(reporter));
    }
    let parallel = usize::try_from(global.parallel).ok();
    Ok(Engine::new(runtime, reporter, parallel))
}

/// Loader options from the global flags and the process. Reads standard input when a file is `-`.
pub fn load_options(global: &GlobalArgs, services: &[String]) -> Result<LoadOptions, LoadError> {
    let mut opts = LoadOptions::from_process();
    apply_global(&mut opts, global, services);
    if opts.files.iter().any(|f| f == "-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            LoadError::new(format!(
                "cannot read the compose file from standard input: {e}"
            ))
        })?;
        opts.stdin = Some(text);
    }
    Ok(opts)
}

/// Copies the global flags and the services named on the command line into `opts`.
pub fn apply_global(opts: &mut LoadOptions, global: &GlobalArgs, services: &[String]) {
    opts.files = global.files.clone();
    opts.project_name = global.project_name.clone();
    opts.project_directory = global.project_directory.clone();
    opts.profiles = global.profiles.clone();
    opts.env_files = global.env_files.clone();
    opts.services = services.to_vec();
}

/// Loads the project and prints the loader's warnings the way docker compose does.
pub fn load_project(opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let loaded = load(opts)?;
    for warning in &loaded.warnings {
        eprintln!("WARN[0000] {warning}");
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
