//! Container runtimes: the [`Runtime`] trait the engine drives, and hoist's own value types
//! for everything that crosses it (container specs, inspect results, log chunks, events).
//!
//! Not for: the compose file format (the engine translates a `compose::Project` into these
//! plain specs), nor any backend's wire types. [`docker`] implements the trait on a Docker
//! Engine API endpoint through bollard; the bundled native runtime implements the same
//! contract, so nothing above this module knows which backend it drives.
//!
//! The engine holds a backend as `Arc<dyn Runtime>`: the trait is object-safe through
//! `async_trait` (every method returns a boxed `Send` future), and streams are
//! [`BoxStream`]s that own their connection (`'static`), so they can outlive the call that
//! opened them and move between tasks.

pub mod docker;
pub mod dry_run;
pub mod native;

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
pub use futures_util::stream::BoxStream;
use tokio::io::AsyncWrite;

/// The result of every runtime call.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A byte sink feeding a container's or an exec's stdin; shut it down to send EOF.
pub type StdinWriter = Pin<Box<dyn AsyncWrite + Send>>;

/// Receives progress while a pull, push or build runs. Called from the task driving the
/// operation; keep it cheap (forward to a channel, update a progress bar).
pub type ProgressSink<'a> = &'a (dyn Fn(ImageProgress) + Send + Sync);

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// What kind of runtime object an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Container,
    Image,
    Network,
    Volume,
    Exec,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Container => "container",
            ObjectKind::Image => "image",
            ObjectKind::Network => "network",
            ObjectKind::Volume => "volume",
            ObjectKind::Exec => "exec instance",
        })
    }
}

/// Every failure of a runtime call. The variants are the cases the engine acts on
/// differently (create what is missing, report a name clash, pick another port, fall back
/// to another backend); everything else is [`RuntimeError::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeError {
    /// Nothing answers at the runtime's endpoint.
    EngineUnreachable { endpoint: String, hint: String },
    /// The named object does not exist.
    NotFound { kind: ObjectKind, name: String },
    /// The object exists already, is in use, or is in a state that forbids the operation
    /// (name taken, network with active endpoints, container not running...).
    Conflict {
        kind: ObjectKind,
        name: String,
        message: String,
    },
    /// A published host port is already bound by something else.
    PortInUse { container: String, message: String },
    /// An image build failed; `message` is the builder's error (the failing step's output
    /// went to the progress sink).
    BuildFailed { message: String },
    /// A pull or push failed (unknown image, registry unreachable, denied).
    RegistryFailed { reference: String, message: String },
    /// The backend does not implement this operation.
    Unsupported { operation: String, backend: String },
    /// Anything else: which operation failed on what, and the runtime's own message.
    Other { operation: String, message: String },
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::EngineUnreachable { endpoint, hint } => {
                write!(f, "cannot reach the container engine at {endpoint}: {hint}")
            }
            RuntimeError::NotFound { kind, name } => write!(f, "{kind} \"{name}\" not found"),
            RuntimeError::Conflict {
                kind,
                name,
                message,
            } => write!(f, "{kind} \"{name}\": {message}"),
            RuntimeError::PortInUse { container, message } => write!(
                f,
                "cannot publish a port of container \"{container}\": {message}; \
                 stop whatever holds the host port or publish on another one"
            ),
            RuntimeError::BuildFailed { message } => write!(f, "image build failed: {message}"),
            RuntimeError::RegistryFailed { reference, message } => write!(
                f,
                "registry operation on \"{reference}\" failed: {message}; check the image \
                 name, your network and `docker login`"
            ),
            RuntimeError::Unsupported { operation, backend } => write!(
                f,
                "the {backend} backend does not support {operation}; use the other backend \
                 (`--backend`)"
            ),
            RuntimeError::Other { operation, message } => write!(f, "{operation}: {message}"),
        }
    }
}

impl std::error::Error for RuntimeError {}

impl RuntimeError {
    /// True for [`RuntimeError::NotFound`]: lets idempotent cleanup ignore what is gone.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuntimeError::NotFound { .. })
    }
}

// ---------------------------------------------------------------------------------------
// System
// ---------------------------------------------------------------------------------------

/// Which runtime answered, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// `docker` or `native`.
    pub backend: String,
    /// The engine's own version, e.g. `20.10.24`.
    pub version: String,
    /// The API version in use after negotiation (empty for the native runtime).
    pub api_version: String,
    /// Where the runtime lives: a socket URL or a data root.
    pub endpoint: String,
    pub os: String,
    pub arch: String,
}

/// A label selector: `key` present, or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LabelFilter {
    Has(String),
    Equals(String, String),
}

impl LabelFilter {
    pub fn has(key: impl Into<String>) -> Self {
        LabelFilter::Has(key.into())
    }

    pub fn equals(key: impl Into<String>, value: impl Into<String>) -> Self {
        LabelFilter::Equals(key.into(), value.into())
    }

    /// `key` or `key=value`, as `--filter label=...` takes it.
    pub fn parse(text: &str) -> Self {
        match text.split_once('=') {
            Some((key, value)) => LabelFilter::equals(key, value),
            None => LabelFilter::has(text),
        }
    }

    /// Whether `labels` satisfy this selector (for backends filtering by hand).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelFilter::Has(key) => labels.contains_key(key),
            LabelFilter::Equals(key, value) => labels.get(key) == Some(value),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Networks
// ---------------------------------------------------------------------------------------

/// A network to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    /// `None` = the runtime's default (bridge).
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub ipam: Option<IpamSpec>,
}

/// Address management of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpamSpec {
    pub driver: Option<String>,
    pub pools: Vec<IpamPool>,
    pub options: BTreeMap<String, String>,
}

/// One subnet of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpamPool {
    pub subnet: Option<String>,
    pub ip_range: Option<String>,
    pub gateway: Option<String>,
    pub aux_addresses: BTreeMap<String, String>,
}

/// An existing network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub internal: bool,
    pub enable_ipv6: bool,
    /// Subnets in CIDR form.
    pub subnets: Vec<String>,
    /// Ids of the containers attached (filled by inspect; list may leave it empty).
    pub containers: Vec<String>,
}

/// How a container joins one network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// Network name or id.
    pub network: String,
    /// Extra names the container answers to on this network.
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub mac_address: Option<String>,
    pub links: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------

/// A named volume to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// An existing volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    pub driver: String,
    /// Where the data lives on the host.
    pub mountpoint: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub created_at: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

/// Credentials for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub identity_token: Option<String>,
    pub server_address: Option<String>,
}

impl fmt::Debug for RegistryAuth {
    // Never print secrets, even in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("server_address", &self.server_address)
            .finish_non_exhaustive()
    }
}

/// One progress event of a pull, push or build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageProgress {
    /// Layer-level status of a pull or push (`Downloading`, `Pull complete`...).
    Layer {
        /// Layer id, or `None` for image-level lines (`Digest: ...`, `Status: ...`).
        id: Option<String>,
        status: String,
        current: Option<u64>,
        total: Option<u64>,
    },
    /// Builder output (step headers, RUN output), as the builder printed it.
    BuildOutput(String),
}

impl ImageProgress {
    /// One line for a progress view: `<layer> <status>`, or the builder's line.
    pub fn text(&self) -> String {
        match self {
            ImageProgress::Layer {
                id: Some(id),
                status,
                ..
            } => format!("{id} {status}"),
            ImageProgress::Layer {
                id: None, status, ..
            } => status.clone(),
            ImageProgress::BuildOutput(text) => text.trim_end().to_string(),
        }
    }
}

/// The `--filter`s of `image prune`, as `docker image prune` takes them; the CLI parses
/// them, each backend applies them (the docker backend hands them to the engine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePruneFilters {
    /// `until=<timestamp|duration>`: only images created before this instant. The value as
    /// given is kept for the engine, which reads it against its own clock.
    pub until: Option<(String, SystemTime)>,
    /// `label=<key>[=<value>]`: only images carrying every one of these.
    pub labels: Vec<LabelFilter>,
    /// `label!=<key>[=<value>]`: images carrying all of these are kept.
    pub not_labels: Vec<LabelFilter>,
}

/// What an image or build-cache prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Names taken off images (`untagged: ...`).
    pub untagged: Vec<String>,
    /// Images, layers or cache records deleted (`deleted: sha256:...`).
    pub deleted: Vec<String>,
    pub reclaimed_bytes: u64,
}

/// Facts about the runtime's host and storage, for `hoist info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemInfo {
    /// Where images and containers live (the engine's `DockerRootDir`, or `HOIST_ROOT`).
    pub data_root: String,
    pub storage_driver: String,
    /// `1` or `2`.
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
}

/// An image to build from a tar context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildSpec {
    /// The build context as an uncompressed tar (already filtered by `.dockerignore`).
    pub context_tar: Bytes,
    /// Path of the Dockerfile inside the context; `None` = `Dockerfile`.
    pub dockerfile: Option<String>,
    /// Every name the result gets (`repo:tag`); the first is the primary one.
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    /// Multi-stage target.
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    /// Always try to pull newer versions of base images.
    pub pull: bool,
    pub platform: Option<String>,
    /// Network mode for RUN steps (`host`, `none`, a network name).
    pub network: Option<String>,
    /// `host:ip` entries added to /etc/hosts during RUN steps.
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<u64>,
    pub cache_from: Vec<String>,
    /// Build secrets by id (`RUN --mount=type=secret,id=...`): where each value comes from.
    pub secrets: BTreeMap<String, BuildSecret>,
    /// Named contexts (compose `additional_contexts`, `--build-context`), by name: what
    /// `FROM <name>`, `COPY --from=<name>` and `RUN --mount=from=<name>` see; a stage of
    /// the same name is replaced by it, as BuildKit does.
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// SSH agent sockets for `RUN --mount=type=ssh`, by id (`default` unless named).
    pub ssh: BTreeMap<String, std::path::PathBuf>,
}

/// The value of a build secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildSecret {
    /// Read from this file when a step mounts it.
    File(std::path::PathBuf),
    /// The value itself (a compose secret with `environment:`, read when the spec was made).
    Value(String),
}

/// A named build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A local directory, packed like the main context (its own `.dockerignore` applied).
    Dir {
        /// Where it was read from, for messages.
        path: std::path::PathBuf,
        tar: Bytes,
    },
    /// An image (`docker-image://<ref>`, or compose `service:<name>`: that service's image).
    Image(String),
}

/// Runtime configuration baked into an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub user: Option<String>,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: Option<String>,
    /// `port/proto`, e.g. `80/tcp`.
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<Healthcheck>,
}

/// An image in the local store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// `sha256:...`
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub created: Option<String>,
    pub size: i64,
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub config: ImageConfig,
    /// The layers' diff ids (`RootFS.Layers`), bottom first.
    pub layers: Vec<String>,
}

/// An image as listed (cheaper than inspect).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub created: i64,
    pub size: i64,
}

// ---------------------------------------------------------------------------------------
// Containers: spec
// ---------------------------------------------------------------------------------------

/// Everything needed to create one container. Plain data: the engine fills it from the
/// compose model; empty / `None` fields mean "the image's or runtime's default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    /// Image reference or id.
    pub image: String,
    /// Overrides the image's CMD when `Some`.
    pub cmd: Option<Vec<String>>,
    /// Overrides the image's ENTRYPOINT when `Some` (`Some(vec![])` resets it).
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value` entries, in order.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub stdin_open: bool,
    /// Close stdin when the first attached client detaches (`run -i`: EOF reaches the
    /// process when the user's input ends).
    pub stdin_once: bool,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<Mount>,
    /// Extra `port/proto` to expose without publishing.
    pub expose: Vec<String>,
    pub ports: Vec<PortBinding>,
    /// Networks to join with their aliases; the first is the primary one.
    pub networks: Vec<NetworkAttachment>,
    /// `host`, `none`, `container:<id>`, ...; used only when `networks` is empty.
    pub network_mode: Option<String>,
    pub restart: RestartPolicy,
    pub healthcheck: Option<Healthcheck>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<Duration>,
    /// Run an init process as PID 1.
    pub init: Option<bool>,
    pub privileged: bool,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    /// `hostname:ip` entries.
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub ulimits: Vec<Ulimit>,
    pub sysctls: BTreeMap<String, String>,
    pub shm_size: Option<u64>,
    pub resources: Resources,
    pub devices: Vec<DeviceMapping>,
    pub group_add: Vec<String>,
    pub ipc_mode: Option<String>,
    pub pid_mode: Option<String>,
    pub userns_mode: Option<String>,
    pub cgroup_parent: Option<String>,
    pub volumes_from: Vec<String>,
    pub log: Option<LogConfig>,
    pub platform: Option<String>,
    /// OCI runtime name (`runc`, `crun`...).
    pub oci_runtime: Option<String>,
    /// The runtime removes the container (and its anonymous volumes) once it exits
    /// (`run -d --rm`).
    pub auto_remove: bool,
}

/// Memory and CPU limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// Bytes of memory+swap; -1 = unlimited.
    pub memory_swap: Option<i64>,
    pub memory_swappiness: Option<i64>,
    /// Fractional CPUs, e.g. `0.5`.
    pub cpus: Option<f64>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub oom_score_adj: Option<i64>,
}

/// One filesystem mount of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the container.
    pub target: String,
    pub source: MountSource,
    pub read_only: bool,
}

/// Where a mount's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A host path.
    Bind {
        path: String,
        /// Create the host path when missing (compose's default for short syntax).
        create_host_path: bool,
        /// `rprivate`, `shared`, `slave`... `None` = runtime default.
        propagation: Option<String>,
        /// SELinux relabel: `z` (shared) or `Z` (private).
        selinux: Option<String>,
    },
    /// A named volume, or an anonymous one when `name` is `None`.
    Volume {
        name: Option<String>,
        /// Do not fill a new volume with the image's content at the target.
        nocopy: bool,
        subpath: Option<String>,
    },
    /// A fresh tmpfs.
    Tmpfs {
        size_bytes: Option<i64>,
        /// Octal file mode, e.g. `0o1777`.
        mode: Option<u32>,
    },
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// Parses `tcp`/`udp`/`sctp` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "sctp" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container port published on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortBinding {
    pub container_port: u16,
    pub protocol: Protocol,
    /// Host address to bind; `None` = all addresses.
    pub host_ip: Option<String>,
    /// Host port, or a `start-end` range to pick from; `None` = any free port.
    pub host_port: Option<String>,
}

/// When the runtime restarts a container by itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    OnFailure {
        max_retries: Option<u32>,
    },
}

/// A container healthcheck.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["CMD", args...]`, `["CMD-SHELL", "cmd"]`, or `["NONE"]` to disable the image's.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
}

/// A resource limit (`ulimit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// A host device made available in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub host_path: String,
    pub container_path: String,
    /// e.g. `rwm`.
    pub permissions: String,
}

/// Where a container's output is recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogConfig {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------
// Containers: observed state
// ---------------------------------------------------------------------------------------

/// Lifecycle state of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// A state this version of hoist does not know, as the runtime named it.
    Unknown(String),
}

impl ContainerStatus {
    /// Parses the runtime's lowercase state name (`running`, `exited`...).
    pub fn parse(s: &str) -> Self {
        match s {
            "created" => ContainerStatus::Created,
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "restarting" => ContainerStatus::Restarting,
            "removing" => ContainerStatus::Removing,
            "exited" => ContainerStatus::Exited,
            "dead" => ContainerStatus::Dead,
            other => ContainerStatus::Unknown(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
            ContainerStatus::Unknown(s) => s,
        }
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Healthcheck verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

/// Health of a container with a healthcheck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthState {
    pub status: HealthStatus,
    pub failing_streak: i64,
    /// The most recent probes, oldest first.
    pub log: Vec<HealthProbe>,
}

/// One healthcheck run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthProbe {
    pub exit_code: i64,
    pub output: String,
    pub start: Option<String>,
    pub end: Option<String>,
}

/// Process state of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub status: ContainerStatus,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    pub pid: Option<i64>,
    /// Meaningful once the container has exited.
    pub exit_code: Option<i64>,
    /// Why the runtime failed to start it, if it did.
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// `None` when the container has no healthcheck.
    pub health: Option<HealthState>,
}

/// A published port as bound by the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub container_port: u16,
    pub protocol: Protocol,
    pub host_ip: String,
    pub host_port: u16,
}

/// A mount as the runtime set it up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountInfo {
    /// `bind`, `volume`, `tmpfs`...
    pub kind: String,
    /// Volume name for volumes.
    pub name: Option<String>,
    /// Host path (bind) or volume data path.
    pub source: String,
    pub destination: String,
    pub read_only: bool,
}

/// A container's endpoint on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkEndpoint {
    pub network_id: String,
    pub ip_address: Option<String>,
    pub aliases: Vec<String>,
}

/// Everything `inspect` reports about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// The image reference the container was created from.
    pub image: String,
    /// `sha256:...` of the image.
    pub image_id: String,
    pub created: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub state: ContainerState,
    pub restart_count: i64,
    pub ports: Vec<PublishedPort>,
    pub mounts: Vec<MountInfo>,
    /// Keyed by network name.
    pub networks: BTreeMap<String, NetworkEndpoint>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub tty: bool,
    pub stdin_open: bool,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

/// A container as listed (cheaper than inspect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub image: String,
    pub image_id: String,
    /// The command line the container runs, as one string (`ps`'s COMMAND column).
    pub command: String,
    pub labels: BTreeMap<String, String>,
    pub status: ContainerStatus,
    /// Human status text, e.g. `Up 3 minutes (healthy)`.
    pub status_text: String,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<PublishedPort>,
}

/// Which containers to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerListOptions {
    /// Include stopped containers.
    pub all: bool,
    /// Every selector must match.
    pub labels: Vec<LabelFilter>,
}

// ---------------------------------------------------------------------------------------
// Containers: I/O
// ---------------------------------------------------------------------------------------

/// Which stream a chunk of container output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    Stdout,
    Stderr,
    Stdin,
    /// A TTY's merged output (no stdout/stderr distinction exists).
    Console,
}

/// A piece of container output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: OutputStream,
    pub bytes: Bytes,
    /// RFC 3339 timestamp with nanoseconds, when the caller asked for timestamps.
    pub timestamp: Option<String>,
}

/// What part of a container's log to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new output until the container stops.
    pub follow: bool,
    /// Only the last n lines; `None` = everything.
    pub tail: Option<u64>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    pub timestamps: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            follow: false,
            tail: None,
            since: None,
            until: None,
            timestamps: false,
            stdout: true,
            stderr: true,
        }
    }
}

/// What to attach to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the output produced before attaching.
    pub logs: bool,
    /// Key sequence that detaches, e.g. `ctrl-p,ctrl-q`.
    pub detach_keys: Option<String>,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            stdin: false,
            stdout: true,
            stderr: true,
            logs: false,
            detach_keys: None,
        }
    }
}

/// A live connection to a container's or an exec's stdio.
pub struct AttachedIo {
    /// Output until the process exits or the caller drops it.
    pub output: BoxStream<'static, Result<OutputChunk>>,
    /// Writes to the process's stdin (a sink that discards when stdin was not attached).
    pub input: StdinWriter,
}

impl fmt::Debug for AttachedIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttachedIo")
    }
}

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtySize {
    pub rows: u16,
    pub cols: u16,
}

/// A command to run inside a running container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    /// `KEY=value` entries added to the container's environment.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub tty: bool,
    pub stdin: bool,
    pub privileged: bool,
    /// `exec -d`: nobody reads the output; the engine discards it (the process must not
    /// get SIGPIPE or EOF when the caller goes away).
    pub detach: bool,
}

/// A started exec, attached.
pub struct ExecSession {
    /// Pass to [`Runtime::exec_exit_code`] and [`Runtime::resize_exec`].
    pub id: String,
    pub io: AttachedIo,
}

impl fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecSession").field("id", &self.id).finish()
    }
}

/// A finished exec's collected output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// With a TTY everything lands here.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Processes running in a container (`ps` output).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessList {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

/// Which events to receive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Every selector must match the object's labels.
    pub labels: Vec<LabelFilter>,
    /// Only these object kinds; empty = all.
    pub kinds: Vec<ObjectKind>,
    /// Replay events since this time, then stream new ones; `None` = from the moment of
    /// the `events` call (even if the stream is first polled later).
    pub since: Option<SystemTime>,
}

/// Something happened to a runtime object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    /// `None` for kinds hoist does not model (daemon, plugin...).
    pub kind: Option<ObjectKind>,
    /// `create`, `start`, `die`, `health_status: healthy`, `destroy`...
    pub action: String,
    /// Object id.
    pub id: String,
    /// Labels and other attributes (`name`, `image`, `exitCode`...).
    pub attributes: BTreeMap<String, String>,
    /// Unix nanoseconds.
    pub time_nanos: i64,
}

// ---------------------------------------------------------------------------------------
// The trait
// ---------------------------------------------------------------------------------------

/// The contract between the engine and a container runtime. Names are container / network /
/// volume names or ids, image references or ids. Calls are independent and may run
/// concurrently from many tasks.
#[async_trait]
pub trait Runtime: Send + Sync {
    // -- system --

    /// Checks the runtime answers; the cheapest possible call.
    async fn ping(&self) -> Result<()>;
    /// Which backend this is, its version and endpoint.
    async fn info(&self) -> Result<RuntimeInfo>;

    // -- networks --

    /// Creates a network and returns its id.
    async fn create_network(&self, spec: &NetworkSpec) -> Result<String>;
    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo>;
    async fn list_networks(&self, labels: &[LabelFilter]) -> Result<Vec<NetworkInfo>>;
    async fn remove_network(&self, name: &str) -> Result<()>;
    async fn connect_network(&self, container: &str, attachment: &NetworkAttachment) -> Result<()>;
    async fn disconnect_network(&self, container: &str, network: &str, force: bool) -> Result<()>;

    // -- volumes --

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo>;
    async fn inspect_volume(&self, name: &str) -> Result<VolumeInfo>;
    async fn list_volumes(&self, labels: &[LabelFilter]) -> Result<Vec<VolumeInfo>>;
    async fn remove_volume(&self, name: &str, force: bool) -> Result<()>;

    // -- images --

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo>;
    async fn list_images(&self, labels: &[LabelFilter]) -> Result<Vec<ImageSummary>>;
    /// Pulls `reference` (`name[:tag|@digest]`), reporting progress.
    async fn pull_image(
        &self,
        reference: &str,
        platform: Option<&str>,
        auth: Option<&RegistryAuth>,
        progress: ProgressSink<'_>,
    ) -> Result<()>;
    /// Builds an image, reporting builder output; returns the image id.
    async fn build_image(&self, spec: &BuildSpec, progress: ProgressSink<'_>) -> Result<String>;
    /// Gives image `source` the additional name `target` (`repo[:tag]`).
    async fn tag_image(&self, source: &str, target: &str) -> Result<()>;
    async fn push_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        progress: ProgressSink<'_>,
    ) -> Result<()>;
    async fn remove_image(&self, reference: &str, force: bool) -> Result<()>;
    /// Removes dangling images (untagged), or with `all` every image no container uses,
    /// of those `filters` admit, and reclaims their content.
    async fn prune_images(&self, all: bool, filters: &ImagePruneFilters) -> Result<PruneReport>;
    /// Writes `references` to `path` as one `docker save` archive (with the OCI layout
    /// files too where the backend writes them).
    async fn save_images(&self, references: &[String], path: &std::path::Path) -> Result<()>;
    /// Loads a `docker save` or OCI image-layout archive (plain or gzip) from `path`;
    /// returns what was loaded, one `Loaded image: ...` line each.
    async fn load_images(&self, path: &std::path::Path) -> Result<Vec<String>>;
    /// Removes the build cache no image uses, or with `all` all of it.
    async fn prune_build_cache(&self, all: bool) -> Result<PruneReport>;
    /// The host and storage facts of `hoist info`.
    async fn system_info(&self) -> Result<SystemInfo>;

    // -- containers: lifecycle --

    /// Creates a container (not started) joined to all of `spec.networks`; returns its id.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String>;
    async fn start_container(&self, name: &str) -> Result<()>;
    /// Sends the stop signal, waits up to `timeout` (`None` = the container's own stop
    /// timeout), then kills. Stopping a stopped container succeeds.
    async fn stop_container(&self, name: &str, timeout: Option<Duration>) -> Result<()>;
    /// Sends `signal` (`SIGKILL`, `HUP`, `9`...).
    async fn kill_container(&self, name: &str, signal: &str) -> Result<()>;
    async fn restart_container(&self, name: &str, timeout: Option<Duration>) -> Result<()>;
    /// Removes a container; `force` kills it first, `volumes` removes its anonymous volumes.
    async fn remove_container(&self, name: &str, force: bool, volumes: bool) -> Result<()>;
    /// Waits until the container stops and returns its exit code (non-zero is not an error).
    async fn wait_container(&self, name: &str) -> Result<i64>;
    async fn pause_container(&self, name: &str) -> Result<()>;
    async fn unpause_container(&self, name: &str) -> Result<()>;

    // -- containers: observation --

    async fn inspect_container(&self, name: &str) -> Result<ContainerInfo>;
    async fn list_containers(
        &self,
        options: &ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>>;
    /// The container's recorded output; with `follow`, streams until it stops.
    async fn logs(
        &self,
        name: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<OutputChunk>>>;
    async fn top(&self, name: &str, ps_args: Option<&str>) -> Result<ProcessList>;
    /// Runtime events as they happen, until the stream is dropped.
    async fn events(
        &self,
        filter: &EventFilter,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>>;

    // -- containers: I/O --

    /// Connects to a (possibly not yet started) container's stdio.
    async fn attach_container(&self, name: &str, options: &AttachOptions) -> Result<AttachedIo>;
    async fn resize_container_tty(&self, name: &str, size: TtySize) -> Result<()>;
    /// Starts `spec` in a running container and attaches to it.
    async fn exec(&self, container: &str, spec: &ExecSpec) -> Result<ExecSession>;
    /// The exit code of a finished exec, `None` while it still runs.
    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>>;
    async fn resize_exec(&self, exec_id: &str, size: TtySize) -> Result<()>;
    /// Extracts the tar archive `tar` into directory `path` of the container.
    async fn copy_to_container(&self, name: &str, path: &str, tar: Bytes) -> Result<()>;
    /// A tar archive of `path` in the container (the path's last component at its root).
    async fn copy_from_container(&self, name: &str, path: &str) -> Result<Bytes>;

    // -- conveniences built on the above --

    /// Runs `spec` to completion without stdin and collects its output and exit code.
    async fn exec_collect(&self, container: &str, spec: &ExecSpec) -> Result<ExecOutput> {
        use futures_util::StreamExt;
        let mut session = self.exec(container, spec).await?;
        let mut output = ExecOutput::default();
        while let Some(chunk) = session.io.output.next().await {
            let chunk = chunk?;
            match chunk.stream {
                OutputStream::Stderr => output.stderr.extend_from_slice(&chunk.bytes),
                _ => output.stdout.extend_from_slice(&chunk.bytes),
            }
        }
        // The output ends when the process closes its stdio; its exit code can be
        // recorded a moment later.
        let mut delay = Duration::from_millis(5);
        loop {
            if let Some(code) = self.exec_exit_code(&session.id).await? {
                output.exit_code = code;
                return Ok(output);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }
}

/// The number of a Linux signal named as Docker accepts it: `SIGTERM`, `TERM`, `term`,
/// `SIGRTMIN+3`, or a number.
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    const NAMES: [(&str, i32); 31] = [
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("IOT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("STKFLT", 16),
        ("CHLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("PWR", 30),
    ];
    if let Some((_, n)) = NAMES.iter().find(|(n, _)| *n == bare) {
        return Some(*n);
    }
    if bare == "SYS" {
        return Some(31);
    }
    // Real-time signals: SIGRTMIN is 34 on Linux with glibc's reservation, as Docker maps it.
    let offset = |rest: &str, base: i32, sign: i32| -> Option<i32> {
        let n = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix(if sign > 0 { '+' } else { '-' })?
                .parse::<i32>()
                .ok()?
        };
        let v = base + sign * n;
        (34..=64).contains(&v).then_some(v)
    };
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        return offset(rest, 34, 1);
    }
    if let Some(rest) = bare.strip_prefix("RTMAX") {
        return offset(rest, 64, -1);
    }
    None
}

/// Splits `repo[:tag]` into its parts (a `:` inside a registry host:port is not a tag).
pub fn split_tag(reference: &str) -> (String, Option<String>) {
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_start..].rfind(':') {
        Some(i) => {
            let at = name_start + i;
            (
                reference[..at].to_string(),
                Some(reference[at + 1..].to_string()),
            )
        }
        None => (reference.to_string(), None),
    }
}
