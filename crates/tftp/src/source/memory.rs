//! Serving files from memory.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;

use super::{FileSource, OpenedFile, SourceError};
use crate::path::{CleanPath, PathError};

/// A shared, updatable map of file name to content.
///
/// Clones share the same map, so the owner can keep a handle and replace files (for example
/// re-patched iPXE binaries) while the server runs; transfers already in progress keep the
/// content they started with. Names are cleaned with the same rules as requests, so
/// `/ipxe.efi` and `ipxe.efi` are the same entry.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    files: Arc<RwLock<HashMap<CleanPath, Bytes>>>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a file, returning the previous content.
    pub fn insert(&self, name: &str, data: impl Into<Bytes>) -> Result<Option<Bytes>, PathError> {
        let key = CleanPath::new(name)?;
        let mut files = self.files.write().unwrap_or_else(PoisonError::into_inner);
        Ok(files.insert(key, data.into()))
    }

    /// Removes a file, returning its content.
    pub fn remove(&self, name: &str) -> Option<Bytes> {
        let key = CleanPath::new(name).ok()?;
        let mut files = self.files.write().unwrap_or_else(PoisonError::into_inner);
        files.remove(&key)
    }

    /// The content of a file.
    pub fn get(&self, name: &str) -> Option<Bytes> {
        let key = CleanPath::new(name).ok()?;
        self.lookup(&key)
    }

    /// The cleaned names of all files, sorted.
    pub fn names(&self) -> Vec<String> {
        let files = self.files.read().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = files.keys().map(|k| k.as_str().to_owned()).collect();
        names.sort();
        names
    }

    fn lookup(&self, key: &CleanPath) -> Option<Bytes> {
        let files = self.files.read().unwrap_or_else(PoisonError::into_inner);
        files.get(key).cloned()
    }
}

impl FileSource for MemorySource {
    async fn open(&self, path: &CleanPath) -> Result<OpenedFile, SourceError> {
        self.lookup(path)
            .map(OpenedFile::from_bytes)
            .ok_or(SourceError::NotFound)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn insert_open_replace_remove() {
        let src = MemorySource::new();
        assert_eq!(src.insert("/a/./b.efi", &b"one"[..]).unwrap(), None);
        let handle = src.clone();
        let mut f = src.open(&CleanPath::new("a/b.efi").unwrap()).await.unwrap();
        assert_eq!(f.size, Some(3));
        assert!(handle.insert("a/b.efi", &b"two"[..]).unwrap().is_some());
        let mut out = Vec::new();
        f.reader.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"one", "an open transfer keeps its content");
        assert_eq!(src.get("a/b.efi").unwrap(), &b"two"[..]);
        assert_eq!(src.names(), vec!["a/b.efi".to_owned()]);
        assert!(src.remove("a/b.efi").is_some());
        let missing = src.open(&CleanPath::new("a/b.efi").unwrap()).await;
        assert!(matches!(missing, Err(SourceError::NotFound)));
        assert_eq!(src.insert("..", &b""[..]), Err(PathError::Empty));
    }
}
