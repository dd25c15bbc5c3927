//! The annotation cache (spec §8.4): tunnel IP → who the node is. Shared by the kernel-log
//! receiver and the events sink; filled by whoever watches ServerBindings.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

/// What Sidero knows about the node behind a tunnel address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotation {
    /// ServerBinding (and Server) name.
    pub server_uuid: String,
    /// Namespace of the MetalMachine, Machine and Cluster.
    pub namespace: String,
    /// Cluster name (`cluster.x-k8s.io/cluster-name` label of the binding).
    pub cluster: String,
    /// MetalMachine name.
    pub metal_machine: String,
    /// CAPI Machine name (owner of the MetalMachine).
    pub machine: String,
}

impl Annotation {
    /// The non-empty fields under their log keys (`server_uuid`, `namespace`, `cluster`,
    /// `metal_machine`, `machine`).
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("server_uuid", self.server_uuid.as_str()),
            ("cluster", self.cluster.as_str()),
            ("namespace", self.namespace.as_str()),
            ("metal_machine", self.metal_machine.as_str()),
            ("machine", self.machine.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
    }
}

/// The tunnel IP of a stored node address (`<ip>/<len>` or a bare IP).
pub fn tunnel_ip(address: &str) -> Option<IpAddr> {
    let ip = address.split_once('/').map_or(address, |(ip, _)| ip);
    ip.parse().ok()
}

/// The cache; cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct AnnotationCache {
    inner: Arc<RwLock<HashMap<IpAddr, Annotation>>>,
}

impl AnnotationCache {
    /// An empty cache.
    pub fn new() -> AnnotationCache {
        AnnotationCache::default()
    }

    /// The annotation of `ip`. IPv4-mapped IPv6 addresses (dual-stack sockets) are looked up
    /// as IPv4.
    pub fn get(&self, ip: IpAddr) -> Option<Annotation> {
        let ip = ip.to_canonical();
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ip)
            .cloned()
    }

    /// Records `annotation` for `ip`.
    pub fn insert(&self, ip: IpAddr, annotation: Annotation) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ip.to_canonical(), annotation);
    }

    /// Forgets `ip` (unlike upstream, deletions do remove the entry).
    pub fn remove(&self, ip: IpAddr) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip.to_canonical());
    }

    /// Forgets every entry of binding `server_uuid` (its address may have changed).
    pub fn remove_server(&self, server_uuid: &str) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, a| a.server_uuid != server_uuid);
    }

    /// Replaces every entry at once (after a full recomputation).
    pub fn replace_all(&self, entries: HashMap<IpAddr, Annotation>) {
        let entries = entries
            .into_iter()
            .map(|(ip, a)| (ip.to_canonical(), a))
            .collect();
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = entries;
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn lookups_by_tunnel_ip() {
        let cache = AnnotationCache::new();
        let ip = tunnel_ip("fdae:2859:5bb1:7a03:3ae3:be30:7ec4:4c09/64").unwrap();
        let a = Annotation {
            server_uuid: "u".into(),
            ..Default::default()
        };
        cache.insert(ip, a.clone());
        assert_eq!(
            cache.get("fdae:2859:5bb1:7a03:3ae3:be30:7ec4:4c09".parse().unwrap()),
            Some(a)
        );
        assert_eq!(cache.get("fdae::1".parse().unwrap()), None);
        // Dual-stack sockets report IPv4 peers as mapped addresses.
        cache.insert("10.0.0.7".parse().unwrap(), Annotation::default());
        assert!(cache.get("::ffff:10.0.0.7".parse().unwrap()).is_some());
        cache.remove_server("u");
        assert_eq!(cache.len(), 1);
        assert_eq!(tunnel_ip("garbage/64"), None);
        assert_eq!(tunnel_ip("10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn fields_skip_empty_values() {
        let a = Annotation {
            server_uuid: "u".into(),
            machine: "m".into(),
            ..Default::default()
        };
        let f: Vec<_> = a.fields().collect();
        assert_eq!(f, [("server_uuid", "u"), ("machine", "m")]);
    }
}
