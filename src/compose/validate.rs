//! Consistency checks on the typed project: references to undefined services, networks,
//! volumes, secrets and configs; dependency cycles; container names. Every error points at
//! the key in the source file.

use std::collections::HashMap;

use super::de::locate;
use super::error::LoadError;
use super::model::{Project, VolumeType};
use super::yaml::Node;
use crate::graph::DependencyGraph;

/// An error at `path` in the source tree.
fn error_at(tree: &Node, path: String, message: String, hint: Option<String>) -> LoadError {
    let mut err = LoadError::new(message).with_path(&path);
    if let Some(hint) = hint {
        err = err.with_hint(hint);
    }
    match locate(tree, &path) {
        Some((file, mark)) => err.at(&file, mark),
        None => err,
    }
}

fn defined<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none are defined".to_string()
    } else {
        format!("defined: {}", names.join(", "))
    }
}

pub fn validate(project: &Project, tree: &Node) -> Result<(), LoadError> {
    let mut container_names: HashMap<&str, &str> = HashMap::new();
    for (name, service) in &project.services {
        let at = |suffix: &str| format!("services.{name}{suffix}");
        if service.image.is_none() && service.build.is_none() {
            return Err(error_at(
                tree,
                at(""),
                format!("service \"{name}\" has neither an image nor a build context specified"),
                Some("add `image:` or `build:` to the service".into()),
            ));
        }
        if let Some(mode) = &service.network_mode {
            if let Some(other) = mode.strip_prefix("service:") {
                if !project.services.contains_key(other) {
                    return Err(error_at(
                        tree,
                        at(".network_mode"),
                        format!("service \"{other}\" not found for network_mode 'service:{other}' of service \"{name}\""),
                        None,
                    ));
                }
            }
            if !service.networks.is_empty() && mode != "bridge" {
                return Err(error_at(
                    tree,
                    at(".network_mode"),
                    format!("service \"{name}\" declares both network_mode and networks"),
                    Some("use one of them".into()),
                ));
            }
        }
        for (i, link) in service.links.iter().enumerate() {
            let other = link.split(':').next().unwrap_or(link);
            if !project.services.contains_key(other) {
                return Err(error_at(
                    tree,
                    at(&format!(".links[{i}]")),
                    format!("service \"{name}\" links to undefined service \"{other}\""),
                    Some(format!("services {}", defined(project.services.keys()))),
                ));
            }
        }
        for network in service.networks.keys() {
            if !project.networks.contains_key(network) {
                return Err(error_at(
                    tree,
                    at(&format!(".networks.{network}")),
                    format!("service \"{name}\" refers to undefined network \"{network}\""),
                    Some(format!(
                        "declare it under the top-level networks: ({})",
                        defined(project.networks.keys())
                    )),
                ));
            }
        }
        for (i, volume) in service.volumes.iter().enumerate() {
            if volume.kind != VolumeType::Volume {
                continue;
            }
            if let Some(source) = volume.source.as_deref().filter(|s| !s.is_empty()) {
                if !project.volumes.contains_key(source) {
                    return Err(error_at(
                        tree,
                        at(&format!(".volumes[{i}]")),
                        format!("service \"{name}\" refers to undefined volume \"{source}\""),
                        Some(format!(
                            "declare it under the top-level volumes: ({}), or write ./{source} for a bind mount",
                            defined(project.volumes.keys())
                        )),
                    ));
                }
            }
        }
        for (i, from) in service.volumes_from.iter().enumerate() {
            let other = from.split(':').next().unwrap_or(from);
            if !from.starts_with("container:") && !project.services.contains_key(other) {
                return Err(error_at(
                    tree,
                    at(&format!(".volumes_from[{i}]")),
                    format!("service \"{name}\" takes volumes from undefined service \"{other}\""),
                    None,
                ));
            }
        }
        for (dep, how) in service.depends_on.0.iter() {
            if !project.services.contains_key(dep) && how.required {
                return Err(error_at(
                    tree,
                    at(&format!(".depends_on.{dep}")),
                    format!("service \"{name}\" depends on undefined service \"{dep}\""),
                    Some(format!("services {}", defined(project.services.keys()))),
                ));
            }
        }
        for (kind, refs, defs) in [
            (
                "secret",
                &service.secrets,
                project.secrets.keys().collect::<Vec<_>>(),
            ),
            (
                "config",
                &service.configs,
                project.configs.keys().collect::<Vec<_>>(),
            ),
        ] {
            for (i, r) in refs.iter().enumerate() {
                if !defs.contains(&&r.source) {
                    return Err(error_at(
                        tree,
                        at(&format!(".{kind}s[{i}]")),
                        format!(
                            "service \"{name}\" refers to undefined {kind} \"{}\"",
                            r.source
                        ),
                        Some(format!(
                            "declare it under the top-level {kind}s: ({})",
                            defined(defs.iter().copied())
                        )),
                    ));
                }
            }
        }
        if let Some(cname) = &service.container_name {
            if let Some(first) = container_names.insert(cname.as_str(), name.as_str()) {
                return Err(error_at(
                    tree,
                    at(".container_name"),
                    format!("container name \"{cname}\" is already used by service \"{first}\""),
                    Some("container names must be unique".into()),
                ));
            }
            let replicas = service
                .scale
                .or_else(|| service.deploy.as_ref().and_then(|d| d.replicas))
                .unwrap_or(1);
            if replicas > 1 {
                return Err(error_at(
                    tree,
                    at(".container_name"),
                    format!("service \"{name}\" sets container_name \"{cname}\" but runs {replicas} replicas"),
                    Some("a container name must be unique: remove container_name or scale to 1".into()),
                ));
            }
        }
    }
    let graph = DependencyGraph::new(
        project
            .services
            .iter()
            .map(|(k, s)| (k.as_str(), s.depends_on.0.keys().map(String::as_str))),
    );
    if let Some(cycle) = graph.cycle() {
        let first = &cycle[0];
        let second = cycle.get(1).unwrap_or(first);
        return Err(error_at(
            tree,
            format!("services.{first}.depends_on.{second}"),
            format!("dependency cycle detected: {}", cycle.join(" -> ")),
            Some("services cannot depend on each other in a loop: remove one of these depends_on entries".into()),
        ));
    }
    Ok(())
}
