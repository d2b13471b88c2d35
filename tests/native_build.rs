//! The native builder on the real kernel, as root, with no Docker involved: each test has
//! its own data root (`HOIST_ROOT`) with a busybox image imported as the base, a compose
//! project whose service builds a Dockerfile, and drives the `hoist` binary
//! (`--backend native build / run / up --build`), checking the output and what the built
//! image does.

use std::process::{Command, Output, Stdio};

#[path = "common/busybox.rs"]
mod busybox;
mod common;

const BASE: &str = "hoist-test/busybox:latest";

/// A data root with the busybox base image, and a project directory.
struct Fixture {
    dir: tempfile::TempDir,
    project: String,
}

impl Fixture {
    fn new(project: &str) -> Fixture {
        assert!(
            nix::unistd::Uid::effective().is_root(),
            "the native builder tests mount overlays and run containers: run them as root"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("project")).expect("project dir");
        let fixture = Fixture {
            dir,
            project: project.to_string(),
        };
        let tarball = busybox::busybox_rootfs(fixture.dir.path());
        let tarball = tarball.to_string_lossy().into_owned();
        fixture.ok(&[
            "image",
            "import",
            &tarball,
            BASE,
            "--change",
            "ENV PATH=/bin",
            "--change",
            "CMD [\"/bin/sh\"]",
        ]);
        fixture
    }

    fn project_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("project")
    }

    fn write(&self, path: &str, content: &str) {
        let p = self.project_dir().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&p, content).expect("write project file");
    }

    fn hoist(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hoist"))
            .current_dir(self.project_dir())
            .args([
                "-p",
                &self.project,
                "--backend",
                "native",
                "--progress",
                "plain",
            ])
            .args(args)
            .env("HOIST_ROOT", self.dir.path().join("root"))
            .env_remove("HOIST_BINARY")
            .stdin(Stdio::null())
            .output()
            .expect("run hoist")
    }

    /// Runs hoist and returns stdout + stderr; panics with both when it fails.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.hoist(args);
        let text = both(&out);
        assert!(
            out.status.success(),
            "hoist {} failed ({}):\n{text}",
            args.join(" "),
            out.status
        );
        text
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.hoist(args);
        let text = both(&out);
        assert!(
            !out.status.success(),
            "hoist {} should have failed:\n{text}",
            args.join(" ")
        );
        text
    }
}

impl Drop for Fixture {
    /// A failed test still leaves no container behind (the builder unmounts its own).
    fn drop(&mut self) {
        let _ = self.hoist(&["down", "-v", "-t", "1"]);
    }
}

fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn compose(image: &str, extra: &str) -> String {
    format!("services:\n  app:\n    build:\n      context: .\n{extra}    image: {image}\n")
}

#[test]
fn a_source_edit_reruns_only_the_steps_after_it_and_an_unchanged_rebuild_is_all_cached() {
    // The RUN step's output (computed, so its header never shows it) tells whether it ran.
    let f = Fixture::new("layers");
    f.write("compose.yaml", &compose("built/layers:latest", ""));
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         WORKDIR /app\n\
         COPY deps.txt .\n\
         RUN echo dependency-step-$((40+2)) && cp deps.txt installed.txt\n\
         COPY . .\n\
         CMD [\"cat\", \"/app/installed.txt\", \"/app/src.txt\"]\n",
    );
    f.write("deps.txt", "dep-1\n");
    f.write("src.txt", "source-1\n");
    let first = f.ok(&["build"]);
    assert!(first.contains("dependency-step-42"), "{first}");
    assert!(first.contains("[2/5] WORKDIR /app"), "{first}");
    let out = f.ok(&["run", "--rm", "app"]);
    assert!(out.contains("dep-1") && out.contains("source-1"), "{out}");

    let unchanged = f.ok(&["build"]);
    assert!(!unchanged.contains("dependency-step-42"), "{unchanged}");
    assert_eq!(unchanged.matches(" CACHED").count(), 4, "{unchanged}");

    f.write("src.txt", "source-2\n");
    let edited = f.ok(&["build"]);
    assert!(!edited.contains("dependency-step-42"), "{edited}");
    assert_eq!(edited.matches(" CACHED").count(), 3, "{edited}");
    let out = f.ok(&["run", "--rm", "app"]);
    assert!(out.contains("dep-1") && out.contains("source-2"), "{out}");

    // `run --build` builds first, then runs what it built.
    f.write("src.txt", "source-3\n");
    let out = f.ok(&["run", "--build", "--rm", "app"]);
    assert!(out.contains("source-3"), "{out}");

    // --no-cache runs everything again.
    let fresh = f.ok(&["build", "--no-cache"]);
    assert!(fresh.contains("dependency-step-42"), "{fresh}");
}

#[test]
fn multi_stage_args_env_entrypoint_cmd_user_and_workdir_behave_as_docker() {
    let f = Fixture::new("stages");
    f.write(
        "compose.yaml",
        &compose(
            "built/stages:latest",
            "      args:\n        GREETING: hi\n        WHO: me\n        V: from-build-arg\n",
        ),
    );
    f.write(
        "Dockerfile",
        "ARG BASE=hoist-test/busybox\n\
         FROM ${BASE} AS builder\n\
         ARG GREETING=hello\n\
         ARG V=arg-default\n\
         ENV V=from-env\n\
         RUN mkdir /out && echo \"$GREETING\" > /out/greeting && echo \"$V\" > /out/v\n\
         FROM hoist-test/busybox\n\
         ARG WHO\n\
         ENV WHO=${WHO:-nobody}\n\
         COPY --from=builder /out/ /data/\n\
         USER www\n\
         WORKDIR /work\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\", \"echo entry $WHO $(cat /data/greeting) $(cat /data/v) $(id -u) $(pwd) \\\"$@\\\"\", \"sh\"]\n\
         CMD [\"default-arg\"]\n",
    );
    let out = f.ok(&["build"]);
    assert!(out.contains("[builder 2/2] RUN mkdir /out"), "{out}");
    let out = f.ok(&["run", "--rm", "app"]);
    assert!(
        out.contains("entry me hi from-env 33 /work default-arg"),
        "{out}"
    );
    let out = f.ok(&["run", "--rm", "app", "x", "y"]);
    assert!(out.contains("entry me hi from-env 33 /work x y"), "{out}");
}

#[test]
fn dockerignore_keeps_node_modules_out_of_copy() {
    let f = Fixture::new("ignore");
    f.write("compose.yaml", &compose("built/ignore:latest", ""));
    f.write(".dockerignore", "node_modules\n");
    f.write("node_modules/dep/index.js", "ignored\n");
    f.write("index.js", "kept\n");
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         COPY . /app\n\
         RUN test ! -e /app/node_modules && test -f /app/index.js && echo IGNORE-OK\n",
    );
    let out = f.ok(&["build"]);
    assert!(out.contains("IGNORE-OK"), "{out}");
}

#[test]
fn a_failing_run_reports_its_line_and_output_and_a_malformed_dockerfile_its_line() {
    let f = Fixture::new("failing");
    f.write("compose.yaml", &compose("built/failing:latest", ""));
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         RUN echo before-the-failure && exit 3\n",
    );
    let out = f.fails(&["build"]);
    assert!(out.contains("Dockerfile line 2"), "{out}");
    assert!(out.contains("before-the-failure"), "{out}");
    assert!(out.contains("exit code: 3"), "{out}");

    f.write("Dockerfile", "FROM hoist-test/busybox\nCOPY\n");
    let out = f.fails(&["build"]);
    assert!(out.contains("line 2"), "{out}");
}

#[test]
fn up_build_runs_the_built_image() {
    let f = Fixture::new("upbuild");
    f.write("compose.yaml", &compose("built/upbuild:latest", ""));
    f.write("msg.txt", "hello from the built image\n");
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         COPY msg.txt /msg.txt\n\
         CMD [\"sh\", \"-c\", \"cat /msg.txt; sleep 30\"]\n",
    );
    f.ok(&["up", "-d", "--build"]);
    let mut logs = String::new();
    for _ in 0..50 {
        logs = f.ok(&["logs", "app"]);
        if logs.contains("hello from the built image") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(logs.contains("hello from the built image"), "{logs}");
    f.ok(&["down", "-t", "1"]);
}

#[test]
fn target_builds_only_the_stages_it_needs_and_onbuild_triggers_run_first() {
    let f = Fixture::new("target");
    f.write(
        "compose.yaml",
        &compose("built/target:latest", "      target: base\n"),
    );
    // The last stage would fail: with `target: base` it is never built.
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox AS base\n\
         ONBUILD RUN echo trigger-$((1+1)) > /trigger\n\
         CMD [\"echo\", \"base-stage\"]\n\
         FROM base\n\
         RUN exit 1\n",
    );
    let out = f.ok(&["build"]);
    assert!(!out.contains("RUN exit 1"), "{out}");
    let out = f.ok(&["run", "--rm", "app"]);
    assert!(out.contains("base-stage"), "{out}");

    // An image built FROM it runs its ONBUILD trigger before its own steps.
    f.write("compose.yaml", &compose("built/child:latest", ""));
    f.write(
        "Dockerfile",
        "FROM built/target:latest\nRUN cat /trigger\nCMD [\"cat\", \"/trigger\"]\n",
    );
    let out = f.ok(&["build"]);
    assert!(
        out.contains("[2/3] RUN echo trigger-$((1+1)) > /trigger"),
        "{out}"
    );
    let out = f.ok(&["run", "--rm", "app"]);
    assert!(out.contains("trigger-2"), "{out}");
}

#[test]
fn a_scratch_stage_can_be_copied_from() {
    let f = Fixture::new("scratch");
    f.write("compose.yaml", &compose("built/scratch:latest", ""));
    f.write("a.txt", "from-scratch-stage\n");
    f.write(
        "Dockerfile",
        "FROM scratch AS files\n\
         COPY a.txt /files/a.txt\n\
         FROM hoist-test/busybox\n\
         COPY --from=files /files/a.txt /a.txt\n\
         CMD [\"cat\", \"/a.txt\"]\n",
    );
    f.ok(&["build"]);
    let out = f.ok(&["run", "--rm", "app"]);
    assert!(out.contains("from-scratch-stage"), "{out}");
}

#[test]
fn cache_mounts_persist_across_builds_and_stay_out_of_the_image() {
    let f = Fixture::new("cachemount");
    f.write("compose.yaml", &compose("built/cachemount:latest", ""));
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         RUN --mount=type=cache,target=/cache echo run >> /cache/runs && echo RUNS-$(wc -l < /cache/runs)\n\
         RUN --mount=type=cache,id=shared,target=/a,sharing=locked echo x > /a/f\n\
         RUN --mount=type=cache,id=shared,target=/b,sharing=private,ro test -f /b/f && echo SAME-ID-OK\n\
         RUN test ! -e /cache/runs && test ! -e /a && echo NOT-IN-IMAGE\n",
    );
    let out = f.ok(&["build"]);
    assert!(out.contains("RUNS-1"), "{out}");
    assert!(out.contains("SAME-ID-OK"), "{out}");
    assert!(out.contains("NOT-IN-IMAGE"), "{out}");
    // The cache directory outlives the build: a rebuild without the layer cache sees it.
    let out = f.ok(&["build", "--no-cache"]);
    assert!(out.contains("RUNS-2"), "{out}");

    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\nRUN --mount=type=cache,target=/c,sharing=sometimes true\n",
    );
    let out = f.fails(&["build"]);
    assert!(
        out.contains("Dockerfile line 2") && out.contains("sharing=sometimes"),
        "{out}"
    );
}

#[test]
fn bind_and_tmpfs_mounts_show_their_source_and_leave_nothing_behind() {
    let f = Fixture::new("bindmount");
    f.write("compose.yaml", &compose("built/bindmount:latest", ""));
    f.write("data/a.txt", "bound-1\n");
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox AS gen\n\
         RUN mkdir /out && echo from-stage > /out/s.txt\n\
         FROM hoist-test/busybox\n\
         RUN --mount=type=bind,source=data,target=/mnt/ctx cat /mnt/ctx/a.txt > /copied && echo BIND-$(cat /copied)\n\
         RUN --mount=type=bind,from=gen,source=/out,target=/mnt/gen cp /mnt/gen/s.txt /s.txt\n\
         RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/f && grep -q ' /scratch tmpfs' /proc/mounts && echo TMPFS-OK\n\
         RUN test ! -e /mnt && test ! -e /scratch && echo STUBS-GONE\n\
         CMD [\"cat\", \"/copied\", \"/s.txt\"]\n",
    );
    let out = f.ok(&["build"]);
    assert!(out.contains("BIND-bound-1"), "{out}");
    assert!(
        out.contains("TMPFS-OK") && out.contains("STUBS-GONE"),
        "{out}"
    );
    let out = f.ok(&["run", "--rm", "app"]);
    assert!(
        out.contains("bound-1") && out.contains("from-stage"),
        "{out}"
    );
    let out = f.ok(&["run", "--rm", "app", "sh", "-c", "ls -a / | tr '\\n' ' '"]);
    assert!(!out.contains("mnt") && !out.contains("scratch"), "{out}");

    // What a bind mount shows is part of the step's key: editing it re-runs the step.
    f.write("data/a.txt", "bound-2\n");
    let out = f.ok(&["build"]);
    assert!(out.contains("BIND-bound-2"), "{out}");
    let out = f.ok(&["build"]);
    assert!(!out.contains("BIND-bound"), "{out}");

    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\nRUN --mount=type=bind,source=missing,target=/m true\n",
    );
    let out = f.fails(&["build"]);
    assert!(out.contains("missing") && out.contains("line 2"), "{out}");
}

#[test]
fn secret_mounts_come_from_compose_build_secrets_and_are_not_kept() {
    let f = Fixture::new("secretmount");
    f.write(
        "compose.yaml",
        "services:\n  app:\n    build:\n      context: .\n      secrets: [token]\n    image: built/secret:latest\n\
         secrets:\n  token:\n    file: ./token.txt\n",
    );
    f.write("token.txt", "s3cret");
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         RUN --mount=type=secret,id=token,required test \"$(cat /run/secrets/token)\" = s3cret && echo SECRET-OK\n\
         RUN --mount=type=secret,id=absent true\n\
         RUN test ! -e /run/secrets/token && echo SECRET-GONE\n",
    );
    let out = f.ok(&["build"]);
    assert!(
        out.contains("SECRET-OK") && out.contains("SECRET-GONE"),
        "{out}"
    );

    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\nRUN --mount=type=secret,id=absent,required true\n",
    );
    let out = f.fails(&["build"]);
    assert!(out.contains("secret absent is required"), "{out}");
}

#[test]
fn run_network_none_has_only_loopback_and_host_sees_the_hosts_interfaces() {
    let f = Fixture::new("runnet");
    f.write("compose.yaml", &compose("built/runnet:latest", ""));
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         RUN --network=none echo NONE-$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,)\n\
         RUN --network=host echo HOST-,$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,)\n",
    );
    let out = f.ok(&["build"]);
    assert!(out.contains("NONE-lo,"), "{out}");
    // The host's default-route interface (stable while other tests add and remove links).
    let routes = std::fs::read_to_string("/proc/net/route").unwrap();
    let uplink = routes
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&"00000000"))
        .map(|f| f[0].to_string())
        .expect("the host has a default route");
    // The step's output line, not its header (which names the command).
    let host_line = out.lines().rfind(|l| l.contains("HOST-,")).unwrap_or("");
    assert!(host_line.contains(&format!(",{uplink},")), "{out}");

    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\nRUN --network=bridge0 true\n",
    );
    let out = f.fails(&["build"]);
    assert!(out.contains("--network=bridge0"), "{out}");
}

/// A one-connection-at-a-time HTTP server on loopback answering every GET with `body`
/// and a fixed `Last-Modified`; `/redirect` redirects to `/file.txt`.
fn http_server(body: &'static str) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let response = if request.starts_with("GET /redirect ") {
                "HTTP/1.1 302 Found\r\nLocation: /file.txt\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Tue, 01 Dec 2026 12:00:00 GMT\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

#[test]
fn add_fetches_urls_with_checksum_mode_600_and_the_servers_mtime() {
    let port = http_server("downloaded-content\n");
    let f = Fixture::new("addurl");
    f.write("compose.yaml", &compose("built/addurl:latest", ""));
    let wrong = format!("sha256:{}", "0".repeat(64));
    let real = {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(b"downloaded-content\n");
        format!(
            "sha256:{}",
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    f.write(
        "Dockerfile",
        &format!(
            "FROM hoist-test/busybox\n\
             ADD --checksum={real} http://127.0.0.1:{port}/file.txt /dl/\n\
             ADD http://127.0.0.1:{port}/redirect /dl/renamed.txt\n\
             RUN echo STAT-$(stat -c '%a-%Y' /dl/file.txt) CONTENT-$(cat /dl/renamed.txt)\n"
        ),
    );
    let out = f.ok(&["build"]);
    assert!(out.contains("STAT-600-1796126400"), "{out}");
    assert!(out.contains("CONTENT-downloaded-content"), "{out}");
    // Same content: the steps are cached (the download is still made, as Docker does).
    let out = f.ok(&["build"]);
    assert_eq!(out.matches(" CACHED").count(), 3, "{out}");

    f.write(
        "Dockerfile",
        &format!("FROM hoist-test/busybox\nADD --checksum={wrong} http://127.0.0.1:{port}/file.txt /dl/\n"),
    );
    let out = f.fails(&["build"]);
    assert!(
        out.contains("checksum mismatch") && out.contains("line 2"),
        "{out}"
    );
}

#[test]
fn a_platform_other_than_the_hosts_is_a_clear_error_naming_the_service() {
    let f = Fixture::new("platform");
    let other = if cfg!(target_arch = "x86_64") {
        "linux/s390x"
    } else {
        "linux/amd64"
    };
    f.write(
        "compose.yaml",
        &compose(
            "built/platform:latest",
            &format!("      platforms: [{other}]\n"),
        ),
    );
    f.write("Dockerfile", "FROM hoist-test/busybox\n");
    let out = f.fails(&["build"]);
    assert!(
        out.contains("service app") && out.contains(other) && out.contains("host platform"),
        "{out}"
    );
    // The host's platform first does not hide a second one: nothing is built.
    let host = if cfg!(target_arch = "x86_64") {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    f.write(
        "compose.yaml",
        &compose(
            "built/platform:latest",
            &format!("      platforms: [{host}, {other}]\n"),
        ),
    );
    let out = f.fails(&["build"]);
    assert!(
        out.contains(other) && out.contains("host platform"),
        "{out}"
    );
}

/// The configuration the native builder gives an image, as Docker's JSON (`Config`).
fn native_config(f: &Fixture, reference: &str) -> serde_json::Value {
    use hoist::runtime::native::state;
    let root = f.dir.path().join("root");
    let config = state::with_store(&root, |store| {
        let record = store
            .image(reference)?
            .expect("the built image is in the store");
        Ok(store.image_config(&record)?)
    })
    .expect("read the image config");
    state::close_stores();
    serde_json::to_value(&config.config).expect("encode config")
}

#[test]
fn the_image_configuration_matches_what_dockers_classic_builder_produces() {
    // The same base on both sides: docker's test busybox (built FROM scratch) and the
    // imported one; the Dockerfile sets PATH itself, and only its own labels are compared.
    let base = common::ensure_busybox_image();
    let f = Fixture::new("cfgcmp");
    let tag = format!("hoist-test/cfgcmp:{}", common::unique_name("t"));
    f.write(
        "compose.yaml",
        &compose(
            "built/cfgcmp:latest",
            "      args:\n        VERSION: \"2.0\"\n",
        ),
    );
    let dockerfile = format!(
        "ARG BASE={base}\n\
         FROM ${{BASE}}\n\
         ARG VERSION=1.0\n\
         ARG UNUSED=x\n\
         ENV PATH=/bin APP_HOME=/srv/app\n\
         ENV APP_VERSION=$VERSION HOME_COPY=${{APP_HOME}} DEFAULTED=${{MISSING:-fallback}} ALT=${{APP_HOME:+set}}\n\
         LABEL org.example.version=$VERSION \"org.example.quoted\"=\"a b\" org.example.multi=one\\\n  org.example.two=2\n\
         SHELL [\"/bin/sh\", \"-ec\"]\n\
         WORKDIR $APP_HOME\n\
         WORKDIR sub\n\
         RUN echo built > stamp\n\
         USER 1000:1000\n\
         EXPOSE 8080 53/udp 9000/tcp\n\
         VOLUME /data [\"/cache\", \"/logs\"]\n\
         HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD wget -q -O- http://localhost:8080/ || exit 1\n\
         STOPSIGNAL SIGQUIT\n\
         ONBUILD RUN echo child\n\
         ONBUILD ENV CHILD=1\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
         CMD echo $APP_VERSION\n"
    );
    f.write(
        "Dockerfile",
        &dockerfile.replace(
            &format!("ARG BASE={base}"),
            "ARG BASE=hoist-test/busybox:latest",
        ),
    );
    f.ok(&["build"]);
    let native = native_config(&f, "docker.io/built/cfgcmp:latest");

    let ctx = f.dir.path().join("docker-context");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), &dockerfile).unwrap();
    let built = Command::new("docker")
        .args(["build", "-q", "--build-arg", "VERSION=2.0", "-t", &tag])
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("run docker build");
    assert!(
        built.status.success(),
        "docker build failed: {}",
        both(&built)
    );
    let inspect = Command::new("docker")
        .args(["image", "inspect", "-f", "{{json .Config}}", &tag])
        .output()
        .expect("run docker image inspect");
    let _ = Command::new("docker")
        .args(["image", "rm", "-f", &tag])
        .output();
    assert!(inspect.status.success(), "{}", both(&inspect));
    let docker: serde_json::Value =
        serde_json::from_slice(&inspect.stdout).expect("docker's config JSON");

    let own_labels = |v: &serde_json::Value| -> serde_json::Value {
        let mut labels = serde_json::Map::new();
        for (k, val) in v["Labels"].as_object().into_iter().flatten() {
            if k.starts_with("org.example.") {
                labels.insert(k.clone(), val.clone());
            }
        }
        serde_json::Value::Object(labels)
    };
    assert_eq!(own_labels(&native), own_labels(&docker), "Labels");
    assert_eq!(own_labels(&native).as_object().map(|m| m.len()), Some(4));
    for field in [
        "Env",
        "Entrypoint",
        "Cmd",
        "User",
        "WorkingDir",
        "ExposedPorts",
        "Volumes",
        "Healthcheck",
        "StopSignal",
        "OnBuild",
        "Shell",
    ] {
        assert!(!docker[field].is_null(), "docker set no {field}: {docker}");
        assert_eq!(
            native[field], docker[field],
            "{field}: native {} vs docker {}",
            native[field], docker[field]
        );
    }
}

#[test]
fn an_images_volume_and_healthcheck_take_effect_at_run_time() {
    // VOLUME: each container gets an anonymous volume there, filled from the image.
    // HEALTHCHECK: the image's probe is what `depends_on: service_healthy` waits for.
    let f = Fixture::new("volhealth");
    f.write(
        "compose.yaml",
        "services:\n  app:\n    build: .\n    image: built/volhealth:latest\n\
         \x20 web:\n    image: hoist-test/busybox\n    command: [\"sleep\", \"3600\"]\n\
         \x20   stop_signal: SIGKILL\n    depends_on:\n      app:\n        condition: service_healthy\n",
    );
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         RUN mkdir /data && echo seeded > /data/seed\n\
         VOLUME /data\n\
         HEALTHCHECK --interval=1s --timeout=1s --retries=3 CMD test -f /tmp/ready\n\
         STOPSIGNAL SIGKILL\n\
         CMD [\"sh\", \"-c\", \"sleep 1; touch /tmp/ready; exec sleep 3600\"]\n",
    );
    f.ok(&["up", "-d", "--build"]);
    let ps = f.ok(&["ps", "app"]);
    assert!(ps.contains("(healthy)"), "{ps}");
    assert!(
        f.ok(&["ps", "web"]).contains("Up"),
        "web started after app turned healthy"
    );
    assert_eq!(f.ok(&["exec", "app", "cat", "/data/seed"]).trim(), "seeded");
    // It is an anonymous volume of the data root, not the container's own layer.
    let root = f.dir.path().join("root");
    let volumes: Vec<String> = std::fs::read_dir(root.join("volumes"))
        .expect("the data root has volumes")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        volumes
            .iter()
            .any(|v| v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit())),
        "an anonymous volume (64 hex digits) exists: {volumes:?}"
    );
    f.ok(&["down", "-v", "-t", "0"]);
    let left: Vec<String> = std::fs::read_dir(root.join("volumes"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "down -v removes the anonymous volume: {left:?}"
    );
}

#[test]
fn environment_secrets_become_files_or_variables_and_writable_binds_write_nowhere() {
    let f = Fixture::new("envsecret");
    f.write(
        "compose.yaml",
        "services:\n  app:\n    build:\n      context: .\n      secrets: [token]\n    image: built/envsecret:latest\n\
         secrets:\n  token:\n    environment: TOKEN_VALUE\n",
    );
    f.write(".env", "TOKEN_VALUE=from-env-42\n");
    f.write("data/a.txt", "original\n");
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         RUN --mount=type=secret,id=token,required test \"$(cat /run/secrets/token)\" = from-env-42 && echo FILE-OK\n\
         RUN --mount=type=secret,id=token,env=TOKEN test \"$TOKEN\" = from-env-42 && test ! -e /run/secrets/token && echo ENV-OK\n\
         RUN --mount=type=bind,source=data,target=/data,rw echo changed > /data/a.txt && echo new > /data/b.txt && cat /data/a.txt\n\
         RUN --mount=type=bind,source=data,target=/data cat /data/a.txt && test ! -e /data/b.txt && echo RW-GONE\n\
         RUN test -z \"$TOKEN\" && echo NO-LEAK\n",
    );
    let out = f.ok(&["build"]);
    for marker in ["FILE-OK", "ENV-OK", "RW-GONE", "NO-LEAK"] {
        assert!(out.contains(marker), "{marker} missing:\n{out}");
    }
    // The step wrote through its writable mount; the context on disk is untouched.
    let on_disk = std::fs::read_to_string(f.project_dir().join("data/a.txt")).unwrap();
    assert_eq!(on_disk, "original\n");
    assert!(!f.project_dir().join("data/b.txt").exists());

    // An unset variable is named, with what to do.
    f.write(".env", "");
    let out = f.fails(&["build"]);
    assert!(
        out.contains("TOKEN_VALUE") && out.contains("not set"),
        "{out}"
    );
}

#[test]
fn ssh_mounts_get_a_socket_owned_and_moded_as_asked_and_say_when_no_agent_is_given() {
    use std::os::unix::net::UnixListener;
    let f = Fixture::new("sshmount");
    // A real listening socket stands in for the agent: the mount must forward to it.
    let agent_dir = tempfile::tempdir().unwrap();
    let agent = agent_dir.path().join("agent.sock");
    let _listener = UnixListener::bind(&agent).unwrap();
    f.write(
        "compose.yaml",
        &format!(
            "services:\n  app:\n    build:\n      context: .\n      ssh: [\"default={}\"]\n    image: built/ssh:latest\n",
            agent.display()
        ),
    );
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo SOCK-$SSH_AUTH_SOCK-$(stat -c %a \"$SSH_AUTH_SOCK\")\n\
         RUN --mount=type=ssh,uid=33,mode=0660 echo OWNED-$(stat -c %u-%a /run/buildkit/ssh_agent.0)\n",
    );
    let out = f.ok(&["build"]);
    assert!(out.contains("SOCK-/run/buildkit/ssh_agent.0-600"), "{out}");
    assert!(out.contains("OWNED-33-660"), "{out}");

    f.write(
        "compose.yaml",
        "services:\n  app:\n    build:\n      context: .\n    image: built/ssh:latest\n",
    );
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\nRUN --mount=type=ssh,required true\n",
    );
    let out = f.fails(&["build"]);
    assert!(out.contains("ssh agent default is required"), "{out}");
}

#[test]
fn named_contexts_feed_copy_from_run_mounts_and_replace_a_stage() {
    let f = Fixture::new("namedctx");
    f.write("assets/hello.txt", "from-assets\n");
    f.write("assets/private.key", "nope\n");
    f.write("assets/.dockerignore", "*.key\n");
    f.write(
        "compose.yaml",
        "services:\n  app:\n    build:\n      context: ./app\n      additional_contexts:\n        assets: ./assets\n        \
         runtime: docker-image://hoist-test/busybox\n        tools: ./assets\n    image: built/namedctx:latest\n",
    );
    f.write(
        "app/Dockerfile",
        "FROM scratch AS tools\n\
         COPY never-there /never\n\
         FROM runtime\n\
         COPY --from=assets hello.txt /hello.txt\n\
         COPY --from=tools / /tools/\n\
         RUN --mount=from=assets,target=/a cat /a/hello.txt > /mounted && test ! -e /a/private.key && echo IGNORED-$(echo OK)\n",
    );
    let out = f.ok(&["build"]);
    assert!(out.contains("IGNORED-OK"), "{out}");
    let out = f.ok(&[
        "run",
        "--rm",
        "app",
        "sh",
        "-c",
        "cat /hello.txt /mounted; ls -a /tools",
    ]);
    assert!(out.contains("from-assets\nfrom-assets\n"), "{out}");
    assert!(
        out.contains("hello.txt") && !out.contains("private.key"),
        "{out}"
    );
    // Unchanged contexts: every step is cached; an edit in the context re-runs what reads it.
    let out = f.ok(&["build"]);
    assert!(!out.contains("IGNORED-OK"), "{out}");
    f.write("assets/hello.txt", "edited\n");
    let out = f.ok(&["build"]);
    assert!(out.contains("IGNORED-OK"), "{out}");

    f.write(
        "compose.yaml",
        "services:\n  app:\n    build:\n      context: ./app\n      additional_contexts:\n        assets: ./nowhere\n    image: built/namedctx:latest\n",
    );
    let out = f.fails(&["build"]);
    assert!(
        out.contains("additional_contexts.assets") && out.contains("not a directory"),
        "{out}"
    );
}

#[test]
fn run_heredocs_feed_the_shell_or_run_as_scripts_as_buildkit_runs_them() {
    let f = Fixture::new("runheredoc");
    f.write("compose.yaml", &compose("built/heredoc:latest", ""));
    f.write(
        "Dockerfile",
        "FROM hoist-test/busybox\n\
         ENV WHO=env\n\
         RUN <<EOT\n\
         set -e\n\
         echo script-$WHO-$((1+1)) > /script\n\
         EOT\n\
         RUN <<EOT sh\n\
         echo piped-$((2+1)) > /piped\n\
         EOT\n\
         RUN cat <<A > /a && cat <<'B' > /b\n\
         a-$WHO\n\
         A\n\
         b-$WHO\n\
         B\n\
         RUN <<EOT\n\
         #!/bin/sh\n\
         echo shebang-$0 > /shebang\n\
         EOT\n",
    );
    f.ok(&["build"]);
    let out = f.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "cat",
        "app",
        "/script",
        "/piped",
        "/a",
        "/b",
        "/shebang",
    ]);
    assert!(
        out.contains("script-env-2\npiped-3\na-env\nb-$WHO\nshebang-/dev/pipes/EOT\n"),
        "{out}"
    );
}

/// Runs `git args…` in `dir` (a test repository), panicking with its output on failure.
fn git(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=hoist", "-c", "user.email=hoist@test"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", both(&out));
}

/// `git daemon` serving the repositories under `base` on a loopback port; killed on drop.
struct GitDaemon(std::process::Child, u16);

impl GitDaemon {
    fn serve(base: &std::path::Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon (the git package) must be installed");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return GitDaemon(child, port);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("git daemon did not listen on 127.0.0.1:{port}");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn git_contexts_and_named_contexts_are_fetched_at_their_ref_and_subdirectory() {
    let f = Fixture::new("gitctx");
    let repos = f.dir.path().join("repos");
    let repo = repos.join("app.git");
    std::fs::create_dir_all(&repo).unwrap();
    let write = |path: &str, content: &str| {
        let p = repo.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    };
    git(&repo, &["init", "-q", "-b", "main"]);
    write(
        "app/Dockerfile",
        "FROM hoist-test/busybox\n\
         COPY . /ctx/\n\
         COPY --from=extra note.txt /note.txt\n\
         CMD [\"sh\", \"-c\", \"cat /ctx/app/msg.txt /note.txt; ls -a /ctx\"]\n",
    );
    write("app/msg.txt", "message at v1\n");
    write("extra/note.txt", "note from the extra context\n");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    git(&repo, &["tag", "v1"]);
    write("app/msg.txt", "message after v1\n");
    git(&repo, &["commit", "-q", "-am", "after v1"]);
    let daemon = GitDaemon::serve(&repos);
    let url = format!("git://127.0.0.1:{}/app.git", daemon.1);

    // The main context at tag v1 (its root, a Dockerfile in a subdirectory); the named
    // one at main, its subdirectory `extra`.
    f.write(
        "compose.yaml",
        &format!(
            "services:\n  app:\n    build:\n      context: {url}#v1\n      dockerfile: app/Dockerfile\n      \
             additional_contexts:\n        extra: {url}#main:extra\n    image: built/gitctx:latest\n"
        ),
    );
    f.ok(&["build"]);
    let out = f.ok(&["run", "--rm", "-T", "app"]);
    assert!(out.contains("message at v1"), "{out}");
    assert!(!out.contains("after v1"), "{out}");
    assert!(out.contains("note from the extra context"), "{out}");
    assert!(
        !out.contains(".git"),
        "the repository's .git is not in the context: {out}"
    );

    // A ref the repository does not have is an error naming the context.
    f.write(
        "compose.yaml",
        &format!(
            "services:\n  app:\n    build:\n      context: {url}#no-such-tag\n    image: built/gitctx:latest\n"
        ),
    );
    let err = f.fails(&["build"]);
    assert!(err.contains("no-such-tag"), "{err}");
    assert!(err.contains(&url), "{err}");
}
