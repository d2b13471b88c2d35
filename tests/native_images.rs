//! The native runtime's image store against a real registry on loopback: Debian's
//! `docker-registry` (started here, filled with `docker push`), pulled with hoist's own
//! OCI client into a temporary store, layers unpacked into a rootfs.
//!
//! Never skipped: a missing `/usr/bin/docker-registry` fails the tests
//! (`apt-get install -y docker-registry`).

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::stack::free_port;
use hoist::runtime::native::digest::Digest;
use hoist::runtime::native::oci::Platform;
use hoist::runtime::native::reference::Reference;
use hoist::runtime::native::registry::{RegistryClient, RegistryConfig};
use hoist::runtime::native::store::ImageStore;
use hoist::runtime::native::unpack::{unpack_layer_file, UnpackOptions};
use hoist::runtime::native::ImageError;
use hoist::runtime::ImageProgress;

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A `docker-registry` on 127.0.0.1:<port> with its storage in a temp dir; killed on drop.
struct LocalRegistry {
    child: Child,
    port: u16,
    storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl LocalRegistry {
    fn start() -> LocalRegistry {
        assert!(
            Path::new(REGISTRY_BINARY).exists(),
            "{REGISTRY_BINARY} is missing: install it with `apt-get install -y docker-registry`"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = dir.path().join("storage");
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .expect("write registry config");
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REGISTRY_BINARY}: {e}"));
        let registry = LocalRegistry {
            child,
            port,
            storage,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// Pushes the busybox test image as `127.0.0.1:<port>/hoist/busybox:1`.
    fn push_busybox(&self) -> String {
        let image = common::ensure_busybox_image();
        let target = format!("127.0.0.1:{}/hoist/busybox:1", self.port);
        docker(&["tag", image, &target]);
        docker(&["push", &target]);
        docker(&["rmi", &target]);
        target
    }

    /// The registry's own copy of a blob, to tamper with.
    fn blob_data(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn docker(args: &[&str]) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run the docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_from_a_local_registry_unpacks_busybox_and_a_second_pull_downloads_nothing() {
    let registry = LocalRegistry::start();
    let pushed = registry.push_busybox();
    let store_dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(store_dir.path()).unwrap();
    let client = RegistryClient::new(RegistryConfig::default());
    let reference = Reference::parse(&pushed).unwrap();

    let events = Mutex::new(Vec::new());
    let record = |p: ImageProgress| events.lock().unwrap().push(p);
    let first = client
        .pull(&store, &reference, &Platform::host(), &record)
        .await
        .unwrap_or_else(|e| panic!("pull {pushed}: {e}"));
    assert_eq!(first.record.layers.len(), 3);
    assert_eq!(first.downloaded_blobs, 4, "config and three layers");
    assert_eq!(first.config.config.cmd, Some(vec!["/bin/sh".to_string()]));
    let env = first.config.config.env.clone().unwrap_or_default();
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    let layer_events = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, ImageProgress::Layer { id: Some(_), .. }))
        .count();
    assert!(layer_events >= 6, "per-layer progress was reported");

    // Recorded under the normalized reference, and readable back.
    let stored = store
        .image(&reference.to_string())
        .unwrap()
        .expect("record");
    assert_eq!(stored, first.record);
    assert_eq!(store.image_config(&stored).unwrap(), first.config);

    let rootfs = store_dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    for layer in &stored.layers {
        let report = unpack_layer_file(
            &store.blob_path(&layer.digest),
            &rootfs,
            UnpackOptions::default(),
        )
        .unwrap();
        assert!(report.refused.is_empty(), "{report:?}");
    }
    assert!(rootfs.join("bin/busybox").is_file());
    assert!(std::fs::symlink_metadata(rootfs.join("bin/sh"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(rootfs.join("etc/passwd").is_file());

    let second = client
        .pull(&store, &reference, &Platform::host(), &|_| {})
        .await
        .unwrap();
    assert_eq!(second.downloaded_blobs, 0);
    assert_eq!(second.downloaded_bytes, 0);
    assert_eq!(second.record, first.record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_digests_are_rejected_and_nothing_is_recorded() {
    let registry = LocalRegistry::start();
    let pushed = registry.push_busybox();
    let client = RegistryClient::new(RegistryConfig::default());
    let reference = Reference::parse(&pushed).unwrap();

    // Learn the digests with a first pull into a throwaway store.
    let scratch = tempfile::tempdir().unwrap();
    let pulled = client
        .pull(
            &ImageStore::open(scratch.path()).unwrap(),
            &reference,
            &Platform::host(),
            &|_| {},
        )
        .await
        .unwrap();

    // A reference pinned to a digest the registry does not have.
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let unknown = reference.with_digest(Digest::of(b"not a manifest"));
    let err = client
        .pull(&store, &unknown, &Platform::host(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::Registry { .. }), "{err}");

    // The registry serves a layer whose content no longer matches its digest.
    let layer = &pulled.record.layers[0];
    let data = registry.blob_data(&layer.digest);
    let mut content = std::fs::read(&data).unwrap();
    let last = content.len() - 1;
    content[last] ^= 0xff;
    std::fs::write(&data, content).unwrap();
    let err = client
        .pull(&store, &reference, &Platform::host(), &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::DigestMismatch { .. }),
        "expected a digest mismatch, got: {err}"
    );
    assert!(err.to_string().contains(&layer.digest.to_string()), "{err}");
    assert!(!store.has_blob(&layer.digest));
    assert_eq!(store.image(&reference.to_string()).unwrap(), None);
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs/tmp"))
            .unwrap()
            .count(),
        0,
        "no temporary file is left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_runtime_pulls_a_multi_layer_image_and_runs_it() {
    use futures_util::StreamExt;
    use hoist::runtime::native::NativeRuntime;
    use hoist::runtime::{ContainerSpec, LogOptions, Runtime};

    // The monitor of each container is the hoist binary re-executed.
    std::env::set_var("HOIST_BINARY", env!("CARGO_BIN_EXE_hoist"));
    let registry = LocalRegistry::start();
    let pushed = registry.push_busybox();
    let dir = tempfile::tempdir().unwrap();
    let rt = NativeRuntime::open(&dir.path().join("root")).unwrap();
    rt.pull_image(&pushed, None, None, &|_| {})
        .await
        .unwrap_or_else(|e| panic!("pull {pushed}: {e}"));
    let image = rt.inspect_image(&pushed).await.unwrap();
    assert_eq!(image.config.cmd, Some(vec!["/bin/sh".to_string()]));

    // Three layers stacked by overlayfs: the binary, its applet links, /etc from a RUN.
    let spec = ContainerSpec {
        image: pushed.clone(),
        cmd: Some(vec![
            "sh".to_string(),
            "-c".to_string(),
            "head -1 /etc/passwd; ls -d /tmp".to_string(),
        ]),
        ..Default::default()
    };
    let id = rt.create_container(&spec).await.unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(rt.wait_container(&id).await.unwrap(), 0);
    let mut logs = rt.logs(&id, &LogOptions::default()).await.unwrap();
    let mut out = String::new();
    while let Some(chunk) = logs.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.unwrap().bytes));
    }
    assert_eq!(out, "root:x:0:0:root:/root:/bin/sh\n/tmp\n");
    rt.remove_container(&id, false, true).await.unwrap();
    // A container given no network joins `bridge`, made on first use and kept (as Docker
    // keeps its own): remove it, or its bridge outlives this test's data root.
    rt.remove_network("bridge").await.unwrap();
    rt.remove_image(&pushed, false).await.unwrap();
    assert!(rt.inspect_image(&pushed).await.is_err());
}
