//! `hoist cp`: copy files between a service container and the host (`SERVICE:SRC DEST`,
//! `SRC SERVICE:DEST`; `-` is a tar archive on standard input or output).

use std::io::Write;
use std::path::Path;

use super::target::resolve;
use super::{engine_for, CliError, GlobalArgs};
use crate::engine::copy::{copy_in, extract, fetch, read_archive, CopyOptions};
use crate::engine::observe::{container_number, project_containers, ContainerQuery};
use crate::engine::EngineError;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct CpArgs {
    /// SERVICE:SRC_PATH or SRC_PATH|-
    pub source: String,
    /// DEST_PATH|- or SERVICE:DEST_PATH
    pub destination: String,
    /// Include containers created by the run command
    #[arg(long)]
    pub all: bool,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    pub index: u32,
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
}

/// `SERVICE:PATH` -> (service, path); a plain path (or `-`) -> `None`. Like docker, a
/// path starting with `/` or `.` is never a service reference.
fn split_service(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(s, _)| !s.is_empty())
}

pub async fn run(global: &GlobalArgs, args: &CpArgs) -> Result<i32, CliError> {
    let opts = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    let (service, from_service) = match (
        split_service(&args.source),
        split_service(&args.destination),
    ) {
        (Some((s, _)), None) => (s.to_string(), true),
        (None, Some((s, _))) => (s.to_string(), false),
        (Some(_), Some(_)) => {
            return Err(CliError::usage("copying between services is not supported"))
        }
        (None, None) => {
            return Err(CliError::usage(
                "must specify at least one container source (SERVICE:PATH)",
            ))
        }
    };
    let target = resolve(global, std::slice::from_ref(&service), false)?;
    let engine = engine_for(global).await?;
    let runtime = engine.runtime.as_ref();
    let query = ContainerQuery {
        project: target.name.clone(),
        services: vec![service.clone()],
        all: true,
        oneoff: args.all,
    };
    let mut containers = project_containers(runtime, &query).await?;
    containers.sort_by_key(container_number);
    if args.index > 0 {
        containers.retain(|c| container_number(c) == args.index);
    } else if from_service {
        // From a service: its first container; to a service: every one of them.
        containers.truncate(1);
    }
    if containers.is_empty() {
        let which = if args.index > 0 {
            format!(" with index {}", args.index)
        } else {
            String::new()
        };
        return Err(CliError::Engine(EngineError::new(format!(
            "no container found for service \"{service}\"{which}"
        ))));
    }
    if from_service {
        let (_, src) = split_service(&args.source).unwrap_or_default();
        let tar = fetch(runtime, &containers[0].id, src, opts).await?;
        if global.dry_run {
            // The source was read (so a wrong path still fails); the host is left alone.
            engine.reporter.message(&format!(
                "copy {}:{src} to {} ({} bytes)",
                containers[0].name,
                args.destination,
                tar.len()
            ));
            return Ok(0);
        }
        if args.destination == "-" {
            let mut out = std::io::stdout().lock();
            out.write_all(&tar)
                .and_then(|()| out.flush())
                .map_err(|e| EngineError::new(format!("cannot write the archive: {e}")))?;
        } else {
            extract(&tar, src, Path::new(&args.destination), opts)?;
        }
        return Ok(0);
    }
    let (_, dest) = split_service(&args.destination).unwrap_or_default();
    if args.source == "-" {
        let tar = read_archive(std::io::stdin().lock())?;
        for c in &containers {
            runtime
                .copy_to_container(&c.id, dest, tar.clone().into())
                .await
                .map_err(|e| {
                    EngineError::runtime(&format!("copy the archive to {}:{dest}", c.name), e)
                })?;
        }
        return Ok(0);
    }
    for c in &containers {
        copy_in(runtime, &c.id, Path::new(&args.source), dest, opts).await?;
        if global.dry_run {
            // The archive was packed (so a wrong source still fails); it went nowhere.
            engine
                .reporter
                .message(&format!("copy {} to {}:{dest}", args.source, c.name));
        }
    }
    Ok(0)
}
