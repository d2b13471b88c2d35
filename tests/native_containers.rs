//! The native runtime's containers on the real kernel, as root, with no Docker involved:
//! each test has its own data root (`HOIST_ROOT`) holding a busybox image imported from
//! Debian's static busybox, drives the library or the `hoist` binary, and checks what the
//! container did and what it left behind.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::time::Duration;

use futures_util::StreamExt;
use hoist::runtime::native::oci::ContainerDefaults;
use hoist::runtime::native::NativeRuntime;
use hoist::runtime::{
    AttachOptions, ContainerListOptions, ContainerSpec, ContainerStatus, DeviceMapping, ExecSpec,
    HealthStatus, LabelFilter, LogOptions, Mount, MountSource, OutputStream, RestartPolicy,
    Runtime, TtySize,
};

const IMAGE: &str = "hoist-test/busybox:latest";
#[path = "common/busybox.rs"]
mod busybox;
#[path = "common/host.rs"]
mod host;
#[path = "common/native.rs"]
mod native;
#[path = "common/ps.rs"]
mod ps;
use busybox::busybox_rootfs;
use host::{
    command_lines, is_root as nix_is_root, links_with_prefix, mounts_under, processes_mentioning,
};
use ps::service_states;

/// The hoist binary is the monitor the library re-executes.
fn use_hoist_binary() {
    static SET: Once = Once::new();
    SET.call_once(|| std::env::set_var("HOIST_BINARY", env!("CARGO_BIN_EXE_hoist")));
}

/// A data root of its own with the busybox image imported.
struct Native {
    dir: tempfile::TempDir,
    rt: NativeRuntime,
}

impl Native {
    async fn new() -> Native {
        use_hoist_binary();
        assert!(
            nix_is_root(),
            "the native runtime tests run containers on the real kernel: run them as root"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let rt = NativeRuntime::open(&dir.path().join("root")).expect("open the native runtime");
        let tarball = busybox_rootfs(dir.path());
        let defaults = ContainerDefaults {
            cmd: Some(vec!["/bin/sh".to_string()]),
            env: Some(vec!["PATH=/bin".to_string(), "IMAGE_VAR=image".to_string()]),
            ..Default::default()
        };
        rt.import_image(&tarball, IMAGE, defaults)
            .await
            .expect("import the busybox rootfs");
        Native { dir, rt }
    }

    fn root(&self) -> &Path {
        self.rt.root()
    }

    /// Runs `cmd` in a new container to completion; returns (exit code, stdout, stderr).
    async fn run(&self, spec: ContainerSpec) -> (i64, String, String) {
        let id = self.rt.create_container(&spec).await.expect("create");
        self.rt.start_container(&id).await.expect("start");
        let code = self.rt.wait_container(&id).await.expect("wait");
        let (out, err) = self.output(&id).await;
        self.rt
            .remove_container(&id, true, true)
            .await
            .expect("remove");
        (code, out, err)
    }

    async fn output(&self, id: &str) -> (String, String) {
        let mut logs = self
            .rt
            .logs(id, &LogOptions::default())
            .await
            .expect("logs");
        let (mut out, mut err) = (String::new(), String::new());
        while let Some(chunk) = logs.next().await {
            let chunk = chunk.expect("log chunk");
            let text = String::from_utf8_lossy(&chunk.bytes);
            match chunk.stream {
                OutputStream::Stderr => err.push_str(&text),
                _ => out.push_str(&text),
            }
        }
        (out, err)
    }

    /// The hoist binary on this data root, in project directory `project`.
    fn command(&self, project: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.current_dir(project)
            .args(["--backend", "native", "--progress", "plain"])
            .args(args)
            .env("HOIST_ROOT", self.root())
            .env_remove("HOIST_BINARY")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the hoist binary on this data root in project directory `project`.
    fn hoist(&self, project: &Path, args: &[&str]) -> Output {
        self.command(project, args).output().expect("run hoist")
    }

    fn hoist_ok(&self, project: &Path, args: &[&str]) -> Output {
        let out = self.hoist(project, args);
        assert!(
            out.status.success(),
            "hoist {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Native {
    /// A failed test still leaves no running container, mount, namespace file or network
    /// behind.
    fn drop(&mut self) {
        native::remove_everything(self.root());
    }
}

fn sh(script: &str) -> ContainerSpec {
    ContainerSpec {
        image: IMAGE.to_string(),
        cmd: Some(vec!["sh".to_string(), "-c".to_string(), script.to_string()]),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_containers_exit_code_and_output_are_recorded() {
    let n = Native::new().await;
    let (code, out, err) = n.run(sh("echo hello; echo oops >&2; exit 3")).await;
    assert_eq!(code, 3);
    assert_eq!(out, "hello\n");
    assert_eq!(err, "oops\n");
    assert!(
        mounts_under(n.dir.path()).is_empty(),
        "{:?}",
        mounts_under(n.dir.path())
    );
}

#[tokio::test]
async fn env_user_workdir_and_entrypoint_follow_docker_semantics() {
    let n = Native::new().await;
    let spec = ContainerSpec {
        env: vec!["MINE=x".to_string()],
        user: Some("www".to_string()),
        working_dir: Some("/work/dir".to_string()),
        ..sh("echo $IMAGE_VAR $MINE $HOME; id -u; id -g; id -G; pwd; hostname")
    };
    let (code, out, err) = n.run(spec).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..5],
        ["image x /var/www", "33", "33", "33 50", "/work/dir"],
        "{out}"
    );
    assert_eq!(lines[5].len(), 12, "the hostname is the short id: {out}");

    // A new entrypoint drops the image's CMD; a given cmd follows the entrypoint.
    let entry = ContainerSpec {
        image: IMAGE.to_string(),
        entrypoint: Some(vec!["echo".to_string(), "entry".to_string()]),
        ..Default::default()
    };
    assert_eq!(n.run(entry.clone()).await.1, "entry\n");
    let with_cmd = ContainerSpec {
        cmd: Some(vec!["a".to_string(), "b".to_string()]),
        ..entry
    };
    assert_eq!(n.run(with_cmd).await.1, "entry a b\n");

    // Numeric users need no passwd entry; root is the default.
    let numeric = ContainerSpec {
        user: Some("1234:50".to_string()),
        ..sh("id -u; id -g")
    };
    assert_eq!(n.run(numeric).await.1, "1234\n50\n");
    assert_eq!(n.run(sh("id -u")).await.1, "0\n");
}

#[tokio::test]
async fn bind_mounts_are_seen_and_read_only_ones_refuse_writes() {
    let n = Native::new().await;
    let host = n.dir.path().join("host-src");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("hello.txt"), "from the host\n").unwrap();
    let bind = |read_only| Mount {
        target: "/mnt/host".to_string(),
        source: MountSource::Bind {
            path: host.display().to_string(),
            create_host_path: false,
            propagation: None,
            selinux: None,
        },
        read_only,
    };
    let spec = ContainerSpec {
        mounts: vec![bind(false)],
        ..sh("cat /mnt/host/hello.txt; echo back > /mnt/host/written.txt")
    };
    let (code, out, err) = n.run(spec).await;
    assert_eq!((code, out.as_str()), (0, "from the host\n"), "{err}");
    assert_eq!(
        std::fs::read_to_string(host.join("written.txt")).unwrap(),
        "back\n"
    );

    let spec = ContainerSpec {
        mounts: vec![bind(true)],
        ..sh("cat /mnt/host/hello.txt && touch /mnt/host/nope")
    };
    let (code, out, err) = n.run(spec).await;
    assert_eq!(out, "from the host\n");
    assert_ne!(code, 0, "a write to a read-only bind mount succeeded");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!host.join("nope").exists());
}

#[tokio::test]
async fn a_new_named_volume_is_filled_from_the_image_and_outlives_its_container() {
    let n = Native::new().await;
    let volume = |name: Option<&str>| Mount {
        target: "/srv/data".to_string(),
        source: MountSource::Volume {
            name: name.map(str::to_string),
            nocopy: false,
            subpath: None,
        },
        read_only: false,
    };
    let first = ContainerSpec {
        mounts: vec![volume(Some("data"))],
        ..sh("cat /srv/data/seed.txt; echo kept > /srv/data/new.txt")
    };
    let (code, out, err) = n.run(first).await;
    assert_eq!((code, out.as_str()), (0, "from the image\n"), "{err}");
    // The container is gone (removed with its anonymous volumes); the named one stays.
    let info =
        n.rt.inspect_volume("data")
            .await
            .expect("the volume survives");
    assert!(Path::new(&info.mountpoint).join("new.txt").is_file());
    let second = ContainerSpec {
        mounts: vec![volume(Some("data"))],
        ..sh("cat /srv/data/new.txt /srv/data/seed.txt")
    };
    assert_eq!(n.run(second).await.1, "kept\nfrom the image\n");

    // An anonymous volume is copied up too, and goes with its container.
    let anonymous = ContainerSpec {
        mounts: vec![volume(None)],
        ..sh("ls /srv/data")
    };
    assert_eq!(n.run(anonymous).await.1, "seed.txt\n");
    let names: Vec<String> =
        n.rt.list_volumes(&[])
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
    assert_eq!(names, ["data"]);
    n.rt.remove_volume("data", false).await.unwrap();
    assert!(!Path::new(&info.mountpoint).exists());
}

#[tokio::test]
async fn restart_on_failure_stops_after_its_retries_and_stop_is_final() {
    let n = Native::new().await;
    let spec = ContainerSpec {
        restart: RestartPolicy::OnFailure {
            max_retries: Some(2),
        },
        ..sh("echo run; exit 5")
    };
    let id = n.rt.create_container(&spec).await.unwrap();
    n.rt.start_container(&id).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info = n.rt.inspect_container(&id).await.unwrap();
        if info.state.status == ContainerStatus::Exited {
            assert_eq!(info.restart_count, 2);
            assert_eq!(info.state.exit_code, Some(5));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {:?}",
            info.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(n.output(&id).await.0, "run\nrun\nrun\n");
    n.rt.remove_container(&id, false, true).await.unwrap();

    // `always` restarts until stopped; a stop (TERM handled by the shell) is final.
    let spec = ContainerSpec {
        restart: RestartPolicy::Always,
        labels: BTreeMap::from([("hoist.test".to_string(), "restart".to_string())]),
        ..sh("trap 'exit 0' TERM; echo trapping; while :; do sleep 1 & wait; done")
    };
    let id = n.rt.create_container(&spec).await.unwrap();
    n.rt.start_container(&id).await.unwrap();
    // Stopped only once the shell handles TERM: before its `trap`, a TERM to the init
    // (pid 1, no handler) is ignored by the kernel, and the stop ends in a SIGKILL.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !n.output(&id).await.0.contains("trapping") {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell never set its trap"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let listed =
        n.rt.list_containers(&ContainerListOptions {
            all: false,
            labels: vec![LabelFilter::equals("hoist.test", "restart")],
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    n.rt.stop_container(&id, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    let info = n.rt.inspect_container(&id).await.unwrap();
    assert_eq!(info.state.status, ContainerStatus::Exited);
    assert_eq!(info.state.exit_code, Some(0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = n.rt.inspect_container(&id).await.unwrap();
    assert_eq!(
        info.state.status,
        ContainerStatus::Exited,
        "restarted after stop"
    );
    n.rt.remove_container(&id, false, true).await.unwrap();
    assert!(mounts_under(n.dir.path()).is_empty());
}

#[tokio::test]
async fn events_since_replay_every_run_of_a_restarting_container_in_order() {
    use hoist::runtime::{EventFilter, ObjectKind};
    let n = Native::new().await;
    let began = std::time::SystemTime::now();
    let spec = ContainerSpec {
        restart: RestartPolicy::OnFailure {
            max_retries: Some(2),
        },
        labels: BTreeMap::from([("hoist.test".to_string(), "replay".to_string())]),
        ..sh("exit 3")
    };
    let id = n.rt.create_container(&spec).await.unwrap();
    n.rt.start_container(&id).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while n.rt.inspect_container(&id).await.unwrap().state.status != ContainerStatus::Exited {
        assert!(std::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Subscribed after all three runs ended: `since` replays them, then streams new ones.
    let filter = EventFilter {
        labels: vec![LabelFilter::equals("hoist.test", "replay")],
        kinds: vec![ObjectKind::Container],
        since: Some(began),
    };
    let mut events = n.rt.events(&filter).await.expect("events since");
    let mut seen = Vec::new();
    while seen.len() < 7 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap_or_else(|_| panic!("only {seen:?} replayed"))
            .expect("the stream stays open")
            .expect("an event");
        assert_eq!(event.id, id);
        let code = event
            .attributes
            .get("exitCode")
            .cloned()
            .unwrap_or_default();
        seen.push(format!("{}{code}", event.action));
    }
    assert_eq!(
        seen,
        ["create", "start", "die3", "start", "die3", "start", "die3"]
    );
    // Without `since`, nothing of the past is reported; a new start is.
    let filter = EventFilter {
        since: None,
        ..filter
    };
    let mut events = n.rt.events(&filter).await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(300), events.next()).await;
    assert!(quiet.is_err(), "a past event was reported: {quiet:?}");
    n.rt.start_container(&id).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("the new start is reported")
        .unwrap()
        .unwrap();
    assert_eq!(first.action, "start");
    n.rt.remove_container(&id, true, true).await.unwrap();
}

const STACK: &str = r#"
services:
  web:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "echo web up; trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    volumes:
      - data:/srv/data
  worker:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "echo worker up; trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    environment:
      ROLE: worker
  cache:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    volumes:
      - /scratch
  tool:
    image: hoist-test/busybox:latest
    profiles: ["tools"]
    command: ["sh", "-c", "exit 7"]
volumes:
  data: {}
"#;

#[tokio::test]
async fn up_ps_logs_down_of_a_stack_leaves_nothing_behind() {
    let n = Native::new().await;
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("compose.yaml"), STACK).unwrap();
    let p = ["-p", "nativestack"];
    let args = |more: &[&'static str]| -> Vec<&str> {
        p.iter().copied().chain(more.iter().copied()).collect()
    };

    n.hoist_ok(project.path(), &args(&["up", "-d"]));
    let ps = n.hoist_ok(project.path(), &args(&["ps", "--format", "json"]));
    let ps = String::from_utf8_lossy(&ps.stdout);
    // One JSON object per line, as docker compose prints them.
    let rows = service_states(&ps);
    assert_eq!(
        rows,
        ["cache running", "web running", "worker running"],
        "{ps}"
    );
    let logs = n.hoist_ok(
        project.path(),
        &args(&["logs", "--no-color", "web", "worker"]),
    );
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(
        logs.contains("web up") && logs.contains("worker up"),
        "{logs}"
    );

    // A second hoist process follows the logs while a third stops the service: neither
    // holds the state database for long, and the follower ends when the container stops.
    let mut follower = n
        .command(
            project.path(),
            &args(&["logs", "-f", "--no-color", "worker"]),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hoist logs -f");
    std::thread::sleep(Duration::from_millis(300));
    n.hoist_ok(project.path(), &args(&["stop", "worker"]));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while follower.try_wait().expect("poll hoist logs -f").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = follower.kill();
            panic!("hoist logs -f did not end after the container stopped");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let followed = follower.wait_with_output().expect("hoist logs -f output");
    assert!(
        String::from_utf8_lossy(&followed.stdout).contains("worker up"),
        "{}",
        String::from_utf8_lossy(&followed.stderr)
    );

    let ids: Vec<String> =
        n.rt.list_containers(&ContainerListOptions {
            all: true,
            labels: vec![LabelFilter::equals(
                "com.docker.compose.project",
                "nativestack",
            )],
        })
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids.len(), 3);

    n.hoist_ok(project.path(), &args(&["down", "-v"]));
    let root = n.root().display().to_string();
    assert!(
        mounts_under(n.root()).is_empty(),
        "{:?}",
        mounts_under(n.root())
    );
    assert!(
        processes_mentioning(&root).is_empty(),
        "{:?}",
        processes_mentioning(&root)
    );
    let left: Vec<_> = std::fs::read_dir(n.root().join("containers"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "container directories left: {left:?}");
    for id in &ids {
        assert!(
            !Path::new("/run/hoist/netns").join(id).exists(),
            "netns of {id} left"
        );
        let cgroup = format!("/sys/fs/cgroup/memory/hoist/{}", &id[..16]);
        assert!(!Path::new(&cgroup).exists(), "{cgroup} left");
    }
    assert!(n.rt.list_volumes(&[]).await.unwrap().is_empty());
    assert!(n.rt.list_networks(&[]).await.unwrap().is_empty());
    assert!(n
        .rt
        .list_containers(&ContainerListOptions {
            all: true,
            labels: vec![]
        })
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn run_rm_returns_the_exit_code_and_removes_the_container() {
    let n = Native::new().await;
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("compose.yaml"), STACK).unwrap();
    let out = n.hoist(
        project.path(),
        &[
            "-p",
            "nativerun",
            "run",
            "--rm",
            "tool",
            "sh",
            "-c",
            "echo out; exit 7",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(n
        .rt
        .list_containers(&ContainerListOptions {
            all: true,
            labels: vec![]
        })
        .await
        .unwrap()
        .is_empty());
    assert!(mounts_under(n.root()).is_empty());
}

#[tokio::test]
async fn a_create_killed_half_way_is_swept_by_the_next_process() {
    let n = Native::new().await;
    // What a create killed after mounting and making the namespace leaves: a directory
    // marked by a dead process, a mount inside it, a namespace file, and no record.
    let mut child = Command::new("true").spawn().expect("spawn true");
    let dead = child.id();
    child.wait().expect("wait true");
    let id = "f".repeat(64);
    let dir = n.root().join("containers").join(&id);
    std::fs::create_dir_all(dir.join("merged")).unwrap();
    std::fs::write(dir.join("creating"), dead.to_string()).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(dir.join("merged"))
        .status()
        .expect("run mount");
    assert!(status.success());
    let ns = hoist::runtime::native::netns::netns_path(&id);
    hoist::runtime::native::netns::create(&ns).expect("create a netns file");

    let reopened = NativeRuntime::open(n.root()).expect("reopen the data root");
    assert!(
        !dir.exists(),
        "the half-created container's directory is left"
    );
    assert!(
        mounts_under(n.root()).is_empty(),
        "{:?}",
        mounts_under(n.root())
    );
    assert!(!ns.exists(), "its namespace file is left");
    // Real containers are untouched by the sweep.
    let (code, out, _) = n.run(sh("echo still fine")).await;
    assert_eq!((code, out.as_str()), (0, "still fine\n"));
    drop(reopened);
}

#[tokio::test]
async fn stop_sends_sigkill_after_the_grace_period_to_a_process_ignoring_sigterm() {
    let n = Native::new().await;
    let id =
        n.rt.create_container(&sh(
            "trap '' TERM; echo ready; while :; do sleep 1 & wait; done",
        ))
        .await
        .unwrap();
    n.rt.start_container(&id).await.unwrap();
    let started = std::time::Instant::now();
    n.rt.stop_container(&id, Some(Duration::from_millis(500)))
        .await
        .unwrap();
    let info = n.rt.inspect_container(&id).await.unwrap();
    assert_eq!(info.state.status, ContainerStatus::Exited);
    assert_eq!(info.state.exit_code, Some(137), "killed by SIGKILL");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "no grace given"
    );
    n.rt.remove_container(&id, false, true).await.unwrap();
}

#[tokio::test]
async fn a_container_whose_monitor_was_killed_can_still_be_stopped_and_removed_cleanly() {
    let n = Native::new().await;
    let id =
        n.rt.create_container(&sh("trap 'exit 0' TERM; while :; do sleep 1 & wait; done"))
            .await
            .unwrap();
    n.rt.start_container(&id).await.unwrap();
    let status: serde_json::Value = serde_json::from_slice(
        &std::fs::read(n.root().join("containers").join(&id).join("status.json")).unwrap(),
    )
    .unwrap();
    let monitor = status["monitor_pid"].as_i64().expect("a monitor pid") as i32;
    // SAFETY: kill(2) on the monitor this test started.
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    std::thread::sleep(Duration::from_millis(100));
    let info = n.rt.inspect_container(&id).await.unwrap();
    assert_eq!(
        info.state.status,
        ContainerStatus::Running,
        "the container outlives its monitor"
    );

    n.rt.stop_container(&id, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    let info = n.rt.inspect_container(&id).await.unwrap();
    assert_eq!(info.state.status, ContainerStatus::Exited);
    n.rt.remove_container(&id, false, true).await.unwrap();
    assert!(
        mounts_under(n.root()).is_empty(),
        "{:?}",
        mounts_under(n.root())
    );
    assert!(!Path::new("/run/hoist/netns").join(&id).exists());
    let cgroup = format!("/sys/fs/cgroup/memory/hoist/{}", &id[..16]);
    assert!(!Path::new(&cgroup).exists(), "{cgroup} left");
    assert!(!n.root().join("lc").join(&id[..16]).exists());
}

/// USER-STORIES story 1 with busybox stand-ins: "database" serves on the back network,
/// "backend" on back and front publishes a port, "other" is alone on its own network.
const NET_STACK: &str = r#"
services:
  database:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo hello-db > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: [back]
    extra_hosts: ["ext.example:10.1.2.3"]
  backend:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo hello-backend > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: ["127.0.0.1:${HOST_PORT}:8080"]
    networks: [back, front]
  other:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo hello-other > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: [isolated]
networks:
  back: {}
  front: {}
  isolated: {}
"#;

/// A TCP port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// `GET /` from the host, retried while the server inside comes up.
fn http_get(addr: &str) -> String {
    use std::io::{Read as _, Write as _};
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = std::net::TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        });
        match attempt {
            Ok(body) if !body.is_empty() => return body,
            _ if std::time::Instant::now() > deadline => {
                panic!("no HTTP answer on {addr}: {attempt:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

impl Native {
    /// The IPv4 address of container `name` on network `network`.
    async fn address(&self, name: &str, network: &str) -> String {
        let info = self.rt.inspect_container(name).await.expect("inspect");
        info.networks
            .get(network)
            .and_then(|e| e.ip_address.clone())
            .unwrap_or_else(|| panic!("{name} has no address on {network}: {:?}", info.networks))
    }

    /// stdout of `hoist run --rm SERVICE sh -c SCRIPT`.
    fn run_in(&self, project: &Path, p: &str, service: &str, script: &str) -> String {
        let out = self.hoist_ok(
            project,
            &["-p", p, "run", "--rm", service, "sh", "-c", script],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[tokio::test]
async fn a_stack_reaches_peers_by_name_publishes_ports_isolates_networks_and_down_cleans_all() {
    let n = Native::new().await;
    let project = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(project.path().join("compose.yaml"), NET_STACK).unwrap();
    std::fs::write(project.path().join(".env"), format!("HOST_PORT={port}\n")).unwrap();
    let p = "nativenet";
    let veths_before = links_with_prefix("hoistv");

    n.hoist_ok(project.path(), &["-p", p, "up", "-d"]);

    // The published port answers on 127.0.0.1, and `port` / `ps` show it.
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello-backend"));
    let shown = n.hoist_ok(project.path(), &["-p", p, "port", "backend", "8080"]);
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        format!("127.0.0.1:{port}")
    );
    let ps = n.hoist_ok(project.path(), &["-p", p, "ps"]);
    assert!(
        String::from_utf8_lossy(&ps.stdout).contains(&format!("127.0.0.1:{port}->8080/tcp")),
        "{}",
        String::from_utf8_lossy(&ps.stdout)
    );

    // The backend reaches the database by service name; nothing reaches "other" across
    // networks, even by address.
    let fetch = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc";
    let got = n.run_in(
        project.path(),
        p,
        "backend",
        &format!("{fetch} database 80"),
    );
    assert!(got.contains("hello-db"), "{got}");
    let other_ip = n.address("nativenet-other-1", "nativenet_isolated").await;
    let got = n.run_in(
        project.path(),
        p,
        "backend",
        &format!("{fetch} {other_ip} 80; echo done"),
    );
    assert!(
        !got.contains("hello-other") && got.contains("done"),
        "{got}"
    );
    let got = n.run_in(
        project.path(),
        p,
        "other",
        &format!("{fetch} {other_ip} 80; {fetch} database 80; echo done"),
    );
    assert!(
        got.contains("hello-other") && !got.contains("hello-db"),
        "{got}"
    );
    let hosts = n.run_in(project.path(), p, "database", "cat /etc/hosts");
    let gateway_line = hosts
        .lines()
        .find(|l| l.ends_with("host.docker.internal"))
        .unwrap_or_else(|| panic!("no host.docker.internal in {hosts}"));
    assert!(gateway_line.starts_with("10."), "{hosts}");
    assert!(hosts.contains("10.1.2.3\text.example\n"), "{hosts}");

    // A recreated database gets a new address (its old one is taken meanwhile); the
    // running backend's /etc/hosts follows.
    let backend = n.rt.inspect_container("nativenet-backend-1").await.unwrap();
    let old_ip = n.address("nativenet-database-1", "nativenet_back").await;
    n.hoist_ok(project.path(), &["-p", p, "rm", "-s", "-f", "database"]);
    let taken =
        n.rt.create_container(&ContainerSpec {
            name: "placeholder".to_string(),
            networks: vec![hoist::runtime::NetworkAttachment {
                network: "nativenet_back".to_string(),
                ..Default::default()
            }],
            ..sh("sleep 100")
        })
        .await
        .expect("create a container holding an address");
    n.hoist_ok(project.path(), &["-p", p, "up", "-d", "database"]);
    let new_ip = n.address("nativenet-database-1", "nativenet_back").await;
    n.rt.remove_container(&taken, true, true).await.unwrap();
    assert_ne!(old_ip, new_ip, "the recreated database kept its address");
    let backend_hosts =
        std::fs::read_to_string(n.root().join("containers").join(&backend.id).join("hosts"))
            .unwrap();
    assert!(
        backend_hosts
            .lines()
            .any(|l| l.starts_with(&format!("{new_ip}\t")) && l.contains("database")),
        "{backend_hosts}"
    );
    assert!(
        !backend_hosts.contains(&format!("{old_ip}\t")),
        "{backend_hosts}"
    );
    let got = n.run_in(
        project.path(),
        p,
        "backend",
        &format!("{fetch} database 80"),
    );
    assert!(got.contains("hello-db"), "{got}");

    // down -v: no bridge, veth, iptables rule or state row of the project is left.
    let mut bridges = Vec::new();
    let mut subnets = Vec::new();
    for net in ["back", "front", "isolated"] {
        let info = n.rt.inspect_network(&format!("{p}_{net}")).await.unwrap();
        bridges.push(format!("hoist-{}", &info.id[..9]));
        subnets.extend(info.subnets);
    }
    let veths: Vec<String> = links_with_prefix("hoistv")
        .into_iter()
        .filter(|v| !veths_before.contains(v))
        .collect();
    assert!(veths.len() >= 4, "{veths:?}");
    n.hoist_ok(project.path(), &["-p", p, "down", "-v"]);
    let links = links_with_prefix("hoist");
    for link in bridges.iter().chain(&veths) {
        assert!(!links.contains(link), "{link} left: {links:?}");
    }
    let mut rules = command_lines("iptables", &["-S"]);
    rules.extend(command_lines("iptables", &["-t", "nat", "-S"]));
    for needle in bridges.iter().chain(&subnets) {
        assert!(
            !rules.iter().any(|r| r.contains(needle.as_str())),
            "iptables rule for {needle} left: {rules:?}"
        );
    }
    assert!(n.rt.list_networks(&[]).await.unwrap().is_empty());
    assert!(n
        .rt
        .list_containers(&ContainerListOptions {
            all: true,
            labels: vec![]
        })
        .await
        .unwrap()
        .is_empty());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test]
async fn a_taken_host_port_fails_the_start_naming_the_container_and_port() {
    let n = Native::new().await;
    let project = tempfile::tempdir().unwrap();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().unwrap().port();
    std::fs::write(project.path().join("compose.yaml"), NET_STACK).unwrap();
    std::fs::write(project.path().join(".env"), format!("HOST_PORT={port}\n")).unwrap();
    let out = n.hoist(
        project.path(),
        &["-p", "nativetaken", "up", "-d", "backend"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("already in use")
            && stderr.contains(&port.to_string())
            && stderr.contains("backend"),
        "{stderr}"
    );
    n.hoist_ok(project.path(), &["-p", "nativetaken", "down", "-v"]);
    assert!(n.rt.list_networks(&[]).await.unwrap().is_empty());
}

const EXEC_STACK: &str = r#"
services:
  app:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    environment:
      FROM_SERVICE: service
"#;

#[tokio::test]
async fn exec_returns_output_exit_code_env_user_workdir_and_refuses_a_stopped_service() {
    let n = Native::new().await;
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("compose.yaml"), EXEC_STACK).unwrap();
    let p = ["-p", "nativeexec"];
    let args = |more: &[&'static str]| -> Vec<&str> {
        p.iter().copied().chain(more.iter().copied()).collect()
    };
    n.hoist_ok(project.path(), &args(&["up", "-d"]));

    let out = n.hoist(
        project.path(),
        &args(&[
            "exec",
            "-T",
            "-e",
            "EXTRA=given",
            "-u",
            "65534:65534",
            "-w",
            "/tmp",
            "app",
            "sh",
            "-c",
            "echo \"$FROM_SERVICE $EXTRA $(id -u):$(id -g) $(pwd)\"; echo oops >&2; exit 3",
        ]),
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "service given 65534:65534 /tmp\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"));

    // A command that does not exist: 127 and a message naming it, as Docker reports.
    let out = n.hoist(
        project.path(),
        &args(&["exec", "-T", "app", "no-such-command"]),
    );
    assert_eq!(out.status.code(), Some(127));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-command"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The command sees the container's processes: it is in its pid namespace.
    let out = n.hoist_ok(
        project.path(),
        &args(&["exec", "-T", "app", "cat", "/proc/1/cmdline"]),
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sh"));

    n.hoist_ok(project.path(), &args(&["stop", "app"]));
    let out = n.hoist(project.path(), &args(&["exec", "-T", "app", "true"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not running"), "{stderr}");
    n.hoist_ok(project.path(), &args(&["down"]));
}

const HEALTH_STACK: &str = r#"
services:
  db:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while :; do sleep 1 & wait; done"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready && echo ready"]
      interval: 1s
      timeout: 5s
      retries: 30
  app:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    depends_on:
      db:
        condition: service_healthy
"#;

#[tokio::test]
async fn a_service_healthy_dependency_gates_up_and_health_is_inspectable() {
    let n = Native::new().await;
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("compose.yaml"), HEALTH_STACK).unwrap();
    let p = ["-p", "nativehealth"];
    let args = |more: &[&'static str]| -> Vec<&str> {
        p.iter().copied().chain(more.iter().copied()).collect()
    };
    n.hoist_ok(project.path(), &args(&["up", "-d", "--wait"]));
    let db =
        n.rt.inspect_container("nativehealth-db-1")
            .await
            .expect("inspect db");
    let health = db.state.health.expect("db has a health record");
    assert_eq!(health.status, HealthStatus::Healthy, "{health:?}");
    let last = health.log.last().expect("a probe was recorded");
    assert_eq!(last.exit_code, 0);
    assert_eq!(last.output, "ready\n");
    let app =
        n.rt.inspect_container("nativehealth-app-1")
            .await
            .expect("inspect app");
    assert!(app.state.running, "app starts once db is healthy");
    assert!(app.state.health.is_none());
    let ps = n.hoist_ok(project.path(), &args(&["ps", "db"]));
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(ps.contains("(healthy)"), "{ps}");
    n.hoist_ok(project.path(), &args(&["down"]));
}

const UNHEALTHY_STACK: &str = r#"
services:
  db:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    healthcheck:
      test: ["CMD", "sh", "-c", "echo not yet; exit 1"]
      interval: 200ms
      retries: 2
  app:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
    depends_on:
      db:
        condition: service_healthy
"#;

#[tokio::test]
async fn an_unhealthy_dependency_fails_up_clearly() {
    let n = Native::new().await;
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("compose.yaml"), UNHEALTHY_STACK).unwrap();
    let p = ["-p", "nativesick"];
    let args = |more: &[&'static str]| -> Vec<&str> {
        p.iter().copied().chain(more.iter().copied()).collect()
    };
    let out = n.hoist(project.path(), &args(&["up", "-d"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unhealthy"), "{stderr}");
    let db =
        n.rt.inspect_container("nativesick-db-1")
            .await
            .expect("inspect db");
    let health = db.state.health.expect("db has a health record");
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert!(health.failing_streak >= 2, "{health:?}");
    assert_eq!(
        health.log.last().map(|p| p.output.as_str()),
        Some("not yet\n")
    );
    let app = n.rt.inspect_container("nativesick-app-1").await;
    assert!(
        app.map(|a| !a.state.running).unwrap_or(true),
        "app must not start"
    );
    n.hoist_ok(project.path(), &args(&["down"]));
}

const COUNTER_STACK: &str = r#"
services:
  app:
    image: hoist-test/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while :; do i=$$((i+1)); echo $$i >> /tmp/count; sleep 0.1; done"]
    volumes:
      - data:/data
      - ./ro:/ro:ro
volumes:
  data: {}
"#;

/// The counter the container writes, read with `hoist cp` (it works on a paused container).
fn read_counter(n: &Native, project: &Path) -> u64 {
    let out = n.hoist_ok(project, &["-p", "nativeops", "cp", "app:/tmp/count", "-"]);
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let mut entry = archive
        .entries()
        .expect("tar of /tmp/count")
        .next()
        .expect("one entry")
        .expect("entry");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).expect("read the counter");
    // Appended lines: a freeze between an open and its write cannot leave it empty.
    text.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("a counter in {text:?}"))
}

#[tokio::test]
async fn cp_both_ways_top_and_pause_unpause_on_native() {
    let n = Native::new().await;
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("compose.yaml"), COUNTER_STACK).unwrap();
    std::fs::create_dir(project.path().join("ro")).unwrap();
    let p = ["-p", "nativeops"];
    let args = |more: &[&'static str]| -> Vec<&str> {
        p.iter().copied().chain(more.iter().copied()).collect()
    };
    n.hoist_ok(project.path(), &args(&["up", "-d"]));

    // cp in: a file to the rootfs and a directory into the volume; read back with exec.
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("hello.txt"), "hello native\n").unwrap();
    std::fs::create_dir(host.path().join("tree")).unwrap();
    std::fs::write(host.path().join("tree/leaf"), "leaf\n").unwrap();
    let file = host.path().join("hello.txt");
    let tree = host.path().join("tree");
    let file_arg = file.to_str().unwrap();
    let tree_arg = tree.to_str().unwrap();
    n.hoist_ok(
        project.path(),
        &["-p", "nativeops", "cp", file_arg, "app:/etc/hello.txt"],
    );
    n.hoist_ok(
        project.path(),
        &["-p", "nativeops", "cp", tree_arg, "app:/data/"],
    );
    let out = n.hoist_ok(
        project.path(),
        &args(&[
            "exec",
            "-T",
            "app",
            "cat",
            "/etc/hello.txt",
            "/data/tree/leaf",
        ]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello native\nleaf\n");

    // A read-only mount refuses, and says so.
    let out = n.hoist(
        project.path(),
        &["-p", "nativeops", "cp", file_arg, "app:/ro/"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("read-only"), "{stderr}");
    assert!(!project.path().join("ro/hello.txt").exists());

    // cp out: a file the container wrote, and a directory.
    n.hoist_ok(
        project.path(),
        &args(&[
            "exec",
            "-T",
            "app",
            "sh",
            "-c",
            "mkdir -p /srv/out && echo made > /srv/out/f",
        ]),
    );
    let back = host.path().join("back");
    n.hoist_ok(
        project.path(),
        &[
            "-p",
            "nativeops",
            "cp",
            "app:/srv/out",
            back.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read_to_string(back.join("f")).unwrap(), "made\n");
    // A container symlink pointing at the host's root stays inside the container.
    n.hoist_ok(
        project.path(),
        &args(&["exec", "-T", "app", "ln", "-s", "/", "/escape"]),
    );
    n.hoist_ok(
        project.path(),
        &["-p", "nativeops", "cp", file_arg, "app:/escape/tmp/"],
    );
    let out = n.hoist_ok(
        project.path(),
        &args(&["exec", "-T", "app", "cat", "/tmp/hello.txt"]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello native\n");

    // top lists the container's processes, Docker's `ps -ef` columns.
    let top = n.hoist_ok(project.path(), &args(&["top"]));
    let top = String::from_utf8_lossy(&top.stdout);
    assert!(top.contains("PID") && top.contains("CMD"), "{top}");
    assert!(top.contains("while :"), "{top}");

    // pause freezes: the counter stops; unpause resumes it.
    n.hoist_ok(project.path(), &args(&["pause", "app"]));
    let info = n.rt.inspect_container("nativeops-app-1").await.unwrap();
    assert_eq!(info.state.status, ContainerStatus::Paused);
    assert!(info.state.paused && info.state.running);
    let frozen = read_counter(&n, project.path());
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        read_counter(&n, project.path()),
        frozen,
        "paused, the counter must not move"
    );
    n.hoist_ok(project.path(), &args(&["unpause", "app"]));
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        read_counter(&n, project.path()) > frozen,
        "unpaused, the counter moves again"
    );

    // A paused container still stops.
    n.hoist_ok(project.path(), &args(&["pause", "app"]));
    n.hoist_ok(project.path(), &args(&["down", "-v"]));
}

#[tokio::test]
async fn exec_with_a_tty_gets_a_terminal_that_resizes() {
    let n = Native::new().await;
    let id =
        n.rt.create_container(&sh("trap 'exit 0' TERM; while :; do sleep 1 & wait; done"))
            .await
            .expect("create");
    n.rt.start_container(&id).await.expect("start");
    let spec = ExecSpec {
        cmd: [
            "sh",
            "-c",
            "test -t 0 && echo is-a-tty; sleep 0.5; stty size",
        ]
        .map(String::from)
        .to_vec(),
        tty: true,
        ..Default::default()
    };
    let mut session = n.rt.exec(&id, &spec).await.expect("exec with a tty");
    n.rt.resize_exec(
        &session.id,
        TtySize {
            rows: 40,
            cols: 100,
        },
    )
    .await
    .expect("resize");
    let mut output = String::new();
    while let Some(chunk) = session.io.output.next().await {
        let chunk = chunk.expect("output");
        assert_eq!(chunk.stream, OutputStream::Console);
        output.push_str(&String::from_utf8_lossy(&chunk.bytes));
    }
    assert_eq!(output.replace('\r', ""), "is-a-tty\n40 100\n");
    let mut code = None;
    for _ in 0..100 {
        code = n.rt.exec_exit_code(&session.id).await.expect("exit code");
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(code, Some(0));
    n.rt.remove_container(&id, true, true)
        .await
        .expect("remove");
}

#[tokio::test]
async fn attach_with_logs_to_a_tty_container_replays_its_output_once_then_streams_live() {
    let n = Native::new().await;
    let spec = ContainerSpec {
        tty: true,
        // A whole line, then half of one (not in the log yet: the seam), then, once told
        // to, the rest.
        ..sh("echo before-attach; printf half-; \
              while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after-attach")
    };
    let id = n.rt.create_container(&spec).await.expect("create");
    n.rt.start_container(&id).await.expect("start");
    let mut logged = String::new();
    for _ in 0..200 {
        logged = n.output(&id).await.0;
        if logged.contains("before-attach") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(logged.contains("before-attach"), "{logged:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let with_logs = AttachOptions {
        logs: true,
        ..AttachOptions::default()
    };
    let mut io =
        n.rt.attach_container(&id, &with_logs)
            .await
            .expect("attach");
    let mut session =
        n.rt.exec(
            &id,
            &ExecSpec {
                cmd: ["touch", "/tmp/go"].map(String::from).to_vec(),
                ..Default::default()
            },
        )
        .await
        .expect("exec");
    while session.io.output.next().await.is_some() {}
    let mut output = String::new();
    while let Some(chunk) = io.output.next().await {
        let chunk = chunk.expect("output");
        assert_eq!(chunk.stream, OutputStream::Console);
        output.push_str(&String::from_utf8_lossy(&chunk.bytes));
    }
    let expected = "before-attach\nhalf-after-attach\n";
    assert_eq!(output.replace('\r', ""), expected);
    assert_eq!(n.rt.wait_container(&id).await.expect("wait"), 0);

    // Attached once it exited: the whole log, then the end; `logs` shows the same.
    let mut io =
        n.rt.attach_container(&id, &with_logs)
            .await
            .expect("attach");
    let mut replayed = String::new();
    while let Some(chunk) = io.output.next().await {
        replayed.push_str(&String::from_utf8_lossy(&chunk.expect("output").bytes));
    }
    assert_eq!(replayed.replace('\r', ""), expected);
    assert_eq!(n.output(&id).await.0.replace('\r', ""), expected);
    n.rt.remove_container(&id, true, true)
        .await
        .expect("remove");
}

/// The seccomp lines of `/proc/self/status` and the outcome of `unshare -U true`: creating
/// a user namespace needs no capability, so only the seccomp filter (Docker's default
/// profile allows `unshare` only with CAP_SYS_ADMIN) makes it fail, with EPERM.
const SECCOMP_PROBE: &str =
    "grep -E '^Seccomp(_filters)?:' /proc/self/status; unshare -U true && echo unshare-ok";

fn seccomp_probe(spec: ContainerSpec) -> ContainerSpec {
    ContainerSpec {
        cmd: Some(["sh", "-c", SECCOMP_PROBE].map(String::from).to_vec()),
        ..spec
    }
}

#[tokio::test]
async fn containers_run_under_dockers_default_seccomp_profile_unless_unconfined() {
    let n = Native::new().await;
    let confined = "Seccomp:\t2\nSeccomp_filters:\t1\n";

    let (code, out, err) = n.run(seccomp_probe(sh(""))).await;
    assert_eq!((code, out.as_str()), (1, confined), "stderr: {err}");
    assert!(err.contains("Operation not permitted"), "{err}");

    // The filter is loaded by hoist with two capabilities more, dropped again before the
    // command runs: it has exactly Docker's default set (0xa80425fb), as root and as
    // another user (who has none effective), and the filter.
    let status = "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp):' /proc/self/status";
    let (code, out, err) = n.run(sh(status)).await;
    let default_set = "00000000a80425fb";
    assert_eq!(
        (code, out),
        (
            0,
            format!(
                "CapInh:\t0000000000000000\nCapPrm:\t{default_set}\nCapEff:\t{default_set}\n\
                 CapBnd:\t{default_set}\nCapAmb:\t0000000000000000\nSeccomp:\t2\n"
            )
        ),
        "stderr: {err}"
    );
    let (code, out, err) = n
        .run(ContainerSpec {
            user: Some("65534:65534".to_string()),
            ..sh(status)
        })
        .await;
    let none = "0000000000000000";
    assert_eq!(
        (code, out),
        (
            0,
            format!(
                "CapInh:\t{none}\nCapPrm:\t{none}\nCapEff:\t{none}\nCapBnd:\t{default_set}\n\
                 CapAmb:\t{none}\nSeccomp:\t2\n"
            )
        ),
        "stderr: {err}"
    );

    // `privileged: true` runs unconfined, with every capability hoist itself holds (here
    // that is not all of them: a privileged set beyond the bounding set would fail to start).
    let bounding = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap();
    let (code, out, err) = n
        .run(ContainerSpec {
            privileged: true,
            ..sh("grep -E '^(CapEff|Seccomp):' /proc/self/status")
        })
        .await;
    assert_eq!(
        (code, out),
        (0, format!("CapEff:\t{bounding}\nSeccomp:\t0\n")),
        "stderr: {err}"
    );
    for opt in ["seccomp=unconfined", "seccomp:unconfined"] {
        let spec = seccomp_probe(ContainerSpec {
            security_opt: vec![opt.to_string()],
            ..sh("")
        });
        let (code, out, err) = n.run(spec).await;
        assert_eq!(
            (code, out.as_str()),
            (0, "Seccomp:\t0\nSeccomp_filters:\t0\nunshare-ok\n"),
            "stderr: {err}"
        );
    }

    // CAP_SYS_ADMIN opens the profile's namespace and mount syscalls, still filtered.
    let (code, out, err) = n
        .run(seccomp_probe(ContainerSpec {
            cap_add: vec!["SYS_ADMIN".to_string()],
            ..sh("")
        }))
        .await;
    assert_eq!(
        (code, out),
        (0, format!("{confined}unshare-ok\n")),
        "stderr: {err}"
    );

    // A custom profile in Docker's format (as compose passes it: the file's JSON).
    let profile = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#;
    let (code, out, err) = n
        .run(ContainerSpec {
            security_opt: vec![format!("seccomp={profile}")],
            ..sh("grep -E '^Seccomp:' /proc/self/status; unshare -U true && mkdir /tmp/x")
        })
        .await;
    assert_eq!((code, out.as_str()), (1, "Seccomp:\t2\n"), "stderr: {err}");
    assert!(err.contains("Permission denied"), "{err}");

    // A bad option is refused at create, saying what is accepted.
    let err =
        n.rt.create_container(&ContainerSpec {
            security_opt: vec!["seccomp=/no/such/profile.json".to_string()],
            ..sh("true")
        })
        .await
        .expect_err("an unreadable profile is refused");
    assert!(err.to_string().contains("unconfined"), "{err}");
}

/// Signal dispositions and mask of the process reading `/proc/self/status`.
const SIGNALS: &str = "grep -E '^Sig(Blk|Ign):' /proc/self/status";
const DEFAULT_SIGNALS: &str = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n";

#[tokio::test]
async fn containers_start_with_every_signal_at_its_default_as_under_docker() {
    // As `nohup` or a non-interactive shell's `&` leave it: an ignored signal would
    // survive every execve down to the container (and a shell cannot trap a signal ignored
    // when it started). hoist's own SIGPIPE (ignored by Rust's runtime) must not leak either.
    // SAFETY: changing this test process's disposition of SIGHUP, which nothing here uses.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    let n = Native::new().await;
    let grep = ContainerSpec {
        cmd: Some(
            ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]
                .map(String::from)
                .to_vec(),
        ),
        ..sh("")
    };
    for spec in [
        grep.clone(),
        ContainerSpec {
            security_opt: vec!["seccomp=unconfined".to_string()],
            ..grep
        },
    ] {
        let (code, out, err) = n.run(spec).await;
        assert_eq!((code, out.as_str()), (0, DEFAULT_SIGNALS), "stderr: {err}");
    }
}

#[tokio::test]
async fn exec_runs_under_the_containers_filter_with_the_containers_capabilities() {
    let n = Native::new().await;
    let exec = |id: String, cmd: &'static str, user: Option<&str>| {
        let spec = ExecSpec {
            cmd: ["sh", "-c", cmd].map(String::from).to_vec(),
            user: user.map(str::to_string),
            ..Default::default()
        };
        let rt = &n.rt;
        async move {
            let mut session = rt.exec(&id, &spec).await.expect("exec");
            let (mut out, mut err) = (String::new(), String::new());
            while let Some(chunk) = session.io.output.next().await {
                let chunk = chunk.expect("output");
                let text = String::from_utf8_lossy(&chunk.bytes);
                match chunk.stream {
                    OutputStream::Stderr => err.push_str(&text),
                    _ => out.push_str(&text),
                }
            }
            let mut code = None;
            for _ in 0..250 {
                code = rt.exec_exit_code(&session.id).await.expect("exit code");
                if code.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (code, out, err)
        }
    };
    let forever = "trap 'exit 0' TERM; while :; do sleep 1 & wait; done";
    for (spec, filter) in [
        (sh(forever), "Seccomp:\t2\nSeccomp_filters:\t1\n"),
        (
            ContainerSpec {
                security_opt: vec!["seccomp=unconfined".to_string()],
                ..sh(forever)
            },
            "Seccomp:\t0\nSeccomp_filters:\t0\n",
        ),
    ] {
        let id = n.rt.create_container(&spec).await.expect("create");
        n.rt.start_container(&id).await.expect("start");
        // busybox sh runs its last command in place with SIGQUIT ignored (0x4), as
        // `docker exec … sh -c` shows too; nothing else is ignored.
        let (code, out, err) = exec(id.clone(), SIGNALS, None).await;
        assert_eq!(
            (code, out.as_str()),
            (
                Some(0),
                "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000004\n"
            ),
            "stderr: {err}"
        );
        let (code, out, err) = exec(id.clone(), SECCOMP_PROBE, None).await;
        let expected = if filter.contains('2') {
            (Some(1), filter.to_string())
        } else {
            (Some(0), format!("{filter}unshare-ok\n"))
        };
        assert_eq!((code, out), expected, "stderr: {err}");
        // The capabilities the filter needed while loading are gone again: the exec'd
        // process has exactly the container's, as root and as another user.
        let caps = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status; \
                    grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/1/status";
        let (code, out, err) = exec(id.clone(), caps, None).await;
        assert_eq!(code, Some(0), "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 10, "{out}");
        assert_eq!(lines[..5], lines[5..], "exec vs init:\n{out}");
        let (code, out, err) = exec(
            id.clone(),
            "grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status",
            Some("65534:65534"),
        )
        .await;
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
        assert!(out.contains(&filter[..11]), "{out}");
        n.rt.remove_container(&id, true, true)
            .await
            .expect("remove");
    }
}

#[tokio::test]
async fn a_compose_seccomp_profile_file_is_applied_and_a_missing_one_is_a_clear_error() {
    let n = Native::new().await;
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("compose.yaml"),
        r#"
services:
  tool:
    image: hoist-test/busybox:latest
    security_opt: ["seccomp=profiles/no-mkdir.json"]
  broken:
    image: hoist-test/busybox:latest
    security_opt: ["seccomp=profiles/missing.json"]
"#,
    )
    .unwrap();
    std::fs::create_dir(project.path().join("profiles")).unwrap();
    std::fs::write(
        project.path().join("profiles/no-mkdir.json"),
        r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
}"#,
    )
    .unwrap();
    let run = |service: &str, script: &str| {
        let args = [
            "-p",
            "nativeseccomp",
            "run",
            "--rm",
            service,
            "sh",
            "-c",
            script,
        ];
        n.hoist(project.path(), &args)
    };
    let out = run("tool", "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Seccomp:\t2\n");
    assert!(stderr.contains("Permission denied"), "{stderr}");

    let out = run("broken", "true");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("security_opt") && stderr.contains("missing.json"),
        "{stderr}"
    );
}

/// A device node this test makes on the host (a second /dev/null), removed on drop.
struct HostDevice(std::path::PathBuf);

impl HostDevice {
    fn null_at(name: &str) -> HostDevice {
        let path = std::path::PathBuf::from(format!("/dev/{name}"));
        let _ = std::fs::remove_file(&path);
        nix::sys::stat::mknod(
            &path,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .expect("mknod a test device on the host (needs root)");
        HostDevice(path)
    }
}

impl Drop for HostDevice {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn devices_are_mapped_as_asked_and_privileged_containers_get_the_hosts() {
    let n = Native::new().await;
    let name = format!("hoist-test-dev-{}", std::process::id());
    let device = HostDevice::null_at(&name);
    let host_path = device.0.display().to_string();
    let probe = "ls -l /dev/mine 2>&1; echo written > /dev/mine && echo write-ok";

    // `devices: [<host>:/dev/mine:rw]`: the node, usable.
    let (code, out, _) = n
        .run(ContainerSpec {
            devices: vec![DeviceMapping {
                host_path: host_path.clone(),
                container_path: "/dev/mine".to_string(),
                permissions: "rw".to_string(),
            }],
            ..sh(probe)
        })
        .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 1,   3 ") || out.contains(" 1, 3 "), "{out}");
    assert!(out.contains("write-ok"), "{out}");

    // Not mapped, not privileged: not there.
    let script = format!("test -e /dev/{name} && echo present || echo absent");
    let (_, out, _) = n.run(sh(&script)).await;
    assert_eq!(out.trim(), "absent");
    // Nor can a node the container makes itself (it may mknod) be opened: the device
    // cgroup denies all but the mapped and standard devices, as Docker's.
    let (_, out, err) = n
        .run(sh(
            "mknod /dev/xloop b 7 0 && head -c 1 /dev/xloop; echo done",
        ))
        .await;
    assert!(err.contains("Operation not permitted"), "{out}{err}");

    // Privileged: every device of the host's /dev, this one included, and usable.
    let script = format!("echo x > /dev/{name} && echo present-and-writable");
    let (code, out, err) = n
        .run(ContainerSpec {
            privileged: true,
            ..sh(&script)
        })
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "present-and-writable");

    // A path that is not a device is refused when the container is created, by name.
    let e =
        n.rt.create_container(&ContainerSpec {
            devices: vec![DeviceMapping {
                host_path: "/etc/hostname".to_string(),
                container_path: String::new(),
                permissions: String::new(),
            }],
            ..sh("true")
        })
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("/etc/hostname is not a character or block device"),
        "{e}"
    );
}
