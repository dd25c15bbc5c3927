//! [`AgentService`]: the `api.Agent` handlers, acting through the Kubernetes API.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use sidero_api::metal::v1alpha2::{Server, ServerStatus};
use sidero_proto::api;
use sidero_proto::api::agent_server::{Agent, AgentServer};
use tonic::{Request, Response, Status};

use super::auth::{self, AgentAuth, TokenCheck, Verdict};
use super::decide::{self, BMC_SECRET_NAMESPACE, BMC_SECRET_PASS_KEY, BMC_SECRET_USER_KEY};
use super::{
    AgentConfig, AgentError, EVENT_BMC_UPDATE, EVENT_REGISTRATION, EVENT_REPORTER, EVENT_WIPE,
    FIELD_MANAGER, MAX_MESSAGE_SIZE,
};

/// Writes attempted before a run of conflicts is reported as `Aborted`.
const MAX_WRITE_ATTEMPTS: usize = 8;

/// Label that makes `clusterctl move` carry an object along.
const MOVE_LABEL: &str = "clusterctl.cluster.x-k8s.io/move";

/// The `api.Agent` service.
pub struct AgentService {
    client: Client,
    config: AgentConfig,
    recorder: Recorder,
    auth: Option<AgentAuth>,
}

/// Who made a call: the peer address and the agent token, if any.
#[derive(Clone, Debug, Default)]
struct Caller {
    peer: Option<std::net::IpAddr>,
    token: Option<String>,
}

impl Caller {
    /// Read before the request is consumed. The combined listener puts axum's `ConnectInfo`
    /// into the request; tonic's own server its `TcpConnectInfo`.
    fn of<T>(req: &Request<T>) -> Caller {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .or_else(|| req.remote_addr().map(|a| a.ip()))
            .map(|ip| ip.to_canonical());
        let token = req
            .metadata()
            .get(auth::AGENT_TOKEN_METADATA)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Caller { peer, token }
    }
}

impl AgentService {
    /// A service acting with `client`, answering according to `config`.
    pub fn new(client: Client, config: AgentConfig) -> AgentService {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: EVENT_REPORTER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        AgentService {
            client,
            config,
            recorder,
            auth: None,
        }
    }

    /// Serves calls about accepted Servers only to their agent (see [`auth`]); without this,
    /// every call is served as upstream (`--insecure-agent-api`).
    pub fn with_auth(mut self, auth: Option<AgentAuth>) -> AgentService {
        self.auth = auth;
        self
    }

    /// The tonic server for this service, refusing messages over [`MAX_MESSAGE_SIZE`].
    pub fn into_server(self) -> AgentServer<AgentService> {
        AgentServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    fn servers(&self) -> Api<Server> {
        Api::all(self.client.clone())
    }

    fn patch_params() -> PatchParams {
        PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        }
    }

    /// The Server named `uuid`, or [`AgentError::ServerNotFound`].
    async fn get(&self, uuid: &str) -> Result<Server, AgentError> {
        self.servers()
            .get_opt(uuid)
            .await?
            .ok_or_else(|| AgentError::ServerNotFound(uuid.to_string()))
    }

    /// Publishes a Normal event on `server`; a failure is only logged.
    async fn publish(&self, server: &Server, what: (&str, &str), action: &str) {
        self.publish_typed(server, EventType::Normal, what, action)
            .await;
    }

    /// Publishes an event of `type_` on `server`; a failure is only logged.
    async fn publish_typed(
        &self,
        server: &Server,
        type_: EventType,
        (reason, note): (&str, &str),
        action: &str,
    ) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note.into()),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &server.object_ref(&())).await {
            tracing::warn!(server = %server.name_any(), reason, error = %e, "publishing an event failed");
        }
    }

    /// Refuses a call about the Server `uuid` unless [`auth::authorize`] allows it; an
    /// unknown server passes (the handler answers `NotFound`).
    async fn check(&self, rpc: &str, uuid: &str, caller: &Caller) -> Result<(), Status> {
        if self.auth.is_none() {
            return Ok(());
        }
        match self.servers().get_opt(uuid).await {
            Ok(Some(server)) => self.check_server(rpc, &server, caller, false).await,
            Ok(None) => Ok(()),
            Err(e) => Err(failed(rpc, uuid, e.into())),
        }
    }

    /// [`Self::check`] for a Server already read; `registration` for `CreateServer`.
    async fn check_server(
        &self,
        rpc: &str,
        server: &Server,
        caller: &Caller,
        registration: bool,
    ) -> Result<(), Status> {
        let Some(a) = &self.auth else {
            return Ok(());
        };
        let uuid = server.name_any();
        let token = TokenCheck::of(
            &a.key,
            caller.token.as_deref(),
            &uuid,
            crate::http::unix_now(),
        );
        let recorded = auth::recorded_address(server.metadata.annotations.as_ref());
        match auth::authorize(
            server.spec.accepted,
            registration,
            recorded,
            caller.peer,
            &token,
        ) {
            Verdict::Allow { record } => {
                if let (true, Some(peer)) = (record, caller.peer) {
                    self.record_address(&uuid, peer).await;
                }
                Ok(())
            }
            Verdict::Deny(reason) => {
                let msg = format!("{rpc} for server {uuid} refused: {reason}");
                tracing::warn!(rpc, server = %uuid, peer = ?caller.peer, token = ?token_kind(&token), %reason, "agent API call refused");
                // kube's Recorder folds events with the same action into one series that
                // keeps the first note: the token kind keeps different refusals apart.
                let action = format!("{rpc} token={}", token_kind(&token));
                self.publish_typed(
                    server,
                    EventType::Warning,
                    (auth::EVENT_REFUSED, &msg),
                    &action,
                )
                .await;
                Err(Status::permission_denied(msg))
            }
        }
    }

    /// Stores `peer` as the Server's agent address; a failure is only logged (the next
    /// call records it again).
    async fn record_address(&self, uuid: &str, peer: std::net::IpAddr) {
        let patch = json!({"metadata": {"annotations": {(auth::AGENT_ADDRESS_ANNOTATION): peer.to_string()}}});
        match self
            .servers()
            .patch(uuid, &Self::patch_params(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => tracing::info!(server = %uuid, %peer, "agent address recorded"),
            Err(e) => {
                tracing::warn!(server = %uuid, %peer, error = %e, "recording the agent address failed")
            }
        }
    }

    /// Reads the Server, computes its next status with `next` and, when it differs, writes it
    /// with a merge patch guarded by the `resourceVersion` read; retried on conflict.
    async fn update_status(
        &self,
        uuid: &str,
        next: impl Fn(&ServerStatus) -> Option<ServerStatus>,
    ) -> Result<Server, AgentError> {
        for attempt in 1..=MAX_WRITE_ATTEMPTS {
            let server = self.get(uuid).await?;
            let current = server.status.clone().unwrap_or_default();
            let Some(status) = next(&current).filter(|s| *s != current) else {
                return Ok(server);
            };
            let patch = json!({
                "metadata": {"resourceVersion": server.resource_version()},
                "status": status,
            });
            match self
                .servers()
                .patch_status(uuid, &Self::patch_params(), &Patch::Merge(patch))
                .await
            {
                Ok(s) => return Ok(s),
                Err(e) => retry_on_conflict(uuid, attempt, e).await?,
            }
        }
        Err(conflict(uuid))
    }

    /// Creates or updates `default/<uuid>-bmc` with the credentials, controlled by `server`
    /// and labelled for `clusterctl move`.
    async fn upsert_bmc_secret(
        &self,
        server: &Server,
        info: &api::BmcInfo,
    ) -> Result<(), AgentError> {
        let uuid = server.name_any();
        let name = decide::bmc_secret_name(&uuid);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), BMC_SECRET_NAMESPACE);
        let owner = OwnerReference {
            api_version: Server::api_version(&()).into_owned(),
            kind: Server::kind(&()).into_owned(),
            name: uuid.clone(),
            uid: server.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let data = BTreeMap::from([
            (
                BMC_SECRET_USER_KEY.to_string(),
                ByteString(info.user.as_bytes().to_vec()),
            ),
            (
                BMC_SECRET_PASS_KEY.to_string(),
                ByteString(info.pass.as_bytes().to_vec()),
            ),
        ]);
        let labels = BTreeMap::from([(MOVE_LABEL.to_string(), String::new())]);
        match secrets.get_opt(&name).await? {
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(BMC_SECRET_NAMESPACE.into()),
                        labels: Some(labels),
                        owner_references: Some(vec![owner]),
                        ..ObjectMeta::default()
                    },
                    data: Some(data),
                    ..Secret::default()
                };
                secrets.create(&PostParams::default(), &secret).await?;
                tracing::info!(server = %uuid, secret = %name, "BMC credentials secret created");
            }
            Some(existing) => {
                let refs = decide::secret_owner_references(
                    existing
                        .metadata
                        .owner_references
                        .as_deref()
                        .unwrap_or_default(),
                    owner,
                );
                let patch = json!({
                    "metadata": {"labels": labels, "ownerReferences": refs},
                    "data": data,
                });
                secrets
                    .patch(&name, &Self::patch_params(), &Patch::Merge(patch))
                    .await?;
                tracing::info!(server = %uuid, secret = %name, "BMC credentials secret updated");
            }
        }
        Ok(())
    }
}

/// `Ok` (retry) for a conflict before the last attempt, else the error.
async fn retry_on_conflict(uuid: &str, attempt: usize, e: kube::Error) -> Result<(), AgentError> {
    match e {
        kube::Error::Api(ae) if ae.code == 409 && attempt < MAX_WRITE_ATTEMPTS => {
            tracing::debug!(server = %uuid, attempt, "write conflict; retrying");
            // Linear backoff with a little jitter so racing writers drift apart.
            let jitter = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::from(d.subsec_nanos() % 20))
                .unwrap_or(0);
            let ms = 20 * u64::try_from(attempt).unwrap_or(1) + jitter;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(())
        }
        kube::Error::Api(ae) if ae.code == 409 => Err(conflict(uuid)),
        e => Err(e.into()),
    }
}

fn conflict(uuid: &str) -> AgentError {
    AgentError::Conflict {
        name: uuid.to_string(),
        attempts: MAX_WRITE_ATTEMPTS,
    }
}

/// What kind of token a call carried, for logs (never the token itself).
fn token_kind(t: &TokenCheck) -> &'static str {
    match t {
        TokenCheck::Absent => "none",
        TokenCheck::Valid => "valid",
        TokenCheck::Invalid(_) => "invalid",
    }
}

/// Logs a failed call and turns it into its gRPC status.
fn failed(rpc: &str, uuid: &str, e: AgentError) -> Status {
    tracing::warn!(rpc, server = %uuid, code = ?e.code(), error = %e, "agent API call failed");
    e.into()
}

#[tonic::async_trait]
impl Agent for AgentService {
    async fn create_server(
        &self,
        request: Request<api::CreateServerRequest>,
    ) -> Result<Response<api::CreateServerResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let uuid = decide::create_request_uuid(&req).map_err(|e| failed("CreateServer", "", e))?;
        let server = match self.servers().get_opt(uuid).await {
            Ok(Some(s)) => {
                self.check_server("CreateServer", &s, &caller, true).await?;
                s
            }
            Ok(None) => self
                .register(uuid, &req, &caller)
                .await
                .map_err(|e| failed("CreateServer", uuid, e))?,
            Err(e) => return Err(failed("CreateServer", uuid, e.into())),
        };
        let resp = decide::create_response(&server, &self.config);
        tracing::info!(
            server = %uuid,
            accepted = server.spec.accepted,
            wipe = resp.wipe,
            insecure_wipe = resp.insecure_wipe,
            setup_bmc = resp.setup_bmc,
            reboot_timeout = resp.reboot_timeout,
            "agent registered",
        );
        Ok(Response::new(resp))
    }

    async fn mark_server_as_wiped(
        &self,
        request: Request<api::MarkServerAsWipedRequest>,
    ) -> Result<Response<api::MarkServerAsWipedResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let uuid =
            decide::validate_uuid(&req.uuid).map_err(|e| failed("MarkServerAsWiped", "", e))?;
        self.check("MarkServerAsWiped", uuid, &caller).await?;
        let server = self
            .update_status(uuid, |s| {
                Some(decide::mark_wiped(s, jiff::Timestamp::now()))
            })
            .await
            .map_err(|e| failed("MarkServerAsWiped", uuid, e))?;
        self.publish(&server, EVENT_WIPE, "MarkServerAsWiped").await;
        tracing::info!(server = %uuid, "server marked as wiped");
        Ok(Response::new(api::MarkServerAsWipedResponse {}))
    }

    async fn reconcile_server_addresses(
        &self,
        request: Request<api::ReconcileServerAddressesRequest>,
    ) -> Result<Response<api::ReconcileServerAddressesResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let uuid = decide::validate_uuid(&req.uuid)
            .map_err(|e| failed("ReconcileServerAddresses", "", e))?;
        self.check("ReconcileServerAddresses", uuid, &caller)
            .await?;
        self.update_status(uuid, |s| {
            let current = s.addresses.as_deref().unwrap_or_default();
            decide::merge_addresses(current, &req.address).map(|addresses| ServerStatus {
                addresses: Some(addresses),
                ..s.clone()
            })
        })
        .await
        .map_err(|e| failed("ReconcileServerAddresses", uuid, e))?;
        tracing::info!(server = %uuid, addresses = req.address.len(), "server addresses reconciled");
        Ok(Response::new(api::ReconcileServerAddressesResponse {}))
    }

    async fn heartbeat(
        &self,
        request: Request<api::HeartbeatRequest>,
    ) -> Result<Response<api::HeartbeatResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let uuid = decide::validate_uuid(&req.uuid).map_err(|e| failed("Heartbeat", "", e))?;
        self.check("Heartbeat", uuid, &caller).await?;
        self.update_status(uuid, |s| Some(decide::heartbeat(s, jiff::Timestamp::now())))
            .await
            .map_err(|e| failed("Heartbeat", uuid, e))?;
        tracing::debug!(server = %uuid, "heartbeat");
        Ok(Response::new(api::HeartbeatResponse {}))
    }

    async fn update_bmc_info(
        &self,
        request: Request<api::UpdateBmcInfoRequest>,
    ) -> Result<Response<api::UpdateBmcInfoResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let uuid = decide::validate_uuid(&req.uuid).map_err(|e| failed("UpdateBMCInfo", "", e))?;
        self.check("UpdateBMCInfo", uuid, &caller).await?;
        let info = decide::validate_bmc_info(req.bmc_info.as_ref())
            .map_err(|e| failed("UpdateBMCInfo", uuid, e))?;
        let server = self
            .update_bmc(uuid, info)
            .await
            .map_err(|e| failed("UpdateBMCInfo", uuid, e))?;
        self.publish(&server, EVENT_BMC_UPDATE, "UpdateBMCInfo")
            .await;
        let bmc = server.spec.bmc.as_ref();
        tracing::info!(
            server = %uuid,
            endpoint = bmc.map(|b| b.endpoint.as_str()).unwrap_or_default(),
            port = bmc.and_then(|b| b.port).unwrap_or_default(),
            credentials = decide::has_credentials(info),
            "BMC info updated",
        );
        Ok(Response::new(api::UpdateBmcInfoResponse {}))
    }
}

impl AgentService {
    /// Creates the Server for a new UUID and announces it; if another call created it
    /// meanwhile, returns that one untouched.
    async fn register(
        &self,
        uuid: &str,
        req: &api::CreateServerRequest,
        caller: &Caller,
    ) -> Result<Server, AgentError> {
        if let Some(hw) = &req.hardware {
            for m in decide::count_mismatches(hw) {
                tracing::warn!(
                    server = %uuid,
                    list = m.list,
                    announced = m.announced,
                    sent = m.sent,
                    "hardware report: the announced count differs from the entries sent; storing the entries sent",
                );
            }
        }
        let mut server = decide::new_server(uuid, req, &self.config);
        if let (Some(_), Some(peer)) = (&self.auth, caller.peer) {
            server
                .metadata
                .annotations
                .get_or_insert_default()
                .insert(auth::AGENT_ADDRESS_ANNOTATION.into(), peer.to_string());
        }
        match self.servers().create(&PostParams::default(), &server).await {
            Ok(created) => {
                tracing::info!(server = %uuid, hostname = %req.hostname, accepted = created.spec.accepted, "server auto-registered");
                self.publish(&created, EVENT_REGISTRATION, "CreateServer")
                    .await;
                Ok(created)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => self.get(uuid).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Stores the credentials (if any) in the Secret, then writes the new `spec.bmc` with a
    /// merge patch guarded by the `resourceVersion` read; retried on conflict.
    async fn update_bmc(&self, uuid: &str, info: &api::BmcInfo) -> Result<Server, AgentError> {
        let mut server = self.get(uuid).await?;
        if decide::has_credentials(info) {
            self.upsert_bmc_secret(&server, info).await?;
        }
        for attempt in 1..=MAX_WRITE_ATTEMPTS {
            let bmc = decide::bmc_update(uuid, server.spec.bmc.as_ref(), info);
            if server.spec.bmc.as_ref() == Some(&bmc) {
                return Ok(server);
            }
            let patch = json!({
                "metadata": {"resourceVersion": server.resource_version()},
                "spec": {"bmc": bmc},
            });
            match self
                .servers()
                .patch(uuid, &Self::patch_params(), &Patch::Merge(patch))
                .await
            {
                Ok(s) => return Ok(s),
                Err(e) => retry_on_conflict(uuid, attempt, e).await?,
            }
            server = self.get(uuid).await?;
        }
        Err(conflict(uuid))
    }
}
