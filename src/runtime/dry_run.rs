//! `--dry-run`: a [`Runtime`] decorator that lets every command run its normal code path
//! without changing anything, as docker compose's `DryRunClient` does.
//!
//! Reads (ping, info, inspect, list, logs, top, events) go to the real runtime. Mutating
//! calls change nothing and succeed the way the real call would, and an in-memory overlay
//! remembers what was pretended (containers created, started, stopped, removed; networks,
//! volumes and images created or removed), so the later steps of the same command see it:
//! a container "created" is listed, inspected, started and waited for; one "removed" is
//! gone; a started container with a healthcheck reports healthy (it never runs, so no probe
//! could say otherwise), and waiting for one returns exit code 0.
//!
//! What cannot be pretended fails loudly instead of faking output: attaching to a
//! container's stdio and exec report that they are not available in dry-run mode.
//! Pulls and pushes do not contact the registry (the trait has no registry lookup), so a
//! dry-run pull of an image that does not exist anywhere still succeeds.
//!
//! Not for: printing (the UI prefixes progress in dry-run mode), nor persisting anything:
//! the overlay lives as long as the command.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    AttachOptions, AttachedIo, BoxStream, BuildSpec, ContainerInfo, ContainerListOptions,
    ContainerSpec, ContainerState, ContainerStatus, ContainerSummary, EventFilter, ExecSession,
    ExecSpec, HealthState, HealthStatus, ImageInfo, ImageSummary, LabelFilter, LogOptions,
    NetworkAttachment, NetworkEndpoint, NetworkInfo, NetworkSpec, ObjectKind, OutputChunk,
    ProcessList, ProgressSink, PruneReport, RegistryAuth, Result, Runtime, RuntimeError,
    RuntimeEvent, RuntimeInfo, SystemInfo, TtySize, VolumeInfo, VolumeSpec,
};

/// Wraps a real runtime; see the module docs.
pub struct DryRunRuntime {
    inner: Arc<dyn Runtime>,
    overlay: Mutex<Overlay>,
}

/// A container this command pretended to create.
#[derive(Clone)]
struct Pretended {
    spec: ContainerSpec,
    status: ContainerStatus,
    created: i64,
}

/// Everything pretended so far. Real objects are keyed by name (containers: without `/`).
#[derive(Default)]
struct Overlay {
    created: BTreeMap<String, Pretended>,
    /// Real containers whose status was pretended to change.
    status: HashMap<String, ContainerStatus>,
    /// Real containers pretended removed.
    removed: HashSet<String>,
    networks: BTreeMap<String, NetworkInfo>,
    removed_networks: HashSet<String>,
    volumes: BTreeMap<String, VolumeInfo>,
    removed_volumes: HashSet<String>,
    /// Images pretended pulled, built or tagged, by every reference they answer to.
    images: BTreeMap<String, ImageInfo>,
    /// References and ids of real images pretended removed.
    removed_images: HashSet<String>,
}

/// The forms of an image reference the engine may use for the same image.
fn image_keys(reference: &str) -> Vec<String> {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if reference.contains('@') || last.contains(':') || reference.starts_with("sha256:") {
        vec![reference.to_string()]
    } else {
        vec![reference.to_string(), format!("{reference}:latest")]
    }
}

fn unavailable(operation: String, what: &str) -> RuntimeError {
    RuntimeError::Other {
        operation,
        message: format!(
            "{what} is not supported in dry-run mode; run the command without --dry-run"
        ),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn container_not_found(name: &str) -> RuntimeError {
    RuntimeError::NotFound {
        kind: ObjectKind::Container,
        name: name.to_string(),
    }
}

/// A running container with a healthcheck is reported healthy: it never really runs, so
/// nothing could make it unhealthy, and `--wait` or `service_healthy` must not hang.
fn pretend_state(status: &ContainerStatus, has_healthcheck: bool) -> ContainerState {
    let running = matches!(status, ContainerStatus::Running | ContainerStatus::Paused);
    ContainerState {
        status: status.clone(),
        running,
        paused: *status == ContainerStatus::Paused,
        restarting: false,
        oom_killed: false,
        pid: None,
        exit_code: (*status == ContainerStatus::Exited).then_some(0),
        error: None,
        started_at: None,
        finished_at: None,
        health: (has_healthcheck && running).then(|| HealthState {
            status: HealthStatus::Healthy,
            failing_streak: 0,
            log: Vec::new(),
        }),
    }
}

fn status_text(status: &ContainerStatus) -> String {
    match status {
        ContainerStatus::Running => "Up (dry-run)".to_string(),
        ContainerStatus::Paused => "Up (Paused, dry-run)".to_string(),
        ContainerStatus::Exited => "Exited (0) (dry-run)".to_string(),
        other => format!("{} (dry-run)", capitalize(other.as_str())),
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The status a signal leaves a container in: the ones that end a process by default
/// stop it; others (HUP, USR1...) leave it as it is.
fn status_after_signal(signal: &str) -> Option<ContainerStatus> {
    match super::signal_number(signal) {
        Some(2 | 3 | 9 | 15) => Some(ContainerStatus::Exited),
        _ => None,
    }
}

impl Pretended {
    fn has_healthcheck(&self) -> bool {
        self.spec
            .healthcheck
            .as_ref()
            .is_some_and(|h| h.test.first().map(String::as_str) != Some("NONE"))
    }

    fn summary(&self) -> ContainerSummary {
        let mut command: Vec<String> = self.spec.entrypoint.clone().unwrap_or_default();
        command.extend(self.spec.cmd.clone().unwrap_or_default());
        ContainerSummary {
            id: self.spec.name.clone(),
            name: self.spec.name.clone(),
            image: self.spec.image.clone(),
            // Never resolved: the runtime does not know which id the engine meant.
            image_id: String::new(),
            command: command.join(" "),
            labels: self.spec.labels.clone(),
            status: self.status.clone(),
            status_text: status_text(&self.status),
            created: self.created,
            ports: Vec::new(),
        }
    }

    fn info(&self) -> ContainerInfo {
        let summary = self.summary();
        ContainerInfo {
            id: summary.id,
            name: summary.name,
            image: summary.image,
            image_id: summary.image_id,
            created: None,
            labels: summary.labels,
            state: pretend_state(&self.status, self.has_healthcheck()),
            restart_count: 0,
            ports: Vec::new(),
            mounts: Vec::new(),
            networks: self
                .spec
                .networks
                .iter()
                .map(|n| {
                    (
                        n.network.clone(),
                        NetworkEndpoint {
                            network_id: n.network.clone(),
                            ip_address: None,
                            aliases: n.aliases.clone(),
                        },
                    )
                })
                .collect(),
            cmd: self.spec.cmd.clone().unwrap_or_default(),
            entrypoint: self.spec.entrypoint.clone().unwrap_or_default(),
            env: self.spec.env.clone(),
            tty: self.spec.tty,
            stdin_open: self.spec.stdin_open,
            working_dir: self.spec.working_dir.clone(),
            user: self.spec.user.clone(),
        }
    }
}

/// Which container a name or id refers to.
enum Target {
    /// Pretended by this command: its name.
    Pretended(String),
    /// A real container (not pretended removed): its name, and its real state.
    Real(String, Box<ContainerInfo>),
}

impl DryRunRuntime {
    pub fn new(inner: Arc<dyn Runtime>) -> Self {
        DryRunRuntime {
            inner,
            overlay: Mutex::new(Overlay::default()),
        }
    }

    fn overlay(&self) -> MutexGuard<'_, Overlay> {
        // The overlay is plain data: a panic elsewhere leaves it consistent enough to read.
        self.overlay.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves `name` (name or id) through the overlay, then the real runtime.
    async fn target(&self, name: &str) -> Result<Target> {
        let bare = name.trim_start_matches('/');
        if self.overlay().created.contains_key(bare) {
            return Ok(Target::Pretended(bare.to_string()));
        }
        let info = self.inner.inspect_container(name).await?;
        let real = info.name.trim_start_matches('/').to_string();
        if self.overlay().removed.contains(&real) {
            return Err(container_not_found(name));
        }
        Ok(Target::Real(real, Box::new(info)))
    }

    /// The status of `target` as this command sees it.
    fn status_of(&self, target: &Target) -> ContainerStatus {
        let overlay = self.overlay();
        match target {
            Target::Pretended(name) => overlay
                .created
                .get(name)
                .map_or(ContainerStatus::Dead, |p| p.status.clone()),
            Target::Real(name, info) => overlay
                .status
                .get(name)
                .cloned()
                .unwrap_or_else(|| info.state.status.clone()),
        }
    }

    fn set_status(&self, target: &Target, status: ContainerStatus) {
        let mut overlay = self.overlay();
        match target {
            Target::Pretended(name) => {
                if let Some(p) = overlay.created.get_mut(name) {
                    p.status = status;
                }
            }
            Target::Real(name, _) => {
                overlay.status.insert(name.clone(), status);
            }
        }
    }

    /// Pretends a state change of an existing container.
    async fn change(&self, name: &str, status: ContainerStatus) -> Result<()> {
        let target = self.target(name).await?;
        self.set_status(&target, status);
        Ok(())
    }

    fn remember_image(&self, references: &[String], info: &ImageInfo) {
        let mut overlay = self.overlay();
        for reference in references {
            for key in image_keys(reference) {
                overlay.removed_images.remove(&key);
                overlay.images.insert(key, info.clone());
            }
        }
    }

    /// A made-up image id: stable per reference, so the same dry run names it consistently.
    fn pretend_image_id(reference: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("hoist dry-run {reference}").as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

#[async_trait]
impl Runtime for DryRunRuntime {
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn info(&self) -> Result<RuntimeInfo> {
        self.inner.info().await
    }

    // -- networks --

    async fn create_network(&self, spec: &NetworkSpec) -> Result<String> {
        if self.inspect_network(&spec.name).await.is_ok() {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Network,
                name: spec.name.clone(),
                message: "a network with this name exists already".to_string(),
            });
        }
        let info = NetworkInfo {
            id: spec.name.clone(),
            name: spec.name.clone(),
            driver: spec.driver.clone().unwrap_or_else(|| "bridge".to_string()),
            labels: spec.labels.clone(),
            internal: spec.internal,
            enable_ipv6: spec.enable_ipv6,
            subnets: Vec::new(),
            containers: Vec::new(),
        };
        let mut overlay = self.overlay();
        overlay.removed_networks.remove(&spec.name);
        overlay.networks.insert(spec.name.clone(), info);
        Ok(spec.name.clone())
    }

    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo> {
        if let Some(info) = self.overlay().networks.get(name) {
            return Ok(info.clone());
        }
        let info = self.inner.inspect_network(name).await?;
        let overlay = self.overlay();
        if overlay.removed_networks.contains(&info.name) {
            return Err(RuntimeError::NotFound {
                kind: ObjectKind::Network,
                name: name.to_string(),
            });
        }
        Ok(info)
    }

    async fn list_networks(&self, labels: &[LabelFilter]) -> Result<Vec<NetworkInfo>> {
        let mut networks = self.inner.list_networks(labels).await?;
        let overlay = self.overlay();
        networks.retain(|n| !overlay.removed_networks.contains(&n.name));
        networks.extend(
            overlay
                .networks
                .values()
                .filter(|n| labels.iter().all(|l| l.matches(&n.labels)))
                .cloned(),
        );
        Ok(networks)
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        if self.overlay().networks.remove(name).is_some() {
            return Ok(());
        }
        let info = self.inspect_network(name).await?;
        self.overlay().removed_networks.insert(info.name);
        Ok(())
    }

    async fn connect_network(&self, container: &str, attachment: &NetworkAttachment) -> Result<()> {
        self.target(container).await?;
        self.inspect_network(&attachment.network).await?;
        Ok(())
    }

    async fn disconnect_network(&self, container: &str, network: &str, _force: bool) -> Result<()> {
        self.target(container).await?;
        self.inspect_network(network).await?;
        Ok(())
    }

    // -- volumes --

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo> {
        // Docker answers an existing volume of that name with the volume itself.
        if let Ok(existing) = self.inspect_volume(&spec.name).await {
            return Ok(existing);
        }
        let info = VolumeInfo {
            name: spec.name.clone(),
            driver: spec.driver.clone().unwrap_or_else(|| "local".to_string()),
            mountpoint: String::new(),
            labels: spec.labels.clone(),
            options: spec.driver_opts.clone(),
            created_at: None,
        };
        let mut overlay = self.overlay();
        overlay.removed_volumes.remove(&spec.name);
        overlay.volumes.insert(spec.name.clone(), info.clone());
        Ok(info)
    }

    async fn inspect_volume(&self, name: &str) -> Result<VolumeInfo> {
        if let Some(info) = self.overlay().volumes.get(name) {
            return Ok(info.clone());
        }
        if self.overlay().removed_volumes.contains(name) {
            return Err(RuntimeError::NotFound {
                kind: ObjectKind::Volume,
                name: name.to_string(),
            });
        }
        self.inner.inspect_volume(name).await
    }

    async fn list_volumes(&self, labels: &[LabelFilter]) -> Result<Vec<VolumeInfo>> {
        let mut volumes = self.inner.list_volumes(labels).await?;
        let overlay = self.overlay();
        volumes.retain(|v| !overlay.removed_volumes.contains(&v.name));
        volumes.extend(
            overlay
                .volumes
                .values()
                .filter(|v| labels.iter().all(|l| l.matches(&v.labels)))
                .cloned(),
        );
        Ok(volumes)
    }

    async fn remove_volume(&self, name: &str, _force: bool) -> Result<()> {
        if self.overlay().volumes.remove(name).is_some() {
            return Ok(());
        }
        let info = self.inspect_volume(name).await?;
        self.overlay().removed_volumes.insert(info.name);
        Ok(())
    }

    // -- images --

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo> {
        {
            let overlay = self.overlay();
            if let Some(info) = image_keys(reference)
                .iter()
                .find_map(|k| overlay.images.get(k))
            {
                return Ok(info.clone());
            }
            if image_keys(reference)
                .iter()
                .any(|k| overlay.removed_images.contains(k))
            {
                return Err(RuntimeError::NotFound {
                    kind: ObjectKind::Image,
                    name: reference.to_string(),
                });
            }
        }
        let info = self.inner.inspect_image(reference).await?;
        if self.overlay().removed_images.contains(&info.id) {
            return Err(RuntimeError::NotFound {
                kind: ObjectKind::Image,
                name: reference.to_string(),
            });
        }
        Ok(info)
    }

    async fn list_images(&self, labels: &[LabelFilter]) -> Result<Vec<ImageSummary>> {
        let mut images = self.inner.list_images(labels).await?;
        let overlay = self.overlay();
        images.retain(|i| !overlay.removed_images.contains(&i.id));
        let mut seen = HashSet::new();
        for info in overlay.images.values() {
            if seen.insert(info.id.clone())
                && labels.iter().all(|l| l.matches(&info.config.labels))
                && !images.iter().any(|i| i.id == info.id)
            {
                images.push(ImageSummary {
                    id: info.id.clone(),
                    repo_tags: info.repo_tags.clone(),
                    labels: info.config.labels.clone(),
                    created: now_secs(),
                    size: 0,
                });
            }
        }
        Ok(images)
    }

    async fn pull_image(
        &self,
        reference: &str,
        _platform: Option<&str>,
        _auth: Option<&RegistryAuth>,
        _progress: ProgressSink<'_>,
    ) -> Result<()> {
        // An image already present stays what inspect reports; a missing one is pretended.
        if self.inspect_image(reference).await.is_err() {
            let info = ImageInfo {
                id: Self::pretend_image_id(reference),
                repo_tags: vec![reference.to_string()],
                ..ImageInfo::default()
            };
            self.remember_image(&[reference.to_string()], &info);
        }
        Ok(())
    }

    async fn build_image(&self, spec: &BuildSpec, _progress: ProgressSink<'_>) -> Result<String> {
        let primary = spec.tags.first().cloned().unwrap_or_default();
        let info = ImageInfo {
            id: Self::pretend_image_id(&primary),
            repo_tags: spec.tags.clone(),
            config: super::ImageConfig {
                labels: spec.labels.clone(),
                ..super::ImageConfig::default()
            },
            ..ImageInfo::default()
        };
        self.remember_image(&spec.tags, &info);
        Ok(info.id)
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<()> {
        let mut info = self.inspect_image(source).await?;
        info.repo_tags.push(target.to_string());
        self.remember_image(&[target.to_string()], &info);
        Ok(())
    }

    async fn push_image(
        &self,
        reference: &str,
        _auth: Option<&RegistryAuth>,
        _progress: ProgressSink<'_>,
    ) -> Result<()> {
        // The real push fails on an image that is not there; so does the pretended one.
        self.inspect_image(reference).await.map(|_| ())
    }

    async fn remove_image(&self, reference: &str, _force: bool) -> Result<()> {
        let info = self.inspect_image(reference).await?;
        let mut overlay = self.overlay();
        for key in image_keys(reference) {
            overlay.images.remove(&key);
            overlay.removed_images.insert(key);
        }
        overlay.removed_images.insert(info.id);
        Ok(())
    }

    async fn prune_images(
        &self,
        _all: bool,
        _filters: &crate::runtime::ImagePruneFilters,
    ) -> Result<PruneReport> {
        Err(unavailable("prune images".to_string(), "image prune"))
    }

    async fn save_images(&self, references: &[String], path: &std::path::Path) -> Result<()> {
        // Writes a local file only: the runtime is not changed.
        self.inner.save_images(references, path).await
    }

    async fn load_images(&self, path: &std::path::Path) -> Result<Vec<String>> {
        Err(unavailable(
            format!("load {}", path.display()),
            "image load",
        ))
    }

    async fn prune_build_cache(&self, _all: bool) -> Result<PruneReport> {
        Err(unavailable(
            "prune build cache".to_string(),
            "builder prune",
        ))
    }

    async fn system_info(&self) -> Result<SystemInfo> {
        self.inner.system_info().await
    }

    // -- containers: lifecycle --

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        if self.target(&spec.name).await.is_ok() {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: spec.name.clone(),
                message: "the container name is already in use".to_string(),
            });
        }
        let mut overlay = self.overlay();
        overlay.removed.remove(&spec.name);
        overlay.status.remove(&spec.name);
        overlay.created.insert(
            spec.name.clone(),
            Pretended {
                spec: spec.clone(),
                status: ContainerStatus::Created,
                created: now_secs(),
            },
        );
        Ok(spec.name.clone())
    }

    async fn start_container(&self, name: &str) -> Result<()> {
        self.change(name, ContainerStatus::Running).await
    }

    async fn stop_container(&self, name: &str, _timeout: Option<Duration>) -> Result<()> {
        let target = self.target(name).await?;
        if matches!(
            self.status_of(&target),
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        ) {
            self.set_status(&target, ContainerStatus::Exited);
        }
        Ok(())
    }

    async fn kill_container(&self, name: &str, signal: &str) -> Result<()> {
        let target = self.target(name).await?;
        if self.status_of(&target) != ContainerStatus::Running {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: name.to_string(),
                message: "container is not running".to_string(),
            });
        }
        if let Some(status) = status_after_signal(signal) {
            self.set_status(&target, status);
        }
        Ok(())
    }

    async fn restart_container(&self, name: &str, _timeout: Option<Duration>) -> Result<()> {
        self.change(name, ContainerStatus::Running).await
    }

    async fn remove_container(&self, name: &str, force: bool, _volumes: bool) -> Result<()> {
        let target = self.target(name).await?;
        if !force && self.status_of(&target) == ContainerStatus::Running {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: name.to_string(),
                message: "cannot remove a running container; stop it first or force it".to_string(),
            });
        }
        let mut overlay = self.overlay();
        match target {
            Target::Pretended(name) => {
                overlay.created.remove(&name);
            }
            Target::Real(name, _) => {
                overlay.status.remove(&name);
                overlay.removed.insert(name);
            }
        }
        Ok(())
    }

    async fn wait_container(&self, name: &str) -> Result<i64> {
        let target = self.target(name).await?;
        let touched = match &target {
            Target::Pretended(_) => true,
            Target::Real(name, _) => self.overlay().status.contains_key(name),
        };
        if !touched {
            // Nothing pretended about it: waiting is a plain read of the real container.
            return self.inner.wait_container(name).await;
        }
        // A pretended container never runs: it "exits" at once, successfully.
        self.set_status(&target, ContainerStatus::Exited);
        Ok(0)
    }

    async fn pause_container(&self, name: &str) -> Result<()> {
        let target = self.target(name).await?;
        if self.status_of(&target) != ContainerStatus::Running {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: name.to_string(),
                message: "container is not running".to_string(),
            });
        }
        self.set_status(&target, ContainerStatus::Paused);
        Ok(())
    }

    async fn unpause_container(&self, name: &str) -> Result<()> {
        let target = self.target(name).await?;
        if self.status_of(&target) != ContainerStatus::Paused {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: name.to_string(),
                message: "container is not paused".to_string(),
            });
        }
        self.set_status(&target, ContainerStatus::Running);
        Ok(())
    }

    // -- containers: observation --

    async fn inspect_container(&self, name: &str) -> Result<ContainerInfo> {
        match self.target(name).await? {
            Target::Pretended(name) => self
                .overlay()
                .created
                .get(&name)
                .map(Pretended::info)
                .ok_or_else(|| container_not_found(&name)),
            Target::Real(name, mut info) => {
                if let Some(status) = self.overlay().status.get(&name) {
                    let had_health = info.state.health.is_some();
                    let mut state = pretend_state(status, had_health);
                    if !state.running {
                        state.health = info.state.health.take();
                    }
                    info.state = state;
                }
                Ok(*info)
            }
        }
    }

    async fn list_containers(
        &self,
        options: &ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>> {
        // All of them: a container pretended started must be listed even when it is not
        // really running; `options.all` is applied below on the pretended status.
        let everything = ContainerListOptions {
            all: true,
            labels: options.labels.clone(),
        };
        let real = self.inner.list_containers(&everything).await?;
        let overlay = self.overlay();
        let mut out: Vec<ContainerSummary> = real
            .into_iter()
            .filter(|c| {
                let name = c.name.trim_start_matches('/');
                !overlay.removed.contains(name) && !overlay.created.contains_key(name)
            })
            .map(|mut c| {
                if let Some(status) = overlay.status.get(c.name.trim_start_matches('/')) {
                    c.status_text = status_text(status);
                    c.status = status.clone();
                }
                c
            })
            .collect();
        out.extend(
            overlay
                .created
                .values()
                .filter(|p| options.labels.iter().all(|l| l.matches(&p.spec.labels)))
                .map(Pretended::summary),
        );
        if !options.all {
            out.retain(|c| c.status == ContainerStatus::Running);
        }
        Ok(out)
    }

    async fn logs(
        &self,
        name: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<OutputChunk>>> {
        match self.target(name).await? {
            // It never ran: it has no output.
            Target::Pretended(_) => Ok(Box::pin(futures_util::stream::empty())),
            Target::Real(..) => self.inner.logs(name, options).await,
        }
    }

    async fn top(&self, name: &str, ps_args: Option<&str>) -> Result<ProcessList> {
        match self.target(name).await? {
            Target::Pretended(_) => Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: name.to_string(),
                message: "created in dry-run mode, it runs no processes".to_string(),
            }),
            Target::Real(..) => self.inner.top(name, ps_args).await,
        }
    }

    async fn events(
        &self,
        filter: &EventFilter,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        self.inner.events(filter).await
    }

    // -- containers: I/O --

    async fn attach_container(&self, name: &str, _options: &AttachOptions) -> Result<AttachedIo> {
        Err(unavailable(
            format!("attach to container {name}"),
            "interactive attach",
        ))
    }

    async fn resize_container_tty(&self, name: &str, _size: TtySize) -> Result<()> {
        self.target(name).await.map(|_| ())
    }

    async fn exec(&self, container: &str, spec: &ExecSpec) -> Result<ExecSession> {
        self.target(container).await?;
        Err(unavailable(
            format!("exec {:?} in container {container}", spec.cmd.join(" ")),
            "exec",
        ))
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>> {
        // No exec ever starts in dry-run mode.
        Err(RuntimeError::NotFound {
            kind: ObjectKind::Exec,
            name: exec_id.to_string(),
        })
    }

    async fn resize_exec(&self, exec_id: &str, _size: TtySize) -> Result<()> {
        Err(RuntimeError::NotFound {
            kind: ObjectKind::Exec,
            name: exec_id.to_string(),
        })
    }

    async fn copy_to_container(&self, name: &str, _path: &str, _tar: Bytes) -> Result<()> {
        self.target(name).await.map(|_| ())
    }

    async fn copy_from_container(&self, name: &str, path: &str) -> Result<Bytes> {
        // Reading changes nothing; the CLI does not write what it read in dry-run mode.
        match self.target(name).await? {
            Target::Pretended(_) => Err(RuntimeError::NotFound {
                kind: ObjectKind::Container,
                name: format!("{name}:{path} (created in dry-run mode, it has no files)"),
            }),
            Target::Real(..) => self.inner.copy_from_container(name, path).await,
        }
    }
}
