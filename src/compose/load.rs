//! The loader pipeline: discover files, read the environment, then per file parse,
//! interpolate, apply `include` and `extends`, merge into the running result; finally name the
//! project, deserialize into the typed model, apply profiles, normalize and validate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::de;
use super::discover::{self, absolute, display_name, Environment};
use super::error::LoadError;
use super::interpolate_tree::interpolate_node;
use super::merge::{merge, strip_resets};
use super::model::Project;
use super::yaml::{self, Entry, Mapping, Node, Value};

/// What the command line and the process give the loader.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-f` values as given; `-` reads standard input (its text in `stdin`).
    pub files: Vec<String>,
    pub stdin: Option<String>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub profiles: Vec<String>,
    pub env_files: Vec<PathBuf>,
    /// Services named on the command line: enabled whatever their profiles.
    pub services: Vec<String>,
    /// `--no-interpolate` sets this to false.
    pub interpolate: bool,
    /// The process's working directory and environment.
    pub working_dir: PathBuf,
    pub process_env: Environment,
}

impl LoadOptions {
    /// Options for the current process: its working directory and environment.
    pub fn from_process() -> LoadOptions {
        LoadOptions {
            interpolate: true,
            working_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            process_env: std::env::vars().collect(),
            ..LoadOptions::default()
        }
    }
}

/// A loaded project and what was learned on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub project: Project,
    pub project_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    pub environment: Environment,
    /// Services left out because none of their profiles is enabled.
    pub disabled_services: Vec<String>,
    pub warnings: Vec<String>,
    /// The merged, interpolated tree the project was read from (locates later errors).
    pub tree: Node,
}

pub fn load(opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let mut warnings = Vec::new();
    let working_dir = opts.working_dir.clone();
    let env_dir = opts
        .project_directory
        .as_deref()
        .map_or_else(|| working_dir.clone(), |d| absolute(d, &working_dir));
    let mut env = discover::project_environment(&opts.process_env, &opts.env_files, &env_dir)?;
    let files = discover::compose_files(&opts.files, &env, &working_dir, &mut warnings)?;
    let project_dir = match &opts.project_directory {
        Some(d) => absolute(d, &working_dir),
        None => files
            .first()
            .filter(|f| f.as_path() != Path::new("-"))
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| working_dir.clone()),
    };
    if project_dir != env_dir && opts.env_files.is_empty() {
        env = discover::project_environment(&opts.process_env, &[], &project_dir)?;
    }

    let mut reader = Reader {
        opts,
        working_dir: &working_dir,
        unset: Vec::new(),
        warnings: &mut warnings,
        cache: HashMap::new(),
    };
    let mut tree: Option<Node> = None;
    for file in &files {
        let node = reader.load_file(file, &env, &mut Vec::new())?;
        tree = Some(match tree {
            None => node,
            Some(base) => merge(base, node, &mut Vec::new()),
        });
    }
    for name in std::mem::take(&mut reader.unset) {
        warnings.push(format!(
            "The \"{name}\" variable is not set. Defaulting to a blank string."
        ));
    }
    let tree =
        strip_resets(tree.unwrap_or_else(|| {
            Node::new(Value::Map(Mapping::new()), Default::default(), "".into())
        }));

    let name_in_file = tree.get("name").and_then(Node::as_str);
    let name = discover::project_name(
        opts.project_name.as_deref(),
        &env,
        name_in_file,
        &project_dir,
    )
    .map_err(|e| match tree.as_map().and_then(|m| m.get("name")) {
        Some(entry) if opts.project_name.is_none() && !env.contains_key("COMPOSE_PROJECT_NAME") => {
            e.at(&entry.value.file, entry.value.mark).with_path("name")
        }
        _ => e,
    })?;

    let mut project: Project = de::from_node(&tree, "")?;
    project.name = Some(name);
    super::extensions::fill(&mut project, &tree);
    let disabled_services =
        super::profiles::apply(&mut project, &opts.profiles, &opts.services, &env, &tree)?;
    super::normalize::normalize(&mut project, &project_dir, &env);
    super::environment::resolve(&mut project, &env, &tree)?;
    super::validate::validate(&project, &tree)?;

    Ok(Loaded {
        project,
        project_dir,
        config_files: files,
        environment: env,
        disabled_services,
        warnings,
        tree,
    })
}

struct Reader<'a> {
    opts: &'a LoadOptions,
    working_dir: &'a Path,
    unset: Vec<String>,
    warnings: &'a mut Vec<String>,
    /// Parsed and interpolated files, by path, for `extends: {file: …}`.
    cache: HashMap<PathBuf, Node>,
}

impl Reader<'_> {
    /// A file read as an `extends` base: parsed once, however many services extend from it.
    fn parse_cached(&mut self, path: &Path, env: &Environment) -> Result<Node, LoadError> {
        if let Some(node) = self.cache.get(path) {
            return Ok(node.clone());
        }
        let node = self.parse_file(path, env)?;
        self.cache.insert(path.to_path_buf(), node.clone());
        Ok(node)
    }

    /// Reads, parses and interpolates one file (several YAML documents merge in order).
    fn parse_file(&mut self, path: &Path, env: &Environment) -> Result<Node, LoadError> {
        let display: Arc<str> = Arc::from(display_name(path, self.working_dir));
        let text = if path == Path::new("-") {
            self.opts.stdin.clone().unwrap_or_default()
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| LoadError::new(format!("cannot read {}: {e}", path.display())))?
        };
        let mut docs = yaml::parse(&text, &display)?.into_iter();
        let mut node = match docs.next() {
            Some(first) => docs.fold(first, |acc, d| merge(acc, d, &mut Vec::new())),
            None => {
                return Err(LoadError::new("empty compose file")
                    .in_file(&display)
                    .with_hint("a compose file needs at least a services: section"))
            }
        };
        if node.as_map().is_none() {
            return Err(node.error(format!(
                "the top level must be a mapping, found {}",
                node.kind()
            )));
        }
        if self.opts.interpolate {
            interpolate_node(&mut node, env, &mut self.unset)?;
        }
        if let Some(map) = node.as_map_mut() {
            if map.shift_remove("version").is_some() {
                self.warnings.push(format!(
                    "{display}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion"
                ));
            }
        }
        Ok(node)
    }

    /// Parses a file and applies its `include` and `extends`.
    fn load_file(
        &mut self,
        path: &Path,
        env: &Environment,
        includes: &mut Vec<PathBuf>,
    ) -> Result<Node, LoadError> {
        let mut node = self.parse_file(path, env)?;
        let dir = parent_dir(path, self.working_dir);
        self.apply_include(&mut node, &dir, env, includes)?;
        self.apply_extends(&mut node, path, env)?;
        Ok(node)
    }

    fn apply_include(
        &mut self,
        node: &mut Node,
        dir: &Path,
        env: &Environment,
        chain: &mut Vec<PathBuf>,
    ) -> Result<(), LoadError> {
        let Some(entry) = node.as_map_mut().and_then(|m| m.shift_remove("include")) else {
            return Ok(());
        };
        let items = match entry.value.value {
            Value::Seq(items) => items,
            Value::Null => return Ok(()),
            _ => {
                return Err(entry
                    .value
                    .error("expected a list of files to include")
                    .with_path("include"))
            }
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("include[{i}]");
            let spec = IncludeSpec::from_node(item).map_err(|e| e.with_path(&path))?;
            let files: Vec<PathBuf> = spec
                .paths
                .iter()
                .map(|p| absolute(Path::new(p), dir))
                .collect();
            for f in &files {
                if !f.is_file() {
                    return Err(item
                        .error(format!("included file {} does not exist", f.display()))
                        .with_path(&path)
                        .with_hint(
                            "fix the path; it is relative to the including file's directory",
                        ));
                }
                if chain.contains(f) {
                    let cycle: Vec<String> = chain
                        .iter()
                        .chain(std::iter::once(f))
                        .map(|p| display_name(p, self.working_dir))
                        .collect();
                    return Err(item
                        .error(format!("include cycle: {}", cycle.join(" -> ")))
                        .with_path(&path));
                }
            }
            let sub_dir = spec
                .project_directory
                .as_deref()
                .map(|d| absolute(Path::new(d), dir))
                .unwrap_or_else(|| parent_dir(&files[0], self.working_dir));
            let env_files: Vec<PathBuf> = spec
                .env_files
                .iter()
                .map(|f| absolute(Path::new(f), dir))
                .collect();
            let sub_env = if env_files.is_empty() && !sub_dir.join(".env").is_file() {
                env.clone()
            } else {
                discover::project_environment(&self.opts.process_env, &env_files, &sub_dir)?
            };
            let mut merged: Option<Node> = None;
            for f in &files {
                chain.push(f.clone());
                let mut sub = self.load_file(f, &sub_env, chain)?;
                chain.pop();
                rebase_project(&mut sub, &sub_dir);
                merged = Some(match merged {
                    None => sub,
                    Some(base) => merge(base, sub, &mut Vec::new()),
                });
            }
            if let Some(sub) = merged {
                import(node, sub, item)?;
            }
        }
        Ok(())
    }

    fn apply_extends(
        &mut self,
        node: &mut Node,
        path: &Path,
        env: &Environment,
    ) -> Result<(), LoadError> {
        let Some(services) = node.get("services").and_then(Node::as_map) else {
            return Ok(());
        };
        let names: Vec<String> = services
            .iter()
            .filter(|(_, e)| e.value.get("extends").is_some())
            .map(|(k, _)| k.clone())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let mut resolved = Vec::with_capacity(names.len());
        for name in names {
            let service = self.resolve_service(node, path, &name, env, &mut Vec::new())?;
            resolved.push((name, service));
        }
        for (name, resolved) in resolved {
            if let Some(entry) = node
                .as_map_mut()
                .and_then(|m| m.get_mut("services"))
                .and_then(|e| e.value.as_map_mut())
                .and_then(|m| m.get_mut(&name))
            {
                entry.value = resolved;
            }
        }
        Ok(())
    }

    /// The service `name` of `file` (whose tree is `root`) with its `extends` chain applied.
    fn resolve_service(
        &mut self,
        root: &Node,
        file: &Path,
        name: &str,
        env: &Environment,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<Node, LoadError> {
        let services = root.get("services");
        let Some(service) = services.and_then(|s| s.get(name)) else {
            let (from_file, from_service) = chain.last().cloned().unwrap_or_default();
            let hint = format!(
                "services defined in {}: {}",
                display_name(file, self.working_dir),
                services
                    .and_then(Node::as_map)
                    .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            );
            let at = self.parse_cached(&from_file, env).ok();
            let err = LoadError::new(format!(
                "service \"{from_service}\" extends \"{name}\", which is not defined in {}",
                display_name(file, self.working_dir)
            ))
            .with_path(format!("services.{from_service}.extends"))
            .with_hint(hint);
            return Err(
                match at
                    .as_ref()
                    .and_then(|t| de::locate(t, &format!("services.{from_service}.extends")))
                {
                    Some((f, m)) => err.at(&f, m),
                    None => err,
                },
            );
        };
        let key = (file.to_path_buf(), name.to_string());
        if chain.contains(&key) {
            let mut names: Vec<String> = chain.iter().map(|(_, s)| s.clone()).collect();
            names.push(name.to_string());
            return Err(service
                .error(format!("extends cycle: {}", names.join(" -> ")))
                .with_path(format!("services.{name}.extends"))
                .with_hint("a service cannot extend itself, directly or through others"));
        }
        let mut service = service.clone();
        let Some(ext) = service.as_map_mut().and_then(|m| m.shift_remove("extends")) else {
            return Ok(service);
        };
        let path = format!("services.{name}.extends");
        let (base_name, base_file) = match &ext.value.value {
            Value::Scalar(s) => (s.text.clone(), None),
            Value::Map(m) => {
                for k in m.keys() {
                    if k != "service" && k != "file" {
                        return Err(ext
                            .value
                            .error(format!("unknown key \"{k}\""))
                            .with_path(&path)
                            .with_hint("extends takes `service` and optionally `file`"));
                    }
                }
                let svc = m
                    .get("service")
                    .and_then(|e| e.value.as_str())
                    .ok_or_else(|| {
                        ext.value
                            .error("missing required key \"service\"")
                            .with_path(&path)
                    })?;
                (
                    svc.to_string(),
                    m.get("file")
                        .and_then(|e| e.value.as_str())
                        .map(str::to_string),
                )
            }
            _ => {
                return Err(ext
                    .value
                    .error("expected a service name or a mapping")
                    .with_path(&path))
            }
        };
        chain.push(key);
        let base = match base_file {
            None => self.resolve_service(root, file, &base_name, env, chain)?,
            Some(f) => {
                let dir = parent_dir(file, self.working_dir);
                let other = absolute(Path::new(&f), &dir);
                if !other.is_file() {
                    chain.pop();
                    return Err(ext
                        .value
                        .error(format!("extends file {} does not exist", other.display()))
                        .with_path(format!("{path}.file")));
                }
                let other_root = self.parse_cached(&other, env)?;
                let mut base = self.resolve_service(&other_root, &other, &base_name, env, chain)?;
                let other_dir = parent_dir(&other, self.working_dir);
                if other_dir != dir {
                    rebase_service(&mut base, &other_dir);
                }
                base
            }
        };
        chain.pop();
        let mut merge_path = vec!["services".to_string(), name.to_string()];
        Ok(merge(base, service, &mut merge_path))
    }
}

fn parent_dir(path: &Path, working_dir: &Path) -> PathBuf {
    if path == Path::new("-") {
        return working_dir.to_path_buf();
    }
    path.parent()
        .map_or_else(|| working_dir.to_path_buf(), Path::to_path_buf)
}

struct IncludeSpec {
    paths: Vec<String>,
    project_directory: Option<String>,
    env_files: Vec<String>,
}

impl IncludeSpec {
    fn from_node(node: &Node) -> Result<IncludeSpec, LoadError> {
        let strings = |n: &Node| -> Result<Vec<String>, LoadError> {
            match &n.value {
                Value::Scalar(s) => Ok(vec![s.text.clone()]),
                Value::Seq(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| i.error("expected a file path"))
                    })
                    .collect(),
                _ => Err(n.error("expected a file path or a list of paths")),
            }
        };
        match &node.value {
            Value::Scalar(s) => Ok(IncludeSpec {
                paths: vec![s.text.clone()],
                project_directory: None,
                env_files: Vec::new(),
            }),
            Value::Map(m) => {
                let mut spec = IncludeSpec {
                    paths: Vec::new(),
                    project_directory: None,
                    env_files: Vec::new(),
                };
                for (k, e) in m {
                    match k.as_str() {
                        "path" => spec.paths = strings(&e.value)?,
                        "project_directory" => {
                            spec.project_directory = e.value.as_str().map(str::to_string)
                        }
                        "env_file" => spec.env_files = strings(&e.value)?,
                        other => {
                            return Err(LoadError::new(format!("unknown key \"{other}\""))
                                .at(&e.value.file, e.key_mark)
                                .with_hint(
                                    "include entries take path, project_directory and env_file",
                                ))
                        }
                    }
                }
                if spec.paths.is_empty() {
                    return Err(node.error("missing required key \"path\""));
                }
                Ok(spec)
            }
            _ => Err(node.error("expected a file path or a mapping with `path`")),
        }
    }
}

/// Adds an included project's resources to `node`; a name defined on both sides is an error.
fn import(node: &mut Node, sub: Node, item: &Node) -> Result<(), LoadError> {
    let Value::Map(sub_map) = sub.value else {
        return Ok(());
    };
    let Some(map) = node.as_map_mut() else {
        return Ok(());
    };
    for section in ["services", "networks", "volumes", "secrets", "configs"] {
        let Some(Entry {
            value:
                Node {
                    value: Value::Map(sub_items),
                    ..
                },
            ..
        }) = sub_map.get(section).cloned()
        else {
            continue;
        };
        let target = map.entry(section.to_string()).or_insert_with(|| Entry {
            key_mark: item.mark,
            value: Node::new(Value::Map(Mapping::new()), item.mark, item.file.clone()),
        });
        if target.value.is_null() {
            target.value.value = Value::Map(Mapping::new());
        }
        let Some(target) = target.value.as_map_mut() else {
            continue;
        };
        for (name, entry) in sub_items {
            if let Some(existing) = target.get(&name) {
                // The same definition reached twice (e.g. two includes of one file) is fine.
                if section != "services" || existing.value.file == entry.value.file {
                    continue;
                }
                return Err(LoadError::new(format!(
                    "{section}.{name} conflicts with the one imported from {}",
                    entry.value.file
                ))
                .at(&existing.value.file, existing.key_mark)
                .with_path(format!("{section}.{name}"))
                .with_hint("rename one of them; included projects cannot redefine a resource"));
            }
            target.insert(name, entry);
        }
    }
    Ok(())
}

/// Makes an included project's relative paths absolute against its own directory.
fn rebase_project(node: &mut Node, dir: &Path) {
    let Some(map) = node.as_map_mut() else { return };
    if let Some(services) = map.get_mut("services").and_then(|e| e.value.as_map_mut()) {
        for entry in services.values_mut() {
            rebase_service(&mut entry.value, dir);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(items) = map.get_mut(section).and_then(|e| e.value.as_map_mut()) {
            for entry in items.values_mut() {
                if let Some(file) = entry.value.as_map_mut().and_then(|m| m.get_mut("file")) {
                    rebase_scalar(&mut file.value, dir);
                }
            }
        }
    }
}

/// Makes a service's relative paths (build context, env files, bind sources) absolute against
/// `dir`, for services that come from a file in another directory.
pub fn rebase_service(service: &mut Node, dir: &Path) {
    let Some(map) = service.as_map_mut() else {
        return;
    };
    if let Some(build) = map.get_mut("build") {
        match &mut build.value.value {
            Value::Scalar(_) => rebase_scalar(&mut build.value, dir),
            Value::Map(b) => match b.get_mut("context") {
                Some(ctx) => rebase_scalar(&mut ctx.value, dir),
                None => {
                    let mark = build.value.mark;
                    let file = build.value.file.clone();
                    b.insert(
                        "context".to_string(),
                        Entry {
                            key_mark: mark,
                            value: Node::new(
                                Value::Scalar(yaml::Scalar {
                                    text: dir.display().to_string(),
                                    plain: false,
                                }),
                                mark,
                                file,
                            ),
                        },
                    );
                }
            },
            _ => {}
        }
    }
    for key in ["env_file", "label_file"] {
        if let Some(entry) = map.get_mut(key) {
            match &mut entry.value.value {
                Value::Scalar(_) => rebase_scalar(&mut entry.value, dir),
                Value::Seq(items) => {
                    for item in items {
                        match &mut item.value {
                            Value::Scalar(_) => rebase_scalar(item, dir),
                            Value::Map(m) => {
                                if let Some(p) = m.get_mut("path") {
                                    rebase_scalar(&mut p.value, dir);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(Value::Seq(items)) = map.get_mut("volumes").map(|e| &mut e.value.value) {
        for item in items {
            match &mut item.value {
                Value::Scalar(s) if s.text.starts_with('.') => {
                    let (source, rest) = s.text.split_once(':').unwrap_or((&s.text, ""));
                    let abs = absolute(Path::new(source), dir).display().to_string();
                    s.text = if rest.is_empty() {
                        abs
                    } else {
                        format!("{abs}:{rest}")
                    };
                }
                Value::Map(m) => {
                    let is_bind = m.get("type").and_then(|e| e.value.as_str()) == Some("bind");
                    if is_bind {
                        if let Some(src) = m.get_mut("source") {
                            rebase_scalar(&mut src.value, dir);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// A relative local path made absolute; URLs (remote build contexts) and `~` are left alone.
fn rebase_scalar(node: &mut Node, dir: &Path) {
    if let Value::Scalar(s) = &mut node.value {
        let t = &s.text;
        let remote = t.contains("://") || t.starts_with("git@") || t.starts_with('~');
        if !remote && !Path::new(t).is_absolute() {
            s.text = absolute(Path::new(t), dir).display().to_string();
        }
    }
}
