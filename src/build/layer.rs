//! A build step's filesystem change as an image layer: the overlayfs upper directory the
//! step wrote into, packed as an OCI layer tar (uncompressed, so its blob digest is also
//! its diff id) and stored in the content store.
//!
//! overlayfs records a deletion as a 0/0 character device and a directory that hides the
//! lower one as the `trusted.overlay.opaque=y` xattr; in the tar they become the OCI
//! whiteouts `.wh.<name>` and `.wh..wh..opq`. Entries are written sorted by path and hard
//! links are kept, so the same change packs to the same bytes.
//!
//! Not for: mounting the upper directory (the builder does), nor unpacking layers (see
//! [`crate::runtime::native::unpack`]).

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::runtime::native::digest::Digest;
use crate::runtime::native::store::ImageStore;
use crate::runtime::native::ImageError;

/// The media type of the layers hoist builds.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// A layer written to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLayer {
    /// Digest of the (uncompressed) tar: the blob digest and the diff id.
    pub digest: Digest,
    pub size: u64,
}

fn layer_err(path: &Path, e: impl std::fmt::Display) -> ImageError {
    ImageError::Store {
        path: path.to_path_buf(),
        message: format!("cannot pack the layer: {e}"),
    }
}

/// Whether `upper` holds no change at all (the step wrote nothing).
pub fn is_empty(upper: &Path) -> io::Result<bool> {
    Ok(fs::read_dir(upper)?.next().is_none())
}

/// Packs `upper` as a layer into `store`. `scratch` is a directory on the same file system
/// as the store for the temporary tar.
pub fn store_layer(
    upper: &Path,
    store: &ImageStore,
    scratch: &Path,
) -> Result<StoredLayer, ImageError> {
    fs::create_dir_all(scratch).map_err(|e| layer_err(scratch, e))?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp_path = scratch.join(format!(
        "layer.{}.{}.tar",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = pack_and_store(upper, store, &tmp_path);
    let _ = fs::remove_file(&tmp_path);
    result
}

fn pack_and_store(
    upper: &Path,
    store: &ImageStore,
    tmp_path: &Path,
) -> Result<StoredLayer, ImageError> {
    let scratch = tmp_path;
    let mut tmp = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp_path)
        .map_err(|e| layer_err(tmp_path, e))?;
    let (digest, size) = {
        let mut hashing = HashingWriter {
            inner: BufWriter::new(&mut tmp),
            hasher: Sha256::new(),
            written: 0,
        };
        pack(upper, &mut hashing).map_err(|e| layer_err(upper, e))?;
        hashing.inner.flush().map_err(|e| layer_err(scratch, e))?;
        (Digest::from_hasher(hashing.hasher), hashing.written)
    };
    if !store.has_blob(&digest) {
        tmp.seek(SeekFrom::Start(0))
            .map_err(|e| layer_err(scratch, e))?;
        let mut writer = store.blob_writer(&digest)?;
        writer.write_from(&mut tmp)?;
        writer.commit()?;
    }
    Ok(StoredLayer { digest, size })
}

/// Writes the tar of `upper` to `out`.
pub fn pack(upper: &Path, out: impl Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    walk(upper, "", &mut builder, &mut links)?;
    builder.into_inner()?.flush()
}

fn walk<W: Write>(
    dir: &Path,
    prefix: &str,
    builder: &mut tar::Builder<W>,
    links: &mut HashMap<(u64, u64), String>,
) -> io::Result<()> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let rel = format!("{prefix}{name}");
        let path = entry.path();
        let meta = fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            // overlayfs's record of a deletion.
            let whiteout = format!("{prefix}{WHITEOUT_PREFIX}{name}");
            append_empty(builder, &whiteout, &meta)?;
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        if ft.is_dir() {
            header.set_size(0);
            builder.append_data(&mut header, format!("{rel}/"), io::empty())?;
            if get_xattr(&path, OPAQUE_XATTR)?.as_deref() == Some(b"y") {
                append_empty(builder, &format!("{rel}/{OPAQUE_WHITEOUT}"), &meta)?;
            }
            walk(&path, &format!("{rel}/"), builder, links)?;
            continue;
        }
        if ft.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = links.get(&key) {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                builder.append_link(&mut header, &rel, first)?;
                continue;
            }
            links.insert(key, rel.clone());
        }
        if ft.is_symlink() {
            let target = fs::read_link(&path)?;
            header.set_size(0);
            builder.append_link(&mut header, &rel, target)?;
        } else if ft.is_file() {
            let mut file = File::open(&path)?;
            builder.append_data(&mut header, &rel, &mut file)?;
        } else {
            // Devices, fifos and sockets a RUN created: their header says it all.
            header.set_size(0);
            builder.append_data(&mut header, &rel, io::empty())?;
        }
    }
    Ok(())
}

/// An empty regular file entry (a whiteout) owned like `like`.
fn append_empty<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    like: &fs::Metadata,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_uid(u64::from(like.uid()));
    header.set_gid(u64::from(like.gid()));
    header.set_mtime(u64::try_from(like.mtime()).unwrap_or(0));
    builder.append_data(&mut header, path, io::empty())
}

fn get_xattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let c_name = CString::new(name).map_err(io::Error::other)?;
    let mut buf = [0u8; 16];
    // SAFETY: both strings are NUL-terminated and live across the call; the buffer's
    // length is passed with it.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) | Some(libc::ERANGE) => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(buf[..n as usize].to_vec()))
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The paths of a layer tar, in order (for tests and `history` views).
pub fn list(tar: impl Read) -> io::Result<Vec<String>> {
    let mut archive = tar::Archive::new(tar);
    let mut out = Vec::new();
    for entry in archive.entries()? {
        out.push(entry?.path()?.to_string_lossy().into_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::native::unpack::{unpack_layer, UnpackOptions};

    fn mknod_whiteout(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path; creating a 0/0 char device needs root (tests run as root).
        let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) };
        assert_eq!(rc, 0, "mknod needs root: {}", io::Error::last_os_error());
    }

    fn set_opaque(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        let n = CString::new(OPAQUE_XATTR).unwrap();
        // SAFETY: NUL-terminated strings and a buffer with its length.
        let rc = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        assert_eq!(
            rc,
            0,
            "trusted xattrs need root: {}",
            io::Error::last_os_error()
        );
    }

    #[test]
    fn an_overlay_upper_packs_with_oci_whiteouts_and_round_trips() {
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path();
        fs::create_dir_all(u.join("app/node_modules")).unwrap();
        fs::write(u.join("app/index.js"), "x").unwrap();
        fs::hard_link(u.join("app/index.js"), u.join("app/main.js")).unwrap();
        std::os::unix::fs::symlink("index.js", u.join("app/link.js")).unwrap();
        fs::create_dir_all(u.join("etc")).unwrap();
        mknod_whiteout(&u.join("etc/removed.conf"));
        set_opaque(&u.join("app/node_modules"));

        let mut tar = Vec::new();
        pack(u, &mut tar).unwrap();
        assert_eq!(
            list(&tar[..]).unwrap(),
            [
                "app/",
                "app/index.js",
                "app/link.js",
                "app/main.js",
                "app/node_modules/",
                "app/node_modules/.wh..wh..opq",
                "etc/",
                "etc/.wh.removed.conf",
            ]
        );
        let mut again = Vec::new();
        pack(u, &mut again).unwrap();
        assert_eq!(tar, again, "the same change packs to the same bytes");

        // Applied onto a rootfs, the whiteouts delete what the lower layers had.
        let rootfs = tempfile::tempdir().unwrap();
        let r = rootfs.path();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/removed.conf"), "old").unwrap();
        fs::create_dir_all(r.join("app/node_modules/old-dep")).unwrap();
        unpack_layer(&tar[..], r, UnpackOptions::default()).unwrap();
        assert!(!r.join("etc/removed.conf").exists());
        assert!(!r.join("app/node_modules/old-dep").exists());
        assert_eq!(fs::read_to_string(r.join("app/main.js")).unwrap(), "x");
        assert_eq!(
            fs::read_link(r.join("app/link.js")).unwrap(),
            Path::new("index.js")
        );
    }

    #[test]
    fn a_real_overlay_mounts_changes_pack_as_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|d| {
            let p = dir.path().join(d);
            fs::create_dir_all(&p).unwrap();
            p
        });
        fs::create_dir_all(lower.join("data/cache")).unwrap();
        fs::write(lower.join("data/cache/old"), "old").unwrap();
        fs::write(lower.join("gone.txt"), "bye").unwrap();
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        let status = std::process::Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(&merged)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "overlay mount failed (tests run as root on a kernel with overlayfs)"
        );
        fs::remove_file(merged.join("gone.txt")).unwrap();
        fs::remove_dir_all(merged.join("data/cache")).unwrap();
        fs::create_dir(merged.join("data/cache")).unwrap();
        fs::write(merged.join("data/cache/new"), "new").unwrap();
        fs::write(merged.join("added"), "a").unwrap();
        let _ = std::process::Command::new("umount").arg(&merged).status();
        let mut tar = Vec::new();
        pack(&upper, &mut tar).unwrap();
        assert_eq!(
            list(&tar[..]).unwrap(),
            [
                "added",
                "data/",
                "data/cache/",
                "data/cache/.wh..wh..opq",
                "data/cache/new",
                ".wh.gone.txt",
            ]
        );
    }

    #[test]
    fn stored_layers_are_content_addressed() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&root.path().join("store")).unwrap();
        let upper = tempfile::tempdir().unwrap();
        assert!(is_empty(upper.path()).unwrap());
        fs::write(upper.path().join("f"), "data").unwrap();
        let a = store_layer(upper.path(), &store, &root.path().join("tmp")).unwrap();
        let b = store_layer(upper.path(), &store, &root.path().join("tmp")).unwrap();
        assert_eq!(a, b);
        let blob = store.read_blob(&a.digest).unwrap();
        assert_eq!(blob.len() as u64, a.size);
        assert_eq!(Digest::of(&blob), a.digest);
        assert_eq!(list(&blob[..]).unwrap(), ["f"]);
    }
}
