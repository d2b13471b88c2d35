//! `cp` between the host and a container, with `docker cp` semantics: the runtime moves tar
//! archives ([`crate::runtime::Runtime::copy_from_container`] / `copy_to_container`); this
//! module packs and unpacks them on the host side and decides where things land:
//!
//! - into an existing directory, the source keeps its name (`dir/./` copies its content);
//! - to a path that does not exist, the source is created under that name;
//! - onto an existing file, a file replaces it (a directory cannot).
//!
//! Extraction refuses entries that would escape the destination (`..`, absolute paths,
//! writing through a symlink).
//!
//! Not for: choosing the container (the CLI resolves `SERVICE:PATH`).

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

use crate::runtime::{Runtime, RuntimeError};

use super::error::EngineError;

/// How to copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyOptions {
    /// `-a`: keep the uid/gid recorded in the archive when extracting on the host.
    pub archive: bool,
    /// `-L`: copy what a symlink source points to, not the link.
    pub follow_link: bool,
}

/// The archive of `path` in `container`, following a symlinked `path` when asked.
pub async fn fetch(
    runtime: &dyn Runtime,
    container: &str,
    path: &str,
    opts: CopyOptions,
) -> Result<Bytes, EngineError> {
    let mut current = path.to_string();
    // A chain of links is followed a few steps, as far as a loop would allow.
    for _ in 0..16 {
        let tar = runtime
            .copy_from_container(container, &current)
            .await
            .map_err(|e| copy_error(&format!("copy {path} from {container}"), e))?;
        if !opts.follow_link {
            return Ok(tar);
        }
        match root_link_target(&tar)? {
            Some(target) if target.starts_with('/') => current = target,
            Some(target) => {
                let parent = Path::new(&current).parent().unwrap_or(Path::new("/"));
                current = parent.join(target).to_string_lossy().into_owned();
            }
            None => return Ok(tar),
        }
    }
    Err(EngineError::new(format!(
        "cannot copy {path} from {container}: too many levels of symbolic links"
    )))
}

fn copy_error(what: &str, e: RuntimeError) -> EngineError {
    let hint = e
        .is_not_found()
        .then_some("check the path inside the container (`hoist exec SERVICE ls PATH`)");
    let err = EngineError::runtime(what, e);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// The link target when the archive's root entry is a symlink.
fn root_link_target(tar: &[u8]) -> Result<Option<String>, EngineError> {
    let mut archive = tar::Archive::new(tar);
    let mut entries = archive.entries().map_err(bad_archive)?;
    let Some(first) = entries.next() else {
        return Ok(None);
    };
    let first = first.map_err(bad_archive)?;
    if first.header().entry_type() != tar::EntryType::Symlink {
        return Ok(None);
    }
    Ok(first
        .link_name()
        .map_err(bad_archive)?
        .map(|l| l.to_string_lossy().into_owned()))
}

fn bad_archive(e: std::io::Error) -> EngineError {
    EngineError::new(format!("the runtime sent an unreadable archive: {e}"))
}

/// Unpacks an archive of `src` (its last component at the archive root) to host path `dest`.
pub fn extract(tar: &[u8], src: &str, dest: &Path, opts: CopyOptions) -> Result<(), EngineError> {
    let contents_only = src.ends_with("/.");
    let dest_dir_exists = dest.is_dir();
    let root_is_dir = archive_root_is_dir(tar)?;
    let fail = |m: String| EngineError::new(format!("cannot copy to {}: {m}", dest.display()));
    if !dest.exists() {
        let parent = dest.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return Err(fail("its parent directory does not exist".into()));
        }
        if !root_is_dir && dest.to_string_lossy().ends_with('/') {
            return Err(fail("destination directory does not exist".into()));
        }
    } else if !dest_dir_exists && root_is_dir {
        return Err(fail("cannot copy a directory to a file".into()));
    }
    // Where the archive's root lands.
    let base: PathBuf = if dest_dir_exists && !contents_only {
        let name = archive_root_name(tar)?.unwrap_or_default();
        dest.join(name)
    } else {
        dest.to_path_buf()
    };
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_preserve_ownerships(opts.archive);
    archive.set_overwrite(true);
    let mut root_is_dot = None;
    for entry in archive.entries().map_err(bad_archive)? {
        let mut entry = entry.map_err(bad_archive)?;
        let path = entry.path().map_err(bad_archive)?.into_owned();
        let parts = normal_parts(&path).map_err(fail)?;
        // The first entry is the root: `name` (strip it) or `.` (content at the top).
        let is_dot = *root_is_dot.get_or_insert(parts.is_empty());
        let rel: PathBuf = if is_dot {
            parts.iter().collect()
        } else {
            parts.iter().skip(1).collect()
        };
        // `join("")` would add a trailing slash, which a file cannot be unpacked to.
        let target = if rel.as_os_str().is_empty() {
            base.clone()
        } else {
            base.join(&rel)
        };
        refuse_symlinked_parents(&base, &rel).map_err(fail)?;
        if entry.header().entry_type() == tar::EntryType::Link {
            let link = entry
                .link_name()
                .map_err(bad_archive)?
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let link_parts = normal_parts(&link).map_err(fail)?;
            let link_rel: PathBuf = link_parts.iter().skip(usize::from(!is_dot)).collect();
            let _ = fs::remove_file(&target);
            fs::hard_link(base.join(link_rel), &target)
                .map_err(|e| fail(format!("cannot link {}: {e}", target.display())))?;
            continue;
        }
        entry
            .unpack(&target)
            .map_err(|e| fail(format!("cannot write {}: {e}", target.display())))?;
    }
    Ok(())
}

/// The path's normal components; `..`, roots and prefixes make the archive unsafe.
fn normal_parts(path: &Path) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "the archive entry \"{}\" points outside the destination",
                    path.display()
                ))
            }
        }
    }
    Ok(parts)
}

/// Writing `base/rel` must not go through a symlink the archive (or anyone) placed there.
fn refuse_symlinked_parents(base: &Path, rel: &Path) -> Result<(), String> {
    let mut at = base.to_path_buf();
    let parents: Vec<Component> = rel.components().collect();
    for c in parents.iter().take(parents.len().saturating_sub(1)) {
        at.push(c);
        if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "refusing to write through the symbolic link {}",
                at.display()
            ));
        }
    }
    Ok(())
}

fn archive_root_name(tar: &[u8]) -> Result<Option<String>, EngineError> {
    let mut archive = tar::Archive::new(tar);
    let mut entries = archive.entries().map_err(bad_archive)?;
    match entries.next() {
        Some(first) => {
            let first = first.map_err(bad_archive)?;
            let path = first.path().map_err(bad_archive)?.into_owned();
            Ok(normal_parts(&path)
                .map_err(EngineError::new)?
                .into_iter()
                .next())
        }
        None => Ok(None),
    }
}

fn archive_root_is_dir(tar: &[u8]) -> Result<bool, EngineError> {
    let mut archive = tar::Archive::new(tar);
    let mut entries = archive.entries().map_err(bad_archive)?;
    match entries.next() {
        Some(first) => {
            Ok(first.map_err(bad_archive)?.header().entry_type() == tar::EntryType::Directory)
        }
        None => Err(EngineError::new("the runtime sent an empty archive")),
    }
}

/// An archive of host path `src` whose root is named `name` (a file, or a directory and
/// everything under it); with `src` ending in `/.`, the directory's content at the top.
pub fn pack(src: &Path, name: &str, opts: CopyOptions) -> Result<Vec<u8>, EngineError> {
    let fail = |e: std::io::Error| EngineError::new(format!("cannot read {}: {e}", src.display()));
    let contents_only = src.to_string_lossy().ends_with("/.");
    let mut builder = tar::Builder::new(Vec::new());
    // Nested links stay links; `-L` only resolves the source itself.
    builder.follow_symlinks(false);
    let meta = if opts.follow_link {
        fs::metadata(src)
    } else {
        fs::symlink_metadata(src)
    }
    .map_err(fail)?;
    if meta.is_dir() {
        let root = if contents_only { "." } else { name };
        let real = if opts.follow_link {
            fs::canonicalize(src).map_err(fail)?
        } else {
            src.to_path_buf()
        };
        builder.append_dir_all(root, &real).map_err(fail)?;
    } else if meta.file_type().is_symlink() {
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        let target = fs::read_link(src).map_err(fail)?;
        builder
            .append_link(&mut header, name, target)
            .map_err(fail)?;
    } else {
        let mut file = fs::File::open(src).map_err(fail)?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        builder
            .append_data(&mut header, name, &mut file)
            .map_err(fail)?;
    }
    builder.into_inner().map_err(fail)
}

/// Copies host path `src` into `container` at `dest`, `docker cp` style: into `dest` when it
/// is a directory there, else as `dest` itself.
pub async fn copy_in(
    runtime: &dyn Runtime,
    container: &str,
    src: &Path,
    dest: &str,
    opts: CopyOptions,
) -> Result<(), EngineError> {
    let src_name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".to_string());
    let what = format!("copy {} to {container}:{dest}", src.display());
    let tar = pack(src, &src_name, opts)?;
    match runtime
        .copy_to_container(container, dest, Bytes::from(tar))
        .await
    {
        Ok(()) => return Ok(()),
        // `dest` is not a directory there: create (or replace) it under its own name.
        Err(RuntimeError::NotFound { .. } | RuntimeError::Other { .. }) if !dest.ends_with('/') => {
        }
        Err(e) => return Err(copy_error(&what, e)),
    }
    let dest_path = Path::new(dest);
    let (parent, name) = match (dest_path.parent(), dest_path.file_name()) {
        (Some(p), Some(n)) => (
            if p.as_os_str().is_empty() {
                "/".to_string()
            } else {
                p.to_string_lossy().into_owned()
            },
            n.to_string_lossy().into_owned(),
        ),
        _ => {
            return Err(EngineError::new(format!(
                "cannot {what}: invalid destination"
            )))
        }
    };
    let tar = pack(src, &name, opts)?;
    runtime
        .copy_to_container(container, &parent, Bytes::from(tar))
        .await
        .map_err(|e| copy_error(&what, e))
}

/// Reads a whole tar stream (`cp - SERVICE:DEST`).
pub fn read_archive(mut input: impl Read) -> Result<Vec<u8>, EngineError> {
    let mut data = Vec::new();
    input.read_to_end(&mut data).map_err(|e| {
        EngineError::new(format!("cannot read the archive from standard input: {e}"))
    })?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            match data {
                Some(d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    h.set_mode(0o644);
                    h.set_cksum();
                    b.append_data(&mut h, path, *d).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    h.set_cksum();
                    b.append_data(&mut h, path, &[][..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn copy_into_an_existing_directory_keeps_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("conf", None), ("conf/a.txt", Some(b"A"))]);
        extract(&tar, "/etc/conf", dir.path(), CopyOptions::default()).unwrap();
        assert_eq!(fs::read(dir.path().join("conf/a.txt")).unwrap(), b"A");
    }

    #[test]
    fn copy_to_a_new_path_renames_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("hosts", Some(b"127.0.0.1"))]);
        let dest = dir.path().join("copied");
        extract(&tar, "/etc/hosts", &dest, CopyOptions::default()).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"127.0.0.1");
        let tar = tar_of(&[("conf", None), ("conf/a.txt", Some(b"A"))]);
        let dest = dir.path().join("newdir");
        extract(&tar, "/etc/conf", &dest, CopyOptions::default()).unwrap();
        assert_eq!(fs::read(dest.join("a.txt")).unwrap(), b"A");
    }

    #[test]
    fn copy_refuses_escaping_entries_and_dir_onto_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_cksum();
        // `append_data` refuses `..`; write the name by hand to forge a hostile archive.
        let name = b"x/../../evil";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        b.append(&h, &b"E"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let err = extract(&tar, "/x", dir.path(), CopyOptions::default()).unwrap_err();
        assert!(err.message.contains("outside the destination"), "{err}");
        let file = dir.path().join("file");
        fs::write(&file, "f").unwrap();
        let tar = tar_of(&[("conf", None)]);
        let err = extract(&tar, "/conf", &file, CopyOptions::default()).unwrap_err();
        assert!(err.message.contains("directory to a file"), "{err}");
    }

    #[test]
    fn pack_names_the_root_and_keeps_content() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/a.txt"), "A").unwrap();
        let tar = pack(&dir.path().join("src"), "dst", CopyOptions::default()).unwrap();
        let out = tempfile::tempdir().unwrap();
        extract(&tar, "/dst", &out.path().join("x"), CopyOptions::default()).unwrap();
        assert_eq!(fs::read(out.path().join("x/a.txt")).unwrap(), b"A");
    }
}
