//! `down`: stop and remove the project's containers (dependents first), then its networks;
//! volumes only when asked (`-v`) — named volumes hold user data and survive a plain `down`.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::runtime::RuntimeError;

use super::error::EngineError;
use super::progress::{ResourceKind, Status};
use super::state::{ProjectContainer, ProjectContext, ProjectState};
use super::up::dependency_graph;
use super::Engine;

/// `--rmi`: which images `down` removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveImages {
    /// Images without a custom `image:` name (those hoist built and named).
    Local,
    /// Every image a service uses.
    All,
}

#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    pub remove_orphans: bool,
    /// `-v`: named volumes declared in the file and anonymous volumes of the containers.
    pub volumes: bool,
    pub rmi: Option<RemoveImages>,
    pub timeout: Option<Duration>,
    /// With `volumes`: every volume labelled with the project, not only those the file
    /// declares (`-p NAME down -v` without a compose file).
    pub all_volumes: bool,
}

impl Engine {
    pub async fn down(&self, ctx: &ProjectContext, opts: &DownOptions) -> Result<(), EngineError> {
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        let mut known: Vec<&str> = ctx.project.services.keys().map(String::as_str).collect();
        known.extend(ctx.disabled_services.iter().map(String::as_str));
        let orphans: Vec<&ProjectContainer> = state.orphans(&known);
        if !orphans.is_empty() && !opts.remove_orphans {
            let names: Vec<&str> = orphans.iter().map(|c| c.name()).collect();
            self.reporter.message(&format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
        }

        // One-off and orphan containers first, then services, dependents before dependencies.
        let mut batches: Vec<Vec<&ProjectContainer>> = Vec::new();
        let first: Vec<&ProjectContainer> = state
            .containers
            .iter()
            .filter(|c| c.oneoff || (opts.remove_orphans && !known.contains(&c.service.as_str())))
            .collect();
        batches.push(first);
        let mut levels = dependency_graph(ctx).levels();
        levels.reverse();
        for level in levels {
            batches.push(
                state
                    .containers
                    .iter()
                    .filter(|c| !c.oneoff && level.contains(&c.service))
                    .collect(),
            );
        }
        // Services of the file that profiles disabled still get removed.
        batches.push(
            state
                .containers
                .iter()
                .filter(|c| !c.oneoff && ctx.disabled_services.contains(&c.service))
                .collect(),
        );
        for batch in batches.into_iter().filter(|b| !b.is_empty()) {
            let results = join_all(batch.iter().map(|c| {
                let service = ctx.project.services.get(&c.service);
                let timeout = opts.timeout.or_else(|| {
                    service
                        .and_then(|s| s.stop_grace_period.as_ref())
                        .map(|d| d.to_std())
                });
                // A service stopped by SIGKILL has no grace period to wait for.
                let kills = service
                    .and_then(|s| s.stop_signal.as_deref())
                    .is_some_and(is_kill_signal);
                let timeout = if kills { Some(Duration::ZERO) } else { timeout };
                self.remove_container(c.name(), timeout, opts.volumes)
            }))
            .await;
            for r in results {
                r?;
            }
        }

        for network in &state.networks {
            let declared_external =
                ctx.project.networks.values().any(|n| {
                    n.external.enabled && n.name.as_deref() == Some(network.name.as_str())
                });
            if declared_external {
                continue;
            }
            let start = Instant::now();
            self.progress(
                ResourceKind::Network,
                &network.name,
                Status::Working,
                "Removing",
                None,
            );
            match self.runtime.remove_network(&network.name).await {
                Ok(()) | Err(RuntimeError::NotFound { .. }) => {
                    self.done(ResourceKind::Network, &network.name, "Removed", start)
                }
                Err(e) => {
                    self.progress(
                        ResourceKind::Network,
                        &network.name,
                        Status::Warning,
                        "Resource is still in use",
                        Some(e.to_string()),
                    );
                }
            }
        }

        if opts.volumes {
            for volume in &state.volumes {
                let declared = ctx.project.volumes.values().any(|v| {
                    !v.external.enabled && v.name.as_deref() == Some(volume.name.as_str())
                });
                if !declared && !opts.all_volumes {
                    continue;
                }
                let shown = format!("\"{}\"", volume.name);
                let start = Instant::now();
                self.progress(
                    ResourceKind::Volume,
                    &shown,
                    Status::Working,
                    "Removing",
                    None,
                );
                match self.runtime.remove_volume(&volume.name, false).await {
                    Ok(()) | Err(RuntimeError::NotFound { .. }) => {
                        self.done(ResourceKind::Volume, &shown, "Removed", start)
                    }
                    Err(e) => {
                        self.progress(
                            ResourceKind::Volume,
                            &shown,
                            Status::Warning,
                            "Resource is still in use",
                            Some(e.to_string()),
                        );
                    }
                }
            }
        }

        if let Some(which) = opts.rmi {
            let mut images: Vec<String> = Vec::new();
            for (name, service) in &ctx.project.services {
                let include = match which {
                    RemoveImages::All => true,
                    RemoveImages::Local => service.image.is_none(),
                };
                let image = ctx.image_of(name);
                if include && !images.contains(&image) {
                    images.push(image);
                }
            }
            for image in images {
                let start = Instant::now();
                self.progress(
                    ResourceKind::Image,
                    &image,
                    Status::Working,
                    "Removing",
                    None,
                );
                match self.runtime.remove_image(&image, false).await {
                    Ok(()) | Err(RuntimeError::NotFound { .. }) => {
                        self.done(ResourceKind::Image, &image, "Removed", start)
                    }
                    Err(e) => {
                        self.progress(
                            ResourceKind::Image,
                            &image,
                            Status::Warning,
                            "Not removed",
                            Some(e.to_string()),
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether `signal` (as `stop_signal` spells it: `SIGKILL`, `KILL`, `9`) is SIGKILL.
fn is_kill_signal(signal: &str) -> bool {
    let name = signal.trim().to_ascii_uppercase();
    matches!(name.as_str(), "SIGKILL" | "KILL" | "9")
}
