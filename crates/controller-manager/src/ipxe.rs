//! Prepares the TFTP folder at start-up (spec §5.2): each prebuilt iPXE binary gets our boot
//! script patched over its placeholder and is written atomically under its served name.
//!
//! Binaries without a placeholder (Debian's `ipxe` package, our default source) are served as
//! they are: they DHCP again as iPXE, and the proxy DHCP hands them `/boot.ipxe`.

use std::path::{Path, PathBuf};

use sidero_netboot::patch::{PatchError, patch};

/// Where the prebuilt binaries come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// `--ipxe-dir`: upstream's layout (`amd64/…`) or Debian's flat `/usr/lib/ipxe`.
    pub dir: PathBuf,
    /// `--ipxe-arm64-dir`: the arm64 EFI binaries (`ipxe.efi`, `snp.efi`); upstream keeps
    /// them in `<ipxe-dir>/arm64`, the default. Debian 12 ships none.
    pub arm64_dir: PathBuf,
}

impl Sources {
    /// `ipxe_dir` with the arm64 binaries in `arm64_dir`, or `<ipxe_dir>/arm64` when empty.
    pub fn new(ipxe_dir: impl Into<PathBuf>, arm64_dir: &str) -> Self {
        let dir = ipxe_dir.into();
        let arm64_dir = if arm64_dir.is_empty() {
            dir.join("arm64")
        } else {
            PathBuf::from(arm64_dir)
        };
        Sources { dir, arm64_dir }
    }
}

/// Which source folder an asset is looked up in.
#[derive(Clone, Copy)]
enum Arch {
    Amd64,
    Arm64,
}

/// One served file: where it may come from (first existing wins) and its served names.
struct Asset {
    arch: Arch,
    sources: &'static [&'static str],
    names: &'static [&'static str],
}

/// Upstream's layout (`amd64/…`) first, then Debian's flat `/usr/lib/ipxe` names; arm64
/// binaries by upstream's names, then Debian's (`snponly.efi`).
const ASSETS: &[Asset] = &[
    Asset {
        arch: Arch::Amd64,
        sources: &["amd64/ipxe.efi", "ipxe.efi"],
        names: &["ipxe.efi"],
    },
    Asset {
        arch: Arch::Amd64,
        sources: &["amd64/snp.efi", "snponly.efi"],
        names: &["snp.efi"],
    },
    Asset {
        arch: Arch::Arm64,
        sources: &["ipxe.efi"],
        names: &["ipxe-arm64.efi"],
    },
    Asset {
        arch: Arch::Arm64,
        sources: &["snp.efi", "snponly.efi"],
        names: &["snp-arm64.efi"],
    },
    Asset {
        arch: Arch::Amd64,
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
    /// No source binary was found: the served name is absent, so TFTP answers error 1 (file
    /// not found) and `/tftp/` 404.
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

/// Removes a served file whose source is gone, so a binary carrying an older script (or
/// endpoint) is never served in its place.
fn remove_stale(path: &Path) -> Result<(), PrepareError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PrepareError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Upstream's image keeps the BIOS binary uncompressed (`kpxe/undionly.kpxe.bin` and its
/// `.zinfo` compression map) and runs iPXE's `zbin` after patching (spec §5.2).
fn has_uncompressed_kpxe(dir: &Path) -> bool {
    dir.join("kpxe/undionly.kpxe.bin").is_file() && dir.join("kpxe/undionly.kpxe.zinfo").is_file()
}

/// The served names that carry no embedded script (copied as they are). iPXE started from
/// one of them DHCPs again as an iPXE client, so the proxy must hand it the script URL
/// (`--dhcp-ipxe-clients=http-script`), or a BIOS client gets `undionly.kpxe` again.
pub fn unscripted(prepared: &[Prepared]) -> Vec<&str> {
    prepared
        .iter()
        .filter_map(|p| match p {
            Prepared::Copied(name) => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// Fills `tftp_dir` from the binaries in `sources`, patched with `script`. A missing source
/// is logged (with every path tried) and leaves its served names absent.
pub fn prepare(
    sources: &Sources,
    tftp_dir: &Path,
    script: &str,
) -> Result<Vec<Prepared>, PrepareError> {
    std::fs::create_dir_all(tftp_dir).map_err(io(tftp_dir))?;
    let mut out = Vec::new();
    for asset in ASSETS {
        let base = match asset.arch {
            Arch::Amd64 => &sources.dir,
            Arch::Arm64 => &sources.arm64_dir,
        };
        let tried: Vec<PathBuf> = asset.sources.iter().map(|s| base.join(s)).collect();
        let Some(src) = tried.iter().find(|p| p.is_file()) else {
            if asset.names.contains(&"undionly.kpxe") && has_uncompressed_kpxe(&sources.dir) {
                tracing::warn!(
                    dir = %sources.dir.display(),
                    "found upstream's uncompressed kpxe/undionly.kpxe.bin + .zinfo, but \
                     recompressing them (iPXE's zbin) is not implemented: put a compressed \
                     undionly.kpxe in amd64/ and serve BIOS iPXE clients with \
                     --dhcp-ipxe-clients=http-script"
                );
            }
            for name in asset.names {
                tracing::warn!(
                    file = name,
                    tried = ?tried,
                    "iPXE binary missing: not served; clients asking for it get TFTP error 1 \
                     (file not found) and /tftp/ 404"
                );
                remove_stale(&tftp_dir.join(name))?;
                out.push(Prepared::Missing((*name).to_string()));
            }
            continue;
        };
        let binary = std::fs::read(src).map_err(io(src))?;
        let (bytes, patched) = match patch(&binary, script) {
            Ok(b) => (b, true),
            Err(PatchError::NoPlaceholder) => (binary, false),
            Err(e) => {
                return Err(PrepareError::Patch {
                    path: src.clone(),
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
        let got = prepare(&Sources::new(ipxe.path(), ""), tftp.path(), &script).unwrap();
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
        let err = prepare(
            &Sources::new(ipxe.path(), ""),
            tftp.path(),
            &"#!ipxe\n".repeat(20),
        )
        .unwrap_err();
        assert!(err.to_string().contains("placeholder holds only"), "{err}");
    }

    #[test]
    fn arm64_binaries_come_from_their_own_folder_and_are_patched() {
        let ipxe = tempfile::tempdir().unwrap();
        let arm = tempfile::tempdir().unwrap();
        let tftp = tempfile::tempdir().unwrap();
        std::fs::write(arm.path().join("snp.efi"), placeholder_binary()).unwrap();
        std::fs::write(arm.path().join("ipxe.efi"), placeholder_binary()).unwrap();
        // Upstream's default place is ignored once a folder is given.
        std::fs::create_dir_all(ipxe.path().join("arm64")).unwrap();
        std::fs::write(ipxe.path().join("arm64/snp.efi"), b"wrong").unwrap();
        let script = sidero_netboot::script::boot_script("10.0.0.1", 8081);
        let sources = Sources::new(ipxe.path(), arm.path().to_str().unwrap());
        let got = prepare(&sources, tftp.path(), &script).unwrap();
        assert!(got.contains(&Prepared::Patched("snp-arm64.efi".into())));
        assert!(got.contains(&Prepared::Patched("ipxe-arm64.efi".into())));
        for name in ["snp-arm64.efi", "ipxe-arm64.efi"] {
            let b = std::fs::read(tftp.path().join(name)).unwrap();
            assert!(
                b.windows(script.len()).any(|w| w == script.as_bytes()),
                "{name}"
            );
        }
    }

    #[test]
    fn upstream_layout_is_the_default_arm64_folder() {
        let ipxe = tempfile::tempdir().unwrap();
        let tftp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ipxe.path().join("arm64")).unwrap();
        std::fs::write(ipxe.path().join("arm64/snp.efi"), b"plain arm64 snp").unwrap();
        let sources = Sources::new(ipxe.path(), "");
        assert_eq!(sources.arm64_dir, ipxe.path().join("arm64"));
        let got = prepare(&sources, tftp.path(), "#!ipxe\n").unwrap();
        assert!(got.contains(&Prepared::Copied("snp-arm64.efi".into())));
        assert!(got.contains(&Prepared::Missing("ipxe-arm64.efi".into())));
        assert_eq!(
            std::fs::read(tftp.path().join("snp-arm64.efi")).unwrap(),
            b"plain arm64 snp"
        );
    }

    #[test]
    fn a_missing_binary_removes_a_stale_served_copy() {
        let ipxe = tempfile::tempdir().unwrap();
        let tftp = tempfile::tempdir().unwrap();
        std::fs::write(tftp.path().join("snp-arm64.efi"), b"from an older start").unwrap();
        let got = prepare(&Sources::new(ipxe.path(), ""), tftp.path(), "#!ipxe\n").unwrap();
        assert!(got.contains(&Prepared::Missing("snp-arm64.efi".into())));
        assert!(!tftp.path().join("snp-arm64.efi").exists());
    }

    #[test]
    fn unscripted_lists_only_copied_binaries() {
        let prepared = vec![
            Prepared::Patched("snp.efi".into()),
            Prepared::Copied("undionly.kpxe".into()),
            Prepared::Missing("snp-arm64.efi".into()),
            Prepared::Copied("undionly.kpxe.0".into()),
        ];
        assert_eq!(unscripted(&prepared), ["undionly.kpxe", "undionly.kpxe.0"]);
    }

    #[test]
    fn upstream_uncompressed_kpxe_alone_is_missing_not_served_raw() {
        // The .bin is not a PXE-loadable image without zbin: it must not be served.
        let ipxe = tempfile::tempdir().unwrap();
        let tftp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ipxe.path().join("kpxe")).unwrap();
        std::fs::write(
            ipxe.path().join("kpxe/undionly.kpxe.bin"),
            placeholder_binary(),
        )
        .unwrap();
        std::fs::write(ipxe.path().join("kpxe/undionly.kpxe.zinfo"), b"COPY").unwrap();
        assert!(has_uncompressed_kpxe(ipxe.path()));
        let got = prepare(&Sources::new(ipxe.path(), ""), tftp.path(), "#!ipxe\n").unwrap();
        assert!(got.contains(&Prepared::Missing("undionly.kpxe".into())));
        assert!(!tftp.path().join("undionly.kpxe").exists());
    }
}
