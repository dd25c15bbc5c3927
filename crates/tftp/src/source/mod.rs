//! Where served content comes from.
//!
//! The server asks a [`FileSource`] to open a [`CleanPath`] (already lexically confined, see
//! [`crate::path`]) and streams the returned reader. Two implementations ship here:
//! [`DirSource`] (a directory on disk, with symlink escapes checked against the canonical root)
//! and [`MemorySource`] (a shared, updatable in-memory map, for patched iPXE binaries).

mod dir;
mod memory;

use std::future::Future;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncRead;

pub use dir::DirSource;
pub use memory::MemorySource;

use crate::packet::ErrorCode;
use crate::path::CleanPath;

/// An opened file: a reader plus its size when known (reported through the `tsize` option).
pub struct OpenedFile {
    /// Size in bytes, if known in advance.
    pub size: Option<u64>,
    /// The content.
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
}

impl OpenedFile {
    /// Wraps an arbitrary reader.
    pub fn new(reader: impl AsyncRead + Send + Unpin + 'static, size: Option<u64>) -> Self {
        OpenedFile {
            size,
            reader: Box::new(reader),
        }
    }

    /// Serves a byte buffer (cheaply cloned, never copied as a whole).
    pub fn from_bytes(data: Bytes) -> Self {
        let size = u64::try_from(data.len()).ok();
        OpenedFile::new(io::Cursor::new(data), size)
    }
}

impl std::fmt::Debug for OpenedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedFile")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Why a file could not be opened; each maps to a TFTP error code.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No such file (or not a regular file). TFTP error 1.
    #[error("file not found")]
    NotFound,
    /// The file exists but may not be served (for example it resolves outside the root).
    /// TFTP error 2.
    #[error("access violation: {0}")]
    AccessDenied(String),
    /// Any other I/O failure. TFTP error 0.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

impl SourceError {
    /// The TFTP error code sent to the client.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            SourceError::NotFound => ErrorCode::FileNotFound,
            SourceError::AccessDenied(_) => ErrorCode::AccessViolation,
            SourceError::Io(_) => ErrorCode::NotDefined,
        }
    }

    /// The message sent to the client (deliberately without host paths or OS details).
    pub fn client_message(&self) -> &'static str {
        match self {
            SourceError::NotFound => "File not found",
            SourceError::AccessDenied(_) => "Access violation",
            SourceError::Io(_) => "Read error",
        }
    }

    /// Maps an I/O error from opening a file.
    pub fn from_open_error(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory => SourceError::NotFound,
            io::ErrorKind::PermissionDenied => SourceError::AccessDenied(err.to_string()),
            _ => SourceError::Io(err),
        }
    }
}

/// A provider of served files.
///
/// `open` runs inside the transfer's own task, so a slow source delays only that transfer.
pub trait FileSource: Send + Sync + 'static {
    /// Opens `path` for reading.
    fn open(
        &self,
        path: &CleanPath,
    ) -> impl Future<Output = Result<OpenedFile, SourceError>> + Send;
}

impl<S: FileSource> FileSource for Arc<S> {
    fn open(
        &self,
        path: &CleanPath,
    ) -> impl Future<Output = Result<OpenedFile, SourceError>> + Send {
        S::open(self, path)
    }
}
