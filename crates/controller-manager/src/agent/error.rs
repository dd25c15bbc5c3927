//! Errors of the Agent API handlers and their gRPC status codes.

use tonic::{Code, Status};

/// Why an Agent API call failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The request is malformed (empty or invalid UUID, missing message, bad port).
    #[error("{0}")]
    InvalidArgument(String),
    /// No `Server` has this name.
    #[error(
        "server {0:?} not found: the agent must register it with CreateServer first (or it was deleted)"
    )]
    ServerNotFound(String),
    /// Every attempt to write the object met a concurrent write (HTTP 409).
    #[error("server {name:?} changed concurrently {attempts} times in a row; retry later")]
    Conflict {
        /// The Server name.
        name: String,
        /// How many writes were attempted.
        attempts: usize,
    },
    /// The API server refused or failed a request.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
}

impl AgentError {
    /// The gRPC code reported to the agent.
    ///
    /// Upstream answers every failure with `Unknown`; we give codes a client can act on:
    /// `InvalidArgument` for bad input, `NotFound` for an unknown server, `Aborted` for
    /// exhausted conflicts, `Unavailable` when the API server cannot be reached or is
    /// overloaded, `PermissionDenied` when our RBAC is missing; `Unknown` otherwise.
    pub fn code(&self) -> Code {
        match self {
            AgentError::InvalidArgument(_) => Code::InvalidArgument,
            AgentError::ServerNotFound(_) => Code::NotFound,
            AgentError::Conflict { .. } => Code::Aborted,
            AgentError::Kube(kube::Error::Api(e)) => match e.code {
                400 | 413 | 422 => Code::InvalidArgument,
                401 | 403 => Code::PermissionDenied,
                404 => Code::NotFound,
                409 => Code::Aborted,
                429 | 500..=599 => Code::Unavailable,
                _ => Code::Unknown,
            },
            AgentError::Kube(_) => Code::Unavailable,
        }
    }
}

impl From<AgentError> for Status {
    fn from(e: AgentError) -> Status {
        Status::new(e.code(), e.to_string())
    }
}
