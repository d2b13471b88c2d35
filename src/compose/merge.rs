//! Merging compose files and `extends` bases, with the Compose merge rules: mappings merge by
//! key, sequences append, `command`/`entrypoint`/`healthcheck.test` are replaced, `ports` merge
//! by (host ip, target, published, protocol), `volumes`/`secrets`/`configs` by target, and
//! `environment`, `labels`, `build.args`, `extra_hosts`, `sysctls`... merge as maps whatever
//! syntax each side uses. `!reset` removes what the base had; `!override` replaces it whole.
//! Works on [`Node`] trees, before the typed model exists.

use super::yaml::{Entry, Mapping, Node, NodeTag, Scalar, Value};

/// How a sequence at a given path merges.
#[derive(Clone, Copy)]
enum Rule {
    /// Recurse: mappings by key, sequences appended.
    Default,
    /// The override replaces the base.
    Replace,
    /// Either syntax (`KEY=VAL` list or map): merged as a map.
    AsMap(char),
    /// Sequence items merged by a key computed from each item.
    ByKey(fn(&Node) -> Option<String>),
    /// Sequence of scalars appended without duplicates.
    Unique,
    /// `depends_on`, `networks` of a service: a list of names or a map; merged as a map.
    NamesAsMap,
    /// `build`: a string is `{context: s}`.
    Build,
}

fn rule(path: &[&str]) -> Rule {
    match path {
        ["services", _, key] => match *key {
            "command" | "entrypoint" => Rule::Replace,
            "environment" | "labels" | "annotations" => Rule::AsMap('='),
            "sysctls" => Rule::AsMap('='),
            "extra_hosts" => Rule::AsMap(':'),
            "ports" => Rule::ByKey(port_key),
            "volumes" | "secrets" | "configs" => Rule::ByKey(target_key),
            "depends_on" | "networks" => Rule::NamesAsMap,
            "build" => Rule::Build,
            "cap_add" | "cap_drop" | "dns" | "dns_search" | "dns_opt" | "profiles"
            | "security_opt" | "expose" | "links" | "external_links" | "volumes_from"
            | "group_add" | "tmpfs" | "devices" | "env_file" | "label_file" => Rule::Unique,
            _ => Rule::Default,
        },
        ["services", _, "healthcheck", "test"] => Rule::Replace,
        ["services", _, "build", "args" | "labels"] => Rule::AsMap('='),
        ["services", _, "build", "extra_hosts"] => Rule::AsMap(':'),
        ["services", _, "build", "additional_contexts"] => Rule::AsMap('='),
        ["services", _, "build", "tags" | "cache_from" | "cache_to" | "platforms"] => Rule::Unique,
        ["services", _, "deploy", "labels"] => Rule::AsMap('='),
        ["services", _, "logging", "options"] => Rule::Default,
        ["networks" | "volumes" | "secrets" | "configs", _, "labels"] => Rule::AsMap('='),
        ["networks" | "volumes", _, "driver_opts"] => Rule::Default,
        _ => Rule::Default,
    }
}

/// Merges `over` onto `base`. `path` is the key path of both nodes (e.g. `["services", "web"]`).
pub fn merge(base: Node, over: Node, path: &mut Vec<String>) -> Node {
    if over.tag == Some(NodeTag::Override) {
        return untag(over);
    }
    let refs: Vec<&str> = path.iter().map(String::as_str).collect();
    let rule = rule(&refs);
    match rule {
        Rule::Replace => return untag(over),
        Rule::AsMap(sep) => {
            if let (Some(b), Some(o)) = (list_to_map(&base, sep), list_to_map(&over, sep)) {
                return merge_maps(b, o, path);
            }
        }
        Rule::NamesAsMap => {
            if let (Some(b), Some(o)) = (names_to_map(&base), names_to_map(&over)) {
                return merge_maps(b, o, path);
            }
        }
        Rule::Build => {
            if let (Some(b), Some(o)) = (build_to_map(&base), build_to_map(&over)) {
                return merge_maps(b, o, path);
            }
        }
        Rule::ByKey(key) => {
            if let (Value::Seq(b), Value::Seq(o)) = (&base.value, &over.value) {
                let mut items: Vec<Node> = b.clone();
                for item in o {
                    let k = key(item);
                    match k.and_then(|k| {
                        items
                            .iter()
                            .position(|i| key(i).as_deref() == Some(k.as_str()))
                    }) {
                        Some(pos) => {
                            let old = items.remove(pos);
                            path.push(format!("[{pos}]"));
                            let merged = merge(old, item.clone(), path);
                            path.pop();
                            items.insert(pos, merged);
                        }
                        None => items.push(item.clone()),
                    }
                }
                return Node {
                    value: Value::Seq(items),
                    ..over
                };
            }
        }
        Rule::Unique => {
            if let (Value::Seq(b), Value::Seq(o)) = (&base.value, &over.value) {
                let mut items = b.clone();
                for item in o {
                    let dup = item.as_str().is_some()
                        && items.iter().any(|i| i.as_str() == item.as_str());
                    if !dup {
                        items.push(item.clone());
                    }
                }
                return Node {
                    value: Value::Seq(items),
                    ..over
                };
            }
        }
        Rule::Default => {}
    }
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => {
            let over = Node {
                value: Value::Map(o),
                mark: over.mark,
                file: over.file,
                tag: None,
            };
            let base = Node {
                value: Value::Map(b),
                mark: base.mark,
                file: base.file,
                tag: None,
            };
            merge_maps(base, over, path)
        }
        (Value::Seq(mut b), Value::Seq(o)) => {
            b.extend(o);
            Node {
                value: Value::Seq(b),
                mark: over.mark,
                file: over.file,
                tag: None,
            }
        }
        (_, value) => untag(Node {
            value,
            mark: over.mark,
            file: over.file,
            tag: over.tag,
        }),
    }
}

/// Merges two mapping nodes key by key.
fn merge_maps(base: Node, over: Node, path: &mut Vec<String>) -> Node {
    let (Value::Map(mut map), Value::Map(o)) = (base.value, over.value) else {
        unreachable!("merge_maps is called with mappings only")
    };
    for (key, entry) in o {
        if entry.value.tag == Some(NodeTag::Reset) {
            map.shift_remove(&key);
            continue;
        }
        match map.shift_remove_full(&key) {
            Some((index, _, old)) => {
                path.push(key.clone());
                let merged = merge(old.value, entry.value, path);
                path.pop();
                let (new_index, _) = map.insert_full(
                    key,
                    Entry {
                        key_mark: entry.key_mark,
                        value: merged,
                    },
                );
                map.move_index(new_index, index);
            }
            None => {
                map.insert(
                    key,
                    Entry {
                        key_mark: entry.key_mark,
                        value: strip_resets(entry.value),
                    },
                );
            }
        }
    }
    Node {
        value: Value::Map(map),
        mark: over.mark,
        file: over.file,
        tag: None,
    }
}

fn untag(node: Node) -> Node {
    strip_resets(Node { tag: None, ..node })
}

/// Removes `!reset` entries (nothing to reset) and tags from a subtree taken as is.
pub fn strip_resets(mut node: Node) -> Node {
    strip_resets_in_place(&mut node);
    node
}

fn strip_resets_in_place(node: &mut Node) {
    node.tag = None;
    match &mut node.value {
        Value::Map(m) => {
            if m.values().any(|e| e.value.tag == Some(NodeTag::Reset)) {
                m.retain(|_, e| e.value.tag != Some(NodeTag::Reset));
            }
            m.values_mut()
                .for_each(|e| strip_resets_in_place(&mut e.value));
        }
        Value::Seq(items) => {
            if items.iter().any(|i| i.tag == Some(NodeTag::Reset)) {
                items.retain(|i| i.tag != Some(NodeTag::Reset));
            }
            items.iter_mut().for_each(strip_resets_in_place);
        }
        _ => {}
    }
}

/// `["A=1", "B"]` or `{A: 1}` as a mapping node; `None` for anything else.
fn list_to_map(node: &Node, sep: char) -> Option<Node> {
    match &node.value {
        Value::Map(_) => Some(node.clone()),
        Value::Null => Some(Node::new(
            Value::Map(Mapping::new()),
            node.mark,
            node.file.clone(),
        )),
        Value::Seq(items) => {
            let mut map = Mapping::new();
            for item in items {
                let text = item.as_str()?;
                // extra_hosts also accepts `host=ip`.
                let split = text.split_once(sep).or_else(|| {
                    if sep == ':' {
                        text.split_once('=')
                    } else {
                        None
                    }
                });
                let (k, v) = match split {
                    Some((k, v)) => (
                        k,
                        Value::Scalar(Scalar {
                            text: v.to_string(),
                            plain: false,
                        }),
                    ),
                    None => (text, Value::Null),
                };
                map.insert(
                    k.to_string(),
                    Entry {
                        key_mark: item.mark,
                        value: Node::new(v, item.mark, item.file.clone()),
                    },
                );
            }
            Some(Node::new(Value::Map(map), node.mark, node.file.clone()))
        }
        Value::Scalar(_) => None,
    }
}

/// `[a, b]` or `{a: {...}}` as a mapping node (list items map to an empty mapping).
fn names_to_map(node: &Node) -> Option<Node> {
    match &node.value {
        Value::Map(_) => Some(node.clone()),
        Value::Seq(items) => {
            let mut map = Mapping::new();
            for item in items {
                let name = item.as_str()?;
                map.insert(
                    name.to_string(),
                    Entry {
                        key_mark: item.mark,
                        value: Node::new(Value::Map(Mapping::new()), item.mark, item.file.clone()),
                    },
                );
            }
            Some(Node::new(Value::Map(map), node.mark, node.file.clone()))
        }
        _ => None,
    }
}

fn build_to_map(node: &Node) -> Option<Node> {
    match &node.value {
        Value::Map(_) => Some(node.clone()),
        Value::Scalar(_) => {
            let mut map = Mapping::new();
            map.insert(
                "context".to_string(),
                Entry {
                    key_mark: node.mark,
                    value: Node {
                        tag: None,
                        ..node.clone()
                    },
                },
            );
            Some(Node::new(Value::Map(map), node.mark, node.file.clone()))
        }
        _ => None,
    }
}

/// `ports` identity: (host ip, published, target, protocol), from either syntax.
fn port_key(node: &Node) -> Option<String> {
    match &node.value {
        Value::Scalar(s) => {
            let (rest, proto) = s.text.rsplit_once('/').unwrap_or((&s.text, "tcp"));
            let (ip, rest) = match rest.strip_prefix('[') {
                Some(v6) => {
                    let (ip, after) = v6.split_once(']')?;
                    (ip.to_string(), after.trim_start_matches(':').to_string())
                }
                None => {
                    let parts: Vec<&str> = rest.split(':').collect();
                    if parts.len() == 3 {
                        (parts[0].to_string(), format!("{}:{}", parts[1], parts[2]))
                    } else {
                        (String::new(), rest.to_string())
                    }
                }
            };
            let (published, target) = rest.rsplit_once(':').unwrap_or(("", &rest));
            Some(format!("{ip}|{published}|{target}|{proto}"))
        }
        Value::Map(m) => {
            let get = |k: &str| {
                m.get(k)
                    .and_then(|e| e.value.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let proto = m
                .get("protocol")
                .and_then(|e| e.value.as_str())
                .unwrap_or("tcp");
            Some(format!(
                "{}|{}|{}|{proto}",
                get("host_ip"),
                get("published"),
                get("target")
            ))
        }
        _ => None,
    }
}

/// `volumes`, `secrets`, `configs` identity: the target path (or name, for short secrets).
fn target_key(node: &Node) -> Option<String> {
    match &node.value {
        Value::Scalar(s) => {
            let parts: Vec<&str> = s.text.split(':').collect();
            Some(match parts.as_slice() {
                [one] => one.to_string(),
                [_, target, ..] => target.to_string(),
                [] => return None,
            })
        }
        Value::Map(m) => m
            .get("target")
            .or_else(|| m.get("source"))
            .and_then(|e| e.value.as_str())
            .map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::compose::yaml;

    fn node(text: &str) -> Node {
        let file: Arc<str> = Arc::from("f.yaml");
        yaml::parse(text, &file).unwrap().remove(0)
    }

    /// Merges two YAML documents and renders the result as JSON for comparison.
    fn merged(base: &str, over: &str) -> serde_json::Value {
        let m = merge(node(base), node(over), &mut Vec::new());
        crate::compose::de::from_node(&m, "").unwrap()
    }

    #[test]
    fn mappings_merge_and_scalars_replace() {
        let v = merged(
            "services:\n  web:\n    image: a\n    restart: always\n",
            "services:\n  web:\n    image: b\n  db:\n    image: c\n",
        );
        assert_eq!(
            v,
            serde_json::json!({"services": {"web": {"image": "b", "restart": "always"}, "db": {"image": "c"}}})
        );
    }

    #[test]
    fn command_is_replaced_and_plain_lists_append() {
        let v = merged(
            "services:\n  web:\n    command: [a, b]\n    cap_add: [NET_ADMIN]\n    healthcheck:\n      test: [CMD, x]\n",
            "services:\n  web:\n    command: [c]\n    cap_add: [NET_ADMIN, SYS_TIME]\n    healthcheck:\n      test: [CMD, y]\n",
        );
        assert_eq!(v["services"]["web"]["command"], serde_json::json!(["c"]));
        assert_eq!(
            v["services"]["web"]["cap_add"],
            serde_json::json!(["NET_ADMIN", "SYS_TIME"])
        );
        assert_eq!(
            v["services"]["web"]["healthcheck"]["test"],
            serde_json::json!(["CMD", "y"])
        );
    }

    #[test]
    fn environment_merges_across_syntaxes() {
        let v = merged(
            "services:\n  web:\n    environment: [A=1, B=2]\n",
            "services:\n  web:\n    environment:\n      B: 3\n      C: 4\n",
        );
        assert_eq!(
            v["services"]["web"]["environment"],
            serde_json::json!({"A": "1", "B": 3, "C": 4})
        );
    }

    #[test]
    fn ports_merge_by_identity_and_volumes_by_target() {
        let v = merged(
            "services:\n  web:\n    ports: [\"80:80\", \"443:443\"]\n    volumes: [\"./a:/app\", \"data:/data\"]\n",
            "services:\n  web:\n    ports: [\"80:80\", \"8080:8080\"]\n    volumes: [\"./b:/app\"]\n",
        );
        assert_eq!(
            v["services"]["web"]["ports"],
            serde_json::json!(["80:80", "443:443", "8080:8080"])
        );
        assert_eq!(
            v["services"]["web"]["volumes"],
            serde_json::json!(["./b:/app", "data:/data"])
        );
    }

    #[test]
    fn reset_removes_and_override_replaces() {
        let v = merged(
            "services:\n  web:\n    ports: [\"80:80\"]\n    environment: {A: 1}\n",
            "services:\n  web:\n    ports: !reset []\n    environment: !override {B: 2}\n",
        );
        assert_eq!(
            v["services"]["web"],
            serde_json::json!({"environment": {"B": 2}})
        );
    }

    #[test]
    fn depends_on_list_and_map_merge() {
        let v = merged(
            "services:\n  web:\n    depends_on: [db]\n",
            "services:\n  web:\n    depends_on:\n      cache:\n        condition: service_healthy\n",
        );
        assert_eq!(
            v["services"]["web"]["depends_on"],
            serde_json::json!({"db": {}, "cache": {"condition": "service_healthy"}})
        );
    }

    #[test]
    fn build_string_merges_with_build_object() {
        let v = merged(
            "services:\n  web:\n    build: ./app\n",
            "services:\n  web:\n    build:\n      target: dev\n",
        );
        assert_eq!(
            v["services"]["web"]["build"],
            serde_json::json!({"context": "./app", "target": "dev"})
        );
    }
}
