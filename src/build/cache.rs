//! The native builder's layer cache: for each step it ran, the image state the step left
//! (configuration and layers), keyed by everything the step's result depends on.
//!
//! A step's key covers its parent's key (or, for a stage's first step, the base image's
//! configuration digest), the instruction after substitution, the build args in scope,
//! the platform, and for `COPY`/`ADD` the content digest of the files it takes (never
//! their times). So an unchanged step is found again and costs a lookup, and a change
//! misses that step and every one after it, as Docker users expect.
//!
//! Entries live in the state database next to the image records (redb, one transaction
//! each); the layers they name are blobs of the content store.
//!
//! Not for: running steps or deciding when to use the cache (`--no-cache`): the builder.

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::runtime::native::digest::Digest;
use crate::runtime::native::oci::{Descriptor, ImageConfig};
use crate::runtime::native::ImageError;

/// Cache entries by key (hex); values are serde_json-encoded [`CachedState`]s.
const BUILD_CACHE: TableDefinition<&str, &[u8]> = TableDefinition::new("build_cache");

/// Bumped when what a key covers, or how a step runs, changes: old entries then miss.
const KEY_VERSION: &str = "hoist-build-cache-v1";

/// The image state after a step: what the next step starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedState {
    pub config: ImageConfig,
    /// Layer blobs, bottom first.
    pub layers: Vec<Descriptor>,
}

/// What a step's key is made of.
#[derive(Debug, Clone, Copy)]
pub struct StepKey<'a> {
    /// The previous step's key, or the base image's configuration digest.
    pub parent: &'a Digest,
    /// The instruction after substitution, in a canonical form.
    pub instruction: &'a str,
    /// Build args in scope with their values, sorted by name.
    pub args: &'a [(String, String)],
    /// `os/arch[/variant]` the step builds for.
    pub platform: &'a str,
    /// The content digest of the files a `COPY`/`ADD` takes.
    pub content: Option<&'a Digest>,
}

impl StepKey<'_> {
    pub fn digest(&self) -> Digest {
        let mut h = Sha256::new();
        let mut field = |label: &str, value: &[u8]| {
            // Length-prefixed, so no two different keys hash the same bytes.
            h.update(label.as_bytes());
            h.update((value.len() as u64).to_le_bytes());
            h.update(value);
        };
        field("version", KEY_VERSION.as_bytes());
        field("parent", self.parent.to_string().as_bytes());
        field("instruction", self.instruction.as_bytes());
        for (k, v) in self.args {
            field("arg", format!("{k}={v}").as_bytes());
        }
        field("platform", self.platform.as_bytes());
        if let Some(content) = self.content {
            field("content", content.to_string().as_bytes());
        }
        Digest::from_hasher(h)
    }
}

/// The cache over one state database.
pub struct BuildCache<'a> {
    db: &'a Database,
}

fn cache_err(e: impl std::fmt::Display) -> ImageError {
    ImageError::Store {
        path: "build cache".into(),
        message: e.to_string(),
    }
}

impl<'a> BuildCache<'a> {
    pub fn new(db: &'a Database) -> BuildCache<'a> {
        BuildCache { db }
    }

    /// The state a step with `key` left, if it ran before.
    pub fn get(&self, key: &Digest) -> Result<Option<CachedState>, ImageError> {
        let tx = self.db.begin_read().map_err(cache_err)?;
        let table = match tx.open_table(BUILD_CACHE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(cache_err(e)),
        };
        let Some(value) = table.get(key.hex()).map_err(cache_err)? else {
            return Ok(None);
        };
        // An entry this version cannot read is a miss, not an error: the step runs again.
        Ok(serde_json::from_slice(value.value()).ok())
    }

    /// Records the state a step left.
    pub fn put(&self, key: &Digest, state: &CachedState) -> Result<(), ImageError> {
        let value = serde_json::to_vec(state).map_err(cache_err)?;
        let tx = self.db.begin_write().map_err(cache_err)?;
        {
            let mut table = tx.open_table(BUILD_CACHE).map_err(cache_err)?;
            table
                .insert(key.hex(), value.as_slice())
                .map_err(cache_err)?;
        }
        tx.commit().map_err(cache_err)
    }

    /// Every layer digest an entry still needs (what a prune must keep).
    pub fn layers_in_use(&self) -> Result<Vec<Digest>, ImageError> {
        let mut out: Vec<Digest> = self
            .entries()?
            .into_iter()
            .flat_map(|(_, state)| state.layers.into_iter().map(|d| d.digest))
            .collect();
        out.sort_by_key(|d| d.to_string());
        out.dedup();
        Ok(out)
    }

    /// Every entry with its key (hex): what `builder prune` chooses from.
    pub fn entries(&self) -> Result<Vec<(String, CachedState)>, ImageError> {
        let tx = self.db.begin_read().map_err(cache_err)?;
        let table = match tx.open_table(BUILD_CACHE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(cache_err(e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(cache_err)? {
            let (key, value) = row.map_err(cache_err)?;
            if let Ok(state) = serde_json::from_slice::<CachedState>(value.value()) {
                out.push((key.value().to_string(), state));
            }
        }
        Ok(out)
    }

    /// Forgets the entries with `keys` (`builder prune`), in one transaction.
    pub fn remove(&self, keys: &[String]) -> Result<(), ImageError> {
        let tx = self.db.begin_write().map_err(cache_err)?;
        {
            let mut table = tx.open_table(BUILD_CACHE).map_err(cache_err)?;
            for k in keys {
                table.remove(k.as_str()).map_err(cache_err)?;
            }
        }
        tx.commit().map_err(cache_err)
    }

    /// Forgets every entry (`builder prune`); returns how many there were.
    pub fn clear(&self) -> Result<usize, ImageError> {
        let tx = self.db.begin_write().map_err(cache_err)?;
        let removed = {
            let mut table = tx.open_table(BUILD_CACHE).map_err(cache_err)?;
            let keys: Vec<String> = table
                .iter()
                .map_err(cache_err)?
                .filter_map(Result::ok)
                .map(|(k, _)| k.value().to_string())
                .collect();
            for k in &keys {
                table.remove(k.as_str()).map_err(cache_err)?;
            }
            keys.len()
        };
        tx.commit().map_err(cache_err)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(
        parent: &Digest,
        instruction: &str,
        args: &[(String, String)],
        content: Option<&Digest>,
    ) -> Digest {
        StepKey {
            parent,
            instruction,
            args,
            platform: "linux/amd64",
            content,
        }
        .digest()
    }

    #[test]
    fn keys_change_with_each_input_and_only_then() {
        let base = Digest::of(b"base config");
        let args = vec![("VERSION".to_string(), "1".to_string())];
        let k = key(&base, "RUN make", &args, None);
        assert_eq!(k, key(&base, "RUN make", &args, None));
        assert_ne!(k, key(&Digest::of(b"other base"), "RUN make", &args, None));
        assert_ne!(k, key(&base, "RUN make install", &args, None));
        assert_ne!(
            k,
            key(&base, "RUN make", &[("VERSION".into(), "2".into())], None)
        );
        assert_ne!(
            k,
            key(&base, "RUN make", &args, Some(&Digest::of(b"files")))
        );
        // Field boundaries matter: "a" + "bc" is not "ab" + "c".
        assert_ne!(
            key(&base, "RUN a", &[("b".into(), "c".into())], None),
            key(&base, "RUN ab", &[("".into(), "c".into())], None)
        );
    }

    #[test]
    fn entries_round_trip_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("state.redb")).unwrap();
        let cache = BuildCache::new(&db);
        let k = Digest::of(b"k");
        assert_eq!(cache.get(&k).unwrap(), None);
        assert!(cache.layers_in_use().unwrap().is_empty());
        let layer = Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: Digest::of(b"layer"),
            size: 5,
            platform: None,
        };
        let mut config = ImageConfig::default();
        config.config.cmd = Some(vec!["sh".into()]);
        let state = CachedState {
            config,
            layers: vec![layer.clone()],
        };
        cache.put(&k, &state).unwrap();
        assert_eq!(cache.get(&k).unwrap(), Some(state));
        assert_eq!(cache.layers_in_use().unwrap(), vec![layer.digest]);
        assert_eq!(cache.clear().unwrap(), 1);
        assert_eq!(cache.get(&k).unwrap(), None);
    }
}
