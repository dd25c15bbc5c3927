//! `sidero-release`: writes the clusterctl provider release into
//! `<out>/infrastructure-sidero/<version>/` (a folder `clusterctl` takes as a `file://` URL).

use std::path::PathBuf;

use clap::Parser;

/// Flags.
#[derive(Debug, Parser)]
#[command(about = "Write the clusterctl provider artifacts of Sidero")]
struct Flags {
    /// Folder to write `infrastructure-sidero/<version>/` into.
    #[arg(long, default_value = "_out")]
    out: PathBuf,
    /// Release tag (`vX.Y.Z`); its series is added to metadata.yaml with contract v1beta1.
    #[arg(long, default_value = "v0.7.0")]
    version: String,
    /// Registry the images are pulled from.
    #[arg(long, default_value = "ghcr.io")]
    registry: String,
}

fn main() -> anyhow::Result<()> {
    let f = Flags::parse();
    let release = sidero_release::Release {
        version: f.version,
        registry: f.registry,
    };
    let dir = release.write(&f.out)?;
    println!("wrote {}", dir.display());
    Ok(())
}
