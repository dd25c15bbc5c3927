//! The ServerBinding watch behind SideroLink (spec §8.3, §8.4): every change recomputes the
//! WireGuard peers (one per binding with an address and a key) and the annotation cache
//! (tunnel IP → server, cluster, MetalMachine, Machine). Recomputing from the whole set keeps
//! both exact: a deleted binding loses its peer and its annotation (upstream's cache kept
//! stale entries until restart).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_siderolink::annotation::{Annotation, AnnotationCache, tunnel_ip};
use sidero_siderolink::provision::parse_prefix;
use sidero_siderolink::wireguard::{Device, PeerConfig};

/// Label carrying the cluster name.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";

/// How long a MetalMachine read may take (upstream's 15 s).
const MACHINE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Re-applies the peers this often, so a failed device update converges without new events.
const RESYNC: Duration = Duration::from_secs(30);

/// What the watch drives.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    /// The WireGuard device, when this process runs the endpoint.
    pub device: Option<Arc<Device>>,
    /// The annotation cache of the log receiver and events sink.
    pub cache: Option<AnnotationCache>,
}

/// The peers wanted for `bindings`: each binding with a parsable address and a valid key.
pub fn wanted_peers<'a>(
    bindings: impl IntoIterator<Item = &'a ServerBinding>,
) -> BTreeMap<String, PeerConfig> {
    bindings
        .into_iter()
        .filter_map(|b| {
            let link = &b.spec.siderolink;
            let (addr, _) = parse_prefix(&link.address)?;
            let key = sidero_siderolink::key::canonical(&link.public_key).ok()?;
            Some((key.clone(), PeerConfig::node(key, addr)))
        })
        .collect()
}

/// The tunnel IP and annotation of a binding (the Machine name is filled in later).
pub fn annotation(b: &ServerBinding) -> Option<(IpAddr, Annotation)> {
    let ip = tunnel_ip(&b.spec.siderolink.address)?;
    let mm = &b.spec.metal_machine_ref;
    Some((
        ip,
        Annotation {
            server_uuid: b.name_any(),
            namespace: mm.namespace.clone().unwrap_or_default(),
            cluster: b
                .labels()
                .get(CLUSTER_NAME_LABEL)
                .cloned()
                .unwrap_or_default(),
            metal_machine: mm.name.clone().unwrap_or_default(),
            machine: String::new(),
        },
    ))
}

/// The CAPI Machine owning a MetalMachine: its ownerReference of kind `Machine` in group
/// `cluster.x-k8s.io`.
pub fn owning_machine(mm: &MetalMachine) -> Option<String> {
    mm.owner_references()
        .iter()
        .find(|o| {
            o.kind == "Machine" && o.api_version.split('/').next() == Some("cluster.x-k8s.io")
        })
        .map(|o| o.name.clone())
}

struct Watch {
    client: Client,
    targets: Targets,
    /// `(namespace, MetalMachine)` → Machine; only found owners are kept.
    machines: HashMap<(String, String), String>,
}

impl Watch {
    async fn machine(&mut self, namespace: &str, name: &str) -> String {
        let k = (namespace.to_string(), name.to_string());
        if let Some(m) = self.machines.get(&k) {
            return m.clone();
        }
        if namespace.is_empty() || name.is_empty() {
            return String::new();
        }
        let api: Api<MetalMachine> = Api::namespaced(self.client.clone(), namespace);
        match tokio::time::timeout(MACHINE_LOOKUP_TIMEOUT, api.get_opt(name)).await {
            Ok(Ok(Some(mm))) => match owning_machine(&mm) {
                Some(m) => {
                    self.machines.insert(k, m.clone());
                    m
                }
                None => String::new(),
            },
            Ok(Ok(None)) => String::new(),
            Ok(Err(e)) => {
                tracing::debug!(%namespace, metal_machine = %name, error = %e, "reading MetalMachine failed; annotation stays partial");
                String::new()
            }
            Err(_) => String::new(),
        }
    }

    async fn sync(&mut self, bindings: &BTreeMap<String, ServerBinding>) {
        if let Some(device) = self.targets.device.clone() {
            match device.set_peers(wanted_peers(bindings.values())).await {
                Ok(d) if !d.is_empty() => {
                    tracing::debug!(
                        added = d.add.len(),
                        removed = d.remove.len(),
                        "WireGuard peers updated"
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "updating WireGuard peers failed; retrying later")
                }
            }
        }
        if let Some(cache) = self.targets.cache.clone() {
            let mut entries = HashMap::new();
            for b in bindings.values() {
                if let Some((ip, mut a)) = annotation(b) {
                    a.machine = self.machine(&a.namespace, &a.metal_machine).await;
                    entries.insert(ip, a);
                }
            }
            cache.replace_all(entries);
        }
    }
}

/// Watches every ServerBinding and keeps `targets` in step until the watch stream ends.
pub async fn run(client: Client, targets: Targets) {
    let api: Api<ServerBinding> = Api::all(client.clone());
    let mut watch = Watch {
        client,
        targets,
        machines: HashMap::new(),
    };
    let mut state: BTreeMap<String, ServerBinding> = BTreeMap::new();
    let mut initial: Option<BTreeMap<String, ServerBinding>> = None;
    let stream = watcher::watcher(api, watcher::Config::default())
        .backoff(sidero_diagnostics::retry::watch_backoff());
    futures::pin_mut!(stream);
    let mut resync = tokio::time::interval(RESYNC);
    loop {
        tokio::select! {
            ev = stream.next() => {
                let Some(ev) = ev else { return };
                match ev {
                    Ok(Event::Apply(b)) => {
                        state.insert(b.name_any(), b);
                    }
                    Ok(Event::Delete(b)) => {
                        state.remove(&b.name_any());
                    }
                    Ok(Event::Init) => initial = Some(BTreeMap::new()),
                    Ok(Event::InitApply(b)) => {
                        if let Some(i) = initial.as_mut() {
                            i.insert(b.name_any(), b);
                        }
                    }
                    Ok(Event::InitDone) => state = initial.take().unwrap_or_default(),
                    Err(e) => {
                        tracing::warn!(error = %e, "ServerBinding watch failed; retrying");
                        continue;
                    }
                }
                if initial.is_none() {
                    watch.sync(&state).await;
                }
            }
            _ = resync.tick() => {
                if initial.is_none() {
                    watch.sync(&state).await;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use sidero_api::infra::v1alpha3::{ServerBindingSpec, SideroLinkSpec};

    const KEY: &str = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";

    fn binding(name: &str, address: &str, key: &str) -> ServerBinding {
        let mut b = ServerBinding::new(
            name,
            ServerBindingSpec {
                siderolink: SideroLinkSpec {
                    address: address.into(),
                    public_key: key.into(),
                },
                ..Default::default()
            },
        );
        b.spec.metal_machine_ref.name = Some("mm".into());
        b.spec.metal_machine_ref.namespace = Some("default".into());
        b.metadata.labels = Some([(CLUSTER_NAME_LABEL.to_string(), "c1".to_string())].into());
        b
    }

    #[test]
    fn peers_only_for_complete_bindings() {
        let bs = [
            binding("a", "fd00:0:0:3::9/64", KEY),
            binding("b", "", KEY),
            binding("c", "fd00:0:0:3::a/64", ""),
            binding("d", "garbage", KEY),
            binding("e", "fd00:0:0:3::b/64", "short"),
        ];
        let peers = wanted_peers(&bs);
        assert_eq!(peers.len(), 1);
        let p = &peers[KEY];
        assert_eq!(p.allowed_ips, [("fd00:0:0:3::9".parse().unwrap(), 128)]);
        assert_eq!((p.endpoint, p.keepalive), (None, None));
    }

    #[test]
    fn annotations_come_from_the_binding() {
        let (ip, a) = annotation(&binding("uuid-1", "fd00:0:0:3::9/64", KEY)).unwrap();
        assert_eq!(ip, "fd00:0:0:3::9".parse::<IpAddr>().unwrap());
        assert_eq!(
            a,
            Annotation {
                server_uuid: "uuid-1".into(),
                namespace: "default".into(),
                cluster: "c1".into(),
                metal_machine: "mm".into(),
                machine: String::new(),
            }
        );
        assert!(annotation(&binding("x", "", KEY)).is_none());
    }
}
