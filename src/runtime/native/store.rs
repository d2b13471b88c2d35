//! The local image store under the data root (`$HOIST_ROOT`, default `/var/lib/hoist`): a
//! content-addressed blob store (`blobs/sha256/<hex>`, the OCI layout) and image records
//! (reference -> manifest, config, layers) in an embedded transactional database (redb,
//! `state.redb`).
//!
//! Every blob is written to `blobs/tmp/`, hashed while written, fsynced, and renamed into
//! place only when its digest matches, so a crash leaves either no blob or a complete,
//! verified one; leftovers in `blobs/tmp/` are removed on the next open. Image records are
//! committed after their blobs, so a record never points at missing content.
//!
//! Not for: fetching content (see [`super::registry`]), unpacking layers (see
//! [`super::unpack`]) or container state.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, Durability, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::oci::{Descriptor, ImageConfig};
use super::ImageError;

/// Image records by normalized reference (`docker.io/library/node:latest`); values are
/// serde_json-encoded [`ImageRecord`]s, written inside redb transactions.
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");

/// Where blobs came from: by blob digest, the repositories (`<domain>/<path>`) the blob was
/// pulled from or pushed to, most recent first, as a serde_json list. A push offers the
/// registry a cross-repository mount from one of them instead of uploading the bytes.
const BLOB_SOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("blob_sources");

/// Repositories remembered per blob (Docker keeps a few candidates too).
const MAX_BLOB_SOURCES: usize = 4;

/// The default data root when `$HOIST_ROOT` is unset.
pub const DEFAULT_ROOT: &str = "/var/lib/hoist";

/// What the store knows about one tagged (or digest-pinned) image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Digest of the platform-specific manifest (what `docker images --digests` shows is
    /// the index digest; see `index_digest`).
    pub manifest_digest: Digest,
    /// Digest of the index the manifest was picked from, when the reference named one.
    pub index_digest: Option<Digest>,
    pub config: Descriptor,
    /// Compressed layer blobs, bottom first.
    pub layers: Vec<Descriptor>,
}

/// The content store and image database under one data root.
pub struct ImageStore {
    root: PathBuf,
    db: Database,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.root)
            .finish()
    }
}

/// How long [`ImageStore::open`] waits for another hoist process to release the database.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Opens the redb file, waiting while another process holds it: redb locks the file for as
/// long as it is open, and hoist processes (a `logs -f` next to an `up`, a container
/// monitor removing its container) only hold it for one operation.
fn open_database(db_path: &Path) -> Result<Database, ImageError> {
    let started = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(1);
    loop {
        match Database::create(db_path) {
            Ok(db) => return Ok(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(20));
            }
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(store_err(
                    db_path,
                    format!(
                        "another hoist process has held the state database for {}s; \
                         find it with `fuser {}`",
                        LOCK_WAIT.as_secs(),
                        db_path.display()
                    ),
                ))
            }
            Err(e) => {
                return Err(store_err(
                    db_path,
                    format!("cannot open the state database: {e}"),
                ))
            }
        }
    }
}

/// Whether a temporary blob name `<hex>.<pid>.<n>` belongs to a process still running.
pub(crate) fn written_by_live_process(name: &str) -> bool {
    let Some(pid) = name.split('.').nth(1).and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    Path::new(&format!("/proc/{pid}")).exists()
}

/// `$HOIST_ROOT`, or [`DEFAULT_ROOT`].
pub fn data_root() -> PathBuf {
    std::env::var_os("HOIST_ROOT")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_ROOT), PathBuf::from)
}

fn store_err(path: &Path, message: impl std::fmt::Display) -> ImageError {
    ImageError::Store {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root`. redb locks its file for as long
    /// as the store is open: hold it for one operation, then drop it (other hoist processes
    /// wait for it, see [`open_database`]).
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        for dir in ["blobs/sha256", "blobs/tmp"] {
            let path = root.join(dir);
            fs::create_dir_all(&path)
                .map_err(|e| store_err(&path, format!("cannot create directory: {e}")))?;
        }
        // Half-written blobs of a crashed pull: never referenced, safe to drop. Another
        // live hoist process may be writing its own (`<hex>.<pid>.<n>`): those stay.
        let tmp = root.join("blobs/tmp");
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                if !written_by_live_process(&entry.file_name().to_string_lossy()) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let db_path = root.join("state.redb");
        let db = open_database(&db_path)?;
        let store = ImageStore {
            root: root.to_path_buf(),
            db,
        };
        // Create the table up front so readers never meet a missing table; only once: a
        // write transaction costs an fsync, and the store is opened per operation.
        let exists = store
            .db
            .begin_read()
            .is_ok_and(|tx| tx.open_table(IMAGES).is_ok());
        if !exists {
            store.write_tx(|table| {
                let _ = table;
                Ok(())
            })?;
        }
        Ok(store)
    }

    /// Opens the store under [`data_root`].
    pub fn open_default() -> Result<ImageStore, ImageError> {
        ImageStore::open(&data_root())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The state database, for the other parts of the native runtime to add their tables.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Where the blob with `digest` lives (whether or not it is present).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a whole blob (manifests, configs: small ones) and re-verifies its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        let path = self.blob_path(digest);
        let data =
            fs::read(&path).map_err(|e| store_err(&path, format!("cannot read blob: {e}")))?;
        digest.verify(&format!("blob {}", path.display()), &data)?;
        Ok(data)
    }

    /// Opens a blob for streaming (layers).
    pub fn open_blob(&self, digest: &Digest) -> Result<File, ImageError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| store_err(&path, format!("cannot open blob: {e}")))
    }

    /// Stores `data` under `expected`, failing (and storing nothing) when it hashes to
    /// something else.
    pub fn write_blob(&self, expected: &Digest, data: &[u8]) -> Result<PathBuf, ImageError> {
        let mut writer = self.blob_writer(expected)?;
        writer.write(data)?;
        writer.commit()
    }

    /// Starts an atomic, verified write of the blob `expected`.
    pub fn blob_writer(&self, expected: &Digest) -> Result<BlobWriter, ImageError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp = self.root.join("blobs/tmp").join(format!(
            "{}.{}.{}",
            expected.hex(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| store_err(&tmp, format!("cannot create temporary blob: {e}")))?;
        Ok(BlobWriter {
            file: Some(file),
            tmp,
            target: self.blob_path(expected),
            hasher: Sha256::new(),
            expected: expected.clone(),
            written: 0,
        })
    }

    /// Stores whatever `reader` yields under the digest it hashes to (content of unknown
    /// digest: the files of an archive being loaded); returns the digest and size.
    pub fn ingest(&self, reader: &mut impl Read) -> Result<(Digest, u64), ImageError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp = self.root.join("blobs/tmp").join(format!(
            "ingest.{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| store_err(&tmp, format!("cannot create temporary blob: {e}")))?;
        let outcome = (|| {
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = reader
                    .read(&mut buf)
                    .map_err(|e| store_err(&tmp, format!("cannot read the content: {e}")))?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n])
                    .map_err(|e| store_err(&tmp, format!("cannot write blob: {e}")))?;
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            file.sync_all()
                .map_err(|e| store_err(&tmp, format!("cannot fsync blob: {e}")))?;
            let digest = Digest::from_hasher(hasher);
            let target = self.blob_path(&digest);
            fs::rename(&tmp, &target)
                .map_err(|e| store_err(&target, format!("cannot move blob into place: {e}")))?;
            Ok((digest, size))
        })();
        if outcome.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        outcome
    }

    /// Every blob in the store with its size.
    pub fn blobs(&self) -> Result<Vec<(Digest, u64)>, ImageError> {
        let dir = self.root.join("blobs/sha256");
        let entries =
            fs::read_dir(&dir).map_err(|e| store_err(&dir, format!("cannot list blobs: {e}")))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(digest) = format!("sha256:{name}").parse::<Digest>() else {
                continue;
            };
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((digest, size));
        }
        Ok(out)
    }

    /// Deletes a blob (garbage collection: nothing may reference it).
    pub fn delete_blob(&self, digest: &Digest) -> Result<(), ImageError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(store_err(&path, format!("cannot delete blob: {e}"))),
        }
    }

    /// Records (or replaces) the image `reference` (a normalized reference string).
    pub fn put_image(&self, reference: &str, record: &ImageRecord) -> Result<(), ImageError> {
        self.put_image_with(reference, record, Durability::Immediate)
    }

    /// [`ImageStore::put_image`] for a name that only lives while this process runs (a
    /// build step's private name): committed without a sync, so it costs no `fdatasync`.
    /// Other transactions see it at once; it reaches the disk with the next durable commit
    /// or the store's close, and a crash loses it, which such a name wants anyway (what a
    /// crash leaves of one, prune removes). Remove it with
    /// [`ImageStore::remove_transient_image`].
    pub fn put_transient_image(
        &self,
        reference: &str,
        record: &ImageRecord,
    ) -> Result<(), ImageError> {
        self.put_image_with(reference, record, Durability::None)
    }

    fn put_image_with(
        &self,
        reference: &str,
        record: &ImageRecord,
        durability: Durability,
    ) -> Result<(), ImageError> {
        for d in std::iter::once(&record.config).chain(&record.layers) {
            if !self.has_blob(&d.digest) {
                return Err(store_err(
                    &self.blob_path(&d.digest),
                    format!(
                        "refusing to record {reference}: blob {} is missing",
                        d.digest
                    ),
                ));
            }
        }
        let value = serde_json::to_vec(record).map_err(|e| store_err(&self.root, e))?;
        self.write_tx_with(durability, |table| {
            table.insert(reference, value.as_slice())?;
            Ok(())
        })
    }

    /// The record of `reference`, if the store has it.
    pub fn image(&self, reference: &str) -> Result<Option<ImageRecord>, ImageError> {
        let path = self.root.join("state.redb");
        let err = |e: &dyn std::fmt::Display| store_err(&path, format!("reading images: {e}"));
        let tx = self.db.begin_read().map_err(|e| err(&e))?;
        let table = tx.open_table(IMAGES).map_err(|e| err(&e))?;
        let Some(value) = table.get(reference).map_err(|e| err(&e))? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(|e| err(&format!("corrupt record for {reference}: {e}")))
    }

    /// Every image record, by reference.
    pub fn images(&self) -> Result<Vec<(String, ImageRecord)>, ImageError> {
        let path = self.root.join("state.redb");
        let err = |e: &dyn std::fmt::Display| store_err(&path, format!("listing images: {e}"));
        let tx = self.db.begin_read().map_err(|e| err(&e))?;
        let table = tx.open_table(IMAGES).map_err(|e| err(&e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| err(&e))? {
            let (key, value) = row.map_err(|e| err(&e))?;
            let record = serde_json::from_slice(value.value())
                .map_err(|e| err(&format!("corrupt record for {}: {e}", key.value())))?;
            out.push((key.value().to_string(), record));
        }
        Ok(out)
    }

    /// Forgets `reference` (its blobs stay until a prune). Returns whether it existed.
    pub fn remove_image(&self, reference: &str) -> Result<bool, ImageError> {
        self.remove_image_with(reference, Durability::Immediate)
    }

    /// Forgets a name recorded by [`ImageStore::put_transient_image`], without a sync.
    pub fn remove_transient_image(&self, reference: &str) -> Result<bool, ImageError> {
        self.remove_image_with(reference, Durability::None)
    }

    fn remove_image_with(
        &self,
        reference: &str,
        durability: Durability,
    ) -> Result<bool, ImageError> {
        let mut existed = false;
        self.write_tx_with(durability, |table| {
            existed = table.remove(reference)?.is_some();
            Ok(())
        })?;
        Ok(existed)
    }

    /// Reads and parses the configuration blob of `record`.
    pub fn image_config(&self, record: &ImageRecord) -> Result<ImageConfig, ImageError> {
        let data = self.read_blob(&record.config.digest)?;
        serde_json::from_slice(&data).map_err(|e| {
            store_err(
                &self.blob_path(&record.config.digest),
                format!("the image configuration is not valid JSON: {e}"),
            )
        })
    }

    /// Notes that the registry repository `repository` (`<domain>/<path>`) holds each of
    /// `digests`, in one transaction.
    pub fn record_blob_sources(
        &self,
        digests: &[Digest],
        repository: &str,
    ) -> Result<(), ImageError> {
        if digests.is_empty() {
            return Ok(());
        }
        let path = self.root.join("state.redb");
        let err =
            |e: &dyn std::fmt::Display| store_err(&path, format!("writing blob sources: {e}"));
        let tx = self.db.begin_write().map_err(|e| err(&e))?;
        {
            let mut table = tx.open_table(BLOB_SOURCES).map_err(|e| err(&e))?;
            for digest in digests {
                let key = digest.to_string();
                let mut sources: Vec<String> = table
                    .get(key.as_str())
                    .map_err(|e| err(&e))?
                    .and_then(|v| serde_json::from_slice(v.value()).ok())
                    .unwrap_or_default();
                sources.retain(|s| s != repository);
                sources.insert(0, repository.to_string());
                sources.truncate(MAX_BLOB_SOURCES);
                let value = serde_json::to_vec(&sources).map_err(|e| err(&e))?;
                table
                    .insert(key.as_str(), value.as_slice())
                    .map_err(|e| err(&e))?;
            }
        }
        tx.commit().map_err(|e| err(&e))
    }

    /// The repositories known to hold `digest`, most recent first (none when unknown).
    pub fn blob_sources(&self, digest: &Digest) -> Result<Vec<String>, ImageError> {
        let path = self.root.join("state.redb");
        let err =
            |e: &dyn std::fmt::Display| store_err(&path, format!("reading blob sources: {e}"));
        let tx = self.db.begin_read().map_err(|e| err(&e))?;
        let table = match tx.open_table(BLOB_SOURCES) {
            Ok(table) => table,
            // Nothing was ever pulled or pushed since the table was introduced.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(err(&e)),
        };
        let Some(value) = table
            .get(digest.to_string().as_str())
            .map_err(|e| err(&e))?
        else {
            return Ok(Vec::new());
        };
        // A corrupt row only costs a mount attempt: treat it as unknown.
        Ok(serde_json::from_slice(value.value()).unwrap_or_default())
    }

    /// Forgets where `digests` came from (they were deleted).
    pub fn forget_blob_sources(&self, digests: &[Digest]) -> Result<(), ImageError> {
        if digests.is_empty() {
            return Ok(());
        }
        let path = self.root.join("state.redb");
        let err =
            |e: &dyn std::fmt::Display| store_err(&path, format!("writing blob sources: {e}"));
        let tx = self.db.begin_write().map_err(|e| err(&e))?;
        {
            let mut table = tx.open_table(BLOB_SOURCES).map_err(|e| err(&e))?;
            for digest in digests {
                table
                    .remove(digest.to_string().as_str())
                    .map_err(|e| err(&e))?;
            }
        }
        tx.commit().map_err(|e| err(&e))
    }

    fn write_tx(
        &self,
        f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), ImageError> {
        self.write_tx_with(Durability::Immediate, f)
    }

    fn write_tx_with(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), ImageError> {
        let path = self.root.join("state.redb");
        let err = |e: &dyn std::fmt::Display| store_err(&path, format!("writing images: {e}"));
        let mut tx = self.db.begin_write().map_err(|e| err(&e))?;
        tx.set_durability(durability);
        {
            let mut table = tx.open_table(IMAGES).map_err(|e| err(&e))?;
            f(&mut table).map_err(|e| err(&e))?;
        }
        tx.commit().map_err(|e| err(&e))
    }
}

/// An in-progress blob write: hashed as it is written, moved into place by [`commit`]
/// only when the digest matches. Dropping it without committing removes the temp file.
///
/// [`commit`]: BlobWriter::commit
#[derive(Debug)]
pub struct BlobWriter {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
    hasher: Sha256,
    expected: Digest,
    written: u64,
}

impl BlobWriter {
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ImageError> {
        let Some(file) = self.file.as_mut() else {
            return Err(store_err(&self.tmp, "write after commit"));
        };
        file.write_all(chunk)
            .map_err(|e| store_err(&self.tmp, format!("cannot write blob: {e}")))?;
        self.hasher.update(chunk);
        self.written += chunk.len() as u64;
        Ok(())
    }

    /// Copies everything from `reader` into the blob.
    pub fn write_from(&mut self, reader: &mut impl Read) -> Result<(), ImageError> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| store_err(&self.tmp, format!("cannot read blob source: {e}")))?;
            if n == 0 {
                return Ok(());
            }
            self.write(&buf[..n])?;
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies the digest, fsyncs, and renames the blob into place.
    pub fn commit(mut self) -> Result<PathBuf, ImageError> {
        let hasher = std::mem::take(&mut self.hasher);
        let actual = Digest::from_hasher(hasher);
        if actual != self.expected {
            return Err(ImageError::DigestMismatch {
                what: format!("blob {}", self.expected),
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            });
        }
        if let Some(file) = self.file.take() {
            file.sync_all()
                .map_err(|e| store_err(&self.tmp, format!("cannot fsync blob: {e}")))?;
        }
        fs::rename(&self.tmp, &self.target)
            .map_err(|e| store_err(&self.target, format!("cannot move blob into place: {e}")))?;
        // The rename itself must reach the disk before a record points at the blob.
        if let Some(dir) = self.target.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(self.target.clone())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful commit the temp path no longer exists; this is a no-op then.
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(store: &ImageStore, data: &[u8]) -> Descriptor {
        let digest = Digest::of(data);
        store.write_blob(&digest, data).unwrap();
        Descriptor {
            media_type: "application/octet-stream".to_string(),
            digest,
            size: data.len() as u64,
            platform: None,
        }
    }

    #[test]
    fn blobs_are_verified_and_stored_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let digest = Digest::of(b"layer");
        let path = store.write_blob(&digest, b"layer").unwrap();
        assert_eq!(path, dir.path().join("blobs/sha256").join(digest.hex()));
        assert_eq!(store.read_blob(&digest).unwrap(), b"layer");

        let wrong = Digest::of(b"other");
        let err = store.write_blob(&wrong, b"layer").unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(!store.has_blob(&wrong));
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_tampered_blob_is_detected_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let digest = Digest::of(b"config");
        store.write_blob(&digest, b"config").unwrap();
        fs::write(store.blob_path(&digest), b"c0nfig").unwrap();
        assert!(store.read_blob(&digest).is_err());
    }

    #[test]
    fn a_transient_name_is_seen_at_once_and_kept_by_a_clean_close() {
        let dir = tempfile::tempdir().unwrap();
        let reference = "hoist-build.invalid/step:abc-1";
        let record = {
            let store = ImageStore::open(dir.path()).unwrap();
            let record = ImageRecord {
                manifest_digest: Digest::of(b"manifest"),
                index_digest: None,
                config: descriptor(&store, br#"{"config":{}}"#),
                layers: vec![descriptor(&store, b"tar")],
            };
            store.put_transient_image(reference, &record).unwrap();
            assert_eq!(store.image(reference).unwrap(), Some(record.clone()));
            // A durable commit after it keeps it as well.
            store
                .put_image("docker.io/library/y:latest", &record)
                .unwrap();
            record
        };
        // Closed cleanly: the unsynced commit reached the file too.
        let store = ImageStore::open(dir.path()).unwrap();
        assert_eq!(store.image(reference).unwrap(), Some(record));
        assert!(store.remove_transient_image(reference).unwrap());
        assert_eq!(store.image(reference).unwrap(), None);
        drop(store);
        let store = ImageStore::open(dir.path()).unwrap();
        assert_eq!(store.image(reference).unwrap(), None);
        assert!(store.image("docker.io/library/y:latest").unwrap().is_some());
    }

    #[test]
    fn image_records_survive_reopening_and_can_be_removed() {
        let dir = tempfile::tempdir().unwrap();
        let record = {
            let store = ImageStore::open(dir.path()).unwrap();
            let config = descriptor(&store, br#"{"config":{"Cmd":["sh"]}}"#);
            let layer = descriptor(&store, b"tar");
            let record = ImageRecord {
                manifest_digest: Digest::of(b"manifest"),
                index_digest: None,
                config,
                layers: vec![layer],
            };
            store
                .put_image("docker.io/library/x:latest", &record)
                .unwrap();
            record
        };
        // A crashed writer's leftovers are cleaned on open.
        fs::write(dir.path().join("blobs/tmp/junk"), b"half").unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        assert!(!dir.path().join("blobs/tmp/junk").exists());
        assert_eq!(
            store.image("docker.io/library/x:latest").unwrap(),
            Some(record.clone())
        );
        let config = store.image_config(&record).unwrap();
        assert_eq!(config.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(store.images().unwrap().len(), 1);
        assert!(store.remove_image("docker.io/library/x:latest").unwrap());
        assert!(!store.remove_image("docker.io/library/x:latest").unwrap());
        assert_eq!(store.image("docker.io/library/x:latest").unwrap(), None);
    }

    #[test]
    fn a_record_cannot_point_at_missing_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let config = descriptor(&store, b"{}");
        let mut missing = config.clone();
        missing.digest = Digest::of(b"not stored");
        let record = ImageRecord {
            manifest_digest: Digest::of(b"m"),
            index_digest: None,
            config,
            layers: vec![missing],
        };
        assert!(store.put_image("r", &record).is_err());
        assert_eq!(store.image("r").unwrap(), None);
    }
}
