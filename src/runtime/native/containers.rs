//! Container lifecycle of the native runtime as plain blocking functions: create (rootfs,
//! volumes with copy-up, /etc files, network namespace, OCI spec, records), start (spawn the
//! monitor), stop (signal, grace, SIGKILL), remove (idempotent teardown). The async
//! [`Runtime`](crate::runtime::Runtime) implementation runs them on blocking threads; the
//! monitor calls [`remove`] itself for auto-removed containers.
//!
//! Nothing here calls libcontainer: that only happens in the monitor (see [`super::monitor`]).
//!
//! Not for: image pulls, logs, or wire formats.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::monitor::{MONITOR_COMMAND, STOP_MARKER};
use super::netns;
use super::oci::{ContainerDefaults, ImageConfig};
use super::reference::Reference;
use super::snapshot::{self, RootfsDirs};
use super::spec::{self, NetworkNamespace, ResolvedMount, ResolvedMountKind, SpecInput};
use super::state::{
    self, ContainerRecord, MonitorConfig, MountRecord, Restart, StdinMode, VolumeRecord,
    CONTAINERS, VOLUMES,
};
use super::store::{ImageRecord, ImageStore};
use crate::runtime::{
    ContainerSpec, Mount, MountSource, ObjectKind, RestartPolicy, Result, RuntimeError,
};

/// Where the hoist binary is, for re-executing it as a monitor: `$HOIST_BINARY` when set
/// (tests driving the library set it to `env!("CARGO_BIN_EXE_hoist")`), else this process's
/// own executable.
pub fn hoist_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("HOIST_BINARY").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe().map_err(|e| other("find the hoist binary", e))
}

fn other(operation: &str, message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other {
        operation: operation.to_string(),
        message: message.to_string(),
    }
}

pub fn unsupported(operation: &str) -> RuntimeError {
    RuntimeError::Unsupported {
        operation: format!("{operation} yet"),
        backend: "native".to_string(),
    }
}

/// A new random id: 64 hex characters, like Docker's.
pub fn random_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| other("generate an id", format!("cannot read /dev/urandom: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The short form Docker shows for a normalized reference.
pub fn familiar(reference: &str) -> String {
    reference
        .strip_prefix("docker.io/library/")
        .or_else(|| reference.strip_prefix("docker.io/"))
        .unwrap_or(reference)
        .to_string()
}

/// Finds an image by reference, id (`sha256:...`) or unique id prefix.
pub fn find_image(store: &ImageStore, name: &str) -> Result<(String, ImageRecord)> {
    if let Ok(r) = Reference::parse(name) {
        if let Some(record) = store.image(&r.to_string())? {
            return Ok((r.to_string(), record));
        }
    }
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.len() >= 4 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let found: Vec<(String, ImageRecord)> = store
            .images()?
            .into_iter()
            .filter(|(_, r)| r.config.digest.hex().starts_with(hex))
            .collect();
        if let Some(first) = found.first() {
            if found
                .iter()
                .all(|(_, r)| r.config.digest == first.1.config.digest)
            {
                return Ok(first.clone());
            }
        }
    }
    Err(RuntimeError::NotFound {
        kind: ObjectKind::Image,
        name: name.to_string(),
    })
}

fn io_err(operation: &str, path: &Path, e: impl std::fmt::Display) -> RuntimeError {
    other(operation, format!("{}: {e}", path.display()))
}

/// `target` inside `rootfs`, refusing `..` (targets are absolute container paths).
fn inside(rootfs: &Path, target: &str) -> Result<PathBuf> {
    let rel = Path::new(target.trim_start_matches('/'));
    if rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(other(
            "create container",
            format!("mount target {target} must not contain `..`"),
        ));
    }
    Ok(rootfs.join(rel))
}

/// Copies a directory tree (modes, owners, symlinks), as Docker fills a new volume.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let m = fs::symlink_metadata(&src)?;
        let kind = m.file_type();
        if kind.is_dir() {
            fs::create_dir_all(&dst)?;
            copy_tree(&src, &dst)?;
            continue;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(m.mode() & 0o7777))?;
        } else {
            // Devices, fifos and sockets in an image directory are not copied up.
            continue;
        }
        std::os::unix::fs::lchown(&dst, Some(m.uid()), Some(m.gid()))?;
    }
    Ok(())
}

fn volume_data(root: &Path, name: &str) -> PathBuf {
    root.join("volumes").join(name).join("_data")
}

/// Creates volume `name` unless it exists; returns whether it was created now.
pub fn ensure_volume(
    store: &ImageStore,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Result<bool> {
    if state::get::<VolumeRecord>(store, VOLUMES, name)?.is_some() {
        return Ok(false);
    }
    let data = volume_data(store.root(), name);
    fs::create_dir_all(&data).map_err(|e| io_err("create volume", &data, e))?;
    let record = VolumeRecord {
        name: name.to_string(),
        labels: labels.clone(),
        options: BTreeMap::new(),
        created_at: now_rfc3339(),
    };
    state::put(store, VOLUMES, name, &record)?;
    Ok(true)
}

/// Removes volume `name`'s data and record.
pub fn delete_volume(store: &ImageStore, name: &str) -> Result<bool> {
    let dir = store.root().join("volumes").join(name);
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove volume", &dir, e)),
    }
    state::remove(store, VOLUMES, name)
}

fn restart_of(policy: RestartPolicy) -> Restart {
    match policy {
        RestartPolicy::No => Restart::No,
        RestartPolicy::Always => Restart::Always,
        RestartPolicy::UnlessStopped => Restart::UnlessStopped,
        RestartPolicy::OnFailure { max_retries } => Restart::OnFailure(max_retries),
    }
}

/// `/etc/hosts` as Docker writes it before networking adds the container's addresses.
fn hosts_file(hostname: &str, extra_hosts: &[String]) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for entry in extra_hosts {
        // `host:ip` (compose) or `host=ip`; the address may itself contain colons.
        if let Some((host, ip)) = entry.split_once(['=', ':']) {
            out.push_str(&format!("{ip}\t{host}\n"));
        }
    }
    out.push_str(&format!("127.0.1.1\t{hostname}\n"));
    out
}

/// The container's resolv.conf: the net module's (the host's minus loopback nameservers,
/// with Docker's fallbacks) with the container's dns settings on top, as Docker does.
fn resolv_conf(spec: &ContainerSpec) -> Result<String> {
    let base = super::net::hosts::container_resolv_conf().map_err(|e| {
        other(
            "create container",
            format!("cannot read /etc/resolv.conf: {e}"),
        )
    })?;
    let mut lines: Vec<String> = Vec::new();
    for line in base.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["nameserver", ..] if !spec.dns.is_empty() => {}
            ["search", ..] | ["domain", ..] if !spec.dns_search.is_empty() => {}
            ["options", ..] if !spec.dns_opt.is_empty() => {}
            _ => lines.push(line.to_string()),
        }
    }
    for ns in &spec.dns {
        lines.push(format!("nameserver {ns}"));
    }
    if !spec.dns_search.is_empty() {
        lines.push(format!("search {}", spec.dns_search.join(" ")));
    }
    if !spec.dns_opt.is_empty() {
        lines.push(format!("options {}", spec.dns_opt.join(" ")));
    }
    Ok(lines.join("\n") + "\n")
}

/// What a failed create must undo.
#[derive(Default)]
struct Undo {
    dir: Option<PathBuf>,
    netns: Option<PathBuf>,
    volumes: Vec<String>,
}

/// Creates a container (not started) and returns its id.
pub fn create(root: &Path, spec: &ContainerSpec) -> Result<String> {
    let id = random_id()?;
    let mut undo = Undo::default();
    // Between finding the image and committing the record, no container names the image
    // yet: a prune in another process must wait, or it could delete the image under us.
    let _gc = super::prune::BuildLock::acquire(root, false)?;
    match create_inner(root, spec, &id, &mut undo) {
        Ok(()) => Ok(id),
        Err(e) => {
            let _ = state::with_store(root, |store| {
                for v in &undo.volumes {
                    let _ = delete_volume(store, v);
                }
                Ok(())
            });
            if let Some(ns) = &undo.netns {
                let _ = netns::remove(ns);
            }
            if let Some(dir) = &undo.dir {
                let _ = snapshot::unmount(&RootfsDirs::under(dir).merged);
                let _ = fs::remove_dir_all(dir);
            }
            Err(e)
        }
    }
}

fn name_conflict(name: &str) -> RuntimeError {
    RuntimeError::Conflict {
        kind: ObjectKind::Container,
        name: name.to_string(),
        message: "the container name is already in use".to_string(),
    }
}

/// The image's `VOLUME`s no mount of the spec covers: each gets an anonymous volume,
/// filled from the image, as Docker does.
fn image_volumes(image: &ContainerDefaults, mounts: &[Mount]) -> Vec<Mount> {
    let normal = |p: &str| p.trim_end_matches('/').to_string();
    image
        .volumes
        .iter()
        .flatten()
        .map(|(path, _)| normal(path))
        .filter(|path| path.starts_with('/') && !mounts.iter().any(|m| normal(&m.target) == *path))
        .map(|target| Mount {
            target,
            source: MountSource::Volume {
                name: None,
                nocopy: false,
                subpath: None,
            },
            read_only: false,
        })
        .collect()
}

fn create_inner(root: &Path, spec: &ContainerSpec, id: &str, undo: &mut Undo) -> Result<()> {
    let dir = state::container_dir(root, id);
    let dirs = RootfsDirs::under(&dir);
    let (image_id, config, layers) = state::with_store(root, |store| {
        // Checked again when the record is written; this spares the work of a doomed create.
        if !spec.name.is_empty()
            && state::find_container(store, &spec.name).is_ok_and(|r| r.name == spec.name)
        {
            return Err(name_conflict(&spec.name));
        }
        let (_, record) = find_image(store, &spec.image)?;
        let config: ImageConfig = store.image_config(&record)?;
        let layers = snapshot::ensure_layers(store, &record, &config)?;
        Ok((record.config.digest.to_string(), config, layers))
    })?;
    fs::create_dir_all(&dir).map_err(|e| io_err("create container", &dir, e))?;
    undo.dir = Some(dir.clone());
    // Until the record is committed, this marks the directory as ours: a create killed
    // half-way is swept by the next process (see `sweep_half_created`).
    let marker = dir.join(CREATING_MARKER);
    fs::write(&marker, std::process::id().to_string())
        .map_err(|e| io_err("create container", &marker, e))?;
    snapshot::mount_rootfs(&layers, &dirs)?;
    let image: &ContainerDefaults = &config.config;
    let passwd = super::exec::read_in_root(&dirs.merged, "etc/passwd");
    let group = super::exec::read_in_root(&dirs.merged, "etc/group");
    let hostname = spec::hostname(spec, id);

    // Mounts, with volumes created (and filled from the image) as needed.
    let mut resolved: Vec<ResolvedMount> = Vec::new();
    let mut records: Vec<MountRecord> = Vec::new();
    let mut anonymous = Vec::new();
    for m in spec
        .mounts
        .iter()
        .chain(&image_volumes(image, &spec.mounts))
    {
        if !m.target.starts_with('/') {
            return Err(other(
                "create container",
                format!("mount target {} must be an absolute path", m.target),
            ));
        }
        match &m.source {
            MountSource::Bind {
                path,
                create_host_path,
                ..
            } => {
                let source = PathBuf::from(path);
                if !source.exists() {
                    if *create_host_path {
                        fs::create_dir_all(&source)
                            .map_err(|e| io_err("create bind mount source", &source, e))?;
                    } else {
                        return Err(other(
                            "create container",
                            format!("bind source path does not exist: {path}"),
                        ));
                    }
                }
                resolved.push(ResolvedMount {
                    destination: m.target.clone(),
                    kind: ResolvedMountKind::Bind {
                        source: source.clone(),
                    },
                    read_only: m.read_only,
                });
                records.push(MountRecord {
                    kind: "bind".to_string(),
                    name: None,
                    source: path.clone(),
                    destination: m.target.clone(),
                    read_only: m.read_only,
                });
            }
            MountSource::Volume {
                name,
                nocopy,
                subpath,
            } => {
                let (volume, is_anonymous) = match name {
                    Some(n) => (n.clone(), false),
                    None => (random_id()?, true),
                };
                let labels = if is_anonymous {
                    BTreeMap::from([("com.docker.volume.anonymous".to_string(), String::new())])
                } else {
                    BTreeMap::new()
                };
                let created =
                    state::with_store(root, |store| ensure_volume(store, &volume, &labels))?;
                if created {
                    undo.volumes.push(volume.clone());
                }
                if is_anonymous {
                    anonymous.push(volume.clone());
                }
                let data = volume_data(root, &volume);
                let empty = fs::read_dir(&data)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                let image_path = inside(&dirs.merged, &m.target)?;
                if empty && !nocopy && subpath.is_none() && image_path.is_dir() {
                    copy_tree(&image_path, &data).map_err(|e| {
                        io_err("copy the image's content into the volume", &data, e)
                    })?;
                }
                let source = match subpath {
                    Some(sub) => inside(&data, sub)?,
                    None => data.clone(),
                };
                resolved.push(ResolvedMount {
                    destination: m.target.clone(),
                    kind: ResolvedMountKind::Bind {
                        source: source.clone(),
                    },
                    read_only: m.read_only,
                });
                records.push(MountRecord {
                    kind: "volume".to_string(),
                    name: Some(volume),
                    source: source.display().to_string(),
                    destination: m.target.clone(),
                    read_only: m.read_only,
                });
            }
            MountSource::Tmpfs { size_bytes, mode } => {
                resolved.push(ResolvedMount {
                    destination: m.target.clone(),
                    kind: ResolvedMountKind::Tmpfs {
                        size_bytes: *size_bytes,
                        mode: *mode,
                    },
                    read_only: m.read_only,
                });
                records.push(MountRecord {
                    kind: "tmpfs".to_string(),
                    name: None,
                    source: String::new(),
                    destination: m.target.clone(),
                    read_only: m.read_only,
                });
            }
        }
    }

    // The /etc files networking rewrites in place later.
    let etc_files = [
        (
            "hosts",
            "/etc/hosts",
            hosts_file(&hostname, &spec.extra_hosts),
        ),
        ("hostname", "/etc/hostname", format!("{hostname}\n")),
        ("resolv.conf", "/etc/resolv.conf", resolv_conf(spec)?),
    ];
    for (file, target, content) in etc_files {
        let path = dir.join(file);
        fs::write(&path, content).map_err(|e| io_err("create container", &path, e))?;
        if !resolved.iter().any(|m| m.destination == target) {
            resolved.push(ResolvedMount {
                destination: target.to_string(),
                kind: ResolvedMountKind::Bind { source: path },
                read_only: false,
            });
        }
    }

    // `init: true`: hoist's init runs the command, mounted where Docker mounts its own.
    if spec.init == Some(true) {
        let init = super::init::ensure(root)
            .map_err(|e| io_err("write the container init", &root.join("bin"), e))?;
        resolved.push(ResolvedMount {
            destination: super::init::INIT_PATH.to_string(),
            kind: ResolvedMountKind::Bind { source: init },
            read_only: true,
        });
    }

    // The working directory exists in the container, as Docker creates it.
    let cwd = spec::working_dir(spec, image);
    let cwd_path = inside(&dirs.merged, &cwd)?;
    if !cwd_path.exists() {
        fs::create_dir_all(&cwd_path)
            .map_err(|e| io_err("create the working directory", &cwd_path, e))?;
    }

    let network = match spec.network_mode.as_deref() {
        Some("host") => NetworkNamespace::Host,
        Some(mode) if mode.starts_with("container:") => {
            // Joins the other container's namespace; the namespace stays the other's to
            // delete (this record holds no netns of its own).
            let other_name = &mode["container:".len()..];
            let other_record =
                state::with_store(root, |store| state::find_container(store, other_name))?;
            match other_record.netns {
                Some(path) => NetworkNamespace::Path(path),
                None => NetworkNamespace::Host,
            }
        }
        Some(mode) if mode.starts_with("service:") => {
            return Err(unsupported(&format!(
                "network_mode {mode} (the engine gives container:)"
            )));
        }
        _ => {
            let path = netns::netns_path(id);
            netns::create(&path)
                .map_err(|e| other("create the container's network namespace", e))?;
            undo.netns = Some(path.clone());
            NetworkNamespace::Path(path)
        }
    };

    let cgroups_path = format!("/hoist/{}", super::monitor::lc_id(id));
    let devices = super::devices::for_container(&spec.devices, spec.privileged)
        .map_err(|e| other(&format!("create container {}", spec.name), e))?;
    let input = SpecInput {
        id,
        spec,
        image,
        rootfs: &dirs.merged,
        passwd: &passwd,
        group: &group,
        network: network.clone(),
        mounts: &resolved,
        cgroups_path: &cgroups_path,
        devices: &devices,
    };
    let oci =
        spec::runtime_spec(&input).map_err(|e| other(&format!("container {}", spec.name), e))?;
    let config_path = dir.join("config.json");
    oci.save(&config_path)
        .map_err(|e| io_err("write the runtime spec", &config_path, e))?;
    super::seccomp::write_launch_bundle(root, &dir, &oci)
        .map_err(|e| other(&format!("container {}", spec.name), e))?;

    let stdin = match (spec.stdin_open, spec.stdin_once) {
        (false, _) => StdinMode::Null,
        (true, false) => StdinMode::Open,
        (true, true) => StdinMode::Once,
    };
    if stdin != StdinMode::Null {
        let fifo = dir.join("stdin");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| io_err("create the stdin fifo", &fifo, e))?;
    }
    let monitor = MonitorConfig {
        id: id.to_string(),
        layers,
        restart: restart_of(spec.restart),
        stdin,
        auto_remove: spec.auto_remove,
        healthcheck: super::health::effective(
            spec.healthcheck.as_ref(),
            image.healthcheck.as_ref(),
        ),
        working_dir: cwd.clone(),
        user: spec.user.clone().or_else(|| image.user.clone()),
    };
    let monitor_path = dir.join("monitor.json");
    let bytes = serde_json::to_vec(&monitor).map_err(|e| other("create container", e))?;
    fs::write(&monitor_path, bytes).map_err(|e| io_err("create container", &monitor_path, e))?;

    let process = oci.process().as_ref();
    let args = process.and_then(|p| p.args().clone()).unwrap_or_default();
    let entrypoint = match &spec.entrypoint {
        Some(e) => e.clone(),
        None => image.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = args[entrypoint.len().min(args.len())..].to_vec();
    let name = if spec.name.is_empty() {
        format!("hoist_{}", &id[..12])
    } else {
        spec.name.clone()
    };
    let created = chrono::Utc::now();
    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(spec.labels.clone());
    let record = ContainerRecord {
        id: id.to_string(),
        name: name.clone(),
        image: spec.image.clone(),
        image_id,
        created: created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        created_unix: created.timestamp(),
        labels,
        entrypoint,
        cmd,
        env: process.and_then(|p| p.env().clone()).unwrap_or_default(),
        working_dir: cwd,
        user: spec.user.clone().or_else(|| image.user.clone()),
        tty: spec.tty,
        stdin_open: spec.stdin_open,
        mounts: records,
        anonymous_volumes: anonymous,
        networks: spec
            .networks
            .iter()
            .map(|n| (n.network.clone(), n.aliases.clone()))
            .collect(),
        netns: match network {
            NetworkNamespace::Path(p) if undo.netns.is_some() => Some(p),
            _ => None,
        },
        stop_signal: spec
            .stop_signal
            .clone()
            .or_else(|| image.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".to_string()),
        stop_timeout_secs: spec.stop_timeout.map_or(10, |d| d.as_secs()),
    };
    state::with_store(root, |store| {
        state::put_checked(store, CONTAINERS, id, &record, |rows| {
            if rows
                .iter()
                .any(|(_, r): &(String, ContainerRecord)| r.name == name)
            {
                Err(name_conflict(&name))
            } else {
                Ok(())
            }
        })
    })?;
    let _ = fs::remove_file(&marker);
    Ok(())
}

/// Marker of a container directory whose create has not committed yet; holds the pid.
const CREATING_MARKER: &str = "creating";

/// Tears down what creates killed half-way left: container directories still marked as
/// being created by a process that no longer runs, and without a record (their mounts,
/// namespace files, directories). Returns how many were swept.
pub fn sweep_half_created(root: &Path) -> Result<usize> {
    let Ok(entries) = fs::read_dir(root.join("containers")) else {
        return Ok(0);
    };
    let mut swept = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(pid) = fs::read_to_string(dir.join(CREATING_MARKER)) else {
            continue;
        };
        if pid.trim().parse::<i32>().is_ok_and(state::process_alive) {
            continue;
        }
        let id = entry.file_name().to_string_lossy().into_owned();
        let recorded = state::with_store(root, |store| {
            state::get::<ContainerRecord>(store, CONTAINERS, &id).map(|r| r.is_some())
        })?;
        if recorded {
            // Killed between the commit and the marker's removal: a whole container.
            let _ = fs::remove_file(dir.join(CREATING_MARKER));
            continue;
        }
        snapshot::unmount(&RootfsDirs::under(&dir).merged)?;
        netns::remove(&netns::netns_path(&id))
            .map_err(|e| other("sweep a half-created container", e))?;
        fs::remove_dir_all(&dir).map_err(|e| io_err("sweep a half-created container", &dir, e))?;
        swept += 1;
    }
    Ok(swept)
}

/// Parses a signal name or number (`SIGTERM`, `TERM`, `15`).
pub fn parse_signal(name: &str) -> Result<Signal> {
    let invalid = || other("send a signal", format!("invalid signal: {name}"));
    if let Ok(n) = name.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| invalid());
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<Signal>().map_err(|_| invalid())
}

fn is_active(status: &str) -> bool {
    matches!(status, "running" | "restarting")
}

/// Starts the container's monitor, which starts the container; returns once it runs (or
/// failed to start, with libcontainer's message).
pub fn start(root: &Path, id: &str) -> Result<()> {
    let current = state::read_run_state(root, id);
    if is_active(&current.status) {
        return Ok(());
    }
    let dir = state::container_dir(root, id);
    let _ = fs::remove_file(dir.join(STOP_MARKER));
    warm_cgroup_attach();
    let exe = hoist_binary()?;
    let log_path = dir.join("monitor.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| io_err("start container", &log_path, e))?;
    let mut command = Command::new(&exe);
    command
        .arg(MONITOR_COMMAND)
        .arg(root)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; the monitor must not die with our session.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().map_err(|e| {
        other(
            "start container",
            format!("cannot run the monitor {}: {e}", exe.display()),
        )
    })?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    // The monitor lives on; a thread reaps it so it does not linger as a zombie.
    std::thread::spawn(move || child.wait());
    match line.trim_end() {
        "ok" => Ok(()),
        other_line => {
            let message = other_line
                .strip_prefix("error: ")
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!(
                        "the monitor exited without reporting; see {}",
                        log_path.display()
                    )
                });
            Err(other(&format!("start container {id}"), message))
        }
    }
}

/// Waits until the container is no longer running (or `deadline` passes).
fn wait_inactive(root: &Path, id: &str, deadline: Instant) -> bool {
    super::wait::until_status(root, id, deadline, |run| !is_active(&run.status)).1
}

fn signal_pid(pid: Option<i32>, signal: Signal) -> Result<()> {
    let Some(pid) = pid.filter(|p| *p > 0) else {
        return Ok(());
    };
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(other("signal container", format!("kill {pid}: {e}"))),
    }
}

/// Stops the container: its stop signal, `timeout` of grace, then SIGKILL; no restart.
pub fn stop(root: &Path, record: &ContainerRecord, timeout: Option<Duration>) -> Result<()> {
    let current = state::read_run_state(root, &record.id);
    if !is_active(&current.status) {
        return Ok(());
    }
    let dir = state::container_dir(root, &record.id);
    fs::write(dir.join(STOP_MARKER), b"")
        .map_err(|e| io_err("stop container", &dir.join(STOP_MARKER), e))?;
    let grace = timeout.unwrap_or(Duration::from_secs(record.stop_timeout_secs));
    signal_pid(current.pid, parse_signal(&record.stop_signal)?)?;
    // A paused container gets its signal once thawed, as Docker stops it.
    if super::cgroup::is_frozen(&record.id) {
        super::cgroup::set_frozen(&record.id, false)
            .map_err(|e| other("unpause the container to stop it", e))?;
    }
    if wait_inactive(root, &record.id, Instant::now() + grace) {
        return Ok(());
    }
    let current = state::read_run_state(root, &record.id);
    signal_pid(current.pid, Signal::SIGKILL)?;
    if wait_inactive(root, &record.id, Instant::now() + Duration::from_secs(10)) {
        Ok(())
    } else {
        Err(other(
            "stop container",
            format!("{} did not stop 10 s after SIGKILL", record.name),
        ))
    }
}

/// Starts paying, on a thread of its own, the RCU grace period the kernel waits for when
/// the next task moves into a cgroup, so the container's move does not wait for it.
///
/// Every move into a cgroup (v1 or v2) takes the global `cgroup_threadgroup_rwsem` for
/// writing, and the first writer after a quiet spell waits for a full grace period
/// (`rcu_sync_enter`; 7-30 ms measured here) before it may take it; writers within a
/// grace period of the last one do not wait. libcontainer moves the container's first
/// process in 10-20 ms after the monitor is spawned, so a move issued now has paid the
/// wait by then. The move is a no-op: this process rewrites itself (`0`) into the cgroup
/// it is already in. Failures (no cgroupfs, no permission) only lose the head start.
fn warm_cgroup_attach() {
    let Ok(own) = fs::read_to_string("/proc/self/cgroup") else {
        return;
    };
    let mut procs = None;
    for line in own.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mount = match controllers {
            "pids" => "/sys/fs/cgroup/pids",
            // cgroup v2 alone: the unified hierarchy is mounted at the top.
            "" if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() => "/sys/fs/cgroup",
            _ => continue,
        };
        procs = Some(PathBuf::from(format!("{mount}{path}")).join("cgroup.procs"));
        break;
    }
    let Some(procs) = procs else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("hoist-cgroup-warm".to_string())
        .spawn(move || {
            let _ = fs::OpenOptions::new()
                .write(true)
                .open(&procs)
                .and_then(|mut f| std::io::Write::write_all(&mut f, b"0"));
        });
}

/// Removes the cgroup `/hoist/<lc_id>` from every mounted hierarchy (v1 and v2), if left.
fn remove_leftover_cgroups(lc_id: &str) {
    let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs: Vec<PathBuf> = vec![Path::new("/sys/fs/cgroup/hoist").join(lc_id)];
    dirs.extend(
        hierarchies
            .flatten()
            .map(|h| h.path().join("hoist").join(lc_id)),
    );
    for dir in dirs {
        if dir.is_dir() {
            // rmdir, not remove_dir_all: a cgroup's files cannot be deleted, only the group.
            let _ = fs::remove_dir(&dir);
        }
    }
}

/// Waits (up to 10 s) until the monitor process `pid` has exited.
fn wait_monitor_gone(pid: Option<i32>) {
    let Some(pid) = pid.filter(|p| *p > 0 && *p != std::process::id() as i32) else {
        return;
    };
    super::wait::process_exit(pid, Instant::now() + Duration::from_secs(10));
}

/// Sends `signal` to a running container.
pub fn kill_container(root: &Path, record: &ContainerRecord, signal: &str) -> Result<()> {
    let signal = parse_signal(signal)?;
    let current = state::read_run_state(root, &record.id);
    if current.status != "running" {
        return Err(RuntimeError::Conflict {
            kind: ObjectKind::Container,
            name: record.name.clone(),
            message: "the container is not running".to_string(),
        });
    }
    if signal == Signal::SIGKILL {
        // Like `docker kill`: the restart policy does not bring it back.
        let dir = state::container_dir(root, &record.id);
        let _ = fs::write(dir.join(STOP_MARKER), b"");
    }
    signal_pid(current.pid, signal)
}

/// Removes a container and everything it left: processes (with `force`), mounts, its
/// namespace file, directories, its record and (with `volumes`) its anonymous volumes.
/// Safe to call on a half-created container and to call twice.
pub fn remove(root: &Path, name: &str, force: bool, volumes: bool) -> Result<()> {
    let record = state::with_store(root, |store| state::find_container(store, name))?;
    let current = state::read_run_state(root, &record.id);
    if is_active(&current.status) {
        if !force {
            return Err(RuntimeError::Conflict {
                kind: ObjectKind::Container,
                name: record.name.clone(),
                message: "cannot remove a running container: stop it first or force the removal"
                    .to_string(),
            });
        }
        stop(root, &record, Some(Duration::ZERO))?;
    }
    // The monitor tears down libcontainer's state and cgroups after recording the exit:
    // the container is gone only once it is.
    wait_monitor_gone(state::read_run_state(root, &record.id).monitor_pid);
    let dir = state::container_dir(root, &record.id);
    snapshot::unmount(&RootfsDirs::under(&dir).merged)?;
    // A monitor killed with -9 tore nothing down: its libcontainer state and cgroups go here
    // (the cgroups are empty once the container's processes are gone).
    remove_leftover_cgroups(&super::monitor::lc_id(&record.id));
    let lc_dir = super::monitor::lc_root(root).join(super::monitor::lc_id(&record.id));
    let _ = fs::remove_dir_all(&lc_dir);
    if let Some(ns) = &record.netns {
        netns::remove(ns).map_err(|e| other("remove container", e))?;
    }
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove container", &dir, e)),
    }
    state::with_store(root, |store| {
        state::remove(store, CONTAINERS, &record.id)?;
        if volumes {
            for v in &record.anonymous_volumes {
                delete_volume(store, v)?;
            }
        }
        Ok(())
    })
}
