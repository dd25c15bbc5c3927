//! `sidero.link.ProvisionService/Provision` (spec §8.1): finds the ServerBinding named by the
//! node UUID, persists the node's address and key in it, and answers with the server's side.
//! The decision is [`sidero_siderolink::provision::decide`]; this is the thin executor.

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_proto::sidero::link::provision_service_server::{
    ProvisionService, ProvisionServiceServer,
};
use sidero_proto::sidero::link::{ProvisionRequest, ProvisionResponse};
use sidero_siderolink::provision::{LinkState, ProvisionError, ServerSide, decide};
use tonic::{Code, Request, Response, Status};

use super::{FIELD_MANAGER, MAX_WRITE_ATTEMPTS, is_conflict};

/// Largest request accepted, in bytes.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// The Provision service.
pub struct ProvisionApi {
    client: Client,
    server: ServerSide,
}

impl ProvisionApi {
    /// A service writing through `client`, advertising `server`.
    pub fn new(client: Client, server: ServerSide) -> ProvisionApi {
        ProvisionApi { client, server }
    }

    /// The tonic server.
    pub fn into_server(self) -> ProvisionServiceServer<ProvisionApi> {
        ProvisionServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }
}

fn kube_status(e: kube::Error) -> Status {
    let code = match &e {
        kube::Error::Api(ae) => match ae.code {
            401 | 403 => Code::PermissionDenied,
            409 => Code::Aborted,
            429 | 500..=599 => Code::Unavailable,
            _ => Code::Unknown,
        },
        _ => Code::Unavailable,
    };
    Status::new(code, format!("kubernetes: {e}"))
}

fn decision_status(e: ProvisionError) -> Status {
    match e {
        ProvisionError::InvalidKey(_) => Status::invalid_argument(e.to_string()),
        ProvisionError::StoredAddress(_) => Status::failed_precondition(e.to_string()),
    }
}

#[tonic::async_trait]
impl ProvisionService for ProvisionApi {
    async fn provision(
        &self,
        request: Request<ProvisionRequest>,
    ) -> Result<Response<ProvisionResponse>, Status> {
        let peer = request.remote_addr();
        let req = request.into_inner();
        let uuid = req.node_uuid.as_str();
        let not_found = || Status::not_found(format!("server binding {uuid:?} not found"));
        if uuid.is_empty() {
            return Err(not_found());
        }
        let api: Api<ServerBinding> = Api::all(self.client.clone());
        for attempt in 1..=MAX_WRITE_ATTEMPTS {
            let binding = api
                .get_opt(uuid)
                .await
                .map_err(kube_status)?
                .ok_or_else(not_found)?;
            let current = LinkState {
                address: binding.spec.siderolink.address.clone(),
                public_key: binding.spec.siderolink.public_key.clone(),
            };
            let random = sidero_siderolink::random_host_bytes()
                .map_err(|e| Status::internal(e.to_string()))?;
            let d = decide(&current, &req.node_public_key, &self.server, random)
                .map_err(decision_status)?;
            if d.changed {
                let patch = json!({
                    "metadata": {"resourceVersion": binding.resource_version()},
                    "spec": {"siderolink": {"address": d.state.address, "publicKey": d.state.public_key}},
                });
                let params = PatchParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PatchParams::default()
                };
                match api.patch(uuid, &params, &Patch::Merge(patch)).await {
                    Ok(_) => {}
                    Err(e) if is_conflict(&e) && attempt < MAX_WRITE_ATTEMPTS => continue,
                    Err(e) => return Err(kube_status(e)),
                }
            }
            tracing::info!(server = %uuid, ?peer, address = %d.state.address, public_key = %d.state.public_key, changed = d.changed, "SideroLink node provisioned");
            return Ok(Response::new(d.response));
        }
        Err(Status::aborted(format!(
            "server binding {uuid:?} changed concurrently {MAX_WRITE_ATTEMPTS} times; retry"
        )))
    }
}
