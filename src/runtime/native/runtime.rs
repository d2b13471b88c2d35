//! [`NativeRuntime`]: the [`Runtime`] trait on the bundled runtime. Blocking work (the state
//! database, mounts, files) runs on tokio's blocking threads through [`blocking`]; container
//! processes belong to their monitors (see [`super::monitor`]).
//!
//! Networks, endpoints and published ports go through [`super::net`] (its tables are the only
//! record of networks) via [`super::wiring`]. Not for: the operations not built yet (past
//! events), which answer [`RuntimeError::Unsupported`] rather than pretending.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::archive::{self, is_untagged_key};
use super::containers::{self, familiar, find_image, unsupported};
use super::logs::{self, From};
use super::net::HostNetwork;
use super::oci::Platform;
use super::prune::{self, BUILD_STEP_DOMAIN};
use super::reference::Reference;
use super::registry::{Credentials, RegistryClient, RegistryConfig};
use super::state::{self, ContainerRecord, RunState, VolumeRecord, CONTAINERS, VOLUMES};
use super::store::{self, ImageStore};
use super::wiring::{self, block_on};
use crate::runtime::{
    AttachOptions, AttachedIo, BoxStream, BuildSpec, ContainerInfo, ContainerListOptions,
    ContainerSpec, ContainerState, ContainerStatus, ContainerSummary, EventFilter, ExecSession,
    ExecSpec, HealthStatus, ImageConfig, ImageInfo, ImageSummary, LabelFilter, LogOptions,
    MountInfo, NetworkAttachment, NetworkEndpoint, NetworkInfo, NetworkSpec, ObjectKind,
    OutputChunk, ProcessList, ProgressSink, PruneReport, RegistryAuth, Result, RuntimeError,
    RuntimeEvent, RuntimeInfo, StdinWriter, SystemInfo, TtySize, VolumeInfo, VolumeSpec,
};

/// The bundled runtime over one data root.
#[derive(Clone)]
pub struct NativeRuntime {
    root: Arc<PathBuf>,
    /// Opened (and repaired) on first use: commands that touch no network pay nothing.
    net: Arc<tokio::sync::OnceCell<HostNetwork>>,
}

impl std::fmt::Debug for NativeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeRuntime")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
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

/// The container's state as reported to callers: the monitor's, and `paused` while its
/// cgroup is frozen (the freezer's state, not the monitor's: nothing to keep in sync).
fn observed_state(root: &Path, id: &str) -> RunState {
    let mut run = state::read_run_state(root, id);
    if run.status == "running" && super::cgroup::is_frozen(id) {
        run.status = "paused".to_string();
    }
    run
}

/// `docker ps`'s health suffix on a running container's STATUS: `Up 3 seconds (healthy)`.
fn with_health(text: String, run: &RunState, root: &Path, id: &str) -> String {
    if run.status != "running" {
        return text;
    }
    match super::health::read(root, id).map(|h| h.status) {
        Some(HealthStatus::Healthy) => format!("{text} (healthy)"),
        Some(HealthStatus::Unhealthy) => format!("{text} (unhealthy)"),
        Some(HealthStatus::Starting) => format!("{text} (health: starting)"),
        None => text,
    }
}

/// `docker ps`'s STATUS text.
fn status_text(run: &RunState) -> String {
    match run.status.as_str() {
        "running" => format!("Up {}", ago(run.started_at.as_deref())),
        "paused" => format!("Up {} (Paused)", ago(run.started_at.as_deref())),
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
    let run = observed_state(root, &r.id);
    ContainerSummary {
        id: r.id.clone(),
        name: r.name.clone(),
        image: r.image.clone(),
        image_id: r.image_id.clone(),
        command: command_line(r),
        labels: r.labels.clone(),
        status: status_of(&run),
        status_text: with_health(status_text(&run), &run, root, &r.id),
        created: r.created_unix,
        ports: wiring::published_ports(root, &r.id, &run),
    }
}

fn info_of(root: &Path, r: &ContainerRecord) -> ContainerInfo {
    let run = observed_state(root, &r.id);
    let status = status_of(&run);
    ContainerInfo {
        id: r.id.clone(),
        name: r.name.clone(),
        image: r.image.clone(),
        image_id: r.image_id.clone(),
        created: Some(r.created.clone()),
        labels: r.labels.clone(),
        state: ContainerState {
            // A paused container still runs, as Docker reports it.
            running: matches!(status, ContainerStatus::Running | ContainerStatus::Paused),
            restarting: status == ContainerStatus::Restarting,
            paused: status == ContainerStatus::Paused,
            status,
            oom_killed: false,
            pid: run.pid.map(i64::from),
            exit_code: Some(run.exit_code.unwrap_or(0)),
            error: run.error.clone(),
            started_at: run.started_at.clone(),
            finished_at: run.finished_at.clone(),
            health: super::health::read(root, &r.id),
        },
        restart_count: run.restart_count,
        ports: wiring::published_ports(root, &r.id, &run),
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

fn image_info(store: &ImageStore, reference: &str) -> Result<ImageInfo> {
    let (_, record) = find_image(store, reference)?;
    let config = store.image_config(&record)?;
    let id = record.config.digest.to_string();
    let mut repo_tags = Vec::new();
    let mut repo_digests = Vec::new();
    for (name, r) in store.images()? {
        if r.config.digest == record.config.digest {
            if is_untagged_key(&name) {
                continue;
            }
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
    let layers = config
        .rootfs
        .diff_ids
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(ImageInfo {
        layers,
        id,
        repo_tags,
        repo_digests,
        created: config.created.clone(),
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
            healthcheck: d.healthcheck.as_ref().map(|h| {
                let duration = |ns: Option<i64>| {
                    ns.filter(|&n| n > 0)
                        .map(|n| Duration::from_nanos(n as u64))
                };
                crate::runtime::Healthcheck {
                    test: h.test.clone(),
                    interval: duration(h.interval),
                    timeout: duration(h.timeout),
                    retries: h.retries.and_then(|r| u32::try_from(r).ok()),
                    start_period: duration(h.start_period),
                    start_interval: duration(h.start_interval),
                }
            }),
        },
    })
}

fn not_running(record: &ContainerRecord) -> RuntimeError {
    RuntimeError::Conflict {
        kind: ObjectKind::Container,
        name: record.name.clone(),
        message: "is not running".to_string(),
    }
}

/// The rows of `ps` output whose PID is one of `pids`; the last column (the command) keeps
/// its spaces, as Docker splits it.
fn parse_ps(output: &str, pids: &[i32]) -> Result<ProcessList> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let Some(pid_column) = titles.iter().position(|t| t == "PID") else {
        return Err(RuntimeError::Other {
            operation: "top".to_string(),
            message: "ps printed no PID column: keep the pid in its output format".to_string(),
        });
    };
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        if !fields[pid_column]
            .parse::<i32>()
            .is_ok_and(|p| pids.contains(&p))
        {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|f| f.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(ProcessList { titles, processes })
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
    let rt = current_thread("pull")?;
    let store = ImageStore::open(root)?;
    rt.block_on(client.pull(&store, reference, platform, progress))?;
    Ok(())
}

/// The credentials for `domain`: the caller's, else the Docker CLI's stored login (its
/// credential helpers run here).
pub(crate) fn credentials_for(
    auth: Option<&RegistryAuth>,
    domain: &str,
) -> Result<Option<Credentials>> {
    Ok(match auth {
        Some(RegistryAuth {
            username: Some(username),
            password: Some(password),
            ..
        }) => Some(Credentials {
            username: username.clone(),
            password: password.clone(),
        }),
        // Docker's identity tokens go to the token service as the password of `<token>`.
        Some(RegistryAuth {
            identity_token: Some(token),
            ..
        }) => Some(Credentials {
            username: "<token>".to_string(),
            password: token.clone(),
        }),
        _ => Credentials::from_docker_config(domain)?,
    })
}

/// A current-thread tokio runtime for a blocking thread to drive the registry client on.
fn current_thread(operation: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::Other {
            operation: operation.to_string(),
            message: format!("cannot start a tokio runtime: {e}"),
        })
}

/// Runs blocking `f` on a thread of its own, forwarding the progress it reports to
/// `progress` as it comes (over a channel: `f` outlives no borrow of the caller's).
async fn with_progress<T: Send + 'static>(
    operation: &str,
    progress: ProgressSink<'_>,
    f: impl FnOnce(ProgressSink<'_>) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::task::spawn_blocking(move || {
        let sink = move |p| {
            let _ = tx.send(p);
        };
        f(&sink)
    });
    while let Some(p) = rx.recv().await {
        progress(p);
    }
    task.await.map_err(|e| RuntimeError::Other {
        operation: operation.to_string(),
        message: e.to_string(),
    })?
}

impl NativeRuntime {
    /// Freezes or thaws a running container's processes.
    async fn set_paused(&self, name: &str, paused: bool) -> Result<()> {
        let record = self.record(name).await?;
        let run = observed_state(&self.root, &record.id);
        let expected = if paused { "running" } else { "paused" };
        if run.status != expected {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: record.name.clone(),
                message: if paused {
                    format!("is {}, only a running container can be paused", run.status)
                } else {
                    "is not paused".to_string()
                },
            });
        }
        let id = record.id.clone();
        blocking(move || {
            super::cgroup::set_frozen(&id, paused).map_err(|e| RuntimeError::Other {
                operation: format!(
                    "{} container {}",
                    if paused { "pause" } else { "unpause" },
                    record.name
                ),
                message: e.to_string(),
            })
        })
        .await
    }

    /// The runtime over data root `root` (created when missing).
    pub fn open(root: &Path) -> Result<NativeRuntime> {
        state::with_store(root, |_| Ok(()))?;
        containers::sweep_half_created(root)?;
        Ok(NativeRuntime {
            root: Arc::new(root.to_path_buf()),
            net: Arc::new(tokio::sync::OnceCell::new()),
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

    /// Runs `f` with the host network and the state database on a blocking thread (`f`
    /// drives the net module's futures with [`block_on`]).
    async fn with_net<T: Send + 'static>(
        &self,
        f: impl FnOnce(&HostNetwork, &redb::Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let root = self.root.clone();
        let net = self
            .net
            .get_or_try_init(|| {
                let root = root.clone();
                blocking(move || {
                    state::with_store(&root, |store| {
                        Ok(block_on(HostNetwork::open(store.database(), &root))?)
                    })
                })
            })
            .await?
            .clone();
        blocking(move || state::with_store(&root, |store| f(&net, store.database()))).await
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

    // -- networks: the net module's --

    async fn create_network(&self, spec: &NetworkSpec) -> Result<String> {
        if let Some(driver) = spec.driver.as_deref().filter(|d| *d != "bridge") {
            return Err(unsupported(&format!(
                "network driver \"{driver}\" (only bridge)"
            )));
        }
        let spec = spec.clone();
        self.with_net(move |net, db| Ok(block_on(net.create_network(db, &spec))?.id))
            .await
    }

    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo> {
        let name = name.to_string();
        self.with_net(move |net, db| {
            let (n, endpoints) = net.inspect_network(db, &name)?;
            Ok(n.info(endpoints.into_iter().map(|e| e.container_id).collect()))
        })
        .await
    }

    async fn list_networks(&self, labels: &[LabelFilter]) -> Result<Vec<NetworkInfo>> {
        let labels = labels.to_vec();
        self.with_net(move |net, db| {
            let endpoints = net.endpoints(db)?;
            Ok(net
                .list_networks(db)?
                .into_iter()
                .filter(|n| labels.iter().all(|l| l.matches(&n.labels)))
                .map(|n| {
                    let members = endpoints
                        .iter()
                        .filter(|e| e.network_id == n.id)
                        .map(|e| e.container_id.clone())
                        .collect();
                    n.info(members)
                })
                .collect())
        })
        .await
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.with_net(move |net, db| Ok(block_on(net.remove_network(db, &name))?))
            .await
    }

    async fn connect_network(&self, container: &str, attachment: &NetworkAttachment) -> Result<()> {
        let record = self.record(container).await?;
        let root = self.root.clone();
        let attachment = attachment.clone();
        self.with_net(move |net, db| {
            block_on(wiring::connect(net, db, &root, &record, &attachment))
        })
        .await
    }

    async fn disconnect_network(&self, container: &str, network: &str, _force: bool) -> Result<()> {
        let record = self.record(container).await?;
        let network = network.to_string();
        self.with_net(move |net, db| {
            block_on(net.detach(db, &network, &record.id))
                .map_err(|e| e.for_container(&record.name))
        })
        .await
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
                    // A build's RUN steps are not images anyone asked for.
                    if name.starts_with(BUILD_STEP_DOMAIN) {
                        continue;
                    }
                    let tags = if is_untagged_key(&name) {
                        Vec::new()
                    } else {
                        vec![familiar(&name)]
                    };
                    let id = record.config.digest.to_string();
                    if let Some(s) = by_id.get_mut(&id) {
                        s.repo_tags.extend(tags);
                        continue;
                    }
                    let config = store.image_config(&record)?;
                    let created = config
                        .created
                        .as_deref()
                        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                        .map_or(0, |t| t.timestamp());
                    by_id.insert(
                        id.clone(),
                        ImageSummary {
                            id,
                            repo_tags: tags,
                            labels: config.config.labels.clone().unwrap_or_default(),
                            created,
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
        auth: Option<&RegistryAuth>,
        progress: ProgressSink<'_>,
    ) -> Result<()> {
        let parsed = Reference::parse(reference)?;
        let platform = match platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };
        let client = RegistryClient::new(RegistryConfig::from_env()?)
            .with_credentials(credentials_for(auth, parsed.domain())?);
        // The registry client's future is not `Send` (higher-ranked closures inside), so it
        // runs on a thread of its own with a current-thread runtime; progress comes back
        // over a channel. The pull keeps the store open while it downloads: other hoist
        // processes wait for it.
        let root = self.root.clone();
        with_progress("pull", progress, move |sink| {
            pull_blocking(&client, &root, &parsed, &platform, sink)
        })
        .await
    }

    async fn build_image(&self, spec: &BuildSpec, progress: ProgressSink<'_>) -> Result<String> {
        // The builder blocks (mounts, containers, packing); its output comes back over a
        // channel as the pull's does.
        let root = self.root.clone();
        let spec = spec.clone();
        with_progress("build", progress, move |sink| {
            // A prune waits until the build has recorded what it stored.
            let _lock = prune::BuildLock::acquire(&root, false)?;
            crate::build::native::build(&root, &spec, sink)
        })
        .await
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
        reference: &str,
        auth: Option<&RegistryAuth>,
        progress: ProgressSink<'_>,
    ) -> Result<()> {
        let target = Reference::parse(reference)?;
        let credentials = credentials_for(auth, target.domain())?;
        let client = RegistryClient::new(RegistryConfig::from_env()?).with_credentials(credentials);
        let root = self.root.clone();
        let record = {
            let (root, reference) = (root.clone(), reference.to_string());
            blocking(move || state::with_store(&root, |store| Ok(find_image(store, &reference)?.1)))
                .await?
        };
        // As the pull: the client's future runs on a thread of its own; the store is only
        // read, and opened once for the whole push.
        with_progress("push", progress, move |sink| {
            let rt = current_thread("push")?;
            let store = ImageStore::open(&root)?;
            rt.block_on(client.push(&store, &record, &target, sink))?;
            Ok(())
        })
        .await
    }

    async fn prune_images(
        &self,
        all: bool,
        filters: &crate::runtime::ImagePruneFilters,
    ) -> Result<PruneReport> {
        let root = self.root.clone();
        let filters = filters.clone();
        blocking(move || {
            let _lock = prune::BuildLock::acquire(&root, true)?;
            state::with_store(&root, |store| prune::prune_images(store, all, &filters))
        })
        .await
    }

    async fn save_images(&self, references: &[String], path: &Path) -> Result<()> {
        let root = self.root.clone();
        let references = references.to_vec();
        let path = path.to_path_buf();
        blocking(move || {
            state::with_store(&root, |store| Ok(archive::save(store, &references, &path)?))
        })
        .await
    }

    async fn load_images(&self, path: &Path) -> Result<Vec<String>> {
        let root = self.root.clone();
        let path = path.to_path_buf();
        blocking(move || state::with_store(&root, |store| Ok(archive::load(store, &path)?))).await
    }

    async fn prune_build_cache(&self, all: bool) -> Result<PruneReport> {
        let root = self.root.clone();
        blocking(move || {
            let _lock = prune::BuildLock::acquire(&root, true)?;
            state::with_store(&root, |store| prune::prune_build_cache(store, all))
        })
        .await
    }

    async fn system_info(&self) -> Result<SystemInfo> {
        let config = RegistryConfig::from_env()?;
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let cgroup = if super::cgroup::unified() { "2" } else { "1" };
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .unwrap_or_default();
        Ok(SystemInfo {
            data_root: self.root.display().to_string(),
            storage_driver: "overlayfs".to_string(),
            cgroup_version: cgroup.to_string(),
            kernel_version: kernel,
            operating_system: os,
            registry_mirrors: config
                .mirrors
                .iter()
                .flat_map(|(domain, urls)| urls.iter().map(move |u| format!("{domain}={u}")))
                .collect(),
            insecure_registries: std::iter::once("localhost, 127.0.0.0/8, ::1".to_string())
                .chain(config.insecure.iter().cloned())
                .collect(),
        })
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
        let id = {
            let (root, spec) = (root.clone(), spec.clone());
            blocking(move || containers::create(&root, &spec)).await?
        };
        let record = self.record(&id).await?;
        let attached = {
            let (root, record) = (root.clone(), record.clone());
            self.with_net(move |net, db| {
                block_on(wiring::attach_container(net, db, &root, &record, &spec))
            })
            .await
        };
        if let Err(e) = attached {
            // Half-attached is not created: undo it all (endpoints first, then the rest).
            let _ = self
                .with_net(move |net, db| Ok(block_on(net.detach_all(db, &id))?))
                .await;
            let _ = blocking(move || containers::remove(&root, &record.id, true, true)).await;
            return Err(e);
        }
        Ok(record.id)
    }

    async fn start_container(&self, name: &str) -> Result<()> {
        let record = self.record(name).await?;
        let root = self.root.clone();
        let name = record.name.clone();
        blocking(move || containers::start(&root, &record.id))
            .await
            .map_err(|e| match e {
                // The monitor's forwarder could not bind a published port.
                RuntimeError::Other { message, .. } if message.contains("is already in use") => {
                    RuntimeError::PortInUse {
                        container: name,
                        message,
                    }
                }
                other => other,
            })
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
        let record = self.record(name).await?;
        let run = state::read_run_state(&self.root, &record.id);
        let active = matches!(run.status.as_str(), "running" | "restarting");
        if force || !active {
            let id = record.id.clone();
            self.with_net(move |net, db| Ok(block_on(net.detach_all(db, &id))?))
                .await?;
        }
        let root = self.root.clone();
        blocking(move || containers::remove(&root, &record.id, force, volumes)).await
    }

    async fn wait_container(&self, name: &str) -> Result<i64> {
        let record = self.record(name).await?;
        let dir = state::container_dir(&self.root, &record.id);
        // Woken by the exit of the container's process (see `wait`), not by a timer.
        let run = super::wait::until_status_async(&self.root, &record.id, |run| {
            !matches!(run.status.as_str(), "running" | "restarting" | "created") || !dir.exists()
        })
        .await;
        Ok(run.exit_code.unwrap_or(0))
    }

    async fn pause_container(&self, name: &str) -> Result<()> {
        self.set_paused(name, true).await
    }

    async fn unpause_container(&self, name: &str) -> Result<()> {
        self.set_paused(name, false).await
    }

    async fn inspect_container(&self, name: &str) -> Result<ContainerInfo> {
        let record = self.record(name).await?;
        let mut info = info_of(&self.root, &record);
        if record.netns.is_some() {
            let id = record.id.clone();
            let endpoints = self
                .with_net(move |net, db| {
                    Ok(net
                        .endpoints(db)?
                        .into_iter()
                        .filter(|e| e.container_id == id)
                        .collect::<Vec<_>>())
                })
                .await?;
            info.networks = endpoints
                .into_iter()
                .map(|e| {
                    let endpoint = NetworkEndpoint {
                        network_id: e.network_id,
                        ip_address: Some(e.ip.to_string()),
                        aliases: e.aliases,
                    };
                    (e.network_name, endpoint)
                })
                .collect();
        }
        Ok(info)
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

    async fn top(&self, name: &str, ps_args: Option<&str>) -> Result<ProcessList> {
        let record = self.record(name).await?;
        let run = observed_state(&self.root, &record.id);
        if !matches!(run.status.as_str(), "running" | "paused") {
            return Err(not_running(&record));
        }
        let pids = super::cgroup::pids(&record.id).map_err(|e| RuntimeError::Other {
            operation: format!("list the processes of container {}", record.name),
            message: e.to_string(),
        })?;
        // Docker's way: the host's `ps` with the caller's arguments, keeping the rows of
        // the container's processes.
        let args: Vec<&str> = ps_args.unwrap_or("-ef").split_whitespace().collect();
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| RuntimeError::Other {
                operation: "top".to_string(),
                message: format!("cannot run ps: {e}; install procps"),
            })?;
        if !out.status.success() {
            return Err(RuntimeError::Other {
                operation: format!("top {}", args.join(" ")),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }

    async fn events(
        &self,
        filter: &EventFilter,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        Ok(super::events::watch(&self.root, filter))
    }

    async fn attach_container(&self, name: &str, options: &AttachOptions) -> Result<AttachedIo> {
        let record = self.record(name).await?;
        if record.tty {
            // The monitor serves the terminal; before the start, the attach waits for it.
            let dir = state::container_dir(&self.root, &record.id);
            let (root, id) = (self.root.clone(), record.id.clone());
            let running = move || {
                matches!(
                    state::read_run_state(&root, &id).status.as_str(),
                    "created" | "running" | "restarting" | "paused"
                )
            };
            let stdin = options.stdin && record.stdin_open;
            return super::console::attach(dir, stdin, options.logs, running).map_err(|e| {
                RuntimeError::Other {
                    operation: format!("attach to {}", record.name),
                    message: e.to_string(),
                }
            });
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

    async fn resize_container_tty(&self, name: &str, size: TtySize) -> Result<()> {
        let record = self.record(name).await?;
        if !record.tty {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: record.name.clone(),
                message: "has no TTY to resize".to_string(),
            });
        }
        let dir = state::container_dir(&self.root, &record.id);
        super::console::resize(&dir, size)
            .await
            .map_err(|e| RuntimeError::Other {
                operation: format!("resize the TTY of {}", record.name),
                message: format!("the container's terminal does not answer ({e}): is it running?"),
            })
    }

    async fn exec(&self, container: &str, spec: &ExecSpec) -> Result<ExecSession> {
        let record = self.record(container).await?;
        super::exec::start(&self.root, &record, spec).await
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>> {
        super::exec::exit_code(exec_id)
    }

    async fn resize_exec(&self, exec_id: &str, size: TtySize) -> Result<()> {
        super::exec::resize(exec_id, size)
    }

    async fn copy_to_container(&self, name: &str, path: &str, tar: Bytes) -> Result<()> {
        let record = self.record(name).await?;
        let root = self.root.clone();
        let path = path.to_string();
        blocking(move || super::copy::copy_to(&root, &record, &path, &tar)).await
    }

    async fn copy_from_container(&self, name: &str, path: &str) -> Result<Bytes> {
        let record = self.record(name).await?;
        let root = self.root.clone();
        let path = path.to_string();
        blocking(move || super::copy::copy_from(&root, &record, &path)).await
    }
}
