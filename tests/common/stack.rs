//! A compose project in a temporary directory, driven through the real `hoist` binary on
//! one backend (`docker` or `native`), and torn down (containers, networks, volumes, built
//! images; on native also the data root, its `bridge` network and every mount) when the
//! test ends, pass or fail.
//!
//! The engine's side is checked through hoist's own [`Runtime`] trait (the same calls on
//! both backends), never through a backend's own CLI: a scenario written once runs on both.
//! [`on_both_backends!`](crate::on_both_backends) makes the two tests of a scenario.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use hoist::runtime::native::oci::ContainerDefaults;
use hoist::runtime::native::NativeRuntime;
use hoist::runtime::{
    ContainerInfo, ContainerListOptions, ContainerSpec, ExecSpec, ImageInfo, LabelFilter,
    LogOptions, NetworkInfo, Runtime,
};

use super::busybox::busybox_rootfs;
use super::host::{detach_mounts_under, is_root, links_with_prefix, mounts_under};
use super::{ensure_busybox_image, unique_name, BUSYBOX_IMAGE};

/// Which backend a stack's hoist commands (and its checks) use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Docker,
    Native,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Docker => "docker",
            Backend::Native => "native",
        }
    }
}

/// Makes module `$name` with two tests, `docker` and `native`, calling the scenario
/// `fn $name(backend: Backend)` with each [`Backend`]: a scenario is written once (as a plain
/// function, formatted and checked like any other) and runs on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use $crate::common::stack::Backend;

                #[test]
                fn docker() {
                    super::$name(Backend::Docker)
                }

                #[test]
                fn native() {
                    super::$name(Backend::Native)
                }
            }
        )+
    };
}

/// The label every compose object of a project carries.
const PROJECT_LABEL: &str = "com.docker.compose.project";

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub backend: Backend,
    /// Native only: holds the data root (`root/`) and the imported rootfs tarball.
    data: Option<tempfile::TempDir>,
    tokio: tokio::runtime::Runtime,
    runtime: OnceLock<Arc<dyn Runtime>>,
    /// Containers [`Stack::start_container`] made outside the project, removed on drop.
    outsiders: Mutex<Vec<String>>,
}

impl Stack {
    /// A new project on the docker backend (for the scenarios that are docker-only).
    pub fn new(prefix: &str) -> Stack {
        Stack::on(Backend::Docker, prefix)
    }

    /// A new project named uniquely after `prefix` on `backend`, with the busybox test image
    /// available (built on the engine, or imported into a data root of the stack's own).
    pub fn on(backend: Backend, prefix: &str) -> Stack {
        let name = unique_name(prefix).replace('.', "-").to_lowercase();
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let data = match backend {
            Backend::Docker => {
                ensure_busybox_image();
                None
            }
            Backend::Native => Some(native_root(&tokio)),
        };
        Stack {
            dir: tempfile::tempdir().expect("temp dir"),
            name,
            backend,
            data,
            tokio,
            runtime: OnceLock::new(),
            outsiders: Mutex::new(Vec::new()),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Native only: the data root (`HOIST_ROOT`).
    pub fn root(&self) -> Option<PathBuf> {
        self.data.as_ref().map(|d| d.path().join("root"))
    }

    /// Writes a file of the project (parents created).
    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&path, content).expect("write file");
        self
    }

    /// Points `cmd` (hoist, or a wrapper that runs hoist) at this stack's backend.
    pub fn backend_env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("HOIST_BACKEND", self.backend.as_str());
        if let Some(root) = self.root() {
            cmd.env("HOIST_ROOT", root)
                .env("HOIST_BINARY", env!("CARGO_BIN_EXE_hoist"));
        }
        cmd
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.current_dir(self.dir.path())
            .args(["-p", &self.name, "--progress", "plain"])
            .args(args)
            .stdin(Stdio::null());
        self.backend_env(&mut cmd);
        cmd
    }

    /// Runs hoist with `args`; returns its output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run hoist")
    }

    /// Runs hoist with `args` and fails the test, showing the output, unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
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

    /// `docker` CLI output (trimmed), for docker-only checks of the engine's own view.
    pub fn docker(&self, args: &[&str]) -> String {
        assert_eq!(
            self.backend,
            Backend::Docker,
            "`docker {args:?}` on a native stack"
        );
        let out = Command::new("docker")
            .args(args)
            .output()
            .expect("run docker");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The stack's backend as hoist's library drives it, to check what hoist did.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        self.runtime
            .get_or_init(|| match &self.data {
                None => Arc::new(self.block_on(super::docker())),
                Some(_) => {
                    let root = self.root().expect("a native data root");
                    Arc::new(NativeRuntime::open(&root).expect("open the native runtime"))
                }
            })
            .clone()
    }

    /// Drives `future` (a library call) to completion.
    pub fn block_on<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.tokio.block_on(future)
    }

    /// The container `name` as the runtime inspects it, `None` when it does not exist.
    pub fn inspect(&self, name: &str) -> Option<ContainerInfo> {
        let rt = self.runtime();
        self.block_on(rt.inspect_container(name)).ok()
    }

    /// Id of the container `name`, or empty when it does not exist.
    pub fn container_id(&self, name: &str) -> String {
        self.inspect(name).map(|c| c.id).unwrap_or_default()
    }

    /// `running`, `exited`, `paused`... of container `name`, or empty when it is gone.
    pub fn status(&self, name: &str) -> String {
        self.inspect(name)
            .map(|c| c.state.status.as_str().to_string())
            .unwrap_or_default()
    }

    /// The exit code the runtime recorded for container `name`.
    pub fn exit_code(&self, name: &str) -> Option<i64> {
        self.inspect(name).and_then(|c| c.state.exit_code)
    }

    /// Waits for container `name` to exit; returns its exit code.
    pub fn wait(&self, name: &str) -> i64 {
        let rt = self.runtime();
        self.block_on(rt.wait_container(name))
            .unwrap_or_else(|e| panic!("wait for {name}: {e}"))
    }

    /// Names of the project's containers, sorted.
    pub fn containers(&self) -> Vec<String> {
        let rt = self.runtime();
        let options = ContainerListOptions {
            all: true,
            labels: vec![LabelFilter::equals(PROJECT_LABEL, &self.name)],
        };
        let mut names: Vec<String> = self
            .block_on(rt.list_containers(&options))
            .expect("list containers")
            .into_iter()
            .map(|c| c.name)
            .collect();
        names.sort();
        names
    }

    /// `sh -c script` in container `container`: its trimmed stdout, empty when the exec
    /// fails (for polling).
    pub fn sh(&self, container: &str, script: &str) -> String {
        let rt = self.runtime();
        let spec = ExecSpec {
            cmd: vec!["sh".into(), "-c".into(), script.into()],
            ..Default::default()
        };
        match self.block_on(rt.exec_collect(container, &spec)) {
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
            Err(_) => String::new(),
        }
    }

    /// Whether container `name` runs.
    pub fn running(&self, name: &str) -> bool {
        self.inspect(name).is_some_and(|c| c.state.running)
    }

    /// Runs `cmd` in the running container `container`; returns its trimmed stdout.
    pub fn exec(&self, container: &str, cmd: &[&str]) -> String {
        let rt = self.runtime();
        let spec = ExecSpec {
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let out = self
            .block_on(rt.exec_collect(container, &spec))
            .unwrap_or_else(|e| panic!("exec {cmd:?} in {container}: {e}"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn volume_exists(&self, name: &str) -> bool {
        let rt = self.runtime();
        self.block_on(rt.inspect_volume(name)).is_ok()
    }

    pub fn network_exists(&self, name: &str) -> bool {
        let rt = self.runtime();
        self.block_on(rt.inspect_network(name)).is_ok()
    }

    /// Creates and starts a container outside any compose project of this test (the test
    /// removes it); returns its id.
    pub fn start_container(&self, spec: &ContainerSpec) -> String {
        use_hoist_binary();
        if let Ok(mut outsiders) = self.outsiders.lock() {
            outsiders.push(spec.name.clone());
        }
        let rt = self.runtime();
        self.block_on(async {
            let id = rt.create_container(spec).await?;
            rt.start_container(&id).await?;
            Ok::<_, hoist::runtime::RuntimeError>(id)
        })
        .unwrap_or_else(|e| panic!("start container {}: {e}", spec.name))
    }

    /// Removes container `name` (running or not) and its anonymous volumes.
    pub fn remove_container(&self, name: &str) {
        let rt = self.runtime();
        self.block_on(rt.remove_container(name, true, true))
            .unwrap_or_else(|e| panic!("remove container {name}: {e}"));
    }

    /// Runs `sh -c cmd` in a throwaway container of `image`; returns its trimmed stdout.
    pub fn run_image(&self, image: &str, cmd: &str) -> String {
        use_hoist_binary();
        let rt = self.runtime();
        let spec = ContainerSpec {
            image: image.to_string(),
            cmd: Some(vec!["sh".to_string(), "-c".to_string(), cmd.to_string()]),
            labels: super::test_labels(&self.name),
            ..Default::default()
        };
        self.block_on(async {
            let id = rt.create_container(&spec).await?;
            let ran = async {
                rt.start_container(&id).await?;
                rt.wait_container(&id).await?;
                let mut logs = rt.logs(&id, &LogOptions::default()).await?;
                let mut out = Vec::new();
                while let Some(chunk) = logs.next().await {
                    let chunk = chunk?;
                    if chunk.stream == hoist::runtime::OutputStream::Stdout {
                        out.extend_from_slice(&chunk.bytes);
                    }
                }
                Ok::<_, hoist::runtime::RuntimeError>(out)
            }
            .await;
            let removed = rt.remove_container(&id, true, true).await;
            let out = ran?;
            removed?;
            Ok::<_, hoist::runtime::RuntimeError>(String::from_utf8_lossy(&out).trim().to_string())
        })
        .unwrap_or_else(|e| panic!("run {cmd:?} in {image}: {e}"))
    }

    /// The image `reference` as the runtime inspects it.
    pub fn image(&self, reference: &str) -> ImageInfo {
        let rt = self.runtime();
        self.block_on(rt.inspect_image(reference))
            .unwrap_or_else(|e| panic!("inspect image {reference}: {e}"))
    }

    /// Tags image `source` as `target`.
    pub fn tag_image(&self, source: &str, target: &str) {
        let rt = self.runtime();
        self.block_on(rt.tag_image(source, target))
            .unwrap_or_else(|e| panic!("tag {source} as {target}: {e}"));
    }

    /// Removes image reference `reference`, ignoring one already gone.
    pub fn remove_image(&self, reference: &str) {
        let rt = self.runtime();
        let _ = self.block_on(rt.remove_image(reference, true));
    }

    /// Removes whatever `down` left: the project's containers, networks and volumes; on
    /// native everything of the data root (it is the test's own), then its mounts.
    /// Returns the bridges of the removed networks that are still on the host.
    fn sweep(&self) -> Vec<String> {
        let rt = self.runtime();
        let native = self.backend == Backend::Native;
        let labels = if native {
            vec![]
        } else {
            vec![LabelFilter::equals(PROJECT_LABEL, &self.name)]
        };
        let outsiders = self.outsiders.lock().map(|o| o.clone()).unwrap_or_default();
        let networks: Vec<NetworkInfo> = self.block_on(async {
            for name in &outsiders {
                let _ = rt.remove_container(name, true, true).await;
            }
            let all = ContainerListOptions {
                all: true,
                labels: labels.clone(),
            };
            for c in rt.list_containers(&all).await.unwrap_or_default() {
                let _ = rt.remove_container(&c.id, true, true).await;
            }
            let networks = rt.list_networks(&labels).await.unwrap_or_default();
            for n in &networks {
                let _ = rt.remove_network(&n.id).await;
            }
            for v in rt.list_volumes(&labels).await.unwrap_or_default() {
                let _ = rt.remove_volume(&v.name, true).await;
            }
            networks
        });
        if !native {
            return vec![];
        }
        let links = links_with_prefix("hoist-");
        networks
            .iter()
            .map(|n| format!("hoist-{}", &n.id[..9.min(n.id.len())]))
            .filter(|bridge| links.contains(bridge))
            .collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self
            .command(&[
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
                "--rmi",
                "local",
            ])
            .output();
        // Whatever hoist could not remove (a failing test may have broken the project).
        let bridges = self.sweep();
        let Some(root) = self.root() else {
            return;
        };
        let mounts = mounts_under(&root);
        // Never let removing the data root reach through a mount into host files.
        detach_mounts_under(&root);
        if !std::thread::panicking() {
            assert!(bridges.is_empty(), "bridges left behind: {bridges:?}");
            assert!(mounts.is_empty(), "mounts left under {root:?}: {mounts:?}");
        }
    }
}

/// A data root of its own (in a temp dir) with the busybox test image imported.
fn native_root(tokio: &tokio::runtime::Runtime) -> tempfile::TempDir {
    assert!(
        is_root(),
        "the native-backend scenarios run containers on the real kernel: run them as root"
    );
    use_hoist_binary();
    let data = tempfile::tempdir().expect("temp dir");
    let rt = NativeRuntime::open(&data.path().join("root")).expect("open the native runtime");
    let tarball = busybox_rootfs(data.path());
    let defaults = ContainerDefaults {
        cmd: Some(vec!["/bin/sh".to_string()]),
        env: Some(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ]),
        ..Default::default()
    };
    tokio
        .block_on(rt.import_image(&tarball, BUSYBOX_IMAGE, defaults))
        .expect("import the busybox rootfs");
    data
}

/// Containers the test creates through the library get the hoist binary as their monitor.
fn use_hoist_binary() {
    static SET: Once = Once::new();
    SET.call_once(|| std::env::set_var("HOIST_BINARY", env!("CARGO_BIN_EXE_hoist")));
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `GET path` on 127.0.0.1:port, retried for a few seconds while the server starts.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut body = String::new();
            if s.read_to_string(&mut body).is_ok() && !body.is_empty() {
                return body.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A command's standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
