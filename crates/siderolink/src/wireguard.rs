//! The WireGuard device of SideroLink (spec §8.3): one interface holding Sidero's key and
//! tunnel address, with one peer per provisioned node (`AllowedIPs = <node address>/128`, no
//! endpoint, learned from traffic).
//!
//! Kernel WireGuard is tried first (a netlink `wireguard` link); when the kernel lacks it the
//! device runs in-process over TUN (defguard's boringtun fork). The choice is logged.
//! The library calls are blocking, so they run on the blocking pool.
//!
//! [`diff`] is the pure part: from the peers the device has and the peers wanted, what to
//! remove and what to add (a changed address or key is a remove plus an add).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use defguard_wireguard_rs::key::Key;
use defguard_wireguard_rs::net::IpAddrMask;
use defguard_wireguard_rs::{
    InterfaceConfiguration, Kernel, Userspace, WGApi, WireguardInterfaceApi,
};

use crate::key;

/// Default UDP port.
pub const DEFAULT_PORT: u16 = 51821;
/// Default interface name (upstream's).
pub const DEFAULT_INTERFACE: &str = "siderolink";
/// MTU of the userspace device (upstream's).
pub const USERSPACE_MTU: u32 = 1280;

/// Which implementation to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Kernel if available, else userspace.
    #[default]
    Auto,
    /// Kernel only.
    Kernel,
    /// Userspace only.
    Userspace,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "kernel" => Ok(Mode::Kernel),
            "userspace" => Ok(Mode::Userspace),
            _ => Err(format!(
                "unknown WireGuard mode {s:?} (auto, kernel, userspace)"
            )),
        }
    }
}

/// The implementation in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Kernel WireGuard, configured over netlink.
    Kernel,
    /// In-process WireGuard over a TUN device.
    Userspace,
}

/// How to create the device.
#[derive(Clone)]
pub struct DeviceConfig {
    /// Interface name (at most 15 bytes; unique per host, since userspace control sockets
    /// live in `/var/run/wireguard/<name>.sock`).
    pub name: String,
    /// Our private key, base64.
    pub private_key: String,
    /// Our tunnel address and its prefix length.
    pub address: (IpAddr, u8),
    /// UDP listen port (0: any).
    pub listen_port: u16,
    /// Implementation choice.
    pub mode: Mode,
}

impl std::fmt::Debug for DeviceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("listen_port", &self.listen_port)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// One peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// Peer public key, base64 (canonical).
    pub public_key: String,
    /// Addresses routed to the peer.
    pub allowed_ips: Vec<(IpAddr, u8)>,
    /// Where to send to (none: learned from the peer's packets).
    pub endpoint: Option<SocketAddr>,
    /// Keepalive interval in seconds.
    pub keepalive: Option<u16>,
}

impl PeerConfig {
    /// A SideroLink node: its address as a /128, no endpoint, no keepalive.
    pub fn node(public_key: String, address: Ipv6Addr) -> PeerConfig {
        PeerConfig {
            public_key,
            allowed_ips: vec![(IpAddr::V6(address), 128)],
            endpoint: None,
            keepalive: None,
        }
    }
}

/// A peer's live state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStats {
    /// Public key, base64.
    pub public_key: String,
    /// Last seen endpoint.
    pub endpoint: Option<SocketAddr>,
    /// Time of the last completed handshake.
    pub last_handshake: Option<SystemTime>,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// Why the device failed.
#[derive(Debug, thiserror::Error)]
pub enum WgError {
    /// The WireGuard library failed.
    #[error("wireguard {op}: {error}")]
    Device {
        /// What was attempted.
        op: &'static str,
        /// The library's error text.
        error: String,
    },
    /// A key is not a WireGuard key.
    #[error("wireguard key: {0}")]
    Key(#[from] key::KeyError),
    /// The blocking task died.
    #[error("wireguard task: {0}")]
    Task(String),
}

fn dev_err(
    op: &'static str,
) -> impl FnOnce(defguard_wireguard_rs::error::WireguardInterfaceError) -> WgError {
    move |e| WgError::Device {
        op,
        error: e.to_string(),
    }
}

/// Changes that turn the device's peers into the wanted ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerDiff {
    /// Public keys to remove.
    pub remove: Vec<String>,
    /// Peers to add (or replace).
    pub add: Vec<PeerConfig>,
}

impl PeerDiff {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

/// The peers to remove (gone, or changed) and to add (new, or changed), keyed by public key.
pub fn diff(
    current: &BTreeMap<String, PeerConfig>,
    wanted: &BTreeMap<String, PeerConfig>,
) -> PeerDiff {
    let mut d = PeerDiff::default();
    for (k, have) in current {
        match wanted.get(k) {
            Some(want) if want == have => {}
            _ => d.remove.push(k.clone()),
        }
    }
    for (k, want) in wanted {
        if current.get(k) != Some(want) {
            d.add.push(want.clone());
        }
    }
    d
}

type Api = Box<dyn WireguardInterfaceApi + Send>;

/// A live WireGuard interface. Dropping it stops a userspace device.
pub struct Device {
    name: String,
    backend: Backend,
    api: Arc<Mutex<Api>>,
    peers: tokio::sync::Mutex<BTreeMap<String, PeerConfig>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("name", &self.name)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

fn try_create(backend: Backend, name: &str) -> Result<Api, WgError> {
    let mut api: Api = match backend {
        Backend::Kernel => Box::new(WGApi::<Kernel>::new(name).map_err(dev_err("init"))?),
        Backend::Userspace => Box::new(WGApi::<Userspace>::new(name).map_err(dev_err("init"))?),
    };
    api.create_interface()
        .map_err(dev_err("create interface"))?;
    Ok(api)
}

fn to_defguard(p: &PeerConfig) -> Result<defguard_wireguard_rs::peer::Peer, WgError> {
    let mut peer = defguard_wireguard_rs::peer::Peer::new(Key::new(key::decode(&p.public_key)?));
    peer.allowed_ips = p
        .allowed_ips
        .iter()
        .map(|(ip, len)| IpAddrMask::new(*ip, *len))
        .collect();
    peer.endpoint = p.endpoint;
    peer.persistent_keepalive_interval = p.keepalive;
    Ok(peer)
}

fn from_defguard(p: &defguard_wireguard_rs::peer::Peer) -> (String, PeerConfig) {
    let key = p.public_key.to_string();
    let peer = PeerConfig {
        public_key: key.clone(),
        allowed_ips: p.allowed_ips.iter().map(|a| (a.address, a.cidr)).collect(),
        endpoint: p.endpoint,
        keepalive: p.persistent_keepalive_interval.filter(|k| *k > 0),
    };
    (key, peer)
}

impl Device {
    /// Creates and configures the interface (address, key, port; no peers), trying kernel
    /// WireGuard first in [`Mode::Auto`].
    pub async fn create(config: DeviceConfig) -> Result<Device, WgError> {
        tokio::task::spawn_blocking(move || Device::create_blocking(config))
            .await
            .map_err(|e| WgError::Task(e.to_string()))?
    }

    /// [`Device::create`] on the calling thread: the interface, its address and its socket
    /// belong to the calling thread's network namespace (tests enter one on a thread).
    pub fn create_blocking(config: DeviceConfig) -> Result<Device, WgError> {
        key::decode(&config.private_key)?;
        let (backend, api) = match config.mode {
            Mode::Kernel => (Backend::Kernel, try_create(Backend::Kernel, &config.name)?),
            Mode::Userspace => (
                Backend::Userspace,
                try_create(Backend::Userspace, &config.name)?,
            ),
            Mode::Auto => match try_create(Backend::Kernel, &config.name) {
                Ok(api) => (Backend::Kernel, api),
                Err(e) => {
                    tracing::info!(interface = %config.name, reason = %e, "kernel WireGuard unavailable; using userspace WireGuard over TUN");
                    (
                        Backend::Userspace,
                        try_create(Backend::Userspace, &config.name)?,
                    )
                }
            },
        };
        let iface = InterfaceConfiguration {
            name: config.name.clone(),
            prvkey: config.private_key.clone(),
            addresses: vec![IpAddrMask::new(config.address.0, config.address.1)],
            port: config.listen_port,
            peers: vec![],
            mtu: (backend == Backend::Userspace).then_some(USERSPACE_MTU),
            fwmark: None,
        };
        api.configure_interface(&iface)
            .map_err(dev_err("configure interface"))?;
        // A kernel link survives a restart with its old peers: start from what the device
        // has, so the first update removes peers that are no longer wanted.
        let existing: BTreeMap<String, PeerConfig> = api
            .read_interface_data()
            .map(|host| host.peers.values().map(from_defguard).collect())
            .unwrap_or_default();
        tracing::info!(interface = %config.name, ?backend, address = %config.address.0, port = config.listen_port, existing_peers = existing.len(), "WireGuard device up");
        Ok(Device {
            name: config.name,
            backend,
            api: Arc::new(Mutex::new(api)),
            peers: tokio::sync::Mutex::new(existing),
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The implementation in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Api) -> Result<T, WgError> + Send + 'static,
    ) -> Result<T, WgError> {
        let api = self.api.clone();
        tokio::task::spawn_blocking(move || {
            let api = api.lock().unwrap_or_else(|p| p.into_inner());
            f(&api)
        })
        .await
        .map_err(|e| WgError::Task(e.to_string()))?
    }

    /// Makes the device's peers exactly `wanted` (keyed by public key); returns what changed.
    /// On error the device may be partly updated; the next call converges.
    pub async fn set_peers(
        &self,
        wanted: BTreeMap<String, PeerConfig>,
    ) -> Result<PeerDiff, WgError> {
        let mut peers = self.peers.lock().await;
        let d = diff(&peers, &wanted);
        if d.is_empty() {
            return Ok(d);
        }
        for k in &d.remove {
            let key = Key::new(key::decode(k)?);
            self.blocking(move |api| api.remove_peer(&key).map_err(dev_err("remove peer")))
                .await?;
            peers.remove(k);
            tracing::info!(interface = %self.name, peer = %k, "WireGuard peer removed");
        }
        for p in &d.add {
            let peer = to_defguard(p)?;
            self.blocking(move |api| api.configure_peer(&peer).map_err(dev_err("configure peer")))
                .await?;
            peers.insert(p.public_key.clone(), p.clone());
            tracing::info!(interface = %self.name, peer = %p.public_key, allowed = ?p.allowed_ips, "WireGuard peer added");
        }
        Ok(d)
    }

    /// Adds or replaces one peer, keeping the others.
    pub async fn upsert_peer(&self, peer: PeerConfig) -> Result<(), WgError> {
        let mut wanted = self.peers.lock().await.clone();
        wanted.insert(peer.public_key.clone(), peer);
        self.set_peers(wanted).await.map(|_| ())
    }

    /// Live state of every peer.
    pub async fn stats(&self) -> Result<Vec<PeerStats>, WgError> {
        let host = self
            .blocking(|api| api.read_interface_data().map_err(dev_err("read interface")))
            .await?;
        let mut out: Vec<PeerStats> = host
            .peers
            .values()
            .map(|p| PeerStats {
                public_key: p.public_key.to_string(),
                endpoint: p.endpoint,
                last_handshake: p.last_handshake.filter(|t| *t > SystemTime::UNIX_EPOCH),
                rx_bytes: p.rx_bytes,
                tx_bytes: p.tx_bytes,
            })
            .collect();
        out.sort_by(|a, b| a.public_key.cmp(&b.public_key));
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn node(k: &str, last: u8) -> (String, PeerConfig) {
        let mut b = [0xfd, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        b[15] = last;
        (
            k.to_string(),
            PeerConfig::node(k.to_string(), Ipv6Addr::from(b)),
        )
    }

    #[test]
    fn peer_diff_table() {
        let m = |v: &[(&str, u8)]| -> BTreeMap<String, PeerConfig> {
            v.iter().map(|(k, a)| node(k, *a)).collect()
        };
        // (current, wanted, removed keys, added keys)
        type Peers = &'static [(&'static str, u8)];
        let rows: &[(Peers, Peers, &[&str], &[&str])] = &[
            (&[], &[], &[], &[]),
            (&[], &[("a", 1)], &[], &["a"]),
            (&[("a", 1)], &[("a", 1)], &[], &[]),
            (&[("a", 1)], &[], &["a"], &[]),
            // Same key, new address: replaced.
            (&[("a", 1)], &[("a", 2)], &["a"], &["a"]),
            // Node reinstalled with a new key: old key removed, new one added.
            (&[("a", 1), ("b", 2)], &[("c", 1), ("b", 2)], &["a"], &["c"]),
        ];
        for (cur, want, rm, add) in rows {
            let d = diff(&m(cur), &m(want));
            let added: Vec<&str> = d.add.iter().map(|p| p.public_key.as_str()).collect();
            let removed: Vec<&str> = d.remove.iter().map(String::as_str).collect();
            assert_eq!(
                (removed, added),
                (rm.to_vec(), add.to_vec()),
                "{cur:?} → {want:?}"
            );
        }
    }

    #[test]
    fn modes_parse() {
        assert_eq!("auto".parse::<Mode>().unwrap(), Mode::Auto);
        assert_eq!("userspace".parse::<Mode>().unwrap(), Mode::Userspace);
        assert!("boringtun".parse::<Mode>().is_err());
    }
}
