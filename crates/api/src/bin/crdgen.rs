//! Writes the CRD manifests to `deploy/crds/` (or the folder given as the only argument).
//! Files of ours that the code no longer generates are removed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"));
    std::fs::create_dir_all(&dir)?;
    let crds = sidero_api::crds::all();
    let mut wanted = Vec::new();
    for crd in &crds {
        let name = sidero_api::crds::file_name(crd);
        std::fs::write(dir.join(&name), sidero_api::crds::to_yaml(crd)?)?;
        wanted.push(name);
    }
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.ends_with(".yaml") && !wanted.contains(&name) {
            std::fs::remove_file(&path)?;
        }
    }
    println!("wrote {} CRDs to {}", crds.len(), dir.display());
    Ok(())
}
