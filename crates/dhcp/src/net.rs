//! Network plumbing: resolving `--api-endpoint`, finding the interface that holds its address,
//! and opening the broadcast-capable UDP sockets.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use thiserror::Error;

/// Errors while setting the proxy up. Any of them stops the manager (spec §5.1).
#[derive(Debug, Error)]
pub enum SetupError {
    /// The API endpoint is empty.
    #[error("no api endpoint given")]
    EmptyEndpoint,
    /// Resolving the API endpoint failed.
    #[error("cannot resolve api endpoint {endpoint:?}: {source}")]
    Resolve {
        /// The endpoint as given.
        endpoint: String,
        /// The resolver error.
        source: io::Error,
    },
    /// The API endpoint has no IPv4 address (the proxy is DHCPv4 only).
    #[error("api endpoint {endpoint:?} has no IPv4 address (found {found:?})")]
    NoIpv4 {
        /// The endpoint as given.
        endpoint: String,
        /// The addresses it resolved to.
        found: Vec<IpAddr>,
    },
    /// Listing the local interfaces failed.
    #[error("cannot list network interfaces: {0}")]
    Interfaces(io::Error),
    /// No local interface holds the address.
    #[error("no local interface has address {0}")]
    NoInterface(Ipv4Addr),
    /// Creating, configuring or binding a socket failed.
    #[error("cannot open UDP socket on {addr}{}: {source}", .device.as_deref().map(|d| format!(" (device {d})")).unwrap_or_default())]
    Bind {
        /// The address to bind.
        addr: SocketAddr,
        /// The interface the socket was to be bound to.
        device: Option<String>,
        /// The socket error.
        source: io::Error,
    },
}

/// Resolves `--api-endpoint` (an IPv4 literal or a DNS name) and returns its first IPv4
/// address. Upstream takes the very first address; an IPv6 address cannot be used by a
/// DHCPv4 proxy, so IPv6 answers are skipped.
pub async fn resolve_endpoint(endpoint: &str) -> Result<Ipv4Addr, SetupError> {
    let host = endpoint.trim();
    if host.is_empty() {
        return Err(SetupError::EmptyEndpoint);
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(ip);
    }
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|source| SetupError::Resolve {
            endpoint: endpoint.to_owned(),
            source,
        })?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find_map(|a| match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
        .ok_or_else(|| SetupError::NoIpv4 {
            endpoint: endpoint.to_owned(),
            found: addrs,
        })
}

/// The name of the local interface that holds exactly `ip`.
pub fn interface_for_ip(ip: Ipv4Addr) -> Result<String, SetupError> {
    if_addrs::get_if_addrs()
        .map_err(SetupError::Interfaces)?
        .into_iter()
        .find(|iface| iface.ip() == IpAddr::V4(ip))
        .map(|iface| iface.name)
        .ok_or(SetupError::NoInterface(ip))
}

/// Opens a UDP socket for the proxy: `SO_REUSEADDR` (to share port 67 with a DHCP server on
/// the same host), `SO_BROADCAST` (to answer clients that have no address yet) and, when
/// `device` is given, `SO_BINDTODEVICE` (so broadcasts leave through that interface and only
/// its traffic is seen). The socket is non-blocking, ready for
/// [`tokio::net::UdpSocket::from_std`].
pub fn bind_udp(addr: SocketAddr, device: Option<&str>) -> Result<std::net::UdpSocket, SetupError> {
    let fail = |source| SetupError::Bind {
        addr,
        device: device.map(str::to_owned),
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(fail)?;
    socket.set_reuse_address(true).map_err(fail)?;
    socket.set_broadcast(true).map_err(fail)?;
    if let Some(dev) = device {
        socket.bind_device(Some(dev.as_bytes())).map_err(fail)?;
    }
    socket.set_nonblocking(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    Ok(socket.into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_literals_and_names() {
        assert_eq!(
            resolve_endpoint("192.0.2.7").await.unwrap(),
            Ipv4Addr::new(192, 0, 2, 7)
        );
        assert_eq!(
            resolve_endpoint("localhost").await.unwrap(),
            Ipv4Addr::LOCALHOST
        );
        assert!(matches!(
            resolve_endpoint("").await,
            Err(SetupError::EmptyEndpoint)
        ));
        assert!(matches!(
            resolve_endpoint("::1").await,
            Err(SetupError::NoIpv4 { .. })
        ));
    }

    #[test]
    fn finds_loopback_and_rejects_foreign_addresses() {
        assert_eq!(interface_for_ip(Ipv4Addr::LOCALHOST).unwrap(), "lo");
        assert!(matches!(
            interface_for_ip(Ipv4Addr::new(192, 0, 2, 254)),
            Err(SetupError::NoInterface(_))
        ));
    }

    #[tokio::test]
    async fn two_sockets_share_a_port() {
        let a = bind_udp("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let port = a.local_addr().unwrap().port();
        let b = bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), None).unwrap();
        assert_eq!(b.local_addr().unwrap().port(), port);
    }
}
