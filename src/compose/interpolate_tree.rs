//! Applies variable interpolation to every scalar value of a [`Node`] tree (keys are never
//! interpolated), reporting the location of `${VAR:?message}` failures and malformed templates.

use super::discover::Environment;
use super::error::LoadError;
use super::interpolate::{interpolate, InterpolateError};
use super::yaml::{Node, Value};

/// Interpolates `node` in place. Names of variables used while unset are appended to `unset`.
pub fn interpolate_node(
    node: &mut Node,
    env: &Environment,
    unset: &mut Vec<String>,
) -> Result<(), LoadError> {
    let lookup = |name: &str| env.get(name).cloned();
    let mut path = Vec::new();
    walk(node, &lookup, unset, &mut path)
}

fn walk(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
    path: &mut Vec<String>,
) -> Result<(), LoadError> {
    match &mut node.value {
        Value::Scalar(s) => {
            if !s.text.contains('$') {
                return Ok(());
            }
            match interpolate(&s.text, lookup) {
                Ok(done) => {
                    for name in done.unset {
                        if !unset.contains(&name) {
                            unset.push(name);
                        }
                    }
                    s.text = done.value.into_owned();
                }
                Err(err) => {
                    let hint = match &err {
                        InterpolateError::Required { var, .. } => {
                            format!("set {var} in the environment or in the project's .env file")
                        }
                        InterpolateError::Invalid { .. } => "write a literal $ as $$".to_string(),
                    };
                    return Err(node
                        .error(err.to_string())
                        .with_path(render(path))
                        .with_hint(hint));
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(format!("[{i}]"));
                walk(item, lookup, unset, path)?;
                path.pop();
            }
        }
        Value::Map(map) => {
            for (key, entry) in map.iter_mut() {
                path.push(key.clone());
                walk(&mut entry.value, lookup, unset, path)?;
                path.pop();
            }
        }
        Value::Null => {}
    }
    Ok(())
}

/// `["services", "web", "[0]"]` as `services.web[0]`.
pub fn render(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(seg);
    }
    out
}
