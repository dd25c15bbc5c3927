//! Locates the Go-built peers (etcd, kube-apiserver, …), building them on first use through
//! `tools/peers/build.sh`, which caches binaries outside the clone keyed by their inputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// The repository root (two levels above this crate's manifest).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// Returns the path of binary `bin` built by peer wrapper `wrapper` (a folder under
/// `tools/peers/`), building the wrapper if its cache entry is missing.
///
/// `SIDERO_TEST_ASSETS`, when set, names a folder that already holds the binaries
/// (as `KUBEBUILDER_ASSETS` does for envtest) and skips the build.
pub fn binary(wrapper: &str, bin: &str) -> Result<PathBuf, Error> {
    let p = match std::env::var_os("SIDERO_TEST_ASSETS") {
        Some(dir) => PathBuf::from(dir).join(bin),
        None => build(wrapper)?.join(bin),
    };
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::Peer(format!(
            "{wrapper}: {} does not exist",
            p.display()
        )))
    }
}

/// The folder of manifests (CRDs, webhook configurations) that wrapper `wrapper` copies from
/// its Go modules (`CONFIG` in its `peer.env`), laid out as in the module: e.g.
/// `<dir>/config/crd/bases/`. With `SIDERO_TEST_ASSETS` set it is
/// `$SIDERO_TEST_ASSETS/config/<wrapper>`.
pub fn config_dir(wrapper: &str) -> Result<PathBuf, Error> {
    let p = match std::env::var_os("SIDERO_TEST_ASSETS") {
        Some(dir) => PathBuf::from(dir).join("config").join(wrapper),
        None => build(wrapper)?
            .parent()
            .map(|d| d.join("config"))
            .ok_or_else(|| Error::Peer(format!("{wrapper}: the cache folder has no parent")))?,
    };
    if p.is_dir() {
        Ok(p)
    } else {
        Err(Error::Peer(format!(
            "{wrapper}: {} does not exist",
            p.display()
        )))
    }
}

/// Runs `tools/peers/build.sh <wrapper>` (a no-op when cached) and returns its `bin` folder.
fn build(wrapper: &str) -> Result<PathBuf, Error> {
    let script = repo_root().join("tools/peers/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(wrapper)
        .output()
        .map_err(|e| Error::Peer(format!("running {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(Error::Peer(format!(
            "{} {wrapper} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}
