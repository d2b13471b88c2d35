//! `up` and `create`: converge the project's networks, volumes, images and containers toward
//! the compose file, in dependency order, with bounded parallelism.
//!
//! Order of work, as docker compose does it: networks and volumes; images (pull or build);
//! then every service in its own task, which waits until its dependencies reach their
//! `depends_on` condition, then creates, recreates, starts or keeps its containers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::compose::model::{DependencyCondition, ServiceConfig, VolumeType};
use crate::graph::DependencyGraph;
use crate::runtime::{ContainerSpec, ContainerStatus, HealthStatus, MountSource, RuntimeError};

use super::error::EngineError;
use super::labels;
use super::progress::{ProgressEvent, ResourceKind, Status};
use super::specs as convert;
use super::state::{ProjectContainer, ProjectContext, ProjectState};
use super::Engine;

/// When to build images of services that have `build:`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuildPolicy {
    /// Build when the image is missing.
    #[default]
    Missing,
    /// `--build`: always build.
    Always,
    /// `--no-build`: never build; a missing image is an error.
    Never,
}

/// `--pull`: when to pull images of services without `build:`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// The service's `pull_policy`, else pull when missing.
    #[default]
    Service,
    Always,
    Missing,
    Never,
}

/// What to do with containers that already exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recreate {
    /// Recreate when the configuration or image changed.
    #[default]
    Diverged,
    /// `--force-recreate`.
    Force,
    /// `--no-recreate`.
    Never,
}

#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// Services to bring up (empty: all), with their dependencies unless `no_deps`.
    pub services: Vec<String>,
    pub no_deps: bool,
    pub build: BuildPolicy,
    pub pull: PullPolicy,
    pub recreate: Recreate,
    pub remove_orphans: bool,
    /// `-V`: new anonymous volumes instead of the previous containers'.
    pub renew_anon_volumes: bool,
    /// `--scale svc=N`.
    pub scale: HashMap<String, u32>,
    /// `create` / `up --no-start`: create containers without starting them.
    pub no_start: bool,
    /// `--wait`: return once services are running (and healthy where they have a healthcheck).
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    /// Stop timeout used when recreating.
    pub timeout: Option<Duration>,
}

/// A service task's progress, shared with the tasks of services that depend on it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Pending,
    /// Containers created and (unless `no_start`) started; the names are its containers.
    Started(Vec<String>),
    Failed(String),
}

/// The services `up` touches: the selection and, unless `no_deps`, what it depends on.
pub fn services_in_scope(ctx: &ProjectContext, services: &[String], no_deps: bool) -> Vec<String> {
    if services.is_empty() {
        return ctx.project.services.keys().cloned().collect();
    }
    if no_deps {
        return services.to_vec();
    }
    let graph = dependency_graph(ctx);
    let roots: Vec<&str> = services.iter().map(String::as_str).collect();
    graph.with_dependencies(&roots)
}

pub fn dependency_graph(ctx: &ProjectContext) -> DependencyGraph {
    DependencyGraph::new(
        ctx.project
            .services
            .iter()
            .map(|(k, s)| (k.as_str(), s.depends_on.0.keys().map(String::as_str))),
    )
}

impl Engine {
    pub async fn up(&self, ctx: &ProjectContext, opts: &UpOptions) -> Result<(), EngineError> {
        let scope = services_in_scope(ctx, &opts.services, opts.no_deps);
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        self.handle_orphans(ctx, &state, opts.remove_orphans)
            .await?;
        self.ensure_networks(ctx, &scope).await?;
        self.ensure_volumes(ctx, &scope).await?;
        let images = self
            .ensure_images(ctx, &scope, opts.build, opts.pull)
            .await?;
        self.converge_services(ctx, &scope, &state, &images, opts)
            .await?;
        if opts.wait && !opts.no_start {
            self.wait_ready(ctx, &scope, opts.wait_timeout).await?;
        }
        Ok(())
    }

    pub(crate) async fn handle_orphans(
        &self,
        ctx: &ProjectContext,
        state: &ProjectState,
        remove: bool,
    ) -> Result<(), EngineError> {
        let mut known: Vec<&str> = ctx.project.services.keys().map(String::as_str).collect();
        known.extend(ctx.disabled_services.iter().map(String::as_str));
        let orphans = state.orphans(&known);
        if orphans.is_empty() {
            return Ok(());
        }
        if !remove {
            let names: Vec<&str> = orphans.iter().map(|c| c.name()).collect();
            self.reporter.message(&format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
            return Ok(());
        }
        for orphan in orphans {
            self.remove_container(orphan.name(), None, false).await?;
        }
        Ok(())
    }

    /// Creates the project networks the services use; external ones must exist.
    pub(crate) async fn ensure_networks(
        &self,
        ctx: &ProjectContext,
        scope: &[String],
    ) -> Result<(), EngineError> {
        for (key, name) in networks_used(ctx, scope) {
            let Some(network) = ctx.project.networks.get(key) else {
                continue;
            };
            if network.external.enabled {
                self.runtime.inspect_network(&name).await.map_err(|e| match e {
                    RuntimeError::NotFound { .. } => EngineError::new(format!(
                        "network {name} declared as external, but could not be found"
                    ))
                    .with_hint(format!("create it first (docker network create {name}) or remove `external: true`")),
                    other => EngineError::runtime(&format!("inspect network {name}"), other),
                })?;
                continue;
            }
            match self.runtime.inspect_network(&name).await {
                Ok(existing) => {
                    if existing.labels.get(labels::PROJECT).map(String::as_str) != Some(ctx.name())
                    {
                        self.reporter.message(&format!(
                            "a network with name {name} exists but was not created for project \"{}\"; hoist uses it as is. Set `external: true` to silence this warning",
                            ctx.name()
                        ));
                    }
                }
                Err(RuntimeError::NotFound { .. }) => {
                    let start = Instant::now();
                    self.progress(
                        ResourceKind::Network,
                        &name,
                        Status::Working,
                        "Creating",
                        None,
                    );
                    let spec = convert::network_spec(ctx.name(), key, network);
                    match self.runtime.create_network(&spec).await {
                        Ok(_) => self.done(ResourceKind::Network, &name, "Created", start),
                        // Another hoist raced us to it: fine.
                        Err(RuntimeError::Conflict { .. }) => {
                            self.done(ResourceKind::Network, &name, "Created", start)
                        }
                        Err(e) => {
                            self.progress(
                                ResourceKind::Network,
                                &name,
                                Status::Error,
                                "Error",
                                Some(e.to_string()),
                            );
                            return Err(EngineError::runtime(&format!("create network {name}"), e));
                        }
                    }
                }
                Err(e) => return Err(EngineError::runtime(&format!("inspect network {name}"), e)),
            }
        }
        Ok(())
    }

    /// Creates the named volumes the services mount; external ones must exist.
    pub(crate) async fn ensure_volumes(
        &self,
        ctx: &ProjectContext,
        scope: &[String],
    ) -> Result<(), EngineError> {
        for (key, name) in volumes_used(ctx, scope) {
            let Some(volume) = ctx.project.volumes.get(key) else {
                continue;
            };
            match self.runtime.inspect_volume(&name).await {
                Ok(existing) => {
                    if !volume.external.enabled
                        && existing.labels.get(labels::PROJECT).map(String::as_str)
                            != Some(ctx.name())
                    {
                        self.reporter.message(&format!(
                            "volume \"{name}\" already exists but was not created by hoist or docker compose. Use `external: true` to use an existing volume"
                        ));
                    }
                }
                Err(RuntimeError::NotFound { .. }) if volume.external.enabled => {
                    return Err(EngineError::new(format!(
                        "external volume \"{name}\" not found"
                    ))
                    .with_hint(format!("create it first (docker volume create {name}) or remove `external: true`")));
                }
                Err(RuntimeError::NotFound { .. }) => {
                    let start = Instant::now();
                    let shown = format!("\"{name}\"");
                    self.progress(
                        ResourceKind::Volume,
                        &shown,
                        Status::Working,
                        "Creating",
                        None,
                    );
                    let spec = convert::volume_spec(ctx.name(), key, volume);
                    self.runtime
                        .create_volume(&spec)
                        .await
                        .map_err(|e| EngineError::runtime(&format!("create volume {name}"), e))?;
                    self.done(ResourceKind::Volume, &shown, "Created", start);
                }
                Err(e) => return Err(EngineError::runtime(&format!("inspect volume {name}"), e)),
            }
        }
        Ok(())
    }

    /// Pulls or builds what the services need, different images at once (bounded by
    /// `--parallel`); returns each service's image id. Services sharing an image reference
    /// get it once, built by the one that has `build:`.
    pub(crate) async fn ensure_images(
        &self,
        ctx: &ProjectContext,
        scope: &[String],
        build: BuildPolicy,
        pull: PullPolicy,
    ) -> Result<HashMap<String, String>, EngineError> {
        let mut ids = HashMap::new();
        let mut done: Vec<String> = Vec::new();
        // Images other builds read as named contexts (`service:`) come in earlier waves.
        for wave in super::images::context_waves(ctx, scope)? {
            let mut groups: Vec<(String, Vec<&String>)> = Vec::new();
            for name in wave
                .iter()
                .filter(|n| ctx.project.services.contains_key(*n))
            {
                let image = ctx.image_of(name);
                if done.contains(&image) {
                    continue;
                }
                match groups.iter_mut().find(|(i, _)| *i == image) {
                    Some((_, names)) => names.push(name),
                    None => groups.push((image, vec![name])),
                }
            }
            let resolved =
                futures_util::future::join_all(groups.iter().map(|(image, names)| async move {
                    let owner = names
                        .iter()
                        .find(|n| {
                            ctx.project
                                .services
                                .get(**n)
                                .is_some_and(|s| s.build.is_some())
                        })
                        .unwrap_or(&names[0]);
                    let _permit = self.permits.acquire().await;
                    self.ensure_image(ctx, owner, image, build, pull).await
                }))
                .await;
            for ((image, names), id) in groups.iter().zip(resolved) {
                let id = id?;
                done.push(image.clone());
                for name in names {
                    ids.insert((*name).clone(), id.clone());
                }
            }
        }
        // A service sharing an image with one of an earlier wave gets that image's id.
        for name in scope {
            if !ids.contains_key(name) {
                let image = ctx.image_of(name);
                if let Some(id) = ids
                    .iter()
                    .find(|(n, _)| ctx.image_of(n) == image)
                    .map(|(_, id)| id.clone())
                {
                    ids.insert(name.clone(), id);
                }
            }
        }
        Ok(ids)
    }

    /// The id of `image` for service `name`, built or pulled first when the policies say so.
    async fn ensure_image(
        &self,
        ctx: &ProjectContext,
        name: &str,
        image: &str,
        build: BuildPolicy,
        pull: PullPolicy,
    ) -> Result<String, EngineError> {
        let Some(service) = ctx.project.services.get(name) else {
            return Err(EngineError::new(format!("no such service: {name}")));
        };
        let existing = match self.runtime.inspect_image(image).await {
            Ok(info) => Some(info.id),
            Err(RuntimeError::NotFound { .. }) => None,
            Err(e) => return Err(EngineError::runtime(&format!("inspect image {image}"), e)),
        };
        let service_pull = service.pull_policy.as_deref().unwrap_or("missing");
        if service.build.is_some() {
            let must_build = match build {
                BuildPolicy::Always => true,
                BuildPolicy::Never => false,
                BuildPolicy::Missing => existing.is_none() || service_pull == "build",
            };
            return match (must_build, existing) {
                (true, _) => self.build_service(ctx, name, service).await,
                (false, Some(id)) => Ok(id),
                (false, None) => Err(EngineError::new(format!(
                    "image {image} for service {name} is not built"
                ))
                .with_hint("run without --no-build, or `hoist build` first")),
            };
        }
        let policy = match pull {
            PullPolicy::Service => service_pull,
            PullPolicy::Always => "always",
            PullPolicy::Missing => "missing",
            PullPolicy::Never => "never",
        };
        let must_pull = match policy {
            "always" => true,
            "never" => false,
            _ => existing.is_none(),
        };
        match (must_pull, existing) {
            (true, _) => self.pull(name, image, service.platform.as_deref()).await,
            (false, Some(id)) => Ok(id),
            (false, None) => Err(EngineError::new(format!(
                "image {image} for service {name} is not present and pull_policy is never"
            ))),
        }
    }

    /// Pulls `image` and returns its id.
    pub async fn pull(
        &self,
        service: &str,
        image: &str,
        platform: Option<&str>,
    ) -> Result<String, EngineError> {
        let start = Instant::now();
        self.progress(ResourceKind::Image, image, Status::Working, "Pulling", None);
        let reporter = self.reporter.clone();
        let shown = image.to_string();
        let sink = move |p: crate::runtime::ImageProgress| {
            let mut event = ProgressEvent::new(
                ResourceKind::Image,
                shown.clone(),
                Status::Working,
                "Pulling",
            );
            if let crate::runtime::ImageProgress::Layer {
                current: Some(current),
                total: Some(total),
                ..
            } = &p
            {
                event.progress = Some((*current, *total));
            }
            event.detail = Some(p.text());
            reporter.event(event);
        };
        if let Err(e) = self.runtime.pull_image(image, platform, None, &sink).await {
            self.progress(
                ResourceKind::Image,
                image,
                Status::Error,
                "Error",
                Some(e.to_string()),
            );
            return Err(EngineError::runtime(
                &format!("pull image {image} for service {service}"),
                e,
            )
            .with_hint(
                "check the image name and that its registry is reachable, or build it locally",
            ));
        }
        self.done(ResourceKind::Image, image, "Pulled", start);
        let info = self
            .runtime
            .inspect_image(image)
            .await
            .map_err(|e| EngineError::runtime(&format!("inspect image {image}"), e))?;
        Ok(info.id)
    }

    /// Writes the service's environment secrets and inline or environment configs into the
    /// created container `container` (see [`specs::injected_files`]).
    pub(crate) async fn inject_files(
        &self,
        ctx: &ProjectContext,
        name: &str,
        service: &ServiceConfig,
        container: &str,
    ) -> Result<(), RuntimeError> {
        let failed = |message: String| RuntimeError::Other {
            operation: format!("write the secrets and configs of service {name}"),
            message,
        };
        let files = convert::injected_files(ctx, service).map_err(failed)?;
        if files.is_empty() {
            return Ok(());
        }
        let tar = convert::injected_tar(&files)
            .map_err(|e| failed(format!("cannot pack the secrets and configs: {e}")))?;
        self.runtime
            .copy_to_container(container, "/", bytes::Bytes::from(tar))
            .await
    }

    /// Builds a service's image as its `build:` section says and returns its id.
    pub async fn build_service(
        &self,
        ctx: &ProjectContext,
        name: &str,
        service: &ServiceConfig,
    ) -> Result<String, EngineError> {
        self.build_service_with(ctx, name, service, &Default::default())
            .await
    }

    /// Runs one task per service; each waits for its dependencies' conditions first.
    async fn converge_services(
        &self,
        ctx: &ProjectContext,
        scope: &[String],
        state: &ProjectState,
        images: &HashMap<String, String>,
        opts: &UpOptions,
    ) -> Result<(), EngineError> {
        let mut senders: HashMap<String, watch::Sender<Phase>> = HashMap::new();
        let mut receivers: HashMap<String, watch::Receiver<Phase>> = HashMap::new();
        for name in scope {
            let (tx, rx) = watch::channel(Phase::Pending);
            senders.insert(name.clone(), tx);
            receivers.insert(name.clone(), rx);
        }
        let receivers = Arc::new(receivers);
        let mut tasks = tokio::task::JoinSet::new();
        for name in scope {
            let Some(tx) = senders.remove(name) else {
                continue;
            };
            let engine = self.clone();
            let ctx = ctx.clone();
            let name = name.clone();
            let existing: Vec<ProjectContainer> = state
                .service_containers(&name)
                .into_iter()
                .cloned()
                .collect();
            let image_id = images.get(&name).cloned();
            let receivers = receivers.clone();
            let opts = opts.clone();
            tasks.spawn(async move {
                let result = engine
                    .converge_service(&ctx, &name, existing, image_id, &receivers, &opts)
                    .await;
                let _ = tx.send(match &result {
                    Ok(names) => Phase::Started(names.clone()),
                    Err(e) => Phase::Failed(e.message.clone()),
                });
                result.map(|_| ())
            });
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let result = joined.unwrap_or_else(|e| {
                Err(EngineError::new(format!(
                    "internal error: a task failed: {e}"
                )))
            });
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn converge_service(
        &self,
        ctx: &ProjectContext,
        name: &str,
        existing: Vec<ProjectContainer>,
        image_id: Option<String>,
        receivers: &HashMap<String, watch::Receiver<Phase>>,
        opts: &UpOptions,
    ) -> Result<Vec<String>, EngineError> {
        let Some(service) = ctx.project.services.get(name) else {
            return Err(EngineError::new(format!("no such service: {name}")));
        };
        // `create` (`--no-start`) starts nothing, so no condition could ever be met; docker
        // compose does not wait for dependencies then either.
        let waits = service.depends_on.0.iter().filter(|_| !opts.no_start);
        for (dep, how) in waits {
            let Some(rx) = receivers.get(dep) else {
                continue;
            };
            if let Err(reason) = self.wait_dependency(dep, &how.condition, rx.clone()).await {
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
        let replicas = opts
            .scale
            .get(name)
            .copied()
            .unwrap_or(service.replicas() as u32);
        let actions = plan_service(
            ctx,
            name,
            service,
            &existing,
            replicas,
            image_id.as_deref(),
            opts.recreate,
        );
        let mut names = Vec::new();
        for action in actions {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| EngineError::new("internal error: semaphore closed"))?;
            match action {
                ContainerAction::Remove { name: container } => {
                    self.remove_container(&container, opts.timeout, false)
                        .await?;
                }
                ContainerAction::Create {
                    number,
                    name: container,
                } => {
                    self.create_container(
                        ctx,
                        name,
                        service,
                        number,
                        image_id.as_deref(),
                        None,
                        opts,
                    )
                    .await?;
                    if !opts.no_start {
                        self.start_container(&container).await?;
                    }
                    names.push(container);
                }
                ContainerAction::Recreate {
                    number,
                    name: container,
                } => {
                    let Some(old) = existing.iter().find(|c| c.name() == container) else {
                        continue;
                    };
                    self.recreate_container(
                        ctx,
                        name,
                        service,
                        number,
                        old,
                        image_id.as_deref(),
                        opts,
                    )
                    .await?;
                    if !opts.no_start {
                        self.start_container(&container).await?;
                    }
                    names.push(container);
                }
                ContainerAction::Start { name: container } => {
                    if !opts.no_start {
                        self.start_container(&container).await?;
                    }
                    names.push(container);
                }
                ContainerAction::Keep { name: container } => {
                    self.progress(
                        ResourceKind::Container,
                        &container,
                        Status::Done,
                        "Running",
                        None,
                    );
                    names.push(container);
                }
            }
        }
        Ok(names)
    }

    /// Waits until `dep` reaches `condition`; `Err` says why it never will.
    async fn wait_dependency(
        &self,
        dep: &str,
        condition: &DependencyCondition,
        mut rx: watch::Receiver<Phase>,
    ) -> Result<(), String> {
        let containers = loop {
            let phase = rx.borrow_and_update().clone();
            match phase {
                Phase::Started(names) => break names,
                Phase::Failed(reason) => return Err(format!("service {dep} failed: {reason}")),
                Phase::Pending => {
                    if rx.changed().await.is_err() {
                        return Err(format!("service {dep} was not started"));
                    }
                }
            }
        };
        match condition {
            DependencyCondition::ServiceStarted => Ok(()),
            DependencyCondition::ServiceHealthy => {
                for c in &containers {
                    self.wait_healthy(c, None).await?;
                }
                Ok(())
            }
            DependencyCondition::ServiceCompletedSuccessfully => {
                for c in &containers {
                    let start = Instant::now();
                    self.progress(ResourceKind::Container, c, Status::Working, "Waiting", None);
                    let code = self
                        .runtime
                        .wait_container(c)
                        .await
                        .map_err(|e| format!("container {c}: {e}"))?;
                    if code != 0 {
                        self.progress(
                            ResourceKind::Container,
                            c,
                            Status::Error,
                            "Error",
                            Some(format!("exited with code {code}")),
                        );
                        return Err(format!(
                            "service \"{dep}\" didn't complete successfully: exit {code}"
                        ));
                    }
                    self.done(ResourceKind::Container, c, "Exited", start);
                }
                Ok(())
            }
        }
    }

    /// Polls a container until it is healthy. Probes fast at first: a container is usually
    /// healthy within its first few checks, and waiting a full interval wastes seconds.
    pub async fn wait_healthy(
        &self,
        container: &str,
        timeout: Option<Duration>,
    ) -> Result<(), String> {
        let start = Instant::now();
        self.progress(
            ResourceKind::Container,
            container,
            Status::Working,
            "Waiting",
            None,
        );
        let mut delay = Duration::from_millis(20);
        loop {
            let info = self
                .runtime
                .inspect_container(container)
                .await
                .map_err(|e| format!("container {container}: {e}"))?;
            match (&info.state.health, info.state.running) {
                // Before health: the engine marks a container that stopped as unhealthy, and
                // "exited (2)" is what the user needs to hear.
                (_, false) if !info.state.restarting => {
                    let code = info.state.exit_code.unwrap_or(-1);
                    self.progress(ResourceKind::Container, container, Status::Error, "Error", Some(format!("exited ({code})")));
                    return Err(format!("container {container} exited ({code})"));
                }
                (Some(h), _) if h.status == HealthStatus::Healthy => break,
                (Some(h), _) if h.status == HealthStatus::Unhealthy => {
                    self.progress(ResourceKind::Container, container, Status::Error, "Error", Some("unhealthy".into()));
                    return Err(format!("container {container} is unhealthy"));
                }
                (None, _) => {
                    return Err(format!(
                        "container {container} has no healthcheck configured, so `condition: service_healthy` can never be met"
                    ))
                }
                _ => {}
            }
            if timeout.is_some_and(|t| start.elapsed() > t) {
                return Err(format!(
                    "container {container} is not healthy after {:?}",
                    start.elapsed()
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
        self.done(ResourceKind::Container, container, "Healthy", start);
        Ok(())
    }

    /// `--wait`: every container of the services running, and healthy where it has a healthcheck.
    async fn wait_ready(
        &self,
        ctx: &ProjectContext,
        scope: &[String],
        timeout: Option<Duration>,
    ) -> Result<(), EngineError> {
        let state = ProjectState::observe(self.runtime.as_ref(), ctx.name()).await?;
        for service in scope {
            for c in state.service_containers(service) {
                let info = self
                    .runtime
                    .inspect_container(c.name())
                    .await
                    .map_err(|e| {
                        EngineError::runtime(&format!("inspect container {}", c.name()), e)
                    })?;
                if info.state.health.is_some() {
                    self.wait_healthy(c.name(), timeout)
                        .await
                        .map_err(EngineError::new)?;
                } else if !info.state.running {
                    return Err(EngineError::new(format!(
                        "container {} exited ({})",
                        c.name(),
                        info.state.exit_code.unwrap_or(-1)
                    )));
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_container(
        &self,
        ctx: &ProjectContext,
        name: &str,
        service: &ServiceConfig,
        number: u32,
        image_id: Option<&str>,
        previous_anonymous: Option<&HashMap<String, String>>,
        opts: &UpOptions,
    ) -> Result<String, EngineError> {
        let mut spec = convert::container_spec_for(ctx, name, service, number, None)
            .map_err(|e| EngineError::new(format!("service {name}: {e}")))?;
        if let Some(id) = image_id {
            spec.labels
                .insert(labels::IMAGE.to_string(), id.to_string());
        }
        if let (Some(previous), false) = (previous_anonymous, opts.renew_anon_volumes) {
            reuse_anonymous_volumes(&mut spec, previous);
        }
        let start = Instant::now();
        let verb = if previous_anonymous.is_some() {
            "Recreate"
        } else {
            "Creating"
        };
        self.progress(
            ResourceKind::Container,
            &spec.name,
            Status::Working,
            verb,
            None,
        );
        let created = match self.runtime.create_container(&spec).await {
            Ok(id) => match self.inject_files(ctx, name, service, &spec.name).await {
                Ok(()) => Ok(id),
                Err(e) => {
                    // A container without its secrets must not be kept as up to date.
                    let _ = self.runtime.remove_container(&spec.name, true, true).await;
                    Err(e)
                }
            },
            Err(e) => Err(e),
        };
        match created {
            Ok(id) => {
                let done = if previous_anonymous.is_some() {
                    "Recreated"
                } else {
                    "Created"
                };
                self.done(ResourceKind::Container, &spec.name, done, start);
                Ok(id)
            }
            Err(e) => {
                self.progress(
                    ResourceKind::Container,
                    &spec.name,
                    Status::Error,
                    "Error",
                    Some(e.to_string()),
                );
                let hint = match &e {
                    RuntimeError::Conflict { .. } => {
                        // Say what holds the name: the user must decide whether it may go.
                        let holder = match self.runtime.inspect_container(&spec.name).await {
                            Ok(other) => {
                                let id = other.id.get(..12).unwrap_or(&other.id);
                                match other.labels.get(labels::PROJECT) {
                                    Some(p) => format!("container {id} of project {p}"),
                                    None => {
                                        format!("container {id}, not part of any compose project")
                                    }
                                }
                            }
                            Err(_) => "another container".to_string(),
                        };
                        Some(format!(
                            "the name {} of service {name} is taken by {holder}: remove or rename that container, or change container_name",
                            spec.name
                        ))
                    }
                    _ => None,
                };
                let mut err = EngineError::runtime(&format!("create container {}", spec.name), e);
                if let Some(h) = hint {
                    err = err.with_hint(h);
                }
                Err(err)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn recreate_container(
        &self,
        ctx: &ProjectContext,
        name: &str,
        service: &ServiceConfig,
        number: u32,
        old: &ProjectContainer,
        image_id: Option<&str>,
        opts: &UpOptions,
    ) -> Result<(), EngineError> {
        // Anonymous volumes carry over to the new container (unless -V), as docker compose does.
        let info = self
            .runtime
            .inspect_container(old.name())
            .await
            .map_err(|e| EngineError::runtime(&format!("inspect container {}", old.name()), e))?;
        let anonymous: HashMap<String, String> = info
            .mounts
            .iter()
            .filter(|m| {
                m.kind == "volume" && m.name.as_deref().is_some_and(is_anonymous_volume_name)
            })
            .filter_map(|m| Some((m.destination.clone(), m.name.clone()?)))
            .collect();
        let timeout = opts
            .timeout
            .or_else(|| service.stop_grace_period.as_ref().map(|d| d.to_std()));
        self.runtime
            .stop_container(old.name(), timeout)
            .await
            .map_err(|e| EngineError::runtime(&format!("stop container {}", old.name()), e))?;
        self.runtime
            .remove_container(old.name(), true, false)
            .await
            .map_err(|e| EngineError::runtime(&format!("remove container {}", old.name()), e))?;
        self.create_container(ctx, name, service, number, image_id, Some(&anonymous), opts)
            .await?;
        Ok(())
    }

    pub async fn start_container(&self, name: &str) -> Result<(), EngineError> {
        self.tracked(
            name,
            "Starting",
            "Started",
            "start",
            self.runtime.start_container(name),
        )
        .await
    }

    /// Stops (with `timeout`) and removes a container; `volumes` also removes its anonymous volumes.
    pub async fn remove_container(
        &self,
        name: &str,
        timeout: Option<Duration>,
        volumes: bool,
    ) -> Result<(), EngineError> {
        let start = Instant::now();
        // Without a grace period a stop is a kill, which the forced removal does itself:
        // one engine call instead of two, and the engine overlaps the containers' teardowns.
        if timeout != Some(Duration::ZERO) {
            self.progress(
                ResourceKind::Container,
                name,
                Status::Working,
                "Stopping",
                None,
            );
            match self.runtime.stop_container(name, timeout).await {
                Ok(()) | Err(RuntimeError::NotFound { .. }) => {}
                Err(e) => return Err(EngineError::runtime(&format!("stop container {name}"), e)),
            }
        }
        self.progress(
            ResourceKind::Container,
            name,
            Status::Working,
            "Removing",
            None,
        );
        match self.runtime.remove_container(name, true, volumes).await {
            Ok(()) | Err(RuntimeError::NotFound { .. }) => {}
            Err(e) => return Err(EngineError::runtime(&format!("remove container {name}"), e)),
        }
        self.done(ResourceKind::Container, name, "Removed", start);
        Ok(())
    }
}

/// The project networks `scope` services join: (key, engine name), in first-use order.
pub fn networks_used<'a>(ctx: &'a ProjectContext, scope: &[String]) -> Vec<(&'a str, String)> {
    let mut used: Vec<(&str, String)> = Vec::new();
    for service in scope.iter().filter_map(|s| ctx.project.services.get(s)) {
        for key in service.networks.keys() {
            if let Some((key, network)) = ctx.project.networks.get_key_value(key) {
                if !used.iter().any(|(k, _)| *k == key) {
                    let name = network
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{}_{key}", ctx.name()));
                    used.push((key.as_str(), name));
                }
            }
        }
    }
    used
}

/// The named volumes `scope` services mount: (key, engine name), in first-use order.
pub fn volumes_used<'a>(ctx: &'a ProjectContext, scope: &[String]) -> Vec<(&'a str, String)> {
    let mut used: Vec<(&str, String)> = Vec::new();
    for service in scope.iter().filter_map(|s| ctx.project.services.get(s)) {
        for v in service
            .volumes
            .iter()
            .filter(|v| v.kind == VolumeType::Volume)
        {
            let Some((key, volume)) = v
                .source
                .as_deref()
                .and_then(|s| ctx.project.volumes.get_key_value(s))
            else {
                continue;
            };
            if !used.iter().any(|(k, _)| *k == key) {
                let name = volume
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{}_{key}", ctx.name()));
                used.push((key.as_str(), name));
            }
        }
    }
    used
}

/// What converging one service does to one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerAction {
    /// A new replica `number`.
    Create { number: u32, name: String },
    /// Configuration or image changed (or `--force-recreate`): replace the container.
    Recreate { number: u32, name: String },
    /// Unchanged but stopped.
    Start { name: String },
    /// Unchanged and running.
    Keep { name: String },
    /// Scaled away, or a duplicate of a replica number.
    Remove { name: String },
}

/// The actions that bring `existing` containers of service `name` to `replicas` up-to-date
/// replicas, removals first. Pure, so it is testable without a runtime.
pub fn plan_service(
    ctx: &ProjectContext,
    name: &str,
    service: &ServiceConfig,
    existing: &[ProjectContainer],
    replicas: u32,
    image_id: Option<&str>,
    recreate: Recreate,
) -> Vec<ContainerAction> {
    let hash = service.config_hash();
    let mut by_number: BTreeMap<u32, Vec<&ProjectContainer>> = BTreeMap::new();
    for c in existing {
        by_number.entry(c.number).or_default().push(c);
    }
    let mut actions = Vec::new();
    // Highest numbers go first when scaling down; duplicates of one number keep the newest.
    for (number, containers) in by_number.iter_mut().rev() {
        containers.sort_by_key(|c| std::cmp::Reverse(c.summary.created));
        let keep = usize::from(*number >= 1 && *number <= replicas);
        for extra in containers.drain(keep..) {
            actions.push(ContainerAction::Remove {
                name: extra.name().to_string(),
            });
        }
    }
    for number in 1..=replicas {
        let action = match by_number.get(&number).and_then(|v| v.first()) {
            None => ContainerAction::Create {
                number,
                name: convert::container_name(ctx, name, service, number),
            },
            Some(c) => {
                let diverged = c.label(labels::CONFIG_HASH) != Some(hash.as_str())
                    || image_id.is_some_and(|id| c.label(labels::IMAGE) != Some(id));
                let replace = match recreate {
                    Recreate::Force => true,
                    Recreate::Never => false,
                    Recreate::Diverged => diverged,
                };
                let name = c.name().to_string();
                if replace {
                    ContainerAction::Recreate { number, name }
                } else if c.summary.status == ContainerStatus::Running {
                    ContainerAction::Keep { name }
                } else {
                    ContainerAction::Start { name }
                }
            }
        };
        actions.push(action);
    }
    actions
}

/// Docker names anonymous volumes with 64 hex digits.
fn is_anonymous_volume_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Points the spec's anonymous volumes at the previous container's, by target path.
fn reuse_anonymous_volumes(spec: &mut ContainerSpec, previous: &HashMap<String, String>) {
    for mount in &mut spec.mounts {
        if let MountSource::Volume { name, .. } = &mut mount.source {
            if name.is_none() {
                if let Some(old) = previous.get(&mount.target) {
                    *name = Some(old.clone());
                }
            }
        }
    }
}
