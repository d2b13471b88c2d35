//! Name resolution inside native containers without a DNS server: the content of a
//! container's `/etc/hosts` (its own hostname, every container name / service name / alias
//! of the endpoints on the networks it shares, `host.docker.internal` -> its gateway) and of
//! its `/etc/resolv.conf` (the host's, minus loopback nameservers a container cannot reach),
//! and rewriting a hosts file in place.
//!
//! In place matters: the file is bind-mounted into the container, and a rename would leave
//! the container looking at the old inode. Not for: which files to rewrite when (see
//! [`super::HostNetwork`], which calls this after every attach and detach).

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::Path;

use super::state::Endpoint;

/// What Docker writes before the container entries.
const PREAMBLE: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// Docker's fallback when the host has no nameserver a container can use.
const FALLBACK_NAMESERVERS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// The `/etc/hosts` of `container_id`, given every endpoint row (of all networks): its own
/// addresses with its hostname, names and aliases first, then each peer on a shared network
/// with its container name and aliases on that network, then `host.docker.internal`.
///
/// A name held by several peers (a scaled service) gets one line per address; the resolver
/// uses the first. The output is sorted, so it only changes when the endpoints do.
pub fn hosts_content(container_id: &str, endpoints: &[Endpoint]) -> String {
    let mut own: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| e.container_id == container_id)
        .collect();
    own.sort_by(|a, b| a.network_name.cmp(&b.network_name));
    let mut out = String::from(PREAMBLE);
    for e in &own {
        let mut names = vec![e.hostname.as_str(), e.container_name.as_str()];
        names.extend(e.aliases.iter().map(String::as_str));
        push_line(&mut out, e.ip, &names);
    }
    // extra_hosts come right after the container's own lines, as with Docker.
    if let Some(e) = own.first() {
        for entry in &e.extra_hosts {
            // The address may itself contain colons (IPv6): split at the first separator.
            if let Some((host, ip)) = entry.split_once(['=', ':']) {
                if let Ok(ip) = ip.trim().parse::<IpAddr>() {
                    push_line(&mut out, ip, &[host.trim()]);
                }
            }
        }
    }
    let shared: BTreeSet<&str> = own.iter().map(|e| e.network_id.as_str()).collect();
    let mut peers: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| e.container_id != container_id && shared.contains(e.network_id.as_str()))
        .collect();
    peers.sort_by(|a, b| {
        (&a.network_name, &a.container_name, a.ip).cmp(&(&b.network_name, &b.container_name, b.ip))
    });
    for e in peers {
        let mut names = vec![e.container_name.as_str()];
        names.extend(e.aliases.iter().map(String::as_str));
        push_line(&mut out, e.ip, &names);
    }
    if let Some(gateway) = own.iter().find_map(|e| e.gateway) {
        push_line(&mut out, gateway, &["host.docker.internal"]);
    }
    out
}

fn push_line(out: &mut String, ip: impl Into<IpAddr>, names: &[&str]) {
    let mut seen = BTreeSet::new();
    let names: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !n.is_empty() && seen.insert(*n))
        .collect();
    if names.is_empty() {
        return;
    }
    out.push_str(&format!("{}\t{}\n", ip.into(), names.join(" ")));
}

/// A container's `/etc/resolv.conf` from the host's: nameservers on loopback (systemd-resolved's
/// 127.0.0.53, a local dnsmasq) are unreachable from the container's namespace and dropped;
/// with none left, Docker's public fallbacks are used. `search` and `options` are kept.
pub fn resolv_conf_content(host_resolv_conf: &str) -> String {
    let mut out = String::new();
    let mut nameservers = 0;
    for line in host_resolv_conf.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let loopback = words
                .next()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .is_none_or(|a| a.is_loopback());
            if loopback {
                continue;
            }
            nameservers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if nameservers == 0 {
        for ns in FALLBACK_NAMESERVERS {
            out.push_str(&format!("nameserver {ns}\n"));
        }
    }
    out
}

/// [`resolv_conf_content`] of this host's `/etc/resolv.conf` (an empty one when it is
/// missing: then the fallbacks are used, as Docker does).
pub fn container_resolv_conf() -> std::io::Result<String> {
    match std::fs::read_to_string("/etc/resolv.conf") {
        Ok(host) => Ok(resolv_conf_content(&host)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(resolv_conf_content("")),
        Err(e) => Err(e),
    }
}

/// Replaces the content of `path` keeping its inode (a bind mount of it keeps seeing it):
/// writes from the start, then cuts what is left of the old content.
pub fn rewrite_in_place(path: &Path, content: &str) -> std::io::Result<()> {
    // No O_TRUNC: readers never see an empty file, only (briefly) new content + old tail.
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(content.as_bytes())?;
    file.set_len(content.len() as u64)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;

    use super::*;

    fn endpoint(network: &str, container: &str, ip: [u8; 4], aliases: &[&str]) -> Endpoint {
        Endpoint {
            network_id: format!("id-{network}"),
            network_name: network.to_string(),
            container_id: format!("cid-{container}"),
            container_name: container.to_string(),
            hostname: format!("host-{container}"),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ifname: "eth0".to_string(),
            host_ifname: "hoistv0".to_string(),
            netns: PathBuf::from("/run/hoist/netns/x"),
            ip: Ipv4Addr::from(ip),
            prefix: 24,
            gateway: Some(Ipv4Addr::new(ip[0], ip[1], ip[2], 1)),
            mac: "02:42:00:00:00:00".to_string(),
            hosts_file: None,
            extra_hosts: Vec::new(),
        }
    }

    #[test]
    fn hosts_list_self_peers_on_shared_networks_and_the_host() {
        let endpoints = vec![
            endpoint("front", "app-web-1", [10, 89, 0, 2], &["web"]),
            endpoint("front", "app-db-1", [10, 89, 0, 3], &["db", "database"]),
            endpoint("back", "app-web-1", [10, 89, 1, 2], &["web"]),
            // Not on a network app-web-1 shares: invisible to it.
            endpoint("other", "app-cache-1", [10, 89, 2, 2], &["cache"]),
        ];
        let hosts = hosts_content("cid-app-web-1", &endpoints);
        let expected = format!(
            "{PREAMBLE}\
             10.89.1.2\thost-app-web-1 app-web-1 web\n\
             10.89.0.2\thost-app-web-1 app-web-1 web\n\
             10.89.0.3\tapp-db-1 db database\n\
             10.89.1.1\thost.docker.internal\n"
        );
        assert_eq!(hosts, expected);
    }

    #[test]
    fn a_scaled_service_gets_a_line_per_replica_and_internal_networks_no_host_entry() {
        let mut a = endpoint("n", "s-1", [10, 89, 0, 2], &["s"]);
        a.gateway = None;
        let b = endpoint("n", "s-2", [10, 89, 0, 3], &["s"]);
        let c = endpoint("n", "s-3", [10, 89, 0, 4], &["s"]);
        let hosts = hosts_content("cid-s-1", &[c, b, a]);
        assert!(
            hosts.ends_with("10.89.0.3\ts-2 s\n10.89.0.4\ts-3 s\n"),
            "{hosts}"
        );
        assert!(!hosts.contains("host.docker.internal"), "{hosts}");
    }

    #[test]
    fn resolv_conf_drops_loopback_nameservers() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nsearch example.org\noptions edns0\n";
        assert_eq!(
            resolv_conf_content(host),
            "# generated\nnameserver 10.255.255.53\nsearch example.org\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf_content("nameserver ::1\nsearch lan\n"),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn rewriting_keeps_the_inode_and_drops_the_old_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "a much longer original content\n").unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        rewrite_in_place(&path, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
    }
}
