//! Conversions between hoist's runtime value types and bollard's request/response types.
//! Pure functions, one per shape, so each mapping can be read (and tested) on its own.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::auth::DockerCredentials;
use bollard::container::LogOutput;
use bollard::models as bm;
use bollard::query_parameters::BuildImageOptions;

use crate::runtime::{
    BuildSpec, ContainerInfo, ContainerSpec, ContainerState, ContainerStatus, ContainerSummary,
    HealthProbe, HealthState, HealthStatus, Healthcheck, ImageConfig, ImageInfo, ImageProgress,
    ImageSummary, IpamSpec, LabelFilter, Mount, MountInfo, MountSource, NetworkAttachment,
    NetworkEndpoint, NetworkInfo, NetworkSpec, ObjectKind, OutputChunk, OutputStream, PortBinding,
    Protocol, PublishedPort, RegistryAuth, RestartPolicy, RuntimeEvent, VolumeInfo, VolumeSpec,
};

// ---------------------------------------------------------------------------------------
// Small shared pieces
// ---------------------------------------------------------------------------------------

fn to_hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn to_btree_map(map: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

fn non_empty<T>(items: &[T]) -> Option<Vec<T>>
where
    T: Clone,
{
    (!items.is_empty()).then(|| items.to_vec())
}

fn non_empty_map(map: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| to_hash_map(map))
}

/// Docker's API durations are integer nanoseconds.
pub(super) fn duration_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Whole seconds, rounded up so a sub-second grace period is not turned into zero.
pub(super) fn duration_secs_ceil(d: Duration) -> i64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

pub(super) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // Before 1970: clamp, Docker treats 0 as "no bound".
        Err(_) => 0,
    }
}

/// `seconds.nanoseconds` since the epoch, the precise form Docker's `since` accepts.
pub(super) fn unix_timestamp_fraction(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
        Err(_) => "0".to_string(),
    }
}

/// `label` filters in Docker's `filters` query form.
pub(super) fn label_filters(labels: &[LabelFilter]) -> HashMap<String, Vec<String>> {
    let mut filters = HashMap::new();
    if !labels.is_empty() {
        let values = labels
            .iter()
            .map(|l| match l {
                LabelFilter::Has(k) => k.clone(),
                LabelFilter::Equals(k, v) => format!("{k}={v}"),
            })
            .collect();
        filters.insert("label".to_string(), values);
    }
    filters
}

pub(super) fn credentials(auth: Option<&RegistryAuth>) -> DockerCredentials {
    // Always send a credentials header: Docker 20.10 rejects a push without one.
    match auth {
        None => DockerCredentials::default(),
        Some(a) => DockerCredentials {
            username: a.username.clone(),
            password: a.password.clone(),
            identitytoken: a.identity_token.clone(),
            serveraddress: a.server_address.clone(),
            ..Default::default()
        },
    }
}

// ---------------------------------------------------------------------------------------
// Networks
// ---------------------------------------------------------------------------------------

pub(super) fn network_create_request(spec: &NetworkSpec) -> bm::NetworkCreateRequest {
    bm::NetworkCreateRequest {
        name: spec.name.clone(),
        driver: spec.driver.clone(),
        internal: Some(spec.internal),
        attachable: Some(spec.attachable),
        enable_ipv6: Some(spec.enable_ipv6),
        ipam: spec.ipam.as_ref().map(ipam),
        options: non_empty_map(&spec.driver_opts),
        labels: non_empty_map(&spec.labels),
        ..Default::default()
    }
}

fn ipam(spec: &IpamSpec) -> bm::Ipam {
    bm::Ipam {
        driver: spec.driver.clone(),
        config: Some(
            spec.pools
                .iter()
                .map(|p| bm::IpamConfig {
                    subnet: p.subnet.clone(),
                    ip_range: p.ip_range.clone(),
                    gateway: p.gateway.clone(),
                    auxiliary_addresses: non_empty_map(&p.aux_addresses),
                })
                .collect(),
        ),
        options: non_empty_map(&spec.options),
    }
}

pub(super) fn network_info(n: bm::Network, containers: Vec<String>) -> NetworkInfo {
    let subnets = n
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.subnet)
        .collect();
    NetworkInfo {
        id: n.id.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        driver: n.driver.unwrap_or_default(),
        labels: to_btree_map(n.labels),
        internal: n.internal.unwrap_or(false),
        enable_ipv6: n.enable_ipv6.unwrap_or(false),
        subnets,
        containers,
    }
}

pub(super) fn endpoint_settings(a: &NetworkAttachment) -> bm::EndpointSettings {
    let ipam_config =
        (a.ipv4_address.is_some() || a.ipv6_address.is_some()).then(|| bm::EndpointIpamConfig {
            ipv4_address: a.ipv4_address.clone(),
            ipv6_address: a.ipv6_address.clone(),
            ..Default::default()
        });
    bm::EndpointSettings {
        aliases: non_empty(&a.aliases),
        links: non_empty(&a.links),
        ipam_config,
        mac_address: a.mac_address.clone(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------

pub(super) fn volume_create_request(spec: &VolumeSpec) -> bm::VolumeCreateRequest {
    bm::VolumeCreateRequest {
        name: Some(spec.name.clone()),
        driver: spec.driver.clone(),
        driver_opts: non_empty_map(&spec.driver_opts),
        labels: non_empty_map(&spec.labels),
        ..Default::default()
    }
}

pub(super) fn volume_info(v: bm::Volume) -> VolumeInfo {
    VolumeInfo {
        name: v.name,
        driver: v.driver,
        mountpoint: v.mountpoint,
        labels: v.labels.into_iter().collect(),
        options: v.options.into_iter().collect(),
        created_at: v.created_at,
    }
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

/// A pull of a bare name pulls every tag of the repository; say `latest` as docker does.
pub(super) fn pull_reference(reference: &str) -> String {
    if reference.contains('@') {
        return reference.to_string();
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

pub(super) use crate::runtime::split_tag;

pub(super) fn healthcheck(h: &Healthcheck) -> bm::HealthConfig {
    bm::HealthConfig {
        test: Some(h.test.clone()),
        interval: h.interval.map(duration_nanos),
        timeout: h.timeout.map(duration_nanos),
        retries: h.retries.map(i64::from),
        start_period: h.start_period.map(duration_nanos),
        start_interval: h.start_interval.map(duration_nanos),
    }
}

fn healthcheck_from(h: bm::HealthConfig) -> Healthcheck {
    let nanos = |n: Option<i64>| {
        n.filter(|n| *n > 0)
            .map(|n| Duration::from_nanos(n.unsigned_abs()))
    };
    Healthcheck {
        test: h.test.unwrap_or_default(),
        interval: nanos(h.interval),
        timeout: nanos(h.timeout),
        retries: h.retries.and_then(|r| u32::try_from(r).ok()),
        start_period: nanos(h.start_period),
        start_interval: nanos(h.start_interval),
    }
}

fn image_config(c: bm::ImageConfig) -> ImageConfig {
    ImageConfig {
        user: c.user.filter(|u| !u.is_empty()),
        env: c.env.unwrap_or_default(),
        cmd: c.cmd,
        entrypoint: c.entrypoint,
        working_dir: c.working_dir.filter(|w| !w.is_empty()),
        exposed_ports: c.exposed_ports.unwrap_or_default(),
        volumes: c.volumes.unwrap_or_default(),
        labels: to_btree_map(c.labels),
        stop_signal: c.stop_signal,
        healthcheck: c.healthcheck.map(healthcheck_from),
    }
}

pub(super) fn image_info(i: bm::ImageInspect) -> ImageInfo {
    ImageInfo {
        id: i.id.unwrap_or_default(),
        repo_tags: i.repo_tags.unwrap_or_default(),
        repo_digests: i.repo_digests.unwrap_or_default(),
        created: i.created,
        size: i.size.unwrap_or(0),
        os: i.os,
        architecture: i.architecture,
        config: i.config.map(image_config).unwrap_or_default(),
        layers: i.root_fs.and_then(|r| r.layers).unwrap_or_default(),
    }
}

pub(super) fn image_summary(i: bm::ImageSummary) -> ImageSummary {
    ImageSummary {
        id: i.id,
        repo_tags: i.repo_tags,
        labels: i.labels.into_iter().collect(),
        created: i.created,
        size: i.size,
    }
}

fn progress_counts(d: Option<bm::ProgressDetail>) -> (Option<u64>, Option<u64>) {
    let d = d.unwrap_or_default();
    let count = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0);
    (count(d.current), count(d.total))
}

pub(super) fn layer_progress(
    id: Option<String>,
    status: Option<String>,
    detail: Option<bm::ProgressDetail>,
) -> Option<ImageProgress> {
    let status = status?;
    let (current, total) = progress_counts(detail);
    Some(ImageProgress::Layer {
        id,
        status,
        current,
        total,
    })
}

pub(super) fn build_options(spec: &BuildSpec) -> BuildImageOptions {
    BuildImageOptions {
        dockerfile: spec
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".to_string()),
        t: spec.tags.first().cloned(),
        // Docker takes repeated `extrahosts` parameters; bollard sends one.
        extrahosts: (spec.extra_hosts.len() == 1).then(|| spec.extra_hosts[0].clone()),
        nocache: spec.no_cache,
        pull: spec.pull.then(|| "1".to_string()),
        rm: true,
        forcerm: true,
        cachefrom: non_empty(&spec.cache_from),
        buildargs: non_empty_map(&spec.build_args),
        labels: non_empty_map(&spec.labels),
        shmsize: spec.shm_size.and_then(|s| i32::try_from(s).ok()),
        networkmode: spec.network.clone(),
        platform: spec.platform.clone().unwrap_or_default(),
        target: spec.target.clone().unwrap_or_default(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------
// Containers: spec -> create body
// ---------------------------------------------------------------------------------------

fn port_key(port: u16, protocol: Protocol) -> String {
    format!("{port}/{protocol}")
}

pub(super) fn port_map(ports: &[PortBinding]) -> HashMap<String, Option<Vec<bm::PortBinding>>> {
    let mut map: HashMap<String, Option<Vec<bm::PortBinding>>> = HashMap::new();
    for p in ports {
        let binding = bm::PortBinding {
            host_ip: p.host_ip.clone(),
            host_port: p.host_port.clone(),
        };
        map.entry(port_key(p.container_port, p.protocol))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    map
}

fn exposed_ports(spec: &ContainerSpec) -> Vec<String> {
    let mut exposed: Vec<String> = spec
        .expose
        .iter()
        .map(|e| {
            if e.contains('/') {
                e.clone()
            } else {
                format!("{e}/tcp")
            }
        })
        .collect();
    // Published ports must be exposed too, as `docker run -p` does.
    for p in &spec.ports {
        let key = port_key(p.container_port, p.protocol);
        if !exposed.contains(&key) {
            exposed.push(key);
        }
    }
    exposed
}

pub(super) fn restart_policy(r: RestartPolicy) -> bm::RestartPolicy {
    use bm::RestartPolicyNameEnum as N;
    let (name, retries) = match r {
        RestartPolicy::No => (N::NO, None),
        RestartPolicy::Always => (N::ALWAYS, None),
        RestartPolicy::UnlessStopped => (N::UNLESS_STOPPED, None),
        RestartPolicy::OnFailure { max_retries } => (N::ON_FAILURE, max_retries.map(i64::from)),
    };
    bm::RestartPolicy {
        name: Some(name),
        maximum_retry_count: retries,
    }
}

/// A bind mount that may create its host path goes through `Binds` (the `Mounts` API
/// refuses missing sources before API 1.42); everything else is a `Mount`.
pub(super) enum DockerMount {
    Bind(String),
    Mount(Box<bm::Mount>),
}

pub(super) fn docker_mount(m: &Mount) -> DockerMount {
    match &m.source {
        MountSource::Bind {
            path,
            create_host_path: true,
            propagation,
            selinux,
        } => {
            let mut opts = vec![if m.read_only { "ro" } else { "rw" }.to_string()];
            opts.extend(selinux.iter().cloned());
            opts.extend(propagation.iter().cloned());
            DockerMount::Bind(format!("{path}:{}:{}", m.target, opts.join(",")))
        }
        MountSource::Bind {
            path, propagation, ..
        } => DockerMount::Mount(Box::new(bm::Mount {
            target: Some(m.target.clone()),
            source: Some(path.clone()),
            typ: Some(bm::MountType::BIND),
            read_only: Some(m.read_only),
            bind_options: propagation.as_ref().map(|p| bm::MountBindOptions {
                propagation: p.parse().ok(),
                ..Default::default()
            }),
            ..Default::default()
        })),
        MountSource::Volume {
            name,
            nocopy,
            subpath,
        } => DockerMount::Mount(Box::new(bm::Mount {
            target: Some(m.target.clone()),
            source: name.clone(),
            typ: Some(bm::MountType::VOLUME),
            read_only: Some(m.read_only),
            volume_options: (*nocopy || subpath.is_some()).then(|| bm::MountVolumeOptions {
                no_copy: nocopy.then_some(true),
                subpath: subpath.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })),
        MountSource::Tmpfs { size_bytes, mode } => DockerMount::Mount(Box::new(bm::Mount {
            target: Some(m.target.clone()),
            typ: Some(bm::MountType::TMPFS),
            read_only: Some(m.read_only),
            tmpfs_options: (size_bytes.is_some() || mode.is_some()).then(|| {
                bm::MountTmpfsOptions {
                    size_bytes: *size_bytes,
                    mode: mode.map(i64::from),
                    ..Default::default()
                }
            }),
            ..Default::default()
        })),
    }
}

fn host_config(spec: &ContainerSpec) -> bm::HostConfig {
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for m in &spec.mounts {
        match docker_mount(m) {
            DockerMount::Bind(b) => binds.push(b),
            DockerMount::Mount(m) => mounts.push(*m),
        }
    }
    // Docker before API 1.44 takes one network at create; the others are connected
    // afterwards (see `DockerRuntime::create_container`).
    let network_mode = match spec.networks.first() {
        Some(first) => Some(first.network.clone()),
        None => spec.network_mode.clone(),
    };
    let r = &spec.resources;
    bm::HostConfig {
        binds: non_empty(&binds),
        mounts: non_empty(&mounts),
        port_bindings: (!spec.ports.is_empty()).then(|| port_map(&spec.ports)),
        network_mode,
        restart_policy: Some(restart_policy(spec.restart)),
        auto_remove: spec.auto_remove.then_some(true),
        init: spec.init,
        privileged: Some(spec.privileged),
        readonly_rootfs: spec.read_only.then_some(true),
        cap_add: non_empty(&spec.cap_add),
        cap_drop: non_empty(&spec.cap_drop),
        security_opt: non_empty(&spec.security_opt),
        extra_hosts: non_empty(&spec.extra_hosts),
        dns: non_empty(&spec.dns),
        dns_search: non_empty(&spec.dns_search),
        dns_options: non_empty(&spec.dns_opt),
        ulimits: non_empty(
            &spec
                .ulimits
                .iter()
                .map(|u| bm::ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect::<Vec<_>>(),
        ),
        sysctls: non_empty_map(&spec.sysctls),
        shm_size: spec.shm_size.and_then(|s| i64::try_from(s).ok()),
        memory: r.memory,
        memory_reservation: r.memory_reservation,
        memory_swap: r.memory_swap,
        memory_swappiness: r.memory_swappiness,
        nano_cpus: r.cpus.map(|c| (c * 1e9).round() as i64),
        cpu_shares: r.cpu_shares,
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        pids_limit: r.pids_limit,
        oom_kill_disable: r.oom_kill_disable,
        oom_score_adj: r.oom_score_adj,
        devices: non_empty(
            &spec
                .devices
                .iter()
                .map(|d| bm::DeviceMapping {
                    path_on_host: Some(d.host_path.clone()),
                    path_in_container: Some(d.container_path.clone()),
                    cgroup_permissions: Some(d.permissions.clone()),
                })
                .collect::<Vec<_>>(),
        ),
        group_add: non_empty(&spec.group_add),
        ipc_mode: spec.ipc_mode.clone(),
        pid_mode: spec.pid_mode.clone(),
        userns_mode: spec.userns_mode.clone(),
        cgroup_parent: spec.cgroup_parent.clone(),
        volumes_from: non_empty(&spec.volumes_from),
        log_config: spec.log.as_ref().map(|l| bm::HostConfigLogConfig {
            typ: Some(l.driver.clone()),
            config: non_empty_map(&l.options),
        }),
        runtime: spec.oci_runtime.clone(),
        ..Default::default()
    }
}

pub(super) fn container_create_body(spec: &ContainerSpec) -> bm::ContainerCreateBody {
    let networking_config = spec.networks.first().map(|first| bm::NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            first.network.clone(),
            endpoint_settings(first),
        )])),
    });
    let exposed = exposed_ports(spec);
    bm::ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.cmd.clone(),
        entrypoint: spec.entrypoint.clone(),
        env: non_empty(&spec.env),
        labels: non_empty_map(&spec.labels),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        tty: Some(spec.tty),
        open_stdin: Some(spec.stdin_open),
        stdin_once: Some(spec.stdin_once),
        // Output is always attachable; stdin only when it is kept open.
        attach_stdin: Some(spec.stdin_open),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        hostname: spec.hostname.clone(),
        domainname: spec.domainname.clone(),
        exposed_ports: non_empty(&exposed),
        healthcheck: spec.healthcheck.as_ref().map(healthcheck),
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: spec.stop_timeout.map(duration_secs_ceil),
        host_config: Some(host_config(spec)),
        networking_config,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------
// Containers: inspect / list -> hoist
// ---------------------------------------------------------------------------------------

fn trim_name(name: &str) -> String {
    name.trim_start_matches('/').to_string()
}

/// Splits a `80/tcp` port key.
fn parse_port_key(key: &str) -> Option<(u16, Protocol)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((port.parse().ok()?, Protocol::parse(proto)?))
}

pub(super) fn published_ports(
    map: Option<HashMap<String, Option<Vec<bm::PortBinding>>>>,
) -> Vec<PublishedPort> {
    let mut ports = Vec::new();
    for (key, bindings) in map.unwrap_or_default() {
        let Some((container_port, protocol)) = parse_port_key(&key) else {
            continue;
        };
        for b in bindings.unwrap_or_default() {
            let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse().ok()) else {
                continue;
            };
            ports.push(PublishedPort {
                container_port,
                protocol,
                host_ip: b.host_ip.unwrap_or_default(),
                host_port,
            });
        }
    }
    ports.sort_by(|a, b| {
        (a.container_port, a.protocol.as_str(), &a.host_ip).cmp(&(
            b.container_port,
            b.protocol.as_str(),
            &b.host_ip,
        ))
    });
    ports
}

fn health_state(h: bm::Health) -> Option<HealthState> {
    use bm::HealthStatusEnum as H;
    let status = match h.status? {
        H::STARTING => HealthStatus::Starting,
        H::HEALTHY => HealthStatus::Healthy,
        H::UNHEALTHY => HealthStatus::Unhealthy,
        H::NONE | H::EMPTY => return None,
    };
    Some(HealthState {
        status,
        failing_streak: h.failing_streak.unwrap_or(0),
        log: h
            .log
            .unwrap_or_default()
            .into_iter()
            .map(|r| HealthProbe {
                exit_code: r.exit_code.unwrap_or(-1),
                output: r.output.unwrap_or_default(),
                start: r.start,
                end: r.end,
            })
            .collect(),
    })
}

fn container_state(s: bm::ContainerState) -> ContainerState {
    let status = s
        .status
        .map(|st| ContainerStatus::parse(st.as_ref()))
        .unwrap_or_else(|| ContainerStatus::Unknown(String::new()));
    ContainerState {
        status,
        running: s.running.unwrap_or(false),
        paused: s.paused.unwrap_or(false),
        restarting: s.restarting.unwrap_or(false),
        oom_killed: s.oom_killed.unwrap_or(false),
        pid: s.pid.filter(|p| *p > 0),
        exit_code: s.exit_code,
        error: s.error.filter(|e| !e.is_empty()),
        started_at: s.started_at,
        finished_at: s.finished_at,
        health: s.health.and_then(health_state),
    }
}

fn mount_info(m: bm::MountPoint) -> MountInfo {
    MountInfo {
        kind: m.typ.unwrap_or_default(),
        name: m.name.filter(|n| !n.is_empty()),
        source: m.source.unwrap_or_default(),
        destination: m.destination.unwrap_or_default(),
        read_only: !m.rw.unwrap_or(true),
    }
}

pub(super) fn container_info(c: bm::ContainerInspectResponse) -> ContainerInfo {
    let config = c.config.unwrap_or_default();
    let settings = c.network_settings.unwrap_or_default();
    let networks = settings
        .networks
        .unwrap_or_default()
        .into_iter()
        .map(|(name, e)| {
            (
                name,
                NetworkEndpoint {
                    network_id: e.network_id.unwrap_or_default(),
                    ip_address: e.ip_address.filter(|ip| !ip.is_empty()),
                    aliases: e.aliases.unwrap_or_default(),
                },
            )
        })
        .collect();
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: trim_name(c.name.as_deref().unwrap_or_default()),
        image: config.image.unwrap_or_default(),
        image_id: c.image.unwrap_or_default(),
        created: c.created,
        labels: to_btree_map(config.labels),
        state: container_state(c.state.unwrap_or_default()),
        restart_count: c.restart_count.unwrap_or(0),
        ports: published_ports(settings.ports),
        mounts: c
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(mount_info)
            .collect(),
        networks,
        cmd: config.cmd.unwrap_or_default(),
        entrypoint: config.entrypoint.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
        tty: config.tty.unwrap_or(false),
        stdin_open: config.open_stdin.unwrap_or(false),
        working_dir: config.working_dir.filter(|w| !w.is_empty()),
        user: config.user.filter(|u| !u.is_empty()),
    }
}

pub(super) fn container_summary(c: bm::ContainerSummary) -> ContainerSummary {
    let ports = c
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            Some(PublishedPort {
                container_port: p.private_port,
                protocol: p
                    .typ
                    .and_then(|t| Protocol::parse(t.as_ref()))
                    .unwrap_or_default(),
                host_ip: p.ip.unwrap_or_default(),
                host_port: p.public_port?,
            })
        })
        .collect();
    let name = c
        .names
        .unwrap_or_default()
        .first()
        .map(|n| trim_name(n))
        .unwrap_or_default();
    ContainerSummary {
        id: c.id.unwrap_or_default(),
        name,
        image: c.image.unwrap_or_default(),
        image_id: c.image_id.unwrap_or_default(),
        command: c.command.unwrap_or_default(),
        labels: to_btree_map(c.labels),
        status: c
            .state
            .map(|s| ContainerStatus::parse(s.as_ref()))
            .unwrap_or_else(|| ContainerStatus::Unknown(String::new())),
        status_text: c.status.unwrap_or_default(),
        created: c.created.unwrap_or(0),
        ports,
    }
}

// ---------------------------------------------------------------------------------------
// Output and events
// ---------------------------------------------------------------------------------------

/// Docker prefixes each line with an RFC 3339 timestamp and a space when asked to.
fn split_timestamp(bytes: bytes::Bytes) -> (Option<String>, bytes::Bytes) {
    let Some(space) = bytes.iter().take(40).position(|b| *b == b' ') else {
        return (None, bytes);
    };
    let head = &bytes[..space];
    let looks_like_time =
        head.len() >= 20 && head[0].is_ascii_digit() && head.get(10) == Some(&b'T');
    match (looks_like_time, std::str::from_utf8(head)) {
        (true, Ok(ts)) => (Some(ts.to_string()), bytes.slice(space + 1..)),
        _ => (None, bytes),
    }
}

pub(super) fn output_chunk(out: LogOutput, timestamps: bool) -> OutputChunk {
    let (stream, bytes) = match out {
        LogOutput::StdOut { message } => (OutputStream::Stdout, message),
        LogOutput::StdErr { message } => (OutputStream::Stderr, message),
        LogOutput::StdIn { message } => (OutputStream::Stdin, message),
        LogOutput::Console { message } => (OutputStream::Console, message),
    };
    let (timestamp, bytes) = if timestamps {
        split_timestamp(bytes)
    } else {
        (None, bytes)
    };
    OutputChunk {
        stream,
        bytes,
        timestamp,
    }
}

pub(super) fn object_kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Container => "container",
        ObjectKind::Image => "image",
        ObjectKind::Network => "network",
        ObjectKind::Volume => "volume",
        // Exec events are container events in Docker.
        ObjectKind::Exec => "container",
    }
}

pub(super) fn runtime_event(e: bm::EventMessage) -> RuntimeEvent {
    use bm::EventMessageTypeEnum as T;
    let kind = e.typ.and_then(|t| match t {
        T::CONTAINER => Some(ObjectKind::Container),
        T::IMAGE => Some(ObjectKind::Image),
        T::NETWORK => Some(ObjectKind::Network),
        T::VOLUME => Some(ObjectKind::Volume),
        _ => None,
    });
    let actor = e.actor.unwrap_or_default();
    let time_nanos = e
        .time_nano
        .or_else(|| e.time.map(|t| t.saturating_mul(1_000_000_000)))
        .unwrap_or(0);
    RuntimeEvent {
        kind,
        action: e.action.unwrap_or_default(),
        id: actor.id.unwrap_or_default(),
        attributes: to_btree_map(actor.attributes),
        time_nanos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Mount;

    #[test]
    fn pull_reference_adds_latest_only_to_bare_names() {
        assert_eq!(pull_reference("busybox"), "busybox:latest");
        assert_eq!(
            pull_reference("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            pull_reference("localhost:5000/app:1"),
            "localhost:5000/app:1"
        );
        assert_eq!(pull_reference("app@sha256:abc"), "app@sha256:abc");
    }

    #[test]
    fn split_tag_ignores_registry_port() {
        assert_eq!(
            split_tag("localhost:5000/app"),
            ("localhost:5000/app".to_string(), None)
        );
        assert_eq!(
            split_tag("localhost:5000/app:v2"),
            ("localhost:5000/app".to_string(), Some("v2".to_string()))
        );
    }

    #[test]
    fn bind_that_creates_its_host_path_becomes_a_binds_entry() {
        let m = Mount {
            target: "/data".into(),
            source: MountSource::Bind {
                path: "/srv".into(),
                create_host_path: true,
                propagation: None,
                selinux: Some("z".into()),
            },
            read_only: true,
        };
        match docker_mount(&m) {
            DockerMount::Bind(b) => assert_eq!(b, "/srv:/data:ro,z"),
            DockerMount::Mount(_) => panic!("expected a Binds entry"),
        }
    }

    #[test]
    fn port_map_groups_bindings_by_container_port() {
        let p = |host: &str| PortBinding {
            container_port: 80,
            protocol: Protocol::Tcp,
            host_ip: Some("127.0.0.1".into()),
            host_port: Some(host.into()),
        };
        let map = port_map(&[p("8080"), p("8081")]);
        assert_eq!(map["80/tcp"].as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn timestamps_are_split_from_log_lines() {
        let chunk = output_chunk(
            LogOutput::StdOut {
                message: bytes::Bytes::from_static(b"2024-01-02T03:04:05.123456789Z hello\n"),
            },
            true,
        );
        assert_eq!(
            chunk.timestamp.as_deref(),
            Some("2024-01-02T03:04:05.123456789Z")
        );
        assert_eq!(&chunk.bytes[..], b"hello\n");
    }

    #[test]
    fn sub_second_stop_timeout_rounds_up() {
        assert_eq!(duration_secs_ceil(Duration::from_millis(1500)), 2);
        assert_eq!(duration_secs_ceil(Duration::from_secs(0)), 0);
    }
}
