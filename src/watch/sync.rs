//! Getting changed files into a running container, through the [`Runtime`] trait only: an
//! archive upload for what was written, an `rm -rf` exec for what was removed. That works
//! on every backend that implements the trait.
//!
//! The seam for a faster path is [`FileSync`]: on the native runtime, which reaches a
//! running container's file system from the host, [`DirectSync`] writes the files in place
//! ([`crate::runtime::native::direct`]); [`for_backend`] picks it, and the watch session
//! takes it instead of [`ArchiveSync`]; nothing else changes.
//!
//! Not for: deciding what changed ([`super::batch`]) or which rule applies ([`super::rules`]).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;

use crate::engine::EngineError;
use crate::runtime::native::direct::LiveRoot;
use crate::runtime::native::state::ContainerRecord;
use crate::runtime::{ExecSpec, Runtime, RuntimeError};

/// Who owns synced files in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u64,
    pub gid: u64,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

/// One host file, directory or symlink and the absolute path it gets in the container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub host: PathBuf,
    pub target: String,
}

/// Puts files into, and removes them from, a running container.
#[async_trait]
pub trait FileSync: Send + Sync {
    /// Writes `entries` (not empty; directories listed before what they contain), owned by
    /// `owner`, keeping each file's mode.
    async fn write(
        &self,
        container: &str,
        entries: &[Entry],
        owner: Owner,
    ) -> Result<(), EngineError>;
    /// Deletes `targets` (absolute container paths) and everything below them; a target
    /// that does not exist is not an error.
    async fn remove(&self, container: &str, targets: &[String]) -> Result<(), EngineError>;
}

/// [`FileSync`] on any backend: a tar uploaded with `copy_to_container` at `/`, and `rm -rf`
/// run with `exec`.
pub struct ArchiveSync {
    runtime: Arc<dyn Runtime>,
}

impl ArchiveSync {
    pub fn new(runtime: Arc<dyn Runtime>) -> Self {
        ArchiveSync { runtime }
    }
}

/// [`FileSync`] on the native runtime over data root `root`: files written straight into
/// the container's file system from this process, no archive, no exec.
pub struct DirectSync {
    root: PathBuf,
    /// Container records by name: looking one up opens the state database (fsyncs), which
    /// would cost more than the sync. A stale one (the container was recreated) is found
    /// out by [`LiveRoot::of`] and looked up again.
    records: Arc<Mutex<HashMap<String, ContainerRecord>>>,
}

impl DirectSync {
    pub fn new(root: PathBuf) -> Self {
        DirectSync {
            root,
            records: Arc::default(),
        }
    }

    /// Runs `f` on the container's live root off the async threads.
    async fn on_root(
        &self,
        container: &str,
        what: &str,
        f: impl FnOnce(&LiveRoot) -> Result<(), RuntimeError> + Send + 'static,
    ) -> Result<(), EngineError> {
        let root = self.root.clone();
        let name = container.to_string();
        let records = self.records.clone();
        let open = move || -> Result<LiveRoot, RuntimeError> {
            let cached = records.lock().ok().and_then(|r| r.get(&name).cloned());
            if let Some(live) = cached.and_then(|r| LiveRoot::of(&root, r).ok()) {
                return Ok(live);
            }
            let record = LiveRoot::find(&root, &name)?;
            if let Ok(mut r) = records.lock() {
                r.insert(name.clone(), record.clone());
            }
            LiveRoot::of(&root, record)
        };
        let done = tokio::task::spawn_blocking(move || f(&open()?))
            .await
            .map_err(|e| EngineError::new(format!("cannot {what} {container}: {e}")))?;
        done.map_err(|e| {
            let stopped = matches!(e, RuntimeError::Conflict { .. });
            let e = EngineError::runtime(&format!("{what} {container}"), e);
            match stopped {
                true => e.with_hint("start it again (hoist up -d); watch syncs running containers"),
                false => EngineError { hint: None, ..e },
            }
        })
    }
}

#[async_trait]
impl FileSync for DirectSync {
    async fn write(
        &self,
        container: &str,
        entries: &[Entry],
        owner: Owner,
    ) -> Result<(), EngineError> {
        let id = |n: u64| {
            u32::try_from(n).map_err(|_| EngineError::new(format!("uid/gid {n} is out of range")))
        };
        let (uid, gid) = (id(owner.uid)?, id(owner.gid)?);
        let entries = entries.to_vec();
        self.on_root(container, "copy changed files into", move |live| {
            entries
                .iter()
                .try_for_each(|e| live.write(&e.target, &e.host, uid, gid))
        })
        .await
    }

    async fn remove(&self, container: &str, targets: &[String]) -> Result<(), EngineError> {
        let targets = targets.to_vec();
        self.on_root(container, "remove deleted files from", move |live| {
            targets.iter().try_for_each(|t| live.remove(t))
        })
        .await
    }
}

/// The fastest [`FileSync`] `runtime` offers: [`DirectSync`] on the native backend, `None`
/// (keep [`ArchiveSync`]) elsewhere. Not for dry runs: a direct write is real.
pub async fn for_backend(runtime: &dyn Runtime) -> Option<Arc<dyn FileSync>> {
    let info = runtime.info().await.ok()?;
    // The native runtime's endpoint is its data root.
    (info.backend == "native")
        .then(|| Arc::new(DirectSync::new(PathBuf::from(info.endpoint))) as Arc<dyn FileSync>)
}

/// Paths per `rm` exec: far below any argument-length limit, few execs for a big checkout.
const REMOVE_CHUNK: usize = 500;

#[async_trait]
impl FileSync for ArchiveSync {
    async fn write(
        &self,
        container: &str,
        entries: &[Entry],
        owner: Owner,
    ) -> Result<(), EngineError> {
        let tar = pack(entries, owner)?;
        self.runtime
            .copy_to_container(container, "/", Bytes::from(tar))
            .await
            .map_err(|e| {
                EngineError::runtime(&format!("copy changed files into {container}"), e).with_hint(
                    "the target must be on the container's writable file system (not a \
                         read-only root or mount); fix the rule's `target`",
                )
            })
    }

    async fn remove(&self, container: &str, targets: &[String]) -> Result<(), EngineError> {
        for chunk in targets.chunks(REMOVE_CHUNK) {
            let mut cmd = vec!["rm".to_string(), "-rf".to_string(), "--".to_string()];
            cmd.extend(chunk.iter().cloned());
            // As root: the files may be owned by anyone, and the user asked for them gone.
            let spec = ExecSpec {
                cmd,
                user: Some("0:0".to_string()),
                ..ExecSpec::default()
            };
            let what = format!("remove deleted files from {container}");
            let out = self
                .runtime
                .exec_collect(container, &spec)
                .await
                .map_err(|e| EngineError::runtime(&what, e))?;
            if out.exit_code != 0 {
                return Err(EngineError::new(format!(
                    "cannot {what}: rm exited with {}: {}",
                    out.exit_code,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
                .with_hint("the image needs an `rm` for deletions to reach the container"));
            }
        }
        Ok(())
    }
}

/// A tar of `entries` with names relative to `/`, ownership `owner`, modes and mtimes kept,
/// symlinks as symlinks. An entry that vanished since it was listed is skipped: the next
/// batch removes it.
pub fn pack(entries: &[Entry], owner: Owner) -> Result<Vec<u8>, EngineError> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let name = entry.target.trim_start_matches('/');
        if name.is_empty() {
            continue;
        }
        let fail = |e: std::io::Error| {
            EngineError::new(format!(
                "cannot pack {} for the container: {e}",
                entry.host.display()
            ))
        };
        let meta = match fs::symlink_metadata(&entry.host) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(fail(e)),
        };
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        header.set_uid(owner.uid);
        header.set_gid(owner.gid);
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&entry.host).map_err(fail)?;
            builder
                .append_link(&mut header, name, target)
                .map_err(fail)?;
        } else if kind.is_dir() {
            header.set_size(0);
            builder
                .append_data(&mut header, name, std::io::empty())
                .map_err(fail)?;
        } else if kind.is_file() {
            let mut content = Vec::new();
            match fs::File::open(&entry.host).and_then(|mut f| f.read_to_end(&mut content)) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(fail(e)),
            }
            // The file may have grown or shrunk since its metadata was read.
            header.set_size(content.len() as u64);
            builder
                .append_data(&mut header, name, content.as_slice())
                .map_err(fail)?;
        }
        // Sockets, fifos and devices have no place in a source tree; skip them.
    }
    builder
        .into_inner()
        .map_err(|e| EngineError::new(format!("cannot pack changed files: {e}")))
}

/// `path` and, for a directory, everything below it that `keep` accepts, each paired with
/// its target under `target`; directories come before their content.
pub fn expand(path: &Path, target: &str, keep: &dyn Fn(&Path) -> bool) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    walk(
        path,
        target.trim_end_matches('/'),
        keep,
        &mut out,
        &mut seen,
    );
    out
}

fn walk(
    path: &Path,
    target: &str,
    keep: &dyn Fn(&Path) -> bool,
    out: &mut Vec<Entry>,
    seen: &mut BTreeSet<PathBuf>,
) {
    if !seen.insert(path.to_path_buf()) {
        return;
    }
    out.push(Entry {
        host: path.to_path_buf(),
        target: if target.is_empty() {
            "/".into()
        } else {
            target.into()
        },
    });
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let Ok(children) = fs::read_dir(path) else {
        return;
    };
    let mut names: Vec<PathBuf> = children.filter_map(|c| c.ok().map(|c| c.path())).collect();
    names.sort();
    for child in names {
        if !keep(&child) {
            continue;
        }
        let Some(name) = child.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        walk(&child, &format!("{target}/{name}"), keep, out, seen);
    }
}

/// The owner synced files get in `container`: its configured user, looked up in the
/// container's `/etc/passwd` and `/etc/group` when given by name. When the container has
/// no user, or the name cannot be resolved, files are owned by root (uid 0, gid 0), which
/// is what the process runs as in that case too.
pub async fn container_owner(runtime: &dyn Runtime, container: &str) -> Owner {
    let user = match runtime.inspect_container(container).await {
        Ok(info) => info.user.unwrap_or_default(),
        Err(_) => return Owner::ROOT,
    };
    if user.is_empty() {
        return Owner::ROOT;
    }
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user.as_str(), None),
    };
    let numeric = name.parse::<u64>().ok();
    let group_numeric = group.and_then(|g| g.parse::<u64>().ok());
    let needs_passwd = numeric.is_none() || group.is_none();
    let needs_group = group.is_some() && group_numeric.is_none();
    let passwd = if needs_passwd {
        read_container_file(runtime, container, "/etc/passwd").await
    } else {
        None
    };
    let groups = if needs_group {
        read_container_file(runtime, container, "/etc/group").await
    } else {
        None
    };
    owner_of(&user, passwd.as_deref(), groups.as_deref()).unwrap_or(Owner::ROOT)
}

async fn read_container_file(runtime: &dyn Runtime, container: &str, path: &str) -> Option<String> {
    let tar = match runtime.copy_from_container(container, path).await {
        Ok(t) => t,
        Err(RuntimeError::NotFound { .. }) => return None,
        Err(_) => return None,
    };
    let mut archive = tar::Archive::new(tar.as_ref());
    let mut entry = archive.entries().ok()?.next()?.ok()?;
    let mut text = String::new();
    entry.read_to_string(&mut text).ok()?;
    Some(text)
}

/// Resolves a `user[:group]` spec (names or numbers) against passwd and group file text, as
/// Docker does: a user without a group gets its passwd entry's primary group, else 0.
pub fn owner_of(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Option<Owner> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entries = |text: Option<&str>| -> Vec<Vec<String>> {
        text.unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| l.split(':').map(str::to_string).collect())
            .collect()
    };
    let users = entries(passwd);
    let user_entry = users
        .iter()
        .find(|f| f.len() > 3 && (f[0] == user || f[2] == user));
    let uid = match user.parse::<u64>() {
        Ok(n) => n,
        Err(_) => user_entry?.get(2)?.parse().ok()?,
    };
    let gid = match grp {
        Some(g) => match g.parse::<u64>() {
            Ok(n) => n,
            Err(_) => entries(group)
                .iter()
                .find(|f| f.len() > 2 && f[0] == g)?
                .get(2)?
                .parse()
                .ok()?,
        },
        None => user_entry
            .and_then(|f| f.get(3))
            .and_then(|g| g.parse().ok())
            .unwrap_or(0),
    };
    Some(Owner { uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1001::/home/node:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:\n";

    #[test]
    fn owners_resolve_like_docker() {
        let own = |uid, gid| Some(Owner { uid, gid });
        assert_eq!(owner_of("node", Some(PASSWD), None), own(1000, 1001));
        assert_eq!(owner_of("1000", Some(PASSWD), None), own(1000, 1001));
        assert_eq!(owner_of("4242", Some(PASSWD), None), own(4242, 0));
        assert_eq!(
            owner_of("node:staff", Some(PASSWD), Some(GROUP)),
            own(1000, 50)
        );
        assert_eq!(owner_of("7:8", None, None), own(7, 8));
        assert_eq!(owner_of("ghost", Some(PASSWD), None), None);
    }

    #[test]
    fn pack_keeps_modes_sets_the_owner_and_lists_directories() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sub = dir.path().join("bin");
        fs::create_dir(&sub).expect("mkdir");
        let script = sub.join("run.sh");
        fs::write(&script, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::symlink("run.sh", sub.join("link")).expect("symlink");
        fs::write(dir.path().join(".hidden.swp"), "x").expect("write");

        let keep = |p: &Path| !p.to_string_lossy().ends_with(".swp");
        let entries = expand(dir.path(), "/app/", &keep);
        let targets: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(
            targets,
            ["/app", "/app/bin", "/app/bin/link", "/app/bin/run.sh"]
        );

        let tar = pack(
            &entries,
            Owner {
                uid: 1000,
                gid: 1001,
            },
        )
        .expect("packs");
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for e in archive.entries().expect("entries") {
            let e = e.expect("entry");
            let h = e.header();
            assert_eq!((h.uid().ok(), h.gid().ok()), (Some(1000), Some(1001)));
            let path = e.path().expect("path").to_string_lossy().into_owned();
            if path == "app/bin/run.sh" {
                assert_eq!(h.mode().ok().map(|m| m & 0o777), Some(0o755));
            }
            if path == "app/bin/link" {
                assert!(h.entry_type().is_symlink());
            }
            seen.push(path);
        }
        assert_eq!(seen, ["app", "app/bin", "app/bin/link", "app/bin/run.sh"]);
    }

    #[test]
    fn a_file_that_vanished_before_packing_is_skipped() {
        let entries = vec![Entry {
            host: PathBuf::from("/nonexistent/hoist-watch-test"),
            target: "/app/x".into(),
        }];
        let tar = pack(&entries, Owner::ROOT).expect("packs");
        let mut archive = tar::Archive::new(tar.as_slice());
        assert_eq!(archive.entries().expect("entries").count(), 0);
    }
}
