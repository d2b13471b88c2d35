//! A compose project on the native backend: a project directory and a data root
//! (`HOIST_ROOT`) of its own in temporary directories, the busybox rootfs imported there as
//! `hoist-test/busybox:latest` (the image the docker-backend tests build), the real `hoist`
//! binary, and a teardown that leaves no container, monitor, mount or network behind,
//! pass or fail. Needs root and the real kernel; never skips.
//!
//! Include it next to `busybox.rs` from the test crate's root:
//! `#[path = "common/busybox.rs"] mod busybox;` and `#[path = "common/native.rs"] mod native;`.
//!
//! Not for: the docker backend (`stack.rs`).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;

use hoist::runtime::native::NativeRuntime;
use hoist::runtime::{ContainerListOptions, ExecSpec, Runtime};

/// The image name the tests' compose files use, on both backends.
pub const IMAGE: &str = "hoist-test/busybox:latest";

pub struct NativeStack {
    pub dir: tempfile::TempDir,
    /// Holds the data root (`root/`) and the imported rootfs tarball.
    data: tempfile::TempDir,
    pub name: String,
    /// For the library calls that check the containers (exec, inspect, list).
    tokio: tokio::runtime::Runtime,
    rt: NativeRuntime,
}

impl NativeStack {
    /// A new project named `name` (unique per test), with the busybox image imported.
    pub fn new(name: &str) -> NativeStack {
        // SAFETY: geteuid has no preconditions.
        assert!(
            unsafe { libc::geteuid() } == 0,
            "the native-backend tests mount overlays and run containers: run them as root"
        );
        // Library execs re-execute the hoist binary as their helper.
        static SET: Once = Once::new();
        SET.call_once(|| std::env::set_var("HOIST_BINARY", env!("CARGO_BIN_EXE_hoist")));
        let data = tempfile::tempdir().expect("temp dir");
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let rt = NativeRuntime::open(&data.path().join("root")).expect("open the native runtime");
        let stack = NativeStack {
            dir: tempfile::tempdir().expect("temp dir"),
            data,
            name: name.to_string(),
            tokio,
            rt,
        };
        let tarball = crate::busybox::busybox_rootfs(stack.data.path());
        let tarball = tarball.to_string_lossy().into_owned();
        let out = stack
            .hoist()
            .args(["image", "import", &tarball, IMAGE])
            .args(["--change", "ENV PATH=/bin", "--change", "CMD [\"/bin/sh\"]"])
            .output()
            .expect("run hoist image import");
        assert!(
            out.status.success(),
            "cannot import the busybox rootfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stack
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The data root (`HOIST_ROOT`).
    pub fn root(&self) -> PathBuf {
        self.data.path().join("root")
    }

    /// Writes a file of the project (parents created).
    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.dir.path().join(rel);
        let dir = path.parent().expect("a file below the project directory");
        std::fs::create_dir_all(dir).expect("create dir");
        std::fs::write(&path, content).expect("write file");
        self
    }

    /// hoist on this data root, in the project directory, no project options.
    fn hoist(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.current_dir(self.dir.path())
            .args(["--backend", "native", "--progress", "plain"])
            .env("HOIST_ROOT", self.root())
            // The binary is its own monitor and exec helper.
            .env_remove("HOIST_BINARY")
            .stdin(Stdio::null());
        cmd
    }

    /// hoist with `args` on this project.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.hoist();
        cmd.args(["-p", &self.name]).args(args);
        cmd
    }

    /// `sh -c script` in container `container`: its trimmed stdout (empty when it fails).
    pub fn sh(&self, container: &str, script: &str) -> String {
        let spec = ExecSpec {
            cmd: vec!["sh".into(), "-c".into(), script.into()],
            ..ExecSpec::default()
        };
        match self.tokio.block_on(self.rt.exec_collect(container, &spec)) {
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
            Err(_) => String::new(),
        }
    }

    /// Id of container `name`, or empty when it does not exist.
    pub fn container_id(&self, name: &str) -> String {
        self.tokio
            .block_on(self.rt.inspect_container(name))
            .map(|c| c.id)
            .unwrap_or_default()
    }

    /// Whether container `name` runs.
    pub fn running(&self, name: &str) -> bool {
        self.tokio
            .block_on(self.rt.inspect_container(name))
            .is_ok_and(|c| c.state.running)
    }

    /// Names of the data root's containers, sorted.
    pub fn containers(&self) -> Vec<String> {
        let all = ContainerListOptions {
            all: true,
            labels: vec![],
        };
        let list = self.tokio.block_on(self.rt.list_containers(&all));
        let names: BTreeSet<String> = list
            .expect("list containers")
            .into_iter()
            .map(|c| c.name)
            .collect();
        names.into_iter().collect()
    }
}

impl Drop for NativeStack {
    fn drop(&mut self) {
        let _ = self
            .command(&["down", "-v", "--remove-orphans", "-t", "0"])
            .output();
        // Whatever `down` could not remove (a failing test may have broken the project).
        remove_everything(&self.root());
    }
}

/// Removes every container (with its monitor, mounts and namespace files) and every
/// network (bridge, veths, iptables rules) of data root `root`, so a failed test leaves
/// nothing behind. On a thread and tokio runtime of its own: a caller's runtime may hold
/// the networks' kernel connection and be blocked here.
pub fn remove_everything(root: &Path) {
    let root = root.to_path_buf();
    let _ = std::thread::spawn(move || {
        let Ok(tokio) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        tokio.block_on(async {
            let Ok(rt) = NativeRuntime::open(&root) else {
                return;
            };
            let all = ContainerListOptions {
                all: true,
                labels: vec![],
            };
            for c in rt.list_containers(&all).await.unwrap_or_default() {
                let _ = rt.remove_container(&c.id, true, true).await;
            }
            // Then the networks: no bridge, veth or iptables rule outlives a test.
            for net in rt.list_networks(&[]).await.unwrap_or_default() {
                let _ = rt.remove_network(&net.id).await;
            }
        });
    })
    .join();
}
