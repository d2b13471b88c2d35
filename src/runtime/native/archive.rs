//! Image archives: `image load` reads what `docker save` writes (`manifest.json` naming a
//! config and layer tars per image, the legacy `<id>/layer.tar` layout with its symlinks,
//! and Docker 25's OCI-inside) and OCI image layouts (`oci-layout`, `index.json`,
//! `blobs/sha256/`), plain or gzip; `image save` writes both a `manifest.json` and an OCI
//! layout over the same blobs, so `docker load` and OCI tools read it.
//!
//! Loading never writes an archive path to disk: every file of the archive is streamed
//! into the content store under the digest it hashes to, and the images are put together
//! from those blobs (what the archive does not need is reclaimed by the next prune). Layers
//! reach a rootfs only through [`super::unpack`], which refuses traversal.
//!
//! Not for: rootfs tarballs (see [`super::import`]), registries.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path};

use flate2::bufread::GzDecoder;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::containers::{familiar, find_image};
use super::digest::Digest;
use super::import::commit_image;
use super::oci::{Descriptor, ImageConfig, Index, Manifest, Platform, OCI_INDEX, OCI_MANIFEST};
use super::reference::Reference;
use super::store::{ImageRecord, ImageStore};
use super::ImageError;

const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The annotations naming an image in an OCI layout (containerd's, then the spec's).
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

fn archive_err(path: &Path, message: impl std::fmt::Display) -> ImageError {
    ImageError::Unpack {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// One entry of `docker save`'s `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The archive's files, by normalized path, as blobs of the store.
struct Contents {
    files: HashMap<String, (Digest, u64)>,
    /// Symlinks (legacy `docker save` shares a layer between images with one).
    links: HashMap<String, String>,
}

impl Contents {
    /// The blob behind `path`, following the archive's own symlinks.
    fn get(&self, path: &str) -> Option<&(Digest, u64)> {
        let mut current = normalize(path)?;
        for _ in 0..16 {
            if let Some(found) = self.files.get(&current) {
                return Some(found);
            }
            let target = self.links.get(&current)?;
            let base = Path::new(&current).parent().unwrap_or(Path::new(""));
            current = normalize(&base.join(target).to_string_lossy())?;
        }
        None
    }
}

/// `a/./b/../c` -> `a/c`; `None` when it climbs out of the archive.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(parts.join("/"))
}

/// The archive's bytes, gzip undone when its magic says so.
fn open_archive(path: &Path) -> Result<Box<dyn Read>, ImageError> {
    let file = File::open(path).map_err(|e| archive_err(path, format!("cannot open: {e}")))?;
    let mut reader = BufReader::new(file);
    let gzip = reader
        .fill_buf()
        .map_err(|e| archive_err(path, format!("cannot read: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(GzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Streams every regular file of the archive into the store.
fn ingest(store: &ImageStore, path: &Path) -> Result<Contents, ImageError> {
    let mut archive = tar::Archive::new(open_archive(path)?);
    let mut contents = Contents {
        files: HashMap::new(),
        links: HashMap::new(),
    };
    let entries = archive
        .entries()
        .map_err(|e| archive_err(path, format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive_err(path, format!("corrupt archive: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| archive_err(path, format!("bad entry name: {e}")))?
            .to_string_lossy()
            .into_owned();
        let Some(name) = normalize(&name) else {
            return Err(archive_err(
                path,
                format!("entry {name} points outside the archive"),
            ));
        };
        let kind = entry.header().entry_type();
        if kind.is_file() {
            let stored = store.ingest(&mut entry)?;
            contents.files.insert(name, stored);
        } else if kind.is_symlink() || kind.is_hard_link() {
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.to_string_lossy().into_owned();
                // Hard link names are archive paths; symlinks are relative to their dir.
                let target = if kind.is_hard_link() {
                    format!("/{target}")
                } else {
                    target
                };
                contents.links.insert(name, target);
            }
        }
    }
    Ok(contents)
}

fn read_json<T: for<'de> Deserialize<'de>>(
    store: &ImageStore,
    archive: &Path,
    contents: &Contents,
    name: &str,
) -> Result<T, ImageError> {
    let (digest, _) = contents
        .get(name)
        .ok_or_else(|| archive_err(archive, format!("the archive has no {name}")))?;
    let data = store.read_blob(digest)?;
    serde_json::from_slice(&data)
        .map_err(|e| archive_err(archive, format!("{name} is not valid: {e}")))
}

/// The digest of a layer's uncompressed tar (its diff id), and whether the blob is gzip.
fn diff_id(store: &ImageStore, digest: &Digest) -> Result<(Digest, bool), ImageError> {
    let mut reader = BufReader::new(store.open_blob(digest)?);
    let gzip = reader
        .fill_buf()
        .map_err(|e| archive_err(&store.blob_path(digest), e))?
        .starts_with(&[0x1f, 0x8b]);
    if !gzip {
        return Ok((digest.clone(), false));
    }
    let mut decoder = GzDecoder::new(reader);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = decoder
            .read(&mut buf)
            .map_err(|e| archive_err(&store.blob_path(digest), format!("bad gzip layer: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok((Digest::from_hasher(hasher), true))
}

/// Checks that each layer of `manifest` uncompresses to the diff id its config claims:
/// unpacked layers are shared by the chain ids computed from those claims.
fn verify_diff_ids(store: &ImageStore, path: &Path, manifest: &Manifest) -> Result<(), ImageError> {
    let config: ImageConfig = serde_json::from_slice(&store.read_blob(&manifest.config.digest)?)
        .map_err(|e| {
            archive_err(
                path,
                format!("{} is not an image config: {e}", manifest.config.digest),
            )
        })?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(archive_err(
            path,
            format!(
                "config {} lists {} diff ids for {} layers",
                manifest.config.digest,
                config.rootfs.diff_ids.len(),
                manifest.layers.len()
            ),
        ));
    }
    for (layer, expected) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
        let what = format!("layer {} of {}", layer.digest, path.display());
        checked_diff_id(store, &layer.digest, expected, what)?;
    }
    Ok(())
}

/// Whether blob `digest` is gzip, once it is known to uncompress to diff id `expected`.
fn checked_diff_id(
    store: &ImageStore,
    digest: &Digest,
    expected: &Digest,
    what: String,
) -> Result<bool, ImageError> {
    let (actual, gzip) = diff_id(store, digest)?;
    if &actual != expected {
        return Err(ImageError::DigestMismatch {
            what,
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(gzip)
}

/// Loads the archive at `path` into `store`; returns one `Loaded image: ...` line per
/// image, as `docker load` prints them.
pub fn load(store: &ImageStore, path: &Path) -> Result<Vec<String>, ImageError> {
    let contents = ingest(store, path)?;
    if contents.get("manifest.json").is_some() {
        load_docker(store, path, &contents)
    } else if contents.get("index.json").is_some() {
        load_oci(store, path, &contents)
    } else {
        Err(archive_err(
            path,
            "neither a `docker save` archive (manifest.json) nor an OCI image layout \
             (index.json)",
        ))
    }
}

fn load_docker(
    store: &ImageStore,
    path: &Path,
    contents: &Contents,
) -> Result<Vec<String>, ImageError> {
    let saved: Vec<SavedImage> = read_json(store, path, contents, "manifest.json")?;
    let mut loaded = Vec::new();
    for image in saved {
        let (config_digest, _) = contents
            .get(&image.config)
            .ok_or_else(|| {
                archive_err(
                    path,
                    format!("manifest.json names a missing {}", image.config),
                )
            })?
            .clone();
        let config_bytes = store.read_blob(&config_digest)?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
            archive_err(
                path,
                format!("{} is not an image config: {e}", image.config),
            )
        })?;
        if config.rootfs.diff_ids.len() != image.layers.len() {
            return Err(archive_err(
                path,
                format!(
                    "{} lists {} layers but its config {} diff ids",
                    image.config,
                    image.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for (layer, expected) in image.layers.iter().zip(&config.rootfs.diff_ids) {
            let (digest, size) = contents
                .get(layer)
                .ok_or_else(|| archive_err(path, format!("manifest.json names a missing {layer}")))?
                .clone();
            let what = format!("layer {layer} of {}", path.display());
            let gzip = checked_diff_id(store, &digest, expected, what)?;
            layers.push(Descriptor {
                media_type: if gzip { LAYER_TAR_GZIP } else { LAYER_TAR }.to_string(),
                digest,
                size,
                platform: None,
            });
        }
        // The config is kept byte for byte: its digest is the image id Docker showed.
        let record = commit_image(store, &config_bytes, layers)?;
        let tags = image.repo_tags.unwrap_or_default();
        if tags.is_empty() {
            store.put_image(&untagged_key(&record), &record)?;
            loaded.push(format!("Loaded image ID: {}", record.config.digest));
        }
        for tag in tags {
            let name = Reference::parse(&tag)?;
            store.put_image(&name.to_string(), &record)?;
            loaded.push(format!("Loaded image: {}", familiar(&name.to_string())));
        }
    }
    Ok(loaded)
}

/// The record key of an image loaded without a name: its id, listed as `<none>`.
pub fn untagged_key(record: &ImageRecord) -> String {
    record.config.digest.to_string()
}

/// Whether a record key is an id rather than a name (see [`untagged_key`]).
pub fn is_untagged_key(key: &str) -> bool {
    key.starts_with("sha256:")
}

fn load_oci(
    store: &ImageStore,
    path: &Path,
    contents: &Contents,
) -> Result<Vec<String>, ImageError> {
    let index: Index = read_json(store, path, contents, "index.json")?;
    // Every blob must sit under the name of its own digest.
    for (name, (digest, _)) in &contents.files {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            if hex != digest.hex() {
                return Err(ImageError::DigestMismatch {
                    what: format!("{name} of {}", path.display()),
                    expected: format!("sha256:{hex}"),
                    actual: digest.to_string(),
                });
            }
        }
    }
    let raw: serde_json::Value = read_json(store, path, contents, "index.json")?;
    let annotations: Vec<BTreeMap<String, String>> = raw
        .get("manifests")
        .and_then(|m| m.as_array())
        .map(|list| {
            list.iter()
                .map(|d| {
                    d.get("annotations")
                        .and_then(|a| serde_json::from_value(a.clone()).ok())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut loaded = Vec::new();
    for (i, descriptor) in index.manifests.iter().enumerate() {
        let notes = annotations.get(i).cloned().unwrap_or_default();
        let manifest_digest = pick_manifest(store, path, descriptor)?;
        let body = store.read_blob(&manifest_digest)?;
        let manifest: Manifest = serde_json::from_slice(&body)
            .map_err(|e| archive_err(path, format!("manifest {manifest_digest}: {e}")))?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !store.has_blob(&blob.digest) {
                return Err(archive_err(
                    path,
                    format!(
                        "manifest {manifest_digest} names {} which the archive lacks",
                        blob.digest
                    ),
                ));
            }
        }
        verify_diff_ids(store, path, &manifest)?;
        let record = ImageRecord {
            manifest_digest: manifest_digest.clone(),
            index_digest: (manifest_digest != descriptor.digest).then(|| descriptor.digest.clone()),
            config: manifest.config.clone(),
            layers: manifest.layers.clone(),
        };
        let name = notes
            .get(CONTAINERD_NAME)
            .cloned()
            .or_else(|| notes.get(OCI_REF_NAME).cloned());
        match name {
            Some(name) => {
                // A bare `ref.name` is a tag only; there is no repository to give it.
                let reference = Reference::parse(&name).map_err(|_| {
                    archive_err(
                        path,
                        format!(
                            "index.json names an image \"{name}\" that is not a valid reference"
                        ),
                    )
                })?;
                store.put_image(&reference.to_string(), &record)?;
                loaded.push(format!(
                    "Loaded image: {}",
                    familiar(&reference.to_string())
                ));
            }
            None => {
                store.put_image(&untagged_key(&record), &record)?;
                loaded.push(format!("Loaded image ID: {}", record.config.digest));
            }
        }
    }
    Ok(loaded)
}

/// The manifest for this host under an index entry (itself, or one of a nested index).
fn pick_manifest(
    store: &ImageStore,
    path: &Path,
    descriptor: &Descriptor,
) -> Result<Digest, ImageError> {
    if descriptor.media_type == OCI_MANIFEST || descriptor.media_type.ends_with("manifest.v2+json")
    {
        return Ok(descriptor.digest.clone());
    }
    let body = store.read_blob(&descriptor.digest)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| archive_err(path, format!("blob {}: {e}", descriptor.digest)))?;
    if value.get("manifests").is_none() {
        return Ok(descriptor.digest.clone());
    }
    let nested: Index = serde_json::from_value(value)
        .map_err(|e| archive_err(path, format!("index {}: {e}", descriptor.digest)))?;
    let host = Platform::host();
    nested
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| host.matches(p)) && store.has_blob(&d.digest))
        // A manifest without a platform is for any; another platform's (or an attestation,
        // `unknown/unknown`) would give a broken image.
        .or_else(|| {
            nested
                .manifests
                .iter()
                .find(|d| d.platform.is_none() && store.has_blob(&d.digest))
        })
        .map(|d| d.digest.clone())
        .ok_or_else(|| {
            archive_err(
                path,
                format!("index {} has no manifest for {host}", descriptor.digest),
            )
        })
}

/// Writes `references` from `store` to `out` as one plain tar: `manifest.json` (what
/// `docker load` reads), `oci-layout` and `index.json`, over `blobs/sha256/`.
pub fn save(store: &ImageStore, references: &[String], out: &Path) -> Result<(), ImageError> {
    let mut images: Vec<(Option<String>, ImageRecord)> = Vec::new();
    for reference in references {
        let (name, record) = find_image(store, reference).map_err(|_| ImageError::NotFound {
            reference: reference.clone(),
        })?;
        // By id: every name the image has; by name: that one.
        let named = Reference::parse(reference).is_ok_and(|r| r.to_string() == name);
        let names: Vec<String> = if named {
            vec![name]
        } else {
            store
                .images()?
                .into_iter()
                .filter(|(n, r)| r.config.digest == record.config.digest && !is_untagged_key(n))
                .map(|(n, _)| n)
                .collect()
        };
        if names.is_empty() {
            images.push((None, record.clone()));
        }
        for n in names {
            images.push((Some(n), record.clone()));
        }
    }
    let tmp = out.with_extension(format!("tmp.{}", std::process::id()));
    let result = write_archive(store, &images, &tmp).and_then(|()| {
        std::fs::rename(&tmp, out).map_err(|e| archive_err(out, format!("cannot write: {e}")))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_archive(
    store: &ImageStore,
    images: &[(Option<String>, ImageRecord)],
    out: &Path,
) -> Result<(), ImageError> {
    let file = File::create(out).map_err(|e| archive_err(out, format!("cannot create: {e}")))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let err = |e: std::io::Error| archive_err(out, format!("cannot write: {e}"));
    let mut written: Vec<Digest> = Vec::new();
    let mut saved = Vec::new();
    let mut index = Vec::new();
    // One manifest.json entry per image, with all its names.
    let mut by_id: BTreeMap<String, (ImageRecord, Vec<String>)> = BTreeMap::new();
    let mut order = Vec::new();
    for (name, record) in images {
        let id = record.config.digest.to_string();
        let entry = by_id.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            (record.clone(), Vec::new())
        });
        if let Some(n) = name {
            if !entry.1.contains(n) {
                entry.1.push(n.clone());
            }
        }
    }
    for id in &order {
        let (record, names) = &by_id[id];
        for digest in std::iter::once(&record.manifest_digest)
            .chain(std::iter::once(&record.config.digest))
            .chain(record.layers.iter().map(|l| &l.digest))
        {
            if written.contains(digest) {
                continue;
            }
            let path = store.blob_path(digest);
            let mut blob = store.open_blob(digest)?;
            let size = blob.metadata().map_err(err)?.len();
            let mut header = tar::Header::new_gnu();
            header.set_size(size);
            header.set_mode(0o444);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(
                &mut header,
                format!("blobs/sha256/{}", digest.hex()),
                &mut blob,
            )
            .map_err(|e| archive_err(&path, format!("cannot archive: {e}")))?;
            written.push(digest.clone());
        }
        let manifest_size = std::fs::metadata(store.blob_path(&record.manifest_digest))
            .map_err(err)?
            .len();
        let tags: Vec<String> = names.iter().map(|n| familiar(n)).collect();
        saved.push(serde_json::json!({
            "Config": format!("blobs/sha256/{}", record.config.digest.hex()),
            "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { serde_json::json!(tags) },
            "Layers": record
                .layers
                .iter()
                .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
                .collect::<Vec<_>>(),
        }));
        let descriptor = |annotations: serde_json::Value| {
            serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": record.manifest_digest.to_string(),
                "size": manifest_size,
                "annotations": annotations,
            })
        };
        if names.is_empty() {
            index.push(descriptor(serde_json::json!({})));
        }
        for n in names {
            let tag = Reference::parse(n)
                .ok()
                .and_then(|r| r.tag().map(str::to_string))
                .unwrap_or_else(|| "latest".to_string());
            index.push(descriptor(serde_json::json!({
                CONTAINERD_NAME: n,
                OCI_REF_NAME: tag,
            })));
        }
    }
    let files = [
        (
            "oci-layout",
            serde_json::json!({"imageLayoutVersion": "1.0.0"}),
        ),
        (
            "index.json",
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}),
        ),
        ("manifest.json", serde_json::Value::Array(saved)),
    ];
    for (name, value) in files {
        let data = serde_json::to_vec(&value).map_err(|e| archive_err(out, e))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o444);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, data.as_slice())
            .map_err(err)?;
    }
    let mut inner = tar.into_inner().map_err(err)?;
    inner.flush().map_err(err)?;
    inner
        .into_inner()
        .map_err(|e| err(e.into_error()))?
        .sync_all()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_are_normalized_and_may_not_climb_out() {
        assert_eq!(normalize("./a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(
            normalize("/manifest.json").as_deref(),
            Some("manifest.json")
        );
        assert_eq!(normalize("../etc/passwd"), None);
    }

    #[test]
    fn legacy_layer_symlinks_resolve_inside_the_archive() {
        let d = Digest::of(b"layer");
        let contents = Contents {
            files: HashMap::from([("aaa/layer.tar".to_string(), (d.clone(), 5))]),
            links: HashMap::from([("bbb/layer.tar".to_string(), "../aaa/layer.tar".to_string())]),
        };
        assert_eq!(contents.get("bbb/layer.tar").map(|f| &f.0), Some(&d));
        assert!(contents.get("ccc/layer.tar").is_none());
    }

    #[test]
    fn a_saved_archive_loads_back_under_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("a")).unwrap();
        let layer = b"not really a tar, but a blob".to_vec();
        let digest = Digest::of(&layer);
        store.write_blob(&digest, &layer).unwrap();
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest.to_string()]},
        });
        let record = commit_image(
            &store,
            &serde_json::to_vec(&config).unwrap(),
            vec![Descriptor {
                media_type: LAYER_TAR.to_string(),
                digest: digest.clone(),
                size: layer.len() as u64,
                platform: None,
            }],
        )
        .unwrap();
        store.put_image("docker.io/library/one:1", &record).unwrap();
        let out = dir.path().join("out.tar");
        save(&store, &["one:1".to_string()], &out).unwrap();

        let other = ImageStore::open(&dir.path().join("b")).unwrap();
        assert_eq!(load(&other, &out).unwrap(), vec!["Loaded image: one:1"]);
        let loaded = other.image("docker.io/library/one:1").unwrap().unwrap();
        assert_eq!(loaded.config.digest, record.config.digest);
        assert_eq!(loaded.layers[0].digest, digest);
    }
}
