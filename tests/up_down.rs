//! `up` / `down` on both backends: USER-STORIES.md story 1 with stand-in images,
//! convergence (keep, recreate, scale, orphans), dependency conditions, and an `up` killed
//! half-way (SIGKILL) that the next `up` converges and `down` cleans up.

mod common;

use std::time::{Duration, Instant};

use common::background::Background;
use common::host::{
    iptables_rules, links_with_prefix, mounts_under, ports_of, processes_mentioning,
};
use common::ps::service_states;
use common::stack::{free_port, http_get, stderr, Backend, Stack};
use common::BUSYBOX_IMAGE;
use hoist::runtime::{ContainerListOptions, LabelFilter};

/// Story 1: a database, a backend built from a Dockerfile with a bind mount, a named volume
/// and an anonymous volume under the bind, a published port, and `depends_on`.
fn three_tier_stack_comes_up_serves_and_keeps_named_volumes_across_down(backend: Backend) {
    let stack = Stack::on(backend, "story1");
    let port = free_port();
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  mongodb:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "mkdir -p /data/db && echo db-up > /data/db/status && exec httpd -f -p 27017 -h /data/db"]
    volumes: [data:/data/db]
    env_file: [./env/mongo.env]
  backend:
    build: ./backend
    ports: ["127.0.0.1:{port}:80"]
    volumes:
      - logs:/app/logs
      - ./backend:/app
      - /app/node_modules
    env_file: [./env/backend.env]
    depends_on: [mongodb]
volumes:
  data: {{}}
  logs: {{}}
"#
            ),
        )
        .write("env/mongo.env", "MONGO_INITDB_ROOT_USERNAME=max\n")
        .write("env/backend.env", "MONGODB_URL=http://mongodb:27017\n")
        .write(
            "backend/Dockerfile",
            &format!(
                "FROM {BUSYBOX_IMAGE}\nWORKDIR /app\nRUN mkdir -p /app/node_modules && echo from-image > /app/node_modules/dep.txt\nCOPY . /app\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/app\"]\n"
            ),
        )
        .write("backend/index.html", "version one\n");

    stack.ok(&["up", "-d"]);
    let names = stack.containers();
    assert_eq!(
        names,
        vec![
            format!("{}-backend-1", stack.name),
            format!("{}-mongodb-1", stack.name)
        ]
    );

    // The published port answers from the host, serving the bind-mounted source.
    assert_eq!(
        http_get(port, "/index.html").as_deref(),
        Some("version one\n")
    );
    // An edit on the host is visible at once.
    stack.write("backend/index.html", "version two\n");
    assert_eq!(
        http_get(port, "/index.html").as_deref(),
        Some("version two\n")
    );
    // The anonymous volume under the bind mount keeps the image's content.
    assert_eq!(
        http_get(port, "/node_modules/dep.txt").as_deref(),
        Some("from-image\n")
    );
    // The backend reaches the database by its service name (the URL names the host
    // `mongodb`), with its env_file applied.
    let api = format!("{}-backend-1", stack.name);
    let fetched = stack.exec(&api, &["sh", "-c", "wget -q -O - $MONGODB_URL/status"]);
    assert_eq!(fetched, "db-up");

    // Named volume data survives down + up.
    let db = format!("{}-mongodb-1", stack.name);
    stack.exec(&db, &["sh", "-c", "echo precious > /data/db/user-data"]);
    stack.ok(&["down"]);
    assert!(stack.containers().is_empty());
    assert!(stack.volume_exists(&format!("{}_data", stack.name)));
    stack.ok(&["up", "-d"]);
    assert_eq!(stack.exec(&db, &["cat", "/data/db/user-data"]), "precious");

    // down -v removes the volumes too.
    stack.ok(&["down", "-v"]);
    assert!(!stack.volume_exists(&format!("{}_data", stack.name)));
    assert!(!stack.network_exists(&format!("{}_default", stack.name)));
}
on_both_backends!(three_tier_stack_comes_up_serves_and_keeps_named_volumes_across_down);

fn unchanged_services_keep_their_container_and_changed_ones_are_recreated(backend: Backend) {
    let stack = Stack::on(backend, "converge");
    let compose = |value: &str| {
        format!(
            "services:\n  web:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n    environment:\n      MODE: {value}\n  other:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n"
        )
    };
    stack.write("compose.yaml", &compose("one"));
    stack.ok(&["up", "-d"]);
    let web = format!("{}-web-1", stack.name);
    let other = format!("{}-other-1", stack.name);
    let (web_id, other_id) = (stack.container_id(&web), stack.container_id(&other));
    stack.ok(&["up", "-d"]);
    assert_eq!(
        stack.container_id(&web),
        web_id,
        "unchanged service was recreated"
    );

    stack.write("compose.yaml", &compose("two"));
    stack.ok(&["up", "-d"]);
    assert_ne!(stack.container_id(&web), web_id, "changed service was kept");
    assert_eq!(
        stack.container_id(&other),
        other_id,
        "unchanged neighbour was recreated"
    );
    assert_eq!(stack.exec(&web, &["sh", "-c", "echo $MODE"]), "two");

    let forced = stack.ok(&["up", "-d", "--force-recreate", "other"]);
    assert_ne!(
        stack.container_id(&other),
        other_id,
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
}
on_both_backends!(unchanged_services_keep_their_container_and_changed_ones_are_recreated);

fn scale_adds_and_removes_numbered_replicas_and_orphans_are_removed_on_request(backend: Backend) {
    let stack = Stack::on(backend, "scale");
    stack.write(
        "compose.yaml",
        &format!("services:\n  worker:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n  old:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n"),
    );
    stack.ok(&["up", "-d", "--scale", "worker=3"]);
    let n = &stack.name;
    assert_eq!(
        stack.containers(),
        vec![
            format!("{n}-old-1"),
            format!("{n}-worker-1"),
            format!("{n}-worker-2"),
            format!("{n}-worker-3")
        ]
    );
    stack.ok(&["up", "-d", "--scale", "worker=1"]);
    assert_eq!(
        stack.containers(),
        vec![format!("{n}-old-1"), format!("{n}-worker-1")]
    );

    // `old` leaves the file: a warning first, removal with --remove-orphans.
    stack.write(
        "compose.yaml",
        &format!(
            "services:\n  worker:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n"
        ),
    );
    let out = stack.ok(&["up", "-d"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("orphan"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stack.containers().len(), 2);
    stack.ok(&["up", "-d", "--remove-orphans"]);
    assert_eq!(stack.containers(), vec![format!("{n}-worker-1")]);
}
on_both_backends!(scale_adds_and_removes_numbered_replicas_and_orphans_are_removed_on_request);

fn labels_and_names_match_docker_compose(backend: Backend) {
    let stack = Stack::on(backend, "labels");
    stack.write(
        "compose.yaml",
        &format!("services:\n  web:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n"),
    );
    stack.ok(&["up", "-d"]);
    let web = format!("{}-web-1", stack.name);
    let info = stack.inspect(&web).expect("web exists");
    let label = |key: &str| info.labels.get(key).cloned().unwrap_or_default();
    assert_eq!(label("com.docker.compose.project"), stack.name);
    assert_eq!(label("com.docker.compose.service"), "web");
    assert_eq!(label("com.docker.compose.container-number"), "1");
    assert_eq!(label("com.docker.compose.oneoff"), "False");
    assert_eq!(label("com.docker.compose.config-hash").len(), 64);
    let networks: Vec<&String> = info.networks.keys().collect();
    assert_eq!(networks, [&format!("{}_default", stack.name)]);
}
on_both_backends!(labels_and_names_match_docker_compose);

fn service_healthy_and_completed_successfully_order_the_start(backend: Backend) {
    let stack = Stack::on(backend, "conditions");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  db:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 300"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
  migrate:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo migrated"]
    depends_on:
      db: {{condition: service_healthy}}
  app:
    image: {BUSYBOX_IMAGE}
    command: [sleep, "300"]
    depends_on:
      migrate: {{condition: service_completed_successfully}}
"#
        ),
    );
    let out = stack.ok(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let pos = |needle: &str| {
        stderr
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{stderr}"))
    };
    let n = &stack.name;
    assert!(
        pos(&format!("Container {n}-db-1  Healthy"))
            < pos(&format!("Container {n}-migrate-1  Started"))
    );
    assert!(
        pos(&format!("Container {n}-migrate-1  Exited"))
            < pos(&format!("Container {n}-app-1  Started"))
    );
}
on_both_backends!(service_healthy_and_completed_successfully_order_the_start);

fn a_failing_dependency_aborts_up_with_a_clear_message(backend: Backend) {
    let stack = Stack::on(backend, "depfail");
    stack.write(
        "compose.yaml",
        &format!(
            "services:\n  setup:\n    image: {BUSYBOX_IMAGE}\n    command: [sh, -c, \"exit 3\"]\n  app:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n    depends_on:\n      setup: {{condition: service_completed_successfully}}\n"
        ),
    );
    let out = stack.run(&["up", "-d"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("didn't complete successfully: exit 3"),
        "{stderr}"
    );
    assert!(
        !stack
            .containers()
            .contains(&format!("{}-app-1", stack.name))
            || stack.status(&format!("{}-app-1", stack.name)) != "running"
    );
}
on_both_backends!(a_failing_dependency_aborts_up_with_a_clear_message);

fn down_by_project_name_needs_no_compose_file(backend: Backend) {
    let stack = Stack::on(backend, "nofile");
    stack.write(
        "compose.yaml",
        &format!("services:\n  web:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n    volumes: [data:/data]\nvolumes:\n  data: {{}}\n"),
    );
    stack.ok(&["up", "-d"]);
    std::fs::remove_file(stack.path().join("compose.yaml")).expect("remove compose file");
    stack.ok(&["down", "-v"]);
    assert!(stack.containers().is_empty());
    let n = &stack.name;
    assert!(!stack.volume_exists(&format!("{n}_data")));
    assert!(!stack.network_exists(&format!("{n}_default")));
}
on_both_backends!(down_by_project_name_needs_no_compose_file);

/// A shell loop that exits 0 on SIGTERM (busybox `sleep` as PID 1 would ignore it).
const IDLE: &str = "trap 'exit 0' TERM; while true; do sleep 1 & wait; done";

/// Several services in dependency order, one slow to turn healthy, on two networks, with a
/// named volume and a published port: a `hoist up -d` of it takes long enough to be killed
/// half-way.
fn crash_stack(stack: &Stack) {
    let port = free_port();
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  db:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "sleep 2; touch /tmp/ready; {IDLE}"]
    volumes: [data:/data]
    networks: [back]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
  cache:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{IDLE}"]
    networks: [back]
  api:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{IDLE}"]
    networks: [back, default]
    depends_on:
      db: {{condition: service_healthy}}
      cache: {{condition: service_started}}
  worker:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{IDLE}"]
    networks: [back]
    depends_on:
      db: {{condition: service_healthy}}
  web:
    image: {BUSYBOX_IMAGE}
    command: ["httpd", "-f", "-p", "80"]
    ports: ["127.0.0.1:{port}:80"]
    depends_on: [api]
networks:
  back: {{}}
volumes:
  data: {{}}
"#
        ),
    );
}

/// Starts `hoist up -d` and SIGKILLs it once `containers` of the project exist (it is then
/// still waiting for `db` to turn healthy, or creating the others).
fn kill_up_midway(stack: &Stack, containers: usize) {
    let mut up = Background::spawn(stack.command(&["up", "-d"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack.containers().len() < containers {
        assert!(
            Instant::now() < deadline,
            "no container after 60 s\n{}",
            up.output()
        );
        assert!(
            matches!(up.child.try_wait(), Ok(None)),
            "hoist up ended before it could be killed\n{}",
            up.output()
        );
        // Not faster: each look opens the native state database, which `up` needs too.
        std::thread::sleep(Duration::from_millis(100));
    }
    up.signal(libc::SIGKILL);
    up.wait(Duration::from_secs(10));
}

/// `service state` of every container `hoist ps -a --format json` lists, sorted.
fn ps_rows(stack: &Stack) -> Vec<String> {
    let out = stack.ok(&["ps", "-a", "--format", "json"]);
    service_states(&String::from_utf8_lossy(&out.stdout))
}

fn up_killed_half_way_converges_on_the_next_up(backend: Backend) {
    let stack = Stack::on(backend, "crash-up");
    crash_stack(&stack);
    kill_up_midway(&stack, 1);

    let out = stack.ok(&["up", "-d"]);
    assert_eq!(
        ps_rows(&stack),
        [
            "api running",
            "cache running",
            "db running",
            "web running",
            "worker running"
        ],
        "{}",
        stderr(&out)
    );
    let n = &stack.name;
    // One container per service: nothing the killed `up` made is duplicated.
    assert_eq!(
        stack.containers(),
        ["api", "cache", "db", "web", "worker"].map(|s| format!("{n}-{s}-1")),
    );
    // A further `up` has nothing to change.
    let ids: Vec<String> = stack
        .containers()
        .iter()
        .map(|c| stack.container_id(c))
        .collect();
    stack.ok(&["up", "-d"]);
    let again: Vec<String> = stack
        .containers()
        .iter()
        .map(|c| stack.container_id(c))
        .collect();
    assert_eq!(ids, again, "a converged project was recreated");
    // No endpoint (address lease) is left of a container the killed `up` half-made.
    let rt = stack.runtime();
    for net in [format!("{n}_default"), format!("{n}_back")] {
        let info = stack
            .block_on(rt.inspect_network(&net))
            .unwrap_or_else(|e| panic!("inspect {net}: {e}"));
        assert!(!info.containers.is_empty(), "{net} lists no endpoint");
        for endpoint in &info.containers {
            assert!(
                ids.iter().any(|id| id == endpoint),
                "{net} holds an endpoint of {endpoint}, not one of {ids:?}"
            );
        }
    }
}
on_both_backends!(up_killed_half_way_converges_on_the_next_up);

fn up_killed_half_way_is_cleaned_up_by_down(backend: Backend) {
    let stack = Stack::on(backend, "crash-down");
    crash_stack(&stack);
    kill_up_midway(&stack, 2);
    let rt = stack.runtime();
    let project = vec![LabelFilter::equals(
        "com.docker.compose.project",
        &stack.name,
    )];
    let networks = stack
        .block_on(rt.list_networks(&project))
        .expect("list networks");
    assert!(!networks.is_empty(), "the killed up made no network");
    // The project's veths: those on its bridges (other tests run theirs meanwhile).
    let veths: Vec<String> = match backend {
        Backend::Docker => vec![],
        Backend::Native => networks
            .iter()
            .flat_map(|n| ports_of(&format!("hoist-{}", &n.id[..9])))
            .collect(),
    };

    stack.ok(&["down", "-v"]);
    assert!(stack.containers().is_empty(), "{:?}", stack.containers());
    let networks_left = stack.block_on(rt.list_networks(&project)).unwrap();
    assert!(networks_left.is_empty(), "{networks_left:?}");
    let volumes_left = stack.block_on(rt.list_volumes(&project)).unwrap();
    assert!(volumes_left.is_empty(), "{volumes_left:?}");
    let Some(root) = stack.root() else {
        return;
    };
    // Native: nothing of the project is left on the host or in the state database.
    let all = ContainerListOptions {
        all: true,
        labels: vec![],
    };
    let rows = stack.block_on(rt.list_containers(&all)).unwrap();
    assert!(rows.is_empty(), "container rows left: {rows:?}");
    assert!(stack.block_on(rt.list_networks(&[])).unwrap().is_empty());
    assert!(stack.block_on(rt.list_volumes(&[])).unwrap().is_empty());
    let monitors = processes_mentioning(&root.display().to_string());
    assert!(monitors.is_empty(), "processes left: {monitors:?}");
    let mounts = mounts_under(&root);
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let links = links_with_prefix("hoist");
    let rules = iptables_rules();
    for net in &networks {
        let bridge = format!("hoist-{}", &net.id[..9]);
        assert!(!links.contains(&bridge), "{bridge} left: {links:?}");
        // Every rule of a network names its bridge (a subnet may be another test's by now).
        assert!(
            !rules.iter().any(|r| r.contains(bridge.as_str())),
            "iptables rule for {bridge} left: {rules:?}"
        );
    }
    assert!(!veths.is_empty(), "no veth of the project was seen");
    let veths_left: Vec<&String> = veths.iter().filter(|v| links.contains(v)).collect();
    assert!(veths_left.is_empty(), "veths left: {veths_left:?}");
    let dirs: Vec<_> = std::fs::read_dir(root.join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(dirs.is_empty(), "container directories left: {dirs:?}");
}
on_both_backends!(up_killed_half_way_is_cleaned_up_by_down);
