//! Loader speed on a generated 500-service project that uses anchors, `<<` merges, `extends`
//! from another file, env files and interpolation. Run: `cargo bench --bench load`.

use std::fmt::Write as _;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use hoist::compose::{load, LoadOptions};

fn write_project(dir: &Path, services: usize) {
    let mut compose = String::from(
        "name: bench\nx-common: &common\n  restart: unless-stopped\n  labels:\n    team: platform\n  environment:\n    LOG_LEVEL: ${LOG_LEVEL:-info}\n",
    );
    compose.push_str("services:\n");
    for i in 0..services {
        let _ = write!(
            compose,
            "  svc{i}:\n    <<: *common\n    extends:\n      file: base.yaml\n      service: base\n    image: registry.local/app${{TAG:+-$TAG}}:{i}\n    ports:\n      - \"${{HOST_IP:-127.0.0.1}}:{}:80\"\n    env_file: [./env/app.env]\n    volumes:\n      - data{i}:/var/lib/data\n      - ./src:/app/src:ro\n    depends_on: [{}]\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 10s\n",
            20000 + i,
            if i == 0 { "db".to_string() } else { format!("svc{}", i - 1) },
        );
    }
    compose.push_str("  db:\n    image: postgres:16\n    environment:\n      - POSTGRES_PASSWORD=${DB_PASSWORD:?set it}\nvolumes:\n");
    for i in 0..services {
        let _ = writeln!(compose, "  data{i}:");
    }
    std::fs::write(dir.join("compose.yaml"), compose).unwrap();
    std::fs::write(
        dir.join("base.yaml"),
        "services:\n  base:\n    command: [\"node\", \"server.js\"]\n    working_dir: /app\n    environment:\n      NODE_ENV: production\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("env")).unwrap();
    std::fs::write(
        dir.join("env/app.env"),
        "export API_URL=http://api:8080\nQUOTED=\"a b\\nc\"\nFROM_ENV=${TAG:-latest}\n",
    )
    .unwrap();
    std::fs::write(dir.join(".env"), "TAG=v1\nDB_PASSWORD=secret\n").unwrap();
}

fn bench_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), 500);
    let opts = LoadOptions {
        interpolate: true,
        working_dir: dir.path().to_path_buf(),
        process_env: [("HOME".to_string(), "/root".to_string())]
            .into_iter()
            .collect(),
        ..LoadOptions::default()
    };
    let loaded = load(&opts).expect("generated project loads");
    assert_eq!(loaded.project.services.len(), 501);
    c.bench_function("load 500 services", |b| b.iter(|| load(&opts).unwrap()));

    let small = tempfile::tempdir().unwrap();
    write_project(small.path(), 3);
    let small_opts = LoadOptions {
        working_dir: small.path().to_path_buf(),
        ..opts.clone()
    };
    c.bench_function("load 3 services", |b| b.iter(|| load(&small_opts).unwrap()));
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
