//! Networking of the native runtime (DESIGN.md section 5): one Linux bridge per network, a
//! veth pair per container endpoint with its peer inside the container's persistent network
//! namespace (`/run/hoist/netns/<id>`), addresses from a private pool that collides with
//! nothing on the host, iptables rules that coexist with Docker's, `/etc/hosts` content for
//! name resolution, and a userland port forwarder ([`ports`]).
//!
//! [`HostNetwork`] is the whole API a `Runtime` implementation calls: `open` it once per
//! process on the state database, then `create_network` / `remove_network` / `attach` /
//! `detach` with that same database. Allocations live in the database (tables of
//! [`state`]), kernel objects carry an alias naming the database's instance, so after a
//! crash [`HostNetwork::repair`] (run by `open`) recreates what a row describes and deletes
//! what no row describes, and never touches another live data root's objects: those of a
//! data root that was deleted it deletes too ([`instances`]).
//!
//! How a `Runtime` implementation uses it:
//! - `create_network` / `inspect_network` / `list_networks` / `remove_network` map onto the
//!   trait's network methods ([`NetworkRecord::info`] gives the trait's `NetworkInfo`).
//! - creating a container: once its netns file exists and before its process starts, write
//!   [`hosts::container_resolv_conf`] to the file bind-mounted as `/etc/resolv.conf`, then
//!   `attach` once per network (`eth0`, `eth1`...) with `hosts_file` = the file bind-mounted as
//!   `/etc/hosts`: it is written, and rewritten in place whenever a peer comes or goes.
//! - the monitor publishes ports with [`ports::bind`] (before starting the container, to fail
//!   fast) then [`ports::BoundPorts::serve`], to the address of the container's first endpoint.
//! - removing a container: `detach_all`, then delete the netns file.
//!
//! IPv4 only. Not for: compose files, containers or their namespaces' lifetime (the container
//! runtime creates and deletes the netns files), DNS servers (names resolve via `/etc/hosts`).

pub mod firewall;
pub mod hosts;
pub mod instances;
pub mod ipam;
mod netlink;
pub mod ports;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use redb::Database;
use sha2::{Digest as _, Sha256};

use super::super::{NetworkSpec, ObjectKind, RuntimeError};
use firewall::Firewall;
use netlink::{Link, Netlink, NetnsConfig};
use state::{db_err, encode, endpoint_key, ENDPOINTS, NETWORKS};
pub use state::{Endpoint, NetworkRecord};

/// Prefix of every bridge hoist creates (`hoist-<9 hex>`: Linux allows 15 characters).
pub const BRIDGE_PREFIX: &str = "hoist-";
/// Prefix of the host ends of veth pairs (`hoistv<9 hex>`; not matched by `hoist-+`).
pub const VETH_PREFIX: &str = "hoistv";

/// How long removing a network waits for the veths of its removed containers to go with
/// their namespaces (25-30 ms measured here) before deleting them itself (a namespace still
/// held open by some process).
const VETH_REAP_WAIT: std::time::Duration = std::time::Duration::from_millis(250);
/// Serializes network creation and removal between all hoist processes on the host: subnet
/// choice and hoist's shared iptables chains are host-wide, not per database.
pub const HOST_LOCK: &str = "/run/hoist/network.lock";

/// Everything that can go wrong in the networking module.
#[derive(Debug)]
pub enum NetError {
    /// The request cannot be honoured as given (bad subnet, address outside the subnet...).
    Invalid {
        network: String,
        message: String,
    },
    NotFound {
        kind: ObjectKind,
        name: String,
    },
    Conflict {
        kind: ObjectKind,
        name: String,
        message: String,
    },
    /// The state database failed.
    State {
        message: String,
    },
    /// A netlink request failed.
    Kernel {
        operation: String,
        message: String,
    },
    /// A network namespace file could not be used.
    Netns {
        path: PathBuf,
        message: String,
    },
    /// An iptables command failed.
    Firewall {
        command: String,
        message: String,
    },
    /// A published host port is taken.
    PortInUse {
        address: String,
    },
    /// Publishing a port failed otherwise.
    Port {
        address: String,
        message: String,
    },
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Invalid { network, message } => write!(f, "network \"{network}\": {message}"),
            NetError::NotFound { kind, name } => write!(f, "{kind} \"{name}\" not found"),
            NetError::Conflict {
                kind,
                name,
                message,
            } => write!(f, "{kind} \"{name}\": {message}"),
            NetError::State { message } => write!(f, "network state database: {message}"),
            NetError::Kernel { operation, message } => write!(f, "{operation}: {message}"),
            NetError::Netns { path, message } => {
                write!(f, "network namespace {}: {message}", path.display())
            }
            NetError::Firewall { command, message } => {
                write!(f, "iptables command `{command}` failed: {message}")
            }
            NetError::PortInUse { address } => write!(f, "port {address} is already in use"),
            NetError::Port { address, message } => {
                write!(f, "publishing port {address}: {message}")
            }
        }
    }
}

impl std::error::Error for NetError {}

impl NetError {
    /// The `Runtime` trait's error for an operation on `container` (a taken port becomes
    /// [`RuntimeError::PortInUse`], which names the container).
    pub fn for_container(self, container: &str) -> RuntimeError {
        match self {
            NetError::PortInUse { .. } => RuntimeError::PortInUse {
                container: container.to_string(),
                message: self.to_string(),
            },
            other => other.into(),
        }
    }
}

impl From<NetError> for RuntimeError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::NotFound { kind, name } => RuntimeError::NotFound { kind, name },
            NetError::Conflict {
                kind,
                name,
                message,
            } => RuntimeError::Conflict {
                kind,
                name,
                message,
            },
            other => RuntimeError::Other {
                operation: "network".to_string(),
                message: other.to_string(),
            },
        }
    }
}

/// How a container joins a network.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    /// Network name or id.
    pub network: String,
    pub container_id: String,
    pub container_name: String,
    /// The container's hostname (its own `/etc/hosts` line).
    pub hostname: String,
    /// The container's persistent network namespace file; must exist.
    pub netns: PathBuf,
    /// Interface name inside the container: `eth0` for the first network, `eth1`...
    pub ifname: String,
    /// Extra names on this network (compose: the service name and `aliases:`).
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub mac_address: Option<String>,
    /// The container's `/etc/hosts` on the host (bind-mounted into it): written now and
    /// rewritten in place whenever a peer attaches or detaches.
    pub hosts_file: Option<PathBuf>,
    /// `extra_hosts` of the container (`host:ip` or `host=ip`), kept in its hosts file.
    pub extra_hosts: Vec<String>,
}

/// The host's network plumbing for native containers. Cheap to clone.
#[derive(Clone)]
pub struct HostNetwork {
    netlink: Netlink,
    firewall: Firewall,
}

/// The bridge of the network with id `network_id`.
fn bridge_name(network_id: &str) -> String {
    format!("{BRIDGE_PREFIX}{}", &network_id[..9.min(network_id.len())])
}

fn short_hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..9]
        .to_string()
}

/// Holds [`HOST_LOCK`] (an `flock`) until dropped. [`HostNetwork`] takes it itself; hold it
/// only around direct use of [`Firewall`] (cleanup tools, tests). Not reentrant.
pub struct HostLock(File);

impl HostLock {
    /// Blocks until no other hoist process creates or removes a network.
    pub fn acquire() -> Result<HostLock, NetError> {
        let path = Path::new(HOST_LOCK);
        let err = |e: std::io::Error| NetError::State {
            message: format!("cannot lock {}: {e}", path.display()),
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let file = File::create(path).map_err(err)?;
        // SAFETY: flock on an fd we own; released when the file is closed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(err(std::io::Error::last_os_error()));
        }
        Ok(HostLock(file))
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own fd; closing it would release the lock anyway.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn invalid(network: &str, message: impl Into<String>) -> NetError {
    NetError::Invalid {
        network: network.to_string(),
        message: message.into(),
    }
}

fn not_found(name: &str) -> NetError {
    NetError::NotFound {
        kind: ObjectKind::Network,
        name: name.to_string(),
    }
}

/// The network called (or with id, or id prefix) `name_or_id` among `networks`.
fn find<'a>(networks: &'a [NetworkRecord], name_or_id: &str) -> Option<&'a NetworkRecord> {
    networks
        .iter()
        .find(|n| n.name == name_or_id)
        .or_else(|| networks.iter().find(|n| n.id == name_or_id))
        .or_else(|| {
            let mut prefixed = networks
                .iter()
                .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id));
            match (prefixed.next(), prefixed.next()) {
                (Some(n), None) => Some(n),
                _ => None,
            }
        })
}

/// This database's instance id (a read when it exists, so attach pays no extra commit).
fn instance(db: &Database) -> Result<String, NetError> {
    match state::instance(db)? {
        Some(id) => Ok(id),
        None => state::init(db),
    }
}

impl HostNetwork {
    /// Connects to the kernel (on the current tokio runtime), creates the tables in `db` (the
    /// state database of data root `data_root`) and repairs what a crash left half-done.
    /// Every later call must pass the same `db`.
    pub async fn open(db: &Database, data_root: &Path) -> Result<HostNetwork, NetError> {
        let net = HostNetwork {
            netlink: Netlink::connect()?,
            firewall: Firewall::new(),
        };
        net.repair(db, data_root).await?;
        Ok(net)
    }

    /// Every network row.
    pub fn list_networks(&self, db: &Database) -> Result<Vec<NetworkRecord>, NetError> {
        state::networks(db)
    }

    /// Every endpoint row (the input of [`hosts::hosts_content`]).
    pub fn endpoints(&self, db: &Database) -> Result<Vec<Endpoint>, NetError> {
        state::endpoints(db)
    }

    /// The network `name_or_id` and its endpoints.
    pub fn inspect_network(
        &self,
        db: &Database,
        name_or_id: &str,
    ) -> Result<(NetworkRecord, Vec<Endpoint>), NetError> {
        let networks = state::networks(db)?;
        let network = find(&networks, name_or_id)
            .cloned()
            .ok_or_else(|| not_found(name_or_id))?;
        let endpoints = state::endpoints(db)?
            .into_iter()
            .filter(|e| e.network_id == network.id)
            .collect();
        Ok((network, endpoints))
    }

    /// Creates the network `spec`: its row first (so a crash leaves a row the next repair
    /// completes), then the bridge with the gateway address, then its firewall rules.
    pub async fn create_network(
        &self,
        db: &Database,
        spec: &NetworkSpec,
    ) -> Result<NetworkRecord, NetError> {
        let name = spec.name.as_str();
        let _lock = HostLock::acquire()?;
        let instance = instance(db)?;
        let networks = state::networks(db)?;
        if networks.iter().any(|n| n.name == name) {
            return Err(NetError::Conflict {
                kind: ObjectKind::Network,
                name: name.to_string(),
                message: "a network with this name already exists".to_string(),
            });
        }
        let mut taken = self.netlink.used_ipv4_prefixes().await?;
        taken.extend(networks.iter().map(|n| n.subnet));
        let record = plan_network(spec, &taken)?;
        state::write(db, "recording the network", |tx| {
            let mut table = tx
                .open_table(NETWORKS)
                .map_err(|e| db_err("recording the network", e))?;
            table
                .insert(record.id.as_str(), encode(&record)?.as_slice())
                .map_err(|e| db_err("recording the network", e))?;
            Ok(())
        })?;
        if let Err(e) = self.realize_network(&instance, &record).await {
            // Best effort: leave nothing behind for a network that does not exist.
            let _ = self.unrealize_network(&record).await;
            let _ = delete_row(db, NETWORKS, &record.id);
            return Err(e);
        }
        Ok(record)
    }

    /// Creates (or completes) the kernel side of `record`.
    async fn realize_network(
        &self,
        instance: &str,
        record: &NetworkRecord,
    ) -> Result<(), NetError> {
        self.netlink
            .ensure_bridge(
                &record.bridge,
                &format!("hoist:{instance}:{}", record.id),
                record.gateway,
                record.subnet.prefix_len(),
            )
            .await?;
        self.firewall.add_network(&firewall::network_rules(
            &record.bridge,
            &record.subnet,
            record.internal,
        ))?;
        if !record.internal {
            enable_ip_forwarding()?;
        }
        Ok(())
    }

    async fn unrealize_network(&self, record: &NetworkRecord) -> Result<(), NetError> {
        self.firewall.remove_network(&record.bridge)?;
        self.netlink.delete_link(&record.bridge).await?;
        self.reap_veths(&record.id).await
    }

    /// Removes the network `name_or_id`: refused while containers are attached.
    pub async fn remove_network(&self, db: &Database, name_or_id: &str) -> Result<(), NetError> {
        let _lock = HostLock::acquire()?;
        let (record, endpoints) = self.inspect_network(db, name_or_id)?;
        if !endpoints.is_empty() {
            let names: Vec<&str> = endpoints
                .iter()
                .map(|e| e.container_name.as_str())
                .collect();
            return Err(NetError::Conflict {
                kind: ObjectKind::Network,
                name: record.name.clone(),
                message: format!(
                    "has active endpoints ({}); stop or disconnect them first",
                    names.join(", ")
                ),
            });
        }
        self.unrealize_network(&record).await?;
        delete_row(db, NETWORKS, &record.id)
    }

    /// Connects a container: allocates (or reuses) its address, creates the veth pair with
    /// the peer inside `req.netns`, sets the address and default route there, and rewrites
    /// the hosts files of everyone on the network.
    pub async fn attach(&self, db: &Database, req: &AttachRequest) -> Result<Endpoint, NetError> {
        let instance = instance(db)?;
        let endpoint = state::write(db, "allocating an address", |tx| {
            let networks: Vec<NetworkRecord> = state::read_all(
                &tx.open_table(NETWORKS)
                    .map_err(|e| db_err("allocating an address", e))?,
            )?;
            let network = find(&networks, &req.network).ok_or_else(|| not_found(&req.network))?;
            let mut table = tx
                .open_table(ENDPOINTS)
                .map_err(|e| db_err("allocating an address", e))?;
            let existing: Vec<Endpoint> = state::read_all(&table)?;
            let endpoint = plan_endpoint(network, &existing, req)?;
            table
                .insert(
                    endpoint_key(&network.id, &req.container_id).as_str(),
                    encode(&endpoint)?.as_slice(),
                )
                .map_err(|e| db_err("allocating an address", e))?;
            Ok(endpoint)
        })?;
        if let Err(e) = self.realize_endpoint(&instance, &endpoint).await {
            let _ = self.netlink.delete_link(&endpoint.host_ifname).await;
            let _ = delete_row(
                db,
                ENDPOINTS,
                &endpoint_key(&endpoint.network_id, &endpoint.container_id),
            );
            return Err(e);
        }
        self.refresh_hosts(db, &endpoint.network_id, Some(&endpoint.container_id))?;
        Ok(endpoint)
    }

    async fn realize_endpoint(&self, instance: &str, e: &Endpoint) -> Result<(), NetError> {
        let network_bridge = bridge_name(&e.network_id);
        let mac = ipam::parse_mac(&e.mac).map_err(|m| invalid(&e.network_name, m))?;
        // A leftover pair from an earlier attach of this container: start clean.
        self.netlink.delete_link(&e.host_ifname).await?;
        self.netlink
            .create_veth(
                &e.host_ifname,
                &format!("hoist:{instance}:{}/{}", e.network_id, e.container_id),
                &network_bridge,
                &e.netns,
                &e.ifname,
                mac,
            )
            .await?;
        netlink::configure_netns(NetnsConfig {
            netns: e.netns.clone(),
            ifname: e.ifname.clone(),
            ip: e.ip,
            prefix: e.prefix,
            gateway: e.gateway,
        })
        .await
    }

    /// Disconnects `container_id` from `network`: deletes the veth pair, releases the
    /// address, rewrites the remaining peers' hosts files.
    pub async fn detach(
        &self,
        db: &Database,
        network: &str,
        container_id: &str,
    ) -> Result<(), NetError> {
        let (record, endpoints) = self.inspect_network(db, network)?;
        let Some(endpoint) = endpoints.iter().find(|e| e.container_id == container_id) else {
            return Err(NetError::NotFound {
                kind: ObjectKind::Container,
                name: format!("{container_id} on network {}", record.name),
            });
        };
        self.netlink.delete_link(&endpoint.host_ifname).await?;
        delete_row(db, ENDPOINTS, &endpoint_key(&record.id, container_id))?;
        self.refresh_hosts(db, &record.id, None)
    }

    /// Disconnects `container_id` from every network, for its removal: the caller deletes
    /// its network namespace next.
    ///
    /// Each endpoint's host veth is only taken down, not deleted: the kernel deletes the
    /// pair with the namespace, on its own worker, once the namespace's last user is gone.
    /// Deleting it here would wait for an RCU barrier, 20-50 ms on the removal's path
    /// (most of a `run --rm`'s teardown). Down, the port forwards nothing, so the address,
    /// free again at once, cannot be answered from the dying namespace. Removing a network
    /// waits for its veths to be gone ([`HostNetwork::remove_network`]), and `repair`
    /// deletes any left behind (a namespace some stray process kept alive).
    pub async fn detach_all(&self, db: &Database, container_id: &str) -> Result<(), NetError> {
        for e in state::endpoints(db)?
            .into_iter()
            .filter(|e| e.container_id == container_id)
        {
            self.netlink.set_link_down(&e.host_ifname).await?;
            delete_row(db, ENDPOINTS, &endpoint_key(&e.network_id, container_id))?;
            self.refresh_hosts(db, &e.network_id, None)?;
        }
        Ok(())
    }

    /// Waits (up to [`VETH_REAP_WAIT`]) until no veth of network `network_id` is left on
    /// the host, then deletes those still there: the veths of removed containers go with
    /// their namespaces, a moment after (see [`HostNetwork::detach_all`]).
    async fn reap_veths(&self, network_id: &str) -> Result<(), NetError> {
        let of_network = format!(":{network_id}/");
        let deadline = std::time::Instant::now() + VETH_REAP_WAIT;
        loop {
            let left: Vec<Link> = self
                .netlink
                .links_with_prefix(VETH_PREFIX)
                .await?
                .into_iter()
                .filter(|l| l.alias.as_deref().is_some_and(|a| a.contains(&of_network)))
                .collect();
            if left.is_empty() {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                for link in left {
                    self.netlink.delete_link(&link.name).await?;
                }
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Rewrites the hosts file of every container on `network_id` (creating the one of
    /// `create_for`; peers whose file is gone are skipped: they are being removed).
    fn refresh_hosts(
        &self,
        db: &Database,
        network_id: &str,
        create_for: Option<&str>,
    ) -> Result<(), NetError> {
        // Read and write under one lock, so the last writer always wrote the latest rows
        // (two attaches racing could otherwise leave the older view in a file).
        static REFRESH: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _serialized = REFRESH
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let endpoints = state::endpoints(db)?;
        let mut done = BTreeSet::new();
        for e in endpoints.iter().filter(|e| e.network_id == network_id) {
            let Some(path) = &e.hosts_file else { continue };
            if !done.insert(e.container_id.as_str()) {
                continue;
            }
            if create_for != Some(e.container_id.as_str()) && !path.exists() {
                continue;
            }
            hosts::rewrite_in_place(path, &hosts::hosts_content(&e.container_id, &endpoints))
                .map_err(|err| NetError::State {
                    message: format!(
                        "cannot write the hosts file {} of container {}: {err}",
                        path.display(),
                        e.container_name
                    ),
                })?;
        }
        Ok(())
    }

    /// Makes the kernel match the database after a crash: every network row gets its bridge
    /// and rules, endpoint rows get their veth (or are released when their namespace is
    /// gone), and bridges or veths marked with this database's instance but without a row
    /// are deleted. First it records this instance (of `data_root`) in the host's roll and
    /// deletes what instances whose data root is gone left ([`instances`]). Cheap when
    /// nothing is wrong: two reads of the roll per instance, two netlink dumps and one
    /// iptables check.
    pub async fn repair(&self, db: &Database, data_root: &Path) -> Result<(), NetError> {
        let instance = instance(db)?;
        let mark = format!("hoist:{instance}:");
        let _lock = HostLock::acquire()?;
        let roll = Path::new(instances::INSTANCES_DIR);
        instances::register(roll, &instance, data_root)?;
        let mut bridges = self.netlink.links_with_prefix(BRIDGE_PREFIX).await?;
        let mut veths = self.netlink.links_with_prefix(VETH_PREFIX).await?;
        self.sweep_dead_instances(roll, &instance, &mut bridges, &mut veths)
            .await?;
        let networks = state::networks(db)?;
        // iptables costs ~10 ms a call: re-add rules only when something says they are gone.
        let rules_installed = networks.is_empty() || self.firewall.is_installed()?;
        for record in &networks {
            if !rules_installed || !bridges.iter().any(|b| b.name == record.bridge) {
                self.realize_network(&instance, record).await?;
            }
        }
        let mut endpoints = state::endpoints(db)?;
        for e in endpoints.clone() {
            if !e.netns.exists() {
                // The container (and its namespace) is gone: release the address.
                self.netlink.delete_link(&e.host_ifname).await?;
                delete_row(db, ENDPOINTS, &endpoint_key(&e.network_id, &e.container_id))?;
                endpoints.retain(|x| x != &e);
            } else if !veths.iter().any(|v| v.name == e.host_ifname) {
                // A crash between recording and wiring the endpoint: wire it now.
                self.realize_endpoint(&instance, &e).await?;
            }
        }
        let known_networks: BTreeSet<&str> = networks.iter().map(|n| n.id.as_str()).collect();
        for link in bridges {
            let Some(id) = link.alias.as_deref().and_then(|a| a.strip_prefix(&mark)) else {
                continue;
            };
            if !known_networks.contains(id) {
                self.firewall.remove_network(&link.name)?;
                self.netlink.delete_link(&link.name).await?;
            }
        }
        let known_endpoints: BTreeSet<String> = endpoints
            .iter()
            .map(|e| endpoint_key(&e.network_id, &e.container_id))
            .collect();
        for link in veths {
            let Some(key) = link.alias.as_deref().and_then(|a| a.strip_prefix(&mark)) else {
                continue;
            };
            if !known_endpoints.contains(key) {
                self.netlink.delete_link(&link.name).await?;
            }
        }
        Ok(())
    }

    /// Deletes the iptables rules (one transaction), veths and bridges marked with an
    /// instance of the roll `roll` that is dead, then its record; takes them out of
    /// `bridges` and `veths`. Objects of live instances, unrecorded ones and Docker's are
    /// never touched. Under the host lock, so two sweeps never race.
    async fn sweep_dead_instances(
        &self,
        roll: &Path,
        own: &str,
        bridges: &mut Vec<Link>,
        veths: &mut Vec<Link>,
    ) -> Result<(), NetError> {
        let dead = instances::dead(roll, own);
        if dead.is_empty() {
            return Ok(());
        }
        let marks: Vec<String> = dead.iter().map(|d| format!("hoist:{d}:")).collect();
        let orphaned = |link: &Link| {
            link.alias
                .as_deref()
                .is_some_and(|a| marks.iter().any(|m| a.starts_with(m.as_str())))
        };
        let dead_bridges: Vec<&str> = bridges
            .iter()
            .filter(|l| orphaned(l))
            .map(|l| l.name.as_str())
            .collect();
        if !dead_bridges.is_empty() {
            self.firewall.remove_networks(&dead_bridges)?;
        }
        // Veths first: a bridge goes once nothing is plugged into it.
        for link in veths.iter().chain(bridges.iter()).filter(|l| orphaned(l)) {
            self.netlink.delete_link(&link.name).await?;
        }
        bridges.retain(|l| !orphaned(l));
        veths.retain(|l| !orphaned(l));
        for d in &dead {
            instances::forget(roll, d)?;
        }
        Ok(())
    }
}

fn delete_row(
    db: &Database,
    table: redb::TableDefinition<&str, &[u8]>,
    key: &str,
) -> Result<(), NetError> {
    state::write(db, "deleting a row", |tx| {
        let mut t = tx
            .open_table(table)
            .map_err(|e| db_err("deleting a row", e))?;
        t.remove(key).map_err(|e| db_err("deleting a row", e))?;
        Ok(())
    })
}

/// Outbound NAT needs forwarding on (Docker turns it on too; it is never turned back off,
/// other bridges may rely on it).
fn enable_ip_forwarding() -> Result<(), NetError> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    if fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    fs::write(path, "1").map_err(|e| NetError::Kernel {
        operation: format!("enabling IPv4 forwarding ({path})"),
        message: e.to_string(),
    })
}

/// The record of a new network: its subnet (given, or the first free one of the pools, not
/// overlapping `taken`), gateway, range and reserved addresses.
fn plan_network(spec: &NetworkSpec, taken: &[Ipv4Net]) -> Result<NetworkRecord, NetError> {
    let name = spec.name.as_str();
    if let Some(driver) = spec.driver.as_deref().filter(|d| *d != "bridge") {
        return Err(invalid(
            name,
            format!("driver \"{driver}\" is not supported by the native backend (only bridge)"),
        ));
    }
    if spec.enable_ipv6 {
        return Err(invalid(name, "IPv6 is not supported by the native backend"));
    }
    let pools = spec
        .ipam
        .as_ref()
        .map(|i| i.pools.as_slice())
        .unwrap_or(&[]);
    if pools.len() > 1 {
        return Err(invalid(
            name,
            "the native backend supports one IPAM pool per network",
        ));
    }
    let pool = pools.first();
    let subnet = match pool.and_then(|p| p.subnet.as_deref()) {
        Some(s) => {
            let subnet = ipam::parse_subnet(s).map_err(|m| invalid(name, m))?;
            if let Some(t) = taken.iter().find(|t| ipam::overlaps(&subnet, t)) {
                return Err(invalid(
                    name,
                    format!("subnet {subnet} overlaps {t}, already in use on this host"),
                ));
            }
            subnet
        }
        None => ipam::pick_subnet(&ipam::default_pools(), taken).ok_or_else(|| {
            invalid(
                name,
                "no free subnet left in the address pools; remove unused networks or give a subnet",
            )
        })?,
    };
    let in_subnet = |what: &str, ip: Ipv4Addr| {
        if subnet.contains(&ip) {
            Ok(ip)
        } else {
            Err(invalid(
                name,
                format!("{what} {ip} is outside the subnet {subnet}"),
            ))
        }
    };
    let gateway = match pool.and_then(|p| p.gateway.as_deref()) {
        Some(g) => in_subnet(
            "gateway",
            ipam::parse_ipv4("the gateway", g).map_err(|m| invalid(name, m))?,
        )?,
        None => ipam::default_gateway(&subnet),
    };
    let ip_range = match pool.and_then(|p| p.ip_range.as_deref()) {
        Some(r) => {
            let range = ipam::parse_subnet(r).map_err(|m| invalid(name, m))?;
            if !subnet.contains(&range) {
                return Err(invalid(
                    name,
                    format!("ip_range {range} is outside the subnet {subnet}"),
                ));
            }
            Some(range)
        }
        None => None,
    };
    let mut reserved = Vec::new();
    for (aux, ip) in pool.map(|p| &p.aux_addresses).unwrap_or(&BTreeMap::new()) {
        let ip =
            ipam::parse_ipv4(&format!("aux address {aux}"), ip).map_err(|m| invalid(name, m))?;
        reserved.push(in_subnet("aux address", ip)?);
    }
    let id = state::new_id(name);
    Ok(NetworkRecord {
        bridge: bridge_name(&id),
        id,
        name: name.to_string(),
        subnet,
        gateway,
        ip_range,
        reserved,
        internal: spec.internal,
        labels: spec.labels.clone(),
    })
}

/// The endpoint row of `req` on `network`, given the endpoints already recorded: an existing
/// row of the same container keeps its address unless another one is asked for.
fn plan_endpoint(
    network: &NetworkRecord,
    existing: &[Endpoint],
    req: &AttachRequest,
) -> Result<Endpoint, NetError> {
    let name = network.name.as_str();
    if req.ifname.is_empty() || req.ifname.len() > 15 {
        return Err(invalid(
            name,
            format!(
                "interface name \"{}\" must have 1 to 15 characters",
                req.ifname
            ),
        ));
    }
    let previous = existing
        .iter()
        .find(|e| e.network_id == network.id && e.container_id == req.container_id);
    let mut reserved: BTreeSet<Ipv4Addr> = existing
        .iter()
        .filter(|e| e.network_id == network.id && e.container_id != req.container_id)
        .map(|e| e.ip)
        .collect();
    reserved.insert(network.gateway);
    reserved.extend(network.reserved.iter().copied());
    let ip = match req.ipv4_address.as_deref() {
        Some(s) => {
            let ip = ipam::parse_ipv4("the container", s).map_err(|m| invalid(name, m))?;
            ipam::check_static(&network.subnet, ip, &reserved).map_err(|m| invalid(name, m))?;
            ip
        }
        None => match previous {
            Some(p) => p.ip,
            None => ipam::pick_address(&network.subnet, network.ip_range.as_ref(), &reserved)
                .ok_or_else(|| {
                    invalid(name, format!("no free address left in {}", network.subnet))
                })?,
        },
    };
    let mac = match req.mac_address.as_deref() {
        Some(m) => ipam::parse_mac(m).map_err(|m| invalid(name, m))?,
        None => ipam::mac_for(ip),
    };
    Ok(Endpoint {
        network_id: network.id.clone(),
        network_name: network.name.clone(),
        container_id: req.container_id.clone(),
        container_name: req.container_name.clone(),
        hostname: req.hostname.clone(),
        aliases: req.aliases.clone(),
        ifname: req.ifname.clone(),
        host_ifname: format!(
            "{VETH_PREFIX}{}",
            short_hash(&endpoint_key(&network.id, &req.container_id))
        ),
        netns: req.netns.clone(),
        ip,
        prefix: network.subnet.prefix_len(),
        gateway: (!network.internal).then_some(network.gateway),
        mac: ipam::format_mac(&mac),
        hosts_file: req.hosts_file.clone(),
        extra_hosts: req.extra_hosts.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{IpamPool, IpamSpec};

    fn spec_with(pool: IpamPool) -> NetworkSpec {
        NetworkSpec {
            name: "app_default".to_string(),
            ipam: Some(IpamSpec {
                pools: vec![pool],
                ..IpamSpec::default()
            }),
            ..NetworkSpec::default()
        }
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn a_network_without_ipam_takes_the_first_free_pool_subnet() {
        let spec = NetworkSpec {
            name: "n".to_string(),
            ..NetworkSpec::default()
        };
        let record = plan_network(&spec, &[net("10.89.0.0/24"), net("172.17.0.0/16")]).unwrap();
        assert_eq!(record.subnet, net("10.89.1.0/24"));
        assert_eq!(record.gateway, Ipv4Addr::new(10, 89, 1, 1));
        assert_eq!(record.bridge, bridge_name(&record.id));
        assert!(record.bridge.len() <= 15, "{}", record.bridge);
        assert!(record.bridge.starts_with(BRIDGE_PREFIX));
    }

    #[test]
    fn the_spec_ipam_is_honoured_and_checked() {
        let record = plan_network(
            &spec_with(IpamPool {
                subnet: Some("10.50.0.0/16".to_string()),
                ip_range: Some("10.50.8.0/24".to_string()),
                gateway: Some("10.50.0.254".to_string()),
                aux_addresses: BTreeMap::from([("printer".to_string(), "10.50.8.1".to_string())]),
            }),
            &[],
        )
        .unwrap();
        assert_eq!(record.gateway, Ipv4Addr::new(10, 50, 0, 254));
        assert_eq!(record.ip_range, Some(net("10.50.8.0/24")));
        assert_eq!(record.reserved, vec![Ipv4Addr::new(10, 50, 8, 1)]);

        let outside = plan_network(
            &spec_with(IpamPool {
                subnet: Some("10.50.0.0/16".to_string()),
                gateway: Some("10.51.0.1".to_string()),
                ..IpamPool::default()
            }),
            &[],
        )
        .unwrap_err();
        assert!(
            outside.to_string().contains("outside the subnet"),
            "{outside}"
        );
        let overlap = plan_network(
            &spec_with(IpamPool {
                subnet: Some("172.17.5.0/24".to_string()),
                ..IpamPool::default()
            }),
            &[net("172.17.0.0/16")],
        )
        .unwrap_err();
        assert_eq!(
            overlap.to_string(),
            "network \"app_default\": subnet 172.17.5.0/24 overlaps 172.17.0.0/16, already in use on this host"
        );
        let v6 = NetworkSpec {
            enable_ipv6: true,
            ..spec_with(IpamPool::default())
        };
        assert!(plan_network(&v6, &[])
            .unwrap_err()
            .to_string()
            .contains("IPv6"));
    }

    #[test]
    fn only_the_bridge_driver_is_accepted() {
        let spec = NetworkSpec {
            name: "o".to_string(),
            driver: Some("overlay".to_string()),
            ..NetworkSpec::default()
        };
        let err = plan_network(&spec, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "network \"o\": driver \"overlay\" is not supported by the native backend (only bridge)"
        );
        let bridge = NetworkSpec {
            driver: Some("bridge".to_string()),
            ..spec
        };
        assert!(plan_network(&bridge, &[]).is_ok());
    }

    fn request(container: &str) -> AttachRequest {
        AttachRequest {
            network: "app_default".to_string(),
            container_id: container.to_string(),
            container_name: container.to_string(),
            hostname: container.to_string(),
            netns: PathBuf::from(format!("/run/hoist/netns/{container}")),
            ifname: "eth0".to_string(),
            ..AttachRequest::default()
        }
    }

    #[test]
    fn endpoints_get_free_addresses_keep_them_and_honour_static_ones() {
        let network = plan_network(&spec_with(IpamPool::default()), &[]).unwrap();
        let a = plan_endpoint(&network, &[], &request("a")).unwrap();
        assert_eq!(a.ip, Ipv4Addr::new(10, 89, 0, 2));
        assert_eq!(a.mac, "02:42:0a:59:00:02");
        assert_eq!(a.gateway, Some(network.gateway));
        assert!(a.host_ifname.starts_with(VETH_PREFIX) && a.host_ifname.len() <= 15);
        let b = plan_endpoint(&network, std::slice::from_ref(&a), &request("b")).unwrap();
        assert_eq!(b.ip, Ipv4Addr::new(10, 89, 0, 3));
        assert_ne!(a.host_ifname, b.host_ifname);
        // Re-attaching a keeps its address.
        let again = plan_endpoint(&network, &[a.clone(), b.clone()], &request("a")).unwrap();
        assert_eq!(again.ip, a.ip);

        let mut fixed = request("c");
        fixed.ipv4_address = Some("10.89.0.50".to_string());
        fixed.mac_address = Some("02:00:00:00:00:01".to_string());
        let c = plan_endpoint(&network, &[a.clone(), b.clone()], &fixed).unwrap();
        assert_eq!(
            (c.ip, c.mac.as_str()),
            (Ipv4Addr::new(10, 89, 0, 50), "02:00:00:00:00:01")
        );
        let mut taken = request("d");
        taken.ipv4_address = Some(b.ip.to_string());
        let err = plan_endpoint(&network, &[a, b], &taken).unwrap_err();
        assert!(err.to_string().contains("already in use"), "{err}");
    }

    #[test]
    fn internal_networks_give_no_gateway_and_bad_interface_names_are_refused() {
        let network = NetworkRecord {
            internal: true,
            ..plan_network(&spec_with(IpamPool::default()), &[]).unwrap()
        };
        assert_eq!(
            plan_endpoint(&network, &[], &request("a")).unwrap().gateway,
            None
        );
        let mut long = request("a");
        long.ifname = "a-very-long-interface".to_string();
        assert!(plan_endpoint(&network, &[], &long).is_err());
    }

    #[test]
    fn a_taken_port_names_the_container() {
        let err = NetError::PortInUse {
            address: "0.0.0.0:8080/tcp".to_string(),
        }
        .for_container("app-web-1");
        assert_eq!(
            err.to_string(),
            "cannot publish a port of container \"app-web-1\": port 0.0.0.0:8080/tcp is already \
             in use; stop whatever holds the host port or publish on another one"
        );
    }
}
