//! Fetching one boot asset over HTTP(S) into its file, atomically.
//!
//! The body is streamed into `.<file>.part` in the same directory, hashed with SHA-512 on the
//! way, flushed and fsynced, checked against the expected digest when there is one, and only
//! then renamed over the served file (and the directory fsynced). A failed, truncated or
//! mismatching download therefore never changes what is served: the previous file stays in
//! place until a complete, verified replacement exists. Unlike upstream (which wrote into the
//! served file without truncating it), a shorter new file never keeps a stale tail.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha512};
use tokio::fs::File;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::Semaphore;

/// Size of the write buffer in front of the temporary file (few, large blocking writes).
const WRITE_BUFFER: usize = 1 << 20;
/// Redirects followed before giving up (as Go's `http.Get`).
const MAX_REDIRECTS: usize = 10;

/// Why an asset could not be downloaded; the served file is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The request failed: connection, TLS, redirect loop, timeout, or a body cut short.
    #[error("failed to download asset: {0}")]
    Request(String),
    /// The server answered with a status other than 2xx.
    #[error("failed to download asset: server answered {0}")]
    Status(reqwest::StatusCode),
    /// The temporary file could not be written, synced or renamed (disk full, read-only…).
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The downloaded bytes do not have the SHA-512 the spec asks for.
    #[error("sha512 mismatch: expected {expected}, downloaded {actual}")]
    ChecksumMismatch {
        /// The spec's digest (lower-case hex).
        expected: String,
        /// The digest of what the server sent.
        actual: String,
    },
}

impl DownloadError {
    /// The Kubernetes Event reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            DownloadError::Request(_) | DownloadError::Status(_) => "DownloadFailed",
            DownloadError::Write { .. } => "WriteFailed",
            DownloadError::ChecksumMismatch { .. } => "ChecksumMismatch",
        }
    }

    fn write(path: &Path, source: std::io::Error) -> Self {
        DownloadError::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The error and its sources, joined by `: ` (reqwest puts the useful part in the sources).
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}

/// What a successful download produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// Length of the file in bytes.
    pub bytes: u64,
    /// SHA-512 of the file, lower-case hex.
    pub sha512: String,
}

/// An HTTP client plus a limit on concurrent downloads shared by all Environments.
pub struct Downloader {
    http: reqwest::Client,
    permits: Arc<Semaphore>,
}

impl Downloader {
    /// A client with a total per-download `timeout`, redirects followed, the Mozilla and the
    /// system trust roots (rustls with the `ring` provider), and at most `max_concurrent`
    /// downloads at a time (at least one).
    pub fn new(timeout: Duration, max_concurrent: usize) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .user_agent(concat!(
                "sidero-controller-manager/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self {
            http,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        })
    }

    /// Downloads `url` into `target` atomically, verifying `expected` (lower-case hex SHA-512)
    /// when given. Waits for a download slot first; the timeout starts after that.
    pub async fn fetch(
        &self,
        url: &str,
        target: &Path,
        expected: Option<&str>,
    ) -> Result<Fetched, DownloadError> {
        // The semaphore is never closed; without a permit we would merely not be limited.
        let _permit = self.permits.acquire().await.ok();
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| DownloadError::Request(chain(&e)))?;
        if !response.status().is_success() {
            return Err(DownloadError::Status(response.status()));
        }
        let mut staged = Staged::create(target).await?;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(e) = staged.write(&chunk).await {
                        staged.abort().await;
                        return Err(e);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    staged.abort().await;
                    return Err(DownloadError::Request(chain(&e)));
                }
            }
        }
        staged.commit(expected).await
    }
}

/// A replacement for `target` being written next to it.
pub struct Staged {
    tmp: PathBuf,
    target: PathBuf,
    out: BufWriter<File>,
    hasher: Sha512,
    bytes: u64,
}

impl Staged {
    /// Starts a replacement for `target`: `.<name>.part` in the same directory, truncated.
    /// Only one replacement per target may be in progress (one reconcile per Environment).
    pub async fn create(target: &Path) -> Result<Self, DownloadError> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = target.with_file_name(format!(".{name}.part"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .await
            .map_err(|e| DownloadError::write(&tmp, e))?;
        Ok(Self {
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            tmp,
            target: target.to_path_buf(),
            hasher: Sha512::new(),
            bytes: 0,
        })
    }

    /// Appends `chunk`.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), DownloadError> {
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
        self.out
            .write_all(chunk)
            .await
            .map_err(|e| DownloadError::write(&self.tmp, e))
    }

    /// Gives up: removes the temporary file; the target is untouched.
    pub async fn abort(self) {
        let Staged { tmp, out, .. } = self;
        drop(out);
        if let Err(e) = tokio::fs::remove_file(&tmp).await {
            tracing::debug!(path = %tmp.display(), error = %e, "removing a partial download");
        }
    }

    /// Syncs the data, verifies `expected` (lower-case hex) when given and renames the file
    /// over the target. On any error the temporary file is removed and the target untouched.
    pub async fn commit(mut self, expected: Option<&str>) -> Result<Fetched, DownloadError> {
        if let Err(e) = self.sync().await {
            self.abort().await;
            return Err(e);
        }
        let mut actual = String::with_capacity(128);
        for b in self.hasher.clone().finalize() {
            let _ = write!(actual, "{b:02x}");
        }
        if let Some(expected) = expected.filter(|e| *e != actual) {
            let expected = expected.to_owned();
            self.abort().await;
            return Err(DownloadError::ChecksumMismatch { expected, actual });
        }
        if let Err(e) = tokio::fs::rename(&self.tmp, &self.target).await {
            let err = DownloadError::write(&self.target, e);
            self.abort().await;
            return Err(err);
        }
        if let Some(dir) = self.target.parent() {
            // The new file is in place either way; this only makes the rename durable.
            if let Err(e) = sync_dir(dir).await {
                tracing::warn!(dir = %dir.display(), error = %e, "fsync of the environment directory failed");
            }
        }
        Ok(Fetched {
            bytes: self.bytes,
            sha512: actual,
        })
    }

    async fn sync(&mut self) -> Result<(), DownloadError> {
        self.out
            .flush()
            .await
            .map_err(|e| DownloadError::write(&self.tmp, e))?;
        self.out
            .get_mut()
            .sync_all()
            .await
            .map_err(|e| DownloadError::write(&self.tmp, e))
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir).await?.sync_all().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn sha512_hex(data: &[u8]) -> String {
        Sha512::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    async fn stage(target: &Path, chunks: &[&[u8]]) -> Staged {
        let mut s = Staged::create(target).await.unwrap();
        for c in chunks {
            s.write(c).await.unwrap();
        }
        s
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn shorter_replacement_leaves_no_stale_tail() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vmlinuz");
        std::fs::write(&target, vec![b'x'; 10_000]).unwrap();
        let got = stage(&target, &[b"short", b" file"])
            .await
            .commit(None)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"short file");
        assert_eq!(got.bytes, 10);
        assert_eq!(got.sha512, sha512_hex(b"short file"));
        assert_eq!(entries(dir.path()), vec!["vmlinuz"]);
    }

    #[tokio::test]
    async fn matching_checksum_commits() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("initramfs.xz");
        let good = sha512_hex(b"data");
        let got = stage(&target, &[b"da", b"ta"])
            .await
            .commit(Some(&good))
            .await
            .unwrap();
        assert_eq!(got.sha512, good);
        assert_eq!(std::fs::read(&target).unwrap(), b"data");
    }

    #[tokio::test]
    async fn mismatch_keeps_the_served_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vmlinuz");
        std::fs::write(&target, b"old good file").unwrap();
        let wrong = sha512_hex(b"something else");
        let err = stage(&target, &[b"new bytes"])
            .await
            .commit(Some(&wrong))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "ChecksumMismatch");
        assert!(err.to_string().contains(&sha512_hex(b"new bytes")), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"old good file");
        assert_eq!(entries(dir.path()), vec!["vmlinuz"]);
    }

    #[tokio::test]
    async fn abort_keeps_the_served_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vmlinuz");
        std::fs::write(&target, b"old").unwrap();
        stage(&target, &[b"partial"]).await.abort().await;
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(entries(dir.path()), vec!["vmlinuz"]);
    }

    #[tokio::test]
    async fn unwritable_temp_file_is_a_write_error() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vmlinuz");
        std::fs::write(&target, b"old").unwrap();
        // A directory where the temporary file goes fails even for root.
        std::fs::create_dir(dir.path().join(".vmlinuz.part")).unwrap();
        let err = Staged::create(&target).await.err().unwrap();
        assert_eq!(err.reason(), "WriteFailed");
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
    }

    #[tokio::test]
    async fn failed_rename_is_a_write_error_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vmlinuz");
        // A non-empty directory cannot be replaced by a file.
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), b"").unwrap();
        let err = stage(&target, &[b"new"])
            .await
            .commit(None)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "WriteFailed");
        assert_eq!(entries(dir.path()), vec!["vmlinuz"]);
    }

    #[test]
    fn error_reasons() {
        assert_eq!(
            DownloadError::Status(reqwest::StatusCode::NOT_FOUND).to_string(),
            "failed to download asset: server answered 404 Not Found"
        );
        assert_eq!(
            DownloadError::Request("x".into()).reason(),
            "DownloadFailed"
        );
    }
}
