//! The proxy DHCP server: two UDP sockets (67 and 4011), one loop, graceful shutdown.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use crate::metrics::{NoMetrics, ProxyMetrics};
use crate::net::{SetupError, bind_udp, interface_for_ip, resolve_endpoint};
use crate::packet::Request;
use crate::respond::{Ingress, ProxyConfig, respond_to};

/// The standard DHCP server port.
pub const DHCP_PORT: u16 = 67;
/// The DHCP client port, where broadcast replies go.
pub const DHCP_CLIENT_PORT: u16 = 68;
/// The PXE boot server discovery port.
pub const PXE_PORT: u16 = 4011;
/// Largest datagram read; anything longer is truncated (and then most likely malformed).
const MAX_DATAGRAM: usize = 65_535;
/// Pause after a socket error, so a persistent error cannot spin the loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(20);

/// Where and how the proxy listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The DHCP socket address (default `0.0.0.0:67`).
    pub dhcp_addr: SocketAddr,
    /// The PXE boot server socket address (default `0.0.0.0:4011`); `None` does not listen.
    pub pxe_addr: Option<SocketAddr>,
    /// The interface both sockets are bound to (`SO_BINDTODEVICE`), if any.
    pub interface: Option<String>,
    /// The reply decision's configuration.
    pub proxy: ProxyConfig,
}

impl ServerConfig {
    /// Listens on `0.0.0.0:67` and `0.0.0.0:4011` on every interface.
    pub fn new(proxy: ProxyConfig) -> Self {
        ServerConfig {
            dhcp_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DHCP_PORT)),
            pxe_addr: Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, PXE_PORT))),
            interface: None,
            proxy,
        }
    }

    /// Upstream's startup (spec §5.1): resolve `--api-endpoint`, take its first IPv4
    /// address as the server IP, and bind to the local interface that holds that address
    /// (an error if there is none).
    pub async fn from_api_endpoint(endpoint: &str, api_port: u16) -> Result<Self, SetupError> {
        let ip = resolve_endpoint(endpoint).await?;
        let interface = interface_for_ip(ip)?;
        let mut config = ServerConfig::new(ProxyConfig::new(ip, api_port));
        config.interface = Some(interface);
        Ok(config)
    }
}

/// Where a reply to a datagram from `source` goes: back to the source, or, when the source
/// has no address yet (`0.0.0.0`), broadcast to `255.255.255.255` on the source port (68 for
/// every DHCP client; 68 if the source port is 0).
pub fn reply_destination(source: SocketAddr) -> SocketAddr {
    match source {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => {
            let port = if v4.port() == 0 {
                DHCP_CLIENT_PORT
            } else {
                v4.port()
            };
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::BROADCAST, port))
        }
        other => other,
    }
}

/// The sockets of one port: `listen` on the configured address and, when that address is
/// the wildcard, `reply` on `<server IP>:<same port>`. Replies always leave through `reply`
/// when there is one, so their source address is the server IP that clients were told about
/// (option 54, `siaddr`) even on an interface with several addresses; the reply socket also
/// receives the unicast traffic to the server IP (the kernel prefers the more specific bind),
/// while broadcasts reach `listen`.
struct PortSockets {
    ingress: Ingress,
    listen: UdpSocket,
    reply: Option<UdpSocket>,
}

impl PortSockets {
    fn sender(&self) -> &UdpSocket {
        self.reply.as_ref().unwrap_or(&self.listen)
    }
}

/// A bound proxy, ready to [`serve`](ProxyServer::serve).
pub struct ProxyServer {
    dhcp: PortSockets,
    pxe: Option<PortSockets>,
    proxy: ProxyConfig,
    metrics: Arc<dyn ProxyMetrics>,
}

impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyServer")
            .field("dhcp", &self.dhcp_addr().ok())
            .field("pxe", &self.pxe_addr().and_then(Result::ok))
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl ProxyServer {
    /// Opens the sockets. Must run inside a Tokio runtime.
    pub async fn bind(config: &ServerConfig) -> Result<Self, SetupError> {
        let device = config.interface.as_deref();
        let server_ip = config.proxy.server_ip;
        let dhcp = open_port(Ingress::Dhcp, config.dhcp_addr, device, server_ip)?;
        let pxe = config
            .pxe_addr
            .map(|addr| open_port(Ingress::PxeBootServer, addr, device, server_ip))
            .transpose()?;
        Ok(ProxyServer {
            dhcp,
            pxe,
            proxy: config.proxy.clone(),
            metrics: Arc::new(NoMetrics),
        })
    }

    /// Reports replies and ignored datagrams to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn ProxyMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The bound DHCP socket address (useful with port 0).
    pub fn dhcp_addr(&self) -> io::Result<SocketAddr> {
        self.dhcp.listen.local_addr()
    }

    /// The bound PXE socket address, if listening on one.
    pub fn pxe_addr(&self) -> Option<io::Result<SocketAddr>> {
        self.pxe.as_ref().map(|p| p.listen.local_addr())
    }

    /// The address replies are sent from on the DHCP port.
    pub fn dhcp_reply_addr(&self) -> io::Result<SocketAddr> {
        self.dhcp.sender().local_addr()
    }

    /// Answers PXE clients until `shutdown` completes. Socket errors are logged and never
    /// end the loop.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        info!(
            dhcp = ?self.dhcp_addr().ok(),
            pxe = ?self.pxe_addr().and_then(Result::ok),
            server_ip = %self.proxy.server_ip,
            "proxy DHCP listening"
        );
        let ports: Vec<&PortSockets> = std::iter::once(&self.dhcp).chain(&self.pxe).collect();
        let sockets: Vec<(&PortSockets, &UdpSocket)> = ports
            .iter()
            .flat_map(|p| std::iter::once((*p, &p.listen)).chain(p.reply.as_ref().map(|r| (*p, r))))
            .collect();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        tokio::pin!(shutdown);
        loop {
            // Never empty: the DHCP listen socket is always there.
            let readable =
                futures::future::select_all(sockets.iter().map(|(_, s)| Box::pin(s.readable())));
            let (ready, index) = tokio::select! {
                biased;
                () = &mut shutdown => break,
                (ready, index, _) = readable => (ready, index),
            };
            let Some(&(port, socket)) = sockets.get(index) else {
                continue;
            };
            let received = ready.and_then(|()| socket.try_recv_from(&mut buf));
            match received {
                Ok((len, source)) => {
                    let packet = buf.get(..len).unwrap_or_default();
                    self.handle(port, packet, source).await;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // E.g. ECONNREFUSED from an earlier reply's ICMP error: not fatal.
                    debug!(port = port.ingress.as_str(), error = %e, "receive error");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            }
        }
        info!("proxy DHCP stopped");
    }

    /// Decides and sends the answer to one datagram.
    async fn handle(&self, port: &PortSockets, packet: &[u8], source: SocketAddr) {
        let ingress = port.ingress;
        let request = match Request::parse(packet) {
            Ok(r) => r,
            Err(e) => {
                debug!(port = ingress.as_str(), %source, reason = %e, "ignoring packet");
                self.metrics
                    .ignored(ingress, crate::Ignored::from(e).kind());
                return;
            }
        };
        let mac = request.hardware_address_string();
        let reply = match respond_to(&request, ingress, &self.proxy) {
            Ok(reply) => reply,
            Err(e) => {
                debug!(port = ingress.as_str(), %source, %mac, reason = %e, "ignoring packet");
                self.metrics.ignored(ingress, e.kind());
                return;
            }
        };
        let destination = reply_destination(source);
        match port.sender().send_to(&reply.bytes, destination).await {
            Ok(_) => {
                info!(
                    port = ingress.as_str(),
                    %mac,
                    %destination,
                    firmware = %reply.client.class,
                    arch = reply.client.arch,
                    server = reply.tftp_server.as_deref().unwrap_or(""),
                    boot_filename = %reply.boot_file,
                    "offering boot response"
                );
                self.metrics.replied(ingress, reply.client.class);
                self.metrics.offered(&crate::metrics::Offered {
                    ingress,
                    mac: &mac,
                    source,
                    client: &reply.client,
                    boot_file: &reply.boot_file,
                });
            }
            Err(e) => {
                warn!(port = ingress.as_str(), %mac, %destination, error = %e, "failure sending response");
                self.metrics.send_failed(ingress);
            }
        }
    }
}

/// Opens the sockets of one port (see [`PortSockets`]). A server IP that is not local (a NAT
/// or service address) gets no reply socket: replies then leave from the wildcard socket.
fn open_port(
    ingress: Ingress,
    addr: SocketAddr,
    device: Option<&str>,
    server_ip: Ipv4Addr,
) -> Result<PortSockets, SetupError> {
    let open = |addr: SocketAddr| {
        bind_udp(addr, device).and_then(|std| {
            UdpSocket::from_std(std).map_err(|source| SetupError::Bind {
                addr,
                device: device.map(str::to_owned),
                source,
            })
        })
    };
    let listen = open(addr)?;
    let mut reply = None;
    if addr.ip().is_unspecified() {
        let port = listen.local_addr().map_or(addr.port(), |a| a.port());
        match open(SocketAddr::from((server_ip, port))) {
            Ok(socket) => reply = Some(socket),
            Err(SetupError::Bind { source, .. })
                if source.kind() == io::ErrorKind::AddrNotAvailable =>
            {
                warn!(
                    port = ingress.as_str(),
                    %server_ip,
                    "server IP is not a local address; replies leave from the wildcard socket"
                );
            }
            Err(e) => return Err(e),
        }
    }
    Ok(PortSockets {
        ingress,
        listen,
        reply,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = |s: &str| reply_destination(s.parse().unwrap()).to_string();
        assert_eq!(d("0.0.0.0:68"), "255.255.255.255:68");
        assert_eq!(d("0.0.0.0:0"), "255.255.255.255:68");
        assert_eq!(d("0.0.0.0:4011"), "255.255.255.255:4011");
        assert_eq!(d("10.0.0.9:68"), "10.0.0.9:68");
        assert_eq!(
            d("10.0.0.1:67"),
            "10.0.0.1:67",
            "relay agents get the reply"
        );
    }
}
