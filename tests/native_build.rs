//! The native builder on the real kernel, as root, with no Docker involved: each test has
//! its own data root (`HOIST_ROOT`) with a busybox image imported as the base, a compose
//! project whose service builds a Dockerfile, and drives the `hoist` binary
//! (`--backend native build / run / up --build`), checking the output and what the built
//! image does.

use std::process::{Command, Output, Stdio};

#[path = "common/busybox.rs"]
mod busybox;

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
