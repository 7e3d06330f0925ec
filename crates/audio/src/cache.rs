//! The two cache tiers for prepared 8 kHz audio: memory (bounded, least recently used evicted)
//! and disk (raw 16-bit little-endian samples, one file per key).

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::scratch::unique_name;

/// File name extension of cached audio: raw signed 16-bit little-endian mono samples.
const AUDIO_EXTENSION: &str = "s16le";

/// A cache key: the lowercase hex SHA-256 of the kind and parameters of what was produced. The
/// parts are joined with a NUL so no two part lists give the same key.
pub(crate) fn cache_key(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Audio in memory, bounded by the total number of samples held.
#[derive(Debug)]
pub(crate) struct MemoryCache {
    max_samples: usize,
    total_samples: usize,
    /// Incremented on every use; orders entries by recency.
    clock: u64,
    entries: HashMap<String, MemoryEntry>,
    /// Keys by the clock value of their last use, oldest first.
    by_last_use: BTreeMap<u64, String>,
}

#[derive(Debug)]
struct MemoryEntry {
    samples: Arc<[i16]>,
    last_use: u64,
}

impl MemoryCache {
    pub(crate) fn new(max_samples: usize) -> Self {
        Self {
            max_samples,
            total_samples: 0,
            clock: 0,
            entries: HashMap::new(),
            by_last_use: BTreeMap::new(),
        }
    }

    /// The samples for `key`, marking them as just used.
    pub(crate) fn get(&mut self, key: &str) -> Option<Arc<[i16]>> {
        self.clock += 1;
        let entry = self.entries.get_mut(key)?;
        self.by_last_use.remove(&entry.last_use);
        entry.last_use = self.clock;
        self.by_last_use.insert(self.clock, key.to_owned());
        Some(Arc::clone(&entry.samples))
    }

    /// Stores `samples` under `key`, evicting the least recently used entries to stay within the
    /// bound. Audio larger than the whole bound is not kept.
    pub(crate) fn insert(&mut self, key: String, samples: Arc<[i16]>) {
        self.remove(&key);
        if samples.len() > self.max_samples {
            return;
        }
        while self.total_samples + samples.len() > self.max_samples {
            let Some((_, oldest)) = self.by_last_use.pop_first() else {
                break;
            };
            if let Some(evicted) = self.entries.remove(&oldest) {
                self.total_samples -= evicted.samples.len();
            }
        }
        self.clock += 1;
        self.total_samples += samples.len();
        self.by_last_use.insert(self.clock, key.clone());
        self.entries.insert(
            key,
            MemoryEntry {
                samples,
                last_use: self.clock,
            },
        );
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_last_use.remove(&entry.last_use);
            self.total_samples -= entry.samples.len();
        }
    }

    /// Samples currently held.
    #[cfg(test)]
    pub(crate) fn total_samples(&self) -> usize {
        self.total_samples
    }
}

/// Audio on disk: `<directory>/<key>.s16le`, written atomically.
#[derive(Debug)]
pub(crate) struct DiskCache {
    directory: PathBuf,
    /// Files larger than this are not trusted (they cannot have been written by this crate).
    max_file_bytes: u64,
}

impl DiskCache {
    pub(crate) fn new(directory: PathBuf, max_samples: u64) -> Self {
        Self {
            directory,
            max_file_bytes: max_samples.saturating_mul(2),
        }
    }

    pub(crate) fn path(&self, key: &str) -> PathBuf {
        self.directory.join(format!("{key}.{AUDIO_EXTENSION}"))
    }

    /// The samples stored under `key`, if any. Unreadable or implausible files are logged,
    /// removed, and treated as absent.
    pub(crate) async fn read(&self, key: &str) -> Option<Arc<[i16]>> {
        let path = self.path(key);
        let bytes = match tokio::fs::metadata(&path).await {
            Ok(metadata) if metadata.len() % 2 == 0 && metadata.len() <= self.max_file_bytes => {
                tokio::fs::read(&path).await
            }
            Ok(metadata) => {
                tracing::warn!(path = %path.display(), bytes = metadata.len(), "discarding an implausible cached audio file");
                remove_quietly(&path).await;
                return None;
            }
            Err(error) => Err(error),
        };
        match bytes {
            Ok(bytes) if bytes.len() % 2 == 0 => Some(
                bytes
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                    .collect(),
            ),
            Ok(_) => {
                // The file changed between the two calls; never mind.
                None
            }
            Err(error) if error.kind() == ErrorKind::NotFound => None,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "could not read cached audio");
                None
            }
        }
    }

    /// Stores `samples` under `key`: written to a temporary file in the same directory, then
    /// renamed over the final name, so readers see either nothing or the whole file. Failures are
    /// logged, not returned: the cache is an optimisation.
    pub(crate) async fn write(&self, key: &str, samples: &[i16]) {
        let path = self.path(key);
        let temporary = self.directory.join(format!("{}.tmp", unique_name(key)));
        let bytes: Vec<u8> = samples
            .iter()
            .flat_map(|sample| sample.to_le_bytes())
            .collect();
        let result = async {
            tokio::fs::create_dir_all(&self.directory).await?;
            tokio::fs::write(&temporary, &bytes).await?;
            tokio::fs::rename(&temporary, &path).await
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(path = %path.display(), %error, "could not write cached audio");
            remove_quietly(&temporary).await;
        }
    }
}

async fn remove_quietly(path: &Path) {
    if let Err(error) = tokio::fs::remove_file(path).await
        && error.kind() != ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), %error, "could not remove a cache file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::ScratchDirectory;

    fn audio(length: usize, value: i16) -> Arc<[i16]> {
        vec![value; length].into()
    }

    #[test]
    fn keys_are_sha256_hex_of_the_separated_parts() {
        let key = cache_key(&["say", "flite/slt", "Hello"]);
        assert_eq!(key.len(), 64);
        assert!(
            key.chars()
                .all(|character| character.is_ascii_hexdigit() && !character.is_ascii_uppercase())
        );
        assert_eq!(key, cache_key(&["say", "flite/slt", "Hello"]));
        assert_ne!(cache_key(&["ab", "c"]), cache_key(&["a", "bc"]));
        // SHA-256 of "abc\0".
        assert_eq!(
            cache_key(&["abc"]),
            "dc1114cd074914bd872cc1f9a23ec910ea2203bc79779ab2e17da25782a624fc"
        );
    }

    #[test]
    fn memory_cache_evicts_the_least_recently_used_entries() {
        let mut cache = MemoryCache::new(100);
        cache.insert("a".into(), audio(40, 1));
        cache.insert("b".into(), audio(40, 2));
        assert!(cache.get("a").is_some()); // b is now the oldest
        cache.insert("c".into(), audio(40, 3));
        assert!(cache.get("b").is_none());
        assert_eq!(cache.get("a").unwrap()[0], 1);
        assert_eq!(cache.get("c").unwrap()[0], 3);
        assert_eq!(cache.total_samples(), 80);

        cache.insert("d".into(), audio(100, 4));
        assert_eq!(cache.total_samples(), 100);
        assert!(cache.get("a").is_none() && cache.get("c").is_none());

        cache.insert("huge".into(), audio(101, 5));
        assert!(cache.get("huge").is_none());
        assert!(cache.get("d").is_some());
    }

    #[test]
    fn memory_cache_replaces_an_entry_under_the_same_key() {
        let mut cache = MemoryCache::new(100);
        cache.insert("a".into(), audio(60, 1));
        cache.insert("a".into(), audio(30, 2));
        assert_eq!(cache.total_samples(), 30);
        assert_eq!(cache.get("a").unwrap().len(), 30);
        cache.insert("b".into(), audio(70, 3));
        assert_eq!(cache.total_samples(), 100);
    }

    #[tokio::test]
    async fn disk_cache_round_trips_samples_atomically() {
        let scratch = ScratchDirectory::in_temporary_directory("warbler-cache-test").unwrap();
        let directory = scratch.path().join("cache");
        let cache = DiskCache::new(directory.clone(), 1000);
        let key = cache_key(&["test"]);
        assert!(cache.read(&key).await.is_none());

        let samples: Vec<i16> = vec![0, 1, -1, i16::MAX, i16::MIN, 12_345];
        cache.write(&key, &samples).await;
        assert_eq!(cache.read(&key).await.unwrap().as_ref(), samples.as_slice());
        let names: Vec<String> = std::fs::read_dir(&directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [format!("{key}.s16le")]);
        assert_eq!(
            std::fs::read(cache.path(&key)).unwrap()[..6],
            [0, 0, 1, 0, 0xff, 0xff]
        );
    }

    #[tokio::test]
    async fn disk_cache_discards_implausible_files() {
        let scratch = ScratchDirectory::in_temporary_directory("warbler-cache-test").unwrap();
        let cache = DiskCache::new(scratch.path().to_path_buf(), 4);
        let odd = cache_key(&["odd"]);
        std::fs::write(cache.path(&odd), [1, 2, 3]).unwrap();
        assert!(cache.read(&odd).await.is_none());
        assert!(!cache.path(&odd).exists());
        let large = cache_key(&["large"]);
        std::fs::write(cache.path(&large), [0; 10]).unwrap();
        assert!(cache.read(&large).await.is_none());
    }
}
