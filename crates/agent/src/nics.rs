//! Network interface inventory over rtnetlink: index, name, flags, MTU, MAC and addresses of
//! every interface that has a MAC; and the machine's routable addresses for
//! `ReconcileServerAddresses`.

use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::LinkAttribute;
use sidero_proto::api;

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Raw `IFF_*` flags.
    pub flags: u32,
    /// MTU.
    pub mtu: u32,
    /// MAC, lower-case colon form; empty when the interface has none.
    pub mac: String,
    /// Addresses with their prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
}

/// Why the interfaces could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum NicError {
    /// The netlink socket could not be opened.
    #[error("opening a netlink socket: {0}")]
    Socket(#[from] std::io::Error),
    /// A netlink request failed.
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
}

/// `IFF_*` bits in the order and with the names of Go's `net.Flags.String()`, which upstream
/// reports (`up|broadcast|multicast|running`).
const FLAG_NAMES: [(u32, &str); 6] = [
    (libc::IFF_UP as u32, "up"),
    (libc::IFF_BROADCAST as u32, "broadcast"),
    (libc::IFF_LOOPBACK as u32, "loopback"),
    (libc::IFF_POINTOPOINT as u32, "pointtopoint"),
    (libc::IFF_MULTICAST as u32, "multicast"),
    (libc::IFF_RUNNING as u32, "running"),
];

/// Go's textual form of interface flags; `0` when none of the named bits is set.
pub fn flags_string(flags: u32) -> String {
    let names: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// `aa:bb:…` for a hardware address; empty for none or all zeros (loopback).
pub fn format_mac(b: &[u8]) -> String {
    if b.iter().all(|x| *x == 0) {
        return String::new();
    }
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Whether `ip` is a global unicast address (Go's `IsGlobalUnicast`: not unspecified,
/// loopback, multicast, link-local or broadcast). Private ranges count, as in Go.
pub fn is_global_unicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_multicast()
                || v4.is_link_local()
                || v4.is_broadcast())
        }
        IpAddr::V6(v6) => {
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unicast_link_local())
        }
    }
}

/// The addresses to report as `InternalIP`: every global unicast address, deduplicated, in
/// interface order.
pub fn internal_addresses(nics: &[Nic]) -> Vec<api::Address> {
    let mut out: Vec<api::Address> = Vec::new();
    for (ip, _) in nics.iter().flat_map(|n| n.addresses.iter()) {
        let address = ip.to_string();
        if is_global_unicast(ip) && !out.iter().any(|a| a.address == address) {
            out.push(api::Address {
                r#type: "InternalIP".into(),
                address,
            });
        }
    }
    out
}

/// The Agent API's network section: interfaces that have a MAC.
pub fn to_proto(nics: &[Nic]) -> api::NetworkInformation {
    let interfaces: Vec<api::NetworkInterface> = nics
        .iter()
        .filter(|n| !n.mac.is_empty())
        .map(|n| api::NetworkInterface {
            index: n.index,
            name: n.name.clone(),
            flags: flags_string(n.flags),
            mtu: n.mtu,
            mac: n.mac.clone(),
            addresses: n
                .addresses
                .iter()
                .map(|(ip, len)| format!("{ip}/{len}"))
                .collect(),
        })
        .collect();
    api::NetworkInformation {
        interface_count: u32::try_from(interfaces.len()).unwrap_or(u32::MAX),
        interfaces,
    }
}

/// Lists every interface of the current network namespace with its addresses.
pub async fn list() -> Result<Vec<Nic>, NicError> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    let task = tokio::spawn(conn);
    let result = list_with(&handle).await;
    task.abort();
    result
}

async fn list_with(handle: &rtnetlink::Handle) -> Result<Vec<Nic>, NicError> {
    let mut nics = Vec::new();
    let mut links = handle.link().get().execute();
    while let Some(link) = links.try_next().await? {
        let mut nic = Nic {
            index: link.header.index,
            name: String::new(),
            flags: link.header.flags.bits(),
            mtu: 0,
            mac: String::new(),
            addresses: Vec::new(),
        };
        for attr in link.attributes {
            match attr {
                LinkAttribute::IfName(n) => nic.name = n,
                LinkAttribute::Mtu(m) => nic.mtu = m,
                LinkAttribute::Address(a) => nic.mac = format_mac(&a),
                _ => {}
            }
        }
        nics.push(nic);
    }
    let mut addrs = handle.address().get().execute();
    while let Some(msg) = addrs.try_next().await? {
        let ip = msg.attributes.iter().find_map(|a| match a {
            // IFA_LOCAL is the interface's own address on point-to-point links, where
            // IFA_ADDRESS is the peer's.
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        });
        let ip = ip.or_else(|| {
            msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        });
        if let (Some(ip), Some(nic)) = (ip, nics.iter_mut().find(|n| n.index == msg.header.index)) {
            nic.addresses.push((ip, msg.header.prefix_len));
        }
    }
    Ok(nics)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn flags_in_go_order() {
        assert_eq!(flags_string(0x1043), "up|broadcast|multicast|running");
        assert_eq!(flags_string(0x49), "up|loopback|running");
        assert_eq!(flags_string(0x1002), "broadcast|multicast");
        assert_eq!(flags_string(0x10000), "0");
    }

    #[test]
    fn macs() {
        assert_eq!(
            format_mac(&[0x52, 0x54, 0, 0xAB, 0xcd, 1]),
            "52:54:00:ab:cd:01"
        );
        assert_eq!(format_mac(&[0; 6]), "");
        assert_eq!(format_mac(&[]), "");
    }

    #[test]
    fn internal_addresses_are_global_unicast_and_unique() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let nics = vec![
            Nic {
                index: 1,
                name: "lo".into(),
                flags: 0x49,
                mtu: 65536,
                mac: String::new(),
                addresses: vec![(ip("127.0.0.1"), 8), (ip("::1"), 128)],
            },
            Nic {
                index: 2,
                name: "eth0".into(),
                flags: 0x1043,
                mtu: 1500,
                mac: "52:54:00:00:00:01".into(),
                addresses: vec![
                    (ip("10.5.0.20"), 24),
                    (ip("fe80::1"), 64),
                    (ip("fd00::20"), 64),
                    (ip("169.254.1.1"), 16),
                ],
            },
            Nic {
                index: 3,
                name: "eth1".into(),
                flags: 0x1003,
                mtu: 9000,
                mac: "52:54:00:00:00:02".into(),
                addresses: vec![(ip("10.5.0.20"), 24)],
            },
        ];
        let got: Vec<_> = internal_addresses(&nics)
            .into_iter()
            .map(|a| (a.r#type, a.address))
            .collect();
        assert_eq!(
            got,
            [
                ("InternalIP".to_string(), "10.5.0.20".to_string()),
                ("InternalIP".to_string(), "fd00::20".to_string())
            ]
        );
        let net = to_proto(&nics);
        assert_eq!(net.interface_count, 2, "lo has no MAC");
        assert_eq!(net.interfaces[0].flags, "up|broadcast|multicast|running");
        assert_eq!(net.interfaces[0].addresses[0], "10.5.0.20/24");
    }

    #[tokio::test]
    async fn lists_the_loopback_interface() {
        let nics = list().await.unwrap();
        let lo = nics.iter().find(|n| n.name == "lo").unwrap();
        assert_eq!(lo.mac, "");
        assert!(
            lo.addresses.iter().any(|(ip, _)| ip.is_loopback()),
            "{lo:?}"
        );
    }
}
