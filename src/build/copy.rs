//! `COPY` and `ADD` of local files, as BuildKit does them: which files a step takes from its
//! source (the build context, minus `.dockerignore`, or another stage's root), where each
//! lands in the image, with what owner and mode; the content digest that keys the step in
//! the layer cache; and writing them into a root directory.
//!
//! The rules followed: sources are relative to their root and cannot climb out of it;
//! wildcards (`*`, `?`, `[...]`) match within one path segment; a directory source copies
//! its contents; several sources, a wildcard or a destination ending in `/` make the
//! destination a directory, as does a destination that is a directory in the image; a
//! relative destination starts at `WORKDIR`; files from the build context belong to
//! `0:0` unless `--chown`, files of a stage keep theirs; modes are kept unless `--chmod`;
//! `ADD` extracts local tar archives (plain or gzip) instead of copying them.
//!
//! The digest covers paths, kinds, modes, owners and file contents, never times, so an
//! untouched file whose mtime changed does not invalidate the cache.
//!
//! Not for: fetching `ADD` URLs, nor knowing about layers (the builder decides what the
//! target root is: a fresh layer directory or an overlay of the image).

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use crate::build::config::clean_path;
use crate::build::context::{segment_matches, DockerIgnore};
use crate::build::dockerfile::CopySource;
use crate::runtime::native::digest::Digest;
use crate::runtime::native::exec::read_in_root;
use crate::runtime::native::spec;
use crate::runtime::native::unpack::{resolve_in_root, unpack_layer_file, UnpackOptions};

/// Where a step's sources come from.
#[derive(Debug, Clone, Copy)]
pub struct SourceTree<'a> {
    pub root: &'a Path,
    /// The build context's `.dockerignore`: ignored files are not there to copy.
    pub ignore: Option<&'a DockerIgnore>,
    /// Keep the files' owners (`COPY --from`); build context files belong to `0:0`.
    pub keep_owner: bool,
}

/// One `COPY`/`ADD`, after substitution.
#[derive(Debug, Clone)]
pub struct CopySpec<'a> {
    pub sources: &'a [CopySource],
    pub dest: &'a str,
    /// The stage's `WORKDIR` (absolute).
    pub workdir: &'a str,
    /// `--chown`, resolved to numbers (see [`resolve_owner`]).
    pub owner: Option<(u32, u32)>,
    /// `--chmod`, parsed (see [`parse_chmod`]).
    pub mode: Option<u32>,
    /// `ADD`: local tar archives are extracted.
    pub extract_archives: bool,
    /// `ADD <url>` sources, already downloaded (see [`Fetched`]).
    pub fetched: &'a [Fetched],
}

/// An `ADD <url>` source the builder downloaded: the file lands with mode `0600` (unless
/// `--chmod`) and the server's `Last-Modified` as its mtime, as Docker does; archives are
/// not extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub url: String,
    /// The downloaded body.
    pub file: PathBuf,
    pub mtime: Option<SystemTime>,
}

/// Whether an `ADD` source is a URL to download.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The file name a URL source gets in a destination directory: the last segment of its
/// path (`index.html` when the path has none).
pub fn url_file_name(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    match path.split_once('/') {
        Some((_, p)) => match p.rsplit('/').next() {
            Some(name) if !name.is_empty() => name,
            _ => "index.html",
        },
        None => "index.html",
    }
}

/// What lands at one destination path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(PathBuf),
    /// A heredoc source's body.
    Inline(Vec<u8>),
    Symlink(PathBuf),
    /// A tar archive (`ADD`) extracted into the destination directory.
    Archive(PathBuf),
}

/// One path of the image the step writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEntry {
    /// Absolute path in the image.
    pub dest: String,
    pub kind: EntryKind,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Option<SystemTime>,
}

/// Everything one step writes, in the order it is written (parents first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyPlan {
    pub entries: Vec<PlannedEntry>,
}

/// A `COPY`/`ADD` that cannot be done, naming the path at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\": {}", self.path, self.message)
    }
}

impl std::error::Error for CopyError {}

fn err(path: impl Into<String>, message: impl std::fmt::Display) -> CopyError {
    CopyError {
        path: path.into(),
        message: message.to_string(),
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Plans a step. `is_dir_in_image` tells whether an absolute path is a directory in the
/// image the step applies to (a destination that is one receives the sources inside it).
pub fn plan(
    tree: SourceTree<'_>,
    spec: &CopySpec<'_>,
    is_dir_in_image: &dyn Fn(&str) -> bool,
) -> Result<CopyPlan, CopyError> {
    let raw_dest = spec.dest;
    let dest = if raw_dest.starts_with('/') {
        clean_path(raw_dest)
    } else {
        clean_path(&format!("{}/{raw_dest}", spec.workdir))
    };
    let wildcard = spec
        .sources
        .iter()
        .any(|s| matches!(s, CopySource::Path(p) if has_wildcard(p)));
    let dest_is_dir = raw_dest.ends_with('/')
        || raw_dest == "."
        || raw_dest.ends_with("/.")
        || spec.sources.len() > 1
        || wildcard
        || is_dir_in_image(&dest);
    let mut plan = CopyPlan::default();
    let owner = |meta: Option<&fs::Metadata>| match (spec.owner, meta) {
        (Some(o), _) => o,
        (None, Some(m)) if tree.keep_owner => (m.uid(), m.gid()),
        _ => (0, 0),
    };
    for source in spec.sources {
        let path = match source {
            CopySource::Heredoc(doc) => {
                let target = if dest_is_dir {
                    join(&dest, &doc.name)
                } else {
                    dest.clone()
                };
                let (uid, gid) = owner(None);
                plan.entries.push(PlannedEntry {
                    dest: target,
                    kind: EntryKind::Inline(doc.content.clone().into_bytes()),
                    mode: spec.mode.unwrap_or(0o644),
                    uid,
                    gid,
                    mtime: None,
                });
                continue;
            }
            CopySource::Path(p) if is_url(p) && spec.extract_archives => {
                let fetched = spec
                    .fetched
                    .iter()
                    .find(|f| &f.url == p)
                    .ok_or_else(|| err(p.as_str(), "the URL was not downloaded"))?;
                let (uid, gid) = owner(None);
                plan.entries.push(PlannedEntry {
                    dest: if dest_is_dir {
                        join(&dest, url_file_name(p))
                    } else {
                        dest.clone()
                    },
                    kind: EntryKind::File(fetched.file.clone()),
                    mode: spec.mode.unwrap_or(0o600),
                    uid,
                    gid,
                    mtime: fetched.mtime,
                });
                continue;
            }
            CopySource::Path(p) => p,
        };
        let matches = expand_source(tree, path)?;
        if matches.is_empty() {
            return Err(err(
                path.as_str(),
                if has_wildcard(path) {
                    "no source files were specified: the pattern matches nothing in the build context"
                } else {
                    "not found in the build context (or excluded by .dockerignore)"
                },
            ));
        }
        for rel in matches {
            let src = tree.root.join(&rel);
            // The source path itself is followed if it is a symlink, as BuildKit does.
            let meta = fs::metadata(&src).map_err(|e| err(format!("/{rel}"), e))?;
            if meta.is_dir() {
                let (uid, gid) = owner(Some(&meta));
                plan.entries.push(PlannedEntry {
                    dest: dest.clone(),
                    kind: EntryKind::Dir,
                    mode: spec.mode.unwrap_or(meta.mode() & 0o7777),
                    uid,
                    gid,
                    mtime: meta.modified().ok(),
                });
                walk(tree, &src, &rel, &dest, spec, &owner, &mut plan)?;
                continue;
            }
            let target = if dest_is_dir {
                join(&dest, file_name(&rel))
            } else {
                dest.clone()
            };
            let (uid, gid) = owner(Some(&meta));
            let kind = if spec.extract_archives && is_archive(&src) {
                EntryKind::Archive(src)
            } else {
                EntryKind::File(src)
            };
            let archive = matches!(kind, EntryKind::Archive(_));
            plan.entries.push(PlannedEntry {
                // An archive is extracted into the destination directory itself.
                dest: if archive { dest.clone() } else { target },
                kind,
                mode: spec.mode.unwrap_or(meta.mode() & 0o7777),
                uid,
                gid,
                mtime: meta.modified().ok(),
            });
        }
    }
    Ok(plan)
}

/// The source paths (relative to the root, `/`-separated, sorted) a source names.
fn expand_source(tree: SourceTree<'_>, source: &str) -> Result<Vec<String>, CopyError> {
    // Sources cannot climb out of their root: `../x` is `x`, as in BuildKit.
    let cleaned = clean_path(&format!("/{source}"));
    let rel = cleaned.trim_start_matches('/').to_string();
    let visible = |rel: &str| {
        tree.ignore
            .is_none_or(|i| rel.is_empty() || !i.is_ignored(rel))
    };
    if !has_wildcard(&rel) {
        let exists = fs::symlink_metadata(tree.root.join(&rel)).is_ok();
        return Ok(if exists && visible(&rel) {
            vec![rel]
        } else {
            Vec::new()
        });
    }
    let mut found = vec![String::new()];
    for segment in rel.split('/') {
        let mut next = Vec::new();
        for base in &found {
            if !has_wildcard(segment) {
                let candidate = join_rel(base, segment);
                if fs::symlink_metadata(tree.root.join(&candidate)).is_ok() {
                    next.push(candidate);
                }
                continue;
            }
            let dir = tree.root.join(base);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                if segment_matches(segment, &name).map_err(|e| err(source, e))? {
                    next.push(join_rel(base, &name));
                }
            }
        }
        found = next;
    }
    found.retain(|r| visible(r));
    Ok(found)
}

/// Adds the contents of directory `dir` (relative path `rel` in the root) below `dest`.
fn walk(
    tree: SourceTree<'_>,
    dir: &Path,
    rel: &str,
    dest: &str,
    spec: &CopySpec<'_>,
    owner: &dyn Fn(Option<&fs::Metadata>) -> (u32, u32),
    plan: &mut CopyPlan,
) -> Result<(), CopyError> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)
        .map_err(|e| err(format!("/{rel}"), e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let child_rel = join_rel(rel, &name);
        let ignored = tree.ignore.is_some_and(|i| i.is_ignored(&child_rel));
        let meta = entry
            .metadata()
            .map_err(|e| err(format!("/{child_rel}"), e))?;
        let child_dest = join(dest, &name);
        if meta.is_dir() {
            if ignored
                && !tree
                    .ignore
                    .is_some_and(|i| i.may_reinclude_under(&child_rel))
            {
                continue;
            }
            let before = plan.entries.len();
            let (uid, gid) = owner(Some(&meta));
            plan.entries.push(PlannedEntry {
                dest: child_dest.clone(),
                kind: EntryKind::Dir,
                mode: spec.mode.unwrap_or(meta.mode() & 0o7777),
                uid,
                gid,
                mtime: meta.modified().ok(),
            });
            walk(
                tree,
                &entry.path(),
                &child_rel,
                &child_dest,
                spec,
                owner,
                plan,
            )?;
            // An ignored directory only exists for the files re-included below it.
            if ignored && plan.entries.len() == before + 1 {
                plan.entries.truncate(before);
            }
            continue;
        }
        if ignored {
            continue;
        }
        let kind = if meta.file_type().is_symlink() {
            let target =
                fs::read_link(entry.path()).map_err(|e| err(format!("/{child_rel}"), e))?;
            EntryKind::Symlink(target)
        } else if meta.is_file() {
            EntryKind::File(entry.path())
        } else {
            // Sockets, fifos and devices in a build context are skipped, as BuildKit does.
            continue;
        };
        let symlink = matches!(kind, EntryKind::Symlink(_));
        let (uid, gid) = owner(Some(&meta));
        plan.entries.push(PlannedEntry {
            dest: child_dest,
            kind,
            mode: if symlink {
                0o777
            } else {
                spec.mode.unwrap_or(meta.mode() & 0o7777)
            },
            uid,
            gid,
            mtime: meta.modified().ok(),
        });
    }
    Ok(())
}

impl CopyPlan {
    /// The cache digest of the step's content: every entry's path, kind, mode, owner and
    /// bytes (or link target), in order; times are left out.
    pub fn content_digest(&self) -> Result<Digest, CopyError> {
        let mut hasher = Sha256::new();
        for e in &self.entries {
            hasher.update(e.dest.as_bytes());
            hasher.update([0]);
            hasher.update(format!("{:o} {} {}", e.mode, e.uid, e.gid).as_bytes());
            match &e.kind {
                EntryKind::Dir => hasher.update(b"d"),
                EntryKind::Inline(bytes) => {
                    hasher.update(b"f");
                    hasher.update(Sha256::digest(bytes));
                }
                EntryKind::File(src) | EntryKind::Archive(src) => {
                    hasher.update(if matches!(e.kind, EntryKind::File(_)) {
                        b"f"
                    } else {
                        b"a"
                    });
                    let mut file =
                        File::open(src).map_err(|er| err(src.display().to_string(), er))?;
                    let mut file_hasher = Sha256::new();
                    io::copy(&mut file, &mut file_hasher)
                        .map_err(|er| err(src.display().to_string(), er))?;
                    hasher.update(file_hasher.finalize());
                }
                EntryKind::Symlink(target) => {
                    hasher.update(b"l");
                    hasher.update(target.to_string_lossy().as_bytes());
                }
            }
            hasher.update([0]);
        }
        Ok(Digest::from_hasher(hasher))
    }

    /// Writes the entries under `root` (the image's `/`), resolving every destination
    /// inside it: a symlink in the image never sends a write outside. Missing parents are
    /// created `0755`, owned like the entry below them. Returns how many entries it wrote.
    pub fn apply(&self, root: &Path) -> Result<usize, CopyError> {
        for e in &self.entries {
            let rel = e.dest.trim_start_matches('/');
            let (parent_rel, name) = match rel.rsplit_once('/') {
                Some((p, n)) => (p, n),
                None => ("", rel),
            };
            let parent = resolve_in_root(root, Path::new(parent_rel))
                .map_err(|er| err(e.dest.as_str(), er))?;
            make_parents(root, &parent, e.uid, e.gid).map_err(|er| err(e.dest.as_str(), er))?;
            let path = if name.is_empty() {
                parent.clone()
            } else {
                parent.join(name)
            };
            write_entry(e, &path).map_err(|er| err(e.dest.as_str(), er))?;
        }
        Ok(self.entries.len())
    }
}

/// Creates the directories from `root` down to `dir` that do not exist yet.
fn make_parents(root: &Path, dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cur = dir.to_path_buf();
    while cur != root && fs::symlink_metadata(&cur).is_err() {
        missing.push(cur.clone());
        if !cur.pop() {
            break;
        }
    }
    for d in missing.iter().rev() {
        fs::create_dir(d)?;
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
        std::os::unix::fs::lchown(d, Some(uid), Some(gid))?;
    }
    Ok(())
}

fn write_entry(e: &PlannedEntry, path: &Path) -> io::Result<()> {
    match &e.kind {
        EntryKind::Dir => match fs::symlink_metadata(path) {
            // An existing directory keeps its owner and mode (`COPY . /tmp/` leaves /tmp
            // 1777), as BuildKit does.
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                fs::remove_file(path)?;
                fs::create_dir(path)?;
            }
            Err(_) => fs::create_dir(path)?,
        },
        EntryKind::Archive(src) => {
            match fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => {}
                _ => fs::create_dir_all(path)?,
            }
            // The layer unpacker refuses traversal and links out of the directory.
            unpack_layer_file(src, path, UnpackOptions::default(), None)
                .map_err(io::Error::other)?;
            return Ok(());
        }
        EntryKind::File(_) | EntryKind::Inline(_) | EntryKind::Symlink(_) => {
            if let Ok(m) = fs::symlink_metadata(path) {
                if m.is_dir() {
                    fs::remove_dir_all(path)?;
                } else {
                    fs::remove_file(path)?;
                }
            }
            match &e.kind {
                EntryKind::File(src) => {
                    let mut from = File::open(src)?;
                    let mut to = File::create(path)?;
                    io::copy(&mut from, &mut to)?;
                }
                EntryKind::Inline(bytes) => fs::write(path, bytes)?,
                EntryKind::Symlink(target) => std::os::unix::fs::symlink(target, path)?,
                _ => {}
            }
        }
    }
    std::os::unix::fs::lchown(path, Some(e.uid), Some(e.gid))?;
    if !matches!(e.kind, EntryKind::Symlink(_)) {
        // After chown: chown clears setuid/setgid bits.
        fs::set_permissions(path, fs::Permissions::from_mode(e.mode))?;
        if let Some(mtime) = e.mtime {
            let _ = File::options()
                .write(matches!(e.kind, EntryKind::File(_) | EntryKind::Inline(_)))
                .read(true)
                .open(path)
                .and_then(|f| f.set_modified(mtime));
        }
    }
    Ok(())
}

/// Whether `path` is a tar archive `ADD` extracts: gzip, or a plain tar (`ustar` magic).
fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 262];
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    (n >= 2 && head[..2] == [0x1f, 0x8b]) || (n >= 262 && &head[257..262] == b"ustar")
}

/// `--chmod=` in octal (`755`, `0644`).
pub fn parse_chmod(value: &str) -> Result<u32, CopyError> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| {
            err(
                value,
                "invalid --chmod: expected an octal mode such as 755 or 0644",
            )
        })
}

/// `--chown=user[:group]` with names looked up in the image's `/etc/passwd` and
/// `/etc/group` under `rootfs`; a user without a group means the same number for both, as
/// Docker documents.
pub fn resolve_owner(value: &str, rootfs: &Path) -> Result<(u32, u32), CopyError> {
    let (user, group) = match value.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (value, None),
    };
    let invalid =
        |file: &str, e: String| err(value, format!("invalid --chown: {e} (the image's /{file})"));
    let passwd = read_in_root(rootfs, "etc/passwd");
    let uid = spec::resolve_uid(user, &passwd).map_err(|e| invalid("etc/passwd", e))?;
    let gid = match group {
        Some(g) => spec::resolve_group(g, &read_in_root(rootfs, "etc/group"))
            .map_err(|e| invalid("etc/group", e))?,
        None => uid,
    };
    Ok((uid, gid))
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn join_rel(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::Heredoc;

    struct Fixture {
        ctx: tempfile::TempDir,
        image: tempfile::TempDir,
    }

    impl Fixture {
        fn new(files: &[(&str, &str)]) -> Fixture {
            let ctx = tempfile::tempdir().unwrap();
            for (path, content) in files {
                let p = ctx.path().join(path);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, content).unwrap();
            }
            Fixture {
                ctx,
                image: tempfile::tempdir().unwrap(),
            }
        }

        fn copy(
            &self,
            sources: &[&str],
            dest: &str,
            ignore: Option<&DockerIgnore>,
        ) -> Result<CopyPlan, CopyError> {
            let sources: Vec<CopySource> = sources
                .iter()
                .map(|s| CopySource::Path(s.to_string()))
                .collect();
            let spec = CopySpec {
                sources: &sources,
                dest,
                workdir: "/app",
                owner: None,
                mode: None,
                extract_archives: false,
                fetched: &[],
            };
            let image = self.image.path().to_path_buf();
            let is_dir = move |p: &str| image.join(p.trim_start_matches('/')).is_dir();
            let tree = SourceTree {
                root: self.ctx.path(),
                ignore,
                keep_owner: false,
            };
            plan(tree, &spec, &is_dir)
        }

        fn dests(plan: &CopyPlan) -> Vec<String> {
            plan.entries.iter().map(|e| e.dest.clone()).collect()
        }
    }

    #[test]
    fn destinations_follow_docker_rules() {
        let f = Fixture::new(&[
            ("package.json", "{}"),
            ("src/a.js", "a"),
            ("src/lib/b.js", "b"),
        ]);
        // A file to a path, to a directory (trailing slash), relative to WORKDIR.
        assert_eq!(
            Fixture::dests(&f.copy(&["package.json"], "/app/p.json", None).unwrap()),
            ["/app/p.json"]
        );
        assert_eq!(
            Fixture::dests(&f.copy(&["package.json"], "/app/", None).unwrap()),
            ["/app/package.json"]
        );
        assert_eq!(
            Fixture::dests(&f.copy(&["package.json"], ".", None).unwrap()),
            ["/app/package.json"]
        );
        // A directory's contents, not the directory itself.
        assert_eq!(
            Fixture::dests(&f.copy(&["src"], "dst", None).unwrap()),
            [
                "/app/dst",
                "/app/dst/a.js",
                "/app/dst/lib",
                "/app/dst/lib/b.js"
            ]
        );
        // An existing directory in the image receives the file.
        fs::create_dir_all(f.image.path().join("etc/conf")).unwrap();
        assert_eq!(
            Fixture::dests(&f.copy(&["package.json"], "/etc/conf", None).unwrap()),
            ["/etc/conf/package.json"]
        );
        // Sources cannot climb out of the context.
        assert_eq!(
            Fixture::dests(&f.copy(&["../../package.json"], "/x", None).unwrap()),
            ["/x"]
        );
    }

    #[test]
    fn wildcards_match_one_segment_and_missing_sources_are_named() {
        let f = Fixture::new(&[
            ("a.json", "1"),
            ("b.json", "2"),
            ("sub/c.json", "3"),
            ("x.txt", ""),
        ]);
        assert_eq!(
            Fixture::dests(&f.copy(&["*.json"], "/d/", None).unwrap()),
            ["/d/a.json", "/d/b.json"]
        );
        assert_eq!(
            Fixture::dests(&f.copy(&["s?b/*.json"], "/d/", None).unwrap()),
            ["/d/c.json"]
        );
        let e = f.copy(&["*.yaml"], "/d/", None).unwrap_err();
        assert!(e.to_string().contains("matches nothing"), "{e}");
        let e = f.copy(&["nope.txt"], "/d/", None).unwrap_err();
        assert_eq!(e.path, "nope.txt");
        assert!(e.message.contains("not found"), "{e}");
    }

    #[test]
    fn dockerignore_hides_files_from_copy() {
        let f = Fixture::new(&[
            ("app.js", "x"),
            ("node_modules/dep/index.js", "y"),
            ("secret.pem", "k"),
            ("logs/keep.log", "l"),
            ("logs/drop.log", "m"),
        ]);
        let ignore = DockerIgnore::parse("node_modules\n*.pem\nlogs\n!logs/keep.log\n").unwrap();
        assert_eq!(
            Fixture::dests(&f.copy(&["."], "/app/", Some(&ignore)).unwrap()),
            ["/app", "/app/app.js", "/app/logs", "/app/logs/keep.log"]
        );
        let e = f.copy(&["secret.pem"], "/app/", Some(&ignore)).unwrap_err();
        assert!(e.message.contains(".dockerignore"), "{e}");
    }

    #[test]
    fn digest_follows_content_not_times() {
        let f = Fixture::new(&[("a.txt", "one")]);
        let d1 = f
            .copy(&["a.txt"], "/a", None)
            .unwrap()
            .content_digest()
            .unwrap();
        let path = f.ctx.path().join("a.txt");
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH)
            .unwrap();
        let d2 = f
            .copy(&["a.txt"], "/a", None)
            .unwrap()
            .content_digest()
            .unwrap();
        assert_eq!(d1, d2, "mtime alone changes nothing");
        fs::write(&path, "two").unwrap();
        let d3 = f
            .copy(&["a.txt"], "/a", None)
            .unwrap()
            .content_digest()
            .unwrap();
        assert_ne!(d1, d3, "content changes the digest");
        let d4 = f
            .copy(&["a.txt"], "/b", None)
            .unwrap()
            .content_digest()
            .unwrap();
        assert_ne!(d3, d4, "so does the destination");
    }

    #[test]
    fn apply_writes_inside_the_root_even_through_image_symlinks() {
        let f = Fixture::new(&[("conf.txt", "c"), ("dir/x", "x")]);
        let outside = tempfile::tempdir().unwrap();
        // The image has /etc/link -> an absolute path that, on the host, is elsewhere.
        fs::create_dir_all(f.image.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(outside.path(), f.image.path().join("etc/link")).unwrap();
        let plan = f.copy(&["conf.txt"], "/etc/link/conf.txt", None).unwrap();
        plan.apply(f.image.path()).unwrap();
        assert!(
            fs::read_dir(outside.path()).unwrap().next().is_none(),
            "nothing written outside"
        );
        let inside = f
            .image
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("conf.txt");
        assert_eq!(fs::read_to_string(inside).unwrap(), "c");
        // Owners are 0:0 and modes are kept.
        fs::set_permissions(
            f.ctx.path().join("dir/x"),
            fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        f.copy(&["dir"], "/opt/d", None)
            .unwrap()
            .apply(f.image.path())
            .unwrap();
        let meta = fs::metadata(f.image.path().join("opt/d/x")).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (0, 0, 0o750)
        );
        // An existing directory of the image keeps its mode.
        fs::create_dir_all(f.image.path().join("tmp")).unwrap();
        fs::set_permissions(
            f.image.path().join("tmp"),
            fs::Permissions::from_mode(0o1777),
        )
        .unwrap();
        f.copy(&["dir"], "/tmp/", None)
            .unwrap()
            .apply(f.image.path())
            .unwrap();
        let meta = fs::metadata(f.image.path().join("tmp")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o1777);
        assert!(f.image.path().join("tmp/x").is_file());
    }

    #[test]
    fn chown_chmod_and_heredocs() {
        let f = Fixture::new(&[("a", "a")]);
        fs::create_dir_all(f.image.path().join("etc")).unwrap();
        fs::write(
            f.image.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n",
        )
        .unwrap();
        fs::write(f.image.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        assert_eq!(resolve_owner("node", f.image.path()).unwrap(), (1000, 1000));
        assert_eq!(
            resolve_owner("node:staff", f.image.path()).unwrap(),
            (1000, 50)
        );
        assert_eq!(resolve_owner("7:8", f.image.path()).unwrap(), (7, 8));
        assert!(resolve_owner("nobody", f.image.path())
            .unwrap_err()
            .message
            .contains("/etc/passwd"));
        assert_eq!(parse_chmod("0755").unwrap(), 0o755);
        assert!(parse_chmod("9").is_err());

        let sources = vec![CopySource::Heredoc(Heredoc {
            name: "hello.sh".into(),
            content: "echo hi\n".into(),
            expand: true,
            chomp: false,
        })];
        let spec = CopySpec {
            sources: &sources,
            dest: "/usr/local/bin/",
            workdir: "/",
            owner: Some((1000, 50)),
            mode: Some(0o755),
            extract_archives: false,
            fetched: &[],
        };
        let tree = SourceTree {
            root: f.ctx.path(),
            ignore: None,
            keep_owner: false,
        };
        let plan = plan(tree, &spec, &|_| false).unwrap();
        plan.apply(f.image.path()).unwrap();
        let p = f.image.path().join("usr/local/bin/hello.sh");
        let meta = fs::metadata(&p).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "echo hi\n");
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (1000, 50, 0o755)
        );
    }

    #[test]
    fn add_extracts_local_archives() {
        let f = Fixture::new(&[]);
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "pkg/readme", &b"hello"[..])
            .unwrap();
        fs::write(f.ctx.path().join("pkg.tar"), builder.into_inner().unwrap()).unwrap();
        let sources = vec![CopySource::Path("pkg.tar".into())];
        let spec = CopySpec {
            sources: &sources,
            dest: "/opt/",
            workdir: "/",
            owner: None,
            mode: None,
            extract_archives: true,
            fetched: &[],
        };
        let tree = SourceTree {
            root: f.ctx.path(),
            ignore: None,
            keep_owner: false,
        };
        plan(tree, &spec, &|_| false)
            .unwrap()
            .apply(f.image.path())
            .unwrap();
        assert_eq!(
            fs::read_to_string(f.image.path().join("opt/pkg/readme")).unwrap(),
            "hello"
        );
    }
}
