//! Prepares the TFTP folder at start-up (spec §5.2): each prebuilt iPXE binary gets our boot
//! script patched over its placeholder and is written atomically under its served name.
//!
//! Binaries without a placeholder (Debian's `ipxe` package, our default source) are served as
//! they are: they DHCP again as iPXE, and the proxy DHCP hands them `/boot.ipxe`.

use std::path::{Path, PathBuf};

use sidero_netboot::patch::{PatchError, patch};

/// One served file: where it may come from (first existing wins) and its served names.
struct Asset {
    sources: &'static [&'static str],
    names: &'static [&'static str],
}

/// Upstream's layout (`amd64/…`, `arm64/…`) first, then Debian's flat `/usr/lib/ipxe` names.
const ASSETS: &[Asset] = &[
    Asset {
        sources: &["amd64/ipxe.efi", "ipxe.efi"],
        names: &["ipxe.efi"],
    },
    Asset {
        sources: &["amd64/snp.efi", "snponly.efi"],
        names: &["snp.efi"],
    },
    Asset {
        sources: &["arm64/ipxe.efi"],
        names: &["ipxe-arm64.efi"],
    },
    Asset {
        sources: &["arm64/snp.efi"],
        names: &["snp-arm64.efi"],
    },
    Asset {
        sources: &["amd64/undionly.kpxe", "undionly.kpxe"],
        names: &["undionly.kpxe", "undionly.kpxe.0"],
    },
];

/// What happened to one served file.
#[derive(Debug, PartialEq, Eq)]
pub enum Prepared {
    /// Our script was patched in.
    Patched(String),
    /// Copied unchanged (no placeholder).
    Copied(String),
    /// No source binary was found.
    Missing(String),
}

/// Why the folder could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The script does not fit a binary's placeholder.
    #[error("{path}: {source}")]
    Patch {
        /// The binary.
        path: PathBuf,
        /// The error.
        source: PatchError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PrepareError + '_ {
    move |source| PrepareError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes via a temporary file and a rename, so TFTP clients never read a partial binary.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PrepareError> {
    let tmp = path.with_extension("tmp-sidero");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Fills `tftp_dir` from the binaries in `ipxe_dir`, patched with `script`.
pub fn prepare(
    ipxe_dir: &Path,
    tftp_dir: &Path,
    script: &str,
) -> Result<Vec<Prepared>, PrepareError> {
    std::fs::create_dir_all(tftp_dir).map_err(io(tftp_dir))?;
    let mut out = Vec::new();
    for asset in ASSETS {
        let Some(src) = asset
            .sources
            .iter()
            .map(|s| ipxe_dir.join(s))
            .find(|p| p.is_file())
        else {
            out.extend(
                asset
                    .names
                    .iter()
                    .map(|n| Prepared::Missing((*n).to_string())),
            );
            continue;
        };
        let binary = std::fs::read(&src).map_err(io(&src))?;
        let (bytes, patched) = match patch(&binary, script) {
            Ok(b) => (b, true),
            Err(PatchError::NoPlaceholder) => (binary, false),
            Err(e) => {
                return Err(PrepareError::Patch {
                    path: src,
                    source: e,
                });
            }
        };
        for name in asset.names {
            write_atomic(&tftp_dir.join(name), &bytes)?;
            out.push(if patched {
                Prepared::Patched((*name).to_string())
            } else {
                Prepared::Copied((*name).to_string())
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use sidero_netboot::patch::{END_MARKER, START_MARKER};

    fn placeholder_binary() -> Vec<u8> {
        let mut b = b"MZ....".to_vec();
        b.extend_from_slice(START_MARKER);
        b.extend(std::iter::repeat_n(b'#', 1100));
        b.extend_from_slice(END_MARKER);
        b.extend_from_slice(b"tail");
        b
    }

    #[test]
    fn patches_upstream_layout_and_copies_plain_binaries() {
        let ipxe = tempfile::tempdir().unwrap();
        let tftp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ipxe.path().join("amd64")).unwrap();
        std::fs::write(ipxe.path().join("amd64/snp.efi"), placeholder_binary()).unwrap();
        std::fs::write(ipxe.path().join("undionly.kpxe"), b"plain kpxe").unwrap();
        let script = sidero_netboot::script::boot_script("10.0.0.1", 8081);
        let got = prepare(ipxe.path(), tftp.path(), &script).unwrap();
        assert!(got.contains(&Prepared::Patched("snp.efi".into())));
        assert!(got.contains(&Prepared::Copied("undionly.kpxe".into())));
        assert!(got.contains(&Prepared::Copied("undionly.kpxe.0".into())));
        assert!(got.contains(&Prepared::Missing("snp-arm64.efi".into())));
        let snp = std::fs::read(tftp.path().join("snp.efi")).unwrap();
        assert!(snp.windows(script.len()).any(|w| w == script.as_bytes()));
        assert!(snp.ends_with(b"tail"));
        assert_eq!(
            std::fs::read(tftp.path().join("undionly.kpxe.0")).unwrap(),
            b"plain kpxe"
        );
        assert!(!tftp.path().join("snp.efi.tmp-sidero").exists());
    }

    #[test]
    fn a_script_larger_than_the_placeholder_is_an_error() {
        let ipxe = tempfile::tempdir().unwrap();
        let tftp = tempfile::tempdir().unwrap();
        let mut small = START_MARKER.to_vec();
        small.extend_from_slice(END_MARKER);
        std::fs::write(ipxe.path().join("ipxe.efi"), small).unwrap();
        let err = prepare(ipxe.path(), tftp.path(), &"#!ipxe\n".repeat(20)).unwrap_err();
        assert!(err.to_string().contains("placeholder holds only"), "{err}");
    }
}
