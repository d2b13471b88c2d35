//! The read-only commands on both backends: `ps`, `logs`, `ls`, `images`, `top`, `port`,
//! `events`, `wait` and `cp`, through the real `hoist` binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::stack::{free_port, Backend, Stack};
use common::BUSYBOX_IMAGE;

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `web` serves forever (published port), `job` prints two lines and exits 3.
fn two_services(stack: &Stack, port: u16) {
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo web-ready; exec httpd -f -p 80 -h /"]
    ports: ["127.0.0.1:{port}:80"]
  job:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo job-one; echo job-two; exit 3"]
"#
        ),
    );
}

/// Waits until `service`'s container has exited.
fn wait_exited(stack: &Stack, service: &str) {
    let name = format!("{}-{service}-1", stack.name);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if stack.status(&name) == "exited" {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} did not exit");
}

fn ps_lists_running_containers_and_filters_by_status(backend: Backend) {
    let stack = Stack::on(backend, "ps");
    let port = free_port();
    two_services(&stack, port);
    stack.ok(&["up", "-d"]);
    wait_exited(&stack, "job");
    let web = format!("{}-web-1", stack.name);
    let job = format!("{}-job-1", stack.name);

    let out = text(&stack.ok(&["ps"]));
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    for column in [
        "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
    ] {
        assert!(header.contains(column), "header: {header}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(
        rows.len(),
        1,
        "only the running container by default:\n{out}"
    );
    assert!(rows[0].starts_with(&web), "{out}");
    assert!(rows[0].contains(BUSYBOX_IMAGE), "{out}");
    assert!(
        rows[0].contains("\"sh -c ") && rows[0].contains("…\""),
        "{out}"
    );
    assert!(rows[0].contains(" web "), "{out}");
    assert!(rows[0].contains("Up "), "{out}");
    assert!(
        rows[0].contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{out}"
    );

    let all = text(&stack.ok(&["ps", "-a"]));
    assert!(all.contains(&job) && all.contains("Exited (3)"), "{all}");

    let quiet = text(&stack.ok(&["ps", "-q"]));
    assert_eq!(quiet.trim(), stack.container_id(&web));

    let services = text(&stack.ok(&["ps", "-a", "--services"]));
    assert_eq!(services, "job\nweb\n");

    let exited = text(&stack.ok(&["ps", "--status", "exited", "--services"]));
    assert_eq!(exited, "job\n");
    let filtered = text(&stack.ok(&["ps", "--filter", "status=running", "-q"]));
    assert_eq!(filtered.trim(), stack.container_id(&web));

    let json = text(&stack.ok(&["ps", "-a", "--format", "json"]));
    let objects: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 2, "{json}");
    let job_json = &objects[0];
    assert_eq!(job_json["Name"], job.as_str());
    assert_eq!(job_json["Service"], "job");
    assert_eq!(job_json["State"], "exited");
    assert_eq!(job_json["ExitCode"], 3);
    assert_eq!(job_json["Project"], stack.name.as_str());
    let web_json = &objects[1];
    assert_eq!(web_json["State"], "running");
    assert_eq!(web_json["Publishers"][0]["PublishedPort"], port);
    assert_eq!(web_json["Publishers"][0]["TargetPort"], 80);

    // Only a loaded file knows the services (`-p` alone reads labels, as in docker compose).
    let unknown = stack.run(&["-f", "compose.yaml", "ps", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such service: nope"));
}
on_both_backends!(ps_lists_running_containers_and_filters_by_status);

fn logs_prefix_tail_and_follow_until_containers_stop(backend: Backend) {
    let stack = Stack::on(backend, "logs");
    two_services(&stack, free_port());
    stack.ok(&["up", "-d"]);
    wait_exited(&stack, "job");

    let out = text(&stack.ok(&["logs", "--no-color"]));
    assert!(out.contains("job-1  | job-one\n"), "{out}");
    assert!(out.contains("job-1  | job-two\n"), "{out}");
    assert!(out.contains("web-1  | web-ready\n"), "{out}");

    let tail = text(&stack.ok(&["logs", "--no-color", "-n", "1", "job"]));
    assert_eq!(tail, "job-1  | job-two\n");

    let bare = text(&stack.ok(&["logs", "--no-log-prefix", "job"]));
    assert_eq!(bare, "job-one\njob-two\n");

    let stamped = text(&stack.ok(&["logs", "--no-color", "-t", "--since", "10m", "job"]));
    assert!(stamped.starts_with("job-1  | 20"), "{stamped}");

    // -f ends once the followed containers stop.
    let web = format!("{}-web-1", stack.name);
    let mut follow = stack
        .command(&["logs", "-f", "--no-color", "web"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn hoist logs -f");
    let mut reader = BufReader::new(follow.stdout.take().expect("stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("read a log line");
    assert_eq!(first, "web-1  | web-ready\n");
    let rt = stack.runtime();
    stack
        .block_on(rt.stop_container(&web, Some(Duration::from_secs(1))))
        .expect("stop web");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = follow.try_wait().expect("poll hoist") {
            assert!(status.success());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "logs -f kept running after the container stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
on_both_backends!(logs_prefix_tail_and_follow_until_containers_stop);

fn ls_images_top_and_port_describe_the_project(backend: Backend) {
    let stack = Stack::on(backend, "ls");
    let port = free_port();
    two_services(&stack, port);
    stack.ok(&["up", "-d"]);
    wait_exited(&stack, "job");

    let ls = text(&stack.ok(&["ls", "--filter", &format!("name=^{}$", stack.name)]));
    let config = stack.path().join("compose.yaml");
    let row = ls
        .lines()
        .find(|l| l.starts_with(&stack.name))
        .unwrap_or_else(|| panic!("project missing from ls:\n{ls}"));
    assert!(row.contains("running(1)"), "{ls}");
    assert!(
        !row.contains("exited"),
        "stopped containers are left out without -a: {ls}"
    );
    assert!(row.contains(&config.display().to_string()), "{ls}");
    let all = text(&stack.ok(&[
        "ls",
        "-a",
        "--format",
        "json",
        "--filter",
        &format!("name={}", stack.name),
    ]));
    let list: serde_json::Value = serde_json::from_str(all.trim()).expect("a JSON array");
    assert_eq!(list[0]["Name"], stack.name.as_str());
    assert_eq!(list[0]["Status"], "exited(1), running(1)");
    let quiet = text(&stack.ok(&["ls", "-q", "--filter", &format!("name={}", stack.name)]));
    assert_eq!(quiet.trim(), stack.name);

    let images = text(&stack.ok(&["images"]));
    assert!(images.starts_with("CONTAINER"), "{images}");
    let (repo, tag) = BUSYBOX_IMAGE
        .split_once(':')
        .unwrap_or((BUSYBOX_IMAGE, "latest"));
    let web_row = images
        .lines()
        .find(|l| l.starts_with(&format!("{}-web-1", stack.name)))
        .unwrap_or_else(|| panic!("{images}"));
    assert!(web_row.contains(repo) && web_row.contains(tag), "{images}");
    let image_id = stack.image(BUSYBOX_IMAGE).id;
    let short = image_id.trim_start_matches("sha256:")[..12].to_string();
    assert!(web_row.contains(&short), "{images}");
    let quiet = text(&stack.ok(&["images", "-q"]));
    assert_eq!(quiet.trim(), image_id.trim_start_matches("sha256:"));

    let top = text(&stack.ok(&["top", "web"]));
    assert!(top.starts_with(&format!("{}-web-1\n", stack.name)), "{top}");
    assert!(
        top.contains("PID") && top.contains("httpd -f -p 80"),
        "{top}"
    );

    let mapping = text(&stack.ok(&["port", "web", "80"]));
    assert_eq!(mapping.trim(), format!("127.0.0.1:{port}"));
    let missing = stack.run(&["port", "web", "81"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no port 81/tcp"));
}
on_both_backends!(ls_images_top_and_port_describe_the_project);

fn wait_returns_the_exit_code(backend: Backend) {
    let stack = Stack::on(backend, "wait");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  task:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "sleep 2; exit 7"]
"#
        ),
    );
    stack.ok(&["up", "-d"]);
    let out = stack.run(&["wait", "task"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
on_both_backends!(wait_returns_the_exit_code);

fn cp_copies_both_directions(backend: Backend) {
    let stack = Stack::on(backend, "cp");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  box:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "mkdir -p /data/sub && echo inside > /data/sub/f.txt && exec sleep 300"]
"#
        ),
    );
    stack.ok(&["up", "-d"]);
    let name = format!("{}-box-1", stack.name);
    let deadline = Instant::now() + Duration::from_secs(10);
    while stack.exec(&name, &["cat", "/data/sub/f.txt"]) != "inside" {
        assert!(
            Instant::now() < deadline,
            "the container never wrote its file"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Container -> host: a directory into an existing directory, a file to a new name.
    let out = tempfile::tempdir().expect("temp dir");
    let dest = out.path().display().to_string();
    stack.ok(&["cp", "box:/data/sub", &dest]);
    assert_eq!(
        std::fs::read_to_string(out.path().join("sub/f.txt")).expect("copied"),
        "inside\n"
    );
    let renamed = out.path().join("renamed.txt").display().to_string();
    stack.ok(&["cp", "box:/data/sub/f.txt", &renamed]);
    assert_eq!(
        std::fs::read_to_string(&renamed).expect("copied"),
        "inside\n"
    );

    // Host -> container: a file into a directory, a file to a new name, a directory.
    stack
        .write("host.txt", "from host\n")
        .write("tree/a/b.txt", "deep\n");
    stack.ok(&["cp", "host.txt", "box:/data"]);
    assert_eq!(stack.exec(&name, &["cat", "/data/host.txt"]), "from host");
    stack.ok(&["cp", "host.txt", "box:/data/other.txt"]);
    assert_eq!(stack.exec(&name, &["cat", "/data/other.txt"]), "from host");
    stack.ok(&["cp", "tree", "box:/data"]);
    assert_eq!(stack.exec(&name, &["cat", "/data/tree/a/b.txt"]), "deep");

    // `-` streams a tar archive.
    let tar = stack.ok(&["cp", "box:/data/host.txt", "-"]).stdout;
    let files = common::untar(&tar);
    assert_eq!(
        files,
        vec![("host.txt".to_string(), b"from host\n".to_vec())]
    );

    let missing = stack.run(&["cp", "box:/nope", &dest]);
    assert!(!missing.status.success());
}
on_both_backends!(cp_copies_both_directions);

fn events_json_reports_a_start_by_another_process(backend: Backend) {
    let stack = Stack::on(backend, "events");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    command: ["sleep", "300"]
"#
        ),
    );
    stack.ok(&["create"]);
    let mut events = stack
        .command(&["events", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn hoist events");
    let stdout = events.stdout.take().expect("stdout");
    // Give the subscription a moment before the start happens elsewhere.
    std::thread::sleep(Duration::from_millis(1500));
    let name = format!("{}-app-1", stack.name);
    let rt = stack.runtime();
    stack
        .block_on(rt.start_container(&name))
        .expect("start app from another process");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let start = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let event: serde_json::Value = serde_json::from_str(&line).expect("JSON per line");
                if event["action"] == "start" {
                    break event;
                }
                seen.push(line);
            }
            Err(_) => {
                let _ = events.kill();
                panic!("no start event; saw {seen:?}");
            }
        }
    };
    let _ = events.kill();
    let _ = events.wait();
    assert_eq!(start["type"], "container");
    assert_eq!(start["service"], "app");
    assert_eq!(start["id"], stack.container_id(&name).as_str());
    assert_eq!(start["attributes"]["name"], name.as_str());
}
on_both_backends!(events_json_reports_a_start_by_another_process);
