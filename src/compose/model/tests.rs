//! Whole-model tests: YAML in, typed model and canonical YAML out.

use super::*;

fn project(yaml: &str) -> Project {
    match serde_yaml::from_str(yaml) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn service(yaml: &str) -> ServiceConfig {
    match serde_yaml::from_str(yaml) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn service_err(yaml: &str) -> String {
    serde_yaml::from_str::<ServiceConfig>(yaml)
        .unwrap_err()
        .to_string()
}

#[test]
fn project_with_null_resources_and_all_sections_deserializes() {
    let p = project(
        r#"
name: demo
version: "3.8"
services:
  web:
    image: nginx
networks:
  front:
  back: {driver: bridge, internal: true, ipam: {config: [{subnet: 10.5.0.0/16, gateway: 10.5.0.1}]}}
volumes:
  data:
  ext: {external: true}
  legacy: {external: {name: old}}
secrets:
  token: {file: ./token.txt}
configs:
  app: {content: "hello"}
include:
  - other.yaml
  - path: [a.yaml, b.yaml]
    project_directory: sub
"#,
    );
    assert_eq!(p.name.as_deref(), Some("demo"));
    assert!(p.networks["front"].driver.is_none());
    assert!(p.networks["back"].internal);
    assert!(p.volumes["ext"].external.enabled);
    assert!(p.volumes["legacy"].external.enabled);
    assert_eq!(
        p.volumes["legacy"].external.legacy_name.as_deref(),
        Some("old")
    );
    assert_eq!(p.secrets["token"].file.as_deref(), Some("./token.txt"));
    assert_eq!(p.include[0].path.0, vec!["other.yaml"]);
    assert_eq!(p.include[1].path.len(), 2);
}

#[test]
fn unknown_keys_are_rejected_everywhere() {
    assert!(service_err("image: x\nimagee: y").contains("unknown field `imagee`"));
    assert!(service_err("image: x\nhealthcheck: {tset: x}").contains("unknown field `tset`"));
    assert!(service_err("build: {context: ., dockerfle: x}").contains("unknown field `dockerfle`"));
    assert!(service_err("deploy: {resources: {limits: {mem: 1}}}").contains("unknown field `mem`"));
    assert!(
        service_err("depends_on: {db: {condition: service_started, x: 1}}")
            .contains("unknown field `x`")
    );
    assert!(serde_yaml::from_str::<Project>("servics: {}")
        .unwrap_err()
        .to_string()
        .contains("unknown field `servics`"));
    assert!(serde_yaml::from_str::<Project>("networks: {n: {drivr: x}}").is_err());
}

#[test]
fn depends_on_list_becomes_started_and_required() {
    let s = service("depends_on: [db, cache]");
    assert_eq!(s.depends_on.len(), 2);
    let db = &s.depends_on["db"];
    assert_eq!(db.condition, DependencyCondition::ServiceStarted);
    assert!(db.required);
    assert!(!db.restart);
    assert_eq!(
        serde_yaml::to_string(&s).unwrap(),
        "depends_on:\n  db:\n    condition: service_started\n    required: true\n  cache:\n    condition: service_started\n    required: true\n"
    );
}

#[test]
fn depends_on_long_form_keeps_condition_restart_required() {
    let s = service(
        "depends_on:\n  db: {condition: service_healthy, restart: true}\n  init: {condition: service_completed_successfully, required: false}\n  other: {}",
    );
    assert_eq!(
        s.depends_on["db"].condition,
        DependencyCondition::ServiceHealthy
    );
    assert!(s.depends_on["db"].restart);
    assert!(s.depends_on["db"].required);
    assert!(!s.depends_on["init"].required);
    assert_eq!(s.depends_on["other"], ServiceDependency::default());
    let e = service_err("depends_on: {db: {condition: service_ready}}");
    assert!(e.contains("unknown variant `service_ready`"), "{e}");
}

#[test]
fn environment_map_and_list_forms() {
    let s = service("environment: [A=1, B, C=]");
    assert_eq!(s.environment["A"], Some("1".into()));
    assert_eq!(s.environment["B"], None);
    assert_eq!(s.environment["C"], Some(String::new()));
    let s = service("environment: {A: 1, B: null, C: false}");
    assert_eq!(s.environment["C"], Some("false".into()));
    assert_eq!(
        serde_yaml::to_string(&s).unwrap(),
        "environment:\n  A: '1'\n  B: null\n  C: 'false'\n"
    );
}

#[test]
fn labels_sysctls_args_annotations_accept_both_forms() {
    let s = service(
        "labels: [a=b]\nsysctls: {net.core.somaxconn: 1024}\nannotations: [x=y]\nbuild: {context: ., args: [V=1, W]}",
    );
    assert_eq!(s.labels["a"], "b");
    assert_eq!(s.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(s.annotations["x"], "y");
    let b = s.build.unwrap();
    assert_eq!(b.args["V"], Some("1".into()));
    assert_eq!(b.args["W"], None);
}

#[test]
fn command_string_is_split_and_list_kept_and_empty_distinct() {
    let s = service(r#"command: bash -c "echo hi""#);
    assert_eq!(s.command.unwrap().0, vec!["bash", "-c", "echo hi"]);
    let s = service("entrypoint: [\"/bin/sh\", \"-c\"]");
    assert_eq!(s.entrypoint.unwrap().0, vec!["/bin/sh", "-c"]);
    let s = service("command: []");
    assert_eq!(s.command, Some(ShellCommand(vec![])));
    let s = service("command: \"\"");
    assert_eq!(s.command, Some(ShellCommand(vec![])));
    let s = service("image: x");
    assert_eq!(s.command, None);
    assert!(service_err("command: \"echo 'x\"").contains("unterminated"));
}

#[test]
fn healthcheck_test_forms_and_durations() {
    let s = service("healthcheck: {test: curl -f http://localhost, interval: 1m30s, timeout: 10s, retries: 3, start_period: 500ms}");
    let h = s.healthcheck.unwrap();
    assert_eq!(
        h.test.as_ref().unwrap().0,
        vec!["CMD-SHELL", "curl -f http://localhost"]
    );
    assert_eq!(h.interval, Some(Duration(90_000_000_000)));
    assert_eq!(h.retries, Some(3));
    assert_eq!(
        serde_yaml::to_string(&h).unwrap(),
        "interval: 1m30s\nretries: 3\nstart_period: 500ms\ntest:\n- CMD-SHELL\n- curl -f http://localhost\ntimeout: 10s\n"
    );
    let s = service("healthcheck: {test: [CMD, pg_isready]}");
    assert_eq!(
        s.healthcheck.unwrap().test.unwrap().0,
        vec!["CMD", "pg_isready"]
    );
    let s = service("healthcheck: {disable: true}");
    assert!(s.healthcheck.unwrap().is_disabled());
    let s = service("healthcheck: {test: [NONE]}");
    assert!(s.healthcheck.unwrap().is_disabled());
    let e = service_err("healthcheck: {interval: 10}");
    assert!(e.contains("is not a valid duration"), "{e}");
}

#[test]
fn build_string_and_object_forms() {
    let s = service("build: ./app");
    assert_eq!(s.build.unwrap().context, "./app");
    let s = service(
        "build:\n  context: .\n  dockerfile_inline: |\n    FROM scratch\n  additional_contexts: {base: ../base}\n  target: dev\n  cache_from: x\n  tags: [a, b]\n  ssh: [default]\n  secrets: [npmrc]\n  shm_size: 1g\n  provenance: false\n",
    );
    let b = s.build.unwrap();
    assert_eq!(b.dockerfile_inline.as_deref(), Some("FROM scratch\n"));
    assert_eq!(b.additional_contexts["base"], "../base");
    assert_eq!(b.cache_from.0, vec!["x"]);
    assert_eq!(b.secrets[0].target, None);
    assert_eq!(b.shm_size, Some(ByteSize(1 << 30)));
    assert_eq!(b.provenance.as_deref(), Some("false"));
    let s = service("build: {additional_contexts: [base=../base]}");
    assert_eq!(s.build.unwrap().additional_contexts["base"], "../base");
}

#[test]
fn env_file_forms() {
    let s = service("env_file: .env");
    assert_eq!(s.env_file.len(), 1);
    assert!(s.env_file[0].required);
    let s = service("env_file: [a.env, {path: b.env, required: false, format: raw}]");
    assert_eq!(s.env_file[1].path, "b.env");
    assert!(!s.env_file[1].required);
    assert_eq!(s.env_file[1].format.as_deref(), Some("raw"));
    assert_eq!(
        serde_yaml::to_string(&s.env_file).unwrap(),
        "- path: a.env\n  required: true\n- format: raw\n  path: b.env\n  required: false\n"
    );
}

#[test]
fn service_networks_list_and_map_forms() {
    let s = service("networks: [front, back]");
    assert_eq!(s.networks.len(), 2);
    assert!(s.networks["front"].is_none());
    let s = service(
        "networks:\n  front:\n  back: {aliases: [db], ipv4_address: 10.0.0.5, ipv6_address: '::5', priority: 10}",
    );
    assert!(s.networks["front"].is_none());
    let back = s.networks["back"].as_ref().unwrap();
    assert_eq!(back.aliases, vec!["db"]);
    assert_eq!(back.ipv4_address.as_deref(), Some("10.0.0.5"));
    assert_eq!(back.priority, Some(10));
    assert!(serde_yaml::to_string(&s).unwrap().contains("front: null"));
}

#[test]
fn secrets_and_configs_refs() {
    let s = service(
        "secrets: [token, {source: key, target: /k, uid: 1000, mode: 0440}]\nconfigs: [app]",
    );
    assert_eq!(s.secrets[0].target, None);
    assert_eq!(s.secrets[1].target.as_deref(), Some("/k"));
    assert_eq!(s.secrets[1].uid.as_deref(), Some("1000"));
    assert_eq!(s.configs[0].source, "app");
    assert_eq!(s.configs[0].target, None);
}

#[test]
fn deploy_resources_restart_policy_placement() {
    let s = service(
        r#"
deploy:
  replicas: 2
  resources:
    limits: {cpus: "0.5", memory: 512m, pids: 100}
    reservations:
      cpus: 0.25
      memory: 128M
      devices: [{driver: nvidia, count: all, capabilities: [gpu]}]
  restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
  placement: {constraints: [node.role==manager], preferences: [{spread: node.labels.zone}]}
  update_config: {parallelism: 2, delay: 10s, order: start-first}
"#,
    );
    let d = s.deploy.unwrap();
    assert_eq!(d.replicas, Some(2));
    let r = d.resources.unwrap();
    let limits = r.limits.unwrap();
    assert_eq!(limits.cpus, Some(Cpus(0.5)));
    assert_eq!(limits.memory, Some(ByteSize(512 << 20)));
    let res = r.reservations.unwrap();
    assert_eq!(res.devices[0].count, Some(-1));
    assert_eq!(
        d.restart_policy.unwrap().delay,
        Some(Duration::from_secs(5))
    );
    assert_eq!(d.placement.unwrap().constraints.len(), 1);
}

#[test]
fn misc_service_keys() {
    let s = service(
        r#"
image: app
ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 65535}
logging: {driver: json-file, options: {max-size: 10m}}
extra_hosts: ["db:10.0.0.1", "gw=host-gateway"]
devices: ["/dev/fuse", "/dev/a:/dev/b:r", {source: /dev/c, target: /dev/d, permissions: rw}]
cap_add: [NET_ADMIN]
tmpfs: /run
sysctls: [net.ipv4.ip_forward=1]
profiles: [debug]
platform: linux/amd64
pull_policy: always
restart: unless-stopped
stop_grace_period: 1m30s
shm_size: 64m
mem_limit: 1gb
expose: [80, "443"]
gpus: all
cpu_rt_runtime: 10ms
cpu_rt_period: 1000
develop:
  watch:
    - {path: ./src, action: sync, target: /app/src, ignore: [node_modules/]}
    - {path: package.json, action: rebuild}
    - {path: ./conf, action: sync+exec, target: /etc/app, exec: {command: reload}}
post_start: [{command: ["echo", "hi"], user: root}]
"#,
    );
    assert_eq!(
        s.ulimits["nofile"],
        Ulimit::SoftHard {
            soft: 1024,
            hard: 2048
        }
    );
    assert_eq!(s.ulimits["nproc"], Ulimit::Single(65535));
    assert_eq!(s.extra_hosts["gw"], vec!["host-gateway"]);
    assert_eq!(s.devices[0].target.as_deref(), Some("/dev/fuse"));
    assert_eq!(s.devices[1].permissions.as_deref(), Some("r"));
    assert_eq!(s.tmpfs.0, vec!["/run"]);
    assert_eq!(s.stop_grace_period.unwrap().to_string(), "1m30s");
    assert_eq!(s.mem_limit, Some(ByteSize(1 << 30)));
    assert_eq!(s.expose.0, vec!["80", "443"]);
    assert_eq!(s.gpus.unwrap().0[0].count, Some(-1));
    assert_eq!(s.cpu_rt_runtime, Some(10_000));
    assert_eq!(s.cpu_rt_period, Some(1000));
    let w = &s.develop.unwrap().watch;
    assert_eq!(w[2].action, WatchAction::SyncExec);
    assert_eq!(w[2].exec.as_ref().unwrap().command.0, vec!["reload"]);
    assert_eq!(s.post_start[0].user.as_deref(), Some("root"));
    let out =
        serde_yaml::to_string(&service("ulimits: {nofile: {soft: 1, hard: 2}, nproc: 3}")).unwrap();
    assert_eq!(
        out,
        "ulimits:\n  nofile:\n    hard: 2\n    soft: 1\n  nproc: 3\n"
    );
}

#[test]
fn extensions_serialize_as_x_keys() {
    let mut s = service("image: x");
    s.extensions
        .insert("x-foo".into(), serde_json::json!({"a": 1}));
    assert_eq!(
        serde_yaml::to_string(&s).unwrap(),
        "image: x\nx-foo:\n  a: 1\n"
    );
    // The plain serde_yaml deserializer does not filter `x-*`: the struct rejects them.
    assert!(service_err("image: x\nx-foo: 1").contains("unknown field"));
}

#[test]
fn service_fields_serialize_in_alphabetical_order() {
    let s = service(
        "volumes: [./a:/a]\nimage: x\ncommand: run\nports: [\"80:80\"]\nenvironment: [A=1]\nbuild: .\ndepends_on: [db]\ncontainer_name: c",
    );
    let out = serde_yaml::to_string(&s).unwrap();
    let keys: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('-'))
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn config_hash_ignores_build_depends_on_profiles_scale_replicas() {
    let base = service("image: app\nports: [\"80:80\"]");
    let h = base.config_hash();
    assert_eq!(h.len(), 64);
    assert_eq!(h, base.clone().config_hash());
    let other = service(
        "image: app\nports: [\"80:80\"]\nbuild: .\ndepends_on: [db]\nprofiles: [x]\nscale: 3\npull_policy: always\ndeploy: {replicas: 2}",
    );
    let mut other_no_deploy = other.clone();
    other_no_deploy.deploy = None;
    assert_eq!(other_no_deploy.config_hash(), h);
    // `deploy: {replicas: 2}` leaves an empty deploy object: still a (stable) difference
    // from no deploy at all, as in compose.
    assert_eq!(other.config_hash(), other.clone().config_hash());
    let changed = service("image: app\nports: [\"81:80\"]");
    assert_ne!(changed.config_hash(), h);
}

#[test]
fn json_schema_accepts_short_forms_and_extensions() {
    let schema = serde_json::to_value(json_schema()).unwrap();
    let text = schema.to_string();
    assert!(text.contains("\"^x-\""), "extensions allowed");
    assert!(text.contains("anyOf"));
    let defs = &schema["$defs"];
    assert!(defs.get("ServiceConfig").is_some());
    assert_eq!(defs["ServiceConfig"]["additionalProperties"], false);
    // Typed scalars also accept strings (`retries: "3"`, `privileged: "yes"`).
    let retries = &defs["Healthcheck"]["properties"]["retries"]["type"];
    assert!(
        retries.as_array().unwrap().contains(&"string".into()),
        "{retries}"
    );
    let privileged = &defs["ServiceConfig"]["properties"]["privileged"]["type"];
    assert!(
        privileged.as_array().unwrap().contains(&"string".into()),
        "{privileged}"
    );
}

#[test]
fn canonical_output_round_trips() {
    let p = project(
        r#"
name: demo
services:
  web:
    build: {context: ., dockerfile: Dockerfile}
    ports: ["127.0.0.1:8080:80"]
    volumes: ["./src:/app", "data:/data:ro"]
    depends_on: [db]
    environment: [A=1]
    healthcheck: {test: "true", interval: 5s}
  db:
    image: postgres
volumes:
  data:
"#,
    );
    let yaml = serde_yaml::to_string(&p).unwrap();
    let again: Project = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(again, p);
    let json = serde_json::to_string(&p).unwrap();
    let from_json: Project = serde_json::from_str(&json).unwrap();
    assert_eq!(from_json, p);
}

#[test]
fn wrong_shapes_say_what_is_expected() {
    let e = service_err("depends_on: db");
    assert!(
        e.contains("expected a list of service names or a mapping"),
        "{e}"
    );
    let e = service_err("environment: 5");
    assert!(
        e.contains("expected a mapping or a list of \"KEY=VALUE\" strings"),
        "{e}"
    );
    let e = service_err("stop_grace_period: forever");
    assert!(e.contains("\"forever\" is not a valid duration"), "{e}");
    let e = service_err("mem_limit: lots");
    assert!(e.contains("\"lots\" is not a valid byte size"), "{e}");
    let e = service_err("cpus: many");
    assert!(e.contains("is not a valid CPU count"), "{e}");
    let e = service_err("devices: [\"a:b:c:d\"]");
    assert!(e.contains("is not a valid device"), "{e}");
    let e = service_err("volumes: [\"a:b:c:d\"]");
    assert!(e.contains("is not a valid volume"), "{e}");
    let e = service_err("develop: {watch: [{path: ., action: teleport}]}");
    assert!(e.contains("unknown variant `teleport`"), "{e}");
}

#[test]
fn external_accepts_yaml_booleans_as_strings() {
    let p = project("volumes:\n  a: {external: \"yes\"}\n  b: {external: \"off\"}");
    assert!(p.volumes["a"].external.enabled);
    assert!(!p.volumes["b"].external.enabled);
    let out = serde_yaml::to_string(&p).unwrap();
    assert!(out.contains("external: true"), "{out}");
    assert!(!out.contains("external: false"), "{out}");
}
