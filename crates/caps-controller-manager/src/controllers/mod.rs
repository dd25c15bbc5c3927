//! The CAPS controllers. Each watches what its decision depends on (no fixed polling; the
//! 20-second requeue of upstream remains only as a safety net while waiting).

pub mod metalcluster;
pub mod metalmachine;
pub mod serverbinding;

use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

/// Errors a reconcile can end with; each is retried with backoff and logged.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The API server refused or failed a request.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// A cache did not become ready.
    #[error("{0}")]
    NotReady(String),
}

/// The safety-net requeue while waiting for something.
pub fn requeue() -> Duration {
    Duration::from_secs(sidero_caps::DEFAULT_REQUEUE_SECS)
}

/// An Event recorder reporting as `caps-controller-manager`.
pub fn recorder(client: &Client) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: "caps-controller-manager".into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    )
}

/// Whether a kube error is the API's 404 / 409.
pub fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}
