//! Test support with real peers: an etcd + kube-apiserver built from their Go modules
//! (`tools/peers/`), started on free loopback ports with generated certificates, with our CRDs
//! installed from `deploy/crds/`.
//!
//! ```no_run
//! # async fn t() -> Result<(), sidero_testenv::Error> {
//! let cp = sidero_testenv::shared()?;          // one control plane per test binary
//! let client = cp.client().await?;             // one client per test (per runtime)
//! # Ok(()) }
//! ```

pub mod bmc_hook;
pub mod bootenv;
pub mod capi;
pub mod cargo_bin;
pub mod certs;
pub mod controlplane;
pub mod crds;
pub mod ipmi_sim;
pub mod lab;
pub mod netns;
pub mod oci;
pub mod peers;
pub mod ports;
pub mod process;
pub mod sushy;
pub mod talos_sim;
pub mod vm;

use std::sync::OnceLock;

pub use controlplane::{ControlPlane, KUBERNETES_VERSION};

/// What can go wrong while bringing up test peers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A peer binary could not be built or found.
    #[error("peer: {0}")]
    Peer(String),
    /// A process could not be started or did not become ready.
    #[error("process: {0}")]
    Process(String),
    /// Certificate generation failed.
    #[error("certificates: {0}")]
    Certs(String),
    /// A manifest could not be read.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The Kubernetes API refused or failed a request.
    #[error("kubernetes: {0}")]
    Kube(String),
    /// File system or OS error.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error with context.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The folder of generated CRD manifests in this repository.
pub fn crd_dir() -> std::path::PathBuf {
    peers::repo_root().join("deploy/crds")
}

/// Starts a control plane and installs our CRDs from [`crd_dir`]. Blocking.
pub fn start_with_crds() -> Result<ControlPlane, Error> {
    let cp = ControlPlane::start()?;
    let crds = crds::read_dir(&crd_dir())?;
    let kubeconfig = cp.kubeconfig().to_path_buf();
    // Our own runtime on our own thread: callers may or may not be inside one.
    std::thread::spawn(move || -> Result<(), Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("building a runtime", e))?;
        rt.block_on(async {
            let client = controlplane::client_from(&kubeconfig).await?;
            crds::install(&client, &crds).await
        })
    })
    .join()
    .map_err(|_| Error::Process("CRD install thread panicked".into()))??;
    Ok(cp)
}

/// One control plane with our CRDs for the whole test binary, started on first use.
///
/// It lives until the process exits; its peers then die with it (parent-death signal), and
/// its temp folder is left for the OS (it holds only certificates, logs and etcd data).
pub fn shared() -> Result<&'static ControlPlane, Error> {
    static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| start_with_crds().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Process(format!("shared control plane failed to start: {e}")))
}
