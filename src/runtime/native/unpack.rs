//! Applying an image layer (a tar, plain or gzip-compressed) onto a directory, safely.
//!
//! Two targets: a flat rootfs (every layer applied onto the same directory; whiteouts delete
//! what lower layers put there) and an overlayfs lower directory (each layer on its own;
//! whiteouts become what overlayfs reads: a 0/0 character device for a deleted entry and the
//! `trusted.overlay.opaque=y` xattr for an opaque directory).
//!
//! The archive is untrusted. Entries whose path is absolute or contains `..`, hard links
//! whose target is outside the root, and device nodes (unless allowed) are refused and
//! listed in the [`UnpackReport`]; the rest of the layer is still applied. Symlinks in the
//! path of an entry are resolved *inside* the root (as if chrooted: an absolute or `..`
//! target is clamped at the root), and the entry itself is never written through a symlink,
//! so nothing lands outside the target directory.
//!
//! Not for: choosing which layers to apply or where (snapshots are the runtime's business).

use std::collections::{HashSet, VecDeque};
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use flate2::bufread::GzDecoder;
use tar::EntryType;

use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::ImageError;

/// How a layer is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackOptions {
    /// Write whiteouts as overlayfs expects them instead of applying them.
    pub overlay: bool,
    /// Create character and block devices found in the layer (refused otherwise).
    pub allow_devices: bool,
}

/// What happened while applying a layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackReport {
    /// Entries written (files, directories, links, whiteouts).
    pub applied: usize,
    /// Entries refused, with the reason; the caller decides whether to warn or fail.
    pub refused: Vec<RefusedEntry>,
}

/// An archive entry that was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedEntry {
    pub path: String,
    pub reason: String,
}

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const MAX_SYMLINK_HOPS: usize = 40;

/// Applies the layer in `reader` (gzip or plain tar, detected from its first bytes) onto
/// `target`, which must exist.
pub fn unpack_layer(
    reader: impl Read,
    target: &Path,
    options: UnpackOptions,
) -> Result<UnpackReport, ImageError> {
    apply(decoded(reader, target)?, target, options)
}

/// The uncompressed tar stream of a layer.
fn decoded<'a>(reader: impl Read + 'a, target: &Path) -> Result<Box<dyn Read + 'a>, ImageError> {
    let mut reader = BufReader::new(reader);
    let head = reader
        .fill_buf()
        .map_err(|e| unpack_err(target, format!("cannot read the layer: {e}")))?;
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(unpack_err(
            target,
            "zstd-compressed layers are not supported yet (only gzip and plain tar)",
        ));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(GzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// [`unpack_layer`] on a file (a blob of the store). With `diff_id`, the uncompressed
/// stream must hash to it: unpacked layers are shared by chain id, which is computed from
/// the diff ids an image's config claims, so a layer whose content is not what its config
/// says would otherwise land under another image's chain id and be reused by it.
pub fn unpack_layer_file(
    layer: &Path,
    target: &Path,
    options: UnpackOptions,
    diff_id: Option<&Digest>,
) -> Result<UnpackReport, ImageError> {
    let file = File::open(layer).map_err(|e| {
        unpack_err(
            target,
            format!("cannot open layer {}: {e}", layer.display()),
        )
    })?;
    let Some(expected) = diff_id else {
        return unpack_layer(file, target, options);
    };
    let mut stream = Hashing {
        inner: decoded(file, target)?,
        hasher: Sha256::new(),
    };
    let report = apply(&mut stream, target, options)?;
    // The tar reader stops at the end-of-archive blocks; the diff id covers the padding too.
    io::copy(&mut stream, &mut io::sink())
        .map_err(|e| unpack_err(target, format!("cannot read the layer: {e}")))?;
    let actual = Digest::from_hasher(stream.hasher);
    if &actual != expected {
        return Err(ImageError::DigestMismatch {
            what: format!("the content of layer {}", layer.display()),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(report)
}

fn unpack_err(path: &Path, message: impl std::fmt::Display) -> ImageError {
    ImageError::Unpack {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn apply(
    reader: impl Read,
    root: &Path,
    options: UnpackOptions,
) -> Result<UnpackReport, ImageError> {
    let root = fs::canonicalize(root)
        .map_err(|e| unpack_err(root, format!("the target directory is not usable: {e}")))?;
    let mut archive = tar::Archive::new(reader);
    let mut report = UnpackReport::default();
    // Paths this layer wrote: an opaque whiteout hides lower layers, not this one.
    let mut written: HashSet<PathBuf> = HashSet::new();
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| unpack_err(&root, format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| unpack_err(&root, format!("corrupt layer archive: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let mut refuse = |reason: String| {
            report.refused.push(RefusedEntry {
                path: shown.clone(),
                reason,
            })
        };
        let rel = match clean_relative(OsStr::from_bytes(&raw)) {
            Ok(Some(rel)) => rel,
            Ok(None) => continue, // the root itself (`./`)
            Err(reason) => {
                refuse(reason);
                continue;
            }
        };
        let (parent_rel, name) = match (rel.parent(), rel.file_name()) {
            (Some(p), Some(n)) => (p.to_path_buf(), n.to_os_string()),
            _ => continue,
        };
        let parent = resolve_in_root(&root, &parent_rel)
            .map_err(|e| unpack_err(&root, format!("resolving {shown}: {e}")))?;
        let name_bytes = name.as_bytes();

        if name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            ensure_dir(&parent).map_err(|e| unpack_err(&parent, e))?;
            let result = if name_bytes == OPAQUE_WHITEOUT.as_bytes() {
                apply_opaque(&parent, &written, options)
            } else if name_bytes.starts_with(b".wh..wh.") {
                // aufs metadata (`.wh..wh.plnk`, ...): meaningless here.
                continue;
            } else {
                let hidden = &name_bytes[WHITEOUT_PREFIX.len()..];
                // `.wh..` would otherwise delete the parent of the directory.
                if matches!(hidden, b"" | b"." | b"..") {
                    refuse("whiteout of an invalid name".to_string());
                    continue;
                }
                apply_whiteout(&parent.join(OsStr::from_bytes(hidden)), options)
            };
            result.map_err(|e| unpack_err(&parent, format!("whiteout {shown}: {e}")))?;
            report.applied += 1;
            continue;
        }

        let dest = parent.join(&name);
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);
        let mtime = header.mtime().unwrap_or(0);
        let io_err = |e: io::Error| unpack_err(&dest, format!("writing {shown}: {e}"));

        match kind {
            EntryType::Directory => {
                ensure_dir(&parent).map_err(io_err)?;
                match fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_any(&dest).map_err(io_err)?;
                        fs::create_dir(&dest).map_err(io_err)?;
                    }
                    Err(_) => fs::create_dir(&dest).map_err(io_err)?,
                }
                set_owner_mode(&dest, uid, gid, Some(mode)).map_err(io_err)?;
                dir_times.push((dest.clone(), mtime));
            }
            EntryType::Regular | EntryType::Continuous => {
                ensure_dir(&parent).map_err(io_err)?;
                replace(&dest).map_err(io_err)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&dest)
                    .map_err(io_err)?;
                io::copy(&mut entry, &mut file).map_err(io_err)?;
                drop(file);
                set_owner_mode(&dest, uid, gid, Some(mode)).map_err(io_err)?;
                set_mtime(&dest, mtime);
            }
            EntryType::Symlink => {
                let Some(link) = entry.link_name_bytes().map(|l| l.into_owned()) else {
                    refuse("symlink without a target".to_string());
                    continue;
                };
                ensure_dir(&parent).map_err(io_err)?;
                replace(&dest).map_err(io_err)?;
                // Any target is fine to *create*: it is only ever followed inside the root.
                symlink(OsStr::from_bytes(&link), &dest).map_err(io_err)?;
                set_owner_mode(&dest, uid, gid, None).map_err(io_err)?;
                set_mtime(&dest, mtime);
            }
            EntryType::Link => {
                let Some(link) = entry.link_name_bytes().map(|l| l.into_owned()) else {
                    refuse("hard link without a target".to_string());
                    continue;
                };
                let source = match hard_link_source(&root, OsStr::from_bytes(&link)) {
                    Ok(source) => source,
                    Err(reason) => {
                        refuse(reason);
                        continue;
                    }
                };
                match fs::symlink_metadata(&source) {
                    Ok(m) if m.is_dir() => {
                        refuse("hard link to a directory".to_string());
                        continue;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        refuse(format!(
                            "hard link to {}, which the layer did not create",
                            String::from_utf8_lossy(&link)
                        ));
                        continue;
                    }
                }
                ensure_dir(&parent).map_err(io_err)?;
                if source != dest {
                    replace(&dest).map_err(io_err)?;
                    fs::hard_link(&source, &dest).map_err(io_err)?;
                }
            }
            EntryType::Fifo | EntryType::Char | EntryType::Block => {
                let (file_type, is_device) = match kind {
                    EntryType::Fifo => (libc::S_IFIFO, false),
                    EntryType::Char => (libc::S_IFCHR, true),
                    _ => (libc::S_IFBLK, true),
                };
                if is_device && !options.allow_devices {
                    refuse("device nodes are not allowed in this layer".to_string());
                    continue;
                }
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                ensure_dir(&parent).map_err(io_err)?;
                replace(&dest).map_err(io_err)?;
                mknod(&dest, file_type | 0o600, libc::makedev(major, minor)).map_err(io_err)?;
                set_owner_mode(&dest, uid, gid, Some(mode)).map_err(io_err)?;
            }
            // PAX/GNU metadata entries are consumed by the tar crate; anything else
            // (sparse files, unknown types) is reported rather than guessed at.
            other => {
                refuse(format!("unsupported entry type {other:?}"));
                continue;
            }
        }
        apply_xattrs(&mut entry, &dest);
        // Directories created implicitly for this entry belong to this layer too.
        for ancestor in dest.ancestors() {
            if ancestor == root || !written.insert(ancestor.to_path_buf()) {
                break;
            }
        }
        report.applied += 1;
    }
    // Directory times last: creating their children changed them.
    for (dir, mtime) in dir_times.into_iter().rev() {
        set_mtime(&dir, mtime);
    }
    Ok(report)
}

/// The entry path as plain relative components; `Err` when it is absolute or climbs with
/// `..` (refused, never clamped: a layer that tries is malicious or broken).
fn clean_relative(path: &OsStr) -> Result<Option<PathBuf>, String> {
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute path in a layer".to_string())
            }
            Component::ParentDir => return Err("path contains `..`".to_string()),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// The in-root path a hard link points at. Link names are relative to the root (Docker
/// joins absolute ones onto it); any `..` is refused.
fn hard_link_source(root: &Path, link: &OsStr) -> Result<PathBuf, String> {
    let mut rel = PathBuf::new();
    for component in Path::new(link).components() {
        match component {
            Component::Normal(c) => rel.push(c),
            Component::CurDir | Component::RootDir => {}
            _ => return Err("hard link target outside the root".to_string()),
        }
    }
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err("hard link to the root".to_string());
    };
    let parent = resolve_in_root(root, parent).map_err(|e| e.to_string())?;
    Ok(parent.join(name))
}

/// Resolves `rel` under `root` following symlinks as if `root` were `/`: an absolute
/// target restarts at the root and `..` never climbs above it. The result has no symlink
/// in any existing component, so writing below it cannot escape.
pub fn resolve_in_root(root: &Path, rel: &Path) -> io::Result<PathBuf> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: VecDeque<OsString> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push_front(n.to_os_string()),
                        Component::ParentDir => pending.push_front(OsString::from("..")),
                        _ => {}
                    }
                }
            }
            _ => resolved.push(part),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

/// Creates `dir` and missing parents (which [`resolve_in_root`] proved symlink-free).
pub(super) fn ensure_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::other(format!(
            "{} exists and is not a directory",
            dir.display()
        ))),
        Err(_) => fs::create_dir_all(dir),
    }
}

/// Makes room for a new non-directory entry at `path` (tar semantics: the last one wins).
fn replace(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => remove_any(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes `path` whatever it is (a directory with its content, a symlink itself); a
/// missing one is fine.
pub(super) fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn apply_whiteout(hidden: &Path, options: UnpackOptions) -> io::Result<()> {
    remove_any(hidden)?;
    if options.overlay {
        mknod(hidden, libc::S_IFCHR, libc::makedev(0, 0))?;
    }
    Ok(())
}

fn apply_opaque(dir: &Path, written: &HashSet<PathBuf>, options: UnpackOptions) -> io::Result<()> {
    if options.overlay {
        return set_xattr(dir, "trusted.overlay.opaque", b"y");
    }
    for child in fs::read_dir(dir)? {
        let child = child?.path();
        if !written.contains(&child) {
            remove_any(&child)?;
        }
    }
    Ok(())
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("path contains a NUL byte"))
}

fn mknod(path: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    let c = c_path(path)?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::mknod(c.as_ptr(), mode, dev) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c = c_path(path)?;
    let n = CString::new(name).map_err(|_| io::Error::other("xattr name contains NUL"))?;
    // SAFETY: valid C strings and a buffer of the stated length; lsetxattr never follows
    // a symlink.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Applies ownership (when running as root: otherwise the files are simply ours) and the
/// mode; the mode comes after chown because chown clears setuid bits.
fn set_owner_mode(path: &Path, uid: u64, gid: u64, mode: Option<u32>) -> io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let c = c_path(path)?;
        let (uid, gid) = (
            libc::uid_t::try_from(uid).map_err(|_| io::Error::other("uid out of range"))?,
            libc::gid_t::try_from(gid).map_err(|_| io::Error::other("gid out of range"))?,
        );
        // SAFETY: valid C string; lchown does not follow symlinks.
        if unsafe { libc::lchown(c.as_ptr(), uid, gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Best effort: a wrong mtime breaks nothing that runs.
fn set_mtime(path: &Path, mtime: u64) {
    let Ok(c) = c_path(path) else { return };
    let t = libc::timespec {
        tv_sec: libc::time_t::try_from(mtime).unwrap_or(0),
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: valid C string and a two-element timespec array, as utimensat requires.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
}

/// File capabilities and user xattrs recorded as PAX `SCHILY.xattr.*`; others (notably
/// `trusted.overlay.*`, which would forge whiteouts) are not applied.
fn apply_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>, dest: &Path) {
    let Ok(Some(extensions)) = entry.pax_extensions() else {
        return;
    };
    for ext in extensions.flatten() {
        let Ok(key) = ext.key() else { continue };
        let Some(name) = key.strip_prefix("SCHILY.xattr.") else {
            continue;
        };
        if name == "security.capability" || name.starts_with("user.") {
            let _ = set_xattr(dest, name, ext.value_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar built entry by entry, including entries `tar::Builder` would refuse.
    struct Layer(tar::Builder<Vec<u8>>);

    impl Layer {
        fn new() -> Self {
            Layer(tar::Builder::new(Vec::new()))
        }

        fn raw(&mut self, path: &str, kind: EntryType, link: &str, data: &[u8]) -> &mut Self {
            let mut h = tar::Header::new_gnu();
            {
                let name = &mut h.as_old_mut().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
            }
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(if kind == EntryType::Directory {
                0o755
            } else {
                0o644
            });
            if !link.is_empty() {
                let l = &mut h.as_old_mut().linkname;
                l[..link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }

        fn file(&mut self, path: &str, data: &str) -> &mut Self {
            self.raw(path, EntryType::Regular, "", data.as_bytes())
        }

        fn dir(&mut self, path: &str) -> &mut Self {
            self.raw(path, EntryType::Directory, "", b"")
        }

        fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
            self.raw(path, EntryType::Symlink, target, b"")
        }

        fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
            self.raw(path, EntryType::Link, target, b"")
        }

        fn bytes(&mut self) -> Vec<u8> {
            std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
                .into_inner()
                .unwrap()
        }
    }

    #[test]
    fn a_layer_is_unpacked_only_when_it_hashes_to_its_diff_id() {
        let (dir, root, _) = sandbox();
        let tar = Layer::new().file("a.txt", "real").bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let blob = dir.path().join("blob");
        fs::write(&blob, gz.finish().unwrap()).unwrap();
        let mut hasher = Sha256::new();
        hasher.update(&tar);
        let diff_id = Digest::from_hasher(hasher);
        let claimed = Digest::from_hasher(Sha256::new());
        let err =
            unpack_layer_file(&blob, &root, UnpackOptions::default(), Some(&claimed)).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        let other = dir.path().join("other");
        fs::create_dir(&other).unwrap();
        unpack_layer_file(&blob, &other, UnpackOptions::default(), Some(&diff_id)).unwrap();
        assert_eq!(fs::read_to_string(other.join("a.txt")).unwrap(), "real");
    }

    /// A sandbox: `outside/` is what must never change, `root/` the unpack target.
    fn sandbox() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("victim"), "original").unwrap();
        (dir, root, outside)
    }

    fn assert_outside_untouched(outside: &Path) {
        let names: Vec<_> = fs::read_dir(outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![OsString::from("victim")],
            "something landed outside"
        );
        assert_eq!(
            fs::read_to_string(outside.join("victim")).unwrap(),
            "original"
        );
    }

    fn unpack(bytes: &[u8], root: &Path, options: UnpackOptions) -> UnpackReport {
        unpack_layer(bytes, root, options).unwrap()
    }

    #[test]
    fn files_dirs_and_links_are_applied_from_plain_and_gzip_tars() {
        let (_dir, root, _) = sandbox();
        let tar = Layer::new()
            .dir("bin/")
            .file("bin/busybox", "ELF")
            .symlink("bin/sh", "busybox")
            .hardlink("bin/ash", "bin/busybox")
            .file("./etc/passwd", "root")
            .bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        for layer in [&tar, &gz] {
            let report = unpack(layer, &root, UnpackOptions::default());
            assert!(report.refused.is_empty(), "{report:?}");
            assert_eq!(fs::read_to_string(root.join("bin/sh")).unwrap(), "ELF");
            assert_eq!(fs::read_to_string(root.join("bin/ash")).unwrap(), "ELF");
            assert_eq!(fs::read_to_string(root.join("etc/passwd")).unwrap(), "root");
        }
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        let (_dir, root, outside) = sandbox();
        let report = unpack(
            &Layer::new()
                .file("../outside/victim", "pwned")
                .file("a/../../outside/new", "pwned")
                .file("/abs-escape", "pwned")
                .file("ok", "fine")
                .bytes(),
            &root,
            UnpackOptions::default(),
        );
        assert_eq!(report.refused.len(), 3, "{report:?}");
        assert_eq!(report.applied, 1);
        assert!(root.join("ok").exists());
        assert!(!root.parent().unwrap().join("abs-escape").exists());
        assert_outside_untouched(&outside);
    }

    #[test]
    fn symlinks_pointing_out_are_never_followed_while_writing() {
        let (_dir, root, outside) = sandbox();
        let out = outside.to_str().unwrap().to_string();
        let report = unpack(
            &Layer::new()
                // Absolute and relative symlinks to the outside directory...
                .symlink("abs", &out)
                .symlink("rel", "../outside")
                .symlink("victimlink", &format!("{out}/victim"))
                // ...then writes through them and onto them.
                .file("abs/victim", "pwned")
                .file("rel/new", "pwned")
                .file("victimlink", "pwned")
                .dir("rel/newdir/")
                .bytes(),
            &root,
            UnpackOptions::default(),
        );
        assert!(report.refused.is_empty(), "{report:?}");
        assert_outside_untouched(&outside);
        // The writes went to the in-root resolution of each symlink.
        assert_eq!(
            fs::read_to_string(root.join(outside.strip_prefix("/").unwrap()).join("victim"))
                .unwrap(),
            "pwned"
        );
        assert_eq!(
            fs::read_to_string(root.join("outside/new")).unwrap(),
            "pwned"
        );
        assert!(root.join("outside/newdir").is_dir());
        assert_eq!(
            fs::read_to_string(root.join("victimlink")).unwrap(),
            "pwned"
        );
    }

    #[test]
    fn hard_links_out_of_the_root_are_refused() {
        let (_dir, root, outside) = sandbox();
        let out = outside.to_str().unwrap().to_string();
        let report = unpack(
            &Layer::new()
                .hardlink("h1", "../outside/victim")
                .hardlink("h2", &format!("{out}/victim"))
                .symlink("esc", &out)
                .hardlink("h3", "esc/victim")
                .bytes(),
            &root,
            UnpackOptions::default(),
        );
        assert_eq!(report.refused.len(), 3, "{report:?}");
        for name in ["h1", "h2", "h3"] {
            assert!(!root.join(name).exists(), "{name}");
        }
        assert_outside_untouched(&outside);
    }

    #[test]
    fn zstd_layers_are_reported_not_misread() {
        let (_dir, root, _) = sandbox();
        let zstd: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd, 0, 0];
        let err = unpack_layer(zstd, &root, UnpackOptions::default()).unwrap_err();
        assert!(err.to_string().contains("zstd"), "{err}");
    }

    #[test]
    fn device_nodes_need_the_flag() {
        let (_dir, root, _) = sandbox();
        let layer = Layer::new()
            .raw("dev-null", EntryType::Char, "", b"")
            .raw("blk", EntryType::Block, "", b"")
            .raw("fifo", EntryType::Fifo, "", b"")
            .bytes();
        let report = unpack(&layer, &root, UnpackOptions::default());
        assert_eq!(report.refused.len(), 2, "{report:?}");
        assert!(!root.join("dev-null").exists());
        assert!(root.join("fifo").exists());
    }

    #[test]
    fn whiteouts_delete_lower_content_in_a_flat_rootfs() {
        let (_dir, root, outside) = sandbox();
        unpack(
            &Layer::new()
                .file("etc/a", "1")
                .file("etc/b", "1")
                .file("var/cache/x", "1")
                .file("var/cache/y", "1")
                .bytes(),
            &root,
            UnpackOptions::default(),
        );
        let report = unpack(
            &Layer::new()
                .file("etc/.wh.a", "")
                .file("var/cache/new", "2")
                .file("var/cache/sub/deep", "2")
                .file("var/cache/.wh..wh..opq", "")
                .file(".wh...", "")
                .symlink("out", outside.to_str().unwrap())
                .file("out/.wh.victim", "")
                .bytes(),
            &root,
            UnpackOptions::default(),
        );
        assert!(!root.join("etc/a").exists());
        assert!(root.join("etc/b").exists());
        assert!(!root.join("var/cache/x").exists());
        assert!(!root.join("var/cache/y").exists());
        assert!(
            root.join("var/cache/new").exists(),
            "this layer's own entries stay"
        );
        assert!(
            root.join("var/cache/sub/deep").exists(),
            "with their implicit parents"
        );
        assert!(!root.join("etc/.wh.a").exists());
        assert_eq!(report.refused.len(), 1, "{report:?}");
        assert!(root.exists());
        assert_outside_untouched(&outside);
    }

    #[test]
    fn whiteouts_become_overlayfs_markers_in_overlay_mode() {
        use std::os::unix::fs::FileTypeExt;
        let (_dir, root, _) = sandbox();
        unpack(
            &Layer::new()
                .file("etc/.wh.gone", "")
                .dir("opaque/")
                .file("opaque/.wh..wh..opq", "")
                .bytes(),
            &root,
            UnpackOptions {
                overlay: true,
                allow_devices: false,
            },
        );
        let meta = fs::symlink_metadata(root.join("etc/gone")).unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!(std::os::unix::fs::MetadataExt::rdev(&meta), 0);
        assert!(!root.join("opaque/.wh..wh..opq").exists());
        let c = c_path(&root.join("opaque")).unwrap();
        let name = CString::new("trusted.overlay.opaque").unwrap();
        let mut buf = [0u8; 4];
        // SAFETY: valid C strings and buffer.
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert_eq!(n, 1, "{}", io::Error::last_os_error());
        assert_eq!(buf[0], b'y');
    }
}
