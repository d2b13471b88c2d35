//! The native runtime's containers on the real kernel, as root, with no Docker involved:
//! each test has its own data root (`HOIST_ROOT`) holding a busybox image imported from
//! Debian's static busybox, drives the library or the `hoist` binary, and checks what the
//! container did and what it left behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
const BUSYBOX: &str = "/bin/busybox";

/// The hoist binary is the monitor the library re-executes.
fn use_hoist_binary() {
    static SET: Once = Once::new();
    SET.call_once(|| std::env::set_var("HOIST_BINARY", env!("CARGO_BIN_EXE_hoist")));
}

/// A rootfs tarball of Debian's static busybox: the binary, its applets as symlinks, /tmp,
/// and passwd/group files with a non-root user.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let binary = std::fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("these tests need {BUSYBOX} ({e}): apt-get install -y busybox-static")
    });
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("run busybox --list");
    let mut tar = tar::Builder::new(Vec::new());
    let mut add_dir = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_cksum();
        tar.append_data(&mut h, path, &[][..]).expect("tar dir");
    };
    for (d, mode) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
    ] {
        add_dir(&mut tar, d, mode);
    }
    add_dir(&mut tar, "srv/data", 0o755);
    let mut file = |tar: &mut tar::Builder<Vec<u8>>, path: &str, content: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        tar.append_data(&mut h, path, content).expect("tar file");
    };
    file(&mut tar, "bin/busybox", &binary, 0o755);
    file(
        &mut tar,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
        0o644,
    );
    file(
        &mut tar,
        "etc/group",
        b"root:x:0:\nwww:x:33:\nstaff:x:50:www\n",
        0o644,
    );
    // Content a new volume on /srv/data is filled with.
    file(&mut tar, "srv/data/seed.txt", b"from the image\n", 0o644);
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("tar link");
    }
    let path = dir.join("busybox-rootfs.tar");
    std::fs::write(&path, tar.into_inner().expect("finish tar")).expect("write rootfs tar");
    path
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

    /// Runs the hoist binary on this data root in project directory `project`.
    fn hoist(&self, project: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hoist"))
            .current_dir(project)
            .args(["--backend", "native", "--progress", "plain"])
            .args(args)
            .env("HOIST_ROOT", self.root())
            .env_remove("HOIST_BINARY")
            .stdin(Stdio::null())
            .output()
            .expect("run hoist")
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
