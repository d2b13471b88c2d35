//! Kernel link, address and route operations over rtnetlink (no `ip` processes: a container
//! start has a budget of milliseconds): bridges, veth pairs with their peer created directly
//! inside a container's network namespace, and the addresses and routes in that namespace.
//!
//! Work inside a namespace runs on a dedicated thread that `setns`es into it: the namespace is
//! per thread, so neither the caller's threads nor tokio's pool are ever moved. Not for:
//! deciding names or addresses (see [`super::ipam`] and [`super::HostNetwork`]).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::NetError;

const ENODEV: i32 = libc::ENODEV;
const EEXIST: i32 = libc::EEXIST;

/// A link as listed.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    pub alias: Option<String>,
}

/// A route-netlink connection to the host's (the caller's) network namespace.
#[derive(Clone)]
pub(crate) struct Netlink {
    handle: Handle,
}

fn kernel_err(operation: String, e: impl std::fmt::Display) -> NetError {
    NetError::Kernel {
        operation,
        message: e.to_string(),
    }
}

/// The positive errno of a netlink error, if that is what it is.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

fn link_from(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        alias: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::IfAlias(a) => link.alias = Some(a),
            _ => {}
        }
    }
    link
}

impl Netlink {
    /// Opens a connection and spawns its driver on the current tokio runtime.
    pub fn connect() -> Result<Netlink, NetError> {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| kernel_err("opening a route netlink socket".into(), e))?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// The link called `name`, if any.
    pub async fn link(&self, name: &str) -> Result<Option<Link>, NetError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(found) => Ok(found.map(link_from)),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
            Err(e) => Err(kernel_err(format!("looking up link {name}"), e)),
        }
    }

    /// Every link whose name starts with `prefix`.
    pub async fn links_with_prefix(&self, prefix: &str) -> Result<Vec<Link>, NetError> {
        let links: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| kernel_err("listing links".into(), e))?;
        Ok(links
            .into_iter()
            .map(link_from)
            .filter(|l| l.name.starts_with(prefix))
            .collect())
    }

    /// Every IPv4 prefix the host routes or holds an address in (default routes excluded:
    /// they overlap everything and say nothing about what is in use).
    pub async fn used_ipv4_prefixes(&self) -> Result<Vec<Ipv4Net>, NetError> {
        let mut out = Vec::new();
        let routes: Vec<_> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(|e| kernel_err("listing routes".into(), e))?;
        for route in routes {
            let prefix = route.header.destination_prefix_length;
            if prefix == 0 {
                continue;
            }
            for attr in &route.attributes {
                if let RouteAttribute::Destination(RouteAddress::Inet(dst)) = attr {
                    if let Ok(net) = Ipv4Net::new(*dst, prefix) {
                        out.push(net.trunc());
                    }
                }
            }
        }
        let addrs: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| kernel_err("listing addresses".into(), e))?;
        for addr in addrs {
            for attr in &addr.attributes {
                if let AddressAttribute::Address(IpAddr::V4(ip)) = attr {
                    if let Ok(net) = Ipv4Net::new(*ip, addr.header.prefix_len) {
                        out.push(net.trunc());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Creates (or completes) the bridge `name`, up, marked with `alias`, holding `gateway`.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        alias: &str,
        gateway: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetError> {
        if self.link(name).await?.is_none() {
            let msg = LinkBridge::new(name).build();
            if let Err(e) = self.handle.link().add(msg).execute().await {
                if errno(&e) != Some(EEXIST) {
                    return Err(kernel_err(format!("creating bridge {name}"), e));
                }
            }
        }
        let link = self
            .link(name)
            .await?
            .ok_or_else(|| kernel_err(format!("creating bridge {name}"), "it vanished"))?;
        // The kernel ignores an alias in a create request; set it with the state (up again,
        // in case a crash left the bridge down).
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(link.index)
                    .up()
                    .alias(alias)
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| kernel_err(format!("bringing bridge {name} up"), e))?;
        if let Err(e) = self
            .handle
            .address()
            .add(link.index, IpAddr::V4(gateway), prefix)
            .execute()
            .await
        {
            if errno(&e) != Some(EEXIST) {
                return Err(kernel_err(
                    format!("adding {gateway}/{prefix} to bridge {name}"),
                    e,
                ));
            }
        }
        Ok(())
    }

    /// Deletes the link `name`; a missing link is not an error (cleanup is idempotent).
    pub async fn delete_link(&self, name: &str) -> Result<(), NetError> {
        let Some(link) = self.link(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(link.index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(()),
            Err(e) => Err(kernel_err(format!("deleting link {name}"), e)),
        }
    }

    /// Takes the link `name` down; a missing link is not an error. Unlike a deletion,
    /// which waits for an RCU barrier (20-50 ms measured here), this returns at once.
    pub async fn set_link_down(&self, name: &str) -> Result<(), NetError> {
        let Some(link) = self.link(name).await? else {
            return Ok(());
        };
        let message = LinkUnspec::new_with_index(link.index).down().build();
        match self.handle.link().set(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(()),
            Err(e) => Err(kernel_err(format!("taking link {name} down"), e)),
        }
    }

    /// Creates a veth pair: `host_name` (marked with `alias`) up on `bridge`, its peer
    /// `peer_name` (with `mac`) created directly inside the namespace `netns`, in one request.
    pub async fn create_veth(
        &self,
        host_name: &str,
        alias: &str,
        bridge: &str,
        netns: &Path,
        peer_name: &str,
        mac: [u8; 6],
    ) -> Result<(), NetError> {
        let bridge_link = self
            .link(bridge)
            .await?
            .ok_or_else(|| kernel_err(format!("attaching to bridge {bridge}"), "no such bridge"))?;
        let ns = File::open(netns).map_err(|e| NetError::Netns {
            path: netns.to_path_buf(),
            message: format!("cannot open the network namespace: {e}"),
        })?;
        let peer = veth_peer(peer_name, ns.as_raw_fd(), mac);
        let msg = LinkVeth::new(host_name, peer_name)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .controller(bridge_link.index)
            .up()
            .build();
        self.handle.link().add(msg).execute().await.map_err(|e| {
            kernel_err(
                format!(
                    "creating veth {host_name} on {bridge} with {peer_name} in {}",
                    netns.display()
                ),
                e,
            )
        })?;
        // A create request's alias is ignored by the kernel: a second, cheap request.
        let link = self
            .link(host_name)
            .await?
            .ok_or_else(|| kernel_err(format!("creating veth {host_name}"), "it vanished"))?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(link.index).alias(alias).build())
            .execute()
            .await
            .map_err(|e| kernel_err(format!("marking veth {host_name}"), e))
    }
}

/// The peer half of a veth request: named and addressed in the namespace `netns_fd`. Not up:
/// the kernel configures the peer before the pair is linked, and opening a veth without a
/// peer fails (ENOTCONN); [`configure_netns`] brings it up.
fn veth_peer(name: &str, netns_fd: i32, mac: [u8; 6]) -> LinkMessage {
    rtnetlink::LinkMessageBuilder::<LinkUnspec>::new()
        .name(name.to_string())
        .setns_by_fd(netns_fd)
        .address(mac.to_vec())
        .build()
}

/// What to set inside a container's namespace once its veth end is there.
#[derive(Debug, Clone)]
pub(crate) struct NetnsConfig {
    pub netns: PathBuf,
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// Default route via this address, unless the namespace already has one (the first
    /// network of a container provides it, as with Docker).
    pub gateway: Option<Ipv4Addr>,
}

/// Brings `lo` and `cfg.ifname` up, adds the address and the default route inside
/// `cfg.netns`.
pub(crate) async fn configure_netns(cfg: NetnsConfig) -> Result<(), NetError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let netns = cfg.netns.clone();
    std::thread::Builder::new()
        .name("hoist-netns".into())
        .spawn(move || {
            let _ = tx.send(in_netns(&cfg.netns.clone(), move || configure_here(cfg)));
        })
        .map_err(|e| kernel_err("spawning a namespace thread".into(), e))?;
    rx.await.map_err(|_| NetError::Netns {
        path: netns,
        message: "the namespace thread died".to_string(),
    })?
}

/// Runs `f` on the current thread after moving the thread into the namespace `path`, with a
/// single-threaded runtime of its own. The thread must not be reused afterwards.
fn in_netns<F, Fut>(path: &Path, f: F) -> Result<(), NetError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), NetError>>,
{
    let ns_err = |message: String| NetError::Netns {
        path: path.to_path_buf(),
        message,
    };
    let ns = File::open(path).map_err(|e| ns_err(format!("cannot open: {e}")))?;
    // SAFETY: plain syscall on a valid fd; it only changes this thread's network namespace.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(ns_err(format!(
            "cannot enter the network namespace: {}",
            std::io::Error::last_os_error()
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| ns_err(format!("cannot start a runtime in the namespace: {e}")))?;
    runtime.block_on(f())
}

async fn configure_here(cfg: NetnsConfig) -> Result<(), NetError> {
    let nl = Netlink::connect()?;
    let where_ = cfg.netns.display().to_string();
    let lo = nl
        .link("lo")
        .await?
        .ok_or_else(|| kernel_err(format!("finding lo in {where_}"), "no loopback link"))?;
    nl.handle
        .link()
        .set(LinkUnspec::new_with_index(lo.index).up().build())
        .execute()
        .await
        .map_err(|e| kernel_err(format!("bringing lo up in {where_}"), e))?;
    let link = nl.link(&cfg.ifname).await?.ok_or_else(|| {
        kernel_err(
            format!("configuring {} in {where_}", cfg.ifname),
            "the interface is not in the namespace",
        )
    })?;
    nl.handle
        .link()
        .set(LinkUnspec::new_with_index(link.index).up().build())
        .execute()
        .await
        .map_err(|e| kernel_err(format!("bringing {} up in {where_}", cfg.ifname), e))?;
    if let Err(e) = nl
        .handle
        .address()
        .add(link.index, IpAddr::V4(cfg.ip), cfg.prefix)
        .execute()
        .await
    {
        if errno(&e) != Some(EEXIST) {
            return Err(kernel_err(
                format!(
                    "adding {}/{} to {} in {where_}",
                    cfg.ip, cfg.prefix, cfg.ifname
                ),
                e,
            ));
        }
    }
    if let Some(gateway) = cfg.gateway {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(link.index)
            .build();
        if let Err(e) = nl.handle.route().add(route).execute().await {
            // EEXIST: another network already gave the container its default route.
            if errno(&e) != Some(EEXIST) {
                return Err(kernel_err(
                    format!("adding the default route via {gateway} in {where_}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}
