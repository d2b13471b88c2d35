//! Lifecycle and image commands on both backends: `start`, `stop`, `restart`, `kill`, `rm`,
//! `pause`, `unpause`, `build`, `pull`, `push`.

mod common;

use std::process::Command;

use common::registry::Registry;
use common::stack::{free_port, http_get, stderr, stdout, Backend, Stack};
use common::BUSYBOX_IMAGE;

/// A service whose PID 1 exits promptly on SIGTERM (a plain `sleep` would ignore it and make
/// every stop wait out the grace period).
fn looping_service(name: &str, extra: &str) -> String {
    format!(
        "  {name}:\n    image: {BUSYBOX_IMAGE}\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n{extra}"
    )
}

/// Whether container `name` runs, as the runtime inspects it.
fn running(stack: &Stack, name: &str) -> bool {
    stack.inspect(name).is_some_and(|c| c.state.running)
}

/// When container `name` last started, as the runtime inspects it.
fn started_at(stack: &Stack, name: &str) -> Option<String> {
    stack.inspect(name).and_then(|c| c.state.started_at)
}

/// Index of the first line of `text` that contains `needle`; fails the test when none does.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

fn stop_then_start_keeps_the_container_and_its_data(backend: Backend) {
    let stack = Stack::on(backend, "lc-stopstart");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let id = stack.container_id(&container);
    stack.exec(&container, &["sh", "-c", "echo kept > /data.txt"]);

    let out = stack.ok(&["stop", "app"]);
    let text = stderr(&out);
    assert!(
        text.contains(&format!("Container {container}  Stopping")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Container {container}  Stopped")),
        "{text}"
    );
    assert!(!running(&stack, &container));

    let out = stack.ok(&["start", "app"]);
    assert!(
        stderr(&out).contains(&format!("Container {container}  Started")),
        "{}",
        stderr(&out)
    );
    assert_eq!(stack.container_id(&container), id);
    assert!(running(&stack, &container));
    assert_eq!(stack.exec(&container, &["cat", "/data.txt"]), "kept");
}
on_both_backends!(stop_then_start_keeps_the_container_and_its_data);

fn start_of_a_service_without_containers_says_so(backend: Backend) {
    let stack = Stack::on(backend, "lc-startnone");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    let out = stack.run(&["start"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("service \"app\" has no container to start"),
        "{}",
        stderr(&out)
    );
}
on_both_backends!(start_of_a_service_without_containers_says_so);

fn start_waits_for_a_healthy_dependency(backend: Backend) {
    let stack = Stack::on(backend, "lc-starthealthy");
    let db_extra = "    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1s\n";
    let web_extra = "    depends_on:\n      db:\n        condition: service_healthy\n";
    stack.write(
        "compose.yaml",
        &format!(
            "services:\n{}{}",
            looping_service("db", db_extra),
            looping_service("web", web_extra)
        ),
    );
    stack.ok(&["up", "-d"]);
    stack.ok(&["stop"]);
    let out = stack.ok(&["start", "web"]);
    let text = stderr(&out);
    let db = format!("{}-db-1", stack.name);
    let web = format!("{}-web-1", stack.name);
    // `start web` starts its dependency too, and waits for it to be healthy first.
    assert!(
        line_of(&text, &format!("Container {db}  Healthy"))
            < line_of(&text, &format!("Container {web}  Starting")),
        "{text}"
    );
    assert!(running(&stack, &web));
}
on_both_backends!(start_waits_for_a_healthy_dependency);

fn stop_stops_dependents_before_their_dependencies(backend: Backend) {
    let stack = Stack::on(backend, "lc-stoporder");
    stack.write(
        "compose.yaml",
        &format!(
            "services:\n{}{}",
            looping_service("db", ""),
            looping_service("web", "    depends_on: [db]\n")
        ),
    );
    stack.ok(&["up", "-d"]);
    let out = stack.ok(&["stop"]);
    let text = stderr(&out);
    let web_stopped = line_of(&text, &format!("Container {}-web-1  Stopped", stack.name));
    let db_stopping = line_of(&text, &format!("Container {}-db-1  Stopping", stack.name));
    assert!(web_stopped < db_stopping, "{text}");
}
on_both_backends!(stop_stops_dependents_before_their_dependencies);

fn restart_starts_the_container_again(backend: Backend) {
    let stack = Stack::on(backend, "lc-restart");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let before = started_at(&stack, &container);
    let out = stack.ok(&["restart", "-t", "1", "app"]);
    let text = stderr(&out);
    assert!(
        text.contains(&format!("Container {container}  Restarting")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Container {container}  Started")),
        "{text}"
    );
    let after = started_at(&stack, &container);
    assert!(after.is_some());
    assert_ne!(before, after);
    assert!(running(&stack, &container));
}
on_both_backends!(restart_starts_the_container_again);

fn kill_with_sigkill_exits_137(backend: Backend) {
    let stack = Stack::on(backend, "lc-kill");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let out = stack.ok(&["kill", "-s", "SIGKILL", "app"]);
    assert!(
        stderr(&out).contains(&format!("Container {container}  Killed")),
        "{}",
        stderr(&out)
    );
    assert_eq!(stack.wait(&container), 137);
    assert_eq!(stack.exit_code(&container), Some(137));
}
on_both_backends!(kill_with_sigkill_exits_137);

fn rm_force_removes_only_stopped_containers(backend: Backend) {
    let stack = Stack::on(backend, "lc-rm");
    stack.write(
        "compose.yaml",
        &format!(
            "services:\n{}{}",
            looping_service("a", ""),
            looping_service("b", "")
        ),
    );
    stack.ok(&["up", "-d"]);
    stack.ok(&["stop", "a"]);
    let out = stack.ok(&["rm", "-f"]);
    let a = format!("{}-a-1", stack.name);
    let b = format!("{}-b-1", stack.name);
    assert!(
        stdout(&out).contains(&format!("Going to remove {a}")),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!("Container {a}  Removed")),
        "{}",
        stderr(&out)
    );
    assert_eq!(stack.containers(), vec![b]);

    let out = stack.ok(&["rm", "-f"]);
    assert!(stderr(&out).contains("No stopped containers"));
}
on_both_backends!(rm_force_removes_only_stopped_containers);

fn rm_without_force_off_a_terminal_removes_nothing(backend: Backend) {
    let stack = Stack::on(backend, "lc-rmask");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    stack.ok(&["up", "-d"]);
    stack.ok(&["stop"]);
    let out = stack.run(&["rm"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("-f"), "{}", stderr(&out));
    assert_eq!(stack.containers().len(), 1);
}
on_both_backends!(rm_without_force_off_a_terminal_removes_nothing);

fn rm_stop_force_stops_running_containers_first(backend: Backend) {
    let stack = Stack::on(backend, "lc-rmstop");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    stack.ok(&["up", "-d"]);
    let out = stack.ok(&["rm", "-s", "-f", "app"]);
    let text = stderr(&out);
    let container = format!("{}-app-1", stack.name);
    assert!(
        line_of(&text, &format!("Container {container}  Stopped"))
            < line_of(&text, &format!("Container {container}  Removed")),
        "{text}"
    );
    assert!(stack.containers().is_empty());
}
on_both_backends!(rm_stop_force_stops_running_containers_first);

fn rm_volumes_removes_anonymous_volumes(backend: Backend) {
    let stack = Stack::on(backend, "lc-rmvol");
    stack.write(
        "compose.yaml",
        &format!(
            "services:\n{}",
            looping_service("app", "    volumes: [\"/scratch\"]\n")
        ),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let volume = stack
        .inspect(&container)
        .expect("the container exists")
        .mounts
        .into_iter()
        .find(|m| m.destination == "/scratch")
        .and_then(|m| m.name)
        .unwrap_or_default();
    assert_eq!(volume.len(), 64, "anonymous volume name: {volume:?}");
    stack.ok(&["stop"]);
    stack.ok(&["rm", "-f", "-v"]);
    assert!(
        !stack.volume_exists(&volume),
        "volume {volume} still exists"
    );
}
on_both_backends!(rm_volumes_removes_anonymous_volumes);

fn pause_and_unpause_freeze_and_resume_containers(backend: Backend) {
    let stack = Stack::on(backend, "lc-pause");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let out = stack.ok(&["pause", "app"]);
    assert!(stderr(&out).contains(&format!("Container {container}  Paused")));
    assert_eq!(stack.status(&container), "paused");
    let out = stack.ok(&["unpause", "app"]);
    assert!(stderr(&out).contains(&format!("Container {container}  Unpaused")));
    assert_eq!(stack.status(&container), "running");
}
on_both_backends!(pause_and_unpause_freeze_and_resume_containers);

fn build_stack(backend: Backend, prefix: &str, dockerfile: &str, build: &str) -> Stack {
    let stack = Stack::on(backend, prefix);
    stack
        .write(
            "compose.yaml",
            &format!("services:\n  app:\n    build:\n{build}"),
        )
        .write("Dockerfile", &format!("FROM {BUSYBOX_IMAGE}\n{dockerfile}"));
    stack
}

fn build_arg_overrides_the_compose_file_and_reaches_the_image(backend: Backend) {
    let stack = build_stack(
        backend,
        "lc-buildarg",
        "ARG GREETING=from-dockerfile\nRUN echo \"$GREETING\" > /greeting\n",
        "      context: .\n      args:\n        GREETING: from-compose\n",
    );
    let image = format!("{}-app", stack.name);
    stack.ok(&["build", "app"]);
    assert_eq!(stack.run_image(&image, "cat /greeting"), "from-compose");
    let out = stack.ok(&["build", "--build-arg", "GREETING=from-cli", "app"]);
    assert!(
        stderr(&out).contains(&format!("Image {image}  Built")),
        "{}",
        stderr(&out)
    );
    assert_eq!(stack.run_image(&image, "cat /greeting"), "from-cli");
}
on_both_backends!(build_arg_overrides_the_compose_file_and_reaches_the_image);

fn build_no_cache_reruns_run_steps(backend: Backend) {
    let stack = build_stack(
        backend,
        "lc-nocache",
        "RUN cat /proc/sys/kernel/random/uuid > /stamp\n",
        "      context: .\n",
    );
    let image = format!("{}-app", stack.name);
    stack.ok(&["build"]);
    let first = stack.run_image(&image, "cat /stamp");
    stack.ok(&["build"]);
    assert_eq!(stack.run_image(&image, "cat /stamp"), first, "cached build");
    stack.ok(&["build", "--no-cache"]);
    let rebuilt = stack.run_image(&image, "cat /stamp");
    assert!(!rebuilt.is_empty());
    assert_ne!(rebuilt, first, "--no-cache must rerun the RUN step");
}
on_both_backends!(build_no_cache_reruns_run_steps);

fn failing_build_exits_non_zero_with_the_failing_steps_output(backend: Backend) {
    let stack = build_stack(
        backend,
        "lc-buildfail",
        "RUN echo boom-from-the-step && exit 3\n",
        "      context: .\n",
    );
    let out = stack.run(&["build"]);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(text.contains("failed to build service app"), "{text}");
    assert!(text.contains("boom-from-the-step"), "{text}");
}
on_both_backends!(failing_build_exits_non_zero_with_the_failing_steps_output);

fn several_platforms_are_refused_rather_than_building_only_the_first(backend: Backend) {
    let stack = build_stack(
        backend,
        "lc-platforms",
        "",
        "      context: .\n      platforms: [linux/amd64, linux/s390x]\n",
    );
    let out = stack.run(&["build"]);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(text.contains("failed to build service app"), "{text}");
    assert!(text.contains("linux/s390x"), "{text}");
}
on_both_backends!(several_platforms_are_refused_rather_than_building_only_the_first);

/// Removes an image reference from the engine when the test ends, pass or fail (a native
/// stack's images go with its data root).
struct ImageTag(Backend, String);

impl Drop for ImageTag {
    fn drop(&mut self) {
        if self.0 == Backend::Docker {
            let _ = Command::new("docker").args(["rmi", &self.1]).output();
        }
    }
}

fn pull_from_a_missing_registry_fails_clearly(backend: Backend) {
    let stack = Stack::on(backend, "lc-pull");
    let reference = format!("127.0.0.1:{}/hoist-test/absent:1", free_port());
    let _tag = ImageTag(backend, reference.clone());
    stack.tag_image(BUSYBOX_IMAGE, &reference);
    stack
        .write(
            "compose.yaml",
            &format!("services:\n  app:\n    image: {reference}\n  local:\n    build: .\n"),
        )
        .write("Dockerfile", &format!("FROM {BUSYBOX_IMAGE}\n"));
    let out = stack.run(&["pull"]);
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("cannot pull image {reference} for service app")),
        "{text}"
    );
    assert!(text.contains("Skipped - No image to be pulled"), "{text}");

    // A present image is not pulled under `--policy missing`.
    let out = stack.ok(&["pull", "--policy", "missing", "app"]);
    assert!(
        stderr(&out).contains("Skipped - Image is already present locally"),
        "{}",
        stderr(&out)
    );
    // `--ignore-pull-failures` reports and succeeds.
    stack.ok(&["pull", "--ignore-pull-failures"]);
}
on_both_backends!(pull_from_a_missing_registry_fails_clearly);

fn push_sends_built_images_to_a_registry(backend: Backend) {
    let registry = Registry::start();
    let stack = Stack::on(backend, "lc-push");
    let reference = format!("127.0.0.1:{}/hoist-test/app:1", registry.port);
    let _tag = ImageTag(backend, reference.clone());
    stack
        .write(
            "compose.yaml",
            &format!(
                "services:\n  app:\n    build: .\n    image: {reference}\n  other:\n    image: {BUSYBOX_IMAGE}\n"
            ),
        )
        .write("Dockerfile", &format!("FROM {BUSYBOX_IMAGE}\nRUN echo pushed > /marker\n"));
    stack.ok(&["build", "app"]);
    let out = stack.ok(&["push"]);
    let text = stderr(&out);
    assert!(
        text.contains(&format!("Image {reference}  Pushed")),
        "{text}"
    );
    assert!(text.contains("Image other  Skipped"), "{text}");
    let tags = http_get(registry.port, "/v2/hoist-test/app/tags/list").unwrap_or_default();
    assert!(tags.contains("\"1\""), "registry tags: {tags}");
}
on_both_backends!(push_sends_built_images_to_a_registry);

fn build_push_pushes_every_tag_after_building(backend: Backend) {
    let registry = Registry::start();
    let stack = Stack::on(backend, "lc-buildpush");
    let base = format!("127.0.0.1:{}/hoist-test/built", registry.port);
    let _tags = [
        ImageTag(backend, format!("{base}:1")),
        ImageTag(backend, format!("{base}:extra")),
    ];
    stack
        .write(
            "compose.yaml",
            &format!(
                "services:\n  app:\n    build:\n      context: .\n      tags: [\"{base}:extra\"]\n    image: {base}:1\n"
            ),
        )
        .write("Dockerfile", &format!("FROM {BUSYBOX_IMAGE}\n"));
    stack.ok(&["build", "--push"]);
    let tags = http_get(registry.port, "/v2/hoist-test/built/tags/list").unwrap_or_default();
    assert!(
        tags.contains("\"1\"") && tags.contains("\"extra\""),
        "registry tags: {tags}"
    );
}
on_both_backends!(build_push_pushes_every_tag_after_building);

fn build_builds_every_image_and_a_failure_does_not_stop_the_others(backend: Backend) {
    let stack = Stack::on(backend, "lc-buildmany");
    stack
        .write(
            "compose.yaml",
            &format!(
                "services:\n  a:\n    build: ./a\n  b:\n    build: ./b\n  broken:\n    build: ./broken\n  \
                 a-again:\n    image: {}-a\n    build: ./a\n",
                stack.name
            ),
        )
        .write("a/Dockerfile", &format!("FROM {BUSYBOX_IMAGE}\nRUN echo a > /which\n"))
        .write("b/Dockerfile", &format!("FROM {BUSYBOX_IMAGE}\nRUN echo b > /which\n"))
        .write(
            "broken/Dockerfile",
            &format!("FROM {BUSYBOX_IMAGE}\nRUN echo this step fails && exit 7\n"),
        );
    let out = stack.run(&["build"]);
    assert!(!out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("broken"),
        "the failing service is named: {err}"
    );
    assert!(
        err.contains("this step fails"),
        "its output is shown: {err}"
    );
    // a and a-again share one image: it is built once.
    assert_eq!(
        err.matches(&format!("Image {}-a  Built", stack.name))
            .count(),
        1,
        "{err}"
    );
    for (svc, which) in [("a", "a"), ("b", "b")] {
        let image = format!("{}-{svc}", stack.name);
        assert_eq!(stack.run_image(&image, "cat /which"), which, "{svc} built");
    }
}
on_both_backends!(build_builds_every_image_and_a_failure_does_not_stop_the_others);

/// `init: true`: the command runs under an init at /sbin/docker-init (PID 1), which reaps
/// orphans and forwards `stop`'s SIGTERM to the command: `sleep` as PID 1 would ignore it and
/// be killed after the grace period (137); under the init it dies of the signal (143).
fn init_runs_the_command_under_docker_init_and_forwards_stop(backend: Backend) {
    let stack = Stack::on(backend, "lc-init");
    stack.write(
        "compose.yaml",
        &format!(
            "services:\n  app:\n    image: {BUSYBOX_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n"
        ),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let cmdline = stack.sh(&container, "tr '\\0' ' ' < /proc/1/cmdline");
    assert_eq!(cmdline.trim(), "/sbin/docker-init -- sleep 3600");
    // An orphan the shell leaves behind is reaped by the init, not left a zombie.
    stack.sh(&container, "sh -c 'sleep 0.1 &' ; sleep 0.5");
    let zombies = stack.sh(
        &container,
        "grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l",
    );
    assert_eq!(zombies.trim(), "0", "zombies left in the container");
    stack.ok(&["stop", "-t", "20"]);
    assert_eq!(stack.exit_code(&container), Some(143));
}
on_both_backends!(init_runs_the_command_under_docker_init_and_forwards_stop);

/// Secrets from `environment:` and configs from `content:` / `environment:` have no file
/// to bind-mount: they are written into the container before it starts, with their mode
/// and owner, and missing parents created (an existing `/tmp` keeps its mode).
fn environment_secrets_and_inline_configs_are_written_into_the_container(backend: Backend) {
    let stack = Stack::on(backend, "lc-inject");
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    command: ["sleep", "3600"]
    secrets: [token, {{source: token, target: /etc/tok, mode: 0400, uid: "1000"}}]
    configs: [inline, {{source: inline, target: /tmp/cfg/app.conf}}, {{source: fromenv, target: /etc/fromenv}}]
secrets:
  token:
    environment: LC_TOKEN
configs:
  inline:
    content: |
      name=${{LC_NAME}}
  fromenv:
    environment: LC_CFG
"#
            ),
        )
        .write(".env", "LC_TOKEN=t0ken\nLC_NAME=demo\nLC_CFG=from-env\n");
    stack.ok(&["up", "-d"]);
    let c = format!("{}-app-1", stack.name);
    let out = stack.sh(
        &c,
        "cat /run/secrets/token; echo; cat /etc/tok; echo; cat /inline /tmp/cfg/app.conf /etc/fromenv; echo; \
         stat -c '%a %u' /run/secrets/token /etc/tok /inline /tmp",
    );
    assert_eq!(
        out.trim(),
        "t0ken\nt0ken\nname=demo\nname=demo\nfrom-env\n444 0\n400 1000\n444 0\n1777 0"
    );

    // An unset variable stops `up` with its name, and leaves no container behind.
    stack.ok(&["down"]);
    stack.write(".env", "LC_NAME=demo\nLC_CFG=x\n");
    let out = stack.run(&["up", "-d"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("LC_TOKEN") && err.contains("not set"), "{err}");
    assert!(
        stack.inspect(&c).is_none(),
        "a container without its secret was left"
    );
}
on_both_backends!(environment_secrets_and_inline_configs_are_written_into_the_container);
