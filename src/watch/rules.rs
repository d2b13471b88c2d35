//! `develop.watch` rules made ready to match host paths: which rule a changed file falls
//! under, whether it is ignored (`.dockerignore` of the build context, `.git`, editor
//! temporary files, the rule's `ignore`, its `include`), and where it lands in the container.
//!
//! Not for: watching the file system or acting on changes. All pattern matching goes
//! through [`crate::build::context::DockerIgnore`], the same matcher `docker build` semantics
//! are implemented with, so a pattern means the same thing in `.dockerignore` and in `ignore:`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::build::context::DockerIgnore;
use crate::compose::model::{ServiceConfig, ServiceHook, WatchAction};
use crate::engine::{EngineError, ProjectContext};

/// Files no rule should ever react to: version control metadata and what editors write
/// next to the file they save (vim's swap files and `4913` write probe, emacs lock and
/// auto-save files, backup files, JetBrains' safe-write temporaries). The same list
/// docker compose ignores.
const ALWAYS_IGNORED: &[&str] = &[
    "**/.git",
    "**/*~",
    "**/.*.swp",
    "**/.*.swx",
    "**/4913",
    "**/.#*",
    "**/#*#",
    "**/*___jb_tmp___",
    "**/*___jb_old___",
];

fn always_ignored() -> &'static DockerIgnore {
    static MATCHER: OnceLock<DockerIgnore> = OnceLock::new();
    MATCHER.get_or_init(|| {
        // The patterns are constants known to be valid; an empty matcher would only mean
        // temp files are synced, never a wrong deletion.
        DockerIgnore::new(ALWAYS_IGNORED).unwrap_or_default()
    })
}

/// One `develop.watch` rule of one service, with its path absolute and its patterns parsed.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Position in the service's `develop.watch` list, for messages.
    pub index: usize,
    pub action: WatchAction,
    /// Absolute host path: a directory (watched recursively) or a single file.
    pub path: PathBuf,
    /// Absolute path in the container (sync actions only).
    pub target: Option<String>,
    /// `sync+exec`'s command.
    pub exec: Option<ServiceHook>,
    pub initial_sync: bool,
    ignore: DockerIgnore,
    /// `None`: everything not ignored counts.
    include: Option<DockerIgnore>,
}

impl Rule {
    /// Whether this rule copies files into the container.
    pub fn syncs(&self) -> bool {
        matches!(
            self.action,
            WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec
        )
    }

    /// Whether `path` (absolute) is under this rule and not excluded by it.
    pub fn covers(&self, path: &Path) -> bool {
        let Some(rel) = relative(&self.path, path) else {
            return false;
        };
        if rel.is_empty() {
            return true;
        }
        if self.ignore.is_ignored(&rel) {
            return false;
        }
        match &self.include {
            // `include` uses the same syntax: a path counts when the patterns "ignore" it.
            Some(include) => include.is_ignored(&rel),
            None => true,
        }
    }

    /// Whether nothing at or below directory `path` can concern this rule: the rule's own
    /// `ignore` leaves it out and no `!` pattern brings anything below it back.
    fn ignores_tree(&self, path: &Path) -> bool {
        match relative(&self.path, path) {
            Some(rel) if !rel.is_empty() => {
                self.ignore.is_ignored(&rel) && !self.ignore.may_reinclude_under(&rel)
            }
            Some(_) => false,
            None => true,
        }
    }

    /// Where host `path` (under [`Rule::path`]) lands in the container.
    pub fn target_of(&self, path: &Path) -> Option<String> {
        let target = self.target.as_deref()?;
        let rel = relative(&self.path, path)?;
        if rel.is_empty() {
            return Some(target.to_string());
        }
        Some(format!("{}/{rel}", target.trim_end_matches('/')))
    }
}

/// The watch configuration of one service.
#[derive(Debug, Clone)]
pub struct ServiceRules {
    pub service: String,
    pub rules: Vec<Rule>,
    /// The build context and its `.dockerignore`, for services that build.
    context: Option<(PathBuf, DockerIgnore)>,
}

impl ServiceRules {
    /// Whether a change of `path` matters to this service at all: not a temporary or
    /// version-control file, not left out of the build context.
    pub fn is_ignored(&self, path: &Path) -> bool {
        let name_ignored = self
            .rules
            .iter()
            .filter_map(|r| relative(&r.path, path))
            .chain(path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .any(|rel| !rel.is_empty() && always_ignored().is_ignored(&rel));
        if name_ignored {
            return true;
        }
        if let Some((dir, ignore)) = &self.context {
            if let Some(rel) = relative(dir, path) {
                return !rel.is_empty() && ignore.is_ignored(&rel);
            }
        }
        false
    }

    /// Whether directory `path` and everything below it can be left unwatched: it is
    /// version-control or editor data, left out of the build context for good, or ignored
    /// by every rule it falls under (`node_modules/` with 50,000 directories costs nothing).
    pub fn skips_tree(&self, path: &Path) -> bool {
        let always = self
            .rules
            .iter()
            .filter_map(|r| relative(&r.path, path))
            .any(|rel| !rel.is_empty() && always_ignored().is_ignored(&rel));
        if always {
            return true;
        }
        if let Some((dir, ignore)) = &self.context {
            if let Some(rel) = relative(dir, path).filter(|r| !r.is_empty()) {
                if ignore.is_ignored(&rel) && !ignore.may_reinclude_under(&rel) {
                    return true;
                }
            }
        }
        self.rules.iter().all(|r| r.ignores_tree(path))
    }

    /// The rules a change of `path` triggers, in file order.
    pub fn rules_for<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = &'a Rule> + 'a {
        let ignored = self.is_ignored(path);
        self.rules
            .iter()
            .filter(move |r| !ignored && r.covers(path))
    }

    /// Whether any rule of this service reacts to `path`.
    pub fn matches(&self, path: &Path) -> bool {
        self.rules_for(path).next().is_some()
    }
}

/// `path` relative to `root`, `/`-separated; `Some("")` for `root` itself.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// The watch rules of `services` (every service with `develop.watch` when empty), checked:
/// each path exists, `rebuild` has a `build:`, sync actions have a `target`, `sync+exec`
/// has an `exec`, patterns parse.
pub fn compile(
    ctx: &ProjectContext,
    services: &[String],
) -> Result<Vec<ServiceRules>, EngineError> {
    let mut out = Vec::new();
    for (name, service) in &ctx.project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let watch = service.develop.as_ref().map(|d| d.watch.as_slice());
        match watch {
            Some(rules) if !rules.is_empty() => out.push(compile_service(ctx, name, service)?),
            _ if services.contains(name) => {
                return Err(EngineError::new(format!(
                    "service \"{name}\" has no develop.watch rules"
                ))
                .with_hint("add a `develop: watch:` section to it, or name another service"))
            }
            _ => {}
        }
    }
    for name in services {
        if !ctx.project.services.contains_key(name) {
            return Err(EngineError::new(format!("no such service: \"{name}\"")));
        }
    }
    if out.is_empty() {
        return Err(EngineError::new(
            "none of the selected services is configured for watch, consider setting a \
             'develop' section",
        )
        .with_hint("add `develop: watch:` rules to a service of the compose file"));
    }
    Ok(out)
}

fn compile_service(
    ctx: &ProjectContext,
    name: &str,
    service: &ServiceConfig,
) -> Result<ServiceRules, EngineError> {
    let mut rules = Vec::new();
    let watch = service.develop.as_ref().map_or(&[][..], |d| &d.watch[..]);
    for (index, rule) in watch.iter().enumerate() {
        let what = format!(
            "develop.watch[{index}] of service \"{name}\" (path {})",
            rule.path
        );
        let path = absolute(&ctx.working_dir, &rule.path);
        if !path.exists() {
            return Err(
                EngineError::new(format!("{what}: {} does not exist", path.display()))
                    .with_hint("create it, or fix the rule's `path`"),
            );
        }
        let syncs = matches!(
            rule.action,
            WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec
        );
        if rule.action == WatchAction::Rebuild && service.build.is_none() {
            return Err(EngineError::new(format!(
                "{what}: action rebuild needs a `build:` section, and service \"{name}\" has none"
            ))
            .with_hint("add `build:` to the service, or use sync or restart"));
        }
        let target = match (&rule.target, syncs) {
            (Some(t), true) if !t.starts_with('/') => {
                return Err(EngineError::new(format!(
                    "{what}: target \"{t}\" must be an absolute path in the container"
                )))
            }
            (None, true) => {
                return Err(EngineError::new(format!(
                    "{what}: action {} needs a `target`",
                    action_name(rule.action)
                ))
                .with_hint("set `target:` to where the files go in the container"))
            }
            (t, _) => t.clone(),
        };
        if rule.action == WatchAction::SyncExec
            && rule.exec.as_ref().is_none_or(|e| e.command.0.is_empty())
        {
            return Err(EngineError::new(format!(
                "{what}: action sync+exec needs `exec.command`"
            )));
        }
        let patterns = |list: &[String], key: &str| {
            DockerIgnore::new(list).map_err(|e| EngineError::new(format!("{what}: {key}: {e}")))
        };
        let ignore = patterns(&rule.ignore.0, "ignore")?;
        let include = if rule.include.0.is_empty() {
            None
        } else {
            Some(patterns(&rule.include.0, "include")?)
        };
        rules.push(Rule {
            index,
            action: rule.action,
            path,
            target,
            exec: rule.exec.clone(),
            initial_sync: rule.initial_sync,
            ignore,
            include,
        });
    }
    let context = match &service.build {
        Some(build) if !build.context.contains("://") => {
            let dir = absolute(&ctx.working_dir, &build.context);
            let dockerfile = build.dockerfile.as_ref().map(|d| dir.join(d));
            let ignore = DockerIgnore::for_build(&dir, dockerfile.as_deref())
                .map_err(|e| EngineError::new(format!("service \"{name}\": {e}")))?;
            Some((dir, ignore))
        }
        _ => None,
    };
    Ok(ServiceRules {
        service: name.to_string(),
        rules,
        context,
    })
}

/// docker compose's spelling of an action.
pub fn action_name(action: WatchAction) -> &'static str {
    match action {
        WatchAction::Sync => "sync",
        WatchAction::Rebuild => "rebuild",
        WatchAction::Restart => "restart",
        WatchAction::SyncRestart => "sync+restart",
        WatchAction::SyncExec => "sync+exec",
    }
}

/// `path` against `base` unless absolute, with `.` and `..` resolved lexically (the loader
/// already makes paths absolute; this keeps hand-built projects working too).
fn absolute(base: &Path, path: &str) -> PathBuf {
    let joined = base.join(path);
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str, target: Option<&str>, ignore: &[&str], include: &[&str]) -> Rule {
        Rule {
            index: 0,
            action: WatchAction::Sync,
            path: PathBuf::from(path),
            target: target.map(str::to_string),
            exec: None,
            initial_sync: false,
            ignore: DockerIgnore::new(ignore).expect("valid"),
            include: (!include.is_empty()).then(|| DockerIgnore::new(include).expect("valid")),
        }
    }

    fn service(rules: Vec<Rule>, context: Option<(&str, &[&str])>) -> ServiceRules {
        ServiceRules {
            service: "web".into(),
            rules,
            context: context.map(|(d, p)| (PathBuf::from(d), DockerIgnore::new(p).expect("valid"))),
        }
    }

    #[test]
    fn target_maps_the_path_below_the_rule() {
        let r = rule("/p/src", Some("/app/src/"), &[], &[]);
        assert_eq!(
            r.target_of(Path::new("/p/src/a/b.js")).as_deref(),
            Some("/app/src/a/b.js")
        );
        assert_eq!(
            r.target_of(Path::new("/p/src")).as_deref(),
            Some("/app/src/")
        );
        assert_eq!(r.target_of(Path::new("/p/srcx/a")), None);
    }

    #[test]
    fn a_file_rule_maps_to_its_target() {
        let r = rule("/p/config.toml", Some("/etc/app.toml"), &[], &[]);
        assert!(r.covers(Path::new("/p/config.toml")));
        assert!(!r.covers(Path::new("/p/config.toml.bak")));
        assert_eq!(
            r.target_of(Path::new("/p/config.toml")).as_deref(),
            Some("/etc/app.toml")
        );
    }

    #[test]
    fn rule_ignore_is_relative_to_the_rule_path() {
        let r = rule("/p/src", Some("/app"), &["node_modules/", "*.log"], &[]);
        assert!(!r.covers(Path::new("/p/src/node_modules/x/index.js")));
        assert!(!r.covers(Path::new("/p/src/debug.log")));
        assert!(r.covers(Path::new("/p/src/lib/debug.log")));
        assert!(r.covers(Path::new("/p/src/app.js")));
    }

    #[test]
    fn include_limits_the_rule_to_matching_paths() {
        let r = rule("/p/src", Some("/app"), &[], &["*.js", "lib"]);
        assert!(r.covers(Path::new("/p/src/app.js")));
        assert!(r.covers(Path::new("/p/src/lib/deep/x.txt")));
        assert!(!r.covers(Path::new("/p/src/readme.md")));
    }

    #[test]
    fn editor_temporary_files_and_git_are_ignored() {
        let s = service(vec![rule("/p", Some("/app"), &[], &[])], None);
        for p in [
            "/p/.git/index",
            "/p/sub/.git/HEAD",
            "/p/app.js~",
            "/p/.app.js.swp",
            "/p/src/.app.js.swx",
            "/p/4913",
            "/p/.#app.js",
            "/p/#app.js#",
            "/p/app.js___jb_tmp___",
        ] {
            assert!(s.is_ignored(Path::new(p)), "{p} should be ignored");
            assert!(!s.matches(Path::new(p)), "{p} should not trigger");
        }
        for p in ["/p/app.js", "/p/git/x", "/p/a.swp.js", "/p/49130"] {
            assert!(s.matches(Path::new(p)), "{p} should trigger");
        }
    }

    #[test]
    fn dockerignore_of_the_build_context_applies_inside_it() {
        let s = service(
            vec![rule("/p", Some("/app"), &[], &[])],
            Some(("/p", &["dist", "**/*.tmp", "!keep.tmp"])),
        );
        assert!(!s.matches(Path::new("/p/dist/bundle.js")));
        assert!(!s.matches(Path::new("/p/a/b.tmp")));
        assert!(s.matches(Path::new("/p/keep.tmp")));
        assert!(s.matches(Path::new("/p/src/app.js")));
    }

    #[test]
    fn a_path_can_trigger_several_rules() {
        let mut restart = rule("/p/src", None, &[], &[]);
        restart.action = WatchAction::Restart;
        let s = service(vec![rule("/p/src", Some("/app"), &[], &[]), restart], None);
        let actions: Vec<WatchAction> = s
            .rules_for(Path::new("/p/src/a.js"))
            .map(|r| r.action)
            .collect();
        assert_eq!(actions, vec![WatchAction::Sync, WatchAction::Restart]);
    }

    #[test]
    fn ignored_trees_are_not_watched_unless_something_below_comes_back() {
        let s = service(
            vec![
                rule(
                    "/p/src",
                    Some("/app"),
                    &["node_modules", "build", "!build/keep"],
                    &[],
                ),
                rule("/p/src/lib", Some("/lib"), &[], &[]),
            ],
            Some(("/p", &["src/dist"])),
        );
        assert!(s.skips_tree(Path::new("/p/src/node_modules")));
        assert!(s.skips_tree(Path::new("/p/src/.git")));
        assert!(s.skips_tree(Path::new("/p/src/dist")));
        assert!(
            !s.skips_tree(Path::new("/p/src/build")),
            "build/keep is re-included"
        );
        assert!(!s.skips_tree(Path::new("/p/src/app")));
        assert!(!s.skips_tree(Path::new("/p/src")));
        // Ignored by the first rule, but the second one watches it.
        let s = service(
            vec![
                rule("/p/src", Some("/app"), &["lib"], &[]),
                rule("/p/src/lib", Some("/lib"), &[], &[]),
            ],
            None,
        );
        assert!(!s.skips_tree(Path::new("/p/src/lib")));
        assert!(s.skips_tree(Path::new("/p/other")), "outside every rule");
    }

    fn project(yaml: &str) -> (tempfile::TempDir, ProjectContext) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("src")).expect("mkdir");
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write");
        let opts = crate::compose::load::LoadOptions {
            working_dir: dir.path().to_path_buf(),
            interpolate: true,
            project_name: Some("watchtest".into()),
            ..Default::default()
        };
        let loaded = crate::compose::load::load(&opts).expect("loads");
        let ctx = ProjectContext::from_loaded(&loaded);
        (dir, ctx)
    }

    #[test]
    fn errors_name_the_service_and_the_rule() {
        let (_dir, ctx) = project(
            "services:\n  web:\n    image: x\n    develop:\n      watch:\n        - {path: ./missing, action: sync, target: /app}\n",
        );
        let e = compile(&ctx, &[]).expect_err("missing path").to_string();
        assert!(
            e.contains("service \"web\"") && e.contains("missing") && e.contains("does not exist"),
            "{e}"
        );

        let (_dir, ctx) = project(
            "services:\n  web:\n    image: x\n    develop:\n      watch:\n        - {path: ./src, action: rebuild}\n",
        );
        let e = compile(&ctx, &[]).expect_err("no build").to_string();
        assert!(
            e.contains("rebuild") && e.contains("build:") && e.contains("\"web\""),
            "{e}"
        );

        let (_dir, ctx) = project("services:\n  web:\n    image: x\n");
        let e = compile(&ctx, &[]).expect_err("no watch").to_string();
        assert!(e.contains("develop"), "{e}");
        let e = compile(&ctx, &["web".to_string()])
            .expect_err("no watch")
            .to_string();
        assert!(e.contains("\"web\" has no develop.watch"), "{e}");

        let (_dir, ctx) = project(
            "services:\n  web:\n    image: x\n    develop:\n      watch:\n        - {path: ./src, action: sync}\n",
        );
        let e = compile(&ctx, &[]).expect_err("no target").to_string();
        assert!(e.contains("needs a `target`"), "{e}");
    }
}
