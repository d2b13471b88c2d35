//! The docker backend against the real engine on this machine: every `Runtime` call the
//! engine relies on, with the local busybox image. Run: `cargo test --test docker_runtime`.

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use hoist::runtime::docker::DockerRuntime;
use hoist::runtime::{
    AttachOptions, BuildSpec, ContainerListOptions, ContainerSpec, ContainerStatus, EventFilter,
    ExecSpec, HealthStatus, Healthcheck, ImageProgress, LabelFilter, LogOptions, Mount,
    MountSource, NetworkAttachment, NetworkSpec, ObjectKind, OutputStream, PortBinding, Protocol,
    Runtime, RuntimeError, TtySize, VolumeSpec,
};
use tokio::io::AsyncWriteExt;

use common::{
    docker, ensure_busybox_image, tar_context, test_label_filter, test_labels, unique_name, untar,
    Cleanup,
};

/// A busybox container running `script` with `sh -c`.
fn shell_spec(name: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.to_string(),
        image: ensure_busybox_image().to_string(),
        cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
        labels: test_labels(name),
        ..Default::default()
    }
}

/// Creates and starts `spec`, registering it for cleanup.
async fn run(rt: &DockerRuntime, cleanup: &mut Cleanup, spec: &ContainerSpec) -> String {
    cleanup.container(&spec.name);
    let id = rt.create_container(spec).await.expect("create container");
    rt.start_container(&id).await.expect("start container");
    id
}

#[tokio::test]
async fn ping_and_info_name_the_docker_backend_and_negotiated_api() {
    let concrete = docker().await;
    let endpoint = concrete.endpoint().to_string();
    // The engine holds a backend as a trait object.
    let rt: std::sync::Arc<dyn Runtime> = std::sync::Arc::new(concrete);
    rt.ping().await.expect("ping");
    let info = rt.info().await.expect("info");
    assert_eq!(info.backend, "docker");
    assert!(!info.version.is_empty());
    // The engine here speaks 1.41; whatever it is, the client must not ask for more.
    let (major, minor) = info.api_version.split_once('.').expect("api version x.y");
    assert_eq!(major, "1");
    assert!(minor.parse::<u32>().expect("numeric minor") >= 24);
    assert_eq!(info.endpoint, endpoint);
}

#[tokio::test]
async fn unreachable_endpoint_names_it_and_suggests_the_native_backend() {
    let endpoint = "unix:///nonexistent/hoist-test.sock";
    let err = DockerRuntime::connect_to(endpoint)
        .await
        .expect_err("nothing listens there");
    match &err {
        RuntimeError::EngineUnreachable { endpoint: e, .. } => assert_eq!(e, endpoint),
        other => panic!("expected EngineUnreachable, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(endpoint), "{message}");
    assert!(message.contains("--backend native"), "{message}");
}

#[tokio::test]
async fn network_is_created_listed_by_label_inspected_and_removed() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("net");
    cleanup.network(&name);
    let id = rt
        .create_network(&NetworkSpec {
            name: name.clone(),
            labels: test_labels(&name),
            ..Default::default()
        })
        .await
        .expect("create network");
    assert!(!id.is_empty());

    let listed = rt
        .list_networks(&[test_label_filter(&name)])
        .await
        .expect("list networks");
    assert_eq!(
        listed.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        [name.as_str()]
    );
    let inspected = rt.inspect_network(&name).await.expect("inspect network");
    assert_eq!(inspected.id, id);
    assert_eq!(inspected.driver, "bridge");
    assert_eq!(inspected.labels, test_labels(&name));

    let again = rt
        .create_network(&NetworkSpec {
            name: name.clone(),
            ..Default::default()
        })
        .await;
    // Docker allows duplicate network names unless asked not to; either outcome is fine,
    // but a duplicate must be cleaned up.
    if let Ok(dup) = again {
        rt.remove_network(&dup).await.expect("remove duplicate");
    }

    rt.remove_network(&name).await.expect("remove network");
    let err = rt.inspect_network(&name).await.expect_err("gone");
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn volume_lifecycle_create_inspect_list_remove() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("vol");
    cleanup.volume(&name);
    let created = rt
        .create_volume(&VolumeSpec {
            name: name.clone(),
            labels: test_labels(&name),
            ..Default::default()
        })
        .await
        .expect("create volume");
    assert_eq!(created.name, name);
    assert_eq!(created.driver, "local");

    let inspected = rt.inspect_volume(&name).await.expect("inspect volume");
    assert_eq!(inspected.labels, test_labels(&name));
    assert!(!inspected.mountpoint.is_empty());

    let listed = rt
        .list_volumes(&[test_label_filter(&name)])
        .await
        .expect("list volumes");
    assert_eq!(listed.len(), 1);

    rt.remove_volume(&name, false).await.expect("remove volume");
    let err = rt.inspect_volume(&name).await.expect_err("gone");
    assert_eq!(
        err,
        RuntimeError::NotFound {
            kind: ObjectKind::Volume,
            name: name.clone()
        }
    );
}

#[tokio::test]
async fn image_builds_from_tar_context_with_build_arg_and_target() {
    let rt = docker().await;
    let base = ensure_busybox_image();
    let mut cleanup = Cleanup::new();
    let tag = format!("{}:v1", unique_name("img"));
    let extra_tag = format!("{}:extra", unique_name("img"));
    cleanup.image(&tag).image(&extra_tag);

    // `target` stops at the first stage: the later one would override STAGE.
    let dockerfile = format!(
        "FROM {base} AS first\n\
         ARG GREETING=default\n\
         ENV GREETING_ENV=$GREETING STAGE=first\n\
         COPY hello.txt /hello.txt\n\
         RUN echo \"built with $GREETING\" > /greeting\n\
         CMD [\"cat\", \"/greeting\"]\n\
         FROM first AS second\n\
         ENV STAGE=second\n"
    );
    let spec = BuildSpec {
        context_tar: Bytes::from(tar_context(&[
            ("Dockerfile", dockerfile.as_bytes(), 0o644),
            ("hello.txt", b"hi\n", 0o644),
        ])),
        tags: vec![tag.clone(), extra_tag.clone()],
        build_args: BTreeMap::from([("GREETING".into(), "hoist".into())]),
        target: Some("first".into()),
        labels: test_labels(&tag),
        ..Default::default()
    };
    let output = std::sync::Mutex::new(String::new());
    let sink = |p: ImageProgress| {
        if let ImageProgress::BuildOutput(line) = p {
            output.lock().expect("lock").push_str(&line);
        }
    };
    let id = rt.build_image(&spec, &sink).await.expect("build image");
    assert!(id.starts_with("sha256:"), "{id}");
    assert!(
        output.lock().expect("lock").contains("Step"),
        "builder output is reported"
    );

    let info = rt.inspect_image(&tag).await.expect("inspect image");
    assert_eq!(info.id, id);
    assert!(info.repo_tags.contains(&tag));
    assert!(info.config.env.contains(&"GREETING_ENV=hoist".to_string()));
    assert!(info.config.env.contains(&"STAGE=first".to_string()));
    assert_eq!(info.config.labels.get(common::TEST_LABEL), Some(&tag));
    assert_eq!(
        rt.inspect_image(&extra_tag).await.expect("extra tag").id,
        id
    );

    let listed = rt
        .list_images(&[LabelFilter::equals(common::TEST_LABEL, &tag)])
        .await
        .expect("list images");
    assert_eq!(listed.len(), 1);

    // The build arg reached RUN: the image's default command prints it.
    let name = unique_name("img-run");
    let mut spec = shell_spec(&name, "");
    spec.image = tag.clone();
    spec.cmd = None;
    run(&rt, &mut cleanup, &spec).await;
    assert_eq!(rt.wait_container(&name).await.expect("wait"), 0);
    let (stdout, _) = collect_logs(&rt, &name).await;
    assert_eq!(stdout, "built with hoist\n");
}

#[tokio::test]
async fn failing_build_reports_the_builder_error() {
    let rt = docker().await;
    let base = ensure_busybox_image();
    let dockerfile = format!("FROM {base}\nRUN exit 3\n");
    let spec = BuildSpec {
        context_tar: Bytes::from(tar_context(&[("Dockerfile", dockerfile.as_bytes(), 0o644)])),
        ..Default::default()
    };
    let err = rt
        .build_image(&spec, &|_| {})
        .await
        .expect_err("RUN exit 3 fails");
    match err {
        RuntimeError::BuildFailed { message } => assert!(message.contains('3'), "{message}"),
        other => panic!("expected BuildFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn wait_returns_zero_and_non_zero_exit_codes() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let ok = unique_name("exit0");
    let failing = unique_name("exit7");
    run(&rt, &mut cleanup, &shell_spec(&ok, "exit 0")).await;
    run(&rt, &mut cleanup, &shell_spec(&failing, "exit 7")).await;
    assert_eq!(rt.wait_container(&ok).await.expect("wait"), 0);
    assert_eq!(rt.wait_container(&failing).await.expect("wait"), 7);

    let info = rt.inspect_container(&failing).await.expect("inspect");
    assert_eq!(info.name, failing);
    assert_eq!(info.state.status, ContainerStatus::Exited);
    assert_eq!(info.state.exit_code, Some(7));
    assert!(!info.state.running);
}

#[tokio::test]
async fn missing_container_and_image_are_not_found() {
    let rt = docker().await;
    let name = unique_name("missing");
    let err = rt.inspect_container(&name).await.expect_err("missing");
    assert_eq!(
        err,
        RuntimeError::NotFound {
            kind: ObjectKind::Container,
            name: name.clone()
        }
    );
    let mut spec = shell_spec(&name, "true");
    spec.image = format!("{}:nope", unique_name("no-image"));
    let err = rt.create_container(&spec).await.expect_err("no such image");
    assert!(
        matches!(
            &err,
            RuntimeError::NotFound {
                kind: ObjectKind::Image,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn duplicate_container_name_is_a_conflict() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("dup");
    cleanup.container(&name);
    let spec = shell_spec(&name, "true");
    rt.create_container(&spec).await.expect("first create");
    let err = rt.create_container(&spec).await.expect_err("name taken");
    assert!(
        matches!(
            &err,
            RuntimeError::Conflict {
                kind: ObjectKind::Container,
                ..
            }
        ),
        "{err:?}"
    );
}

/// All of a stopped container's output, split by stream.
async fn collect_logs(rt: &DockerRuntime, name: &str) -> (String, String) {
    let mut stream = rt.logs(name, &LogOptions::default()).await.expect("logs");
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("log chunk");
        let text = String::from_utf8_lossy(&chunk.bytes);
        match chunk.stream {
            OutputStream::Stderr => err.push_str(&text),
            _ => out.push_str(&text),
        }
    }
    (out, err)
}

#[tokio::test]
async fn logs_keep_stdout_and_stderr_apart_with_timestamps_and_tail() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("logs");
    run(
        &rt,
        &mut cleanup,
        // stdout and stderr are separate pipes: pause so the last line is certainly out2.
        &shell_spec(&name, "echo out1; echo err1 >&2; sleep 0.3; echo out2"),
    )
    .await;
    assert_eq!(rt.wait_container(&name).await.expect("wait"), 0);

    let (out, err) = collect_logs(&rt, &name).await;
    assert_eq!(out, "out1\nout2\n");
    assert_eq!(err, "err1\n");

    let options = LogOptions {
        timestamps: true,
        tail: Some(1),
        ..Default::default()
    };
    let chunks: Vec<_> = rt
        .logs(&name, &options)
        .await
        .expect("logs")
        .collect()
        .await;
    assert_eq!(chunks.len(), 1, "tail 1 gives the last line only");
    let last = chunks[0].as_ref().expect("chunk");
    assert_eq!(last.stream, OutputStream::Stdout);
    assert_eq!(&last.bytes[..], b"out2\n");
    let ts = last.timestamp.as_deref().expect("timestamp requested");
    assert!(ts.contains('T') && ts.ends_with('Z'), "{ts}");

    let err = rt
        .logs(&unique_name("nologs"), &LogOptions::default())
        .await
        .err()
        .expect("missing container");
    assert!(err.is_not_found());
}

#[tokio::test]
async fn follow_logs_stream_until_the_container_exits() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("follow");
    run(
        &rt,
        &mut cleanup,
        &shell_spec(&name, "for i in 1 2 3; do echo line$i; sleep 0.2; done"),
    )
    .await;
    let options = LogOptions {
        follow: true,
        ..Default::default()
    };
    let mut stream = rt.logs(&name, &options).await.expect("logs");
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk").bytes));
    }
    assert_eq!(text, "line1\nline2\nline3\n");
}

#[tokio::test]
async fn exec_reports_exit_code_and_separated_output() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("exec");
    run(&rt, &mut cleanup, &shell_spec(&name, "sleep 300")).await;

    let spec = ExecSpec {
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "echo \"$GREETING from $(pwd) as $(id -u)\"; echo oops >&2; exit 5".into(),
        ],
        env: vec!["GREETING=hello".into()],
        working_dir: Some("/tmp".into()),
        user: Some("1234".into()),
        ..Default::default()
    };
    let output = rt.exec_collect(&name, &spec).await.expect("exec");
    assert_eq!(output.exit_code, 5);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello from /tmp as 1234\n"
    );
    assert_eq!(String::from_utf8_lossy(&output.stderr), "oops\n");

    // With stdin attached, input reaches the command and EOF ends it.
    let spec = ExecSpec {
        cmd: vec!["sh".into(), "-c".into(), "tr a-z A-Z".into()],
        stdin: true,
        ..Default::default()
    };
    let mut session = rt.exec(&name, &spec).await.expect("exec with stdin");
    session.io.input.write_all(b"shout\n").await.expect("write");
    session.io.input.shutdown().await.expect("close stdin");
    let mut text = String::new();
    while let Some(chunk) = session.io.output.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk").bytes));
    }
    assert_eq!(text, "SHOUT\n");

    let top = rt.top(&name, None).await.expect("top");
    assert!(top.titles.iter().any(|t| t == "CMD" || t == "COMMAND"));
    assert!(top
        .processes
        .iter()
        .any(|p| p.iter().any(|f| f.contains("sleep 300"))));
}

#[tokio::test]
async fn stop_kills_a_process_ignoring_sigterm_after_the_grace_period() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("stubborn");
    // `exec sleep` would die of SIGTERM's default action; the shell loop traps it away.
    run(
        &rt,
        &mut cleanup,
        &shell_spec(&name, "trap '' TERM; while true; do sleep 0.1; done"),
    )
    .await;
    let grace = Duration::from_secs(2);
    let started = Instant::now();
    rt.stop_container(&name, Some(grace)).await.expect("stop");
    assert!(
        started.elapsed() >= grace,
        "SIGKILL came before the grace period ended"
    );

    let info = rt.inspect_container(&name).await.expect("inspect");
    assert_eq!(info.state.status, ContainerStatus::Exited);
    assert_eq!(info.state.exit_code, Some(137), "killed by SIGKILL");
    assert_eq!(rt.wait_container(&name).await.expect("wait"), 137);

    // Stopping a stopped container is not an error.
    rt.stop_container(&name, Some(grace))
        .await
        .expect("second stop");
}

#[tokio::test]
async fn copy_in_and_out_round_trips_files() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("copy");
    run(
        &rt,
        &mut cleanup,
        &shell_spec(&name, "mkdir -p /data; sleep 300"),
    )
    .await;

    let archive = tar_context(&[("greeting.txt", b"copied in\n", 0o644)]);
    // The container creates /data as it starts; poll briefly for it.
    let mut attempt = 0;
    loop {
        match rt
            .copy_to_container(&name, "/data", Bytes::from(archive.clone()))
            .await
        {
            Ok(()) => break,
            Err(e) if attempt < 50 => {
                attempt += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("copy in: {e}"),
        }
    }
    let output = rt
        .exec_collect(
            &name,
            &ExecSpec {
                cmd: vec!["cat".into(), "/data/greeting.txt".into()],
                ..Default::default()
            },
        )
        .await
        .expect("exec cat");
    assert_eq!(output.stdout, b"copied in\n");

    let out = rt
        .copy_from_container(&name, "/data/greeting.txt")
        .await
        .expect("copy out");
    assert_eq!(
        untar(&out),
        [("greeting.txt".to_string(), b"copied in\n".to_vec())]
    );

    let err = rt
        .copy_from_container(&name, "/no/such/file")
        .await
        .expect_err("missing path");
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn published_port_on_loopback_answers_from_the_host() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("httpd");
    let mut spec = shell_spec(
        &name,
        "mkdir -p /www && echo hello-from-httpd > /www/index.html && exec httpd -f -p 8080 -h /www",
    );
    spec.ports = vec![PortBinding {
        container_port: 8080,
        protocol: Protocol::Tcp,
        host_ip: Some("127.0.0.1".into()),
        host_port: None,
    }];
    run(&rt, &mut cleanup, &spec).await;

    let info = rt.inspect_container(&name).await.expect("inspect");
    let port = info
        .ports
        .iter()
        .find(|p| p.container_port == 8080 && p.protocol == Protocol::Tcp)
        .expect("published port in inspect");
    assert_eq!(port.host_ip, "127.0.0.1");
    let address = format!("127.0.0.1:{}", port.host_port);

    let listed = rt
        .list_containers(&ContainerListOptions {
            labels: vec![test_label_filter(&name)],
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0]
        .ports
        .iter()
        .any(|p| p.host_port == port.host_port));

    // httpd needs a moment to listen.
    let mut response = String::new();
    for _ in 0..50 {
        response.clear();
        if let Ok(mut conn) = std::net::TcpStream::connect(&address) {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let request = "GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n";
            if conn.write_all(request.as_bytes()).is_ok()
                && conn.read_to_string(&mut response).is_ok()
                && response.contains("hello-from-httpd")
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(response.starts_with("HTTP/1."), "{response}");
    assert!(response.contains("hello-from-httpd"), "{response}");

    // The same host port cannot be published twice.
    let second = unique_name("httpd2");
    let mut clash = shell_spec(&second, "sleep 300");
    clash.ports = vec![PortBinding {
        container_port: 8080,
        protocol: Protocol::Tcp,
        host_ip: Some("127.0.0.1".into()),
        host_port: Some(port.host_port.to_string()),
    }];
    cleanup.container(&second);
    rt.create_container(&clash).await.expect("create");
    let err = rt.start_container(&second).await.expect_err("port taken");
    assert!(matches!(err, RuntimeError::PortInUse { .. }), "{err:?}");
}

#[tokio::test]
async fn list_by_label_finds_running_and_stopped_containers() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let project = unique_name("proj");
    let running = unique_name("running");
    let stopped = unique_name("stopped");
    let label = |spec: &mut ContainerSpec| {
        spec.labels
            .insert("com.docker.compose.project".into(), project.clone());
    };
    let mut a = shell_spec(&running, "sleep 300");
    label(&mut a);
    let mut b = shell_spec(&stopped, "exit 0");
    label(&mut b);
    run(&rt, &mut cleanup, &a).await;
    run(&rt, &mut cleanup, &b).await;
    rt.wait_container(&stopped).await.expect("wait");

    let by_project = vec![LabelFilter::equals("com.docker.compose.project", &project)];
    let mut all = rt
        .list_containers(&ContainerListOptions {
            all: true,
            labels: by_project.clone(),
        })
        .await
        .expect("list all");
    all.sort_by(|x, y| x.name.cmp(&y.name));
    let mut expected = vec![running.clone(), stopped.clone()];
    expected.sort();
    assert_eq!(
        all.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        expected
    );
    let only_running = rt
        .list_containers(&ContainerListOptions {
            all: false,
            labels: by_project.clone(),
        })
        .await
        .expect("list running");
    assert_eq!(only_running.len(), 1);
    assert_eq!(only_running[0].name, running);
    assert_eq!(only_running[0].status, ContainerStatus::Running);
    assert_eq!(
        only_running[0].labels.get("com.docker.compose.project"),
        Some(&project)
    );

    let both = rt
        .list_containers(&ContainerListOptions {
            all: true,
            labels: vec![
                LabelFilter::equals("com.docker.compose.project", &project),
                test_label_filter(&stopped),
            ],
        })
        .await
        .expect("list with two selectors");
    assert_eq!(both.len(), 1, "every selector must match");
}

#[tokio::test]
async fn attach_pipes_stdin_to_the_container_and_eof_ends_it() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("attach");
    let mut spec = shell_spec(&name, "tr a-z A-Z; echo done >&2");
    spec.stdin_open = true;
    spec.stdin_once = true;
    cleanup.container(&name);
    rt.create_container(&spec).await.expect("create");

    // Attach before start so no output is missed.
    let mut io = rt
        .attach_container(
            &name,
            &AttachOptions {
                stdin: true,
                ..Default::default()
            },
        )
        .await
        .expect("attach");
    rt.start_container(&name).await.expect("start");
    io.input.write_all(b"piped input\n").await.expect("write");
    io.input.shutdown().await.expect("close stdin");

    let (mut out, mut err) = (String::new(), String::new());
    while let Some(chunk) = io.output.next().await {
        let chunk = chunk.expect("chunk");
        let text = String::from_utf8_lossy(&chunk.bytes).into_owned();
        match chunk.stream {
            OutputStream::Stderr => err.push_str(&text),
            _ => out.push_str(&text),
        }
    }
    assert_eq!(out, "PIPED INPUT\n");
    assert_eq!(err, "done\n");
    assert_eq!(rt.wait_container(&name).await.expect("wait"), 0);
}

#[tokio::test]
async fn container_joins_several_networks_with_aliases_and_mounts() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let front = unique_name("front");
    let back = unique_name("back");
    let volume = unique_name("data");
    let name = unique_name("multi");
    for net in [&front, &back] {
        cleanup.network(net);
        rt.create_network(&NetworkSpec {
            name: net.clone(),
            labels: test_labels(net),
            ..Default::default()
        })
        .await
        .expect("create network");
    }
    cleanup.volume(&volume);
    let host_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(host_dir.path().join("from-host.txt"), "bound\n").expect("write");

    let mut spec = shell_spec(
        &name,
        "cat /host/from-host.txt && echo kept > /vol/file && touch /scratch/x && sleep 300",
    );
    spec.networks = vec![
        NetworkAttachment {
            network: front.clone(),
            aliases: vec!["web".into()],
            ..Default::default()
        },
        NetworkAttachment {
            network: back.clone(),
            aliases: vec!["api".into()],
            ..Default::default()
        },
    ];
    spec.mounts = vec![
        Mount {
            target: "/host".into(),
            source: MountSource::Bind {
                path: host_dir.path().to_string_lossy().into_owned(),
                create_host_path: false,
                propagation: None,
                selinux: None,
            },
            read_only: true,
        },
        Mount {
            target: "/vol".into(),
            source: MountSource::Volume {
                name: Some(volume.clone()),
                nocopy: false,
                subpath: None,
            },
            read_only: false,
        },
        Mount {
            target: "/scratch".into(),
            source: MountSource::Tmpfs {
                size_bytes: Some(1 << 20),
                mode: None,
            },
            read_only: false,
        },
    ];
    run(&rt, &mut cleanup, &spec).await;

    let info = rt.inspect_container(&name).await.expect("inspect");
    assert_eq!(
        info.networks.keys().cloned().collect::<Vec<_>>(),
        {
            let mut n = vec![front.clone(), back.clone()];
            n.sort();
            n
        },
        "joined both networks although the engine takes one at create"
    );
    assert!(info.networks[&front].aliases.contains(&"web".to_string()));
    assert!(info.networks[&back].aliases.contains(&"api".to_string()));
    assert!(info
        .mounts
        .iter()
        .any(|m| m.destination == "/host" && m.read_only));
    assert!(info
        .mounts
        .iter()
        .any(|m| m.destination == "/vol" && m.name.as_deref() == Some(volume.as_str())));

    // Another container on `back` reaches it by alias.
    let probe = unique_name("probe");
    let mut probe_spec = shell_spec(&probe, "ping -c 1 -W 5 api");
    probe_spec.networks = vec![NetworkAttachment {
        network: back.clone(),
        ..Default::default()
    }];
    run(&rt, &mut cleanup, &probe_spec).await;
    assert_eq!(rt.wait_container(&probe).await.expect("wait"), 0);

    let disconnect = rt.disconnect_network(&name, &front, false).await;
    disconnect.expect("disconnect");
    let info = rt.inspect_container(&name).await.expect("inspect");
    assert!(!info.networks.contains_key(&front));
}

#[tokio::test]
async fn healthcheck_state_is_reported_by_inspect() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("health");
    let mut spec = shell_spec(&name, "touch /tmp/ready; sleep 300");
    spec.healthcheck = Some(Healthcheck {
        test: vec![
            "CMD".into(),
            "test".into(),
            "-e".into(),
            "/tmp/ready".into(),
        ],
        interval: Some(Duration::from_millis(200)),
        timeout: Some(Duration::from_secs(2)),
        retries: Some(3),
        ..Default::default()
    });
    run(&rt, &mut cleanup, &spec).await;
    let mut status = None;
    // Generous: the machine is shared; the loop ends as soon as the probe passes.
    for _ in 0..300 {
        let info = rt.inspect_container(&name).await.expect("inspect");
        status = info.state.health.map(|h| h.status);
        if status == Some(HealthStatus::Healthy) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, Some(HealthStatus::Healthy));
}

#[tokio::test]
async fn pause_unpause_kill_and_remove() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("pause");
    run(&rt, &mut cleanup, &shell_spec(&name, "sleep 300")).await;
    rt.pause_container(&name).await.expect("pause");
    let info = rt.inspect_container(&name).await.expect("inspect");
    assert_eq!(info.state.status, ContainerStatus::Paused);
    rt.unpause_container(&name).await.expect("unpause");
    rt.kill_container(&name, "SIGKILL").await.expect("kill");
    assert_eq!(rt.wait_container(&name).await.expect("wait"), 137);
    rt.remove_container(&name, false, true)
        .await
        .expect("remove");
    let err = rt.inspect_container(&name).await.expect_err("removed");
    assert!(err.is_not_found());
}

#[tokio::test]
async fn events_report_a_labelled_container_lifecycle() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("events");
    let filter = EventFilter {
        labels: vec![test_label_filter(&name)],
        kinds: vec![ObjectKind::Container],
        since: None,
    };
    let mut events = rt.events(&filter).await.expect("events");
    // Unrelated activity must not show up: another container with other labels.
    let other = unique_name("events-other");
    run(&rt, &mut cleanup, &shell_spec(&other, "exit 0")).await;
    run(&rt, &mut cleanup, &shell_spec(&name, "exit 3")).await;

    let mut actions = Vec::new();
    let collected = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            let event = event.expect("event");
            assert_eq!(event.kind, Some(ObjectKind::Container));
            assert_eq!(event.attributes.get("name"), Some(&name));
            actions.push(event.action.clone());
            if event.action == "die" {
                assert_eq!(
                    event.attributes.get("exitCode").map(String::as_str),
                    Some("3")
                );
                break;
            }
        }
    })
    .await;
    assert!(collected.is_ok(), "no die event; saw {actions:?}");
    assert_eq!(actions.first().map(String::as_str), Some("create"));
    assert!(actions.contains(&"start".to_string()), "{actions:?}");
}

#[tokio::test]
async fn tty_container_and_exec_merge_output_and_resize() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("tty");
    let mut spec = shell_spec(&name, "sleep 300");
    spec.tty = true;
    spec.stdin_open = true;
    run(&rt, &mut cleanup, &spec).await;
    let info = rt.inspect_container(&name).await.expect("inspect");
    assert!(info.tty && info.stdin_open);
    rt.resize_container_tty(
        &name,
        TtySize {
            rows: 40,
            cols: 100,
        },
    )
    .await
    .expect("resize container tty");

    let mut session = rt
        .exec(
            &name,
            &ExecSpec {
                cmd: vec![
                    "sh".into(),
                    "-c".into(),
                    "sleep 1; stty size; echo err >&2".into(),
                ],
                tty: true,
                stdin: true,
                ..Default::default()
            },
        )
        .await
        .expect("exec with tty");
    rt.resize_exec(&session.id, TtySize { rows: 33, cols: 77 })
        .await
        .expect("resize exec");
    let mut text = String::new();
    while let Some(chunk) = session.io.output.next().await {
        let chunk = chunk.expect("chunk");
        assert_eq!(chunk.stream, OutputStream::Console, "a TTY has one stream");
        text.push_str(&String::from_utf8_lossy(&chunk.bytes));
    }
    assert!(text.contains("33 77"), "{text:?}");
    assert!(text.contains("err"), "{text:?}");
    let mut code = None;
    for _ in 0..50 {
        code = rt.exec_exit_code(&session.id).await.expect("exit code");
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn restart_runs_the_command_again() {
    let rt = docker().await;
    let mut cleanup = Cleanup::new();
    let name = unique_name("restart");
    run(
        &rt,
        &mut cleanup,
        &shell_spec(&name, "echo started; sleep 300"),
    )
    .await;
    rt.restart_container(&name, Some(Duration::from_secs(1)))
        .await
        .expect("restart");
    let info = rt.inspect_container(&name).await.expect("inspect");
    assert!(info.state.running);
    let (out, _) = {
        // The container still runs: read without following.
        let mut stream = rt.logs(&name, &LogOptions::default()).await.expect("logs");
        let mut out = String::new();
        while let Some(c) = stream.next().await {
            out.push_str(&String::from_utf8_lossy(&c.expect("chunk").bytes));
        }
        (out, ())
    };
    assert_eq!(out, "started\nstarted\n");
}

#[tokio::test]
async fn image_is_tagged_and_removed() {
    let rt = docker().await;
    let base = ensure_busybox_image();
    let mut cleanup = Cleanup::new();
    let tag = format!("{}:alias", unique_name("tag"));
    cleanup.image(&tag);
    rt.tag_image(base, &tag).await.expect("tag");
    let original = rt.inspect_image(base).await.expect("inspect base");
    assert_eq!(
        rt.inspect_image(&tag).await.expect("inspect tag").id,
        original.id
    );
    rt.remove_image(&tag, false).await.expect("untag");
    assert!(rt
        .inspect_image(&tag)
        .await
        .expect_err("gone")
        .is_not_found());
    assert!(
        rt.inspect_image(base).await.is_ok(),
        "removing a tag keeps the image"
    );
}

#[tokio::test]
async fn pull_from_an_unreachable_registry_is_a_registry_error() {
    let rt = docker().await;
    // Port 1 on loopback: nothing listens, so the engine fails fast.
    let reference = format!("127.0.0.1:1/{}", unique_name("nothing"));
    let err = rt
        .pull_image(&reference, None, None, &|_| {})
        .await
        .expect_err("no registry there");
    match err {
        RuntimeError::RegistryFailed { reference: r, .. } => {
            assert_eq!(r, format!("{reference}:latest"))
        }
        other => panic!("expected RegistryFailed, got {other:?}"),
    }
}
