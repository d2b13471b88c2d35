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
//! `HOIST_IPTABLES` overrides it. Every change is idempotent (what `iptables-save` lists is
//! not added again; removal deletes what it lists) and one `iptables-restore` transaction. Not for: locking against concurrent callers (the caller holds the
//! host lock) nor published ports (a userland forwarder does those, see [`super::ports`]).

use std::io::Write;
use std::process::{Command, Output, Stdio};

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
            // iptables prints `-i` before `-o`: spelled so, the rule compares as text.
            &[
                "!",
                "-i",
                ALL_BRIDGES,
                "-o",
                bridge,
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

/// hoist's view of the rule set: the `-A` lines and chains of every table, from one
/// `iptables-save`. Rules compare as text, so the rules hoist writes are spelled the way
/// iptables prints them back (options in iptables' canonical order).
#[derive(Debug, Default)]
struct Ruleset {
    /// (table, chain) of every chain.
    chains: Vec<(String, String)>,
    /// (table, `-A chain args…` line).
    rules: Vec<(String, String)>,
}

impl Ruleset {
    fn parse(text: &str) -> Ruleset {
        let mut set = Ruleset::default();
        let mut table = String::new();
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('*') {
                table = name.to_string();
            } else if let Some(decl) = line.strip_prefix(':') {
                let chain = decl.split_whitespace().next().unwrap_or_default();
                set.chains.push((table.clone(), chain.to_string()));
            } else if line.starts_with("-A ") {
                set.rules.push((table.clone(), line.to_string()));
            }
        }
        set
    }

    fn has_chain(&self, table: &str, chain: &str) -> bool {
        self.chains.iter().any(|(t, c)| t == table && c == chain)
    }

    /// The `-A` lines of `chain`.
    fn chain_rules<'a>(&'a self, table: &'a str, chain: &'a str) -> impl Iterator<Item = &'a str> {
        let prefix = format!("-A {chain} ");
        self.rules
            .iter()
            .filter(move |(t, l)| t == table && l.starts_with(&prefix))
            .map(|(_, l)| l.as_str())
    }

    /// How many copies of `r` there are.
    fn count(&self, r: &Rule) -> usize {
        let line = r.line("-A");
        self.rules
            .iter()
            .filter(|(t, l)| t == r.table && *l == line)
            .count()
    }
}

impl Rule {
    /// `<op> <chain> <args…>`, as iptables-save prints it (op `-A`) or restore reads it;
    /// `-I` inserts at the top of the chain.
    fn line(&self, op: &str) -> String {
        let mut line = format!("{op} {}", self.chain);
        if op == "-I" {
            line.push_str(" 1");
        }
        for a in &self.args {
            line.push(' ');
            line.push_str(a);
        }
        line
    }
}

/// The commands of one `iptables-restore --noflush` transaction, by table.
#[derive(Debug, Default)]
struct Batch {
    filter: Vec<String>,
    nat: Vec<String>,
}

impl Batch {
    fn push(&mut self, table: &str, line: String) {
        match table {
            "nat" => self.nat.push(line),
            _ => self.filter.push(line),
        }
    }

    fn is_empty(&self) -> bool {
        self.filter.is_empty() && self.nat.is_empty()
    }

    fn script(&self) -> String {
        let mut script = String::new();
        for (table, lines) in [("filter", &self.filter), ("nat", &self.nat)] {
            if lines.is_empty() {
                continue;
            }
            script.push_str(&format!("*{table}\n"));
            for line in lines {
                script.push_str(line);
                script.push('\n');
            }
            script.push_str("COMMIT\n");
        }
        script
    }
}

/// The iptables binary and the operations on it. A change is one `iptables-save` to read
/// the rules and one `iptables-restore --noflush` to apply every difference (each call costs
/// ~10 ms; the nf_tables backend applies the batch atomically).
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
    /// `$HOIST_IPTABLES`, or `iptables` from `PATH`; its `-save` and `-restore` companions
    /// are named after it (`iptables-legacy` -> `iptables-legacy-save`).
    pub fn new() -> Firewall {
        let binary = std::env::var("HOIST_IPTABLES")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "iptables".to_string());
        Firewall { binary }
    }

    fn fail(command: String, message: String) -> NetError {
        NetError::Firewall { command, message }
    }

    fn run(&self, table: &str, args: &[&str]) -> Result<Output, NetError> {
        Command::new(&self.binary)
            .args(["-w", "-t", table])
            .args(args)
            .output()
            .map_err(|e| {
                Self::fail(
                    format!("{} -t {table} {}", self.binary, args.join(" ")),
                    format!("cannot run it: {e} (install iptables, or set HOIST_IPTABLES)"),
                )
            })
    }

    /// Every table's rules, from `iptables-save`.
    fn save(&self) -> Result<Ruleset, NetError> {
        let binary = format!("{}-save", self.binary);
        let out = Command::new(&binary).output().map_err(|e| {
            Self::fail(
                binary.clone(),
                format!("cannot run it: {e} (install iptables, or set HOIST_IPTABLES)"),
            )
        })?;
        if !out.status.success() {
            return Err(Self::fail(
                binary,
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(Ruleset::parse(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Applies `batch` in one `iptables-restore --noflush`.
    fn apply(&self, batch: &Batch) -> Result<(), NetError> {
        if batch.is_empty() {
            return Ok(());
        }
        let binary = format!("{}-restore", self.binary);
        let command = format!("{binary} -w --noflush");
        let script = batch.script();
        let failed = |message: String| Self::fail(format!("{command} <<EOF\n{script}EOF"), message);
        let mut child = Command::new(&binary)
            .args(["-w", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                failed(format!(
                    "cannot run it: {e} (install iptables, or set HOIST_IPTABLES)"
                ))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| failed(format!("cannot write the rules to it: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| failed(e.to_string()))?;
        if out.status.success() {
            return Ok(());
        }
        Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
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

    /// The jump from FORWARD into hoist's chain.
    fn forward_jump() -> Rule {
        rule("filter", "FORWARD", &["-j", FORWARD_CHAIN])
    }

    /// Creates hoist's chains and the jumps to them, once (one check when they exist).
    pub fn ensure_base(&self) -> Result<(), NetError> {
        if self.is_installed()? {
            return Ok(());
        }
        self.add_network(&[])
    }

    /// Whether hoist's jump from FORWARD is in place: it is added after the rest of the base
    /// and removed before it, and a reboot or a firewall reload flushes it with the network
    /// rules, so one cheap check tells whether the base, and after a repair the network
    /// rules, must be (re-)added.
    pub fn is_installed(&self) -> Result<bool, NetError> {
        let r = Self::forward_jump();
        let mut args = vec!["-C", r.chain];
        args.extend(r.args.iter().map(String::as_str));
        Ok(self.run(r.table, &args)?.status.success())
    }

    /// Adds what is missing of hoist's base (chains, jumps) and of a network's `rules`, in
    /// one transaction.
    pub fn add_network(&self, rules: &[Rule]) -> Result<(), NetError> {
        self.apply(&Self::addition(&self.save()?, rules))
    }

    fn addition(set: &Ruleset, rules: &[Rule]) -> Batch {
        let mut batch = Batch::default();
        for (table, chain) in [
            ("filter", ISOLATION_CHAIN),
            ("filter", FORWARD_CHAIN),
            ("nat", POSTROUTING_CHAIN),
        ] {
            if !set.has_chain(table, chain) {
                batch.push(table, format!("-N {chain}"));
            }
        }
        let network = rules.iter().map(|r| (r.clone(), true));
        for (r, first) in Self::base_rules().into_iter().chain(network) {
            if set.count(&r) > 0 {
                continue;
            }
            let op = if first { "-I" } else { "-A" };
            batch.push(r.table, r.line(op));
        }
        batch
    }

    /// Removes every rule naming `bridge` from hoist's chains (found by listing them, so a
    /// bridge whose record is gone is cleaned as well); when no network rule is left, of any
    /// hoist data root on this host, removes hoist's chains and jumps too. One transaction.
    pub fn remove_network(&self, bridge: &str) -> Result<(), NetError> {
        self.remove_networks(&[bridge])
    }

    /// [`Self::remove_network`] of each of `bridges`, in one transaction.
    pub fn remove_networks(&self, bridges: &[&str]) -> Result<(), NetError> {
        self.apply(&Self::removal(&self.save()?, bridges))
    }

    fn removal(set: &Ruleset, bridges: &[&str]) -> Batch {
        let base: Vec<String> = Self::base_rules()
            .iter()
            .map(|(r, _)| r.line("-A"))
            .collect();
        let mut batch = Batch::default();
        let mut in_use = false;
        for (table, chain) in [("filter", FORWARD_CHAIN), ("nat", POSTROUTING_CHAIN)] {
            for line in set.chain_rules(table, chain) {
                if line.split_whitespace().any(|w| bridges.contains(&w)) {
                    batch.push(table, line.replacen("-A", "-D", 1));
                } else if !base.iter().any(|b| b == line) {
                    in_use = true;
                }
            }
        }
        if !in_use {
            for (r, _) in Self::base_rules().iter().rev() {
                if r.chain == "FORWARD" || r.chain == "POSTROUTING" {
                    for _ in 0..set.count(r) {
                        batch.push(r.table, r.line("-D"));
                    }
                }
            }
            for (table, chain) in [
                ("filter", FORWARD_CHAIN),
                ("filter", ISOLATION_CHAIN),
                ("nat", POSTROUTING_CHAIN),
            ] {
                if set.has_chain(table, chain) {
                    batch.push(table, format!("-F {chain}"));
                    batch.push(table, format!("-X {chain}"));
                }
            }
        }
        batch
    }

    /// The `-A` lines of `chain` (empty when the chain does not exist).
    pub fn chain_rules(&self, table: &str, chain: &str) -> Result<Vec<String>, NetError> {
        let set = self.save()?;
        Ok(set.chain_rules(table, chain).map(str::to_string).collect())
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

    /// A restore command as iptables-save prints the rule it adds.
    fn as_saved(line: &str) -> String {
        match line.strip_prefix("-I ") {
            Some(rest) => format!("-A {}\n", rest.replacen(" 1 ", " ", 1)),
            None => format!("{line}\n"),
        }
    }

    /// What `iptables-save` prints with one hoist network installed next to Docker's rules.
    fn installed(bridge: &str, subnet: &str) -> String {
        let subnet: Ipv4Net = subnet.parse().unwrap();
        let mut text = String::from(
            "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n\
             :DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n",
        );
        let batch = Firewall::addition(&Ruleset::default(), &network_rules(bridge, &subnet, false));
        for line in &batch.filter {
            if let Some(chain) = line.strip_prefix("-N ") {
                text.push_str(&format!(":{chain} - [0:0]\n"));
            } else {
                text.push_str(&as_saved(line));
            }
        }
        text.push_str("COMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n:HOIST-POSTROUTING - [0:0]\n");
        for line in batch
            .nat
            .iter()
            .filter(|l| l.starts_with("-A") || l.starts_with("-I"))
        {
            text.push_str(&as_saved(line));
        }
        text.push_str("COMMIT\n");
        text
    }

    #[test]
    fn an_installed_network_is_not_added_twice() {
        let set = Ruleset::parse(&installed("hoist-abc", "10.89.7.0/24"));
        let rules = network_rules("hoist-abc", &"10.89.7.0/24".parse().unwrap(), false);
        assert!(Firewall::addition(&set, &rules).is_empty());
        // Another network adds only its own rules, at the top of hoist's chain.
        let other = network_rules("hoist-def", &"10.89.8.0/24".parse().unwrap(), false);
        let batch = Firewall::addition(&set, &other);
        assert_eq!(batch.filter.len() + batch.nat.len(), other.len());
        assert!(batch
            .filter
            .iter()
            .all(|l| l.starts_with("-I HOIST-FORWARD 1 ")));
    }

    #[test]
    fn removing_the_last_network_removes_hoists_chains_and_jumps() {
        let set = Ruleset::parse(&installed("hoist-abc", "10.89.7.0/24"));
        let script = Firewall::removal(&set, &["hoist-abc"]).script();
        assert!(script.contains("-D HOIST-FORWARD -i hoist-abc -o hoist-abc -j ACCEPT\n"));
        assert!(script.contains("-D FORWARD -j HOIST-FORWARD\n"));
        assert!(script.contains("-D POSTROUTING -j HOIST-POSTROUTING\n"));
        assert!(
            script.contains("-X HOIST-ISOLATION\n") && script.contains("-X HOIST-POSTROUTING\n")
        );
        assert!(!script.contains("DOCKER"), "{script}");
    }

    #[test]
    fn removing_several_networks_at_once_removes_each_and_then_the_base() {
        let mut text = installed("hoist-abc", "10.89.7.0/24");
        text = text.replace(
            "COMMIT\n*nat",
            "-A HOIST-FORWARD -i hoist-def -o hoist-def -j ACCEPT\nCOMMIT\n*nat",
        );
        let set = Ruleset::parse(&text);
        let script = Firewall::removal(&set, &["hoist-abc", "hoist-def"]).script();
        assert!(script.contains("-D HOIST-FORWARD -i hoist-abc -o hoist-abc -j ACCEPT\n"));
        assert!(script.contains("-D HOIST-FORWARD -i hoist-def -o hoist-def -j ACCEPT\n"));
        assert!(script.contains("-D FORWARD -j HOIST-FORWARD\n"), "{script}");
    }

    #[test]
    fn removing_one_of_two_networks_keeps_the_base() {
        let mut text = installed("hoist-abc", "10.89.7.0/24");
        text = text.replace(
            "COMMIT\n*nat",
            "-A HOIST-FORWARD -i hoist-def -o hoist-def -j ACCEPT\nCOMMIT\n*nat",
        );
        let script = Firewall::removal(&Ruleset::parse(&text), &["hoist-abc"]).script();
        assert!(script.contains("-D HOIST-FORWARD -i hoist-abc -o hoist-abc -j ACCEPT\n"));
        assert!(!script.contains("hoist-def"), "{script}");
        assert!(
            !script.contains("-X ") && !script.contains("-D FORWARD "),
            "{script}"
        );
    }
}
