//! Project-level normalization of a merged, deserialized [`Project`]: the defaults and
//! path resolution `docker compose` applies after loading, so the model is fully resolved
//! for `hoist config` and the engine.
//!
//! Pure: no file system access (paths are resolved lexically) and no environment reads
//! beyond the map passed in. Not for: short-syntax expansion (done while deserializing, see
//! [`super::model`]), interpolation, merging, profiles or validation of references.

use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;

use super::model::{
    DependencyCondition, External, NetworkConfig, Project, ServiceConfig, ServiceDependency,
    VolumeType,
};

/// The network services join when they name none.
pub const DEFAULT_NETWORK: &str = "default";

/// Apply compose's project-level defaults in place.
///
/// - relative bind sources, build contexts, additional build contexts, `env_file`,
///   `label_file`, secret/config `file`, `develop.watch[].path` and local bind-volume
///   devices resolved from `working_dir`; `~` from `HOME` in `env`;
/// - `build.context` defaults to `.`, `build.dockerfile` to `Dockerfile` (unless inline);
/// - services without `networks` and `network_mode` join `default`, which is created at
///   top level only when some service uses it;
/// - networks, volumes, secrets and configs get their engine name: `name:` if set, the key
///   if external, `<project>_<key>` otherwise;
/// - implicit dependencies from `links`, `network_mode`/`ipc`/`pid`/`uts`/`cgroup:
///   service:x` and `volumes_from` are added to `depends_on`;
/// - `pull_policy: if_not_present` becomes `missing`.
pub fn normalize(project: &mut Project, working_dir: &Path, env: &IndexMap<String, String>) {
    let home = env.get("HOME").map(PathBuf::from);
    let resolve = |p: &str| resolve_path(working_dir, home.as_deref(), p);

    let mut uses_default_network = false;
    for service in project.services.values_mut() {
        normalize_service(service, &resolve);
        uses_default_network |= service.networks.contains_key(DEFAULT_NETWORK);
    }
    if uses_default_network && !project.networks.contains_key(DEFAULT_NETWORK) {
        project
            .networks
            .insert(DEFAULT_NETWORK.to_owned(), NetworkConfig::default());
    }

    let project_name = project.name.clone().unwrap_or_default();
    let engine_name = |key: &str, name: &mut Option<String>, external: &External| {
        if name.is_none() {
            *name = external.legacy_name.clone();
        }
        if name.is_none() {
            *name = Some(if external.enabled {
                key.to_owned()
            } else {
                format!("{project_name}_{key}")
            });
        }
    };
    for (key, n) in project.networks.iter_mut() {
        engine_name(key, &mut n.name, &n.external);
    }
    for (key, v) in project.volumes.iter_mut() {
        engine_name(key, &mut v.name, &v.external);
        // A local volume that bind-mounts a host directory: resolve its device path.
        let is_local = v.driver.as_deref().is_none_or(|d| d == "local");
        if is_local
            && v.driver_opts
                .get("o")
                .is_some_and(|o| o.split(',').any(|o| o == "bind"))
        {
            if let Some(device) = v.driver_opts.get_mut("device") {
                *device = resolve(device);
            }
        }
    }
    for (key, s) in project.secrets.iter_mut() {
        engine_name(key, &mut s.name, &s.external);
        if let Some(f) = s.file.as_mut() {
            *f = resolve(f);
        }
    }
    for (key, c) in project.configs.iter_mut() {
        engine_name(key, &mut c.name, &c.external);
        if let Some(f) = c.file.as_mut() {
            *f = resolve(f);
        }
    }
}

fn normalize_service(service: &mut ServiceConfig, resolve: &impl Fn(&str) -> String) {
    if service.networks.is_empty() && service.network_mode.is_none() {
        service.networks.insert(DEFAULT_NETWORK.to_owned(), None);
    }
    if service.pull_policy.as_deref() == Some("if_not_present") {
        service.pull_policy = Some("missing".to_owned());
    }
    if let Some(build) = service.build.as_mut() {
        if build.context.is_empty() {
            build.context = ".".to_owned();
        }
        if !is_remote_context(&build.context) {
            build.context = resolve(&build.context);
        }
        if build.dockerfile.is_none() && build.dockerfile_inline.is_none() {
            build.dockerfile = Some("Dockerfile".to_owned());
        }
        for value in build.additional_contexts.values_mut() {
            if !is_remote_context(value) && !has_context_scheme(value) {
                *value = resolve(value);
            }
        }
    }
    for volume in &mut service.volumes {
        if volume.kind == VolumeType::Bind {
            if let Some(source) = volume.source.as_mut() {
                *source = resolve(source);
            }
        }
    }
    for env_file in &mut service.env_file {
        env_file.path = resolve(&env_file.path);
    }
    for label_file in service.label_file.iter_mut() {
        *label_file = resolve(label_file);
    }
    if let Some(develop) = service.develop.as_mut() {
        for rule in &mut develop.watch {
            rule.path = resolve(&rule.path);
        }
    }
    add_implicit_dependencies(service);
}

/// Services this one needs running because it shares their namespaces, volumes or links.
fn add_implicit_dependencies(service: &mut ServiceConfig) {
    let mut implicit: Vec<(String, bool)> = Vec::new();
    for link in &service.links {
        let name = link.split(':').next().unwrap_or(link);
        implicit.push((name.to_owned(), true));
    }
    let namespaces = [
        &service.network_mode,
        &service.ipc,
        &service.pid,
        &service.uts,
        &service.cgroup,
    ];
    for ns in namespaces.into_iter().flatten() {
        if let Some(name) = ns.strip_prefix("service:") {
            implicit.push((name.to_owned(), true));
        }
    }
    for from in &service.volumes_from {
        if from.starts_with("container:") {
            continue;
        }
        let name = from.split(':').next().unwrap_or(from);
        implicit.push((name.to_owned(), false));
    }
    for (name, restart) in implicit {
        if name.is_empty() {
            continue;
        }
        service.depends_on.entry(name).or_insert(ServiceDependency {
            condition: DependencyCondition::ServiceStarted,
            required: true,
            restart,
        });
    }
}

/// A build context that is not a local path (git or HTTP URL).
fn is_remote_context(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

/// Additional contexts may name an image or another service's build target.
fn has_context_scheme(value: &str) -> bool {
    ["docker-image:", "service:", "target:", "oci-layout:"]
        .iter()
        .any(|s| value.starts_with(s))
}

/// `p` made absolute from `base` (`~` from `home`) and cleaned lexically.
pub fn resolve_path(base: &Path, home: Option<&Path>, p: &str) -> String {
    let expanded: PathBuf = match (p.strip_prefix('~'), home) {
        (Some(""), Some(h)) => h.to_path_buf(),
        (Some(rest), Some(h)) if rest.starts_with('/') => h.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(p),
    };
    let joined = if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    };
    clean_path(&joined).to_string_lossy().into_owned()
}

/// Remove `.` and resolve `..` without touching the file system (like Go's `filepath.Clean`).
fn clean_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Project {
        let mut p: Project = match serde_yaml::from_str(yaml) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        p.name = Some("demo".into());
        let env = IndexMap::from([("HOME".to_owned(), "/home/u".to_owned())]);
        normalize(&mut p, Path::new("/work/proj"), &env);
        p
    }

    #[test]
    fn relative_paths_resolve_from_working_dir_and_home() {
        let p = load(
            r#"
services:
  web:
    build: {context: ./app, additional_contexts: {base: ../base, img: "docker-image://alpine"}}
    volumes: ["./src:/app", "~/cfg:/cfg", "/abs/./x/../y:/y", "data:/data"]
    env_file: [.env, {path: ../shared.env, required: false}]
    develop: {watch: [{path: ./src, action: sync, target: /app}]}
  remote:
    build: https://github.com/x/y.git#main
secrets:
  s: {file: ./secret.txt}
volumes:
  data:
  bound: {driver_opts: {type: none, o: bind, device: ./bound}}
"#,
        );
        let web = &p.services["web"];
        let b = web.build.as_ref().unwrap();
        assert_eq!(b.context, "/work/proj/app");
        assert_eq!(b.dockerfile.as_deref(), Some("Dockerfile"));
        assert_eq!(b.additional_contexts["base"], "/work/base");
        assert_eq!(b.additional_contexts["img"], "docker-image://alpine");
        let sources: Vec<_> = web
            .volumes
            .iter()
            .map(|v| v.source.clone().unwrap())
            .collect();
        assert_eq!(
            sources,
            vec!["/work/proj/src", "/home/u/cfg", "/abs/y", "data"]
        );
        assert_eq!(web.env_file[0].path, "/work/proj/.env");
        assert_eq!(web.env_file[1].path, "/work/shared.env");
        assert_eq!(
            web.develop.as_ref().unwrap().watch[0].path,
            "/work/proj/src"
        );
        let remote = p.services["remote"].build.as_ref().unwrap();
        assert_eq!(remote.context, "https://github.com/x/y.git#main");
        assert_eq!(
            p.secrets["s"].file.as_deref(),
            Some("/work/proj/secret.txt")
        );
        assert_eq!(p.volumes["bound"].driver_opts["device"], "/work/proj/bound");
    }

    #[test]
    fn build_defaults_context_and_dockerfile_unless_inline() {
        let p = load(
            "services:\n  a: {build: {dockerfile_inline: FROM scratch}}\n  b: {build: {target: x}}",
        );
        let a = p.services["a"].build.as_ref().unwrap();
        assert_eq!(a.context, "/work/proj");
        assert_eq!(a.dockerfile, None);
        let b = p.services["b"].build.as_ref().unwrap();
        assert_eq!(b.dockerfile.as_deref(), Some("Dockerfile"));
    }

    #[test]
    fn default_network_added_only_where_needed() {
        let p = load(
            "services:\n  a: {image: x}\n  b: {image: x, network_mode: host}\n  c: {image: x, networks: [front]}\nnetworks:\n  front:",
        );
        assert!(p.services["a"].networks.contains_key("default"));
        assert!(p.services["b"].networks.is_empty());
        assert_eq!(
            p.services["c"].networks.keys().collect::<Vec<_>>(),
            vec!["front"]
        );
        assert_eq!(p.networks["default"].name.as_deref(), Some("demo_default"));
        assert_eq!(p.networks["front"].name.as_deref(), Some("demo_front"));

        let p = load("services:\n  c: {image: x, networks: [front]}\nnetworks:\n  front:");
        assert!(!p.networks.contains_key("default"));
    }

    #[test]
    fn resource_names_respect_name_and_external() {
        let p = load(
            r#"
services: {}
networks:
  n1:
  n2: {name: custom}
  n3: {external: true}
volumes:
  v1:
  v2: {external: true, name: real}
  v3: {external: true}
  v4: {external: {name: legacy}}
configs:
  c: {content: x}
"#,
        );
        assert_eq!(p.networks["n1"].name.as_deref(), Some("demo_n1"));
        assert_eq!(p.networks["n2"].name.as_deref(), Some("custom"));
        assert_eq!(p.networks["n3"].name.as_deref(), Some("n3"));
        assert_eq!(p.volumes["v1"].name.as_deref(), Some("demo_v1"));
        assert_eq!(p.volumes["v2"].name.as_deref(), Some("real"));
        assert_eq!(p.volumes["v3"].name.as_deref(), Some("v3"));
        assert_eq!(p.volumes["v4"].name.as_deref(), Some("legacy"));
        assert_eq!(p.configs["c"].name.as_deref(), Some("demo_c"));
    }

    #[test]
    fn implicit_dependencies_from_links_network_mode_volumes_from() {
        let p = load(
            r#"
services:
  app:
    image: x
    links: ["db:database"]
    network_mode: "service:vpn"
    volumes_from: ["data:ro", "container:other"]
    depends_on: {db: {condition: service_healthy}}
  db: {image: x}
  vpn: {image: x}
  data: {image: x}
"#,
        );
        let deps = &p.services["app"].depends_on;
        assert_eq!(deps.keys().collect::<Vec<_>>(), vec!["db", "vpn", "data"]);
        assert_eq!(deps["db"].condition, DependencyCondition::ServiceHealthy);
        assert!(deps["vpn"].restart && deps["vpn"].required);
        assert!(!deps["data"].restart && deps["data"].required);
        assert!(p.services["app"].networks.is_empty());
    }

    #[test]
    fn container_name_untouched_and_pull_policy_alias() {
        let p =
            load("services:\n  a: {image: x, container_name: my-a, pull_policy: if_not_present}");
        assert_eq!(p.services["a"].container_name.as_deref(), Some("my-a"));
        assert_eq!(p.services["a"].pull_policy.as_deref(), Some("missing"));
    }

    #[test]
    fn clean_path_handles_dots() {
        assert_eq!(resolve_path(Path::new("/a/b"), None, "../c/./d"), "/a/c/d");
        assert_eq!(resolve_path(Path::new("/a"), None, "."), "/a");
        assert_eq!(resolve_path(Path::new("/a"), None, "~/x"), "/a/~/x");
        assert_eq!(
            resolve_path(Path::new("/a"), Some(Path::new("/h")), "~"),
            "/h"
        );
    }
}
