//! SideroLink on the manager's side (spec §8): everything that reads or writes ServerBindings
//! for the protocol pieces of `sidero-siderolink`, which know no Kubernetes.
//!
//! * [`provision`]: `sidero.link.ProvisionService/Provision` on the combined listener;
//! * [`bindings`]: a ServerBinding watch that drives the WireGuard peers and the annotation
//!   cache of the log receiver and events sink;
//! * [`binding_writer`]: applies Talos events' effects to ServerBindings;
//! * [`endpoint`]: `--siderolink`, the WireGuard endpoint, log receiver and events sink.

pub mod binding_writer;
pub mod bindings;
pub mod endpoint;
pub mod provision;

use std::net::SocketAddr;

use sidero_siderolink::provision::ServerSide;

use crate::identity::Identity;

/// Field manager of SideroLink's writes.
pub const FIELD_MANAGER: &str = "sidero-siderolink";

/// Writes attempted before a run of conflicts is given up.
pub const MAX_WRITE_ATTEMPTS: usize = 8;

/// Why the server side cannot be described.
#[derive(Debug, thiserror::Error)]
pub enum SideroLinkError {
    /// The Secret's private key is not a WireGuard key.
    #[error("siderolink private key: {0}")]
    Key(#[from] sidero_siderolink::key::KeyError),
}

/// Sidero's side of the tunnel for this installation, advertised at `endpoint`.
pub fn server_side(id: &Identity, endpoint: SocketAddr) -> Result<ServerSide, SideroLinkError> {
    Ok(ServerSide {
        endpoint,
        public_key: sidero_siderolink::key::public_key(&id.private_key)?,
        subnet: sidero_siderolink::subnet(&id.installation_id),
        server_address: sidero_siderolink::server_address(&id.installation_id),
    })
}

/// Whether a kube error is a write conflict worth retrying.
pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(ae) if ae.code == 409)
}
