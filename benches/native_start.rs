//! One container of the native runtime, through the library (no CLI, no project): the time
//! `start_container` takes until the process runs (the monitor's report), and a whole
//! create + start + wait + remove of `true`. Both without networking (`network_mode: none`)
//! and, for start, on a bridge network with its veth and hosts file, and without the
//! seccomp filter (what loading Docker's profile costs), and what compiling that profile
//! costs (paid once per machine, not per start). Run as root:
//! `cargo bench --bench native_start` (needs busybox-static).

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use hoist::runtime::native::oci::ContainerDefaults;
use hoist::runtime::native::NativeRuntime;
use hoist::runtime::{ContainerSpec, Runtime};

#[path = "../tests/common/busybox.rs"]
mod busybox;
#[path = "../tests/common/native.rs"]
mod native;

const IMAGE: &str = "hoist-bench/busybox:latest";

fn spec(cmd: &[&str], network_mode: Option<&str>) -> ContainerSpec {
    ContainerSpec {
        image: IMAGE.to_string(),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        network_mode: network_mode.map(str::to_string),
        stop_signal: Some("SIGKILL".to_string()),
        ..Default::default()
    }
}

/// Removes what the bench made in data root `.0` (containers, the `bridge` network with
/// its bridge, veths and iptables rules) when dropped, a panic mid-run included.
struct Leftovers<'a>(&'a Path);

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        native::remove_everything(self.0);
    }
}

async fn open(dir: &Path) -> NativeRuntime {
    let rt = NativeRuntime::open(&dir.join("root")).expect("open the native runtime");
    let tarball = busybox::busybox_rootfs(dir);
    let defaults = ContainerDefaults {
        env: Some(vec!["PATH=/bin".to_string()]),
        ..Default::default()
    };
    rt.import_image(&tarball, IMAGE, defaults)
        .await
        .expect("import the busybox rootfs");
    rt
}

fn bench(c: &mut Criterion) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the native runtime starts containers on the real kernel: run as root"
    );
    std::env::set_var("HOIST_BINARY", env!("CARGO_BIN_EXE_hoist"));
    let tokio = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio.block_on(open(dir.path()));
    let _leftovers = Leftovers(rt.root());

    let mut group = c.benchmark_group("native container");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    // The unconfined case is the same start without Docker's seccomp filter: the
    // difference is what loading the profile costs.
    for (name, mode, unconfined) in [
        ("start (no network)", Some("none"), false),
        ("start (no network, seccomp=unconfined)", Some("none"), true),
        ("start (bridge)", None, false),
    ] {
        let mut started = spec(&["sleep", "3600"], mode);
        if unconfined {
            started.security_opt = vec!["seccomp=unconfined".to_string()];
        }
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                tokio.block_on(async {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let id = rt.create_container(&started).await.expect("create");
                        let began = Instant::now();
                        rt.start_container(&id).await.expect("start");
                        spent += began.elapsed();
                        rt.remove_container(&id, true, true).await.expect("remove");
                    }
                    spent
                })
            })
        });
    }
    group.bench_function("create + start + wait + remove of true (no network)", |b| {
        b.iter(|| {
            tokio.block_on(async {
                let id = rt
                    .create_container(&spec(&["true"], Some("none")))
                    .await
                    .expect("create");
                rt.start_container(&id).await.expect("start");
                assert_eq!(rt.wait_container(&id).await.expect("wait"), 0);
                rt.remove_container(&id, true, true).await.expect("remove");
            })
        })
    });
    group.finish();

    // What libcontainer paid in every container init and exec before hoist compiled the
    // filter once: libseccomp building Docker's default profile into BPF.
    let caps = hoist::runtime::native::spec::capabilities(false, &[], &[]).expect("caps");
    let rules = hoist::runtime::native::seccomp::for_container(&[], false, &caps)
        .expect("default profile")
        .expect("a filter");
    let rules: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(rules).expect("rules");
    c.bench_function(
        "seccomp/compile Docker's default profile (libseccomp)",
        |b| b.iter(|| hoist::runtime::native::seccomp::compile(&rules).expect("compile")),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
