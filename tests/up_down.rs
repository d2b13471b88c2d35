//! `up` / `down` against the real Docker engine: USER-STORIES.md story 1 with stand-in
//! images, convergence (keep, recreate, scale, orphans) and dependency conditions.

mod common;

use common::stack::{free_port, http_get, Stack};
use common::BUSYBOX_IMAGE;

/// Story 1: a database, a backend built from a Dockerfile with a bind mount, a named volume
/// and an anonymous volume under the bind, a published port, and `depends_on`.
#[test]
fn three_tier_stack_comes_up_serves_and_keeps_named_volumes_across_down() {
    let stack = Stack::new("story1");
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
    // The backend reaches the database by its service name, with its env_file applied.
    let backend = format!("{}-backend-1", stack.name);
    let fetched = stack.docker(&["exec", &backend, "sh", "-c", "nc mongodb 27017 </dev/null >/dev/null && wget -q -O - $MONGODB_URL/status || echo unreachable"]);
    assert!(
        fetched.contains("db-up") || fetched.is_empty() || !fetched.contains("unreachable"),
        "{fetched}"
    );
    let resolved = stack.docker(&[
        "exec",
        &backend,
        "sh",
        "-c",
        "nslookup mongodb >/dev/null 2>&1 && echo resolved || getent hosts mongodb || echo no",
    ]);
    assert_ne!(
        resolved, "no",
        "mongodb does not resolve in the backend container"
    );

    // Named volume data survives down + up.
    let db = format!("{}-mongodb-1", stack.name);
    stack.docker(&[
        "exec",
        &db,
        "sh",
        "-c",
        "echo precious > /data/db/user-data",
    ]);
    stack.ok(&["down"]);
    assert!(stack.containers().is_empty());
    assert_eq!(
        stack.docker(&[
            "volume",
            "inspect",
            "--format",
            "{{.Name}}",
            &format!("{}_data", stack.name)
        ]),
        format!("{}_data", stack.name)
    );
    stack.ok(&["up", "-d"]);
    assert_eq!(
        stack.docker(&["exec", &db, "cat", "/data/db/user-data"]),
        "precious"
    );

    // down -v removes the volumes too.
    stack.ok(&["down", "-v"]);
    assert_eq!(
        stack.docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("name={}_data", stack.name)
        ]),
        ""
    );
    assert_eq!(
        stack.docker(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name={}_default", stack.name)
        ]),
        ""
    );
}

#[test]
fn unchanged_services_keep_their_container_and_changed_ones_are_recreated() {
    let stack = Stack::new("converge");
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
    assert_eq!(
        stack.docker(&["exec", &web, "sh", "-c", "echo $MODE"]),
        "two"
    );

    let forced = stack.ok(&["up", "-d", "--force-recreate", "other"]);
    assert_ne!(
        stack.container_id(&other),
        other_id,
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
}

#[test]
fn scale_adds_and_removes_numbered_replicas_and_orphans_are_removed_on_request() {
    let stack = Stack::new("scale");
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

#[test]
fn labels_and_names_match_docker_compose() {
    let stack = Stack::new("labels");
    stack.write(
        "compose.yaml",
        &format!("services:\n  web:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n"),
    );
    stack.ok(&["up", "-d"]);
    let web = format!("{}-web-1", stack.name);
    let labels = stack.docker(&["inspect", "--format", "{{json .Config.Labels}}", &web]);
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("labels json");
    assert_eq!(labels["com.docker.compose.project"], stack.name.as_str());
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert!(labels["com.docker.compose.config-hash"]
        .as_str()
        .is_some_and(|h| h.len() == 64));
    let networks = stack.docker(&[
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
        &web,
    ]);
    assert_eq!(networks, format!("{}_default", stack.name));
}

#[test]
fn service_healthy_and_completed_successfully_order_the_start() {
    let stack = Stack::new("conditions");
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

#[test]
fn a_failing_dependency_aborts_up_with_a_clear_message() {
    let stack = Stack::new("depfail");
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
            || stack.docker(&[
                "inspect",
                "--format",
                "{{.State.Running}}",
                &format!("{}-app-1", stack.name)
            ]) != "true"
    );
}

#[test]
fn down_by_project_name_needs_no_compose_file() {
    let stack = Stack::new("nofile");
    stack.write(
        "compose.yaml",
        &format!("services:\n  web:\n    image: {BUSYBOX_IMAGE}\n    command: [sleep, \"300\"]\n    volumes: [data:/data]\nvolumes:\n  data: {{}}\n"),
    );
    stack.ok(&["up", "-d"]);
    std::fs::remove_file(stack.path().join("compose.yaml")).expect("remove compose file");
    stack.ok(&["down", "-v"]);
    assert!(stack.containers().is_empty());
    let n = &stack.name;
    assert_eq!(
        stack.docker(&["volume", "ls", "-q", "--filter", &format!("name={n}_data")]),
        ""
    );
    assert_eq!(
        stack.docker(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name={n}_default")
        ]),
        ""
    );
}
