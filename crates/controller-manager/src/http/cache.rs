//! Watch-fed caches of what `/ipxe` reads. While a cache's watch is live (listed, no error
//! since), `/ipxe` answers from it when it holds the object and reads through to the API
//! server only on a miss (a Server registered a moment ago may not have arrived yet); while
//! the watch is down it reads fresh first and falls back to the cache, so servers keep
//! booting while the API server is unreachable (restarts, upgrades, a network blip).
//! Upstream's `/ipxe` reads from controller-runtime's cache the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::{Environment, Server, ServerClass};

/// How long `/ipxe` waits for a fresh read before it answers from the cache.
pub const FRESH_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// One watch-fed cache and whether its watch is live.
#[derive(Clone)]
pub struct Cached<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    live: Arc<AtomicBool>,
}

/// The caches `/ipxe` reads.
#[derive(Clone)]
pub struct BootCache {
    /// Servers.
    pub servers: Cached<Server>,
    /// ServerBindings.
    pub bindings: Cached<ServerBinding>,
    /// ServerClasses.
    pub classes: Cached<ServerClass>,
    /// Environments.
    pub environments: Cached<Environment>,
}

/// What a watch event means for the cache's liveness.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// A (re)list began: the store still holds the old state.
    ListStart,
    /// The (re)list ended: the store is current.
    ListEnd,
    /// An object during a list, or a change after it.
    Object,
    /// The watch failed (it reconnects with backoff).
    Error,
}

impl Seen {
    fn of<K, E>(event: &Result<Event<K>, E>) -> Seen {
        match event {
            Ok(Event::Init) => Seen::ListStart,
            Ok(Event::InitDone) => Seen::ListEnd,
            Ok(Event::InitApply(_) | Event::Apply(_) | Event::Delete(_)) => Seen::Object,
            Err(_) => Seen::Error,
        }
    }
}

/// Whether a watch is live after `seen`: from the end of a (re)list until the next error or
/// restart.
fn live_after(seen: Seen, was: bool) -> bool {
    match seen {
        Seen::ListEnd => true,
        Seen::ListStart | Seen::Error => false,
        Seen::Object => was,
    }
}

fn reflect<K>(client: &Client) -> Cached<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
    K: 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let live = Arc::new(AtomicBool::new(false));
    let stream = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()),
    )
    // Reconnects with backoff (at most a few seconds) after the API server went away; the
    // store keeps its last state meanwhile.
    .backoff(sidero_diagnostics::retry::watch_backoff());
    let flag = live.clone();
    tokio::spawn(async move {
        stream
            .for_each(|e| {
                let was = flag.load(Ordering::Relaxed);
                flag.store(live_after(Seen::of(&e), was), Ordering::Relaxed);
                if let Err(e) = e {
                    tracing::debug!(kind = %K::kind(&()), error = %e, "boot cache watch error; retrying");
                }
                async {}
            })
            .await;
    });
    Cached {
        store: reader,
        live,
    }
}

impl BootCache {
    /// Starts the four watches (in the current runtime) and returns their caches.
    pub fn start(client: &Client) -> BootCache {
        BootCache {
            servers: reflect(client),
            bindings: reflect(client),
            classes: reflect(client),
            environments: reflect(client),
        }
    }
}

/// Where `/ipxe` takes an object from first.
#[derive(Debug, PartialEq, Eq)]
pub enum First<T> {
    /// The live cache holds it: answer with it.
    Cache(T),
    /// Ask the API server (falling back to the cache when that fails).
    Fresh,
}

/// The read plan from what the cache knows: `cached` is `None` before the first list, else
/// whether the object is there. Only a hit in a live cache skips the API server: a miss may
/// be an object created a moment ago, and a cache whose watch is down may be stale.
pub fn first<T>(live: bool, cached: Option<Option<T>>) -> First<T> {
    match (live, cached) {
        (true, Some(Some(k))) => First::Cache(k),
        _ => First::Fresh,
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Cached<K> {
    /// What the cache says about `name`: `None` when it has not finished its first list
    /// (then it knows nothing, not even absence), else whether the object exists.
    pub fn get(&self, name: &str) -> Option<Option<Arc<K>>> {
        self.store.wait_until_ready().now_or_never()?.ok()?;
        Some(self.store.get(&ObjectRef::new(name)))
    }

    /// Whether the watch has listed and seen no error since.
    pub fn live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_hit_in_a_live_cache_skips_the_api_server() {
        let table: [(bool, Option<Option<u8>>, First<u8>); 6] = [
            (true, Some(Some(1)), First::Cache(1)),
            (true, Some(None), First::Fresh),
            (true, None, First::Fresh),
            (false, Some(Some(1)), First::Fresh),
            (false, Some(None), First::Fresh),
            (false, None, First::Fresh),
        ];
        for (live, cached, want) in table {
            assert_eq!(first(live, cached), want, "live={live} cached={cached:?}");
        }
    }

    #[test]
    fn a_watch_is_live_from_list_end_to_the_next_error_or_restart() {
        let ok = |e: Event<u8>| Seen::of(&Ok::<_, ()>(e));
        let table: [(Seen, bool, bool); 10] = [
            (ok(Event::InitDone), false, true),
            (ok(Event::InitDone), true, true),
            (ok(Event::Init), true, false),
            (ok(Event::InitApply(1)), false, false),
            (ok(Event::InitApply(1)), true, true),
            (ok(Event::Apply(1)), true, true),
            (ok(Event::Apply(1)), false, false),
            (ok(Event::Delete(1)), true, true),
            (Seen::of(&Err::<Event<u8>, _>(())), true, false),
            (Seen::of(&Err::<Event<u8>, _>(())), false, false),
        ];
        for (seen, was, want) in table {
            assert_eq!(live_after(seen, was), want, "{seen:?} was={was}");
        }
    }
}
