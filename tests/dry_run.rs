//! `--dry-run` against the real Docker engine: every mutating command runs its normal code
//! path, exits 0, prints `DRY-RUN MODE -` lines naming what it would change, and the
//! engine's containers, networks, volumes and images are exactly as they were.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;

use hoist::runtime::dry_run::DryRunRuntime;
use hoist::runtime::{
    AttachOptions, ContainerListOptions, ContainerSpec, ContainerStatus, ExecSpec, NetworkSpec,
    ObjectKind, Runtime, RuntimeError, VolumeSpec,
};

use common::stack::{stderr, stdout, Stack};
use common::{docker, test_label_filter, test_labels, unique_name, Cleanup, BUSYBOX_IMAGE};

/// A project with a healthcheck, a dependency on it, a named volume and a built image.
fn compose(project: &str, mode: &str) -> String {
    format!(
        r#"
services:
  db:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "touch /tmp/ready; exec sleep 300"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
  web:
    image: {BUSYBOX_IMAGE}
    command: [sleep, "300"]
    environment: {{MODE: {mode}}}
    volumes: [data:/data]
    depends_on:
      db: {{condition: service_healthy}}
  app:
    build: ./app
    image: hoist-dryrun/{project}-app:latest
    command: [sleep, "300"]
    profiles: [built]
volumes:
  data: {{}}
"#
    )
}

fn new_stack(prefix: &str) -> Stack {
    let stack = Stack::new(prefix);
    stack.write("compose.yaml", &compose(&stack.name, "one"));
    stack.write(
        "app/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nLABEL hoist.test.dryrun=yes\n"),
    );
    stack
}

/// Everything of the project the engine has, precise enough that any change shows: each
/// container's id, status, start time and restart count; network and volume ids; the
/// project's images.
fn snapshot(stack: &Stack) -> String {
    let label = format!("label=com.docker.compose.project={}", stack.name);
    let mut out = String::new();
    let ids = stack.docker(&["ps", "-aq", "--filter", &label]);
    let mut containers: Vec<String> = ids
        .lines()
        .filter(|l| !l.is_empty())
        .map(|id| {
            stack.docker(&[
                "inspect",
                "--format",
                "{{.Name}} {{.Id}} {{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}",
                id,
            ])
        })
        .collect();
    containers.sort();
    for c in containers {
        out.push_str(&format!("container {c}\n"));
    }
    out.push_str(&format!(
        "networks {}\n",
        stack.docker(&[
            "network",
            "ls",
            "--filter",
            &label,
            "--format",
            "{{.ID}} {{.Name}}"
        ])
    ));
    out.push_str(&format!(
        "volumes {}\n",
        stack.docker(&["volume", "ls", "--filter", &label, "--format", "{{.Name}}"])
    ));
    out.push_str(&format!(
        "images {}\n",
        stack.docker(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
            &format!("hoist-dryrun/{}-app", stack.name),
        ])
    ));
    out.push_str(&format!(
        "pulled {}\n",
        stack.docker(&["images", "-q", &format!("hoist-test/dryrun-{}", stack.name)])
    ));
    out
}

/// Runs `hoist --dry-run ARGS`: it must exit 0, change nothing, and print every line of
/// `expect` (after `DRY-RUN MODE -  `). Returns stderr.
fn dry_run(stack: &Stack, args: &[&str], expect: &[String]) -> String {
    let before = snapshot(stack);
    let mut all = vec!["--dry-run"];
    all.extend_from_slice(args);
    let out = stack.ok(&all);
    let err = stderr(&out);
    for line in expect {
        let line = format!("DRY-RUN MODE -  {line}");
        assert!(
            err.contains(&line),
            "hoist --dry-run {}: missing {line:?} in:\n{err}\nstdout:\n{}",
            args.join(" "),
            stdout(&out)
        );
    }
    assert_eq!(
        snapshot(stack),
        before,
        "hoist --dry-run {} changed the engine's state; output:\n{err}",
        args.join(" ")
    );
    err
}

#[test]
fn dry_run_up_on_an_empty_project_creates_nothing() {
    let stack = new_stack("dryup");
    let n = stack.name.clone();
    let empty = snapshot(&stack);
    let err = dry_run(
        &stack,
        &["up", "-d", "--wait"],
        &[
            format!("Network {n}_default  Created"),
            format!("Volume \"{n}_data\"  Created"),
            format!("Container {n}-db-1  Created"),
            format!("Container {n}-db-1  Started"),
            // The pretended container is healthy, so the dependency and --wait go through.
            format!("Container {n}-db-1  Healthy"),
            format!("Container {n}-web-1  Created"),
            format!("Container {n}-web-1  Started"),
        ],
    );
    assert!(
        err.lines()
            .filter(|l| l.contains(&n))
            .all(|l| l.starts_with("DRY-RUN MODE - ")),
        "a line without the dry-run prefix:\n{err}"
    );
    dry_run(
        &stack,
        &["create"],
        &[
            format!("Network {n}_default  Created"),
            format!("Container {n}-web-1  Created"),
        ],
    );
    assert!(stack.containers().is_empty());
    assert_eq!(snapshot(&stack), empty);

    // JSON progress says so in a field of its own.
    let out = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .current_dir(stack.path())
        .args(["-p", &n, "--progress", "json", "--dry-run", "up", "-d"])
        .env("HOIST_BACKEND", "docker")
        .stdin(Stdio::null())
        .output()
        .expect("run hoist");
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let events: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &serde_json::Value| v.get("id").is_some())
        .collect();
    assert!(!events.is_empty(), "no events in:\n{err}");
    assert!(
        events
            .iter()
            .all(|e| e["dry_run"] == serde_json::Value::Bool(true)),
        "{err}"
    );
    assert_eq!(snapshot(&stack), empty);
}

#[test]
fn dry_run_lifecycle_commands_change_nothing() {
    let stack = new_stack("drylife");
    let n = stack.name.clone();
    stack.ok(&["up", "-d"]);
    let containers = [format!("{n}-db-1"), format!("{n}-web-1")];
    let each = |text: &str| -> Vec<String> {
        containers
            .iter()
            .map(|c| format!("Container {c}  {text}"))
            .collect()
    };

    dry_run(&stack, &["stop"], &each("Stopped"));
    dry_run(&stack, &["restart"], &each("Started"));
    dry_run(&stack, &["kill"], &each("Killed"));
    dry_run(&stack, &["pause"], &each("Paused"));

    // A changed service is recreated, an unchanged one kept.
    stack.write("compose.yaml", &compose(&n, "two"));
    dry_run(
        &stack,
        &["up", "-d"],
        &[
            format!("Container {n}-db-1  Running"),
            format!("Container {n}-web-1  Recreated"),
            format!("Container {n}-web-1  Started"),
        ],
    );
    stack.write("compose.yaml", &compose(&n, "one"));

    let err = dry_run(&stack, &["run", "--rm", "web", "echo", "hi"], &[]);
    let oneoff = err
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("DRY-RUN MODE -  Container {n}-web-run-"))
                .and_then(|rest| rest.strip_suffix("  Removed"))
        })
        .unwrap_or_else(|| panic!("no one-off container removed in:\n{err}"));
    assert_eq!(oneoff.len(), 12, "{err}");
    assert!(
        err.contains(&format!("-web-run-{oneoff}  Started")),
        "{err}"
    );

    dry_run(
        &stack,
        &["down", "-v"],
        &[
            format!("Container {n}-db-1  Removed"),
            format!("Container {n}-web-1  Removed"),
            format!("Network {n}_default  Removed"),
            format!("Volume \"{n}_data\"  Removed"),
        ],
    );

    // Last: a real pause makes the engine report a healthcheck that timed out meanwhile
    // as unhealthy for a moment after the unpause.
    stack.ok(&["pause"]);
    dry_run(&stack, &["unpause"], &each("Unpaused"));
    stack.ok(&["unpause"]);

    stack.ok(&["stop"]);
    dry_run(&stack, &["start"], &each("Started"));
    dry_run(&stack, &["rm", "-f"], &each("Removed"));
    assert_eq!(stack.containers().len(), 2);
}

#[test]
fn dry_run_build_pull_and_push_change_nothing() {
    let stack = new_stack("dryimg");
    let n = stack.name.clone();
    let image = format!("hoist-dryrun/{n}-app:latest");
    dry_run(
        &stack,
        &["--profile", "built", "build", "app"],
        &[format!("Image {image}  Built")],
    );
    assert_eq!(
        stack.docker(&["images", "-q", &image]),
        "",
        "dry-run build built"
    );

    // A pull needs an image that is not there: a service of its own on a missing tag.
    let missing = format!("hoist-test/dryrun-{n}:absent");
    stack.write(
        "compose.override.yaml",
        &format!("services:\n  cache:\n    image: {missing}\n    command: [sleep, \"300\"]\n"),
    );
    dry_run(
        &stack,
        &["pull", "cache"],
        &[format!("Image {missing}  Pulled")],
    );

    // Push goes nowhere: the image is real, the registry (docker.io) never contacted.
    stack.ok(&["--profile", "built", "build", "app"]);
    dry_run(
        &stack,
        &["--profile", "built", "push", "app"],
        &[format!("Image {image}  Pushed")],
    );
}

#[test]
fn dry_run_exec_says_it_is_not_available_and_cp_copies_nothing() {
    let stack = new_stack("dryexec");
    stack.ok(&["up", "-d", "web"]);
    let before = snapshot(&stack);
    let out = stack.run(&["--dry-run", "exec", "-T", "web", "touch", "/tmp/x"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not supported in dry-run mode"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&stack), before);
    let web = format!("{}-web-1", stack.name);
    assert!(!stack
        .docker(&["exec", &web, "ls", "/tmp"])
        .lines()
        .any(|l| l == "x"));

    stack.write("note.txt", "hello");
    dry_run(&stack, &["cp", "note.txt", "web:/tmp/"], &[]);
    assert!(!stack
        .docker(&["exec", &web, "ls", "/tmp"])
        .lines()
        .any(|l| l == "note.txt"));
    let err = dry_run(&stack, &["cp", "web:/etc/passwd", "passwd-copy"], &[]);
    assert!(err.contains("DRY-RUN MODE - copy"), "{err}");
    assert!(
        !stack.path().join("passwd-copy").exists(),
        "dry-run cp wrote the host file"
    );
}

fn sleeper(name: &str, group: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.to_string(),
        image: common::ensure_busybox_image().to_string(),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        labels: test_labels(group),
        ..Default::default()
    }
}

fn is_conflict(result: Result<impl std::fmt::Debug, RuntimeError>) -> bool {
    matches!(result, Err(RuntimeError::Conflict { .. }))
}

#[tokio::test]
async fn decorator_keeps_what_it_pretended_and_leaves_the_engine_alone() {
    let real = docker().await;
    let mut cleanup = Cleanup::new();
    let group = unique_name("dryrt");
    let (a, b) = (format!("{group}-a"), format!("{group}-b"));
    cleanup.container(&a).container(&b);
    let a_id = real
        .create_container(&sleeper(&a, &group))
        .await
        .expect("create a");
    real.start_container(&a).await.expect("start a");
    let dry = DryRunRuntime::new(Arc::new(docker().await));

    // Pretended: created, listed, started, waited for; the engine never hears of it.
    dry.create_container(&sleeper(&b, &group))
        .await
        .expect("dry create b");
    assert!(is_conflict(
        dry.create_container(&sleeper(&b, &group)).await
    ));
    assert_eq!(
        dry.inspect_container(&b)
            .await
            .expect("inspect b")
            .state
            .status,
        ContainerStatus::Created
    );
    dry.start_container(&b).await.expect("dry start b");
    let running = ContainerListOptions {
        all: false,
        labels: vec![test_label_filter(&group)],
    };
    let mut names: Vec<String> = dry
        .list_containers(&running)
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    assert_eq!(names, [a.clone(), b.clone()]);
    assert_eq!(dry.wait_container(&b).await.expect("wait b"), 0);
    assert!(real
        .inspect_container(&b)
        .await
        .is_err_and(|e| e.is_not_found()));

    // Real: a running container is not removed without force; stopped, then removed, it
    // is gone for the dry run (its name free again) and untouched in the engine.
    assert!(is_conflict(
        dry.create_container(&sleeper(&a, &group)).await
    ));
    assert!(is_conflict(dry.remove_container(&a, false, false).await));
    dry.stop_container(&a, None).await.expect("dry stop a");
    assert!(
        !dry.inspect_container(&a)
            .await
            .expect("inspect a")
            .state
            .running
    );
    dry.remove_container(&a, false, false)
        .await
        .expect("dry rm a");
    assert!(dry
        .inspect_container(&a_id)
        .await
        .is_err_and(|e| e.is_not_found()));
    dry.create_container(&sleeper(&a, &group))
        .await
        .expect("dry re-create a");
    let a_now = real.inspect_container(&a).await.expect("real a");
    assert_eq!(a_now.id, a_id);
    assert!(a_now.state.running);

    // What cannot be pretended says so.
    let attach = dry.attach_container(&b, &AttachOptions::default()).await;
    assert!(
        attach.is_err_and(|e| e.to_string().contains("not supported in dry-run mode")),
        "attach"
    );
    let exec = ExecSpec {
        cmd: vec!["true".into()],
        ..Default::default()
    };
    let exec = dry.exec(&b, &exec).await;
    assert!(exec.is_err_and(|e| e.to_string().contains("not supported in dry-run mode")));

    // Networks, volumes, images: pretended ones are seen, real ones survive removal.
    let network = NetworkSpec {
        name: group.clone(),
        labels: test_labels(&group),
        ..Default::default()
    };
    dry.create_network(&network).await.expect("dry network");
    assert!(is_conflict(dry.create_network(&network).await));
    assert_eq!(
        dry.list_networks(&[test_label_filter(&group)])
            .await
            .expect("networks")
            .len(),
        1
    );
    assert!(real
        .inspect_network(&group)
        .await
        .is_err_and(|e| e.is_not_found()));
    dry.remove_network(&group).await.expect("dry rm network");
    assert!(dry
        .inspect_network(&group)
        .await
        .is_err_and(|e| e.is_not_found()));

    let volume = VolumeSpec {
        name: group.clone(),
        labels: test_labels(&group),
        ..Default::default()
    };
    dry.create_volume(&volume).await.expect("dry volume");
    assert_eq!(
        dry.list_volumes(&[test_label_filter(&group)])
            .await
            .expect("volumes")
            .len(),
        1
    );
    assert!(real
        .inspect_volume(&group)
        .await
        .is_err_and(|e| e.is_not_found()));

    let absent = format!("hoist-test/{group}:absent");
    dry.pull_image(&absent, None, None, &|_| {})
        .await
        .expect("dry pull");
    dry.inspect_image(&absent).await.expect("pretended image");
    assert!(real
        .inspect_image(&absent)
        .await
        .is_err_and(|e| e.is_not_found()));
    dry.remove_image(BUSYBOX_IMAGE, false)
        .await
        .expect("dry rmi");
    assert!(matches!(
        dry.inspect_image(BUSYBOX_IMAGE).await,
        Err(RuntimeError::NotFound {
            kind: ObjectKind::Image,
            ..
        })
    ));
    real.inspect_image(BUSYBOX_IMAGE)
        .await
        .expect("real image kept");
}
