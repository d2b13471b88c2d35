//! `run`, `exec` and `attach` on both backends: USER-STORIES.md story 2 (utility containers
//! with the project bind-mounted), exit codes, piped stdin, dependencies, one-off names and
//! labels, attaching to a service's running container (live output, stdin, signals, detach
//! keys, replicas), and the TTY path under a real pseudo-terminal (`script`).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::background::Background;
use common::stack::{free_port, stderr, stdout, Backend, Stack};
use common::BUSYBOX_IMAGE;

/// Story 2's shape: a utility service whose entrypoint takes the arguments, the project
/// directory bind-mounted as its working directory; plus a database it depends on.
fn utility_stack(backend: Backend, prefix: &str) -> Stack {
    let stack = Stack::on(backend, prefix);
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  db:
    image: {BUSYBOX_IMAGE}
    command: ["sleep", "600"]
  npm:
    image: {BUSYBOX_IMAGE}
    entrypoint: ["sh", "-c"]
    working_dir: /app
    volumes: ["./:/app"]
    environment:
      GREETING: hello
  echo:
    image: {BUSYBOX_IMAGE}
    entrypoint: ["echo", "tool:"]
    depends_on: [db]
"#
        ),
    );
    stack
}

fn run_rm_writes_into_the_project_dir_and_leaves_no_container(backend: Backend) {
    let stack = utility_stack(backend, "run-rm");
    stack.ok(&[
        "run",
        "--rm",
        "npm",
        "echo '{\"name\": \"app\"}' > package.json",
    ]);
    let written = std::fs::read_to_string(stack.path().join("package.json"))
        .expect("package.json written on the host");
    assert_eq!(written, "{\"name\": \"app\"}\n");
    assert!(
        stack.containers().is_empty(),
        "the one-off container is gone: {:?}",
        stack.containers()
    );
}
on_both_backends!(run_rm_writes_into_the_project_dir_and_leaves_no_container);

fn run_appends_arguments_to_the_entrypoint_hyphens_included(backend: Backend) {
    let stack = utility_stack(backend, "run-args");
    let out = stack.ok(&[
        "run",
        "--rm",
        "--no-deps",
        "echo",
        "install",
        "--save",
        "express",
    ]);
    assert_eq!(stdout(&out), "tool: install --save express\n");
}
on_both_backends!(run_appends_arguments_to_the_entrypoint_hyphens_included);

fn run_exit_code_is_hoists_exit_code(backend: Backend) {
    let stack = utility_stack(backend, "run-exit");
    let out = stack.run(&["run", "--rm", "npm", "echo bye; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "bye\n");
    assert!(stack.containers().is_empty());
}
on_both_backends!(run_exit_code_is_hoists_exit_code);

fn piped_stdin_reaches_the_command_and_stderr_stays_separate(backend: Backend) {
    let stack = utility_stack(backend, "run-stdin");
    let mut child = stack
        .command(&["run", "--rm", "-T", "npm", "cat; echo done >&2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hoist");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hi\nthere\n")
        .expect("write stdin");
    // The pipe is closed here: the EOF must reach `cat` for it to exit.
    let out = child.wait_with_output().expect("hoist runs");
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "hi\nthere\n");
    assert!(stderr(&out).contains("done\n"), "stderr: {}", stderr(&out));
}
on_both_backends!(piped_stdin_reaches_the_command_and_stderr_stays_separate);

fn env_and_volume_flags_override_the_service(backend: Backend) {
    let stack = utility_stack(backend, "run-env");
    let out = stack.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=bye",
        "-v",
        "./extra:/extra",
        "npm",
        "echo $GREETING; echo $GREETING > /extra/said",
    ]);
    assert_eq!(stdout(&out), "bye\n");
    let said = std::fs::read_to_string(stack.path().join("extra/said"))
        .expect("relative -v resolved from the project dir");
    assert_eq!(said, "bye\n");
}
on_both_backends!(env_and_volume_flags_override_the_service);

fn dependencies_start_first_unless_no_deps(backend: Backend) {
    let stack = utility_stack(backend, "run-deps");
    let db = format!("{}-db-1", stack.name);

    stack.ok(&["run", "--rm", "--no-deps", "echo", "alone"]);
    assert!(stack.containers().is_empty(), "--no-deps started nothing");

    let out = stack.ok(&["run", "--rm", "echo", "with", "db"]);
    assert_eq!(stdout(&out), "tool: with db\n");
    assert_eq!(stack.containers(), vec![db.clone()]);
    assert_eq!(stack.status(&db), "running");
}
on_both_backends!(dependencies_start_first_unless_no_deps);

fn oneoff_container_is_named_and_labelled_like_docker_compose(backend: Backend) {
    let stack = Stack::on(backend, "run-labels");
    let port = free_port();
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    image: {BUSYBOX_IMAGE}
    command: ["sleep", "600"]
    ports: ["127.0.0.1:{port}:80"]
"#
        ),
    );
    let out = stack.ok(&["run", "-d", "web", "sleep", "600"]);
    let name = stdout(&out).trim().to_string();
    let prefix = format!("{}-web-run-", stack.name);
    let slug_part = name.strip_prefix(&prefix).unwrap_or_else(|| {
        panic!("one-off name {name:?} starts with {prefix:?}");
    });
    assert_eq!(slug_part.len(), 12);
    assert!(slug_part.bytes().all(|b| b.is_ascii_hexdigit()));

    let info = stack.inspect(&name).expect("the one-off container exists");
    let label = |key: &str| info.labels.get(key).cloned().unwrap_or_default();
    assert_eq!(label("com.docker.compose.oneoff"), "True");
    assert_eq!(label("com.docker.compose.service"), "web");
    assert_eq!(label("com.docker.compose.project"), stack.name);
    let slug = label("com.docker.compose.slug");
    assert!(
        slug.starts_with(slug_part) && slug.len() == 64,
        "slug {slug}"
    );
    // `run` does not publish the service's ports (no clash with a running `up`).
    assert!(info.ports.is_empty(), "published: {:?}", info.ports);
    assert_eq!(info.cmd, ["sleep", "600"]);

    let custom = format!("{}-custom", stack.name);
    let published = format!("127.0.0.1:{port}:80");
    stack.ok(&[
        "run",
        "-d",
        "--name",
        &custom,
        "-l",
        "team=tools",
        "-p",
        &published,
        "web",
    ]);
    let custom = stack
        .inspect(&custom)
        .expect("the named one-off container exists");
    assert!(
        custom
            .ports
            .iter()
            .any(|p| p.host_port == port && p.container_port == 80),
        "-p bound: {:?}",
        custom.ports
    );
    assert_eq!(custom.labels["team"], "tools");
    assert_eq!(custom.labels["com.docker.compose.oneoff"], "True");
}
on_both_backends!(oneoff_container_is_named_and_labelled_like_docker_compose);

fn exec_returns_the_commands_output_and_exit_code(backend: Backend) {
    let stack = utility_stack(backend, "exec");
    stack.ok(&["up", "-d", "db"]);
    let out = stack.run(&[
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert!(stderr(&out).contains("err\n"));

    let out = stack.ok(&[
        "exec",
        "-T",
        "-e",
        "X=from-exec",
        "-w",
        "/tmp",
        "db",
        "sh",
        "-c",
        "echo $X $(pwd)",
    ]);
    assert_eq!(stdout(&out), "from-exec /tmp\n");

    // `-d` returns at once; the command keeps running in the container.
    stack.ok(&[
        "exec",
        "-d",
        "db",
        "sh",
        "-c",
        "echo ignored; touch /tmp/detached",
    ]);
    let seen = (0..50).any(|_| {
        let out = stack.run(&["exec", "-T", "db", "ls", "/tmp"]);
        let found = stdout(&out).contains("detached");
        if !found {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        found
    });
    assert!(seen, "the detached command ran");
}
on_both_backends!(exec_returns_the_commands_output_and_exit_code);

fn exec_into_a_stopped_or_unknown_service_fails_clearly(backend: Backend) {
    let stack = utility_stack(backend, "exec-stopped");
    let out = stack.run(&["exec", "-T", "db", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("service \"db\" is not running"),
        "stderr: {}",
        stderr(&out)
    );
    let out = stack.run(&["exec", "-T", "nope", "true"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("nope"), "stderr: {}", stderr(&out));
}
on_both_backends!(exec_into_a_stopped_or_unknown_service_fails_clearly);

/// Runs `hoist <args>` inside a pseudo-terminal (`script` from bsdutils), types each of
/// `keys` once the terminal shows its text (`""`: at once), then prints the terminal's
/// `icanon` setting (to prove raw mode was undone). Returns the terminal's output and the
/// exit code of hoist.
fn under_terminal(stack: &Stack, args: &[&str], keys: &[(&str, &[u8])]) -> (String, i32) {
    let mut line = format!(
        "{} -p {} --progress quiet",
        env!("CARGO_BIN_EXE_hoist"),
        stack.name
    );
    for a in args {
        line.push_str(&format!(" '{}'", a.replace('\'', r"'\''")));
    }
    let shell = format!("{line}; rc=$?; stty -a | tr ' ;' '\\n\\n' | grep icanon; exit $rc");
    let mut cmd = Command::new("script");
    stack.backend_env(&mut cmd);
    cmd.args(["-qec", &shell, "/dev/null"])
        .current_dir(stack.path())
        .stdin(Stdio::piped());
    let mut term = Background::spawn(cmd);
    // Kept open until hoist is done: `script` turns the end of its input into keystrokes.
    let mut typing = term.child.stdin.take().expect("stdin");
    for (after, bytes) in keys {
        let what = format!("{after:?} on the terminal");
        term.wait_for(|out, _| out.contains(after), &what, Duration::from_secs(30));
        typing.write_all(bytes).expect("type");
    }
    let status = term.wait(Duration::from_secs(60));
    drop(typing);
    (term.stdout(), status.code().unwrap_or(-1))
}

fn run_under_a_terminal_gets_a_tty_takes_keystrokes_and_restores_the_terminal(backend: Backend) {
    let stack = utility_stack(backend, "run-tty");
    let (output, code) = under_terminal(
        &stack,
        &[
            "run",
            "--rm",
            "npm",
            "read line; echo \"got:$line\"; tty; exit 3",
        ],
        &[("", b"hello\n")],
    );
    assert_eq!(code, 3, "terminal output: {output:?}");
    assert!(output.contains("got:hello"), "terminal output: {output:?}");
    assert!(output.contains("/dev/pts/"), "a TTY: {output:?}");
    // The line printed after hoist exits: canonical mode is back on.
    assert!(
        output.lines().any(|l| l.trim() == "icanon"),
        "terminal restored: {output:?}"
    );
    assert!(stack.containers().is_empty());
}
on_both_backends!(run_under_a_terminal_gets_a_tty_takes_keystrokes_and_restores_the_terminal);

fn ctrl_c_at_the_terminal_reaches_the_container_as_sigint(backend: Backend) {
    // The terminal is the process's controlling terminal: ^C, typed once the process
    // runs (hoist's terminal is raw then), is a SIGINT to it, not a byte on its input.
    let stack = utility_stack(backend, "run-ctrlc");
    let script = "trap 'echo caught; exit 7' INT; read line; echo \"got:$line\"; sleep 30 & wait";
    let (output, code) = under_terminal(
        &stack,
        &["run", "--rm", "npm", script],
        &[("", b"go\n"), ("got:go", b"\x03")],
    );
    assert_eq!(code, 7, "terminal output: {output:?}");
    assert!(output.contains("caught"), "terminal output: {output:?}");
    assert!(stack.containers().is_empty());
}
on_both_backends!(ctrl_c_at_the_terminal_reaches_the_container_as_sigint);

fn exec_under_a_terminal_gets_a_tty_and_its_exit_code(backend: Backend) {
    let stack = utility_stack(backend, "exec-tty");
    stack.ok(&["up", "-d", "db"]);
    let script = "test -t 0 && test -t 1 && echo on-a-terminal; tty; exit 4";
    let (output, code) = under_terminal(&stack, &["exec", "db", "sh", "-c", script], &[]);
    assert_eq!(code, 4, "terminal output: {output:?}");
    assert!(output.contains("on-a-terminal"), "a TTY: {output:?}");
    // The terminal is the container's own `/dev/pts` entry, not a host pty.
    assert!(output.contains("/dev/pts/"), "a TTY: {output:?}");
    assert!(output.lines().any(|l| l.trim() == "icanon"));
}
on_both_backends!(exec_under_a_terminal_gets_a_tty_and_its_exit_code);

fn detached_run_with_rm_is_removed_when_it_exits(backend: Backend) {
    let stack = Stack::on(backend, "rundrm");
    stack.write(
        "compose.yaml",
        &format!("services:\n  job:\n    image: {BUSYBOX_IMAGE}\n"),
    );
    let out = stack.ok(&["run", "-d", "--rm", "job", "sh", "-c", "sleep 1"]);
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        name.starts_with(&format!("{}-job-run-", stack.name)),
        "{name}"
    );
    let mut gone = false;
    for _ in 0..100 {
        if stack.container_id(&name).is_empty() {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone, "{name} still exists after it exited");
}
on_both_backends!(detached_run_with_rm_is_removed_when_it_exits);

/// Services `attach` connects to, started with `up -d`: a ticker printing a line every
/// 100 ms that exits 3 on SIGTERM, a `cat` keeping stdin open, and an interactive shell on a
/// TTY.
fn attach_stack(backend: Backend, prefix: &str) -> Stack {
    let stack = Stack::on(backend, prefix);
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  ticker:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "trap 'echo stopping; exit 3' TERM; echo early; i=0; while true; do echo tick-$$i; i=$$((i+1)); sleep 0.1; done"]
  cat:
    image: {BUSYBOX_IMAGE}
    command: ["cat"]
    stdin_open: true
  shell:
    image: {BUSYBOX_IMAGE}
    command: ["sh"]
    tty: true
    stdin_open: true
"#
        ),
    );
    stack
}

fn attach_shows_live_output_proxies_sigterm_and_returns_the_exit_code(backend: Backend) {
    let stack = attach_stack(backend, "attach-live");
    stack.ok(&["up", "-d", "ticker"]);
    let ticker = format!("{}-ticker-1", stack.name);
    // Printed before the attach: not replayed.
    let printed = (0..100).any(|_| {
        let found = stdout(&stack.run(&["logs", "ticker"])).contains("tick-2");
        if !found {
            std::thread::sleep(Duration::from_millis(100));
        }
        found
    });
    assert!(printed, "the ticker ticks");

    let mut attached = Background::spawn(stack.command(&["attach", "--no-stdin", "ticker"]));
    let live = |out: &str, _: &str| out.matches("tick-").count() >= 3;
    attached.wait_for(live, "three live ticks", Duration::from_secs(30));
    // A reader that goes away (`| head`) detaches: hoist exits 0, the ticker keeps ticking.
    let mut piped = Command::new("bash");
    stack.backend_env(&mut piped);
    piped
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {} -p {} attach --no-stdin ticker | head -n 2",
            env!("CARGO_BIN_EXE_hoist"),
            stack.name
        ))
        .current_dir(stack.path())
        .stdin(Stdio::null());
    let mut head = Background::spawn(piped);
    let status = head.wait(Duration::from_secs(30));
    assert!(status.success(), "{}", head.output());
    assert_eq!(
        head.stdout().matches("tick-").count(),
        2,
        "{}",
        head.output()
    );
    assert!(stack.running(&ticker), "{ticker} keeps running");

    // Sent to hoist, passed on to the container (`--sig-proxy` is the default): it exits 3.
    attached.signal(libc::SIGTERM);
    let status = attached.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(3), "{}", attached.output());
    let out = attached.stdout();
    assert!(out.contains("stopping"), "{}", attached.output());
    assert!(
        !out.contains("early"),
        "no replay of earlier output: {out:?}"
    );
    assert!(
        !out.contains("tick-0\n"),
        "no replay of earlier output: {out:?}"
    );
    assert_eq!(stack.exit_code(&ticker), Some(3));
}
on_both_backends!(attach_shows_live_output_proxies_sigterm_and_returns_the_exit_code);

fn attach_forwards_stdin_and_without_sig_proxy_ctrl_c_detaches(backend: Backend) {
    let stack = attach_stack(backend, "attach-stdin");
    stack.ok(&["up", "-d", "cat"]);
    let cat = format!("{}-cat-1", stack.name);
    let mut cmd = stack.command(&["attach", "--sig-proxy=false", "cat"]);
    cmd.stdin(Stdio::piped());
    let mut attached = Background::spawn(cmd);
    let mut typing = attached.child.stdin.take().expect("stdin");
    // Typed until seen: the first line may go out before the attach is connected.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !attached.stdout().contains("hello from stdin") {
        assert!(
            std::time::Instant::now() < deadline,
            "stdin never echoed\n{}",
            attached.output()
        );
        typing.write_all(b"hello from stdin\n").expect("type");
        std::thread::sleep(Duration::from_millis(300));
    }
    attached.signal(libc::SIGINT);
    let status = attached.wait(Duration::from_secs(30));
    drop(typing);
    assert_eq!(status.code(), Some(130), "{}", attached.output());
    assert!(
        attached.stderr().contains("keeps running"),
        "{}",
        attached.output()
    );
    assert!(stack.running(&cat), "detaching left {cat} running");
}
on_both_backends!(attach_forwards_stdin_and_without_sig_proxy_ctrl_c_detaches);

fn attach_under_a_terminal_types_into_the_tty_and_detach_keys_leave_it_running(backend: Backend) {
    let stack = attach_stack(backend, "attach-tty");
    stack.ok(&["up", "-d", "shell"]);
    let shell = format!("{}-shell-1", stack.name);
    // The typed line echoes as typed; only the shell's answer holds `typed-42`.
    let (output, code) = under_terminal(
        &stack,
        &["attach", "shell"],
        &[
            ("", b"echo typed-$((6*7)); tty\r"),
            ("typed-42", b"\x10"),
            ("typed-42", b"\x11"),
        ],
    );
    assert_eq!(code, 0, "ctrl-p ctrl-q detach: {output:?}");
    assert!(output.contains("/dev/pts/"), "a TTY: {output:?}");
    // The shell's prompt has no newline: `stty`'s word follows it on the line.
    assert!(
        output.contains("icanon") && !output.contains("-icanon"),
        "terminal restored: {output:?}"
    );
    assert!(stack.running(&shell), "detaching left {shell} running");

    // Other keys, given as docker spells them.
    let (output, code) = under_terminal(
        &stack,
        &["attach", "--detach-keys", "ctrl-a,x", "shell"],
        &[
            ("", b"echo again-$((6*7))\r"),
            ("again-42", b"\x01"),
            ("again-42", b"x"),
        ],
    );
    assert_eq!(code, 0, "ctrl-a x detach: {output:?}");
    assert!(stack.running(&shell), "detaching left {shell} running");
}
on_both_backends!(attach_under_a_terminal_types_into_the_tty_and_detach_keys_leave_it_running);

fn attach_picks_the_replica_by_index_and_refuses_stopped_or_unknown_services(backend: Backend) {
    let stack = Stack::on(backend, "attach-index");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  worker:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "while true; do cat /tmp/me 2>/dev/null; sleep 0.1; done"]
"#
        ),
    );
    stack.ok(&["up", "-d", "--scale", "worker=2"]);
    let (one, two) = (
        format!("{}-worker-1", stack.name),
        format!("{}-worker-2", stack.name),
    );
    stack.exec(&one, &["sh", "-c", "echo i-am-one > /tmp/me"]);
    stack.exec(&two, &["sh", "-c", "echo i-am-two > /tmp/me"]);

    let mut attached = Background::spawn(stack.command(&[
        "attach",
        "--index",
        "2",
        "--sig-proxy=false",
        "worker",
    ]));
    let seen = |out: &str, _: &str| out.matches("i-am-two").count() >= 2;
    attached.wait_for(seen, "replica 2's output", Duration::from_secs(30));
    attached.signal(libc::SIGINT);
    let status = attached.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{}", attached.output());
    assert!(
        !attached.stdout().contains("i-am-one"),
        "{}",
        attached.output()
    );

    let out = stack.run(&["attach", "--index", "3", "worker"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("not running container #3"),
        "stderr: {}",
        stderr(&out)
    );
    let out = stack.run(&["attach", "nope"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("nope"), "stderr: {}", stderr(&out));
    stack.ok(&["stop", "-t", "0", "worker"]);
    let out = stack.run(&["attach", "worker"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("service \"worker\" is not running"),
        "stderr: {}",
        stderr(&out)
    );
    let out = stack.run(&["attach", "--detach-keys", "ctrl-", "worker"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid --detach-keys"),
        "stderr: {}",
        stderr(&out)
    );
}
on_both_backends!(attach_picks_the_replica_by_index_and_refuses_stopped_or_unknown_services);
