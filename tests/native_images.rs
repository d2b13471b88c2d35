//! The native runtime's image store against a real registry on loopback: Debian's
//! `docker-registry` (started here, filled with `docker push`), pulled with hoist's own
//! OCI client into a temporary store, layers unpacked into a rootfs.
//!
//! The `hoist image ...` and `builder prune` commands on the native backend, driven through
//! the binary with a data root of their own: push (compose `push` and `image push`) and a
//! pull back into a fresh root, `docker save` archives loaded and run, `image save` read
//! by `docker load`, OCI layouts, prune reclaiming disk around a running container; and
//! `image push`/`pull` on the docker backend against the same kind of registry.
//!
//! Registry auth, with the `docker login` of `$DOCKER_CONFIG/config.json`: HTTP basic
//! (htpasswd), and the Docker token flow against a registry trusting our own token server
//! (see `common/registry.rs`), which shows what each side was sent.
//!
//! Never skipped: a missing `/usr/bin/docker-registry` or `openssl` fails the tests
//! (`apt-get install -y docker-registry openssl`); they run as root and need the Docker
//! engine (for `docker save` / `docker load` of the busybox test image).

mod common;

#[path = "common/busybox.rs"]
mod busybox;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use common::registry::{Auth, Registry, IDENTITY_TOKEN, PASSWORD, TOKEN_SERVICE, USER};
use hoist::runtime::native::digest::Digest;
use hoist::runtime::native::oci::Platform;
use hoist::runtime::native::reference::Reference;
use hoist::runtime::native::registry::{RegistryClient, RegistryConfig};
use hoist::runtime::native::store::ImageStore;
use hoist::runtime::native::unpack::{unpack_layer_file, UnpackOptions};
use hoist::runtime::native::ImageError;
use hoist::runtime::ImageProgress;

/// Pushes the busybox test image to `registry` as `127.0.0.1:<port>/hoist/busybox:1`.
fn push_busybox(registry: &Registry) -> String {
    let image = common::ensure_busybox_image();
    let target = format!("{}/hoist/busybox:1", registry.address());
    docker(&["tag", image, &target]);
    docker(&["push", &target]);
    docker(&["rmi", &target]);
    target
}

fn docker(args: &[&str]) {
    docker_output(args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_from_a_local_registry_unpacks_busybox_and_a_second_pull_downloads_nothing() {
    let registry = Registry::start();
    let pushed = push_busybox(&registry);
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
            None,
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
    let registry = Registry::start();
    let pushed = push_busybox(&registry);
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
    let registry = Registry::start();
    let pushed = push_busybox(&registry);
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

/// A native data root of its own and a compose project directory, driven through the
/// `hoist` binary; `down -v` of the project and the temp dir go away on drop.
struct NativeRoot {
    dir: tempfile::TempDir,
    project: String,
    /// Extra environment for every hoist run (`DOCKER_CONFIG`).
    env: std::cell::RefCell<Vec<(String, String)>>,
}

impl NativeRoot {
    fn new(project: &str) -> NativeRoot {
        let root = NativeRoot {
            dir: tempfile::tempdir().expect("temp dir"),
            project: common::unique_name(project).to_lowercase(),
            env: Default::default(),
        };
        std::fs::create_dir(root.project_dir()).expect("project dir");
        root
    }

    fn project_dir(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, content: &str) {
        std::fs::write(self.project_dir().join(rel), content).expect("write");
    }

    fn hoist(&self, args: &[&str]) -> Output {
        // Overlays and containers: nothing here works but as root.
        assert_eq!(
            nix::unistd::geteuid().as_raw(),
            0,
            "the native image tests mount overlays and run containers: run them as root"
        );
        Command::new(env!("CARGO_BIN_EXE_hoist"))
            .current_dir(self.project_dir())
            .arg(format!("--project-name={}", self.project))
            .args(["--backend=native", "--progress=plain"])
            .args(args)
            .env("HOIST_ROOT", self.root())
            .env("HOIST_BINARY", env!("CARGO_BIN_EXE_hoist"))
            .envs(
                self.env
                    .borrow()
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .stdin(Stdio::null())
            .output()
            .expect("run hoist")
    }

    /// Runs hoist, fails the test unless it exits 0; returns stdout and stderr.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.hoist(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "hoist {args:?} failed:\n{text}");
        text
    }

    /// Loads the busybox test image from a real `docker save` archive.
    fn load_busybox(&self) -> String {
        let archive = self.file("busybox.tar");
        docker(&[
            "save",
            "-o",
            &archive.to_string_lossy(),
            common::ensure_busybox_image(),
        ]);
        self.ok(&["image", "load", "-i", &archive.to_string_lossy()])
    }

    /// Bytes under the content store and the unpacked layers.
    fn stored_bytes(&self) -> u64 {
        ["blobs", "layers"]
            .iter()
            .map(|d| tree_bytes(&self.root().join(d)))
            .sum()
    }
}

impl Drop for NativeRoot {
    fn drop(&mut self) {
        let _ = self.hoist(&["down", "-v", "--remove-orphans"]);
    }
}

fn tree_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    std::fs::read_dir(path)
        .unwrap()
        .flatten()
        .map(|e| tree_bytes(&e.path()))
        .sum()
}

/// Runs the docker CLI, failing the test unless it exits 0; returns its stdout.
fn docker_output(args: &[&str]) -> String {
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes docker images a test made, pass or fail.
struct DockerImages(Vec<String>);

impl Drop for DockerImages {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

const BUILT_DOCKERFILE: &str = "FROM hoist-test/busybox:latest\n\
                                RUN echo built-natively > /built\n\
                                CMD [\"cat\", \"/built\"]\n";

#[test]
fn a_native_build_is_pushed_by_compose_push_and_image_push_and_runs_after_a_fresh_pull() {
    let registry = Registry::start();
    let image = format!("{}/hoist/built:1", registry.address());
    let other = format!("{}/hoist/other:2", registry.address());

    let builder = NativeRoot::new("push");
    builder.load_busybox();
    builder.write("Dockerfile", BUILT_DOCKERFILE);
    builder.write(
        "compose.yaml",
        &format!("services:\n  app:\n    build: .\n    image: {image}\n"),
    );
    builder.ok(&["build"]);
    let pushed = builder.ok(&["push"]);
    assert!(pushed.contains("Pushed"), "{pushed}");

    builder.ok(&["image", "tag", &image, &other]);
    let out = builder.ok(&["image", "push", &other]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [127.0.0.1:{}/hoist/other]",
            registry.port
        )),
        "{out}"
    );
    // The registry has the layers in hoist/built: it lends them instead of a re-upload.
    assert!(out.contains(": Mounted from hoist/built"), "{out}");
    assert!(!out.contains(": Pushed"), "{out}");
    assert!(out.contains("2: digest: sha256:"), "{out}");
    // Everything is there now: a second push uploads nothing.
    let again = builder.ok(&["image", "push", &other]);
    assert!(!again.contains(": Pushed"), "{again}");
    assert!(again.contains("Layer already exists"), "{again}");

    // A data root that never saw the image pulls and runs it.
    let fresh = NativeRoot::new("pushfresh");
    fresh.write(
        "compose.yaml",
        &format!("services:\n  app:\n    image: {image}\n"),
    );
    let pulled = fresh.ok(&["image", "pull", &image]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let ran = fresh.ok(&["run", "--rm", "app"]);
    assert!(ran.contains("built-natively"), "{ran}");
    let inspected = fresh.ok(&["image", "inspect", &image]);
    let built: serde_json::Value =
        serde_json::from_str(&builder.ok(&["image", "inspect", &image])).unwrap();
    let fetched: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(
        built[0]["Id"], fetched[0]["Id"],
        "the same image id after a round trip"
    );

    // The Docker engine reads what hoist pushed (it treats 127.0.0.1 as insecure).
    let _cleanup = DockerImages(vec![other.clone()]);
    docker(&["pull", &other]);
    let out = docker_output(&["run", "--rm", &other]);
    assert_eq!(out.trim(), "built-natively");
}

#[test]
fn a_docker_save_archive_loads_into_the_native_store_and_runs() {
    let root = NativeRoot::new("load");
    let out = root.load_busybox();
    assert!(
        out.contains("Loaded image: hoist-test/busybox:latest"),
        "{out}"
    );
    let listed = root.ok(&["image", "ls"]);
    assert!(listed.starts_with("REPOSITORY"), "{listed}");
    assert!(listed.contains("hoist-test/busybox"), "{listed}");
    let matching = root.ok(&["image", "ls", "--filter", "reference=hoist-test/*"]);
    assert!(matching.contains("hoist-test/busybox"), "{matching}");
    let dangling = root.ok(&["image", "ls", "--filter", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 1, "only the header: {dangling}");
    let docker_id = docker_output(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        common::ensure_busybox_image(),
    ]);
    let ids = root.ok(&["image", "ls", "-q"]);
    assert_eq!(
        ids.trim(),
        &docker_id.trim()["sha256:".len()..][..12],
        "docker's image id is kept"
    );

    root.write(
        "compose.yaml",
        "services:\n  app:\n    image: hoist-test/busybox:latest\n    command: [\"sh\", \"-c\", \"head -1 /etc/passwd\"]\n",
    );
    let ran = root.ok(&["run", "--rm", "app"]);
    assert!(ran.contains("root:x:0:0:root:/root:/bin/sh"), "{ran}");
}

#[test]
fn an_image_saved_by_hoist_is_read_by_docker_load_and_runs() {
    let root = NativeRoot::new("save");
    root.load_busybox();
    let name = format!("hoist-test/saved-{}:1", root.project);
    root.write("Dockerfile", BUILT_DOCKERFILE);
    root.write(
        "compose.yaml",
        &format!("services:\n  app:\n    build: .\n    image: {name}\n"),
    );
    root.ok(&["build"]);
    let archive = root.file("saved.tar");
    root.ok(&["image", "save", "-o", &archive.to_string_lossy(), &name]);

    let _cleanup = DockerImages(vec![name.clone()]);
    let loaded = docker_output(&["load", "-i", &archive.to_string_lossy()]);
    assert!(
        loaded.contains(&format!("Loaded image: {name}")),
        "{loaded}"
    );
    let out = docker_output(&["run", "--rm", &name]);
    assert_eq!(out.trim(), "built-natively");
}

/// Rewrites a tar archive without the entries `drop` names, gzip-compressed.
fn without_entries(from: &Path, to: &Path, drop: &[&str]) {
    let mut input = tar::Archive::new(std::fs::File::open(from).unwrap());
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(to).unwrap(),
        flate2::Compression::fast(),
    );
    let mut output = tar::Builder::new(gz);
    for entry in input.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if drop.contains(&path.as_str()) {
            continue;
        }
        let mut header = entry.header().clone();
        output.append_data(&mut header, &path, &mut entry).unwrap();
    }
    output.into_inner().unwrap().finish().unwrap();
}

#[test]
fn an_oci_layout_archive_round_trips_gzip_too() {
    let source = NativeRoot::new("ocisrc");
    source.load_busybox();
    source.ok(&["image", "tag", "hoist-test/busybox", "hoist-test/oci:7"]);
    let saved = source.file("both.tar");
    source.ok(&[
        "image",
        "save",
        "-o",
        &saved.to_string_lossy(),
        "hoist-test/oci:7",
    ]);
    // Only the OCI layout is left: index.json, oci-layout, blobs.
    let oci = source.file("oci.tar.gz");
    without_entries(&saved, &oci, &["manifest.json"]);

    let target = NativeRoot::new("ocidst");
    let out = target.ok(&["image", "load", "-i", &oci.to_string_lossy()]);
    assert!(out.contains("Loaded image: hoist-test/oci:7"), "{out}");
    target.write(
        "compose.yaml",
        "services:\n  app:\n    image: hoist-test/oci:7\n    command: [\"echo\", \"from-oci\"]\n",
    );
    let ran = target.ok(&["run", "--rm", "app"]);
    assert!(ran.contains("from-oci"), "{ran}");
    let a: serde_json::Value =
        serde_json::from_str(&source.ok(&["image", "inspect", "hoist-test/oci:7"])).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&target.ok(&["image", "inspect", "hoist-test/oci:7"])).unwrap();
    assert_eq!(a[0]["Id"], b[0]["Id"]);
    assert_eq!(a[0]["RootFS"], b[0]["RootFS"]);

    // An archive that is neither format says so.
    without_entries(
        &saved,
        &source.file("neither.tar.gz"),
        &["manifest.json", "index.json"],
    );
    let out = target.hoist(&[
        "image",
        "load",
        "-i",
        &source.file("neither.tar.gz").to_string_lossy(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a `docker save` archive"));
}

#[test]
fn prune_reclaims_blobs_and_layers_but_keeps_the_image_a_container_uses() {
    let root = NativeRoot::new("prune");
    root.load_busybox();
    // A second, unused image with content of its own.
    root.write(
        "Dockerfile",
        "FROM hoist-test/busybox:latest\nRUN dd if=/dev/zero of=/big bs=1024 count=512\n",
    );
    root.write(
        "compose.yaml",
        "services:\n  keep:\n    image: hoist-test/busybox:latest\n    command: [\"sleep\", \"300\"]\n  \
         unused:\n    build: .\n    image: hoist-test/unused:1\n    profiles: [never]\n",
    );
    root.ok(&["build", "unused"]);
    root.ok(&["up", "-d", "keep"]);

    // Refused while in use, naming the container; the image stays.
    let refused = root.hoist(&["image", "rm", "hoist-test/busybox:latest"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains(&format!("{}-keep-1", root.project)), "{err}");
    root.ok(&["image", "inspect", "hoist-test/busybox:latest"]);

    // The build cache holds the unused image's layer too: drop it first.
    root.ok(&["builder", "prune", "-a", "-f"]);
    let before = root.stored_bytes();
    let out = root.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted Images:"), "{out}");
    assert!(out.contains("untagged: hoist-test/unused:1"), "{out}");
    assert!(!out.contains("untagged: hoist-test/busybox"), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    let after = root.stored_bytes();
    assert!(
        after + 512 * 1024 <= before,
        "at least the 512 KiB layer is reclaimed: {before} -> {after}"
    );
    // The running container and its image are untouched.
    let listed = root.ok(&["image", "ls"]);
    assert!(
        listed.contains("hoist-test/busybox") && !listed.contains("hoist-test/unused"),
        "{listed}"
    );
    let ps = root.ok(&["exec", "-T", "keep", "cat", "/etc/passwd"]);
    assert!(ps.contains("root:x:0:0"), "{ps}");
    root.ok(&["down"]);

    // Nothing uses it now: rm and a default prune give back the rest.
    let out = root.ok(&["image", "rm", "hoist-test/busybox:latest"]);
    assert!(out.contains("Untagged: hoist-test/busybox:latest"), "{out}");
    assert!(out.contains("Deleted: sha256:"), "{out}");
    root.ok(&["image", "prune", "-f"]);
    assert_eq!(root.stored_bytes(), 0, "every blob and layer is gone");
}

#[test]
fn builder_prune_forgets_cached_steps_and_built_images_still_run() {
    let root = NativeRoot::new("bprune");
    root.load_busybox();
    // A cache mount's directory persists across builds until `builder prune -a`.
    root.write(
        "Dockerfile",
        &format!("{BUILT_DOCKERFILE}RUN --mount=type=cache,target=/cache echo kept > /cache/f\n"),
    );
    root.write(
        "compose.yaml",
        "services:\n  app:\n    build: .\n    image: hoist-test/bprune:1\n",
    );
    root.ok(&["build"]);
    let mounts = root.root().join("build-cache-mounts");
    assert!(mounts.is_dir(), "the cache mount lives under the data root");
    let cached = root.ok(&["build"]);
    assert!(cached.contains(" CACHED"), "{cached}");

    // The steps the tagged image is built on are not dangling: kept.
    let out = root.ok(&["builder", "prune", "-f"]);
    assert!(!out.contains("Deleted build cache objects:"), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(root.ok(&["build"]).contains(" CACHED"));

    assert!(mounts.is_dir(), "a plain prune keeps cache mounts");
    let out = root.ok(&["builder", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    assert!(!mounts.exists(), "prune -a removes the cache mounts");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    let ran = root.ok(&["run", "--rm", "app"]);
    assert!(ran.contains("built-natively"), "{ran}");
    let rebuilt = root.ok(&["build"]);
    assert!(!rebuilt.contains(" CACHED"), "{rebuilt}");
}

#[test]
fn a_loaded_archive_with_a_traversing_layer_writes_nothing_outside_the_rootfs() {
    let root = NativeRoot::new("evil");
    let victim = root.file("outside-victim");
    // A layer whose entries climb out with `..` and through an absolute symlink.
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    layer
        .append_link(&mut h, "escape", root.dir.path())
        .unwrap();
    for name in ["escape/outside-victim", "../../outside-victim"] {
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..`: write the raw name into the header.
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        layer.append(&h, &b"evil"[..]).unwrap();
    }
    let busybox = busybox::busybox_rootfs(root.dir.path());
    let base = std::fs::read(&busybox).unwrap();
    let layer = layer.into_inner().unwrap();
    let diff = |data: &[u8]| Digest::of(data).to_string();
    let config = serde_json::json!({
        "architecture": Platform::host().architecture, "os": "linux",
        "config": {"Cmd": ["/bin/sh", "-c", "echo ran"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff(&base), diff(&layer)]},
    });
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": ["hoist-test/evil:1"],
        "Layers": ["base/layer.tar", "evil/layer.tar"],
    }]);
    let mut archive = tar::Builder::new(std::fs::File::create(root.file("evil.tar")).unwrap());
    for (name, data) in [
        ("config.json", serde_json::to_vec(&config).unwrap()),
        ("manifest.json", serde_json::to_vec(&manifest).unwrap()),
        ("base/layer.tar", base),
        ("evil/layer.tar", layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        archive.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    archive.finish().unwrap();

    root.ok(&[
        "image",
        "load",
        "-i",
        &root.file("evil.tar").to_string_lossy(),
    ]);
    root.write(
        "compose.yaml",
        "services:\n  app:\n    image: hoist-test/evil:1\n",
    );
    // The layer is unpacked (its refused entries left out) and the container runs.
    let ran = root.ok(&["run", "--rm", "app"]);
    assert!(ran.contains("ran"), "{ran}");
    for place in [
        victim,
        root.root().join("outside-victim"),
        root.root().join("layers/outside-victim"),
    ] {
        assert!(!place.exists(), "a layer wrote {}", place.display());
    }
}

#[test]
fn a_registry_asking_for_a_password_gets_the_docker_login_and_a_clear_error_without() {
    let registry = Registry::start_with(Auth::Htpasswd);
    let target = format!("{}/hoist/private:1", registry.address());
    let root = NativeRoot::new("auth");
    root.load_busybox();
    root.ok(&["image", "tag", "hoist-test/busybox", &target]);

    // No login stored: refused, saying how to log in.
    docker_login(&root, &registry, None);
    let out = root.hoist(&["image", "push", &target]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("docker login"), "{err}");

    // `docker login` stores `auths` in config.json: hoist uses it to push and to pull.
    docker_login(&root, &registry, Some((USER, PASSWORD)));
    let pushed = root.ok(&["image", "push", &target]);
    assert!(pushed.contains(": Pushed"), "{pushed}");

    let fresh = NativeRoot::new("authpull");
    docker_login(&fresh, &registry, Some((USER, PASSWORD)));
    let pulled = fresh.ok(&["image", "pull", &target]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");

    // A build's base image on that registry is pulled with the same login.
    let builder = NativeRoot::new("authbuild");
    docker_login(&builder, &registry, Some((USER, PASSWORD)));
    builder.write(
        "compose.yaml",
        "services:\n  app:\n    build: .\n    image: built/private-base:1\n",
    );
    builder.write(
        "Dockerfile",
        &format!("FROM {target}\nRUN echo BASE-$(echo OK)\n"),
    );
    let built = builder.ok(&["build"]);
    assert!(built.contains("BASE-OK"), "{built}");
}

#[test]
fn image_push_and_pull_on_the_docker_backend_go_through_the_engine() {
    let registry = Registry::start();
    let target = format!("{}/hoist/through-engine:1", registry.address());
    let _cleanup = DockerImages(vec![target.clone()]);
    let hoist = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hoist"))
            .args(["--backend", "docker", "image"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run hoist");
        assert!(
            out.status.success(),
            "hoist image {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    hoist(&["tag", common::ensure_busybox_image(), &target]);
    let pushed = hoist(&["push", &target]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    hoist(&["rm", &target]);
    let pulled = hoist(&["pull", &target]);
    assert!(pulled.trim_end().ends_with(&target), "{pulled}");
    let out = docker_output(&["run", "--rm", &target, "echo", "pulled-through-the-engine"]);
    assert_eq!(out.trim(), "pulled-through-the-engine");
}

/// A `DOCKER_CONFIG` directory for `root` whose `config.json` holds a `docker login` of
/// `user:password` for `registry` (none at all when `login` is `None`).
fn docker_login(root: &NativeRoot, registry: &Registry, login: Option<(&str, &str)>) {
    use base64::Engine as _;
    let config = root.file("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let file = config.join("config.json");
    match login {
        Some((user, password)) => {
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            std::fs::write(
                &file,
                format!(
                    r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
                    registry.address()
                ),
            )
            .unwrap();
        }
        None => {
            let _ = std::fs::remove_file(&file);
        }
    }
    let mut env = root.env.borrow_mut();
    if !env.iter().any(|(k, _)| k == "DOCKER_CONFIG") {
        env.push((
            "DOCKER_CONFIG".to_string(),
            config.to_string_lossy().into_owned(),
        ));
    }
}

/// Fails the test if any request the registry got carried Basic credentials (they are for
/// the token service only), or if none carried a bearer token.
fn assert_only_tokens_reached_the_registry(registry: &Registry) {
    let requests = registry.registry_requests();
    let authorizations: Vec<&str> = requests
        .iter()
        .flat_map(|head| head.lines())
        .filter_map(|line| line.strip_prefix("authorization:"))
        .map(str::trim)
        .collect();
    assert!(
        authorizations.iter().all(|a| a.starts_with("Bearer ")),
        "the registry was sent other credentials than tokens: {authorizations:?}"
    );
    assert!(
        !authorizations.is_empty(),
        "no request to the registry carried a token:\n{}",
        requests.join("\n\n")
    );
}

#[test]
fn a_token_auth_registry_gets_a_push_and_a_pull_with_the_docker_login() {
    let registry = Registry::start_with(Auth::Token {
        anonymous_pull: false,
    });
    let target = format!("{}/hoist/tokened:1", registry.address());
    let root = NativeRoot::new("token");
    root.load_busybox();
    root.ok(&["image", "tag", "hoist-test/busybox", &target]);
    docker_login(&root, &registry, Some((USER, PASSWORD)));
    let pushed = root.ok(&["image", "push", &target]);
    assert!(pushed.contains(": Pushed"), "{pushed}\n{}", registry.log());

    // The push asked the token service for pull, then pull and push, of that repository,
    // with the stored login, and got them.
    let requests = registry.token_requests();
    assert!(!requests.is_empty(), "the token service was never asked");
    for request in &requests {
        assert_eq!(
            request.credentials,
            Some((USER.to_string(), PASSWORD.to_string())),
            "{request:?}"
        );
        assert_eq!(
            request.service.as_deref(),
            Some(TOKEN_SERVICE),
            "{request:?}"
        );
        assert_eq!(request.status, 200, "{request:?}");
    }
    let push_scope = "repository:hoist/tokened:pull,push".to_string();
    assert!(
        requests
            .iter()
            .any(|r| r.scopes == [push_scope.clone()] && r.granted == [push_scope.clone()]),
        "no token for {push_scope}: {requests:?}"
    );
    assert_only_tokens_reached_the_registry(&registry);

    // A fresh store pulls it back with the same login, with a pull token.
    let fresh = NativeRoot::new("tokenpull");
    docker_login(&fresh, &registry, Some((USER, PASSWORD)));
    let asked_before = registry.token_requests().len();
    let pulled = fresh.ok(&["image", "pull", &target]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let pull_scope = "repository:hoist/tokened:pull".to_string();
    let pull_requests = &registry.token_requests()[asked_before..];
    assert!(
        pull_requests
            .iter()
            .any(|r| r.scopes == [pull_scope.clone()] && r.granted == [pull_scope.clone()]),
        "no token for {pull_scope}: {pull_requests:?}"
    );
    assert_only_tokens_reached_the_registry(&registry);
    let id = |root: &NativeRoot| {
        let inspected: serde_json::Value =
            serde_json::from_str(&root.ok(&["image", "inspect", &target])).unwrap();
        inspected[0]["Id"].clone()
    };
    assert_eq!(id(&root), id(&fresh), "the same image after the round trip");
}

#[test]
fn wrong_credentials_for_a_token_auth_registry_fail_clearly_naming_the_registry() {
    let registry = Registry::start_with(Auth::Token {
        anonymous_pull: true,
    });
    let target = format!("{}/hoist/denied:1", registry.address());
    let root = NativeRoot::new("tokenbad");
    root.load_busybox();
    root.ok(&["image", "tag", "hoist-test/busybox", &target]);
    docker_login(&root, &registry, Some((USER, "not-the-password")));
    for args in [["image", "push", &target], ["image", "pull", &target]] {
        let out = root.hoist(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "hoist {args:?} succeeded:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains(&registry.address()),
            "the registry is named: {err}"
        );
        assert!(
            err.contains(&format!("docker login {}", registry.address())),
            "says how to log in: {err}"
        );
        assert!(err.contains("credentials"), "{err}");
    }
    // The wrong password went to the token service (and was refused), never to the registry.
    let requests = registry.token_requests();
    assert!(
        !requests.is_empty() && requests.iter().all(|r| r.status == 401),
        "{requests:?}"
    );
    assert!(
        registry
            .registry_requests()
            .iter()
            .all(|head| !head.contains("authorization:")),
        "{:?}",
        registry.registry_requests()
    );
}

#[test]
fn a_token_auth_registry_granting_anonymous_pull_is_pulled_without_a_login_but_not_pushed() {
    let registry = Registry::start_with(Auth::Token {
        anonymous_pull: true,
    });
    let target = format!("{}/hoist/public:1", registry.address());
    let root = NativeRoot::new("tokenanon");
    root.load_busybox();
    root.ok(&["image", "tag", "hoist-test/busybox", &target]);

    // Without a login the token service grants pull only: the push is refused, clearly.
    docker_login(&root, &registry, None);
    let out = root.hoist(&["image", "push", &target]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("docker login"), "{err}");
    let (pull_scope, push_scope) = (
        "repository:hoist/public:pull".to_string(),
        "repository:hoist/public:pull,push".to_string(),
    );
    let requests = registry.token_requests();
    assert!(
        requests
            .iter()
            .any(|r| r.scopes == [push_scope.clone()] && r.granted == [pull_scope.clone()]),
        "{requests:?}"
    );
    assert!(
        requests.iter().all(|r| r.credentials.is_none()),
        "{requests:?}"
    );

    let publisher = NativeRoot::new("tokenpub");
    publisher.load_busybox();
    publisher.ok(&["image", "tag", "hoist-test/busybox", &target]);
    docker_login(&publisher, &registry, Some((USER, PASSWORD)));
    publisher.ok(&["image", "push", &target]);

    let fresh = NativeRoot::new("tokenanonpull");
    docker_login(&fresh, &registry, None);
    let asked_before = registry.token_requests().len();
    let pulled = fresh.ok(&["image", "pull", &target]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let pull_requests = &registry.token_requests()[asked_before..];
    assert!(
        !pull_requests.is_empty()
            && pull_requests.iter().all(|r| r.credentials.is_none()
                && r.scopes == [pull_scope.clone()]
                && r.granted == [pull_scope.clone()]),
        "{pull_requests:?}"
    );
    assert_only_tokens_reached_the_registry(&registry);
}

/// Directory of credential helpers for `root`, put first on hoist's `PATH`:
/// `docker-credential-hoisttest` answers the test account for `registry` (as `docker login`
/// with a credential store would; every server it is asked for is noted in `asked`) and
/// "not found" for any other server, `-hoistidentity` an identity token for any server,
/// `-hoistnone` always "not found", `-hoistbroken` garbage.
fn credential_helpers(root: &NativeRoot, registry: &Registry) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = root.file("helpers");
    std::fs::create_dir_all(&dir).unwrap();
    let asked = dir.join("asked");
    let scripts = [
        (
            "hoisttest",
            format!(
                "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nserver=$(cat)\n\
                 echo \"$server\" >> {asked}\n\
                 if [ \"$server\" = \"{address}\" ]; then\n  \
                 printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}\\n' \"$server\"\n\
                 else\n  echo 'credentials not found in native keychain'\n  exit 1\nfi\n",
                asked = asked.display(),
                address = registry.address(),
            ),
        ),
        (
            "hoistnone",
            "#!/bin/sh\ncat >/dev/null\necho 'credentials not found in native keychain'\nexit 1\n"
                .to_string(),
        ),
        (
            "hoistidentity",
            format!(
                "#!/bin/sh\nserver=$(cat)\n\
                 printf '{{\"ServerURL\":\"%s\",\"Username\":\"<token>\",\"Secret\":\"{IDENTITY_TOKEN}\"}}' \"$server\"\n"
            ),
        ),
        (
            "hoistbroken",
            "#!/bin/sh\ncat >/dev/null\necho 'this is not JSON'\n".to_string(),
        ),
    ];
    for (name, script) in scripts {
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut env = root.env.borrow_mut();
    env.retain(|(k, _)| k != "PATH");
    env.push(("PATH".to_string(), path));
    asked
}

/// Writes `config` as `root`'s `$DOCKER_CONFIG/config.json`.
fn docker_config(root: &NativeRoot, config: serde_json::Value) {
    let dir = root.file("docker-config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut env = root.env.borrow_mut();
    if !env.iter().any(|(k, _)| k == "DOCKER_CONFIG") {
        env.push((
            "DOCKER_CONFIG".to_string(),
            dir.to_string_lossy().into_owned(),
        ));
    }
}

/// A `config.json` `auths` value holding `user:password` for `registry`.
fn auths(registry: &Registry, user: &str, password: &str) -> serde_json::Value {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    serde_json::json!({ registry.address(): { "auth": auth } })
}

#[test]
fn credential_helpers_log_in_as_docker_s_do_and_their_failures_name_them() {
    let registry = Registry::start_with(Auth::Htpasswd);
    let target = format!("{}/hoist/helped:1", registry.address());
    let root = NativeRoot::new("helper");
    root.load_busybox();
    root.ok(&["image", "tag", "hoist-test/busybox", &target]);
    let asked = credential_helpers(&root, &registry);

    // credsStore beats `auths` (whose password is wrong here): the helper's login pushes.
    docker_config(
        &root,
        serde_json::json!({
            "auths": auths(&registry, USER, "not-the-password"),
            "credsStore": "hoisttest",
        }),
    );
    let pushed = root.ok(&["image", "push", &target]);
    assert!(pushed.contains(": Pushed"), "{pushed}");
    // Asked, as the docker CLI asks, for the bare host of the registry.
    let servers = std::fs::read_to_string(&asked).unwrap();
    assert!(
        servers.lines().all(|l| l == registry.address()) && !servers.is_empty(),
        "{servers}"
    );

    // credHelpers for the registry beat credsStore; "not found" means anonymous, which
    // this registry refuses as it refuses anyone without a login.
    docker_config(
        &root,
        serde_json::json!({
            "credsStore": "hoisttest",
            "credHelpers": { registry.address(): "hoistnone" },
        }),
    );
    let out = root.hoist(&["image", "push", &target]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("docker login {}", registry.address())),
        "the usual auth error: {err}"
    );

    // A helper answering garbage, or missing from PATH: an error naming it and the registry.
    for (helper, says) in [
        ("hoistbroken", "answered something other than the JSON"),
        ("hoistmissing", "is not on PATH"),
    ] {
        docker_config(
            &root,
            serde_json::json!({ "credHelpers": { registry.address(): helper } }),
        );
        for args in [["image", "push", &target], ["image", "pull", &target]] {
            let out = root.hoist(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{err}");
            assert!(!err.contains("panicked"), "{err}");
            assert!(
                err.contains(&format!("docker-credential-{helper}")),
                "{err}"
            );
            assert!(err.contains(&registry.address()), "{err}");
            assert!(err.contains(says), "{err}");
        }
    }

    // An identity token cannot answer a password challenge: said so.
    docker_config(
        &root,
        serde_json::json!({ "credHelpers": { registry.address(): "hoistidentity" } }),
    );
    let out = root.hoist(&["image", "push", &target]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("identity token"), "{err}");

    // A fresh store pulls with the helper's login.
    let fresh = NativeRoot::new("helperpull");
    credential_helpers(&fresh, &registry);
    docker_config(
        &fresh,
        serde_json::json!({ "credHelpers": { registry.address(): "hoisttest" } }),
    );
    let pulled = fresh.ok(&["image", "pull", &target]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
}

#[test]
fn a_credential_helper_s_login_goes_to_the_token_service_only() {
    let registry = Registry::start_with(Auth::Token {
        anonymous_pull: false,
    });
    let target = format!("{}/hoist/helpedtoken:1", registry.address());
    let root = NativeRoot::new("helpertoken");
    root.load_busybox();
    root.ok(&["image", "tag", "hoist-test/busybox", &target]);
    credential_helpers(&root, &registry);
    docker_config(
        &root,
        serde_json::json!({ "credHelpers": { registry.address(): "hoisttest" } }),
    );
    let pushed = root.ok(&["image", "push", &target]);
    assert!(pushed.contains(": Pushed"), "{pushed}");
    let fresh = NativeRoot::new("helpertokenpull");
    credential_helpers(&fresh, &registry);
    docker_config(&fresh, serde_json::json!({ "credsStore": "hoisttest" }));
    let pulled = fresh.ok(&["image", "pull", &target]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let requests = registry.token_requests();
    assert!(
        !requests.is_empty()
            && requests.iter().all(|r| r.status == 200
                && r.credentials == Some((USER.to_string(), PASSWORD.to_string()))),
        "{requests:?}"
    );
    assert_only_tokens_reached_the_registry(&registry);

    // An identity token (`Username: "<token>"`) goes to the token service as an OAuth2
    // refresh token, never as a password.
    let identity = NativeRoot::new("helperidentity");
    credential_helpers(&identity, &registry);
    docker_config(
        &identity,
        serde_json::json!({ "credHelpers": { registry.address(): "hoistidentity" } }),
    );
    let asked_before = registry.token_requests().len();
    let pulled = identity.ok(&["image", "pull", &target]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let requests = &registry.token_requests()[asked_before..];
    assert!(
        !requests.is_empty()
            && requests.iter().all(|r| r.status == 200
                && r.credentials.is_none()
                && r.refresh_token.as_deref() == Some(IDENTITY_TOKEN)),
        "{requests:?}"
    );
    assert_only_tokens_reached_the_registry(&registry);

    // With a helper that has no login, the token service grants nothing: a clear error.
    let anonymous = NativeRoot::new("helpertokenanon");
    credential_helpers(&anonymous, &registry);
    docker_config(
        &anonymous,
        serde_json::json!({ "credHelpers": { registry.address(): "hoistnone" } }),
    );
    let out = anonymous.hoist(&["image", "pull", &target]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("docker login {}", registry.address())),
        "{err}"
    );
}

/// The blob uploads (`PATCH`, or `PUT` to an upload session) the registry got for `repo`.
fn blob_uploads(registry: &Registry, repo: &str) -> Vec<String> {
    let prefix = format!("/v2/{repo}/blobs/uploads/");
    registry
        .registry_requests()
        .into_iter()
        .filter_map(|head| head.lines().next().map(str::to_string))
        .filter(|line| {
            (line.starts_with("PATCH ") || line.starts_with("PUT ")) && line.contains(&prefix)
        })
        .collect()
}

#[test]
fn a_push_mounts_blobs_the_registry_has_in_another_repository() {
    let registry = Registry::start_with(Auth::Token {
        anonymous_pull: false,
    });
    let first = format!("{}/hoist/a:1", registry.address());
    let second = format!("{}/hoist/b:1", registry.address());
    let root = NativeRoot::new("mount");
    root.load_busybox();
    root.ok(&["image", "tag", "hoist-test/busybox", &first]);
    root.ok(&["image", "tag", "hoist-test/busybox", &second]);
    docker_login(&root, &registry, Some((USER, PASSWORD)));
    let pushed = root.ok(&["image", "push", &first]);
    assert!(pushed.contains(": Pushed"), "{pushed}");
    assert!(!blob_uploads(&registry, "hoist/a").is_empty());

    let asked_before = registry.token_requests().len();
    let out = root.ok(&["image", "push", &second]);
    assert!(out.contains(": Mounted from hoist/a"), "{out}");
    assert!(!out.contains(": Pushed"), "{out}");
    let heads = registry.registry_requests();
    let mounts: Vec<&String> = heads
        .iter()
        .filter(|h| {
            h.starts_with("POST /v2/hoist/b/blobs/uploads/?mount=sha256%3A")
                && h.lines().next().unwrap().contains("&from=hoist%2Fa ")
        })
        .collect();
    assert!(
        !mounts.is_empty(),
        "no mount request:
{}",
        heads.join(
            "

"
        )
    );
    assert_eq!(
        blob_uploads(&registry, "hoist/b"),
        Vec::<String>::new(),
        "no blob bytes were sent for hoist/b"
    );
    // The token for the mount covers reading the repository it mounts from.
    let mount_scopes = registry.token_requests()[asked_before..].iter().any(|r| {
        r.scopes.contains(&"repository:hoist/a:pull".to_string())
            && r.scopes
                .contains(&"repository:hoist/b:pull,push".to_string())
            && r.granted.contains(&"repository:hoist/a:pull".to_string())
    });
    assert!(mount_scopes, "{:?}", registry.token_requests());
    assert_only_tokens_reached_the_registry(&registry);

    // What was pulled is remembered too: a fresh store pulls b, pushes it as c by mounts.
    let fresh = NativeRoot::new("mountpull");
    docker_login(&fresh, &registry, Some((USER, PASSWORD)));
    let pulled = fresh.ok(&["image", "pull", &second]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let third = format!("{}/hoist/c:1", registry.address());
    fresh.ok(&["image", "tag", &second, &third]);
    let out = fresh.ok(&["image", "push", &third]);
    assert!(out.contains(": Mounted from hoist/b"), "{out}");
    assert_eq!(blob_uploads(&registry, "hoist/c"), Vec::<String>::new());
    let last = NativeRoot::new("mountlast");
    docker_login(&last, &registry, Some((USER, PASSWORD)));
    let pulled = last.ok(&["image", "pull", &third]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let ran = last.ok(&["image", "inspect", &third]);
    assert!(ran.contains("sha256:"), "{ran}");
}

#[test]
fn image_prune_filters_by_label_and_creation_time_on_native() {
    let root = NativeRoot::new("prunefilter");
    root.load_busybox();
    for stage in ["one", "two"] {
        root.write(
            &format!("Dockerfile.{stage}"),
            &format!("FROM hoist-test/busybox:latest\nLABEL hoist.prune=yes stage={stage}\n"),
        );
    }
    let compose: String = ["one", "two"]
        .iter()
        .map(|s| {
            format!(
                "  {s}:\n    build: {{context: ., dockerfile: Dockerfile.{s}}}\n    image: hoist-test/{s}:1\n"
            )
        })
        .collect();
    root.write("compose.yaml", &format!("services:\n{compose}"));
    root.ok(&["build"]);
    let untagged = |out: &str| -> Vec<String> {
        let mut names: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("untagged: "))
            .map(str::to_string)
            .collect();
        names.sort();
        names
    };

    let out = root.ok(&["image", "prune", "-a", "-f", "--filter", "label=stage=two"]);
    assert_eq!(untagged(&out), ["hoist-test/two:1"], "{out}");
    // Built just now: not before 2000.
    let out = root.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "label=hoist.prune",
        "--filter",
        "until=2000-01-01T00:00:00Z",
    ]);
    assert!(untagged(&out).is_empty(), "{out}");
    // label!: busybox has no hoist.prune label.
    let out = root.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "label!=hoist.prune",
    ]);
    assert_eq!(untagged(&out), ["hoist-test/busybox:latest"], "{out}");
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let out = root.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        &format!("until={later}"),
    ]);
    assert_eq!(untagged(&out), ["hoist-test/one:1"], "{out}");

    for bad in ["nope=1", "until=someday", "label"] {
        let out = root.hoist(&["image", "prune", "-f", "--filter", bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("\"{bad}\"")),
            "names the filter: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
