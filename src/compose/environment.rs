//! Each service's resolved environment: its `env_file`s read in order (later files win), then
//! its `environment:` on top. A bare `KEY` takes the project environment's value, or is
//! dropped when that has none.

use std::collections::HashMap;
use std::path::Path;

use super::de::locate;
use super::discover::Environment;
use super::dotenv;
use super::error::LoadError;
use super::model::Project;
use super::yaml::Node;

/// A file's values; `Err` outside when it cannot be read, inside when it does not parse.
type ParsedEnvFile = Result<Result<indexmap::IndexMap<String, Option<String>>, String>, String>;

pub fn resolve(project: &mut Project, env: &Environment, tree: &Node) -> Result<(), LoadError> {
    let lookup = |k: &str| env.get(k).cloned();
    // Many services often share one env file: read and parse each file once.
    let mut parsed_files: HashMap<(String, bool), ParsedEnvFile> = HashMap::new();
    for (name, service) in project.services.iter_mut() {
        let mut resolved: indexmap::IndexMap<String, Option<String>> = indexmap::IndexMap::new();
        for (i, file) in service.env_file.iter().enumerate() {
            let path = Path::new(&file.path);
            let at = |err: LoadError| {
                let key = format!("services.{name}.env_file[{i}]");
                match locate(tree, &key)
                    .or_else(|| locate(tree, &format!("services.{name}.env_file")))
                {
                    Some((f, m)) => err.at(&f, m).with_path(key),
                    None => err.with_path(key),
                }
            };
            let raw = file.format.as_deref() == Some("raw");
            let parsed = parsed_files
                .entry((file.path.clone(), raw))
                .or_insert_with(|| {
                    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
                    let values = if raw {
                        dotenv::parse_raw(&text, &lookup)
                    } else {
                        dotenv::parse(&text, &lookup)
                    };
                    Ok(values.map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.message)))
                });
            let parsed = match parsed {
                Ok(Ok(values)) => values,
                Ok(Err(parse_error)) => return Err(at(LoadError::new(parse_error.clone()))),
                Err(_) if !file.required => continue,
                Err(e) => {
                    return Err(at(LoadError::new(format!(
                        "env file {} not found: {e}",
                        path.display()
                    ))
                    .with_hint(
                        "create the file, fix the path, or mark it `required: false`",
                    )))
                }
            };
            for (k, v) in parsed.clone() {
                if v.is_some() || !resolved.contains_key(&k) {
                    resolved.insert(k, v);
                }
            }
        }
        for (k, v) in service.environment.0.iter() {
            resolved.insert(k.clone(), v.clone());
        }
        for (k, v) in resolved.iter_mut() {
            if v.is_none() {
                *v = env.get(k).cloned();
            }
        }
        resolved.retain(|_, v| v.is_some());
        service.environment.0 = resolved;
        // A build arg without a value takes the project environment's, as compose does.
        if let Some(build) = service.build.as_mut() {
            for (k, v) in build.args.0.iter_mut() {
                if v.is_none() {
                    *v = env.get(k).cloned();
                }
            }
        }
    }
    Ok(())
}
