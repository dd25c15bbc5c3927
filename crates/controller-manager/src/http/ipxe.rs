//! `/ipxe`: runs [`sidero_netboot::boot::decide`], answering its lookups from the watch-fed
//! caches when they hold the object, else from the API server (see [`super::cache`]).

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
use super::cache::{Cached, FRESH_READ_TIMEOUT, First, first};
use crate::agent::auth as agent_auth;

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

async fn get<K>(client: &kube::Client, cache: Option<&Cached<K>>, name: &str) -> Owned<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + 'static,
{
    if name.is_empty() {
        return Owned::NotFound;
    }
    if let Some(c) = cache
        && let First::Cache(k) = first(c.live(), c.get(name))
    {
        return Owned::Found((*k).clone());
    }
    let fresh = tokio::time::timeout(
        FRESH_READ_TIMEOUT,
        Api::<K>::all(client.clone()).get_opt(name),
    )
    .await;
    let error = match fresh {
        Ok(Ok(Some(k))) => return Owned::Found(k),
        Ok(Ok(None)) => return Owned::NotFound,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {FRESH_READ_TIMEOUT:?}"),
    };
    match cache.and_then(|c| c.get(name)) {
        Some(found) => {
            tracing::info!(kind = %K::kind(&()), name, error = %error, "lookup failed; answering from the cache");
            match found {
                Some(k) => Owned::Found((*k).clone()),
                None => Owned::NotFound,
            }
        }
        None => {
            tracing::warn!(kind = %K::kind(&()), name, error = %error, "lookup failed");
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
    let cache = st.cache.as_ref();
    let (server, binding) = tokio::join!(
        get::<Server>(&st.client, cache.map(|c| &c.servers), &query.uuid),
        get::<ServerBinding>(&st.client, cache.map(|c| &c.bindings), &query.uuid)
    );
    let agent_token = match (&st.agent_tokens, &server) {
        (Some(a), Owned::Found(s))
            if agent_auth::may_issue(
                s.spec.accepted,
                agent_auth::recorded_address(s.metadata.annotations.as_ref()),
                remote.ip(),
            ) =>
        {
            Some(sidero_netboot::token::issue_agent(
                &a.key,
                &query.uuid,
                super::unix_now(),
                a.token_ttl.as_secs(),
            ))
        }
        _ => None,
    };
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
            agent_token: agent_token.as_deref(),
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
            Decision::NeedClass(name) => {
                class = Some(get(&st.client, cache.map(|c| &c.classes), &name).await)
            }
            Decision::NeedEnvironment(name) => {
                environment = Some(get(&st.client, cache.map(|c| &c.environments), &name).await)
            }
        }
    }
    tracing::error!(uuid = %query.uuid, "ipxe decision did not converge");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
