//! Keeps `x-*` extension fields: the deserializer skips them inside typed structs, and this pass
//! copies them from the tree onto the project, services, networks, volumes, secrets and configs.

use indexmap::IndexMap;

use super::de::from_node;
use super::model::Project;
use super::yaml::Node;

fn extensions_of(node: Option<&Node>) -> IndexMap<String, serde_json::Value> {
    let Some(map) = node.and_then(Node::as_map) else {
        return IndexMap::new();
    };
    map.iter()
        .filter(|(k, _)| k.starts_with("x-"))
        .filter_map(|(k, e)| {
            from_node::<serde_json::Value>(&e.value, k)
                .ok()
                .map(|v| (k.clone(), v))
        })
        .collect()
}

/// Copies every `x-*` key of `tree` onto the matching part of `project`.
pub fn fill(project: &mut Project, tree: &Node) {
    project.extensions = extensions_of(Some(tree));
    let section = |name: &str, key: &str| tree.get(name).and_then(|s| s.get(key));
    for (key, service) in project.services.iter_mut() {
        service.extensions = extensions_of(section("services", key));
        let nested = |name: &str| extensions_of(section("services", key).and_then(|s| s.get(name)));
        if let Some(build) = service.build.as_mut() {
            build.extensions = nested("build");
        }
        if let Some(deploy) = service.deploy.as_mut() {
            deploy.extensions = nested("deploy");
        }
        if let Some(logging) = service.logging.as_mut() {
            logging.extensions = nested("logging");
        }
    }
    for (key, network) in project.networks.iter_mut() {
        network.extensions = extensions_of(section("networks", key));
        if let Some(ipam) = network.ipam.as_mut() {
            ipam.extensions = extensions_of(section("networks", key).and_then(|n| n.get("ipam")));
        }
    }
    for (key, volume) in project.volumes.iter_mut() {
        volume.extensions = extensions_of(section("volumes", key));
    }
    for (key, secret) in project.secrets.iter_mut() {
        secret.extensions = extensions_of(section("secrets", key));
    }
    for (key, config) in project.configs.iter_mut() {
        config.extensions = extensions_of(section("configs", key));
    }
}
