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
    ContainerListOptions, ContainerSpec, ContainerStatus, LabelFilter, LogOptions, Mount,
    MountSource, OutputStream, RestartPolicy, Runtime,
};

const IMAGE: &str = "hoist-test/busybox:latest";
#[path = "common/busybox.rs"]
mod busybox;
use busybox::busybox_rootfs;

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
    /// A failed test still leaves no running container, mount or namespace file behind.
    fn drop(&mut self) {
        let rt = self.rt.clone();
        let _ = std::thread::spawn(move || {
            let Ok(tokio_rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            tokio_rt.block_on(async {
                let all = ContainerListOptions {
                    all: true,
                    labels: vec![],
                };
                for c in rt.list_containers(&all).await.unwrap_or_default() {
                    let _ = rt.remove_container(&c.id, true, true).await;
                }
            });
        })
        .join();
    }
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn sh(script: &str) -> ContainerSpec {
    ContainerSpec {
        image: IMAGE.to_string(),
        cmd: Some(vec!["sh".to_string(), "-c".to_string(), script.to_string()]),
        ..Default::default()
    }
}

/// Mount points under `dir` in the host's mount table.
fn mounts_under(dir: &Path) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let prefix = dir.display().to_string();
    table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Processes whose command line mentions `needle` (monitors carry the data root).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!("{name}: {cmdline}"));
            }
        }
    }
    found
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
        ..sh("trap 'exit 0' TERM; while :; do sleep 1 & wait; done")
    };
    let id = n.rt.create_container(&spec).await.unwrap();
    n.rt.start_container(&id).await.unwrap();
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
    let mut rows: Vec<String> = ps
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("ps json line");
            format!(
                "{} {}",
                v["Service"].as_str().unwrap_or("?"),
                v["State"].as_str().unwrap_or("?")
            )
        })
        .collect();
    rows.sort();
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
