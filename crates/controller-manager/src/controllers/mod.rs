//! The controllers of sidero-controller-manager. Each decides in pure functions of other
//! crates (e.g. `sidero-serverclass`) and acts here through the Kubernetes API.

pub mod environment;
pub mod server;
pub mod serverclass;

/// Errors a reconcile can end with; each is retried with backoff and logged.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The API server refused or failed a request.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// The object is invalid in a way the user must fix (also published as an Event).
    #[error("{0}")]
    Invalid(String),
}
