//! `hoist up` and `hoist create`.

use std::collections::HashMap;
use std::time::Duration;

use super::signals::Interrupts;
use super::{attach, engine_for, load_context, CliError, GlobalArgs};
use crate::engine::up::{BuildPolicy, PullPolicy, Recreate, UpOptions};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct UpArgs {
    /// Services to start (default: all), with their dependencies
    pub services: Vec<String>,
    /// Detached mode: run containers in the background
    #[arg(short, long, conflicts_with_all = [
        "abort_on_container_exit",
        "abort_on_container_failure",
        "exit_code_from",
        "attach",
        "attach_dependencies",
    ])]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Don't build an image, even if it's missing
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running
    #[arg(long, value_parser = ["always", "missing", "never"])]
    pub pull: Option<String>,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers
    #[arg(short = 'V', long)]
    pub renew_anon_volumes: bool,
    /// Scale SERVICE to NUM instances (repeatable, SERVICE=NUM)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Don't start the services after creating them
    #[arg(long)]
    pub no_start: bool,
    /// Wait for services to be running|healthy. Implies detached mode
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Stops all containers if any container was stopped
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Stops all containers if any container exited with failure
    #[arg(long)]
    pub abort_on_container_failure: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long, value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Automatically attach to log output of dependent services
    #[arg(long)]
    pub attach_dependencies: bool,
    /// Restrict attaching to the specified services
    #[arg(long, value_name = "SERVICE")]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long, value_name = "SERVICE")]
    pub no_attach: Vec<String>,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Watch source code and rebuild/refresh containers when files are updated
    #[arg(short = 'w', long, conflicts_with_all = ["detach", "wait", "no_start"])]
    pub watch: bool,
}

impl UpArgs {
    pub fn options(&self) -> Result<UpOptions, CliError> {
        let mut scale = HashMap::new();
        for s in &self.scale {
            let (svc, n) = s
                .split_once('=')
                .and_then(|(svc, n)| Some((svc, n.parse::<u32>().ok()?)))
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "invalid --scale value \"{s}\": expected SERVICE=NUM"
                    ))
                })?;
            scale.insert(svc.to_string(), n);
        }
        Ok(UpOptions {
            services: self.services.clone(),
            no_deps: self.no_deps,
            build: if self.build {
                BuildPolicy::Always
            } else if self.no_build {
                BuildPolicy::Never
            } else {
                BuildPolicy::Missing
            },
            pull: match self.pull.as_deref() {
                Some("always") => PullPolicy::Always,
                Some("missing") => PullPolicy::Missing,
                Some("never") => PullPolicy::Never,
                _ => PullPolicy::Service,
            },
            recreate: if self.force_recreate {
                Recreate::Force
            } else if self.no_recreate {
                Recreate::Never
            } else {
                Recreate::Diverged
            },
            remove_orphans: self.remove_orphans,
            renew_anon_volumes: self.renew_anon_volumes,
            scale,
            no_start: self.no_start,
            wait: self.wait,
            wait_timeout: self.wait_timeout.map(Duration::from_secs),
            timeout: self.timeout.map(Duration::from_secs),
        })
    }
}

pub async fn run(global: &GlobalArgs, args: &UpArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let opts = args.options()?;
    let engine = engine_for(global).await?;
    // Checked before anything starts: a broken watch rule changes nothing.
    let watch = if args.watch {
        Some(super::watch::session_for_up(&engine, &ctx, args)?)
    } else {
        None
    };
    // Listen before the first change: a Ctrl-C while the project is still being created
    // must not leave it half-made without a word.
    let mut interrupts = Interrupts::listen();
    let began = std::time::SystemTime::now();
    let result = tokio::select! {
        result = engine.up(&ctx, &opts) => result,
        Some(()) = interrupts.next() => {
            engine.reporter.finish();
            return attach::interrupted_up(&engine, &ctx, args, &mut interrupts).await;
        }
    };
    engine.reporter.finish();
    result?;
    // A dry run started nothing there would be output of to follow.
    if args.detach || args.wait || args.no_start || global.dry_run {
        return Ok(0);
    }
    let color = !args.no_color && crate::ui::ansi::stdout_color(global.ansi);
    if let Some(session) = watch {
        return super::watch::follow_and_watch(
            &engine,
            &ctx,
            args,
            session,
            color,
            &mut interrupts,
            began,
        )
        .await;
    }
    attach::follow_until_exit(&engine, &ctx, args, color, &mut interrupts, false, began).await
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Services to create (default: all)
    pub services: Vec<String>,
    /// Build images before starting containers
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Don't build an image, even if it's missing
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running
    #[arg(long, value_parser = ["always", "missing", "never"])]
    pub pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
}

pub async fn create(global: &GlobalArgs, args: &CreateArgs) -> Result<i32, CliError> {
    let up = UpArgs {
        services: args.services.clone(),
        build: args.build,
        no_build: args.no_build,
        pull: args.pull.clone(),
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        remove_orphans: args.remove_orphans,
        scale: args.scale.clone(),
        no_start: true,
        detach: true,
        ..UpArgs::default()
    };
    run(global, &up).await
}
