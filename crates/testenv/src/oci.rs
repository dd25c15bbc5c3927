//! Manager images for tests: `tools/images/build.sh` run with buildah into an OCI archive, and
//! what the archive holds (entrypoint, environment, user, files by path and size).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// Whether buildah is installed (image tests skip, saying so, when it is not).
pub fn buildah_available() -> bool {
    Command::new("buildah")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds image `name` with the manager binary `binary` (any build; the script's default is
/// a static release build) and the agent environment in `agent_env`, into `out`; the archive.
pub fn build(name: &str, binary: &Path, agent_env: &Path, out: &Path) -> Result<PathBuf, Error> {
    let bin_dir = out.join("bin");
    std::fs::create_dir_all(&bin_dir).map_err(|e| Error::io("creating the bin folder", e))?;
    std::fs::copy(binary, bin_dir.join(name)).map_err(|e| Error::io("staging the binary", e))?;
    let script = crate::peers::repo_root().join("tools/images/build.sh");
    let o = Command::new(&script)
        .arg("--only")
        .arg(name)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--agent-env")
        .arg(agent_env)
        .arg("--out")
        .arg(out)
        .output()
        .map_err(|e| Error::io("running tools/images/build.sh", e))?;
    if !o.status.success() {
        return Err(Error::Process(format!(
            "tools/images/build.sh failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )));
    }
    Ok(out.join(format!("{name}.tar")))
}

/// What an image holds.
#[derive(Debug, Default)]
pub struct Image {
    /// `config.Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `config.Env`.
    pub env: Vec<String>,
    /// `config.User`.
    pub user: String,
    /// Regular files of all layers: (path without leading `/`, size).
    pub files: Vec<(String, u64)>,
    /// The manifest's references in `index.json` (`org.opencontainers.image.ref.name`).
    pub ref_names: Vec<String>,
}

fn json(path: &Path) -> Result<serde_json::Value, Error> {
    let text =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&text).map_err(|e| Error::Process(format!("{}: {e}", path.display())))
}

fn blob(root: &Path, digest: &str) -> PathBuf {
    root.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Unpacks `archive` (an `oci-archive`) and reads its first manifest.
pub fn inspect(archive: &Path) -> Result<Image, Error> {
    let root = archive.with_extension("unpacked");
    std::fs::create_dir_all(&root).map_err(|e| Error::io("creating the unpack folder", e))?;
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(&root)
        .status()
        .map_err(|e| Error::io("running tar", e))?
        .success();
    if !ok {
        return Err(Error::Process(format!("tar -xf {}", archive.display())));
    }
    let index = json(&root.join("index.json"))?;
    let manifest_ref = &index["manifests"][0];
    let mut image = Image {
        ref_names: index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
            .map(str::to_owned)
            .collect(),
        ..Image::default()
    };
    let manifest = json(&blob(
        &root,
        manifest_ref["digest"].as_str().unwrap_or_default(),
    ))?;
    let config = json(&blob(
        &root,
        manifest["config"]["digest"].as_str().unwrap_or_default(),
    ))?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    image.entrypoint = strings(&config["config"]["Entrypoint"]);
    image.env = strings(&config["config"]["Env"]);
    image.user = config["config"]["User"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        let path = blob(&root, layer["digest"].as_str().unwrap_or_default());
        let o = Command::new("tar")
            .arg("-tvf")
            .arg(&path)
            .output()
            .map_err(|e| Error::io("listing a layer", e))?;
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            // `-rwxr-xr-x 0/0 1234 2024-01-01 00:00 path`
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() >= 6 && cols[0].starts_with('-') {
                let size = cols[2].parse().unwrap_or(0);
                let name = cols[5..].join(" ");
                image.files.push((
                    name.trim_start_matches("./")
                        .trim_start_matches('/')
                        .to_owned(),
                    size,
                ));
            }
        }
    }
    Ok(image)
}
