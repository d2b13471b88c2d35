//! iptables rules of native networks, next to Docker's: hoist's own chains (`HOIST-FORWARD`,
//! `HOIST-ISOLATION`, nat `HOIST-POSTROUTING`) jumped to once from the builtin chains, and per
//! network: traffic within the bridge and out of it accepted (Docker sets the FORWARD policy
//! to DROP and br_netfilter makes bridged frames traverse FORWARD), replies let back in,
//! outbound traffic masqueraded unless the network is internal. Anything else from or to a
//! hoist bridge, traffic between two hoist bridges included, ends in `HOIST-ISOLATION` and
//! is dropped.
//!
//! Driven through the `iptables` binary on `PATH`, the one Docker uses (the Debian alternative
//! picks nf_tables or legacy, nf_tables on Debian 12 and on these machines, where Docker's
//! rules show in `iptables -S`; rules of two backends would not see each other);
//! `HOIST_IPTABLES` overrides it. Every change is idempotent (`-C` before adding; removal
//! deletes what it lists). Not for: locking against concurrent callers (the caller holds the
//! host lock) nor published ports (a userland forwarder does those, see [`super::ports`]).

use std::process::{Command, Output};

use ipnet::Ipv4Net;

use super::NetError;

pub const FORWARD_CHAIN: &str = "HOIST-FORWARD";
pub const ISOLATION_CHAIN: &str = "HOIST-ISOLATION";
pub const POSTROUTING_CHAIN: &str = "HOIST-POSTROUTING";
/// iptables' interface wildcard for every hoist bridge (veth host ends are `hoistv…`, so
/// they do not match; with br_netfilter `-i`/`-o` name the bridge anyway).
const ALL_BRIDGES: &str = "hoist-+";

/// One rule: `iptables -t <table> -A <chain> <args…>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: &'static str,
    pub chain: &'static str,
    pub args: Vec<String>,
}

fn rule(table: &'static str, chain: &'static str, args: &[&str]) -> Rule {
    Rule {
        table,
        chain,
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

/// The rules of one network.
pub fn network_rules(bridge: &str, subnet: &Ipv4Net, internal: bool) -> Vec<Rule> {
    let subnet = subnet.to_string();
    let mut rules = vec![rule(
        "filter",
        FORWARD_CHAIN,
        &["-i", bridge, "-o", bridge, "-j", "ACCEPT"],
    )];
    if !internal {
        rules.push(rule(
            "filter",
            FORWARD_CHAIN,
            &["-i", bridge, "!", "-o", ALL_BRIDGES, "-j", "ACCEPT"],
        ));
        rules.push(rule(
            "filter",
            FORWARD_CHAIN,
            &[
                "-o",
                bridge,
                "!",
                "-i",
                ALL_BRIDGES,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "ACCEPT",
            ],
        ));
        rules.push(rule(
            "nat",
            POSTROUTING_CHAIN,
            &["-s", &subnet, "!", "-o", bridge, "-j", "MASQUERADE"],
        ));
    }
    rules
}

/// The iptables binary and the operations on it.
#[derive(Debug, Clone)]
pub struct Firewall {
    binary: String,
}

impl Default for Firewall {
    fn default() -> Self {
        Firewall::new()
    }
}

impl Firewall {
    /// `$HOIST_IPTABLES`, or `iptables` from `PATH`.
    pub fn new() -> Firewall {
        let binary = std::env::var("HOIST_IPTABLES")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "iptables".to_string());
        Firewall { binary }
    }

    fn run(&self, table: &str, args: &[&str]) -> Result<Output, NetError> {
        Command::new(&self.binary)
            .args(["-w", "-t", table])
            .args(args)
            .output()
            .map_err(|e| NetError::Firewall {
                command: format!("{} -t {table} {}", self.binary, args.join(" ")),
                message: format!("cannot run it: {e} (install iptables, or set HOIST_IPTABLES)"),
            })
    }

    fn must(&self, table: &str, args: &[&str]) -> Result<(), NetError> {
        let out = self.run(table, args)?;
        if out.status.success() {
            return Ok(());
        }
        Err(NetError::Firewall {
            command: format!("{} -t {table} {}", self.binary, args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    fn succeeds(&self, table: &str, args: &[&str]) -> Result<bool, NetError> {
        Ok(self.run(table, args)?.status.success())
    }

    fn has_rule(&self, r: &Rule) -> Result<bool, NetError> {
        let mut args = vec!["-C", r.chain];
        args.extend(r.args.iter().map(String::as_str));
        self.succeeds(r.table, &args)
    }

    /// Adds `r` unless present: at the top of its chain when `first`, else at the end.
    fn ensure_rule(&self, r: &Rule, first: bool) -> Result<(), NetError> {
        if self.has_rule(r)? {
            return Ok(());
        }
        let mut args = if first {
            vec!["-I", r.chain, "1"]
        } else {
            vec!["-A", r.chain]
        };
        args.extend(r.args.iter().map(String::as_str));
        self.must(r.table, &args)
    }

    /// Deletes every copy of `r`.
    fn delete_rule(&self, r: &Rule) -> Result<(), NetError> {
        while self.has_rule(r)? {
            let mut args = vec!["-D", r.chain];
            args.extend(r.args.iter().map(String::as_str));
            self.must(r.table, &args)?;
        }
        Ok(())
    }

    fn ensure_chain(&self, table: &str, chain: &str) -> Result<(), NetError> {
        if self.succeeds(table, &["-S", chain])? {
            return Ok(());
        }
        self.must(table, &["-N", chain])
    }

    fn base_rules() -> Vec<(Rule, bool)> {
        vec![
            (
                rule(
                    "filter",
                    ISOLATION_CHAIN,
                    &["-i", ALL_BRIDGES, "-j", "DROP"],
                ),
                false,
            ),
            (
                rule(
                    "filter",
                    ISOLATION_CHAIN,
                    &["-o", ALL_BRIDGES, "-j", "DROP"],
                ),
                false,
            ),
            // Last in HOIST-FORWARD: network rules are inserted above it.
            (
                rule("filter", FORWARD_CHAIN, &["-j", ISOLATION_CHAIN]),
                false,
            ),
            (
                rule("nat", "POSTROUTING", &["-j", POSTROUTING_CHAIN]),
                false,
            ),
            // First in FORWARD, so Docker's DROP policy and isolation never see our traffic.
            // Added last (removed first): its presence means the whole base is in place.
            (rule("filter", "FORWARD", &["-j", FORWARD_CHAIN]), true),
        ]
    }

    /// Creates hoist's chains and the jumps to them, once (one check when they exist).
    pub fn ensure_base(&self) -> Result<(), NetError> {
        if self.is_installed()? {
            return Ok(());
        }
        self.ensure_chain("filter", ISOLATION_CHAIN)?;
        self.ensure_chain("filter", FORWARD_CHAIN)?;
        self.ensure_chain("nat", POSTROUTING_CHAIN)?;
        for (r, first) in Self::base_rules() {
            self.ensure_rule(&r, first)?;
        }
        Ok(())
    }

    /// Whether hoist's jump from FORWARD is in place: it is added after the rest of the base
    /// and removed before it, and a reboot or a firewall reload flushes it with the network
    /// rules, so one cheap check tells whether the base, and after a repair the network
    /// rules, must be (re-)added.
    pub fn is_installed(&self) -> Result<bool, NetError> {
        self.has_rule(&rule("filter", "FORWARD", &["-j", FORWARD_CHAIN]))
    }

    /// Adds a network's rules (after [`ensure_base`](Self::ensure_base)).
    pub fn add_network(&self, rules: &[Rule]) -> Result<(), NetError> {
        self.ensure_base()?;
        for r in rules {
            self.ensure_rule(r, true)?;
        }
        Ok(())
    }

    /// Removes every rule naming `bridge` from hoist's chains (found by listing them, so a
    /// bridge whose record is gone is cleaned as well); when no network rule is left, of any
    /// hoist data root on this host, removes hoist's chains and jumps too.
    pub fn remove_network(&self, bridge: &str) -> Result<(), NetError> {
        for (table, chain) in [("filter", FORWARD_CHAIN), ("nat", POSTROUTING_CHAIN)] {
            for line in self.chain_rules(table, chain)? {
                let words: Vec<&str> = line.split_whitespace().collect();
                if !words.contains(&bridge) {
                    continue;
                }
                let mut args = vec!["-D"];
                args.extend(&words[1..]);
                self.must(table, &args)?;
            }
        }
        if self.in_use()? {
            return Ok(());
        }
        for (r, _) in Self::base_rules().iter().rev() {
            self.delete_rule(r)?;
        }
        for (table, chain) in [
            ("filter", FORWARD_CHAIN),
            ("filter", ISOLATION_CHAIN),
            ("nat", POSTROUTING_CHAIN),
        ] {
            if self.succeeds(table, &["-S", chain])? {
                self.must(table, &["-F", chain])?;
                self.must(table, &["-X", chain])?;
            }
        }
        Ok(())
    }

    /// Whether some network rule (other than the base ones) is still in hoist's chains.
    fn in_use(&self) -> Result<bool, NetError> {
        for (table, chain, base) in [
            ("filter", FORWARD_CHAIN, 1usize),
            ("nat", POSTROUTING_CHAIN, 0),
        ] {
            let rules = self.chain_rules(table, chain)?;
            if rules.len() > base {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The `-A` lines of `chain` (empty when the chain does not exist).
    pub fn chain_rules(&self, table: &str, chain: &str) -> Result<Vec<String>, NetError> {
        let out = self.run(table, &["-S", chain])?;
        if !out.status.success() {
            return Ok(Vec::new());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("-A "))
            .map(str::to_string)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_networks_get_only_the_intra_bridge_rule() {
        let subnet: Ipv4Net = "10.89.7.0/24".parse().unwrap();
        let internal = network_rules("hoist-abc", &subnet, true);
        assert_eq!(internal.len(), 1);
        assert_eq!(
            internal[0].args.join(" "),
            "-i hoist-abc -o hoist-abc -j ACCEPT"
        );
        let open = network_rules("hoist-abc", &subnet, false);
        let nat: Vec<_> = open.iter().filter(|r| r.table == "nat").collect();
        assert_eq!(
            nat[0].args.join(" "),
            "-s 10.89.7.0/24 ! -o hoist-abc -j MASQUERADE"
        );
        // Outbound is accepted only towards non-hoist interfaces: never to another network.
        assert!(open
            .iter()
            .any(|r| r.args.join(" ") == "-i hoist-abc ! -o hoist-+ -j ACCEPT"));
    }
}
