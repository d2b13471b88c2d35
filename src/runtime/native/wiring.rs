//! Joins native containers to the networking module ([`super::net`]): attaching a created
//! container's namespace to its networks (before its process ever starts), the files that
//! tell its monitor which ports to publish (`ports.json`) and which were published
//! (`published.json`), the port-forwarding process the monitor forks, and detaching.
//!
//! The forwarder is a child process of the monitor, not a thread in it: the monitor forks
//! to call libcontainer and must stay single-threaded (see [`super::monitor`]), while the
//! forwarder runs tokio. It dies with the monitor (`PR_SET_PDEATHSIG`), so the ports live
//! exactly as long as the container is supervised.
//!
//! Not for: bridges, addresses or iptables (the net module), nor the container's lifetime.

use std::fs;
use std::future::Future;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe, ForkResult, Pid};
use redb::Database;
use serde::{Deserialize, Serialize};

use super::net::{self, AttachRequest, HostNetwork};
use super::state::{self, ContainerRecord, RunState};
use crate::runtime::{
    ContainerSpec, NetworkAttachment, NetworkSpec, PortBinding, Protocol, PublishedPort, Result,
    RuntimeError,
};

/// The network of containers given no network (`network_mode: bridge` or none given), as
/// Docker's default `bridge`.
pub const DEFAULT_NETWORK: &str = "bridge";
const PORTS_FILE: &str = "ports.json";
const PUBLISHED_FILE: &str = "published.json";

/// Runs `f` to completion from a blocking thread of the current tokio runtime: the net
/// module is async, the state database is only reachable inside `state::with_store`.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(f)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Port {
    container_port: u16,
    protocol: String,
    host_ip: String,
    host_port: Option<String>,
}

/// What the monitor publishes: to which address, which bindings.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PortsFile {
    target: Ipv4Addr,
    ports: Vec<Port>,
}

fn protocol(name: &str) -> Protocol {
    match name {
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        _ => Protocol::Tcp,
    }
}

fn other(operation: &str, message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other {
        operation: operation.to_string(),
        message: message.to_string(),
    }
}

/// The networks `spec` asks for, `None` when the container gets no network interface
/// (`none`, `host`, or sharing another container's namespace).
fn requested(spec: &ContainerSpec) -> Option<Vec<NetworkAttachment>> {
    if !spec.networks.is_empty() {
        return Some(spec.networks.clone());
    }
    match spec.network_mode.as_deref() {
        None | Some("") | Some("bridge") | Some("default") => Some(vec![NetworkAttachment {
            network: DEFAULT_NETWORK.to_string(),
            ..Default::default()
        }]),
        _ => None,
    }
}

/// Attaches the just-created container `record` to the networks of `spec` (eth0, eth1...),
/// writes its `/etc/hosts` through the net module and the ports its monitor must publish.
pub async fn attach_container(
    net: &HostNetwork,
    db: &Database,
    root: &Path,
    record: &ContainerRecord,
    spec: &ContainerSpec,
) -> Result<()> {
    let (Some(netns), Some(attachments)) = (&record.netns, requested(spec)) else {
        return Ok(());
    };
    let dir = state::container_dir(root, &record.id);
    let hostname = fs::read_to_string(dir.join("hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| record.id[..12].to_string());
    let mut first_ip = None;
    for (i, a) in attachments.iter().enumerate() {
        if a.network == DEFAULT_NETWORK && net.inspect_network(db, DEFAULT_NETWORK).is_err() {
            let spec = NetworkSpec {
                name: DEFAULT_NETWORK.to_string(),
                ..Default::default()
            };
            net.create_network(db, &spec).await?;
        }
        let req = AttachRequest {
            network: a.network.clone(),
            container_id: record.id.clone(),
            container_name: record.name.clone(),
            hostname: hostname.clone(),
            netns: netns.clone(),
            ifname: format!("eth{i}"),
            aliases: a.aliases.clone(),
            ipv4_address: a.ipv4_address.clone(),
            mac_address: a.mac_address.clone(),
            hosts_file: Some(dir.join("hosts")),
            extra_hosts: spec.extra_hosts.clone(),
        };
        let endpoint = net
            .attach(db, &req)
            .await
            .map_err(|e| e.for_container(&record.name))?;
        first_ip.get_or_insert(endpoint.ip);
    }
    if let (Some(target), false) = (first_ip, spec.ports.is_empty()) {
        write_ports(&dir, target, &spec.ports)?;
    }
    Ok(())
}

/// Connects an existing container to one more network (`network connect`).
pub async fn connect(
    net: &HostNetwork,
    db: &Database,
    root: &Path,
    record: &ContainerRecord,
    attachment: &NetworkAttachment,
) -> Result<()> {
    let Some(netns) = &record.netns else {
        return Err(other(
            "network connect",
            format!(
                "container \"{}\" uses the host's network; it cannot join a network",
                record.name
            ),
        ));
    };
    let dir = state::container_dir(root, &record.id);
    let own: Vec<_> = net
        .endpoints(db)?
        .into_iter()
        .filter(|e| e.container_id == record.id)
        .collect();
    let count = own.len();
    let extra_hosts = own
        .first()
        .map(|e| e.extra_hosts.clone())
        .unwrap_or_default();
    let hostname = fs::read_to_string(dir.join("hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| record.id[..12].to_string());
    let req = AttachRequest {
        network: attachment.network.clone(),
        container_id: record.id.clone(),
        container_name: record.name.clone(),
        hostname,
        netns: netns.clone(),
        ifname: format!("eth{count}"),
        aliases: attachment.aliases.clone(),
        ipv4_address: attachment.ipv4_address.clone(),
        mac_address: attachment.mac_address.clone(),
        hosts_file: Some(dir.join("hosts")),
        extra_hosts,
    };
    net.attach(db, &req)
        .await
        .map_err(|e| e.for_container(&record.name))?;
    Ok(())
}

fn write_ports(dir: &Path, target: Ipv4Addr, bindings: &[PortBinding]) -> Result<()> {
    let file = PortsFile {
        target,
        ports: bindings
            .iter()
            .map(|b| Port {
                container_port: b.container_port,
                protocol: b.protocol.to_string(),
                host_ip: b.host_ip.clone().unwrap_or_default(),
                host_port: b.host_port.clone(),
            })
            .collect(),
    };
    let path = dir.join(PORTS_FILE);
    let bytes = serde_json::to_vec(&file).map_err(|e| other("write the published ports", e))?;
    fs::write(&path, bytes).map_err(|e| {
        other(
            "write the published ports",
            format!("{}: {e}", path.display()),
        )
    })
}

/// The ports a running container's forwarder bound (none when it is not running).
pub fn published_ports(root: &Path, id: &str, run: &RunState) -> Vec<PublishedPort> {
    if run.status != "running" && run.status != "restarting" {
        return Vec::new();
    }
    let path = state::container_dir(root, id).join(PUBLISHED_FILE);
    let Ok(bytes) = fs::read(path) else {
        return Vec::new();
    };
    let ports: Vec<Port> = serde_json::from_slice(&bytes).unwrap_or_default();
    ports
        .into_iter()
        .map(|p| PublishedPort {
            container_port: p.container_port,
            protocol: protocol(&p.protocol),
            host_ip: p.host_ip,
            host_port: p.host_port.and_then(|h| h.parse().ok()).unwrap_or(0),
        })
        .collect()
}

/// The port forwarder of a container, a child of its monitor.
pub struct Forwarder(Pid);

impl Forwarder {
    /// Stops forwarding (the container is done).
    pub fn stop(self, dir: &Path) {
        let _ = kill(self.0, Signal::SIGKILL);
        let _ = waitpid(self.0, None);
        let _ = fs::remove_file(dir.join(PUBLISHED_FILE));
    }
}

/// Forks the forwarder of container `dir` when it publishes ports: it binds every port
/// (failing with "port ... is already in use" before the container starts), records what it
/// bound, then forwards until killed or until the monitor dies. Call from the monitor only,
/// before any thread exists.
pub fn start_forwarder(dir: &Path) -> std::result::Result<Option<Forwarder>, String> {
    let path = dir.join(PORTS_FILE);
    let file: PortsFile = match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("corrupt {}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let _ = fs::remove_file(dir.join(PUBLISHED_FILE));
    let (read, write) = pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    // SAFETY: the monitor is single-threaded (see its module doc), so the child may do
    // anything; it never returns into the monitor's code.
    match unsafe { fork() } {
        Err(e) => Err(format!("cannot fork the port forwarder: {e}")),
        Ok(ForkResult::Child) => {
            drop(read);
            let code = forwarder_child(dir, &file, write);
            // SAFETY: leaving the forked child without running the monitor's destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(write);
            let mut line = String::new();
            let _ = BufReader::new(fs::File::from(read)).read_line(&mut line);
            match line.trim_end() {
                "ok" => Ok(Some(Forwarder(child))),
                failed => {
                    let _ = waitpid(child, None);
                    Err(failed
                        .strip_prefix("error: ")
                        .unwrap_or("the port forwarder exited without reporting")
                        .to_string())
                }
            }
        }
    }
}

fn forwarder_child(dir: &Path, file: &PortsFile, ready: OwnedFd) -> i32 {
    // SAFETY: plain prctl; the forwarder must not outlive its monitor.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // fd 1 is the monitor's readiness pipe to its starter: not ours to hold open.
    if let Ok(null) = fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto fd 1, which nothing else in this process uses.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
    let mut ready = fs::File::from(ready);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(ready, "error: cannot start the port forwarder: {e}");
            return 1;
        }
    };
    let bindings: Vec<PortBinding> = file
        .ports
        .iter()
        .map(|p| PortBinding {
            container_port: p.container_port,
            protocol: protocol(&p.protocol),
            host_ip: Some(p.host_ip.clone()).filter(|h| !h.is_empty()),
            host_port: p.host_port.clone(),
        })
        .collect();
    runtime.block_on(async {
        let bound = match net::ports::bind(&bindings, file.target).await {
            Ok(b) => b,
            Err(e) => {
                let _ = writeln!(ready, "error: {e}");
                return 1;
            }
        };
        let published: Vec<Port> = bound
            .published()
            .iter()
            .map(|p| Port {
                container_port: p.container_port,
                protocol: p.protocol.to_string(),
                host_ip: p.host_ip.clone(),
                host_port: Some(p.host_port.to_string()),
            })
            .collect();
        let path = dir.join(PUBLISHED_FILE);
        let written = serde_json::to_vec(&published)
            .map_err(|e| e.to_string())
            .and_then(|b| fs::write(&path, b).map_err(|e| format!("{}: {e}", path.display())));
        if let Err(e) = written {
            let _ = writeln!(ready, "error: cannot record the published ports: {e}");
            return 1;
        }
        let _ = writeln!(ready, "ok");
        drop(ready);
        bound.serve().await;
        0
    })
}

/// Detaches container `id` from every network, from a thread without a tokio runtime (the
/// monitor auto-removing its container).
pub fn detach_all_blocking(root: &Path, id: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| other("detach the container from its networks", e))?;
    state::with_store(root, |store| {
        let db = store.database();
        runtime
            .block_on(async {
                let net = HostNetwork::open(db, root).await?;
                net.detach_all(db, id).await
            })
            .map_err(RuntimeError::from)
    })
}
