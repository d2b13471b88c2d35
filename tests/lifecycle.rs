//! Lifecycle and image commands against the real Docker engine: `start`, `stop`, `restart`,
//! `kill`, `rm`, `pause`, `unpause`, `build`, `pull`, `push`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::stack::{free_port, http_get, stderr, stdout, Stack};
use common::BUSYBOX_IMAGE;

/// A service whose PID 1 exits promptly on SIGTERM (a plain `sleep` would ignore it and make
/// every stop wait out the grace period).
fn looping_service(name: &str, extra: &str) -> String {
    format!(
        "  {name}:\n    image: {BUSYBOX_IMAGE}\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n{extra}"
    )
}

fn inspect(stack: &Stack, container: &str, format: &str) -> String {
    stack.docker(&["inspect", "--format", format, container])
}

/// Index of the first line of `text` that contains `needle`; fails the test when none does.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

#[test]
fn stop_then_start_keeps_the_container_and_its_data() {
    let stack = Stack::new("lc-stopstart");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let id = stack.container_id(&container);
    stack.docker(&["exec", &container, "sh", "-c", "echo kept > /data.txt"]);

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
    assert_eq!(inspect(&stack, &container, "{{.State.Running}}"), "false");

    let out = stack.ok(&["start", "app"]);
    assert!(
        stderr(&out).contains(&format!("Container {container}  Started")),
        "{}",
        stderr(&out)
    );
    assert_eq!(stack.container_id(&container), id);
    assert_eq!(inspect(&stack, &container, "{{.State.Running}}"), "true");
    assert_eq!(
        stack.docker(&["exec", &container, "cat", "/data.txt"]),
        "kept"
    );
}

#[test]
fn start_of_a_service_without_containers_says_so() {
    let stack = Stack::new("lc-startnone");
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

#[test]
fn start_waits_for_a_healthy_dependency() {
    let stack = Stack::new("lc-starthealthy");
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
    assert_eq!(inspect(&stack, &web, "{{.State.Running}}"), "true");
}

#[test]
fn stop_stops_dependents_before_their_dependencies() {
    let stack = Stack::new("lc-stoporder");
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

#[test]
fn restart_starts_the_container_again() {
    let stack = Stack::new("lc-restart");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let before = inspect(&stack, &container, "{{.State.StartedAt}}");
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
    let after = inspect(&stack, &container, "{{.State.StartedAt}}");
    assert_ne!(before, after);
    assert_eq!(inspect(&stack, &container, "{{.State.Running}}"), "true");
}

#[test]
fn kill_with_sigkill_exits_137() {
    let stack = Stack::new("lc-kill");
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
    stack.docker(&["wait", &container]);
    assert_eq!(inspect(&stack, &container, "{{.State.ExitCode}}"), "137");
}

#[test]
fn rm_force_removes_only_stopped_containers() {
    let stack = Stack::new("lc-rm");
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

#[test]
fn rm_without_force_off_a_terminal_removes_nothing() {
    let stack = Stack::new("lc-rmask");
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

#[test]
fn rm_stop_force_stops_running_containers_first() {
    let stack = Stack::new("lc-rmstop");
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

#[test]
fn rm_volumes_removes_anonymous_volumes() {
    let stack = Stack::new("lc-rmvol");
    stack.write(
        "compose.yaml",
        &format!(
            "services:\n{}",
            looping_service("app", "    volumes: [\"/scratch\"]\n")
        ),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let volume = inspect(
        &stack,
        &container,
        "{{range .Mounts}}{{if eq .Destination \"/scratch\"}}{{.Name}}{{end}}{{end}}",
    );
    assert_eq!(volume.len(), 64, "anonymous volume name: {volume:?}");
    stack.ok(&["stop"]);
    stack.ok(&["rm", "-f", "-v"]);
    let gone = Command::new("docker")
        .args(["volume", "inspect", &volume])
        .output()
        .expect("run docker");
    assert!(!gone.status.success(), "volume {volume} still exists");
}

#[test]
fn pause_and_unpause_freeze_and_resume_containers() {
    let stack = Stack::new("lc-pause");
    stack.write(
        "compose.yaml",
        &format!("services:\n{}", looping_service("app", "")),
    );
    stack.ok(&["up", "-d"]);
    let container = format!("{}-app-1", stack.name);
    let out = stack.ok(&["pause", "app"]);
    assert!(stderr(&out).contains(&format!("Container {container}  Paused")));
    assert_eq!(inspect(&stack, &container, "{{.State.Status}}"), "paused");
    let out = stack.ok(&["unpause", "app"]);
    assert!(stderr(&out).contains(&format!("Container {container}  Unpaused")));
    assert_eq!(inspect(&stack, &container, "{{.State.Status}}"), "running");
}

fn build_stack(prefix: &str, dockerfile: &str, build: &str) -> Stack {
    let stack = Stack::new(prefix);
    stack
        .write(
            "compose.yaml",
            &format!("services:\n  app:\n    build:\n{build}"),
        )
        .write("Dockerfile", &format!("FROM {BUSYBOX_IMAGE}\n{dockerfile}"));
    stack
}

/// Runs `cmd` in a throwaway container of `image`.
fn run_image(stack: &Stack, image: &str, cmd: &str) -> String {
    stack.docker(&["run", "--rm", image, "sh", "-c", cmd])
}

#[test]
fn build_arg_overrides_the_compose_file_and_reaches_the_image() {
    let stack = build_stack(
        "lc-buildarg",
        "ARG GREETING=from-dockerfile\nRUN echo \"$GREETING\" > /greeting\n",
        "      context: .\n      args:\n        GREETING: from-compose\n",
    );
    let image = format!("{}-app", stack.name);
    stack.ok(&["build", "app"]);
    assert_eq!(run_image(&stack, &image, "cat /greeting"), "from-compose");
    let out = stack.ok(&["build", "--build-arg", "GREETING=from-cli", "app"]);
    assert!(
        stderr(&out).contains(&format!("Image {image}  Built")),
        "{}",
        stderr(&out)
    );
    assert_eq!(run_image(&stack, &image, "cat /greeting"), "from-cli");
}

#[test]
fn build_no_cache_reruns_run_steps() {
    let stack = build_stack(
        "lc-nocache",
        "RUN cat /proc/sys/kernel/random/uuid > /stamp\n",
        "      context: .\n",
    );
    let image = format!("{}-app", stack.name);
    stack.ok(&["build"]);
    let first = run_image(&stack, &image, "cat /stamp");
    stack.ok(&["build"]);
    assert_eq!(
        run_image(&stack, &image, "cat /stamp"),
        first,
        "cached build"
    );
    stack.ok(&["build", "--no-cache"]);
    let rebuilt = run_image(&stack, &image, "cat /stamp");
    assert!(!rebuilt.is_empty());
    assert_ne!(rebuilt, first, "--no-cache must rerun the RUN step");
}

#[test]
fn failing_build_exits_non_zero_with_the_failing_steps_output() {
    let stack = build_stack(
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

/// Removes an image reference when the test ends, pass or fail.
struct ImageTag(String);

impl Drop for ImageTag {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", &self.0]).output();
    }
}

#[test]
fn pull_from_a_missing_registry_fails_clearly() {
    let stack = Stack::new("lc-pull");
    let reference = format!("127.0.0.1:{}/hoist-test/absent:1", free_port());
    let _tag = ImageTag(reference.clone());
    stack.docker(&["tag", BUSYBOX_IMAGE, &reference]);
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

/// Debian's `docker-registry` on loopback, stopped when dropped.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let binary = Path::new("/usr/bin/docker-registry");
        assert!(
            binary.exists(),
            "/usr/bin/docker-registry is missing: install the Debian package docker-registry"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            ),
        )
        .expect("write registry config");
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            child,
            port,
            _dir: dir,
        };
        assert!(
            http_get(port, "/v2/").is_some(),
            "docker-registry did not answer on 127.0.0.1:{port}"
        );
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_sends_built_images_to_a_registry() {
    let registry = Registry::start();
    let stack = Stack::new("lc-push");
    let reference = format!("127.0.0.1:{}/hoist-test/app:1", registry.port);
    let _tag = ImageTag(reference.clone());
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

#[test]
fn build_push_pushes_every_tag_after_building() {
    let registry = Registry::start();
    let stack = Stack::new("lc-buildpush");
    let base = format!("127.0.0.1:{}/hoist-test/built", registry.port);
    let _tags = [
        ImageTag(format!("{base}:1")),
        ImageTag(format!("{base}:extra")),
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

#[test]
fn build_builds_every_image_and_a_failure_does_not_stop_the_others() {
    let stack = Stack::new("lc-buildmany");
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
        assert_eq!(
            run_image(&stack, &image, "cat /which"),
            which,
            "{svc} built"
        );
    }
}
