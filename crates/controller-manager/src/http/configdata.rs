//! `/configdata?uuid=` (spec §6): the machine config of an allocated server, assembled from the
//! bootstrap data CABPT generated, the ServerClass's and Server's patches, the node label and
//! the SideroLink documents. Errors are `text/plain` with upstream's texts and status codes.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::common::ConfigPatch;
use sidero_api::metal::v1alpha2::{Server, ServerClass};
use sidero_machineconfig::{NodeDocs, Patches, assemble};
use sidero_netboot::args::Endpoints;
use sidero_netboot::boot::parse_query;

use super::BootState;

/// A failed step: status and the message (without the trailing newline).
type Failure = (StatusCode, String);

fn internal(msg: String) -> Failure {
    (StatusCode::INTERNAL_SERVER_ERROR, msg)
}

fn not_found(msg: String) -> Failure {
    (StatusCode::NOT_FOUND, msg)
}

fn is_not_found(e: &kube::Error) -> Option<&str> {
    match e {
        kube::Error::Api(s) if s.code == 404 => Some(s.message.as_str()),
        _ => None,
    }
}

/// The `/configdata` handler.
pub(super) async fn handler(
    State(st): State<Arc<BootState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    RawQuery(q): RawQuery,
) -> Response {
    let raw = q.as_deref().unwrap_or_default();
    let query = parse_query(raw);
    if let Some(release) = &st.release {
        let token = raw.split('&').find_map(|kv| kv.strip_prefix("token="));
        let now = super::unix_now();
        let bound = release.bound(remote.ip());
        if let Err(e) = sidero_netboot::token::verify(&release.key, token, &query.uuid, bound, now)
        {
            let msg = format!(
                "refused the machine config of {:?} to {}: {e}",
                query.uuid,
                remote.ip()
            );
            tracing::warn!(uuid = %query.uuid, remote = %remote.ip(), reason = %e, "machine config refused");
            refusal_event(&st.client, &query.uuid, &msg).await;
            return (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{msg}\n"),
            )
                .into_response();
        }
    }
    let (status, body) = match config_for(&st.client, &st.config.endpoints, &query.uuid).await {
        Ok(config) => {
            tracing::info!(uuid = %query.uuid, bytes = config.len(), "machine config served");
            (StatusCode::OK, config)
        }
        Err((status, msg)) => {
            tracing::warn!(uuid = %query.uuid, status = status.as_u16(), error = %msg, "machine config refused");
            (status, format!("{msg}\n"))
        }
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A Warning Event on the Server (when the UUID names one) for a refused config request.
async fn refusal_event(client: &Client, uuid: &str, msg: &str) {
    let Ok(Some(server)) = Api::<Server>::all(client.clone()).get_opt(uuid).await else {
        return;
    };
    let note = crate::timeline::Note {
        warning: true,
        reason: "ConfigRefused",
        action: "ServeConfig",
        note: msg.into(),
    };
    crate::timeline::publish(client, &server, note).await;
}

async fn config_for(client: &Client, ep: &Endpoints, uuid: &str) -> Result<String, Failure> {
    if uuid.is_empty() {
        return Err(internal("received metadata request with empty uuid".into()));
    }
    let binding = Api::<ServerBinding>::all(client.clone())
        .get(uuid)
        .await
        .map_err(|e| match is_not_found(&e) {
            Some(m) => not_found(format!(
                "server is not allocated (missing serverbinding): {m}"
            )),
            None => internal(format!("failure getting server binding: {e}")),
        })?;
    let mref = &binding.spec.metal_machine_ref;
    let (mm_ns, mm_name) = (
        mref.namespace.clone().unwrap_or_default(),
        mref.name.clone().unwrap_or_default(),
    );
    let metal_machine = Api::<MetalMachine>::namespaced(client.clone(), &mm_ns)
        .get(&mm_name)
        .await
        .map_err(|e| internal(format!("failure getting metalmachine: {e}")))?;
    let machine = owner_machine(client, &metal_machine, &mm_ns)
        .await
        .map_err(|e| {
            internal(format!(
                "failure fetching owner machine from metal machine {mm_ns}/{mm_name}: {e}"
            ))
        })?;
    let machine_name = machine.metadata.name.clone().unwrap_or_default();
    let secret_name = machine.data["spec"]["bootstrap"]["dataSecretName"]
        .as_str()
        .ok_or_else(|| {
            not_found(format!(
                "no dataSecretName present for machine {mm_ns}/{machine_name}"
            ))
        })?
        .to_owned();
    let bootstrap = bootstrap_data(client, &mm_ns, &secret_name).await?;
    let server = Api::<Server>::all(client.clone())
        .get(uuid)
        .await
        .map_err(|e| internal(format!("failure fetching server {uuid}: {e}")))?;
    let class = match &binding.spec.server_class_ref {
        Some(r) => {
            let name = r.name.clone().unwrap_or_default();
            let class = Api::<ServerClass>::all(client.clone())
                .get(&name)
                .await
                .map_err(|e| internal(format!("failure fetching serverclass {name}: {e}")))?;
            Some(patches(
                "serverclass",
                class.spec.config_patches.as_deref(),
                class.spec.strategic_patches.as_deref(),
            )?)
        }
        None => None,
    };
    let server_patches = patches(
        "server",
        server.spec.config_patches.as_deref(),
        server.spec.strategic_patches.as_deref(),
    )?;
    assemble(
        &bootstrap,
        class.as_ref(),
        &server_patches,
        uuid,
        &node_docs(ep),
    )
    .map_err(|e| internal(e.to_string()))
}

/// The CAPI Machine owning the MetalMachine, read at the owner reference's own API version
/// (so CAPI's v1beta1 and v1beta2 both work without a conversion round trip).
async fn owner_machine(
    client: &Client,
    mm: &MetalMachine,
    ns: &str,
) -> Result<DynamicObject, String> {
    let owner = mm
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| {
            o.kind == "Machine" && o.api_version.split('/').next() == Some("cluster.x-k8s.io")
        })
        .ok_or_else(|| "no owner Machine".to_owned())?;
    let (group, version) = owner
        .api_version
        .split_once('/')
        .unwrap_or(("cluster.x-k8s.io", "v1beta1"));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, "Machine"));
    Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar)
        .get(&owner.name)
        .await
        .map_err(|e| e.to_string())
}

async fn bootstrap_data(client: &Client, ns: &str, name: &str) -> Result<String, Failure> {
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(|e| match is_not_found(&e) {
            Some(_) => not_found(format!("bootstrap secret {ns}/{name} not found")),
            None => internal(format!("failure getting bootstrap secret {ns}/{name}: {e}")),
        })?;
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get("value"))
        .ok_or_else(|| {
            not_found(format!(
                "value key not found in bootstrap data: {ns}/{name}"
            ))
        })?;
    String::from_utf8(value.0.clone())
        .map_err(|_| internal(format!("bootstrap data {ns}/{name} is not UTF-8")))
}

fn patches(
    source: &'static str,
    json: Option<&[ConfigPatch]>,
    strategic: Option<&[String]>,
) -> Result<Patches, Failure> {
    let json = json
        .unwrap_or_default()
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            internal(format!(
                "failure marshaling config patches from {source}: {e}"
            ))
        })?;
    Ok(Patches {
        source,
        json,
        strategic: strategic.unwrap_or_default().to_vec(),
    })
}

/// The SideroLink documents' targets: the API endpoint as servers reach it, and the
/// SideroLink server address for events and kernel logs.
fn node_docs(ep: &Endpoints) -> NodeDocs {
    let host = if ep.api_host.contains(':') && !ep.api_host.starts_with('[') {
        format!("[{}]", ep.api_host)
    } else {
        ep.api_host.clone()
    };
    NodeDocs {
        api_url: format!("grpc://{host}:{}", ep.api_port),
        event_sink: format!("[{}]:4002", ep.siderolink_address),
        kmsg_url: format!("tcp://[{}]:4001", ep.siderolink_address),
    }
}
