//! `hoist version` and `hoist info` on both backends, through the binary: which backend is
//! in use and why, its version or data root, and what it holds.
//!
//! Never skipped: the docker-backend tests need the engine on this machine; the native
//! ones a data root of their own (`HOIST_ROOT`) and root.

use std::process::{Command, Stdio};

fn hoist(envs: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("HOIST_BACKEND")
        .stdin(Stdio::null())
        .output()
        .expect("run hoist");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hoist {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn version_names_the_docker_engine_auto_picked() {
    let v = hoist(&[], &["version", "--format", "json"]);
    assert_eq!(v["Client"]["Version"], env!("CARGO_PKG_VERSION"));
    let b = &v["Backend"];
    assert_eq!(b["Name"], "docker");
    assert!(
        b["Selected"]
            .as_str()
            .unwrap()
            .starts_with("auto: a Docker engine answers at "),
        "{b}"
    );
    let engine = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .expect("docker version");
    assert_eq!(
        b["Version"].as_str().unwrap(),
        String::from_utf8_lossy(&engine.stdout).trim()
    );
}

#[test]
fn version_explains_why_auto_fell_back_to_native_and_where_its_data_lives() {
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().to_string_lossy().into_owned();
    let v = hoist(
        &[
            ("HOIST_ROOT", &root_path),
            ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        ],
        &["version", "--format", "json"],
    );
    let b = &v["Backend"];
    assert_eq!(b["Name"], "native");
    assert_eq!(
        b["Selected"],
        "auto: no Docker engine at unix:///nonexistent/docker.sock"
    );
    assert_eq!(b["DataRoot"], root_path.as_str());

    let text = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args(["--backend", "native", "version"])
        .env("HOIST_ROOT", &root_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Backend: native"), "{text}");
    assert!(text.contains(" Selected:     --backend native"), "{text}");
    assert!(
        text.contains(&format!(" Data root:    {root_path}")),
        "{text}"
    );
}

#[test]
fn info_on_native_counts_what_the_data_root_holds() {
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().to_string_lossy().into_owned();
    let i = hoist(
        &[
            ("HOIST_ROOT", &root_path),
            ("HOIST_REGISTRY_INSECURE", "10.1.2.3:5000"),
        ],
        &["--backend", "native", "info", "--format", "json"],
    );
    assert_eq!(i["Backend"], "native");
    assert_eq!(i["Selected"], "--backend native");
    assert_eq!(i["DataRoot"], root_path.as_str());
    assert_eq!(i["StorageDriver"], "overlayfs");
    for key in ["Containers", "Images", "Volumes", "Networks"] {
        assert_eq!(i[key], 0, "{key} of an empty data root: {i}");
    }
    let kernel = nix::sys::utsname::uname().unwrap();
    assert_eq!(
        i["KernelVersion"],
        kernel.release().to_string_lossy().as_ref()
    );
    let cgroup = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    assert_eq!(i["CgroupVersion"], cgroup);
    assert!(
        i["InsecureRegistries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "10.1.2.3:5000"),
        "{i}"
    );

    // What it holds shows up in the counts.
    let out = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args(["--backend", "native", "image", "import", "-", "x:1"])
        .env("HOIST_ROOT", &root_path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "no such file: a clear error, no image"
    );
    let tarball = root.path().join("rootfs.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&tarball).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "hello", &b"hi"[..]).unwrap();
    tar.finish().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args(["--backend", "native", "image", "import"])
        .arg(&tarball)
        .arg("hoist-test/info:1")
        .env("HOIST_ROOT", &root_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let i = hoist(
        &[("HOIST_ROOT", &root_path)],
        &["--backend", "native", "info", "--format", "json"],
    );
    assert_eq!(i["Images"], 1, "{i}");
}

#[test]
fn info_on_docker_reports_the_engine_s_storage_and_counts() {
    let i = hoist(&[], &["--backend", "docker", "info", "--format", "json"]);
    assert_eq!(i["Backend"], "docker");
    assert_eq!(i["Selected"], "--backend docker");
    let engine = Command::new("docker")
        .args([
            "info",
            "--format",
            "{{.Driver}}|{{.DockerRootDir}}|{{.CgroupVersion}}",
        ])
        .output()
        .expect("docker info");
    let engine = String::from_utf8_lossy(&engine.stdout).trim().to_string();
    let fields: Vec<&str> = engine.split('|').collect();
    assert_eq!(i["StorageDriver"], fields[0]);
    assert_eq!(i["DataRoot"], fields[1]);
    assert_eq!(i["CgroupVersion"], fields[2]);
    assert!(i["Images"].as_u64().unwrap() >= 1, "{i}");
    assert!(
        i["Networks"].as_u64().unwrap() >= 3,
        "bridge, host, none: {i}"
    );
}
