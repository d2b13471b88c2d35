//! Attached `up` (without `-d`) on both backends: multiplexed, prefixed logs;
//! `--abort-on-container-exit`, `--exit-code-from`, `--abort-on-container-failure` exit
//! codes as docker compose computes them; Ctrl-C (graceful, then forced); `--attach` and
//! `--no-attach`.

mod common;

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use common::background::Background;
use common::stack::{Backend, Stack};
use common::BUSYBOX_IMAGE;

/// A command that exits 0 as soon as it receives SIGTERM (busybox `sleep` as PID 1 would
/// ignore it and make every stop wait for the timeout).
const STOPS_ON_TERM: &str = "trap 'exit 0' TERM; while true; do sleep 1 & wait; done";

/// An attached `hoist up` running as a child process, its output collected as it comes.
struct Attached(Background);

impl Attached {
    fn start(stack: &Stack, args: &[&str]) -> Attached {
        Attached(Background::spawn(stack.command(args)))
    }

    fn stdout(&self) -> String {
        self.0.stdout()
    }

    fn output(&self) -> String {
        self.0.output()
    }

    /// Waits until stdout contains `text`; fails the test after `limit`.
    fn wait_for_output(&mut self, text: &str, limit: Duration) {
        self.0
            .wait_for(|out, _| out.contains(text), &format!("{text:?}"), limit);
    }

    /// Waits for hoist to exit; kills it and fails the test after `limit`.
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        self.0.wait(limit)
    }

    fn interrupt(&self) {
        self.0.signal(libc::SIGINT);
    }
}

/// Whether a line `<name><padding>| <text>` was printed.
fn has_line(out: &str, name: &str, text: &str) -> bool {
    out.lines().any(|l| {
        l.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(' ') && rest.trim_start() == format!("| {text}"))
    })
}

fn code(status: ExitStatus) -> Option<i32> {
    status.code()
}

fn attached_up_prefixes_each_services_lines_and_returns_when_all_exit(backend: Backend) {
    let stack = Stack::on(backend, "att-logs");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo hello from web; sleep 1; echo web done"]
  worker:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo hello from worker; echo oops >&2"]
"#
        ),
    );
    let mut up = Attached::start(&stack, &["up"]);
    let status = up.wait(Duration::from_secs(60));
    let out = up.stdout();
    assert_eq!(code(status), Some(0), "{}", up.output());
    assert!(out.contains("Attaching to web-1, worker-1"), "{out}");
    for (name, text) in [
        ("web-1", "hello from web"),
        ("web-1", "web done"),
        ("worker-1", "hello from worker"),
        ("worker-1", "oops"),
    ] {
        assert!(has_line(&out, name, text), "no {name} | {text} in:\n{out}");
    }
    assert!(out.contains("web-1 exited with code 0"), "{out}");
    assert!(out.contains("worker-1 exited with code 0"), "{out}");
    // Padded to the longest name, as docker compose does.
    assert!(out.contains("web-1     | hello from web"), "{out}");
    // The containers stay, exited.
    for svc in ["web", "worker"] {
        assert_eq!(status_of(&stack, svc), "exited");
    }
}
on_both_backends!(attached_up_prefixes_each_services_lines_and_returns_when_all_exit);

fn status_of(stack: &Stack, service: &str) -> String {
    stack.status(&format!("{}-{service}-1", stack.name))
}

fn abort_stack(backend: Backend, prefix: &str) -> Stack {
    let stack = Stack::on(backend, prefix);
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  failer:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "sleep 1; exit 3"]
  sleeper:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{STOPS_ON_TERM}"]
  stubborn:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "trap 'exit 5' TERM; while true; do sleep 1 & wait; done"]
"#
        ),
    );
    stack
}

fn abort_on_container_exit_stops_everything_and_returns_the_first_exit_code(backend: Backend) {
    let stack = abort_stack(backend, "att-abort");
    let started = Instant::now();
    let mut up = Attached::start(&stack, &["up", "--abort-on-container-exit"]);
    let status = up.wait(Duration::from_secs(60));
    assert_eq!(code(status), Some(3), "{}", up.output());
    assert!(
        up.stdout().contains("Aborting on container exit..."),
        "{}",
        up.output()
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // Stopped, not removed.
    for svc in ["failer", "sleeper", "stubborn"] {
        assert_eq!(status_of(&stack, svc), "exited", "{svc}");
    }
}
on_both_backends!(abort_on_container_exit_stops_everything_and_returns_the_first_exit_code);

fn exit_code_from_returns_the_chosen_services_code(backend: Backend) {
    let stack = abort_stack(backend, "att-from");
    // The chosen service exits first: its own code.
    let mut up = Attached::start(&stack, &["up", "--exit-code-from", "failer"]);
    let status = up.wait(Duration::from_secs(60));
    assert_eq!(code(status), Some(3), "{}", up.output());
    assert_eq!(status_of(&stack, "sleeper"), "exited");

    // Another service exits first: everything stops (it implies --abort-on-container-exit)
    // and the code is the one the chosen service exits with when stopped.
    let mut up = Attached::start(&stack, &["up", "--exit-code-from", "stubborn"]);
    let status = up.wait(Duration::from_secs(60));
    assert_eq!(code(status), Some(5), "{}", up.output());
    assert_eq!(status_of(&stack, "stubborn"), "exited");
}
on_both_backends!(exit_code_from_returns_the_chosen_services_code);

fn abort_on_container_failure_ignores_a_successful_exit(backend: Backend) {
    let stack = Stack::on(backend, "att-fail");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  fine:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "exit 0"]
  failer:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "sleep 2; exit 4"]
  sleeper:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{STOPS_ON_TERM}"]
"#
        ),
    );
    let mut up = Attached::start(&stack, &["up", "--abort-on-container-failure"]);
    let status = up.wait(Duration::from_secs(60));
    // Had `fine`'s exit aborted, `failer` would have been stopped before failing.
    assert_eq!(code(status), Some(4), "{}", up.output());
    assert!(up.stdout().contains("failer-1 exited with code 4"));
    assert_eq!(status_of(&stack, "sleeper"), "exited");
}
on_both_backends!(abort_on_container_failure_ignores_a_successful_exit);

fn ctrl_c_stops_the_containers_gracefully_and_keeps_them(backend: Backend) {
    let stack = Stack::on(backend, "att-int");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo web ready; {STOPS_ON_TERM}"]
  db:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo db ready; {STOPS_ON_TERM}"]
"#
        ),
    );
    let mut up = Attached::start(&stack, &["up"]);
    up.wait_for_output("web ready", Duration::from_secs(60));
    up.wait_for_output("db ready", Duration::from_secs(10));
    assert_eq!(status_of(&stack, "web"), "running");
    assert_eq!(status_of(&stack, "db"), "running");

    let interrupted = Instant::now();
    up.interrupt();
    let status = up.wait(Duration::from_secs(30));
    assert!(
        interrupted.elapsed() < Duration::from_secs(8),
        "a graceful stop of containers that exit on SIGTERM took {:?}",
        interrupted.elapsed()
    );
    // docker compose's documented rule: interrupted, the containers are stopped, exit 0.
    assert_eq!(code(status), Some(0), "{}", up.output());
    assert!(up.stdout().contains("Gracefully stopping..."));
    for svc in ["web", "db"] {
        assert_eq!(status_of(&stack, svc), "exited", "{svc}");
        let code = stack.exit_code(&format!("{}-{svc}-1", stack.name));
        assert_eq!(code, Some(0), "{svc} was not stopped by SIGTERM");
    }
}
on_both_backends!(ctrl_c_stops_the_containers_gracefully_and_keeps_them);

fn second_ctrl_c_kills_a_container_that_ignores_sigterm(backend: Backend) {
    let stack = Stack::on(backend, "att-kill");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  stubborn:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "trap '' TERM INT; echo ignoring; while true; do sleep 1; done"]
"#
        ),
    );
    // The default 10 s stop timeout: only the second Ctrl-C can end it sooner.
    let mut up = Attached::start(&stack, &["up"]);
    up.wait_for_output("ignoring", Duration::from_secs(60));
    up.interrupt();
    up.wait_for_output("Gracefully stopping", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    let forced = Instant::now();
    up.interrupt();
    let status = up.wait(Duration::from_secs(30));
    assert!(
        forced.elapsed() < Duration::from_secs(5),
        "the second Ctrl-C took {:?} to end hoist",
        forced.elapsed()
    );
    assert_eq!(code(status), Some(0), "{}", up.output());
    assert_eq!(status_of(&stack, "stubborn"), "exited");
    let code = stack.exit_code(&format!("{}-stubborn-1", stack.name));
    assert_eq!(code, Some(137), "killed by SIGKILL");
}
on_both_backends!(second_ctrl_c_kills_a_container_that_ignores_sigterm);

fn attach_and_no_attach_select_whose_logs_are_printed(backend: Backend) {
    let stack = Stack::on(backend, "att-sel");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  loud:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo loud line"]
  quiet:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo quiet line"]
"#
        ),
    );
    let mut up = Attached::start(&stack, &["up", "--no-attach", "quiet"]);
    assert_eq!(code(up.wait(Duration::from_secs(60))), Some(0));
    let out = up.stdout();
    assert!(has_line(&out, "loud-1", "loud line"), "{out}");
    assert!(!out.contains("quiet line"), "{out}");

    let mut up = Attached::start(&stack, &["up", "--force-recreate", "--attach", "quiet"]);
    assert_eq!(code(up.wait(Duration::from_secs(60))), Some(0));
    let out = up.stdout();
    assert!(has_line(&out, "quiet-1", "quiet line"), "{out}");
    assert!(!out.contains("loud line"), "{out}");
}
on_both_backends!(attach_and_no_attach_select_whose_logs_are_printed);

fn attached_up_of_a_service_follows_it_alone_and_leaves_its_dependencies_running(backend: Backend) {
    let stack = Stack::on(backend, "att-deps");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  db:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "echo db line; {STOPS_ON_TERM}"]
  web:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "sleep 1; echo web line"]
    depends_on: [db]
"#
        ),
    );
    // web exits: up returns, though db (started as its dependency) still runs.
    let mut up = Attached::start(&stack, &["up", "web"]);
    assert_eq!(
        code(up.wait(Duration::from_secs(60))),
        Some(0),
        "{}",
        up.output()
    );
    let out = up.stdout();
    assert!(has_line(&out, "web-1", "web line"), "{out}");
    assert!(!out.contains("db line"), "{out}");
    assert_eq!(status_of(&stack, "db"), "running");

    // --attach-dependencies shows db's logs too.
    let mut up = Attached::start(&stack, &["up", "--attach-dependencies", "web"]);
    up.wait_for_output("web line", Duration::from_secs(60));
    up.wait_for_output("db line", Duration::from_secs(10));
    up.interrupt();
    assert_eq!(
        code(up.wait(Duration::from_secs(30))),
        Some(0),
        "{}",
        up.output()
    );
}
on_both_backends!(attached_up_of_a_service_follows_it_alone_and_leaves_its_dependencies_running);

fn detach_cannot_be_combined_with_abort_on_container_exit(backend: Backend) {
    let stack = Stack::on(backend, "att-detach");
    stack.write(
        "compose.yaml",
        &format!("services:\n  web:\n    image: {BUSYBOX_IMAGE}\n"),
    );
    let out = stack.run(&["up", "-d", "--abort-on-container-exit"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--detach") && err.contains("--abort-on-container-exit"),
        "{err}"
    );
    assert!(stack.containers().is_empty());
}
on_both_backends!(detach_cannot_be_combined_with_abort_on_container_exit);

fn ctrl_c_while_up_still_waits_on_a_dependency_stops_what_started(backend: Backend) {
    let stack = Stack::on(backend, "att-int-early");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  db:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{STOPS_ON_TERM}"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/never"]
      interval: 1s
      retries: 1000
  web:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{STOPS_ON_TERM}"]
    depends_on:
      db:
        condition: service_healthy
"#
        ),
    );
    let mut up = Attached::start(&stack, &["up"]);
    // `up` is still waiting for db to turn healthy, which it never does.
    let deadline = Instant::now() + Duration::from_secs(60);
    while status_of(&stack, "db") != "running" {
        assert!(Instant::now() < deadline, "db never ran\n{}", up.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    up.interrupt();
    let status = up.wait(Duration::from_secs(30));
    assert_eq!(code(status), Some(130), "{}", up.output());
    assert!(
        up.stdout().contains("Gracefully stopping..."),
        "{}",
        up.output()
    );
    assert_eq!(status_of(&stack, "db"), "exited", "{}", up.output());
    assert_ne!(status_of(&stack, "web"), "running");
}
on_both_backends!(ctrl_c_while_up_still_waits_on_a_dependency_stops_what_started);

fn ctrl_c_during_a_detached_up_says_the_project_is_partly_created(backend: Backend) {
    let stack = Stack::on(backend, "att-int-detached");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  db:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{STOPS_ON_TERM}"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/never"]
      interval: 1s
      retries: 1000
  web:
    image: {BUSYBOX_IMAGE}
    depends_on:
      db:
        condition: service_healthy
"#
        ),
    );
    let mut up = Attached::start(&stack, &["up", "-d"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while status_of(&stack, "db") != "running" {
        assert!(Instant::now() < deadline, "db never ran\n{}", up.output());
        std::thread::sleep(Duration::from_millis(100));
    }
    up.interrupt();
    let status = up.wait(Duration::from_secs(30));
    assert_eq!(code(status), Some(130), "{}", up.output());
    assert!(
        up.output().contains("partly created") && up.output().contains("down"),
        "{}",
        up.output()
    );
    // Detached: what was started keeps running, as the message says.
    assert_eq!(status_of(&stack, "db"), "running");
}
on_both_backends!(ctrl_c_during_a_detached_up_says_the_project_is_partly_created);

fn attached_up_follows_a_container_its_restart_policy_brings_back(backend: Backend) {
    let stack = Stack::on(backend, "att-restart");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  flaky:
    image: {BUSYBOX_IMAGE}
    # A restart keeps the container's filesystem: each run numbers itself.
    command: ["sh", "-c", "echo x >> /runs; echo run $$(wc -l < /runs); exit 3"]
    restart: on-failure:2
"#
        ),
    );
    let mut up = Attached::start(&stack, &["up"]);
    // One run and two restarts, each followed, then up ends as the container stays down.
    let status = up.wait(Duration::from_secs(60));
    let out = up.stdout();
    assert_eq!(code(status), Some(0), "{}", up.output());
    let runs: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("flaky-1") && l.contains("| run "))
        .collect();
    let numbers: Vec<&str> = runs
        .iter()
        .filter_map(|l| l.split("| run ").nth(1))
        .collect();
    assert_eq!(
        numbers,
        ["1", "2", "3"],
        "each run printed once:\n{}",
        up.output()
    );
    assert_eq!(
        out.matches("exited with code 3").count(),
        3,
        "{}",
        up.output()
    );
}
on_both_backends!(attached_up_follows_a_container_its_restart_policy_brings_back);
