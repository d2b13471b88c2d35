//! The networking tables of the native runtime's state database (`state.redb`, shared with
//! the image store): network records, endpoint records, and this database's instance id,
//! which marks the kernel objects it owns so a repair never touches another data root's.
//!
//! Values are serde_json-encoded records written inside redb transactions, so a crash leaves
//! either the old or the new row. Not for: kernel state (the private `netlink` module).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::NetError;

/// Network records by id.
pub const NETWORKS: TableDefinition<&str, &[u8]> = TableDefinition::new("net_networks");
/// Endpoint records by `<network id>/<container id>`.
pub const ENDPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("net_endpoints");
/// `instance` -> a random id of this database.
const META: TableDefinition<&str, &str> = TableDefinition::new("net_meta");

/// A network as persisted: what it was asked to be and what was allocated for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex digits, like Docker's.
    pub id: String,
    pub name: String,
    /// The Linux bridge, `hoist-<9 hex digits of the id>`.
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Where dynamic addresses come from (`ipam.config[].ip_range`), inside `subnet`.
    pub ip_range: Option<Ipv4Net>,
    /// `aux_addresses`: never handed to a container.
    pub reserved: Vec<Ipv4Addr>,
    /// No outbound NAT and no traffic out of the bridge.
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

impl NetworkRecord {
    /// The [`NetworkInfo`](crate::runtime::NetworkInfo) the `Runtime` trait reports.
    pub fn info(&self, containers: Vec<String>) -> crate::runtime::NetworkInfo {
        crate::runtime::NetworkInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            driver: "bridge".to_string(),
            labels: self.labels.clone(),
            internal: self.internal,
            enable_ipv6: false,
            subnets: vec![self.subnet.to_string()],
            containers,
        }
    }
}

/// One container's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    pub network_name: String,
    pub container_id: String,
    /// The container's name (resolvable by its peers).
    pub container_name: String,
    /// The container's own hostname (resolvable by itself only, as with Docker).
    pub hostname: String,
    /// Extra names on this network (compose adds the service name here).
    pub aliases: Vec<String>,
    /// Interface name inside the container (`eth0`).
    pub ifname: String,
    /// Host end of the veth pair, a port of the bridge.
    pub host_ifname: String,
    /// The container's persistent network namespace file.
    pub netns: PathBuf,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// `None` on internal networks: they get no default route.
    pub gateway: Option<Ipv4Addr>,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The container's `/etc/hosts` on the host, rewritten in place when peers change.
    pub hosts_file: Option<PathBuf>,
    /// The container's `extra_hosts` (`host:ip` or `host=ip`), written to its own hosts file.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
}

pub(crate) fn endpoint_key(network_id: &str, container_id: &str) -> String {
    format!("{network_id}/{container_id}")
}

pub(crate) fn db_err(what: &str, e: impl std::fmt::Display) -> NetError {
    NetError::State {
        message: format!("{what}: {e}"),
    }
}

/// A fresh 64-hex id (time, pid, a counter and `seed`, hashed): no rand crate needed for ids
/// that only have to be unique on this host.
pub(crate) fn new_id(seed: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{seed}\0{nanos}\0{}\0{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates the tables if needed and returns this database's instance id.
pub(crate) fn init(db: &Database) -> Result<String, NetError> {
    let tx = db
        .begin_write()
        .map_err(|e| db_err("opening networks", e))?;
    let instance = {
        tx.open_table(NETWORKS)
            .map_err(|e| db_err("opening networks", e))?;
        tx.open_table(ENDPOINTS)
            .map_err(|e| db_err("opening endpoints", e))?;
        let mut meta = tx
            .open_table(META)
            .map_err(|e| db_err("opening network metadata", e))?;
        let existing = meta
            .get("instance")
            .map_err(|e| db_err("reading network metadata", e))?
            .map(|v| v.value().to_string());
        match existing {
            Some(id) => id,
            None => {
                let id = new_id("instance")[..16].to_string();
                meta.insert("instance", id.as_str())
                    .map_err(|e| db_err("writing network metadata", e))?;
                id
            }
        }
    };
    tx.commit().map_err(|e| db_err("opening networks", e))?;
    Ok(instance)
}

/// The instance id, if [`init`] ran on this database.
pub(crate) fn instance(db: &Database) -> Result<Option<String>, NetError> {
    let tx = db
        .begin_read()
        .map_err(|e| db_err("reading network metadata", e))?;
    let meta = match tx.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(db_err("reading network metadata", e)),
    };
    Ok(meta
        .get("instance")
        .map_err(|e| db_err("reading network metadata", e))?
        .map(|v| v.value().to_string()))
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, value: &[u8]) -> Result<T, NetError> {
    serde_json::from_slice(value).map_err(|e| db_err(&format!("corrupt row {key}"), e))
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, NetError> {
    serde_json::to_vec(value).map_err(|e| db_err("encoding a row", e))
}

/// Every network row.
pub(crate) fn networks(db: &Database) -> Result<Vec<NetworkRecord>, NetError> {
    let tx = db.begin_read().map_err(|e| db_err("listing networks", e))?;
    let table = tx
        .open_table(NETWORKS)
        .map_err(|e| db_err("listing networks", e))?;
    read_all(&table)
}

/// Every endpoint row.
pub(crate) fn endpoints(db: &Database) -> Result<Vec<Endpoint>, NetError> {
    let tx = db
        .begin_read()
        .map_err(|e| db_err("listing endpoints", e))?;
    let table = tx
        .open_table(ENDPOINTS)
        .map_err(|e| db_err("listing endpoints", e))?;
    read_all(&table)
}

pub(crate) fn read_all<T: for<'de> Deserialize<'de>>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<T>, NetError> {
    let mut out = Vec::new();
    for row in table.iter().map_err(|e| db_err("reading rows", e))? {
        let (key, value) = row.map_err(|e| db_err("reading rows", e))?;
        out.push(decode(key.value(), value.value())?);
    }
    Ok(out)
}

/// Runs `f` in one write transaction and commits it.
pub(crate) fn write<R>(
    db: &Database,
    what: &str,
    f: impl FnOnce(&redb::WriteTransaction) -> Result<R, NetError>,
) -> Result<R, NetError> {
    let tx = db.begin_write().map_err(|e| db_err(what, e))?;
    let out = f(&tx)?;
    tx.commit().map_err(|e| db_err(what, e))?;
    Ok(out)
}
