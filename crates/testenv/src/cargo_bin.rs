//! Binaries of other workspace packages for integration tests. Cargo gives a test only its own
//! package's binaries (`CARGO_BIN_EXE_*`), so tests that run both managers build the other one
//! with `cargo build` into the same target folder (a no-op when it is fresh).

use std::path::PathBuf;
use std::process::Command;

use crate::{Error, peers};

/// The profile folder the running test executable lives in (`target/<profile>`).
fn profile_dir() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("locating the test binary", e))?;
    // target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .ok_or_else(|| Error::Peer(format!("{} has no target folder", exe.display())))
}

/// Builds binary `bin` of workspace package `package` (same profile as the running test) and
/// returns its path.
pub fn workspace_bin(package: &str, bin: &str) -> Result<PathBuf, Error> {
    let profile = profile_dir()?;
    let target = profile
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| Error::Peer("the target folder has no parent".into()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(peers::repo_root())
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .arg("--target-dir")
        .arg(&target);
    if profile.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("running cargo build -p {package}"), e))?;
    if !out.status.success() {
        return Err(Error::Peer(format!(
            "cargo build -p {package} --bin {bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let path = profile.join(bin);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Peer(format!("{} was not built", path.display())))
    }
}
