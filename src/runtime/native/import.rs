//! `image import`: a rootfs tarball (plain or gzip) becomes a one-layer image in the content
//! store, with a configuration (CMD, ENV...) given by the caller, recorded under a name.
//!
//! The layer is stored uncompressed, so its blob digest is also its diff id.
//!
//! Not for: `docker save` / OCI archives (`image load`), nor pulls (see [`super::registry`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::GzDecoder;
use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::oci::{ContainerDefaults, Descriptor, Platform, OCI_MANIFEST};
use super::reference::Reference;
use super::store::{ImageRecord, ImageStore};
use super::ImageError;

const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// Imports the rootfs tarball at `tarball` as image `reference` with runtime defaults
/// `defaults`; returns the stored record (its config digest is the image id).
pub fn import_rootfs(
    store: &ImageStore,
    tarball: &Path,
    reference: &str,
    defaults: &ContainerDefaults,
) -> Result<ImageRecord, ImageError> {
    let name = Reference::parse(reference)?;
    // Two passes over the file: the blob writer needs the digest before the first byte.
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut reader = open_tar(tarball)?;
    loop {
        let n = reader.read(&mut buf).map_err(|e| read_err(tarball, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let diff_id = Digest::from_hasher(hasher);
    if !store.has_blob(&diff_id) {
        let mut writer = store.blob_writer(&diff_id)?;
        writer.write_from(&mut open_tar(tarball)?)?;
        writer.commit()?;
    }
    let host = Platform::host();
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let config = serde_json::json!({
        "created": created,
        "architecture": host.architecture,
        "os": host.os,
        "config": defaults,
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": created, "created_by": "hoist image import"}],
    });
    let config_bytes = serde_json::to_vec(&config).map_err(|e| ImageError::Store {
        path: tarball.to_path_buf(),
        message: format!("cannot encode the image configuration: {e}"),
    })?;
    let layer_desc = Descriptor {
        media_type: LAYER_MEDIA_TYPE.to_string(),
        digest: diff_id,
        size,
        platform: None,
    };
    let record = commit_image(store, &config_bytes, vec![layer_desc])?;
    store.put_image(&name.to_string(), &record)?;
    Ok(record)
}

/// Writes an image's configuration blob (`config_bytes`, JSON) and an OCI manifest over
/// `layers` (blobs already in the store) into `store`; returns the record to name it with
/// [`ImageStore::put_image`]. Shared by `image import` and the native builder.
pub fn commit_image(
    store: &ImageStore,
    config_bytes: &[u8],
    layers: Vec<Descriptor>,
) -> Result<ImageRecord, ImageError> {
    let config_desc = put_json(store, CONFIG_MEDIA_TYPE, config_bytes)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": layers,
        "annotations": BTreeMap::<String, String>::new(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| ImageError::Store {
        path: store.root().to_path_buf(),
        message: format!("cannot encode the image manifest: {e}"),
    })?;
    let manifest_desc = put_json(store, OCI_MANIFEST, &manifest_bytes)?;
    Ok(ImageRecord {
        manifest_digest: manifest_desc.digest,
        index_digest: None,
        config: config_desc,
        layers,
    })
}

fn put_json(store: &ImageStore, media_type: &str, data: &[u8]) -> Result<Descriptor, ImageError> {
    let digest = Digest::of(data);
    store.write_blob(&digest, data)?;
    Ok(Descriptor {
        media_type: media_type.to_string(),
        digest,
        size: data.len() as u64,
        platform: None,
    })
}

fn read_err(path: &Path, e: std::io::Error) -> ImageError {
    ImageError::Unpack {
        path: path.to_path_buf(),
        message: format!("cannot read the rootfs tarball: {e}"),
    }
}

/// The tarball's uncompressed bytes (gzip detected from its magic number).
fn open_tar(path: &Path) -> Result<Box<dyn Read>, ImageError> {
    let file = File::open(path).map_err(|e| read_err(path, e))?;
    let mut reader = BufReader::new(file);
    let gzip = reader
        .fill_buf()
        .map_err(|e| read_err(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    if gzip {
        Ok(Box::new(GzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imported_tarball_is_a_one_layer_image_with_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("root")).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "etc/x", &b"hi"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let path = dir.path().join("rootfs.tar");
        std::fs::write(&path, &tar).unwrap();
        let defaults = ContainerDefaults {
            cmd: Some(vec!["/bin/sh".to_string()]),
            ..Default::default()
        };
        let record = import_rootfs(&store, &path, "imported/x:1", &defaults).unwrap();
        assert_eq!(record.layers.len(), 1);
        assert_eq!(record.layers[0].digest, Digest::of(&tar));
        let stored = store.image("docker.io/imported/x:1").unwrap().unwrap();
        assert_eq!(stored, record);
        let config = store.image_config(&record).unwrap();
        assert_eq!(config.config.cmd, defaults.cmd);
        assert_eq!(config.rootfs.diff_ids, vec![Digest::of(&tar)]);
    }
}
