//! The native runtime's networking against the real kernel, as root: bridges, veth pairs
//! into network namespaces the tests create (`ip netns add`), iptables rules next to
//! Docker's, hosts files, published ports on loopback, persistence and cleanup.
//!
//! Every test touches only the namespaces, bridges and links it creates (unique names) and
//! removes them in guards that run on failure too; tests can run concurrently with each
//! other and with other test binaries. Never skipped: a missing `/bin/busybox`
//! (busybox-static) or `ip` (iproute2) fails them.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::stack::{http_get, stderr, stdout};
use hoist::runtime::native::net::firewall::Firewall;
use hoist::runtime::native::net::hosts::hosts_content;
use hoist::runtime::native::net::state::NETWORKS;
use hoist::runtime::native::net::{
    ports, AttachRequest, Endpoint, HostLock, HostNetwork, NetError, NetworkRecord,
};
use hoist::runtime::{IpamPool, IpamSpec, NetworkSpec, PortBinding, Protocol};
use redb::{Database, ReadableTableMetadata};

const BUSYBOX: &str = "/bin/busybox";

/// A short token unique across concurrent tests and processes (link names have 15 chars).
fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{:x}",
        std::process::id() % 0xfff,
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 0xfff
    )
}

fn run(args: &[&str]) -> Output {
    match Command::new(args[0]).args(&args[1..]).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run {:?}: {e} (these tests need iproute2, iptables and busybox-static)",
            args
        ),
    }
}

fn must(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        args,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn prerequisites() {
    assert!(
        Path::new(BUSYBOX).is_file(),
        "{BUSYBOX} is missing: apt-get install busybox-static"
    );
    must(&["ip", "-V"]);
    // SAFETY: getuid has no preconditions.
    assert_eq!(unsafe { libc::getuid() }, 0, "these tests must run as root");
}

/// A network namespace made like `ip netns add` (the container runtime's persistent netns
/// file), with `/etc/netns/<name>/` for the files `ip netns exec` bind-mounts over `/etc`.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        let name = format!("hoistt-{}", token());
        must(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        std::fs::create_dir_all(ns.etc()).expect("create /etc/netns dir");
        ns
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    fn etc(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.name)
    }

    fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend(args);
        run(&full)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn in netns")
    }

    fn ping(&self, target: &str) -> bool {
        self.exec(&[BUSYBOX, "ping", "-c", "1", "-W", "2", target])
            .status
            .success()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(self.etc());
    }
}

/// Kills a background process on drop.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A state database in a temp dir, and the kernel objects of its networks, deleted on drop
/// even when the test failed before removing them.
struct TestState {
    dir: tempfile::TempDir,
    db: Option<Database>,
    bridges: Vec<String>,
}

impl TestState {
    fn new() -> TestState {
        prerequisites();
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::create(dir.path().join("state.redb")).expect("create state db");
        TestState {
            dir,
            db: Some(db),
            bridges: Vec::new(),
        }
    }

    fn db(&self) -> &Database {
        self.db.as_ref().expect("database open")
    }

    fn reopen(&mut self) {
        self.db = None;
        self.db = Some(Database::create(self.dir.path().join("state.redb")).expect("reopen"));
    }

    async fn create(&mut self, net: &HostNetwork, spec: NetworkSpec) -> NetworkRecord {
        let record = net
            .create_network(self.db(), &spec)
            .await
            .unwrap_or_else(|e| panic!("creating network {}: {e}", spec.name));
        self.bridges.push(record.bridge.clone());
        record
    }
}

impl Drop for TestState {
    fn drop(&mut self) {
        // Same lock as the library: hoist's shared chains must not change under another test.
        let _lock = HostLock::acquire();
        for bridge in &self.bridges {
            let _ = Firewall::new().remove_network(bridge);
            let _ = run(&["ip", "link", "del", bridge]);
        }
    }
}

fn spec(name: &str) -> NetworkSpec {
    NetworkSpec {
        name: format!("{name}-{}", token()),
        labels: BTreeMap::from([("hoist.test".to_string(), name.to_string())]),
        ..NetworkSpec::default()
    }
}

fn request(network: &NetworkRecord, ns: &Netns, name: &str, aliases: &[&str]) -> AttachRequest {
    AttachRequest {
        network: network.name.clone(),
        container_id: format!("{name}-{}", ns.name),
        container_name: name.to_string(),
        hostname: format!("{name}-host"),
        netns: ns.path(),
        ifname: "eth0".to_string(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        hosts_file: Some(ns.etc().join("hosts")),
        ..AttachRequest::default()
    }
}

async fn attach(net: &HostNetwork, db: &Database, req: &AttachRequest) -> Endpoint {
    net.attach(db, req)
        .await
        .unwrap_or_else(|e| panic!("attaching {}: {e}", req.container_name))
}

/// Serves `body` over HTTP on port 8080 inside `ns`.
fn httpd(ns: &Netns, body: &str) -> Background {
    let root = ns.etc().join("www");
    std::fs::create_dir_all(&root).expect("www dir");
    std::fs::write(root.join("index.html"), body).expect("index.html");
    let root = root.display().to_string();
    Background(ns.spawn(&[BUSYBOX, "httpd", "-f", "-p", "8080", "-h", &root]))
}

/// `GET /` from inside `ns` to `ip:8080` with busybox nc, retried while httpd starts.
fn http_from(ns: &Netns, ip: &str) -> String {
    for _ in 0..30 {
        let out = ns.exec(&[
            "sh",
            "-c",
            &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | {BUSYBOX} nc -w 3 {ip} 8080"),
        ]);
        let text = stdout(&out);
        if text.contains("200 OK") {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no HTTP answer from {ip}:8080 inside {}", ns.name);
}

fn links() -> String {
    must(&["ip", "-o", "link", "show"])
}

#[tokio::test]
async fn two_namespaces_on_one_network_reach_each_other_by_address_and_name() {
    let mut st = TestState::new();
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("open host network");
    let network = st.create(&net, spec("pair")).await;
    let (a, b) = (Netns::new(), Netns::new());
    let ea = attach(&net, st.db(), &request(&network, &a, "web", &["frontend"])).await;
    let eb = attach(&net, st.db(), &request(&network, &b, "db", &["database"])).await;

    assert!(network.subnet.contains(&ea.ip) && network.subnet.contains(&eb.ip));
    assert_ne!(ea.ip, eb.ip);
    assert_eq!(ea.gateway, Some(network.gateway));
    let addr = must(&["ip", "netns", "exec", &a.name, "ip", "-4", "-o", "addr"]);
    assert!(addr.contains(&format!("{}/{}", ea.ip, ea.prefix)), "{addr}");
    let route = stdout(&a.exec(&["ip", "route"]));
    assert!(
        route.contains(&format!("default via {}", network.gateway)),
        "{route}"
    );

    assert!(a.ping(&eb.ip.to_string()), "a cannot ping b at {}", eb.ip);
    assert!(b.ping(&ea.ip.to_string()), "b cannot ping a at {}", ea.ip);
    let _server = httpd(&b, "hello from db");
    assert!(http_from(&a, &eb.ip.to_string()).contains("hello from db"));

    // a's hosts file was rewritten in place when b attached: b's names resolve inside a.
    let hosts = std::fs::read_to_string(a.etc().join("hosts")).expect("a's hosts file");
    assert_eq!(
        hosts,
        hosts_content(&ea.container_id, &net.endpoints(st.db()).unwrap())
    );
    assert!(
        hosts.contains(&format!("{}\tdb database", eb.ip)),
        "{hosts}"
    );
    assert!(
        hosts.contains(&format!("{}\thost.docker.internal", network.gateway)),
        "{hosts}"
    );
    assert!(
        a.ping("database"),
        "the alias \"database\" does not resolve in a"
    );
    assert!(http_from(&a, "db").contains("hello from db"));
    assert!(
        b.ping("host.docker.internal"),
        "host.docker.internal unreachable"
    );

    // Recreating b (detach, attach anew) updates a's hosts file.
    net.detach(st.db(), &network.name, &eb.container_id)
        .await
        .expect("detach b");
    let hosts = std::fs::read_to_string(a.etc().join("hosts")).unwrap();
    assert!(!hosts.contains("database"), "{hosts}");
    attach(&net, st.db(), &request(&network, &b, "db", &["database"])).await;
    let hosts = std::fs::read_to_string(a.etc().join("hosts")).unwrap();
    assert!(hosts.contains("db database"), "{hosts}");

    net.detach_all(st.db(), &ea.container_id).await.unwrap();
    net.detach_all(st.db(), &eb.container_id).await.unwrap();
    net.remove_network(st.db(), &network.name).await.unwrap();
}

/// Removing a container only takes its host veth down and lets the kernel delete the pair
/// with the namespace: until then the dying namespace must not answer for its address,
/// which the next container may get at once; and removing the network leaves no veth.
#[tokio::test]
async fn a_removed_containers_address_reaches_its_successor_and_no_veth_outlives_the_network() {
    let mut st = TestState::new();
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("open host network");
    let network = st.create(&net, spec("reuse")).await;
    let (a, old) = (Netns::new(), Netns::new());
    let ea = attach(&net, st.db(), &request(&network, &a, "client", &[])).await;
    let eold = attach(&net, st.db(), &request(&network, &old, "server", &[])).await;
    let _old_httpd = httpd(&old, "from the removed one");
    assert!(http_from(&a, &eold.ip.to_string()).contains("from the removed one"));

    // Removed while its namespace lives on (a process still in it, as here): its host
    // side is down at once, and its address free for the next one.
    net.detach_all(st.db(), &eold.container_id).await.unwrap();
    let state = must(&["ip", "-o", "link", "show", &eold.host_ifname]);
    assert!(!state.contains(",UP"), "{state}");
    let new = Netns::new();
    let enew = attach(&net, st.db(), &request(&network, &new, "server", &[])).await;
    assert_eq!(enew.ip, eold.ip, "the freed address is handed out again");
    let new_httpd = httpd(&new, "from its successor");
    assert!(http_from(&a, &enew.ip.to_string()).contains("from its successor"));

    net.detach_all(st.db(), &ea.container_id).await.unwrap();
    net.detach_all(st.db(), &enew.container_id).await.unwrap();
    // These two namespaces end with their last process: the kernel deletes their veths.
    drop(new_httpd);
    drop((a, new));
    net.remove_network(st.db(), &network.name).await.unwrap();
    // The old namespace still exists: its veth was deleted by the removal itself.
    let left = links();
    for ifname in [&ea.host_ifname, &eold.host_ifname, &enew.host_ifname] {
        assert!(!left.contains(ifname.as_str()), "{ifname} is left: {left}");
    }
    drop(old);
}

#[tokio::test]
async fn containers_on_different_networks_cannot_reach_each_other() {
    let mut st = TestState::new();
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("open host network");
    let one = st.create(&net, spec("iso1")).await;
    let two = st.create(&net, spec("iso2")).await;
    assert_ne!(one.subnet, two.subnet);
    let (a, b, c) = (Netns::new(), Netns::new(), Netns::new());
    let ea = attach(&net, st.db(), &request(&one, &a, "a", &[])).await;
    let eb = attach(&net, st.db(), &request(&two, &b, "b", &[])).await;
    let ec = attach(&net, st.db(), &request(&two, &c, "c", &[])).await;

    // Same network: fine (so the failures below are the isolation, not a broken setup).
    assert!(
        c.ping(&eb.ip.to_string()),
        "c cannot reach b on its own network"
    );
    assert!(!a.ping(&eb.ip.to_string()), "a reached b across networks");
    assert!(!b.ping(&ea.ip.to_string()), "b reached a across networks");
    // Nor does a see b's names.
    let hosts = std::fs::read_to_string(a.etc().join("hosts")).unwrap();
    assert!(!hosts.contains(&eb.ip.to_string()), "{hosts}");

    for e in [&ea, &eb, &ec] {
        net.detach_all(st.db(), &e.container_id).await.unwrap();
    }
    net.remove_network(st.db(), &one.id).await.unwrap();
    net.remove_network(st.db(), &two.id).await.unwrap();
}

#[tokio::test]
async fn an_internal_network_has_no_route_out() {
    let mut st = TestState::new();
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("open host network");
    let internal = st
        .create(
            &net,
            NetworkSpec {
                internal: true,
                ..spec("internal")
            },
        )
        .await;
    let (a, b) = (Netns::new(), Netns::new());
    let ea = attach(&net, st.db(), &request(&internal, &a, "a", &[])).await;
    let eb = attach(&net, st.db(), &request(&internal, &b, "b", &[])).await;
    assert_eq!(ea.gateway, None);
    assert!(a.ping(&eb.ip.to_string()));
    assert!(!stdout(&a.exec(&["ip", "route"])).contains("default"));
    let nat = Firewall::new()
        .chain_rules("nat", "HOIST-POSTROUTING")
        .unwrap();
    assert!(
        !nat.iter().any(|r| r.contains(&internal.subnet.to_string())),
        "an internal network is masqueraded: {nat:?}"
    );
    net.detach_all(st.db(), &ea.container_id).await.unwrap();
    net.detach_all(st.db(), &eb.container_id).await.unwrap();
    net.remove_network(st.db(), &internal.name).await.unwrap();
}

/// A host-side "outside world" this test owns: a veth pair with `10.254.<n>.1/30` on the
/// host end and `.2` in namespace `ns`, which has no route back to container subnets, so
/// only masqueraded traffic gets answers.
struct Outside {
    ns: Netns,
    host_end: String,
    ip: String,
}

impl Outside {
    fn new() -> Outside {
        let ns = Netns::new();
        let host_end = format!("hstd{}", token());
        let n = std::process::id() % 250;
        must(&[
            "ip", "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns",
            &ns.name,
        ]);
        let outside = Outside {
            ns,
            host_end,
            ip: format!("10.254.{n}.2"),
        };
        must(&[
            "ip",
            "addr",
            "add",
            &format!("10.254.{n}.1/30"),
            "dev",
            &outside.host_end,
        ]);
        must(&["ip", "link", "set", &outside.host_end, "up"]);
        must(&[
            "ip",
            "netns",
            "exec",
            &outside.ns.name,
            "ip",
            "addr",
            "add",
            &format!("{}/30", outside.ip),
            "dev",
            "eth0",
        ]);
        must(&[
            "ip",
            "netns",
            "exec",
            &outside.ns.name,
            "ip",
            "link",
            "set",
            "eth0",
            "up",
        ]);
        outside
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = run(&["ip", "link", "del", &self.host_end]);
    }
}

#[tokio::test]
async fn outbound_traffic_is_masqueraded_unless_the_network_is_internal() {
    let mut st = TestState::new();
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("open host network");
    let open = st.create(&net, spec("nat")).await;
    let internal = st
        .create(
            &net,
            NetworkSpec {
                internal: true,
                ..spec("nat-int")
            },
        )
        .await;
    let outside = Outside::new();
    let (a, b) = (Netns::new(), Netns::new());
    let ea = attach(&net, st.db(), &request(&open, &a, "a", &[])).await;
    let eb = attach(&net, st.db(), &request(&internal, &b, "b", &[])).await;
    // The outside has no route to the container's subnet: an answer proves the source was
    // rewritten to the host's address.
    assert!(
        a.ping(&outside.ip),
        "no outbound (NATed) traffic from {}",
        ea.ip
    );
    let _server = httpd(&outside.ns, "outside");
    assert!(http_from(&a, &outside.ip).contains("outside"));
    assert!(
        !b.ping(&outside.ip),
        "an internal network reached the outside"
    );
    net.detach_all(st.db(), &ea.container_id).await.unwrap();
    net.detach_all(st.db(), &eb.container_id).await.unwrap();
    net.remove_network(st.db(), &open.name).await.unwrap();
    net.remove_network(st.db(), &internal.name).await.unwrap();
}

#[tokio::test]
async fn a_published_port_answers_on_loopback() {
    let mut st = TestState::new();
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("open host network");
    let network = st.create(&net, spec("ports")).await;
    let ns = Netns::new();
    let e = attach(&net, st.db(), &request(&network, &ns, "web", &[])).await;
    let _server = httpd(&ns, "published");

    let bound = ports::bind(
        &[
            PortBinding {
                container_port: 8080,
                protocol: Protocol::Tcp,
                host_ip: Some("127.0.0.1".to_string()),
                host_port: None,
            },
            // All interfaces (0.0.0.0): reached here through loopback too.
            PortBinding {
                container_port: 8080,
                protocol: Protocol::Tcp,
                host_ip: None,
                host_port: None,
            },
        ],
        e.ip,
    )
    .await
    .expect("bind random ports");
    let published = bound.published().to_vec();
    assert_eq!(published[0].host_ip, "127.0.0.1");
    assert_eq!(published[1].host_ip, "0.0.0.0");
    assert!(
        published.iter().all(|p| p.host_port != 0),
        "random ports are reported"
    );
    let serving = tokio::spawn(bound.serve());
    for p in published {
        let port = p.host_port;
        let body = tokio::task::spawn_blocking(move || http_get(port, "/"))
            .await
            .unwrap();
        assert_eq!(
            body.as_deref(),
            Some("published"),
            "through {}:{port}",
            p.host_ip
        );
    }
    serving.abort();

    net.detach_all(st.db(), &e.container_id).await.unwrap();
    net.remove_network(st.db(), &network.name).await.unwrap();
}

/// A UDP echo server on `port` inside `ns`, on a thread of its own that enters the namespace
/// (busybox's nc has no UDP mode). It answers `n` datagrams, then ends.
fn udp_echo(ns: &Netns, port: u16, n: usize) -> std::thread::JoinHandle<()> {
    use std::os::fd::AsRawFd;
    let path = ns.path();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on a valid fd; only this thread changes namespace.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let socket = std::net::UdpSocket::bind(("0.0.0.0", port)).expect("bind echo");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 1500];
        for _ in 0..n {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..len]);
            let _ = socket.send_to(&reply, from);
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("echo server ready");
    handle
}

#[tokio::test]
async fn a_published_udp_port_forwards_both_ways() {
    let mut st = TestState::new();
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("open host network");
    let network = st.create(&net, spec("udp")).await;
    let ns = Netns::new();
    let e = attach(&net, st.db(), &request(&network, &ns, "dns", &[])).await;
    let echo = udp_echo(&ns, 5353, 2);
    let bound = ports::bind(
        &[PortBinding {
            container_port: 5353,
            protocol: Protocol::Udp,
            host_ip: Some("127.0.0.1".to_string()),
            host_port: None,
        }],
        e.ip,
    )
    .await
    .expect("bind a random UDP port");
    let port = bound.published()[0].host_port;
    let serving = tokio::spawn(bound.serve());
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 64];
    for msg in ["one", "two"] {
        client
            .send_to(msg.as_bytes(), ("127.0.0.1", port))
            .await
            .unwrap();
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .expect("a UDP reply through the forwarder")
            .unwrap();
        assert_eq!(&buf[..len], format!("echo:{msg}").as_bytes());
    }
    serving.abort();
    echo.join().expect("echo server");

    net.detach_all(st.db(), &e.container_id).await.unwrap();
    net.remove_network(st.db(), &network.name).await.unwrap();
}

#[tokio::test]
async fn a_port_in_use_is_reported_before_serving() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().unwrap().port();
    let err = ports::bind(
        &[PortBinding {
            container_port: 80,
            protocol: Protocol::Tcp,
            host_ip: Some("127.0.0.1".to_string()),
            host_port: Some(port.to_string()),
        }],
        Ipv4Addr::new(10, 89, 0, 2),
    )
    .await
    .expect_err("the port is taken");
    assert!(matches!(err, NetError::PortInUse { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("port 127.0.0.1:{port}/tcp is already in use")
    );
    // A range skips the taken port.
    let range = format!("{port}-{}", port.saturating_add(20));
    let bound = ports::bind(
        &[PortBinding {
            container_port: 80,
            protocol: Protocol::Udp,
            host_ip: Some("127.0.0.1".to_string()),
            host_port: Some(range),
        }],
        Ipv4Addr::new(10, 89, 0, 2),
    )
    .await
    .expect("a free port in the range");
    let got = bound.published()[0].host_port;
    assert!(got >= port && got <= port.saturating_add(20));
}

#[tokio::test]
async fn subnets_avoid_existing_routes_and_honour_the_spec() {
    let mut st = TestState::new();
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("open host network");
    // Occupy the first half of the default pool with a route on a link of our own.
    let dummy = format!("hstd{}", token());
    // A bridge, not a dummy: the dummy module is not available on every kernel.
    must(&["ip", "link", "add", &dummy, "type", "bridge"]);
    struct DelLink(String);
    impl Drop for DelLink {
        fn drop(&mut self) {
            let _ = run(&["ip", "link", "del", &self.0]);
        }
    }
    let _guard = DelLink(dummy.clone());
    must(&["ip", "link", "set", &dummy, "up"]);
    // A metric of our own, so a concurrent run of this test can add the same prefix.
    let metric = (1000 + std::process::id() % 60000).to_string();
    must(&[
        "ip",
        "route",
        "add",
        "10.89.0.0/17",
        "dev",
        &dummy,
        "metric",
        &metric,
    ]);
    let occupied: ipnet::Ipv4Net = "10.89.0.0/17".parse().unwrap();
    let docker0: ipnet::Ipv4Net = "172.17.0.0/16".parse().unwrap();

    let network = st.create(&net, spec("avoid")).await;
    assert!(
        !occupied.contains(&network.subnet.network()),
        "{} overlaps the existing route {occupied}",
        network.subnet
    );
    assert!(!docker0.contains(&network.subnet.network()));

    // The same subnet cannot be given to a second network.
    let clash = net
        .create_network(
            st.db(),
            &NetworkSpec {
                ipam: Some(IpamSpec {
                    pools: vec![IpamPool {
                        subnet: Some(network.subnet.to_string()),
                        ..IpamPool::default()
                    }],
                    ..IpamSpec::default()
                }),
                ..spec("clash")
            },
        )
        .await
        .expect_err("overlapping subnet");
    assert!(clash.to_string().contains("overlaps"), "{clash}");

    // A free subnet and gateway from the spec are used as given.
    let given = st
        .create(
            &net,
            NetworkSpec {
                ipam: Some(IpamSpec {
                    pools: vec![IpamPool {
                        subnet: Some("10.91.77.0/24".to_string()),
                        gateway: Some("10.91.77.254".to_string()),
                        ..IpamPool::default()
                    }],
                    ..IpamSpec::default()
                }),
                ..spec("given")
            },
        )
        .await;
    assert_eq!(given.subnet.to_string(), "10.91.77.0/24");
    assert_eq!(given.gateway, Ipv4Addr::new(10, 91, 77, 254));
    let addrs = must(&["ip", "-4", "-o", "addr", "show", "dev", &given.bridge]);
    assert!(addrs.contains("10.91.77.254/24"), "{addrs}");

    net.remove_network(st.db(), &network.name).await.unwrap();
    net.remove_network(st.db(), &given.name).await.unwrap();
}

#[tokio::test]
async fn allocations_survive_reopening_and_a_crash_is_repaired() {
    let mut st = TestState::new();
    let (network, first) = {
        let net = HostNetwork::open(st.db(), st.dir.path())
            .await
            .expect("open host network");
        // The test deletes the bridge below, and with it the route that keeps other data
        // roots (the tests running in parallel) from taking the subnet: one far from where
        // automatic allocation starts keeps them from picking it in that window.
        let far = NetworkSpec {
            ipam: Some(IpamSpec {
                pools: vec![IpamPool {
                    subnet: Some(format!("10.91.{}.0/24", 128 + std::process::id() % 120)),
                    ..IpamPool::default()
                }],
                ..IpamSpec::default()
            }),
            ..spec("persist")
        };
        let network = st.create(&net, far).await;
        let ns = Netns::new();
        let first = attach(&net, st.db(), &request(&network, &ns, "one", &[])).await;
        // The namespace goes away while the endpoint row stays: the next open releases it.
        drop(ns);
        (network, first)
    };
    st.reopen();
    // A crash lost the bridge (row without bridge).
    must(&["ip", "link", "del", &network.bridge]);
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("reopen host network");
    let listed = net.list_networks(st.db()).unwrap();
    assert_eq!(listed, vec![network.clone()], "the network row survived");
    assert!(
        links().contains(&format!("{}:", network.bridge)),
        "bridge recreated"
    );
    assert!(
        net.endpoints(st.db()).unwrap().is_empty(),
        "dead endpoint released"
    );
    assert!(!links().contains(&first.host_ifname));

    // A live endpoint keeps its address across a reopen.
    let ns = Netns::new();
    let second = attach(&net, st.db(), &request(&network, &ns, "two", &[])).await;
    drop(net);
    st.reopen();
    // A crash between recording and wiring the endpoint: the next open wires it.
    must(&["ip", "link", "del", &second.host_ifname]);
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("reopen host network");
    let (_, endpoints) = net.inspect_network(st.db(), &network.name).unwrap();
    assert_eq!(endpoints, vec![second.clone()]);
    assert!(
        ns.ping(&network.gateway.to_string()),
        "endpoint still wired"
    );

    // A crash lost the row of a network whose bridge exists: the next open deletes it.
    let orphan = st.create(&net, spec("orphan")).await;
    {
        let tx = st.db().begin_write().unwrap();
        tx.open_table(NETWORKS)
            .unwrap()
            .remove(orphan.id.as_str())
            .unwrap();
        tx.commit().unwrap();
    }
    drop(net);
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("reopen host network");
    assert!(
        !links().contains(&format!("{}:", orphan.bridge)),
        "orphan bridge deleted"
    );

    net.detach_all(st.db(), &second.container_id).await.unwrap();
    net.remove_network(st.db(), &network.name).await.unwrap();
}

#[tokio::test]
async fn nothing_is_left_after_removing_every_endpoint_and_network() {
    let mut st = TestState::new();
    let net = HostNetwork::open(st.db(), st.dir.path())
        .await
        .expect("open host network");
    let open = st.create(&net, spec("clean")).await;
    let internal = st
        .create(
            &net,
            NetworkSpec {
                internal: true,
                ..spec("clean-int")
            },
        )
        .await;
    let (a, b) = (Netns::new(), Netns::new());
    let ea = attach(&net, st.db(), &request(&open, &a, "a", &[])).await;
    let mut second = request(&internal, &a, "a", &[]);
    second.ifname = "eth1".to_string();
    let ea2 = attach(&net, st.db(), &second).await;
    let eb = attach(&net, st.db(), &request(&internal, &b, "b", &[])).await;
    let names = [
        &open.bridge,
        &internal.bridge,
        &ea.host_ifname,
        &ea2.host_ifname,
        &eb.host_ifname,
    ];
    let before = links();
    for n in names {
        assert!(
            before.contains(&format!("{n}:")) || before.contains(&format!("{n}@")),
            "{n} missing"
        );
    }
    let fw = Firewall::new();
    let rules = || {
        let mut all = fw.chain_rules("filter", "HOIST-FORWARD").unwrap();
        all.extend(fw.chain_rules("nat", "HOIST-POSTROUTING").unwrap());
        all
    };
    assert!(rules().iter().any(|r| r.contains(&open.bridge)));

    // Removing a network in use is refused.
    let busy = net.remove_network(st.db(), &open.name).await.unwrap_err();
    assert!(busy.to_string().contains("active endpoints"), "{busy}");

    net.detach_all(st.db(), &ea.container_id).await.unwrap();
    net.detach_all(st.db(), &eb.container_id).await.unwrap();
    net.remove_network(st.db(), &open.name).await.unwrap();
    net.remove_network(st.db(), &internal.name).await.unwrap();

    let after = links();
    for n in names {
        assert!(
            !after.contains(&format!("{n}:")) && !after.contains(&format!("{n}@")),
            "{n} left"
        );
    }
    let left: Vec<String> = rules()
        .into_iter()
        .filter(|r| r.contains(&open.bridge) || r.contains(&internal.bridge))
        .collect();
    assert!(left.is_empty(), "rules left: {left:?}");
    {
        // Under the host lock the kernel is consistent: with no hoist bridge left on the host
        // (no concurrent test holds one right now), hoist's chains are gone too.
        let _lock = HostLock::acquire().expect("host lock");
        let bridges_left = links().lines().any(|l| {
            l.split(": ")
                .nth(1)
                .is_some_and(|n| n.starts_with("hoist-"))
        });
        if !bridges_left {
            let filter = run(&["iptables", "-w", "-S", "HOIST-FORWARD"]);
            let nat = run(&["iptables", "-w", "-t", "nat", "-S", "HOIST-POSTROUTING"]);
            assert!(
                !filter.status.success(),
                "HOIST-FORWARD left: {}",
                stdout(&filter)
            );
            assert!(
                !nat.status.success(),
                "HOIST-POSTROUTING left: {}",
                stdout(&nat)
            );
            let forward = must(&["iptables", "-w", "-S", "FORWARD"]);
            assert!(!forward.contains("HOIST"), "{forward}");
        }
    }
    assert!(net.list_networks(st.db()).unwrap().is_empty());
    assert!(net.endpoints(st.db()).unwrap().is_empty());
    let tx = st.db().begin_read().unwrap();
    assert_eq!(tx.open_table(NETWORKS).unwrap().len().unwrap(), 0);
}

#[tokio::test]
async fn a_deleted_data_roots_networks_are_swept_by_another_instance_and_live_ones_stay() {
    use hoist::runtime::native::net::instances::{INSTANCES_DIR, WITNESS};
    use hoist::runtime::native::NativeRuntime;
    use hoist::runtime::Runtime;

    // A data root with a network and a container endpoint on it...
    let mut doomed = TestState::new();
    let net = HostNetwork::open(doomed.db(), doomed.dir.path())
        .await
        .expect("open host network");
    let gone = doomed.create(&net, spec("gone")).await;
    let ns = Netns::new();
    let endpoint = attach(&net, doomed.db(), &request(&gone, &ns, "gone", &[])).await;
    let instance = std::fs::read_to_string(doomed.dir.path().join(WITNESS)).expect("witness");
    let record = Path::new(INSTANCES_DIR).join(&instance);
    assert!(record.is_file(), "{} not recorded", record.display());
    // ...and a live one with a network of its own.
    let mut live = TestState::new();
    let live_net = HostNetwork::open(live.db(), live.dir.path())
        .await
        .expect("open host network");
    let kept = live.create(&live_net, spec("kept")).await;

    // The first root is deleted under its network, as `rm -rf` of a test's HOIST_ROOT.
    drop(net);
    doomed.db = None;
    std::fs::remove_dir_all(doomed.dir.path()).expect("delete the data root");
    let fw = Firewall::new();
    let rules = || {
        let mut all = fw.chain_rules("filter", "HOIST-FORWARD").unwrap();
        all.extend(fw.chain_rules("nat", "HOIST-POSTROUTING").unwrap());
        all
    };
    assert!(rules().iter().any(|r| r.contains(&gone.bridge)));

    // Two other data roots use their networks at once: the sweeps must not trip each other.
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (
        NativeRuntime::open(&one.path().join("root")).expect("open"),
        NativeRuntime::open(&two.path().join("root")).expect("open"),
    );
    let (la, lb) = tokio::join!(a.list_networks(&[]), b.list_networks(&[]));
    la.expect("networks of one");
    lb.expect("networks of two");

    let after = links();
    assert!(
        !after.contains(&format!("{}:", gone.bridge)),
        "the deleted root's bridge is left: {after}"
    );
    assert!(
        !after.contains(&format!("{}@", endpoint.host_ifname)),
        "the deleted root's veth is left: {after}"
    );
    let left = rules();
    assert!(
        !left.iter().any(|r| r.contains(&gone.bridge)),
        "the deleted root's rules are left: {left:?}"
    );
    assert!(!record.exists(), "the dead instance's record is left");
    // The live instance keeps its bridge and its rules.
    assert!(after.contains(&format!("{}:", kept.bridge)), "{after}");
    assert!(left.iter().any(|r| r.contains(&kept.bridge)), "{left:?}");
    live_net
        .remove_network(live.db(), &kept.name)
        .await
        .expect("remove the live network");
}
