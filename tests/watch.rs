//! `hoist watch` on both backends, each scenario written once and run against the real
//! Docker engine and against the native runtime on the real kernel: every `develop.watch`
//! action (sync with new, modified, renamed and deleted files and ignore rules; restart;
//! sync+restart; sync+exec; rebuild, and a failing rebuild that keeps the old container),
//! initial_sync, ownership and modes, an atomic save and a burst coalesced, poll mode, a
//! read-only target, and the errors for broken rules.
//!
//! Results are awaited by polling the container with a bounded deadline; nothing asserts
//! on timings.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::background::Background;
use common::stack::{stderr, Backend, Stack};
use common::BUSYBOX_IMAGE;

on_both_backends!(
    sync_copies_new_modified_and_renamed_files_and_deletes_removed_ones,
    an_atomic_save_and_a_burst_are_coalesced,
    restart_and_sync_restart_restart_the_process,
    sync_exec_runs_the_command_after_syncing,
    rebuild_recreates_the_container_and_a_failed_build_keeps_it,
    broken_rules_are_refused_with_the_service_and_path,
    up_watch_streams_logs_across_restarts_and_stops_on_ctrl_c,
    poll_mode_syncs_without_file_events,
    a_target_on_a_read_only_root_is_reported_and_the_watch_goes_on,
    ignored_directories_are_not_watched,
);

/// A compose project on one backend (see `common::stack`).
type Project = Stack;

/// Long enough for a loaded CI machine; results normally arrive within a second.
const LIMIT: Duration = Duration::from_secs(60);

/// A command that exits 0 on SIGTERM, so stops and restarts do not wait for a timeout.
const IDLE: &str = "trap 'exit 0' TERM; while true; do sleep 1 & wait; done";

/// `hoist watch` running in the background, its output collected as it comes.
struct Watching(Background);

impl Watching {
    fn start(stack: &Project, args: &[&str]) -> Watching {
        let mut w = Watching(Background::spawn(stack.command(args)));
        w.wait_for(|out, _| out.contains("Watch enabled"), "Watch enabled");
        w
    }

    fn stdout(&self) -> String {
        self.0.stdout()
    }

    fn stderr(&self) -> String {
        self.0.stderr()
    }

    fn output(&self) -> String {
        self.0.output()
    }

    /// Waits until `done(stdout, stderr)` holds; fails the test after [`LIMIT`].
    fn wait_for(&mut self, done: impl Fn(&str, &str) -> bool, what: &str) {
        self.0.wait_for(done, what, LIMIT);
    }
}

/// `sh -c script` in the container; its trimmed stdout (empty when it fails).
fn sh(stack: &Project, container: &str, script: &str) -> String {
    stack.sh(container, script)
}

/// Polls `script` in the container until its output is `expected`.
fn eventually(stack: &Project, watch: &Watching, container: &str, script: &str, expected: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let got = sh(stack, container, script);
        if got == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{script}` in {container} gave {got:?}, not {expected:?}, after {LIMIT:?}\n{}",
            watch.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn container(stack: &Project, service: &str) -> String {
    format!("{}-{service}-1", stack.name)
}

fn sync_copies_new_modified_and_renamed_files_and_deletes_removed_ones(backend: Backend) {
    let stack = Stack::on(backend, "watch-sync");
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    user: "1234:5678"
    command: ["sh", "-c", "{IDLE}"]
    volumes: [cache:/cache]
    develop:
      watch:
        - action: sync
          path: ./src
          target: /app
          ignore: ["*.log"]
        - action: sync
          path: ./seed
          target: /seed
          initial_sync: true
        - action: sync
          path: ./cache
          target: /cache
volumes:
  cache: {{}}
"#
            ),
        )
        .write("src/a.txt", "one")
        .write("seed/seed.txt", "seeded")
        .write("cache/.keep", "");
    let watch = Watching::start(&stack, &["watch"]);
    let app = container(&stack, "app");
    let src = stack.path().join("src");

    // initial_sync copied the seed directory without any edit.
    eventually(&stack, &watch, &app, "cat /seed/seed.txt", "seeded");

    // A target on a volume lands in the volume, where the container sees it.
    stack.write("cache/c.txt", "cached");
    eventually(&stack, &watch, &app, "cat /cache/c.txt", "cached");

    std::fs::write(src.join("new.txt"), "fresh").expect("write");
    eventually(&stack, &watch, &app, "cat /app/new.txt", "fresh");

    std::fs::write(src.join("a.txt"), "two").expect("write");
    eventually(&stack, &watch, &app, "cat /app/a.txt", "two");

    std::fs::rename(src.join("new.txt"), src.join("renamed.txt")).expect("rename");
    eventually(
        &stack,
        &watch,
        &app,
        "cat /app/renamed.txt; test -e /app/new.txt && echo still-there",
        "fresh",
    );

    std::fs::remove_file(src.join("a.txt")).expect("remove");
    eventually(
        &stack,
        &watch,
        &app,
        "test -e /app/a.txt || echo gone",
        "gone",
    );

    std::fs::create_dir_all(src.join("sub/deeper")).expect("mkdir");
    std::fs::write(src.join("sub/deeper/d.txt"), "deep").expect("write");
    eventually(&stack, &watch, &app, "cat /app/sub/deeper/d.txt", "deep");
    std::fs::remove_dir_all(src.join("sub")).expect("rmdir");
    eventually(
        &stack,
        &watch,
        &app,
        "test -e /app/sub || echo gone",
        "gone",
    );

    // Modes are kept, and files belong to the container's user.
    let script = src.join("run.sh");
    std::fs::write(&script, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    eventually(
        &stack,
        &watch,
        &app,
        "stat -c '%a %u:%g' /app/run.sh",
        "750 1234:5678",
    );

    // Ignored: the rule's `*.log`, an editor's swap file, .git. The marker is written
    // last, so once it is there anything that would have been synced is there too.
    std::fs::write(src.join("debug.log"), "noise").expect("write");
    std::fs::write(src.join(".a.txt.swp"), "swap").expect("write");
    std::fs::create_dir_all(src.join(".git")).expect("mkdir");
    std::fs::write(src.join(".git/HEAD"), "ref").expect("write");
    std::fs::write(src.join("marker"), "m").expect("write");
    eventually(&stack, &watch, &app, "cat /app/marker", "m");
    assert_eq!(
        sh(&stack, &app, "ls -A /app | sort | tr '\\n' ' '"),
        "marker renamed.txt run.sh",
        "{}",
        watch.output()
    );
    assert!(
        watch
            .stdout()
            .contains("Syncing service \"app\" after 1 change was detected"),
        "{}",
        watch.output()
    );
}

fn an_atomic_save_and_a_burst_are_coalesced(backend: Backend) {
    let stack = Stack::on(backend, "watch-burst");
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{IDLE}"]
    develop:
      watch:
        - {{action: sync, path: ./src, target: /app}}
"#
            ),
        )
        .write("src/burst/.keep", "");
    let watch = Watching::start(&stack, &["watch"]);
    let app = container(&stack, "app");
    let src = stack.path().join("src");

    // An editor's atomic save: a temporary file renamed over the original.
    let tmp = src.join("app.js.tmp4242");
    std::fs::write(&tmp, "saved").expect("write");
    std::fs::rename(&tmp, src.join("app.js")).expect("rename");
    eventually(&stack, &watch, &app, "cat /app/app.js", "saved");
    assert_eq!(
        sh(&stack, &app, "ls -A /app"),
        "app.js",
        "the temporary file must not reach the container"
    );
    assert!(
        watch.stdout().contains("after 1 change was detected"),
        "an atomic save is one change\n{}",
        watch.output()
    );

    let before = watch.stdout().matches("Syncing service").count();
    for i in 0..200 {
        std::fs::write(src.join(format!("burst/f{i:03}.txt")), format!("{i}")).expect("write");
    }
    eventually(&stack, &watch, &app, "ls /app/burst | wc -l", "200");
    let out = watch.stdout();
    let syncs: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Syncing service"))
        .skip(before)
        .collect();
    let changes: usize = syncs
        .iter()
        .filter_map(|l| {
            l.split(" after ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(
        !syncs.is_empty() && syncs.len() <= 3,
        "200 files written at once should be one or very few syncs, got {}\n{}",
        syncs.len(),
        watch.output()
    );
    assert_eq!(changes, 200, "{}", watch.output());
}

fn restart_and_sync_restart_restart_the_process(backend: Backend) {
    let stack = Stack::on(backend, "watch-restart");
    // Each start of the process appends a line: the count is how often it started.
    let counting =
        "echo started >> /tmp/starts; trap 'exit 0' TERM; while true; do sleep 1 & wait; done";
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{counting}"]
    develop:
      watch:
        - {{action: sync+restart, path: ./conf, target: /etc/app}}
  plain:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{counting}"]
    develop:
      watch:
        - {{action: restart, path: ./plain.conf}}
"#
            ),
        )
        .write("conf/app.conf", "v1")
        .write("plain.conf", "v1");
    let watch = Watching::start(&stack, &["watch"]);
    let (app, plain) = (container(&stack, "app"), container(&stack, "plain"));
    eventually(&stack, &watch, &app, "wc -l < /tmp/starts", "1");
    eventually(&stack, &watch, &plain, "wc -l < /tmp/starts", "1");

    stack.write("conf/app.conf", "v2");
    eventually(
        &stack,
        &watch,
        &app,
        "cat /etc/app/app.conf; echo; wc -l < /tmp/starts",
        "v2\n2",
    );
    stack.write("plain.conf", "v2");
    eventually(&stack, &watch, &plain, "wc -l < /tmp/starts", "2");
    // The other service was not touched.
    assert_eq!(sh(&stack, &app, "wc -l < /tmp/starts"), "2");
    let out = watch.stdout();
    assert!(
        out.contains("Restarting service \"app\" after changes were detected (conf/app.conf)"),
        "{}",
        watch.output()
    );
    assert!(
        out.contains("Restarting service \"plain\" after changes were detected (plain.conf)"),
        "{}",
        watch.output()
    );
}

fn sync_exec_runs_the_command_after_syncing(backend: Backend) {
    let stack = Stack::on(backend, "watch-exec");
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{IDLE}"]
    develop:
      watch:
        - action: sync+exec
          path: ./web
          target: /srv/web
          exec:
            command: ["sh", "-c", "echo $$GREETING:$$(cat page) > /tmp/reloaded; echo reloaded"]
            working_dir: /srv/web
            environment:
              GREETING: hello
"#
            ),
        )
        .write("web/page", "v1");
    let watch = Watching::start(&stack, &["watch"]);
    let app = container(&stack, "app");
    stack.write("web/page", "v2");
    eventually(&stack, &watch, &app, "cat /tmp/reloaded", "hello:v2");
    let mut watch = watch;
    watch.wait_for(|out, _| out.contains("| reloaded"), "the command's output");
}

fn rebuild_recreates_the_container_and_a_failed_build_keeps_it(backend: Backend) {
    let stack = Stack::on(backend, "watch-rebuild");
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    build: ./ctx
    command: ["sh", "-c", "{IDLE}"]
    develop:
      watch:
        - {{action: rebuild, path: ./ctx}}
"#
            ),
        )
        .write(
            "ctx/Dockerfile",
            &format!("FROM {BUSYBOX_IMAGE}\nCOPY version /version\n"),
        )
        .write("ctx/version", "v1");
    let mut watch = Watching::start(&stack, &["watch"]);
    let app = container(&stack, "app");
    eventually(&stack, &watch, &app, "cat /version", "v1");
    let first = stack.container_id(&app);

    stack.write("ctx/version", "v2");
    eventually(&stack, &watch, &app, "cat /version", "v2");
    let second = stack.container_id(&app);
    assert_ne!(
        first, second,
        "the container is recreated from the new image"
    );
    watch.wait_for(
        |out, _| out.contains("service \"app\" successfully built"),
        "the rebuild's success line",
    );
    assert!(
        watch
            .stdout()
            .contains("Rebuilding service \"app\" after changes were detected"),
        "{}",
        watch.output()
    );

    stack.write(
        "ctx/Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN exit 3\n"),
    );
    watch.wait_for(
        |_, err| err.contains("Error: rebuild of service \"app\" failed"),
        "the failed rebuild's error",
    );
    assert!(
        watch.stderr().contains("running containers were kept"),
        "{}",
        watch.output()
    );
    assert_eq!(stack.container_id(&app), second, "the old container stays");
    assert!(stack.running(&app), "the old container keeps running");
    assert_eq!(sh(&stack, &app, "cat /version"), "v2");
}

fn broken_rules_are_refused_with_the_service_and_path(backend: Backend) {
    let stack = Stack::on(backend, "watch-errors");
    let cases = [
        (
            format!(
                "services:\n  app:\n    image: {BUSYBOX_IMAGE}\n    develop:\n      watch:\n        - {{action: sync, path: ./nope, target: /app}}\n"
            ),
            vec!["service \"app\"", "nope", "does not exist"],
        ),
        (
            format!(
                "services:\n  app:\n    image: {BUSYBOX_IMAGE}\n    develop:\n      watch:\n        - {{action: rebuild, path: .}}\n"
            ),
            vec!["service \"app\"", "rebuild", "build:"],
        ),
        (
            format!("services:\n  app:\n    image: {BUSYBOX_IMAGE}\n"),
            vec!["none of the selected services is configured for watch"],
        ),
    ];
    for (yaml, expected) in cases {
        stack.write("compose.yaml", &yaml);
        let out = stack.run(&["watch"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{yaml} should fail\n{err}");
        for text in expected {
            assert!(err.contains(text), "{text:?} not in:\n{err}");
        }
        // Nothing was started for a broken rule.
        assert!(stack.containers().is_empty(), "{:?}", stack.containers());
    }
}

fn up_watch_streams_logs_across_restarts_and_stops_on_ctrl_c(backend: Backend) {
    let stack = Stack::on(backend, "watch-up");
    let greeting = "echo started; trap 'exit 0' TERM; while true; do sleep 1 & wait; done";
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{greeting}"]
    develop:
      watch:
        - {{action: sync+restart, path: ./src, target: /app}}
"#
            ),
        )
        .write("src/index.html", "v1");
    let mut watch = Watching::start(&stack, &["up", "--watch"]);
    let app = container(&stack, "app");
    let started = |out: &str| out.lines().filter(|l| l.ends_with("| started")).count();
    watch.wait_for(|out, _| started(out) == 1, "the first start's log line");

    stack.write("src/index.html", "v2");
    eventually(&stack, &watch, &app, "cat /app/index.html", "v2");
    // The restarted process's output reaches the same log stream.
    watch.wait_for(
        |out, _| started(out) == 2,
        "the restarted process's log line",
    );

    watch.0.signal(libc::SIGINT);
    let status = watch.0.wait(LIMIT);
    assert!(status.success(), "{status}\n{}", watch.output());
    assert!(
        !stack.running(&app),
        "Ctrl-C stops the containers, as attached up does"
    );
}

fn poll_mode_syncs_without_file_events(backend: Backend) {
    let stack = Stack::on(backend, "watch-poll");
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{IDLE}"]
    develop:
      watch:
        - {{action: sync, path: ./src, target: /app}}
"#
            ),
        )
        .write("src/a.txt", "one");
    let watch = Watching::start(&stack, &["watch", "--poll"]);
    assert!(
        watch.stdout().contains("Polling for changes"),
        "{}",
        watch.output()
    );
    let app = container(&stack, "app");
    stack.write("src/a.txt", "polled");
    eventually(&stack, &watch, &app, "cat /app/a.txt", "polled");
    std::fs::remove_file(stack.path().join("src/a.txt")).expect("remove");
    eventually(
        &stack,
        &watch,
        &app,
        "test -e /app/a.txt || echo gone",
        "gone",
    );
}

fn a_target_on_a_read_only_root_is_reported_and_the_watch_goes_on(backend: Backend) {
    let stack = Stack::on(backend, "watch-ro");
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    read_only: true
    command: ["sh", "-c", "{IDLE}"]
    develop:
      watch:
        - {{action: sync, path: ./src, target: /app}}
"#
            ),
        )
        .write("src/a.txt", "one");
    let mut watch = Watching::start(&stack, &["watch"]);
    stack.write("src/a.txt", "two");
    watch.wait_for(
        |_, err| err.contains("Error: sync of service \"app\" failed"),
        "the sync error",
    );
    assert!(watch.stderr().contains("writable"), "{}", watch.output());
    if let Backend::Native = backend {
        // Only the direct path knows the root is read-only: an archive extraction through
        // the host's overlay mount would have written it.
        assert!(
            watch.stderr().contains("read-only (read_only: true)"),
            "{}",
            watch.output()
        );
    }
    // Still watching: the next change is tried again.
    stack.write("src/b.txt", "three");
    watch.wait_for(
        |_, err| err.matches("Error: sync of service \"app\" failed").count() >= 2,
        "a second attempt",
    );
}

/// How many inotify watches process `pid` holds (one `inotify wd:` line per watch in
/// /proc/PID/fdinfo).
fn inotify_watches(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_to_string(fd.path()).ok())
        .map(|info| {
            info.lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count()
        })
        .sum()
}

fn ignored_directories_are_not_watched(backend: Backend) {
    let stack = Stack::on(backend, "watch-skip");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  app:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "{IDLE}"]
    develop:
      watch:
        - {{action: sync, path: ./src, target: /app, ignore: [node_modules/]}}
"#
        ),
    );
    for i in 0..100 {
        stack.write(&format!("src/node_modules/pkg{i}/lib/index.js"), "x");
    }
    stack.write("src/lib/a.js", "a");
    let mut watch = Watching::start(&stack, &["watch"]);
    let pid = watch.0.child.id();
    // src and src/lib; node_modules' 201 directories are left out.
    let watches = inotify_watches(pid);
    assert_eq!(watches, 2, "{}", watch.output());

    // A directory created later is watched from then on.
    stack.write("src/later/deep/x.js", "x");
    let app = container(&stack, "app");
    eventually(&stack, &watch, &app, "cat /app/later/deep/x.js", "x");
    watch.wait_for(
        |_, _| inotify_watches(pid) == 4,
        "watches on the new directories",
    );
    stack.write("src/later/deep/y.js", "y");
    eventually(&stack, &watch, &app, "cat /app/later/deep/y.js", "y");
}
