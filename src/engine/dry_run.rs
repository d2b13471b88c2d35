//! `--dry-run`: the plan `up` or `down` would apply, computed from the same functions, with
//! only read-only runtime calls (list, inspect).

use std::fmt;

use crate::runtime::RuntimeError;

use super::down::{DownOptions, RemoveImages};
use super::error::EngineError;
use super::progress::ResourceKind;
use super::state::{ProjectContext, ProjectState};
use super::up::{
    dependency_graph, networks_used, plan_service, services_in_scope, volumes_used, BuildPolicy,
    ContainerAction, PullPolicy, UpOptions,
};
use super::Engine;

/// One change the command would make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedStep {
    pub kind: ResourceKind,
    pub name: String,
    /// In docker compose's words: Create, Recreate, Start, Running, Build, Pull, Remove.
    pub action: &'static str,
}

impl fmt::Display for PlannedStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DRY-RUN MODE -  {} {}  {}",
            self.kind.as_str(),
            self.name,
            self.action
        )
    }
}

fn step(kind: ResourceKind, name: impl Into<String>, action: &'static str) -> PlannedStep {
    PlannedStep {
        kind,
        name: name.into(),
        action,
    }
}

impl Engine {
    /// What `up` with `opts` would do, in the order it would do it.
    pub async fn plan_up(
        &self,
        ctx: &ProjectContext,
        opts: &UpOptions,
    ) -> Result<Vec<PlannedStep>, EngineError> {
        let scope = services_in_scope(ctx, &opts.services, opts.no_deps);
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        let mut steps = Vec::new();
        if opts.remove_orphans {
            let mut known: Vec<&str> = ctx.project.services.keys().map(String::as_str).collect();
            known.extend(ctx.disabled_services.iter().map(String::as_str));
            for orphan in state.orphans(&known) {
                steps.push(step(ResourceKind::Container, orphan.name(), "Remove"));
            }
        }
        for (key, name) in networks_used(ctx, &scope) {
            let external = ctx
                .project
                .networks
                .get(key)
                .is_some_and(|n| n.external.enabled);
            if !external && self.missing(self.runtime.inspect_network(&name).await)? {
                steps.push(step(ResourceKind::Network, name, "Create"));
            }
        }
        for (key, name) in volumes_used(ctx, &scope) {
            let external = ctx
                .project
                .volumes
                .get(key)
                .is_some_and(|v| v.external.enabled);
            if !external && self.missing(self.runtime.inspect_volume(&name).await)? {
                steps.push(step(ResourceKind::Volume, name, "Create"));
            }
        }
        let mut image_ids = std::collections::HashMap::new();
        for name in &scope {
            let Some(service) = ctx.project.services.get(name) else {
                continue;
            };
            let image = ctx.image_of(name);
            let present = match self.runtime.inspect_image(&image).await {
                Ok(info) => {
                    image_ids.insert(name.clone(), info.id);
                    true
                }
                Err(RuntimeError::NotFound { .. }) => false,
                Err(e) => return Err(EngineError::runtime(&format!("inspect image {image}"), e)),
            };
            let action = if service.build.is_some() {
                (opts.build == BuildPolicy::Always
                    || (!present && opts.build != BuildPolicy::Never))
                    .then_some("Build")
            } else {
                (opts.pull == PullPolicy::Always || (!present && opts.pull != PullPolicy::Never))
                    .then_some("Pull")
            };
            if let Some(action) = action {
                steps.push(step(ResourceKind::Image, image, action));
            }
        }
        // Services in start order.
        for level in dependency_graph(ctx).levels() {
            for name in level.iter().filter(|s| scope.contains(s)) {
                let Some(service) = ctx.project.services.get(name) else {
                    continue;
                };
                let replicas = opts
                    .scale
                    .get(name)
                    .copied()
                    .unwrap_or(service.replicas() as u32);
                let existing: Vec<_> = state
                    .service_containers(name)
                    .into_iter()
                    .cloned()
                    .collect();
                let actions = plan_service(
                    ctx,
                    name,
                    service,
                    &existing,
                    replicas,
                    image_ids.get(name).map(String::as_str),
                    opts.recreate,
                );
                for action in actions {
                    steps.push(match action {
                        ContainerAction::Create { name, .. } => {
                            step(ResourceKind::Container, name, "Create")
                        }
                        ContainerAction::Recreate { name, .. } => {
                            step(ResourceKind::Container, name, "Recreate")
                        }
                        ContainerAction::Start { name } => {
                            step(ResourceKind::Container, name, "Start")
                        }
                        ContainerAction::Keep { name } => {
                            step(ResourceKind::Container, name, "Running")
                        }
                        ContainerAction::Remove { name } => {
                            step(ResourceKind::Container, name, "Remove")
                        }
                    });
                }
            }
        }
        Ok(steps)
    }

    /// What `down` with `opts` would remove.
    pub async fn plan_down(
        &self,
        ctx: &ProjectContext,
        opts: &DownOptions,
    ) -> Result<Vec<PlannedStep>, EngineError> {
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        let mut known: Vec<&str> = ctx.project.services.keys().map(String::as_str).collect();
        known.extend(ctx.disabled_services.iter().map(String::as_str));
        let mut steps: Vec<PlannedStep> = state
            .containers
            .iter()
            .filter(|c| c.oneoff || opts.remove_orphans || known.contains(&c.service.as_str()))
            .map(|c| step(ResourceKind::Container, c.name(), "Remove"))
            .collect();
        steps.extend(
            state
                .networks
                .iter()
                .map(|n| step(ResourceKind::Network, n.name.clone(), "Remove")),
        );
        if opts.volumes {
            for volume in &state.volumes {
                let declared = ctx.project.volumes.values().any(|v| {
                    !v.external.enabled && v.name.as_deref() == Some(volume.name.as_str())
                });
                if declared || opts.all_volumes {
                    steps.push(step(ResourceKind::Volume, volume.name.clone(), "Remove"));
                }
            }
        }
        if let Some(which) = opts.rmi {
            for (name, service) in &ctx.project.services {
                if which == RemoveImages::All || service.image.is_none() {
                    steps.push(step(ResourceKind::Image, ctx.image_of(name), "Remove"));
                }
            }
        }
        Ok(steps)
    }

    fn missing<T>(&self, result: Result<T, RuntimeError>) -> Result<bool, EngineError> {
        match result {
            Ok(_) => Ok(false),
            Err(RuntimeError::NotFound { .. }) => Ok(true),
            Err(e) => Err(EngineError::runtime("inspect a resource", e)),
        }
    }
}
