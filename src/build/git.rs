//! Git build contexts, named as `docker build` and Compose take them: a URL ending in
//! `.git` (`https://host/repo.git`), `git://…`, `git@host:repo.git` or `github.com/…`, each
//! with an optional `#ref:subdir` fragment (a branch, tag or commit, then a directory of the
//! repository). The repository is fetched with the `git` command (shallowly, submodules
//! included) into a temporary directory, which is packed like a local context and deleted.
//!
//! Not for: tarball or plain-file URLs, nor packing (see [`super::context`]).

use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// A git context, split as Docker splits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitContext {
    /// What `git fetch` is given (`github.com/…` gains `https://`).
    pub url: String,
    /// The branch, tag or commit after `#`; the remote's default branch when absent.
    pub reference: Option<String>,
    /// The directory of the repository after `#ref:`; its root when absent.
    pub subdir: Option<String>,
}

/// The git context `context` names, or `None` when it is not one (Docker's rule: an
/// http(s) URL whose path ends in `.git`, optionally followed by a fragment, or one of the
/// prefixes `git://`, `github.com/`, `git@`; and `ssh://`, which BuildKit takes too).
pub fn parse(context: &str) -> Option<GitContext> {
    let (base, fragment) = match context.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (context, None),
    };
    let is_url = context.starts_with("http://") || context.starts_with("https://");
    let git = (is_url && base.ends_with(".git"))
        || ["git://", "github.com/", "git@", "ssh://"]
            .iter()
            .any(|p| context.starts_with(p));
    if !git {
        return None;
    }
    let url = if base.starts_with("github.com/") {
        format!("https://{base}")
    } else {
        base.to_string()
    };
    let (reference, subdir) = match fragment {
        Some(f) => match f.split_once(':') {
            Some((r, d)) => (r, Some(d)),
            None => (f, None),
        },
        None => ("", None),
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Some(GitContext {
        url,
        reference: non_empty(reference),
        subdir: subdir.and_then(non_empty),
    })
}

/// A fetched repository; deleted on drop.
pub struct Checkout {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Checkout {
    /// The context directory: the repository's root, or the fragment's subdirectory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The whole checkout.
    pub fn repository(&self) -> &Path {
        self.dir.path()
    }
}

/// Variables that would point git at another repository than the checkout's (set in
/// git hooks and some CI jobs).
const REPOSITORY_VARIABLES: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
];

/// `url` with any `user:password@` replaced by `***@`, for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Runs `git args…` in `dir`, never prompting; its stderr becomes the error.
fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    for var in REPOSITORY_VARIABLES {
        command.env_remove(var);
    }
    if std::env::var_os("GIT_SSH_COMMAND").is_none() {
        // No password prompt on a terminal nobody watches, nor a connect that hangs.
        command.env(
            "GIT_SSH_COMMAND",
            "ssh -o BatchMode=yes -o ConnectTimeout=30",
        );
    }
    // An http(s) transfer stalled (under 1 byte/s) for a minute fails instead of hanging.
    for (var, value) in [
        ("GIT_HTTP_LOW_SPEED_LIMIT", "1"),
        ("GIT_HTTP_LOW_SPEED_TIME", "60"),
    ] {
        if std::env::var_os(var).is_none() {
            command.env(var, value);
        }
    }
    let out = command.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "a git build context needs the `git` command; install git".to_string()
        } else {
            format!("cannot run git: {e}")
        }
    })?;
    if out.status.success() {
        return Ok(());
    }
    let shown: Vec<String> = args.iter().map(|a| redacted(a)).collect();
    Err(format!(
        "git {} failed: {}",
        shown.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Fetches `context` (its reference only, shallowly, then its submodules) into a new
/// temporary directory.
pub fn fetch(context: &GitContext) -> Result<Checkout, String> {
    let dir = tempfile::Builder::new()
        .prefix("hoist-git-context-")
        .tempdir()
        .map_err(|e| {
            format!(
                "cannot create a directory to fetch {} into: {e}",
                redacted(&context.url)
            )
        })?;
    let path = dir.path();
    let reference = context.reference.as_deref().unwrap_or("HEAD");
    git(path, &["init", "-q"])?;
    git(path, &["remote", "add", "origin", &context.url])?;
    // Shallow first; a server refusing a shallow fetch of a commit gets a full one.
    if git(
        path,
        &["fetch", "-q", "--depth", "1", "origin", "--", reference],
    )
    .is_err()
    {
        git(path, &["fetch", "-q", "origin", "--", reference]).map_err(|e| {
            format!(
                "cannot fetch {reference} of {}: {e}",
                redacted(&context.url)
            )
        })?;
    }
    git(path, &["checkout", "-q", "FETCH_HEAD"])?;
    git(
        path,
        &[
            "submodule",
            "update",
            "-q",
            "--init",
            "--recursive",
            "--depth",
            "1",
        ],
    )?;
    // Not part of the context, as with BuildKit (and it would only weigh down the tar).
    std::fs::remove_dir_all(path.join(".git")).map_err(|e| {
        format!(
            "cannot remove .git from the checkout of {}: {e}",
            redacted(&context.url)
        )
    })?;
    let root = match &context.subdir {
        None => path.to_path_buf(),
        Some(sub) => {
            let rel = Path::new(sub);
            if rel
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
            {
                return Err(format!(
                    "the subdirectory {sub} of {} must be a relative path inside the \
                     repository",
                    context.url
                ));
            }
            let root = path.join(rel);
            if !root.is_dir() {
                return Err(format!(
                    "{} has no directory {sub} at {reference}",
                    redacted(&context.url)
                ));
            }
            // A symlink in the repository must not lead the context out of it.
            let resolved = |p: &Path| p.canonicalize().ok();
            match (resolved(path), resolved(&root)) {
                (Some(top), Some(root)) if root.starts_with(&top) => root,
                _ => {
                    return Err(format!(
                        "the subdirectory {sub} of {} leads out of the repository \
                         (a symlink); name a directory inside it",
                        redacted(&context.url)
                    ))
                }
            }
        }
    };
    Ok(Checkout { dir, root })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git_context(url: &str, reference: Option<&str>, subdir: Option<&str>) -> GitContext {
        GitContext {
            url: url.to_string(),
            reference: reference.map(str::to_string),
            subdir: subdir.map(str::to_string),
        }
    }

    #[test]
    fn git_contexts_are_recognized_and_split_as_docker_does() {
        assert_eq!(
            parse("https://github.com/docker/rootfs.git#container:docker"),
            Some(git_context(
                "https://github.com/docker/rootfs.git",
                Some("container"),
                Some("docker")
            ))
        );
        assert_eq!(
            parse("github.com/docker/rootfs"),
            Some(git_context("https://github.com/docker/rootfs", None, None))
        );
        assert_eq!(
            parse("git@github.com:docker/rootfs.git#:sub/dir"),
            Some(git_context(
                "git@github.com:docker/rootfs.git",
                None,
                Some("sub/dir")
            ))
        );
        assert_eq!(
            parse("git://127.0.0.1:9418/app.git#v1.2"),
            Some(git_context(
                "git://127.0.0.1:9418/app.git",
                Some("v1.2"),
                None
            ))
        );
        // Not git: a tarball URL, an http URL without .git, a local path.
        assert_eq!(parse("https://example.com/context.tar.gz"), None);
        assert_eq!(parse("https://example.com/repo"), None);
        assert_eq!(parse("./app.git"), None);
    }

    /// Commits everything in the repository `dir` as a test author.
    fn commit_all(dir: &Path, message: &str) {
        git(dir, &["add", "."]).unwrap();
        let author = ["-c", "user.name=t", "-c", "user.email=t@t"];
        git(
            dir,
            &[&author[..], &["commit", "-q", "-m", message]].concat(),
        )
        .unwrap();
    }

    #[test]
    fn a_subdirectory_outside_the_repository_is_refused() {
        let origin = tempfile::tempdir().unwrap();
        let o = origin.path();
        git(o, &["init", "-q", "-b", "main"]).unwrap();
        std::fs::write(o.join("Dockerfile"), "FROM scratch\n").unwrap();
        commit_all(o, "one");
        let url = format!("file://{}", o.display());
        let checkout = fetch(&git_context(&url, Some("main"), None)).unwrap();
        assert!(checkout.root().join("Dockerfile").is_file());
        assert!(!checkout.repository().join(".git").exists());
        let e = fetch(&git_context(&url, Some("main"), Some("../..")))
            .err()
            .unwrap();
        assert!(e.contains("inside the repository"), "{e}");
        let e = fetch(&git_context(&url, Some("main"), Some("nope")))
            .err()
            .unwrap();
        assert!(e.contains("has no directory nope"), "{e}");
        let e = fetch(&git_context(&url, Some("no-such-branch"), None))
            .err()
            .unwrap();
        assert!(e.contains("no-such-branch"), "{e}");
        // A symlink out of the repository is refused as a subdirectory.
        std::os::unix::fs::symlink("/etc", o.join("out")).unwrap();
        commit_all(o, "two");
        let e = fetch(&git_context(&url, Some("main"), Some("out")))
            .err()
            .unwrap();
        assert!(e.contains("leads out of the repository"), "{e}");
    }

    #[test]
    fn credentials_in_urls_are_not_shown_and_ssh_urls_are_git() {
        assert_eq!(
            redacted("https://user:token@example.com/repo.git"),
            "https://***@example.com/repo.git"
        );
        assert_eq!(
            redacted("https://example.com/a@b/repo.git"),
            "https://example.com/a@b/repo.git"
        );
        assert_eq!(redacted("git@github.com:x/y.git"), "git@github.com:x/y.git");
        assert_eq!(
            parse("ssh://git@host/repo.git#main"),
            Some(git_context("ssh://git@host/repo.git", Some("main"), None))
        );
    }
}
