//! Lifecycle of containers that already exist: `start`, `stop`, `restart`, `kill`, `rm`,
//! `pause`, `unpause`. Each works on the project's containers as the runtime lists them (by
//! compose labels), in dependency order (`start`, `restart`) or reverse order (`stop`), and
//! reports every container's progress in docker compose's words.
//!
//! Not for: creating or recreating containers (`up`), or asking the user anything (the CLI
//! confirms `rm` before calling [`Engine::remove_containers`]).

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::compose::model::DependencyCondition;
use crate::runtime::{ContainerStatus, RuntimeError};

use super::error::EngineError;
use super::progress::{ResourceKind, Status};
use super::state::{ProjectContainer, ProjectContext, ProjectState};
use super::up::{dependency_graph, services_in_scope};
use super::Engine;

/// The services a command names, or every service of the project when it names none.
fn selected(ctx: &ProjectContext, services: &[String]) -> Vec<String> {
    if services.is_empty() {
        ctx.project.services.keys().cloned().collect()
    } else {
        services.to_vec()
    }
}

/// The grace period for stopping a service's containers: `-t`, else `stop_grace_period`.
fn stop_timeout(
    ctx: &ProjectContext,
    service: &str,
    timeout: Option<Duration>,
) -> Option<Duration> {
    timeout.or_else(|| {
        ctx.project
            .services
            .get(service)
            .and_then(|s| s.stop_grace_period.as_ref())
            .map(|d| d.to_std())
    })
}

fn is_up(c: &ProjectContainer) -> bool {
    matches!(
        c.summary.status,
        ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
    )
}

/// Turns the first failure of a batch into the batch's result.
fn first_error(results: Vec<Result<(), EngineError>>) -> Result<(), EngineError> {
    results.into_iter().collect()
}

impl Engine {
    /// One container operation with `Working`/`Done`/`Error` progress around it, holding one
    /// of the engine's parallelism permits.
    async fn container_step<F>(
        &self,
        name: &str,
        working: &str,
        done: &str,
        what: &str,
        op: F,
    ) -> Result<(), EngineError>
    where
        F: std::future::Future<Output = Result<(), RuntimeError>>,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| EngineError::new("internal error: semaphore closed"))?;
        self.tracked(name, working, done, what, op).await
    }

    /// One container operation with `Working`/`Done`/`Error` progress around it.
    pub(crate) async fn tracked<F>(
        &self,
        name: &str,
        working: &str,
        done: &str,
        what: &str,
        op: F,
    ) -> Result<(), EngineError>
    where
        F: std::future::Future<Output = Result<(), RuntimeError>>,
    {
        let start = Instant::now();
        self.progress(
            ResourceKind::Container,
            name,
            Status::Working,
            working,
            None,
        );
        match op.await {
            Ok(()) => {
                self.done(ResourceKind::Container, name, done, start);
                Ok(())
            }
            Err(e) => {
                self.progress(
                    ResourceKind::Container,
                    name,
                    Status::Error,
                    "Error",
                    Some(e.to_string()),
                );
                Err(EngineError::runtime(&format!("{what} container {name}"), e))
            }
        }
    }

    /// `start`: starts the existing containers of `services` (all when empty) and of what
    /// they depend on, in dependency order, waiting for each `depends_on` condition first.
    pub async fn start_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
    ) -> Result<(), EngineError> {
        let scope = services_in_scope(ctx, services, false);
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        for level in dependency_graph(ctx).levels() {
            let batch: Vec<&String> = level.iter().filter(|s| scope.contains(s)).collect();
            let results = join_all(
                batch
                    .iter()
                    .map(|service| self.start_service(ctx, &state, &scope, service)),
            )
            .await;
            first_error(results)?;
        }
        Ok(())
    }

    async fn start_service(
        &self,
        ctx: &ProjectContext,
        state: &ProjectState,
        scope: &[String],
        name: &str,
    ) -> Result<(), EngineError> {
        let Some(service) = ctx.project.services.get(name) else {
            return Err(EngineError::new(format!("no such service: {name}")));
        };
        let containers = state.service_containers(name);
        if containers.is_empty() {
            if service.replicas() == 0 {
                return Ok(());
            }
            return Err(
                EngineError::new(format!("service \"{name}\" has no container to start"))
                    .with_hint(format!("create it first: hoist up -d {name}")),
            );
        }
        for (dep, how) in service.depends_on.0.iter() {
            if !scope.contains(dep) {
                continue;
            }
            if let Err(reason) = self.wait_condition(state, dep, &how.condition).await {
                if how.required {
                    return Err(
                        EngineError::new(format!("dependency failed to start: {reason}"))
                            .with_hint(format!("see `hoist logs {dep}`")),
                    );
                }
                self.reporter.message(&format!(
                    "optional dependency \"{dep}\" of \"{name}\" failed ({reason}); starting \"{name}\" anyway"
                ));
            }
        }
        let results = join_all(containers.iter().filter(|c| !is_up(c)).map(|c| {
            self.container_step(
                c.name(),
                "Starting",
                "Started",
                "start",
                self.runtime.start_container(c.name()),
            )
        }))
        .await;
        first_error(results)
    }

    /// Waits until the containers of `dep` (already started) meet `condition`.
    async fn wait_condition(
        &self,
        state: &ProjectState,
        dep: &str,
        condition: &DependencyCondition,
    ) -> Result<(), String> {
        for c in state.service_containers(dep) {
            match condition {
                DependencyCondition::ServiceStarted => {}
                DependencyCondition::ServiceHealthy => self.wait_healthy(c.name(), None).await?,
                DependencyCondition::ServiceCompletedSuccessfully => {
                    let name = c.name();
                    let start = Instant::now();
                    self.progress(
                        ResourceKind::Container,
                        name,
                        Status::Working,
                        "Waiting",
                        None,
                    );
                    let code = self
                        .runtime
                        .wait_container(name)
                        .await
                        .map_err(|e| format!("container {name}: {e}"))?;
                    if code != 0 {
                        self.progress(
                            ResourceKind::Container,
                            name,
                            Status::Error,
                            "Error",
                            Some(format!("exited with code {code}")),
                        );
                        return Err(format!(
                            "service \"{dep}\" didn't complete successfully: exit {code}"
                        ));
                    }
                    self.done(ResourceKind::Container, name, "Exited", start);
                }
            }
        }
        Ok(())
    }

    /// `stop`: stops the containers of `services` (all when empty), dependents before their
    /// dependencies. `timeout` overrides each service's `stop_grace_period`; the runtime sends
    /// the stop signal, then SIGKILL when the grace period is over.
    pub async fn stop_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
        timeout: Option<Duration>,
    ) -> Result<(), EngineError> {
        let selected = selected(ctx, services);
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        let mut levels = dependency_graph(ctx).levels();
        levels.reverse();
        for level in levels {
            let batch: Vec<&ProjectContainer> = level
                .iter()
                .filter(|s| selected.contains(s))
                .flat_map(|s| state.service_containers(s))
                .collect();
            let results = join_all(batch.iter().map(|c| {
                let timeout = stop_timeout(ctx, &c.service, timeout);
                self.container_step(
                    c.name(),
                    "Stopping",
                    "Stopped",
                    "stop",
                    self.runtime.stop_container(c.name(), timeout),
                )
            }))
            .await;
            first_error(results)?;
        }
        Ok(())
    }

    /// `restart`: restarts the containers of `services` (all when empty; with their
    /// dependencies unless `no_deps`), running or not, in dependency order.
    pub async fn restart_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
        timeout: Option<Duration>,
        no_deps: bool,
    ) -> Result<(), EngineError> {
        let scope = services_in_scope(ctx, services, no_deps);
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        for level in dependency_graph(ctx).levels() {
            let batch: Vec<&ProjectContainer> = level
                .iter()
                .filter(|s| scope.contains(s))
                .flat_map(|s| state.service_containers(s))
                .collect();
            let results = join_all(batch.iter().map(|c| {
                let timeout = stop_timeout(ctx, &c.service, timeout);
                self.container_step(
                    c.name(),
                    "Restarting",
                    "Started",
                    "restart",
                    self.runtime.restart_container(c.name(), timeout),
                )
            }))
            .await;
            first_error(results)?;
        }
        Ok(())
    }

    /// `kill`: sends `signal` to the running containers of `services` (all when empty).
    /// `remove_orphans` also removes containers of services the file no longer has. Returns
    /// how many containers got the signal.
    pub async fn kill_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
        signal: &str,
        remove_orphans: bool,
    ) -> Result<usize, EngineError> {
        let selected = selected(ctx, services);
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        let mut known: Vec<&str> = ctx.project.services.keys().map(String::as_str).collect();
        known.extend(ctx.disabled_services.iter().map(String::as_str));
        let orphans = state.orphans(&known);
        if remove_orphans {
            for orphan in &orphans {
                self.remove_container(orphan.name(), Some(Duration::ZERO), false)
                    .await?;
            }
        } else if !orphans.is_empty() {
            let names: Vec<&str> = orphans.iter().map(|c| c.name()).collect();
            self.reporter.message(&format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
        }
        let targets: Vec<&ProjectContainer> = state
            .containers
            .iter()
            .filter(|c| !c.oneoff && selected.contains(&c.service) && is_up(c))
            .collect();
        let results = join_all(targets.iter().map(|c| {
            self.container_step(
                c.name(),
                "Killing",
                "Killed",
                "kill",
                self.runtime.kill_container(c.name(), signal),
            )
        }))
        .await;
        first_error(results)?;
        Ok(targets.len())
    }

    /// The stopped (not running, not paused) containers of `services` (all when empty):
    /// what `rm` offers to remove.
    pub async fn stopped_containers(
        &self,
        ctx: &ProjectContext,
        services: &[String],
    ) -> Result<Vec<String>, EngineError> {
        let selected = selected(ctx, services);
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        Ok(state
            .containers
            .iter()
            .filter(|c| !c.oneoff && selected.contains(&c.service) && !is_up(c))
            .map(|c| c.name().to_string())
            .collect())
    }

    /// `rm`: removes containers by name; `volumes` also removes their anonymous volumes.
    pub async fn remove_containers(
        &self,
        names: &[String],
        volumes: bool,
    ) -> Result<(), EngineError> {
        let results = join_all(names.iter().map(|name| {
            self.container_step(name, "Removing", "Removed", "remove", async move {
                match self.runtime.remove_container(name, true, volumes).await {
                    Err(RuntimeError::NotFound { .. }) => Ok(()),
                    other => other,
                }
            })
        }))
        .await;
        first_error(results)
    }

    /// `pause`: freezes the running containers of `services` (all when empty).
    pub async fn pause_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
    ) -> Result<(), EngineError> {
        self.toggle_pause(ctx, services, true).await
    }

    /// `unpause`: resumes the paused containers of `services` (all when empty).
    pub async fn unpause_services(
        &self,
        ctx: &ProjectContext,
        services: &[String],
    ) -> Result<(), EngineError> {
        self.toggle_pause(ctx, services, false).await
    }

    /// Pauses the running, or unpauses the paused, containers of `services`.
    async fn toggle_pause(
        &self,
        ctx: &ProjectContext,
        services: &[String],
        pause: bool,
    ) -> Result<(), EngineError> {
        let selected = selected(ctx, services);
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        let (from, working, done, what) = if pause {
            (ContainerStatus::Running, "Pausing", "Paused", "pause")
        } else {
            (ContainerStatus::Paused, "Unpausing", "Unpaused", "unpause")
        };
        let results = join_all(
            state
                .containers
                .iter()
                .filter(|c| !c.oneoff && selected.contains(&c.service) && c.summary.status == from)
                .map(|c| {
                    let name = c.name();
                    async move {
                        let op = async {
                            if pause {
                                self.runtime.pause_container(name).await
                            } else {
                                self.runtime.unpause_container(name).await
                            }
                        };
                        self.container_step(name, working, done, what, op).await
                    }
                }),
        )
        .await;
        first_error(results)
    }
}
