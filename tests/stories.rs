//! User stories on both backends (the real Docker engine, and the native runtime on the real
//! kernel): USER-STORIES.md story 3 (a PHP/Laravel-style stack with utility services) with
//! busybox stand-ins, `up --build` convergence, and the errors a user meets, each with a
//! clear message and nothing half-done left silently.

mod common;

use std::collections::BTreeMap;

use common::stack::{free_port, stderr, Backend, Stack};
use common::{BUSYBOX_IMAGE, TEST_LABEL};
use hoist::runtime::ContainerSpec;

fn fails(stack: &Stack, args: &[&str]) -> String {
    let out = stack.run(args);
    assert!(
        !out.status.success(),
        "hoist {} should have failed:\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    stderr(&out)
}

fn container(stack: &Stack, service: &str) -> String {
    format!("{}-{service}-1", stack.name)
}

fn state(stack: &Stack, container: &str) -> String {
    stack.status(container)
}

/// Story 3's shape: `server` depends on `php` (built from `dockerfiles/php.dockerfile` with
/// the project as context) and `mysql` (`env_file`); `composer`, `artisan`, `npm` are
/// utility services without profiles.
fn story3(stack: &Stack, port: u16) {
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  server:
    image: {BUSYBOX_IMAGE}
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www/html"]
    ports: ["127.0.0.1:{port}:80"]
    volumes:
      - ./src:/var/www/html
      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro
    depends_on: [php, mysql]
  php:
    build:
      context: .
      dockerfile: dockerfiles/php.dockerfile
    platform: linux/amd64
    volumes: ["./src:/var/www/html:delegated"]
  mysql:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait; done"]
    env_file: [./env/mysql.env]
  composer:
    image: {BUSYBOX_IMAGE}
    working_dir: /var/www/html
    entrypoint: ["echo", "composer"]
    volumes: ["./src:/var/www/html"]
  artisan:
    build:
      context: .
      dockerfile: dockerfiles/php.dockerfile
    entrypoint: ["echo", "artisan"]
    volumes: ["./src:/var/www/html"]
  npm:
    image: {BUSYBOX_IMAGE}
    working_dir: /var/www/html
    entrypoint: ["echo", "npm"]
"#
            ),
        )
        .write(
            "dockerfiles/php.dockerfile",
            &format!(
                "FROM {BUSYBOX_IMAGE}\n\
                 COPY src/index.html /baked/index.html\n\
                 RUN cat /proc/sys/kernel/random/uuid > /built-at\n\
                 CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait; done\"]\n"
            ),
        )
        .write("src/index.html", "laravel\n")
        .write("nginx/nginx.conf", "events {}\n")
        .write("env/mysql.env", "MYSQL_DATABASE=homestead\nMYSQL_USER=homestead\n");
}

fn story3_up_server_starts_it_and_its_dependencies_but_not_the_utilities(backend: Backend) {
    let stack = Stack::on(backend, "story3");
    let port = free_port();
    story3(&stack, port);

    stack.ok(&["up", "-d", "server"]);
    let mut expected = vec![
        container(&stack, "mysql"),
        container(&stack, "php"),
        container(&stack, "server"),
    ];
    expected.sort();
    assert_eq!(stack.containers(), expected, "no utility service starts");
    for svc in ["server", "php", "mysql"] {
        assert_eq!(state(&stack, &container(&stack, svc)), "running", "{svc}");
    }
    assert_eq!(
        common::stack::http_get(port, "/index.html").as_deref(),
        Some("laravel\n")
    );
    let mysql = container(&stack, "mysql");
    assert_eq!(
        stack.exec(&mysql, &["sh", "-c", "echo $MYSQL_DATABASE"]),
        "homestead"
    );
    let php = container(&stack, "php");
    // Built from the parent context: the COPY found src/ next to dockerfiles/.
    assert_eq!(stack.exec(&php, &["cat", "/baked/index.html"]), "laravel");
    let image = stack.image(&stack.inspect(&php).expect("php exists").image_id);
    assert_eq!(image.os.as_deref(), Some("linux"));
    assert_eq!(image.architecture.as_deref(), Some("amd64"));
    let built_at = stack.exec(&php, &["cat", "/built-at"]);
    assert!(!built_at.is_empty());

    // Without `--build`, an edited source does not rebuild: the image exists.
    stack.write("src/index.html", "laravel v2\n");
    stack.ok(&["up", "-d", "server"]);
    assert_eq!(stack.exec(&php, &["cat", "/built-at"]), built_at);

    // `--build` rebuilds: the RUN step ran again (the edited source busts its cache).
    stack.ok(&["up", "-d", "--build", "server"]);
    let rebuilt_at = stack.exec(&php, &["cat", "/built-at"]);
    assert!(!rebuilt_at.is_empty());
    assert_ne!(built_at, rebuilt_at, "the php image was not rebuilt");
    assert_eq!(
        stack.exec(&php, &["cat", "/baked/index.html"]),
        "laravel v2"
    );
    assert_eq!(stack.containers(), expected, "still no utility service");

    // A utility service runs on demand.
    let out = stack.ok(&["run", "--rm", "composer", "install"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "composer install"
    );
}
on_both_backends!(story3_up_server_starts_it_and_its_dependencies_but_not_the_utilities);

fn up_build_recreates_on_a_dockerfile_change_and_keeps_an_unchanged_image(backend: Backend) {
    let stack = Stack::on(backend, "rebuild");
    stack
        .write(
            "compose.yaml",
            r#"
services:
  app:
    build: .
"#,
        )
        .write(
            "Dockerfile",
            &format!("FROM {BUSYBOX_IMAGE}\nRUN echo v1 > /version\nCMD [\"sleep\", \"3600\"]\n"),
        );
    let app = container(&stack, "app");
    stack.ok(&["up", "-d", "--build", "-t", "0"]);
    let first = stack.container_id(&app);
    assert!(!first.is_empty());

    // Same Dockerfile, same context: the build hits the cache, the image id is the same,
    // and the container is kept.
    stack.ok(&["up", "-d", "--build", "-t", "0"]);
    assert_eq!(
        stack.container_id(&app),
        first,
        "unchanged rebuild recreated"
    );

    stack.write(
        "Dockerfile",
        &format!("FROM {BUSYBOX_IMAGE}\nRUN echo v2 > /version\nCMD [\"sleep\", \"3600\"]\n"),
    );
    stack.ok(&["up", "-d", "--build", "-t", "0"]);
    let second = stack.container_id(&app);
    assert_ne!(second, first, "a changed image must recreate the container");
    assert_eq!(stack.exec(&app, &["cat", "/version"]), "v2");
    assert_eq!(state(&stack, &app), "running");
}
on_both_backends!(up_build_recreates_on_a_dockerfile_change_and_keeps_an_unchanged_image);

fn a_published_port_in_use_names_the_service_and_the_port(backend: Backend) {
    let stack = Stack::on(backend, "port-busy");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = listener.local_addr().expect("local addr").port();
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    image: {BUSYBOX_IMAGE}
    command: ["sleep", "3600"]
    ports: ["127.0.0.1:{port}:80"]
"#
        ),
    );
    let err = fails(&stack, &["up", "-d"]);
    let web = container(&stack, "web");
    assert!(err.contains(&web), "container not named: {err}");
    assert!(err.contains(&port.to_string()), "port not named: {err}");
    assert!(
        err.to_lowercase().contains("already") || err.to_lowercase().contains("in use"),
        "{err}"
    );
    // Not left running half-configured.
    assert_ne!(state(&stack, &container(&stack, "web")), "running");
    drop(listener);
}
on_both_backends!(a_published_port_in_use_names_the_service_and_the_port);

/// A long-running busybox container named `name` with `labels`, outside this test's project.
fn outsider(name: &str, labels: &[(&str, &str)]) -> ContainerSpec {
    let mut all = BTreeMap::from([(TEST_LABEL.to_string(), "name-taken".to_string())]);
    all.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ContainerSpec {
        name: name.to_string(),
        image: BUSYBOX_IMAGE.to_string(),
        cmd: Some(vec!["sleep".to_string(), "3600".to_string()]),
        labels: all,
        ..Default::default()
    }
}

fn a_container_name_taken_by_another_project_is_reported(backend: Backend) {
    let stack = Stack::on(backend, "name-taken");
    let taken = format!("{}-x", stack.name);
    let other_id = stack.start_container(&outsider(&taken, &[]));
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    image: {BUSYBOX_IMAGE}
    container_name: {taken}
    command: ["sleep", "3600"]
"#
        ),
    );
    let err = fails(&stack, &["up", "-d"]);
    assert!(err.contains(&taken), "name not given: {err}");
    assert!(err.contains("web"), "service not named: {err}");
    assert!(err.contains("already in use"), "{err}");
    assert!(
        err.contains(&format!(
            "is taken by container {}, not part of any compose project",
            &other_id[..12]
        )),
        "does not say what holds the name: {err}"
    );
    // The other container is untouched.
    assert_eq!(stack.container_id(&taken), other_id);
    assert_eq!(state(&stack, &taken), "running");

    // Held by a container of another compose project: that project is named.
    let other_project = format!("{}-other", stack.name);
    stack.remove_container(&taken);
    let other_id = stack.start_container(&outsider(
        &taken,
        &[("com.docker.compose.project", &other_project)],
    ));
    let err = fails(&stack, &["up", "-d"]);
    assert!(
        err.contains(&format!(
            "is taken by container {} of project {other_project}",
            &other_id[..12]
        )),
        "does not name the other project: {err}"
    );
    assert_eq!(state(&stack, &taken), "running");
}
on_both_backends!(a_container_name_taken_by_another_project_is_reported);

fn an_image_that_cannot_be_pulled_names_the_image_and_the_service(backend: Backend) {
    let stack = Stack::on(backend, "no-image");
    // A registry on loopback that nothing answers: no test may reach the internet.
    let image = &format!("127.0.0.1:{}/hoist-test/does-not-exist:never", free_port());
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  ghost:
    image: {image}
"#
        ),
    );
    let err = fails(&stack, &["up", "-d"]);
    assert!(err.contains(image), "image not named: {err}");
    assert!(err.contains("ghost"), "service not named: {err}");
    assert!(stack.containers().is_empty(), "{:?}", stack.containers());
}
on_both_backends!(an_image_that_cannot_be_pulled_names_the_image_and_the_service);

fn a_dependency_that_exits_instead_of_turning_healthy_aborts_up(backend: Backend) {
    let stack = Stack::on(backend, "dep-exits");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  db:
    image: {BUSYBOX_IMAGE}
    command: ["sh", "-c", "exit 2"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  web:
    image: {BUSYBOX_IMAGE}
    command: ["sleep", "3600"]
    depends_on:
      db:
        condition: service_healthy
"#
        ),
    );
    let started = std::time::Instant::now();
    let err = fails(&stack, &["up", "-d"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let db = container(&stack, "db");
    assert!(
        err.contains(&format!("container {db} exited (2)")),
        "the dependency and its exit code are not named: {err}"
    );
    assert_ne!(state(&stack, &container(&stack, "web")), "running");
}
on_both_backends!(a_dependency_that_exits_instead_of_turning_healthy_aborts_up);

fn exec_into_a_stopped_service_says_it_is_not_running(backend: Backend) {
    let stack = Stack::on(backend, "exec-stopped");
    stack.write(
        "compose.yaml",
        &format!(
            r#"
services:
  web:
    image: {BUSYBOX_IMAGE}
    command: ["sleep", "3600"]
"#
        ),
    );
    stack.ok(&["up", "-d"]);
    stack.ok(&["stop", "-t", "0"]);
    let err = fails(&stack, &["exec", "-T", "web", "true"]);
    assert!(err.contains(r#"service "web" is not running"#), "{err}");
}
on_both_backends!(exec_into_a_stopped_service_says_it_is_not_running);

/// `additional_contexts` as users write them: a local directory (with its own
/// `.dockerignore`), an image, and another service's image (`service:`), which is built
/// first even when it comes later in the file; a named context of a stage's name replaces
/// the stage (the stage's own broken COPY never runs).
fn named_build_contexts_reach_copy_from_and_from(backend: Backend) {
    let stack = Stack::on(backend, "namedctx");
    stack
        .write(
            "compose.yaml",
            &format!(
                r#"
services:
  app:
    build:
      context: ./app
      additional_contexts:
        assets: ./assets
        runtime: docker-image://{BUSYBOX_IMAGE}
        tools: service:base
  base:
    build: ./base
"#
            ),
        )
        .write("assets/hello.txt", "from-assets\n")
        .write("assets/private.key", "nope\n")
        .write("assets/.dockerignore", "*.key\n")
        .write(
            "base/Dockerfile",
            &format!(
                "FROM {BUSYBOX_IMAGE}\nRUN echo base-layer > /base-marker\nCMD [\"sleep\", \"3600\"]\n"
            ),
        )
        .write(
            "app/Dockerfile",
            "FROM scratch AS tools\n\
             COPY never-there /never\n\
             FROM runtime\n\
             COPY --from=assets hello.txt /hello.txt\n\
             COPY --from=assets / /assets/\n\
             COPY --from=tools /base-marker /tool-marker\n\
             CMD [\"sleep\", \"3600\"]\n",
        );
    stack.ok(&["up", "-d", "--build", "-t", "0"]);
    let app = container(&stack, "app");
    assert_eq!(stack.exec(&app, &["cat", "/hello.txt"]), "from-assets");
    assert_eq!(stack.exec(&app, &["cat", "/tool-marker"]), "base-layer");
    let listed = stack.exec(&app, &["ls", "-a", "/assets"]);
    assert!(
        listed.contains("hello.txt") && !listed.contains("private.key"),
        "{listed}"
    );
    if backend == Backend::Docker {
        // The directory was imported as a temporary image for the classic builder; it is gone.
        let left = stack.docker(&["images", "-q", "hoist-build-context"]);
        assert!(
            left.trim().is_empty(),
            "temporary context images left: {left}"
        );
    }

    stack.write(
        "compose.yaml",
        "services:\n  app:\n    build:\n      context: ./app\n      additional_contexts:\n        assets: ./nowhere\n  base:\n    build: ./base\n",
    );
    let err = fails(&stack, &["build", "app"]);
    assert!(
        err.contains("additional_contexts.assets") && err.contains("not a directory"),
        "{err}"
    );
}
on_both_backends!(named_build_contexts_reach_copy_from_and_from);
