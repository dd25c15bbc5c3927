//! Lexical cleaning of requested file names.
//!
//! Upstream Sidero joins `Clean("/" + name)` to its root, so a request is always interpreted
//! relative to the root: a leading `/` is ignored and `..` cannot climb above it
//! (`../../etc/passwd` becomes `etc/passwd` under the root). We do the same, and additionally:
//!
//! * backslashes are treated as separators (some PXE ROMs send DOS-style paths), so
//!   `..\..\x` is cleaned exactly like `../../x`;
//! * control characters (including NUL, which the codec already excludes) are refused;
//! * names longer than [`MAX_PATH_LEN`] bytes or with more than [`MAX_COMPONENTS`]
//!   components are refused;
//! * a name that cleans to nothing (`""`, `/`, `..`) is refused.
//!
//! The result, [`CleanPath`], never contains empty, `.` or `..` components, so joining it to a
//! root is lexically confined to that root; [`crate::DirSource`] additionally checks the
//! canonical path of the opened file, which covers symlinks.

use std::fmt;

/// Longest accepted requested name, in bytes.
pub const MAX_PATH_LEN: usize = 1024;
/// Most path components accepted in a request.
pub const MAX_COMPONENTS: usize = 64;

/// Why a requested name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The name cleans to the root itself.
    #[error("empty file name")]
    Empty,
    /// The name contains a control character.
    #[error("file name contains a control character")]
    ControlCharacter,
    /// The name exceeds [`MAX_PATH_LEN`] or [`MAX_COMPONENTS`].
    #[error("file name too long")]
    TooLong,
}

/// A requested name after lexical cleaning: relative, `/`-separated, with no empty, `.` or
/// `..` components.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CleanPath(String);

impl CleanPath {
    /// Cleans a requested name.
    pub fn new(requested: &str) -> Result<Self, PathError> {
        if requested.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        if requested.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter);
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in requested.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                other => {
                    if parts.len() >= MAX_COMPONENTS {
                        return Err(PathError::TooLong);
                    }
                    parts.push(other);
                }
            }
        }
        if parts.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(CleanPath(parts.join("/")))
    }

    /// The cleaned path, e.g. `ipxe/snp.efi`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for CleanPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn clean(s: &str) -> Result<String, PathError> {
        CleanPath::new(s).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn cleans_like_upstream() {
        assert_eq!(clean("undionly.kpxe").unwrap(), "undionly.kpxe");
        assert_eq!(clean("/undionly.kpxe").unwrap(), "undionly.kpxe");
        assert_eq!(clean("a/./b//c/").unwrap(), "a/b/c");
        assert_eq!(clean("../../etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(clean("/a/../../b").unwrap(), "b");
        assert_eq!(clean("..\\..\\etc\\passwd").unwrap(), "etc/passwd");
        assert_eq!(clean("a/..../b").unwrap(), "a/..../b");
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(clean(""), Err(PathError::Empty));
        assert_eq!(clean("/"), Err(PathError::Empty));
        assert_eq!(clean("a/.."), Err(PathError::Empty));
        assert_eq!(clean("a\u{1}b"), Err(PathError::ControlCharacter));
        assert_eq!(clean("a\0b"), Err(PathError::ControlCharacter));
        assert_eq!(
            clean(&"a".repeat(MAX_PATH_LEN + 1)),
            Err(PathError::TooLong)
        );
        assert_eq!(
            clean(&"a/".repeat(MAX_COMPONENTS + 1)),
            Err(PathError::TooLong)
        );
    }

    #[test]
    fn never_yields_dot_components() {
        for s in ["..", "../..", "./.", "a/../..", "\\..\\", "/../a/./../b/.."] {
            if let Ok(p) = CleanPath::new(s) {
                assert!(
                    p.components()
                        .all(|c| !c.is_empty() && c != "." && c != "..")
                );
            }
        }
    }
}
