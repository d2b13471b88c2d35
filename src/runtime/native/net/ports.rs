//! Published ports of native containers: a userland TCP and UDP forwarder (tokio) from a
//! host address and port to the container's address, as Docker's `docker-proxy` does.
//!
//! [`bind`] and [`BoundPorts::serve`] are separate so the per-container monitor can bind
//! first, fail fast with "port 8080 is already in use" before the container starts, report
//! the ports actually bound (random ones included), then serve for as long as it lives.
//! IPv4 only: an unspecified host address means `0.0.0.0`, not also `::`. Not for: iptables
//! DNAT (nothing here touches the firewall) nor choosing the container address.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::NetError;
use crate::runtime::{PortBinding, Protocol, PublishedPort};

/// How long a UDP client without traffic keeps its upstream socket (docker-proxy: 90 s).
const UDP_IDLE: Duration = Duration::from_secs(90);

enum Socket {
    Tcp(TcpListener),
    Udp(Arc<UdpSocket>),
}

struct Listener {
    socket: Socket,
    target: SocketAddrV4,
}

/// Host sockets bound for a container's published ports, ready to [`serve`](Self::serve).
pub struct BoundPorts {
    listeners: Vec<Listener>,
    published: Vec<PublishedPort>,
}

impl std::fmt::Debug for BoundPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundPorts")
            .field("published", &self.published)
            .finish()
    }
}

/// Parses `host_port`: none = any free port (0), `8080`, or a `8000-8010` range to pick from.
fn host_ports(spec: Option<&str>) -> Result<(u16, u16), String> {
    let Some(spec) = spec.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok((0, 0));
    };
    let parse = |s: &str| {
        s.trim()
            .parse::<u16>()
            .map_err(|_| format!("invalid host port \"{spec}\""))
    };
    match spec.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b || a == 0 {
                return Err(format!("invalid host port range \"{spec}\""));
            }
            Ok((a, b))
        }
        None => {
            let p = parse(spec)?;
            Ok((p, p))
        }
    }
}

fn host_ip(spec: Option<&str>) -> Result<Ipv4Addr, String> {
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Ipv4Addr::UNSPECIFIED),
        Some(s) => s.parse().map_err(|_| {
            format!("host address \"{s}\" is not an IPv4 address (the native backend publishes IPv4 only)")
        }),
    }
}

async fn bind_one(protocol: Protocol, addr: SocketAddrV4) -> io::Result<Socket> {
    match protocol {
        Protocol::Udp => Ok(Socket::Udp(Arc::new(UdpSocket::bind(addr).await?))),
        _ => Ok(Socket::Tcp(TcpListener::bind(addr).await?)),
    }
}

fn local_port(socket: &Socket) -> io::Result<u16> {
    match socket {
        Socket::Tcp(l) => l.local_addr().map(|a| a.port()),
        Socket::Udp(u) => u.local_addr().map(|a| a.port()),
    }
}

/// Binds every one of a container's `bindings` to forward to `target` (the container's
/// address). Fails on the first host port that cannot be bound, releasing the ones already
/// bound; [`NetError::for_container`] turns the error into the `Runtime` trait's.
pub async fn bind(bindings: &[PortBinding], target: Ipv4Addr) -> Result<BoundPorts, NetError> {
    let mut bound = BoundPorts {
        listeners: Vec::new(),
        published: Vec::new(),
    };
    for b in bindings {
        let shown = format!(
            "{}:{}",
            b.host_ip.as_deref().unwrap_or("0.0.0.0"),
            b.host_port.as_deref().unwrap_or("")
        );
        let port_err = |message: String| NetError::Port {
            address: format!("{shown}/{}", b.protocol),
            message,
        };
        if b.protocol == Protocol::Sctp {
            return Err(port_err(
                "SCTP is not supported by the native backend".into(),
            ));
        }
        let ip = host_ip(b.host_ip.as_deref()).map_err(port_err)?;
        let (first, last) = host_ports(b.host_port.as_deref()).map_err(port_err)?;
        let mut socket = None;
        for port in first..=last {
            match bind_one(b.protocol, SocketAddrV4::new(ip, port)).await {
                Ok(s) => {
                    socket = Some(s);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(port_err(e.to_string())),
            }
        }
        let Some(socket) = socket else {
            let ports = if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            };
            return Err(NetError::PortInUse {
                address: format!("{ip}:{ports}/{}", b.protocol),
            });
        };
        let host_port = local_port(&socket).map_err(|e| port_err(e.to_string()))?;
        bound.published.push(PublishedPort {
            container_port: b.container_port,
            protocol: b.protocol,
            host_ip: ip.to_string(),
            host_port,
        });
        bound.listeners.push(Listener {
            socket,
            target: SocketAddrV4::new(target, b.container_port),
        });
    }
    Ok(bound)
}

impl BoundPorts {
    /// The ports as bound (random host ports resolved).
    pub fn published(&self) -> &[PublishedPort] {
        &self.published
    }

    /// Forwards until the future is dropped. A connection the container refuses is closed
    /// on the client's side, as docker-proxy does.
    pub async fn serve(self) {
        let tasks = self.listeners.into_iter().map(|l| async move {
            match l.socket {
                Socket::Tcp(listener) => serve_tcp(listener, l.target).await,
                Socket::Udp(socket) => serve_udp(socket, l.target).await,
            }
        });
        futures_util::future::join_all(tasks).await;
    }
}

async fn serve_tcp(listener: TcpListener, target: SocketAddrV4) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut upstream) = TcpStream::connect(target).await {
                let _ = upstream.set_nodelay(true);
                let _ = client.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
    }
}

/// One upstream socket per client address, so replies find their way back.
async fn serve_udp(socket: Arc<UdpSocket>, target: SocketAddrV4) {
    let sessions: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = socket.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let existing = sessions.lock().ok().and_then(|s| s.get(&client).cloned());
        let upstream = match existing {
            Some(u) => u,
            None => {
                let Ok(u) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await else {
                    continue;
                };
                if u.connect(target).await.is_err() {
                    continue;
                }
                let u = Arc::new(u);
                if let Ok(mut s) = sessions.lock() {
                    s.insert(client, u.clone());
                }
                tokio::spawn(udp_replies(
                    u.clone(),
                    socket.clone(),
                    client,
                    sessions.clone(),
                ));
                u
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

async fn udp_replies(
    upstream: Arc<UdpSocket>,
    listener: Arc<UdpSocket>,
    client: SocketAddr,
    sessions: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, upstream.recv(&mut buf)).await {
        let _ = listener.send_to(&buf[..n], client).await;
    }
    if let Ok(mut s) = sessions.lock() {
        s.remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_and_addresses_are_parsed() {
        assert_eq!(host_ports(None), Ok((0, 0)));
        assert_eq!(host_ports(Some("8080")), Ok((8080, 8080)));
        assert_eq!(host_ports(Some("8000-8010")), Ok((8000, 8010)));
        assert!(host_ports(Some("9-3")).is_err());
        assert!(host_ports(Some("http")).is_err());
        assert_eq!(host_ip(None), Ok(Ipv4Addr::UNSPECIFIED));
        assert_eq!(host_ip(Some("127.0.0.1")), Ok(Ipv4Addr::LOCALHOST));
        assert!(host_ip(Some("::1")).unwrap_err().contains("IPv4 only"));
    }
}
