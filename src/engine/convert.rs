//! Translation of the compose model into the runtime's plain specs: a service replica into a
//! [`ContainerSpec`], top-level networks and volumes into [`NetworkSpec`]/[`VolumeSpec`], a
//! service's `build:` into a [`BuildSpec`]. Labels and names follow docker compose, so each
//! tool recognises the other's objects.
//!
//! Pure functions: no I/O. What needs the observed state (the container a `service:x`
//! reference points at, the image id) comes in through [`ConvertContext`]. Not for: deciding
//! what to create (the planner), packing build contexts ([`crate::build::context`]).
//!
//! Not carried (the runtime spec has no field for them): `annotations`, `blkio_config`,
//! `cpu_count`, `cpu_percent`, `cpu_rt_*`, `credential_spec`, `device_cgroup_rules`,
//! `gpus` / device reservations, `isolation`, `storage_opt`, `uts`, `cgroup`,
//! `volume_driver`, secrets/configs without a `file` (the engine writes them into the
//! created container: `specs::injected_files`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::build::context::BuildContext;
use crate::compose::model::{
    self, NetworkConfig, Project, ServiceConfig, ServiceVolume, VolumeConfig, VolumeType,
};
use crate::engine::labels;
use crate::runtime::{
    BuildSecret, BuildSpec, ContainerSpec, DeviceMapping, Healthcheck, IpamPool, IpamSpec,
    LogConfig, Mount, MountSource, NetworkAttachment, NetworkSpec, PortBinding, Protocol,
    Resources, RestartPolicy, Ulimit, VolumeSpec,
};

/// A service field that cannot be turned into a runtime spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    pub service: String,
    /// The compose key, e.g. `ports[2]` or `network_mode`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "services.{}.{}: {}",
            self.service, self.field, self.message
        )
    }
}

impl std::error::Error for ConvertError {}

/// A `run` container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OneOff {
    /// Random hex identifying the run (`com.docker.compose.slug`; its first 12 characters
    /// name the container).
    pub slug: String,
    /// `run --use-aliases`: also answer to the service name on the networks.
    pub use_aliases: bool,
}

/// What the conversion needs beyond the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConvertContext {
    /// The project directory (`com.docker.compose.project.working_dir`).
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    pub environment_file: Option<PathBuf>,
    pub oneoff: Option<OneOff>,
    /// The image reference to run; empty = `service.image`, else `<project>-<service>`.
    pub image: String,
    /// The image id (`sha256:...`) once known; recorded in `com.docker.compose.image`
    /// (docker compose records the digest; the reference is used until it is known).
    pub image_id: Option<String>,
    /// Service name -> its existing container's name, for `network_mode`/`ipc`/`pid:
    /// service:x`, `volumes_from` and `links`. A service missing here resolves to the name
    /// its first replica gets.
    pub service_containers: BTreeMap<String, String>,
}

fn err(service: &str, field: impl Into<String>, message: impl Into<String>) -> ConvertError {
    ConvertError {
        service: service.to_owned(),
        field: field.into(),
        message: message.into(),
    }
}

fn project_name(project: &Project) -> &str {
    project.name.as_deref().unwrap_or_default()
}

/// The image a service runs: `image:`, else the name its build gets.
pub fn service_image(project: &Project, service_name: &str, service: &ServiceConfig) -> String {
    service
        .image
        .clone()
        .unwrap_or_else(|| labels::default_image_name(project_name(project), service_name))
}

/// The name of replica `number` of a service (`container_name`, else `<project>-<service>-<n>`).
pub fn replica_name(
    project: &Project,
    service_name: &str,
    service: &ServiceConfig,
    number: u32,
) -> String {
    service
        .container_name
        .clone()
        .unwrap_or_else(|| labels::container_name(project_name(project), service_name, number))
}

/// The container a `service:x` / `volumes_from: x` reference points at.
fn service_container(
    project: &Project,
    ctx: &ConvertContext,
    service_name: &str,
    field: &str,
    target: &str,
) -> Result<String, ConvertError> {
    if let Some(name) = ctx.service_containers.get(target) {
        return Ok(name.clone());
    }
    match project.services.get(target) {
        Some(s) => Ok(replica_name(project, target, s, 1)),
        None => Err(err(
            service_name,
            field,
            format!("refers to service \"{target}\", which is not part of the project"),
        )),
    }
}

/// `service:x` becomes `container:<x's container>`; anything else is kept.
fn namespace_mode(
    project: &Project,
    ctx: &ConvertContext,
    service_name: &str,
    field: &str,
    mode: &Option<String>,
) -> Result<Option<String>, ConvertError> {
    match mode.as_deref() {
        Some(m) => match m.strip_prefix("service:") {
            Some(target) => Ok(Some(format!(
                "container:{}",
                service_container(project, ctx, service_name, field, target)?
            ))),
            None => Ok(Some(m.to_owned())),
        },
        None => Ok(None),
    }
}

/// The container spec of replica `number` (from 1) of a service, or of a one-off when
/// `ctx.oneoff` is set.
pub fn container_spec(
    project: &Project,
    service_name: &str,
    service: &ServiceConfig,
    number: u32,
    ctx: &ConvertContext,
) -> Result<ContainerSpec, ConvertError> {
    let project_name = project_name(project);
    let e = |field: &str, message: String| err(service_name, field, message);

    let name = match (&ctx.oneoff, &service.container_name) {
        (Some(oneoff), _) => labels::oneoff_name(project_name, service_name, &oneoff.slug),
        (None, Some(_)) if number > 1 => {
            return Err(e(
                "container_name",
                format!(
                    "a service with a fixed container_name cannot have more than one \
                     container (replica {number} requested); remove container_name or scale"
                ),
            ))
        }
        (None, _) => replica_name(project, service_name, service, number),
    };
    let image = if ctx.image.is_empty() {
        service_image(project, service_name, service)
    } else {
        ctx.image.clone()
    };

    let mut spec = ContainerSpec {
        name: name.clone(),
        image: image.clone(),
        cmd: service.command.as_ref().map(|c| c.0.clone()),
        entrypoint: service.entrypoint.as_ref().map(|c| c.0.clone()),
        env: service
            .environment
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect(),
        labels: container_labels(project, service_name, service, number, ctx, &image),
        working_dir: service.working_dir.clone(),
        user: service.user.clone(),
        tty: service.tty,
        stdin_open: service.stdin_open,
        hostname: service.hostname.clone(),
        domainname: service.domainname.clone(),
        init: service.init,
        privileged: service.privileged,
        read_only: service.read_only,
        cap_add: service.cap_add.clone(),
        cap_drop: service.cap_drop.clone(),
        security_opt: security_opt(service_name, service, ctx)?,
        extra_hosts: hosts(&service.extra_hosts),
        dns: service.dns.0.clone(),
        dns_search: service.dns_search.0.clone(),
        dns_opt: service.dns_opt.clone(),
        ulimits: service
            .ulimits
            .iter()
            .map(|(name, u)| Ulimit {
                name: name.clone(),
                soft: u.soft(),
                hard: u.hard(),
            })
            .collect(),
        sysctls: service
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service.stop_grace_period.map(|d| d.to_std()),
        group_add: service.group_add.0.clone(),
        userns_mode: service.userns_mode.clone(),
        cgroup_parent: service.cgroup_parent.clone(),
        platform: service.platform.clone(),
        oci_runtime: service.runtime.clone(),
        ..Default::default()
    };

    spec.shm_size = service
        .shm_size
        .map(|s| u64::try_from(s.0).map_err(|_| e("shm_size", format!("{} is negative", s.0))))
        .transpose()?;
    spec.mounts = mounts(project, service_name, service)?;
    spec.ports = ports(service_name, service)?;
    spec.expose = expose(service_name, service)?;
    spec.network_mode = namespace_mode(
        project,
        ctx,
        service_name,
        "network_mode",
        &service.network_mode,
    )?;
    spec.networks = if spec.network_mode.as_deref().is_some_and(|m| !m.is_empty()) {
        Vec::new()
    } else {
        networks(project, service_name, service, &name, ctx)?
    };
    spec.ipc_mode = namespace_mode(project, ctx, service_name, "ipc", &service.ipc)?;
    spec.pid_mode = namespace_mode(project, ctx, service_name, "pid", &service.pid)?;
    spec.restart = restart_policy(service_name, service)?;
    spec.healthcheck = service
        .healthcheck
        .as_ref()
        .map(|h| healthcheck(service_name, h))
        .transpose()?;
    spec.resources = resources(service);
    spec.devices = service
        .devices
        .iter()
        .map(|d| DeviceMapping {
            host_path: d.source.clone(),
            container_path: d.target.clone().unwrap_or_else(|| d.source.clone()),
            permissions: d.permissions.clone().unwrap_or_else(|| "rwm".to_owned()),
        })
        .collect();
    spec.volumes_from = service
        .volumes_from
        .iter()
        .enumerate()
        .map(|(i, v)| volumes_from(project, ctx, service_name, i, v))
        .collect::<Result<_, _>>()?;
    spec.log = service.logging.as_ref().and_then(|l| {
        if l.driver.is_none() && l.options.is_empty() {
            return None;
        }
        Some(LogConfig {
            driver: l.driver.clone().unwrap_or_default(),
            options: l
                .options
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    });
    Ok(spec)
}

/// `security_opt` as the engine takes it: a `seccomp=<file>` profile is read (relative to
/// the project directory) and passed as its JSON, as the Docker CLI and compose send it.
fn security_opt(
    service_name: &str,
    service: &ServiceConfig,
    ctx: &ConvertContext,
) -> Result<Vec<String>, ConvertError> {
    service
        .security_opt
        .iter()
        .map(|opt| {
            let Some((key, value)) = opt.split_once(['=', ':']) else {
                return Ok(opt.clone());
            };
            if key != "seccomp" || matches!(value, "unconfined" | "builtin") {
                return Ok(opt.clone());
            }
            if value.trim_start().starts_with('{') {
                return Ok(opt.clone());
            }
            let path = ctx.working_dir.join(value);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                err(
                    service_name,
                    "security_opt",
                    format!(
                        "cannot read the seccomp profile {}: {e}; give a JSON file in \
                         Docker's seccomp format, `unconfined` or `builtin`",
                        path.display()
                    ),
                )
            })?;
            let profile: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                err(
                    service_name,
                    "security_opt",
                    format!("the seccomp profile {} is not JSON: {e}", path.display()),
                )
            })?;
            Ok(format!("seccomp={profile}"))
        })
        .collect()
}

fn container_labels(
    project: &Project,
    service_name: &str,
    service: &ServiceConfig,
    number: u32,
    ctx: &ConvertContext,
    image: &str,
) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = service
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut set = |k: &str, v: String| {
        l.insert(k.to_owned(), v);
    };
    set(labels::PROJECT, project_name(project).to_owned());
    set(labels::SERVICE, service_name.to_owned());
    set(labels::CONTAINER_NUMBER, number.to_string());
    set(
        labels::ONEOFF,
        if ctx.oneoff.is_some() {
            "True"
        } else {
            "False"
        }
        .to_owned(),
    );
    if let Some(oneoff) = &ctx.oneoff {
        set(labels::SLUG, oneoff.slug.clone());
    }
    set(labels::CONFIG_HASH, service.config_hash());
    set(
        labels::WORKING_DIR,
        ctx.working_dir.to_string_lossy().into_owned(),
    );
    set(
        labels::CONFIG_FILES,
        ctx.config_files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(","),
    );
    if let Some(env_file) = &ctx.environment_file {
        set(
            labels::ENVIRONMENT_FILE,
            env_file.to_string_lossy().into_owned(),
        );
    }
    set(labels::DEPENDS_ON, depends_on_label(service));
    set(
        labels::IMAGE,
        ctx.image_id.clone().unwrap_or_else(|| image.to_owned()),
    );
    set(labels::VERSION, labels::COMPOSE_VERSION.to_owned());
    l
}

/// docker compose's `svc:condition:restart` list.
fn depends_on_label(service: &ServiceConfig) -> String {
    service
        .depends_on
        .iter()
        .map(|(name, dep)| {
            let condition = match dep.condition {
                model::DependencyCondition::ServiceStarted => "service_started",
                model::DependencyCondition::ServiceHealthy => "service_healthy",
                model::DependencyCondition::ServiceCompletedSuccessfully => {
                    "service_completed_successfully"
                }
            };
            format!("{name}:{condition}:{}", dep.restart)
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn hosts(list: &model::HostsList) -> Vec<String> {
    list.iter()
        .flat_map(|(host, ips)| ips.iter().map(move |ip| format!("{host}:{ip}")))
        .collect()
}

fn mounts(
    project: &Project,
    service_name: &str,
    service: &ServiceConfig,
) -> Result<Vec<Mount>, ConvertError> {
    let mut out = Vec::new();
    for (i, v) in service.volumes.iter().enumerate() {
        out.push(mount(project, service_name, i, v)?);
    }
    for (i, t) in service.tmpfs.iter().enumerate() {
        out.push(tmpfs_mount(service_name, i, t)?);
    }
    // File-based secrets and configs are bind-mounted read-only, as docker compose does
    // outside swarm; the others have no file to mount.
    for (i, s) in service.secrets.iter().enumerate() {
        let file = project.secrets.get(&s.source).and_then(|c| c.file.clone());
        if let Some(file) = file {
            let target = s
                .target
                .clone()
                .unwrap_or_else(|| format!("/run/secrets/{}", s.source));
            let target = if target.starts_with('/') {
                target
            } else {
                format!("/run/secrets/{target}")
            };
            out.push(file_mount(file, target));
        } else if !project.secrets.contains_key(&s.source) {
            return Err(err(
                service_name,
                format!("secrets[{i}]"),
                format!("secret \"{}\" is not defined at top level", s.source),
            ));
        }
    }
    for (i, c) in service.configs.iter().enumerate() {
        let file = project.configs.get(&c.source).and_then(|c| c.file.clone());
        if let Some(file) = file {
            let target = c.target.clone().unwrap_or_else(|| format!("/{}", c.source));
            out.push(file_mount(file, target));
        } else if !project.configs.contains_key(&c.source) {
            return Err(err(
                service_name,
                format!("configs[{i}]"),
                format!("config \"{}\" is not defined at top level", c.source),
            ));
        }
    }
    Ok(out)
}

fn file_mount(path: String, target: String) -> Mount {
    Mount {
        target,
        source: MountSource::Bind {
            path,
            create_host_path: false,
            propagation: None,
            selinux: None,
        },
        read_only: true,
    }
}

fn mount(
    project: &Project,
    service_name: &str,
    i: usize,
    v: &ServiceVolume,
) -> Result<Mount, ConvertError> {
    let field = format!("volumes[{i}]");
    let source = match v.kind {
        VolumeType::Bind => {
            let path = v.source.clone().ok_or_else(|| {
                err(
                    service_name,
                    &field,
                    "a bind mount needs a `source` host path",
                )
            })?;
            let bind = v.bind.clone().unwrap_or_default();
            MountSource::Bind {
                path,
                create_host_path: bind.create_host_path,
                propagation: bind.propagation,
                selinux: bind.selinux,
            }
        }
        VolumeType::Volume => {
            let name = match &v.source {
                None => None,
                Some(key) => Some(
                    project
                        .volumes
                        .get(key)
                        .map(|vol| {
                            vol.name
                                .clone()
                                .unwrap_or_else(|| format!("{}_{key}", project_name(project)))
                        })
                        .ok_or_else(|| {
                            err(
                                service_name,
                                &field,
                                format!(
                                    "volume \"{key}\" is not defined at top level; add it \
                                     under `volumes:`"
                                ),
                            )
                        })?,
                ),
            };
            let opts = v.volume.clone().unwrap_or_default();
            MountSource::Volume {
                name,
                nocopy: opts.nocopy,
                subpath: opts.subpath,
            }
        }
        VolumeType::Tmpfs => {
            let t = v.tmpfs.clone().unwrap_or_default();
            MountSource::Tmpfs {
                size_bytes: t.size.map(|s| s.0),
                mode: t.mode.map(octal_digits),
            }
        }
        other => {
            return Err(err(
                service_name,
                &field,
                format!(
                    "volume type \"{}\" is not supported; use bind, volume or tmpfs",
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            ))
        }
    };
    Ok(Mount {
        target: v.target.clone(),
        source,
        read_only: v.read_only,
    })
}

/// `mode: 1777` (and Go-YAML's octal `01777`) reach the model as the decimal number 1777
/// but mean octal; digits 0-7 are read as octal. (`0o1777` arrives as 1023 and is
/// misread; the model would need an octal-aware mode type to tell them apart.)
fn octal_digits(mode: u32) -> u32 {
    let digits = mode.to_string();
    if digits.chars().all(|c| ('0'..='7').contains(&c)) {
        u32::from_str_radix(&digits, 8).unwrap_or(mode)
    } else {
        mode
    }
}

/// `tmpfs:` entry `PATH[:size=N,mode=OCTAL,ro,...]`.
fn tmpfs_mount(service_name: &str, i: usize, entry: &str) -> Result<Mount, ConvertError> {
    let field = format!("tmpfs[{i}]");
    let (target, options) = entry.split_once(':').unwrap_or((entry, ""));
    if !target.starts_with('/') {
        return Err(err(
            service_name,
            &field,
            format!("\"{entry}\": the tmpfs path must be absolute"),
        ));
    }
    let mut size_bytes = None;
    let mut mode = None;
    let mut read_only = false;
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", s)) => {
                size_bytes = Some(
                    model::ByteSize::parse(s)
                        .map_err(|m| err(service_name, &field, m))?
                        .0,
                )
            }
            Some(("mode", m)) => {
                mode = Some(u32::from_str_radix(m, 8).map_err(|_| {
                    err(
                        service_name,
                        &field,
                        format!("\"{m}\" is not an octal file mode"),
                    )
                })?)
            }
            None if opt == "ro" => read_only = true,
            // Mount flags (rw, noexec, nosuid...) the runtime applies by default.
            _ => {}
        }
    }
    Ok(Mount {
        target: target.to_owned(),
        source: MountSource::Tmpfs { size_bytes, mode },
        read_only,
    })
}

fn protocol(service_name: &str, field: &str, p: &str) -> Result<Protocol, ConvertError> {
    Protocol::parse(p).ok_or_else(|| {
        err(
            service_name,
            field,
            format!("unknown protocol \"{p}\" (expected tcp, udp or sctp)"),
        )
    })
}

fn ports(service_name: &str, service: &ServiceConfig) -> Result<Vec<PortBinding>, ConvertError> {
    service
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let field = format!("ports[{i}]");
            Ok(PortBinding {
                container_port: p.target,
                protocol: protocol(service_name, &field, &p.protocol)?,
                host_ip: p.host_ip.clone().filter(|ip| !ip.is_empty()),
                host_port: p.published.clone().filter(|p| !p.is_empty()),
            })
        })
        .collect()
}

/// `expose:` entries (`80`, `80/udp`, `8000-8002`) as `port/proto`, ranges expanded.
fn expose(service_name: &str, service: &ServiceConfig) -> Result<Vec<String>, ConvertError> {
    let mut out = Vec::new();
    for (i, entry) in service.expose.iter().enumerate() {
        let field = format!("expose[{i}]");
        let (ports, proto) = entry.split_once('/').unwrap_or((entry, "tcp"));
        let proto = protocol(service_name, &field, proto)?;
        let bad = || {
            err(
                service_name,
                &field,
                format!("\"{entry}\" is not a port or port range (e.g. \"80\", \"8000-8010/udp\")"),
            )
        };
        let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        if lo > hi {
            return Err(bad());
        }
        out.extend((lo..=hi).map(|p| format!("{p}/{proto}")));
    }
    Ok(out)
}

fn networks(
    project: &Project,
    service_name: &str,
    service: &ServiceConfig,
    container_name: &str,
    ctx: &ConvertContext,
) -> Result<Vec<NetworkAttachment>, ConvertError> {
    // Highest priority first, then by name: compose-go's `NetworksByPriority`.
    let mut keys: Vec<(&String, i64)> = service
        .networks
        .iter()
        .map(|(k, cfg)| (k, cfg.as_ref().and_then(|c| c.priority).unwrap_or(0)))
        .collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));

    let use_aliases = ctx.oneoff.as_ref().is_none_or(|o| o.use_aliases);
    let links = links(project, service_name, service, ctx)?;
    let mut out = Vec::new();
    for (index, (key, _)) in keys.into_iter().enumerate() {
        let network = project.networks.get(key).ok_or_else(|| {
            err(
                service_name,
                format!("networks.{key}"),
                format!("network \"{key}\" is not defined at top level; add it under `networks:`"),
            )
        })?;
        let cfg = service
            .networks
            .get(key)
            .cloned()
            .flatten()
            .unwrap_or_default();
        // docker compose: the container name, then the service name and configured aliases.
        let mut aliases = vec![container_name.to_owned()];
        if use_aliases {
            aliases.push(service_name.to_owned());
            aliases.extend(cfg.aliases.iter().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        aliases.retain(|a| seen.insert(a.clone()));
        out.push(NetworkAttachment {
            network: network
                .name
                .clone()
                .unwrap_or_else(|| format!("{}_{key}", project_name(project))),
            aliases,
            ipv4_address: cfg.ipv4_address.clone(),
            ipv6_address: cfg.ipv6_address.clone(),
            // The service-level mac_address applies to the primary network.
            mac_address: cfg
                .mac_address
                .clone()
                .or_else(|| (index == 0).then(|| service.mac_address.clone()).flatten()),
            links: links.clone(),
        });
    }
    Ok(out)
}

/// `links` (`svc[:alias]`) and `external_links` (`container[:alias]`) as `container:alias`.
fn links(
    project: &Project,
    service_name: &str,
    service: &ServiceConfig,
    ctx: &ConvertContext,
) -> Result<Vec<String>, ConvertError> {
    let mut out = Vec::new();
    for (i, link) in service.links.iter().enumerate() {
        let (target, alias) = link.split_once(':').unwrap_or((link, link));
        let container =
            service_container(project, ctx, service_name, &format!("links[{i}]"), target)?;
        out.push(format!("{container}:{alias}"));
    }
    for link in &service.external_links {
        let (container, alias) = link.split_once(':').unwrap_or((link, link));
        out.push(format!("{container}:{alias}"));
    }
    Ok(out)
}

/// `volumes_from` entry `service[:ro|rw]` or `container:name[:ro|rw]`.
fn volumes_from(
    project: &Project,
    ctx: &ConvertContext,
    service_name: &str,
    i: usize,
    entry: &str,
) -> Result<String, ConvertError> {
    let field = format!("volumes_from[{i}]");
    let (source, mode) = match entry.rsplit_once(':') {
        Some((s, m @ ("ro" | "rw"))) => (s, Some(m)),
        _ => (entry, None),
    };
    let container = match source.strip_prefix("container:") {
        Some(c) => c.to_owned(),
        None => service_container(project, ctx, service_name, &field, source)?,
    };
    Ok(match mode {
        Some(m) => format!("{container}:{m}"),
        None => container,
    })
}

fn restart_policy(
    service_name: &str,
    service: &ServiceConfig,
) -> Result<RestartPolicy, ConvertError> {
    let mut policy = RestartPolicy::No;
    if let Some(r) = service.restart.as_deref() {
        let (name, retries) = r.split_once(':').unwrap_or((r, ""));
        policy = match name {
            "no" | "" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure {
                max_retries: if retries.is_empty() {
                    None
                } else {
                    Some(retries.parse().map_err(|_| {
                        err(
                            service_name,
                            "restart",
                            format!("\"{r}\": the retry count must be a number"),
                        )
                    })?)
                },
            },
            _ => {
                return Err(err(
                    service_name,
                    "restart",
                    format!(
                        "\"{r}\" is not a restart policy (expected no, always, \
                         on-failure[:N] or unless-stopped)"
                    ),
                ))
            }
        };
    }
    // docker compose lets deploy.restart_policy override `restart`.
    if let Some(p) = service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
    {
        let max_retries = p
            .max_attempts
            .map(|n| {
                u32::try_from(n).map_err(|_| {
                    err(
                        service_name,
                        "deploy.restart_policy.max_attempts",
                        format!("{n} is too large"),
                    )
                })
            })
            .transpose()?;
        policy = match p.condition.as_deref() {
            None | Some("any") | Some("always") => RestartPolicy::Always,
            Some("none") | Some("no") => RestartPolicy::No,
            Some("on-failure") => RestartPolicy::OnFailure { max_retries },
            Some("unless-stopped") => RestartPolicy::UnlessStopped,
            Some(other) => {
                return Err(err(
                    service_name,
                    "deploy.restart_policy.condition",
                    format!("\"{other}\" is not a condition (expected none, on-failure or any)"),
                ))
            }
        };
    }
    Ok(policy)
}

fn healthcheck(service_name: &str, h: &model::Healthcheck) -> Result<Healthcheck, ConvertError> {
    if h.is_disabled() {
        return Ok(Healthcheck {
            test: vec!["NONE".to_owned()],
            ..Default::default()
        });
    }
    let retries = h
        .retries
        .map(|r| {
            u32::try_from(r).map_err(|_| {
                err(
                    service_name,
                    "healthcheck.retries",
                    format!("{r} is too large"),
                )
            })
        })
        .transpose()?;
    Ok(Healthcheck {
        test: h.test.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
        interval: h.interval.map(|d| d.to_std()),
        timeout: h.timeout.map(|d| d.to_std()),
        retries,
        start_period: h.start_period.map(|d| d.to_std()),
        start_interval: h.start_interval.map(|d| d.to_std()),
    })
}

/// Service-level limits, overridden by `deploy.resources` where set (as docker compose).
fn resources(service: &ServiceConfig) -> Resources {
    let mut r = Resources {
        memory: service.mem_limit.map(|b| b.0),
        memory_reservation: service.mem_reservation.map(|b| b.0),
        memory_swap: service.memswap_limit.map(|b| b.0),
        memory_swappiness: service.mem_swappiness,
        cpus: service.cpus.map(|c| c.0),
        cpu_shares: service.cpu_shares,
        cpu_period: service.cpu_period,
        cpu_quota: service.cpu_quota,
        cpuset_cpus: service.cpuset.clone(),
        cpuset_mems: None,
        pids_limit: service.pids_limit,
        oom_kill_disable: service.oom_kill_disable.then_some(true),
        oom_score_adj: service.oom_score_adj,
    };
    if let Some(res) = service.deploy.as_ref().and_then(|d| d.resources.as_ref()) {
        if let Some(l) = &res.limits {
            if let Some(m) = l.memory.filter(|m| m.0 != 0) {
                r.memory = Some(m.0);
            }
            if let Some(c) = l.cpus.filter(|c| c.0 != 0.0) {
                r.cpus = Some(c.0);
            }
            if let Some(p) = l.pids.filter(|p| *p > 0) {
                r.pids_limit = Some(p);
            }
        }
        if let Some(m) = res
            .reservations
            .as_ref()
            .and_then(|v| v.memory)
            .filter(|m| m.0 != 0)
        {
            r.memory_reservation = Some(m.0);
        }
    }
    r
}

/// The network to create for top-level network `key`.
pub fn network_spec(project_name: &str, key: &str, network: &NetworkConfig) -> NetworkSpec {
    let mut labels: BTreeMap<String, String> = network
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(labels::PROJECT.to_owned(), project_name.to_owned());
    labels.insert(labels::NETWORK.to_owned(), key.to_owned());
    labels.insert(
        labels::VERSION.to_owned(),
        labels::COMPOSE_VERSION.to_owned(),
    );
    NetworkSpec {
        name: network
            .name
            .clone()
            .unwrap_or_else(|| format!("{project_name}_{key}")),
        driver: network.driver.clone(),
        driver_opts: to_btree(&network.driver_opts),
        labels,
        internal: network.internal,
        attachable: network.attachable,
        enable_ipv6: network.enable_ipv6.unwrap_or(false),
        ipam: network.ipam.as_ref().map(|ipam| IpamSpec {
            driver: ipam.driver.clone(),
            pools: ipam
                .config
                .iter()
                .map(|p| IpamPool {
                    subnet: p.subnet.clone(),
                    ip_range: p.ip_range.clone(),
                    gateway: p.gateway.clone(),
                    aux_addresses: to_btree(&p.aux_addresses),
                })
                .collect(),
            options: to_btree(&ipam.options),
        }),
    }
}

/// The volume to create for top-level volume `key`.
pub fn volume_spec(project_name: &str, key: &str, volume: &VolumeConfig) -> VolumeSpec {
    let mut labels = to_btree(&volume.labels);
    labels.insert(labels::PROJECT.to_owned(), project_name.to_owned());
    labels.insert(labels::VOLUME.to_owned(), key.to_owned());
    labels.insert(
        labels::VERSION.to_owned(),
        labels::COMPOSE_VERSION.to_owned(),
    );
    VolumeSpec {
        name: volume
            .name
            .clone()
            .unwrap_or_else(|| format!("{project_name}_{key}")),
        driver: volume.driver.clone(),
        driver_opts: to_btree(&volume.driver_opts),
        labels,
    }
}

fn to_btree(m: &model::Mapping) -> BTreeMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The build of a service with `build:`, from its packed context (see
/// [`crate::build::context::context_tar`], which also places `dockerfile_inline` and a
/// Dockerfile outside the context into the tar and says where).
pub fn build_spec(
    project: &Project,
    service_name: &str,
    service: &ServiceConfig,
    context: BuildContext,
) -> BuildSpec {
    let build = service.build.clone().unwrap_or_default();
    let mut tags = vec![service_image(project, service_name, service)];
    for t in build.tags.iter() {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    BuildSpec {
        context_tar: context.tar,
        dockerfile: Some(context.dockerfile),
        tags,
        build_args: build
            .args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect(),
        target: build.target.clone(),
        labels: to_btree(&build.labels),
        no_cache: build.no_cache,
        pull: build.pull,
        // Every platform, comma-separated: a backend that cannot build one of them says so
        // rather than building only the first.
        platform: (!build.platforms.is_empty())
            .then(|| build.platforms.join(","))
            .or_else(|| service.platform.clone()),
        network: build.network.clone(),
        extra_hosts: hosts(&build.extra_hosts),
        shm_size: build.shm_size.and_then(|s| u64::try_from(s.0).ok()),
        cache_from: build.cache_from.0.clone(),
        // File-based build secrets (the engine adds `environment:` ones), by the id a `RUN --mount=type=secret` names (the
        // long form's `target`, else the secret's name).
        secrets: build
            .secrets
            .iter()
            .filter_map(|s| {
                let file = project.secrets.get(&s.source)?.file.clone()?;
                let id = s.target.clone().unwrap_or_else(|| s.source.clone());
                Some((id, BuildSecret::File(std::path::PathBuf::from(file))))
            })
            .collect(),
        // Read from disk by the engine (`specs::build_spec_for`).
        named_contexts: BTreeMap::new(),
        ssh: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration as StdDuration;

    use indexmap::IndexMap;

    use super::*;
    use crate::compose::normalize::normalize;

    fn project(yaml: &str) -> Project {
        let mut p: Project = serde_yaml::from_str(yaml).unwrap();
        p.name = Some("shop".into());
        let env = IndexMap::from([("HOME".to_owned(), "/home/u".to_owned())]);
        normalize(&mut p, Path::new("/work/shop"), &env);
        p
    }

    fn ctx() -> ConvertContext {
        ConvertContext {
            working_dir: PathBuf::from("/work/shop"),
            config_files: vec![
                PathBuf::from("/work/shop/compose.yaml"),
                PathBuf::from("/work/shop/compose.override.yaml"),
            ],
            ..Default::default()
        }
    }

    fn spec(p: &Project, service: &str) -> ContainerSpec {
        spec_n(p, service, 1, &ctx())
    }

    fn spec_n(p: &Project, service: &str, n: u32, ctx: &ConvertContext) -> ContainerSpec {
        container_spec(p, service, &p.services[service], n, ctx).unwrap()
    }

    fn spec_err(p: &Project, service: &str) -> String {
        container_spec(p, service, &p.services[service], 1, &ctx())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn name_image_and_compose_labels() {
        let p = project(
            "services:\n  web:\n    build: .\n    labels: {team: a}\n    depends_on:\n      db: {condition: service_healthy, restart: true}\n      cache: {condition: service_started}\n  db: {image: postgres}\n  cache: {image: redis}\n",
        );
        let s = spec_n(&p, "web", 2, &ctx());
        assert_eq!(s.name, "shop-web-2");
        assert_eq!(s.image, "shop-web");
        let l = &s.labels;
        assert_eq!(l["team"], "a");
        assert_eq!(l[labels::PROJECT], "shop");
        assert_eq!(l[labels::SERVICE], "web");
        assert_eq!(l[labels::CONTAINER_NUMBER], "2");
        assert_eq!(l[labels::ONEOFF], "False");
        assert_eq!(l[labels::CONFIG_HASH], p.services["web"].config_hash());
        assert_eq!(l[labels::WORKING_DIR], "/work/shop");
        assert_eq!(
            l[labels::CONFIG_FILES],
            "/work/shop/compose.yaml,/work/shop/compose.override.yaml"
        );
        assert_eq!(
            l[labels::DEPENDS_ON],
            "db:service_healthy:true,cache:service_started:false"
        );
        assert_eq!(l[labels::IMAGE], "shop-web");
        assert_eq!(l[labels::VERSION], labels::COMPOSE_VERSION);
        assert!(!l.contains_key(labels::SLUG));
        assert!(!l.contains_key(labels::ENVIRONMENT_FILE));

        // The resolved reference and the image id come from the caller.
        let mut c = ctx();
        c.image = "registry.local/shop-web:1".into();
        c.image_id = Some("sha256:abc".into());
        c.environment_file = Some(PathBuf::from("/work/shop/.env"));
        let s = spec_n(&p, "db", 1, &c);
        assert_eq!(s.image, "registry.local/shop-web:1");
        assert_eq!(s.labels[labels::IMAGE], "sha256:abc");
        assert_eq!(s.labels[labels::ENVIRONMENT_FILE], "/work/shop/.env");
        assert_eq!(s.labels[labels::DEPENDS_ON], "");
    }

    #[test]
    fn a_seccomp_profile_file_is_read_from_the_project_dir_and_passed_as_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("profile.json"),
            "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n",
        )
        .unwrap();
        let p = project(
            "services:\n  a:\n    image: x\n    security_opt: [\"seccomp=profile.json\", \"seccomp:unconfined\", \"no-new-privileges:true\"]\n  b:\n    image: x\n    security_opt: [\"seccomp=missing.json\"]\n",
        );
        let mut c = ctx();
        c.working_dir = dir.path().to_path_buf();
        let s = spec_n(&p, "a", 1, &c);
        assert_eq!(
            s.security_opt,
            vec![
                r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#,
                "seccomp:unconfined",
                "no-new-privileges:true"
            ]
        );
        let e = container_spec(&p, "b", &p.services["b"], 1, &c).unwrap_err();
        assert!(
            e.to_string().starts_with("services.b.security_opt:")
                && e.to_string().contains("missing.json"),
            "{e}"
        );
    }

    #[test]
    fn container_name_and_oneoff_names() {
        let p = project("services:\n  a: {image: x, container_name: fixed}\n  b: {image: x}\n");
        assert_eq!(spec(&p, "a").name, "fixed");
        let e = container_spec(&p, "a", &p.services["a"], 2, &ctx()).unwrap_err();
        assert_eq!(e.field, "container_name");
        assert!(
            e.to_string().starts_with("services.a.container_name:"),
            "{e}"
        );
        let mut c = ctx();
        c.oneoff = Some(OneOff {
            slug: "0123456789abcdef0123".into(),
            use_aliases: false,
        });
        let s = spec_n(&p, "b", 1, &c);
        assert_eq!(s.name, "shop-b-run-0123456789ab");
        assert_eq!(s.labels[labels::ONEOFF], "True");
        assert_eq!(s.labels[labels::SLUG], "0123456789abcdef0123");
        // One-offs answer only to their own name unless --use-aliases.
        assert_eq!(s.networks[0].aliases, vec!["shop-b-run-0123456789ab"]);
    }

    #[test]
    fn command_entrypoint_environment_and_plain_fields() {
        let p = project(
            r#"services:
  a:
    image: x
    command: echo "hello world"
    entrypoint: []
    environment: {B: "2", A: "1", DROPPED: null}
    working_dir: /app
    user: "1000:1000"
    tty: true
    stdin_open: true
    hostname: h
    domainname: example.com
    init: true
    privileged: true
    read_only: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    extra_hosts: ["db:10.0.0.5", "v6=::1"]
    dns: 8.8.8.8
    dns_search: [example.com]
    dns_opt: [use-vc]
    ulimits: {nproc: 65535, nofile: {soft: 20000, hard: 40000}}
    sysctls: {net.core.somaxconn: "1024"}
    shm_size: 64m
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    group_add: [audio, 42]
    userns_mode: host
    cgroup_parent: /hoist
    platform: linux/amd64
    runtime: crun
    logging: {driver: json-file, options: {max-size: 10m}}
    devices: ["/dev/fuse", "/dev/a:/dev/b:r"]
  b: {image: x}
"#,
        );
        let s = spec(&p, "a");
        assert_eq!(s.cmd, Some(vec!["echo".into(), "hello world".into()]));
        assert_eq!(s.entrypoint, Some(vec![]));
        assert_eq!(s.env, vec!["B=2", "A=1"]);
        assert_eq!(s.working_dir.as_deref(), Some("/app"));
        assert_eq!(s.user.as_deref(), Some("1000:1000"));
        assert!(s.tty && s.stdin_open && s.privileged && s.read_only);
        assert_eq!(s.hostname.as_deref(), Some("h"));
        assert_eq!(s.domainname.as_deref(), Some("example.com"));
        assert_eq!(s.init, Some(true));
        assert_eq!(s.cap_add, vec!["NET_ADMIN"]);
        assert_eq!(s.cap_drop, vec!["ALL"]);
        assert_eq!(s.security_opt, vec!["no-new-privileges:true"]);
        assert_eq!(s.extra_hosts, vec!["db:10.0.0.5", "v6:::1"]);
        assert_eq!(s.dns, vec!["8.8.8.8"]);
        assert_eq!(s.dns_search, vec!["example.com"]);
        assert_eq!(s.dns_opt, vec!["use-vc"]);
        assert_eq!(
            s.ulimits,
            vec![
                Ulimit {
                    name: "nproc".into(),
                    soft: 65535,
                    hard: 65535
                },
                Ulimit {
                    name: "nofile".into(),
                    soft: 20000,
                    hard: 40000
                },
            ]
        );
        assert_eq!(s.sysctls["net.core.somaxconn"], "1024");
        assert_eq!(s.shm_size, Some(64 * 1024 * 1024));
        assert_eq!(s.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(s.stop_timeout, Some(StdDuration::from_secs(90)));
        assert_eq!(s.group_add, vec!["audio", "42"]);
        assert_eq!(s.userns_mode.as_deref(), Some("host"));
        assert_eq!(s.cgroup_parent.as_deref(), Some("/hoist"));
        assert_eq!(s.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(s.oci_runtime.as_deref(), Some("crun"));
        let log = s.log.unwrap();
        assert_eq!(log.driver, "json-file");
        assert_eq!(log.options["max-size"], "10m");
        assert_eq!(
            s.devices,
            vec![
                DeviceMapping {
                    host_path: "/dev/fuse".into(),
                    container_path: "/dev/fuse".into(),
                    permissions: "rwm".into()
                },
                DeviceMapping {
                    host_path: "/dev/a".into(),
                    container_path: "/dev/b".into(),
                    permissions: "r".into()
                },
            ]
        );
        // Unset means the image's defaults.
        let b = spec(&p, "b");
        assert_eq!((b.cmd, b.entrypoint), (None, None));
        assert!(b.env.is_empty() && b.log.is_none() && b.init.is_none());
        assert_eq!(b.restart, RestartPolicy::No);
    }

    #[test]
    fn mounts_bind_volume_anonymous_tmpfs_secrets_configs() {
        let p = project(
            r#"services:
  a:
    image: x
    volumes:
      - ./src:/app:ro
      - {type: bind, source: /etc/x, target: /x, bind: {create_host_path: false, propagation: rslave, selinux: z}}
      - data:/var/lib/data:nocopy
      - /app/node_modules
      - {type: volume, source: data, target: /sub, volume: {subpath: s}}
      - {type: tmpfs, target: /t, tmpfs: {size: 1m, mode: 1777}}
    tmpfs: ["/run", "/cache:size=2k,mode=700,ro"]
    secrets: [token]
    configs: [{source: cfg, target: /etc/cfg.ini}]
volumes:
  data:
secrets:
  token: {file: ./token.txt}
configs:
  cfg: {file: ./cfg.ini}
"#,
        );
        let m = spec(&p, "a").mounts;
        let bind =
            |path: &str, create: bool, prop: Option<&str>, se: Option<&str>| MountSource::Bind {
                path: path.into(),
                create_host_path: create,
                propagation: prop.map(Into::into),
                selinux: se.map(Into::into),
            };
        let want = vec![
            Mount {
                target: "/app".into(),
                source: bind("/work/shop/src", true, None, None),
                read_only: true,
            },
            Mount {
                target: "/x".into(),
                source: bind("/etc/x", false, Some("rslave"), Some("z")),
                read_only: false,
            },
            Mount {
                target: "/var/lib/data".into(),
                source: MountSource::Volume {
                    name: Some("shop_data".into()),
                    nocopy: true,
                    subpath: None,
                },
                read_only: false,
            },
            Mount {
                target: "/app/node_modules".into(),
                source: MountSource::Volume {
                    name: None,
                    nocopy: false,
                    subpath: None,
                },
                read_only: false,
            },
            Mount {
                target: "/sub".into(),
                source: MountSource::Volume {
                    name: Some("shop_data".into()),
                    nocopy: false,
                    subpath: Some("s".into()),
                },
                read_only: false,
            },
            Mount {
                target: "/t".into(),
                source: MountSource::Tmpfs {
                    size_bytes: Some(1024 * 1024),
                    mode: Some(0o1777),
                },
                read_only: false,
            },
            Mount {
                target: "/run".into(),
                source: MountSource::Tmpfs {
                    size_bytes: None,
                    mode: None,
                },
                read_only: false,
            },
            Mount {
                target: "/cache".into(),
                source: MountSource::Tmpfs {
                    size_bytes: Some(2048),
                    mode: Some(0o700),
                },
                read_only: true,
            },
            Mount {
                target: "/run/secrets/token".into(),
                source: bind("/work/shop/token.txt", false, None, None),
                read_only: true,
            },
            Mount {
                target: "/etc/cfg.ini".into(),
                source: bind("/work/shop/cfg.ini", false, None, None),
                read_only: true,
            },
        ];
        assert_eq!(m, want);
    }

    #[test]
    fn mount_errors_name_service_and_field() {
        let p = project("services:\n  a:\n    image: x\n    volumes: [\"nope:/d\"]\n");
        let e = spec_err(&p, "a");
        assert!(
            e.starts_with("services.a.volumes[0]: volume \"nope\" is not defined"),
            "{e}"
        );
        let p = project(
            "services:\n  a:\n    image: x\n    volumes: [{type: npipe, source: x, target: y}]\n",
        );
        assert!(spec_err(&p, "a").contains("volume type \"npipe\" is not supported"));
        let p = project("services:\n  a:\n    image: x\n    tmpfs: [\"rel\"]\n");
        assert!(spec_err(&p, "a").starts_with("services.a.tmpfs[0]:"));
        let p = project("services:\n  a:\n    image: x\n    secrets: [missing]\n");
        assert!(spec_err(&p, "a").contains("secret \"missing\" is not defined"));
    }

    #[test]
    fn ports_and_expose() {
        let p = project(
            r#"services:
  a:
    image: x
    ports: ["8080:80", "127.0.0.1:5000-5010:5000/udp", "3000", "[::1]::81", {target: 53, published: "53", protocol: sctp}]
    expose: ["9000", "7000-7001/udp", 6000]
"#,
        );
        let s = spec(&p, "a");
        let pb = |c: u16, proto: Protocol, ip: Option<&str>, host: Option<&str>| PortBinding {
            container_port: c,
            protocol: proto,
            host_ip: ip.map(Into::into),
            host_port: host.map(Into::into),
        };
        assert_eq!(
            s.ports,
            vec![
                pb(80, Protocol::Tcp, None, Some("8080")),
                pb(5000, Protocol::Udp, Some("127.0.0.1"), Some("5000-5010")),
                pb(3000, Protocol::Tcp, None, None),
                pb(81, Protocol::Tcp, Some("::1"), None),
                pb(53, Protocol::Sctp, None, Some("53")),
            ]
        );
        assert_eq!(
            s.expose,
            vec!["9000/tcp", "7000/udp", "7001/udp", "6000/tcp"]
        );
        let p = project("services:\n  a:\n    image: x\n    expose: [\"9-1\"]\n");
        assert!(spec_err(&p, "a").starts_with("services.a.expose[0]:"));
    }

    #[test]
    fn networks_by_priority_with_aliases_and_addresses() {
        let p = project(
            r#"services:
  web:
    image: x
    mac_address: "02:42:ac:11:00:02"
    links: ["db:database"]
    external_links: [legacy]
    networks:
      back: {aliases: [api, web], ipv4_address: 172.20.0.5, ipv6_address: "fd00::5"}
      front: {priority: 10}
      admin:
  db: {image: x}
networks:
  front:
  back: {name: custom-back}
  admin:
"#,
        );
        let n = spec(&p, "web").networks;
        let names: Vec<&str> = n.iter().map(|a| a.network.as_str()).collect();
        // front (priority 10) first, then admin and back by name.
        assert_eq!(names, vec!["shop_front", "shop_admin", "custom-back"]);
        assert_eq!(n[0].aliases, vec!["shop-web-1", "web"]);
        assert_eq!(n[2].aliases, vec!["shop-web-1", "web", "api"]);
        assert_eq!(n[2].ipv4_address.as_deref(), Some("172.20.0.5"));
        assert_eq!(n[2].ipv6_address.as_deref(), Some("fd00::5"));
        assert_eq!(n[0].mac_address.as_deref(), Some("02:42:ac:11:00:02"));
        assert_eq!(n[1].mac_address, None);
        assert_eq!(n[0].links, vec!["shop-db-1:database", "legacy:legacy"]);
        // The default network.
        let d = spec(&p, "db").networks;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].network, "shop_default");
    }

    #[test]
    fn service_references_become_container_names() {
        let p = project(
            r#"services:
  vpn: {image: x, container_name: the-vpn}
  data: {image: x}
  app:
    image: x
    network_mode: "service:vpn"
    ipc: "service:data"
    pid: host
    volumes_from: ["data:ro", "container:other:rw", vpn]
  host: {image: x, network_mode: host}
"#,
        );
        let mut c = ctx();
        c.service_containers
            .insert("data".into(), "shop-data-3".into());
        let s = spec_n(&p, "app", 1, &c);
        assert_eq!(s.network_mode.as_deref(), Some("container:the-vpn"));
        assert!(s.networks.is_empty());
        assert_eq!(s.ipc_mode.as_deref(), Some("container:shop-data-3"));
        assert_eq!(s.pid_mode.as_deref(), Some("host"));
        assert_eq!(
            s.volumes_from,
            vec!["shop-data-3:ro", "other:rw", "the-vpn"]
        );
        let h = spec(&p, "host");
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        assert!(h.networks.is_empty());
        let p = project("services:\n  a: {image: x, network_mode: \"service:ghost\"}\n");
        assert!(spec_err(&p, "a").contains("services.a.network_mode: refers to service \"ghost\""));
    }

    #[test]
    fn restart_policies() {
        let r = |yaml: &str| {
            let p = project(&format!("services:\n  a: {{image: x, {yaml}}}\n"));
            container_spec(&p, "a", &p.services["a"], 1, &ctx()).map(|s| s.restart)
        };
        assert_eq!(r("restart: \"no\"").unwrap(), RestartPolicy::No);
        assert_eq!(r("restart: always").unwrap(), RestartPolicy::Always);
        assert_eq!(
            r("restart: unless-stopped").unwrap(),
            RestartPolicy::UnlessStopped
        );
        assert_eq!(
            r("restart: on-failure").unwrap(),
            RestartPolicy::OnFailure { max_retries: None }
        );
        assert_eq!(
            r("restart: on-failure:3").unwrap(),
            RestartPolicy::OnFailure {
                max_retries: Some(3)
            }
        );
        assert_eq!(
            r("restart: always, deploy: {restart_policy: {condition: on-failure, max_attempts: 5}}").unwrap(),
            RestartPolicy::OnFailure { max_retries: Some(5) }
        );
        assert_eq!(
            r("deploy: {restart_policy: {condition: none}}").unwrap(),
            RestartPolicy::No
        );
        assert_eq!(
            r("deploy: {restart_policy: {condition: any}}").unwrap(),
            RestartPolicy::Always
        );
        assert!(r("restart: sometimes")
            .unwrap_err()
            .to_string()
            .contains("services.a.restart:"));
        assert!(r("restart: on-failure:x").is_err());
    }

    #[test]
    fn healthcheck_durations_and_disable() {
        let p = project(
            r#"services:
  a:
    image: x
    healthcheck: {test: "curl -f http://localhost", interval: 10s, timeout: 2s, retries: 3, start_period: 1m, start_interval: 500ms}
  b: {image: x, healthcheck: {disable: true}}
  c: {image: x, healthcheck: {test: ["NONE"]}}
"#,
        );
        let h = spec(&p, "a").healthcheck.unwrap();
        assert_eq!(h.test, vec!["CMD-SHELL", "curl -f http://localhost"]);
        assert_eq!(h.interval, Some(StdDuration::from_secs(10)));
        assert_eq!(h.timeout, Some(StdDuration::from_secs(2)));
        assert_eq!(h.retries, Some(3));
        assert_eq!(h.start_period, Some(StdDuration::from_secs(60)));
        assert_eq!(h.start_interval, Some(StdDuration::from_millis(500)));
        for s in ["b", "c"] {
            assert_eq!(spec(&p, s).healthcheck.unwrap().test, vec!["NONE"]);
        }
    }

    #[test]
    fn resources_from_service_and_deploy() {
        let p = project(
            r#"services:
  a:
    image: x
    mem_limit: 512m
    mem_reservation: 128m
    memswap_limit: -1
    mem_swappiness: 10
    cpus: 0.5
    cpu_shares: 512
    cpu_period: 100000
    cpu_quota: 50000
    cpuset: "0-1"
    pids_limit: 100
    oom_kill_disable: true
    oom_score_adj: -500
  b:
    image: x
    mem_limit: 512m
    cpus: 0.5
    deploy: {resources: {limits: {cpus: "1.5", memory: 1g, pids: 50}, reservations: {memory: 256m}}}
"#,
        );
        let r = spec(&p, "a").resources;
        assert_eq!(r.memory, Some(512 << 20));
        assert_eq!(r.memory_reservation, Some(128 << 20));
        assert_eq!(r.memory_swap, Some(-1));
        assert_eq!(r.memory_swappiness, Some(10));
        assert_eq!(r.cpus, Some(0.5));
        assert_eq!(
            (r.cpu_shares, r.cpu_period, r.cpu_quota),
            (Some(512), Some(100000), Some(50000))
        );
        assert_eq!(r.cpuset_cpus.as_deref(), Some("0-1"));
        assert_eq!(r.pids_limit, Some(100));
        assert_eq!(r.oom_kill_disable, Some(true));
        assert_eq!(r.oom_score_adj, Some(-500));
        let r = spec(&p, "b").resources;
        assert_eq!(r.memory, Some(1 << 30));
        assert_eq!(r.cpus, Some(1.5));
        assert_eq!(r.pids_limit, Some(50));
        assert_eq!(r.memory_reservation, Some(256 << 20));
    }

    #[test]
    fn network_and_volume_specs_carry_labels_and_options() {
        let p = project(
            r#"services: {}
networks:
  front:
    driver: bridge
    driver_opts: {com.docker.network.bridge.name: br-front}
    internal: true
    attachable: true
    enable_ipv6: true
    labels: {team: a}
    ipam: {driver: default, config: [{subnet: 172.28.0.0/16, ip_range: 172.28.5.0/24, gateway: 172.28.5.254, aux_addresses: {host1: 172.28.1.5}}], options: {foo: bar}}
volumes:
  data: {driver: local, driver_opts: {type: tmpfs}, labels: {keep: "yes"}}
  ext: {external: true}
"#,
        );
        let n = network_spec("shop", "front", &p.networks["front"]);
        assert_eq!(n.name, "shop_front");
        assert_eq!(n.driver.as_deref(), Some("bridge"));
        assert_eq!(n.driver_opts["com.docker.network.bridge.name"], "br-front");
        assert!(n.internal && n.attachable && n.enable_ipv6);
        assert_eq!(n.labels[labels::PROJECT], "shop");
        assert_eq!(n.labels[labels::NETWORK], "front");
        assert_eq!(n.labels[labels::VERSION], labels::COMPOSE_VERSION);
        assert_eq!(n.labels["team"], "a");
        let ipam = n.ipam.unwrap();
        assert_eq!(ipam.driver.as_deref(), Some("default"));
        assert_eq!(ipam.options["foo"], "bar");
        assert_eq!(ipam.pools[0].subnet.as_deref(), Some("172.28.0.0/16"));
        assert_eq!(ipam.pools[0].ip_range.as_deref(), Some("172.28.5.0/24"));
        assert_eq!(ipam.pools[0].gateway.as_deref(), Some("172.28.5.254"));
        assert_eq!(ipam.pools[0].aux_addresses["host1"], "172.28.1.5");

        let v = volume_spec("shop", "data", &p.volumes["data"]);
        assert_eq!(v.name, "shop_data");
        assert_eq!(v.driver.as_deref(), Some("local"));
        assert_eq!(v.driver_opts["type"], "tmpfs");
        assert_eq!(v.labels[labels::VOLUME], "data");
        assert_eq!(v.labels[labels::PROJECT], "shop");
        assert_eq!(v.labels["keep"], "yes");
        assert_eq!(volume_spec("shop", "ext", &p.volumes["ext"]).name, "ext");
    }

    #[test]
    fn build_spec_maps_every_build_field() {
        let p = project(
            r#"services:
  api:
    platform: linux/arm64
    build:
      context: ./api
      args: {A: "1", EMPTY: null}
      target: prod
      labels: {l: v}
      no_cache: true
      pull: true
      network: host
      extra_hosts: ["db:10.0.0.5"]
      shm_size: 1g
      cache_from: [shop-api:cache]
      tags: ["registry.local/api:1", "shop-api"]
  web:
    image: web:dev
    build: {context: ., platforms: [linux/amd64, linux/arm64]}
"#,
        );
        let ctx = BuildContext {
            tar: bytes::Bytes::from_static(b"tar"),
            dockerfile: "Dockerfile".into(),
        };
        let b = build_spec(&p, "api", &p.services["api"], ctx.clone());
        assert_eq!(b.context_tar, bytes::Bytes::from_static(b"tar"));
        assert_eq!(b.dockerfile.as_deref(), Some("Dockerfile"));
        assert_eq!(b.tags, vec!["shop-api", "registry.local/api:1"]);
        assert_eq!(b.build_args.len(), 1);
        assert_eq!(b.build_args["A"], "1");
        assert_eq!(b.target.as_deref(), Some("prod"));
        assert_eq!(b.labels["l"], "v");
        assert!(b.no_cache && b.pull);
        assert_eq!(b.platform.as_deref(), Some("linux/arm64"));
        assert_eq!(b.network.as_deref(), Some("host"));
        assert_eq!(b.extra_hosts, vec!["db:10.0.0.5"]);
        assert_eq!(b.shm_size, Some(1 << 30));
        assert_eq!(b.cache_from, vec!["shop-api:cache"]);
        let w = build_spec(&p, "web", &p.services["web"], ctx);
        assert_eq!(w.tags, vec!["web:dev"]);
        assert_eq!(w.platform.as_deref(), Some("linux/amd64,linux/arm64"));
    }

    #[test]
    fn build_spec_with_a_packed_context() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let yaml = format!(
            "services:\n  a:\n    build: {{context: {}, dockerfile_inline: \"FROM busybox\"}}\n",
            dir.path().display()
        );
        let p = project(&yaml);
        let build = p.services["a"].build.clone().unwrap();
        let packed = crate::build::context::context_tar(
            Path::new(&build.context),
            build.dockerfile.as_deref(),
            build.dockerfile_inline.as_deref(),
        )
        .unwrap();
        let b = build_spec(&p, "a", &p.services["a"], packed);
        assert!(b.dockerfile.unwrap().starts_with(".dockerfile."));
        assert_eq!(b.tags, vec!["shop-a"]);
    }
}
