//! `hoist version` and `hoist info` on both backends, through the binary: which backend is
//! in use and why, its version or data root, and what it holds; and the `hoist image`
//! commands on the docker backend, checked against the engine. (The native backend's image
//! commands are in `native_images.rs`, next to its registry.)
//!
//! Never skipped: the docker-backend tests need the engine on this machine; the native
//! ones a data root of their own (`HOIST_ROOT`) and root.

mod common;

use std::process::{Command, Output, Stdio};

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

fn hoist_docker(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args(["--backend", "docker", "image"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run hoist")
}

fn engine_has(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .expect("docker")
        .status
        .success()
}

#[test]
fn image_commands_on_the_docker_backend_tag_list_save_remove_and_load() {
    let base = common::ensure_busybox_image();
    let name = format!(
        "{}:1",
        common::unique_name("dkimg")
            .to_lowercase()
            .replace("hoist-test-", "hoist-test/")
    );
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("saved.tar");
    struct Untag(String);
    impl Drop for Untag {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rmi", &self.0]).output();
        }
    }
    let _cleanup = Untag(name.clone());

    assert!(hoist_docker(&["tag", base, &name]).status.success());
    assert!(engine_has(&name));
    let listed = String::from_utf8_lossy(&hoist_docker(&["ls"]).stdout).into_owned();
    let (repo, tag) = name.split_once(':').unwrap();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(repo) && l.contains(tag)),
        "{listed}"
    );
    let inspected = hoist_docker(&["inspect", &name]);
    let v: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let id = Command::new("docker")
        .args(["image", "inspect", "-f", "{{.Id}}", &name])
        .output()
        .unwrap();
    assert_eq!(v[0]["Id"], String::from_utf8_lossy(&id.stdout).trim());
    assert!(
        v[0]["RootFS"]["Layers"].as_array().unwrap().len() >= 2,
        "{v}"
    );
    let formatted = hoist_docker(&["inspect", "-f", "{{.Id}} {{.Config.Cmd}}", &name]);
    assert_eq!(
        String::from_utf8_lossy(&formatted.stdout).trim(),
        format!("{} [/bin/sh]", String::from_utf8_lossy(&id.stdout).trim())
    );

    let saved = hoist_docker(&["save", "-o", &archive.to_string_lossy(), &name]);
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let removed = hoist_docker(&["rm", &name]);
    assert_eq!(
        String::from_utf8_lossy(&removed.stdout).trim(),
        format!("Untagged: {name}")
    );
    assert!(!engine_has(&name));
    let loaded = hoist_docker(&["load", "-i", &archive.to_string_lossy()]);
    assert_eq!(
        String::from_utf8_lossy(&loaded.stdout).trim(),
        format!("Loaded image: {name}")
    );
    assert!(engine_has(&name));

    let missing = hoist_docker(&["inspect", "hoist-test/never-built:0"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("No such image: hoist-test/never-built:0"));
}

/// Builds `name` on the engine from the busybox test image with `labels` (`k=v ...`).
fn engine_build_labelled(name: &str, labels: &str) {
    use std::io::Write as _;
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", name, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker build");
    write!(
        child.stdin.take().unwrap(),
        "FROM {}\nLABEL {labels}\n",
        common::ensure_busybox_image()
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker build {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn image_prune_filters_go_to_the_engine_on_the_docker_backend() {
    // Every prune names this run's own label: other images on the engine are never touched.
    let run = common::unique_name("prunefilter").to_lowercase();
    let mine = format!("label=hoist.test.prune={run}");
    let (one, two) = (
        format!("hoist-test/{run}-one:1"),
        format!("hoist-test/{run}-two:1"),
    );
    struct Untag(Vec<String>);
    impl Drop for Untag {
        fn drop(&mut self) {
            for image in &self.0 {
                let _ = Command::new("docker").args(["rmi", "-f", image]).output();
            }
        }
    }
    let _cleanup = Untag(vec![one.clone(), two.clone()]);
    engine_build_labelled(&one, &format!("hoist.test.prune={run} stage=one"));
    engine_build_labelled(&two, &format!("hoist.test.prune={run} stage=two"));
    let prune = |filters: &[&str]| {
        let mut args = vec!["prune", "-a", "-f", "--filter", &mine];
        for f in filters {
            args.extend(["--filter", f]);
        }
        let out = hoist_docker(&args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };

    // Built just now: nothing of it was created before 2000.
    let out = prune(&["until=2000-01-01T00:00:00Z"]);
    assert!(engine_has(&one) && engine_has(&two), "{out}");
    let out = prune(&["label!=stage=one"]);
    assert!(out.contains(&format!("untagged: {two}")), "{out}");
    assert!(engine_has(&one) && !engine_has(&two), "{out}");
    let out = prune(&["label=stage=one", "until=0s"]);
    assert!(out.contains(&format!("untagged: {one}")), "{out}");
    assert!(!engine_has(&one), "{out}");

    // A bad filter is refused before the engine is asked, naming it (this run's label
    // still there, should it ever be accepted).
    let out = hoist_docker(&[
        "prune",
        "-a",
        "-f",
        "--filter",
        &mine,
        "--filter",
        "dangle=true",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("\"dangle=true\""), "{err}");
}
