//! `/ipxe`: runs [`sidero_netboot::boot::decide`], answering its lookups from the API server.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::{Environment, Server, ServerClass};
use sidero_netboot::boot::{Decision, Inputs, Lookup, decide, parse_query};

use super::BootState;

/// An owned lookup result; `Lookup` borrows from it.
enum Owned<T> {
    Found(T),
    NotFound,
    Failed,
}

impl<T> Owned<T> {
    fn lookup(&self) -> Lookup<'_, T> {
        match self {
            Owned::Found(t) => Lookup::Found(t),
            Owned::NotFound => Lookup::NotFound,
            Owned::Failed => Lookup::Failed,
        }
    }
}

async fn get<K>(client: &kube::Client, name: &str) -> Owned<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    if name.is_empty() {
        return Owned::NotFound;
    }
    match Api::<K>::all(client.clone()).get_opt(name).await {
        Ok(Some(k)) => Owned::Found(k),
        Ok(None) => Owned::NotFound,
        Err(e) => {
            tracing::warn!(kind = %K::kind(&()), name, error = %e, "lookup failed");
            Owned::Failed
        }
    }
}

/// The `/ipxe` handler.
pub(super) async fn handler(
    State(st): State<Arc<BootState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    RawQuery(q): RawQuery,
) -> Response {
    let query = parse_query(q.as_deref().unwrap_or_default());
    let token = st.release.as_ref().map(|r| {
        sidero_netboot::token::issue(
            &r.key,
            &query.uuid,
            r.bound(remote.ip()),
            super::unix_now(),
            r.ttl.as_secs(),
        )
    });
    let (server, binding) = tokio::join!(
        get::<Server>(&st.client, &query.uuid),
        get::<ServerBinding>(&st.client, &query.uuid)
    );
    let mut class: Option<Owned<ServerClass>> = None;
    let mut environment: Option<Owned<Environment>> = None;
    // At most one class and one environment lookup: the loop ends in three rounds.
    for _ in 0..3 {
        let inputs = Inputs {
            query: &query,
            server: server.lookup(),
            binding: binding.lookup(),
            class: class.as_ref().map(Owned::lookup),
            environment: environment.as_ref().map(Owned::lookup),
            config: &st.config,
            config_token: token.as_deref(),
        };
        match decide(&inputs) {
            Decision::Respond(r) => {
                tracing::info!(uuid = %query.uuid, mac = ?query.mac, branch = r.branch, status = r.status, "ipxe decision");
                let status =
                    StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut resp = (status, r.body).into_response();
                resp.extensions_mut()
                    .insert(crate::metrics::Branch(r.branch));
                return resp;
            }
            Decision::NeedClass(name) => class = Some(get(&st.client, &name).await),
            Decision::NeedEnvironment(name) => environment = Some(get(&st.client, &name).await),
        }
    }
    tracing::error!(uuid = %query.uuid, "ipxe decision did not converge");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
