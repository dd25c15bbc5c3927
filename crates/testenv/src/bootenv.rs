//! The agent boot environment: Debian's kernel and a busybox initramfs built by
//! `tools/initramfs/build.sh` (cached by its inputs under `~/.cache/sidero-rs/initramfs`), with
//! the static `sidero-agent` from `tools/agent/build.sh` as `/init` for discovery.

use std::path::PathBuf;
use std::process::Command;

use crate::{Error, peers};

/// Runs a build script of the repository and returns the path it prints.
fn script(rel: &str, args: &[&str]) -> Result<PathBuf, Error> {
    let path = peers::repo_root().join(rel);
    let out = Command::new(&path)
        .args(args)
        .output()
        .map_err(|e| Error::io(format!("running {}", path.display()), e))?;
    if !out.status.success() {
        return Err(Error::Peer(format!(
            "{rel} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `tools/initramfs/build.sh <args>`: the folder with `vmlinuz` and `initramfs.xz`.
pub fn build_environment(args: &[&str]) -> Result<PathBuf, Error> {
    script("tools/initramfs/build.sh", args)
}

/// `tools/agent/build.sh`: the static agent.
pub fn agent_binary() -> Result<PathBuf, Error> {
    script("tools/agent/build.sh", &[])
}

/// The discovery environment: the agent as `/init` plus the virtio NIC and disk drivers
/// (the same arguments as `scripts/test.sh`, so it is built once for both).
pub fn agent_environment() -> Result<PathBuf, Error> {
    let agent = agent_binary()?;
    let agent = agent.display().to_string();
    build_environment(&[
        "--init",
        &agent,
        "--module",
        "virtio_pci",
        "--module",
        "virtio_net",
        "--module",
        "virtio_blk",
    ])
}
