//! Profiles: services with `profiles:` run only when one of their profiles is enabled
//! (`--profile`, `COMPOSE_PROFILES`, `*` for all) or when they are named on the command line,
//! in which case what they depend on is enabled too.

use std::collections::HashSet;

use super::de::locate;
use super::discover::Environment;
use super::error::{did_you_mean, LoadError};
use super::model::Project;
use super::yaml::Node;
use crate::graph::DependencyGraph;

/// Removes the services that are not enabled and returns their names.
pub fn apply(
    project: &mut Project,
    profiles: &[String],
    named: &[String],
    env: &Environment,
    tree: &Node,
) -> Result<Vec<String>, LoadError> {
    for name in named {
        if !project.services.contains_key(name) {
            let mut err = LoadError::new(format!("no such service: {name}"));
            if let Some(best) = did_you_mean(name, project.services.keys().map(String::as_str)) {
                err = err.with_hint(format!("did you mean \"{best}\"?"));
            }
            return Err(err);
        }
    }
    let mut active: HashSet<&str> = profiles.iter().map(String::as_str).collect();
    if let Some(list) = env.get("COMPOSE_PROFILES") {
        active.extend(list.split(',').map(str::trim).filter(|p| !p.is_empty()));
    }
    let all = active.contains("*");
    let mut enabled: HashSet<String> = project
        .services
        .iter()
        .filter(|(_, s)| {
            all || s.profiles.is_empty() || s.profiles.iter().any(|p| active.contains(p.as_str()))
        })
        .map(|(k, _)| k.clone())
        .collect();
    if !named.is_empty() {
        let graph = DependencyGraph::new(project.services.iter().map(|(k, s)| {
            (
                k.as_str(),
                s.depends_on
                    .0
                    .iter()
                    .filter(|(_, d)| d.required)
                    .map(|(d, _)| d.as_str()),
            )
        }));
        let roots: Vec<&str> = named.iter().map(String::as_str).collect();
        enabled.extend(graph.with_dependencies(&roots));
    }
    for (key, service) in &project.services {
        if !enabled.contains(key) {
            continue;
        }
        for (dep, how) in service.depends_on.0.iter() {
            let Some(target) = project.services.get(dep) else {
                continue;
            };
            if how.required && !enabled.contains(dep) {
                let path = format!("services.{key}.depends_on.{dep}");
                let mut err = LoadError::new(format!(
                    "service \"{key}\" depends on \"{dep}\", which is not enabled: it belongs to profile(s) {}",
                    target.profiles.join(", ")
                ))
                .with_path(&path)
                .with_hint(format!("enable it with --profile {}", target.profiles.first().cloned().unwrap_or_default()));
                if let Some((file, mark)) = locate(tree, &path) {
                    err = err.at(&file, mark);
                }
                return Err(err);
            }
        }
    }
    let disabled: Vec<String> = project
        .services
        .keys()
        .filter(|k| !enabled.contains(*k))
        .cloned()
        .collect();
    project.services.retain(|k, _| enabled.contains(k));
    for service in project.services.values_mut() {
        service
            .depends_on
            .0
            .retain(|dep, _| enabled.contains(dep) || !disabled.contains(dep));
    }
    Ok(disabled)
}
