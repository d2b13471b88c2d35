//! Address management of native networks, as pure functions over what is already taken:
//! picking a subnet from the private pools that overlaps nothing on the host nor any other
//! hoist network, the gateway, container addresses and their MAC addresses.
//!
//! IPv4 only. Not for: reading routes from the kernel or persisting allocations (the caller
//! does both, see [`super::HostNetwork`]).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Where subnets come from when a network names none: (pool, prefix of each subnet). Docker
/// takes 172.17-31.x and 192.168.x by default; hoist stays out of its way so both engines can
/// share a host without fighting over the same ranges.
pub const DEFAULT_POOLS: &[(&str, u8)] = &[("10.89.0.0/16", 24), ("10.90.0.0/15", 24)];

/// Parses `a.b.c.d/n` (host bits are cleared, as Docker does with `10.1.2.3/24`).
pub fn parse_subnet(s: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid IPv4 subnet \"{s}\" (expected a.b.c.d/n; IPv6 is not supported by the native backend)"))?;
    if net.prefix_len() > 30 {
        return Err(format!(
            "subnet {s} is too small: a network needs at least a /30 (gateway and one container)"
        ));
    }
    Ok(net.trunc())
}

/// Parses an IPv4 address, naming `what` it was for in the error.
pub fn parse_ipv4(what: &str, s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("invalid IPv4 address \"{s}\" for {what}"))
}

/// Whether two subnets share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first subnet of `pools` that overlaps none of `taken`.
pub fn pick_subnet(pools: &[(Ipv4Net, u8)], taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    pools.iter().find_map(|(pool, prefix)| {
        pool.subnets(*prefix)
            .ok()?
            .find(|candidate| !taken.iter().any(|t| overlaps(candidate, t)))
    })
}

/// [`DEFAULT_POOLS`], parsed.
pub fn default_pools() -> Vec<(Ipv4Net, u8)> {
    DEFAULT_POOLS
        .iter()
        .filter_map(|(pool, prefix)| pool.parse().ok().map(|p| (p, *prefix)))
        .collect()
}

/// The gateway of `subnet` when none is given: its first host address, as Docker picks.
pub fn default_gateway(subnet: &Ipv4Net) -> Ipv4Addr {
    let first = u32::from(subnet.network()) + 1;
    Ipv4Addr::from(first)
}

/// The lowest address of `range` (or of `subnet`) usable by a container: not the network or
/// broadcast address and not in `reserved` (gateway, auxiliary addresses, other endpoints).
pub fn pick_address(
    subnet: &Ipv4Net,
    range: Option<&Ipv4Net>,
    reserved: &BTreeSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let within = range.unwrap_or(subnet);
    within
        .hosts()
        .find(|ip| usable(subnet, *ip) && !reserved.contains(ip))
}

/// Checks a static address requested for a container.
pub fn check_static(
    subnet: &Ipv4Net,
    ip: Ipv4Addr,
    reserved: &BTreeSet<Ipv4Addr>,
) -> Result<(), String> {
    if !subnet.contains(&ip) || !usable(subnet, ip) {
        return Err(format!(
            "address {ip} is not a usable host address of the network's subnet {subnet}"
        ));
    }
    if reserved.contains(&ip) {
        return Err(format!("address {ip} is already in use on this network"));
    }
    Ok(())
}

fn usable(subnet: &Ipv4Net, ip: Ipv4Addr) -> bool {
    subnet.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast()
}

/// The MAC address Docker derives from an IPv4 address: `02:42:` then the four address bytes
/// (locally administered, unicast, and unique as long as the address is).
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff`, refusing multicast addresses (the kernel would too).
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || format!("invalid MAC address \"{s}\" (expected aa:bb:cc:dd:ee:ff)");
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(parts) {
        if part.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(format!("MAC address {s} is a multicast address"));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_free_subnet_of_the_pools_is_picked() {
        let pools = default_pools();
        assert_eq!(pick_subnet(&pools, &[]), Some(net("10.89.0.0/24")));
        let taken = [net("10.89.0.0/24"), net("10.89.1.0/24")];
        assert_eq!(pick_subnet(&pools, &taken), Some(net("10.89.2.0/24")));
    }

    #[test]
    fn a_route_covering_part_of_a_pool_is_avoided() {
        let pools = default_pools();
        // A host route over the first half of the first pool, and a single host in it.
        let taken = [net("10.89.0.0/17"), net("10.89.128.7/32")];
        assert_eq!(pick_subnet(&pools, &taken), Some(net("10.89.129.0/24")));
        // A whole pool taken moves on to the next one.
        assert_eq!(
            pick_subnet(&pools, &[net("10.89.0.0/16")]),
            Some(net("10.90.0.0/24"))
        );
        assert_eq!(pick_subnet(&pools, &[net("10.0.0.0/8")]), None);
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.2.0/24")));
        assert!(overlaps(&net("10.1.2.0/24"), &net("10.0.0.0/8")));
        assert!(!overlaps(&net("10.1.2.0/24"), &net("10.1.3.0/24")));
    }

    #[test]
    fn subnets_are_parsed_and_normalized() {
        assert_eq!(parse_subnet("10.5.6.7/16").unwrap(), net("10.5.0.0/16"));
        assert!(parse_subnet("fd00::/64").unwrap_err().contains("IPv6"));
        assert!(parse_subnet("10.0.0.0/31")
            .unwrap_err()
            .contains("too small"));
        assert!(parse_subnet("10.0.0/24").is_err());
    }

    #[test]
    fn addresses_skip_network_gateway_reserved_and_broadcast() {
        let subnet = net("10.89.3.0/30");
        let gateway = default_gateway(&subnet);
        assert_eq!(gateway, Ipv4Addr::new(10, 89, 3, 1));
        let mut reserved = BTreeSet::from([gateway]);
        let first = pick_address(&subnet, None, &reserved).unwrap();
        assert_eq!(first, Ipv4Addr::new(10, 89, 3, 2));
        reserved.insert(first);
        // .3 is the broadcast address of a /30: the subnet is full.
        assert_eq!(pick_address(&subnet, None, &reserved), None);
    }

    #[test]
    fn an_ip_range_limits_dynamic_addresses() {
        let subnet = net("10.89.4.0/24");
        let range = net("10.89.4.128/25");
        let reserved = BTreeSet::from([default_gateway(&subnet)]);
        assert_eq!(
            pick_address(&subnet, Some(&range), &reserved),
            Some(Ipv4Addr::new(10, 89, 4, 129))
        );
    }

    #[test]
    fn static_addresses_are_checked() {
        let subnet = net("10.89.5.0/24");
        let reserved = BTreeSet::from([Ipv4Addr::new(10, 89, 5, 1)]);
        assert!(check_static(&subnet, Ipv4Addr::new(10, 89, 5, 9), &reserved).is_ok());
        let taken = check_static(&subnet, Ipv4Addr::new(10, 89, 5, 1), &reserved).unwrap_err();
        assert!(taken.contains("already in use"), "{taken}");
        for outside in [[10, 89, 6, 9], [10, 89, 5, 0], [10, 89, 5, 255]] {
            let err = check_static(&subnet, Ipv4Addr::from(outside), &reserved).unwrap_err();
            assert!(err.contains("not a usable host address"), "{err}");
        }
    }

    #[test]
    fn macs_follow_docker_and_parse_back() {
        let mac = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&mac), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:AC:11:00:02").unwrap(), mac);
        assert!(parse_mac("01:00:5e:00:00:01")
            .unwrap_err()
            .contains("multicast"));
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("02:42:ac:11:00:zz").is_err());
    }
}
