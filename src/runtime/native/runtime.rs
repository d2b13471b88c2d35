//! [`NativeRuntime`]: the [`Runtime`] trait on the bundled runtime. Blocking work (the state
//! database, mounts, files) runs on tokio's blocking threads through [`blocking`]; container
//! processes belong to their monitors (see [`super::monitor`]).
//!
//! Not for: networking (networks are recorded only; the `net` module wires them), nor the
//! operations not built yet (attach with a TTY, exec, cp, top, pause, past events, build,
//! push),
//! which answer [`RuntimeError::Unsupported`] rather than pretending.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::containers::{self, familiar, find_image, unsupported};
use super::logs::{self, From};
use super::oci::Platform;
use super::reference::Reference;
use super::registry::{RegistryClient, RegistryConfig};
use super::state::{
    self, ContainerRecord, NetworkRecord, RunState, VolumeRecord, CONTAINERS, NETWORKS, VOLUMES,
};
use super::store::{self, ImageStore};
use crate::runtime::{
    AttachOptions, AttachedIo, BoxStream, BuildSpec, ContainerInfo, ContainerListOptions,
    ContainerSpec, ContainerState, ContainerStatus, ContainerSummary, EventFilter, ExecSession,
    ExecSpec, ImageConfig, ImageInfo, ImageSummary, LabelFilter, LogOptions, MountInfo,
    NetworkAttachment, NetworkEndpoint, NetworkInfo, NetworkSpec, ObjectKind, OutputChunk,
    ProcessList, ProgressSink, RegistryAuth, Result, RuntimeError, RuntimeEvent, RuntimeInfo,
    StdinWriter, TtySize, VolumeInfo, VolumeSpec,
};

/// The bundled runtime over one data root.
#[derive(Debug, Clone)]
pub struct NativeRuntime {
    root: Arc<PathBuf>,
}

/// Runs blocking `f` off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RuntimeError::Other {
            operation: "native runtime".to_string(),
            message: format!("a blocking task failed: {e}"),
        })?
}

fn status_of(run: &RunState) -> ContainerStatus {
    ContainerStatus::parse(&run.status)
}

fn ago(rfc3339: Option<&str>) -> String {
    let Some(t) = rfc3339.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) else {
        return "less than a second".to_string();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
    match secs {
        s if s < 1 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".to_string(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".to_string(),
        s => format!("{} hours", s / 3600),
    }
}

/// `docker ps`'s STATUS text.
fn status_text(run: &RunState) -> String {
    match run.status.as_str() {
        "running" => format!("Up {}", ago(run.started_at.as_deref())),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            run.exit_code.unwrap_or(0),
            ago(run.finished_at.as_deref())
        ),
        "exited" => format!(
            "Exited ({}) {} ago",
            run.exit_code.unwrap_or(0),
            ago(run.finished_at.as_deref())
        ),
        _ => "Created".to_string(),
    }
}

fn command_line(r: &ContainerRecord) -> String {
    r.entrypoint
        .iter()
        .chain(&r.cmd)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn summary(root: &Path, r: &ContainerRecord) -> ContainerSummary {
    let run = state::read_run_state(root, &r.id);
    ContainerSummary {
        id: r.id.clone(),
        name: r.name.clone(),
        image: r.image.clone(),
        image_id: r.image_id.clone(),
        command: command_line(r),
        labels: r.labels.clone(),
        status: status_of(&run),
        status_text: status_text(&run),
        created: r.created_unix,
        ports: Vec::new(),
    }
}

fn info_of(root: &Path, r: &ContainerRecord) -> ContainerInfo {
    let run = state::read_run_state(root, &r.id);
    let status = status_of(&run);
    ContainerInfo {
        id: r.id.clone(),
        name: r.name.clone(),
        image: r.image.clone(),
        image_id: r.image_id.clone(),
        created: Some(r.created.clone()),
        labels: r.labels.clone(),
        state: ContainerState {
            running: status == ContainerStatus::Running,
            restarting: status == ContainerStatus::Restarting,
            status,
            paused: false,
            oom_killed: false,
            pid: run.pid.map(i64::from),
            exit_code: Some(run.exit_code.unwrap_or(0)),
            error: run.error.clone(),
            started_at: run.started_at.clone(),
            finished_at: run.finished_at.clone(),
            health: None,
        },
        restart_count: run.restart_count,
        ports: Vec::new(),
        mounts: r
            .mounts
            .iter()
            .map(|m| MountInfo {
                kind: m.kind.clone(),
                name: m.name.clone(),
                source: m.source.clone(),
                destination: m.destination.clone(),
                read_only: m.read_only,
            })
            .collect(),
        networks: r
            .networks
            .iter()
            .map(|(name, aliases)| {
                (
                    name.clone(),
                    NetworkEndpoint {
                        network_id: name.clone(),
                        ip_address: None,
                        aliases: aliases.clone(),
                    },
                )
            })
            .collect(),
        cmd: r.cmd.clone(),
        entrypoint: r.entrypoint.clone(),
        env: r.env.clone(),
        tty: r.tty,
        stdin_open: r.stdin_open,
        working_dir: Some(r.working_dir.clone()),
        user: r.user.clone(),
    }
}

fn volume_info(root: &Path, v: &VolumeRecord) -> VolumeInfo {
    VolumeInfo {
        name: v.name.clone(),
        driver: "local".to_string(),
        mountpoint: root
            .join("volumes")
            .join(&v.name)
            .join("_data")
            .display()
            .to_string(),
        labels: v.labels.clone(),
        options: v.options.clone(),
        created_at: Some(v.created_at.clone()),
    }
}

fn network_info(n: &NetworkRecord, containers: Vec<String>) -> NetworkInfo {
    NetworkInfo {
        id: n.id.clone(),
        name: n.name.clone(),
        driver: n.driver.clone(),
        labels: n.labels.clone(),
        internal: n.internal,
        enable_ipv6: n.enable_ipv6,
        subnets: Vec::new(),
        containers,
    }
}

fn find_network(store: &ImageStore, name: &str) -> Result<NetworkRecord> {
    if let Some(n) = state::get::<NetworkRecord>(store, NETWORKS, name)? {
        return Ok(n);
    }
    state::all::<NetworkRecord>(store, NETWORKS)?
        .into_iter()
        .map(|(_, n)| n)
        .find(|n| n.id == name || (name.len() >= 4 && n.id.starts_with(name)))
        .ok_or_else(|| RuntimeError::NotFound {
            kind: ObjectKind::Network,
            name: name.to_string(),
        })
}

fn image_info(store: &ImageStore, reference: &str) -> Result<ImageInfo> {
    let (_, record) = find_image(store, reference)?;
    let config = store.image_config(&record)?;
    let id = record.config.digest.to_string();
    let mut repo_tags = Vec::new();
    let mut repo_digests = Vec::new();
    for (name, r) in store.images()? {
        if r.config.digest == record.config.digest {
            repo_tags.push(familiar(&name));
            let repo = name.split_once('@').map_or(name.as_str(), |(n, _)| n);
            let repo = repo
                .rsplit_once(':')
                .map_or(repo, |(n, t)| if t.contains('/') { repo } else { n });
            let digest = r.index_digest.as_ref().unwrap_or(&r.manifest_digest);
            repo_digests.push(format!("{}@{digest}", familiar(repo)));
        }
    }
    let d = &config.config;
    Ok(ImageInfo {
        id,
        repo_tags,
        repo_digests,
        created: None,
        size: record.layers.iter().map(|l| l.size as i64).sum(),
        os: Some(config.os.clone()),
        architecture: Some(config.architecture.clone()),
        config: ImageConfig {
            user: d.user.clone(),
            env: d.env.clone().unwrap_or_default(),
            cmd: d.cmd.clone(),
            entrypoint: d.entrypoint.clone(),
            working_dir: d.working_dir.clone(),
            exposed_ports: d
                .exposed_ports
                .as_ref()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
            volumes: d
                .volumes
                .as_ref()
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default(),
            labels: d.labels.clone().unwrap_or_default(),
            stop_signal: d.stop_signal.clone(),
            healthcheck: None,
        },
    })
}

/// Pulls `reference` into the store under `root` from a blocking thread (the registry
/// client's future is not `Send`, so it runs on a current-thread runtime of its own).
pub(crate) fn pull_blocking(
    client: &RegistryClient,
    root: &Path,
    reference: &Reference,
    platform: &Platform,
    progress: ProgressSink<'_>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::Other {
            operation: "pull".to_string(),
            message: format!("cannot start a tokio runtime: {e}"),
        })?;
    let store = ImageStore::open(root)?;
    rt.block_on(client.pull(&store, reference, platform, progress))?;
    Ok(())
}

impl NativeRuntime {
    /// The runtime over data root `root` (created when missing).
    pub fn open(root: &Path) -> Result<NativeRuntime> {
        state::with_store(root, |_| Ok(()))?;
        containers::sweep_half_created(root)?;
        Ok(NativeRuntime {
            root: Arc::new(root.to_path_buf()),
        })
    }

    /// The runtime over `$HOIST_ROOT` (default `/var/lib/hoist`).
    pub fn open_default() -> Result<NativeRuntime> {
        NativeRuntime::open(&store::data_root())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Imports a rootfs tarball as image `reference` (`hoist image import`).
    pub async fn import_image(
        &self,
        tarball: &Path,
        reference: &str,
        defaults: super::oci::ContainerDefaults,
    ) -> Result<String> {
        let root = self.root.clone();
        let tarball = tarball.to_path_buf();
        let reference = reference.to_string();
        blocking(move || {
            state::with_store(&root, |store| {
                let record = super::import::import_rootfs(store, &tarball, &reference, &defaults)?;
                Ok(record.config.digest.to_string())
            })
        })
        .await
    }

    async fn record(&self, name: &str) -> Result<ContainerRecord> {
        let root = self.root.clone();
        let name = name.to_string();
        blocking(move || state::with_store(&root, |store| state::find_container(store, &name)))
            .await
    }
}

#[async_trait]
impl crate::runtime::Runtime for NativeRuntime {
    async fn ping(&self) -> Result<()> {
        let root = self.root.clone();
        blocking(move || state::with_store(&root, |_| Ok(()))).await
    }

    async fn info(&self) -> Result<RuntimeInfo> {
        let host = Platform::host();
        Ok(RuntimeInfo {
            backend: "native".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: String::new(),
            endpoint: self.root.display().to_string(),
            os: host.os,
            arch: host.architecture,
        })
    }

    // -- networks: recorded only, until the net module wires them --

    async fn create_network(&self, spec: &NetworkSpec) -> Result<String> {
        let root = self.root.clone();
        let spec = spec.clone();
        blocking(move || {
            let id = containers::random_id()?;
            let record = NetworkRecord {
                id: id.clone(),
                name: spec.name.clone(),
                driver: spec.driver.clone().unwrap_or_else(|| "bridge".to_string()),
                labels: spec.labels.clone(),
                internal: spec.internal,
                enable_ipv6: spec.enable_ipv6,
            };
            state::with_store(&root, |store| {
                state::put_checked(store, NETWORKS, &spec.name, &record, |rows| {
                    if rows
                        .iter()
                        .any(|(k, _): &(String, NetworkRecord)| *k == spec.name)
                    {
                        Err(RuntimeError::Conflict {
                            kind: ObjectKind::Network,
                            name: spec.name.clone(),
                            message: "a network with this name exists already".to_string(),
                        })
                    } else {
                        Ok(())
                    }
                })
            })?;
            Ok(id)
        })
        .await
    }

    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo> {
        let root = self.root.clone();
        let name = name.to_string();
        blocking(move || {
            state::with_store(&root, |store| {
                let n = find_network(store, &name)?;
                let members = state::all::<ContainerRecord>(store, CONTAINERS)?
                    .into_iter()
                    .filter(|(_, c)| c.networks.contains_key(&n.name))
                    .map(|(id, _)| id)
                    .collect();
                Ok(network_info(&n, members))
            })
        })
        .await
    }

    async fn list_networks(&self, labels: &[LabelFilter]) -> Result<Vec<NetworkInfo>> {
        let root = self.root.clone();
        let labels = labels.to_vec();
        blocking(move || {
            state::with_store(&root, |store| {
                Ok(state::all::<NetworkRecord>(store, NETWORKS)?
                    .into_iter()
                    .map(|(_, n)| n)
                    .filter(|n| labels.iter().all(|l| l.matches(&n.labels)))
                    .map(|n| network_info(&n, Vec::new()))
                    .collect())
            })
        })
        .await
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        let root = self.root.clone();
        let name = name.to_string();
        blocking(move || {
            state::with_store(&root, |store| {
                let n = find_network(store, &name)?;
                let users: Vec<String> = state::all::<ContainerRecord>(store, CONTAINERS)?
                    .into_iter()
                    .filter(|(_, c)| c.networks.contains_key(&n.name))
                    .map(|(_, c)| c.name)
                    .collect();
                if !users.is_empty() {
                    return Err(RuntimeError::Conflict {
                        kind: ObjectKind::Network,
                        name: n.name.clone(),
                        message: format!("has active endpoints ({})", users.join(", ")),
                    });
                }
                state::remove(store, NETWORKS, &n.name)?;
                Ok(())
            })
        })
        .await
    }

    async fn connect_network(
        &self,
        _container: &str,
        _attachment: &NetworkAttachment,
    ) -> Result<()> {
        Err(unsupported(
            "connecting a container to a network after create",
        ))
    }

    async fn disconnect_network(
        &self,
        _container: &str,
        _network: &str,
        _force: bool,
    ) -> Result<()> {
        Err(unsupported("disconnecting a container from a network"))
    }

    // -- volumes --

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo> {
        let root = self.root.clone();
        let spec = spec.clone();
        if spec.driver.as_deref().is_some_and(|d| d != "local") {
            return Err(unsupported(&format!("volume driver {:?}", spec.driver)));
        }
        blocking(move || {
            state::with_store(&root, |store| {
                containers::ensure_volume(store, &spec.name, &spec.labels)?;
                let v =
                    state::get::<VolumeRecord>(store, VOLUMES, &spec.name)?.ok_or_else(|| {
                        RuntimeError::NotFound {
                            kind: ObjectKind::Volume,
                            name: spec.name.clone(),
                        }
                    })?;
                Ok(volume_info(store.root(), &v))
            })
        })
        .await
    }

    async fn inspect_volume(&self, name: &str) -> Result<VolumeInfo> {
        let root = self.root.clone();
        let name = name.to_string();
        blocking(move || {
            state::with_store(&root, |store| {
                let v = state::get::<VolumeRecord>(store, VOLUMES, &name)?.ok_or(
                    RuntimeError::NotFound {
                        kind: ObjectKind::Volume,
                        name: name.clone(),
                    },
                )?;
                Ok(volume_info(store.root(), &v))
            })
        })
        .await
    }

    async fn list_volumes(&self, labels: &[LabelFilter]) -> Result<Vec<VolumeInfo>> {
        let root = self.root.clone();
        let labels = labels.to_vec();
        blocking(move || {
            state::with_store(&root, |store| {
                Ok(state::all::<VolumeRecord>(store, VOLUMES)?
                    .into_iter()
                    .filter(|(_, v)| labels.iter().all(|l| l.matches(&v.labels)))
                    .map(|(_, v)| volume_info(store.root(), &v))
                    .collect())
            })
        })
        .await
    }

    async fn remove_volume(&self, name: &str, _force: bool) -> Result<()> {
        let root = self.root.clone();
        let name = name.to_string();
        blocking(move || {
            state::with_store(&root, |store| {
                if state::get::<VolumeRecord>(store, VOLUMES, &name)?.is_none() {
                    return Err(RuntimeError::NotFound {
                        kind: ObjectKind::Volume,
                        name: name.clone(),
                    });
                }
                let users: Vec<String> = state::all::<ContainerRecord>(store, CONTAINERS)?
                    .into_iter()
                    .filter(|(_, c)| c.mounts.iter().any(|m| m.name.as_deref() == Some(&name)))
                    .map(|(_, c)| c.name)
                    .collect();
                if !users.is_empty() {
                    return Err(RuntimeError::Conflict {
                        kind: ObjectKind::Volume,
                        name: name.clone(),
                        message: format!("volume is in use by {}", users.join(", ")),
                    });
                }
                containers::delete_volume(store, &name)?;
                Ok(())
            })
        })
        .await
    }

    // -- images --

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo> {
        let root = self.root.clone();
        let reference = reference.to_string();
        blocking(move || state::with_store(&root, |store| image_info(store, &reference))).await
    }

    async fn list_images(&self, labels: &[LabelFilter]) -> Result<Vec<ImageSummary>> {
        let root = self.root.clone();
        let labels = labels.to_vec();
        blocking(move || {
            state::with_store(&root, |store| {
                let mut by_id: BTreeMap<String, ImageSummary> = BTreeMap::new();
                for (name, record) in store.images()? {
                    let id = record.config.digest.to_string();
                    if let Some(s) = by_id.get_mut(&id) {
                        s.repo_tags.push(familiar(&name));
                        continue;
                    }
                    let config = store.image_config(&record)?;
                    by_id.insert(
                        id.clone(),
                        ImageSummary {
                            id,
                            repo_tags: vec![familiar(&name)],
                            labels: config.config.labels.clone().unwrap_or_default(),
                            created: 0,
                            size: record.layers.iter().map(|l| l.size as i64).sum(),
                        },
                    );
                }
                Ok(by_id
                    .into_values()
                    .filter(|s| labels.iter().all(|l| l.matches(&s.labels)))
                    .collect())
            })
        })
        .await
    }

    async fn pull_image(
        &self,
        reference: &str,
        platform: Option<&str>,
        _auth: Option<&RegistryAuth>,
        progress: ProgressSink<'_>,
    ) -> Result<()> {
        let parsed = Reference::parse(reference)?;
        let platform = match platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };
        let client = RegistryClient::new(RegistryConfig::from_env()?);
        // The registry client's future is not `Send` (higher-ranked closures inside), so it
        // runs on a thread of its own with a current-thread runtime; progress comes back
        // over a channel. The pull keeps the store open while it downloads: other hoist
        // processes wait for it.
        let root = self.root.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let pull = tokio::task::spawn_blocking(move || -> Result<()> {
            let sink = move |p| {
                let _ = tx.send(p);
            };
            pull_blocking(&client, &root, &parsed, &platform, &sink)
        });
        while let Some(p) = rx.recv().await {
            progress(p);
        }
        pull.await.map_err(|e| RuntimeError::Other {
            operation: "pull".to_string(),
            message: e.to_string(),
        })?
    }

    async fn build_image(&self, spec: &BuildSpec, progress: ProgressSink<'_>) -> Result<String> {
        // The builder blocks (mounts, containers, packing); its output comes back over a
        // channel as the pull's does.
        let root = self.root.clone();
        let spec = spec.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let build = tokio::task::spawn_blocking(move || {
            let sink = move |p| {
                let _ = tx.send(p);
            };
            crate::build::native::build(&root, &spec, &sink)
        });
        while let Some(p) = rx.recv().await {
            progress(p);
        }
        build.await.map_err(|e| RuntimeError::Other {
            operation: "build".to_string(),
            message: e.to_string(),
        })?
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<()> {
        let root = self.root.clone();
        let source = source.to_string();
        let target = Reference::parse(target)?;
        blocking(move || {
            state::with_store(&root, |store| {
                let (_, record) = find_image(store, &source)?;
                store.put_image(&target.to_string(), &record)?;
                Ok(())
            })
        })
        .await
    }

    async fn push_image(
        &self,
        _reference: &str,
        _auth: Option<&RegistryAuth>,
        _progress: ProgressSink<'_>,
    ) -> Result<()> {
        Err(unsupported("image push"))
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<()> {
        let root = self.root.clone();
        let reference = reference.to_string();
        blocking(move || {
            state::with_store(&root, |store| {
                let (name, record) = find_image(store, &reference)?;
                let id = record.config.digest.to_string();
                let users: Vec<String> = state::all::<ContainerRecord>(store, CONTAINERS)?
                    .into_iter()
                    .filter(|(_, c)| c.image_id == id)
                    .map(|(_, c)| c.name)
                    .collect();
                if !users.is_empty() && !force {
                    return Err(RuntimeError::Conflict {
                        kind: ObjectKind::Image,
                        name: reference.clone(),
                        message: format!("image is being used by {}", users.join(", ")),
                    });
                }
                // By id: every name of it; by name: that name only (as `docker rmi`).
                let by_name = Reference::parse(&reference).is_ok_and(|r| r.to_string() == name);
                if by_name {
                    store.remove_image(&name)?;
                } else {
                    for (n, r) in store.images()? {
                        if r.config.digest == record.config.digest {
                            store.remove_image(&n)?;
                        }
                    }
                }
                Ok(())
            })
        })
        .await
    }

    // -- containers --

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let root = self.root.clone();
        let spec = spec.clone();
        blocking(move || containers::create(&root, &spec)).await
    }

    async fn start_container(&self, name: &str) -> Result<()> {
        let record = self.record(name).await?;
        let root = self.root.clone();
        blocking(move || containers::start(&root, &record.id)).await
    }

    async fn stop_container(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        let record = self.record(name).await?;
        let root = self.root.clone();
        blocking(move || containers::stop(&root, &record, timeout)).await
    }

    async fn kill_container(&self, name: &str, signal: &str) -> Result<()> {
        let record = self.record(name).await?;
        let root = self.root.clone();
        let signal = signal.to_string();
        blocking(move || containers::kill_container(&root, &record, &signal)).await
    }

    async fn restart_container(&self, name: &str, timeout: Option<Duration>) -> Result<()> {
        let record = self.record(name).await?;
        let root = self.root.clone();
        blocking(move || {
            containers::stop(&root, &record, timeout)?;
            containers::start(&root, &record.id)
        })
        .await
    }

    async fn remove_container(&self, name: &str, force: bool, volumes: bool) -> Result<()> {
        let root = self.root.clone();
        let name = name.to_string();
        blocking(move || containers::remove(&root, &name, force, volumes)).await
    }

    async fn wait_container(&self, name: &str) -> Result<i64> {
        let record = self.record(name).await?;
        let mut delay = Duration::from_millis(2);
        loop {
            let run = state::read_run_state(&self.root, &record.id);
            let dir = state::container_dir(&self.root, &record.id);
            match run.status.as_str() {
                "running" | "restarting" | "created" if dir.exists() => {}
                _ => return Ok(run.exit_code.unwrap_or(0)),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(20));
        }
    }

    async fn pause_container(&self, _name: &str) -> Result<()> {
        Err(unsupported("pause"))
    }

    async fn unpause_container(&self, _name: &str) -> Result<()> {
        Err(unsupported("unpause"))
    }

    async fn inspect_container(&self, name: &str) -> Result<ContainerInfo> {
        let record = self.record(name).await?;
        Ok(info_of(&self.root, &record))
    }

    async fn list_containers(
        &self,
        options: &ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>> {
        let root = self.root.clone();
        let options = options.clone();
        blocking(move || {
            let records = state::with_store(&root, |store| {
                state::all::<ContainerRecord>(store, CONTAINERS)
            })?;
            let mut out: Vec<ContainerSummary> = records
                .into_iter()
                .map(|(_, r)| r)
                .filter(|r| options.labels.iter().all(|l| l.matches(&r.labels)))
                .map(|r| summary(&root, &r))
                .filter(|s| options.all || s.status == ContainerStatus::Running)
                .collect();
            // Newest first, as Docker lists them.
            out.sort_by_key(|s| std::cmp::Reverse(s.created));
            Ok(out)
        })
        .await
    }

    async fn logs(
        &self,
        name: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<OutputChunk>>> {
        let record = self.record(name).await?;
        Ok(logs::stream_logs(
            &self.root,
            &record.id,
            options,
            From::Beginning,
            false,
        ))
    }

    async fn top(&self, _name: &str, _ps_args: Option<&str>) -> Result<ProcessList> {
        Err(unsupported("top"))
    }

    async fn events(
        &self,
        filter: &EventFilter,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        if filter.since.is_some() {
            return Err(unsupported("replaying past events (since)"));
        }
        Ok(super::events::watch(&self.root, filter))
    }

    async fn attach_container(&self, name: &str, options: &AttachOptions) -> Result<AttachedIo> {
        let record = self.record(name).await?;
        if record.tty {
            return Err(unsupported("attach with a TTY"));
        }
        let log_options = LogOptions {
            follow: true,
            stdout: options.stdout,
            stderr: options.stderr,
            ..LogOptions::default()
        };
        let from = if options.logs {
            From::Beginning
        } else {
            From::Now
        };
        let output = logs::stream_logs(&self.root, &record.id, &log_options, from, true);
        let input: StdinWriter = if options.stdin && record.stdin_open {
            let fifo = state::container_dir(&self.root, &record.id).join("stdin");
            // Read-write: opening never waits for the container's end to exist, and our
            // end closing is the EOF the process sees (stdin_once).
            let sender = tokio::net::unix::pipe::OpenOptions::new()
                .read_write(true)
                .open_sender(&fifo)
                .map_err(|e| RuntimeError::Other {
                    operation: format!("attach to {}", record.name),
                    message: format!("cannot open {}: {e}", fifo.display()),
                })?;
            Box::pin(sender)
        } else {
            Box::pin(tokio::io::sink())
        };
        Ok(AttachedIo { output, input })
    }

    async fn resize_container_tty(&self, _name: &str, _size: TtySize) -> Result<()> {
        Err(unsupported("TTY resize"))
    }

    async fn exec(&self, _container: &str, _spec: &ExecSpec) -> Result<ExecSession> {
        Err(unsupported("exec"))
    }

    async fn exec_exit_code(&self, _exec_id: &str) -> Result<Option<i64>> {
        Err(unsupported("exec"))
    }

    async fn resize_exec(&self, _exec_id: &str, _size: TtySize) -> Result<()> {
        Err(unsupported("exec"))
    }

    async fn copy_to_container(&self, _name: &str, _path: &str, _tar: Bytes) -> Result<()> {
        Err(unsupported("cp"))
    }

    async fn copy_from_container(&self, _name: &str, _path: &str) -> Result<Bytes> {
        Err(unsupported("cp"))
    }
}
