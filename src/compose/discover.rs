//! Which compose files make up the project, which directory it lives in, its environment and
//! its name — the first steps of loading, in the precedence `docker compose` uses.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::dotenv;
use super::error::LoadError;

/// File names looked for, in order, in the working directory and its parents.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The project environment: the process environment over `.env` / `--env-file` values.
pub type Environment = IndexMap<String, String>;

/// Reads the project environment. With `env_files` given they are read in order (later files
/// win); otherwise `<dir>/.env` if it exists. The process environment always wins.
pub fn project_environment(
    process_env: &Environment,
    env_files: &[PathBuf],
    dir: &Path,
) -> Result<Environment, LoadError> {
    let mut env = Environment::new();
    let read = |path: &Path, env: &mut Environment| -> Result<(), LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LoadError::new(format!("cannot read env file {}: {e}", path.display()))
                .with_hint("check the --env-file path")
        })?;
        let lookup = |k: &str| process_env.get(k).or_else(|| env.get(k)).cloned();
        let values = dotenv::parse(&text, &lookup).map_err(|e| {
            LoadError::new(format!("{}:{}: {}", path.display(), e.line, e.message))
                .with_hint("see the env file syntax: KEY=VALUE, one per line")
        })?;
        for (k, v) in values {
            if let Some(v) = v {
                env.insert(k, v);
            }
        }
        Ok(())
    };
    if env_files.is_empty() {
        let default = dir.join(".env");
        if default.is_file() {
            read(&default, &mut env)?;
        }
    } else {
        for file in env_files {
            read(&absolute(file, dir), &mut env)?;
        }
    }
    for (k, v) in process_env {
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// The compose files to load, as absolute paths (`-` stays `-` for standard input).
/// `-f` > `COMPOSE_FILE` > upward search with the matching override file.
pub fn compose_files(
    explicit: &[String],
    env: &Environment,
    working_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, LoadError> {
    if !explicit.is_empty() {
        return explicit
            .iter()
            .map(|f| {
                if f == "-" {
                    return Ok(PathBuf::from("-"));
                }
                let path = absolute(Path::new(f), working_dir);
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(
                        LoadError::new(format!("open {}: no such file", path.display()))
                            .with_hint("check the path given with -f/--file"),
                    )
                }
            })
            .collect();
    }
    if let Some(list) = env.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .map_or(":", String::as_str);
        return list
            .split(sep)
            .filter(|f| !f.is_empty())
            .map(|f| {
                let path = absolute(Path::new(f), working_dir);
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(
                        LoadError::new(format!("open {}: no such file", path.display()))
                            .with_hint("COMPOSE_FILE names a file that does not exist"),
                    )
                }
            })
            .collect();
    }
    let mut dir = Some(working_dir);
    while let Some(d) = dir {
        let found: Vec<&str> = DEFAULT_FILES
            .iter()
            .copied()
            .filter(|f| d.join(f).is_file())
            .collect();
        if let Some(first) = found.first() {
            if found.len() > 1 {
                warnings.push(format!(
                    "Found multiple config files with supported names: {}. Using {first}",
                    found
                        .iter()
                        .map(|f| d.join(f).display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let mut files = vec![d.join(first)];
            let stem = first.rsplit_once('.').map_or(*first, |(s, _)| s);
            for ext in ["yaml", "yml"] {
                let over = d.join(format!("{stem}.override.{ext}"));
                if over.is_file() {
                    files.push(over);
                    break;
                }
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(
        LoadError::new("no configuration file provided: not found").with_hint(format!(
            "create a compose.yaml in {} or a parent directory, or name one with -f",
            working_dir.display()
        )),
    )
}

/// The project name: `-p` > `COMPOSE_PROJECT_NAME` > top-level `name:` > directory name.
/// Explicit names must already be valid; a directory name is normalized.
pub fn project_name(
    explicit: Option<&str>,
    env: &Environment,
    from_file: Option<&str>,
    project_dir: &Path,
) -> Result<String, LoadError> {
    let explicit = explicit
        .filter(|n| !n.is_empty())
        .map(|n| (n, "-p/--project-name"))
        .or_else(|| {
            env.get("COMPOSE_PROJECT_NAME")
                .filter(|n| !n.is_empty())
                .map(|n| (n.as_str(), "COMPOSE_PROJECT_NAME"))
        })
        .or_else(|| {
            from_file
                .filter(|n| !n.is_empty())
                .map(|n| (n, "the top-level name:"))
        });
    if let Some((name, source)) = explicit {
        return if is_valid_project_name(name) {
            Ok(name.to_string())
        } else {
            Err(LoadError::new(format!(
                "invalid project name \"{name}\" (from {source}): it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
            ))
            .with_hint(format!("try \"{}\"", normalize_project_name(name))))
        };
    }
    let base = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let name = normalize_project_name(&base);
    if name.is_empty() {
        return Err(LoadError::new(format!(
            "cannot derive a project name from the directory \"{}\"",
            project_dir.display()
        ))
        .with_hint("name the project with -p, COMPOSE_PROJECT_NAME or a top-level name: key"));
    }
    Ok(name)
}

pub fn is_valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Lowercase, drop characters outside `[a-z0-9_-]`, trim leading `_` and `-`.
pub fn normalize_project_name(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    lowered.trim_start_matches(['-', '_']).to_string()
}

/// `path` made absolute against `base`, with `.` and `..` components folded lexically.
pub fn absolute(path: &Path, base: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for comp in joined.components() {
        match comp {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// How a file is named in messages: relative to the working directory when inside it.
pub fn display_name(path: &Path, working_dir: &Path) -> String {
    if path == Path::new("-") {
        return "(stdin)".to_string();
    }
    path.strip_prefix(working_dir)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_and_validate() {
        assert_eq!(normalize_project_name("My App_1"), "myapp_1");
        assert_eq!(normalize_project_name("__-x"), "x");
        assert!(is_valid_project_name("my-app_1"));
        assert!(!is_valid_project_name("My App"));
        assert!(!is_valid_project_name("-x"));
        let env = Environment::new();
        let err = project_name(Some("My App"), &env, None, Path::new("/tmp/x")).unwrap_err();
        assert!(err.message.contains("lowercase letters"), "{err}");
        assert_eq!(
            project_name(None, &env, None, Path::new("/src/My.Project")).unwrap(),
            "myproject"
        );
        assert_eq!(
            project_name(None, &env, Some("fromfile"), Path::new("/x")).unwrap(),
            "fromfile"
        );
        let env: Environment = [("COMPOSE_PROJECT_NAME".to_string(), "envname".to_string())]
            .into_iter()
            .collect();
        assert_eq!(
            project_name(Some("cli"), &env, Some("f"), Path::new("/x")).unwrap(),
            "cli"
        );
        assert_eq!(
            project_name(None, &env, Some("f"), Path::new("/x")).unwrap(),
            "envname"
        );
    }

    #[test]
    fn discovery_searches_upward_and_finds_the_override() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap();
        std::fs::write(dir.path().join("compose.override.yml"), "services: {}\n").unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let files = compose_files(&[], &Environment::new(), &sub, &mut Vec::new()).unwrap();
        assert_eq!(
            files,
            vec![
                dir.path().join("compose.yaml"),
                dir.path().join("compose.override.yml")
            ]
        );
    }

    #[test]
    fn compose_file_variable_uses_the_path_separator() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "").unwrap();
        std::fs::write(dir.path().join("b.yaml"), "").unwrap();
        let env: Environment = [
            ("COMPOSE_FILE".to_string(), "a.yaml;b.yaml".to_string()),
            ("COMPOSE_PATH_SEPARATOR".to_string(), ";".to_string()),
        ]
        .into_iter()
        .collect();
        let files = compose_files(&[], &env, dir.path(), &mut Vec::new()).unwrap();
        assert_eq!(
            files,
            vec![dir.path().join("a.yaml"), dir.path().join("b.yaml")]
        );
    }

    #[test]
    fn process_environment_wins_over_env_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "A=file\nB=file\n").unwrap();
        let process: Environment = [("A".to_string(), "process".to_string())]
            .into_iter()
            .collect();
        let env = project_environment(&process, &[], dir.path()).unwrap();
        assert_eq!(env["A"], "process");
        assert_eq!(env["B"], "file");
    }
}
