//! Helpers shared by the integration tests: connecting to the real Docker engine, unique
//! names, a cleanup guard, and the local busybox test image (no registry is reachable).
//!
//! Tests never skip: an unreachable engine or a missing `busybox-static` fails them with a
//! message saying what to fix.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use hoist::runtime::docker::DockerRuntime;
use hoist::runtime::{BuildSpec, ImageProgress, LabelFilter, Runtime};

/// The local test image: a static busybox on `scratch`, with its applets linked in /bin.
pub const BUSYBOX_IMAGE: &str = "hoist-test/busybox:latest";

/// Bumped whenever the image recipe changes, so existing images get rebuilt.
const RECIPE_VERSION: &str = "2";
const RECIPE_LABEL: &str = "hoist.test.recipe";

/// Where Debian's `busybox-static` installs its binary.
const BUSYBOX_BINARY: &str = "/bin/busybox";

/// Label carried by everything the tests create, so leftovers can be found by hand:
/// `docker ps -a --filter label=hoist.test`.
pub const TEST_LABEL: &str = "hoist.test";

/// Connects to the engine on this machine, failing the test when none answers.
pub async fn docker() -> DockerRuntime {
    match DockerRuntime::connect().await {
        Ok(rt) => rt,
        Err(e) => panic!("these tests need the Docker engine on this machine: {e}"),
    }
}

/// A name no other test (or concurrent test run) uses: `hoist-test-<prefix>-<pid>-<n>-<t>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("hoist-test-{prefix}-{}-{n}-{t:x}", std::process::id())
}

/// Labels marking an object as created by test `name`.
pub fn test_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(TEST_LABEL.to_string(), name.to_string())])
}

/// Ensures [`BUSYBOX_IMAGE`] exists, building it once per process from the host's static
/// busybox. Safe to call from many tests at once (and from concurrent test processes: a
/// duplicate build is idempotent). Returns the image reference.
pub fn ensure_busybox_image() -> &'static str {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let outcome = BUILT.get_or_init(|| {
        // Its own thread and runtime: callers may be inside any (or no) tokio runtime.
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
            rt.block_on(build_busybox_image())
        })
        .join()
        .unwrap_or_else(|_| Err("the busybox image build panicked".to_string()))
    });
    if let Err(e) = outcome {
        panic!("cannot prepare the test image {BUSYBOX_IMAGE}: {e}");
    }
    BUSYBOX_IMAGE
}

async fn build_busybox_image() -> Result<(), String> {
    let rt = DockerRuntime::connect().await.map_err(|e| e.to_string())?;
    // An image from an older version of this recipe is rebuilt (and retagged); containers
    // still using the old one keep it.
    if let Ok(image) = rt.inspect_image(BUSYBOX_IMAGE).await {
        if image.config.labels.get(RECIPE_LABEL).map(String::as_str) == Some(RECIPE_VERSION) {
            return Ok(());
        }
    }
    let binary = std::fs::read(BUSYBOX_BINARY).map_err(|e| {
        format!(
            "cannot read {BUSYBOX_BINARY} ({e}); install it with \
             `apt-get install -y busybox-static`"
        )
    })?;
    // Besides the applets: /tmp and the passwd/group files many programs expect.
    let dockerfile = "FROM scratch\n\
                      COPY busybox /bin/busybox\n\
                      RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
                      RUN mkdir -p /tmp /root /etc && chmod 1777 /tmp \\\n\
                      && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd \\\n\
                      && echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> /etc/passwd \\\n\
                      && printf 'root:x:0:\\nnogroup:x:65534:\\n' > /etc/group\n\
                      CMD [\"/bin/sh\"]\n";
    let context = tar_context(&[
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("busybox", &binary, 0o755),
    ]);
    let spec = BuildSpec {
        context_tar: context.into(),
        tags: vec![BUSYBOX_IMAGE.to_string()],
        labels: BTreeMap::from([
            (TEST_LABEL.to_string(), "busybox".to_string()),
            (RECIPE_LABEL.to_string(), RECIPE_VERSION.to_string()),
        ]),
        ..Default::default()
    };
    let log = Mutex::new(String::new());
    let record = |p: ImageProgress| {
        if let ImageProgress::BuildOutput(line) = p {
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
            }
        }
    };
    match rt.build_image(&spec, &record).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{e}\nbuild output:\n{}",
            log.lock().map(|l| l.clone()).unwrap_or_default()
        )),
    }
}

/// An uncompressed tar holding `(path, content, mode)` files.
pub fn tar_context(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, *content)
            .expect("appending to an in-memory tar cannot fail");
    }
    let mut data = builder
        .into_inner()
        .expect("finishing an in-memory tar cannot fail");
    data.flush().expect("flushing a Vec cannot fail");
    data
}

/// The files of a tar archive as `(path, content)`.
pub fn untar(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(data);
    let mut files = Vec::new();
    for entry in archive.entries().expect("a readable tar") {
        let mut entry = entry.expect("a readable tar entry");
        let path = entry
            .path()
            .expect("a tar path")
            .to_string_lossy()
            .into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).expect("a readable tar entry");
        files.push((path, content));
    }
    files
}

/// Removes what a test created when it goes out of scope, pass or fail. Registration is
/// by name; removal ignores what is already gone.
#[derive(Default)]
pub struct Cleanup {
    containers: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
    images: Vec<String>,
}

impl Cleanup {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn container(&mut self, name: &str) -> &mut Self {
        self.containers.push(name.to_string());
        self
    }

    pub fn network(&mut self, name: &str) -> &mut Self {
        self.networks.push(name.to_string());
        self
    }

    pub fn volume(&mut self, name: &str) -> &mut Self {
        self.volumes.push(name.to_string());
        self
    }

    pub fn image(&mut self, reference: &str) -> &mut Self {
        self.images.push(reference.to_string());
        self
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let containers = std::mem::take(&mut self.containers);
        let networks = std::mem::take(&mut self.networks);
        let volumes = std::mem::take(&mut self.volumes);
        let images = std::mem::take(&mut self.images);
        if containers.is_empty() && networks.is_empty() && volumes.is_empty() && images.is_empty() {
            return;
        }
        // Drop cannot await, and may run inside the test's runtime: use a fresh one on
        // another thread.
        let removal = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(docker) = DockerRuntime::connect().await else {
                    return;
                };
                // Containers first: they hold networks and volumes.
                for c in &containers {
                    let _ = docker.remove_container(c, true, true).await;
                }
                for n in &networks {
                    let _ = docker.remove_network(n).await;
                }
                for v in &volumes {
                    let _ = docker.remove_volume(v, true).await;
                }
                for i in &images {
                    let _ = docker.remove_image(i, true).await;
                }
            });
        });
        let _ = removal.join();
    }
}

/// Selector for objects labelled by [`test_labels`].
pub fn test_label_filter(name: &str) -> LabelFilter {
    LabelFilter::equals(TEST_LABEL, name)
}
pub mod background;
// Some native test binaries also load busybox.rs on their own (`#[path]`), before they used
// this module; both copies are the same code.
#[allow(clippy::duplicate_mod)]
pub mod busybox;
pub mod host;
pub mod ps;
pub mod registry;
pub mod stack;
