//! The OCI runtime spec (`config.json`) of a native container, computed from hoist's
//! [`ContainerSpec`] and the image's defaults the way Docker computes its own: the default
//! capability set, masked and read-only paths, the `/proc` `/dev` `/sys` mounts, hostname,
//! user and groups resolved from the image's `/etc/passwd` and `/etc/group`, environment
//! merge, entrypoint + cmd.
//!
//! Everything here is a pure function of its inputs (file contents are passed in), so it is
//! tested against Docker's documented behaviour without a kernel.
//!
//! Not for: preparing what the spec points at (rootfs, volumes, namespace files) nor
//! running it; see the runtime module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use super::oci::ContainerDefaults;
use crate::runtime::ContainerSpec;

/// Docker's default `PATH` for Linux containers.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability `privileged` and `cap_add: [ALL]` grant.
const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_BLOCK_SUSPEND",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYSLOG",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_WAKE_ALARM",
];

/// Docker's masked paths (moby `oci/defaults.go`).
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default `/dev/shm` size: 64 MiB.
const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Which network namespace the container joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// The host's (`network_mode: host`).
    Host,
    /// A persistent namespace file (`/run/hoist/netns/<id>`).
    Path(PathBuf),
}

/// A user mount with its host side resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMount {
    pub destination: String,
    pub kind: ResolvedMountKind,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedMountKind {
    /// A bind mount of a host path (bind mounts, volumes' `_data`, the /etc files).
    Bind { source: PathBuf },
    Tmpfs {
        size_bytes: Option<i64>,
        mode: Option<u32>,
    },
}

/// What the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// Everything [`runtime_spec`] needs.
#[derive(Debug, Clone)]
pub struct SpecInput<'a> {
    /// The container id (its first 12 characters are the default hostname).
    pub id: &'a str,
    pub spec: &'a ContainerSpec,
    pub image: &'a ContainerDefaults,
    /// The mounted rootfs.
    pub rootfs: &'a Path,
    /// The image's `/etc/passwd` and `/etc/group` ("" when absent).
    pub passwd: &'a str,
    pub group: &'a str,
    pub network: NetworkNamespace,
    pub mounts: &'a [ResolvedMount],
    /// Absolute cgroups path (`/hoist/<id>`): systemd is not used.
    pub cgroups_path: &'a str,
    /// Host devices to create in the container (`devices:`, and the host's for
    /// `privileged`; see [`super::devices`]).
    pub devices: &'a [super::devices::Device],
}

/// The command line Docker runs: the entrypoint (the container's, else the image's)
/// followed by the cmd (the container's; else the image's, unless the container set its
/// own entrypoint, which drops the image's cmd).
pub fn process_args(
    spec: &ContainerSpec,
    image: &ContainerDefaults,
) -> Result<Vec<String>, String> {
    let entrypoint = match &spec.entrypoint {
        Some(e) => e.clone(),
        None => image.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = match (&spec.cmd, &spec.entrypoint) {
        (Some(c), _) => c.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => image.cmd.clone().unwrap_or_default(),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(
            "no command specified: the image has no CMD or ENTRYPOINT and none was given"
                .to_string(),
        );
    }
    Ok(args)
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// moby's `ReplaceOrAppendEnvValues`: each override replaces the entry with its key in
/// place, or is appended; an override without `=` removes the key.
fn replace_or_append(mut base: Vec<String>, overrides: &[String]) -> Vec<String> {
    for o in overrides {
        let key = env_key(o);
        if !o.contains('=') {
            base.retain(|e| env_key(e) != key);
            continue;
        }
        match base.iter_mut().find(|e| env_key(e) == key) {
            Some(slot) => slot.clone_from(o),
            None => base.push(o.clone()),
        }
    }
    base
}

/// The process environment as Docker builds it: the container's variables then the image's
/// ones it does not override (`merge` at create), laid over `PATH`, `HOSTNAME` (and `TERM`
/// with a TTY); `HOME` from the user's passwd entry when still unset (as runc does).
pub fn process_env(
    container_env: &[String],
    image_env: &[String],
    hostname: &str,
    tty: bool,
    home: &str,
) -> Vec<String> {
    let mut config_env: Vec<String> = container_env.to_vec();
    for entry in image_env {
        let key = env_key(entry);
        if !container_env.iter().any(|e| env_key(e) == key) {
            config_env.push(entry.clone());
        }
    }
    let mut base = vec![DEFAULT_PATH.to_string(), format!("HOSTNAME={hostname}")];
    if tty {
        base.push("TERM=xterm".to_string());
    }
    let mut env = replace_or_append(base, &config_env);
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

/// `(name, gid, members)` of each `/etc/group` line.
fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || line.starts_with('#') {
            return None;
        }
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// A user given by name or number: its uid and, when the passwd file has it, its entry.
fn find_user<'a>(spec: &str, passwd: &'a str) -> Result<(u32, Option<PasswdEntry<'a>>), String> {
    match spec.parse::<u32>() {
        Ok(uid) => Ok((uid, passwd_entries(passwd).find(|e| e.uid == uid))),
        Err(_) => {
            let e = passwd_entries(passwd)
                .find(|e| e.name == spec)
                .ok_or_else(|| {
                    format!("unable to find user {spec}: no matching entries in passwd file")
                })?;
            Ok((e.uid, Some(e)))
        }
    }
}

/// The uid of a user given by name (looked up in `passwd`) or number.
pub fn resolve_uid(spec: &str, passwd: &str) -> Result<u32, String> {
    find_user(spec, passwd).map(|(uid, _)| uid)
}

/// The gid of a group given by name (looked up in `group`) or number.
pub fn resolve_group(spec: &str, group: &str) -> Result<u32, String> {
    if let Ok(gid) = spec.parse::<u32>() {
        return Ok(gid);
    }
    group_entries(group)
        .find(|(name, _, _)| *name == spec)
        .map(|(_, gid, _)| gid)
        .ok_or_else(|| format!("unable to find group {spec}: no matching entries in group file"))
}

/// Resolves Docker's `user[:group]` (names or numbers) against the image's passwd and
/// group files: the primary group defaults to the user's, supplementary groups are those
/// listing the user, then `group_add`.
pub fn resolve_user(
    user: Option<&str>,
    group_add: &[String],
    passwd: &str,
    group: &str,
) -> Result<ResolvedUser, String> {
    let user = user.filter(|u| !u.is_empty()).unwrap_or("0");
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let (uid, entry) = find_user(user_part, passwd)?;
    let gid = match group_part {
        Some(g) => resolve_group(g, group)?,
        None => entry.as_ref().map_or(0, |e| e.gid),
    };
    let home = entry
        .as_ref()
        .map_or("/", |e| if e.home.is_empty() { "/" } else { e.home })
        .to_string();
    // As Docker sets them: the primary group first, then (without an explicit group) the
    // groups listing the user, then `group_add`; an explicit group replaces the user's
    // supplementary groups, as in runc.
    let mut additional_gids = vec![gid];
    if let Some(name) = entry.as_ref().map(|e| e.name) {
        if group_part.is_none() {
            for (_, g, members) in group_entries(group) {
                if members.contains(&name) && g != gid && !additional_gids.contains(&g) {
                    additional_gids.push(g);
                }
            }
        }
    }
    for g in group_add {
        let g = resolve_group(g, group)?;
        if !additional_gids.contains(&g) {
            additional_gids.push(g);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// Whether this process's bounding set holds capability `name` (`CAP_...`); true when the
/// set cannot be read, so the kernel has the last word.
fn in_bounding_set(name: &str) -> bool {
    let Ok(cap) = name.parse::<caps::Capability>() else {
        return true;
    };
    caps::has_cap(None, caps::CapSet::Bounding, cap).unwrap_or(true)
}

fn normalize_cap(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// Docker's capability computation: the default set (all when privileged), plus `cap_add`,
/// minus `cap_drop`; `ALL` stands for every capability in either list.
pub fn capabilities(
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
) -> Result<Vec<String>, String> {
    let known = |c: &str| ALL_CAPABILITIES.contains(&c);
    let mut caps: Vec<String> = if privileged {
        ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    if privileged {
        return Ok(caps);
    }
    let drops: Vec<String> = cap_drop.iter().map(|c| normalize_cap(c)).collect();
    if drops.iter().any(|c| c == "CAP_ALL") {
        caps.clear();
    } else {
        for d in &drops {
            if !known(d) {
                return Err(format!("unknown capability to drop: {d}"));
            }
            caps.retain(|c| c != d);
        }
    }
    for a in cap_add.iter().map(|c| normalize_cap(c)) {
        if a == "CAP_ALL" {
            caps = ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect();
            continue;
        }
        if !known(&a) {
            return Err(format!("unknown capability to add: {a}"));
        }
        if !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

/// The container's hostname: its own, else the first 12 characters of its id.
pub fn hostname(spec: &ContainerSpec, id: &str) -> String {
    spec.hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| id.chars().take(12).collect())
}

/// The working directory: the container's, else the image's, else `/` (always absolute).
pub fn working_dir(spec: &ContainerSpec, image: &ContainerDefaults) -> String {
    let dir = spec
        .working_dir
        .clone()
        .or_else(|| image.working_dir.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".to_string());
    if dir.starts_with('/') {
        dir
    } else {
        format!("/{dir}")
    }
}

fn depth(path: &str) -> usize {
    path.split('/').filter(|c| !c.is_empty()).count()
}

/// The filesystem mounts in the order they are applied: Docker's defaults, then the user's
/// sorted by path depth (stable), so a deeper mount lands on top of a shallower one. A user
/// mount on a default's path replaces the default.
fn mounts(input: &SpecInput<'_>) -> Vec<Value> {
    let shm = input.spec.shm_size.unwrap_or(DEFAULT_SHM_SIZE);
    let defaults = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    let mut user: Vec<&ResolvedMount> = input.mounts.iter().collect();
    user.sort_by_key(|m| depth(&m.destination));
    let mut out: Vec<Value> = defaults
        .into_iter()
        .filter(|d| {
            let dest = d["destination"].as_str().unwrap_or_default();
            !user
                .iter()
                .any(|m| m.destination.trim_end_matches('/') == dest)
        })
        .collect();
    for m in user {
        let ro = if m.read_only { "ro" } else { "rw" };
        out.push(match &m.kind {
            ResolvedMountKind::Bind { source } => json!({
                "destination": m.destination, "type": "bind",
                "source": source, "options": ["rbind", "rprivate", ro],
            }),
            ResolvedMountKind::Tmpfs { size_bytes, mode } => {
                let mut options = vec![
                    "nosuid".to_string(),
                    "nodev".to_string(),
                    "noexec".to_string(),
                    ro.to_string(),
                ];
                if let Some(size) = size_bytes {
                    options.push(format!("size={size}"));
                }
                options.push(format!("mode={:o}", mode.unwrap_or(0o1777)));
                json!({"destination": m.destination, "type": "tmpfs",
                       "source": "tmpfs", "options": options})
            }
        });
    }
    out
}

/// The full OCI runtime spec of a container.
pub fn runtime_spec(input: &SpecInput<'_>) -> Result<Spec, String> {
    let spec = input.spec;
    let mut args = process_args(spec, input.image)?;
    if spec.init == Some(true) {
        // As `docker run --init`: the init runs the command (the runtime mounts it there).
        args.splice(0..0, [super::init::INIT_PATH.to_string(), "--".to_string()]);
    }
    let user = resolve_user(
        spec.user.as_deref().or(input.image.user.as_deref()),
        &spec.group_add,
        input.passwd,
        input.group,
    )?;
    let host = hostname(spec, input.id);
    let env = process_env(
        &spec.env,
        input.image.env.as_deref().unwrap_or_default(),
        &host,
        spec.tty,
        &user.home,
    );
    let mut caps = capabilities(spec.privileged, &spec.cap_add, &spec.cap_drop)?;
    if spec.privileged {
        // Every capability hoist itself may grant: asking for one outside its bounding set
        // makes the kernel refuse the whole set (`docker run --privileged` fails so on hosts
        // that hold some back).
        caps.retain(|c| in_bounding_set(c));
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if let NetworkNamespace::Path(path) = &input.network {
        namespaces.push(json!({"type": "network", "path": path}));
    }
    let rlimits: Vec<Value> = spec
        .ulimits
        .iter()
        .map(|u| {
            json!({"type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
                   "soft": u.soft, "hard": u.hard})
        })
        .collect();
    let mut resources = serde_json::Map::new();
    if let Some(memory) = spec.resources.memory {
        resources.insert("memory".into(), json!({"limit": memory}));
    }
    if let Some(pids) = spec.resources.pids_limit {
        resources.insert("pids".into(), json!({"limit": pids}));
    }
    if spec.privileged {
        // Any device, as Docker's privileged containers may use.
        resources.insert("devices".into(), json!([{"allow": true, "access": "rwm"}]));
    } else {
        // Docker's rule list: deny everything, then allow the mapped devices (libcontainer
        // adds /dev/null, /dev/tty and the other standard ones after them). Without the
        // deny, a v1 devices cgroup keeps its parent's allow-all, and a container (which
        // has CAP_MKNOD) could make and open any device of the host.
        let mut rules = vec![json!({"allow": false, "access": "rwm"})];
        rules.extend(input.devices.iter().map(|d| d.spec_entries().1));
        resources.insert("devices".into(), Value::Array(rules));
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": input.cgroups_path,
        "sysctl": spec.sysctls.iter().collect::<BTreeMap<_, _>>(),
        "resources": resources,
    });
    if let Some(seccomp) =
        super::seccomp::for_container(&spec.security_opt, spec.privileged, &caps)?
    {
        linux["seccomp"] = seccomp;
    }
    if !input.devices.is_empty() {
        let nodes: Vec<Value> = input.devices.iter().map(|d| d.spec_entries().0).collect();
        linux["devices"] = Value::Array(nodes);
    }
    if !spec.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    let mut value = json!({
        "ociVersion": "1.0.2",
        "root": {"path": input.rootfs, "readonly": spec.read_only},
        "hostname": host,
        "process": {
            "terminal": spec.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": args,
            "env": env,
            "cwd": working_dir(spec, input.image),
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "rlimits": rlimits,
        },
        "mounts": mounts(input),
        "linux": linux,
    });
    // Only when set: libcontainer reads a present `false` as "set" and then loads the
    // seccomp filter after dropping capabilities, which the kernel refuses.
    if spec
        .security_opt
        .iter()
        .any(|o| o.starts_with("no-new-privileges") && !o.ends_with("false"))
    {
        value["process"]["noNewPrivileges"] = json!(true);
    }
    if let Some(domain) = spec.domainname.as_ref().filter(|d| !d.is_empty()) {
        value["domainname"] = json!(domain);
    }
    serde_json::from_value(value).map_err(|e| format!("invalid runtime spec: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxNamespaceType};

    /// The device cgroup rules of `oci`, as (allow, `type major:minor access`).
    fn device_rules(oci: &oci_spec::runtime::Spec) -> Vec<(bool, String)> {
        let resources = oci.linux().as_ref().unwrap().resources().as_ref().unwrap();
        let rules = resources.devices().clone().unwrap_or_default();
        rules.iter().map(|r| (r.allow(), r.to_string())).collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ContainerDefaults {
        ContainerDefaults {
            entrypoint: entrypoint.map(strings),
            cmd: cmd.map(strings),
            ..Default::default()
        }
    }

    #[test]
    fn entrypoint_and_cmd_combine_as_docker_documents() {
        let img = image(Some(&["/entry"]), Some(&["default"]));
        let mut spec = ContainerSpec::default();
        assert_eq!(
            process_args(&spec, &img).unwrap(),
            strings(&["/entry", "default"])
        );
        spec.cmd = Some(strings(&["mine"]));
        assert_eq!(
            process_args(&spec, &img).unwrap(),
            strings(&["/entry", "mine"])
        );
        // A new entrypoint drops the image's CMD...
        spec.cmd = None;
        spec.entrypoint = Some(strings(&["/other"]));
        assert_eq!(process_args(&spec, &img).unwrap(), strings(&["/other"]));
        // ...an empty one resets the entrypoint and the container's cmd runs alone.
        spec.entrypoint = Some(vec![]);
        spec.cmd = Some(strings(&["sh", "-c", "x"]));
        assert_eq!(
            process_args(&spec, &img).unwrap(),
            strings(&["sh", "-c", "x"])
        );
        spec.cmd = None;
        assert!(process_args(&spec, &img).is_err());
    }

    #[test]
    fn environment_merges_like_docker() {
        let env = process_env(
            &strings(&["B=2", "PATH=/mine"]),
            &strings(&["PATH=/img", "A=1", "B=img"]),
            "h",
            false,
            "/root",
        );
        assert_eq!(
            env,
            strings(&["PATH=/mine", "HOSTNAME=h", "B=2", "A=1", "HOME=/root"])
        );
        let env = process_env(&[], &strings(&["HOME=/x"]), "h", true, "/root");
        assert_eq!(
            env,
            strings(&[DEFAULT_PATH, "HOSTNAME=h", "TERM=xterm", "HOME=/x"])
        );
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\n";

    #[test]
    fn users_and_groups_resolve_from_the_image_files() {
        let root = resolve_user(None, &[], PASSWD, GROUP).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let www = resolve_user(Some("www"), &[], PASSWD, GROUP).unwrap();
        assert_eq!(
            (www.uid, www.gid, www.additional_gids.clone()),
            (33, 33, vec![33, 50])
        );
        assert_eq!(www.home, "/var/www");
        let numeric = resolve_user(Some("1000:staff"), &[], PASSWD, GROUP).unwrap();
        assert_eq!(
            (numeric.uid, numeric.gid, numeric.home.as_str()),
            (1000, 50, "/")
        );
        assert_eq!(numeric.additional_gids, vec![50]);
        let by_uid = resolve_user(Some("33"), &strings(&["root"]), PASSWD, GROUP).unwrap();
        assert_eq!((by_uid.gid, by_uid.additional_gids), (33, vec![33, 50, 0]));

        let err = resolve_user(Some("nobody"), &[], PASSWD, GROUP).unwrap_err();
        assert!(err.contains("unable to find user nobody"), "{err}");
        assert!(resolve_user(Some("www:nogroup"), &[], PASSWD, GROUP).is_err());
    }

    #[test]
    fn capabilities_are_dockers_defaults_plus_add_minus_drop() {
        let caps = capabilities(false, &[], &[]).unwrap();
        assert_eq!(caps.len(), 14);
        let caps = capabilities(false, &strings(&["NET_ADMIN"]), &strings(&["chown"])).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        let caps = capabilities(false, &strings(&["KILL"]), &strings(&["ALL"])).unwrap();
        assert_eq!(caps, strings(&["CAP_KILL"]));
        assert_eq!(
            capabilities(true, &[], &[]).unwrap().len(),
            ALL_CAPABILITIES.len()
        );
        assert!(capabilities(false, &strings(&["NOPE"]), &[]).is_err());
    }

    #[test]
    fn the_spec_has_dockers_defaults_and_user_mounts_by_depth() {
        let spec = ContainerSpec {
            cmd: Some(strings(&["true"])),
            user: Some("www".to_string()),
            working_dir: Some("/app".to_string()),
            ..Default::default()
        };
        let img = ContainerDefaults::default();
        let mounts = vec![
            ResolvedMount {
                destination: "/app/node_modules".to_string(),
                kind: ResolvedMountKind::Bind {
                    source: "/v".into(),
                },
                read_only: false,
            },
            ResolvedMount {
                destination: "/app".to_string(),
                kind: ResolvedMountKind::Bind {
                    source: "/src".into(),
                },
                read_only: true,
            },
            ResolvedMount {
                destination: "/dev/shm".to_string(),
                kind: ResolvedMountKind::Tmpfs {
                    size_bytes: Some(1024),
                    mode: None,
                },
                read_only: false,
            },
        ];
        let input = SpecInput {
            id: "0123456789abcdef",
            spec: &spec,
            image: &img,
            rootfs: Path::new("/r"),
            passwd: PASSWD,
            group: GROUP,
            network: NetworkNamespace::Path("/run/hoist/netns/x".into()),
            mounts: &mounts,
            cgroups_path: "/hoist/0123456789abcdef",
            devices: &[],
        };
        let oci = runtime_spec(&input).unwrap();
        assert_eq!(oci.hostname().as_deref(), Some("0123456789ab"));
        let process = oci.process().as_ref().unwrap();
        assert_eq!(process.user().uid(), 33);
        assert_eq!(process.cwd(), Path::new("/app"));
        let bounding = process
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .clone()
            .unwrap();
        assert!(bounding.contains(&Capability::NetBindService));
        assert!(!bounding.contains(&Capability::SysAdmin));
        let linux = oci.linux().as_ref().unwrap();
        assert_eq!(
            linux.masked_paths().as_ref().unwrap().len(),
            MASKED_PATHS.len()
        );
        let net = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .unwrap();
        assert_eq!(net.path().as_deref(), Some(Path::new("/run/hoist/netns/x")));
        let dests: Vec<String> = oci
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        // The user's /dev/shm replaced Docker's; /app comes before the deeper mount.
        assert_eq!(
            dests,
            strings(&[
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/dev/mqueue",
                "/app",
                "/app/node_modules",
                "/dev/shm"
            ])
        );
        // Docker's default seccomp profile, none when privileged or unconfined.
        assert!(linux.seccomp().is_some());
        for (privileged, opt) in [(true, ""), (false, "seccomp=unconfined")] {
            let spec = ContainerSpec {
                privileged,
                security_opt: vec![opt.to_string()],
                ..spec.clone()
            };
            let oci = runtime_spec(&SpecInput {
                spec: &spec,
                ..input.clone()
            })
            .unwrap();
            assert!(oci.linux().as_ref().unwrap().seccomp().is_none());
        }
        // A mapped device: its node, and a cgroup rule for it alone.
        let fuse = super::super::devices::Device {
            path: "/dev/fuse".to_string(),
            kind: 'c',
            major: 10,
            minor: 229,
            mode: 0o20666,
            uid: 0,
            gid: 0,
            access: "rw".to_string(),
        };
        let with_device = runtime_spec(&SpecInput {
            devices: std::slice::from_ref(&fuse),
            ..input.clone()
        })
        .unwrap();
        let linux = with_device.linux().as_ref().unwrap();
        let node = &linux.devices().as_ref().unwrap()[0];
        assert_eq!((node.major(), node.minor()), (10, 229));
        assert_eq!(node.path(), Path::new("/dev/fuse"));
        assert_eq!(
            device_rules(&with_device),
            vec![
                (false, "a *:* rwm".to_string()),
                (true, "c 10:229 rw".to_string())
            ]
        );
        // Privileged: any device.
        let privileged = ContainerSpec {
            privileged: true,
            ..spec.clone()
        };
        let oci = runtime_spec(&SpecInput {
            spec: &privileged,
            ..input.clone()
        })
        .unwrap();
        assert_eq!(device_rules(&oci), vec![(true, "a *:* rwm".to_string())]);
        let host = runtime_spec(&SpecInput {
            network: NetworkNamespace::Host,
            ..input
        })
        .unwrap();
        let namespaces = host.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(namespaces
            .iter()
            .all(|n| n.typ() != LinuxNamespaceType::Network));
    }
}
