//! Watch-fed caches of what `/ipxe` reads, so that servers keep booting while the API server
//! is unreachable (restarts, upgrades, a network blip): `/ipxe` reads fresh from the API
//! server first and answers from these caches only when that read fails.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::{Environment, Server, ServerClass};

/// How long `/ipxe` waits for a fresh read before it answers from the cache.
pub const FRESH_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// The caches `/ipxe` falls back to.
#[derive(Clone)]
pub struct BootCache {
    /// Servers.
    pub servers: Store<Server>,
    /// ServerBindings.
    pub bindings: Store<ServerBinding>,
    /// ServerClasses.
    pub classes: Store<ServerClass>,
    /// Environments.
    pub environments: Store<Environment>,
}

fn reflect<K>(client: &Client) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
    K: 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let stream = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()),
    )
    // Reconnects with backoff (at most a few seconds) after the API server went away; the
    // store keeps its last state meanwhile.
    .backoff(sidero_diagnostics::retry::watch_backoff());
    tokio::spawn(async move {
        stream
            .for_each(|e| async move {
                if let Err(e) = e {
                    tracing::debug!(kind = %K::kind(&()), error = %e, "boot cache watch error; retrying");
                }
            })
            .await;
    });
    reader
}

impl BootCache {
    /// Starts the four watches (in the current runtime) and returns their stores.
    pub fn start(client: &Client) -> BootCache {
        BootCache {
            servers: reflect(client),
            bindings: reflect(client),
            classes: reflect(client),
            environments: reflect(client),
        }
    }
}

/// What a cache says about `name`: `None` when the cache has not finished its first list
/// (then it knows nothing, not even absence), else whether the object exists.
pub fn cached<K>(store: &Store<K>, name: &str) -> Option<Option<Arc<K>>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store.wait_until_ready().now_or_never()?.ok()?;
    Some(store.get(&ObjectRef::new(name)))
}
